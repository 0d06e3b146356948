//! Errors of the alerting module.

/// Why alerting could not be set up or a notification could not be delivered.
///
/// Messages never contain a secret: webhook URLs and tokens are named, not shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The alert configuration is invalid; `key` names the offending setting.
    #[error("alert config: `{key}`: {reason}")]
    Config {
        /// Dotted path of the bad setting, e.g. `policy.resolve_score`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration file is unreadable or not valid TOML for [`super::AlertConfig`].
    #[error("alert config {path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// A secret could not be read from its environment variable or file.
    #[error("alert config: `{key}`: cannot read the secret: {reason}")]
    Secret {
        /// Dotted path of the setting.
        key: String,
        /// Why (the secret itself is never included).
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// Replaying the log file for alerting failed.
    #[error("replay: {0}")]
    Replay(String),
}

impl From<crate::secret::SecretError> for AlertError {
    fn from(e: crate::secret::SecretError) -> Self {
        Self::Secret {
            key: e.key,
            reason: e.reason,
        }
    }
}

impl AlertError {
    /// A [`AlertError::Config`] for `key`.
    pub(crate) fn config(key: &str, reason: impl Into<String>) -> Self {
        Self::Config {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<crate::incident::StoreError> for AlertError {
    /// A bad `[incidents]` setting keeps its key; anything else is said as it is.
    fn from(e: crate::incident::StoreError) -> Self {
        match e {
            crate::incident::StoreError::Config { key, reason } => {
                Self::config(&format!("incidents.{key}"), reason)
            }
            other => Self::config("incidents", other.to_string()),
        }
    }
}

/// How one delivery attempt failed; decides whether the outbox retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// 429: the receiver asks to wait this long before the next attempt.
    #[error("rate limited (HTTP 429), retry after {0:?}")]
    RateLimited(std::time::Duration),
    /// 5xx, a timeout or a network error: worth retrying with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Any other 4xx: retrying cannot help (bad payload, revoked token, archived channel).
    #[error("rejected with HTTP {status}: {body}")]
    Permanent {
        /// The HTTP status.
        status: u16,
        /// The start of the response body, redacted (Slack answers e.g. `invalid_payload`).
        body: String,
    },
}
