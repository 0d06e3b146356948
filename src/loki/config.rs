//! Typed connection settings, parsed once and validated before anything connects.
//!
//! Every field's `///` doubles as user documentation of the `loki:` section of the config
//! file. Durations are human strings (`"500ms"`, `"15m"`). Secrets are never fields: the
//! config names where they come from (a file, or the `LOGANOMALY_LOKI_*` environment
//! variables), see [`super::auth`].

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::LokiError;
use super::shard::Shard;
use crate::event::LabelNames;

/// How lines are read from Loki.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Poll `query_range` over a window trailing "now" by `settle`: complete and cheap,
    /// latency about `settle + poll_interval`.
    Poll,
    /// Websocket tail for sub-second latency, reconciled against `query_range` so that
    /// lines the tail lost are scored late rather than never.
    Tail,
}

/// The shortest time range a catch-up window is cut into (see
/// [`LokiConfig::catch_up_requests`]): shorter ones cost more requests than they save.
pub const CATCH_UP_PART: Duration = Duration::from_secs(30);

/// Connection and reading settings of the live Loki source.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LokiConfig {
    /// Base URL of Loki (or of its query frontend / gateway), e.g. `http://loki:3100`.
    pub url: String,
    /// LogQL stream selectors (optionally with line filters) whose lines are scored.
    /// They must not overlap: a stream matched by two selectors is scored by each.
    #[serde(default = "default_selectors")]
    pub selectors: Vec<String>,
    /// Tenant sent as `X-Scope-OrgID` (multi-tenant Loki); none for single-tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// User name for HTTP basic auth; the password is read from `password_file` or the
    /// `LOGANOMALY_LOKI_PASSWORD` environment variable.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the basic-auth password (a mounted Kubernetes secret).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// File holding a bearer token; else the `LOGANOMALY_LOKI_TOKEN` environment variable.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// PEM file of extra CA certificates trusted for `https://` (besides the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `poll` (complete, latency ≈ settle + poll interval) or `tail` (sub-second latency,
    /// reconciled for completeness).
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// History read at start, e.g. `15m` to warm up or train a model; `0s` starts at now.
    #[serde(default, with = "humantime_serde")]
    pub backfill: Duration,
    /// File where each selector's watermark is kept, so that a restart resumes where the
    /// last run stopped instead of `backfill` back: lines logged while the service was down
    /// are read, lines read before are not read again (in `tail` mode, the few seconds the
    /// tail delivered ahead of the reader are). Written atomically every few seconds while
    /// reading advances and on shutdown; put it on a persistent volume, one per replica.
    /// A missing file is a first run; an unusable one is reported and `backfill` used.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    /// With `state_file`: the most history read on start; a resume point older than this
    /// is brought forward (with a warning saying how much is skipped), so a service that
    /// was down for a week does not replay the week.
    #[serde(default = "default_max_catch_up", with = "humantime_serde")]
    pub max_catch_up: Duration,
    /// `query_range` requests in flight per selector while catching up: a window longer
    /// than [`CATCH_UP_PART`] × 2 (a backfill, a resume, a reconnect) is cut into up to
    /// this many time ranges read at once, their lines delivered in order. Loki 2.8 on two
    /// cores answered 429 from 8 at once; 1 reads one page after the other.
    #[serde(default = "default_catch_up_requests")]
    pub catch_up_requests: usize,
    /// How far the complete (query_range) window trails now: a line that reaches Loki
    /// later than this after its own timestamp is outside the exactly-once guarantee.
    #[serde(default = "default_settle", with = "humantime_serde")]
    pub settle: Duration,
    /// How often the window is advanced in `poll` mode.
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often, in `tail` mode, the tail is reconciled against `query_range`.
    #[serde(default = "default_reconcile_interval", with = "humantime_serde")]
    pub reconcile_interval: Duration,
    /// Entries per `query_range` page; at most Loki's `max_entries_limit_per_query`.
    #[serde(default = "default_page_limit")]
    pub page_limit: u32,
    /// Timeout to establish a TCP/TLS connection.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Timeout of one `query_range` request, body included.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// A tail that sends nothing (not even a ping; Loki pings every second) for this long
    /// is considered dead and reconnected.
    #[serde(default = "default_tail_idle_timeout", with = "humantime_serde")]
    pub tail_idle_timeout: Duration,
    /// First delay before reconnecting after an error; doubles up to `backoff_max`.
    #[serde(default = "default_backoff_min", with = "humantime_serde")]
    pub backoff_min: Duration,
    /// Longest delay between reconnection attempts.
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// `i/n`: keep only the streams whose label-set hash falls in shard `i` of `n`, so `n`
    /// replicas (e.g. a StatefulSet's ordinals) split the streams with no coordination.
    #[serde(default)]
    pub shard: Shard,
    /// Lines longer than this many bytes are cut (and counted) before scoring.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Largest `query_range` response body accepted, in bytes.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Most (stream, timestamp, line) keys remembered to deduplicate the tail against
    /// reconciliation; past it the tail leaves lines to reconciliation (counted).
    #[serde(default = "default_dedup_capacity")]
    pub dedup_capacity: usize,
    /// Which labels name the namespace, pod and container.
    #[serde(default)]
    pub labels: LabelsConfig,
    /// Read up to this time (Unix ns) and end instead of following the logs: a report over a
    /// past period (`summarize --since`). `poll` mode only; set by commands, not a config key.
    #[serde(skip)]
    pub until_ns: Option<i64>,
}

/// Candidate label names for the workload, first match wins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsConfig {
    /// Namespace label names (Promtail `namespace`, OpenTelemetry `k8s_namespace_name`).
    #[serde(default = "default_namespace_labels")]
    pub namespace: Vec<String>,
    /// Pod label names (`pod`, `k8s_pod_name`).
    #[serde(default = "default_pod_labels")]
    pub pod: Vec<String>,
    /// Container label names (`container`, `k8s_container_name`).
    #[serde(default = "default_container_labels")]
    pub container: Vec<String>,
}

impl Default for LabelsConfig {
    fn default() -> Self {
        Self {
            namespace: default_namespace_labels(),
            pod: default_pod_labels(),
            container: default_container_labels(),
        }
    }
}

impl LabelsConfig {
    /// The names as the pipeline's [`LabelNames`].
    pub fn to_names(&self) -> LabelNames {
        LabelNames {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
        }
    }
}

fn default_selectors() -> Vec<String> {
    vec![r#"{namespace=~".+"}"#.to_string()]
}
fn default_mode() -> Mode {
    Mode::Poll
}
fn default_max_catch_up() -> Duration {
    Duration::from_secs(3600)
}
fn default_catch_up_requests() -> usize {
    4
}
fn default_settle() -> Duration {
    Duration::from_secs(2)
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_reconcile_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_page_limit() -> u32 {
    5000
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_tail_idle_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_backoff_min() -> Duration {
    Duration::from_millis(250)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_max_line_bytes() -> usize {
    16 * 1024
}
fn default_max_response_bytes() -> usize {
    256 * 1024 * 1024
}
fn default_dedup_capacity() -> usize {
    1_000_000
}
fn default_namespace_labels() -> Vec<String> {
    LabelNames::default().namespace
}
fn default_pod_labels() -> Vec<String> {
    LabelNames::default().pod
}
fn default_container_labels() -> Vec<String> {
    LabelNames::default().container
}

impl LokiConfig {
    /// Defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            selectors: default_selectors(),
            tenant: None,
            username: None,
            password_file: None,
            token_file: None,
            ca_file: None,
            mode: default_mode(),
            backfill: Duration::ZERO,
            state_file: None,
            max_catch_up: default_max_catch_up(),
            catch_up_requests: default_catch_up_requests(),
            settle: default_settle(),
            poll_interval: default_poll_interval(),
            reconcile_interval: default_reconcile_interval(),
            page_limit: default_page_limit(),
            connect_timeout: default_connect_timeout(),
            request_timeout: default_request_timeout(),
            tail_idle_timeout: default_tail_idle_timeout(),
            backoff_min: default_backoff_min(),
            backoff_max: default_backoff_max(),
            shard: Shard::default(),
            max_line_bytes: default_max_line_bytes(),
            max_response_bytes: default_max_response_bytes(),
            dedup_capacity: default_dedup_capacity(),
            labels: LabelsConfig::default(),
            until_ns: None,
        }
    }

    /// How reconnects and retried queries wait: `backoff_min` doubling up to `backoff_max`.
    pub fn backoff(&self) -> crate::retry::Backoff {
        crate::retry::Backoff {
            base: self.backoff_min,
            max: self.backoff_max,
        }
    }

    /// Checks every setting; the error names the bad key.
    pub fn validate(&self) -> Result<(), LokiError> {
        let bad = |key: &str, message: String| {
            Err(LokiError::Config {
                key: key.to_string(),
                message,
            })
        };
        self.validate_url()?;
        if self.selectors.is_empty() {
            return bad("selectors", "at least one LogQL selector is needed".into());
        }
        for (i, s) in self.selectors.iter().enumerate() {
            if !s.trim_start().starts_with('{') {
                let key = format!("selectors[{i}]");
                return bad(
                    &key,
                    format!("{s:?} is not a LogQL stream selector ({{...}})"),
                );
            }
        }
        if !(1..=5000).contains(&self.page_limit) {
            return bad(
                "page_limit",
                format!("{} is not in 1..=5000", self.page_limit),
            );
        }
        self.validate_durations()?;
        if self.password_file.is_some() && self.username.is_none() {
            return bad("password_file", "needs a username".into());
        }
        if self.token_file.is_some() && self.username.is_some() {
            return bad("token_file", "give either a token or a username".into());
        }
        if !(1..=16).contains(&self.catch_up_requests) {
            return bad(
                "catch_up_requests",
                format!("{} is not in 1..=16", self.catch_up_requests),
            );
        }
        if self.until_ns.is_some() && self.mode != Mode::Poll {
            return bad("mode", "reading up to a time needs `poll` mode".into());
        }
        if self.max_line_bytes < 64 {
            return bad("max_line_bytes", "must be at least 64".into());
        }
        if self.max_response_bytes < 1024 * 1024 {
            return bad("max_response_bytes", "must be at least 1 MiB".into());
        }
        if self
            .state_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return bad("state_file", "must name a file".into());
        }
        if self.dedup_capacity < 1000 {
            return bad("dedup_capacity", "must be at least 1000".into());
        }
        if self.labels.pod.is_empty() {
            return bad("labels.pod", "name at least one pod label".into());
        }
        Ok(())
    }

    /// An http(s) URL without credentials in it (they would end up in logs).
    fn validate_url(&self) -> Result<(), LokiError> {
        let bad = |message: String| {
            Err(LokiError::Config {
                key: "url".into(),
                message,
            })
        };
        let url = match reqwest::Url::parse(&self.url) {
            Ok(u) => u,
            Err(e) => return bad(format!("{e}")),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return bad(format!("scheme {:?} is not http or https", url.scheme()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad(
                "must not hold credentials: use username and password_file, or token_file".into(),
            );
        }
        Ok(())
    }

    fn validate_durations(&self) -> Result<(), LokiError> {
        let positive = [
            ("poll_interval", self.poll_interval),
            ("reconcile_interval", self.reconcile_interval),
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("tail_idle_timeout", self.tail_idle_timeout),
            ("backoff_min", self.backoff_min),
            ("max_catch_up", self.max_catch_up),
        ];
        for (key, d) in positive {
            if d.is_zero() {
                return Err(LokiError::Config {
                    key: key.into(),
                    message: "must be more than 0".into(),
                });
            }
        }
        if self.backoff_max < self.backoff_min {
            return Err(LokiError::Config {
                key: "backoff_max".into(),
                message: "must not be less than backoff_min".into(),
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for LokiConfig {
    /// Secrets are not fields, but file paths and the user name are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiConfig")
            .field("url", &self.url)
            .field("selectors", &self.selectors)
            .field("tenant", &self.tenant)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("token_file", &self.token_file)
            .field("ca_file", &self.ca_file)
            .field("mode", &self.mode)
            .field("backfill", &self.backfill)
            .field("state_file", &self.state_file)
            .field("max_catch_up", &self.max_catch_up)
            .field("catch_up_requests", &self.catch_up_requests)
            .field("shard", &self.shard)
            .field("until_ns", &self.until_ns)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LokiConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn defaults_parse_and_validate() {
        let c = parse(r#"{"url":"http://loki:3100"}"#).unwrap();
        c.validate().unwrap();
        assert_eq!(c.selectors, vec![r#"{namespace=~".+"}"#]);
        assert_eq!(c.mode, Mode::Poll);
        assert_eq!(c.page_limit, 5000);
        assert_eq!(c.labels.pod, vec!["pod", "k8s_pod_name"]);
        assert_eq!(c.shard, Shard::default());
        assert_eq!(c.state_file, None);
        assert_eq!(c.max_catch_up, Duration::from_secs(3600));
    }

    #[test]
    fn durations_and_shard_are_typed() {
        let c = parse(
            r#"{"url":"https://l","backfill":"15m","settle":"500ms","shard":"2/4","mode":"tail",
                "state_file":"/var/lib/loganomaly/state.json","max_catch_up":"6h"}"#,
        )
        .unwrap();
        assert_eq!(
            c.state_file.as_deref(),
            Some(std::path::Path::new("/var/lib/loganomaly/state.json"))
        );
        assert_eq!(c.max_catch_up, Duration::from_secs(6 * 3600));
        assert_eq!(c.backfill, Duration::from_secs(900));
        assert_eq!(c.settle, Duration::from_millis(500));
        assert_eq!(c.shard, "2/4".parse().unwrap());
        assert_eq!(c.mode, Mode::Tail);
        assert!(parse(r#"{"url":"http://l","settle":"soon"}"#).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = parse(r#"{"url":"http://l","pasword":"x"}"#).err().unwrap();
        assert!(e.to_string().contains("pasword"), "{e}");
    }

    fn key_of(c: &LokiConfig) -> String {
        match c.validate() {
            Err(LokiError::Config { key, .. }) => key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_rule_names_its_key() {
        let ok = LokiConfig::new("http://l");
        let mut c = ok.clone();
        c.url = "loki:3100".into();
        assert_eq!(key_of(&c), "url");
        c.url = "http://bob:hunter2@loki:3100".into();
        assert_eq!(key_of(&c), "url");
        assert!(!c.validate().unwrap_err().to_string().contains("hunter2"));
        let mut c = ok.clone();
        c.selectors = vec![r#"{a="b"}"#.into(), "a=b".into()];
        assert_eq!(key_of(&c), "selectors[1]");
        let mut c = ok.clone();
        c.selectors.clear();
        assert_eq!(key_of(&c), "selectors");
        let mut c = ok.clone();
        c.page_limit = 5001;
        assert_eq!(key_of(&c), "page_limit");
        let mut c = ok.clone();
        c.poll_interval = Duration::ZERO;
        assert_eq!(key_of(&c), "poll_interval");
        let mut c = ok.clone();
        c.backoff_max = Duration::from_millis(1);
        assert_eq!(key_of(&c), "backoff_max");
        let mut c = ok.clone();
        c.password_file = Some("/p".into());
        assert_eq!(key_of(&c), "password_file");
        let mut c = ok.clone();
        c.max_line_bytes = 10;
        assert_eq!(key_of(&c), "max_line_bytes");
        let mut c = ok.clone();
        c.state_file = Some(PathBuf::new());
        assert_eq!(key_of(&c), "state_file");
        let mut c = ok.clone();
        c.max_catch_up = Duration::ZERO;
        assert_eq!(key_of(&c), "max_catch_up");
        let mut c = ok;
        c.labels.pod.clear();
        assert_eq!(key_of(&c), "labels.pod");
    }
}
