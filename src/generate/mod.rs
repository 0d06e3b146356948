//! Deterministic generator of realistic Kubernetes logs with labelled incidents.
//!
//! It writes what Grafana Loki would return for a two-hour `query_range` over a small
//! production cluster (six nodes, seven namespaces, ~65 pods, 72 container streams),
//! plus a JSON Lines file naming every abnormal line. It produces the bundled sample
//! `dataset/sample-loki-logs.json` and larger benchmark inputs.
//!
//! # What is in the logs
//!
//! Families, each realistic to the byte with seeded variable parts: ingress-nginx access
//! and error logs (plus its klog controller lines), zap JSON (Go), pino JSON (Node),
//! go-kit logfmt, Prometheus / Loki / Grafana / Grafana Agent / Alertmanager logfmt, klog
//! (kube-proxy, kube-controller-manager, kube-scheduler), Spring Boot with one-entry-per-
//! frame stack traces, JVM GC logs, PostgreSQL, Redis, CoreDNS, Kafka (log4j), Istio
//! sidecar (Envoy) access logs and Kubernetes events from an event exporter. Normal traffic
//! includes health checks, cache misses, GC pauses, retries that succeed, slow-but-fine
//! queries, a rollout, cron jobs and one config reload.
//!
//! # Timeline and labels
//!
//! The span is always 2023-11-14T22:13:20Z plus two hours; more lines mean a busier
//! cluster, not a longer span. The first 40 % is incident-free; then six incidents, each
//! confined to some pods and a window: `auth_failure` (42–52 %), `crashloop` (50–68 %),
//! `db_conn_refused` (~60 %, two minutes), `oom` (two cycles at ~70 % and ~80 %),
//! `latency` (78–86 %) and `novel_error` (from the certificate expiry at midnight UTC to
//! 98 %). Only abnormal lines are labelled; incident pods keep logging normally.
//! Traffic-driven incidents scale with the line count, clock-driven ones (crash-loop
//! back-off, OOM cycles, the database restart) do not.
//!
//! # Guarantees
//!
//! * Exactly `lines` log lines; values of each stream strictly increase in time, and no
//!   two lines of one pod (even in different containers) share a timestamp, so labels
//!   keyed by `(pod, ts)` are unique.
//! * Same `(lines, seed)` gives byte-identical files; each stream has its own
//!   Xoshiro256++ generator seeded from the seed and its index.
//! * Memory does not grow with `lines`: one stream at a time, one event at a time.

mod apps;
mod clock;
mod config;
mod datastores;
mod driver;
mod edge;
mod error;
mod events;
mod fake;
mod families;
mod incidents;
mod planned;
mod platform;
mod schedule;
mod shapes;
mod stream;
mod topology;
mod writer;

#[cfg(test)]
mod tests;

pub use config::{
    GenerateConfig, GenerateSummary, Label, DEFAULT_LINES, DEFAULT_SEED, SPAN_SECS, START_UNIX_SECS,
};
pub use driver::generate;
pub use error::GenerateError;
