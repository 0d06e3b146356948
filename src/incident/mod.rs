//! Incident history: every alert episode, written to a database that outlives the process.
//!
//! ## Layout
//! - [`config`]: the `[incidents]` section (SQLite path or PostgreSQL URL, queue, drain).
//! - `store`: the [`Store`] trait that SQLite and PostgreSQL implement, the SQL they share
//!   and the versioned migrations (`migrations/*.sql`, recorded in `schema_migrations`).
//! - `sqlite`, `postgres`: one file per database.
//! - `writer`: the [`Recorder`]: a bounded queue to one writer thread, which retries a
//!   failed database with the service's one backoff ([`crate::retry`]); the alert path only
//!   ever does a non-blocking `try_send`, and a full queue is counted, not waited for.
//! - `record`: [`Incident`], built from an alert message (lines already redacted), and the
//!   [`Filter`] of `GET /api/v1/incidents` and `loganomaly incidents`.
//! - `error`: typed errors.

pub mod config;
mod error;
mod postgres;
mod record;
mod sqlite;
mod store;
mod writer;

pub use config::IncidentConfig;
pub use error::StoreError;
pub use record::{from_message, Filter, Incident, IncidentLine, Query, Status};
pub use store::{connect, open, Store, MIGRATIONS};
pub use writer::{Recorder, RecorderStats, RecorderTotals};
