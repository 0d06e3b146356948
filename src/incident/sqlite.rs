//! The SQLite store: one file, in WAL mode so that readers (the API, `loganomaly
//! incidents`) never wait for the writer.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ToSqlOutput;
use rusqlite::{params_from_iter, Connection, Row, ToSql};

use super::error::StoreError;
use super::record::{Filter, Incident};
use super::store::{self, Columns, Param, Store};

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to an SQLite file.
pub struct Sqlite {
    /// The connection.
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating it and its folder when missing) the file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // a missing folder makes the open below fail with its own message
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Ok(Self { conn })
    }
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(s) => s.to_sql(),
            Param::OptText(s) => s.to_sql(),
            Param::Int(n) => n.to_sql(),
            Param::OptInt(n) => n.to_sql(),
            Param::Float(x) => x.to_sql(),
        }
    }
}

impl Columns for Row<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn float(&self, i: usize) -> Result<f64, StoreError> {
        Ok(self.get(i)?)
    }
}

impl Store for Sqlite {
    fn upsert(&mut self, incident: &Incident) -> Result<(), StoreError> {
        let params = store::upsert_params(incident);
        self.conn
            .prepare_cached(store::UPSERT)?
            .execute(params_from_iter(params.iter()))?;
        Ok(())
    }

    fn list(&mut self, filter: &Filter) -> Result<Vec<Incident>, StoreError> {
        let (sql, params) = store::select(filter);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(store::decode(row)?);
        }
        Ok(out)
    }

    fn applied(&mut self) -> Result<Vec<i64>, StoreError> {
        self.conn.execute_batch(store::CREATE_MIGRATIONS)?;
        let mut stmt = self.conn.prepare(store::SELECT_MIGRATIONS)?;
        let versions = stmt.query_map([], |r| r.get(0))?;
        Ok(versions.collect::<Result<_, _>>()?)
    }

    fn apply(&mut self, version: i64, name: &str, sql: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            store::INSERT_MIGRATION,
            (version, name, crate::event::rfc3339(crate::event::now_ns())),
        )?;
        tx.commit()?;
        Ok(())
    }
}
