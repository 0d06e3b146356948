//! What the caller asks for ([`GenerateConfig`]) and what it gets back ([`GenerateSummary`]),
//! plus the incident labels written to the labels file.

use std::collections::BTreeMap;

use serde::Serialize;

/// Default number of log lines: the size of the bundled sample data set.
pub const DEFAULT_LINES: u64 = 100_000;

/// Default RNG seed of the bundled sample data set.
pub const DEFAULT_SEED: u64 = 42;

/// First second of the generated time span (2023-11-14T22:13:20Z).
pub const START_UNIX_SECS: u64 = 1_700_000_000;

/// Length of the generated time span in seconds (two hours, whatever the line count).
///
/// The span is fixed so that a larger `lines` means a busier cluster, not a longer one:
/// incident windows, cron jobs and restarts stay at the same wall-clock times.
pub const SPAN_SECS: u64 = 7_200;

/// Parameters of one generated data set.
///
/// The output is a pure function of these two numbers: the same config always gives
/// byte-identical files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateConfig {
    /// Exact number of log lines to write, over all streams.
    pub lines: u64,
    /// Seed of every random choice (pod names, rates, variable parts of lines).
    pub seed: u64,
}

impl Default for GenerateConfig {
    /// The bundled sample: 100 000 lines, seed 42.
    fn default() -> Self {
        GenerateConfig {
            lines: DEFAULT_LINES,
            seed: DEFAULT_SEED,
        }
    }
}

/// Kind of abnormal line, as written in the `label` field of the labels file.
///
/// Each incident of the generated timeline produces lines of exactly one label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A Go worker panics on a nil pointer after every restart (CrashLoopBackOff).
    Crashloop,
    /// A Java service runs out of heap and is OOM-killed.
    Oom,
    /// Postgres goes down; the apps of its namespace cannot connect.
    DbConnRefused,
    /// Credential-stuffing storm against the auth service.
    AuthFailure,
    /// An error family never seen earlier in the data (expired TLS certificate).
    NovelError,
    /// A backend stalls: ingress 504s, slow requests and deadline errors.
    Latency,
}

impl Label {
    /// All labels, in a fixed order.
    pub const ALL: [Label; 6] = [
        Label::Crashloop,
        Label::Oom,
        Label::DbConnRefused,
        Label::AuthFailure,
        Label::NovelError,
        Label::Latency,
    ];

    /// The label as written in the labels file (`"db_conn_refused"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Crashloop => "crashloop",
            Label::Oom => "oom",
            Label::DbConnRefused => "db_conn_refused",
            Label::AuthFailure => "auth_failure",
            Label::NovelError => "novel_error",
            Label::Latency => "latency",
        }
    }
}

/// Label and incident name of one abnormal line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tag {
    /// What kind of abnormal line this is.
    pub label: Label,
    /// Name of the incident it belongs to (`"oom-orders"`, ...).
    pub incident: &'static str,
}

/// What one call of `generate` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenerateSummary {
    /// Log lines written (equals the requested count).
    pub lines: u64,
    /// Loki streams (namespace, pod, container) that got at least one line.
    pub streams: usize,
    /// Distinct pods among those streams.
    pub pods: usize,
    /// Distinct namespaces among those streams.
    pub namespaces: usize,
    /// Labelled (abnormal) lines per label; labels with no line are absent.
    pub labelled: BTreeMap<Label, u64>,
    /// Timestamp of the earliest line, Unix nanoseconds.
    pub first_ns: u64,
    /// Timestamp of the latest line, Unix nanoseconds.
    pub last_ns: u64,
    /// Bytes written to the log file.
    pub log_bytes: u64,
}

impl GenerateSummary {
    /// Total number of labelled lines over all labels.
    pub fn labelled_total(&self) -> u64 {
        self.labelled.values().sum()
    }
}
