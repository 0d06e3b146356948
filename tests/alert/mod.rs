//! Alerting: policy, redaction, Slack delivery, explain, Alertmanager, end to end.

mod explain;
mod policy;
mod redact;
mod slack;
mod support;
