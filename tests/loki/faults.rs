//! Loki's errors and odd answers: each retried or reported as specified, never a panic.

use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loganomaly::loki::{LokiError, Mode};

use super::fake::{FakeLoki, Fault};
use super::{assert_exactly_once, now_ns, quick, start, streams};

const SEC: Duration = Duration::from_secs(1);

fn push_past(fake: &FakeLoki, n: usize) {
    let s = streams(3);
    let base = now_ns() - 60_000_000_000;
    fake.push(
        (0..n)
            .map(|i| (s[i % 3].clone(), base + i as i64, format!("line {i}")))
            .collect(),
    );
}

#[tokio::test]
async fn retries_429_with_retry_after_500_and_malformed_json_and_ignores_extra_fields() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    fake.inner.extra_fields.store(true, Relaxed);
    push_past(&fake, 1000);
    fake.fail_next([
        Fault::Status(429, Some(1), "too many outstanding requests"),
        Fault::Status(500, None, "rpc error: code = Unavailable"),
        Fault::Malformed,
    ]);
    // one request at a time: the gap between two requests is the retry's
    let mut cfg = quick(&fake.url(), Mode::Poll);
    cfg.catch_up_requests = 1;
    let mut src = start(cfg, 1024);
    let got = src
        .collect(1000, 30 * SEC, Duration::from_millis(300))
        .await;
    assert_exactly_once(&got, &fake.all());
    assert!(src.stats.errors.load(Relaxed) >= 3);
    let times = fake.inner.query_times.lock().unwrap().clone();
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "Retry-After not honoured"
    );
    assert!(
        src.stats.last_error().contains("malformed"),
        "{}",
        src.stats.last_error()
    );
    assert!(src.stats.connected.load(Relaxed));
    src.stop().await.unwrap();
}

#[tokio::test]
async fn refused_credentials_name_tenant_and_source_but_never_the_secret() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    *fake.inner.token.lock().unwrap() = Some("right-token".into());
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "wrong-secret-value\n").unwrap();
    let mut cfg = quick(&fake.url(), Mode::Tail);
    cfg.tenant = Some("team-a".into());
    cfg.token_file = Some(token_file.clone());
    let err = start(cfg, 16).ended().await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, LokiError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("team-a") && msg.contains(&token_file.display().to_string()),
        "{msg}"
    );
    assert!(!msg.contains("wrong-secret-value") && !format!("{err:?}").contains("wrong-secret"));
}

#[tokio::test]
async fn a_bad_selector_is_reported_with_lokis_own_message_in_both_modes() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    for mode in [Mode::Poll, Mode::Tail] {
        let mut cfg = quick(&fake.url(), mode);
        cfg.selectors = vec![r#"{namespace="shop""#.into()];
        let err = start(cfg, 16).ended().await.unwrap_err();
        assert!(matches!(err, LokiError::BadQuery { .. }), "{err:?}");
        assert!(err.to_string().contains("parse error at line 1"), "{err}");
    }
}

#[tokio::test]
async fn a_1_mib_line_is_cut_and_counted_in_both_modes() {
    for mode in [Mode::Poll, Mode::Tail] {
        let fake = FakeLoki::start(SEC, 1_000_000).await;
        let mut cfg = quick(&fake.url(), mode);
        cfg.backfill = Duration::ZERO;
        let mut src = start(cfg, 16);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let s = streams(1);
        let big = "é".repeat(512 * 1024);
        let ts = now_ns();
        fake.push(vec![
            (s[0].clone(), ts, big.clone()),
            (s[0].clone(), ts + 1, "small".into()),
        ]);
        let got = src.collect(2, 30 * SEC, Duration::from_millis(800)).await;
        assert_eq!(got.len(), 2, "{mode:?}");
        let cut = got.iter().find(|l| l.line.starts_with('é')).unwrap();
        assert!(cut.line.len() <= 16 * 1024 && big.starts_with(&cut.line));
        assert_eq!(src.stats.lines_truncated.load(Relaxed), 1);
        src.stop().await.unwrap();
    }
}

#[tokio::test]
async fn connection_refused_is_retried_and_says_where() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let src = start(quick(&url, Mode::Tail), 16);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(src.stats.errors.load(Relaxed) >= 2);
    assert!(!src.stats.connected.load(Relaxed));
    let last = src.stats.last_error();
    assert!(
        last.contains(&format!("cannot reach Loki at {url}"))
            || last.contains(&format!("ws://127.0.0.1:{port}")),
        "{last}"
    );
    src.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_settings_are_refused_before_connecting() {
    let mut cfg = quick("http://127.0.0.1:9", Mode::Poll);
    cfg.page_limit = 5001;
    let err = start(cfg, 1).ended().await.unwrap_err();
    assert_eq!(err.to_string(), "loki.page_limit: 5001 is not in 1..=5000");
}

/// A `Write` into shared memory, for capturing logs.
#[derive(Clone, Default)]
pub(super) struct Captured(pub(super) Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn secrets_never_reach_logs_or_debug_output() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    *fake.inner.token.lock().unwrap() = Some("right-token".into());
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "pa55-w0rd-xyz").unwrap();
    let mut cfg = quick(&fake.url(), Mode::Tail);
    cfg.username = Some("bob".into());
    cfg.password_file = Some(password);
    let shown = format!("{cfg:?}");
    let err = start(cfg, 16).ended().await.unwrap_err();
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("401"), "the refusal is logged: {logs}");
    let all = format!("{shown}\n{err}\n{err:?}\n{logs}");
    // The password, and the basic-auth header that would carry it (base64 of bob:pa55-w0rd-xyz).
    for secret in ["pa55-w0rd-xyz", "Ym9iOnBhNTUtdzByZC14eXo"] {
        assert!(!all.contains(secret), "secret leaked: {all}");
    }
}

/// A raw HTTP/1.1 GET (no client library in between): status line and body.
fn raw_get(addr: std::net::SocketAddr, path_and_query: &str) -> (u16, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: loki\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_loki_keeps_lokis_paging_rules() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let s = streams(2);
    fake.push(
        (0..300)
            .map(|i| (s[i % 2].clone(), 1000 + i as i64, format!("l{i}")))
            .collect(),
    );
    let addr = fake.addr;
    let q = "/loki/api/v1/query_range?query=%7Bnamespace%3D%22shop%22%7D";
    let get = move |extra: &'static str| raw_get(addr, &format!("{q}{extra}"));
    let count = |body: &str| {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let result = v["data"]["result"].as_array().unwrap().clone();
        let n: usize = result
            .iter()
            .map(|s| s["values"].as_array().unwrap().len())
            .sum();
        (result.len(), n)
    };
    let (st, body) = tokio::task::spawn_blocking(move || get("&start=0&end=99999"))
        .await
        .unwrap();
    assert_eq!(
        (st, count(&body)),
        (200, (2, 100)),
        "no limit means 100, grouped per stream"
    );
    let (_, body) = tokio::task::spawn_blocking(move || get("&start=1000&end=1010&limit=5000"))
        .await
        .unwrap();
    assert_eq!(count(&body).1, 10, "start inclusive, end exclusive");
    let (st, body) = tokio::task::spawn_blocking(move || get("&limit=5001"))
        .await
        .unwrap();
    assert_eq!(st, 400);
    assert!(
        body.contains("max entries limit per query exceeded"),
        "{body}"
    );
    let bad = "/loki/api/v1/query_range?query=%7Bnamespace";
    let (st, body) = tokio::task::spawn_blocking(move || raw_get(addr, bad))
        .await
        .unwrap();
    assert_eq!(st, 400);
    assert!(body.starts_with("parse error"), "{body}");
}

/// Issue 16, finding 1: during a 20 000-line catch-up with an error every 25 requests
/// (one a 429 with `Retry-After: 1`), the source is up again by the request after the
/// first successful page following each error, and no wait exceeds
/// `max(Retry-After, the backoff for one failure)` (plus the time of a request).
/// Before, each error doubled the wait up to `backoff_max` and `connected` stayed false
/// until the whole window was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_1_an_intermittent_error_during_catch_up_is_forgotten_after_one_page() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    push_past(&fake, 20_000);
    *fake.inner.fail_every.lock().unwrap() = Some((
        25,
        Fault::Status(503, None, "too many unhealthy instances in the ring"),
    ));
    let mut cfg = quick(&fake.url(), Mode::Poll);
    cfg.page_limit = 100;
    cfg.backoff_min = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_secs(10);
    // one request at a time: each gap follows one answer (parallel parts: the next test)
    cfg.catch_up_requests = 1;
    // one 429 with Retry-After among the errors: the first request
    fake.fail_next([Fault::Status(429, Some(1), "too many outstanding requests")]);
    let mut src = start(cfg, 30_000);
    let stats = Arc::clone(&src.stats);
    *fake.inner.probe.lock().unwrap() = Some(Arc::new(move || stats.connected.load(Relaxed)));
    let got = src
        .collect(20_000, 120 * SEC, Duration::from_millis(300))
        .await;
    assert_exactly_once(&got, &fake.all());
    let probed = fake.inner.probed.lock().unwrap().clone();
    let errors = probed.iter().filter(|p| p.2).count();
    assert!(errors >= 7, "{errors} errors in {} requests", probed.len());
    assert!(probed[0].2, "the first request is the scripted 429");
    let probed_ups = probed.iter().filter(|p| p.1.is_some()).count();
    assert!(
        probed_ups + 5 > probed.len(),
        "the probe missed most requests"
    );
    // requests answered with a fault are marked by the fake
    let failed = |i: usize| probed[i].2;
    for i in 1..probed.len() {
        let gap = probed[i].0 - probed[i - 1].0;
        if failed(i - 1) {
            // after the 429: its Retry-After; after any other: the backoff of one failure
            let allowed = if i == 1 {
                SEC
            } else {
                Duration::from_millis(100)
            };
            assert!(
                gap <= allowed + Duration::from_millis(400),
                "request {i} came {gap:?} after a failure (allowed {allowed:?})"
            );
        }
        if i >= 2 && !failed(i - 1) && failed(i - 2) {
            assert!(
                probed[i].1 != Some(false),
                "request {i}: the source is still down one page after the error at {}",
                i - 2
            );
        }
    }
    src.stop().await.unwrap();
}

/// Catch-up with four `query_range` requests in flight: a 50-minute backlog, read in four
/// parts at once, reaches the consumer exactly once and in time order per stream, through
/// a 429 with `Retry-After`, a 500, a malformed body and an error every 40 requests (each
/// stops every part; reading resumes at what was delivered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_catch_up_delivers_each_line_once_and_in_order_through_faults() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let s = streams(5);
    let base = now_ns() - 50 * 60_000_000_000;
    fake.push(
        (0..20_000)
            .map(|i| {
                (
                    s[i % 5].clone(),
                    base + i as i64 * 150_000_000,
                    format!("line {i}"),
                )
            })
            .collect(),
    );
    fake.fail_next([
        Fault::Status(429, Some(1), "too many outstanding requests"),
        Fault::Status(500, None, "rpc error: code = Unavailable"),
        Fault::Malformed,
    ]);
    *fake.inner.fail_every.lock().unwrap() = Some((40, Fault::Status(503, None, "ring unhealthy")));
    let mut cfg = quick(&fake.url(), Mode::Poll);
    cfg.page_limit = 500;
    cfg.catch_up_requests = 4;
    let mut src = start(cfg, 4096);
    let got = src
        .collect(20_000, 120 * SEC, Duration::from_millis(300))
        .await;
    assert_exactly_once(&got, &fake.all());
    let mut last: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for l in &got {
        let before = last.insert(l.stream.pod.clone(), l.ts_ns);
        assert!(
            before.is_none_or(|b| b < l.ts_ns),
            "{}: out of order",
            l.stream.pod
        );
    }
    // faults of one attempt's parts count once: the scripted ones, then the periodic
    assert!(src.stats.errors.load(Relaxed) >= 2);
    src.stop().await.unwrap();
}
