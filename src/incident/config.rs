//! The `[incidents]` section: where the incident history is written.
//!
//! ```toml
//! [incidents]
//! database = "sqlite:///var/lib/loganomaly/incidents.db"   # or path = "/var/lib/…"
//! # database = "postgres://loganomaly@db.example:5432/loganomaly"
//! # password = { env = "LOGANOMALY_DB_PASSWORD" }
//! ```

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::StoreError;
use crate::secret::SecretSource;

/// `[incidents]` (inside `[alerting]` of the service config, at the top of an alert config).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentConfig {
    /// `sqlite:///absolute/path.db`, `sqlite://relative/path.db`, or a PostgreSQL URL
    /// `postgres://user@host:port/dbname` (without the password: see `password`).
    pub database: Option<String>,
    /// The SQLite file, instead of a `sqlite://` URL in `database`.
    pub path: Option<PathBuf>,
    /// The PostgreSQL password: `{ env = "VAR" }`, `{ file = "/path" }` or inline.
    pub password: Option<SecretSource>,
    /// Incident writes queued for the writer at most; beyond, a write is dropped and
    /// counted (`loganomaly_incident_writes_total{outcome="dropped"}`): alerting never waits.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// On exit, how long the writer may keep retrying what is queued; the rest is counted
    /// as failed.
    #[serde(default = "default_drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
}

fn default_queue() -> usize {
    4096
}

fn default_drain_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Where the incidents go, checked.
#[derive(Debug, Clone)]
pub enum Database {
    /// An SQLite file (created with its folder when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL server (the password, if any, set apart from the URL).
    Postgres(Box<postgres::Config>),
}

impl IncidentConfig {
    /// The database at `url` (see `database`), with the default queue and drain.
    pub fn at(url: &str) -> Self {
        Self {
            database: Some(url.to_string()),
            path: None,
            password: None,
            queue: default_queue(),
            drain_timeout: default_drain_timeout(),
        }
    }

    /// Checks every value, naming the first bad key (the password is not read here).
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.queue == 0 {
            return Err(config("queue", "must be at least 1"));
        }
        if self.drain_timeout.is_zero() {
            return Err(config("drain_timeout", "must be > 0"));
        }
        self.target().map(|_| ())
    }

    /// The database to use, with its password read from its source.
    pub fn database(&self) -> Result<Database, StoreError> {
        let mut db = self.target()?;
        match (&mut db, &self.password) {
            (Database::Postgres(pg), Some(source)) => {
                let secret = source
                    .resolve("incidents.password")
                    .map_err(|e| config("password", e.reason))?;
                pg.password(secret.expose());
            }
            (Database::Sqlite(_), Some(_)) => {
                return Err(config("password", "only a PostgreSQL database takes one"));
            }
            _ => {}
        }
        Ok(db)
    }

    fn target(&self) -> Result<Database, StoreError> {
        match (&self.database, &self.path) {
            (Some(_), Some(_)) => Err(config("path", "set `database` or `path`, not both")),
            (None, None) => Err(config("database", "set `database` (a URL) or `path`")),
            (None, Some(path)) => sqlite_path(path.clone(), "path"),
            (Some(url), None) => parse_url(url),
        }
    }
}

fn parse_url(url: &str) -> Result<Database, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return sqlite_path(PathBuf::from(path), "database");
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(config(
            "database",
            "must start with sqlite://, postgres:// or postgresql://",
        ));
    }
    let pg = postgres::Config::from_str(url)
        .map_err(|e| config("database", format!("not a PostgreSQL URL: {e}")))?;
    if pg.get_password().is_some() {
        return Err(config(
            "database",
            "holds a password: give it as `incidents.password` (a secret) instead",
        ));
    }
    Ok(Database::Postgres(Box::new(pg)))
}

fn sqlite_path(path: PathBuf, key: &'static str) -> Result<Database, StoreError> {
    if path.as_os_str().is_empty() {
        return Err(config(key, "names no file"));
    }
    Ok(Database::Sqlite(path))
}

fn config(key: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Config {
        key,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> IncidentConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn sqlite_urls_and_paths_name_a_file() {
        let db = parse("database = \"sqlite:///var/lib/x.db\"")
            .database()
            .unwrap();
        assert!(matches!(db, Database::Sqlite(p) if p == Path::new("/var/lib/x.db")));
        let db = parse("path = \"rel/x.db\"").database().unwrap();
        assert!(matches!(db, Database::Sqlite(p) if p == Path::new("rel/x.db")));
    }

    #[test]
    fn a_postgres_url_takes_its_password_from_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "pw-from-file\n").unwrap();
        let cfg = parse(&format!(
            "database = \"postgres://ana@127.0.0.1:5433/inc\"\npassword = {{ file = {:?} }}",
            file.display().to_string()
        ));
        let Database::Postgres(pg) = cfg.database().unwrap() else {
            panic!("not PostgreSQL");
        };
        assert_eq!(pg.get_user(), Some("ana"));
        assert_eq!(pg.get_password(), Some(&b"pw-from-file"[..]));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let err = |text: &str| parse(text).validate().unwrap_err().to_string();
        assert!(err("").contains("incidents.database"));
        assert!(err("database = \"mysql://x\"").contains("incidents.database"));
        let pw = err("database = \"postgres://ana:hunter2@db/inc\"");
        assert!(
            pw.contains("incidents.password") && !pw.contains("hunter2"),
            "{pw}"
        );
        assert!(err("path = \"a.db\"\ndatabase = \"sqlite://b.db\"").contains("incidents.path"));
        assert!(err("path = \"a.db\"\nqueue = 0").contains("incidents.queue"));
        let sqlite_pw = parse("path = \"a.db\"\npassword = \"x\"")
            .database()
            .unwrap_err();
        assert!(sqlite_pw.to_string().contains("incidents.password"));
    }
}
