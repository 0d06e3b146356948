//! `replay --listen`: a log file as the service's source, so the metrics, dashboards and
//! alert rules can be tried without a Loki. With `--speed`, lines are released in log-time
//! order at that many times real time, so Prometheus sees scores rise and fall.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::stage::{self, Shared, StageConfig};
use super::ServeError;
use crate::input::{ReadError, ReadOptions, ReadStats};
use crate::pipeline::{Source, Stop};
use loganomaly_model::Model;

/// What to replay and how to serve it.
#[derive(Debug, Clone)]
pub struct ReplayServe {
    /// The log file.
    pub path: PathBuf,
    /// Reader settings.
    pub read: ReadOptions,
    /// Release lines at this multiple of real time (in log-time order); `None` = at once.
    pub speed: Option<f64>,
    /// Where to serve `/metrics` and the other routes.
    pub listen: SocketAddr,
    /// Scoring stage settings.
    pub stage: StageConfig,
}

/// What a replay did.
#[derive(Debug)]
pub struct ReplayServeSummary {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    /// Reader counts.
    pub read: ReadStats,
    /// Set when the read stopped on an error; the lines before it were scored.
    pub error: Option<ReadError>,
}

/// Replays the file into the service: says through `on_listening` where it serves (and
/// gives the shared state, to follow the replay's progress) as soon as it listens, reports
/// through `on_done` once every line is scored, then keeps serving until `shutdown`
/// completes (which also stops a replay in progress).
pub async fn run(
    opts: ReplayServe,
    model: Model,
    model_origin: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr, &Arc<Shared>),
    on_done: impl FnOnce(&ReplayServeSummary),
) -> Result<ReplayServeSummary, ServeError> {
    let shared = Arc::new(Shared::default());
    shared.set_model(Arc::new(model), model_origin);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: opts.listen,
            source,
        })?;
    let local_addr = listener.local_addr().unwrap_or(opts.listen);
    on_listening(local_addr, &shared);
    let stop = Stop::default();
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let stopping = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.now();
        let _ = stopped_tx.send(());
    });
    let (http_stop_tx, http_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(super::serve_http(listener, Arc::clone(&shared), async {
        let _ = http_stop_rx.await;
    }));

    let source = match opts.speed {
        None => Source::File {
            path: opts.path.clone(),
            read: opts.read.clone(),
        },
        Some(speed) => Source::Paced {
            path: opts.path.clone(),
            read: opts.read.clone(),
            speed,
        },
    };
    let stage_shared = Arc::clone(&shared);
    let stage_cfg = opts.stage.clone();
    shared.set_source_connected(true);
    let stage = std::thread::spawn(move || stage::run(source, stage_shared, stage_cfg, stop));
    let run = tokio::task::spawn_blocking(move || stage.join())
        .await
        .map_err(|_| ServeError::Worker("the scoring stage"))?
        .map_err(|_| ServeError::Worker("the scoring stage"))?;
    // a finished replay is not a disconnected source: source_up stays 1
    shared.source_done.store(true, Ordering::Relaxed);
    let summary = ReplayServeSummary {
        local_addr,
        read: run.read,
        error: run.error,
    };
    on_done(&summary);
    let _ = stopped_rx.await;
    let _ = http_stop_tx.send(());
    let _ = server.await;
    Ok(summary)
}
