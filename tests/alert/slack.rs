//! Slack: payload shape and limits, and delivery against a fake Slack speaking its
//! responses (429 + Retry-After, 500, 400 invalid_payload...).

use std::time::Duration;

use loganomaly::alert::{
    render_slack, render_webhook, AlertConfig, Alerter, AlertmanagerWebhook, Evidence, LineView,
    Message, MessageConfig, Notice, NoticeKind, Redactor, Scope,
};
use serde_json::Value;

use super::support::{alert, at, fire, message, Captured, FakeServer, Reply, SECRET_TOKEN};

fn config(slack_url: &str) -> AlertConfig {
    let text = format!(
        "[slack]\nwebhook_url = {slack_url:?}\n[delivery]\ninitial_backoff = \"50ms\"\nmax_backoff = \"2s\"\nmax_attempts = 4\ndrain_deadline = \"5s\"\n"
    );
    AlertConfig::from_toml(&text, "test").unwrap()
}

/// Checks Slack's limits on a rendered payload.
fn assert_within_limits(p: &Value) {
    let blocks = p["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty() && blocks.len() <= 50);
    assert!(!p["text"].as_str().unwrap().is_empty(), "text fallback");
    for b in blocks {
        let text = b["text"]["text"].as_str().unwrap_or("");
        match b["type"].as_str().unwrap() {
            "header" => assert!(text.chars().count() <= 150, "{text}"),
            _ => assert!(text.chars().count() <= 3000),
        }
    }
    assert!(p.to_string().chars().count() < 13_000);
}

#[test]
fn a_pod_message_has_header_score_category_lines_check_first_and_links() {
    let p = render_slack(&message(&Notice::Pod(alert("payments", "api-1", 40))));
    assert_within_limits(&p);
    let s = p.to_string();
    assert_eq!(p["blocks"][0]["text"]["text"], "🔴 payments/api-1");
    for needle in [
        "42.0 (threshold 9.0",
        "crash / panic",
        "*Check first:*",
        "kubectl logs --previous",
        "```",
        "&lt;3&gt; &amp;",
        "token=[REDACTED]",
        "|Pod dashboard>",
        "|Logs in Loki>",
        "/api/v1/summary?namespace=payments&since=1h|Log summary>",
        "%7Bnamespace%3D%22payments%22",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in {s}");
    }
    assert!(!s.contains("abc3"), "secret in the payload");
}

/// The follow-up of a `KubePodCrashLooping` for shop/cart-0, with one line holding a token.
fn follow_up() -> Message {
    let payload = r#"{"version": "4", "alerts": [{"status": "firing",
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-0"},
        "startsAt": "2026-12-04T20:00:00Z", "fingerprint": "ab"}]}"#;
    let subject = AlertmanagerWebhook::parse(payload.as_bytes())
        .unwrap()
        .subjects()[0]
        .clone();
    let evidence = Evidence {
        subject,
        namespace: "shop".into(),
        pod: "cart-0".into(),
        burst: 14.2,
        peak_burst: 30.0,
        score: 0.71,
        line_threshold: 0.6,
        anomalous_lines: 12,
        dependency: Some("payments-db".into()),
        top_lines: vec![LineView {
            ts: "2026-12-04T19:59:58Z".into(),
            score: 0.82,
            line: "panic: connect to payments-db: password=hunter2 refused".into(),
        }],
    };
    let cfg = MessageConfig {
        dashboard_url: None,
        logs_url: None,
        summary_url: None,
        max_line_chars: 2000,
        top_lines: 5,
    };
    Message::follow_up(&evidence, at(0), 9.0, &cfg, &Redactor::new(&[]).unwrap())
}

#[test]
fn a_follow_up_names_the_prometheus_alert_and_shows_the_pods_lines_redacted() {
    let msg = follow_up();
    let p = render_slack(&msg);
    assert_within_limits(&p);
    let text = p.to_string();
    assert_eq!(
        p["blocks"][0]["text"]["text"],
        "🔎 KubePodCrashLooping: what shop/cart-0 logged"
    );
    assert!(p["text"]
        .as_str()
        .unwrap()
        .starts_with("KubePodCrashLooping on shop/cart-0"));
    assert!(text.contains("12 since the pod was first seen"), "{text}");
    assert!(text.contains("panic: connect to payments-db"), "{text}");
    assert!(!text.contains("hunter2"), "redacted: {text}");
    assert!(text.contains("payments-db"), "the named dependency");
    let hook = render_webhook(&msg);
    assert_eq!(hook["follow_up"], "KubePodCrashLooping");
    assert_eq!(hook["alerts"][0]["since"], "2026-12-04T20:00:00Z");
    let own = render_webhook(&message(&Notice::Pod(alert("shop", "cart-0", 40))));
    assert!(own.get("follow_up").is_none(), "only on follow-ups: {own}");
}

#[test]
fn a_message_names_the_workload_its_lines_blame_and_only_then() {
    let mut a = alert("travel", "ts-travel-service-64469b5b48-25zj6", 10);
    let plain = render_slack(&message(&Notice::Pod(a.clone()))).to_string();
    assert!(!plain.contains("Its lines name"), "{plain}");
    a.dependency = Some("ts-basic-service".into());
    let p = render_slack(&message(&Notice::Pod(a)));
    assert_within_limits(&p);
    let s = p.to_string();
    assert!(s.contains("*Its lines name* `ts-basic-service`"), "{s}");
}

#[test]
fn huge_lines_and_groups_stay_within_slack_limits() {
    let big = Notice::Pod(alert(&"n".repeat(300), &"p".repeat(300), 5000));
    assert_within_limits(&render_slack(&message(&big)));
    let group = Notice::Group {
        scope: Scope::Cluster,
        kind: NoticeKind::Firing,
        alerts: (0..300)
            .map(|i| alert("ns", &format!("pod-{i}-{}", "q".repeat(60)), 2000))
            .collect(),
    };
    let p = render_slack(&message(&group));
    assert_within_limits(&p);
    assert!(
        p.to_string().contains("more"),
        "the list says how many are not shown: {p}"
    );
}

#[test]
fn a_resolved_message_says_so() {
    let mut a = alert("shop", "cart-1", 10);
    a.kind = NoticeKind::Resolved;
    a.ended_ns = Some(at(30));
    let p = render_slack(&message(&Notice::Pod(a)));
    assert_within_limits(&p);
    assert_eq!(p["blocks"][0]["text"]["text"], "✅ Resolved: shop/cart-1");
    assert!(p["text"]
        .as_str()
        .unwrap()
        .starts_with("Resolved: shop/cart-1"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_429_waits_for_retry_after_and_nothing_is_lost() {
    let slack = FakeServer::start(vec![Reply {
        retry_after: Some(1),
        ..Reply::status(429, "rate_limited")
    }])
    .await;
    let mut alerter = Alerter::new(&config(&slack.slack_url())).unwrap();
    assert_eq!(fire(&mut alerter, "shop", "cart-1").await, 1);
    let got = slack.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "the message was retried");
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(950),
        "waited Retry-After"
    );
    assert_eq!(got[0].body, got[1].body, "the same message");
    let report = alerter.shutdown().await;
    let s = report[0].stats;
    assert_eq!((s.sent, s.retried, s.failed), (1, 1, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn a_500_is_retried_with_backoff_until_it_succeeds() {
    let slack = FakeServer::start(vec![
        Reply::status(500, "internal_error"),
        Reply::status(503, "service_unavailable"),
    ])
    .await;
    let mut alerter = Alerter::new(&config(&slack.slack_url())).unwrap();
    fire(&mut alerter, "shop", "cart-1").await;
    let report = alerter.shutdown().await;
    let s = report[0].stats;
    assert_eq!((s.sent, s.retried, s.failed), (1, 2, 0));
    let got = slack.received();
    assert_eq!(got.len(), 3);
    // backoff with "equal jitter": at least half of 50 ms, then of 100 ms
    assert!(got[1].at - got[0].at >= Duration::from_millis(25));
    assert!(got[2].at - got[1].at >= Duration::from_millis(50));
}

#[tokio::test(flavor = "current_thread")]
async fn slack_errors_are_permanent_logged_without_the_url_and_never_retried() {
    let (logs, _guard) = Captured::start();
    for (status, body) in [
        (400, "invalid_payload"),
        (403, "invalid_token"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ] {
        let slack = FakeServer::start(vec![Reply::status(status, body)]).await;
        let mut alerter = Alerter::new(&config(&slack.slack_url())).unwrap();
        tracing::info!(config = ?config(&slack.slack_url()), "configured");
        fire(&mut alerter, "shop", "cart-1").await;
        let report = alerter.shutdown().await;
        let s = report[0].stats;
        assert_eq!((s.sent, s.retried, s.failed), (0, 0, 1), "{status}");
        assert_eq!(slack.received().len(), 1, "{status}: no retry loop");
        let text = logs.text();
        assert!(
            text.contains(body) && text.contains("not retried"),
            "{text}"
        );
    }
    let text = logs.text();
    assert!(text.contains("127.0.0.1/[redacted]"), "{text}");
    assert!(
        !text.contains(SECRET_TOKEN),
        "the webhook URL leaked into the logs:\n{text}"
    );
    assert!(!text.contains("B0TEST"), "{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn network_errors_are_retried_then_counted_as_failed() {
    // a port nobody listens on
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/services/T/B/{SECRET_TOKEN}",
        listener.local_addr().unwrap()
    );
    drop(listener);
    let (logs, _guard) = Captured::start();
    let mut alerter = Alerter::new(&config(&url)).unwrap();
    fire(&mut alerter, "shop", "cart-1").await;
    let s = alerter.shutdown().await[0].stats;
    assert_eq!((s.sent, s.retried, s.failed), (0, 3, 1));
    assert!(!logs.text().contains(SECRET_TOKEN), "{}", logs.text());
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_gives_up_at_the_drain_deadline() {
    let slack = FakeServer::start(vec![]).await;
    slack.set_fallback(Reply::status(500, "down"));
    let text = format!(
        "[slack]\nwebhook_url = {:?}\n[delivery]\ninitial_backoff = \"5s\"\nmax_backoff = \"5s\"\ndrain_deadline = \"300ms\"\n",
        slack.slack_url()
    );
    let mut alerter = Alerter::new(&AlertConfig::from_toml(&text, "t").unwrap()).unwrap();
    fire(&mut alerter, "shop", "cart-1").await;
    let s = tokio::time::timeout(Duration::from_secs(5), alerter.shutdown())
        .await
        .expect("shutdown is bounded by the drain deadline")[0]
        .stats;
    assert_eq!((s.sent, s.failed), (0, 1));
}
