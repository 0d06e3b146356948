//! Alerting: policy, redaction, Slack delivery, explain, Alertmanager, end to end.

mod alertmanager;
mod chat;
mod e2e;
mod explain;
mod gap;
mod policy;
mod redact;
mod slack;
mod support;
