//! The one secret type for every credential: Loki passwords and tokens, notifier URLs,
//! passwords and API keys.
//!
//! A [`Secret`] prints only `<redacted>` through `Debug` and `Display`, so it can sit in
//! any config or error struct; the value comes out only through [`Secret::expose`], at
//! the one place that sends it. A [`SecretSource`] is how a config file names a secret:
//! inline, `{ env = "VAR" }` or `{ file = "/path" }`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

/// What a secret prints as, everywhere.
const REDACTED: &str = "<redacted>";

/// A secret string: shown only through [`Secret::expose`], never by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a secret file, trimming the trailing newline editors and `kubectl` leave.
    pub fn from_file(path: &Path) -> io::Result<Self> {
        Ok(Self(std::fs::read_to_string(path)?.trim().to_string()))
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Why a [`SecretSource`] could not be read; names the setting, never the value.
#[derive(Debug, thiserror::Error)]
#[error("`{key}`: cannot read the secret: {reason}")]
pub struct SecretError {
    /// Dotted path of the setting, e.g. `slack.webhook_url`.
    pub key: String,
    /// Why (the secret itself is never included).
    pub reason: String,
}

/// Where a secret comes from: inline, an environment variable, or a file.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// `{ env = "SLACK_WEBHOOK_URL" }`.
    Env {
        /// The variable's name.
        env: String,
    },
    /// `{ file = "/run/secrets/slack" }`: the file's content, trimmed.
    File {
        /// The file's path.
        file: PathBuf,
    },
    /// The secret written in the config itself.
    Inline(String),
}

impl Serialize for SecretSource {
    /// `{ env = "VAR" }` and `{ file = "/path" }` as written; an inline secret as `<redacted>`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (key, value) = match self {
            Self::Env { env } => ("env", env.clone()),
            Self::File { file } => ("file", file.display().to_string()),
            Self::Inline(_) => return s.serialize_str(REDACTED),
        };
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(key, &value)?;
        m.end()
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env { env } => write!(f, "Env({env})"),
            Self::File { file } => write!(f, "File({})", file.display()),
            Self::Inline(_) => f.write_str("Inline([redacted])"),
        }
    }
}

impl SecretSource {
    /// Reads the secret; `key` names the setting in errors. An empty secret is an error.
    pub fn resolve(&self, key: &str) -> Result<Secret, SecretError> {
        let err = |reason: String| SecretError {
            key: key.to_string(),
            reason,
        };
        let secret = match self {
            Self::Inline(s) => Secret::new(s.as_str()),
            Self::Env { env } => std::env::var(env)
                .map(Secret)
                .map_err(|e| err(format!("environment variable {env}: {e}")))?,
            Self::File { file } => {
                Secret::from_file(file).map_err(|e| err(format!("{}: {e}", file.display())))?
            }
        };
        if secret.0.is_empty() {
            return Err(err("it is empty".into()));
        }
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_and_an_inline_source_serialises_redacted() {
        let s = Secret::new("s3cr3t");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "s3cr3t");
        let inline = SecretSource::Inline("s3cr3t".into());
        assert_eq!(format!("{inline:?}"), "Inline([redacted])");
        assert_eq!(serde_json::to_string(&inline).unwrap(), "\"<redacted>\"");
        let env = SecretSource::Env { env: "VAR".into() };
        assert_eq!(serde_json::to_string(&env).unwrap(), r#"{"env":"VAR"}"#);
    }

    #[test]
    fn a_file_secret_is_trimmed_and_an_empty_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "t0k\n").unwrap();
        let file = SecretSource::File { file: path.clone() };
        assert_eq!(file.resolve("k").unwrap().expose(), "t0k");
        std::fs::write(&path, "\n").unwrap();
        let err = file.resolve("loki.token").unwrap_err().to_string();
        assert!(err.contains("loki.token") && err.contains("empty"), "{err}");
    }
}
