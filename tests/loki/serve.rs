//! `serve` end to end: the fake Loki feeds the service; its HTTP endpoints show the result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use loganomaly::loki::Mode;
use loganomaly::serve::{service, Shared, StageConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fake::{labels, FakeLoki};
use super::{now_ns, quick};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return (0, String::new());
    };
    let req = format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw).await;
    let status = raw.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// The first `n` lines of `pods` healthy cart pods of the bundled sample.
fn healthy_lines(pods: usize, n: usize) -> Vec<(String, Vec<String>)> {
    use std::collections::BTreeMap;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dataset/sample-loki-logs.json");
    let mut by_pod: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let opts = loganomaly::input::ReadOptions::default();
    loganomaly::input::read_path(&path, &opts, &mut |l| {
        if l.stream.pod.starts_with("cart-") && l.stream.container == "cart" {
            let lines = by_pod.entry(l.stream.pod.clone()).or_default();
            if lines.len() < n {
                lines.push(l.line);
            }
        }
        Ok(())
    })
    .unwrap();
    by_pod.into_iter().take(pods).collect()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_scores_what_loki_holds_and_stops_cleanly() {
    let fake = FakeLoki::start(Duration::from_secs(1), 1_000_000).await;
    let base = now_ns() - 300_000_000_000;
    let mut entries = Vec::new();
    for (p, (pod, text)) in healthy_lines(3, 1000).into_iter().enumerate() {
        let l = labels(&[("namespace", "shop"), ("pod", &pod), ("container", "app")]);
        for (i, line) in text.into_iter().enumerate() {
            entries.push((l.clone(), base + i as i64 * 1_000_000 + p as i64, line));
        }
    }
    let crash = labels(&[
        ("namespace", "shop"),
        ("pod", "worker-1"),
        ("container", "app"),
    ]);
    for i in 0..30i64 {
        let line = "panic: runtime error: invalid memory address or nil pointer dereference";
        entries.push((crash.clone(), base + 2_000_000_000 + i, line.to_string()));
    }
    fake.push(entries);

    let shared = Arc::new(Shared::default());
    shared.set_model(Arc::new(loganomaly::bundled::model().unwrap()), "bundled");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (term, termed) = tokio::sync::oneshot::channel::<()>();
    let cfg = quick(&fake.url(), Mode::Poll);
    let _ = shared.loki.set(cfg.clone());
    let running = tokio::spawn(service::run(
        listener,
        Arc::clone(&shared),
        StageConfig::default(),
        Duration::from_secs(20),
        move |ctx| service::loki_source(cfg, ctx),
        async {
            let _ = termed.await;
        },
    ));

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = get(addr, "/metrics").await.1;
        if metric(&text, "loganomaly_lines_scored_total") >= 3030.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        metric(&text, "loganomaly_lines_scored_total"),
        3030.0,
        "{text}"
    );
    // the pods view and the source state refresh each second
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = get(addr, "/metrics").await.1;
    assert!(text.contains("loganomaly_source_up 1"), "{text}");
    assert_eq!(get(addr, "/readyz").await.0, 200);
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".to_string()));
    let pods: serde_json::Value = serde_json::from_str(&get(addr, "/api/v1/pods").await.1).unwrap();
    let pods = pods.as_array().unwrap();
    assert_eq!(pods.len(), 4);
    assert_eq!(pods[0]["pod"], "worker-1", "the crashing pod ranks first");
    assert!(pods[0]["top_lines"][0]["line"]
        .as_str()
        .unwrap()
        .starts_with("panic"));

    // the summary alerts link to: the period of one namespace, as `summarize` writes it
    let (status, md) = get(addr, "/api/v1/summary?namespace=shop&since=10m").await;
    assert_eq!(status, 200, "{md}");
    assert!(
        md.starts_with("# Log summary of {namespace=\"shop\"}"),
        "{md}"
    );
    assert!(
        md.contains("3030 lines from"),
        "every line of the period once: {md}"
    );
    assert!(
        md.contains("worker"),
        "the crashing workload is named: {md}"
    );
    let (status, md) = get(addr, "/api/v1/summary?namespace=payments").await;
    assert_eq!((status, md.contains("0 lines")), (200, true), "{md}");
    for bad in [
        "namespace=Shop",
        "namespace=a%22%7D",
        "since=2d",
        "since=soon",
    ] {
        let (status, md) = get(addr, &format!("/api/v1/summary?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {md}");
    }
    // a service without [loki] says how to get one
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    tokio::spawn(loganomaly::serve::serve_http(
        plain,
        Arc::new(Shared::default()),
        std::future::pending(),
    ));
    let (status, md) = get(plain_addr, "/api/v1/summary").await;
    assert_eq!(status, 404);
    assert!(md.contains("[loki]"), "{md}");

    let _ = term.send(());
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("stops within the drain deadline")
        .unwrap()
        .unwrap();
}
