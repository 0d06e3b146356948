//! Wires the policy to the notifiers: observations in, messages out through the outboxes.
//!
//! `serve` and `replay --alerts` both use it the same way: [`Alerter::new`] inside a tokio
//! runtime, [`Alerter::observe`] once per minute with every pod's observation, and
//! [`Alerter::shutdown`] to flush the outboxes before exit.

use std::sync::Arc;

use serde_json::Value;

use super::alertmanager::AlertmanagerState;
use super::config::{check_secret_url, AlertConfig, MessageConfig};
use super::error::AlertError;
use super::explain::Explainer;
use super::message::Message;
use super::outbox::{http_client, Auth, DeliveryStats, Outbox, StatsSnapshot, Target};
use super::policy::{Notice, NoticeKind, PodObservation, Policy, PolicyStats};
use super::redact::Redactor;
use super::{slack, webhook};
use crate::secret::Secret;

/// How a notifier renders messages.
#[derive(Debug)]
enum Render {
    Slack,
    Webhook,
    Alertmanager(AlertmanagerState),
}

#[derive(Debug)]
struct Notifier {
    render: Render,
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
    notifiers: Vec<Notifier>,
    held_back_seen: u64,
}

impl Alerter {
    /// Validates `cfg`, reads its secrets and starts one outbox per notifier.
    /// Must run inside a tokio runtime.
    pub fn new(cfg: &AlertConfig) -> Result<Self, AlertError> {
        cfg.validate()?;
        cfg.check_secrets()?;
        let client = http_client(cfg.delivery.request_timeout)?;
        let mut notifiers = Vec::new();
        let mut add = |name, render, target| {
            let outbox = Outbox::spawn(name, client.clone(), target, &cfg.delivery);
            notifiers.push(Notifier { render, outbox });
        };
        if let Some(s) = &cfg.slack {
            let url = s.webhook_url.resolve("slack.webhook_url")?;
            check_secret_url("slack.webhook_url", &url)?;
            add(
                "slack",
                Render::Slack,
                Target {
                    url,
                    auth: Auth::None,
                },
            );
        }
        if let Some(w) = &cfg.webhook {
            let url = w.url.resolve("webhook.url")?;
            check_secret_url("webhook.url", &url)?;
            let auth = match &w.bearer_token {
                Some(t) => Auth::Bearer(t.resolve("webhook.bearer_token")?),
                None => Auth::None,
            };
            add("webhook", Render::Webhook, Target { url, auth });
        }
        if let Some(am) = &cfg.alertmanager {
            let auth = match (&am.username, &am.password) {
                (Some(user), Some(p)) => Auth::Basic {
                    user: user.clone(),
                    password: p.resolve("alertmanager.password")?,
                },
                _ => Auth::None,
            };
            let url = Secret::new(AlertmanagerState::endpoint(&am.url));
            let render = Render::Alertmanager(AlertmanagerState::new(am.clone()));
            add("alertmanager", render, Target { url, auth });
        }
        let explainer = match &cfg.explain {
            Some(ex) => {
                let key = ex
                    .api_key
                    .as_ref()
                    .map(|k| k.resolve("explain.api_key"))
                    .transpose()?;
                Some(Explainer::new(ex, key, http_client(ex.timeout)?))
            }
            None => None,
        };
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
                let payload = match &mut n.render {
                    Render::Slack => slack::render(msg),
                    Render::Webhook => webhook::render(msg),
                    Render::Alertmanager(am) => am.on_message(msg, now_ns),
                };
                push(n, notice, payload);
            }
            if let Render::Alertmanager(am) = &mut n.render {
                if let Some(payload) = am.repost(now_ns) {
                    n.outbox.push(payload);
                }
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

fn push(n: &Notifier, notice: &Notice, payload: Value) {
    if n.outbox.push(payload) {
        if let Notice::Group { alerts, .. } = notice {
            n.outbox
                .stats()
                .grouped
                .fetch_add(alerts.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
