//! `loganomaly tail` end to end against the fake Loki.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fake::FakeLoki;
use super::{now_ns, streams};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loganomaly"))
}

/// Runs the command to completion (bounded: killed after 30 s); returns stdout, stderr.
fn run_bounded(mut cmd: Command) -> (bool, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_command_scores_live_lines_with_a_token_from_the_environment() {
    let fake = FakeLoki::start(Duration::from_secs(1), 1_000_000).await;
    *fake.inner.token.lock().unwrap() = Some("t0ken-from-env".into());
    let s = streams(2);
    let base = now_ns() - 60_000_000_000;
    fake.push(
        (0..50)
            .map(|i| {
                (
                    s[i % 2].clone(),
                    base + i as i64,
                    format!("GET /api/items/{i} 200"),
                )
            })
            .collect(),
    );
    let mut cmd = bin();
    cmd.args([
        "tail",
        "--loki-url",
        &fake.url(),
        "--backfill",
        "5m",
        "--settle",
        "100ms",
        "--max-lines",
        "50",
    ])
    .args(["--selector", r#"{namespace="shop"}"#, "--tenant", "team-a"])
    .env("LOGANOMALY_LOKI_TOKEN", "t0ken-from-env")
    .env("LOGANOMALY_LOG", "trace");
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || run_bounded(cmd))
        .await
        .unwrap();
    assert!(ok, "{stderr}");
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 50);
    for r in &records {
        assert!(
            r["score"].as_f64().is_some_and(|s| s > 0.0 && s <= 1.0),
            "{r}"
        );
        assert_eq!(r["labels"]["namespace"], "shop");
    }
    assert!(!stderr.contains("t0ken-from-env"), "the token was logged");
}

#[test]
fn tail_help_shows_no_secret() {
    let mut cmd = bin();
    cmd.args(["tail", "--help"])
        .env("LOGANOMALY_LOKI_TOKEN", "hidden-t0ken")
        .env("LOGANOMALY_LOKI_PASSWORD", "hidden-pw");
    let (ok, stdout, _) = run_bounded(cmd);
    assert!(ok);
    assert!(stdout.contains("--token-file") && stdout.contains("LOGANOMALY_LOKI_TOKEN"));
    assert!(!stdout.contains("hidden-t0ken") && !stdout.contains("hidden-pw"));
}

/// Issue 17: `tail --state-file` resumes where the last run stopped, as `serve` does:
/// the second run prints the new lines only, not the backfill the first one printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_with_a_state_file_resumes_where_the_last_run_stopped() {
    let fake = FakeLoki::start(Duration::from_secs(1), 1_000_000).await;
    let s = streams(2);
    let base = now_ns() - 120_000_000_000;
    let lines = |from: usize, n: usize, at: i64| -> Vec<_> {
        (from..from + n)
            .map(|i| {
                (
                    s[i % 2].clone(),
                    at + i as i64,
                    format!("GET /api/items/{i} 200"),
                )
            })
            .collect()
    };
    fake.push(lines(0, 50, base));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tail-state.json");
    let tail = |max: &str| {
        let mut cmd = bin();
        cmd.args(["tail", "--loki-url", &fake.url(), "--backfill", "5m"])
            .args(["--settle", "100ms", "--max-lines", max])
            .args(["--selector", r#"{namespace="shop"}"#])
            .arg("--state-file")
            .arg(&state);
        cmd
    };
    let printed = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|r| r["line"].as_str().map(String::from))
            .collect()
    };
    let cmd = tail("50");
    let (ok, first, stderr) = tokio::task::spawn_blocking(move || run_bounded(cmd))
        .await
        .unwrap();
    assert!(ok, "{stderr}");
    assert_eq!(printed(&first).len(), 50);
    assert!(state.exists(), "the state file was written");

    // new lines, logged after the first run stopped
    fake.push(lines(50, 30, now_ns()));
    let cmd = tail("30");
    let (ok, second, stderr) = tokio::task::spawn_blocking(move || run_bounded(cmd))
        .await
        .unwrap();
    assert!(ok, "{stderr}");
    let second = printed(&second);
    let want: Vec<String> = (50..80)
        .map(|i| format!("GET /api/items/{i} 200"))
        .collect();
    let mut got = second.clone();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(
        got, want_sorted,
        "only the new lines, each once: {second:?}"
    );
}
