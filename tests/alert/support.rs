//! In-process fake HTTP receivers (Slack, an LLM, an Alertmanager webhook receiver) and
//! log capture.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use loganomaly::alert::{
    Alerter, Message, MessageConfig, Notice, NoticeKind, ObservedLine, PodAlert, PodObservation,
    Redactor,
};
use serde_json::Value;

/// One scripted answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<u64>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_string(),
            retry_after: None,
            delay: Duration::ZERO,
        }
    }
}

/// What the server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
pub struct Shared {
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    /// Answer when the script is empty (Slack's `200 ok` by default).
    fallback: Mutex<Option<Reply>>,
}

/// A fake HTTP server on 127.0.0.1 answering every path from a script.
pub struct FakeServer {
    pub base: String,
    shared: Arc<Shared>,
}

impl FakeServer {
    /// Starts a server answering `script` in order, then `200 ok`.
    pub async fn start(script: Vec<Reply>) -> Self {
        let shared = Arc::new(Shared::default());
        shared.script.lock().unwrap().extend(script);
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}"),
            shared,
        }
    }

    /// Answers `reply` once the script is used up.
    pub fn set_fallback(&self, reply: Reply) {
        *self.shared.fallback.lock().unwrap() = Some(reply);
    }

    /// A Slack-like webhook URL on this server, with a secret path.
    pub fn slack_url(&self) -> String {
        format!("{}/services/T0TEST/B0TEST/{SECRET_TOKEN}", self.base)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` requests arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let end = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The secret part of the fake Slack webhook URL: must never appear in logs.
pub const SECRET_TOKEN: &str = "XXXXsecretTOKEN42";

async fn handle(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let reply = {
        let next = shared.script.lock().unwrap().pop_front();
        next.or_else(|| shared.fallback.lock().unwrap().clone())
            .unwrap_or_else(|| Reply::status(200, "ok"))
    };
    shared.received.lock().unwrap().push(Received {
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    });
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    let mut resp = (status, reply.body).into_response();
    if let Some(secs) = reply.retry_after {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    resp
}

/// An observation of `pod` in `ns` at minute `minute` with burst score `burst`.
pub fn obs(ns: &str, pod: &str, minute: i64, burst: f32) -> PodObservation {
    obs_at(ns, pod, at(minute), burst)
}

/// An observation at `at_ns` (Unix ns) with one secret-bearing anomalous line.
pub fn obs_at(ns: &str, pod: &str, at_ns: i64, burst: f32) -> PodObservation {
    PodObservation {
        namespace: ns.to_string(),
        pod: pod.to_string(),
        at_ns,
        score: 0.7,
        threshold: 0.615,
        burst,
        anomalous_in_window: if burst > 0.0 { 12 } else { 0 },
        top_lines: if burst > 0.0 {
            vec![ObservedLine {
                ts_ns: at_ns - 1,
                score: 0.8,
                line: format!(
                    "dial tcp 10.0.0.7:5432: connect: connection refused password=hunter2 ({pod})"
                ),
                tokens: vec!["refused".into()],
            }]
        } else {
            Vec::new()
        },
    }
}

/// 2023-11-14T22:13:20Z, the sample's start.
pub const BASE_NS: i64 = 1_700_000_000_000_000_000;

/// Feeds two abnormal minutes for `pod`: the policy fires at the second.
pub async fn fire(alerter: &mut Alerter, ns: &str, pod: &str) -> usize {
    alerter.observe(at(0), &[obs(ns, pod, 0, 40.0)]).await;
    alerter.observe(at(1), &[obs(ns, pod, 1, 40.0)]).await
}

/// Unix ns of minute `m` after [`BASE_NS`].
pub fn at(m: i64) -> i64 {
    BASE_NS + m * 60_000_000_000
}

/// A tracing writer into a shared buffer, for checking what is logged.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Captures every event (all crates, TRACE) on this thread until the guard drops.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A firing pod alert with ten top lines of `line_len` extra characters (with markup and a
/// token in them, for escaping and redaction).
pub fn alert(ns: &str, pod: &str, line_len: usize) -> PodAlert {
    PodAlert {
        namespace: ns.into(),
        pod: pod.into(),
        kind: NoticeKind::Firing,
        since_ns: at(0),
        at_ns: at(1),
        ended_ns: None,
        burst: 42.0,
        peak_burst: 50.0,
        enter_score: 9.0,
        score: 0.7,
        threshold: 0.615,
        anomalous_in_window: 30,
        top_lines: (0..10)
            .map(|i| ObservedLine {
                ts_ns: at(0) + i,
                score: 0.9,
                line: format!("panic: <{i}> & token=abc{i} {}", "x".repeat(line_len)),
                tokens: vec![],
            })
            .collect(),
        category: loganomaly::alert::Category::Crash,
        dependency: None,
    }
}

/// `notice` made ready to render, with dashboard and logs links.
pub fn message(notice: &Notice) -> Message {
    let cfg = MessageConfig {
        dashboard_url: Some("https://grafana.example/d/pod?ns={namespace}&pod={pod}".into()),
        logs_url: Some("https://grafana.example/explore?q={query}&from={from_ms}".into()),
        summary_url: Some(
            "https://loganomaly.example/api/v1/summary?namespace={namespace}&since=1h".into(),
        ),
        max_line_chars: 2000,
        top_lines: 20,
    };
    Message::build(notice, &cfg, &Redactor::new(&[]).unwrap())
}
