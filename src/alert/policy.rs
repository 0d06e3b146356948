//! The alert policy: a pure state machine over per-pod observations.
//!
//! No clock, no I/O: every call says what time it is (`now_ns`, Unix nanoseconds of log
//! time in a replay, wall time in a service), so tests drive it minute by minute.
//!
//! Per pod: *normal* -> *anomalous* when the score stays at or above `enter_score` for
//! `enter_for` (or one window holds `enter_lines` anomalous lines); *anomalous* -> *normal*
//! when it stays below the lower `resolve_score` for `resolve_for` (hysteresis). A pod
//! still anomalous is announced again every `renotify_every`. Then storm control: pods
//! turning anomalous together in one namespace (or the cluster) become one grouped notice,
//! and at most `max_per_minute` notices go out per minute; what is over the cap is held
//! back and retried at the next evaluation, so nothing is silently forgotten.

use std::collections::{BTreeMap, VecDeque};

use super::category::{classify, Category};
use super::config::PolicyConfig;
use super::dependency::{workload_of, Workloads};

/// One of a pod's anomalous lines, as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedLine {
    /// Unix nanoseconds.
    pub ts_ns: i64,
    /// Its anomaly score.
    pub score: f32,
    /// The raw line (redacted only when it leaves the process).
    pub line: String,
    /// The tokens that made it unusual ([`loganomaly_model::Model::explain`]).
    pub tokens: Vec<String>,
}

/// What the pipeline knows about one pod at one moment: the policy's only input.
#[derive(Debug, Clone, PartialEq)]
pub struct PodObservation {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// When this holds (Unix nanoseconds): the end of the window it describes.
    pub at_ns: i64,
    /// The pod's moving average of line scores (shown, not decided on).
    pub score: f32,
    /// The model's line threshold (shown with `score`).
    pub threshold: f32,
    /// Burst score of the window that just ended: what the policy decides on.
    pub burst: f32,
    /// Anomalous lines in that window.
    pub anomalous_in_window: u32,
    /// The pod's most anomalous lines, highest score first.
    pub top_lines: Vec<ObservedLine>,
}

/// What a notice says about a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// The pod turned anomalous.
    Firing,
    /// The pod is still anomalous (sent every `renotify_every`).
    Reminder,
    /// The pod is back to normal.
    Resolved,
}

/// One pod's alert, as carried by a notice.
#[derive(Debug, Clone, PartialEq)]
pub struct PodAlert {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// Firing, reminder or resolved.
    pub kind: NoticeKind,
    /// When the score first crossed `enter_score` in this episode (Unix ns).
    pub since_ns: i64,
    /// When this notice was decided (Unix ns).
    pub at_ns: i64,
    /// When the episode ended (resolved notices only).
    pub ended_ns: Option<i64>,
    /// The latest burst score.
    pub burst: f32,
    /// The highest burst score of the episode.
    pub peak_burst: f32,
    /// `enter_score`, for "score vs threshold".
    pub enter_score: f32,
    /// The pod's moving average of line scores, latest.
    pub score: f32,
    /// The model's line threshold.
    pub threshold: f32,
    /// Anomalous lines in the latest window.
    pub anomalous_in_window: u32,
    /// The most anomalous lines of the episode, highest first.
    pub top_lines: Vec<ObservedLine>,
    /// What kind of trouble the lines show.
    pub category: Category,
    /// The other workload of the cluster the lines name most often: where a victim pod's
    /// trouble likely comes from (see `dependency`).
    pub dependency: Option<String>,
}

/// Who a grouped notice is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Many pods of one namespace.
    Namespace(String),
    /// Several pods whose anomalous lines name one workload (`dependency`): its victims,
    /// listed in one notice about the likely cause, with the workload's own pods if they
    /// alert too.
    Cause(String),
    /// Many pods across the cluster.
    Cluster,
}

/// A message to send, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// About one pod.
    Pod(PodAlert),
    /// About many pods at once (storm control); all alerts share `kind`.
    Group {
        /// Namespace or cluster.
        scope: Scope,
        /// Firing, reminder or resolved.
        kind: NoticeKind,
        /// The pods, most anomalous first.
        alerts: Vec<PodAlert>,
    },
}

impl Notice {
    /// The pod alerts this notice carries.
    pub fn alerts(&self) -> &[PodAlert] {
        match self {
            Notice::Pod(a) => std::slice::from_ref(a),
            Notice::Group { alerts, .. } => alerts,
        }
    }

    /// What the notice says.
    pub fn kind(&self) -> NoticeKind {
        match self {
            Notice::Pod(a) => a.kind,
            Notice::Group { kind, .. } => *kind,
        }
    }
}

/// Counts of what storm control did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyStats {
    /// Pod alerts folded into grouped notices.
    pub grouped: u64,
    /// Pod alerts held back by the per-minute cap (each retry counts again).
    pub held_back: u64,
}

/// Lines kept per pod episode.
const KEEP_LINES: usize = 10;
const MINUTE_NS: i64 = 60_000_000_000;

#[derive(Debug)]
struct Episode {
    since_ns: i64,
    /// When the last notice about it went out; `None` until the first.
    notified_ns: Option<i64>,
    below_since: Option<i64>,
    peak_burst: f32,
    /// Fixed by the first notice, so "what to check first" does not change mid-episode.
    category: Option<Category>,
    /// Resolved, but the resolved notice is not out yet (held back by the cap).
    ended_ns: Option<i64>,
}

#[derive(Debug, Default)]
struct PodState {
    above_since: Option<i64>,
    /// Most anomalous lines since the score first crossed `enter_score` (this episode).
    lines: Vec<ObservedLine>,
    episode: Option<Episode>,
    last: Option<PodObservation>,
}

/// The alert policy. See the module docs.
#[derive(Debug)]
pub struct Policy {
    cfg: PolicyConfig,
    pods: BTreeMap<(String, String), PodState>,
    /// (namespace, when) of recent firing pods, for storm detection.
    recent: VecDeque<(String, i64)>,
    /// When each recent notice went out, for the per-minute cap.
    sent: VecDeque<i64>,
    stats: PolicyStats,
}

impl Policy {
    /// A policy with no pod known yet.
    pub fn new(cfg: PolicyConfig) -> Self {
        Self {
            cfg,
            pods: BTreeMap::new(),
            recent: VecDeque::new(),
            sent: VecDeque::new(),
            stats: PolicyStats::default(),
        }
    }

    /// What storm control did so far.
    pub fn stats(&self) -> PolicyStats {
        self.stats
    }

    /// Pods in an anomalous episode that was announced: `(namespace, pod)`.
    pub fn active(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pods.iter().filter_map(|((ns, pod), s)| {
            let e = s.episode.as_ref()?;
            (e.notified_ns.is_some() && e.ended_ns.is_none()).then_some((ns.as_str(), pod.as_str()))
        })
    }

    /// Pods in an anomalous episode, announced or not (a resolved one not yet announced
    /// included).
    pub fn open_episodes(&self) -> usize {
        self.pods.values().filter(|s| s.episode.is_some()).count()
    }

    /// Folds in this moment's observations (one per pod; pods not observed keep their
    /// state) and returns the notices to send now.
    pub fn evaluate(&mut self, now_ns: i64, observations: &[PodObservation]) -> Vec<Notice> {
        for obs in observations {
            self.observe(obs);
        }
        let (firing, resolved, reminders) = self.due(now_ns);
        let mut notices = self.group(NoticeKind::Firing, firing, now_ns);
        notices.extend(self.group(NoticeKind::Resolved, resolved, now_ns));
        notices.extend(self.group(NoticeKind::Reminder, reminders, now_ns));
        self.cap(now_ns, notices)
    }

    fn observe(&mut self, obs: &PodObservation) {
        let cfg = &self.cfg;
        let key = (obs.namespace.clone(), obs.pod.clone());
        let state = self.pods.entry(key).or_default();
        let at = obs.at_ns;
        if obs.burst >= cfg.enter_score {
            state.above_since.get_or_insert(at);
        } else {
            state.above_since = None;
        }
        match &mut state.episode {
            None => {
                let held = state
                    .above_since
                    .is_some_and(|t| at - t >= duration_ns(cfg.enter_for));
                let many = cfg.enter_lines > 0 && obs.anomalous_in_window >= cfg.enter_lines;
                if held || many {
                    // since the first anomalous line of the first abnormal window
                    let first_line = state.lines.iter().map(|l| l.ts_ns).min();
                    let since = state.above_since.unwrap_or(at);
                    state.episode = Some(Episode {
                        since_ns: first_line.map_or(since, |t| t.min(since)),
                        notified_ns: None,
                        below_since: None,
                        peak_burst: obs.burst,
                        category: None,
                        ended_ns: None,
                    });
                }
            }
            Some(e) if e.ended_ns.is_none() => {
                e.peak_burst = e.peak_burst.max(obs.burst);
                if obs.burst < cfg.resolve_score {
                    let since = *e.below_since.get_or_insert(at);
                    if at - since >= duration_ns(cfg.resolve_for) {
                        e.ended_ns = Some(at);
                    }
                } else {
                    e.below_since = None;
                }
            }
            Some(_) => {}
        }
        if state.episode.is_none() && state.above_since.is_none() {
            state.lines.clear();
        } else {
            merge_lines(&mut state.lines, &obs.top_lines);
        }
        if let Some(e) = &state.episode {
            if e.ended_ns.is_some() && e.notified_ns.is_none() {
                // over before anyone was told (held back all along): nothing to resolve
                state.episode = None;
            }
        }
        state.last = Some(obs.clone());
    }

    /// Alerts due now: (firing, resolved, reminders), each most anomalous first.
    fn due(&self, now_ns: i64) -> (Vec<PodAlert>, Vec<PodAlert>, Vec<PodAlert>) {
        let renotify = duration_ns(self.cfg.renotify_every);
        let (mut firing, mut resolved, mut reminders) = (Vec::new(), Vec::new(), Vec::new());
        for ((ns, pod), state) in &self.pods {
            let (Some(e), Some(last)) = (&state.episode, &state.last) else {
                continue;
            };
            let alert = |kind| self.alert((ns, pod), kind, (e, &state.lines), last, now_ns);
            match (e.ended_ns, e.notified_ns) {
                (Some(_), _) => resolved.push(alert(NoticeKind::Resolved)),
                (None, None) => firing.push(alert(NoticeKind::Firing)),
                (None, Some(t)) if now_ns - t >= renotify => {
                    reminders.push(alert(NoticeKind::Reminder))
                }
                _ => {}
            }
        }
        for list in [&mut firing, &mut resolved, &mut reminders] {
            list.sort_by(|a, b| b.peak_burst.total_cmp(&a.peak_burst));
        }
        (firing, resolved, reminders)
    }

    fn alert(
        &self,
        (ns, pod): (&str, &str),
        kind: NoticeKind,
        (e, lines): (&Episode, &[ObservedLine]),
        last: &PodObservation,
        now_ns: i64,
    ) -> PodAlert {
        PodAlert {
            namespace: ns.to_string(),
            pod: pod.to_string(),
            kind,
            since_ns: e.since_ns,
            at_ns: now_ns,
            ended_ns: e.ended_ns,
            burst: last.burst,
            peak_burst: e.peak_burst,
            enter_score: self.cfg.enter_score,
            score: last.score,
            threshold: last.threshold,
            anomalous_in_window: last.anomalous_in_window,
            category: e.category.unwrap_or_else(|| classify(lines)),
            dependency: self.named_dependency(pod, lines),
            top_lines: lines.to_vec(),
        }
    }

    /// The workload other than `pod`'s that `lines` name most often, among those of the
    /// pods this policy has seen.
    fn named_dependency(&self, pod: &str, lines: &[ObservedLine]) -> Option<String> {
        Workloads::of(self.pods.keys().map(|(_, p)| p.as_str()))
            .named_by(pod, lines.iter().map(|l| l.line.as_str()))
    }

    /// Storm control: one notice per cluster or namespace storm, else one per pod.
    fn group(&mut self, kind: NoticeKind, alerts: Vec<PodAlert>, now_ns: i64) -> Vec<Notice> {
        if alerts.is_empty() {
            return Vec::new();
        }
        let storm = &self.cfg.storm;
        let window = duration_ns(storm.window);
        while self
            .recent
            .front()
            .is_some_and(|(_, t)| now_ns - t > window)
        {
            self.recent.pop_front();
        }
        // firing pods already announced in the window count towards a storm
        let earlier = |ns: Option<&str>| match kind {
            NoticeKind::Firing => self
                .recent
                .iter()
                .filter(|(n, _)| ns.is_none_or(|ns| n == ns))
                .count(),
            _ => 0,
        };
        if alerts.len() + earlier(None) >= storm.cluster_pods && alerts.len() > 1 {
            return vec![Notice::Group {
                scope: Scope::Cluster,
                kind,
                alerts,
            }];
        }
        let (mut notices, alerts) = by_cause(kind, alerts);
        let mut by_ns: BTreeMap<String, Vec<PodAlert>> = BTreeMap::new();
        for a in alerts {
            by_ns.entry(a.namespace.clone()).or_default().push(a);
        }
        for (ns, alerts) in by_ns {
            if alerts.len() > 1 && alerts.len() + earlier(Some(&ns)) >= storm.namespace_pods {
                notices.push(Notice::Group {
                    scope: Scope::Namespace(ns),
                    kind,
                    alerts,
                });
            } else {
                notices.extend(alerts.into_iter().map(Notice::Pod));
            }
        }
        notices
    }

    /// Applies the per-minute cap, marks what goes out as notified, counts the rest.
    fn cap(&mut self, now_ns: i64, notices: Vec<Notice>) -> Vec<Notice> {
        while self.sent.front().is_some_and(|t| now_ns - t >= MINUTE_NS) {
            self.sent.pop_front();
        }
        let mut out = Vec::new();
        for notice in notices {
            let pods = notice.alerts().len() as u64;
            if self.sent.len() >= self.cfg.storm.max_per_minute {
                self.stats.held_back += pods;
                continue;
            }
            self.sent.push_back(now_ns);
            if matches!(notice, Notice::Group { .. }) {
                self.stats.grouped += pods;
            }
            for a in notice.alerts() {
                self.mark_sent(a, now_ns);
            }
            out.push(notice);
        }
        out
    }

    fn mark_sent(&mut self, a: &PodAlert, now_ns: i64) {
        let key = (a.namespace.clone(), a.pod.clone());
        let Some(state) = self.pods.get_mut(&key) else {
            return;
        };
        match a.kind {
            NoticeKind::Resolved => {
                state.episode = None;
                state.lines.clear();
            }
            NoticeKind::Firing | NoticeKind::Reminder => {
                if a.kind == NoticeKind::Firing {
                    self.recent.push_back((a.namespace.clone(), now_ns));
                }
                if let Some(e) = &mut state.episode {
                    e.notified_ns = Some(now_ns);
                    e.category.get_or_insert(a.category);
                }
            }
        }
    }
}

/// Keeps the `KEEP_LINES` highest-scoring distinct lines, highest first. Lines with the
/// same score and unusual tokens are the same kind of line (timestamps and ids are masked
/// before scoring), so only the first of them is kept.
/// Pods that alert together: fewer than this naming one workload stay separate.
const CAUSE_VICTIMS: usize = 2;

/// One notice per workload that [`CAUSE_VICTIMS`] or more of `alerts` name, carrying its
/// own pods' alerts first, then its victims'; and the alerts left.
fn by_cause(kind: NoticeKind, alerts: Vec<PodAlert>) -> (Vec<Notice>, Vec<PodAlert>) {
    let mut victims: BTreeMap<String, usize> = BTreeMap::new();
    for a in &alerts {
        if let Some(d) = &a.dependency {
            *victims.entry(d.clone()).or_default() += 1;
        }
    }
    victims.retain(|_, n| *n >= CAUSE_VICTIMS);
    if victims.is_empty() {
        return (Vec::new(), alerts);
    }
    let mut groups: BTreeMap<String, (Vec<PodAlert>, Vec<PodAlert>)> = BTreeMap::new();
    let mut rest = Vec::new();
    for a in alerts {
        let own = workload_of(&a.pod);
        if victims.contains_key(own) {
            groups.entry(own.to_string()).or_default().0.push(a);
        } else if let Some(d) = a.dependency.clone().filter(|d| victims.contains_key(d)) {
            groups.entry(d).or_default().1.push(a);
        } else {
            rest.push(a);
        }
    }
    let notices = groups
        .into_iter()
        .map(|(workload, (mut own, victims))| {
            own.extend(victims);
            Notice::Group {
                scope: Scope::Cause(workload),
                kind,
                alerts: own,
            }
        })
        .collect();
    (notices, rest)
}

fn merge_lines(kept: &mut Vec<ObservedLine>, new: &[ObservedLine]) {
    for l in new {
        let same =
            |k: &ObservedLine| k.line == l.line || (k.score == l.score && k.tokens == l.tokens);
        if kept.iter().any(same) {
            continue;
        }
        let at = kept.partition_point(|k| k.score >= l.score);
        kept.insert(at, l.clone());
    }
    kept.truncate(KEEP_LINES);
}

fn duration_ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
