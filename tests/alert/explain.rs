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

/// `summarize --alerts CFG` of the bundled sample with the LLM answering `reply`: the
/// report (stdout) and what the LLM was asked.
async fn summarize_with(reply: Reply) -> (String, Vec<serde_json::Value>) {
    let llm = FakeServer::start(vec![reply]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alerts.toml");
    let text = format!(
        "[explain]\nurl = \"{}/v1/chat/completions\"\nmodel = \"llama3\"\ntimeout = \"2s\"\n",
        llm.base
    );
    std::fs::write(&cfg, text).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_loganomaly"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["summarize", "--alerts"])
            .arg(&cfg)
            .arg("dataset/sample-loki-logs.json")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let asked = llm.received().into_iter().map(|r| r.body).collect();
    (String::from_utf8(out.stdout).unwrap(), asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_with_explain_set_opens_with_the_llms_narrative_of_the_report() {
    let story = "Payments lost its database at 23:12; fraud-check and the API failed with it. Start with postgres-0.";
    let (report, asked) = summarize_with(Reply::status(200, &completion(story))).await;
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].starts_with("# Log summary of "));
    assert_eq!(lines[2], format!("> {story} *(LLM)*"));
    assert_eq!(asked.len(), 1);
    let prompt = asked[0]["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("## Incidents") && prompt.contains("postgres-0"),
        "the report is what it reads"
    );
    assert!(!prompt.contains("(LLM)"), "not its own narrative");

    // an LLM that fails: the same report, without a narrative
    let (plain, _) = summarize_with(Reply::status(500, "overloaded")).await;
    assert!(!plain.contains("(LLM)"));
    assert_eq!(
        plain.lines().nth(2),
        report.lines().nth(4),
        "the report follows the title"
    );
}
