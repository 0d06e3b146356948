//! # loganomaly
//!
//! Watches Kubernetes logs and tells which pods started logging something abnormal.
//!
//! ## Layout
//! Data flows one way: read -> normalise -> featurise + score -> aggregate -> report,
//! export or alert. The model itself (normaliser, TF-IDF, features, templates, the forest,
//! sessions, model files) is its own crate, `loganomaly_model`, with no async runtime or
//! HTTP; the command line (clap) lives in the binary, `src/main.rs` and `src/cli/`.
//! - [`event`]: the value types passed between stages (`LogLine`, `ScoredLine`).
//! - [`input`]: streaming readers for Loki `query_range` JSON, logcli JSONL and plain text.
//! - [`loki`]: the live source: Loki `query_range` polling and websocket tail, every line
//!   exactly once, with backfill, reconnects, backpressure and sharding.
//! - [`push`]: the push receiver: `POST /loki/api/v1/push` (snappy protobuf or JSON, as
//!   Promtail, Alloy and Vector send it) into the same stage as the Loki source.
//! - [`bundled`]: the model trained on the sample, compiled in, used when none is named.
//! - [`pipeline`]: the one wiring of every command: source thread, rayon scorer, sink.
//! - [`aggregate`]: per-pod statistics (burst score per minute, peaks, top lines).
//! - [`replay`]: a file through the pipeline into the per-pod report.
//! - [`report`]: the replay report: what was read, how fast, which pods and why.
//! - [`quality`]: labels files and streaming quality against them, for the replay report.
//! - [`summary`]: `summarize`: a Markdown summary of a file (incidents, workloads, templates).
//! - [`serve`]: the long-running service: scoring stage, HTTP endpoints, model lifecycle.
//! - [`config`]: the service's TOML configuration, checked once at start-up.
//! - [`metrics`]: the Prometheus metrics: per-pod scores and the service's own health.
//! - [`telemetry`]: the service's own events, each logged and counted in one place.
//! - [`alert`]: alert policy, Slack/Alertmanager/webhook notifiers, redaction, delivery.
//! - [`incident`]: the incident history in SQLite or PostgreSQL, written off the alert path.
//! - [`http`]: the one rustls configuration and reqwest client (Loki and notifiers).
//! - [`retry`]: the one backoff with jitter and `Retry-After` reader (Loki and notifiers).
//! - [`secret`]: the one secret type (Loki credentials, notifier URLs and keys).
//!
//! With the feature `lab` (on by default), the offline tools the service does not need:
//! - [`generate`]: the deterministic generator of the bundled sample.
//! - [`evaluate`]: detection quality on public labelled data sets (BGL, HDFS, Nezha).
//! - [`bench`]: `loganomaly bench`, the reproducible throughput and memory figures.

#![warn(missing_docs)]

pub mod aggregate;
pub mod alert;
#[cfg(feature = "lab")]
pub mod bench;
pub mod bundled;
pub mod config;
#[cfg(feature = "lab")]
pub mod evaluate;
pub mod event;
#[cfg(feature = "lab")]
pub mod generate;
pub mod http;
pub mod incident;
pub mod input;
pub mod loki;
pub mod metrics;
pub mod pipeline;
pub mod push;
pub mod quality;
pub mod replay;
pub mod report;
pub mod retry;
pub mod secret;
pub mod serve;
pub mod summary;
mod sys;
pub mod telemetry;
