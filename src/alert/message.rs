//! A notice made ready to leave the process: lines redacted and cut, links filled in,
//! times formatted. Every notifier renders from a [`Message`], never from raw lines.

use serde::Serialize;

use super::category::{classify, Category};
use super::config::MessageConfig;
use super::evidence::Evidence;
use super::history::SeenBefore;
use super::policy::{Notice, NoticeKind, ObservedLine, PodAlert, Scope};
use super::redact::Redactor;
use crate::event::rfc3339;

/// One line as shown to people: redacted and cut.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineView {
    /// RFC 3339 time of the line.
    pub ts: String,
    /// Its anomaly score.
    pub score: f64,
    /// The line, redacted and cut to `message.max_line_chars`.
    pub line: String,
}

/// One pod's alert as shown to people (also the webhook payload's `alerts[]` item).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodView {
    /// Namespace.
    pub namespace: String,
    /// Pod.
    pub pod: String,
    /// `firing`, `reminder` or `resolved`.
    pub status: &'static str,
    /// RFC 3339: when the burst score first crossed the threshold in this episode.
    pub since: String,
    /// RFC 3339: when this notice was decided.
    pub at: String,
    /// RFC 3339: when the episode ended (resolved only).
    pub ended: Option<String>,
    /// Latest burst score (per-minute `-log10` chance of so many anomalous lines).
    pub burst: f64,
    /// Highest burst score of the episode.
    pub peak_burst: f64,
    /// Burst score at which a pod turns anomalous.
    pub threshold: f64,
    /// Moving average of line scores, and the model's line threshold.
    pub line_score: f64,
    /// The model's line threshold.
    pub line_threshold: f64,
    /// Anomalous lines in the latest minute.
    pub anomalous_lines: u32,
    /// Category id, e.g. `connection_refused`.
    pub category: Category,
    /// Category in words.
    pub category_label: &'static str,
    /// What to check first.
    pub check_first: &'static str,
    /// The other workload its lines name most often: where a victim pod's trouble likely
    /// comes from.
    pub dependency: Option<String>,
    /// Most anomalous lines, highest score first.
    pub top_lines: Vec<LineView>,
    /// Grafana pod dashboard, when configured.
    pub dashboard_url: Option<String>,
    /// Loki logs of the window, when configured.
    pub logs_url: Option<String>,
    /// The log summary of the pod's namespace, when configured.
    pub summary_url: Option<String>,
    /// The past incidents most like this episode ("seen this before"), most alike first.
    pub seen_before: Vec<SeenBefore>,
}

/// A notice ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Firing, reminder or resolved.
    pub kind: NoticeKind,
    /// `None` for one pod, else the group's namespace or the cluster.
    pub scope: Option<Scope>,
    /// The pods, most anomalous first.
    pub pods: Vec<PodView>,
    /// The LLM's likely cause, when one arrived in time.
    pub explanation: Option<String>,
    /// The Prometheus alert this message follows up with log evidence (its `alertname`);
    /// `None` for loganomaly's own alerts.
    pub follow_up: Option<String>,
}

impl Message {
    /// Prepares `notice`: redaction, cutting, links.
    pub fn build(notice: &Notice, cfg: &MessageConfig, redactor: &Redactor) -> Self {
        let scope = match notice {
            Notice::Pod(_) => None,
            Notice::Group { scope, .. } => Some(scope.clone()),
        };
        Self {
            kind: notice.kind(),
            scope,
            pods: notice
                .alerts()
                .iter()
                .map(|a| pod_view(a, cfg, redactor))
                .collect(),
            explanation: None,
            follow_up: None,
        }
    }

    /// The follow-up of a Prometheus alert: what loganomaly saw `evidence`'s pod log, at
    /// `now_ns`, judged against `enter_score` (the policy's burst threshold).
    pub fn follow_up(
        evidence: &Evidence,
        now_ns: i64,
        enter_score: f32,
        cfg: &MessageConfig,
        redactor: &Redactor,
    ) -> Self {
        Self {
            kind: NoticeKind::Firing,
            scope: None,
            pods: vec![evidence_view(evidence, now_ns, enter_score, cfg, redactor)],
            explanation: None,
            follow_up: Some(evidence.subject.alertname.clone()),
        }
    }

    /// One line for notification previews, Alertmanager's summary and the text fallback.
    pub fn summary(&self) -> String {
        let Some(first) = self.pods.first() else {
            return String::new();
        };
        if let Some(alert) = &self.follow_up {
            return format!(
                "{alert} on {}/{}: loganomaly saw {} anomalous lines ({}), peak burst {:.1}",
                first.namespace,
                first.pod,
                first.anomalous_lines,
                first.category_label,
                first.peak_burst
            );
        }
        let resolved = self.kind == NoticeKind::Resolved;
        let Some(scope) = &self.scope else {
            let (ns, pod) = (&first.namespace, &first.pod);
            if resolved {
                return format!("Resolved: {ns}/{pod} logs normally again");
            }
            let still = if self.kind == NoticeKind::Reminder {
                "Still: "
            } else {
                ""
            };
            return format!(
                "{still}{ns}/{pod} is logging abnormally ({}): burst {:.1} vs threshold {:.1} since {}",
                first.category_label,
                first.burst,
                first.threshold,
                short_time(&first.since),
            );
        };
        let n = self.pods.len();
        let place = match scope {
            Scope::Namespace(ns) => format!("in {ns}"),
            Scope::Cluster => "across the cluster".to_string(),
            Scope::Cause(workload) => {
                return if resolved {
                    format!("Resolved: {n} pods whose lines named {workload} log normally again")
                } else {
                    format!("{n} pods' anomalous lines name {workload}: check {workload} first")
                };
            }
        };
        if resolved {
            format!("Resolved: {n} pods {place} log normally again")
        } else {
            format!("{n} pods {place} are logging abnormally")
        }
    }
}

fn pod_view(a: &PodAlert, cfg: &MessageConfig, redactor: &Redactor) -> PodView {
    let from_ns = a.since_ns - 5 * 60_000_000_000;
    let to_ns = a.ended_ns.unwrap_or(a.at_ns) + 60_000_000_000;
    let link = |template: &Option<String>| {
        template
            .as_deref()
            .map(|t| fill_link(t, &a.namespace, &a.pod, from_ns, to_ns))
    };
    PodView {
        namespace: a.namespace.clone(),
        pod: a.pod.clone(),
        status: match a.kind {
            NoticeKind::Firing => "firing",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Resolved => "resolved",
        },
        since: rfc3339(a.since_ns),
        at: rfc3339(a.at_ns),
        ended: a.ended_ns.map(rfc3339),
        burst: round(a.burst, 1),
        peak_burst: round(a.peak_burst, 1),
        threshold: round(a.enter_score, 1),
        line_score: round(a.score, 3),
        line_threshold: round(a.threshold, 3),
        anomalous_lines: a.anomalous_in_window,
        category: a.category,
        category_label: a.category.label(),
        check_first: a.category.check_first(),
        dependency: a.dependency.clone(),
        top_lines: a
            .top_lines
            .iter()
            .take(cfg.top_lines)
            .map(|l| LineView {
                ts: rfc3339(l.ts_ns),
                score: round(l.score, 3),
                line: redactor.redact_cut(&l.line, cfg.max_line_chars),
            })
            .collect(),
        dashboard_url: link(&cfg.dashboard_url),
        logs_url: link(&cfg.logs_url),
        summary_url: link(&cfg.summary_url),
        seen_before: Vec::new(),
    }
}

/// The pod of a follow-up: its lines redacted and cut as in any alert, its links over the
/// last half hour.
fn evidence_view(
    e: &Evidence,
    now_ns: i64,
    enter_score: f32,
    cfg: &MessageConfig,
    redactor: &Redactor,
) -> PodView {
    let observed: Vec<ObservedLine> = e
        .top_lines
        .iter()
        .map(|l| ObservedLine {
            ts_ns: now_ns,
            score: l.score as f32,
            line: l.line.clone(),
            tokens: Vec::new(),
        })
        .collect();
    let category = classify(&observed);
    let from_ns = now_ns - 30 * 60_000_000_000;
    let link = |template: &Option<String>| {
        template
            .as_deref()
            .map(|t| fill_link(t, &e.namespace, &e.pod, from_ns, now_ns))
    };
    PodView {
        namespace: e.namespace.clone(),
        pod: e.pod.clone(),
        status: "firing",
        since: e.subject.starts_at.clone(),
        at: rfc3339(now_ns),
        ended: None,
        burst: round(e.burst, 1),
        peak_burst: round(e.peak_burst, 1),
        threshold: round(enter_score, 1),
        line_score: round(e.score, 3),
        line_threshold: round(e.line_threshold, 3),
        anomalous_lines: u32::try_from(e.anomalous_lines).unwrap_or(u32::MAX),
        category,
        category_label: category.label(),
        check_first: category.check_first(),
        dependency: e.dependency.clone(),
        top_lines: e
            .top_lines
            .iter()
            .take(cfg.top_lines)
            .map(|l| LineView {
                ts: l.ts.clone(),
                score: l.score,
                line: redactor.redact_cut(&l.line, cfg.max_line_chars),
            })
            .collect(),
        dashboard_url: link(&cfg.dashboard_url),
        logs_url: link(&cfg.logs_url),
        summary_url: link(&cfg.summary_url),
        seen_before: Vec::new(),
    }
}

/// `x` rounded to `digits` decimals, for readable payloads.
fn round(x: f32, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (f64::from(x) * scale).round() / scale
}

/// Fills a link template; every value is URL-encoded.
pub fn fill_link(template: &str, namespace: &str, pod: &str, from_ns: i64, to_ns: i64) -> String {
    let query = format!("{{namespace=\"{namespace}\", pod=\"{pod}\"}}");
    template
        .replace("{namespace}", &url_encode(namespace))
        .replace("{pod}", &url_encode(pod))
        .replace("{from_ms}", &(from_ns / 1_000_000).to_string())
        .replace("{to_ms}", &(to_ns / 1_000_000).to_string())
        .replace("{query}", &url_encode(&query))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `2023-11-14 23:13 UTC` from an RFC 3339 time.
pub fn short_time(rfc: &str) -> String {
    match (rfc.get(..10), rfc.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm} UTC"),
        _ => rfc.to_string(),
    }
}

/// The mark of a message's kind, for chat notifiers: red, orange, green.
pub fn icon(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Firing => "🔴",
        NoticeKind::Reminder => "🟠",
        NoticeKind::Resolved => "✅",
    }
}

/// The title of a chat message: the pod and what became of it, or a group's summary.
pub fn headline(msg: &Message) -> String {
    let icon = icon(msg.kind);
    match (&msg.scope, msg.pods.first()) {
        (None, Some(pod)) if msg.follow_up.is_some() => {
            let alert = msg.follow_up.as_deref().unwrap_or_default();
            format!("🔎 {alert}: what {}/{} logged", pod.namespace, pod.pod)
        }
        (None, Some(pod)) => {
            let name = format!("{}/{}", pod.namespace, pod.pod);
            match msg.kind {
                NoticeKind::Firing => format!("{icon} {name}"),
                NoticeKind::Reminder => format!("{icon} Still abnormal: {name}"),
                NoticeKind::Resolved => format!("{icon} Resolved: {name}"),
            }
        }
        _ => format!("{icon} {}", msg.summary()),
    }
}

/// "Seen before: shop/cart-0 on 2026-12-03 20:11 UTC for 14 min (0.97 alike); …", for
/// chat notifiers and Alertmanager; `None` when no past incident is like this one.
pub fn seen_before_text(pod: &PodView) -> Option<String> {
    if pod.seen_before.is_empty() {
        return None;
    }
    let items: Vec<String> = pod
        .seen_before
        .iter()
        .map(|s| {
            format!(
                "{}/{} on {} for {} min ({:.2} alike)",
                s.namespace,
                s.pod,
                short_time(&s.started),
                s.lasted_minutes,
                s.similarity
            )
        })
        .collect();
    Some(format!("Seen before: {}", items.join("; ")))
}

/// Cuts to at most `max` characters, marking a cut with `…`.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
