//! The long-running service: a log source feeds the scoring stage, whose per-pod results
//! are exported over HTTP as Prometheus metrics and a JSON view.
//!
//! - [`stage`]: scoring, aggregation, metric updates, idle-pod eviction (its own thread).
//! - [`http`]: axum routes.
//! - [`replay`]: a file as the source, optionally paced in log time, for trying dashboards
//!   without a Loki.

pub mod http;
pub mod learn;
pub mod replay;
pub mod service;
pub mod stage;

pub use stage::{PodView, Shared, StageConfig};

use std::future::Future;
use std::sync::Arc;

/// Serves the HTTP routes on `listener` until `shutdown` completes.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(shared))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what Kubernetes sends to stop a pod).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
