//! `loganomaly serve`: a log source (Loki, pushes, or both), the scoring stage and the HTTP
//! server, stopped cleanly on SIGTERM within the drain deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, Sender};
use tokio::sync::watch;

use super::stage::{self, Shared, StageConfig};
use super::ServeError;
use crate::event::LogLine;
use crate::loki::{LokiConfig, LokiStats};
use crate::pipeline::{Source, Stop};
use crate::push::PushSettings;
use crate::telemetry::{Event, LokiProgress};

/// Lines buffered between the source and the scorer: when scoring falls behind, the
/// source waits (backpressure) instead of dropping lines.
pub const CHANNEL_LINES: usize = 16 * 1024;

/// How long after the drain deadline the service waits for its source and stage to end.
const STRAGGLERS: Duration = Duration::from_secs(2);

/// What a source is given: where to send lines, the shared state (to report its
/// connection), and a signal that resolves when it must stop.
pub struct SourceContext {
    /// Lines to score; `send` waits while the scorer is busy.
    pub lines: Sender<LogLine>,
    /// State shared with the stage and the HTTP handlers.
    pub shared: Arc<Shared>,
    /// Resolves when the service is stopping.
    pub stop: watch::Receiver<bool>,
}

/// Runs the service until `shutdown`, then stops the source and finishes the lines read,
/// waiting at most `drain` for the scorer.
pub async fn run<S, F>(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stage_cfg: StageConfig,
    drain: Duration,
    source: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError>
where
    S: FnOnce(SourceContext) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    run_with(listener, shared, stage_cfg, drain, source, None, shutdown).await
}

/// [`run`], with the push receiver on the same HTTP server when `push` is set: pushed
/// lines go into the same channel as the source's, so the same stage scores them.
pub async fn run_with<S, F>(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stage_cfg: StageConfig,
    drain: Duration,
    source: S,
    push: Option<PushSettings>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError>
where
    S: FnOnce(SourceContext) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, rx) = mpsc::channel::<LogLine>(CHANNEL_LINES);
    let stage_shared = Arc::clone(&shared);
    let stop = Stop::default();
    let stage_stop = stop.clone();
    let stage_cfg = StageConfig {
        drain: Some(drain),
        ..stage_cfg
    };
    let stage = std::thread::spawn(move || {
        stage::run(Source::Channel(rx), stage_shared, stage_cfg, stage_stop)
    });
    let mut router = super::http::router(Arc::clone(&shared));
    let mut forwarder = None;
    if let Some(settings) = push {
        let (routes, forward) =
            crate::push::receiver(settings, Arc::clone(&shared), tx.clone(), stop_rx.clone());
        router = router.merge(routes);
        forwarder = Some(tokio::spawn(forward));
    }
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(super::serve_router(listener, router, async move {
        let _ = http_stop.wait_for(|stopped| *stopped).await;
    }));
    let source_task = tokio::spawn(source(SourceContext {
        lines: tx,
        shared: Arc::clone(&shared),
        stop: stop_rx,
    }));

    shutdown.await;
    tracing::info!("stopping: no new lines; finishing those already read");
    stop.now();
    let _ = stop_tx.send(true);
    // the stage drops what it cannot score by the deadline; this only guards against a
    // source that does not stop
    let drained = tokio::time::timeout(drain + STRAGGLERS, async {
        let _ = source_task.await;
        if let Some(f) = forwarder {
            let _ = f.await;
        }
        tokio::task::spawn_blocking(move || stage.join().is_ok())
            .await
            .unwrap_or(false)
    })
    .await;
    let _ = server.await;
    match drained {
        Ok(true) => Ok(()),
        Ok(false) => Err(ServeError::Worker("the scoring stage")),
        Err(_) => {
            tracing::warn!("drain deadline of {drain:?} passed; exiting with lines unscored");
            Ok(())
        }
    }
}

/// The live Loki source: reads with `cfg` until the service stops, and mirrors the
/// source's state into the service's metrics once a second.
pub async fn loki_source(cfg: LokiConfig, ctx: SourceContext) {
    let stats = Arc::new(LokiStats::default());
    let bridge = tokio::spawn(mirror_stats(Arc::clone(&stats), Arc::clone(&ctx.shared)));
    let mut stop = ctx.stop.clone();
    let stopping = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = crate::loki::run(cfg, ctx.lines, stats, stopping).await {
        tracing::error!("the Loki source stopped: {e}");
    }
    bridge.abort();
    ctx.shared.set_source_connected(false);
}

/// The source of a service that only receives pushes: ready at once, until it stops.
pub async fn push_only_source(ctx: SourceContext) {
    ctx.shared.set_source_connected(true);
    let mut stop = ctx.stop.clone();
    let _ = stop.wait_for(|s| *s).await;
    ctx.shared.set_source_connected(false);
}

/// Reports what the source counted, once a second, as [`LokiProgress`] events.
async fn mirror_stats(stats: Arc<LokiStats>, shared: Arc<Shared>) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut last = LokiProgress::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        shared.set_source_connected(stats.connected.load(Relaxed));
        let now = LokiProgress {
            reconnects: stats.reconnects.load(Relaxed),
            dropped_entries: stats.dropped_entries_reported.load(Relaxed),
            state_save_failures: stats.state_save_failures.load(Relaxed),
        };
        LokiProgress {
            reconnects: now.reconnects.saturating_sub(last.reconnects),
            dropped_entries: now.dropped_entries.saturating_sub(last.dropped_entries),
            state_save_failures: now
                .state_save_failures
                .saturating_sub(last.state_save_failures),
        }
        .emit(&shared.metrics);
        last = now;
    }
}

/// Runs the alert policy on the stage's per-minute observations and delivers its
/// messages, and the follow-ups of Prometheus alerts (`follow_ups`, from
/// `POST /api/v1/alertmanager`); counts deliveries in the metrics; flushes the outboxes
/// when the stage ends.
pub async fn alert_task(
    alerter: crate::alert::Alerter,
    mut rx: tokio::sync::mpsc::Receiver<super::stage::AlertBatch>,
    mut follow_ups: tokio::sync::mpsc::Receiver<Vec<crate::alert::Evidence>>,
    shared: Arc<Shared>,
) {
    let mut alerter = alerter;
    let mut counts = AlertCounts::default();
    loop {
        tokio::select! {
            biased;
            batch = rx.recv() => {
                let Some((now_ns, observations)) = batch else { break };
                if let Some(model) = shared.model() {
                    alerter.set_model(&model);
                }
                alerter.observe(now_ns, &observations).await;
            }
            Some(evidence) = follow_ups.recv() => {
                alerter.follow_up(crate::event::now_ns(), evidence).await;
            }
        }
        counts.update(&alerter, &shared);
    }
    for report in alerter.shutdown().await {
        tracing::info!(
            notifier = report.name,
            sent = report.stats.sent,
            failed = report.stats.failed,
            "alert outbox flushed"
        );
    }
}

/// What the alert task last exported, so that metrics grow by the difference.
#[derive(Debug, Default)]
struct AlertCounts {
    notifiers: std::collections::HashMap<&'static str, crate::metrics::NotifierCounts>,
    incidents: crate::incident::RecorderTotals,
}

impl AlertCounts {
    /// Exports the notifiers' and the incident writer's counters.
    fn update(&mut self, alerter: &crate::alert::Alerter, shared: &Shared) {
        if let Some(stats) = alerter.incident_stats() {
            let now = stats.totals();
            shared.metrics.update_incidents(self.incidents, now);
            self.incidents = now;
        }
        let grouped = alerter.policy_stats();
        for (name, stats) in alerter.stats() {
            let s = stats.snapshot();
            let now = crate::metrics::NotifierCounts {
                sent: s.sent,
                failed: s.failed,
                retried: s.retried,
                grouped: grouped.grouped,
                held_back: grouped.held_back,
            };
            let before = self.notifiers.insert(name, now).unwrap_or_default();
            shared.metrics.update_notifier(name, before, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LabelNames, Stream};
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_stops_the_source_and_every_line_read_is_scored() {
        let shared = Arc::new(Shared::default());
        let model = crate::bundled::model().unwrap();
        shared.set_model(Arc::new(model), "bundled");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let sent_by_source = Arc::clone(&sent);
        let (term_tx, term_rx) = tokio::sync::oneshot::channel::<()>();
        let labels = BTreeMap::from([("pod".to_string(), "p".to_string())]);
        let stream = Arc::new(Stream::from_labels(labels, &LabelNames::default()));
        let source = move |mut ctx: SourceContext| async move {
            ctx.shared.set_source_connected(true);
            for i in 0..20_000i64 {
                if *ctx.stop.borrow() {
                    break;
                }
                let line = LogLine {
                    ts_ns: i,
                    stream: Arc::clone(&stream),
                    line: format!("request {i} served"),
                };
                if ctx.lines.send(line).await.is_err() {
                    break;
                }
                sent_by_source.fetch_add(1, Ordering::Relaxed);
            }
            let _ = ctx.stop.wait_for(|s| *s).await;
        };
        let service = tokio::spawn(run(
            listener,
            Arc::clone(&shared),
            StageConfig::default(),
            Duration::from_secs(30),
            source,
            async {
                let _ = term_rx.await;
            },
        ));
        // wait until the source has sent everything, then "SIGTERM"
        for _ in 0..600 {
            if sent.load(Ordering::Relaxed) == 20_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ready = tokio::net::TcpStream::connect(addr).await.is_ok();
        assert!(ready, "HTTP server listening");
        let _ = term_tx.send(());
        service.await.unwrap().unwrap();
        let text = shared.metrics.encode().unwrap();
        assert!(
            text.contains("loganomaly_lines_scored_total 20000"),
            "every line sent was scored"
        );
    }
}
