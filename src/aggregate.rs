//! Per-pod aggregation: folds scored lines into statistics per (namespace, pod, container).
//!
//! A pod is ranked by its *burst score*: for each minute of log time, how surprising its
//! count of anomalous lines is if each line were a false positive with the model's
//! calibrated rate `p`. The surprise of `k` anomalous lines out of `n` is the Chernoff
//! bound `n * KL(k/n || p)` in log10 units: about `-log10 P(X >= k)` for `X ~ Bin(n, p)`.
//! It weighs volume and rate together: one odd line in a quiet pod and a handful of false
//! positives in a chatty one both stay low, while a burst of abnormal lines stands out.
//!
//! The window's burst score is the more surprising of two counts: its anomalous lines at
//! rate `p`, and its *strict* lines (scoring above the model's strict threshold, which only
//! a hundredth of the contamination of healthy lines reach) at rate `p / 100`. A handful of
//! never-seen error lines in a pod logging hundreds a minute is then a burst, though it
//! hardly moves the first count.
//!
//! Two refinements, off by default, make the score fairer to quiet and to noisy pods:
//!
//! * A window lasts at least one `window_ns`, and may go on (up to `window_max_spans` of
//!   them) until it holds `window_min_lines` lines: a pod logging fifteen lines a minute
//!   cannot show much in one minute, but can in three.
//! * With `learn_rate`, `p` is the pod's own rate of anomalous lines, learnt from its past
//!   windows that stayed below [`BURST_THRESHOLD`] (exponentially forgotten, starting from
//!   the model's contamination), and never lower than the contamination: a pod whose normal
//!   lines often look odd needs a bigger burst to stand out, while a clean pod is judged as
//!   before.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::event::{ScoredLine, Stream};
use crate::input::floor_char_boundary;
use loganomaly_model::{Model, STRICT_SHARE};

/// How lines are folded into pod statistics.
#[derive(Debug, Clone)]
pub struct AggregateParams {
    /// Weight of the newest line in the pod's moving average score (0..1].
    pub ewma_alpha: f32,
    /// How many of its most anomalous lines each pod keeps.
    pub top_lines: usize,
    /// Kept lines are cut to this many bytes.
    pub max_line_bytes: usize,
    /// Length of a burst window, in nanoseconds of log time.
    pub window_ns: i64,
    /// Share of lines expected to be anomalous by chance: the model's contamination.
    pub expected_rate: f64,
    /// Kept top lines older than this (log time) are dropped; `None` keeps them forever.
    pub top_max_age_ns: Option<i64>,
    /// A window with fewer lines than this goes on into the next `window_ns`.
    pub window_min_lines: u32,
    /// Longest window, in `window_ns` (1, the default, = fixed windows of `window_ns`). At 3,
    /// Nezha's clean-mode detections go from 3 to 6 of 15 visible faults, but a quiet pod of
    /// the bundled sample (kube-event-exporter) then fires outside its incident.
    pub window_max_spans: u32,
    /// Whether each pod's own anomalous rate is learnt (off: every pod is judged at the
    /// contamination). Off by default: on the bundled sample, a noisy ingress pod then
    /// misses its incident (burst 8.2), though on Nezha it halves the false alarms.
    pub learn_rate: bool,
    /// Weight, in lines, of the contamination in a pod's learnt rate: how much history
    /// it takes before the pod's own rate counts.
    pub baseline_prior_lines: f64,
    /// Lines after which a pod's past counts weigh half as much in its learnt rate.
    pub baseline_half_life_lines: f64,
    /// Lines scoring at or above this are counted apart ([`loganomaly_model::Model::strict_threshold`]);
    /// infinite: none are.
    pub strict_threshold: f32,
    /// Expected share of lines at or above `strict_threshold` in a healthy pod.
    pub strict_rate: f64,
}

/// How pods' burst windows are cut and judged: the service's `[pods]` settings that reach
/// the aggregator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodWindows {
    /// Longest window, in one-minute spans (see [`AggregateParams::window_max_spans`]).
    pub max_minutes: u32,
    /// See [`AggregateParams::learn_rate`].
    pub learn_rate: bool,
}

impl Default for PodWindows {
    fn default() -> Self {
        Self {
            max_minutes: 1,
            learn_rate: false,
        }
    }
}

impl AggregateParams {
    /// The defaults for lines scored by `model`: its contamination is the expected rate
    /// of anomalous lines, its strict threshold marks the rare ones.
    pub fn for_model(model: &Model) -> Self {
        let rate = model.meta.params.contamination;
        Self {
            expected_rate: rate,
            strict_threshold: model.strict_threshold,
            strict_rate: rate * STRICT_SHARE,
            ..Self::default()
        }
    }

    /// These parameters with the windows `w`.
    pub fn with_windows(self, w: PodWindows) -> Self {
        Self {
            window_max_spans: w.max_minutes,
            learn_rate: w.learn_rate,
            ..self
        }
    }
}

impl Default for AggregateParams {
    fn default() -> Self {
        Self {
            ewma_alpha: 0.1,
            top_lines: 3,
            max_line_bytes: 1024,
            window_ns: 60_000_000_000,
            expected_rate: 0.01,
            top_max_age_ns: None,
            window_min_lines: 50,
            window_max_spans: 1,
            learn_rate: false,
            baseline_prior_lines: 500.0,
            baseline_half_life_lines: 5000.0,
            strict_threshold: f32::INFINITY,
            strict_rate: 0.0001,
        }
    }
}

/// Burst score from which a pod counts as anomalous: a one-in-a-billion chance for one
/// window, so that a cluster of hundreds of pods watched all day stays quiet when healthy.
pub const BURST_THRESHOLD: f32 = 9.0;

/// `n * KL(k/n || p) / ln 10`: how surprising `k` anomalous lines out of `n` are when each
/// is anomalous by chance with probability `p` (0 when no more than expected).
pub fn burst_surprise(k: u32, n: u32, p: f64) -> f32 {
    if n == 0 || p <= 0.0 || p >= 1.0 {
        return 0.0;
    }
    let q = f64::from(k) / f64::from(n);
    if q <= p {
        return 0.0;
    }
    let hit = q * (q / p).ln();
    let miss = if q < 1.0 {
        (1.0 - q) * ((1.0 - q) / (1.0 - p)).ln()
    } else {
        0.0
    };
    (f64::from(n) * (hit + miss) / std::f64::consts::LN_10) as f32
}

/// A pod's rate of anomalous lines from its past counts, the contamination weighing as
/// `baseline_prior_lines` lines, never below the contamination.
pub fn learnt_rate(anomalous: f64, lines: f64, p: &AggregateParams) -> f64 {
    let prior = p.baseline_prior_lines.max(0.0);
    let rate = (anomalous + prior * p.expected_rate) / (lines + prior).max(f64::MIN_POSITIVE);
    rate.max(p.expected_rate)
}

/// One of a pod's most anomalous lines.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopLine {
    /// Unix nanoseconds.
    pub ts_ns: i64,
    /// Its score.
    pub score: f32,
    /// The line, cut to `max_line_bytes`.
    pub line: String,
}

/// What is known about one pod's container.
#[derive(Debug, Clone, Serialize)]
pub struct PodStats {
    /// The stream (namespace, pod, container and labels).
    #[serde(skip)]
    pub stream: Arc<Stream>,
    /// Lines scored.
    pub lines: u64,
    /// Lines at or above the threshold.
    pub anomalous: u64,
    /// Exponentially weighted moving average of line scores, now.
    pub ewma: f32,
    /// Highest value the moving average reached.
    pub peak_ewma: f32,
    /// Highest single-line score.
    pub max_score: f32,
    /// Highest burst score of any window (see the module docs).
    pub peak_burst: f32,
    /// Most anomalous lines, highest first.
    pub top: Vec<TopLine>,
    /// Timestamp of the pod's latest line (Unix nanoseconds).
    pub last_ts: i64,
    /// When the pod last had lines, on the caller's clock (see [`Aggregator::drain_changed`]).
    pub seen_at: i64,
    /// Burst score of the current window.
    pub window_burst: f32,
    /// Burst score of the previous window.
    pub prev_window_burst: f32,
    /// Highest line score in the current window.
    pub window_max: f32,
    /// The pod's learnt rate of anomalous lines (see the module docs).
    pub expected_rate: f64,
    /// Index (log time / `window_ns`) of the current window's first span.
    #[serde(skip)]
    window_first: i64,
    /// Index of the current window's latest span (its latest line's).
    #[serde(skip)]
    window: i64,
    /// Past lines, exponentially forgotten (windows below the threshold only).
    #[serde(skip)]
    base_lines: f64,
    /// Past anomalous lines, forgotten as `base_lines`.
    #[serde(skip)]
    base_anomalous: f64,
    /// Lines in the current window.
    #[serde(skip)]
    window_lines: u32,
    /// Anomalous lines in the current window.
    #[serde(skip)]
    window_anomalous: u32,
    /// Lines of the current window at or above the strict threshold.
    #[serde(skip)]
    window_strict: u32,
    /// Lines added since the last [`Aggregator::drain_changed`].
    #[serde(skip)]
    pub new_lines: u64,
    /// Anomalous lines added since the last [`Aggregator::drain_changed`].
    #[serde(skip)]
    pub new_anomalous: u64,
}

impl PodStats {
    fn new(stream: &Arc<Stream>, p: &AggregateParams) -> Self {
        Self {
            stream: Arc::clone(stream),
            lines: 0,
            anomalous: 0,
            ewma: 0.0,
            peak_ewma: 0.0,
            max_score: 0.0,
            peak_burst: 0.0,
            top: Vec::new(),
            last_ts: i64::MIN,
            seen_at: i64::MIN,
            window_burst: 0.0,
            prev_window_burst: 0.0,
            window_max: 0.0,
            expected_rate: p.expected_rate,
            window_first: i64::MIN,
            window: i64::MIN,
            base_lines: 0.0,
            base_anomalous: 0.0,
            window_lines: 0,
            window_anomalous: 0,
            window_strict: 0,
            new_lines: 0,
            new_anomalous: 0,
        }
    }

    /// Burst score of the last two windows: does not drop to zero as a new minute starts.
    pub fn recent_burst(&self) -> f32 {
        self.window_burst.max(self.prev_window_burst)
    }

    /// Index of the current window's first span (log time / `window_ns`).
    pub fn window_first(&self) -> i64 {
        self.window_first
    }

    /// Moves the window on to span `window`: the same window goes on while it is short of
    /// lines and of length, else the old one is learnt from and a new one starts.
    fn roll_window(&mut self, window: i64, p: &AggregateParams) {
        let started = self.window_first != i64::MIN;
        if started && window <= self.window {
            return; // a late line: counted in the current window
        }
        let span = window.saturating_sub(self.window_first);
        let long = span >= i64::from(p.window_max_spans.max(1));
        if started && !long && self.window_lines < p.window_min_lines && window > self.window {
            self.window = window;
            return;
        }
        self.learn(p);
        self.prev_window_burst = if window == self.window.saturating_add(1) {
            self.window_burst
        } else {
            0.0
        };
        self.window_first = window;
        self.window = window;
        self.window_lines = 0;
        self.window_anomalous = 0;
        self.window_strict = 0;
        self.window_burst = 0.0;
        self.window_max = 0.0;
    }

    /// The current window's burst score: the more surprising of its count of anomalous
    /// lines at the pod's rate and its count of strict ones at the strict rate.
    fn burst_now(&self, p: &AggregateParams) -> f32 {
        let all = burst_surprise(self.window_anomalous, self.window_lines, self.expected_rate);
        let strict = burst_surprise(self.window_strict, self.window_lines, p.strict_rate);
        all.max(strict)
    }

    /// Folds the window that ends into the pod's learnt rate, unless it was a burst.
    fn learn(&mut self, p: &AggregateParams) {
        if self.window_burst < BURST_THRESHOLD && self.window_lines > 0 {
            let lines = f64::from(self.window_lines);
            let keep = 0.5f64.powf(lines / p.baseline_half_life_lines.max(1.0));
            self.base_lines = self.base_lines * keep + lines;
            self.base_anomalous = self.base_anomalous * keep + f64::from(self.window_anomalous);
        }
        self.expected_rate = if p.learn_rate {
            learnt_rate(self.base_anomalous, self.base_lines, p)
        } else {
            p.expected_rate
        };
    }

    fn keep_top(&mut self, scored: &ScoredLine, p: &AggregateParams) {
        if let Some(age) = p.top_max_age_ns {
            let oldest = scored.log.ts_ns.saturating_sub(age);
            self.top.retain(|t| t.ts_ns >= oldest);
        }
        let worst_kept = self.top.last().map_or(f32::MIN, |t| t.score);
        if self.top.len() >= p.top_lines && scored.score <= worst_kept {
            return;
        }
        // the same kind of line again (lines of one token sequence score the same) would
        // only crowd out the pod's other kinds of trouble
        if self.top.iter().any(|t| t.score == scored.score) {
            return;
        }
        let line = &scored.log.line;
        let cut = floor_char_boundary(line, p.max_line_bytes);
        let top = TopLine {
            ts_ns: scored.log.ts_ns,
            score: scored.score,
            line: line[..cut].to_string(),
        };
        let at = self.top.partition_point(|t| t.score >= top.score);
        self.top.insert(at, top);
        self.top.truncate(p.top_lines);
    }
}

/// A pod's current burst window (see [`Aggregator::windows`]).
#[derive(Debug, Clone, Copy)]
pub struct PodWindow<'a> {
    /// The pod's statistics.
    pub stats: &'a PodStats,
    /// Index of the window's latest span (log time divided by `window_ns`): a window
    /// that goes on for a quiet pod covers several.
    pub window: i64,
    /// Lines in the window.
    pub lines: u32,
    /// Anomalous lines in the window.
    pub anomalous: u32,
    /// The window's burst score, at the pod's learnt rate.
    pub burst: f32,
}

/// Identity of a pod's container.
type PodId = (String, String, String);

/// Statistics of every pod seen; pods idle for too long can be evicted.
#[derive(Debug, Default)]
pub struct Aggregator {
    params: AggregateParams,
    /// Pod slots; `None` after eviction, reused through `free`.
    pods: Vec<Option<PodStats>>,
    free: Vec<usize>,
    by_id: HashMap<PodId, usize>,
    /// Stream pointer -> pod slot; holding the Arc keeps the address from being reused.
    by_stream: HashMap<usize, (Arc<Stream>, usize)>,
}

impl Aggregator {
    /// An empty aggregator.
    pub fn new(params: AggregateParams) -> Self {
        Self {
            params,
            ..Self::default()
        }
    }

    /// Folds one scored line in; returns the pod's statistics after it.
    pub fn add(&mut self, scored: &ScoredLine) -> Option<&PodStats> {
        let idx = self.index(&scored.log.stream);
        let p = &self.params;
        let pod = self.pods.get_mut(idx).and_then(Option::as_mut)?;
        pod.ewma = if pod.lines == 0 {
            scored.score
        } else {
            p.ewma_alpha * scored.score + (1.0 - p.ewma_alpha) * pod.ewma
        };
        pod.lines += 1;
        pod.anomalous += u64::from(scored.anomalous);
        pod.last_ts = pod.last_ts.max(scored.log.ts_ns);
        pod.new_lines += 1;
        pod.new_anomalous += u64::from(scored.anomalous);
        pod.roll_window(scored.log.ts_ns.div_euclid(p.window_ns.max(1)), p);
        pod.window_lines = pod.window_lines.saturating_add(1);
        pod.window_max = pod.window_max.max(scored.score);
        if scored.anomalous {
            pod.window_anomalous = pod.window_anomalous.saturating_add(1);
            if scored.score >= p.strict_threshold {
                pod.window_strict = pod.window_strict.saturating_add(1);
            }
            let burst = pod.burst_now(p);
            pod.window_burst = pod.window_burst.max(burst);
            pod.peak_burst = pod.peak_burst.max(burst);
        }
        pod.peak_ewma = pod.peak_ewma.max(pod.ewma);
        pod.max_score = pod.max_score.max(scored.score);
        pod.keep_top(scored, p);
        Some(pod)
    }

    fn index(&mut self, stream: &Arc<Stream>) -> usize {
        let ptr = Arc::as_ptr(stream) as usize;
        if let Some((_, idx)) = self.by_stream.get(&ptr) {
            return *idx;
        }
        let id = (
            stream.namespace.clone(),
            stream.pod.clone(),
            stream.container.clone(),
        );
        let idx = match self.by_id.get(&id) {
            Some(&idx) => idx,
            None => {
                let stats = Some(PodStats::new(stream, &self.params));
                let idx = match self.free.pop() {
                    Some(slot) => {
                        self.pods[slot] = stats;
                        slot
                    }
                    None => {
                        self.pods.push(stats);
                        self.pods.len() - 1
                    }
                };
                self.by_id.insert(id, idx);
                idx
            }
        };
        self.by_stream.insert(ptr, (Arc::clone(stream), idx));
        idx
    }

    /// Calls `f` on every pod that got lines since the last call (its `new_lines` and
    /// `new_anomalous` count them), marks it seen at `now` (any clock, e.g. wall time in
    /// nanoseconds), then resets those counts.
    pub fn drain_changed(&mut self, now: i64, mut f: impl FnMut(&PodStats)) {
        for pod in self.pods.iter_mut().flatten().filter(|p| p.new_lines > 0) {
            pod.seen_at = now;
            f(pod);
            pod.new_lines = 0;
            pod.new_anomalous = 0;
        }
    }

    /// Forgets pods not seen (by [`drain_changed`](Self::drain_changed)) since `now - ttl`,
    /// so that state does not grow as pods come and go; returns their streams (to drop their
    /// metric series).
    pub fn evict_idle(&mut self, now: i64, ttl: i64) -> Vec<Arc<Stream>> {
        let oldest = now.saturating_sub(ttl);
        let mut gone = Vec::new();
        for (idx, slot) in self.pods.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|p| p.seen_at < oldest) {
                if let Some(pod) = slot.take() {
                    let s = &pod.stream;
                    self.by_id
                        .remove(&(s.namespace.clone(), s.pod.clone(), s.container.clone()));
                    gone.push(pod.stream);
                    self.free.push(idx);
                }
            }
        }
        if !gone.is_empty() {
            let pods = &self.pods;
            self.by_stream
                .retain(|_, (_, idx)| pods.get(*idx).is_some_and(Option::is_some));
        }
        gone
    }

    /// Every pod currently tracked.
    pub fn pods(&self) -> impl Iterator<Item = &PodStats> {
        self.pods.iter().flatten()
    }

    /// Pods ranked most anomalous first: by peak burst score, then peak moving average.
    pub fn ranked(&self) -> Vec<&PodStats> {
        let mut pods: Vec<&PodStats> = self.pods().collect();
        pods.sort_by(|a, b| {
            b.peak_burst
                .total_cmp(&a.peak_burst)
                .then(b.peak_ewma.total_cmp(&a.peak_ewma))
                .then_with(|| a.stream.cmp(&b.stream))
        });
        pods
    }

    /// Every pod's current burst window, for alerting: which window it is and its counts.
    pub fn windows(&self) -> impl Iterator<Item = PodWindow<'_>> {
        self.pods().map(|stats| PodWindow {
            stats,
            window: stats.window,
            lines: stats.window_lines,
            anomalous: stats.window_anomalous,
            burst: stats.window_burst,
        })
    }

    /// The parameters the aggregator folds with.
    pub fn params(&self) -> &AggregateParams {
        &self.params
    }

    /// Number of pods (containers) tracked.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no pod is tracked.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LabelNames, LogLine};
    use std::collections::BTreeMap;

    fn stream(pod: &str) -> Arc<Stream> {
        let labels = BTreeMap::from([
            ("namespace".to_string(), "ns".to_string()),
            ("pod".to_string(), pod.to_string()),
        ]);
        Arc::new(Stream::from_labels(labels, &LabelNames::default()))
    }

    fn scored(s: &Arc<Stream>, score: f32, line: &str) -> ScoredLine {
        let mut l = at(s, 1, score);
        l.log.line = line.to_string();
        l
    }

    /// A line of `s` at `ts`, anomalous from a score of 0.6.
    fn at(s: &Arc<Stream>, ts: i64, score: f32) -> ScoredLine {
        ScoredLine {
            log: LogLine {
                ts_ns: ts,
                stream: Arc::clone(s),
                line: "x".into(),
            },
            score,
            anomalous: score >= 0.6,
        }
    }

    #[test]
    fn streams_with_equal_labels_share_one_pod() {
        let mut agg = Aggregator::new(AggregateParams::default());
        agg.add(&scored(&stream("a"), 0.4, "x"));
        agg.add(&scored(&stream("a"), 0.4, "x"));
        agg.add(&scored(&stream("b"), 0.4, "x"));
        assert_eq!(agg.len(), 2);
        assert_eq!(agg.ranked().iter().map(|p| p.lines).sum::<u64>(), 3);
    }

    #[test]
    fn burst_surprise_grows_with_rate_and_volume() {
        assert_eq!(burst_surprise(0, 100, 0.01), 0.0);
        assert_eq!(burst_surprise(1, 100, 0.01), 0.0); // exactly the expected rate
        let one_in_ten = burst_surprise(1, 10, 0.01);
        let five_in_fifty = burst_surprise(5, 50, 0.01);
        assert!(five_in_fifty > one_in_ten, "same rate, more evidence");
        assert!(burst_surprise(10, 50, 0.01) > five_in_fifty, "higher rate");
        // all of n lines anomalous: -log10(p^n) exactly
        assert!((burst_surprise(3, 3, 0.01) - 6.0).abs() < 1e-4);
        // close to the exact binomial tail for a moderate case: P(X >= 5 | 50, 0.01) ~ 1.3e-4
        let exact = -(1.3e-4f64).log10() as f32;
        assert!((burst_surprise(5, 50, 0.01) - exact).abs() < 1.5);
        assert_eq!(burst_surprise(1, 0, 0.01), 0.0);
    }

    #[test]
    fn windows_follow_log_time() {
        let mut agg = Aggregator::new(AggregateParams::default());
        let s = stream("a");
        let at = |ts: i64, score: f32| ScoredLine {
            log: LogLine {
                ts_ns: ts,
                stream: Arc::clone(&s),
                line: "x".into(),
            },
            score,
            anomalous: score >= 0.6,
        };
        // four anomalous lines spread over four minutes: never a burst
        for m in 0..4 {
            agg.add(&at(m * 60_000_000_000, 0.9));
            for i in 1..50 {
                agg.add(&at(m * 60_000_000_000 + i, 0.4));
            }
        }
        let spread = agg.ranked()[0].peak_burst;
        // the same four in one minute
        for i in 0..4 {
            agg.add(&at(10 * 60_000_000_000 + i, 0.9));
        }
        assert!(agg.ranked()[0].peak_burst > spread + 3.0);
    }

    const MIN: i64 = 60_000_000_000;

    fn three_spans() -> AggregateParams {
        AggregateParams {
            window_max_spans: 3,
            ..AggregateParams::default()
        }
    }

    /// Feeds `minutes` minutes of `per_minute` lines, `bad` of each anomalous.
    fn feed(
        agg: &mut Aggregator,
        s: &Arc<Stream>,
        from: i64,
        minutes: i64,
        per_minute: i64,
        bad: i64,
    ) {
        for m in from..from + minutes {
            for i in 0..per_minute {
                // the bad lines spread evenly over the minute
                let spread = (i * bad) / per_minute != ((i + 1) * bad) / per_minute;
                let score = if spread { 0.9 } else { 0.4 };
                agg.add(&at(s, m * MIN + i, score));
            }
        }
    }

    #[test]
    fn a_few_strict_lines_in_a_chatty_pod_are_a_burst() {
        let strict = AggregateParams {
            strict_threshold: 0.85,
            strict_rate: 0.0001,
            ..AggregateParams::default()
        };
        let (mut with, mut without) = (
            Aggregator::new(strict.clone()),
            Aggregator::new(AggregateParams::default()),
        );
        let s = stream("chatty");
        // 300 lines a minute, 8 of them anomalous (0.9, above the strict threshold)
        feed(&mut with, &s, 0, 1, 300, 8);
        feed(&mut without, &s, 0, 1, 300, 8);
        let plain = without.ranked()[0].peak_burst;
        assert!(plain < BURST_THRESHOLD, "{plain}");
        let burst = with.ranked()[0].peak_burst;
        assert!(burst >= BURST_THRESHOLD, "{burst}");
        // anomalous lines under the strict threshold count only at the ordinary rate
        let mut mild = Aggregator::new(AggregateParams {
            strict_threshold: 0.95,
            ..strict
        });
        feed(&mut mild, &s, 0, 1, 300, 8);
        assert_eq!(mild.ranked()[0].peak_burst, plain);
    }

    #[test]
    fn a_quiet_pods_window_goes_on_until_it_has_enough_lines() {
        let (mut long, mut short) = (
            Aggregator::new(three_spans()),
            Aggregator::new(AggregateParams::default()),
        );
        let s = stream("quiet");
        // 15 lines a minute, 4 of them anomalous, for three minutes
        feed(&mut long, &s, 0, 3, 15, 4);
        feed(&mut short, &s, 0, 3, 15, 4);
        let one_minute = short.ranked()[0].peak_burst;
        let three = long.ranked()[0];
        assert!(one_minute < BURST_THRESHOLD, "{one_minute}");
        assert!(three.peak_burst >= BURST_THRESHOLD, "{}", three.peak_burst);
        assert_eq!(three.window_first(), 0);
        let w = long.windows().next().unwrap();
        assert_eq!((w.window, w.lines, w.anomalous), (2, 45, 12));
        assert_eq!(w.burst, three.window_burst);
    }

    #[test]
    fn windows_end_at_their_longest_or_with_enough_lines() {
        let mut agg = Aggregator::new(three_spans());
        let s = stream("a");
        feed(&mut agg, &s, 0, 4, 10, 0);
        // three spans at most: the fourth minute starts a new window
        assert_eq!(agg.ranked()[0].window_first(), 3);
        feed(&mut agg, &s, 10, 2, 60, 0);
        // a full first minute is a window of its own
        assert_eq!(agg.ranked()[0].window_first(), 11);
        // a late line of the current window does not start another
        agg.add(&at(&s, 11 * MIN - 1, 0.4));
        agg.add(&at(&s, 11 * MIN + 1, 0.4));
        assert_eq!(agg.ranked()[0].window_first(), 11);
        assert_eq!(agg.windows().next().map(|w| w.lines), Some(62));
    }

    #[test]
    fn a_noisy_pod_learns_its_own_rate_and_a_clean_one_keeps_the_contamination() {
        let mut agg = Aggregator::new(AggregateParams {
            learn_rate: true,
            ..AggregateParams::default()
        });
        let (noisy, clean) = (stream("noisy"), stream("clean"));
        // an hour of 100 lines a minute: 4 % anomalous in one pod, none in the other
        feed(&mut agg, &noisy, 0, 60, 100, 4);
        feed(&mut agg, &clean, 0, 60, 100, 0);
        let rate = |pod: &str| {
            agg.pods()
                .find(|p| p.stream.pod == pod)
                .map_or(0.0, |p| p.expected_rate)
        };
        assert!((rate("noisy") - 0.04).abs() < 0.005, "{}", rate("noisy"));
        assert_eq!(rate("clean"), 0.01);
        // the same minute with 15 % anomalous lines: a burst in the clean pod only
        feed(&mut agg, &noisy, 60, 1, 100, 15);
        feed(&mut agg, &clean, 60, 1, 100, 15);
        let burst = |pod: &str| {
            agg.pods()
                .find(|p| p.stream.pod == pod)
                .map_or(0.0, |p| p.window_burst)
        };
        assert!(burst("noisy") < BURST_THRESHOLD, "{}", burst("noisy"));
        assert!(burst("clean") >= BURST_THRESHOLD, "{}", burst("clean"));
    }

    #[test]
    fn bursts_are_not_learnt_as_normal() {
        let mut agg = Aggregator::new(AggregateParams {
            learn_rate: true,
            ..AggregateParams::default()
        });
        let s = stream("a");
        // a long fault: half the lines anomalous for twenty minutes
        feed(&mut agg, &s, 0, 20, 100, 50);
        assert_eq!(agg.ranked()[0].expected_rate, 0.01);
        assert_eq!(learnt_rate(0.0, 0.0, agg.params()), 0.01);
    }

    #[test]
    fn a_burst_outranks_a_single_outlier() {
        let mut agg = Aggregator::new(AggregateParams::default());
        let (burst, single) = (stream("burst"), stream("single"));
        for i in 0..100 {
            agg.add(&scored(&single, if i == 50 { 0.9 } else { 0.4 }, "s"));
            agg.add(&scored(
                &burst,
                if (40..50).contains(&i) { 0.7 } else { 0.4 },
                "b",
            ));
        }
        let ranked = agg.ranked();
        assert_eq!(ranked[0].stream.pod, "burst");
        assert_eq!(ranked[1].max_score, 0.9);
        assert_eq!(ranked[0].anomalous, 10);
    }

    #[test]
    fn keeps_the_top_lines_in_order_and_cut() {
        let params = AggregateParams {
            top_lines: 2,
            max_line_bytes: 4,
            ..AggregateParams::default()
        };
        let mut agg = Aggregator::new(params);
        let s = stream("a");
        for (score, line) in [(0.5, "five5"), (0.9, "nine9"), (0.1, "one"), (0.7, "seven")] {
            agg.add(&scored(&s, score, line));
        }
        let top: Vec<(f32, &str)> = agg.ranked()[0]
            .top
            .iter()
            .map(|t| (t.score, t.line.as_str()))
            .collect();
        assert_eq!(top, vec![(0.9, "nine"), (0.7, "seve")]);
    }

    #[test]
    fn idle_pods_are_evicted_and_slots_reused() {
        let mut agg = Aggregator::new(AggregateParams::default());
        let at = |s: &Arc<Stream>, ts: i64| ScoredLine {
            log: LogLine {
                ts_ns: ts,
                stream: Arc::clone(s),
                line: "x".into(),
            },
            score: 0.4,
            anomalous: false,
        };
        let (old, live) = (stream("old"), stream("live"));
        agg.add(&at(&old, 10));
        agg.drain_changed(10, |_| {});
        agg.add(&at(&live, 100));
        agg.drain_changed(100, |_| {});
        let gone = agg.evict_idle(100, 50);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].pod, "old");
        assert_eq!(agg.len(), 1);
        // the same pod coming back starts afresh in the freed slot
        agg.add(&at(&stream("old"), 200));
        assert_eq!(agg.len(), 2);
        assert_eq!(agg.pods.len(), 2);
        let back = agg.pods().find(|p| p.stream.pod == "old").unwrap();
        assert_eq!(back.lines, 1);
    }

    #[test]
    fn changed_pods_are_reported_once() {
        let mut agg = Aggregator::new(AggregateParams::default());
        agg.add(&scored(&stream("a"), 0.4, "x"));
        agg.add(&scored(&stream("b"), 0.4, "x"));
        let mut seen = Vec::new();
        agg.drain_changed(0, |p| seen.push(p.stream.pod.clone()));
        seen.sort();
        assert_eq!(seen, vec!["a", "b"]);
        agg.drain_changed(0, |_| panic!("nothing changed"));
        agg.add(&scored(&stream("b"), 0.4, "x"));
        let mut again = 0;
        agg.drain_changed(0, |_| again += 1);
        assert_eq!(again, 1);
    }
}
