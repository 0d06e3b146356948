//! The policy as a pure state machine on a paused clock: time is passed in, minute by
//! minute, so every interval is exact.

use std::time::Duration;

use loganomaly::alert::{Notice, NoticeKind, Policy, PolicyConfig, Scope, StormConfig};

use super::support::{at, obs};

fn policy() -> Policy {
    Policy::new(PolicyConfig {
        enter_score: 9.0,
        enter_for: Duration::from_secs(60),
        enter_lines: 0,
        resolve_score: 3.0,
        resolve_for: Duration::from_secs(300),
        renotify_every: Duration::from_secs(1800),
        storm: StormConfig {
            namespace_pods: 5,
            cluster_pods: 15,
            window: Duration::from_secs(300),
            max_per_minute: 10,
        },
    })
}

/// Kinds of the notices about one pod.
fn kinds(notices: &[Notice]) -> Vec<NoticeKind> {
    notices.iter().map(Notice::kind).collect()
}

#[test]
fn a_pod_enters_only_when_the_score_holds_for_enter_for() {
    let mut p = policy();
    assert!(p.evaluate(at(0), &[obs("ns", "a", 0, 40.0)]).is_empty());
    let n = p.evaluate(at(1), &[obs("ns", "a", 1, 12.0)]);
    assert_eq!(kinds(&n), [NoticeKind::Firing]);
    let Notice::Pod(alert) = &n[0] else {
        panic!("{n:?}")
    };
    assert_eq!((alert.namespace.as_str(), alert.pod.as_str()), ("ns", "a"));
    assert_eq!(alert.since_ns, at(0) - 1, "since the first anomalous line");
    assert_eq!(
        alert.peak_burst, 12.0,
        "the peak counts from the episode's start"
    );
    // while anomalous and before renotify_every: silence
    for m in 2..30 {
        assert!(
            p.evaluate(at(m), &[obs("ns", "a", m, 40.0)]).is_empty(),
            "minute {m}"
        );
    }
}

#[test]
fn an_alert_names_the_other_workload_its_lines_blame() {
    let mut p = policy();
    let caller = "ts-travel-service-64469b5b48-25zj6";
    let blamed = |minute| {
        let mut o = obs("train", caller, minute, 40.0);
        o.top_lines[0].line =
            "Request processing failed: No instances available for ts-basic-service".into();
        o
    };
    let quiet = |minute| obs("train", "ts-basic-service-5dc8d4f9fd-46997", minute, 0.0);
    p.evaluate(at(0), &[blamed(0), quiet(0)]);
    let n = p.evaluate(at(1), &[blamed(1), quiet(1)]);
    let Notice::Pod(alert) = &n[0] else {
        panic!("{n:?}")
    };
    assert_eq!(alert.dependency.as_deref(), Some("ts-basic-service"));

    // a name no pod of the cluster has is no dependency
    let mut p = policy();
    p.evaluate(at(0), &[blamed(0)]);
    let n = p.evaluate(at(1), &[blamed(1)]);
    let Notice::Pod(alert) = &n[0] else {
        panic!("{n:?}")
    };
    assert_eq!(alert.dependency, None);
}

#[test]
fn a_single_abnormal_minute_is_not_an_anomaly() {
    let mut p = policy();
    for m in 0..60 {
        let burst = if m % 2 == 0 { 50.0 } else { 1.0 };
        assert!(p.evaluate(at(m), &[obs("ns", "a", m, burst)]).is_empty());
    }
}

#[test]
fn enough_anomalous_lines_in_one_window_enter_at_once() {
    let mut p = Policy::new(PolicyConfig {
        enter_lines: 10,
        ..PolicyConfig::default()
    });
    let mut o = obs("ns", "a", 0, 5.0); // below enter_score, but 12 anomalous lines
    o.anomalous_in_window = 12;
    assert_eq!(kinds(&p.evaluate(at(0), &[o])), [NoticeKind::Firing]);
}

#[test]
fn reminders_come_every_renotify_interval_and_not_before() {
    let mut p = policy();
    p.evaluate(at(0), &[obs("ns", "a", 0, 40.0)]);
    assert_eq!(p.evaluate(at(1), &[obs("ns", "a", 1, 40.0)]).len(), 1);
    let mut reminders = Vec::new();
    for m in 2..=95 {
        for n in p.evaluate(at(m), &[obs("ns", "a", m, 40.0)]) {
            assert_eq!(n.kind(), NoticeKind::Reminder);
            reminders.push(m);
        }
    }
    assert_eq!(
        reminders,
        [31, 61, 91],
        "every 30 minutes after the first notice"
    );
}

#[test]
fn resolving_needs_the_lower_threshold_held_for_resolve_for() {
    let mut p = policy();
    p.evaluate(at(0), &[obs("ns", "a", 0, 40.0)]);
    p.evaluate(at(1), &[obs("ns", "a", 1, 40.0)]);
    // below enter_score but above resolve_score: still anomalous (hysteresis)
    for m in 2..20 {
        assert!(p.evaluate(at(m), &[obs("ns", "a", m, 5.0)]).is_empty());
    }
    // quiet for 4 minutes, then one abnormal minute: the resolve timer restarts
    for m in 20..24 {
        assert!(p.evaluate(at(m), &[obs("ns", "a", m, 0.0)]).is_empty());
    }
    assert!(p.evaluate(at(24), &[obs("ns", "a", 24, 20.0)]).is_empty());
    let mut resolved_at = None;
    for m in 25..40 {
        let n = p.evaluate(at(m), &[obs("ns", "a", m, 0.0)]);
        if !n.is_empty() {
            assert_eq!(kinds(&n), [NoticeKind::Resolved]);
            let Notice::Pod(a) = &n[0] else { panic!() };
            assert_eq!(a.ended_ns, Some(at(m)));
            resolved_at.get_or_insert(m);
        }
    }
    assert_eq!(
        resolved_at,
        Some(30),
        "first quiet minute 25, plus resolve_for (5 min)"
    );
    assert_eq!(p.active().count(), 0);
}

#[test]
fn twenty_pods_turning_anomalous_at_once_make_one_grouped_message() {
    let mut p = policy();
    let pods: Vec<(String, String)> = (0..20)
        .map(|i| (format!("ns{}", i % 4), format!("pod-{i}")))
        .collect();
    let all = |m: i64, burst: f32| -> Vec<_> {
        pods.iter()
            .map(|(ns, pod)| obs(ns, pod, m, burst))
            .collect()
    };
    assert!(p.evaluate(at(0), &all(0, 30.0)).is_empty());
    let n = p.evaluate(at(1), &all(1, 30.0));
    assert_eq!(n.len(), 1, "{n:?}");
    let Notice::Group {
        scope,
        kind,
        alerts,
    } = &n[0]
    else {
        panic!("{n:?}")
    };
    assert_eq!(
        (scope, *kind, alerts.len()),
        (&Scope::Cluster, NoticeKind::Firing, 20)
    );
    assert_eq!(p.stats().grouped, 20);
    // when they recover together: one grouped resolved message
    let mut resolved = Vec::new();
    for m in 2..12 {
        resolved.extend(p.evaluate(at(m), &all(m, 0.0)));
    }
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].kind(), NoticeKind::Resolved);
    assert_eq!(resolved[0].alerts().len(), 20);
}

/// Pods whose lines blame one workload are its victims: one notice about the workload,
/// with its own pod first, instead of one per victim.
#[test]
fn victims_that_name_one_workload_make_one_notice_about_it() {
    let mut p = policy();
    let caller = |pod: &str, minute| {
        let mut o = obs("train", pod, minute, 40.0);
        o.top_lines[0].line = "No instances available for ts-basic-service".into();
        o
    };
    let batch = |m| {
        vec![
            caller("ts-travel-service-64469b5b48-25zj6", m),
            caller("ts-travel2-service-5c66d57d58-6mp2b", m),
            obs("train", "ts-basic-service-5dc8d4f9fd-46997", m, 30.0),
            obs("train", "ts-food-service-f5756978c-k8vqf", m, 30.0),
        ]
    };
    p.evaluate(at(0), &batch(0));
    let n = p.evaluate(at(1), &batch(1));
    assert_eq!(n.len(), 2, "{n:?}");
    let Some(Notice::Group { alerts, .. }) = n.iter().find(
        |n| matches!(n, Notice::Group { scope: Scope::Cause(w), .. } if w == "ts-basic-service"),
    ) else {
        panic!("no notice about ts-basic-service: {n:?}")
    };
    let pods: Vec<&str> = alerts.iter().map(|a| a.pod.as_str()).collect();
    assert_eq!(
        pods[0], "ts-basic-service-5dc8d4f9fd-46997",
        "the cause first"
    );
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert!(n
        .iter()
        .any(|n| matches!(n, Notice::Pod(a) if a.pod.starts_with("ts-food-service"))));

    // one victim alone stays a pod notice
    let mut p = policy();
    let one = |m| {
        vec![
            caller("ts-travel-service-64469b5b48-25zj6", m),
            obs("train", "ts-basic-service-5dc8d4f9fd-46997", m, 0.0),
        ]
    };
    p.evaluate(at(0), &one(0));
    let n = p.evaluate(at(1), &one(1));
    assert!(matches!(&n[..], [Notice::Pod(_)]), "{n:?}");
}

#[test]
fn a_namespace_storm_is_grouped_while_other_namespaces_stay_individual() {
    let mut p = policy();
    let mut batch = |m: i64| {
        let mut o: Vec<_> = (0..6)
            .map(|i| obs("payments", &format!("p{i}"), m, 30.0))
            .collect();
        o.push(obs("shop", "cart", m, 30.0));
        p.evaluate(at(m), &o)
    };
    batch(0);
    let n = batch(1);
    assert_eq!(n.len(), 2, "{n:?}");
    assert!(n.iter().any(|n| matches!(n, Notice::Group { scope: Scope::Namespace(ns), alerts, .. } if ns == "payments" && alerts.len() == 6)));
    assert!(n
        .iter()
        .any(|n| matches!(n, Notice::Pod(a) if a.pod == "cart")));
}

#[test]
fn the_global_cap_holds_back_and_counts_then_sends_the_rest_later() {
    // 30 pods in 30 namespaces: no namespace storm, and cluster grouping set out of reach
    let mut p2 = Policy::new(PolicyConfig {
        storm: StormConfig {
            cluster_pods: 1000,
            max_per_minute: 10,
            ..StormConfig::default()
        },
        ..PolicyConfig::default()
    });
    let all = |m: i64| -> Vec<_> {
        (0..30)
            .map(|i| obs(&format!("ns{i}"), "pod", m, 30.0))
            .collect()
    };
    p2.evaluate(at(0), &all(0));
    let first = p2.evaluate(at(1), &all(1));
    assert_eq!(first.len(), 10, "capped at max_per_minute");
    assert_eq!(p2.stats().held_back, 20);
    let second = p2.evaluate(at(2), &all(2));
    let third = p2.evaluate(at(3), &all(3));
    assert_eq!(
        (second.len(), third.len()),
        (10, 10),
        "held-back pods follow"
    );
    assert!(p2.evaluate(at(4), &all(4)).is_empty());
    assert_eq!(p2.stats().held_back, 20 + 10);
    let mut seen: Vec<String> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .flat_map(|n| n.alerts().iter().map(|a| a.namespace.clone()))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30, "every pod announced exactly once");
}
