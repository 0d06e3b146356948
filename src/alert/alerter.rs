//! Wires the policy to the notifiers: observations in, messages out through the outboxes.
//!
//! `serve` and `replay --alerts` both use it the same way: [`Alerter::new`] inside a tokio
//! runtime, [`Alerter::observe`] once per minute with every pod's observation, and
//! [`Alerter::shutdown`] to flush the outboxes before exit.

use std::sync::Arc;

use serde_json::Value;

use super::config::{AlertConfig, MessageConfig};
use super::error::AlertError;
use super::explain::Explainer;
use super::message::Message;
use super::notifier::{self, Notifier};
use super::outbox::{http_client, DeliveryStats, Outbox, StatsSnapshot};
use super::policy::{Notice, NoticeKind, PodObservation, Policy, PolicyStats};
use super::redact::Redactor;

/// A notifier with its outbox running.
#[derive(Debug)]
struct Running {
    /// Renders the payloads.
    notifier: Box<dyn Notifier>,
    /// Delivers them.
    outbox: Outbox,
}

/// What one notifier did, after shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierReport {
    /// `slack`, `alertmanager` or `webhook`.
    pub name: &'static str,
    /// Its counters.
    pub stats: StatsSnapshot,
}

/// The policy plus every configured notifier.
#[derive(Debug)]
pub struct Alerter {
    policy: Policy,
    message: MessageConfig,
    redactor: Arc<Redactor>,
    explainer: Option<Explainer>,
    notifiers: Vec<Running>,
    held_back_seen: u64,
}

impl Alerter {
    /// Validates `cfg`, reads its secrets and starts one outbox per notifier.
    /// Must run inside a tokio runtime.
    pub fn new(cfg: &AlertConfig) -> Result<Self, AlertError> {
        cfg.validate()?;
        let setups = notifier::configured(cfg)?;
        let explainer = match &cfg.explain {
            Some(ex) => Some(Explainer::new(ex, ex.api_key()?, http_client(ex.timeout)?)),
            None => None,
        };
        let client = http_client(cfg.delivery.request_timeout)?;
        let notifiers = setups
            .into_iter()
            .map(|s| Running {
                outbox: Outbox::spawn(s.notifier.name(), client.clone(), s.target, &cfg.delivery),
                notifier: s.notifier,
            })
            .collect();
        Ok(Self {
            policy: Policy::new(cfg.policy.clone()),
            message: cfg.message.clone(),
            redactor: Arc::new(Redactor::new(&cfg.redact.extra_patterns)?),
            explainer,
            notifiers,
            held_back_seen: 0,
        })
    }

    /// The redactor, for anything else that shows lines outside the process (`/api/v1/pods`).
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Each notifier's live counters, for metrics.
    pub fn stats(&self) -> Vec<(&'static str, Arc<DeliveryStats>)> {
        self.notifiers
            .iter()
            .map(|n| (n.outbox.name(), Arc::clone(n.outbox.stats())))
            .collect()
    }

    /// What storm control did so far.
    pub fn policy_stats(&self) -> PolicyStats {
        self.policy.stats()
    }

    /// Pods in an announced anomalous episode.
    pub fn active_pods(&self) -> usize {
        self.policy.active().count()
    }

    /// Pods in an anomalous episode, announced or not.
    pub fn open_episodes(&self) -> usize {
        self.policy.open_episodes()
    }

    /// Runs the policy on this moment's observations and queues the resulting messages.
    /// Returns the messages queued (per notifier).
    pub async fn observe(&mut self, now_ns: i64, observations: &[PodObservation]) -> usize {
        let notices = self.policy.evaluate(now_ns, observations);
        self.count_held_back();
        let messages = self.prepare(&notices).await;
        for n in &mut self.notifiers {
            for (notice, msg) in notices.iter().zip(&messages) {
                let payload = n.notifier.render(msg, now_ns);
                push(n, notice, payload);
            }
            if let Some(payload) = n.notifier.repost(now_ns) {
                n.outbox.push(payload);
            }
        }
        messages.len()
    }

    /// Builds the messages, asking the explainer for firing ones concurrently; each
    /// explanation is bounded by its timeout, so this never waits longer than that.
    async fn prepare(&self, notices: &[Notice]) -> Vec<Message> {
        let mut messages: Vec<Message> = notices
            .iter()
            .map(|n| Message::build(n, &self.message, &self.redactor))
            .collect();
        let Some(explainer) = &self.explainer else {
            return messages;
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (i, msg) in messages.iter().enumerate() {
            if msg.kind == NoticeKind::Firing {
                let (explainer, msg) = (explainer.clone(), msg.clone());
                tasks.spawn(async move { (i, explainer.explain(&msg).await) });
            }
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, Some(text))) = done {
                messages[i].explanation = Some(text);
            }
        }
        messages
    }

    fn count_held_back(&mut self) {
        let held = self.policy.stats().held_back;
        let new = held - self.held_back_seen;
        self.held_back_seen = held;
        for n in &self.notifiers {
            n.outbox
                .stats()
                .held_back
                .fetch_add(new, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Flushes every outbox (concurrently) within the drain deadline and reports what
    /// each did.
    pub async fn shutdown(self) -> Vec<NotifierReport> {
        let closing: Vec<_> = self
            .notifiers
            .into_iter()
            .map(|n| (n.outbox.name(), tokio::spawn(n.outbox.close())))
            .collect();
        let mut reports = Vec::new();
        for (name, task) in closing {
            let stats = task.await.unwrap_or_default();
            reports.push(NotifierReport { name, stats });
        }
        reports
    }
}

fn push(n: &Running, notice: &Notice, payload: Value) {
    if n.outbox.push(payload) {
        if let Notice::Group { alerts, .. } = notice {
            n.outbox
                .stats()
                .grouped
                .fetch_add(alerts.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
