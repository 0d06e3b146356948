//! Latency of the service's scoring stage, measured by hand (ignored by `cargo test`):
//! `cargo test --release --test tests stage_latency -- --ignored --nocapture`
//!
//! Lines of the bundled sample, spread over 200 pods, are fed at a fixed rate into the
//! stage's channel as a Loki source would; each line's latency is from the moment it is
//! sent to the moment the stage has scored its batch (the pod metrics are updated right
//! after, in the same loop turn). The Loki source's own delays (poll interval, settle
//! time, tail reconnects) come on top; `loki::measure` reports those.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loganomaly::event::{LabelNames, LogLine, Stream};
use loganomaly::serve::{stage, Shared, StageConfig};

const STREAMS: usize = 200;
const TICK: Duration = Duration::from_millis(2);

fn sample_lines() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dataset/sample-loki-logs.json");
    let mut lines = Vec::new();
    loganomaly::input::read_path(&path, &Default::default(), &mut |l| {
        lines.push(l.line);
        Ok(())
    })
    .expect("the sample reads");
    lines
}

fn streams() -> Vec<Arc<Stream>> {
    (0..STREAMS)
        .map(|i| {
            let labels = [("namespace", "shop"), ("pod", &*format!("pod-{i}"))]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Arc::new(Stream::from_labels(labels, &LabelNames::default()))
        })
        .collect()
}

/// What one run at a fixed rate showed.
struct Run {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Lines sent but not yet scored when sending stopped.
    backlog: u64,
    /// Lines per second actually sent (below the target when the stage pushes back).
    sent_rate: f64,
}

/// Feeds `rate` lines/s for `secs` seconds and measures each line's latency.
fn run_at(lines: &[String], rate: usize, secs: u64) -> Run {
    let shared = Arc::new(Shared::default());
    shared.set_model(
        Arc::new(loganomaly::bundled::model().expect("bundled")),
        "bundled",
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<LogLine>(loganomaly::serve::service::CHANNEL_LINES);
    let stage_shared = Arc::clone(&shared);
    let source = loganomaly::pipeline::Source::Channel(rx);
    let worker = std::thread::spawn(move || {
        stage::run(
            source,
            stage_shared,
            StageConfig::default(),
            Default::default(),
        )
    });
    // the poller notes when the scored count moves
    let done = Arc::new(AtomicBool::new(false));
    let poll_shared = Arc::clone(&shared);
    let poll_done = Arc::clone(&done);
    let start = Instant::now();
    let poller = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut last = 0;
        while !poll_done.load(Ordering::Relaxed) {
            let n = poll_shared.metrics.lines_scored();
            if n != last {
                seen.push((start.elapsed(), n));
                last = n;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        seen
    });
    let streams = streams();
    let total = rate * secs as usize;
    let per_tick = (rate as f64 * TICK.as_secs_f64()).max(1.0) as usize;
    let mut sent_at = Vec::with_capacity(total);
    let mut i = 0;
    while i < total {
        let due = start + TICK * (i / per_tick) as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        for _ in 0..per_tick.min(total - i) {
            let log = LogLine {
                ts_ns: 0,
                stream: Arc::clone(&streams[i % STREAMS]),
                line: lines[i % lines.len()].clone(),
            };
            sent_at.push(start.elapsed());
            if tx.blocking_send(log).is_err() {
                break;
            }
            i += 1;
        }
    }
    let sent_rate = total as f64 / start.elapsed().as_secs_f64();
    let backlog = total as u64 - shared.metrics.lines_scored();
    drop(tx);
    worker.join().expect("stage ends");
    done.store(true, Ordering::Relaxed);
    let seen = poller.join().expect("poller ends");
    latencies(&sent_at, &seen, backlog, sent_rate)
}

/// Line `i` counts as done at the first poll that saw more than `i` lines scored.
fn latencies(sent_at: &[Duration], seen: &[(Duration, u64)], backlog: u64, sent_rate: f64) -> Run {
    let mut lat = Vec::with_capacity(sent_at.len());
    let mut j = 0;
    for (i, sent) in sent_at.iter().enumerate() {
        while j < seen.len() && seen[j].1 <= i as u64 {
            j += 1;
        }
        if let Some((at, _)) = seen.get(j) {
            lat.push(at.saturating_sub(*sent).as_secs_f64() * 1e3);
        }
    }
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    Run {
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: q(1.0),
        backlog,
        sent_rate,
    }
}

#[test]
#[ignore = "measurement, run by hand"]
fn measure() {
    let lines = sample_lines();
    for rate in [50_000, 100_000, 200_000, 400_000, 800_000] {
        let r = run_at(&lines, rate, 5);
        println!(
            "{rate:>7} lines/s over {STREAMS} pods (sent {:.0}/s): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, backlog at the end {}",
            r.sent_rate, r.p50_ms, r.p99_ms, r.max_ms, r.backlog
        );
    }
}
