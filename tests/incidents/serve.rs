//! `serve` writes the incident history too: the sample pushed to its receiver in log-time
//! order raises the incidents `replay --alerts` raises, readable on `/api/v1/incidents`
//! while it runs and in the SQLite file after SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

use loganomaly::incident::{Incident, IncidentConfig};
use serde_json::{json, Value};

use super::{all_rows, reference_rows, MINUTE_NS};
use crate::common::{free_port, serve_command, Guard};

/// The sample's lines as Loki pushes of `batch` lines each, in log-time order (a stream
/// appears again in a push each time its lines resume).
pub(crate) fn sample_pushes(batch: usize) -> (Vec<Value>, i64) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dataset/sample-loki-logs.json");
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut lines: Vec<(i64, usize, Value)> = Vec::new();
    let streams = sample["data"]["result"].as_array().unwrap();
    for (s, stream) in streams.iter().enumerate() {
        for v in stream["values"].as_array().unwrap() {
            let ts: i64 = v[0].as_str().unwrap().parse().unwrap();
            lines.push((ts, s, v.clone()));
        }
    }
    lines.sort_by_key(|l| (l.0, l.1));
    let last = lines.last().unwrap().0;
    let pushes = lines
        .chunks(batch)
        .map(|chunk| {
            let mut by_stream: Vec<(usize, Vec<Value>)> = Vec::new();
            // one stream entry per run of lines of one stream: the push keeps log-time order
            for (_, s, v) in chunk {
                match by_stream.last_mut() {
                    Some((k, vs)) if k == s => vs.push(v.clone()),
                    _ => by_stream.push((*s, vec![v.clone()])),
                }
            }
            let streams: Vec<Value> = by_stream
                .into_iter()
                .map(|(s, values)| json!({"stream": streams[s]["stream"], "values": values}))
                .collect();
            json!({ "streams": streams })
        })
        .collect();
    (pushes, last)
}

/// Waits (at most 30 s) until `serve` at `base` answers HTTP.
pub(crate) async fn wait_listening(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "serve not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pushes every body to `base`'s receiver in order, retrying a 429 (the receiver's queue
/// full) as a shipper does.
pub(crate) async fn push_all(client: &reqwest::Client, base: &str, pushes: &[Value]) {
    for push in pushes {
        for attempt in 0.. {
            let resp = client
                .post(format!("{base}/loki/api/v1/push"))
                .json(push)
                .send()
                .await
                .unwrap();
            match resp.status().as_u16() {
                204 => break,
                429 if attempt < 600 => tokio::time::sleep(Duration::from_millis(100)).await,
                status => panic!("push refused: {status}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_writes_the_incidents_of_pushed_lines() {
    let reference = tokio::task::spawn_blocking(reference_rows).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let port = free_port();
    let config = dir.path().join("loganomaly.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[push]\n[alerting.incidents]\npath = {:?}\n",
        db.display().to_string()
    );
    std::fs::write(&config, text).unwrap();
    let serve = Guard(serve_command(&config).spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let client = loganomaly::http::client(Duration::from_secs(30)).unwrap();
    wait_listening(&client, &base).await;

    let (pushes, last_ns) = sample_pushes(2000);
    push_all(&client, &base, &pushes).await;

    // the episodes that were over well before the sample's end are resolved, as in replay
    let settled: Vec<&Incident> = reference
        .iter()
        .filter(|r| r.ended_ns.unwrap() < last_ns - 5 * MINUTE_NS)
        .collect();
    assert!(!settled.is_empty());
    let deadline = Instant::now() + Duration::from_secs(120);
    let listed: Vec<Incident> = loop {
        let body = client
            .get(format!(
                "{base}/api/v1/incidents?status=resolved&limit=1000"
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let listed: Vec<Incident> = serde_json::from_str(&body).unwrap_or_default();
        if listed.len() >= settled.len() || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for want in &settled {
        let got = listed.iter().find(|r| r.id == want.id);
        let got = got.unwrap_or_else(|| panic!("{} not written by serve: {listed:?}", want.id));
        assert_eq!(
            (got.ended_ns, &got.category, &got.top_lines),
            (want.ended_ns, &want.category, &want.top_lines)
        );
    }

    // SIGTERM: the writer flushes; the file holds what the API showed, and the open ones
    let mut serve = serve;
    let pid = serve.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(status) = serve.0.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success());
    let rows = all_rows(&IncidentConfig::at(&format!("sqlite://{}", db.display())));
    for r in &listed {
        assert!(rows.contains(r), "{} kept", r.id);
    }
    for r in &rows {
        assert!(
            reference.iter().any(|want| want.id == r.id),
            "{}: an incident replay does not raise",
            r.id
        );
    }
}
