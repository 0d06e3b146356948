//! # loganomaly
//!
//! Watches Kubernetes logs and tells which pods started logging something abnormal.
//!
//! ## Layout
//! Data flows one way: read -> normalise -> featurise + score -> aggregate -> report.
//! - [`input`]: streaming readers for Loki `query_range` JSON, logcli JSONL and plain text.
//! - [`loki`]: the live source: Loki `query_range` polling and websocket tail, every line
//!   exactly once, with backfill, reconnects, backpressure and sharding.
//! - `loganomaly_model` (its own crate): normalise, TF-IDF, features, the forest, model files.
//! - [`aggregate`]: per-pod statistics (moving average, peaks, top lines).
//! - [`pipeline`]: the one wiring of every command: source thread, rayon scorer, sink.
//! - [`replay`]: a file through the pipeline into the per-pod report.
//! - [`report`], [`quality`]: the replay report and quality against labels.
//! - [`evaluate`]: detection quality on public labelled data sets (BGL, HDFS, Nezha).
//! - [`generate`]: the deterministic generator of the bundled sample.
//! - [`event`]: the value types passed between stages.
//! - [`bench`]: `loganomaly bench`, the reproducible throughput and memory figures.
//! - [`alert`]: alert policy, Slack/Alertmanager/webhook notifiers, redaction, delivery.
//! - [`http`]: the one rustls configuration and reqwest client (Loki and notifiers).
//! - [`retry`]: the one backoff with jitter and `Retry-After` reader (Loki and notifiers).
//! - [`secret`]: the one secret type (Loki credentials, notifier URLs and keys).

pub mod aggregate;
pub mod alert;
pub mod bench;
pub mod bundled;
pub mod config;
pub mod evaluate;
pub mod event;
pub mod generate;
pub mod http;
pub mod input;
pub mod loki;
pub mod metrics;
pub mod pipeline;
pub mod quality;
pub mod replay;
pub mod report;
pub mod retry;
pub mod secret;
pub mod serve;
mod sys;
pub mod telemetry;
