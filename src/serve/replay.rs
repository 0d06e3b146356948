//! `replay --listen`: a log file as the service's source, so the metrics, dashboards and
//! alert rules can be tried without a Loki. With `--speed`, lines are released in log-time
//! order at that many times real time, so Prometheus sees scores rise and fall.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, Sender};

use super::stage::{self, Shared, StageConfig};
use crate::event::LogLine;
use crate::input::{read_path, ReadError, ReadOptions, ReadStats};
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

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A worker thread died.
    #[error("{0} stopped unexpectedly")]
    Worker(&'static str),
}

/// Replays the file into the service, reports through `on_done` once every line is scored,
/// then keeps serving until `shutdown` completes (which also stops a replay in progress).
pub async fn run(
    opts: ReplayServe,
    model: Model,
    model_origin: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
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
    let stop = Arc::new(AtomicBool::new(false));
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_flag = Arc::clone(&stop);
    tokio::spawn(async move {
        shutdown.await;
        stop_flag.store(true, Ordering::Relaxed);
        let _ = stopped_tx.send(());
    });
    let (http_stop_tx, http_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(super::serve_http(listener, Arc::clone(&shared), async {
        let _ = http_stop_rx.await;
    }));

    let (tx, rx) = mpsc::channel::<LogLine>(16 * 1024);
    let stage_shared = Arc::clone(&shared);
    let stage_cfg = opts.stage.clone();
    let stage = std::thread::spawn(move || stage::run(rx, stage_shared, stage_cfg));
    shared.set_source_connected(true);
    let reader_stop = Arc::clone(&stop);
    let read = tokio::task::spawn_blocking(move || feed(&opts, tx, &reader_stop))
        .await
        .map_err(|_| ServeError::Worker("the file reader"))?;
    let stage_done = tokio::task::spawn_blocking(move || stage.join().is_ok())
        .await
        .unwrap_or(false);
    if !stage_done {
        return Err(ServeError::Worker("the scoring stage"));
    }
    // a finished replay is not a disconnected source: source_up stays 1
    shared.source_done.store(true, Ordering::Relaxed);
    let summary = match read {
        Ok(read) => ReplayServeSummary {
            local_addr,
            read,
            error: None,
        },
        Err((lines, error)) => ReplayServeSummary {
            local_addr,
            read: ReadStats {
                lines,
                ..ReadStats::default()
            },
            error: Some(error),
        },
    };
    on_done(&summary);
    let _ = stopped_rx.await;
    let _ = http_stop_tx.send(());
    let _ = server.await;
    Ok(summary)
}

/// Reads the file into `tx`, paced when asked; on error returns the lines sent before it.
fn feed(
    opts: &ReplayServe,
    tx: Sender<LogLine>,
    stop: &AtomicBool,
) -> Result<ReadStats, (u64, ReadError)> {
    match opts.speed {
        None => {
            let mut sent = 0u64;
            read_path(&opts.path, &opts.read, &mut |line| {
                if stop.load(Ordering::Relaxed) {
                    return Err("stopped".into());
                }
                tx.blocking_send(line).map_err(|_| "scoring stopped")?;
                sent += 1;
                Ok(())
            })
            .map_err(|e| (sent, e))
        }
        Some(speed) => feed_paced(&opts.path, &opts.read, speed, &tx, stop),
    }
}

/// Loads the whole file (pacing needs log-time order across streams), then releases each
/// line when its time has come at `speed` times real time.
fn feed_paced(
    path: &Path,
    read: &ReadOptions,
    speed: f64,
    tx: &Sender<LogLine>,
    stop: &AtomicBool,
) -> Result<ReadStats, (u64, ReadError)> {
    let mut lines = Vec::new();
    let result = read_path(path, read, &mut |line| {
        lines.push(line);
        Ok(())
    });
    lines.sort_by_key(|l| l.ts_ns);
    let first = lines.first().map_or(0, |l| l.ts_ns);
    let start = Instant::now();
    let mut sent = 0u64;
    for line in lines {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let offset = Duration::from_secs_f64(((line.ts_ns - first) as f64 / 1e9 / speed).max(0.0));
        if let Some(wait) = offset.checked_sub(start.elapsed()) {
            if wait > Duration::from_millis(2) {
                std::thread::sleep(wait);
            }
        }
        if tx.blocking_send(line).is_err() {
            break;
        }
        sent += 1;
    }
    result.map_err(|e| (sent, e))
}
