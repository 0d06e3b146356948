//! Log evidence for Prometheus alerts: Alertmanager's webhook payload (version 4) in, the
//! pods each alert names out, and a follow-up message per pod that loganomaly has seen
//! logging abnormally.
//!
//! An alert names a pod with a `pod` label (`KubePodCrashLooping`, `KubePodNotReady`,
//! `KubeContainerWaiting`, or any rule that keeps it), or a workload with one of
//! [`WORKLOAD_LABELS`] (`KubeDeploymentReplicasMismatch` has `deployment`); a workload
//! names each of its pods (the pod name without its ReplicaSet hash or StatefulSet
//! ordinal, see [`workload_of`]). A `namespace` label, when present, must match too.
//!
//! Alertmanager sends a group again at every `group_interval` change and `repeat_interval`;
//! [`FollowUps`] remembers which alert episodes were followed up, so each gets one message.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::dependency::workload_of;
use super::message::LineView;

/// The webhook payload version this reads (Alertmanager 0.x sends "4").
pub const PAYLOAD_VERSION: &str = "4";

/// Labels that name a workload, most specific first.
pub const WORKLOAD_LABELS: [&str; 5] = [
    "workload",
    "deployment",
    "statefulset",
    "daemonset",
    "job_name",
];

/// Alertmanager's webhook payload (the fields used; the others are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerWebhook {
    /// Payload format version: [`PAYLOAD_VERSION`].
    pub version: String,
    /// The receiver the route chose.
    #[serde(default)]
    pub receiver: String,
    /// The group's alerts.
    #[serde(default)]
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of an [`AlertmanagerWebhook`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Its labels (`alertname`, `namespace`, `pod`, …).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// RFC 3339: when it started firing.
    #[serde(default)]
    pub starts_at: String,
    /// Alertmanager's identity of the label set.
    #[serde(default)]
    pub fingerprint: String,
}

/// Why a body is not a webhook payload loganomaly reads.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or not the payload's shape.
    #[error("not an Alertmanager webhook payload: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format version.
    #[error("Alertmanager webhook payload version {0:?}: only version \"4\" is read")]
    Version(String),
}

impl AlertmanagerWebhook {
    /// Reads a payload, refusing other format versions.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let payload: Self = serde_json::from_slice(body)?;
        if payload.version != PAYLOAD_VERSION {
            return Err(PayloadError::Version(payload.version));
        }
        Ok(payload)
    }

    /// The alerts that name a pod or a workload, in order.
    pub fn subjects(&self) -> Vec<Subject> {
        self.alerts.iter().filter_map(Subject::of).collect()
    }
}

/// Who one Prometheus alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// The alert's `alertname`.
    pub alertname: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Its `namespace` label, if any.
    pub namespace: Option<String>,
    /// Its `pod` label, if any.
    pub pod: Option<String>,
    /// The first of its [`WORKLOAD_LABELS`], if it has no `pod`.
    pub workload: Option<String>,
    /// RFC 3339: when it started firing.
    pub starts_at: String,
    /// One alert episode: its fingerprint (or label set) and start.
    #[serde(skip)]
    episode: String,
}

impl Subject {
    /// The subject of `alert`, `None` when it names neither a pod nor a workload.
    fn of(alert: &WebhookAlert) -> Option<Self> {
        let label = |k: &str| alert.labels.get(k).filter(|v| !v.is_empty()).cloned();
        let pod = label("pod");
        let workload = match pod {
            Some(_) => None,
            None => WORKLOAD_LABELS.iter().find_map(|k| label(k)),
        };
        if pod.is_none() && workload.is_none() {
            return None;
        }
        let identity = if alert.fingerprint.is_empty() {
            format!("{:?}", alert.labels)
        } else {
            alert.fingerprint.clone()
        };
        Some(Self {
            alertname: label("alertname").unwrap_or_else(|| "alert".to_string()),
            status: alert.status.clone(),
            namespace: label("namespace"),
            pod,
            workload,
            starts_at: alert.starts_at.clone(),
            episode: format!("{identity}@{}", alert.starts_at),
        })
    }

    /// Whether the alert is firing (resolved alerts get no follow-up).
    pub fn firing(&self) -> bool {
        self.status == "firing"
    }

    /// Whether `namespace`/`pod` is a pod this alert names.
    pub fn names(&self, namespace: &str, pod: &str) -> bool {
        if self.namespace.as_deref().is_some_and(|ns| ns != namespace) {
            return false;
        }
        match (&self.pod, &self.workload) {
            (Some(p), _) => p == pod,
            (None, Some(w)) => workload_of(pod) == w,
            (None, None) => false,
        }
    }
}

/// What loganomaly knows about one pod a Prometheus alert names: the follow-up's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The alert it answers.
    pub subject: Subject,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// Its burst score now.
    pub burst: f32,
    /// The highest burst score seen for it.
    pub peak_burst: f32,
    /// Its moving average of line scores.
    pub score: f32,
    /// The model's line threshold.
    pub line_threshold: f32,
    /// Anomalous lines since it was first seen.
    pub anomalous_lines: u64,
    /// The other workload its lines name most often.
    pub dependency: Option<String>,
    /// Its most anomalous recent lines, redacted, highest score first.
    pub top_lines: Vec<LineView>,
}

/// Alert episodes remembered; past this many the memory starts again (an episode then
/// followed up a second time is the only cost).
const REMEMBERED: usize = 10_000;

/// Which alert episodes were followed up, so that Alertmanager's repeats send nothing new.
#[derive(Debug, Default)]
pub struct FollowUps {
    sent: HashSet<String>,
}

impl FollowUps {
    /// The evidence not followed up yet: firing alerts, pods with lines to show, each pod
    /// once per alert episode; remembers it as followed up.
    pub fn fresh(&mut self, evidence: Vec<Evidence>) -> Vec<Evidence> {
        if self.sent.len() > REMEMBERED {
            self.sent.clear();
        }
        evidence
            .into_iter()
            .filter(|e| e.subject.firing() && !e.top_lines.is_empty())
            .filter(|e| {
                let key = format!("{}|{}/{}", e.subject.episode, e.namespace, e.pod);
                self.sent.insert(key)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example payload of Alertmanager's webhook documentation, for a pod alert of
    /// kube-prometheus and a workload alert.
    const PAYLOAD: &str = r#"{
      "version": "4",
      "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}",
      "truncatedAlerts": 0,
      "status": "firing",
      "receiver": "loganomaly",
      "groupLabels": {"alertname": "KubePodCrashLooping"},
      "commonLabels": {"alertname": "KubePodCrashLooping"},
      "commonAnnotations": {},
      "externalURL": "http://alertmanager:9093",
      "alerts": [
        {"status": "firing",
         "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-7d9f8b6c4-x2x8q", "container": "cart"},
         "annotations": {"description": "Pod shop/cart is in waiting state"},
         "startsAt": "2026-12-04T20:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prometheus/graph", "fingerprint": "a1b2c3"},
        {"status": "firing",
         "labels": {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "cart"},
         "annotations": {}, "startsAt": "2026-12-04T20:01:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "", "fingerprint": "d4e5f6"},
        {"status": "firing", "labels": {"alertname": "Watchdog"},
         "annotations": {}, "startsAt": "2026-12-04T20:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "", "fingerprint": "000000"}
      ]
    }"#;

    fn evidence(subject: &Subject, pod: &str) -> Evidence {
        Evidence {
            subject: subject.clone(),
            namespace: "shop".into(),
            pod: pod.into(),
            burst: 12.0,
            peak_burst: 30.0,
            score: 0.7,
            line_threshold: 0.6,
            anomalous_lines: 5,
            dependency: None,
            top_lines: vec![LineView {
                ts: "2026-12-04T20:00:01Z".into(),
                score: 0.8,
                line: "panic: nil map".into(),
            }],
        }
    }

    #[test]
    fn a_version_4_payload_names_pods_and_workloads() {
        let payload = AlertmanagerWebhook::parse(PAYLOAD.as_bytes()).unwrap();
        let subjects = payload.subjects();
        assert_eq!(subjects.len(), 2, "the Watchdog names no pod");
        let pod = &subjects[0];
        assert_eq!(pod.alertname, "KubePodCrashLooping");
        assert!(pod.names("shop", "cart-7d9f8b6c4-x2x8q"));
        assert!(!pod.names("shop", "cart-7d9f8b6c4-zzzzz"));
        assert!(
            !pod.names("other", "cart-7d9f8b6c4-x2x8q"),
            "namespace must match"
        );
        let workload = &subjects[1];
        assert_eq!(workload.workload.as_deref(), Some("cart"));
        assert!(workload.names("shop", "cart-7d9f8b6c4-zzzzz"));
        assert!(!workload.names("shop", "checkout-7d9f8b6c4-zzzzz"));
    }

    #[test]
    fn other_versions_and_shapes_are_refused_with_a_reason() {
        let v3 = PAYLOAD.replace("\"version\": \"4\"", "\"version\": \"3\"");
        let err = AlertmanagerWebhook::parse(v3.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("version \"3\""), "{err}");
        for bad in ["", "{", "[1]", "{\"alerts\": []}", "\u{FFFD}"] {
            assert!(
                AlertmanagerWebhook::parse(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        assert!(AlertmanagerWebhook::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn each_episode_is_followed_up_once_and_resolved_alerts_not_at_all() {
        let payload = AlertmanagerWebhook::parse(PAYLOAD.as_bytes()).unwrap();
        let subject = &payload.subjects()[0];
        let mut follow_ups = FollowUps::default();
        let first = follow_ups.fresh(vec![evidence(subject, "cart-7d9f8b6c4-x2x8q")]);
        assert_eq!(first.len(), 1);
        let repeat = follow_ups.fresh(vec![evidence(subject, "cart-7d9f8b6c4-x2x8q")]);
        assert!(repeat.is_empty(), "Alertmanager's repeat sends nothing new");

        let again = PAYLOAD.replace("2026-12-04T20:00:00Z", "2026-12-05T08:00:00Z");
        let next = AlertmanagerWebhook::parse(again.as_bytes())
            .unwrap()
            .subjects();
        let later = follow_ups.fresh(vec![evidence(&next[0], "cart-7d9f8b6c4-x2x8q")]);
        assert_eq!(
            later.len(),
            1,
            "a new episode of the same alert is followed up"
        );

        let mut resolved = next[0].clone();
        resolved.status = "resolved".into();
        resolved.starts_at = "another".into();
        assert!(follow_ups
            .fresh(vec![evidence(&resolved, "cart-7d9f8b6c4-x2x8q")])
            .is_empty());

        let mut quiet = evidence(&next[0], "cart-7d9f8b6c4-other");
        quiet.top_lines.clear();
        assert!(follow_ups.fresh(vec![quiet]).is_empty(), "nothing to show");
    }
}
