//! Wires the policy to the notifiers: observations in, messages out through the outboxes.
//!
//! `serve` and `replay --alerts` both use it the same way: [`Alerter::new`] inside a tokio
//! runtime, [`Alerter::observe`] once per minute with every pod's observation, and
//! [`Alerter::shutdown`] to flush the outboxes before exit. `serve` also calls
//! [`Alerter::follow_up`] with the log evidence of Prometheus alerts.

use std::sync::Arc;

use loganomaly_model::Model;
use serde_json::Value;

use super::config::{AlertConfig, MessageConfig};
use super::error::AlertError;
use super::evidence::{Evidence, FollowUps};
use super::explain::Explainer;
use super::history::{Episode, History};
use super::message::Message;
use super::notifier::{self, Notifier};
use super::outbox::{http_client, DeliveryStats, Outbox, StatsSnapshot};
use super::policy::{Notice, NoticeKind, PodObservation, Policy, PolicyStats};
use super::redact::Redactor;
use crate::incident::{self, Recorder, RecorderStats};

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
    /// Writes each episode to the incident history, when `[incidents]` is set.
    recorder: Option<Recorder>,
    /// The model's version written with each incident (see [`Alerter::set_model`]).
    model_version: String,
    /// The model whose vectoriser compares incidents ("seen this before").
    model: Option<Arc<Model>>,
    /// The past incidents new ones are compared with.
    history: History,
    /// The policy's burst threshold, shown in follow-ups.
    enter_score: f32,
    /// Which Prometheus alert episodes were followed up.
    follow_ups: FollowUps,
}

impl Alerter {
    /// Validates `cfg`, reads its secrets and starts one outbox per notifier.
    /// Must run inside a tokio runtime.
    pub fn new(cfg: &AlertConfig) -> Result<Self, AlertError> {
        cfg.validate()?;
        let setups = notifier::configured(cfg)?;
        let explainer = match &cfg.explain {
            Some(ex) => Some(Explainer::from_config(ex)?),
            None => None,
        };
        let recorder = cfg.incidents.as_ref().map(Recorder::start).transpose()?;
        let history = match &cfg.incidents {
            Some(inc) => History::load(inc.database()?),
            None => History::default(),
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
            recorder,
            model_version: String::new(),
            model: None,
            history,
            enter_score: cfg.policy.enter_score,
            follow_ups: FollowUps::default(),
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

    /// The model whose scores the next incidents come from: its version (when it was
    /// trained) is written with them, its vectoriser finds the past incidents like them.
    pub fn set_model(&mut self, model: &Arc<Model>) {
        if self.model_version != model.meta.trained_at {
            self.model_version = model.meta.trained_at.clone();
        }
        if !self.model.as_ref().is_some_and(|m| Arc::ptr_eq(m, model)) {
            self.model = Some(Arc::clone(model));
        }
    }

    /// The incident writer's live counters, when `[incidents]` is set (they hold the
    /// totals after [`Alerter::shutdown`]).
    pub fn incident_stats(&self) -> Option<Arc<RecorderStats>> {
        self.recorder.as_ref().map(|r| Arc::clone(r.stats()))
    }

    /// Runs the policy on this moment's observations and queues the resulting messages.
    /// Returns the messages queued (per notifier).
    pub async fn observe(&mut self, now_ns: i64, observations: &[PodObservation]) -> usize {
        let notices = self.policy.evaluate(now_ns, observations);
        self.count_held_back();
        let mut messages = self.prepare(&notices).await;
        self.attach_seen_before(&notices, &mut messages).await;
        self.record(&notices, &messages);
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

    /// Sends the log evidence of Prometheus alerts (from `POST /api/v1/alertmanager`) to
    /// every notifier but Alertmanager, each alert episode's pod once, explained like an
    /// alert. Returns the follow-ups queued (per notifier).
    pub async fn follow_up(&mut self, now_ns: i64, evidence: Vec<Evidence>) -> usize {
        let fresh = self.follow_ups.fresh(evidence);
        let mut messages: Vec<Message> = fresh
            .iter()
            .map(|e| Message::follow_up(e, now_ns, self.enter_score, &self.message, &self.redactor))
            .collect();
        self.explain(&mut messages).await;
        for n in self
            .notifiers
            .iter_mut()
            .filter(|n| n.notifier.follows_up())
        {
            for msg in &messages {
                let payload = n.notifier.render(msg, now_ns);
                n.outbox.push(payload);
            }
        }
        messages.len()
    }

    /// Builds the messages, asking the explainer for firing ones.
    async fn prepare(&self, notices: &[Notice]) -> Vec<Message> {
        let mut messages: Vec<Message> = notices
            .iter()
            .map(|n| Message::build(n, &self.message, &self.redactor))
            .collect();
        self.explain(&mut messages).await;
        messages
    }

    /// Asks the explainer for the firing messages' likely causes concurrently; each is
    /// bounded by its timeout, so this never waits longer than that.
    async fn explain(&self, messages: &mut [Message]) {
        let Some(explainer) = &self.explainer else {
            return;
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
    }

    /// Names in each pod's view the past incidents like its episode (with a model set).
    async fn attach_seen_before(&mut self, notices: &[Notice], messages: &mut [Message]) {
        let Some(model) = self.model.clone() else {
            return;
        };
        for (notice, msg) in notices.iter().zip(messages.iter_mut()) {
            for (alert, view) in notice.alerts().iter().zip(msg.pods.iter_mut()) {
                let lines: Vec<String> = view.top_lines.iter().map(|l| l.line.clone()).collect();
                let episode = Episode {
                    namespace: &alert.namespace,
                    pod: &alert.pod,
                    started_ns: alert.since_ns,
                    ended_ns: alert.ended_ns,
                    lines: &lines,
                };
                view.seen_before = self.history.seen_before(&model, episode).await;
            }
        }
    }

    /// Queues each pod of each notice for the incident history (never waits).
    fn record(&self, notices: &[Notice], messages: &[Message]) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        for (notice, msg) in notices.iter().zip(messages) {
            for row in incident::from_message(notice, msg, &self.model_version) {
                recorder.record(row);
            }
        }
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

    /// Flushes every outbox (concurrently) and the incident writer within their drain
    /// deadlines, and reports what each notifier did.
    pub async fn shutdown(self) -> Vec<NotifierReport> {
        let incidents = self
            .recorder
            .map(|r| tokio::task::spawn_blocking(move || r.close()));
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
        if let Some(task) = incidents {
            let _ = task.await;
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
