//! The scoring stage of the long-running service: lines in, per-pod metrics out.
//!
//! Runs on its own thread, off the async runtime: it takes whatever lines are waiting
//! (up to a batch), scores them on rayon, folds them into the aggregator, updates the
//! Prometheus series of the pods that changed, evicts idle pods, and refreshes the view
//! served by `/api/v1/pods`. When the channel closes it finishes the lines it holds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::Receiver;

use crate::event::{LogLine, ScoredLine};
use crate::metrics::Metrics;
use crate::model::{Model, TokenWeight};
use crate::pipeline::aggregate::{AggregateParams, Aggregator, PodStats};

/// State shared between the stage and the HTTP handlers.
#[derive(Debug, Default)]
pub struct Shared {
    /// Every exported metric.
    pub metrics: Metrics,
    /// The model in use; replaced whole by a retrain.
    pub model: RwLock<Option<Arc<Model>>>,
    /// Whether the log source is connected (for `/readyz`).
    pub source_connected: AtomicBool,
    /// Whether the source has ended (a replay has been read to the end).
    pub source_done: AtomicBool,
    /// The most anomalous pods, refreshed about once a second.
    pub pods: RwLock<Vec<PodView>>,
}

impl Shared {
    /// Installs `model` for scoring and publishes it as metrics.
    pub fn set_model(&self, model: Arc<Model>, source: &str) {
        self.metrics.set_model(&model, source, model.threshold);
        if let Ok(mut slot) = self.model.write() {
            *slot = Some(model);
        }
    }

    /// Records whether the source is connected, for `/readyz` and `loganomaly_source_up`.
    pub fn set_source_connected(&self, up: bool) {
        self.source_connected.store(up, Ordering::Relaxed);
        self.metrics.source_up.set(i64::from(up));
    }

    /// The model in use, if one is loaded.
    pub fn model(&self) -> Option<Arc<Model>> {
        self.model.read().ok().and_then(|m| m.clone())
    }

    /// Ready to serve: a model is loaded and the source is connected or finished.
    pub fn ready(&self) -> bool {
        self.model().is_some()
            && (self.source_connected.load(Ordering::Relaxed)
                || self.source_done.load(Ordering::Relaxed))
    }
}

/// One pod as `/api/v1/pods` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PodView {
    /// Namespace.
    pub namespace: String,
    /// Pod.
    pub pod: String,
    /// Container.
    pub container: String,
    /// Moving average of line scores.
    pub score: f32,
    /// Burst score of the last minute or two.
    pub burst: f32,
    /// Highest burst score seen.
    pub peak_burst: f32,
    /// Lines scored.
    pub lines: u64,
    /// Anomalous lines.
    pub anomalous_lines: u64,
    /// Latest line's time (RFC 3339).
    pub last_seen: String,
    /// Most anomalous recent lines, redacted.
    pub top_lines: Vec<ViewLine>,
}

/// A line in a [`PodView`].
#[derive(Debug, Clone, Serialize)]
pub struct ViewLine {
    /// Time (RFC 3339).
    pub ts: String,
    /// Score.
    pub score: f32,
    /// The line, with credentials redacted.
    pub line: String,
    /// Tokens that made it unusual.
    pub tokens: Vec<TokenWeight>,
}

/// How the stage batches, evicts and reports.
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// Most lines scored in one batch.
    pub batch_lines: usize,
    /// Pods with no line for this long (wall clock) are forgotten.
    pub pod_ttl: Duration,
    /// Lines come from a live source: export ingest lag against the wall clock.
    pub live: bool,
    /// Pods listed by `/api/v1/pods`.
    pub view_pods: usize,
    /// Replaces credentials in lines before they leave the process.
    pub redact: fn(&str) -> String,
}

impl Default for StageConfig {
    fn default() -> Self {
        Self {
            batch_lines: 4096,
            pod_ttl: Duration::from_secs(15 * 60),
            live: true,
            view_pods: 100,
            redact: |s| s.to_string(),
        }
    }
}

/// How often the pods view is rebuilt and idle pods evicted.
const REFRESH: Duration = Duration::from_secs(1);

/// Runs the stage until `rx` closes and every received line is scored.
pub fn run(mut rx: Receiver<LogLine>, shared: Arc<Shared>, cfg: StageConfig) {
    let mut agg: Option<Aggregator> = None;
    let mut batch: Vec<LogLine> = Vec::with_capacity(cfg.batch_lines);
    let mut scores = Vec::new();
    let started = Instant::now();
    let mut last_refresh = Instant::now();
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < cfg.batch_lines {
            match rx.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let Some(model) = shared.model() else {
            shared.metrics.lines_dropped.inc_by(batch.len() as u64);
            batch.clear();
            continue;
        };
        let agg = agg.get_or_insert_with(|| Aggregator::new(aggregate_params(&model)));
        shared.metrics.lines_ingested.inc_by(batch.len() as u64);
        score_batch(&model, &mut batch, &mut scores, agg, &shared, &cfg);
        agg.drain_changed(nanos_since(started), |pod| shared.metrics.update_pod(pod));
        if last_refresh.elapsed() >= REFRESH {
            refresh(agg, &model, &shared, &cfg, nanos_since(started));
            last_refresh = Instant::now();
        }
    }
    if let (Some(agg), Some(model)) = (agg.as_mut(), shared.model()) {
        refresh(agg, &model, &shared, &cfg, nanos_since(started));
    }
}

/// Wall-clock nanoseconds since `start`: the clock of idle-pod eviction.
fn nanos_since(start: Instant) -> i64 {
    i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX)
}

fn aggregate_params(model: &Model) -> AggregateParams {
    AggregateParams {
        expected_rate: model.meta.params.contamination,
        top_max_age_ns: Some(15 * 60 * 1_000_000_000),
        ..AggregateParams::default()
    }
}

fn score_batch(
    model: &Model,
    batch: &mut Vec<LogLine>,
    scores: &mut Vec<f32>,
    agg: &mut Aggregator,
    shared: &Shared,
    cfg: &StageConfig,
) {
    let started = Instant::now();
    if let Err(e) = model.score_batch(batch, scores) {
        tracing::error!("scoring failed, {} lines dropped: {e}", batch.len());
        shared.metrics.lines_dropped.inc_by(batch.len() as u64);
        batch.clear();
        return;
    }
    shared
        .metrics
        .scoring_duration_seconds
        .observe(started.elapsed().as_secs_f64());
    shared.metrics.lines_scored.inc_by(batch.len() as u64);
    if cfg.live {
        if let Some(last) = batch.last() {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
            let lag = (now - i128::from(last.ts_ns)) as f64 / 1e9;
            shared.metrics.ingest_lag_seconds.set(lag.max(0.0));
        }
    }
    for (log, &score) in batch.drain(..).zip(scores.iter()) {
        agg.add(&ScoredLine {
            log,
            score,
            anomalous: score >= model.threshold,
        });
    }
}

/// Evicts idle pods and rebuilds the `/api/v1/pods` view.
fn refresh(agg: &mut Aggregator, model: &Model, shared: &Shared, cfg: &StageConfig, now: i64) {
    let ttl = i64::try_from(cfg.pod_ttl.as_nanos()).unwrap_or(i64::MAX);
    for gone in agg.evict_idle(now, ttl) {
        shared.metrics.remove_pod(&gone);
    }
    shared.metrics.pods_tracked.set(agg.len() as i64);
    let mut pods: Vec<&PodStats> = agg.pods().collect();
    pods.sort_by(|a, b| b.recent_burst().total_cmp(&a.recent_burst()));
    let view: Vec<PodView> = pods
        .into_iter()
        .take(cfg.view_pods)
        .map(|p| view_of(p, model, cfg.redact))
        .collect();
    if let Ok(mut slot) = shared.pods.write() {
        *slot = view;
    }
}

fn view_of(p: &PodStats, model: &Model, redact: fn(&str) -> String) -> PodView {
    PodView {
        namespace: p.stream.namespace.clone(),
        pod: p.stream.pod.clone(),
        container: p.stream.container.clone(),
        score: p.ewma,
        burst: p.recent_burst(),
        peak_burst: p.peak_burst,
        lines: p.lines,
        anomalous_lines: p.anomalous,
        last_seen: rfc3339(p.last_ts),
        top_lines: p
            .top
            .iter()
            .map(|t| ViewLine {
                ts: rfc3339(t.ts_ns),
                score: t.score,
                line: redact(&t.line),
                tokens: model.explain(&t.line, 4),
            })
            .collect(),
    }
}

/// Unix nanoseconds as RFC 3339 (empty when out of range).
pub fn rfc3339(ts_ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ns))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
