//! The LLM explanation: a fake chat-completions endpoint that answers well, late, with
//! 500 or with garbage. The alert always goes out; only a good, timely answer is added.

use std::time::Duration;

use loganomaly::alert::{AlertConfig, Alerter};

use super::support::{fire, FakeServer, Reply};

const CAUSE: &str = "The database refuses connections. Check the postgres pod.";

fn completion(content: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }]
    })
    .to_string()
}

/// Fires one alert with the LLM answering `reply`; returns the Slack payload and the LLM
/// request.
async fn alert_with(reply: Reply) -> (serde_json::Value, serde_json::Value) {
    let slack = FakeServer::start(vec![]).await;
    let llm = FakeServer::start(vec![reply]).await;
    let text = format!(
        "[slack]\nwebhook_url = {:?}\n[explain]\nurl = \"{}/v1/chat/completions\"\napi_key = \"sk-test-key-123\"\ntimeout = \"400ms\"\n",
        slack.slack_url(),
        llm.base
    );
    let mut alerter = Alerter::new(&AlertConfig::from_toml(&text, "t").unwrap()).unwrap();
    // bounded: the alert never waits for a late answer beyond the explain timeout
    tokio::time::timeout(
        Duration::from_secs(5),
        fire(&mut alerter, "payments", "api-1"),
    )
    .await
    .expect("observe returns without waiting for the LLM");
    let sent = slack.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(sent.len(), 1, "the alert went out");
    let asked = llm.received();
    assert_eq!(asked.len(), 1);
    alerter.shutdown().await;
    (sent[0].body.clone(), asked[0].body.clone())
}

#[tokio::test]
async fn a_timely_answer_is_added_and_only_redacted_lines_are_sent() {
    let (slack, asked) = alert_with(Reply::status(200, &completion(CAUSE))).await;
    assert!(slack.to_string().contains("Likely cause"), "{slack}");
    assert!(slack
        .to_string()
        .contains("The database refuses connections"));
    let prompt = asked["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("connection refused") && prompt.contains("payments/api-1"));
    assert!(
        !asked.to_string().contains("hunter2"),
        "secrets never reach the LLM"
    );
    assert!(prompt.contains("password=[REDACTED]"));
}

#[tokio::test]
async fn a_late_answer_is_not_waited_for() {
    let late = Reply {
        delay: Duration::from_secs(30),
        ..Reply::status(200, &completion(CAUSE))
    };
    let (slack, _) = alert_with(late).await;
    assert!(!slack.to_string().contains("Likely cause"));
}

#[tokio::test]
async fn a_500_or_garbage_leaves_the_alert_without_explanation() {
    for reply in [
        Reply::status(500, "model not loaded"),
        Reply::status(200, "<html>not json</html>"),
        Reply::status(200, "{\"choices\": []}"),
        Reply::status(200, &completion("   ")),
    ] {
        let (slack, _) = alert_with(reply).await;
        assert!(!slack.to_string().contains("Likely cause"), "{slack}");
    }
}
