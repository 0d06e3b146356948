//! The incident writer: a bounded queue drained by one thread that owns the database
//! connection.
//!
//! The alert path calls [`Recorder::record`], a non-blocking `try_send`: when the queue is
//! full the write is dropped and counted, never waited for. The thread writes each incident
//! in order; when the database fails (it is down, restarting, locked) it drops the
//! connection, waits with the service's one backoff ([`crate::retry::Retries`]), reconnects
//! and tries the same incident again, so nothing queued is lost while the process lives.
//! A row is in the database once written (its transaction committed), so a restart loses
//! only what was still queued; rows are upserted by a stable id, so writing the same
//! episode again after a restart (a rerun replay) does not duplicate it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::{Database, IncidentConfig};
use super::error::StoreError;
use super::record::Incident;
use super::store::{self, Store};
use crate::retry::{Backoff, Retries};

/// Waits between attempts while the database fails.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    max: Duration::from_secs(5),
};

/// What the writer did, live (for metrics).
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Incident writes committed.
    pub written: AtomicU64,
    /// Writes dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Writes given up on at exit (the drain deadline passed with the database down).
    pub failed: AtomicU64,
}

/// [`RecorderStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderTotals {
    /// See [`RecorderStats::written`].
    pub written: u64,
    /// See [`RecorderStats::dropped`].
    pub dropped: u64,
    /// See [`RecorderStats::retried`].
    pub retried: u64,
    /// See [`RecorderStats::failed`].
    pub failed: u64,
}

impl RecorderStats {
    /// The counters now.
    pub fn totals(&self) -> RecorderTotals {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RecorderTotals {
            written: get(&self.written),
            dropped: get(&self.dropped),
            retried: get(&self.retried),
            failed: get(&self.failed),
        }
    }
}

/// The handle of the writer thread: queue incidents, then close.
#[derive(Debug)]
pub struct Recorder {
    /// The queue to the writer.
    tx: SyncSender<Incident>,
    /// Its counters.
    stats: Arc<RecorderStats>,
    /// Set by [`Recorder::close`]: past it, the writer stops retrying.
    deadline: Arc<Mutex<Option<Instant>>>,
    /// The writer thread.
    thread: JoinHandle<()>,
    /// How long [`Recorder::close`] lets the writer retry.
    drain: Duration,
}

impl Recorder {
    /// Checks `cfg`, reads the password, and starts the writer thread, which connects and
    /// migrates on its own (retrying while the database is down).
    pub fn start(cfg: &IncidentConfig) -> Result<Self, StoreError> {
        cfg.validate()?;
        let db = cfg.database()?;
        let (tx, rx) = mpsc::sync_channel(cfg.queue);
        let stats = Arc::new(RecorderStats::default());
        let deadline = Arc::new(Mutex::new(None));
        let writer = Writer {
            db,
            store: None,
            stats: Arc::clone(&stats),
            deadline: Arc::clone(&deadline),
        };
        let thread = std::thread::Builder::new()
            .name("incident-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Config {
                key: "database",
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            tx,
            stats,
            deadline,
            thread,
            drain: cfg.drain_timeout,
        })
    }

    /// Queues `incident` for writing; when the queue is full it is dropped and counted.
    pub fn record(&self, incident: Incident) -> bool {
        match self.tx.try_send(incident) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("incident queue full: incident write dropped");
                false
            }
        }
    }

    /// The live counters.
    pub fn stats(&self) -> &Arc<RecorderStats> {
        &self.stats
    }

    /// Lets the writer finish the queue within the drain deadline and waits for it
    /// (blocking: call it from a thread that may block).
    pub fn close(self) -> RecorderTotals {
        if let Ok(mut d) = self.deadline.lock() {
            *d = Some(Instant::now() + self.drain);
        }
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!("the incident writer panicked");
        }
        self.stats.totals()
    }
}

/// The writer thread's state.
struct Writer {
    /// Where to write.
    db: Database,
    /// The open connection; `None` after a failure, until the next attempt reconnects.
    store: Option<Box<dyn Store>>,
    /// Counters shared with the handle.
    stats: Arc<RecorderStats>,
    /// When to stop retrying (set at close).
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Incident>) {
        let mut retries = Retries::new(BACKOFF);
        while let Ok(incident) = rx.recv() {
            if !self.write_retrying(&incident, &mut retries) {
                let left = 1 + rx.try_iter().count() as u64;
                self.stats.failed.fetch_add(left, Ordering::Relaxed);
                tracing::warn!(
                    left,
                    "drain deadline reached with the incident database failing: incidents not written"
                );
                return;
            }
        }
    }

    /// Writes `incident`, retrying until it is written (true) or the deadline passes.
    fn write_retrying(&mut self, incident: &Incident, retries: &mut Retries) -> bool {
        loop {
            match self.write(incident) {
                Ok(()) => {
                    self.stats.written.fetch_add(1, Ordering::Relaxed);
                    retries.reset();
                    return true;
                }
                Err(e) => {
                    self.store = None;
                    let wait = retries.next(None);
                    if self.past_deadline(wait) {
                        return false;
                    }
                    self.stats.retried.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, ?wait, "incident database failed; retrying");
                    std::thread::sleep(wait);
                }
            }
        }
    }

    fn write(&mut self, incident: &Incident) -> Result<(), StoreError> {
        let store = match &mut self.store {
            Some(s) => s,
            None => self.store.insert(store::open(&self.db)?),
        };
        store.upsert(incident)
    }

    /// Whether waiting `wait` more would pass the drain deadline.
    fn past_deadline(&self, wait: Duration) -> bool {
        let deadline = self.deadline.lock().ok().and_then(|d| *d);
        deadline.is_some_and(|d| Instant::now() + wait > d)
    }
}
