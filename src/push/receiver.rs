//! The `POST /loki/api/v1/push` handler and its bounded queue into the scoring stage.
//!
//! A push is all or nothing: its lines are decoded and built into [`LogLine`]s, then the
//! handler takes room for all of them in the queue (`queue_lines`), waiting at most
//! `queue_wait`. With room it hands them over and answers 204, as Loki does; without, it
//! answers 429 with `Retry-After` and queues none, so the shipper's retry of the whole
//! batch scores each line once. A forwarding task moves queued lines into the stage's
//! channel, waiting while the scorer is busy (backpressure), and frees their room.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use super::config::PushConfig;
use super::wire::{self, PushedStream};
use crate::event::{LabelNames, LogLine, Stream};
use crate::input::floor_char_boundary;
use crate::loki::LokiConfig;
use crate::serve::Shared;
use crate::telemetry::{Event, PushAccepted, PushRefusal, PushRefused};

/// The path shippers push to, Loki's own.
pub const PUSH_PATH: &str = "/loki/api/v1/push";

/// The header that names the tenant, as in Loki.
pub const TENANT_HEADER: &str = "x-scope-orgid";

/// What `Retry-After` says on a 429, in seconds.
const RETRY_AFTER_SECONDS: u64 = 1;

/// The receiver's settings, resolved once from `[push]` and `[loki]`.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Largest body as sent.
    pub max_body_bytes: usize,
    /// Largest body once decompressed.
    pub max_decoded_bytes: usize,
    /// Lines accepted and not yet handed to the scorer.
    pub queue_lines: usize,
    /// Longest wait for room before a 429.
    pub queue_wait: Duration,
    /// Lines are cut to this many bytes.
    pub max_line_bytes: usize,
    /// The label that records the tenant, if any.
    pub tenant_label: Option<String>,
    /// Tenants allowed; empty: any.
    pub tenants: Vec<String>,
    /// The workload label names.
    pub names: LabelNames,
}

impl PushSettings {
    /// The settings of `cfg`, taking line cut and label names from `loki` when `[push]`
    /// does not set them, so both sources treat a line alike.
    pub fn new(cfg: &PushConfig, loki: Option<&LokiConfig>) -> Self {
        let names = match (&cfg.labels, loki) {
            (Some(l), _) => l.to_names(),
            (None, Some(loki)) => loki.labels.to_names(),
            (None, None) => LabelNames::default(),
        };
        Self {
            max_body_bytes: cfg.max_body_bytes,
            max_decoded_bytes: cfg.max_decoded_bytes,
            queue_lines: cfg.queue_lines,
            queue_wait: cfg.queue_wait,
            max_line_bytes: cfg
                .max_line_bytes
                .or(loki.map(|l| l.max_line_bytes))
                .unwrap_or(16 * 1024),
            tenant_label: cfg.tenant_label.clone(),
            tenants: cfg.tenants.clone(),
            names,
        }
    }
}

/// Lines accepted by one push, with the queue room they hold until forwarded.
struct Queued {
    lines: Vec<LogLine>,
    _room: OwnedSemaphorePermit,
}

/// The handler's state: settings, queue room, and the way to the forwarder.
struct Receiver {
    settings: PushSettings,
    room: Arc<Semaphore>,
    queue: mpsc::UnboundedSender<Queued>,
    shared: Arc<Shared>,
    /// Streams seen, so that every push of a stream shares one [`Stream`] (the stage and
    /// the model's reservoir hold lines, and each line its stream).
    streams: Mutex<HashMap<BTreeMap<String, String>, Arc<Stream>>>,
    /// True once the service is stopping: pushes are then refused (503) before queueing.
    stopping: watch::Receiver<bool>,
}

/// Most streams remembered by the receiver; past it the memory starts over.
const STREAMS_REMEMBERED: usize = 100_000;

/// The push route, and the forwarding task that moves accepted lines into `lines` (the
/// stage's channel) until `stop`; the task then refuses new pushes (503), forwards what
/// was accepted, and ends.
pub fn receiver(
    settings: PushSettings,
    shared: Arc<Shared>,
    lines: mpsc::Sender<LogLine>,
    stop: watch::Receiver<bool>,
) -> (
    Router,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (queue, rx) = mpsc::unbounded_channel();
    let state = Arc::new(Receiver {
        room: Arc::new(Semaphore::new(settings.queue_lines)),
        settings,
        queue,
        shared,
        streams: Mutex::default(),
        stopping: stop.clone(),
    });
    let router = Router::new().route(PUSH_PATH, post(push)).with_state(state);
    (router, forward(rx, lines, stop))
}

async fn forward(
    mut rx: mpsc::UnboundedReceiver<Queued>,
    lines: mpsc::Sender<LogLine>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            q = rx.recv() => q,
            _ = async { drop(stop.wait_for(|s| *s).await) } => {
                // no new pushes; what was accepted is still forwarded below
                rx.close();
                rx.recv().await
            }
        };
        let Some(q) = next else { return };
        for line in q.lines {
            if lines.send(line).await.is_err() {
                return;
            }
        }
    }
}

/// A refusal as the response and its count.
fn refuse(shared: &Shared, why: PushRefusal, lines: u64, message: String) -> Response {
    PushRefused { why, lines }.emit(&shared.metrics);
    let status = why.status();
    let mut response = (status, message + "\n").into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(RETRY_AFTER_SECONDS),
        );
    }
    response
}

async fn push(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Body) -> Response {
    let s = &r.settings;
    if *r.stopping.borrow() {
        let m = "loganomaly is stopping".to_string();
        return refuse(&r.shared, PushRefusal::Stopping, 0, m);
    }
    let tenant = headers
        .get(TENANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if !s.tenants.is_empty() {
        match tenant {
            None => {
                let m = "no org id: X-Scope-OrgID is required".to_string();
                return refuse(&r.shared, PushRefusal::Unauthorized, 0, m);
            }
            Some(t) if !s.tenants.iter().any(|a| a == t) => {
                let m = format!("tenant {t:?} may not push here");
                return refuse(&r.shared, PushRefusal::Forbidden, 0, m);
            }
            Some(_) => {}
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > s.max_body_bytes) {
        let m = format!(
            "body larger than push.max_body_bytes ({})",
            s.max_body_bytes
        );
        return refuse(&r.shared, PushRefusal::TooLarge, 0, m);
    }
    let body = match axum::body::to_bytes(body, s.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            let m = format!(
                "body unreadable or larger than push.max_body_bytes ({}): {e}",
                s.max_body_bytes
            );
            return refuse(&r.shared, PushRefusal::TooLarge, 0, m);
        }
    };
    let header_has = |name: header::HeaderName, what: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(what))
    };
    let json = header_has(header::CONTENT_TYPE, "json");
    let gzip = header_has(header::CONTENT_ENCODING, "gzip");
    let tenant_owned = tenant.map(str::to_owned);
    let state = Arc::clone(&r);
    // decompressing and decoding is CPU work: off the async workers
    let decoded = tokio::task::spawn_blocking(move || {
        let s = &state.settings;
        let streams = if json {
            wire::decode_json(&body, gzip, s.max_decoded_bytes)
        } else {
            // Loki reads any other content type as snappy protobuf, as Promtail sends it
            wire::decode_protobuf(&body, s.max_decoded_bytes)
        }?;
        Ok::<_, wire::WireError>(to_lines(
            s,
            tenant_owned.as_deref(),
            streams,
            &state.streams,
        ))
    })
    .await;
    let (lines, truncated, bad) = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(e @ wire::WireError::TooLarge { .. })) => {
            return refuse(&r.shared, PushRefusal::TooLarge, 0, e.to_string())
        }
        Ok(Err(e)) => return refuse(&r.shared, PushRefusal::BadRequest, 0, e.to_string()),
        Err(e) => {
            tracing::error!("the push decoder failed: {e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "decoder failed\n").into_response();
        }
    };
    let n = lines.len();
    if n > s.queue_lines {
        let m = format!(
            "push of {n} lines is more than push.queue_lines ({}): send smaller batches",
            s.queue_lines
        );
        return refuse(&r.shared, PushRefusal::TooLarge, n as u64, m);
    }
    if n > 0 {
        // n <= queue_lines <= u32::MAX, checked by the config
        let want = u32::try_from(n).unwrap_or(u32::MAX);
        let room = Arc::clone(&r.room);
        let permit = match tokio::time::timeout(s.queue_wait, room.acquire_many_owned(want)).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) | Err(_) => {
                let m = format!("queue full ({} lines): retry later", s.queue_lines);
                return refuse(&r.shared, PushRefusal::QueueFull, n as u64, m);
            }
        };
        let stopping = *r.stopping.borrow();
        if stopping
            || r.queue
                .send(Queued {
                    lines,
                    _room: permit,
                })
                .is_err()
        {
            let m = "loganomaly is stopping".to_string();
            return refuse(&r.shared, PushRefusal::Stopping, n as u64, m);
        }
    }
    PushAccepted {
        lines: n as u64,
        truncated,
    }
    .emit(&r.shared.metrics);
    match bad {
        None => StatusCode::NO_CONTENT.into_response(),
        // as Loki: the valid streams are kept, the push answers 400 for the others
        Some((streams, lines, first)) => refuse(
            &r.shared,
            PushRefusal::BadLabels,
            lines,
            format!("{streams} stream(s) refused, {lines} line(s) dropped: {first}"),
        ),
    }
}

/// The lines of `streams`, cut to the line limit, with the tenant label when configured;
/// how many were cut; and the streams refused for their labels (count, lines, first error).
#[allow(clippy::type_complexity)]
fn to_lines(
    s: &PushSettings,
    tenant: Option<&str>,
    streams: Vec<PushedStream>,
    known: &Mutex<HashMap<BTreeMap<String, String>, Arc<Stream>>>,
) -> (Vec<LogLine>, u64, Option<(usize, u64, String)>) {
    let mut out = Vec::with_capacity(streams.iter().map(|s| s.entries.len()).sum());
    let mut truncated = 0;
    let mut bad: Option<(usize, u64, String)> = None;
    // a poisoned lock only means another push panicked; the map itself is still sound
    let mut seen = known.lock().unwrap_or_else(|p| p.into_inner());
    if seen.len() >= STREAMS_REMEMBERED {
        seen.clear();
    }
    for pushed in streams {
        let mut labels = match pushed.labels.parse() {
            Ok(l) => l,
            Err(e) => {
                let b = bad.get_or_insert_with(|| (0, 0, e.to_string()));
                b.0 += 1;
                b.1 += pushed.entries.len() as u64;
                continue;
            }
        };
        if let (Some(name), Some(t)) = (&s.tenant_label, tenant) {
            labels.insert(name.clone(), t.to_string());
        }
        let stream = match seen.get(&labels) {
            Some(st) => Arc::clone(st),
            None => {
                let st = Arc::new(Stream::from_labels(labels.clone(), &s.names));
                seen.insert(labels, Arc::clone(&st));
                st
            }
        };
        for (ts_ns, mut line) in pushed.entries {
            if line.len() > s.max_line_bytes {
                line.truncate(floor_char_boundary(&line, s.max_line_bytes));
                truncated += 1;
            }
            out.push(LogLine {
                ts_ns,
                stream: Arc::clone(&stream),
                line,
            });
        }
    }
    (out, truncated, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::wire::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};

    fn body(pod: &str, n: usize) -> Vec<u8> {
        wire::encode_protobuf(&PushRequest {
            streams: vec![StreamAdapter {
                labels: format!(r#"{{namespace="shop", pod="{pod}"}}"#).into_bytes(),
                entries: (0..n)
                    .map(|i| EntryAdapter {
                        timestamp: Some(Timestamp::from_ns(i as i64)),
                        line: format!("line {i}").into_bytes(),
                    })
                    .collect(),
                hash: 0,
            }],
        })
    }

    fn state(
        queue_lines: usize,
        lines: mpsc::Sender<LogLine>,
    ) -> (Arc<Receiver>, watch::Sender<bool>) {
        let cfg = PushConfig {
            queue_lines,
            queue_wait: Duration::from_millis(50),
            tenant_label: Some("tenant".into()),
            ..PushConfig::default()
        };
        let (stop_tx, stop) = watch::channel(false);
        let (queue, rx) = mpsc::unbounded_channel();
        let r = Arc::new(Receiver {
            room: Arc::new(Semaphore::new(queue_lines)),
            settings: PushSettings::new(&cfg, None),
            queue,
            shared: Arc::new(Shared::default()),
            streams: Mutex::default(),
            stopping: stop.clone(),
        });
        tokio::spawn(forward(rx, lines, stop));
        (r, stop_tx)
    }

    async fn send(r: &Arc<Receiver>, body: Vec<u8>, ctype: &str) -> Response {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ctype.parse().unwrap());
        h.insert(TENANT_HEADER, "team-a".parse().unwrap());
        push(State(Arc::clone(r)), h, Body::from(body)).await
    }

    #[tokio::test]
    async fn a_full_queue_answers_429_whole_and_the_retry_is_scored_once() {
        let (tx, mut rx) = mpsc::channel(1);
        let (r, _stop) = state(3, tx);
        let proto = "application/x-protobuf";
        assert_eq!(
            send(&r, body("a", 3), proto).await.status(),
            StatusCode::NO_CONTENT
        );
        let full = send(&r, body("b", 2), proto).await;
        assert_eq!(full.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(full.headers()[header::RETRY_AFTER], "1");
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(rx.recv().await.unwrap());
        }
        // the forwarder frees the room once the batch is in the stage's channel
        let mut retried = StatusCode::TOO_MANY_REQUESTS;
        for _ in 0..50 {
            retried = send(&r, body("b", 2), proto).await.status();
            if retried != StatusCode::TOO_MANY_REQUESTS {
                break;
            }
        }
        assert_eq!(retried, StatusCode::NO_CONTENT);
        for _ in 0..2 {
            got.push(rx.recv().await.unwrap());
        }
        assert!(rx.try_recv().is_err(), "nothing twice");
        let pods: Vec<_> = got.iter().map(|l| l.stream.pod.as_str()).collect();
        assert_eq!(pods, ["a", "a", "a", "b", "b"]);
        assert!(
            Arc::ptr_eq(&got[3].stream, &got[4].stream),
            "one stream, shared"
        );
        assert_eq!(got[0].stream.labels["tenant"], "team-a");
        let text = r.shared.metrics.encode().unwrap();
        assert!(
            text.contains(r#"loganomaly_push_requests_total{reason="queue_full"} 1"#),
            "{text}"
        );
        assert!(text.contains("loganomaly_push_lines_total 5"), "{text}");
        // more lines than the queue holds can never fit: 413, not an endless 429
        assert_eq!(
            send(&r, body("c", 4), proto).await.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[tokio::test]
    async fn garbage_is_400_and_bad_streams_are_dropped_alone() {
        let (tx, mut rx) = mpsc::channel(100);
        let (r, _stop) = state(100, tx);
        for (b, t) in [
            (b"not snappy".to_vec(), "application/x-protobuf"),
            (
                snap::raw::Encoder::new()
                    .compress_vec(b"\xff\xff\xff")
                    .unwrap(),
                "application/x-protobuf",
            ),
            (b"{\"streams\":".to_vec(), "application/json"),
        ] {
            assert_eq!(send(&r, b, t).await.status(), StatusCode::BAD_REQUEST);
        }
        let json = br#"{"streams":[{"stream":{"pod":"ok"},"values":[["1","x"]]},{"stream":{},"values":[["2","y"]]}]}"#;
        let resp = send(&r, json.to_vec(), "application/json").await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(rx.recv().await.unwrap().line, "x");
        let text = r.shared.metrics.encode().unwrap();
        assert!(
            text.contains(r#"loganomaly_push_requests_total{reason="bad_request"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"loganomaly_push_requests_total{reason="bad_labels"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn listed_tenants_only() {
        let (tx, _rx) = mpsc::channel(100);
        let (r, _stop) = state(100, tx);
        let mut s = r.settings.clone();
        s.tenants = vec!["team-b".into()];
        let r2 = Arc::new(Receiver {
            settings: s,
            room: Arc::clone(&r.room),
            queue: r.queue.clone(),
            shared: Arc::clone(&r.shared),
            streams: Mutex::default(),
            stopping: r.stopping.clone(),
        });
        assert_eq!(
            send(&r2, body("a", 1), "application/x-protobuf")
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        let resp = push(State(r2), HeaderMap::new(), Body::from(body("a", 1))).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn after_stop_pushes_are_503_and_what_was_accepted_is_forwarded() {
        let (tx, mut rx) = mpsc::channel(1);
        let (r, stop) = state(10, tx);
        let proto = "application/x-protobuf";
        assert_eq!(
            send(&r, body("a", 3), proto).await.status(),
            StatusCode::NO_CONTENT
        );
        stop.send(true).unwrap();
        let mut status = StatusCode::NO_CONTENT;
        for _ in 0..100 {
            status = send(&r, body("b", 1), proto).await.status();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let mut pods = Vec::new();
        while let Some(l) = rx.recv().await {
            pods.push(l.stream.pod.clone());
        }
        // the channel closes once the forwarder has handed over what it accepted
        assert_eq!(pods.iter().filter(|p| *p == "a").count(), 3);
    }
}
