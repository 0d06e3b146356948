//! The push receiver: `POST /loki/api/v1/push` in `serve`, so that log shippers
//! (Promtail, Grafana Alloy, Vector) send loganomaly a copy of every line they send Loki.
//!
//! - [`wire`]: Loki's push formats, decoded: snappy protobuf `logproto.PushRequest` and
//!   its JSON form (optionally gzipped); the label-set text parser.
//! - [`config`]: `[push]`, validated once.
//! - [`receiver`]: the handler, its all-or-nothing bounded queue (429 when full) and the
//!   task that forwards accepted lines into the same stage as the Loki source.

pub mod config;
pub mod receiver;
pub mod wire;

pub use config::PushConfig;
pub use receiver::{receiver, PushSettings, PUSH_PATH};
