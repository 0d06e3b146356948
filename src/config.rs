//! The service's configuration: a TOML file, overridden by `LOGANOMALY_<SECTION>_<KEY>`
//! environment variables, checked once at start-up with messages that name the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::aggregate::PodWindows;
use crate::alert::Redactor;
use crate::loki::LokiConfig;
use crate::push::PushConfig;
use crate::serve::learn::LearnConfig;
use crate::serve::StageConfig;
use loganomaly_model::TrainParams;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped key.
    #[error("{origin}: {message}")]
    Parse {
        /// The file, or the environment variable.
        origin: String,
        /// What is wrong, with the key.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {key}: {message}")]
    Invalid {
        /// The key, as `section.key`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration of `loganomaly serve`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// HTTP server: metrics, health and the pods API.
    pub server: ServerConfig,
    /// Which model to use and how to keep it current.
    pub model: ModelConfig,
    /// Per-pod state.
    pub pods: PodsConfig,
    /// The Loki to read from (required by `serve`); see the README's "Live Loki source".
    #[serde(skip_serializing)]
    pub loki: Option<LokiConfig>,
    /// The push receiver, `POST /loki/api/v1/push` (see the README's "Push receiver").
    #[serde(skip_serializing)]
    pub push: Option<PushConfig>,
    /// Alerting: policy, Slack, Alertmanager, webhook (see the README's "Alerting").
    #[serde(skip_serializing)]
    pub alerting: Option<crate::alert::AlertConfig>,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of `/metrics`, `/healthz`, `/readyz` and `/api/v1/pods`.
    pub listen: SocketAddr,
    /// On SIGTERM, how long to finish scoring lines already read before exiting.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9464)),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// `[model]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Model file to load. Unset: train one on the first `initial_training_lines` lines
    /// (the Loki backfill), or use the bundled model when `use_bundled` is true.
    pub path: Option<PathBuf>,
    /// Use the model bundled in the binary when no `path` is set.
    pub use_bundled: bool,
    /// Lines to learn a first model from when there is none (scored once it is trained).
    pub initial_training_lines: usize,
    /// Retrain on recent normal lines this often; `0s` keeps the first model.
    #[serde(with = "humantime_serde")]
    pub retrain_interval: Duration,
    /// Lines sampled for retraining.
    pub reservoir_lines: usize,
    /// Fewest sampled lines a retraining needs.
    pub min_retrain_lines: usize,
    /// Expected share of anomalous lines; sets the threshold of trained models.
    pub contamination: f64,
    /// Isolation trees of trained models.
    pub trees: usize,
    /// Lines drawn for each tree.
    pub subsample: usize,
    /// Share of the score kept by info-level lines of trained models (1 = off).
    pub info_weight: f32,
    /// Share of the score kept by lines made only of known tokens (1 = off).
    pub known_weight: f32,
    /// Share of the training lines, the latest, held out to calibrate the threshold of
    /// trained models on later lines (0 = off).
    pub calibration: f64,
    /// A regular expression naming the session of a line (`blk_-?\d+`, `request_id=(\S+)`:
    /// its first group, else its whole match), for the models the service trains: they
    /// then also score sessions. A model file brings its own.
    pub session_key: Option<String>,
    /// A session with no line for this long (log time) is complete, and scored.
    #[serde(with = "humantime_serde")]
    pub session_idle: Duration,
}

impl Default for ModelConfig {
    fn default() -> Self {
        let t = TrainParams::default();
        Self {
            path: None,
            use_bundled: true,
            initial_training_lines: 50_000,
            retrain_interval: Duration::from_secs(3600),
            reservoir_lines: 100_000,
            min_retrain_lines: 10_000,
            contamination: t.contamination,
            trees: t.trees,
            subsample: t.subsample,
            info_weight: t.info_weight,
            known_weight: t.known_weight,
            calibration: t.calibration,
            session_key: None,
            session_idle: Duration::from_secs(5 * 60),
        }
    }
}

/// `[pods]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodsConfig {
    /// Pods with no line for this long are forgotten and their series removed.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Most lines scored together.
    pub batch_lines: usize,
    /// Pods listed by `/api/v1/pods`.
    pub api_pods: usize,
    /// Longest burst window, in minutes: a pod's window goes on past its first minute while
    /// it holds fewer than 50 lines, so that a quiet pod can show a burst. 1 keeps
    /// one-minute windows.
    pub window_max_minutes: u32,
    /// Judge each pod's bursts against its own rate of anomalous lines, learnt from its calm
    /// windows, instead of the model's contamination: a pod whose healthy lines often look
    /// odd then needs a bigger burst to alert.
    pub learn_rate: bool,
}

impl Default for PodsConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15 * 60),
            batch_lines: 4096,
            api_pods: 100,
            window_max_minutes: 1,
            learn_rate: false,
        }
    }
}

impl PodsConfig {
    /// The burst-window settings of the aggregator.
    pub fn windows(&self) -> PodWindows {
        PodWindows {
            max_minutes: self.window_max_minutes,
            learn_rate: self.learn_rate,
        }
    }
}

/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "LOGANOMALY_";

impl ServiceConfig {
    /// Reads `path` (defaults when `None`), applies the environment, validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?,
            None => String::new(),
        };
        let origin = path.map_or("defaults".to_string(), |p| p.display().to_string());
        Self::from_toml(&text, &origin, std::env::vars())
    }

    /// Parses `text`, applies `env` overrides (`LOGANOMALY_SERVER_LISTEN=...`), validates.
    pub fn from_toml(
        text: &str,
        origin: &str,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let file_error = |e: toml::de::Error| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.message().to_string() + &location(text, e.span()),
        };
        // the file alone first, so that its errors carry a line and column
        toml::from_str::<Self>(text).map_err(file_error)?;
        let file: toml::Table = toml::from_str(text).map_err(file_error)?;
        let mut table = file.clone();
        let mut applied = Vec::new();
        for (name, value) in env {
            if let Some(target) = apply_env(&mut table, &name, &value)? {
                applied.push((name, value, target));
            }
        }
        let config: Self = table.try_into().map_err(|e: toml::de::Error| {
            blame_override(&file, &applied).unwrap_or_else(|| ConfigError::Parse {
                origin: format!("{origin} (with LOGANOMALY_* overrides)"),
                message: e.message().to_string(),
            })
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges that types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, message: String| Err(ConfigError::Invalid { key, message });
        let m = &self.model;
        if !(m.contamination > 0.0 && m.contamination < 0.5) {
            return bad(
                "model.contamination",
                format!("{} is not in (0, 0.5)", m.contamination),
            );
        }
        if m.path.is_none() && !m.use_bundled && m.initial_training_lines < 1000 {
            return bad(
                "model.initial_training_lines",
                "with no model file, at least 1000 lines are needed to train one".into(),
            );
        }
        if !(1..=10).contains(&self.pods.window_max_minutes) {
            return bad(
                "pods.window_max_minutes",
                format!("must be 1 to 10, got {}", self.pods.window_max_minutes),
            );
        }
        if self.pods.batch_lines == 0 {
            return bad("pods.batch_lines", "must be at least 1".into());
        }
        if self.pods.ttl < Duration::from_secs(60) {
            return bad("pods.ttl", "must be at least 1m".into());
        }
        if m.session_idle < Duration::from_secs(1) {
            return bad("model.session_idle", "must be at least 1s".into());
        }
        if !m.retrain_interval.is_zero() && m.min_retrain_lines > m.reservoir_lines {
            return bad(
                "model.min_retrain_lines",
                format!("is more than model.reservoir_lines ({})", m.reservoir_lines),
            );
        }
        self.train_params()
            .check()
            .map_err(|e| ConfigError::Invalid {
                key: "model",
                message: e.to_string(),
            })?;
        if let Some(alerting) = &self.alerting {
            alerting.validate().map_err(|e| ConfigError::Invalid {
                key: "alerting",
                message: e.to_string(),
            })?;
        }
        if let Some(push) = &self.push {
            push.validate().map_err(|e| ConfigError::Invalid {
                key: "push",
                message: e.to_string(),
            })?;
        }
        match &self.loki {
            Some(loki) => loki.validate().map_err(|e| ConfigError::Invalid {
                key: "loki",
                message: e.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Training settings for models the service trains.
    pub fn train_params(&self) -> TrainParams {
        TrainParams {
            contamination: self.model.contamination,
            trees: self.model.trees,
            subsample: self.model.subsample,
            info_weight: self.model.info_weight,
            known_weight: self.model.known_weight,
            calibration: self.model.calibration,
            session_key: self.model.session_key.clone(),
            ..TrainParams::default()
        }
    }

    /// Scoring stage settings.
    pub fn stage(&self) -> Result<StageConfig, ConfigError> {
        let m = &self.model;
        let redactor = match &self.alerting {
            Some(a) => Some(Arc::new(Redactor::new(&a.redact.extra_patterns).map_err(
                |e| ConfigError::Invalid {
                    key: "alerting.redact.extra_patterns",
                    message: e.to_string(),
                },
            )?)),
            None => None,
        };
        Ok(StageConfig {
            batch_lines: self.pods.batch_lines,
            pod_ttl: self.pods.ttl,
            view_pods: self.pods.api_pods,
            windows: self.pods.windows(),
            initial_training_lines: m.initial_training_lines,
            learn: Some(LearnConfig {
                retrain_every: (!m.retrain_interval.is_zero()).then_some(m.retrain_interval),
                reservoir_lines: m.reservoir_lines,
                min_lines: m.min_retrain_lines,
                params: self.train_params(),
            }),
            redactor,
            session_idle: m.session_idle,
            ..StageConfig::default()
        })
    }

    /// The effective configuration as TOML, for `check-config`: every key with its value
    /// or default, `[loki]` and `[alerting]` included (when present). Secrets are not
    /// printed: `{ env = "VAR" }` and `{ file = "/path" }` show where they come from,
    /// inline secrets and `[alerting]` URLs print as `<redacted>`.
    pub fn to_toml(&self) -> String {
        let mut out =
            toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
        let sections = [
            ("loki", self.loki.as_ref().map(toml::Table::try_from)),
            ("push", self.push.as_ref().map(toml::Table::try_from)),
            (
                "alerting",
                self.alerting
                    .as_ref()
                    .map(|a| toml::Table::try_from(a).map(hide_secrets)),
            ),
        ];
        for (name, table) in sections {
            let table = match table {
                None => continue,
                Some(Ok(t)) => t,
                Some(Err(e)) => {
                    out.push_str(&format!("\n# [{name}] cannot render: {e}\n"));
                    continue;
                }
            };
            let section = toml::Table::from_iter([(name.to_string(), toml::Value::Table(table))]);
            out.push('\n');
            match toml::to_string_pretty(&section) {
                Ok(text) => out.push_str(&text),
                Err(e) => out.push_str(&format!("# [{name}] cannot render: {e}\n")),
            }
        }
        out
    }

    /// The push receiver's settings when `[push]` is present and enabled.
    pub fn push_settings(&self) -> Option<crate::push::PushSettings> {
        self.push
            .as_ref()
            .filter(|p| p.enabled)
            .map(|p| crate::push::PushSettings::new(p, self.loki.as_ref()))
    }

    /// What `serve` checks before it starts, beyond [`Self::validate`]: a source (a `[loki]`
    /// section, an enabled `[push]`, or both), the Loki credentials and CA file, the
    /// notifiers' secrets and URLs, and the redaction patterns. `check-config` runs the same.
    pub fn check_for_serve(&self) -> Result<(), ConfigError> {
        match &self.loki {
            None if self.push_settings().is_none() => {
                return Err(ConfigError::Invalid {
                    key: "loki",
                    message: "serve needs a source: a [loki] section with at least `url`, or a [push] section (see examples/loganomaly.toml)".into(),
                });
            }
            None => {}
            Some(loki) => crate::loki::check(loki).map_err(|e| ConfigError::Invalid {
                key: "loki",
                message: e.to_string(),
            })?,
        }
        if let Some(a) = self.alerting.as_ref().filter(|a| a.has_notifiers()) {
            a.check_secrets().map_err(|e| ConfigError::Invalid {
                key: "alerting",
                message: e.to_string(),
            })?;
        }
        self.stage().map(|_| ())
    }
}

/// Replaces the values of keys that may hold secrets (URLs with tokens, passwords, keys).
fn hide_secrets(mut table: toml::Table) -> toml::Table {
    for (key, value) in table.iter_mut() {
        let k = key.to_ascii_lowercase();
        let secret = ["url", "token", "password", "secret", "key", "auth"]
            .iter()
            .any(|s| k.contains(s));
        match value {
            toml::Value::Table(t) => *t = hide_secrets(std::mem::take(t)),
            _ if secret => *value = toml::Value::String("<redacted>".into()),
            _ => {}
        }
    }
    table
}

/// " at line L, column C" for a byte span of `text`.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!(" (line {line}, column {column})")
}

/// The override an error comes from: the first that alone makes the file's table fail,
/// as an error naming the variable, the key and what was expected.
fn blame_override(
    file: &toml::Table,
    applied: &[(String, String, (String, String))],
) -> Option<ConfigError> {
    applied.iter().find_map(|(name, value, (section, key))| {
        let mut alone = file.clone();
        apply_env(&mut alone, name, value).ok()?;
        let e = alone.try_into::<ServiceConfig>().err()?;
        Some(ConfigError::Parse {
            origin: format!("environment variable {name}"),
            message: format!(
                "sets [{section}] {key}: {} (the value is read as TOML, else as a string)",
                e.message().trim_end()
            ),
        })
    })
}

/// Sets `[section].key` from `LOGANOMALY_SECTION_KEY`; values parse as TOML, else string.
/// Returns the section and key it set, `None` when `name` is no override.
fn apply_env(
    table: &mut toml::Table,
    name: &str,
    value: &str,
) -> Result<Option<(String, String)>, ConfigError> {
    let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
        return Ok(None);
    };
    let Some((section, key)) = rest.split_once('_') else {
        return Ok(None);
    };
    let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
    if !["server", "model", "pods", "loki", "push"].contains(&section.as_str()) {
        // [alerting] is nested; its secrets come from `{ env = "VAR" }` references
        return Ok(None);
    }
    // the Loki password and token variables are secrets read by the source, not settings
    if name == crate::loki::PASSWORD_ENV || name == crate::loki::TOKEN_ENV {
        return Ok(None);
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let entry = table
        .entry(section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(t) => {
            t.insert(key.clone(), parsed);
            Ok(Some((section, key)))
        }
        _ => Err(ConfigError::Parse {
            origin: name.to_string(),
            message: format!("[{section}] is not a table"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<ServiceConfig, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        ServiceConfig::from_toml(text, "test.toml", env.collect::<Vec<_>>().into_iter())
    }

    #[test]
    fn session_settings_reach_training_and_the_scoring_stage() {
        let c = parse(
            "[model]\nsession_key = 'blk_-?\\d+'\nsession_idle = \"90s\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.train_params().session_key.as_deref(), Some(r"blk_-?\d+"));
        assert_eq!(c.stage().unwrap().session_idle, Duration::from_secs(90));
        assert_eq!(parse("", &[]).unwrap().train_params().session_key, None);
    }

    #[test]
    fn pod_window_settings_reach_the_scoring_stage() {
        assert_eq!(
            parse("", &[]).unwrap().stage().unwrap().windows,
            PodWindows::default()
        );
        let text = "[pods]\nwindow_max_minutes = 3\n";
        let c = parse(text, &[("LOGANOMALY_PODS_LEARN_RATE", "true")]).unwrap();
        let want = PodWindows {
            max_minutes: 3,
            learn_rate: true,
        };
        assert_eq!(c.stage().unwrap().windows, want);
    }

    #[test]
    fn defaults_parse_and_validate() {
        let c = parse("", &[]).unwrap();
        assert_eq!(c.server.listen.port(), 9464);
        assert_eq!(c.pods.ttl, Duration::from_secs(900));
        // the printed defaults parse back to the same values
        let again = parse(&c.to_toml(), &[]).unwrap();
        assert_eq!(again.to_toml(), c.to_toml());
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../examples/loganomaly.toml");
        parse(text, &[]).unwrap();
    }

    #[test]
    fn unknown_and_mistyped_keys_are_named() {
        let e = parse("[server]\nlisen = \"0.0.0.0:1\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen") && e.contains("line 2"), "{e}");
        let e = parse("[pods]\nttl = \"soon\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("soon"), "{e}");
        let e = parse("[nope]\n", &[]).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = parse(
            "[server]\nlisten = \"127.0.0.1:1\"\n",
            &[
                ("LOGANOMALY_SERVER_LISTEN", "127.0.0.1:2"),
                ("LOGANOMALY_PODS_TTL", "20m"),
                ("LOGANOMALY_MODEL_TREES", "50"),
                ("UNRELATED", "x"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 2);
        assert_eq!(c.pods.ttl, Duration::from_secs(1200));
        assert_eq!(c.model.trees, 50);
        let e = parse("", &[("LOGANOMALY_PODS_NOPE", "1")]).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    /// Issue 16, finding 4: an override's error names the variable, the key and what was
    /// expected (it was `invalid type: string "abc", expected usize`).
    #[test]
    fn finding_4_env_override_errors_name_the_variable_and_the_key() {
        let e = parse("", &[("LOGANOMALY_PODS_API_PODS", "abc")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LOGANOMALY_PODS_API_PODS"), "{e}");
        assert!(e.contains("[pods] api_pods"), "{e}");
        assert!(e.contains("expected"), "{e}");
        // the culprit among several overrides
        let e = parse(
            "[loki]\nurl = \"http://loki:3100\"\n",
            &[
                ("LOGANOMALY_SERVER_LISTEN", "127.0.0.1:1"),
                ("LOGANOMALY_LOKI_PAGE_LIMIT", "many"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("LOGANOMALY_LOKI_PAGE_LIMIT") && e.contains("[loki] page_limit"),
            "{e}"
        );
        assert!(!e.contains("LOGANOMALY_SERVER_LISTEN"), "{e}");
    }

    #[test]
    fn the_loki_section_is_validated_and_printed_without_secrets() {
        let text = "[loki]\nurl = \"http://loki:3100\"\nusername = \"u\"\n";
        let c = parse(
            text,
            &[
                ("LOGANOMALY_LOKI_TENANT", "team-a"),
                ("LOGANOMALY_LOKI_PASSWORD", "hunter2"),
            ],
        )
        .unwrap();
        let loki = c.loki.as_ref().unwrap();
        assert_eq!(loki.tenant.as_deref(), Some("team-a"));
        let printed = c.to_toml();
        assert!(
            printed.contains("[loki]") && printed.contains("team-a"),
            "{printed}"
        );
        assert!(!printed.contains("hunter2"));
        let e = parse("[loki]\nurl = \"ftp://x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("loki"), "{e}");
    }

    #[test]
    fn alerting_secrets_are_not_printed() {
        let text = "[alerting.slack]\nwebhook_url = \"https://hooks.slack.com/services/T0/B0/XYZsecret\"\n";
        let c = parse(text, &[]).unwrap();
        assert!(c.alerting.is_some());
        let printed = c.to_toml();
        assert!(printed.contains("[alerting.slack]"), "{printed}");
        assert!(!printed.contains("XYZsecret"), "{printed}");
    }

    #[test]
    fn each_range_rule_names_its_key() {
        for (text, key) in [
            ("[model]\ncontamination = 0.7\n", "model.contamination"),
            ("[pods]\nbatch_lines = 0\n", "pods.batch_lines"),
            (
                "[pods]\nwindow_max_minutes = 0\n",
                "pods.window_max_minutes",
            ),
            (
                "[pods]\nwindow_max_minutes = 11\n",
                "pods.window_max_minutes",
            ),
            ("[pods]\nttl = \"5s\"\n", "pods.ttl"),
            (
                "[model]\nuse_bundled = false\ninitial_training_lines = 10\n",
                "model.initial_training_lines",
            ),
            (
                "[model]\nreservoir_lines = 10\nmin_retrain_lines = 20\n",
                "model.min_retrain_lines",
            ),
            ("[model]\ntrees = 0\n", "model"),
            ("[model]\nsession_idle = \"0s\"\n", "model.session_idle"),
            ("[model]\nsession_key = \"(unclosed\"\n", "session_key"),
        ] {
            let e = parse(text, &[]).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    /// Issue 17: `serve` (and so `check-config`) runs with only a push receiver; with no
    /// source at all it says what is missing; `[push]` keys are validated and printed.
    #[test]
    fn push_alone_is_a_source_and_its_keys_are_checked() {
        let c = parse("[push]\n", &[]).unwrap();
        c.check_for_serve().unwrap();
        assert!(c.to_toml().contains("[push]"), "{}", c.to_toml());
        let e = parse("[push]\nenabled = false\n", &[])
            .unwrap()
            .check_for_serve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("[push]") && e.contains("[loki]"), "{e}");
        let e = parse("", &[])
            .unwrap()
            .check_for_serve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("source"), "{e}");
        let e = parse("[push]\nqueue_lines = 0\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("push") && e.contains("queue_lines"), "{e}");
        let c = parse("", &[("LOGANOMALY_PUSH_TENANT_LABEL", "tenant")]).unwrap();
        let push = c.push_settings().unwrap();
        assert_eq!(push.tenant_label.as_deref(), Some("tenant"));
        // the line cut and label names follow [loki] unless [push] sets them
        let c = parse(
            "[loki]\nurl = \"http://loki:3100\"\nmax_line_bytes = 100\n[loki.labels]\npod = [\"p\"]\n[push]\n",
            &[],
        )
        .unwrap();
        let push = c.push_settings().unwrap();
        assert_eq!(
            (push.max_line_bytes, push.names.pod.clone()),
            (100, vec!["p".to_string()])
        );
    }
}
