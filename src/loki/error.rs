//! Why talking to Loki failed, in terms a user can act on; and whether to retry.
//!
//! No variant ever holds a secret: credentials are named by where they came from.

use std::time::Duration;

/// An error of the live Loki source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LokiError {
    /// A setting is invalid; `key` names it as in the config file.
    #[error("loki.{key}: {message}")]
    Config {
        /// The config key, e.g. `selectors[1]`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// Loki refused the credentials (401) or the tenant (403).
    #[error("{url}: HTTP {status}: Loki refused tenant {tenant} with credentials from {credentials}: {message}")]
    Unauthorized {
        /// The endpoint called.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The `X-Scope-OrgID` sent, or `(none)`.
        tenant: String,
        /// Where the credentials came from (never the secret itself).
        credentials: String,
        /// Loki's (or the proxy's) message.
        message: String,
    },
    /// Loki refused the query (400): usually a bad selector; `message` is Loki's own.
    #[error("{url}: Loki refused the query {selector:?}: {message}")]
    BadQuery {
        /// The endpoint called.
        url: String,
        /// The LogQL sent.
        selector: String,
        /// Loki's message, e.g. the LogQL parse error.
        message: String,
    },
    /// Loki asked to slow down (429) or is unavailable (5xx); retried.
    #[error("{url}: HTTP {status}{}: {message}", retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default())]
    Overloaded {
        /// The endpoint called.
        url: String,
        /// 429 or 5xx.
        status: u16,
        /// The `Retry-After` delay, honoured before the next attempt.
        retry_after: Option<Duration>,
        /// Loki's message.
        message: String,
    },
    /// Any other unexpected HTTP status.
    #[error("{url}: unexpected HTTP {status}: {message}")]
    Status {
        /// The endpoint called.
        url: String,
        /// The status.
        status: u16,
        /// The body, cut short.
        message: String,
    },
    /// DNS, connection refused, TLS handshake, timeout: Loki could not be reached; retried.
    #[error("cannot reach Loki at {url}: {message}")]
    Connect {
        /// Where it tried to connect.
        url: String,
        /// What failed, with its causes.
        message: String,
    },
    /// A response that is not the JSON Loki documents; retried.
    #[error("{url}: malformed response: {message}")]
    Malformed {
        /// The endpoint called.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The tail websocket was closed by Loki (code 1011 on Loki shutdown or a bad query,
    /// 1006 when the connection dropped without a close frame); reconnected.
    #[error("tail closed by Loki with code {code}: {reason}")]
    TailClosed {
        /// The websocket close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The tail went silent (no frame, no ping) for longer than `tail_idle_timeout`.
    #[error("tail silent for {0:?} (Loki pings every second): reconnecting")]
    TailIdle(Duration),
    /// TLS or the HTTP client could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// A task of the source ended abnormally (a bug): the source stops.
    #[error("internal error of the Loki source: {0}")]
    Internal(String),
}

impl From<crate::http::HttpError> for LokiError {
    fn from(e: crate::http::HttpError) -> Self {
        match e {
            crate::http::HttpError::CaFile(message) => Self::Config {
                key: "ca_file".into(),
                message,
            },
            other => Self::Tls(other.to_string()),
        }
    }
}

impl LokiError {
    /// Whether the operation may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Overloaded { .. }
                | Self::Status { .. }
                | Self::Connect { .. }
                | Self::Malformed { .. }
                | Self::TailClosed { .. }
                | Self::TailIdle(_)
        )
    }

    /// How long Loki asked to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Overloaded { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
