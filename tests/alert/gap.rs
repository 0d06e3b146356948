//! One rule for gaps in log time: a file with a gap of three hours, played through
//! `replay --alerts` and through `serve` (reading the same lines from the in-process fake
//! Loki), makes the notifier receive the same messages.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::support::FakeServer;
use crate::common::{free_port, Guard};
use crate::loki::fake::{labels, FakeLoki, Labels};

const MINUTE_NS: i64 = 60_000_000_000;

/// Healthy cart lines for two pods, a crashing worker at minutes 5–8, three hours of
/// silence, then the same again: every line of the file, as (labels, ts, line).
fn lines_with_a_gap(start_ns: i64) -> Vec<(Labels, i64, String)> {
    let cart = |i: usize| {
        labels(&[
            ("namespace", "shop"),
            ("pod", &format!("cart-{i}")),
            ("container", "app"),
        ])
    };
    let worker = labels(&[
        ("namespace", "shop"),
        ("pod", "worker-1"),
        ("container", "app"),
    ]);
    let mut out = Vec::new();
    for part in [0i64, 200] {
        for minute in part..part + 25 {
            for second in (0..60).step_by(2) {
                let ts = start_ns + minute * MINUTE_NS + second * 1_000_000_000;
                for pod in 0..2 {
                    let item = (minute * 60 + second) % 17;
                    out.push((
                        cart(pod),
                        ts + pod as i64,
                        format!("GET /api/cart/items/{item} 200 12ms"),
                    ));
                }
                let line = if (part + 5..part + 9).contains(&minute) {
                    "panic: runtime error: invalid memory address or nil pointer dereference"
                        .to_string()
                } else {
                    format!("job {} done in 40ms", (minute * 60 + second) % 13)
                };
                out.push((worker.clone(), ts + 7, line));
            }
        }
    }
    out
}

/// The lines as a Loki `query_range` response, one stream each.
fn loki_json(lines: &[(Labels, i64, String)]) -> String {
    let mut streams: std::collections::BTreeMap<&Labels, Vec<Value>> = Default::default();
    for (l, ts, line) in lines {
        streams
            .entry(l)
            .or_default()
            .push(json!([ts.to_string(), line]));
    }
    let result: Vec<Value> = streams
        .into_iter()
        .map(|(l, values)| json!({"stream": l, "values": values}))
        .collect();
    json!({"status": "success", "data": {"resultType": "streams", "result": result}}).to_string()
}

/// The alerts each webhook message carries: what the policy decided, in order.
fn alerts(received: &[super::support::Received]) -> Vec<Value> {
    received
        .iter()
        .flat_map(|r| r.body["alerts"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(-1.0)
}

async fn scrape(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    if s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return String::new();
    }
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw).await;
    raw.split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_alerts_and_serve_send_the_same_messages_across_a_gap() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    // whole minutes, so both runs cut the same minutes; the last line is an hour old
    let start = (now - 5 * 60 * MINUTE_NS).div_euclid(MINUTE_NS) * MINUTE_NS;
    let lines = lines_with_a_gap(start);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gap.json");
    std::fs::write(&file, loki_json(&lines)).unwrap();

    // replay --alerts
    let replayed = FakeServer::start(vec![]).await;
    let alerts_toml = dir.path().join("alerts.toml");
    std::fs::write(
        &alerts_toml,
        format!("[webhook]\nurl = \"{}/hook\"\n", replayed.base),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking({
        let (file, alerts_toml) = (file.clone(), alerts_toml.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_loganomaly"))
                .arg("replay")
                .arg(&file)
                .arg("--alerts")
                .arg(&alerts_toml)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_replay = alerts(&replayed.received());
    let fired = |a: &[Value]| a.iter().filter(|x| x["status"] == "firing").count();
    assert!(
        fired(&from_replay) >= 2,
        "the worker fires before and after the gap: {from_replay:?}"
    );

    // serve, reading the same lines from Loki
    let fake = FakeLoki::start(Duration::from_secs(1), 1_000_000).await;
    fake.push(lines.clone());
    let served = FakeServer::start(vec![]).await;
    let port = free_port();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[model]\nuse_bundled = true\n\
             [loki]\nurl = \"{}\"\nselectors = ['{{namespace=\"shop\"}}']\nmode = \"poll\"\n\
             backfill = \"6h\"\nsettle = \"200ms\"\npoll_interval = \"100ms\"\n\
             [alerting.webhook]\nurl = \"{}/hook\"\n",
            fake.url(),
            served.base
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_loganomaly"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Guard(child);
    let total = lines.len() as f64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&scrape(port).await, "loganomaly_lines_scored_total") < total {
        assert!(
            Instant::now() < deadline,
            "serve did not score every line in time"
        );
        assert!(child.0.try_wait().unwrap().is_none(), "serve exited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // serve ends no minute after its last line; the replay's run-on may: compare the
    // messages serve could send, which are those the replay sent before its last line's minute
    let last_ns = lines.iter().map(|(_, ts, _)| *ts).max().unwrap();
    let before_last = |a: &Value| {
        let since = a["at"].as_str().unwrap_or_default();
        time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() as i64) < last_ns.div_euclid(MINUTE_NS) * MINUTE_NS)
            .unwrap_or(false)
    };
    let want: Vec<Value> = from_replay
        .iter()
        .filter(|a| before_last(a))
        .cloned()
        .collect();
    assert!(
        fired(&want) >= 2,
        "both crashes end before the last minute: {want:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = alerts(&served.received());
    while got.len() < want.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = alerts(&served.received());
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status();
    let _ = child.0.wait();
    assert_eq!(got, want, "serve and replay --alerts disagree");
}
