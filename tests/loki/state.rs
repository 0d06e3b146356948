//! `state_file`: a restarted source resumes where the last run stopped, so every line is
//! delivered exactly once across runs, whatever `backfill` says.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use loganomaly::event::LogLine;
use loganomaly::loki::{LokiConfig, Mode};

use super::fake::{FakeLoki, Labels};
use super::faults::Captured;
use super::{assert_exactly_once, now_ns, quick, start, streams, Running};

const SEC: Duration = Duration::from_secs(1);
const MIN_NS: i64 = 60_000_000_000;

/// `n` lines spread over `s`, timestamped `from`, `from + 1`, ... ns.
fn lines(s: &[Labels], from: i64, n: usize, what: &str) -> Vec<(Labels, i64, String)> {
    (0..n)
        .map(|i| {
            let line = format!("{what} {i}");
            (s[i % s.len()].clone(), from + i as i64, line)
        })
        .collect()
}

/// The resume point the state file holds for `selector`.
fn saved_mark(path: &Path, selector: &str) -> i64 {
    let text = std::fs::read_to_string(path).expect("the state file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(json["version"], 1, "{text}");
    json["watermarks"][selector]
        .as_i64()
        .unwrap_or_else(|| panic!("no watermark for {selector}: {text}"))
}

/// Waits (bounded) until the state file exists: the source has chosen where it starts.
async fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + 10 * SEC;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the source with `cfg` and waits until it has chosen where to start.
async fn started(cfg: &LokiConfig) -> Running {
    let src = start(cfg.clone(), 1024);
    wait_for_file(cfg.state_file.as_deref().expect("a state file")).await;
    src
}

/// Receives until `want` lines arrived (bounded), then stops the source; returns every
/// line it delivered, those left in the channel included.
async fn finish(mut src: Running, want: usize) -> Vec<LogLine> {
    let mut got = src
        .collect(want, 30 * SEC, Duration::from_millis(500))
        .await;
    let (result, rest) = src.stop_and_drain().await;
    result.unwrap();
    got.extend(rest);
    got
}

/// Two runs with a downtime between them, against one fake Loki.
async fn restart_delivers_everything_once(backfill: Duration) {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut cfg = quick(&fake.url(), Mode::Poll);
    cfg.backfill = backfill;
    cfg.state_file = Some(path.clone());
    let selector = cfg.selectors[0].clone();
    let s = streams(3);

    let first = started(&cfg).await;
    let first_from = now_ns() + 1;
    fake.push(lines(&s, first_from, 300, "first"));
    let mut got = finish(first, 300).await;
    assert_eq!(got.len(), 300, "the first run read its lines");
    let saved = saved_mark(&path, &selector);
    assert!(
        saved >= first_from + 300 && saved <= now_ns(),
        "the file holds where reading stopped: {saved}"
    );

    // logged while the service was down, from the saved point on (inclusive)
    fake.push(lines(&s, saved, 300, "down"));
    let restart = now_ns();
    let second = started(&cfg).await;
    let after = now_ns() + 1;
    fake.push(lines(&s, after, 300, "after"));
    got.extend(finish(second, 600).await);

    let backfill_start = restart - backfill.as_nanos() as i64;
    if backfill.is_zero() {
        assert!(
            saved + 300 < backfill_start,
            "backfill alone would miss the downtime"
        );
    } else {
        assert!(
            first_from >= backfill_start,
            "backfill alone would repeat the first run"
        );
    }
    assert_exactly_once(&got, &fake.all());
    assert!(saved_mark(&path, &selector) > after + 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_the_downtime_that_backfill_would_miss() {
    restart_delivers_everything_once(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_repeat_what_backfill_would_read_again() {
    restart_delivers_everything_once(Duration::from_secs(3600)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_point_older_than_max_catch_up_is_brought_forward() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut cfg = quick(&fake.url(), Mode::Poll);
    cfg.backfill = Duration::ZERO;
    cfg.max_catch_up = Duration::from_secs(3600);
    cfg.state_file = Some(path.clone());
    let now = now_ns();
    let state =
        serde_json::json!({"version": 1, "watermarks": {&cfg.selectors[0]: now - 180 * MIN_NS}});
    std::fs::write(&path, state.to_string()).unwrap();
    let s = streams(2);
    fake.push(lines(&s, now - 120 * MIN_NS, 100, "skipped"));
    let recent = lines(&s, now - 30 * MIN_NS, 100, "recent");
    fake.push(recent.clone());

    let mut src = start(cfg, 1024);
    let got = src.collect(100, 30 * SEC, Duration::from_millis(800)).await;
    src.stop().await.unwrap();
    let expected: BTreeSet<(Labels, i64, String)> = recent.into_iter().collect();
    assert_exactly_once(&got, &expected);
}

#[tokio::test(flavor = "current_thread")]
async fn a_corrupt_state_file_is_reported_and_backfill_used() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, b"{\"version\":1,\"watermarks\":{\"{namesp").unwrap();
    let mut cfg = quick(&fake.url(), Mode::Poll);
    cfg.backfill = Duration::from_secs(600);
    cfg.state_file = Some(path.clone());
    let s = streams(2);
    fake.push(lines(&s, now_ns() - 5 * MIN_NS, 100, "backfilled"));

    let mut src = start(cfg.clone(), 1024);
    let got = src.collect(100, 30 * SEC, Duration::from_millis(500)).await;
    src.stop().await.unwrap();
    assert_exactly_once(&got, &fake.all());
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("WARN")
            && logs.contains(&path.display().to_string())
            && logs.contains("corrupt"),
        "{logs}"
    );
    assert!(
        saved_mark(&path, &cfg.selectors[0]) > now_ns() - 5 * MIN_NS,
        "replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_mid_page_neither_loses_nor_repeats_a_line() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = quick(&fake.url(), Mode::Poll);
    cfg.state_file = Some(dir.path().join("state.json"));
    // one page of 1500 lines, three streams sharing each timestamp
    let s = streams(3);
    let base = now_ns() - MIN_NS;
    fake.push(
        (0..1500)
            .map(|i| (s[i % 3].clone(), base + (i / 3) as i64, format!("line {i}")))
            .collect(),
    );
    // a small queue: the reader waits, mid-page, when the run is stopped
    let mut first = start(cfg.clone(), 16);
    let mut got = Vec::new();
    while got.len() < 100 {
        let line = tokio::time::timeout(30 * SEC, first.rx.recv()).await;
        got.push(line.expect("lines").expect("an open source"));
    }
    let (result, rest) = first.stop_and_drain().await;
    result.unwrap();
    got.extend(rest);
    assert!(
        got.len() <= 100 + 16,
        "stopped mid-page ({} lines)",
        got.len()
    );
    let second = started(&cfg).await;
    got.extend(finish(second, 1500 - got.len()).await);
    assert_exactly_once(&got, &fake.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_that_cannot_be_written_is_counted_and_reading_goes_on() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, "").unwrap();
    let mut cfg = quick(&fake.url(), Mode::Poll);
    cfg.state_file = Some(not_a_dir.join("state.json"));
    let s = streams(2);
    fake.push(lines(&s, now_ns() - MIN_NS, 200, "kept"));
    let mut src = start(cfg, 1024);
    let got = src.collect(200, 30 * SEC, Duration::from_millis(500)).await;
    assert_exactly_once(&got, &fake.all());
    let deadline = Instant::now() + 10 * SEC;
    while src
        .stats
        .state_save_failures
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(Instant::now() < deadline, "no failed save counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (result, _) = src.stop_and_drain().await;
    result.unwrap();
}
