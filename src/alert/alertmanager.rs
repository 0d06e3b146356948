//! Alertmanager notifier: `POST /api/v2/alerts`, one alert per pod, labelled with its
//! namespace, pod and workload (the pod name without its ReplicaSet hash and suffix or
//! StatefulSet ordinal), so that a route can group one workload's pods, alerted by
//! several loganomaly replicas (the DaemonSet variant: one per node), into one notice.
//!
//! Alertmanager does its own grouping and routing (PagerDuty, e-mail, Teams, Discord…), so
//! grouped notices are sent as their individual pod alerts. Active alerts carry no
//! `endsAt` and are re-posted every `repost_every` so Alertmanager keeps them firing; a
//! resolved alert is posted once more with `endsAt` set.

use std::collections::BTreeMap;

use std::time::Duration;

use serde_json::{json, Value};

use super::config::{AlertConfig, AlertmanagerConfig};
use super::dependency::workload_of;
use super::error::AlertError;
use super::message::{seen_before_text, Message, PodView};
use super::notifier::{Notifier, Setup};
use super::outbox::{Auth, Target};
use super::policy::NoticeKind;
use crate::secret::Secret;

/// `[alertmanager]`: the `/api/v2/alerts` endpoint and optional basic auth.
pub(super) fn setup(cfg: &AlertConfig) -> Result<Option<Setup>, AlertError> {
    let Some(am) = &cfg.alertmanager else {
        return Ok(None);
    };
    let auth = match (&am.username, &am.password) {
        (Some(user), Some(p)) => Auth::Basic {
            user: user.clone(),
            password: p.resolve("alertmanager.password")?,
        },
        _ => Auth::None,
    };
    let url = Secret::new(AlertmanagerState::endpoint(&am.url));
    Ok(Some(Setup {
        notifier: Box::new(AlertmanagerState::new(am.clone())),
        target: Target {
            url,
            auth,
            pace: Duration::ZERO,
        },
    }))
}

/// The alerts Alertmanager should currently know about, and when they were last posted.
#[derive(Debug)]
pub struct AlertmanagerState {
    cfg: AlertmanagerConfig,
    active: BTreeMap<(String, String), Value>,
    last_post_ns: Option<i64>,
}

impl AlertmanagerState {
    /// No active alert yet.
    pub fn new(cfg: AlertmanagerConfig) -> Self {
        Self {
            cfg,
            active: BTreeMap::new(),
            last_post_ns: None,
        }
    }

    /// The `/api/v2/alerts` URL for a base URL.
    pub fn endpoint(base: &str) -> String {
        format!("{}/api/v2/alerts", base.trim_end_matches('/'))
    }

    fn alert(&self, msg: &Message, pod: &PodView) -> Value {
        let lines: Vec<&str> = pod.top_lines.iter().map(|l| l.line.as_str()).collect();
        let mut annotations = json!({
            "summary": format!("{}/{} is logging abnormally ({})", pod.namespace, pod.pod, pod.category_label),
            "description": format!(
                "Burst score {:.1} (threshold {:.1}, peak {:.1}); {} anomalous lines in the last minute. Check first: {}",
                pod.burst, pod.threshold, pod.peak_burst, pod.anomalous_lines, pod.check_first
            ),
            "category": pod.category.id(),
            "top_lines": lines.join("\n"),
        });
        let extra = [
            ("dashboard_url", pod.dashboard_url.clone()),
            ("logs_url", pod.logs_url.clone()),
            ("summary_url", pod.summary_url.clone()),
            ("explanation", msg.explanation.clone()),
            ("dependency", pod.dependency.clone()),
            ("seen_before", seen_before_text(pod)),
        ];
        for (key, value) in extra {
            if let (Some(v), Some(map)) = (value, annotations.as_object_mut()) {
                map.insert(key.to_string(), Value::String(v));
            }
        }
        let mut alert = json!({
            "labels": {
                "alertname": self.cfg.alertname,
                "namespace": pod.namespace,
                "pod": pod.pod,
                "workload": workload_of(&pod.pod),
                "severity": self.cfg.severity,
            },
            "annotations": annotations,
            "startsAt": pod.since,
        });
        if let Some(map) = alert.as_object_mut() {
            if let Some(ended) = &pod.ended {
                map.insert("endsAt".into(), Value::String(ended.clone()));
            }
            if let Some(url) = &pod.dashboard_url {
                map.insert("generatorURL".into(), Value::String(url.clone()));
            }
        }
        alert
    }
}

impl Notifier for AlertmanagerState {
    fn name(&self) -> &'static str {
        "alertmanager"
    }

    /// A follow-up answers an alert Alertmanager sent: posting it back would loop.
    fn follows_up(&self) -> bool {
        false
    }

    /// The body to post for `msg` (a JSON array of alerts).
    fn render(&mut self, msg: &Message, now_ns: i64) -> Value {
        let mut alerts = Vec::with_capacity(msg.pods.len());
        for pod in &msg.pods {
            let key = (pod.namespace.clone(), pod.pod.clone());
            let alert = self.alert(msg, pod);
            if msg.kind == NoticeKind::Resolved {
                self.active.remove(&key);
            } else {
                self.active.insert(key, alert.clone());
            }
            alerts.push(alert);
        }
        self.last_post_ns = Some(now_ns);
        Value::Array(alerts)
    }

    /// Every active alert again, when `repost_every` has passed since the last post.
    fn repost(&mut self, now_ns: i64) -> Option<Value> {
        let every = i64::try_from(self.cfg.repost_every.as_nanos()).unwrap_or(i64::MAX);
        let due = self.last_post_ns.is_none_or(|t| now_ns - t >= every);
        if self.active.is_empty() || !due {
            return None;
        }
        self.last_post_ns = Some(now_ns);
        Some(Value::Array(self.active.values().cloned().collect()))
    }
}
