//! What one incident row holds, and how rows are chosen for reading.

use serde::{Deserialize, Serialize};

use crate::alert::{Message, Notice, NoticeKind, Scope, SeenBefore};
use crate::event::rfc3339;

/// Whether an incident is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Announced, not resolved yet.
    Open,
    /// Announced and resolved.
    Resolved,
}

impl Status {
    /// `open` or `resolved`, as stored and as the filters take it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Resolved => "resolved",
        }
    }

    /// Reads `open` or `resolved`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Status::Open),
            "resolved" => Some(Status::Resolved),
            _ => None,
        }
    }
}

/// One of an incident's top lines, redacted and cut as the alert showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentLine {
    /// RFC 3339 time of the line.
    pub ts: String,
    /// Its anomaly score.
    pub score: f64,
    /// The line, redacted.
    pub line: String,
}

/// One alert episode of one pod: a row of the `incidents` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable across restarts and replays: `namespace/pod/start in ns`, so that writing the
    /// same episode again updates its row instead of adding one.
    pub id: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The group the pod was announced in (`namespace:shop`, `cause:redis`, `cluster`),
    /// `None` when announced alone.
    pub grouped_in: Option<String>,
    /// Open or resolved.
    pub status: Status,
    /// When the episode started (Unix ns).
    pub started_ns: i64,
    /// When it ended (Unix ns), once resolved.
    pub ended_ns: Option<i64>,
    /// Highest burst score of the episode.
    pub peak_burst: f64,
    /// The burst score at which a pod turns anomalous.
    pub threshold: f64,
    /// The kind of trouble (`crash`, `connection_refused`, …).
    pub category: String,
    /// The other workload its lines name most often.
    pub dependency: Option<String>,
    /// The episode's most anomalous lines, redacted, highest score first.
    pub top_lines: Vec<IncidentLine>,
    /// The model that scored the lines: when it was trained (RFC 3339).
    pub model_version: String,
    /// When the row was last written (Unix ns, log time in a replay).
    pub updated_ns: i64,
    /// The past incidents most like this one when it opened ("seen this before").
    #[serde(default)]
    pub seen_before: Vec<SeenBefore>,
}

impl Incident {
    /// The stable id of the episode of `namespace/pod` that started at `started_ns`.
    pub fn id_of(namespace: &str, pod: &str, started_ns: i64) -> String {
        format!("{namespace}/{pod}/{started_ns}")
    }

    /// The start as RFC 3339.
    pub fn started(&self) -> String {
        rfc3339(self.started_ns)
    }

    /// The end as RFC 3339, once resolved.
    pub fn ended(&self) -> Option<String> {
        self.ended_ns.map(rfc3339)
    }
}

/// The incident rows of a notice: one per pod it names, with the lines `message` shows
/// (`message` is built from `notice`, so its pods come in the same order).
pub fn from_message(notice: &Notice, message: &Message, model_version: &str) -> Vec<Incident> {
    let grouped_in = message.scope.as_ref().map(|s| match s {
        Scope::Namespace(ns) => format!("namespace:{ns}"),
        Scope::Cause(workload) => format!("cause:{workload}"),
        Scope::Cluster => "cluster".to_string(),
    });
    notice
        .alerts()
        .iter()
        .zip(&message.pods)
        .map(|(alert, view)| Incident {
            id: Incident::id_of(&alert.namespace, &alert.pod, alert.since_ns),
            namespace: alert.namespace.clone(),
            pod: alert.pod.clone(),
            grouped_in: grouped_in.clone(),
            status: match alert.kind {
                NoticeKind::Resolved => Status::Resolved,
                NoticeKind::Firing | NoticeKind::Reminder => Status::Open,
            },
            started_ns: alert.since_ns,
            ended_ns: alert.ended_ns,
            peak_burst: view.peak_burst,
            threshold: view.threshold,
            category: alert.category.id().to_string(),
            dependency: alert.dependency.clone(),
            top_lines: view
                .top_lines
                .iter()
                .map(|l| IncidentLine {
                    ts: l.ts.clone(),
                    score: l.score,
                    line: l.line.clone(),
                })
                .collect(),
            model_version: model_version.to_string(),
            updated_ns: alert.at_ns,
            seen_before: view.seen_before.clone(),
        })
        .collect()
}

/// Which incidents to read; every field narrows the choice, none set means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this pod.
    pub pod: Option<String>,
    /// Only incidents still going on at or after this time (Unix ns): ended at or after it,
    /// or open.
    pub from_ns: Option<i64>,
    /// Only incidents that started at or before this time (Unix ns).
    pub to_ns: Option<i64>,
    /// Only open, or only resolved, incidents.
    pub status: Option<Status>,
    /// At most this many, latest start first.
    pub limit: Option<u32>,
}

/// Incidents listed when the filter sets no limit.
pub const DEFAULT_LIMIT: u32 = 100;

/// The filters as people write them, in `GET /api/v1/incidents?…` and on the command line:
/// times in RFC 3339, status as `open` or `resolved`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this pod.
    pub pod: Option<String>,
    /// Only incidents still going on at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Only incidents that started at or before this time (RFC 3339).
    pub to: Option<String>,
    /// `open` or `resolved`.
    pub status: Option<String>,
    /// At most this many (default 100), latest start first.
    pub limit: Option<u32>,
}

impl Query {
    /// The filter, or what is wrong with a value.
    pub fn filter(&self) -> Result<Filter, String> {
        let status = match &self.status {
            Some(s) => Some(
                Status::parse(s).ok_or(format!("status must be open or resolved, not {s:?}"))?,
            ),
            None => None,
        };
        Ok(Filter {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            from_ns: self
                .from
                .as_deref()
                .map(|t| parse_time("from", t))
                .transpose()?,
            to_ns: self
                .to
                .as_deref()
                .map(|t| parse_time("to", t))
                .transpose()?,
            status,
            limit: self.limit,
        })
    }
}

fn parse_time(key: &str, t: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos() as i64)
        .map_err(|e| format!("{key} must be an RFC 3339 time such as 2026-01-02T03:04:05Z ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_becomes_a_filter_and_bad_values_are_named() {
        let q = Query {
            from: Some("1970-01-01T00:00:01Z".into()),
            status: Some("open".into()),
            ..Query::default()
        };
        let f = q.filter().unwrap();
        assert_eq!(f.from_ns, Some(1_000_000_000));
        assert_eq!(f.status, Some(Status::Open));
        let bad = Query {
            status: Some("closed".into()),
            ..Query::default()
        };
        assert!(bad.filter().unwrap_err().contains("status"));
        let bad = Query {
            to: Some("yesterday".into()),
            ..Query::default()
        };
        assert!(bad.filter().unwrap_err().starts_with("to must be"));
    }
}
