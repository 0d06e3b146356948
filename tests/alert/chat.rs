//! Discord and Microsoft Teams: payload shapes within each service's documented limits,
//! and delivery against fakes that answer as they do (Discord 204 and 429 with
//! `Retry-After`, Teams Workflows 202), paced to their rate limits.

use std::time::Duration;

use loganomaly::alert::{render_discord, render_teams, AlertConfig, Alerter, Notice, Scope};
use serde_json::Value;

use super::support::{alert, fire, message, FakeServer, Reply, SECRET_TOKEN};

fn config(section: &str, url: &str) -> AlertConfig {
    let text = format!(
        "[{section}]\nwebhook_url = {url:?}\n[delivery]\ninitial_backoff = \"50ms\"\nmax_backoff = \"3s\"\nmax_attempts = 4\ndrain_deadline = \"10s\"\n"
    );
    AlertConfig::from_toml(&text, "test").unwrap()
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Discord's embed limits (its "Embed Limits" table) on a rendered payload.
fn assert_discord_limits(p: &Value) {
    assert!(chars(&p["content"]) <= 2000);
    assert_eq!(
        p["allowed_mentions"]["parse"],
        serde_json::json!([]),
        "no pings"
    );
    let embeds = p["embeds"].as_array().unwrap();
    assert!(!embeds.is_empty() && embeds.len() <= 10);
    let mut total = 0;
    for e in embeds {
        assert!(chars(&e["title"]) <= 256);
        assert!(chars(&e["description"]) <= 4096);
        let fields = e["fields"].as_array().map_or(&[][..], |f| f.as_slice());
        assert!(fields.len() <= 25);
        for f in fields {
            assert!(
                chars(&f["name"]) <= 256 && chars(&f["value"]) <= 1024,
                "{f}"
            );
            total += chars(&f["name"]) + chars(&f["value"]);
        }
        total += chars(&e["title"]) + chars(&e["description"]);
    }
    assert!(total <= 6000, "{total} characters in embeds");
}

#[test]
fn a_discord_pod_message_has_title_score_check_first_and_lines_within_limits() {
    let p = render_discord(&message(&Notice::Pod(alert("payments", "api-1", 40))));
    assert_discord_limits(&p);
    let e = &p["embeds"][0];
    assert_eq!(e["title"], "🔴 payments/api-1");
    assert_eq!(e["color"], 0xE01E5A);
    let d = e["description"].as_str().unwrap();
    assert!(d.contains("**Check first:**"), "{d}");
    assert!(d.contains("```\npanic: <0>"), "{d}");
    assert!(e["fields"][0]["value"]
        .as_str()
        .unwrap()
        .starts_with("42.0 (threshold 9.0"));
    assert!(e["url"]
        .as_str()
        .unwrap()
        .starts_with("https://grafana.example/d/pod"));
}

#[test]
fn huge_lines_and_many_pods_still_fit_discord_and_teams() {
    let alerts: Vec<_> = (0..60)
        .map(|i| alert("shop", &format!("cart-{i}"), 5000))
        .collect();
    let group = Notice::Group {
        kind: loganomaly::alert::NoticeKind::Firing,
        scope: Scope::Namespace("shop".into()),
        alerts,
    };
    for notice in [Notice::Pod(alert("shop", "cart-1", 5000)), group] {
        let msg = message(&notice);
        assert_discord_limits(&render_discord(&msg));
        let teams = render_teams(&msg);
        assert!(
            teams.to_string().len() <= 20_000,
            "{}",
            teams.to_string().len()
        );
    }
}

#[test]
fn a_log_line_cannot_break_out_of_the_discord_code_block() {
    let mut a = alert("shop", "cart-1", 0);
    a.top_lines[0].line = "evil ``` @everyone".into();
    let p = render_discord(&message(&Notice::Pod(a)));
    let d = p["embeds"][0]["description"].as_str().unwrap();
    assert_eq!(d.matches("```").count(), 2, "{d}");
}

#[test]
fn a_teams_message_is_one_adaptive_card_with_facts_lines_and_links() {
    let p = render_teams(&message(&Notice::Pod(alert("payments", "api-1", 40))));
    assert_eq!(p["type"], "message");
    let a = &p["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &a["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["body"][0]["text"], "🔴 payments/api-1");
    assert_eq!(card["body"][0]["color"], "Attention");
    let facts = card["body"][1]["facts"].as_array().unwrap();
    assert_eq!(facts[0]["title"], "Burst score");
    let s = p.to_string();
    assert!(
        s.contains("Check first:") && s.contains("panic: <0>"),
        "{s}"
    );
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert!(card["actions"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://grafana.example/d/pod"));
}

#[tokio::test(flavor = "current_thread")]
async fn discord_429_waits_for_retry_after_and_nothing_is_lost() {
    let discord = FakeServer::start(vec![Reply {
        retry_after: Some(1),
        ..Reply::status(
            429,
            r#"{"message":"You are being rate limited.","retry_after":1.0,"global":false}"#,
        )
    }])
    .await;
    discord.set_fallback(Reply::status(204, ""));
    let url = format!("{}/api/webhooks/1234/{SECRET_TOKEN}", discord.base);
    let mut alerter = Alerter::new(&config("discord", &url)).unwrap();
    assert_eq!(fire(&mut alerter, "shop", "cart-1").await, 1);
    let got = discord.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "the message was retried");
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(950),
        "waited Retry-After"
    );
    assert_eq!(got[0].body, got[1].body);
    let s = alerter.shutdown().await[0].stats;
    assert_eq!((s.sent, s.retried, s.failed), (1, 1, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn teams_messages_are_paced_to_four_a_second_and_all_arrive() {
    let teams = FakeServer::start(vec![]).await;
    teams.set_fallback(Reply::status(202, ""));
    let url = format!(
        "{}/workflows/abc/triggers/manual/paths/invoke?sig={SECRET_TOKEN}",
        teams.base
    );
    let mut alerter = Alerter::new(&config("teams", &url)).unwrap();
    for pod in ["cart-1", "cart-2", "cart-3"] {
        fire(&mut alerter, &format!("ns-{pod}"), pod).await;
    }
    let got = teams.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3);
    for pair in got.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_millis(240),
            "paced"
        );
    }
    let s = alerter.shutdown().await[0].stats;
    assert_eq!((s.sent, s.failed), (3, 0));
}
