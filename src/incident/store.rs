//! The storage trait, the SQL that SQLite and PostgreSQL share, and the migrations.
//!
//! Both databases run the same statements (`$1`-style parameters, `ON CONFLICT … DO
//! UPDATE`) and decode rows through the same [`Columns`] reader, so one set of tests covers
//! both. Migrations are the numbered files of `migrations/`, compiled in, applied in order
//! at start-up, each in a transaction with its row in `schema_migrations`.

use super::config::Database;
use super::error::StoreError;
use super::record::{Filter, Incident, IncidentLine, Status, DEFAULT_LIMIT};
use crate::alert::SeenBefore;

/// The schema's versions: (number, name, SQL), in order.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "incidents",
        include_str!("../../migrations/0001_incidents.sql"),
    ),
    (
        2,
        "seen_before",
        include_str!("../../migrations/0002_seen_before.sql"),
    ),
];

/// Where incidents are kept. SQLite and PostgreSQL implement it; everything else in this
/// module is shared.
pub trait Store: Send {
    /// Writes `incident`, replacing the row with its id.
    fn upsert(&mut self, incident: &Incident) -> Result<(), StoreError>;
    /// The incidents `filter` chooses, latest start first.
    fn list(&mut self, filter: &Filter) -> Result<Vec<Incident>, StoreError>;
    /// The migrations applied, creating their table when it is missing.
    fn applied(&mut self) -> Result<Vec<i64>, StoreError>;
    /// Runs one migration and records it, in one transaction.
    fn apply(&mut self, version: i64, name: &str, sql: &str) -> Result<(), StoreError>;
}

/// Connects to `db` without touching its schema (for readers).
pub fn connect(db: &Database) -> Result<Box<dyn Store>, StoreError> {
    Ok(match db {
        Database::Sqlite(path) => Box::new(super::sqlite::Sqlite::open(path)?),
        Database::Postgres(cfg) => Box::new(super::postgres::Postgres::connect(cfg)?),
    })
}

/// Connects to `db` and brings its schema up to date (for the writer).
pub fn open(db: &Database) -> Result<Box<dyn Store>, StoreError> {
    let mut store = connect(db)?;
    migrate(store.as_mut())?;
    Ok(store)
}

/// Applies the migrations not applied yet, in order.
fn migrate(store: &mut dyn Store) -> Result<(), StoreError> {
    let applied = store.applied()?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if let Some(&found) = applied.iter().max().filter(|&&v| v > known) {
        return Err(StoreError::NewerSchema { found, known });
    }
    for &(version, name, sql) in MIGRATIONS {
        if !applied.contains(&version) {
            store.apply(version, name, sql)?;
            tracing::info!(version, name, "incident database migrated");
        }
    }
    Ok(())
}

/// The table of applied migrations (the same SQL on both databases).
pub(super) const CREATE_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Reads the applied versions.
pub(super) const SELECT_MIGRATIONS: &str = "SELECT version FROM schema_migrations";

/// Records one migration (`$3`: when, RFC 3339).
pub(super) const INSERT_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)";

/// The columns of a row, in the order [`Columns`] reads them.
const COLUMNS: &str = "id, namespace, pod, grouped_in, status, started_ns, ended_ns, \
    peak_burst, threshold, category, dependency, top_lines, model_version, updated_ns, seen_before";

/// Inserts a row or replaces the one with its id.
pub(super) const UPSERT: &str = "INSERT INTO incidents (id, namespace, pod, grouped_in, \
    status, started_ns, ended_ns, peak_burst, threshold, category, dependency, top_lines, \
    model_version, updated_ns, seen_before) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
    ON CONFLICT (id) DO UPDATE SET grouped_in = excluded.grouped_in, \
    status = excluded.status, ended_ns = excluded.ended_ns, \
    peak_burst = excluded.peak_burst, threshold = excluded.threshold, \
    category = excluded.category, dependency = excluded.dependency, \
    top_lines = excluded.top_lines, model_version = excluded.model_version, \
    updated_ns = excluded.updated_ns, seen_before = excluded.seen_before";

/// A statement's parameter, bound by each database's own types.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Param {
    /// A string.
    Text(String),
    /// A string or NULL.
    OptText(Option<String>),
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// A float.
    Float(f64),
}

/// The parameters of [`UPSERT`] for `i`.
pub(super) fn upsert_params(i: &Incident) -> Vec<Param> {
    use Param::*;
    let lines = serde_json::to_string(&i.top_lines).unwrap_or_else(|_| "[]".to_string());
    vec![
        Text(i.id.clone()),
        Text(i.namespace.clone()),
        Text(i.pod.clone()),
        OptText(i.grouped_in.clone()),
        Text(i.status.as_str().to_string()),
        Int(i.started_ns),
        OptInt(i.ended_ns),
        Float(i.peak_burst),
        Float(i.threshold),
        Text(i.category.clone()),
        OptText(i.dependency.clone()),
        Text(lines),
        Text(i.model_version.clone()),
        Int(i.updated_ns),
        Text(serde_json::to_string(&i.seen_before).unwrap_or_else(|_| "[]".to_string())),
    ]
}

/// The `SELECT` for `f` and its parameters.
pub(super) fn select(f: &Filter) -> (String, Vec<Param>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let mut add = |clause: &str, p: Param| {
        params.push(p);
        clauses.push(clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(ns) = &f.namespace {
        add("namespace = ?", Param::Text(ns.clone()));
    }
    if let Some(pod) = &f.pod {
        add("pod = ?", Param::Text(pod.clone()));
    }
    if let Some(from) = f.from_ns {
        add("(ended_ns IS NULL OR ended_ns >= ?)", Param::Int(from));
    }
    if let Some(to) = f.to_ns {
        add("started_ns <= ?", Param::Int(to));
    }
    if let Some(status) = f.status {
        add("status = ?", Param::Text(status.as_str().to_string()));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let limit = f.limit.unwrap_or(DEFAULT_LIMIT);
    let sql = format!(
        "SELECT {COLUMNS} FROM incidents{filter} ORDER BY started_ns DESC, id LIMIT {limit}"
    );
    (sql, params)
}

/// Reads a row's columns by position; each database's row type implements it.
pub(super) trait Columns {
    /// A text column.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// A text column that may be NULL.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// An integer column that may be NULL.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A float column.
    fn float(&self, i: usize) -> Result<f64, StoreError>;
}

/// An incident from a row of [`COLUMNS`].
pub(super) fn decode(row: &dyn Columns) -> Result<Incident, StoreError> {
    let id = row.text(0)?;
    let bad = |reason: String| StoreError::Row {
        id: id.clone(),
        reason,
    };
    let status = row.text(4)?;
    let status = Status::parse(&status).ok_or_else(|| bad(format!("status {status:?}")))?;
    let top_lines: Vec<IncidentLine> =
        serde_json::from_str(&row.text(11)?).map_err(|e| bad(format!("top_lines: {e}")))?;
    let seen_before: Vec<SeenBefore> =
        serde_json::from_str(&row.text(14)?).map_err(|e| bad(format!("seen_before: {e}")))?;
    Ok(Incident {
        namespace: row.text(1)?,
        pod: row.text(2)?,
        grouped_in: row.opt_text(3)?,
        status,
        started_ns: row.int(5)?,
        ended_ns: row.opt_int(6)?,
        peak_burst: row.float(7)?,
        threshold: row.float(8)?,
        category: row.text(9)?,
        dependency: row.opt_text(10)?,
        top_lines,
        model_version: row.text(12)?,
        updated_ns: row.int(13)?,
        seen_before,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_their_parameters_in_order() {
        let f = Filter {
            pod: Some("api-1".into()),
            to_ns: Some(5),
            status: Some(Status::Resolved),
            limit: Some(3),
            ..Filter::default()
        };
        let (sql, params) = select(&f);
        assert!(
            sql.ends_with(
                "WHERE pod = $1 AND started_ns <= $2 AND status = $3 ORDER BY started_ns DESC, id LIMIT 3"
            ),
            "{sql}"
        );
        assert_eq!(
            params,
            vec![
                Param::Text("api-1".into()),
                Param::Int(5),
                Param::Text("resolved".into())
            ]
        );
        let (all, none) = select(&Filter::default());
        assert!(!all.contains("WHERE") && none.is_empty(), "{all}");
    }

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0, i as i64 + 1, "{}", m.1);
        }
    }
}
