//! The HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `/api/v1/pods`,
//! `/api/v1/sessions`, `/api/v1/incidents`, `/api/v1/summary` and (`POST`)
//! `/api/v1/alertmanager`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::stage::Shared;

/// OpenMetrics content type, which Prometheus negotiates for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The service's routes over the shared state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/pods", get(pods))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/alertmanager", post(super::evidence::alertmanager))
        .route("/api/v1/summary", get(super::summary::summary))
        .with_state(shared)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    match shared.metrics.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n").into_response(),
    }
}

/// The process is alive and answering.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when a model is loaded and the source is connected (or finished, for a replay).
async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.ready() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let why = if shared.model().is_none() {
        "no model loaded yet\n"
    } else if !shared.source_connected.load(Ordering::Relaxed) {
        "log source not connected\n"
    } else {
        "not ready\n"
    };
    (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
}

async fn pods(State(shared): State<Arc<Shared>>) -> Response {
    match shared.pods.read() {
        Ok(view) => Json(view.clone()).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "pods view unavailable\n").into_response(),
    }
}

/// The latest anomalous sessions, newest first.
async fn sessions(State(shared): State<Arc<Shared>>) -> Response {
    match shared.sessions.read() {
        Ok(view) => Json(view.iter().rev().cloned().collect::<Vec<_>>()).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "sessions view unavailable\n",
        )
            .into_response(),
    }
}

/// The incident history, filtered by the query string (see [`crate::incident::Query`]);
/// read on a blocking thread with a connection of its own, so it never waits for the writer.
async fn incidents(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<crate::incident::Query>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(db) = shared.incidents.get().cloned() else {
        let why = "no incident history: set [alerting.incidents] in the config\n";
        return (StatusCode::NOT_FOUND, why).into_response();
    };
    let filter = match query.map_err(|e| e.body_text()).and_then(|q| q.filter()) {
        Ok(f) => f,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    let read = tokio::task::spawn_blocking(move || crate::incident::connect(&db)?.list(&filter));
    match read.await {
        Ok(Ok(rows)) => Json(rows).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "reading the incident history failed");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "read failed\n").into_response(),
    }
}
