//! Discord webhook payloads: one embed per message, within Discord's documented limits.
//!
//! Limits (Discord's "Embed Limits"): title 256 characters, description 4096, at most 25
//! fields of 256-character names and 1024-character values, 6000 characters across the
//! embed, `content` 2000. `allowed_mentions` is empty, so a log line that says `@everyone`
//! pings no one. Discord allows a webhook about 30 messages a minute per channel: the
//! outbox paces this notifier to one message every [`PACE`], and a 429 is waited out by its
//! `Retry-After`.

use std::time::Duration;

use serde_json::{json, Value};

use super::config::AlertConfig;
use super::error::AlertError;
use super::message::{cut, headline, seen_before_text, short_time, Message, PodView};
use super::notifier::{chat_webhook, Setup, Stateless};
use super::policy::NoticeKind;

/// Discord's limit on an embed's title.
pub const MAX_TITLE_CHARS: usize = 256;
/// Discord's limit on an embed's description.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Discord's limit on a field's value.
pub const MAX_FIELD_CHARS: usize = 1024;
/// Discord's limit on the characters of all embeds of a message.
pub const MAX_EMBED_CHARS: usize = 6000;
/// Discord's limit on `content`.
pub const MAX_CONTENT_CHARS: usize = 2000;
/// Least time between two messages to one webhook (30 a minute).
pub const PACE: Duration = Duration::from_secs(2);

/// Pods listed by name in a grouped message.
const LIST_PODS: usize = 15;

/// `[discord]`: one embed per notice to the webhook URL (a secret, checked).
pub(super) fn setup(cfg: &AlertConfig) -> Result<Option<Setup>, AlertError> {
    let url = cfg.discord.as_ref().map(|c| &c.webhook_url);
    let notifier = Stateless {
        name: "discord",
        render,
    };
    chat_webhook(url, "discord.webhook_url", notifier, PACE)
}

/// The Discord payload for `msg`: fewer lines until the embed fits its 6000 characters.
pub fn render(msg: &Message) -> Value {
    let mut lines = 5;
    loop {
        let embed = embed(msg, lines);
        if embed_chars(&embed) <= MAX_EMBED_CHARS || lines == 0 {
            return json!({
                "content": cut(&msg.summary(), MAX_CONTENT_CHARS),
                "allowed_mentions": { "parse": [] },
                "embeds": [embed],
            });
        }
        lines -= 1;
    }
}

/// The characters Discord counts against [`MAX_EMBED_CHARS`]: title, description, fields.
pub fn embed_chars(embed: &Value) -> usize {
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let fields = embed["fields"].as_array().map_or(0, |f| {
        f.iter()
            .map(|f| chars(&f["name"]) + chars(&f["value"]))
            .sum()
    });
    chars(&embed["title"]) + chars(&embed["description"]) + fields
}

fn embed(msg: &Message, max_lines: usize) -> Value {
    let Some(worst) = msg.pods.first() else {
        return json!({ "title": cut(&msg.summary(), MAX_TITLE_CHARS) });
    };
    let mut e = json!({
        "title": cut(&headline(msg), MAX_TITLE_CHARS),
        "description": cut(&description(msg, worst, max_lines), MAX_DESCRIPTION_CHARS),
        "color": colour(msg.kind),
        "timestamp": worst.at,
        "fields": fields(msg, worst),
    });
    if let Some(url) = &worst.dashboard_url {
        e["url"] = json!(url);
    }
    e
}

/// Red, orange, green.
fn colour(kind: NoticeKind) -> u32 {
    match kind {
        NoticeKind::Firing => 0xE0_1E_5A,
        NoticeKind::Reminder => 0xF2_C7_44,
        NoticeKind::Resolved => 0x2E_B6_7D,
    }
}

fn description(msg: &Message, worst: &PodView, max_lines: usize) -> String {
    if msg.kind == NoticeKind::Resolved {
        let ended = worst.ended.as_deref().unwrap_or(&worst.at);
        return format!(
            "Logging normally again since **{}** (abnormal since {}, peak burst score {:.1}).",
            short_time(ended),
            short_time(&worst.since),
            worst.peak_burst
        );
    }
    let mut text = format!("**Check first:** {}", worst.check_first);
    if let Some(d) = &worst.dependency {
        text.push_str(&format!(
            "\nIts lines name `{d}`, another workload of the cluster: if it is failing too, start there."
        ));
    }
    if let Some(why) = &msg.explanation {
        text.push_str(&format!("\n**Likely cause** (LLM): {why}"));
    }
    if let Some(seen) = seen_before_text(worst) {
        text.push_str(&format!("\n{seen}"));
    }
    let lines: Vec<String> = worst
        .top_lines
        .iter()
        .take(max_lines)
        .map(|l| l.line.replace("```", "'''"))
        .collect();
    if !lines.is_empty() {
        text.push_str(&format!(
            "\n**Top anomalous lines**\n```\n{}\n```",
            lines.join("\n")
        ));
    }
    let links: Vec<String> = [
        (&worst.logs_url, "Logs in Loki"),
        (&worst.summary_url, "Log summary"),
    ]
    .iter()
    .filter_map(|(url, name)| url.as_ref().map(|u| format!("[{name}]({u})")))
    .collect();
    if !links.is_empty() {
        text.push_str(&format!("\n{}", links.join(" · ")));
    }
    text
}

fn fields(msg: &Message, worst: &PodView) -> Vec<Value> {
    let field = |name: &str, value: String, inline: bool| json!({ "name": name, "value": cut(&value, MAX_FIELD_CHARS), "inline": inline });
    let mut out = vec![
        field(
            "Burst score",
            format!(
                "{:.1} (threshold {:.1}, peak {:.1})",
                worst.burst, worst.threshold, worst.peak_burst
            ),
            true,
        ),
        field("Since", short_time(&worst.since), true),
        field("Category", worst.category_label.to_string(), true),
    ];
    if msg.scope.is_some() {
        let mut pods: Vec<String> = msg
            .pods
            .iter()
            .take(LIST_PODS)
            .map(|p| format!("{}/{}: {}", p.namespace, p.pod, p.category_label))
            .collect();
        if msg.pods.len() > LIST_PODS {
            pods.push(format!("…and {} more", msg.pods.len() - LIST_PODS));
        }
        out.push(field("Pods", pods.join("\n"), false));
    }
    out
}
