//! End to end: `loganomaly replay --alerts` on the bundled sample, to a fake Slack (and the
//! same messages as JSON to a fake webhook, to read them back structurally).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::support::{FakeServer, SECRET_TOKEN};

const MINUTE_NS: i64 = 60_000_000_000;

/// (incident, pod) -> (first, last) labelled line time, from the labels file.
fn incidents() -> BTreeMap<(String, String), (i64, i64)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dataset/sample-loki-logs.labels.jsonl"
    );
    let mut out: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let ts: i64 = v["ts"].as_str().unwrap().parse().unwrap();
        let key = (
            v["incident"].as_str().unwrap().to_string(),
            v["pod"].as_str().unwrap().to_string(),
        );
        let e = out.entry(key).or_insert((ts, ts));
        *e = (e.0.min(ts), e.1.max(ts));
    }
    out
}

fn parse_time(rfc: &str) -> i64 {
    let t =
        time::OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339).unwrap();
    t.unix_timestamp_nanos() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_sample_alerts_once_per_incident_pod_and_resolves_each() {
    let slack = FakeServer::start(vec![]).await;
    let hook = FakeServer::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alerts.toml");
    std::fs::write(
        &cfg,
        format!(
            "[slack]\nwebhook_url = {{ env = \"TEST_SLACK_URL\" }}\n[webhook]\nurl = \"{}/hook\"\n[message]\ndashboard_url = \"https://grafana.example/d/pod?var-namespace={{namespace}}&var-pod={{pod}}&from={{from_ms}}&to={{to_ms}}\"\n",
            hook.base
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loganomaly"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", "--top", "1", "--alerts"])
        .arg(&cfg)
        .env("TEST_SLACK_URL", slack.slack_url())
        .env("LOGANOMALY_LOG", "debug");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(SECRET_TOKEN), "webhook URL in the logs");
    assert!(stderr.contains("slack        sent"), "{stderr}");

    // every message was delivered before the process exited
    let slack_msgs = slack.wait_for(1, Duration::from_secs(1)).await;
    let hook_msgs: Vec<Value> = hook.received().into_iter().map(|r| r.body).collect();
    assert_eq!(slack_msgs.len(), hook_msgs.len());
    for m in &slack_msgs {
        let size = m.body.to_string().chars().count();
        assert!(size < 13_000 && m.body["blocks"].as_array().unwrap().len() <= 50);
    }

    // per pod, in order: firing, resolved, firing, resolved...
    let mut by_pod: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for m in &hook_msgs {
        for a in m["alerts"].as_array().unwrap() {
            let status = a["status"].as_str().unwrap().to_string();
            by_pod
                .entry(a["pod"].as_str().unwrap().to_string())
                .or_default()
                .push((status, parse_time(a["since"].as_str().unwrap())));
        }
    }
    let incidents = incidents();
    let incident_pods: BTreeSet<&String> = incidents.keys().map(|(_, p)| p).collect();
    for pod in by_pod.keys() {
        assert!(
            incident_pods.contains(pod),
            "healthy pod {pod} was alerted: {:?}",
            by_pod[pod]
        );
    }
    let mut alerted_incidents = BTreeSet::new();
    for pod in &incident_pods {
        let seq: Vec<&(String, i64)> = by_pod
            .get(*pod)
            .map(|v| v.iter().filter(|(s, _)| s != "reminder").collect())
            .unwrap_or_default();
        assert!(!seq.is_empty(), "incident pod {pod} was never alerted");
        for (i, (status, since)) in seq.iter().enumerate() {
            let want = if i % 2 == 0 { "firing" } else { "resolved" };
            assert_eq!(status, want, "{pod}: {seq:?}");
            if status == "firing" {
                // it belongs to one of the pod's incidents
                let hit = incidents.iter().find(|((_, p), (start, end))| {
                    p == *pod && *since >= start - 2 * MINUTE_NS && *since <= *end
                });
                let ((incident, _), _) =
                    hit.unwrap_or_else(|| panic!("{pod}: firing outside its incidents"));
                assert!(
                    alerted_incidents.insert((incident.clone(), pod.to_string())),
                    "{pod}: two firings for {incident}"
                );
            }
        }
        assert_eq!(
            seq.len() % 2,
            0,
            "{pod}: the last episode was resolved: {seq:?}"
        );
    }
    let incident_names: BTreeSet<&String> = incidents.keys().map(|(i, _)| i).collect();
    let alerted_names: BTreeSet<&String> = alerted_incidents.iter().map(|(i, _)| i).collect();
    assert_eq!(
        incident_names, alerted_names,
        "every incident yields an alert"
    );
}
