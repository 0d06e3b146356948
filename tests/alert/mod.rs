//! Alerting: policy, redaction, Slack delivery, explain, Alertmanager, log evidence for
//! Prometheus alerts, end to end.

mod alertmanager;
mod chat;
mod e2e;
mod evidence;
mod explain;
mod gap;
mod policy;
mod redact;
mod slack;
pub(crate) mod support;
