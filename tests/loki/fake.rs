//! An in-process Loki (127.0.0.1, random port) that behaves like Loki 2.8 as measured:
//! `query_range` (forward, `limit` counting the earliest entries across streams, default
//! 100, above 5000 a 400, `start` inclusive, `end` exclusive, results grouped per
//! stream), `series`, and a lossy websocket `tail` (pings, `dropped_entries` for some
//! losses and silence for others, 1011 closes with reasons, abrupt closes, going quiet).
//! Pushes are idempotent; a restart keeps the data. Faults are scripted per test.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{broadcast, watch};

pub type Labels = BTreeMap<String, String>;
type Params = Query<HashMap<String, String>>;

/// Builds a label set from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A scripted failure of the next HTTP query (`query_range` or `series`).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, optional `Retry-After` seconds, and plain-text body.
    Status(u16, Option<u64>, &'static str),
    /// Answer 200 with a body that is not JSON.
    Malformed,
}

/// Something to do to the open tails.
#[derive(Debug, Clone)]
pub enum TailCmd {
    /// Close with 1011 and this reason (as Loki does on SIGTERM).
    Close1011(String),
    /// Drop the TCP connection with no close frame (a killed Loki: 1006).
    Abort,
    /// Stop pinging and sending, keep the socket open (a hung Loki or proxy).
    GoQuiet,
}

/// The fake's data and behaviour, shared across restarts.
pub struct Inner {
    store: Mutex<BTreeMap<Labels, BTreeSet<(i64, String)>>>,
    live: broadcast::Sender<Arc<Vec<(Labels, i64, String)>>>,
    cmds: broadcast::Sender<TailCmd>,
    faults: Mutex<VecDeque<Fault>>,
    /// Bearer token required, if any.
    pub token: Mutex<Option<String>>,
    /// Arrival times of `query_range` requests.
    pub query_times: Mutex<Vec<Instant>>,
    /// Every n-th `query_range` request (1-based) fails with this fault.
    pub fail_every: Mutex<Option<(usize, Fault)>>,
    /// Read at each `query_range` arrival (e.g. the source's `connected`), kept in `probed`.
    pub probe: Mutex<Option<Arc<dyn Fn() -> bool + Send + Sync>>>,
    /// Per `query_range` request: arrival, the probe's value then (`None` before a probe
    /// was set), and whether it was answered with a fault.
    pub probed: Mutex<Vec<(Instant, Option<bool>, bool)>>,
    /// Every `query_range` response carries unknown extra fields.
    pub extra_fields: AtomicBool,
    /// Tail connections accepted.
    pub tails_opened: AtomicU64,
    /// Entries the tails lost, reported or not.
    pub tail_lost: AtomicU64,
    /// Ping interval of the tails.
    ping_every: Duration,
    /// Entries a tail passes per 100 ms before it loses the rest (Loki's tail is lossy).
    tail_budget: u64,
    /// Set while the server shuts down.
    stop: watch::Sender<bool>,
}

/// A running fake Loki.
pub struct FakeLoki {
    /// Shared data and knobs.
    pub inner: Arc<Inner>,
    /// Where it listens.
    pub addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeLoki {
    /// Starts on 127.0.0.1 with a random port; tails ping every `ping_every`.
    pub async fn start(ping_every: Duration, tail_budget: u64) -> Self {
        let (live, _) = broadcast::channel(4096);
        let (cmds, _) = broadcast::channel(16);
        let inner = Arc::new(Inner {
            store: Mutex::new(BTreeMap::new()),
            live,
            cmds,
            faults: Mutex::new(VecDeque::new()),
            token: Mutex::new(None),
            query_times: Mutex::new(Vec::new()),
            fail_every: Mutex::new(None),
            probe: Mutex::new(None),
            probed: Mutex::new(Vec::new()),
            extra_fields: AtomicBool::new(false),
            tails_opened: AtomicU64::new(0),
            tail_lost: AtomicU64::new(0),
            ping_every,
            tail_budget,
            stop: watch::channel(false).0,
        });
        let mut fake = Self {
            inner,
            addr: "127.0.0.1:0".parse().unwrap(),
            server: None,
        };
        fake.serve().await;
        fake
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn serve(&mut self) {
        let listener = bind(self.addr).await;
        self.addr = listener.local_addr().unwrap();
        self.inner.stop.send_replace(false);
        let app = Router::new()
            .route("/loki/api/v1/query_range", get(query_range))
            .route("/loki/api/v1/series", get(series))
            .route("/loki/api/v1/tail", get(tail))
            .with_state(Arc::clone(&self.inner));
        let mut stopped = self.inner.stop.subscribe();
        let graceful = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .await;
        }));
    }

    /// Stops (tails get 1011 "all ingesters closed the connection") and starts again on
    /// the same port after `down`, with the same data.
    pub async fn restart(&mut self, down: Duration) {
        self.shutdown().await;
        tokio::time::sleep(down).await;
        self.serve().await;
    }

    /// Stops the server.
    pub async fn shutdown(&mut self) {
        self.inner.stop.send_replace(true);
        if let Some(s) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), s).await;
        }
    }

    /// Stores entries (idempotent, as Loki) and shows the new ones to the tails.
    pub fn push(&self, entries: Vec<(Labels, i64, String)>) {
        let mut fresh = Vec::with_capacity(entries.len());
        {
            let mut store = self.inner.store.lock().unwrap();
            for (l, ts, line) in entries {
                if store
                    .entry(l.clone())
                    .or_default()
                    .insert((ts, line.clone()))
                {
                    fresh.push((l, ts, line));
                }
            }
        }
        let _ = self.inner.live.send(Arc::new(fresh));
    }

    /// Scripts failures of the next queries.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.faults.lock().unwrap().extend(faults);
    }

    /// Acts on every open tail.
    pub fn tails(&self, cmd: TailCmd) {
        let _ = self.inner.cmds.send(cmd);
    }

    /// Every stored entry.
    pub fn all(&self) -> BTreeSet<(Labels, i64, String)> {
        let store = self.inner.store.lock().unwrap();
        store
            .iter()
            .flat_map(|(l, es)| es.iter().map(move |(t, s)| (l.clone(), *t, s.clone())))
            .collect()
    }
}

/// Binds with SO_REUSEADDR so a restart gets its port back.
async fn bind(addr: SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..100 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        if socket.bind(addr).is_ok() {
            if let Ok(l) = socket.listen(1024) {
                return l;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot bind {addr}");
}

fn text(status: u16, body: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response()
}

/// Auth and scripted faults, in the order Loki's gateway would apply them.
fn gate(st: &Inner, headers: &HeaderMap) -> Option<Response> {
    if let Some(token) = st.token.lock().unwrap().as_ref() {
        let want = format!("Bearer {token}");
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&want) {
            return Some(text(401, "authentication failed: invalid token"));
        }
    }
    match st.faults.lock().unwrap().pop_front()? {
        Fault::Status(s, retry, body) => {
            let mut r = text(s, body);
            if let Some(secs) = retry {
                r.headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
            }
            Some(r)
        }
        Fault::Malformed => Some(text(200, "<html>502 bad gateway</html>")),
    }
}

fn num(q: &HashMap<String, String>, key: &str, default: i64) -> Result<i64, String> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| format!("invalid {key}: {v}")),
    }
}

async fn query_range(
    State(st): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let n = {
        let mut times = st.query_times.lock().unwrap();
        times.push(Instant::now());
        times.len()
    };
    let periodic = match &*st.fail_every.lock().unwrap() {
        Some((every, fault)) if n % every == 0 => Some(fault.clone()),
        _ => None,
    };
    let probe = st.probe.lock().unwrap().clone();
    let up = probe.map(|p| p());
    let arrival = Instant::now();
    if let Some(fault) = periodic {
        st.faults.lock().unwrap().push_front(fault);
    }
    let gated = gate(&st, &headers);
    st.probed
        .lock()
        .unwrap()
        .push((arrival, up, gated.is_some()));
    if let Some(r) = gated {
        return r;
    }
    let parsed = (|| {
        Ok::<_, String>((
            num(&q, "start", 0)?,
            num(&q, "end", i64::MAX)?,
            num(&q, "limit", 100)?,
        ))
    })();
    let (start, end, limit) = match parsed {
        Ok(v) => v,
        Err(e) => return text(400, &e),
    };
    if limit > 5000 {
        return text(
            400,
            &format!(
                "max entries limit per query exceeded, limit > max_entries_limit ({limit} > 5000)"
            ),
        );
    }
    let sel = match Selector::parse(q.get("query").map_or("", String::as_str)) {
        Ok(s) => s,
        Err(e) => return text(400, &e),
    };
    let mut hits: Vec<(i64, &Labels, &String)> = Vec::new();
    let store = st.store.lock().unwrap();
    for (l, es) in store.iter().filter(|(l, _)| sel.matches(l)) {
        let range = es.range((start, String::new())..(end, String::new()));
        hits.extend(
            range
                .filter(|(_, line)| sel.keeps(line))
                .map(|(t, line)| (*t, l, line)),
        );
    }
    hits.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.cmp(b.1))
            .then_with(|| a.2.cmp(b.2))
    });
    hits.truncate(limit as usize);
    let mut grouped: BTreeMap<&Labels, Vec<[String; 2]>> = BTreeMap::new();
    for (t, l, line) in hits {
        grouped
            .entry(l)
            .or_default()
            .push([t.to_string(), line.clone()]);
    }
    let result: Vec<serde_json::Value> = grouped
        .into_iter()
        .map(|(l, v)| serde_json::json!({"stream": l, "values": v}))
        .collect();
    let mut body = serde_json::json!({
        "status": "success",
        "data": {"resultType": "streams", "result": result, "stats": {"summary": {"totalEntriesReturned": 0}}}
    });
    if st.extra_fields.load(Relaxed) {
        body["warnings"] = serde_json::json!(["new in Loki 9"]);
        body["data"]["encodingFlags"] = serde_json::json!(["categorize-labels"]);
    }
    axum::Json(body).into_response()
}

async fn series(State(st): State<Arc<Inner>>, headers: HeaderMap, Query(q): Params) -> Response {
    if let Some(r) = gate(&st, &headers) {
        return r;
    }
    let (start, end) = match (num(&q, "start", 0), num(&q, "end", i64::MAX)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return text(400, &e),
    };
    let sel = match Selector::parse(q.get("match[]").map_or("", String::as_str)) {
        Ok(s) => s,
        Err(e) => return text(400, &e),
    };
    let store = st.store.lock().unwrap();
    let data: Vec<&Labels> = store
        .iter()
        .filter(|(l, es)| {
            sel.matches(l)
                && es
                    .range((start, String::new())..(end, String::new()))
                    .next()
                    .is_some()
        })
        .map(|(l, _)| l)
        .collect();
    axum::Json(serde_json::json!({"status": "success", "data": data})).into_response()
}

async fn tail(
    State(st): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(q): Params,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(r) = gate(&st, &headers) {
        return r;
    }
    if num(&q, "delay_for", 0).map_or(true, |d| d > 5) {
        return text(400, "delay_for can't be greater than 5");
    }
    let sel = Selector::parse(q.get("query").map_or("", String::as_str));
    let stop = st.cmds.subscribe();
    let live = st.live.subscribe();
    st.tails_opened.fetch_add(1, Relaxed);
    ws.on_upgrade(move |socket| async move {
        match sel {
            Ok(sel) => run_tail(st, socket, sel, live, stop).await,
            Err(e) => close(socket, e).await,
        }
    })
}

async fn close(mut socket: WebSocket, reason: String) {
    let frame = CloseFrame {
        code: 1011,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// One tail: forwards live entries (losing some), pings, obeys commands.
async fn run_tail(
    st: Arc<Inner>,
    mut socket: WebSocket,
    sel: Selector,
    mut live: broadcast::Receiver<Arc<Vec<(Labels, i64, String)>>>,
    mut cmds: broadcast::Receiver<TailCmd>,
) {
    let mut ping = tokio::time::interval(st.ping_every);
    let mut budget = Budget {
        window: Instant::now(),
        used: 0,
        per_100ms: st.tail_budget,
        seen: 0,
    };
    let mut flip = false;
    let mut stopping = st.stop.subscribe();
    loop {
        tokio::select! {
            _ = stopping.changed() => {
                let stop_now = *stopping.borrow();
                if stop_now {
                    return close(socket, "all ingesters closed the connection".into()).await;
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() { return; }
            }
            cmd = cmds.recv() => match cmd {
                Ok(TailCmd::Close1011(reason)) => return close(socket, reason).await,
                Ok(TailCmd::Abort) => return,
                Ok(TailCmd::GoQuiet) => return quiet(socket).await,
                Err(_) => {}
            },
            batch = live.recv() => {
                let batch = match batch {
                    Ok(b) => b,
                    Err(broadcast::error::RecvError::Lagged(n)) => { st.tail_lost.fetch_add(n, Relaxed); continue }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                flip = !flip;
                let frame = budget.frame(&st, &sel, &batch, flip);
                if let Some(frame) = frame {
                    if socket.send(Message::Text(frame.into())).await.is_err() { return; }
                }
            }
        }
    }
}

/// Keeps the socket open and silent until the client gives up (bounded: 30 s).
async fn quiet(mut socket: WebSocket) {
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

/// The tail's loss model: past a budget per 100 ms, and one entry in 97 regardless,
/// entries are lost; every other loss is reported in `dropped_entries`.
struct Budget {
    window: Instant,
    used: u64,
    per_100ms: u64,
    seen: u64,
}

impl Budget {
    fn frame(
        &mut self,
        st: &Inner,
        sel: &Selector,
        batch: &[(Labels, i64, String)],
        flip: bool,
    ) -> Option<String> {
        if self.window.elapsed() >= Duration::from_millis(100) {
            self.window = Instant::now();
            self.used = 0;
        }
        let mut streams: BTreeMap<&Labels, Vec<(i64, &str)>> = BTreeMap::new();
        let mut dropped = Vec::new();
        for (l, ts, line) in batch
            .iter()
            .filter(|(l, _, line)| sel.matches(l) && sel.keeps(line))
        {
            self.seen += 1;
            if self.used >= self.per_100ms || self.seen % 97 == 0 {
                st.tail_lost.fetch_add(1, Relaxed);
                if self.seen % 2 == 0 {
                    dropped.push(serde_json::json!({"labels": l, "timestamp": ts.to_string()}));
                }
                continue;
            }
            self.used += 1;
            streams.entry(l).or_default().push((*ts, line));
        }
        if streams.is_empty() && dropped.is_empty() {
            return None;
        }
        Some(frame_json(&streams, &dropped, flip))
    }
}

/// A tail frame, with label keys in reverse order on every other frame (as Loki varies).
fn frame_json(
    streams: &BTreeMap<&Labels, Vec<(i64, &str)>>,
    dropped: &[serde_json::Value],
    reverse: bool,
) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let parts: Vec<String> = streams
        .iter()
        .map(|(l, vs)| {
            let mut kv: Vec<String> = l
                .iter()
                .map(|(k, v)| format!("{}:{}", q(k), q(v)))
                .collect();
            if reverse {
                kv.reverse();
            }
            let values: Vec<String> = vs
                .iter()
                .map(|(t, line)| format!("[\"{t}\",{}]", q(line)))
                .collect();
            format!(
                "{{\"stream\":{{{}}},\"values\":[{}]}}",
                kv.join(","),
                values.join(",")
            )
        })
        .collect();
    let mut out = format!("{{\"streams\":[{}]", parts.join(","));
    if !dropped.is_empty() {
        out.push_str(&format!(
            ",\"dropped_entries\":{}",
            serde_json::Value::Array(dropped.to_vec())
        ));
    }
    out.push('}');
    out
}

/// A LogQL stream selector with an optional `|= "text"` filter; enough of LogQL for tests.
#[derive(Debug)]
struct Selector {
    matchers: Vec<(String, String, String)>,
    contains: Option<String>,
}

impl Selector {
    fn parse(s: &str) -> Result<Self, String> {
        let err = |col: usize, what: &str| {
            format!(
                "parse error at line 1, col {}: syntax error: unexpected {what}",
                col + 1
            )
        };
        let s = s.trim();
        let Some(body) = s.strip_prefix('{') else {
            return Err(err(0, "IDENTIFIER, expecting {"));
        };
        let close = body
            .rfind('}')
            .ok_or_else(|| err(s.len(), "$end, expecting }"))?;
        let (inner, rest) = (&body[..close], body[close + 1..].trim());
        let mut matchers = Vec::new();
        for m in split_matchers(inner) {
            let m = m.trim();
            let op = ["=~", "!~", "!=", "="]
                .into_iter()
                .find(|op| m.contains(op))
                .ok_or_else(|| err(1, m))?;
            let (name, value) = m.split_once(op).ok_or_else(|| err(1, m))?;
            let value: String = serde_json::from_str(value.trim()).map_err(|_| err(1, value))?;
            matchers.push((name.trim().to_string(), op.to_string(), value));
        }
        let contains = match rest {
            "" => None,
            r => Some(
                serde_json::from_str(
                    r.strip_prefix("|=")
                        .ok_or_else(|| err(close + 2, r))?
                        .trim(),
                )
                .map_err(|_| err(close + 2, r))?,
            ),
        };
        Ok(Self { matchers, contains })
    }

    fn matches(&self, l: &Labels) -> bool {
        self.matchers.iter().all(|(name, op, value)| {
            let v = l.get(name).map_or("", String::as_str);
            match op.as_str() {
                "=" => v == value,
                "!=" => v != value,
                "=~" => regex_like(value, v),
                _ => !regex_like(value, v),
            }
        })
    }

    fn keeps(&self, line: &str) -> bool {
        self.contains.as_deref().is_none_or(|c| line.contains(c))
    }
}

/// `.+`, `.*` and literal alternatives `a|b`: the regexes the tests use.
fn regex_like(re: &str, v: &str) -> bool {
    match re {
        ".+" => !v.is_empty(),
        ".*" => true,
        alts => alts.split('|').any(|a| a == v),
    }
}

/// Splits `a="x,y",b="z"` at commas outside quotes.
fn split_matchers(s: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(&s[start..]);
    }
    out
}
