//! Slack incoming-webhook payloads: Block Kit with a plain `text` fallback.
//!
//! Within Slack's limits: at most 50 blocks, 150 characters of header, 3000 per section
//! text; the whole payload is kept under [`MAX_PAYLOAD_CHARS`] by showing fewer lines and
//! pods until it fits.

use std::time::Duration;

use serde_json::{json, Value};

use super::config::AlertConfig;
use super::error::AlertError;
use super::message::{cut, headline, seen_before_text, short_time, Message, PodView};
use super::notifier::{chat_webhook, Setup, Stateless};
use super::policy::{NoticeKind, Scope};

/// Slack's limit on header text.
pub const MAX_HEADER_CHARS: usize = 150;
/// Slack's limit on a section's text.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Slack's limit on blocks per message.
pub const MAX_BLOCKS: usize = 50;
/// Our bound on the serialised payload (Slack rejects far larger ones).
pub const MAX_PAYLOAD_CHARS: usize = 12_000;

/// Pods listed by name in a grouped message.
const LIST_PODS: usize = 20;

/// `[slack]`: one Block Kit message per notice to the webhook URL (a secret, checked).
pub(super) fn setup(cfg: &AlertConfig) -> Result<Option<Setup>, AlertError> {
    let url = cfg.slack.as_ref().map(|c| &c.webhook_url);
    let notifier = Stateless {
        name: "slack",
        render,
    };
    chat_webhook(url, "slack.webhook_url", notifier, Duration::ZERO)
}

/// The Slack payload for `msg`.
pub fn render(msg: &Message) -> Value {
    let mut lines = 5;
    let mut pods = LIST_PODS;
    loop {
        let payload = render_with(msg, lines, pods);
        let size = payload.to_string().chars().count();
        if size <= MAX_PAYLOAD_CHARS || (lines == 0 && pods <= 1) {
            return payload;
        }
        if lines > 0 {
            lines -= 1;
        } else {
            pods /= 2;
        }
    }
}

fn render_with(msg: &Message, max_lines: usize, max_pods: usize) -> Value {
    let mut blocks = Vec::new();
    match (&msg.scope, msg.pods.first()) {
        (_, None) => {}
        (None, Some(pod)) => pod_blocks(msg, pod, max_lines, &mut blocks),
        (Some(scope), Some(worst)) => {
            group_blocks(msg, scope, worst, max_lines, max_pods, &mut blocks)
        }
    }
    blocks.truncate(MAX_BLOCKS);
    json!({ "text": msg.summary(), "blocks": blocks })
}

fn pod_blocks(msg: &Message, pod: &PodView, max_lines: usize, blocks: &mut Vec<Value>) {
    blocks.push(header(&headline(msg)));
    if msg.kind == NoticeKind::Resolved {
        let ended = pod.ended.as_deref().unwrap_or(&pod.at);
        blocks.push(section(&format!(
            "Logging normally again since *{}* (abnormal since {}, peak burst score {:.1}, {}).",
            short_time(ended),
            short_time(&pod.since),
            pod.peak_burst,
            pod.category_label
        )));
        push_links(pod, blocks);
        return;
    }
    blocks.push(json!({
        "type": "section",
        "fields": [
            field(&format!("*Burst score*\n{:.1} (threshold {:.1}, peak {:.1})", pod.burst, pod.threshold, pod.peak_burst)),
            field(&format!("*Since*\n{}", short_time(&pod.since))),
            field(&format!("*Category*\n{}", pod.category_label)),
            field(&format!("*Anomalous lines*\n{} {}", pod.anomalous_lines, if msg.follow_up.is_some() { "since the pod was first seen" } else { "in the last minute" })),
        ]
    }));
    blocks.push(section(&format!(
        "*Check first:* {}{}",
        escape(pod.check_first),
        blamed(pod)
    )));
    push_explanation(msg, blocks);
    if let Some(seen) = seen_before_text(pod) {
        blocks.push(section(&escape(&seen)));
    }
    push_lines(pod, max_lines, blocks);
    push_links(pod, blocks);
}

fn group_blocks(
    msg: &Message,
    scope: &Scope,
    worst: &PodView,
    max_lines: usize,
    max_pods: usize,
    blocks: &mut Vec<Value>,
) {
    blocks.push(header(&headline(msg)));
    let mut list = String::new();
    let mut shown = 0;
    for p in msg.pods.iter().take(max_pods) {
        let name = match (scope, &p.dashboard_url) {
            (Scope::Namespace(_), Some(url)) => format!("<{url}|{}>", p.pod),
            (Scope::Cluster | Scope::Cause(_), Some(url)) => {
                format!("<{url}|{}/{}>", p.namespace, p.pod)
            }
            (Scope::Namespace(_), None) => format!("`{}`", p.pod),
            (Scope::Cluster | Scope::Cause(_), None) => format!("`{}/{}`", p.namespace, p.pod),
        };
        let entry = format!(
            "• {name}: {}, peak burst {:.1}\n",
            p.category_label, p.peak_burst
        );
        if list.chars().count() + entry.chars().count() > MAX_SECTION_CHARS - 40 {
            break;
        }
        list.push_str(&entry);
        shown += 1;
    }
    if msg.pods.len() > shown {
        list.push_str(&format!("…and {} more\n", msg.pods.len() - shown));
    }
    blocks.push(section(&list));
    if msg.kind == NoticeKind::Resolved {
        return;
    }
    blocks.push(section(&format!(
        "*Most abnormal:* `{}/{}` since {} ({}). *Check first:* {}{}",
        worst.namespace,
        worst.pod,
        short_time(&worst.since),
        worst.category_label,
        escape(worst.check_first),
        blamed(worst)
    )));
    push_explanation(msg, blocks);
    push_lines(worst, max_lines.min(3), blocks);
    push_links(worst, blocks);
}

/// " Its lines name `X`: …" when they blame another workload, else nothing.
fn blamed(pod: &PodView) -> String {
    pod.dependency.as_deref().map_or(String::new(), |d| {
        format!(
            "\n*Its lines name* `{}`, another workload of the cluster: if it is failing too, start there.",
            escape(d)
        )
    })
}

fn push_explanation(msg: &Message, blocks: &mut Vec<Value>) {
    if let Some(text) = &msg.explanation {
        blocks.push(section(&format!("*Likely cause* (LLM): {}", escape(text))));
    }
}

fn push_lines(pod: &PodView, max_lines: usize, blocks: &mut Vec<Value>) {
    if pod.top_lines.is_empty() || max_lines == 0 {
        return;
    }
    let mut body = String::new();
    for l in pod.top_lines.iter().take(max_lines) {
        body.push_str(&escape(&l.line).replace("```", "'''"));
        body.push('\n');
    }
    let head = "*Top anomalous lines*\n```";
    let room = MAX_SECTION_CHARS - head.len() - 4;
    blocks.push(section(&format!("{head}{}```", cut(body.trim_end(), room))));
}

fn push_links(pod: &PodView, blocks: &mut Vec<Value>) {
    let links: Vec<String> = [
        (&pod.dashboard_url, "Pod dashboard"),
        (&pod.logs_url, "Logs in Loki"),
        (&pod.summary_url, "Log summary"),
    ]
    .iter()
    .filter_map(|(url, name)| url.as_ref().map(|u| format!("<{u}|{name}>")))
    .collect();
    if !links.is_empty() {
        blocks.push(json!({ "type": "context", "elements": [field(&links.join("  ·  "))] }));
    }
}

fn header(text: &str) -> Value {
    json!({ "type": "header", "text": { "type": "plain_text", "text": cut(text, MAX_HEADER_CHARS), "emoji": true } })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": mrkdwn(&cut(text, MAX_SECTION_CHARS)) })
}

/// A mrkdwn text object; callers cut it to the limit of where it goes.
fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

/// A section field (Slack allows 2000 characters each).
fn field(text: &str) -> Value {
    mrkdwn(&cut(text, 2000))
}

/// Slack's three escapes for text that is not markup.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
