//! The PostgreSQL store, through the synchronous `postgres` client (on the writer's own
//! thread, never on the async runtime). Plain TCP: reach a remote server over a trusted
//! network or a TLS-terminating proxy.

use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};

use super::error::StoreError;
use super::record::{Filter, Incident};
use super::store::{self, Columns, Param, Store};

/// How long connecting may take before it counts as a failure (and is retried).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to a PostgreSQL database.
pub struct Postgres {
    /// The connection.
    client: Client,
}

impl Postgres {
    /// Connects with `cfg` (its password already set apart from the URL).
    pub fn connect(cfg: &postgres::Config) -> Result<Self, StoreError> {
        let mut cfg = cfg.clone();
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(Self {
            client: cfg.connect(NoTls)?,
        })
    }
}

impl Param {
    fn as_pg(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Text(s) => s,
            Param::OptText(s) => s,
            Param::Int(n) => n,
            Param::OptInt(n) => n,
            Param::Float(x) => x,
        }
    }
}

fn bind(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(Param::as_pg).collect()
}

impl Columns for Row {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn float(&self, i: usize) -> Result<f64, StoreError> {
        Ok(self.try_get(i)?)
    }
}

impl Store for Postgres {
    fn upsert(&mut self, incident: &Incident) -> Result<(), StoreError> {
        let params = store::upsert_params(incident);
        self.client.execute(store::UPSERT, &bind(&params))?;
        Ok(())
    }

    fn list(&mut self, filter: &Filter) -> Result<Vec<Incident>, StoreError> {
        let (sql, params) = store::select(filter);
        let rows = self.client.query(&sql, &bind(&params))?;
        rows.iter().map(|r| store::decode(r)).collect()
    }

    fn applied(&mut self) -> Result<Vec<i64>, StoreError> {
        self.client.batch_execute(store::CREATE_MIGRATIONS)?;
        let rows = self.client.query(store::SELECT_MIGRATIONS, &[])?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .collect()
    }

    fn apply(&mut self, version: i64, name: &str, sql: &str) -> Result<(), StoreError> {
        let mut tx = self.client.transaction()?;
        tx.batch_execute(sql)?;
        let at = crate::event::rfc3339(crate::event::now_ns());
        tx.execute(store::INSERT_MIGRATION, &[&version, &name, &at])?;
        tx.commit()?;
        Ok(())
    }
}
