//! Issue 18, "seen this before": the bundled sample replayed twice into one history, the
//! second time a day later in log time. Each incident of the second day names the same
//! pod's incident of the first, in its row and in its Slack alert; the first day names
//! nothing of the second.

use std::path::Path;

use loganomaly::incident::{Incident, IncidentConfig};
use serde_json::Value;

use super::{all_rows, MINUTE_NS};
use crate::alert::support::FakeServer;

const DAY_NS: i64 = 1440 * MINUTE_NS;

/// The bundled sample with every timestamp a day later, written to `path`.
fn shifted_sample(path: &Path) {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/dataset/sample-loki-logs.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    for stream in doc["data"]["result"].as_array_mut().unwrap() {
        for v in stream["values"].as_array_mut().unwrap() {
            let ts: i64 = v[0].as_str().unwrap().parse().unwrap();
            v[0] = Value::String((ts + DAY_NS).to_string());
        }
    }
    std::fs::write(path, doc.to_string()).unwrap();
}

/// `replay --alerts cfg file` to its end.
fn replay_file(cfg: &Path, file: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loganomaly"))
        .args(["replay", "--top", "1", "--alerts"])
        .arg(cfg)
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_of_two_like_incidents_names_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeServer::start(vec![]).await;
    let db = dir.path().join("incidents.db");
    let cfg = dir.path().join("alerts.toml");
    let text = format!(
        "[incidents]\npath = {:?}\n[slack]\nwebhook_url = {:?}\n",
        db.display().to_string(),
        slack.slack_url()
    );
    std::fs::write(&cfg, text).unwrap();
    let next_day = dir.path().join("next-day.json");
    shifted_sample(&next_day);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("dataset/sample-loki-logs.json");
    let (c, s, n) = (cfg.clone(), sample.clone(), next_day.clone());
    tokio::task::spawn_blocking(move || {
        replay_file(&c, &s);
        replay_file(&c, &n);
    })
    .await
    .unwrap();

    let rows = all_rows(&IncidentConfig::at(&format!("sqlite://{}", db.display())));
    let first_start = rows.iter().map(|r| r.started_ns).min().unwrap();
    let (day2, day1): (Vec<&Incident>, Vec<&Incident>) = rows
        .iter()
        .partition(|r| r.started_ns >= first_start + DAY_NS);
    assert!(!day1.is_empty() && day2.len() == day1.len(), "{rows:?}");
    for r in &day1 {
        assert!(
            r.seen_before
                .iter()
                .all(|s| !day2.iter().any(|d| d.id == s.id)),
            "{}: names a later incident: {:?}",
            r.id,
            r.seen_before
        );
    }
    for r in &day2 {
        let first = Incident::id_of(&r.namespace, &r.pod, r.started_ns - DAY_NS);
        let named = r.seen_before.iter().find(|s| s.id == first);
        let named =
            named.unwrap_or_else(|| panic!("{} does not name {first}: {:?}", r.id, r.seen_before));

        let earlier = day1.iter().find(|d| d.id == first).unwrap();
        let lasted = (earlier.ended_ns.unwrap() - earlier.started_ns) / MINUTE_NS;
        assert_eq!(named.lasted_minutes, lasted);
    }

    // and the alerts of the pods alerted alone said so
    let said: Vec<String> = slack
        .received()
        .into_iter()
        .map(|r| r.body.to_string())
        .filter(|b| b.contains("Seen before:"))
        .collect();
    let alone: Vec<&&Incident> = day2.iter().filter(|r| r.grouped_in.is_none()).collect();
    assert!(!alone.is_empty());
    for r in alone {
        let started = Incident::id_of(&r.namespace, &r.pod, r.started_ns - DAY_NS);
        let first = day1.iter().find(|d| d.id == started).unwrap().started();
        // as the alert shows it: "Seen before: ns/pod on 2023-11-14 23:38 UTC for 25 min …"
        let named = format!(
            "{}/{} on {} {} UTC",
            r.namespace,
            r.pod,
            &first[..10],
            &first[11..16]
        );
        assert!(
            said.iter().any(|b| b.contains(&named)),
            "no Slack alert names {named}"
        );
    }
}
