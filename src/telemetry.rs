//! The service's own events: one small type per thing that happens, which logs it and
//! counts it in the exported [`Metrics`] in one place (the habit of Vector's internal
//! events), so that stages say what happened instead of poking counters.

use std::time::Duration;

use crate::metrics::Metrics;
use crate::pipeline::Dropped;

/// Something the service logs and counts.
pub trait Event {
    /// Logs the event and records it in `metrics`.
    fn emit(self, metrics: &Metrics);
}

/// Lines arrived from the source, before scoring.
#[derive(Debug, Clone, Copy)]
pub struct LinesReceived {
    /// How many.
    pub lines: u64,
}

impl Event for LinesReceived {
    fn emit(self, metrics: &Metrics) {
        tracing::trace!(lines = self.lines, "lines received");
        metrics.lines_ingested.inc_by(self.lines);
    }
}

/// A batch was scored.
#[derive(Debug, Clone, Copy)]
pub struct BatchScored {
    /// Lines in the batch.
    pub lines: u64,
    /// How long scoring took.
    pub took: Duration,
    /// Seconds from the newest line's timestamp to now, for a live source.
    pub lag_seconds: Option<f64>,
}

impl Event for BatchScored {
    fn emit(self, metrics: &Metrics) {
        tracing::trace!(lines = self.lines, took = ?self.took, "batch scored");
        metrics.lines_scored.inc_by(self.lines);
        metrics
            .scoring_duration_seconds
            .observe(self.took.as_secs_f64());
        if let Some(lag) = self.lag_seconds {
            metrics.ingest_lag_seconds.set(lag.max(0.0));
        }
    }
}

/// Lines were read but not scored.
#[derive(Debug, Clone, Copy)]
pub struct LinesDropped {
    /// How many.
    pub lines: u64,
    /// Why.
    pub why: Dropped,
}

impl Event for LinesDropped {
    fn emit(self, metrics: &Metrics) {
        tracing::error!("{} lines dropped: {}", self.lines, self.why.as_str());
        metrics.lines_dropped.inc_by(self.lines);
    }
}

/// The number of pods tracked after idle ones were evicted.
#[derive(Debug, Clone, Copy)]
pub struct PodsTracked {
    /// Pods tracked now.
    pub pods: usize,
    /// Pods just evicted for being idle.
    pub evicted: usize,
}

impl Event for PodsTracked {
    fn emit(self, metrics: &Metrics) {
        if self.evicted > 0 {
            tracing::debug!(
                evicted = self.evicted,
                pods = self.pods,
                "idle pods evicted"
            );
        }
        metrics
            .pods_tracked
            .set(i64::try_from(self.pods).unwrap_or(i64::MAX));
    }
}

/// The source connected or lost its connection.
#[derive(Debug, Clone, Copy)]
pub struct SourceConnected {
    /// Whether it is connected now.
    pub up: bool,
}

impl Event for SourceConnected {
    fn emit(self, metrics: &Metrics) {
        metrics.source_up.set(i64::from(self.up));
    }
}

/// What the Loki source counted since the last report.
#[derive(Debug, Clone, Copy, Default)]
pub struct LokiProgress {
    /// Reconnections.
    pub reconnects: u64,
    /// Entries Loki said it dropped from the tail.
    pub dropped_entries: u64,
    /// Failed writes of the state file.
    pub state_save_failures: u64,
}

impl Event for LokiProgress {
    fn emit(self, metrics: &Metrics) {
        // logged by the source where each happens; counted here
        metrics.loki_reconnects.inc_by(self.reconnects);
        metrics.loki_dropped_entries.inc_by(self.dropped_entries);
        metrics
            .loki_state_save_failures
            .inc_by(self.state_save_failures);
    }
}

/// A push was accepted: its lines are queued for the scorer.
#[derive(Debug, Clone, Copy)]
pub struct PushAccepted {
    /// Lines queued.
    pub lines: u64,
    /// Of those, lines cut to the line limit.
    pub truncated: u64,
}

impl Event for PushAccepted {
    fn emit(self, metrics: &Metrics) {
        tracing::trace!(lines = self.lines, "push accepted");
        metrics.push_request(PushRefusal::NONE);
        metrics.push_lines.inc_by(self.lines);
        metrics.push_lines_truncated.inc_by(self.truncated);
    }
}

/// Why a push (or part of it) was refused; the `reason` label of its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushRefusal {
    /// The body is not a push request (400).
    BadRequest,
    /// Some streams have malformed labels; the others were queued (400).
    BadLabels,
    /// The body or its line count is over a limit (413).
    TooLarge,
    /// No room in the queue within `queue_wait` (429, retried by shippers).
    QueueFull,
    /// No `X-Scope-OrgID` where tenants are listed (401).
    Unauthorized,
    /// A tenant not listed (403).
    Forbidden,
    /// The service is stopping (503).
    Stopping,
}

impl PushRefusal {
    /// The `reason` label of accepted pushes.
    pub const NONE: &'static str = "accepted";

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::BadLabels => "bad_labels",
            Self::TooLarge => "too_large",
            Self::QueueFull => "queue_full",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Stopping => "stopping",
        }
    }

    /// The HTTP status answered.
    pub fn status(self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            Self::BadRequest | Self::BadLabels => S::BAD_REQUEST,
            Self::TooLarge => S::PAYLOAD_TOO_LARGE,
            Self::QueueFull => S::TOO_MANY_REQUESTS,
            Self::Unauthorized => S::UNAUTHORIZED,
            Self::Forbidden => S::FORBIDDEN,
            Self::Stopping => S::SERVICE_UNAVAILABLE,
        }
    }
}

/// A push, or some of its streams, was refused.
#[derive(Debug, Clone, Copy)]
pub struct PushRefused {
    /// Why.
    pub why: PushRefusal,
    /// Lines refused (0 when the body was not read that far).
    pub lines: u64,
}

impl Event for PushRefused {
    fn emit(self, metrics: &Metrics) {
        match self.why {
            PushRefusal::QueueFull => {
                tracing::debug!(lines = self.lines, "push refused: queue full")
            }
            why => tracing::warn!(lines = self.lines, "push refused: {}", why.as_str()),
        }
        metrics.push_request(self.why.as_str());
        metrics.push_lines_refused.inc_by(self.lines);
    }
}

/// Sessions went idle and were scored by the session model.
#[derive(Debug, Clone, Copy)]
pub struct SessionsScored {
    /// Sessions scored.
    pub scored: u64,
    /// Of those, at or above the session threshold.
    pub anomalous: u64,
    /// Sessions still open.
    pub open: usize,
}

impl Event for SessionsScored {
    fn emit(self, metrics: &Metrics) {
        if self.scored > 0 {
            tracing::debug!(
                scored = self.scored,
                anomalous = self.anomalous,
                "sessions scored"
            );
        }
        metrics.sessions_scored.inc_by(self.scored);
        metrics.sessions_anomalous.inc_by(self.anomalous);
        metrics
            .sessions_open
            .set(i64::try_from(self.open).unwrap_or(i64::MAX));
    }
}
