//! Figures quoted in the README, measured by hand (ignored by `cargo test`):
//! `cargo test --release --test tests loki::measure -- --ignored --nocapture`

use std::time::{Duration, Instant};

use loganomaly::loki::{LokiConfig, Mode};

use super::fake::FakeLoki;
use super::{now_ns, start, streams};

/// End-to-end latency (line timestamp to delivery) with the default settings.
/// Returns p50, p95 and max in milliseconds.
async fn latency(mode: Mode) -> (f64, f64, f64) {
    let fake = FakeLoki::start(Duration::from_secs(1), 1_000_000).await;
    let mut cfg = LokiConfig::new(fake.url());
    cfg.mode = mode;
    let mut src = start(cfg, 1024);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let consumer = tokio::spawn(async move {
        let mut lags = Vec::new();
        while lags.len() < 100 {
            let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(15), src.rx.recv()).await
            else {
                break;
            };
            lags.push((now_ns() - l.ts_ns) as f64 / 1e6);
        }
        (lags, src)
    });
    let s = streams(1);
    for i in 0..100 {
        fake.push(vec![(s[0].clone(), now_ns(), format!("line {i}"))]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut lags, src) = consumer.await.unwrap();
    lags.sort_by(f64::total_cmp);
    src.stop().await.unwrap();
    (
        lags[lags.len() / 2],
        lags[lags.len() * 95 / 100],
        lags[lags.len() - 1],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn measure() {
    for mode in [Mode::Poll, Mode::Tail] {
        let (p50, p95, max) = latency(mode).await;
        println!(
            "{mode:?}: latency p50 {p50:.0} ms, p95 {p95:.0} ms, max {max:.0} ms (in-process Loki)"
        );
    }
    let fake = FakeLoki::start(Duration::from_secs(1), 1_000_000).await;
    let s = streams(50);
    let n = 500_000;
    let base = now_ns() - 600_000_000_000;
    fake.push(
        (0..n)
            .map(|i| {
                (
                    s[i % 50].clone(),
                    base + i as i64 * 1000,
                    format!("GET /api/items/{i} 200 in 3ms"),
                )
            })
            .collect(),
    );
    let t = Instant::now();
    let mut cfg = LokiConfig::new(fake.url());
    cfg.backfill = Duration::from_secs(3600);
    let mut src = start(cfg, 8192);
    let got = src
        .collect(n, Duration::from_secs(120), Duration::ZERO)
        .await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "poll backfill: {} lines in {secs:.2} s = {:.0} lines/s",
        got.len(),
        got.len() as f64 / secs
    );
    src.stop().await.unwrap();
}
