//! Against a real Alertmanager (Debian's `prometheus-alertmanager`) started on 127.0.0.1:
//! alerts posted by loganomaly appear in `/api/v2/alerts` with the right labels, are
//! routed to a webhook receiver, and resolve after the pod recovers.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use loganomaly::alert::{AlertConfig, Alerter};
use serde_json::Value;

use super::support::{obs_at, FakeServer};
use crate::common::free_port;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// Kills the Alertmanager when the test ends, however it ends.
pub(super) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn start_alertmanager(dir: &Path, receiver: &str) -> (Running, String) {
    assert!(
        Path::new(BINARY).exists(),
        "{BINARY} is missing: install Debian's Alertmanager with \
         `apt-get update && apt-get install -y prometheus-alertmanager` (.ci/run does)"
    );
    let config = format!(
        "route:\n  receiver: test\n  group_by: [alertname, namespace, pod]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      - url: {receiver}\n        send_resolved: true\n"
    );
    std::fs::write(dir.join("am.yml"), config).unwrap();
    let port = free_port();
    let child = Command::new(BINARY)
        .arg(format!("--config.file={}", dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Running(child), format!("http://127.0.0.1:{port}"))
}

/// Polls `check` every 200 ms for at most `within`.
pub(super) async fn eventually<T>(
    within: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Some(v) = check().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

async fn alerts(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let resp = client.get(format!("{base}/api/v2/alerts")).send().await;
    match resp {
        Ok(r) => r.json::<Vec<Value>>().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

const MINUTE: i64 = 60_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_alertmanager_route_to_a_receiver_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = FakeServer::start(vec![]).await;
    let (_am, base) = start_alertmanager(dir.path(), &format!("{}/hook", receiver.base));
    let client = loganomaly::alert::http_client(Duration::from_secs(5)).unwrap();
    let ready = eventually(Duration::from_secs(20), async || {
        let r = client.get(format!("{base}/-/ready")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    assert!(ready.is_some(), "Alertmanager did not become ready");

    let text = format!(
        "[alertmanager]\nurl = \"{base}\"\nseverity = \"critical\"\n[policy]\nresolve_for = \"2m\"\n[message]\ndashboard_url = \"http://grafana.test/d/pod?pod={{pod}}\"\n"
    );
    let mut alerter = Alerter::new(&AlertConfig::from_toml(&text, "t").unwrap()).unwrap();
    // an episode that started ten minutes ago: two abnormal minutes fire it
    let t0 = now_ns() - 10 * MINUTE;
    for m in 0..2 {
        let at = t0 + m * MINUTE;
        let mut api = obs_at("payments", "api-7", at, 40.0);
        api.top_lines[0].line = api.top_lines[0].line.replace("10.0.0.7", "payments-db");
        let db = obs_at("payments", "payments-db-0", at, 0.0);
        alerter.observe(at, &[api, db]).await;
    }
    let firing = eventually(Duration::from_secs(20), async || {
        alerts(&client, &base)
            .await
            .into_iter()
            .find(|a| a["labels"]["pod"] == "api-7")
    })
    .await
    .expect("the alert appears in /api/v2/alerts");
    let labels = &firing["labels"];
    assert_eq!(labels["alertname"], "LogAnomaly");
    assert_eq!(labels["namespace"], "payments");
    assert_eq!(labels["workload"], "api", "the StatefulSet ordinal dropped");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(firing["status"]["state"], "active");
    let annotations = firing["annotations"].to_string();
    assert!(annotations.contains("connection refused"), "{annotations}");
    assert!(annotations.contains("password=[REDACTED]") && !annotations.contains("hunter2"));
    assert_eq!(
        firing["annotations"]["dashboard_url"],
        "http://grafana.test/d/pod?pod=api-7"
    );
    assert_eq!(firing["annotations"]["dependency"], "payments-db");

    let routed = receiver.wait_for(1, Duration::from_secs(20)).await;
    let first = routed
        .first()
        .expect("Alertmanager routed the alert to the receiver");
    assert_eq!(first.body["status"], "firing");
    assert_eq!(first.body["alerts"][0]["labels"]["pod"], "api-7");

    // the pod recovers: quiet minutes until the policy resolves it (endsAt in the past)
    for m in 2..8 {
        alerter
            .observe(
                t0 + m * MINUTE,
                &[obs_at("payments", "api-7", t0 + m * MINUTE, 0.0)],
            )
            .await;
    }
    let gone = eventually(Duration::from_secs(20), async || {
        let all = alerts(&client, &base).await;
        (!all.iter().any(|a| a["labels"]["pod"] == "api-7")).then_some(())
    })
    .await;
    assert!(gone.is_some(), "resolved alerts leave /api/v2/alerts");
    let resolved = eventually(Duration::from_secs(20), async || {
        receiver
            .received()
            .into_iter()
            .find(|r| r.body["status"] == "resolved")
    })
    .await
    .expect("the receiver is told it resolved");
    assert_eq!(resolved.body["alerts"][0]["labels"]["pod"], "api-7");
    let stats = alerter.shutdown().await[0].stats;
    assert_eq!(stats.failed, 0);
    assert!(stats.sent >= 2, "{stats:?}");
}
