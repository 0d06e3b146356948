//! The `[alerting]` configuration: policy, storm control, notifiers, delivery, redaction.
//!
//! Parsed in two phases: serde reads the raw TOML (unknown keys are errors), then
//! [`AlertConfig::validate`] checks every value and names the bad key. Secrets (webhook
//! URLs, passwords, API keys) are written inline, or read from `{ env = "VAR" }` or
//! `{ file = "/path" }`, and never shown by `Debug`.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::AlertError;
use crate::secret::{Secret, SecretSource};

/// Everything alerting needs; a self-contained section (`[alerting]` in the service config).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// When a pod becomes anomalous, resolves, and how often reminders go out.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// What goes into a message besides the verdict: lines and links.
    #[serde(default)]
    pub message: MessageConfig,
    /// Retries, backoff and the shutdown drain shared by every notifier.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Extra secret patterns to mask before any line leaves the process.
    #[serde(default)]
    pub redact: RedactConfig,
    /// Slack incoming webhook (off when absent).
    pub slack: Option<SlackConfig>,
    /// Alertmanager `POST /api/v2/alerts` (off when absent).
    pub alertmanager: Option<AlertmanagerConfig>,
    /// Generic JSON webhook (off when absent); the payload is documented in the README.
    pub webhook: Option<WebhookConfig>,
    /// Discord webhook (off when absent).
    pub discord: Option<DiscordConfig>,
    /// Microsoft Teams Workflows webhook (off when absent).
    pub teams: Option<TeamsConfig>,
    /// Optional LLM explanation through an OpenAI-compatible chat-completions endpoint.
    pub explain: Option<ExplainConfig>,
    /// The incident history: every episode written to SQLite or PostgreSQL (off when absent).
    pub incidents: Option<crate::incident::IncidentConfig>,
}

/// The per-pod state machine. Scores are the aggregator's per-minute *burst scores*
/// (`-log10` of the chance of that many anomalous lines), not the moving average of line
/// scores: healthy pods that log one odd line a minute sit above the line threshold all day.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Burst score at or above which a pod is abnormal (9 = a one-in-a-billion minute).
    #[serde(default = "default_enter_score")]
    pub enter_score: f32,
    /// How long the score must stay at or above `enter_score` before the pod is anomalous;
    /// one minute means two consecutive one-minute windows.
    #[serde(default = "default_enter_for", with = "humantime_serde")]
    pub enter_for: Duration,
    /// Also anomalous at once when one window holds this many anomalous lines (0 = off).
    #[serde(default)]
    pub enter_lines: u32,
    /// Hysteresis: the pod resolves once its score stays below this...
    #[serde(default = "default_resolve_score")]
    pub resolve_score: f32,
    /// ...for this long (a crash-looping pod logs in bursts minutes apart).
    #[serde(default = "default_resolve_for", with = "humantime_serde")]
    pub resolve_for: Duration,
    /// A still-anomalous pod is announced again at most this often.
    #[serde(default = "default_renotify_every", with = "humantime_serde")]
    pub renotify_every: Duration,
    /// Pods turning anomalous together are grouped, and messages capped.
    #[serde(default)]
    pub storm: StormConfig,
}

fn default_enter_score() -> f32 {
    crate::aggregate::BURST_THRESHOLD
}
fn default_enter_for() -> Duration {
    Duration::from_secs(60)
}
fn default_resolve_score() -> f32 {
    3.0
}
fn default_resolve_for() -> Duration {
    Duration::from_secs(600)
}
fn default_renotify_every() -> Duration {
    Duration::from_secs(3600)
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            enter_score: default_enter_score(),
            enter_for: default_enter_for(),
            enter_lines: 0,
            resolve_score: default_resolve_score(),
            resolve_for: default_resolve_for(),
            renotify_every: default_renotify_every(),
            storm: StormConfig::default(),
        }
    }
}

/// Storm control: many pods at once become one message; a global cap bounds the rest.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StormConfig {
    /// Pods of one namespace turning anomalous within `window` that make one grouped message.
    #[serde(default = "default_namespace_pods")]
    pub namespace_pods: usize,
    /// Pods of the whole cluster turning anomalous within `window` that make one message.
    #[serde(default = "default_cluster_pods")]
    pub cluster_pods: usize,
    /// How far back pods that turned anomalous count towards a storm.
    #[serde(default = "default_storm_window", with = "humantime_serde")]
    pub window: Duration,
    /// Messages per minute at most, all kinds together; the rest is held back and retried.
    #[serde(default = "default_max_per_minute")]
    pub max_per_minute: usize,
}

fn default_namespace_pods() -> usize {
    5
}
fn default_cluster_pods() -> usize {
    15
}
fn default_storm_window() -> Duration {
    Duration::from_secs(300)
}
fn default_max_per_minute() -> usize {
    10
}

impl Default for StormConfig {
    fn default() -> Self {
        Self {
            namespace_pods: default_namespace_pods(),
            cluster_pods: default_cluster_pods(),
            window: default_storm_window(),
            max_per_minute: default_max_per_minute(),
        }
    }
}

/// Content of a message.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageConfig {
    /// Most anomalous lines shown per pod.
    #[serde(default = "default_top_lines")]
    pub top_lines: usize,
    /// Each shown line is cut to this many characters (after redaction).
    #[serde(default = "default_max_line_chars")]
    pub max_line_chars: usize,
    /// Grafana pod dashboard URL template; `{namespace}`, `{pod}`, `{from_ms}`, `{to_ms}`
    /// are replaced (URL-encoded). No link when absent.
    pub dashboard_url: Option<String>,
    /// Loki logs URL template (e.g. Grafana Explore); as above plus `{query}`, the
    /// URL-encoded LogQL stream selector `{namespace="…", pod="…"}`.
    pub logs_url: Option<String>,
    /// Log summary URL template, as above: the `summarize` report of the pod's namespace,
    /// e.g. `serve`'s own `https://loganomaly.example.com/api/v1/summary?namespace={namespace}&since=1h`.
    pub summary_url: Option<String>,
}

fn default_top_lines() -> usize {
    5
}
fn default_max_line_chars() -> usize {
    300
}

impl Default for MessageConfig {
    fn default() -> Self {
        Self {
            top_lines: default_top_lines(),
            max_line_chars: default_max_line_chars(),
            dashboard_url: None,
            logs_url: None,
            summary_url: None,
        }
    }
}

/// Delivery of each notifier's outbox.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Messages waiting per notifier; when full, new ones are dropped and counted as failed.
    #[serde(default = "default_outbox_capacity")]
    pub outbox_capacity: usize,
    /// Attempts per message, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First wait after a 5xx or network error; doubles per attempt, with jitter.
    #[serde(default = "default_initial_backoff", with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest wait between two attempts (also caps a `Retry-After`).
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Timeout of one HTTP request.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// On shutdown, how long the outboxes may take to flush.
    #[serde(default = "default_drain_deadline", with = "humantime_serde")]
    pub drain_deadline: Duration,
}

fn default_outbox_capacity() -> usize {
    256
}
fn default_max_attempts() -> u32 {
    6
}
fn default_initial_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_drain_deadline() -> Duration {
    Duration::from_secs(15)
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            outbox_capacity: default_outbox_capacity(),
            max_attempts: default_max_attempts(),
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
            request_timeout: default_request_timeout(),
            drain_deadline: default_drain_deadline(),
        }
    }
}

/// Redaction settings; the built-in patterns always apply.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// Extra regular expressions (Rust `regex` syntax); each match becomes `[REDACTED]`.
    #[serde(default)]
    pub extra_patterns: Vec<String>,
}

/// Slack incoming webhook.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The webhook URL (`https://hooks.slack.com/services/…`): a secret.
    pub webhook_url: SecretSource,
}

/// Discord webhook.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The webhook URL (`https://discord.com/api/webhooks/…`): a secret.
    pub webhook_url: SecretSource,
}

/// Microsoft Teams: the URL of a Workflows flow "Post to a channel when a webhook request
/// is received".
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The flow's HTTP POST URL (it carries a signature): a secret.
    pub webhook_url: SecretSource,
}

/// Alertmanager API v2.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, e.g. `http://alertmanager.monitoring:9093`; alerts go to `/api/v2/alerts`.
    pub url: String,
    /// Basic-auth user, when Alertmanager sits behind a proxy that wants one.
    pub username: Option<String>,
    /// Basic-auth password: a secret.
    pub password: Option<SecretSource>,
    /// The `alertname` label.
    #[serde(default = "default_alertname")]
    pub alertname: String,
    /// The `severity` label.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Active alerts are re-posted this often so Alertmanager keeps them firing
    /// (keep it below Alertmanager's `resolve_timeout`, 5 minutes by default).
    #[serde(default = "default_repost_every", with = "humantime_serde")]
    pub repost_every: Duration,
}

fn default_alertname() -> String {
    "LogAnomaly".to_string()
}
fn default_severity() -> String {
    "warning".to_string()
}
fn default_repost_every() -> Duration {
    Duration::from_secs(60)
}

/// Generic JSON webhook.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to `POST` the payload: a secret (it may embed a token).
    pub url: SecretSource,
    /// Sent as `Authorization: Bearer …` when set: a secret.
    pub bearer_token: Option<SecretSource>,
}

/// LLM explanation of an anomaly, added to the message when it arrives in time.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainConfig {
    /// Chat-completions endpoint, e.g. `http://127.0.0.1:11434/v1/chat/completions` (Ollama).
    pub url: String,
    /// Model name passed to the endpoint.
    #[serde(default = "default_explain_model")]
    pub model: String,
    /// API key sent as `Authorization: Bearer …`: a secret (Ollama needs none).
    pub api_key: Option<SecretSource>,
    /// The alert waits at most this long for the explanation, then goes without it.
    #[serde(default = "default_explain_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_explain_model() -> String {
    "llama3.2".to_string()
}
fn default_explain_timeout() -> Duration {
    Duration::from_secs(8)
}

impl AlertConfig {
    /// Parses a TOML document holding the section's keys at top level.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, AlertError> {
        let cfg: Self = toml::from_str(text).map_err(|e| AlertError::Parse {
            path: origin.to_string(),
            reason: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, AlertError> {
        let text = std::fs::read_to_string(path).map_err(|e| AlertError::Parse {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Whether any notifier is configured.
    pub fn has_notifiers(&self) -> bool {
        self.slack.is_some()
            || self.alertmanager.is_some()
            || self.webhook.is_some()
            || self.discord.is_some()
            || self.teams.is_some()
    }

    /// Reads every secret the notifiers need (`{ env = "VAR" }`, `{ file = "/path" }`) and
    /// checks that the secret URLs are absolute http(s) URLs, as [`super::Alerter::new`]
    /// does before it starts: an unset variable or `webhook_url = "not-a-url"` fails here,
    /// naming the key. Only configured notifiers are checked.
    pub fn check_secrets(&self) -> Result<(), AlertError> {
        super::notifier::configured(self)?;
        if let Some(ex) = &self.explain {
            ex.api_key()?;
        }
        if let Some(inc) = &self.incidents {
            inc.database()?;
        }
        Ok(())
    }

    /// Checks every value, naming the first bad key.
    pub fn validate(&self) -> Result<(), AlertError> {
        self.policy.validate()?;
        self.message.validate()?;
        self.delivery.validate()?;
        for (i, p) in self.redact.extra_patterns.iter().enumerate() {
            regex::Regex::new(p).map_err(|e| {
                AlertError::config(&format!("redact.extra_patterns[{i}]"), e.to_string())
            })?;
        }
        if let Some(am) = &self.alertmanager {
            check_url("alertmanager.url", &am.url)?;
            positive("alertmanager.repost_every", am.repost_every)?;
            if am.password.is_some() != am.username.is_some() {
                return Err(AlertError::config(
                    "alertmanager.password",
                    "username and password go together",
                ));
            }
        }
        if let Some(inc) = &self.incidents {
            inc.validate()?;
        }
        if let Some(ex) = &self.explain {
            check_url("explain.url", &ex.url)?;
            positive("explain.timeout", ex.timeout)?;
        }
        Ok(())
    }
}

impl ExplainConfig {
    /// Reads `explain.api_key`, when set.
    pub(crate) fn api_key(&self) -> Result<Option<Secret>, AlertError> {
        let key = self.api_key.as_ref();
        Ok(key.map(|k| k.resolve("explain.api_key")).transpose()?)
    }
}

impl PolicyConfig {
    fn validate(&self) -> Result<(), AlertError> {
        if !(self.enter_score.is_finite() && self.enter_score > 0.0) {
            return Err(AlertError::config("policy.enter_score", "must be > 0"));
        }
        if !(self.resolve_score.is_finite()
            && self.resolve_score >= 0.0
            && self.resolve_score < self.enter_score)
        {
            return Err(AlertError::config(
                "policy.resolve_score",
                "must be >= 0 and below policy.enter_score (hysteresis)",
            ));
        }
        positive("policy.resolve_for", self.resolve_for)?;
        positive("policy.renotify_every", self.renotify_every)?;
        let s = &self.storm;
        if s.namespace_pods < 2 {
            return Err(AlertError::config(
                "policy.storm.namespace_pods",
                "must be >= 2",
            ));
        }
        if s.cluster_pods < 2 {
            return Err(AlertError::config(
                "policy.storm.cluster_pods",
                "must be >= 2",
            ));
        }
        if s.max_per_minute == 0 {
            return Err(AlertError::config(
                "policy.storm.max_per_minute",
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

impl MessageConfig {
    fn validate(&self) -> Result<(), AlertError> {
        if !(1..=20).contains(&self.top_lines) {
            return Err(AlertError::config("message.top_lines", "must be in 1..=20"));
        }
        if !(40..=2000).contains(&self.max_line_chars) {
            return Err(AlertError::config(
                "message.max_line_chars",
                "must be in 40..=2000",
            ));
        }
        for (key, url) in [
            ("message.dashboard_url", &self.dashboard_url),
            ("message.logs_url", &self.logs_url),
            ("message.summary_url", &self.summary_url),
        ] {
            if let Some(u) = url {
                check_url(key, u)?;
            }
        }
        Ok(())
    }
}

impl DeliveryConfig {
    /// How a 5xx or network error waits: `initial_backoff` doubling up to `max_backoff`.
    pub(crate) fn backoff(&self) -> crate::retry::Backoff {
        crate::retry::Backoff {
            base: self.initial_backoff,
            max: self.max_backoff,
        }
    }

    fn validate(&self) -> Result<(), AlertError> {
        if self.outbox_capacity == 0 {
            return Err(AlertError::config(
                "delivery.outbox_capacity",
                "must be >= 1",
            ));
        }
        if self.max_attempts == 0 {
            return Err(AlertError::config("delivery.max_attempts", "must be >= 1"));
        }
        positive("delivery.initial_backoff", self.initial_backoff)?;
        positive("delivery.request_timeout", self.request_timeout)?;
        if self.max_backoff < self.initial_backoff {
            return Err(AlertError::config(
                "delivery.max_backoff",
                "must be >= delivery.initial_backoff",
            ));
        }
        Ok(())
    }
}

fn positive(key: &str, d: Duration) -> Result<(), AlertError> {
    if d.is_zero() {
        return Err(AlertError::config(key, "must be longer than zero"));
    }
    Ok(())
}

/// Checks that `url` is an absolute http(s) URL (templates are checked with their
/// placeholders in place). Not for secret URLs: the error would show them.
fn check_url(key: &str, url: &str) -> Result<(), AlertError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        Ok(u) => Err(AlertError::config(
            key,
            format!("scheme {:?} is not http or https", u.scheme()),
        )),
        Err(e) => Err(AlertError::config(key, format!("not a URL: {e}"))),
    }
}

/// Checks a secret URL without ever showing it.
pub(crate) fn check_secret_url(key: &str, url: &Secret) -> Result<(), AlertError> {
    match reqwest::Url::parse(url.expose()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(AlertError::config(key, "not an absolute http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_an_empty_config_takes_the_defaults() {
        let example = include_str!("../../examples/alerts.toml");
        let cfg = AlertConfig::from_toml(example, "examples/alerts.toml").unwrap();
        assert!(cfg.slack.is_some() && cfg.alertmanager.is_some());
        assert_eq!(cfg.policy.resolve_for, Duration::from_secs(600));
        let empty = AlertConfig::from_toml("", "empty").unwrap();
        assert_eq!(empty.policy.enter_score, 9.0);
        assert!(!empty.has_notifiers());
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases = [
            ("[policy]\nresolve_score = 10.0", "policy.resolve_score"),
            ("[policy]\nenter_score = 0.0", "policy.enter_score"),
            ("[policy]\nresolve_for = \"0s\"", "policy.resolve_for"),
            (
                "[policy.storm]\nmax_per_minute = 0",
                "policy.storm.max_per_minute",
            ),
            (
                "[policy.storm]\nnamespace_pods = 1",
                "policy.storm.namespace_pods",
            ),
            ("[message]\ntop_lines = 0", "message.top_lines"),
            (
                "[message]\ndashboard_url = \"grafana\"",
                "message.dashboard_url",
            ),
            ("[delivery]\nmax_attempts = 0", "delivery.max_attempts"),
            ("[delivery]\nmax_backoff = \"1ms\"", "delivery.max_backoff"),
            (
                "[redact]\nextra_patterns = [\"(\"]",
                "redact.extra_patterns[0]",
            ),
            ("[alertmanager]\nurl = \"ftp://x\"", "alertmanager.url"),
            ("[explain]\nurl = \"nope\"", "explain.url"),
        ];
        for (toml, key) in cases {
            let err = AlertConfig::from_toml(toml, "t").unwrap_err().to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
        let unknown = AlertConfig::from_toml("[policy]\nenter_scor = 1", "t").unwrap_err();
        assert!(unknown.to_string().contains("enter_scor"), "{unknown}");
        let duration = AlertConfig::from_toml("[policy]\nenter_for = \"soon\"", "t").unwrap_err();
        assert!(duration.to_string().contains("enter_for"), "{duration}");
    }

    #[test]
    fn secrets_come_from_env_or_file_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "https://hooks.example/T1/B2/s3cr3t\n").unwrap();
        let text = format!(
            "[slack]\nwebhook_url = {{ file = {:?} }}\n[webhook]\nurl = \"https://x.example/inline-s3cr3t\"",
            file.display().to_string()
        );
        let cfg = AlertConfig::from_toml(&text, "t").unwrap();
        let slack = cfg
            .slack
            .as_ref()
            .unwrap()
            .webhook_url
            .resolve("slack.webhook_url");
        assert_eq!(
            slack.unwrap().expose(),
            "https://hooks.example/T1/B2/s3cr3t"
        );
        let debug = format!("{cfg:?} {:?}", Secret::new("s3cr3t"));
        assert!(!debug.contains("s3cr3t"), "{debug}");
        let missing = SecretSource::Env {
            env: "LOGANOMALY_TEST_UNSET_VAR".into(),
        };
        let err = missing.resolve("webhook.url").unwrap_err().to_string();
        assert!(err.contains("webhook.url") && err.contains("LOGANOMALY_TEST_UNSET_VAR"));
    }
}
