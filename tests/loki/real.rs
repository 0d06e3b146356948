//! Against a real Grafana Loki 2.8.0 (`../shared/tools/loki`, see its README): known lines
//! are pushed with Loki's push API and read back with the `loganomaly` binary, `tail` in
//! both modes and `serve` with a state file, through Loki restarts (SIGTERM), a Loki crash
//! (SIGKILL) and a crash of `serve` (SIGKILL). Each test has its own Loki (temp dir, free
//! ports); without `../shared` the tests say so and pass.
//!
//! What "exactly once" means here: every line Loki holds at the end (read with our own
//! `query_range` pager) reaches the output once, and no line that was never pushed does.
//! A Loki crash may lose its last acknowledged pushes; lines loganomaly read before the
//! crash and Loki then lost are counted and printed, not failed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::fake::{labels, Labels};
use super::now_ns;
use crate::common::free_port;

/// One entry as Loki stores it: (stream labels, timestamp, line).
type Key = (Labels, i64, String);

const SEC: Duration = Duration::from_secs(1);
const MIN_NS: i64 = 60_000_000_000;
/// loganomaly's default `max_line_bytes`: longer lines are cut there (at a char boundary).
const MAX_LINE: usize = 16 * 1024;
/// The selector every test reads; every pushed stream matches it.
const SELECTOR: &str = r#"{namespace="shop"}"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A real Loki in its own temp dir; killed (SIGKILL, quick) when dropped.
struct RealLoki {
    script: PathBuf,
    dir: tempfile::TempDir,
    url: String,
}

impl RealLoki {
    /// Starts one (about 15 s), or `None` with a message when `../shared` is absent.
    fn start() -> Option<Self> {
        let script = root().join("../shared/tools/loki/run-loki.sh");
        if !script.is_file() {
            eprintln!(
                "skipped: {} not found (../shared is absent)",
                script.display()
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (http, grpc) = (free_port(), free_port());
        let mut loki = Self {
            script,
            dir,
            url: String::new(),
        };
        loki.url = loki.run(&["start", &http.to_string(), &grpc.to_string()]);
        Some(loki)
    }

    /// Runs `run-loki.sh CMD DIR ARGS...`; returns its last line of output (the URL).
    fn run(&self, args: &[&str]) -> String {
        let took = Instant::now();
        let out = Command::new("bash")
            .arg(&self.script)
            .arg(args[0])
            .arg(self.dir.path())
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run-loki.sh {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        eprintln!("run-loki.sh {} took {:.1?}", args[0], took.elapsed());
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout.lines().last().unwrap_or_default().trim().to_string()
    }

    /// SIGTERM, wait for the exit, start again on the same data.
    fn restart(&self) {
        self.run(&["restart"]);
    }

    /// SIGKILL (a crash), then start again on the same data (the WAL is replayed).
    fn crash_and_start(&self) {
        self.run(&["kill"]);
        self.run(&["start"]);
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("loki.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for RealLoki {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("kill")
            .arg(self.dir.path())
            .output();
    }
}

/// Pushes `entries` in one request; returns the HTTP status (0: Loki unreachable).
async fn push(client: &reqwest::Client, url: &str, entries: &[Key]) -> u16 {
    let body = json!({ "streams": streams_of(entries) });
    match client
        .post(format!("{url}/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Every entry Loki holds for `SELECTOR` in `[start, end)`, paged forward 5000 at a time.
/// Pushes are idempotent per entry, so what Loki holds is a set; a page that ends at a
/// timestamp is followed by one starting at it (inclusive), and the set drops the repeats.
async fn held(client: &reqwest::Client, url: &str, start: i64, end: i64) -> BTreeSet<Key> {
    let mut all = BTreeSet::new();
    let mut from = start;
    loop {
        let u = reqwest::Url::parse_with_params(
            &format!("{url}/loki/api/v1/query_range"),
            &[
                ("query", SELECTOR.to_string()),
                ("start", from.to_string()),
                ("end", end.to_string()),
                ("limit", "5000".to_string()),
                ("direction", "forward".to_string()),
            ],
        )
        .unwrap();
        let r = client.get(u).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "query_range");
        let v: Value = r.json().await.unwrap();
        let mut n = 0;
        let mut last = from;
        for s in v["data"]["result"].as_array().unwrap() {
            let l: Labels = serde_json::from_value(s["stream"].clone()).unwrap();
            for e in s["values"].as_array().unwrap() {
                let ts: i64 = e[0].as_str().unwrap().parse().unwrap();
                let line = e[1].as_str().unwrap().to_string();
                last = last.max(ts);
                n += 1;
                all.insert((l.clone(), ts, line));
            }
        }
        if n < 5000 {
            return all;
        }
        assert!(last > from, "more than 5000 entries at {from}");
        from = last;
    }
}

/// The line as loganomaly delivers it: cut to `MAX_LINE` bytes at a char boundary.
fn cut(line: &str) -> String {
    let mut end = line.len().min(MAX_LINE);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}

/// What loganomaly should deliver for what Loki holds.
fn expected(held: &BTreeSet<Key>) -> BTreeMap<Key, usize> {
    let mut want = BTreeMap::new();
    for (l, ts, line) in held {
        *want.entry((l.clone(), *ts, cut(line))).or_insert(0) += 1;
    }
    want
}

/// `n` streams of namespace `shop`.
fn shop_streams(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            let pod = format!("api-{i}");
            labels(&[("namespace", "shop"), ("pod", &pod), ("container", "api")])
        })
        .collect()
}

/// A line of about 20 KiB, ASCII (`i` even) or 3-byte characters placed so that the
/// 16 KiB cut falls inside one of them.
fn long_line(tag: &str, i: usize) -> String {
    if i % 2 == 0 {
        format!("{tag} long ascii {i} {}", "abcdefghij".repeat(2048))
    } else {
        let head = format!("{tag} long utf8 {i} ");
        // shift the 3-byte characters so that byte 16384 is not a boundary
        let pad = "x".repeat((MAX_LINE - head.len() + 1) % 3);
        format!("{head}{pad}{}", "日本語".repeat(2300))
    }
}

/// A batch of 25 live lines with timestamps at about now: one per stream of a rotating
/// subset, three of them sharing one nanosecond in one stream, some non-ASCII, and every
/// 40th batch a long line.
fn live_batch(s: &[Labels], batch: usize) -> Vec<Key> {
    let ts = now_ns();
    let mut out = Vec::with_capacity(25);
    for j in 0..22 {
        let stream = &s[(batch * 22 + j) % s.len()];
        let line = if j % 5 == 0 {
            format!("live {batch}.{j} ünïcødé ✓ привет 🚀 GET /api/items/{j}")
        } else {
            format!("live {batch}.{j} GET /api/items/{j} 200 {}ms", j * 3)
        };
        out.push((stream.clone(), ts + j as i64, line));
    }
    let tie = &s[batch % s.len()];
    for k in 0..3 {
        out.push((tie.clone(), ts + 100, format!("live {batch} tie {k}")));
    }
    if batch % 40 == 0 {
        out[0].2 = long_line(&format!("live {batch}"), batch / 40);
    }
    out
}

/// What a [`Pusher`] pushed.
struct Pushed {
    /// Acknowledged by Loki (204).
    acked: Vec<Key>,
    /// Sent, whatever the answer.
    sent: Vec<Key>,
    /// Pushes that failed (Loki down or stopping).
    failed: usize,
}

/// Pushes [`live_batch`]es every `every` in the background; can pause, closing its
/// connections, so that a Loki stopping on SIGTERM has no client of it.
struct Pusher {
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Pushed>,
}

impl Pusher {
    fn start(url: String, s: Vec<Labels>, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let (stopped, pause) = (Arc::clone(&stop), Arc::clone(&paused));
        let task = tokio::spawn(async move {
            let mut client = None;
            let mut done = Pushed {
                acked: Vec::new(),
                sent: Vec::new(),
                failed: 0,
            };
            let mut tick = tokio::time::interval(every);
            let mut batch = 0;
            while !stopped.load(Ordering::Relaxed) {
                tick.tick().await;
                if pause.load(Ordering::Relaxed) {
                    client = None;
                    continue;
                }
                let c = client.get_or_insert_with(|| loganomaly::http::client(2 * SEC).unwrap());
                let entries = live_batch(&s, batch);
                batch += 1;
                match push(c, &url, &entries).await {
                    204 => done.acked.extend(entries.iter().cloned()),
                    _ => done.failed += 1,
                }
                done.sent.extend(entries);
            }
            done
        });
        Self { stop, paused, task }
    }

    /// Stops pushing and closes the connections (an answer in flight comes first).
    async fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::Relaxed);
    }

    async fn finish(self) -> Pushed {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// A running `loganomaly tail`; its printed lines are collected as they come.
struct TailCmd {
    child: Child,
    name: String,
    got: Arc<Mutex<Vec<Key>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    stderr: PathBuf,
}

impl TailCmd {
    fn start(url: &str, mode: &str, dir: &Path) -> Self {
        let stderr = dir.join(format!("tail-{mode}.err"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_loganomaly"))
            .args(["tail", "--loki-url", url, "--selector", SELECTOR])
            .args(["--mode", mode, "--backfill", "1h", "--settle", "1s"])
            .args(["--explain", "0"])
            .env("LOGANOMALY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&got);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                let v: Value = serde_json::from_str(&line).unwrap();
                let l: Labels = serde_json::from_value(v["labels"].clone()).unwrap();
                let ts: i64 = v["ts"].as_str().unwrap().parse().unwrap();
                let text = v["line"].as_str().unwrap().to_string();
                sink.lock().unwrap().push((l, ts, text));
            }
        });
        Self {
            child,
            name: mode.to_string(),
            got,
            reader: Some(reader),
            stderr,
        }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Waits (bounded) until `want` lines were printed, then `linger` more so that a late
    /// duplicate is caught too; then stops it with SIGINT and returns what it printed.
    async fn finish(mut self, want: usize, within: Duration, linger: Duration) -> Vec<Key> {
        let deadline = Instant::now() + within;
        while self.count() < want && Instant::now() < deadline {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "tail --mode {} exited: {}",
                self.name,
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(linger).await;
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + 15 * SEC;
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        std::mem::take(&mut *self.got.lock().unwrap())
    }
}

impl Drop for TailCmd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a reader delivered, against what it should have.
#[derive(Debug, PartialEq, Eq)]
struct Tally {
    delivered: usize,
    /// Held by Loki, never delivered.
    lost: usize,
    /// Delivered more than once (each extra copy counts).
    duplicated: usize,
    /// Delivered and pushed, but not held by Loki at the end (its crash lost them after
    /// they were read).
    lost_by_loki: usize,
    /// Delivered but never pushed.
    unexpected: usize,
}

fn tally(got: &[Key], want: &BTreeMap<Key, usize>, sent: &BTreeSet<Key>) -> Tally {
    let mut seen: BTreeMap<&Key, usize> = BTreeMap::new();
    for k in got {
        *seen.entry(k).or_insert(0) += 1;
    }
    let mut t = Tally {
        delivered: got.len(),
        lost: 0,
        duplicated: 0,
        lost_by_loki: 0,
        unexpected: 0,
    };
    for (k, n) in want {
        let m = seen.get(k).copied().unwrap_or(0);
        t.lost += n.saturating_sub(m);
        t.duplicated += m.saturating_sub(*n);
    }
    for (k, m) in seen {
        if want.contains_key(k) {
            continue;
        }
        if sent.contains(k) {
            t.lost_by_loki += 1;
            t.duplicated += m - 1;
        } else {
            t.unexpected += m;
        }
    }
    t
}

/// The history pushed before the readers start: `n_streams` streams of `per_stream` lines
/// over the last half hour, every 10th timestamp carrying three lines, every 7th line
/// non-ASCII, and 12 lines of about 20 KiB.
fn history(s: &[Labels], per_stream: usize) -> Vec<Key> {
    let base = now_ns() - 30 * MIN_NS;
    let mut out = Vec::new();
    for (i, l) in s.iter().enumerate() {
        for j in 0..per_stream {
            let ts = base + (j as i64) * 100_000_000 + i as i64;
            let line = if j % 7 == 0 {
                format!("hist {i}.{j} ошибка: файл «данные» не найден — 致命的 ✗")
            } else {
                format!("hist {i}.{j} GET /api/orders/{j} 200 {}ms", j % 97)
            };
            out.push((l.clone(), ts, line));
            if j % 10 == 0 {
                for k in 0..2 {
                    out.push((l.clone(), ts, format!("hist {i}.{j} tie {k}")));
                }
            }
        }
    }
    for k in 0..12 {
        let l = &s[k * 3 % s.len()];
        out.push((
            l.clone(),
            base + 7 * MIN_NS + k as i64,
            long_line("hist", k),
        ));
    }
    out
}

fn print_tally(what: &str, mode: &str, t: &Tally) {
    eprintln!(
        "{what}, tail --mode {mode}: delivered {}, lost {}, duplicated {}, lost by Loki \
         after being read {}, unexpected {}",
        t.delivered, t.lost, t.duplicated, t.lost_by_loki, t.unexpected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_loki_tail_delivers_every_line_once_in_both_modes() {
    let took = Instant::now();
    let Some(loki) = tokio::task::spawn_blocking(RealLoki::start).await.unwrap() else {
        return;
    };
    let client = loganomaly::http::client(10 * SEC).unwrap();
    let s = shop_streams(50);
    let hist = history(&s, 60);
    for chunk in hist.chunks(1000) {
        assert_eq!(push(&client, &loki.url, chunk).await, 204, "history push");
    }
    let poll = TailCmd::start(&loki.url, "poll", loki.dir.path());
    let tail = TailCmd::start(&loki.url, "tail", loki.dir.path());
    // live lines while both read: ~500 lines/s, then a burst well above what the
    // websocket tail delivers (the reconciliation must find what it loses)
    let live = Pusher::start(loki.url.clone(), s.clone(), Duration::from_millis(50));
    tokio::time::sleep(6 * SEC).await;
    let burst_at = now_ns();
    let burst: Vec<Key> = (0..10_000)
        .map(|i| {
            (
                s[i % 50].clone(),
                burst_at + i as i64,
                format!("burst {i} ✓"),
            )
        })
        .collect();
    for chunk in burst.chunks(2500) {
        assert_eq!(push(&client, &loki.url, chunk).await, 204, "burst push");
    }
    tokio::time::sleep(2 * SEC).await;
    let Pushed { acked, failed, .. } = live.finish().await;
    assert_eq!(failed, 0, "Loki refused live pushes");

    let pushed: BTreeSet<Key> = hist.iter().chain(&burst).chain(&acked).cloned().collect();
    let holds = held(
        &client,
        &loki.url,
        now_ns() - 60 * MIN_NS,
        now_ns() + MIN_NS,
    )
    .await;
    assert_eq!(holds.len(), pushed.len(), "Loki holds every pushed line");
    assert!(holds == pushed, "Loki holds exactly what was pushed");
    let want = expected(&holds);
    let n = holds.len();
    let poll_got = poll.finish(n, 60 * SEC, 7 * SEC).await;
    let tail_got = tail.finish(n, 60 * SEC, 7 * SEC).await;
    let clean = Tally {
        delivered: n,
        lost: 0,
        duplicated: 0,
        lost_by_loki: 0,
        unexpected: 0,
    };
    eprintln!(
        "pushed {} lines ({} history, {} burst, {} live), Loki holds {n}",
        pushed.len(),
        hist.len(),
        burst.len(),
        acked.len()
    );
    for (mode, got) in [("poll", &poll_got), ("tail", &tail_got)] {
        let t = tally(got, &want, &BTreeSet::new());
        print_tally("no restart", mode, &t);
        assert_eq!(t, clean, "tail --mode {mode}");
    }
    eprintln!("real Loki, both modes: {:.1?}", took.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_loki_tail_delivers_every_line_once_across_loki_restarts_and_a_crash() {
    let took = Instant::now();
    let Some(loki) = tokio::task::spawn_blocking(RealLoki::start).await.unwrap() else {
        return;
    };
    let loki = Arc::new(loki);
    let client = loganomaly::http::client(10 * SEC).unwrap();
    let s = shop_streams(50);
    let hist = history(&s, 20);
    assert_eq!(push(&client, &loki.url, &hist).await, 204, "history push");
    let poll = TailCmd::start(&loki.url, "poll", loki.dir.path());
    let tail = TailCmd::start(&loki.url, "tail", loki.dir.path());
    let live = Pusher::start(loki.url.clone(), s.clone(), Duration::from_millis(50));
    for what in ["restart", "restart", "crash"] {
        tokio::time::sleep(3 * SEC).await;
        eprintln!(
            "Loki {what}: {} and {} lines read so far",
            poll.count(),
            tail.count()
        );
        let l = Arc::clone(&loki);
        if what == "restart" {
            // a SIGTERM waits 70-100 s for connected pushers: let them go first
            live.pause().await;
        }
        tokio::task::spawn_blocking(move || match what {
            "restart" => l.restart(),
            _ => l.crash_and_start(),
        })
        .await
        .unwrap();
        live.resume();
    }
    tokio::time::sleep(3 * SEC).await;
    let Pushed {
        acked,
        sent,
        failed,
    } = live.finish().await;

    let pushed: BTreeSet<Key> = hist.iter().chain(&acked).cloned().collect();
    // as delivered: cut
    let ever_sent: BTreeSet<Key> = hist
        .iter()
        .chain(&sent)
        .map(|(l, ts, line)| (l.clone(), *ts, cut(line)))
        .collect();
    let holds = held(
        &client,
        &loki.url,
        now_ns() - 60 * MIN_NS,
        now_ns() + MIN_NS,
    )
    .await;
    let want = expected(&holds);
    let n = holds.len();
    eprintln!(
        "pushed {} lines acknowledged ({failed} pushes failed while Loki was down), Loki \
         holds {n}: it lost {} acknowledged, holds {} never acknowledged",
        pushed.len(),
        pushed.difference(&holds).count(),
        holds.difference(&pushed).count()
    );
    let poll_got = poll.finish(n, 90 * SEC, 7 * SEC).await;
    let tail_got = tail.finish(n, 90 * SEC, 7 * SEC).await;
    for (mode, got) in [("poll", &poll_got), ("tail", &tail_got)] {
        let t = tally(got, &want, &ever_sent);
        print_tally("2 Loki restarts and a crash", mode, &t);
        assert_eq!(
            (t.lost, t.duplicated, t.unexpected),
            (0, 0, 0),
            "tail --mode {mode}: {t:?}"
        );
    }
    eprintln!("real Loki, restarts: {:.1?}", took.elapsed());
}

/// A `loganomaly serve` reading the real Loki with a state file; SIGKILLed when dropped.
struct Serve {
    child: Option<Child>,
    config: PathBuf,
    state: PathBuf,
    port: u16,
    mode: &'static str,
    log: PathBuf,
}

impl Serve {
    /// Writes the config of `mode` in `dir` (state file beside it); does not start.
    fn new(url: &str, mode: &'static str, dir: &Path) -> Self {
        let port = free_port();
        let state = dir.join(format!("state-{mode}.json"));
        let config = dir.join(format!("serve-{mode}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[model]\nuse_bundled = true\n\
                 retrain_interval = \"0s\"\n[loki]\nurl = \"{url}\"\nselectors = ['{SELECTOR}']\n\
                 mode = \"{mode}\"\nbackfill = \"1h\"\nsettle = \"1s\"\npoll_interval = \"200ms\"\n\
                 reconcile_interval = \"1s\"\nstate_file = \"{}\"\n",
                state.display()
            ),
        )
        .unwrap();
        Self {
            child: None,
            config,
            state,
            port,
            mode,
            log: dir.join(format!("serve-{mode}.err")),
        }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_loganomaly"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("LOGANOMALY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: a crash; the state file holds what the last periodic save wrote.
    fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, and the wait (bounded) for a clean exit.
    async fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + 30 * SEC;
        while c.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "serve --mode {} hangs on SIGTERM",
                self.mode
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            c.wait().unwrap().success(),
            "serve exits cleanly on SIGTERM"
        );
    }

    /// `loganomaly_lines_scored_total`, or `None` while serve does not answer.
    async fn scored(&self, client: &reqwest::Client) -> Option<u64> {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        let text = client.get(url).send().await.ok()?.text().await.ok()?;
        text.lines().find_map(|l| {
            l.strip_prefix("loganomaly_lines_scored_total ")?
                .trim()
                .parse()
                .ok()
        })
    }

    /// The resume point in the state file, if it is there yet.
    fn mark(&self) -> Option<i64> {
        let text = std::fs::read_to_string(&self.state).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        v["watermarks"][SELECTOR].as_i64()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.crash();
    }
}

/// Kills run 1 of `serve` (SIGKILL) a second and a half after a periodic save, the state
/// file being unchanged around its last scrape; returns (saved mark, lines run 1 had
/// scored at that scrape).
async fn crash_after_a_save(serve: &mut Serve, client: &reqwest::Client) -> (i64, u64) {
    let deadline = Instant::now() + 60 * SEC;
    let first = loop {
        assert!(
            Instant::now() < deadline,
            "no state file: {}",
            serve.log_text()
        );
        if let Some(m) = serve.mark() {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // a save after start, while lines flow: the mark moved
    while serve.mark() == Some(first) {
        assert!(
            Instant::now() < deadline,
            "the mark never moved: {}",
            serve.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = serve.mark().unwrap();
    let scored = serve.scored(client).await.expect("serve answers /metrics");
    serve.crash();
    let after = serve.mark().unwrap();
    assert_eq!(before, after, "no save between the scrape and the kill");
    (after, scored)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_loki_serve_killed_and_restarted_with_a_state_file_loses_nothing() {
    let took = Instant::now();
    let Some(loki) = tokio::task::spawn_blocking(RealLoki::start).await.unwrap() else {
        return;
    };
    let client = loganomaly::http::client(10 * SEC).unwrap();
    let s = shop_streams(50);
    let hist = history(&s, 20);
    assert_eq!(push(&client, &loki.url, &hist).await, 204, "history push");
    let live = Pusher::start(loki.url.clone(), s.clone(), Duration::from_millis(50));
    let mut serves = [
        Serve::new(&loki.url, "poll", loki.dir.path()),
        Serve::new(&loki.url, "tail", loki.dir.path()),
    ];
    for sv in &mut serves {
        sv.start();
    }
    let mut crashed = Vec::new();
    for sv in &mut serves {
        crashed.push(crash_after_a_save(sv, &client).await);
        sv.start();
    }
    tokio::time::sleep(4 * SEC).await;
    let Pushed { acked, failed, .. } = live.finish().await;
    assert_eq!(failed, 0, "Loki refused live pushes");
    let holds = held(
        &client,
        &loki.url,
        now_ns() - 60 * MIN_NS,
        now_ns() + MIN_NS,
    )
    .await;
    assert_eq!(
        holds.len(),
        hist.len() + acked.len(),
        "Loki holds every line"
    );
    for (sv, (mark, run1)) in serves.iter_mut().zip(crashed) {
        let below = holds.iter().filter(|(_, ts, _)| *ts < mark).count() as u64;
        let above = holds.len() as u64 - below;
        // run 2 scores exactly the lines at or above the saved mark: none below it again,
        // none above it lost; it may take the reconcile interval to find them all
        let deadline = Instant::now() + 60 * SEC;
        let mut run2 = 0;
        while Instant::now() < deadline {
            run2 = sv.scored(&client).await.unwrap_or(0);
            if run2 >= above {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(3 * SEC).await;
        run2 = sv.scored(&client).await.unwrap_or(run2);
        sv.stop().await;
        eprintln!(
            "serve --mode {}: Loki holds {} lines, {below} below the mark saved before the \
             SIGKILL; run 1 had scored {run1} (>= {below}), run 2 scored {run2} (= {above}); \
             scored twice: about {}",
            sv.mode,
            holds.len(),
            (run1 + run2).saturating_sub(holds.len() as u64)
        );
        assert!(
            run1 >= below,
            "serve --mode {}: run 1 scored {run1}, below its saved mark are {below}",
            sv.mode
        );
        assert_eq!(
            run2,
            above,
            "serve --mode {}: run 2\n{}",
            sv.mode,
            sv.log_text()
        );
    }
    eprintln!("real Loki, serve restarts: {:.1?}", took.elapsed());
}

/// The bundled sample moved to end a minute ago, as Loki push entries.
fn recent_sample() -> Vec<Key> {
    let text = std::fs::read_to_string(root().join("dataset/sample-loki-logs.json")).unwrap();
    let sample: Value = serde_json::from_str(&text).unwrap();
    let mut entries = Vec::new();
    for s in sample["data"]["result"].as_array().unwrap() {
        let labels: Labels = serde_json::from_value(s["stream"].clone()).unwrap();
        for v in s["values"].as_array().unwrap() {
            let ts: i64 = v[0].as_str().unwrap().parse().unwrap();
            entries.push((labels.clone(), ts, v[1].as_str().unwrap().to_string()));
        }
    }
    let last = entries.iter().map(|e| e.1).max().unwrap();
    let shift = now_ns() - MIN_NS - last;
    for e in &mut entries {
        e.1 += shift;
    }
    entries
}

/// Entries as Loki's `{"stream", "values"}` objects, one per label set.
fn streams_of(entries: &[Key]) -> Vec<Value> {
    let mut by_stream: BTreeMap<&Labels, Vec<[String; 2]>> = BTreeMap::new();
    for (l, ts, line) in entries {
        by_stream
            .entry(l)
            .or_default()
            .push([ts.to_string(), line.clone()]);
    }
    by_stream
        .into_iter()
        .map(|(l, values)| json!({"stream": l, "values": values}))
        .collect()
}

/// The same entries as a Loki `query_range` response file.
fn as_file(entries: &[Key], path: &Path) {
    let result = streams_of(entries);
    let doc = json!({"status": "success", "data": {"resultType": "streams", "result": result}});
    std::fs::write(path, doc.to_string()).unwrap();
}

/// `loganomaly summarize ARGS`: its report without the title (which names the input).
fn summarize(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_loganomaly"))
        .arg("summarize")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "summarize {args:?}: {stderr}");
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.starts_with("# Log summary of "), "{report}");
    report.lines().skip(1).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_of_the_last_hours_of_a_real_loki_is_the_report_of_the_same_lines() {
    let Some(loki) = RealLoki::start() else {
        return;
    };
    let client = loganomaly::http::client(Duration::from_secs(30)).unwrap();
    let pushed = recent_sample();
    for chunk in pushed.chunks(5000) {
        assert_eq!(push(&client, &loki.url, chunk).await, 204);
    }
    // every push was acknowledged: the report is that of the pushed lines. Loki 2.8 here
    // (boltdb-shipper, chunk_retain_period 0) has hidden a few acknowledged entries from
    // reads under load (flushed chunks not yet in the index), from loganomaly's pager and
    // from a test's own alike; a differing report is read again below
    let entries = pushed;
    let all = r#"{namespace=~".+"}"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("same-lines.json");
    as_file(&entries, &file);
    let file = file.display().to_string();
    let from_file = tokio::task::spawn_blocking(move || summarize(&[&file]))
        .await
        .unwrap();

    // a short answer of a loaded Loki is read again (five tries at most): a pager that
    // loses or repeats lines fails every time
    let mut from_loki = String::new();
    for attempt in 1..=5 {
        let url = loki.url.clone();
        from_loki = tokio::task::spawn_blocking(move || {
            summarize(&["--loki-url", &url, "--selector", all, "--since", "3h"])
        })
        .await
        .unwrap();
        if from_loki == from_file {
            break;
        }
        eprintln!("try {attempt}: the report of the period differs from the file's");
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(
        from_loki.contains(&format!("{} lines from", entries.len())),
        "every line read once: {from_loki}"
    );
    assert_eq!(from_loki, from_file);

    // a period before any line: an empty report, not an error
    let url = loki.url.clone();
    let empty = tokio::task::spawn_blocking(move || {
        summarize(&[
            "--loki-url",
            &url,
            "--selector",
            r#"{namespace="none"}"#,
            "--since",
            "1m",
        ])
    })
    .await
    .unwrap();
    assert!(empty.contains("0 lines no lines"), "{empty}");
}

#[test]
fn summarize_says_why_when_loki_cannot_be_read() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_loganomaly"))
        .args([
            "summarize",
            "--loki-url",
            &url,
            "--since",
            "5m",
            "--timeout",
            "2s",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no partial report");
    assert!(stderr.contains("no report written"), "{stderr}");
}

/// Catch-up from the real Loki, quoted in the README: a 30-minute backlog of 589 700 lines
/// over 560 streams (the backlog of issue 17), read to its end with 1, 2, 4 and 8
/// `query_range` requests in flight. Measured by hand:
/// `cargo test --release --test tests loki::real::measure_catch_up -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn measure_catch_up() {
    let Some(loki) = RealLoki::start() else {
        return;
    };
    let client = loganomaly::http::client(Duration::from_secs(60)).unwrap();
    let streams = shop_streams(560);
    let (per_stream, span) = (1053, 30 * MIN_NS);
    let start = now_ns() - span - MIN_NS;
    let mut entries: Vec<Key> = Vec::new();
    for i in 0..per_stream {
        for (k, s) in streams.iter().enumerate() {
            let ts = start
                + (i * streams.len() + k) as i64 * (span / (per_stream * streams.len()) as i64);
            entries.push((s.clone(), ts, format!("GET /api/cart/{i} 200 {k}ms")));
        }
    }
    let pushed = Instant::now();
    for chunk in entries.chunks(10_000) {
        assert_eq!(push(&client, &loki.url, chunk).await, 204);
    }
    println!(
        "pushed {} lines in {:.1} s",
        entries.len(),
        pushed.elapsed().as_secs_f64()
    );
    for requests in [1, 2, 4, 8] {
        let mut cfg = loganomaly::loki::LokiConfig::new(&loki.url);
        cfg.selectors = vec![SELECTOR.to_string()];
        cfg.catch_up_requests = requests;
        cfg.backfill = Duration::from_secs(40 * 60);
        cfg.until_ns = Some(now_ns() - 2_000_000_000);
        let (tx, mut rx) = tokio::sync::mpsc::channel(16 * 1024);
        let stats = Arc::new(loganomaly::loki::LokiStats::default());
        let took = Instant::now();
        let reader = tokio::spawn(loganomaly::loki::run(
            cfg,
            tx,
            Arc::clone(&stats),
            std::future::pending(),
        ));
        let mut n = 0usize;
        while rx.recv().await.is_some() {
            n += 1;
        }
        let secs = took.elapsed().as_secs_f64();
        reader.await.unwrap().unwrap();
        assert_eq!(n, entries.len(), "every line once");
        println!(
            "catch_up_requests {requests}: {n} lines in {secs:.1} s = {:.0} lines/s ({} errors)",
            n as f64 / secs,
            stats.errors.load(Ordering::Relaxed)
        );
    }
}
