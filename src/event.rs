//! Value types that flow between the pipeline stages.
//!
//! A reader produces [`LogLine`]s, the scorer turns them into [`ScoredLine`]s and the
//! aggregator folds those into per-pod statistics. Stream labels are shared behind an
//! [`Arc`] because thousands of lines belong to the same stream.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The label names that identify a Kubernetes workload in a Loki stream.
///
/// Loki setups differ: Promtail uses `namespace`/`pod`/`container`, the OpenTelemetry
/// collector `k8s_namespace_name`/`k8s_pod_name`/`k8s_container_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelNames {
    /// Candidate label names for the namespace, first match wins.
    pub namespace: Vec<String>,
    /// Candidate label names for the pod, first match wins.
    pub pod: Vec<String>,
    /// Candidate label names for the container, first match wins.
    pub container: Vec<String>,
}

impl Default for LabelNames {
    fn default() -> Self {
        let both = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        Self {
            namespace: both("namespace", "k8s_namespace_name"),
            pod: both("pod", "k8s_pod_name"),
            container: both("container", "k8s_container_name"),
        }
    }
}

/// One log stream: its full label set and the workload it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stream {
    /// Namespace of the pod (empty when the stream has no such label).
    pub namespace: String,
    /// Pod name (for plain-text input, the file name).
    pub pod: String,
    /// Container name (empty when unknown).
    pub container: String,
    /// Every label of the stream, for output that must round-trip them.
    pub labels: BTreeMap<String, String>,
}

impl Stream {
    /// Builds a stream from its labels, picking namespace/pod/container with `names`.
    pub fn from_labels(labels: BTreeMap<String, String>, names: &LabelNames) -> Self {
        let pick = |keys: &[String]| {
            keys.iter()
                .find_map(|k| labels.get(k))
                .cloned()
                .unwrap_or_default()
        };
        Self {
            namespace: pick(&names.namespace),
            pod: pick(&names.pod),
            container: pick(&names.container),
            labels,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}", self.pod)?;
        } else {
            write!(f, "{}/{}", self.namespace, self.pod)?;
        }
        if !self.container.is_empty() {
            write!(f, " [{}]", self.container)?;
        }
        Ok(())
    }
}

/// A raw log line as read from a source.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Unix timestamp in nanoseconds (0 when the source carries none).
    pub ts_ns: i64,
    /// The stream the line belongs to.
    pub stream: Arc<Stream>,
    /// The line itself, possibly truncated to the configured maximum length.
    pub line: String,
}

/// A line with its anomaly score.
#[derive(Debug, Clone)]
pub struct ScoredLine {
    /// The line that was scored.
    pub log: LogLine,
    /// Isolation-forest anomaly score in (0, 1]; higher is more abnormal.
    pub score: f32,
    /// Whether the score is at or above the model's threshold.
    pub anomalous: bool,
}

/// The wall clock in Unix nanoseconds (0 before 1970), for lines and notices stamped
/// with the time they were read or decided.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Unix nanoseconds as RFC 3339 in UTC (the epoch when out of range), for reports.
pub fn rfc3339(ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}
