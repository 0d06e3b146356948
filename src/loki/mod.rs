//! The live Loki source: every line of the selected streams, scored exactly once.
//!
//! Two readers share one ledger per selector:
//! - a *complete reader* pages `query_range` over `[watermark, now - settle)` (forward,
//!   `limit` ≤ 5000, `start` inclusive, `end` exclusive), so every line Loki holds in a
//!   settled window is read; the watermark moves up page by page;
//! - in `tail` mode, a *websocket tail* delivers lines within about a second; the tail is
//!   lossy under load (reported in `dropped_entries`, or not at all), so the reader's next
//!   window delivers what the tail missed, late rather than never.
//!
//! An entry (stream labels, timestamp, line) is claimed under one lock by whichever
//! reader sees it first, so it reaches the scorer once. After a closed tail, a restarted
//! Loki or a network error, reading resumes from the watermark with exponential backoff
//! and jitter. The channel to the scorer is bounded: when it is full, reading waits.
//!
//! Files: [`config`](LokiConfig) settings; `auth` secrets and TLS; `wire` JSON types;
//! `query` HTTP and paging; `tail` websocket; `ledger` exactly-once bookkeeping;
//! `shard` stream sharding; `source` the tasks; `state` the resume points kept across
//! restarts (`state_file`); `stats` counters; `error` errors.

mod auth;
mod config;
mod error;
mod ledger;
mod query;
mod shard;
mod source;
mod state;
mod stats;
mod tail;
mod wire;

pub use auth::{PASSWORD_ENV, TOKEN_ENV};
pub use config::{LabelsConfig, LokiConfig, Mode};
pub use error::LokiError;
pub use shard::Shard;
pub use source::{check, run};
pub use stats::LokiStats;
