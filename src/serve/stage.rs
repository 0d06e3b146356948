//! The scoring stage of the long-running service: lines in, per-pod metrics out.
//!
//! Runs on its own thread, off the async runtime, as a [`pipeline`] whose sink folds the
//! scored lines into the aggregator, updates the Prometheus series of the pods that
//! changed, evicts idle pods, feeds the learner and the alert task, and refreshes the view
//! served by `/api/v1/pods`. With a model trained with a session key, it also groups the
//! lines into sessions and scores each once it has gone idle (`/api/v1/sessions`). When
//! the source ends it finishes the lines and the sessions it holds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::aggregate::{AggregateParams, Aggregator, PodStats, PodWindows};
use crate::event::{rfc3339, LogLine, ScoredLine};
use crate::input::SinkError;
use crate::metrics::Metrics;
use crate::pipeline::{self, Batch, Dropped, Models, Options, Scorer, Sink, Source, Stop, Summary};
use crate::telemetry::{
    BatchScored, Event, LinesDropped, LinesReceived, PodsTracked, SessionsScored, SourceConnected,
};
use loganomaly_model::{Model, ScoredSession, Sessions, TokenWeight, TrainParams};

use super::learn::{self, LearnConfig, Learner};
use crate::alert::{Category, Minutes, PodObservation, Redactor, Workloads};

/// Per-minute pod observations for the alert task: (end of the minute in ns, pods).
pub type AlertBatch = (i64, Vec<PodObservation>);

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
    /// The latest anomalous sessions, oldest first (at most [`VIEW_SESSIONS`]).
    pub sessions: RwLock<VecDeque<SessionView>>,
    /// The incident history `GET /api/v1/incidents` reads, when `[alerting.incidents]` is set.
    pub incidents: std::sync::OnceLock<crate::incident::config::Database>,
    /// Where `POST /api/v1/alertmanager` sends the log evidence of Prometheus alerts to be
    /// followed up by the notifiers, when `[alerting]` names one.
    pub follow_ups: std::sync::OnceLock<tokio::sync::mpsc::Sender<Vec<crate::alert::Evidence>>>,
    /// The Loki `GET /api/v1/summary` reads, when `[loki]` is set.
    pub loki: std::sync::OnceLock<crate::loki::LokiConfig>,
}

/// Anomalous sessions kept for `/api/v1/sessions`.
pub const VIEW_SESSIONS: usize = 100;

/// An anomalous session as `/api/v1/sessions` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// The session's key (what the model's session key matched), redacted.
    pub key: String,
    /// Its lines.
    pub lines: usize,
    /// The session model's score.
    pub score: f32,
    /// The session threshold it reached.
    pub threshold: f32,
    /// Log time of the latest line seen when it was scored (RFC 3339).
    pub scored_at: String,
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
        SourceConnected { up }.emit(&self.metrics);
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
    /// The other workload its top lines name most often: where a victim pod's trouble
    /// likely comes from.
    pub dependency: Option<String>,
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
    /// The kind of trouble it shows (e.g. `timeout`).
    pub category: &'static str,
    /// What to check first.
    pub check_first: &'static str,
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
    /// How pods' burst windows are cut and judged.
    pub windows: PodWindows,
    /// Masks credentials in lines before they leave the process: the built-in patterns
    /// and the alerting config's `redact.extra_patterns`; `None`: the built-in ones only.
    pub redactor: Option<Arc<Redactor>>,
    /// Retraining; `None` keeps the model it starts with.
    pub learn: Option<LearnConfig>,
    /// With no model at start, train one on this many first lines (they are scored after).
    pub initial_training_lines: usize,
    /// Where to send each finished minute's pod observations for alerting.
    pub alerts: Option<tokio::sync::mpsc::Sender<AlertBatch>>,
    /// Once stopping, lines not scored within this long are dropped (and counted);
    /// `None`: every line read is scored.
    pub drain: Option<Duration>,
    /// A session (model trained with a session key) with no line for this long of log
    /// time is complete, and scored.
    pub session_idle: Duration,
}

impl Default for StageConfig {
    fn default() -> Self {
        Self {
            batch_lines: 4096,
            pod_ttl: Duration::from_secs(15 * 60),
            live: true,
            view_pods: 100,
            windows: PodWindows::default(),
            redactor: None,
            learn: None,
            initial_training_lines: 50_000,
            alerts: None,
            drain: None,
            session_idle: Duration::from_secs(5 * 60),
        }
    }
}

impl StageConfig {
    /// `line` with its credentials masked by this stage's redactor.
    pub fn redact(&self, line: &str) -> String {
        match &self.redactor {
            Some(r) => r.redact(line).into_owned(),
            None => redact_credentials(line),
        }
    }
}

/// The built-in credential redaction of [`Redactor`] (no extra patterns).
fn redact_credentials(line: &str) -> String {
    match crate::alert::builtin_redactor() {
        Some(r) => r.redact(line).into_owned(),
        None => "<line withheld: redaction unavailable>".to_string(),
    }
}

/// Turns scored lines into one observation per pod per finished minute of log time, by
/// the gap rule of [`Minutes`], and sends them to the alert task.
struct AlertFeed {
    tx: tokio::sync::mpsc::Sender<AlertBatch>,
    minutes: Minutes,
}

impl AlertFeed {
    /// Before `scored` is aggregated: sends the minutes that ended before its own.
    fn before(&mut self, agg: &Aggregator, scored: &ScoredLine, threshold: f32) {
        let tx = &self.tx;
        let sent = self.minutes.before(agg, scored, threshold, |end, obs| {
            tx.blocking_send((end, obs))
        });
        if sent.is_err() {
            tracing::warn!("the alert task stopped; observations are not sent");
        }
    }
}

/// How often the pods view is rebuilt and idle pods evicted.
const REFRESH: Duration = Duration::from_secs(1);

/// Runs the stage on `source` until it ends (or `stop` is called and the drain deadline
/// passes), through the one pipeline; every line read is scored or counted as dropped.
pub fn run(source: Source, shared: Arc<Shared>, cfg: StageConfig, stop: Stop) -> Summary {
    let opts = Options {
        batch_lines: cfg.batch_lines,
        drain: cfg.drain,
        stop,
    };
    let mut models = ServeModels {
        shared: Arc::clone(&shared),
        untrained: Vec::new(),
        need: cfg.initial_training_lines,
        params: cfg.learn.clone().unwrap_or_default().params,
    };
    let mut sink = ServeSink {
        learner: cfg.learn.clone().map(Learner::new),
        feed: cfg.alerts.clone().map(|tx| AlertFeed {
            tx,
            minutes: Minutes::new(),
        }),
        shared,
        cfg,
        agg: None,
        sessions: None,
        started: Instant::now(),
        last_refresh: Instant::now(),
    };
    let summary = pipeline::run(source, &mut models, &mut sink, &opts);
    sink.finish();
    // the stage's sink never fails: a failure here is the pipeline's own
    summary.unwrap_or_else(|e| {
        tracing::error!("the scoring stage stopped: {e}");
        Summary {
            read: crate::input::ReadStats::default(),
            scored: 0,
            dropped: 0,
            elapsed: Duration::ZERO,
            error: None,
        }
    })
}

/// The service's models: the one in [`Shared`] (a retrain replaces it), or, with none at
/// start, one trained on the first lines (which are then scored with it).
struct ServeModels {
    shared: Arc<Shared>,
    untrained: Vec<LogLine>,
    need: usize,
    params: TrainParams,
}

impl Models for ServeModels {
    fn scorer(&mut self, lines: &mut Vec<LogLine>, ended: bool) -> Option<Scorer> {
        let lines_in = lines.len() as u64;
        LinesReceived { lines: lines_in }.emit(&self.shared.metrics);
        if self.shared.model().is_none() {
            self.untrained.append(lines);
            if self.untrained.is_empty() || (self.untrained.len() < self.need && !ended) {
                return None;
            }
            train_first(&self.untrained, &self.shared, self.params.clone());
        }
        if !self.untrained.is_empty() {
            self.untrained.append(lines);
            std::mem::swap(lines, &mut self.untrained);
        }
        self.shared.model().map(|m| Scorer::new(m, None))
    }
}

/// Trains the first model on the lines that arrived before there was one.
fn train_first(lines: &[LogLine], shared: &Shared, params: TrainParams) {
    match learn::train(lines, params, "first lines") {
        Ok(model) => {
            tracing::info!(lines = lines.len(), "trained the first model");
            shared.set_model(Arc::new(model), "trained on first lines");
        }
        Err(e) => tracing::error!("cannot train a first model: {e}"),
    }
}

/// The service's sink: aggregates, exports, feeds the learner and the alert task, and
/// keeps the pods view fresh.
struct ServeSink {
    shared: Arc<Shared>,
    cfg: StageConfig,
    agg: Option<Aggregator>,
    sessions: Option<SessionTracker>,
    learner: Option<Learner>,
    feed: Option<AlertFeed>,
    started: Instant,
    last_refresh: Instant,
}

impl Sink for ServeSink {
    fn batch(&mut self, batch: &mut Batch) -> Result<(), SinkError> {
        self.count(batch);
        let model = batch.scorer.model();
        let threshold = batch.scorer.threshold();
        let windows = self.cfg.windows;
        let agg = self
            .agg
            .get_or_insert_with(|| Aggregator::new(aggregate_params(model, windows)));
        for scored in &batch.lines {
            if let Some(l) = self.learner.as_mut() {
                l.offer(&scored.log.line, scored.anomalous);
            }
            if let Some(f) = self.feed.as_mut() {
                f.before(agg, scored, threshold);
            }
            agg.add(scored);
            if let Some(f) = self.feed.as_mut() {
                f.minutes.keep(scored, model);
            }
        }
        let now = nanos_since(self.started);
        agg.drain_changed(now, |pod| self.shared.metrics.update_pod(pod));
        self.track_sessions(model, &batch.lines);
        if self.last_refresh.elapsed() >= REFRESH {
            self.refresh();
        }
        Ok(())
    }

    fn idle(&mut self) {
        self.refresh();
    }

    fn dropped(&mut self, lines: u64, why: Dropped) {
        LinesDropped { lines, why }.emit(&self.shared.metrics);
    }
}

impl ServeSink {
    /// Counts a scored batch: lines, scoring time and, for a live source, ingest lag.
    fn count(&self, batch: &Batch) {
        let lag_seconds = match (self.cfg.live, batch.lines.last()) {
            (true, Some(last)) => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
                Some((now - i128::from(last.log.ts_ns)) as f64 / 1e9)
            }
            _ => None,
        };
        BatchScored {
            lines: batch.lines.len() as u64,
            took: batch.took,
            lag_seconds,
        }
        .emit(&self.shared.metrics);
    }

    /// Evicts idle pods, rebuilds the pods view and lets the learner retrain.
    fn refresh(&mut self) {
        self.last_refresh = Instant::now();
        let (Some(agg), Some(model)) = (self.agg.as_mut(), self.shared.model()) else {
            return;
        };
        refresh(
            agg,
            &model,
            &self.shared,
            &self.cfg,
            nanos_since(self.started),
        );
        if let Some(l) = self.learner.as_mut() {
            l.poll(&self.shared);
        }
        if let Some(t) = self.sessions.as_mut() {
            let scored = t.close_idle(self.cfg.session_idle);
            publish_sessions(scored, t, &self.shared, &self.cfg);
        }
    }

    /// Adds scored lines to their sessions; a new model (a retrain) first scores the
    /// sessions its predecessor had open, then cuts its own.
    fn track_sessions(&mut self, model: &Arc<Model>, lines: &[ScoredLine]) {
        if !self
            .sessions
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(&t.model, model))
        {
            self.finish_sessions();
            self.sessions = SessionTracker::new(model);
        }
        if let Some(t) = self.sessions.as_mut() {
            for l in lines {
                t.sessions.add(&l.log.line, l.score, l.log.ts_ns);
                t.now_ns = t.now_ns.max(l.log.ts_ns);
            }
        }
    }

    /// Scores every open session, complete or not.
    fn finish_sessions(&mut self) {
        if let Some(mut t) = self.sessions.take() {
            let scored = t.close_idle(Duration::ZERO);
            publish_sessions(scored, &t, &self.shared, &self.cfg);
        }
    }

    /// The source has ended: exports and shows the last lines, and scores the sessions.
    fn finish(&mut self) {
        if let Some(agg) = self.agg.as_mut() {
            let now = nanos_since(self.started);
            agg.drain_changed(now, |pod| self.shared.metrics.update_pod(pod));
        }
        self.finish_sessions();
        self.refresh();
    }
}

/// The sessions of one model as the service cuts them: lines grouped by the model's
/// session key, each session scored once no line of it came for `session_idle` of log
/// time (the newest line's time is the clock, in a replay as live).
struct SessionTracker {
    model: Arc<Model>,
    sessions: Sessions,
    now_ns: i64,
}

impl SessionTracker {
    /// `None` for a model without a session model.
    fn new(model: &Arc<Model>) -> Option<Self> {
        let sessions = Sessions::for_model(model).ok().flatten()?;
        Some(Self {
            model: Arc::clone(model),
            sessions,
            now_ns: i64::MIN,
        })
    }

    /// Closes and scores the sessions idle for `idle` (all of them for zero).
    fn close_idle(&mut self, idle: Duration) -> Vec<ScoredSession> {
        let Some(session_model) = self.model.session.as_ref() else {
            return Vec::new();
        };
        let idle_ns = i64::try_from(idle.as_nanos()).unwrap_or(i64::MAX);
        let now = if idle.is_zero() {
            i64::MAX
        } else {
            self.now_ns
        };
        self.sessions
            .close_idle(now, idle_ns, session_model)
            .unwrap_or_else(|e| {
                tracing::error!("cannot score sessions: {e}");
                Vec::new()
            })
    }
}

/// Counts scored sessions, logs the anomalous ones and keeps them for the view.
fn publish_sessions(
    scored: Vec<ScoredSession>,
    tracker: &SessionTracker,
    shared: &Shared,
    cfg: &StageConfig,
) {
    let threshold = tracker.model.session.as_ref().map_or(1.0, |m| m.threshold);
    let anomalous: Vec<&ScoredSession> = scored.iter().filter(|s| s.anomalous).collect();
    SessionsScored {
        scored: scored.len() as u64,
        anomalous: anomalous.len() as u64,
        open: tracker.sessions.open(),
    }
    .emit(&shared.metrics);
    if anomalous.is_empty() {
        return;
    }
    let scored_at = rfc3339(tracker.now_ns);
    let Ok(mut view) = shared.sessions.write() else {
        return;
    };
    for s in anomalous {
        let key = cfg.redact(&s.key);
        tracing::warn!(session = %key, score = s.score, lines = s.lines, "anomalous session");
        view.push_back(SessionView {
            key,
            lines: s.lines,
            score: s.score,
            threshold,
            scored_at: scored_at.clone(),
        });
        if view.len() > VIEW_SESSIONS {
            view.pop_front();
        }
    }
}

/// Wall-clock nanoseconds since `start`: the clock of idle-pod eviction.
fn nanos_since(start: Instant) -> i64 {
    i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX)
}

fn aggregate_params(model: &Model, windows: PodWindows) -> AggregateParams {
    AggregateParams {
        top_max_age_ns: Some(15 * 60 * 1_000_000_000),
        ..AggregateParams::for_model(model)
    }
    .with_windows(windows)
}

/// Evicts idle pods and rebuilds the `/api/v1/pods` view.
fn refresh(agg: &mut Aggregator, model: &Model, shared: &Shared, cfg: &StageConfig, now: i64) {
    let ttl = i64::try_from(cfg.pod_ttl.as_nanos()).unwrap_or(i64::MAX);
    let gone = agg.evict_idle(now, ttl);
    for stream in &gone {
        shared.metrics.remove_pod(stream);
    }
    PodsTracked {
        pods: agg.len(),
        evicted: gone.len(),
    }
    .emit(&shared.metrics);
    let mut pods: Vec<&PodStats> = agg.pods().collect();
    let workloads = Workloads::of(pods.iter().map(|p| p.stream.pod.as_str()));
    pods.sort_by(|a, b| b.recent_burst().total_cmp(&a.recent_burst()));
    let view: Vec<PodView> = pods
        .into_iter()
        .take(cfg.view_pods)
        .map(|p| view_of(p, model, cfg, &workloads))
        .collect();
    if let Ok(mut slot) = shared.pods.write() {
        *slot = view;
    }
}

fn view_of(p: &PodStats, model: &Model, cfg: &StageConfig, workloads: &Workloads) -> PodView {
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
        dependency: workloads.named_by(&p.stream.pod, p.top.iter().map(|t| t.line.as_str())),
        top_lines: p
            .top
            .iter()
            .map(|t| {
                let tokens = model.explain(&t.line, 4);
                let category = Category::of_line(&t.line, tokens.iter().any(|w| w.new));
                ViewLine {
                    ts: rfc3339(t.ts_ns),
                    score: t.score,
                    line: cfg.redact(&t.line),
                    tokens,
                    category: category.id(),
                    check_first: category.check_first(),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LabelNames, Stream};
    use std::collections::BTreeMap;

    fn lines(n: usize) -> Vec<LogLine> {
        let labels = BTreeMap::from([
            ("namespace".to_string(), "shop".to_string()),
            ("pod".to_string(), "cart-1".to_string()),
        ]);
        let stream = Arc::new(Stream::from_labels(labels, &LabelNames::default()));
        (0..n)
            .map(|i| LogLine {
                ts_ns: i as i64 * 1_000_000,
                stream: Arc::clone(&stream),
                line: format!("user {i} added item {} to cart", i % 7),
            })
            .collect()
    }

    fn run_with(shared: &Arc<Shared>, input: Vec<LogLine>, cfg: StageConfig) {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let worker_shared = Arc::clone(shared);
        let source = Source::Channel(rx);
        let worker = std::thread::spawn(move || run(source, worker_shared, cfg, Stop::default()));
        for l in input {
            tx.blocking_send(l).unwrap();
        }
        drop(tx);
        worker.join().unwrap();
    }

    fn counter(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(-1.0)
    }

    #[test]
    fn without_a_model_the_first_lines_train_one_and_every_line_is_scored() {
        let shared = Arc::new(Shared::default());
        let cfg = StageConfig {
            initial_training_lines: 3000,
            learn: Some(LearnConfig {
                params: loganomaly_model::TrainParams {
                    trees: 20,
                    subsample: 64,
                    reservoir: 2000,
                    ..Default::default()
                },
                ..LearnConfig::default()
            }),
            ..StageConfig::default()
        };
        run_with(&shared, lines(5000), cfg);
        assert!(shared.model().is_some());
        let text = shared.metrics.encode().unwrap();
        assert_eq!(counter(&text, "loganomaly_lines_scored_total"), 5000.0);
        assert_eq!(counter(&text, "loganomaly_lines_dropped_total"), 0.0);
        assert!(text.contains("source=\"trained on first lines\""));
        let pods = shared.pods.read().unwrap();
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].lines, 5000);
    }

    /// A model that learnt sessions of jobs (ids such as `r0000002a`, masked like the
    /// request ids of real logs): open, one or two writes, ack (but for one in fifty),
    /// close.
    fn job_model() -> Model {
        let mut t = loganomaly_model::Trainer::new(TrainParams {
            session_key: Some(r"job=(\w+)".into()),
            trees: 50,
            subsample: 64,
            reservoir: 4000,
            ..TrainParams::default()
        })
        .unwrap();
        for i in 0..800 {
            let job = format!("r{i:08x}");
            t.add(&format!("open job={job} on host{}", i % 7));
            for _ in 0..1 + i % 2 {
                t.add(&format!("write job={job} {} bytes", i * 13 % 4096));
            }
            if i % 50 != 7 {
                t.add(&format!("ack job={job} after {}ms", i % 90));
            }
            t.add(&format!("close job={job}"));
        }
        t.finish("jobs").unwrap()
    }

    #[test]
    fn sessions_are_scored_once_idle_and_the_anomalous_ones_listed() {
        let shared = Arc::new(Shared::default());
        shared.set_model(Arc::new(job_model()), "jobs");
        let stream = lines(1)[0].stream.clone();
        let at = |minute: i64, line: &str| LogLine {
            ts_ns: minute * 60_000_000_000,
            stream: Arc::clone(&stream),
            line: line.to_string(),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::spawn(move || {
            run(
                Source::Channel(rx),
                worker_shared,
                StageConfig::default(),
                Stop::default(),
            )
        });
        for l in [
            at(0, "open job=r90000001 on host1"),
            at(0, "write job=r90000001 10 bytes"),
            at(0, "ack job=r90000001 after 5ms"),
            at(0, "close job=r90000001"),
            // never acknowledged nor closed, and written three times
            at(0, "open job=r90000002 on host2"),
            at(0, "write job=r90000002 10 bytes"),
            at(0, "write job=r90000002 10 bytes"),
            at(0, "write job=r90000002 10 bytes"),
        ] {
            tx.blocking_send(l).unwrap();
        }
        // ten minutes of log time later, both are idle (5 m) and scored; the third stays open
        std::thread::sleep(Duration::from_millis(1200));
        tx.blocking_send(at(10, "open job=r90000003 on host3"))
            .unwrap();
        let scored = || {
            let text = shared.metrics.encode().unwrap();
            counter(&text, "loganomaly_sessions_scored_total")
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while scored() < 2.0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(scored(), 2.0, "the first two scored while the source runs");
        let text = shared.metrics.encode().unwrap();
        assert_eq!(counter(&text, "loganomaly_sessions_open"), 1.0);
        let view: Vec<String> = shared
            .sessions
            .read()
            .unwrap()
            .iter()
            .map(|s| s.key.clone())
            .collect();
        assert_eq!(view, ["r90000002"], "only the odd session is listed");
        drop(tx);
        worker.join().unwrap();
        // the source ended: the third is scored too
        assert_eq!(scored(), 3.0);
    }

    #[test]
    fn the_pods_view_redacts_credentials() {
        let shared = Arc::new(Shared::default());
        shared.set_model(Arc::new(crate::bundled::model().unwrap()), "bundled");
        let mut input = lines(50);
        input[7].line = "login failed for bob password=hunter2 token=abc123def".into();
        run_with(&shared, input, StageConfig::default());
        let view = serde_json::to_string(&*shared.pods.read().unwrap()).unwrap();
        assert!(view.contains("login failed for bob"), "{view}");
        assert!(
            !view.contains("hunter2") && !view.contains("abc123def"),
            "{view}"
        );
    }

    #[test]
    fn the_pods_view_applies_the_configured_extra_patterns() {
        let config = crate::config::ServiceConfig::from_toml(
            "[alerting.redact]\nextra_patterns = [\"acct-[0-9]{6}\"]\n",
            "test",
            std::iter::empty(),
        )
        .unwrap();
        let shared = Arc::new(Shared::default());
        shared.set_model(Arc::new(crate::bundled::model().unwrap()), "bundled");
        let mut input = lines(50);
        input[7].line = "charge refused for acct-123456 password=hunter2".into();
        run_with(&shared, input, config.stage().unwrap());
        let view = serde_json::to_string(&*shared.pods.read().unwrap()).unwrap();
        assert!(view.contains("charge refused for"), "{view}");
        assert!(
            !view.contains("acct-123456") && !view.contains("hunter2"),
            "{view}"
        );
    }

    #[test]
    fn the_pods_view_names_the_workload_a_pods_lines_blame() {
        let shared = Arc::new(Shared::default());
        shared.set_model(Arc::new(crate::bundled::model().unwrap()), "bundled");
        let mut input = lines(50);
        input[7].line = "dial tcp: connect to payments-db:5432: connection refused".into();
        let db = BTreeMap::from([
            ("namespace".to_string(), "shop".to_string()),
            ("pod".to_string(), "payments-db-0".to_string()),
        ]);
        input.push(LogLine {
            ts_ns: 50_000_000,
            stream: Arc::new(Stream::from_labels(db, &LabelNames::default())),
            line: "checkpoint complete".into(),
        });
        run_with(&shared, input, StageConfig::default());
        let pods = shared.pods.read().unwrap();
        let of = |name: &str| {
            pods.iter()
                .find(|p| p.pod == name)
                .unwrap()
                .dependency
                .clone()
        };
        assert_eq!(of("cart-1").as_deref(), Some("payments-db"));
        assert_eq!(of("payments-db-0"), None);
    }

    #[test]
    fn finished_minutes_are_observed_for_alerting() {
        let shared = Arc::new(Shared::default());
        shared.set_model(Arc::new(crate::bundled::model().unwrap()), "bundled");
        let minute = 60_000_000_000i64;
        let mut input = lines(300);
        let normal = r#"{"level":"info","ts":1700000001.0369453,"caller":"cart/janitor.go:33","msg":"expired carts purged","count":53,"duration":0.213994}"#;
        for (i, l) in input.iter_mut().enumerate() {
            l.ts_ns = i as i64 / 100 * minute + i as i64; // three minutes of 100 lines
            l.line = normal.to_string();
            if (100..140).contains(&i) {
                l.line = "panic: runtime error: invalid memory address or nil pointer".into();
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let cfg = StageConfig {
            alerts: Some(tx),
            batch_lines: 64,
            ..StageConfig::default()
        };
        run_with(&shared, input, cfg);
        let mut batches = Vec::new();
        while let Ok(b) = rx.try_recv() {
            batches.push(b);
        }
        // minutes 0 and 1 ended (minute 2 is still open when the input stops)
        assert_eq!(
            batches.iter().map(|b| b.0).collect::<Vec<_>>(),
            vec![minute, 2 * minute]
        );
        let burst = |b: &AlertBatch| b.1.iter().map(|o| o.burst).fold(0.0f32, f32::max);
        assert!(burst(&batches[0]) < 9.0, "{}", burst(&batches[0]));
        assert!(burst(&batches[1]) >= 9.0, "{}", burst(&batches[1]));
        assert!(batches[1].1[0].top_lines[0].line.starts_with("panic"));
    }

    #[test]
    fn a_short_input_still_trains_and_scores_at_the_end() {
        let shared = Arc::new(Shared::default());
        let cfg = StageConfig {
            initial_training_lines: 1_000_000,
            ..StageConfig::default()
        };
        run_with(&shared, lines(800), cfg);
        let text = shared.metrics.encode().unwrap();
        assert_eq!(counter(&text, "loganomaly_lines_scored_total"), 800.0);
    }
}
