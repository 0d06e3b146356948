//! Generic JSON webhook: one `POST` per message with the documented payload below.
//!
//! ```json
//! {
//!   "version": 1,
//!   "status": "firing",            // "firing" | "reminder" | "resolved"
//!   "scope": "pod",                // "pod" | "namespace" | "cluster"
//!   "namespace": "payments",       // the group's namespace; null for "cluster"
//!   "summary": "payments/postgres-0 is logging abnormally (crash / panic): …",
//!   "explanation": null,           // the LLM's likely cause, when configured and in time
//!   // "follow_up": "KubePodCrashLooping": only on the log evidence of a Prometheus alert
//!   "alerts": [{
//!     "namespace": "payments", "pod": "postgres-0", "status": "firing",
//!     "since": "2023-11-14T23:12:00Z", "at": "2023-11-14T23:14:00Z", "ended": null,
//!     "burst": 84.0, "peak_burst": 84.0, "threshold": 9.0,
//!     "line_score": 0.76, "line_threshold": 0.615, "anomalous_lines": 43,
//!     "category": "crash", "category_label": "crash / panic",
//!     "check_first": "Read the previous container's logs …",
//!     "dependency": null,          // another workload its lines name, e.g. "payments-db"
//!     "top_lines": [{ "ts": "2023-11-14T23:12:03.123Z", "score": 0.78, "line": "…redacted…" }],
//!     "dashboard_url": "https://grafana…", "logs_url": "https://grafana…/explore…",
//!     "seen_before": [{ "id": "payments/postgres-0/1699913520000000000",
//!       "namespace": "payments", "pod": "postgres-0", "started": "2023-11-13T23:12:00Z",
//!       "lasted_minutes": 14, "similarity": 0.97 }]   // past incidents most like this one
//!   }]
//! }
//! ```

use std::time::Duration;

use serde::Serialize;

use serde_json::Value;

use super::config::AlertConfig;
use super::error::AlertError;
use super::message::{Message, PodView};
use super::notifier::{secret_url, Setup, Stateless};
use super::outbox::{Auth, Target};
use super::policy::{NoticeKind, Scope};

/// The webhook payload (see the module docs for an example).
#[derive(Debug, Serialize)]
pub struct WebhookPayload<'a> {
    /// Payload format version; bumped on incompatible changes.
    pub version: u32,
    /// `firing`, `reminder` or `resolved`.
    pub status: &'static str,
    /// `pod`, `namespace`, `cause` or `cluster`.
    pub scope: &'static str,
    /// The namespace of a pod or namespace message.
    pub namespace: Option<&'a str>,
    /// The workload a `cause` message's pods name: the likely cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'a str>,
    /// One line for humans.
    pub summary: String,
    /// The LLM's likely cause, when available.
    pub explanation: Option<&'a str>,
    /// The Prometheus alert (`alertname`) this message follows up with log evidence;
    /// absent on loganomaly's own alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<&'a str>,
    /// The pods, most anomalous first.
    pub alerts: &'a [PodView],
}

/// `[webhook]`: one [`WebhookPayload`] per notice to the URL (a secret, checked), with an
/// optional bearer token.
pub(super) fn setup(cfg: &AlertConfig) -> Result<Option<Setup>, AlertError> {
    let Some(w) = &cfg.webhook else {
        return Ok(None);
    };
    let url = secret_url(&w.url, "webhook.url")?;
    let auth = match &w.bearer_token {
        Some(t) => Auth::Bearer(t.resolve("webhook.bearer_token")?),
        None => Auth::None,
    };
    let notifier = Box::new(Stateless {
        name: "webhook",
        render,
    });
    Ok(Some(Setup {
        notifier,
        target: Target {
            url,
            auth,
            pace: Duration::ZERO,
        },
    }))
}

/// The payload for `msg`.
pub fn render(msg: &Message) -> Value {
    let (scope, namespace) = match &msg.scope {
        None => ("pod", msg.pods.first().map(|p| p.namespace.as_str())),
        Some(Scope::Namespace(ns)) => ("namespace", Some(ns.as_str())),
        Some(Scope::Cluster) => ("cluster", None),
        Some(Scope::Cause(_)) => ("cause", None),
    };
    let payload = WebhookPayload {
        version: 1,
        status: match msg.kind {
            NoticeKind::Firing => "firing",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Resolved => "resolved",
        },
        scope,
        namespace,
        cause: match &msg.scope {
            Some(Scope::Cause(w)) => Some(w.as_str()),
            _ => None,
        },
        summary: msg.summary(),
        explanation: msg.explanation.as_deref(),
        follow_up: msg.follow_up.as_deref(),
        alerts: &msg.pods,
    };
    serde_json::to_value(&payload).unwrap_or(Value::Null)
}
