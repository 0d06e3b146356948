//! All integration tests build as one binary; one module per area.

mod alert;
mod cli;
mod common;
mod deploy;
mod incidents;
mod input;
mod loki;
mod prometheus;
mod props;
mod push;
mod scoring;
mod stage_latency;
