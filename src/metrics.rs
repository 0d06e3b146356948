//! Prometheus metrics: per-pod anomaly scores and the service's own health.
//!
//! Names follow Prometheus conventions: prefix `loganomaly_`, base units, `_total` counters
//! (added by the encoder). Per-pod series carry `namespace`, `pod` and `container` labels and
//! are removed when a pod goes idle, so series do not accumulate as pods churn.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::aggregate::PodStats;
use crate::event::Stream;
use crate::incident::RecorderTotals;
use loganomaly_model::Model;

/// Labels of every per-pod series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PodLabels {
    /// Kubernetes namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
}

impl From<&Stream> for PodLabels {
    fn from(s: &Stream) -> Self {
        Self {
            namespace: s.namespace.clone(),
            pod: s.pod.clone(),
            container: s.container.clone(),
        }
    }
}

/// Labels of the per-notifier series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifierLabels {
    /// `slack`, `alertmanager` or `webhook`.
    pub notifier: String,
}

/// Labels of the incident writer's counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IncidentLabels {
    /// `written`, `dropped` (queue full), `retried` (database failed) or `failed` (given up
    /// at exit).
    pub outcome: &'static str,
}

/// Labels of the model info series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// Where the model came from (file path or `bundled`).
    pub source: String,
    /// When it was trained (RFC 3339).
    pub trained_at: String,
    /// The loganomaly version that trained it.
    pub trained_by: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// An f32 score as the f64 a person would write (0.9, not 0.8999999761581421).
fn tidy(x: f32) -> f64 {
    (f64::from(x) * 1e6).round() / 1e6
}

/// Every metric the service exports, registered once at start-up.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pod_score: Family<PodLabels, FloatGauge>,
    pod_window_max: Family<PodLabels, FloatGauge>,
    pod_burst: Family<PodLabels, FloatGauge>,
    pod_lines: Family<PodLabels, Counter>,
    pod_anomalous: Family<PodLabels, Counter>,
    /// Lines received from the source.
    pub(crate) lines_ingested: Counter,
    /// Lines scored by the model.
    pub(crate) lines_scored: Counter,
    /// Lines shed without scoring (should stay 0).
    pub(crate) lines_dropped: Counter,
    /// Reconnections to Loki.
    pub(crate) loki_reconnects: Counter,
    /// Entries Loki reported as dropped from its tail.
    pub(crate) loki_dropped_entries: Counter,
    /// Failed writes of the Loki state file (a restart would resume from an older point).
    pub(crate) loki_state_save_failures: Counter,
    /// Now minus the timestamp of the line being scored.
    pub(crate) ingest_lag_seconds: FloatGauge,
    /// Time to score one batch.
    pub(crate) scoring_duration_seconds: Histogram,
    /// Whether the log source is connected (1) or not (0).
    pub(crate) source_up: Gauge,
    /// Pods currently tracked.
    pub(crate) pods_tracked: Gauge,
    model_info: Family<ModelLabels, Gauge>,
    model_threshold: FloatGauge,
    model_trained_timestamp: FloatGauge,
    notifications_sent: Family<NotifierLabels, Counter>,
    notifications_failed: Family<NotifierLabels, Counter>,
    notifications_retried: Family<NotifierLabels, Counter>,
    notifications_grouped: Family<NotifierLabels, Counter>,
    notifications_held_back: Family<NotifierLabels, Counter>,
    incident_writes: Family<IncidentLabels, Counter>,
    push_requests: Family<PushLabels, Counter>,
    /// Lines received by the push receiver and queued for scoring.
    pub(crate) push_lines: Counter,
    /// Lines of pushes refused (to be retried by the shipper, or malformed).
    pub(crate) push_lines_refused: Counter,
    /// Pushed lines cut to the line limit.
    pub(crate) push_lines_truncated: Counter,
    /// Sessions closed and scored by the session model.
    pub(crate) sessions_scored: Counter,
    /// Scored sessions at or above the session threshold.
    pub(crate) sessions_anomalous: Counter,
    /// Sessions still taking lines.
    pub(crate) sessions_open: Gauge,
}

/// Labels of the push request counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushLabels {
    /// `accepted`, or why the push was refused (`queue_full`, `bad_request`, ...).
    pub reason: &'static str,
}

/// Notification counters of one notifier, as totals since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifierCounts {
    /// Delivered.
    pub sent: u64,
    /// Given up on.
    pub failed: u64,
    /// Retries.
    pub retried: u64,
    /// Pod alerts folded into grouped messages.
    pub grouped: u64,
    /// Messages held back by the rate cap.
    pub held_back: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("loganomaly"),
            pod_score: Family::default(),
            pod_window_max: Family::default(),
            pod_burst: Family::default(),
            pod_lines: Family::default(),
            pod_anomalous: Family::default(),
            lines_ingested: Counter::default(),
            lines_scored: Counter::default(),
            lines_dropped: Counter::default(),
            loki_reconnects: Counter::default(),
            loki_dropped_entries: Counter::default(),
            loki_state_save_failures: Counter::default(),
            ingest_lag_seconds: FloatGauge::default(),
            scoring_duration_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            source_up: Gauge::default(),
            pods_tracked: Gauge::default(),
            model_info: Family::default(),
            model_threshold: FloatGauge::default(),
            model_trained_timestamp: FloatGauge::default(),
            notifications_sent: Family::default(),
            notifications_failed: Family::default(),
            notifications_retried: Family::default(),
            notifications_grouped: Family::default(),
            notifications_held_back: Family::default(),
            incident_writes: Family::default(),
            push_requests: Family::default(),
            push_lines: Counter::default(),
            push_lines_refused: Counter::default(),
            push_lines_truncated: Counter::default(),
            sessions_scored: Counter::default(),
            sessions_anomalous: Counter::default(),
            sessions_open: Gauge::default(),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "pod_score",
            "Moving average (EWMA) of the pod's line anomaly scores, 0..1",
            self.pod_score.clone(),
        );
        r.register(
            "pod_window_max_score",
            "Highest line anomaly score of the pod in the current minute",
            self.pod_window_max.clone(),
        );
        r.register(
            "pod_burst_score",
            "How surprising the pod's anomalous lines of the last minute are, -log10 of the chance",
            self.pod_burst.clone(),
        );
        r.register("pod_lines", "Lines scored per pod", self.pod_lines.clone());
        r.register(
            "pod_anomalous_lines",
            "Lines at or above the model threshold per pod",
            self.pod_anomalous.clone(),
        );
        r.register(
            "lines_ingested",
            "Lines received from the source",
            self.lines_ingested.clone(),
        );
        r.register(
            "lines_scored",
            "Lines scored by the model",
            self.lines_scored.clone(),
        );
        r.register(
            "lines_dropped",
            "Lines shed without scoring",
            self.lines_dropped.clone(),
        );
        r.register(
            "loki_reconnects",
            "Reconnections to Loki",
            self.loki_reconnects.clone(),
        );
        r.register(
            "loki_dropped_entries",
            "Entries Loki reported dropped from its live tail",
            self.loki_dropped_entries.clone(),
        );
        r.register(
            "loki_state_save_failures",
            "Failed writes of the Loki state file: a restart would resume from an older point",
            self.loki_state_save_failures.clone(),
        );
        r.register(
            "ingest_lag_seconds",
            "Now minus the timestamp of the line being scored",
            self.ingest_lag_seconds.clone(),
        );
        r.register(
            "scoring_duration_seconds",
            "Time to score one batch of lines",
            self.scoring_duration_seconds.clone(),
        );
        r.register(
            "source_up",
            "Whether the log source is connected",
            self.source_up.clone(),
        );
        r.register(
            "pods_tracked",
            "Pods currently tracked",
            self.pods_tracked.clone(),
        );
        r.register(
            "model_info",
            "The model in use (value is always 1)",
            self.model_info.clone(),
        );
        r.register(
            "model_threshold",
            "Line score at or above which a line is anomalous",
            self.model_threshold.clone(),
        );
        r.register(
            "model_trained_timestamp_seconds",
            "When the model in use was trained (Unix seconds)",
            self.model_trained_timestamp.clone(),
        );
        r.register(
            "notifications_sent",
            "Alert messages delivered, per notifier",
            self.notifications_sent.clone(),
        );
        r.register(
            "notifications_failed",
            "Alert messages given up on, per notifier",
            self.notifications_failed.clone(),
        );
        r.register(
            "notifications_retried",
            "Delivery retries, per notifier",
            self.notifications_retried.clone(),
        );
        r.register(
            "notifications_grouped",
            "Pod alerts folded into grouped messages, per notifier",
            self.notifications_grouped.clone(),
        );
        r.register(
            "notifications_held_back",
            "Alert messages delayed by the rate cap, per notifier",
            self.notifications_held_back.clone(),
        );
        r.register(
            "incident_writes",
            "Incident history writes, by outcome: written, dropped, retried, failed",
            self.incident_writes.clone(),
        );
        r.register(
            "push_requests",
            "Pushes to /loki/api/v1/push, by reason: accepted, or why refused",
            self.push_requests.clone(),
        );
        r.register(
            "push_lines",
            "Lines received by push and queued for scoring",
            self.push_lines.clone(),
        );
        r.register(
            "push_lines_refused",
            "Lines of refused pushes (a 429 is retried by the shipper)",
            self.push_lines_refused.clone(),
        );
        r.register(
            "push_lines_truncated",
            "Pushed lines cut to max_line_bytes",
            self.push_lines_truncated.clone(),
        );
        r.register(
            "sessions_scored",
            "Sessions (lines sharing the model's session key) closed after going idle and scored",
            self.sessions_scored.clone(),
        );
        r.register(
            "sessions_anomalous",
            "Scored sessions at or above the session model's threshold",
            self.sessions_anomalous.clone(),
        );
        r.register(
            "sessions_open",
            "Sessions still taking lines (not idle long enough to be scored)",
            self.sessions_open.clone(),
        );
    }

    /// Counts one push request under `reason`.
    pub(crate) fn push_request(&self, reason: &'static str) {
        self.push_requests
            .get_or_create(&PushLabels { reason })
            .inc();
    }

    /// Moves a notifier's counters from `before` to `now` (totals since start).
    pub fn update_notifier(&self, name: &str, before: NotifierCounts, now: NotifierCounts) {
        let l = NotifierLabels {
            notifier: name.to_string(),
        };
        let add = |f: &Family<NotifierLabels, Counter>, a: u64, b: u64| {
            add_gain(&f.get_or_create(&l), a, b);
        };
        add(&self.notifications_sent, before.sent, now.sent);
        add(&self.notifications_failed, before.failed, now.failed);
        add(&self.notifications_retried, before.retried, now.retried);
        add(&self.notifications_grouped, before.grouped, now.grouped);
        add(
            &self.notifications_held_back,
            before.held_back,
            now.held_back,
        );
    }

    /// Moves the incident writer's counters from `before` to `now` (totals since start).
    pub fn update_incidents(&self, before: RecorderTotals, now: RecorderTotals) {
        let add = |outcome: &'static str, a: u64, b: u64| {
            add_gain(
                &self
                    .incident_writes
                    .get_or_create(&IncidentLabels { outcome }),
                a,
                b,
            );
        };
        add("written", before.written, now.written);
        add("dropped", before.dropped, now.dropped);
        add("retried", before.retried, now.retried);
        add("failed", before.failed, now.failed);
    }

    /// Publishes the model in use (after start-up or a retrain).
    pub fn set_model(&self, model: &Model, source: &str, threshold: f32) {
        self.model_info.clear();
        let labels = ModelLabels {
            source: source.to_string(),
            trained_at: model.meta.trained_at.clone(),
            trained_by: model.meta.trained_by.clone(),
        };
        self.model_info.get_or_create(&labels).set(1);
        self.model_threshold.set(tidy(threshold));
        let trained = time::OffsetDateTime::parse(
            &model.meta.trained_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or(0.0, |t| t.unix_timestamp_nanos() as f64 / 1e9);
        self.model_trained_timestamp.set(trained);
    }

    /// Lines scored since start (what `loganomaly_lines_scored_total` shows).
    pub fn lines_scored(&self) -> u64 {
        self.lines_scored.get()
    }

    /// Updates a pod's series from its statistics (counters grow by its `new_*` counts).
    pub fn update_pod(&self, pod: &PodStats) {
        let l = PodLabels::from(pod.stream.as_ref());
        self.pod_score.get_or_create(&l).set(tidy(pod.ewma));
        self.pod_window_max
            .get_or_create(&l)
            .set(tidy(pod.window_max));
        self.pod_burst
            .get_or_create(&l)
            .set(tidy(pod.recent_burst()));
        self.pod_lines.get_or_create(&l).inc_by(pod.new_lines);
        self.pod_anomalous
            .get_or_create(&l)
            .inc_by(pod.new_anomalous);
    }

    /// Removes every series of a pod that went away.
    pub fn remove_pod(&self, stream: &Stream) {
        let l = PodLabels::from(stream);
        self.pod_score.remove(&l);
        self.pod_window_max.remove(&l);
        self.pod_burst.remove(&l);
        self.pod_lines.remove(&l);
        self.pod_anomalous.remove(&l);
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(64 * 1024);
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Adds to `counter` what a running total kept elsewhere (the Loki source's, an outbox's)
/// gained from `before` to `now`: the one bridge from those totals to exported counters.
pub(crate) fn add_gain(counter: &Counter, before: u64, now: u64) {
    counter.inc_by(now.saturating_sub(before));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use crate::aggregate::{AggregateParams, Aggregator};
    use crate::event::{LabelNames, LogLine, ScoredLine};

    fn stream(ns: &str, pod: &str) -> Arc<Stream> {
        let labels = BTreeMap::from([
            ("namespace".to_string(), ns.to_string()),
            ("pod".to_string(), pod.to_string()),
            ("container".to_string(), "app".to_string()),
        ]);
        Arc::new(Stream::from_labels(labels, &LabelNames::default()))
    }

    fn line(s: &Arc<Stream>, ts: i64, score: f32) -> ScoredLine {
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

    fn series(text: &str, name: &str) -> usize {
        text.lines().filter(|l| l.starts_with(name)).count()
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let m = Metrics::new();
        let s = stream("shop", "cart-1");
        let mut agg = Aggregator::new(AggregateParams::default());
        agg.add(&line(&s, 1, 0.9));
        agg.drain_changed(0, |p| m.update_pod(p));
        let text = m.encode().unwrap();
        for want in [
            "loganomaly_pod_score{namespace=\"shop\",pod=\"cart-1\",container=\"app\"} 0.9",
            "loganomaly_pod_lines_total{namespace=\"shop\",pod=\"cart-1\",container=\"app\"} 1",
            "loganomaly_pod_anomalous_lines_total{",
            "loganomaly_pod_burst_score{",
            "loganomaly_lines_scored_total 0",
            "# TYPE loganomaly_scoring_duration_seconds histogram",
            "# EOF",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn churned_pods_leave_no_series_behind() {
        let m = Metrics::new();
        let mut agg = Aggregator::new(AggregateParams::default());
        let minute = 60_000_000_000i64;
        for i in 0..10_000 {
            agg.add(&line(&stream("churn", &format!("job-{i}")), i, 0.5));
        }
        let live = stream("shop", "web-0");
        agg.add(&line(&live, 10_000, 0.5));
        agg.drain_changed(0, |p| m.update_pod(p));
        assert_eq!(
            series(&m.encode().unwrap(), "loganomaly_pod_score{"),
            10_001
        );
        // 20 minutes pass: only the live pod keeps logging
        agg.add(&line(&live, 20 * minute, 0.5));
        agg.drain_changed(20 * minute, |p| m.update_pod(p));
        for gone in agg.evict_idle(20 * minute, 15 * minute) {
            m.remove_pod(&gone);
        }
        let text = m.encode().unwrap();
        for family in [
            "loganomaly_pod_score{",
            "loganomaly_pod_window_max_score{",
            "loganomaly_pod_burst_score{",
            "loganomaly_pod_lines_total{",
            "loganomaly_pod_anomalous_lines_total{",
        ] {
            assert_eq!(series(&text, family), 1, "{family}");
        }
        assert!(text.contains("pod=\"web-0\""));
    }
}
