//! The live Loki source against an in-process fake Loki (tests/loki/fake.rs), and the
//! binary against a real Loki 2.8.0 from `../shared/tools/loki` (tests/loki/real.rs;
//! skipped with a message without `../shared`).
//!
//! Every wait is bounded; no test asserts a speed. Figures (latency, lines/s) come from
//! the ignored `measure` test, run by hand.

mod command;
pub(crate) mod fake;
mod faults;
mod measure;
mod real;
mod serve;
mod state;
mod streaming;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use loganomaly::event::LogLine;
use loganomaly::loki::{self, LokiConfig, LokiError, LokiStats, Mode};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use fake::Labels;

/// Unix nanoseconds now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Settings that make a test quick: short settle, intervals and backoff.
pub fn quick(url: &str, mode: Mode) -> LokiConfig {
    let mut c = LokiConfig::new(url);
    c.mode = mode;
    c.backfill = Duration::from_secs(3600);
    c.settle = Duration::from_millis(200);
    c.poll_interval = Duration::from_millis(100);
    c.reconcile_interval = Duration::from_millis(300);
    c.tail_idle_timeout = Duration::from_secs(1);
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(500);
    c.connect_timeout = Duration::from_secs(2);
    c.request_timeout = Duration::from_secs(10);
    c
}

/// A source running in the background.
pub struct Running {
    pub rx: mpsc::Receiver<LogLine>,
    pub stats: Arc<LokiStats>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), LokiError>>,
}

/// Starts `loki::run` with a channel of `capacity`.
pub fn start(cfg: LokiConfig, capacity: usize) -> Running {
    let (tx, rx) = mpsc::channel(capacity);
    let stats = Arc::new(LokiStats::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(loki::run(cfg, tx, Arc::clone(&stats), async move {
        let _ = stopped.await;
    }));
    Running {
        rx,
        stats,
        stop: Some(stop),
        task,
    }
}

impl Running {
    /// Receives until `want` lines arrived or `within` passed, then listens `linger` more
    /// so that a duplicate arriving late is caught too.
    pub async fn collect(
        &mut self,
        want: usize,
        within: Duration,
        linger: Duration,
    ) -> Vec<LogLine> {
        let mut got = Vec::with_capacity(want);
        let deadline = Instant::now() + within;
        while got.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(l)) => got.push(l),
                Ok(None) | Err(_) => return got,
            }
        }
        while let Ok(Some(l)) = tokio::time::timeout(linger, self.rx.recv()).await {
            got.push(l);
        }
        got
    }

    /// Stops the source and returns its result.
    pub async fn stop(self) -> Result<(), LokiError> {
        self.stop_and_drain().await.0
    }

    /// Stops the source; returns its result and the lines it sent that were not received
    /// yet (they count as delivered).
    pub async fn stop_and_drain(mut self) -> (Result<(), LokiError>, Vec<LogLine>) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("source stops on shutdown")
            .expect("source task does not panic");
        let mut rest = Vec::new();
        while let Ok(l) = self.rx.try_recv() {
            rest.push(l);
        }
        (result, rest)
    }

    /// Waits (bounded) for the source to end by itself, e.g. on a fatal error.
    pub async fn ended(self) -> Result<(), LokiError> {
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("source ends by itself")
            .expect("source task does not panic")
    }
}

/// The identity of a line as Loki stores it.
pub fn key(l: &LogLine) -> (Labels, i64, String) {
    (l.stream.labels.clone(), l.ts_ns, l.line.clone())
}

/// Every expected line arrived, none twice, nothing else.
pub fn assert_exactly_once(got: &[LogLine], expected: &BTreeSet<(Labels, i64, String)>) {
    let mut seen = BTreeSet::new();
    let mut dups = 0;
    for l in got {
        if !seen.insert(key(l)) {
            dups += 1;
        }
    }
    let missing = expected.difference(&seen).count();
    let extra = seen.difference(expected).count();
    assert_eq!(
        (dups, missing, extra),
        (0, 0, 0),
        "duplicates, missing, unexpected of {} expected ({} received)",
        expected.len(),
        got.len()
    );
}

/// `n` streams of one namespace.
pub fn streams(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            let pod = format!("api-{i}");
            fake::labels(&[("namespace", "shop"), ("pod", &pod), ("container", "api")])
        })
        .collect()
}
