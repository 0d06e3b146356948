//! `POST /api/v1/alertmanager`: Alertmanager's webhook receiver. For each alert naming a
//! pod or a workload, it answers with what the service knows of those pods (the
//! `/api/v1/pods` view: burst history, top lines redacted, named dependency) and queues
//! that evidence for the alert task, which sends it to the notifiers as a follow-up.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::stage::{PodView, Shared};
use crate::alert::{AlertmanagerWebhook, Evidence, LineView, Subject};

/// The answer to one alert of the payload.
#[derive(Debug, Serialize)]
struct Answer<'a> {
    /// Who the alert is about.
    alert: &'a Subject,
    /// The pods it names that the service has seen, most anomalous first (empty: none of
    /// them is among the pods `/api/v1/pods` lists).
    pods: Vec<&'a PodView>,
}

/// The response body.
#[derive(Debug, Serialize)]
struct Reply<'a> {
    /// One answer per alert naming a pod or a workload.
    alerts: Vec<Answer<'a>>,
    /// Whether the evidence was queued for the notifiers (false: no notifier configured,
    /// or the queue full).
    follow_up_queued: bool,
}

/// Reads an Alertmanager webhook payload; 400 with the reason when it is not one
/// (Alertmanager does not retry a 4xx).
pub async fn alertmanager(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let payload = match AlertmanagerWebhook::parse(&body) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let subjects = payload.subjects();
    let view = match shared.pods.read() {
        Ok(view) => view.clone(),
        Err(_) => {
            let why = "pods view unavailable\n";
            return (StatusCode::INTERNAL_SERVER_ERROR, why).into_response();
        }
    };
    let line_threshold = shared.model().map_or(0.0, |m| m.threshold);
    let answers: Vec<Answer> = subjects
        .iter()
        .map(|alert| Answer {
            alert,
            pods: view
                .iter()
                .filter(|p| alert.names(&p.namespace, &p.pod))
                .collect(),
        })
        .collect();
    let evidence: Vec<Evidence> = answers
        .iter()
        .flat_map(|a| {
            a.pods
                .iter()
                .map(|p| evidence_of(a.alert, p, line_threshold))
        })
        .collect();
    let follow_up_queued = queue(&shared, evidence, &payload.receiver);
    Json(Reply {
        alerts: answers,
        follow_up_queued,
    })
    .into_response()
}

/// Queues `evidence` for the alert task without waiting; false when nothing is queued.
fn queue(shared: &Shared, evidence: Vec<Evidence>, receiver: &str) -> bool {
    let Some(tx) = shared.follow_ups.get() else {
        return false;
    };
    if evidence.is_empty() {
        return false;
    }
    match tx.try_send(evidence) {
        Ok(()) => true,
        Err(_) => {
            tracing::warn!(
                receiver,
                "follow-up queue full: this notification gets none"
            );
            false
        }
    }
}

/// One pod's evidence for `alert`, from its view.
fn evidence_of(alert: &Subject, p: &PodView, line_threshold: f32) -> Evidence {
    Evidence {
        subject: alert.clone(),
        namespace: p.namespace.clone(),
        pod: p.pod.clone(),
        burst: p.burst,
        peak_burst: p.peak_burst,
        score: p.score,
        line_threshold,
        anomalous_lines: p.anomalous_lines,
        dependency: p.dependency.clone(),
        top_lines: p
            .top_lines
            .iter()
            .map(|l| LineView {
                ts: l.ts.clone(),
                score: f64::from(l.score),
                line: l.line.clone(),
            })
            .collect(),
    }
}
