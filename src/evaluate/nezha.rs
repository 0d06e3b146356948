//! Pod-window evaluation: does the injected pod's burst score alert during its fault, and
//! how often do other pods alert for nothing?
//!
//! Every line, the training part's included (as a service would have seen them), goes
//! through the service's own [`Aggregator`] with the parameters `replay` and `serve` use,
//! so the pods' windows and learnt rates are the service's; a pod *alerts* when its
//! window's burst score reaches [`BURST_THRESHOLD`], and only alerts in the test part
//! count. Alerts of one pod less than [`EPISODE_GAP_MINUTES`] apart are one episode, as the
//! alert policy would send them.
//!
//! What the on-call engineer would actually be told is measured with the service's own
//! [`Policy`] (default `[alerting.policy]`): every line goes through the [`MinuteClock`]
//! that `replay --alerts` uses, each minute's observations go to the policy, and each
//! firing notice counts once: a fault is *notified* when a notice points at its pod
//! during the fault, and a notice pointing at no pod under a fault is one false alert (a
//! grouped notice, about a namespace storm or a failing dependency, is one alert however
//! many pods it lists). A notice points at the pods it lists and at the pods of the
//! workload it blames: the cause of a grouped notice about a failing dependency, or the
//! workload a pod alert's lines name (its `dependency`: "if it is failing too, start
//! there").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::datasets::GRACE_NS;
use super::{Corpus, EvalError, Record};
use crate::aggregate::{AggregateParams, Aggregator, PodWindows, BURST_THRESHOLD};
use crate::alert::{
    classify, workload_of, MinuteClock, Notice, NoticeKind, ObservedLine, Policy, PolicyConfig,
    Scope, Workloads,
};
use crate::event::{LabelNames, LogLine, ScoredLine, Stream};
use loganomaly_model::Model;

const MINUTE_NS: i64 = 60_000_000_000;
/// An alert this many minutes after the pod's previous one starts a new episode.
pub const EPISODE_GAP_MINUTES: i64 = 10;

/// What happened during one injected fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultOutcome {
    /// The injected pod.
    pub pod: String,
    /// Fault type (`return`, `exception`, `cpu_contention`, ...).
    pub kind: String,
    /// `code_defect` or `resource`.
    pub class: String,
    /// Injection time (RFC 3339).
    pub start: String,
    /// Whether the pod logged a WARN/ERROR/exception line during the fault.
    pub visible: bool,
    /// Whether the pod alerted between the start and a minute after the end.
    pub detected: bool,
    /// Whether the alert policy (the service's, default settings) sent a firing notice
    /// naming the pod between the start and a minute after the end.
    pub notified: bool,
    /// Highest burst score of the pod in that span.
    pub peak_burst: f32,
}

/// Fault detection and false alarms over the test part.
#[derive(Debug, Clone, Serialize)]
pub struct PodAlerts {
    /// Faults injected after the split, oldest first.
    pub faults: Vec<FaultOutcome>,
    /// Alert episodes outside every fault window of their pod.
    pub false_alarms: u64,
    /// Hours of log time in the test part (minutes that have lines).
    pub hours: f64,
    /// `false_alarms / hours`.
    pub false_alarms_per_hour: f64,
    /// Pods with at least one false alarm, most first.
    pub noisy_pods: Vec<(String, u64)>,
    /// Each false alarm, oldest first, with the kind of its pod's anomalous lines.
    pub false_alarm_list: Vec<FalseAlarm>,
    /// Firing notices of the alert policy that name no pod under a fault, per hour.
    pub policy_false_alerts_per_hour: f64,
    /// Firing notices the alert policy sent in the test part.
    pub policy_notices: usize,
}

/// A pod alert outside every fault window of its pod.
#[derive(Debug, Clone, Serialize)]
pub struct FalseAlarm {
    /// The pod that alerted.
    pub pod: String,
    /// When its burst score crossed the threshold (RFC 3339).
    pub at: String,
    /// What its anomalous lines of that minute show (see [`crate::alert::Category`]): a pod that is only
    /// the victim of a failing dependency says so.
    pub category: &'static str,
    /// The other workload its anomalous lines of that minute name most often, if any: where
    /// the trouble of a victim pod comes from.
    pub dependency: Option<String>,
}

impl PodAlerts {
    /// `(detected, total)` of the faults that `keep` selects.
    pub fn detected(&self, keep: impl Fn(&FaultOutcome) -> bool) -> (usize, usize) {
        self.count(keep, |f| f.detected)
    }

    /// `(notified, total)` of the faults that `keep` selects: those the alert policy sent.
    pub fn notified(&self, keep: impl Fn(&FaultOutcome) -> bool) -> (usize, usize) {
        self.count(keep, |f| f.notified)
    }

    fn count(
        &self,
        keep: impl Fn(&FaultOutcome) -> bool,
        hit: impl Fn(&FaultOutcome) -> bool,
    ) -> (usize, usize) {
        let kept: Vec<&FaultOutcome> = self.faults.iter().filter(|f| keep(f)).collect();
        (kept.iter().filter(|f| hit(f)).count(), kept.len())
    }
}

/// A pod's burst score after one of its anomalous lines; `alert` when it crossed the
/// threshold, `new_episode` when that alert starts an episode.
struct Rise {
    unit: usize,
    ts_ns: i64,
    burst: f32,
    alert: bool,
    new_episode: bool,
}

/// Replays the training lines (to warm the pods' windows up) and the scored test lines
/// through the service's aggregator.
pub fn alerts(
    corpus: &Corpus,
    warm_up: &[Record],
    test: &[&Record],
    scores: &[f32],
    model: &Arc<Model>,
    windows: PodWindows,
) -> Result<PodAlerts, EvalError> {
    let warm: Vec<&Record> = warm_up.iter().collect();
    let warm_scores = super::score(corpus, &warm, model)?;
    let mut replay = PodReplay::new(corpus, model, windows);
    for (r, &s) in warm_up.iter().zip(&warm_scores) {
        replay.add(r, s);
    }
    replay.rises.clear();
    for (r, &s) in test.iter().zip(scores) {
        replay.add(r, s);
    }
    let lines = TestLines {
        test,
        scores,
        threshold: model.threshold,
    };
    let all: Vec<&Record> = warm_up.iter().chain(test.iter().copied()).collect();
    let all_scores: Vec<f32> = warm_scores.iter().chain(scores).copied().collect();
    let first_test = test.first().map_or(i64::MAX, |r| r.ts_ns);
    let notices = policy_notices(&replay.streams, &all, &all_scores, model, first_test);
    Ok(pod_alerts(corpus, &lines, &replay.rises, &notices))
}

/// The firing notices the service's alert policy sends from `from_ns` on, with when:
/// every line in log-time order through the [`MinuteClock`] of `replay --alerts`.
fn policy_notices(
    streams: &[Arc<Stream>],
    records: &[&Record],
    scores: &[f32],
    model: &Model,
    from_ns: i64,
) -> Vec<(i64, Notice)> {
    let mut clock = MinuteClock::new(model, model.threshold, AggregateParams::for_model(model));
    let mut policy = Policy::new(PolicyConfig::default());
    let mut out = Vec::new();
    let mut ended = |now: i64, obs: &[crate::alert::PodObservation]| {
        for n in policy.evaluate(now, obs) {
            if now >= from_ns && n.kind() == NoticeKind::Firing {
                out.push((now, n));
            }
        }
        Ok::<(), ()>(())
    };
    for (r, &score) in records.iter().zip(scores) {
        let Some(stream) = streams.get(r.unit) else {
            continue;
        };
        let scored = ScoredLine {
            log: LogLine {
                ts_ns: r.ts_ns,
                stream: Arc::clone(stream),
                line: r.text.clone(),
            },
            score,
            anomalous: score >= model.threshold,
        };
        let _ = clock.add(&scored, &mut ended);
    }
    let _ = clock.finish_one(std::time::Duration::ZERO, false, &mut ended);
    out
}

/// The pods a notice points the on-call engineer at: those it lists, and the pods of the
/// workload it names as the likely cause (a notice about a cause, or a pod alert whose
/// lines name another workload: "if it is failing too, start there").
fn pointed_at(corpus: &Corpus, unit_of: &HashMap<&str, usize>, n: &Notice) -> Vec<usize> {
    let mut workloads: Vec<&str> = n
        .alerts()
        .iter()
        .filter_map(|a| a.dependency.as_deref())
        .collect();
    if let Notice::Group {
        scope: Scope::Cause(w),
        ..
    } = n
    {
        workloads.push(w);
    }
    let mut units: Vec<usize> = n
        .alerts()
        .iter()
        .filter_map(|a| unit_of.get(a.pod.as_str()).copied())
        .collect();
    units.extend(
        corpus
            .units
            .iter()
            .enumerate()
            .filter(|(_, u)| workloads.contains(&workload_of(&u.name)))
            .map(|(i, _)| i),
    );
    units.sort_unstable();
    units.dedup();
    units
}

/// The scored test part.
struct TestLines<'a> {
    test: &'a [&'a Record],
    scores: &'a [f32],
    threshold: f32,
}

impl TestLines<'_> {
    /// `unit`'s anomalous lines in the minute of `ts_ns`.
    fn anomalous(&self, unit: usize, ts_ns: i64) -> Vec<ObservedLine> {
        let minute = ts_ns.div_euclid(MINUTE_NS);
        self.test
            .iter()
            .zip(self.scores)
            .filter(|(r, &s)| {
                r.unit == unit && r.ts_ns.div_euclid(MINUTE_NS) == minute && s >= self.threshold
            })
            .map(|(r, &score)| ObservedLine {
                ts_ns: r.ts_ns,
                score,
                line: r.text.clone(),
                tokens: Vec::new(),
            })
            .collect()
    }
}

fn pod_alerts(
    corpus: &Corpus,
    lines: &TestLines,
    rises: &[Rise],
    notices: &[(i64, Notice)],
) -> PodAlerts {
    let test = lines.test;
    let first_ts = test.first().map_or(i64::MAX, |r| r.ts_ns);
    let unit_of = corpus.unit_index();
    let pointed: Vec<Vec<usize>> = notices
        .iter()
        .map(|(_, n)| pointed_at(corpus, &unit_of, n))
        .collect();
    // (unit, when) of each pod a firing notice points at
    let named: Vec<(usize, i64)> = notices
        .iter()
        .zip(&pointed)
        .flat_map(|((t, _), units)| units.iter().map(move |&u| (u, *t)))
        .collect();
    let faults: Vec<FaultOutcome> = corpus
        .faults
        .iter()
        .filter(|f| f.start_ns >= first_ts)
        .map(|f| outcome(corpus, f, test, rises, &named))
        .collect();
    let policy_false = notices
        .iter()
        .zip(&pointed)
        .filter(|((t, _), units)| !units.iter().any(|&u| in_fault_window(corpus, u, *t)))
        .count();
    let mut noisy: HashMap<usize, u64> = HashMap::new();
    let mut false_alarm_list = Vec::new();
    let workloads = Workloads::of(corpus.units.iter().map(|u| u.name.as_str()));
    for a in rises.iter().filter(|a| a.new_episode) {
        if !in_fault_window(corpus, a.unit, a.ts_ns) {
            *noisy.entry(a.unit).or_default() += 1;
            let pod = &corpus.units[a.unit].name;
            let anomalous = lines.anomalous(a.unit, a.ts_ns);
            false_alarm_list.push(FalseAlarm {
                pod: pod.clone(),
                at: crate::event::rfc3339(a.ts_ns),
                category: classify(&anomalous).label(),
                dependency: workloads.named_by(pod, anomalous.iter().map(|l| l.line.as_str())),
            });
        }
    }
    let false_alarms = noisy.values().sum();
    let minutes: HashSet<i64> = test.iter().map(|r| r.ts_ns.div_euclid(MINUTE_NS)).collect();
    let hours = minutes.len() as f64 / 60.0;
    let mut noisy_pods: Vec<(String, u64)> = noisy
        .into_iter()
        .map(|(u, n)| (corpus.units[u].name.clone(), n))
        .collect();
    noisy_pods.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    PodAlerts {
        faults,
        false_alarms,
        hours,
        false_alarms_per_hour: if hours > 0.0 {
            false_alarms as f64 / hours
        } else {
            0.0
        },
        noisy_pods,
        false_alarm_list,
        policy_false_alerts_per_hour: if hours > 0.0 {
            policy_false as f64 / hours
        } else {
            0.0
        },
        policy_notices: notices.len(),
    }
}

/// The service's aggregator fed with a corpus's lines, noting each pod's burst rises.
struct PodReplay {
    agg: Aggregator,
    threshold: f32,
    streams: Vec<Arc<Stream>>,
    /// Per unit: (first span of its window, the window's burst so far, latest alert span).
    state: Vec<(i64, f32, Option<i64>)>,
    rises: Vec<Rise>,
}

impl PodReplay {
    fn new(corpus: &Corpus, model: &Model, windows: PodWindows) -> Self {
        let streams = corpus
            .units
            .iter()
            .map(|u| {
                let labels = BTreeMap::from([("pod".to_string(), u.name.clone())]);
                Arc::new(Stream::from_labels(labels, &LabelNames::default()))
            })
            .collect();
        Self {
            agg: Aggregator::new(AggregateParams::for_model(model).with_windows(windows)),
            threshold: model.threshold,
            streams,
            state: vec![(i64::MIN, 0.0, None); corpus.units.len()],
            rises: Vec::new(),
        }
    }

    fn add(&mut self, r: &Record, score: f32) {
        let (Some(stream), Some(state)) = (self.streams.get(r.unit), self.state.get_mut(r.unit))
        else {
            return;
        };
        let scored = ScoredLine {
            log: LogLine {
                ts_ns: r.ts_ns,
                stream: Arc::clone(stream),
                line: String::new(),
            },
            score,
            anomalous: score >= self.threshold,
        };
        let Some(pod) = self.agg.add(&scored) else {
            return;
        };
        let (first, burst) = (pod.window_first(), pod.window_burst);
        let before = if first == state.0 { state.1 } else { 0.0 };
        (state.0, state.1) = (first, burst);
        if !scored.anomalous {
            return;
        }
        let minute = r.ts_ns.div_euclid(MINUTE_NS);
        let alert = burst >= BURST_THRESHOLD && before < BURST_THRESHOLD;
        let new_episode = alert && state.2.is_none_or(|m| minute - m > EPISODE_GAP_MINUTES);
        if burst >= BURST_THRESHOLD {
            state.2 = Some(minute);
        }
        self.rises.push(Rise {
            unit: r.unit,
            ts_ns: r.ts_ns,
            burst,
            alert,
            new_episode,
        });
    }
}

fn in_fault_window(corpus: &Corpus, unit: usize, ts: i64) -> bool {
    let pod = &corpus.units[unit].name;
    corpus
        .faults
        .iter()
        .any(|f| &f.pod == pod && ts >= f.start_ns && ts <= f.end_ns + GRACE_NS)
}

fn outcome(
    corpus: &Corpus,
    f: &super::Fault,
    test: &[&Record],
    rises: &[Rise],
    named: &[(usize, i64)],
) -> FaultOutcome {
    let unit = corpus.units.iter().position(|u| u.name == f.pod);
    let during = |ts: i64| ts >= f.start_ns && ts <= f.end_ns + GRACE_NS;
    let mine: Vec<&Rise> = rises
        .iter()
        .filter(|a| Some(a.unit) == unit && during(a.ts_ns))
        .collect();
    let visible = test.iter().any(|r| {
        Some(r.unit) == unit && r.ts_ns >= f.start_ns && r.ts_ns <= f.end_ns && shows_error(&r.text)
    });
    FaultOutcome {
        pod: f.pod.clone(),
        kind: f.kind.clone(),
        class: f.class.clone(),
        start: crate::event::rfc3339(f.start_ns),
        visible,
        detected: mine.iter().any(|a| a.alert),
        notified: named.iter().any(|&(u, t)| Some(u) == unit && during(t)),
        peak_burst: mine.iter().map(|a| a.burst).fold(0.0, f32::max),
    }
}

/// Whether a line says WARN, ERROR or exception (the visibility rule).
fn shows_error(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ["warn", "error", "exception"]
        .iter()
        .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Category, PodAlert};
    use crate::evaluate::{Unit, UnitKind};
    use std::path::Path;

    fn alert(pod: &str, dependency: Option<&str>) -> PodAlert {
        PodAlert {
            namespace: "train".into(),
            pod: pod.into(),
            kind: NoticeKind::Firing,
            since_ns: 0,
            at_ns: 0,
            ended_ns: None,
            burst: 12.0,
            peak_burst: 12.0,
            enter_score: 9.0,
            score: 0.6,
            threshold: 0.5,
            anomalous_in_window: 5,
            top_lines: Vec::new(),
            category: Category::Crash,
            dependency: dependency.map(String::from),
        }
    }

    /// Issue 15: a notice counts for the workload it names as the cause, not only for the
    /// pods it lists.
    #[test]
    fn a_notice_points_at_its_pods_and_at_the_workload_it_blames() {
        let mut corpus = Corpus::new("t", UnitKind::PodWindow, Path::new("t"));
        for pod in [
            "ts-travel-service-64469b5b48-25zj6",
            "ts-basic-service-5dc8d4f9fd-46997",
            "ts-food-service-f5756978c-k8vqf",
        ] {
            corpus.add_unit(Unit::new(pod.into(), false, "pod"));
        }
        let units = corpus.unit_index();
        let travel = "ts-travel-service-64469b5b48-25zj6";
        let plain = Notice::Pod(alert(travel, None));
        assert_eq!(pointed_at(&corpus, &units, &plain), [0]);
        let blaming = Notice::Pod(alert(travel, Some("ts-basic-service")));
        assert_eq!(pointed_at(&corpus, &units, &blaming), [0, 1]);
        let cause = Notice::Group {
            scope: Scope::Cause("ts-food-service".into()),
            kind: NoticeKind::Firing,
            alerts: vec![alert(travel, None)],
        };
        assert_eq!(pointed_at(&corpus, &units, &cause), [0, 2]);
    }
}
