//! Issue 18, log evidence for Prometheus alerts: a real Prometheus fires a
//! `KubePodCrashLooping` rule for a pod of the sample, the real Alertmanager (Debian's)
//! posts it to `serve`'s `POST /api/v1/alertmanager`, and the fake Slack receives one
//! follow-up with that pod's top lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::alertmanager::{eventually, start_alertmanager};
use super::support::FakeServer;
use crate::common::{free_port, serve_command, Guard};
use crate::incidents::serve::{push_all, sample_pushes, wait_listening};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// `loganomaly serve` on `port`, receiving pushes and alerting to `slack_url`.
fn start_serve(dir: &Path, port: u16, slack_url: &str) -> Guard {
    let config = dir.join("loganomaly.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[push]\n[alerting.slack]\nwebhook_url = {slack_url:?}\n"
    );
    std::fs::write(&config, text).unwrap();
    Guard(serve_command(&config).spawn().unwrap())
}

/// A Prometheus whose one rule fires `KubePodCrashLooping` for `namespace`/`pod` at once
/// (as kube-prometheus's rule does once the pod restarts), sending to `alertmanager`.
fn start_prometheus(dir: &Path, namespace: &str, pod: &str, alertmanager: &str) -> Guard {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: install Debian's prometheus package (.ci/run does)"
    );
    let rules = format!(
        "groups:\n  - name: kubernetes-apps\n    rules:\n      - alert: KubePodCrashLooping\n        expr: vector(1)\n        labels:\n          severity: warning\n          namespace: {namespace}\n          pod: {pod}\n          container: app\n        annotations:\n          description: 'Pod {namespace}/{pod} is in waiting state (reason: CrashLoopBackOff).'\n"
    );
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let target = alertmanager.trim_start_matches("http://");
    let config = format!(
        "global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{target}']\n",
        dir.join("rules.yml").display()
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Guard(child)
}

/// Waits until the service has scored `total` lines (a push is answered once queued).
async fn all_scored(client: &reqwest::Client, base: &str, total: usize) {
    let want = format!("loganomaly_lines_scored_total {total}\n");
    let scored = eventually(Duration::from_secs(120), async || {
        let r = client.get(format!("{base}/metrics")).send().await.ok()?;
        r.text().await.ok()?.contains(&want).then_some(())
    })
    .await;
    assert!(scored.is_some(), "not every pushed line was scored");
    // the pods view is refreshed about once a second
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// The pod `/api/v1/pods` lists first (the most anomalous), with its top line.
async fn most_anomalous(client: &reqwest::Client, base: &str) -> (String, String, String) {
    let pod = eventually(Duration::from_secs(60), async || {
        let r = client
            .get(format!("{base}/api/v1/pods"))
            .send()
            .await
            .ok()?;
        let pods: Vec<Value> = r.json().await.ok()?;
        let p = pods
            .into_iter()
            .find(|p| p["anomalous_lines"].as_u64() > Some(0))?;
        let line = p["top_lines"][0]["line"].as_str()?.to_string();
        Some((
            p["namespace"].as_str()?.to_string(),
            p["pod"].as_str()?.to_string(),
            line,
        ))
    })
    .await;
    pod.expect("no anomalous pod after pushing the sample")
}

/// The Slack messages that follow up `alertname`.
fn follow_ups(slack: &FakeServer, alertname: &str) -> Vec<Value> {
    slack
        .received()
        .into_iter()
        .map(|r| r.body)
        .filter(|b| b["text"].as_str().is_some_and(|t| t.starts_with(alertname)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_alert_for_a_pod_gets_its_log_evidence_in_slack() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeServer::start(vec![]).await;
    let port = free_port();
    let _serve = start_serve(dir.path(), port, &slack.slack_url());
    let base = format!("http://127.0.0.1:{port}");
    let client = loganomaly::http::client(Duration::from_secs(30)).unwrap();
    wait_listening(&client, &base).await;
    let (pushes, _) = sample_pushes(2000);
    push_all(&client, &base, &pushes).await;
    let total: usize = pushes
        .iter()
        .flat_map(|p| p["streams"].as_array().unwrap())
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    all_scored(&client, &base, total).await;
    let (namespace, pod, top_line) = most_anomalous(&client, &base).await;

    let (_am, am) = start_alertmanager(dir.path(), &format!("{base}/api/v1/alertmanager"));
    let _prometheus = start_prometheus(dir.path(), &namespace, &pod, &am);
    let got = eventually(Duration::from_secs(90), async || {
        let found = follow_ups(&slack, "KubePodCrashLooping");
        (!found.is_empty()).then_some(found)
    })
    .await;
    let got = got.expect("no follow-up reached Slack");
    let text = got[0].to_string();
    assert!(text.contains(&format!("{namespace}/{pod}")), "{text}");
    let shown: String = top_line.chars().take(60).collect();
    let shown = serde_json::to_string(&shown).unwrap();
    assert!(
        text.contains(shown.trim_matches('"')),
        "the pod's top line {shown} in {text}"
    );

    // Alertmanager's next notification of the same alert sends nothing new, and the
    // answer to a hand-made one names the pod
    let same = json!({
        "version": "4", "status": "firing", "receiver": "loganomaly",
        "alerts": [{"status": "firing", "startsAt": "2026-12-04T20:00:00Z", "fingerprint": "f1",
                    "labels": {"alertname": "KubePodNotReady", "namespace": namespace, "pod": pod}}]
    });
    for _ in 0..2 {
        let answer: Value = client
            .post(format!("{base}/api/v1/alertmanager"))
            .json(&same)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["alerts"][0]["pods"][0]["pod"], pod, "{answer}");
        assert_eq!(answer["follow_up_queued"], true, "{answer}");
    }
    let not_ready = eventually(Duration::from_secs(10), async || {
        let found = follow_ups(&slack, "KubePodNotReady");
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert!(not_ready.is_some(), "the hand-made alert was followed up");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        follow_ups(&slack, "KubePodNotReady").len(),
        1,
        "once per episode"
    );
    assert_eq!(follow_ups(&slack, "KubePodCrashLooping").len(), 1);

    let bad = client
        .post(format!("{base}/api/v1/alertmanager"))
        .body("{\"version\": \"4\", \"alerts\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let ok = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(
        ok.status().is_success(),
        "a bad payload leaves the service up"
    );
}
