//! `[push]`: the push receiver's settings, checked once at start-up.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::loki::LabelsConfig;

/// `[push]`: `POST /loki/api/v1/push` on the service's listen address, so that log
/// shippers (Promtail, Grafana Alloy, Vector) send loganomaly a copy of every line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Serve the push endpoint (a `[push]` section turns it on unless this is false).
    pub enabled: bool,
    /// Largest request body accepted, in bytes, as sent (compressed); larger is a 413.
    pub max_body_bytes: usize,
    /// Largest body once decompressed (snappy or gzip), in bytes; larger is a 413.
    pub max_decoded_bytes: usize,
    /// Lines accepted but not yet handed to the scorer. A push that does not fit in full
    /// waits up to `queue_wait`, then is refused with 429 and `Retry-After`, whole, so the
    /// shipper retries it and no line is scored twice.
    pub queue_lines: usize,
    /// How long a push may wait for room in the queue before its 429.
    #[serde(with = "humantime_serde")]
    pub queue_wait: Duration,
    /// Lines longer than this many bytes are cut (and counted) before scoring; unset:
    /// `[loki] max_line_bytes`, or 16 KiB.
    pub max_line_bytes: Option<usize>,
    /// Record the `X-Scope-OrgID` header as this stream label (e.g. `"tenant"`); unset:
    /// not recorded, so pushed streams carry the same labels as those read from Loki.
    pub tenant_label: Option<String>,
    /// When not empty, only these `X-Scope-OrgID` values may push (401 without the
    /// header, 403 for another tenant); empty: any, header optional.
    pub tenants: Vec<String>,
    /// Which labels name the namespace, pod and container; unset: `[loki.labels]`, or
    /// the defaults.
    pub labels: Option<LabelsConfig>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_body_bytes: 16 * 1024 * 1024,
            max_decoded_bytes: 128 * 1024 * 1024,
            queue_lines: 100_000,
            queue_wait: Duration::from_millis(500),
            max_line_bytes: None,
            tenant_label: None,
            tenants: Vec::new(),
            labels: None,
        }
    }
}

/// A `[push]` setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PushConfigError {
    /// The key under `[push]`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl PushConfig {
    /// Checks ranges that types cannot express.
    pub fn validate(&self) -> Result<(), PushConfigError> {
        let bad = |key, message: &str| {
            Err(PushConfigError {
                key,
                message: message.to_string(),
            })
        };
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes", "must be at least 1024");
        }
        if self.max_decoded_bytes < self.max_body_bytes {
            return bad("max_decoded_bytes", "must be at least max_body_bytes");
        }
        if self.queue_lines == 0 || self.queue_lines > u32::MAX as usize {
            return bad("queue_lines", "must be 1 to 4294967295");
        }
        if self.queue_wait > Duration::from_secs(30) {
            return bad("queue_wait", "must be at most 30s (shippers time out)");
        }
        if self.max_line_bytes.is_some_and(|m| m < 64) {
            return bad("max_line_bytes", "must be at least 64");
        }
        if let Some(t) = &self.tenant_label {
            let mut c = t.chars();
            let ok = matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
                && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !ok {
                return bad(
                    "tenant_label",
                    "must be a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                );
            }
        }
        if self.tenants.iter().any(|t| t.is_empty()) {
            return bad("tenants", "an empty tenant name never matches");
        }
        if self.labels.as_ref().is_some_and(|l| l.pod.is_empty()) {
            return bad("labels.pod", "name at least one pod label");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_each_rule_names_its_key() {
        PushConfig::default().validate().unwrap();
        type Set = fn(&mut PushConfig);
        let cases: [(Set, &str); 7] = [
            (|c| c.max_body_bytes = 10, "max_body_bytes"),
            (|c| c.max_decoded_bytes = 1024, "max_decoded_bytes"),
            (|c| c.queue_lines = 0, "queue_lines"),
            (|c| c.queue_wait = Duration::from_secs(60), "queue_wait"),
            (|c| c.max_line_bytes = Some(1), "max_line_bytes"),
            (|c| c.tenant_label = Some("1x".into()), "tenant_label"),
            (|c| c.tenants = vec![String::new()], "tenants"),
        ];
        for (set, key) in cases {
            let mut c = PushConfig::default();
            set(&mut c);
            assert_eq!(c.validate().unwrap_err().key, key);
        }
    }
}
