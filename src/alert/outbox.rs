//! Reliable delivery: a bounded outbox per notifier, drained by one task that retries.
//!
//! 2xx is delivered; 429 waits `Retry-After` (capped by `max_backoff`); 5xx, 408,
//! timeouts and network errors back off exponentially with jitter; any other 4xx is a
//! permanent failure, logged once (without the URL) and counted. On shutdown the outbox
//! is flushed within the drain deadline; what is still queued then is counted as failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::DeliveryConfig;
use super::error::{AlertError, DeliveryError};
use super::redact::redact_url;
use crate::retry::retry_after;
use crate::secret::Secret;

/// Builds the HTTP client every notifier shares (see [`crate::http::client`]).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, AlertError> {
    crate::http::client(timeout).map_err(|e| AlertError::Client(e.to_string()))
}

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials.
    None,
    /// `Authorization: Bearer …`.
    Bearer(Secret),
    /// HTTP basic auth.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: Secret,
    },
}

/// Where an outbox posts.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL (a secret for webhooks: it embeds the token).
    pub url: Secret,
    /// Credentials.
    pub auth: Auth,
    /// Least time between two requests: the endpoint's documented rate limit, kept so
    /// that bursts wait here instead of being answered 429 (zero: no pacing).
    pub pace: Duration,
}

/// Counters of one notifier, for metrics; read with [`DeliveryStats::snapshot`].
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Messages delivered.
    pub sent: AtomicU64,
    /// Messages given up on: rejected, out of attempts, outbox full, or left at shutdown.
    pub failed: AtomicU64,
    /// Retries made (each attempt after the first).
    pub retried: AtomicU64,
    /// Pod alerts that went out folded into grouped messages.
    pub grouped: AtomicU64,
    /// Pod alerts held back by the per-minute cap.
    pub held_back: AtomicU64,
    /// Messages queued and not yet finished.
    queued: AtomicU64,
}

/// A copy of [`DeliveryStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`DeliveryStats::sent`].
    pub sent: u64,
    /// See [`DeliveryStats::failed`].
    pub failed: u64,
    /// See [`DeliveryStats::retried`].
    pub retried: u64,
    /// See [`DeliveryStats::grouped`].
    pub grouped: u64,
    /// See [`DeliveryStats::held_back`].
    pub held_back: u64,
}

impl DeliveryStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            sent: get(&self.sent),
            failed: get(&self.failed),
            retried: get(&self.retried),
            grouped: get(&self.grouped),
            held_back: get(&self.held_back),
        }
    }

    fn bump(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }
}

/// A bounded queue of payloads for one endpoint, drained by a retrying task.
#[derive(Debug)]
pub struct Outbox {
    name: &'static str,
    tx: mpsc::Sender<Value>,
    task: JoinHandle<()>,
    stats: Arc<DeliveryStats>,
    drain_deadline: Duration,
}

struct Worker {
    name: &'static str,
    client: reqwest::Client,
    target: Target,
    cfg: DeliveryConfig,
    stats: Arc<DeliveryStats>,
}

impl Outbox {
    /// Starts the delivery task (needs a tokio runtime).
    pub fn spawn(
        name: &'static str,
        client: reqwest::Client,
        target: Target,
        cfg: &DeliveryConfig,
    ) -> Self {
        let (tx, rx) = mpsc::channel(cfg.outbox_capacity);
        let stats = Arc::new(DeliveryStats::default());
        let worker = Worker {
            name,
            client,
            target,
            cfg: cfg.clone(),
            stats: Arc::clone(&stats),
        };
        Self {
            name,
            tx,
            task: tokio::spawn(worker.run(rx)),
            stats,
            drain_deadline: cfg.drain_deadline,
        }
    }

    /// The notifier's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its counters.
    pub fn stats(&self) -> &Arc<DeliveryStats> {
        &self.stats
    }

    /// Queues a payload; when the outbox is full it is dropped, counted and logged.
    pub fn push(&self, payload: Value) -> bool {
        match self.tx.try_send(payload) {
            Ok(()) => {
                DeliveryStats::bump(&self.stats.queued, 1);
                true
            }
            Err(_) => {
                DeliveryStats::bump(&self.stats.failed, 1);
                tracing::warn!(notifier = self.name, "outbox full: notification dropped");
                false
            }
        }
    }

    /// Flushes what is queued within the drain deadline; the rest counts as failed.
    pub async fn close(self) -> StatsSnapshot {
        drop(self.tx);
        let mut task = self.task;
        if tokio::time::timeout(self.drain_deadline, &mut task)
            .await
            .is_err()
        {
            task.abort();
            let left = self.stats.queued.swap(0, Ordering::Relaxed);
            DeliveryStats::bump(&self.stats.failed, left);
            tracing::warn!(
                notifier = self.name,
                left,
                "drain deadline reached: undelivered notifications dropped"
            );
        }
        self.stats.snapshot()
    }
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Value>) {
        let mut next = tokio::time::Instant::now();
        while let Some(payload) = rx.recv().await {
            tokio::time::sleep_until(next).await;
            next = tokio::time::Instant::now() + self.target.pace;
            self.deliver(&payload).await;
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    async fn deliver(&self, payload: &Value) {
        let max = self.cfg.max_attempts;
        for attempt in 1..=max {
            let wait = match self.attempt(payload).await {
                Ok(()) => {
                    DeliveryStats::bump(&self.stats.sent, 1);
                    return;
                }
                Err(DeliveryError::Permanent { status, body }) => {
                    DeliveryStats::bump(&self.stats.failed, 1);
                    tracing::warn!(
                        notifier = self.name,
                        target = %redact_url(self.target.url.expose()),
                        status,
                        response = %body,
                        "notification rejected; not retried"
                    );
                    return;
                }
                Err(DeliveryError::RateLimited(d)) => d.min(self.cfg.max_backoff),
                Err(DeliveryError::Transient(_)) => self.cfg.backoff().delay(attempt - 1, None),
            };
            if attempt == max {
                break;
            }
            DeliveryStats::bump(&self.stats.retried, 1);
            tracing::debug!(
                notifier = self.name,
                attempt,
                ?wait,
                "retrying notification"
            );
            tokio::time::sleep(wait).await;
        }
        DeliveryStats::bump(&self.stats.failed, 1);
        tracing::warn!(
            notifier = self.name,
            target = %redact_url(self.target.url.expose()),
            attempts = max,
            "notification not delivered: out of attempts"
        );
    }

    async fn attempt(&self, payload: &Value) -> Result<(), DeliveryError> {
        let mut req = self.client.post(self.target.url.expose()).json(payload);
        req = match &self.target.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| DeliveryError::Transient(e.without_url().to_string()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if status.as_u16() == 429 {
            let wait = retry_after(resp.headers()).unwrap_or(self.cfg.initial_backoff);
            return Err(DeliveryError::RateLimited(wait));
        }
        let body: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        if status.is_server_error() || status.as_u16() == 408 {
            return Err(DeliveryError::Transient(format!("HTTP {status}: {body}")));
        }
        Err(DeliveryError::Permanent {
            status: status.as_u16(),
            body,
        })
    }
}
