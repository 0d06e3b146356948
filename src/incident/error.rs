//! Errors of the incident store.

/// Why the incident database could not be configured, reached or read.
///
/// Messages never contain the database password: it is given to the driver apart from the
/// URL, and the drivers do not repeat it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A setting of `[incidents]` is invalid; `key` names it.
    #[error("`incidents.{key}`: {reason}")]
    Config {
        /// The key inside `[incidents]`, e.g. `database`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// SQLite failed (the file cannot be opened, is locked, or a statement failed).
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (it cannot be reached, or a statement failed).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    /// A row does not hold what this version of loganomaly writes.
    #[error("incident {id}: {reason}")]
    Row {
        /// The incident's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database holds migrations this version of loganomaly does not know: it was
    /// written by a newer one.
    #[error("the database is at schema version {found}, newer than this loganomaly's {known}")]
    NewerSchema {
        /// The highest version recorded in `schema_migrations`.
        found: i64,
        /// The highest version this build carries.
        known: i64,
    },
}
