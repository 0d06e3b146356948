//! The long-running service: a log source feeds the scoring stage, whose per-pod results
//! are exported over HTTP as Prometheus metrics and a JSON view.
//!
//! - [`service`]: `serve`: the Loki source and/or the push receiver, the stage, the alert
//!   task and the HTTP server, stopped within the drain deadline.
//! - [`stage`]: the pipeline's sink of the service: aggregation, metrics, idle-pod
//!   eviction, the pods view and the alert feed (its own thread).
//! - [`learn`]: the model's lifecycle: a reservoir of recent lines and periodic retraining.
//! - [`http`]: axum routes; [`evidence`]: `POST /api/v1/alertmanager`, log evidence for
//!   Prometheus alerts; [`summary`]: `GET /api/v1/summary`, a period of Loki as Markdown.
//! - [`listen`]: `replay --listen`: a file as the source, optionally paced in log time, for
//!   trying dashboards without a Loki.

pub mod evidence;
pub mod http;
pub mod learn;
pub mod listen;
pub mod service;
pub mod stage;
pub mod summary;

pub use stage::{PodView, Shared, StageConfig};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

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

/// Serves the HTTP routes on `listener` until `shutdown` completes.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, http::router(shared), shutdown).await
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
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
