//! Credentials: where secrets come from, and how they stay out of logs.
//!
//! A secret is read once from a file or an environment variable into a
//! [`crate::secret::Secret`], whose `Debug` and `Display` print only `<redacted>`; errors
//! and logs name the *source*
//! ("file /var/run/secrets/loki/token", "env LOGANOMALY_LOKI_TOKEN").

use std::path::Path;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use super::config::LokiConfig;
use super::error::LokiError;
use crate::secret::Secret;

/// Environment variable holding the basic-auth password when no file is given.
pub const PASSWORD_ENV: &str = "LOGANOMALY_LOKI_PASSWORD";
/// Environment variable holding the bearer token when no file is given.
pub const TOKEN_ENV: &str = "LOGANOMALY_LOKI_TOKEN";

/// The credentials sent to Loki, with where they came from.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// No `Authorization` header.
    None,
    /// HTTP basic auth.
    Basic {
        user: String,
        password: Secret,
        source: String,
    },
    /// `Authorization: Bearer`.
    Bearer { token: Secret, source: String },
}

impl Credentials {
    /// Reads the secrets named by `cfg`; `env` looks up an environment variable.
    pub(crate) fn resolve(
        cfg: &LokiConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LokiError> {
        if let Some(user) = &cfg.username {
            let (password, source) = match &cfg.password_file {
                Some(p) => (
                    read_secret(p, "password_file")?,
                    format!("file {}", p.display()),
                ),
                None => (
                    Secret::new(env(PASSWORD_ENV).unwrap_or_default()),
                    format!("env {PASSWORD_ENV}"),
                ),
            };
            let source = format!("user {user:?}, password from {source}");
            return Ok(Self::Basic {
                user: user.clone(),
                password,
                source,
            });
        }
        if let Some(p) = &cfg.token_file {
            let token = read_secret(p, "token_file")?;
            return Ok(Self::Bearer {
                token,
                source: format!("token file {}", p.display()),
            });
        }
        match env(TOKEN_ENV).filter(|t| !t.trim().is_empty()) {
            Some(t) => Ok(Self::Bearer {
                token: Secret::new(t.trim()),
                source: format!("token from env {TOKEN_ENV}"),
            }),
            None => Ok(Self::None),
        }
    }

    /// Where the credentials came from, for error messages.
    pub(crate) fn source(&self) -> &str {
        match self {
            Self::None => "none (no username, token file or LOGANOMALY_LOKI_TOKEN)",
            Self::Basic { source, .. } | Self::Bearer { source, .. } => source,
        }
    }

    /// The headers every request carries: tenant and `Authorization` (marked sensitive).
    pub(crate) fn headers(&self, tenant: Option<&str>) -> Result<HeaderMap, LokiError> {
        let mut h = HeaderMap::new();
        if let Some(t) = tenant {
            let v = HeaderValue::from_str(t).map_err(|_| LokiError::Config {
                key: "tenant".into(),
                message: "is not a valid HTTP header value".into(),
            })?;
            h.insert("X-Scope-OrgID", v);
        }
        let auth = match self {
            Self::None => return Ok(h),
            Self::Basic { user, password, .. } => {
                format!(
                    "Basic {}",
                    base64(format!("{user}:{}", password.expose()).as_bytes())
                )
            }
            Self::Bearer { token, .. } => format!("Bearer {}", token.expose()),
        };
        let mut v = HeaderValue::from_str(&auth).map_err(|_| LokiError::Config {
            key: "credentials".into(),
            message: format!(
                "the secret from {} is not a valid header value",
                self.source()
            ),
        })?;
        v.set_sensitive(true);
        h.insert(AUTHORIZATION, v);
        Ok(h)
    }
}

/// Reads a secret file, trimming the trailing newline editors and `kubectl` leave.
fn read_secret(path: &Path, key: &str) -> Result<Secret, LokiError> {
    Secret::from_file(path).map_err(|e| LokiError::Config {
        key: key.into(),
        message: format!("cannot read {}: {e}", path.display()),
    })
}

/// Standard base64 with padding (for basic auth; a dependency for 10 lines is not worth it).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn secrets_never_print() {
        let mut cfg = LokiConfig::new("http://l");
        cfg.username = Some("bob".into());
        let c = Credentials::resolve(&cfg, |_| Some("hunter2".into())).unwrap();
        let shown = format!("{c:?} {}", c.source());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(PASSWORD_ENV), "{shown}");
        let h = c.headers(Some("team-a")).unwrap();
        assert!(h[AUTHORIZATION].is_sensitive());
        assert_eq!(h[AUTHORIZATION], "Basic Ym9iOmh1bnRlcjI=");
        assert!(!format!("{h:?}").contains("Ym9iOmh1bnRlcjI"));
    }

    #[test]
    fn token_from_env_or_file() {
        let cfg = LokiConfig::new("http://l");
        let c = Credentials::resolve(&cfg, |k| (k == TOKEN_ENV).then(|| "t0k\n".into())).unwrap();
        assert_eq!(c.headers(None).unwrap()[AUTHORIZATION], "Bearer t0k");
        assert!(matches!(
            Credentials::resolve(&cfg, |_| None).unwrap(),
            Credentials::None
        ));
        let mut cfg = cfg;
        cfg.token_file = Some("/nonexistent/token".into());
        let e = Credentials::resolve(&cfg, |_| None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("loki.token_file: cannot read /nonexistent/token"),
            "{e}"
        );
    }
}
