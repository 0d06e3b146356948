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
//! - [`replay`]: wires the stages for a file: a reader thread, rayon scoring, a consumer.
//! - [`report`], [`eval`]: the replay report and quality against labels.
//! - [`evaluate`]: detection quality on public labelled data sets (BGL, HDFS, Nezha).
//! - [`generate`]: the deterministic generator of the bundled sample.
//! - [`event`]: the value types passed between stages.
//! - [`bench`]: `loganomaly bench`, the reproducible throughput and memory figures.
//! - [`alert`]: alert policy, Slack/Alertmanager/webhook notifiers, redaction, delivery.

pub mod aggregate;
pub mod alert;
#[cfg(feature = "lab")]
pub mod bench;
pub mod bundled;
pub mod config;
pub mod eval;
#[cfg(feature = "lab")]
pub mod evaluate;
pub mod event;
#[cfg(feature = "lab")]
pub mod generate;
pub mod input;
pub mod loki;
pub mod metrics;
pub mod replay;
pub mod report;
pub mod serve;
mod sys;
