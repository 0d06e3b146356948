//! Pod-window evaluation: does the injected pod's burst score alert during its fault, and
//! how often do other pods alert for nothing?
//!
//! Every line, the training part's included (as a service would have seen them), goes
//! through the service's own [`Aggregator`] with the parameters `replay` and `serve` use,
//! so the pods' windows and learnt rates are the service's; a pod *alerts* when its
//! window's burst score reaches [`BURST_THRESHOLD`], and only alerts in the test part
//! count. Alerts of one pod less than [`EPISODE_GAP_MINUTES`] apart are one episode, as the
//! alert policy would send them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::datasets::GRACE_NS;
use super::{Corpus, EvalError, Record};
use crate::alert::{classify, ObservedLine, Workloads};
use crate::event::{LabelNames, LogLine, ScoredLine, Stream};
use crate::model::Model;
use crate::pipeline::aggregate::{AggregateParams, Aggregator, PodWindows, BURST_THRESHOLD};

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
    /// Whether the alert policy would have told the on-call engineer in that span: the
    /// pod's burst score held at the threshold for two consecutive minutes (`enter_for`
    /// of one minute, the default), as [`crate::alert::Policy`] decides at each minute's end.
    pub held: bool,
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
    /// False alarms the alert policy would have sent (score held two minutes), per hour.
    pub held_false_alarms_per_hour: f64,
}

/// Per unit, the minutes at whose end the alert policy holds the pod abnormal: the burst
/// score reached the threshold in that minute and in the one before.
fn held_alerts(rises: &[Rise]) -> HashMap<usize, Vec<i64>> {
    let mut above: HashMap<usize, BTreeSet<i64>> = HashMap::new();
    for r in rises.iter().filter(|r| r.burst >= BURST_THRESHOLD) {
        above
            .entry(r.unit)
            .or_default()
            .insert(r.ts_ns.div_euclid(MINUTE_NS));
    }
    above
        .into_iter()
        .map(|(unit, minutes)| {
            let held = minutes
                .iter()
                .copied()
                .filter(|m| minutes.contains(&(m - 1)));
            (unit, held.collect())
        })
        .collect()
}

/// The held minutes of `minutes` (ascending) that start an episode: none held in the
/// [`EPISODE_GAP_MINUTES`] before.
fn episode_starts(minutes: &[i64]) -> impl Iterator<Item = i64> + '_ {
    minutes.iter().enumerate().filter_map(|(i, &m)| {
        let new = i == 0 || m - minutes[i - 1] > EPISODE_GAP_MINUTES;
        new.then_some(m)
    })
}

/// When the policy decides on minute `m`: at its end.
fn decided_at(m: i64) -> i64 {
    (m + 1).saturating_mul(MINUTE_NS)
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

    /// `(held, total)` of the faults that `keep` selects: those the alert policy would have
    /// sent.
    pub fn held(&self, keep: impl Fn(&FaultOutcome) -> bool) -> (usize, usize) {
        self.count(keep, |f| f.held)
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
    model: &Model,
    windows: PodWindows,
) -> Result<PodAlerts, EvalError> {
    let texts: Vec<&str> = warm_up.iter().map(|r| r.text.as_str()).collect();
    let mut warm_scores = Vec::new();
    model.score_batch(&texts, &mut warm_scores)?;
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
    Ok(pod_alerts(corpus, &lines, &replay.rises))
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

fn pod_alerts(corpus: &Corpus, lines: &TestLines, rises: &[Rise]) -> PodAlerts {
    let test = lines.test;
    let first_ts = test.first().map_or(i64::MAX, |r| r.ts_ns);
    let held = held_alerts(rises);
    let faults: Vec<FaultOutcome> = corpus
        .faults
        .iter()
        .filter(|f| f.start_ns >= first_ts)
        .map(|f| outcome(corpus, f, test, rises, &held))
        .collect();
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
    let held_false = held
        .iter()
        .flat_map(|(&u, ms)| episode_starts(ms).map(move |m| (u, decided_at(m))))
        .filter(|&(u, t)| !in_fault_window(corpus, u, t))
        .count();
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
        held_false_alarms_per_hour: if hours > 0.0 {
            held_false as f64 / hours
        } else {
            0.0
        },
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
    held: &HashMap<usize, Vec<i64>>,
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
        held: unit
            .and_then(|u| held.get(&u))
            .is_some_and(|ms| ms.iter().any(|&m| during(decided_at(m)))),
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

    fn rise(unit: usize, minute: i64, burst: f32) -> Rise {
        Rise {
            unit,
            ts_ns: minute * MINUTE_NS + 1,
            burst,
            alert: false,
            new_episode: false,
        }
    }

    #[test]
    fn the_policy_holds_a_pod_after_two_minutes_at_the_threshold() {
        let rises = [
            rise(0, 10, 12.0), // one minute alone: never held
            rise(0, 20, 9.5),
            rise(0, 21, 3.0),
            rise(0, 21, 30.0), // the minute reaches the threshold later
            rise(0, 22, 10.0),
            rise(0, 40, 9.0),
            rise(0, 41, 9.0),
            rise(1, 5, 8.9),
            rise(1, 6, 50.0),
        ];
        let held = held_alerts(&rises);
        assert_eq!(held[&0], vec![21, 22, 41]);
        assert!(held.get(&1).is_none_or(Vec::is_empty));
        assert_eq!(episode_starts(&held[&0]).collect::<Vec<_>>(), vec![21, 41]);
        assert_eq!(decided_at(21), 22 * MINUTE_NS);
    }
}
