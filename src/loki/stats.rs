//! Counters of the live source, for Prometheus: plain atomics the exporter reads.
//!
//! The source never pokes a counter directly: each event is one method that both bumps
//! its counter and logs when a person should know.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use super::error::LokiError;

/// What the Loki source did since it started. Every line received is delivered, or
/// counted as a duplicate, another shard's, or deferred to reconciliation.
#[derive(Debug, Default)]
pub struct LokiStats {
    /// Entries read from Loki (tail and query_range), duplicates included.
    pub lines_received: AtomicU64,
    /// Lines handed to the scorer (each exactly once).
    pub lines_delivered: AtomicU64,
    /// Entries skipped because they had been delivered already (tail vs. reconciliation,
    /// or the overlap of pages).
    pub duplicates_dropped: AtomicU64,
    /// Entries the tail reported in `dropped_entries` (reconciliation recovers them).
    pub dropped_entries_reported: AtomicU64,
    /// Lines the tail never delivered, found and delivered late by reconciliation.
    pub lines_recovered: AtomicU64,
    /// Entries of streams owned by another shard (`--shard`), skipped.
    pub lines_other_shards: AtomicU64,
    /// Lines cut to `max_line_bytes` before scoring.
    pub lines_truncated: AtomicU64,
    /// Tail entries left to reconciliation because the dedup memory was full.
    pub lines_deferred: AtomicU64,
    /// Groups of entries not read completely: more than `page_limit` entries of *one*
    /// stream at one nanosecond (Loki cannot page within a timestamp; more than
    /// `page_limit` at one nanosecond over several streams is read stream by stream).
    /// Should stay 0; each is logged as an error.
    pub unpageable_groups: AtomicU64,
    /// Reconnections after an error or a closed tail.
    pub reconnects: AtomicU64,
    /// Failed requests or connections.
    pub errors: AtomicU64,
    /// Failed writes of the state file (`state_file`): while they fail, a restart would
    /// resume from an older point.
    pub state_save_failures: AtomicU64,
    /// Now minus the timestamp of the last line handed to the scorer, in milliseconds.
    pub ingest_lag_ms: AtomicU64,
    /// Whether the last request (and, in tail mode, the tail) succeeded.
    pub connected: AtomicBool,
    /// The last error, for a status page (never holds a secret).
    pub last_error: Mutex<String>,
}

impl LokiStats {
    /// Ingest lag in seconds.
    pub fn ingest_lag_seconds(&self) -> f64 {
        self.ingest_lag_ms.load(Relaxed) as f64 / 1000.0
    }

    /// The last error, or an empty string.
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    pub(crate) fn state_save_failed(&self) {
        self.state_save_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn received(&self, n: u64) {
        self.lines_received.fetch_add(n, Relaxed);
    }

    pub(crate) fn duplicates(&self, n: u64) {
        self.duplicates_dropped.fetch_add(n, Relaxed);
    }

    pub(crate) fn other_shards(&self, n: u64) {
        self.lines_other_shards.fetch_add(n, Relaxed);
    }

    pub(crate) fn recovered(&self, n: u64) {
        if n > 0 {
            tracing::debug!("reconciliation recovered {n} lines the tail missed");
            self.lines_recovered.fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn deferred(&self) {
        self.lines_deferred.fetch_add(1, Relaxed);
    }

    pub(crate) fn truncated(&self) {
        self.lines_truncated.fetch_add(1, Relaxed);
    }

    pub(crate) fn dropped_reported(&self, n: u64) {
        if n > 0 {
            tracing::debug!("Loki's tail dropped {n} entries; reconciliation will read them");
            self.dropped_entries_reported.fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn unpageable(&self, limit: u32, stream: &str, ts: i64) {
        tracing::error!(
            "{stream} has more than {limit} entries at {ts} ns; only {limit} could be read (Loki cannot page within one nanosecond)"
        );
        self.unpageable_groups.fetch_add(1, Relaxed);
    }

    pub(crate) fn delivered(&self, ts_ns: i64, now_ns: i64) {
        self.lines_delivered.fetch_add(1, Relaxed);
        let lag = (now_ns.saturating_sub(ts_ns) / 1_000_000).max(0) as u64;
        self.ingest_lag_ms.store(lag, Relaxed);
    }

    pub(crate) fn ok(&self) {
        self.connected.store(true, Relaxed);
    }

    pub(crate) fn failed(&self, what: &str, e: &LokiError, retry_in: Duration) {
        tracing::warn!("{what}: {e}; retrying in {retry_in:.1?}");
        self.errors.fetch_add(1, Relaxed);
        self.reconnects.fetch_add(1, Relaxed);
        self.connected.store(false, Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = e.to_string();
        }
    }
}
