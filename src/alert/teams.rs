//! Microsoft Teams payloads: an Adaptive Card posted to a Teams Workflows webhook (the
//! "Post to a channel when a webhook request is received" flow, which replaced the
//! retired Office 365 connectors), within Teams' documented limits.
//!
//! Limits: a message of at most 28 KB (the serialised payload is kept under
//! [`MAX_PAYLOAD_BYTES`], with room to spare, by showing fewer lines and pods until it
//! fits); more than four requests a second to one webhook are throttled with 429, so the
//! outbox paces this notifier to one request every [`PACE`].

use std::time::Duration;

use serde_json::{json, Value};

use super::config::AlertConfig;
use super::error::AlertError;
use super::message::{cut, headline, seen_before_text, short_time, Message, PodView};
use super::notifier::{chat_webhook, Setup, Stateless};
use super::policy::NoticeKind;

/// Our bound on the serialised payload: Teams refuses messages above 28 KB, and its
/// envelope around the card takes some of that.
pub const MAX_PAYLOAD_BYTES: usize = 20_000;
/// Least time between two requests to one webhook (four a second at most).
pub const PACE: Duration = Duration::from_millis(250);
/// The Adaptive Card schema version used (the newest Teams renders everywhere).
pub const CARD_VERSION: &str = "1.4";

/// Pods listed by name in a grouped message, at most.
const LIST_PODS: usize = 20;
/// Characters of one text block, at most.
const MAX_TEXT_CHARS: usize = 4000;

/// `[teams]`: one Adaptive Card per notice to the Workflows webhook URL (a secret, checked).
pub(super) fn setup(cfg: &AlertConfig) -> Result<Option<Setup>, AlertError> {
    let url = cfg.teams.as_ref().map(|c| &c.webhook_url);
    let notifier = Stateless {
        name: "teams",
        render,
    };
    chat_webhook(url, "teams.webhook_url", notifier, PACE)
}

/// The Teams payload for `msg`.
pub fn render(msg: &Message) -> Value {
    let (mut lines, mut pods) = (5, LIST_PODS);
    loop {
        let payload = envelope(card(msg, lines, pods));
        if payload.to_string().len() <= MAX_PAYLOAD_BYTES || (lines == 0 && pods <= 1) {
            return payload;
        }
        if lines > 0 {
            lines -= 1;
        } else {
            pods /= 2;
        }
    }
}

/// The message Teams' webhook takes: one Adaptive Card attachment.
fn envelope(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }]
    })
}

fn card(msg: &Message, max_lines: usize, max_pods: usize) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": cut(&headline(msg), 200),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
        "color": colour(msg.kind),
    })];
    let mut actions = Vec::new();
    if let Some(worst) = msg.pods.first() {
        body.extend(details(msg, worst, max_lines, max_pods));
        for (url, title) in [
            (&worst.dashboard_url, "Pod dashboard"),
            (&worst.logs_url, "Logs in Loki"),
            (&worst.summary_url, "Log summary"),
        ] {
            if let Some(url) = url {
                actions.push(json!({ "type": "Action.OpenUrl", "title": title, "url": url }));
            }
        }
    }
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": { "width": "Full" },
        "body": body,
        "actions": actions,
    })
}

/// Attention, warning, good.
fn colour(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Firing => "Attention",
        NoticeKind::Reminder => "Warning",
        NoticeKind::Resolved => "Good",
    }
}

fn text(s: &str) -> Value {
    json!({ "type": "TextBlock", "text": cut(s, MAX_TEXT_CHARS), "wrap": true })
}

fn details(msg: &Message, worst: &PodView, max_lines: usize, max_pods: usize) -> Vec<Value> {
    if msg.kind == NoticeKind::Resolved {
        let ended = worst.ended.as_deref().unwrap_or(&worst.at);
        return vec![text(&format!(
            "Logging normally again since **{}** (abnormal since {}, peak burst score {:.1}).",
            short_time(ended),
            short_time(&worst.since),
            worst.peak_burst
        ))];
    }
    let fact = |title: &str, value: String| json!({ "title": title, "value": value });
    let mut facts = vec![
        fact(
            "Burst score",
            format!(
                "{:.1} (threshold {:.1}, peak {:.1})",
                worst.burst, worst.threshold, worst.peak_burst
            ),
        ),
        fact("Since", short_time(&worst.since)),
        fact("Category", worst.category_label.to_string()),
    ];
    if msg.scope.is_some() {
        for p in msg.pods.iter().take(max_pods) {
            facts.push(fact(
                &format!("{}/{}", p.namespace, p.pod),
                p.category_label.to_string(),
            ));
        }
        if msg.pods.len() > max_pods {
            facts.push(fact("…", format!("and {} more", msg.pods.len() - max_pods)));
        }
    }
    let mut out = vec![json!({ "type": "FactSet", "facts": facts })];
    out.push(text(&format!("**Check first:** {}", worst.check_first)));
    if let Some(d) = &worst.dependency {
        out.push(text(&format!(
            "Its lines name **{d}**, another workload of the cluster: if it is failing too, start there."
        )));
    }
    if let Some(why) = &msg.explanation {
        out.push(text(&format!("**Likely cause** (LLM): {why}")));
    }
    if let Some(seen) = seen_before_text(worst) {
        out.push(text(&seen));
    }
    let lines: Vec<&str> = worst
        .top_lines
        .iter()
        .take(max_lines)
        .map(|l| l.line.as_str())
        .collect();
    if !lines.is_empty() {
        out.push(json!({
            "type": "TextBlock",
            "text": cut(&lines.join("\n\n"), MAX_TEXT_CHARS),
            "fontType": "Monospace",
            "wrap": true,
        }));
    }
    out
}
