//! The source: per selector a complete reader (poll) and, in tail mode, a websocket tail,
//! sharing one [`Ledger`]; reconnects with backoff; backpressure through the channel;
//! with a state file, starts where the last run stopped and keeps that point saved.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinSet;

use super::auth::Credentials;
use super::config::{LokiConfig, Mode, CATCH_UP_PART};
use super::error::LokiError;
use super::ledger::{Catalog, Claim, Item, Ledger};
use super::query::{Client, RangeReader};
use super::state::{self, Saver, Watermarks, SAVE_EVERY};
use super::stats::LokiStats;
use super::tail::{Tail, TailParams};
use crate::event::{now_ns, LogLine};
use crate::input::floor_char_boundary;
use crate::retry::Retries;

/// What [`run`] builds before it connects.
struct Prepared {
    creds: Credentials,
    tls: Arc<rustls::ClientConfig>,
    client: Client,
    headers: HeaderMap,
}

/// Validates `cfg`, reads its credentials (password or token file, environment) and the
/// CA file, and builds the HTTP client: everything [`run`] does before it connects.
fn prepare(cfg: &LokiConfig) -> Result<Prepared, LokiError> {
    cfg.validate()?;
    let creds = Credentials::resolve(cfg, |k| std::env::var(k).ok())?;
    let tls = crate::http::tls_config(cfg.ca_file.as_deref())?;
    let client = Client::new(cfg, &creds, Arc::clone(&tls))?;
    let headers = creds.headers(cfg.tenant.as_deref())?;
    Ok(Prepared {
        creds,
        tls,
        client,
        headers,
    })
}

/// The checks [`run`] makes before it connects (settings, credentials, CA file, client),
/// for `check-config`: a config that passes starts reading.
pub fn check(cfg: &LokiConfig) -> Result<(), LokiError> {
    prepare(cfg).map(|_| ())
}

/// Reads the configured selectors from Loki and sends every line, exactly once, to `out`
/// until `shutdown` completes or `out` is closed (both return `Ok`).
///
/// Returns an error only for what retrying cannot fix: invalid settings, a query Loki
/// refuses (400), or credentials refused before anything was ever read. Everything else
/// (connection refused, 429, 5xx, closed tails) is retried with backoff and counted in
/// `stats`. When `out` is full, reading waits: nothing is dropped.
///
/// With `state_file` set, each selector starts where the last run stopped (see
/// `max_catch_up`) and that point is saved as reading advances and once more on return;
/// a line counts as delivered once `out` accepted it.
pub async fn run(
    cfg: LokiConfig,
    out: Sender<LogLine>,
    stats: Arc<LokiStats>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LokiError> {
    let Prepared {
        creds,
        tls,
        client,
        headers,
    } = prepare(&cfg)?;
    let shared = Arc::new(Shared {
        headers,
        tenant: cfg.tenant.clone().unwrap_or_else(|| "(none)".into()),
        credentials: creds.source().to_string(),
        client,
        tls,
        out,
        stats,
        cfg,
    });
    tracing::info!(
        "reading {:?} from {} in {:?} mode, shard {}, backfill {:?}",
        shared.cfg.selectors,
        shared.cfg.url,
        shared.cfg.mode,
        shared.cfg.shard,
        shared.cfg.backfill
    );
    let lanes = lanes(&shared, state::starts(&shared.cfg, now_ns()));
    let mut saver = shared.cfg.state_file.clone().map(Saver::new);
    let mut tasks = spawn_lanes(&shared, &lanes);
    let bounded = shared.cfg.until_ns.is_some();
    let result = tokio::select! {
        () = shutdown => Ok(()),
        result = lanes_done(&mut tasks, bounded) => result,
        () = keep_saving(&lanes, saver.as_mut(), &shared.stats) => Ok(()),
    };
    // stopped tasks deliver nothing more, so the last save is exact
    tasks.shutdown().await;
    if let Some(saver) = &mut saver {
        saver.finish(&resume_points(&lanes));
    }
    result
}

/// Waits for the first lane to end (the consumer left, or an error); with `all`
/// (`until_ns` set) for every lane to have read its period, or the first error.
async fn lanes_done(
    tasks: &mut JoinSet<Result<(), LokiError>>,
    all: bool,
) -> Result<(), LokiError> {
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) if all => continue,
            Ok(result) => return result,
            Err(e) => return Err(LokiError::Internal(e.to_string())),
        }
    }
    Ok(())
}

/// One lane per selector, each starting at its entry of `starts`.
fn lanes(shared: &Shared, starts: Vec<i64>) -> Vec<Arc<Lane>> {
    let cfg = &shared.cfg;
    cfg.selectors
        .iter()
        .zip(starts)
        .map(|(selector, start)| {
            Arc::new(Lane {
                selector: selector.clone(),
                state: Mutex::new(LaneState {
                    ledger: Ledger::new(start, cfg.dedup_capacity),
                    catalog: Catalog::new(cfg.labels.to_names(), cfg.shard),
                }),
                resume_at: AtomicI64::new(start),
            })
        })
        .collect()
}

/// Starts, per lane, the reader and (tail mode) the tail.
fn spawn_lanes(shared: &Arc<Shared>, lanes: &[Arc<Lane>]) -> JoinSet<Result<(), LokiError>> {
    let mut tasks = JoinSet::new();
    for lane in lanes {
        tasks.spawn(read_loop(Arc::clone(shared), Arc::clone(lane)));
        if shared.cfg.mode == Mode::Tail {
            tasks.spawn(tail_loop(Arc::clone(shared), Arc::clone(lane)));
        }
    }
    tasks
}

/// Writes the lanes' resume points every [`SAVE_EVERY`] (when they moved), counting failed
/// writes in `stats`; never returns.
///
/// The write is synchronous: the file is tiny, and a write that no `await` can cut in two
/// never races the last save on shutdown.
async fn keep_saving(lanes: &[Arc<Lane>], saver: Option<&mut Saver>, stats: &LokiStats) {
    let Some(saver) = saver else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(SAVE_EVERY);
    loop {
        tick.tick().await;
        if !saver.save(&resume_points(lanes)) {
            stats.state_save_failed();
        }
    }
}

/// Each selector's resume point, as the state file keeps them.
fn resume_points(lanes: &[Arc<Lane>]) -> Watermarks {
    lanes
        .iter()
        .map(|l| (l.selector.clone(), l.resume_at.load(Ordering::Relaxed)))
        .collect()
}

/// What every task of the source shares.
struct Shared {
    cfg: LokiConfig,
    client: Client,
    headers: HeaderMap,
    tenant: String,
    credentials: String,
    tls: Arc<rustls::ClientConfig>,
    out: Sender<LogLine>,
    stats: Arc<LokiStats>,
}

/// One selector: its name and the state its reader and tail share.
struct Lane {
    selector: String,
    state: Mutex<LaneState>,
    /// Where a restart resumes: the reader has delivered every entry below it and none at
    /// or above it. It trails the ledger's watermark, which moves when a page is claimed,
    /// before its lines are sent.
    resume_at: AtomicI64,
}

/// Dedup and stream interning of one selector, locked briefly (never across an await).
struct LaneState {
    ledger: Ledger,
    catalog: Catalog,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether the consumer still listens.
enum Flow {
    Continue,
    Stop,
}

/// The complete reader: every interval, reads `[watermark, now - settle)` page by page.
async fn read_loop(shared: Arc<Shared>, lane: Arc<Lane>) -> Result<(), LokiError> {
    let cfg = &shared.cfg;
    let interval = match cfg.mode {
        Mode::Poll => cfg.poll_interval,
        Mode::Tail => cfg.reconcile_interval,
    };
    let mut backoff = Retries::new(cfg.backoff());
    let mut ever_ok = false;
    loop {
        match read_window(&shared, &lane, &mut backoff, &mut ever_ok).await {
            Ok(Flow::Stop) => return Ok(()),
            Ok(Flow::Continue) if read_to_the_end(&shared, &lane) => return Ok(()),
            Ok(Flow::Continue) => {
                ever_ok = true;
                backoff.reset();
                if cfg.mode == Mode::Poll {
                    shared.stats.ok();
                }
                tokio::time::sleep(interval).await;
            }
            Err(e) => {
                let wait = retry_or_fail(&shared, e, ever_ok, &mut backoff, "query_range")?;
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Whether the lane has read everything up to `until_ns`, when it is set.
fn read_to_the_end(shared: &Shared, lane: &Lane) -> bool {
    shared
        .cfg
        .until_ns
        .is_some_and(|until| lane.lock().ledger.watermark() >= until)
}

/// Reads the settled window once; progress is kept page by page. Each page read is a
/// success: the backoff starts over and (in `poll` mode) the source counts as up, so a
/// long catch-up with an intermittent error neither waits longer and longer nor shows the
/// source down while most requests succeed.
async fn read_window(
    shared: &Arc<Shared>,
    lane: &Lane,
    backoff: &mut Retries,
    ever_ok: &mut bool,
) -> Result<Flow, LokiError> {
    let settled = now_ns().saturating_sub(nanos(shared.cfg.settle));
    let end = shared
        .cfg
        .until_ns
        .map_or(settled, |until| until.min(settled));
    let start = lane.lock().ledger.watermark();
    let parts = split_window(
        start,
        end,
        shared.cfg.catch_up_requests,
        nanos(CATCH_UP_PART),
    );
    // every part is read at once; their pages are claimed and delivered in time order, so
    // the ledger sees exactly what one reader paging the whole window would show it
    let fetch = Arc::new(Fetch::default());
    let mut parts: Vec<_> = parts
        .into_iter()
        .map(|(from, to)| fetch.part(Arc::clone(shared), lane.selector.clone(), from, to))
        .collect();
    for pages in &mut parts {
        loop {
            let (page, cursor) = match pages.recv().await {
                Some(Fetched::Page(page, cursor)) => (page, cursor),
                Some(Fetched::Done) => break,
                Some(Fetched::Failed) | None => return Err(fetch.error()),
            };
            *ever_ok = true;
            backoff.reset();
            if shared.cfg.mode == Mode::Poll {
                shared.stats.ok();
            }
            let items = claim_page(shared, lane, page, cursor);
            if shared.cfg.mode == Mode::Tail {
                shared.stats.recovered(items.len() as u64);
            }
            if let Flow::Stop = deliver_page(shared, lane, items, cursor).await {
                return Ok(Flow::Stop);
            }
        }
    }
    Ok(Flow::Continue)
}

/// What a part's reader hands over.
enum Fetched {
    /// A page and where the reader's cursor stood after it.
    Page(Vec<super::wire::StreamValues>, i64),
    /// The part is read to its end.
    Done,
    /// The part stopped short: its error, or another part's, is in [`Fetch::error`].
    Failed,
}

/// Pages read ahead per part, waiting to be delivered.
const PAGES_AHEAD: usize = 2;

/// The parts of one window being read: the first error stops every part before its next
/// request (a 429's `Retry-After` holds for all of them) and is the window's error.
#[derive(Default)]
struct Fetch {
    stopped: std::sync::atomic::AtomicBool,
    error: Mutex<Option<LokiError>>,
}

impl Fetch {
    /// Reads `[from, to)` of `selector` page by page on a task of its own, a few pages
    /// ahead of the consumer. Dropping the receiver stops it.
    fn part(
        self: &Arc<Self>,
        shared: Arc<Shared>,
        selector: String,
        from: i64,
        to: i64,
    ) -> tokio::sync::mpsc::Receiver<Fetched> {
        let (tx, rx) = tokio::sync::mpsc::channel(PAGES_AHEAD);
        let fetch = Arc::clone(self);
        tokio::spawn(async move {
            let limit = shared.cfg.page_limit;
            let mut reader = RangeReader::new(&shared.client, &selector, limit, from, to);
            loop {
                if fetch.stopped.load(Ordering::Relaxed) {
                    let _ = tx.send(Fetched::Failed).await;
                    return;
                }
                let next = match reader.next_page(&shared.stats).await {
                    Ok(Some(page)) => Fetched::Page(page, reader.cursor()),
                    Ok(None) => Fetched::Done,
                    Err(e) => fetch.fail(e),
                };
                let last = !matches!(next, Fetched::Page(..));
                if tx.send(next).await.is_err() || last {
                    return;
                }
            }
        });
        rx
    }

    /// Records the first error and stops every part.
    fn fail(&self, e: LokiError) -> Fetched {
        let mut first = self.error.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(e);
        self.stopped.store(true, Ordering::Relaxed);
        Fetched::Failed
    }

    /// The error that stopped the window.
    fn error(&self) -> LokiError {
        let mut first = self.error.lock().unwrap_or_else(|p| p.into_inner());
        first
            .take()
            .unwrap_or_else(|| LokiError::Internal("a catch-up reader stopped".into()))
    }
}

/// `[start, end)` cut into at most `most` equal time ranges of at least `min_part`
/// (one range when the window is shorter than two of them).
fn split_window(start: i64, end: i64, most: usize, min_part: i64) -> Vec<(i64, i64)> {
    let span = end.saturating_sub(start);
    let n = (span / min_part.max(1)).clamp(1, most.max(1) as i64);
    let step = span / n;
    (0..n)
        .map(|i| {
            let from = start + step * i;
            let to = if i + 1 == n { end } else { from + step };
            (from, to)
        })
        .collect()
}

/// Claims a page's entries against the lane's ledger, sorted by time, and counts them.
fn claim_page(
    shared: &Shared,
    lane: &Lane,
    page: Vec<super::wire::StreamValues>,
    cursor: i64,
) -> Vec<Item> {
    let mut st = lane.lock();
    let (mut items, foreign) = st.catalog.items(page);
    let received = items.len() as u64 + foreign;
    items.sort_by_key(|it| it.ts);
    let (kept, dups) = st.ledger.claim_page(items, cursor);
    shared.stats.received(received);
    shared.stats.other_shards(foreign);
    shared.stats.duplicates(dups);
    kept
}

/// The tail: reconnects forever; what it misses, the reader finds.
async fn tail_loop(shared: Arc<Shared>, lane: Arc<Lane>) -> Result<(), LokiError> {
    let mut backoff = Retries::new(shared.cfg.backoff());
    let mut ever_ok = false;
    loop {
        let e = match tail_once(&shared, &lane, &mut backoff, &mut ever_ok).await {
            Ok(Flow::Stop) => return Ok(()),
            Ok(Flow::Continue) => continue,
            Err(e) => e,
        };
        let wait = retry_or_fail(&shared, e, ever_ok, &mut backoff, "tail")?;
        tokio::time::sleep(wait).await;
    }
}

/// One tail connection, until it fails.
async fn tail_once(
    shared: &Shared,
    lane: &Lane,
    backoff: &mut Retries,
    ever_ok: &mut bool,
) -> Result<Flow, LokiError> {
    let cfg = &shared.cfg;
    let mut tail = Tail::connect(TailParams {
        base: shared.client.base(),
        selector: &lane.selector,
        start: now_ns(),
        headers: &shared.headers,
        tls: Arc::clone(&shared.tls),
        connect_timeout: cfg.connect_timeout,
        idle: cfg.tail_idle_timeout,
        who: (&shared.tenant, &shared.credentials),
    })
    .await?;
    loop {
        let frame = tail.next_frame().await?;
        *ever_ok = true;
        backoff.reset();
        shared.stats.ok();
        let dropped = frame.dropped_entries.map_or(0, |d| d.len() as u64);
        shared.stats.dropped_reported(dropped);
        let items = claim_tail(shared, lane, frame.streams);
        if let Flow::Stop = deliver(shared, items).await {
            return Ok(Flow::Stop);
        }
    }
}

/// Keeps the tail entries nobody has delivered yet.
fn claim_tail(shared: &Shared, lane: &Lane, streams: Vec<super::wire::StreamValues>) -> Vec<Item> {
    let mut st = lane.lock();
    let (items, foreign) = st.catalog.items(streams);
    shared.stats.received(items.len() as u64 + foreign);
    shared.stats.other_shards(foreign);
    let mut dups = 0;
    let kept = items
        .into_iter()
        .filter(|it| match st.ledger.claim_tail(it) {
            Claim::New => true,
            Claim::Duplicate => {
                dups += 1;
                false
            }
            Claim::Deferred => {
                shared.stats.deferred();
                false
            }
        })
        .collect();
    shared.stats.duplicates(dups);
    kept
}

/// Sends a claimed page, sorted by timestamp, to the scorer, one timestamp at a time.
/// The lane's resume point moves to each timestamp before its lines are sent and to
/// `cursor` at the end, so a restart after a stop neither loses nor repeats a line.
async fn deliver_page(shared: &Shared, lane: &Lane, items: Vec<Item>, cursor: i64) -> Flow {
    let mut group: Vec<Item> = Vec::new();
    for it in items {
        if group.last().is_some_and(|g| g.ts != it.ts) {
            if let Flow::Stop = send_group(shared, lane, std::mem::take(&mut group)).await {
                return Flow::Stop;
            }
        }
        group.push(it);
    }
    if let Flow::Stop = send_group(shared, lane, group).await {
        return Flow::Stop;
    }
    lane.resume_at.fetch_max(cursor, Ordering::Relaxed);
    Flow::Continue
}

/// Sends the lines of one timestamp together: room for all of them is reserved first (a
/// cancelled reservation sends nothing), so a stop never splits them, unless there are
/// more than the queue holds.
async fn send_group(shared: &Shared, lane: &Lane, group: Vec<Item>) -> Flow {
    let Some(ts) = group.first().map(|it| it.ts) else {
        return Flow::Continue;
    };
    lane.resume_at.fetch_max(ts, Ordering::Relaxed);
    let mut group = group.into_iter();
    while group.len() > 0 {
        let n = group.len().min(shared.out.max_capacity());
        let Ok(permits) = shared.out.reserve_many(n).await else {
            return Flow::Stop;
        };
        for (permit, it) in permits.zip(group.by_ref()) {
            permit.send(log_line(shared, it));
            shared.stats.delivered(ts, now_ns());
        }
    }
    Flow::Continue
}

/// Sends items to the scorer, waiting while its queue is full (backpressure).
async fn deliver(shared: &Shared, items: Vec<Item>) -> Flow {
    for it in items {
        let ts = it.ts;
        if shared.out.send(log_line(shared, it)).await.is_err() {
            return Flow::Stop;
        }
        shared.stats.delivered(ts, now_ns());
    }
    Flow::Continue
}

/// The line handed to the scorer, cut to `max_line_bytes` (counted).
fn log_line(shared: &Shared, it: Item) -> LogLine {
    let max = shared.cfg.max_line_bytes;
    let mut line = it.line;
    if line.len() > max {
        line.truncate(floor_char_boundary(&line, max));
        shared.stats.truncated();
    }
    LogLine {
        ts_ns: it.ts,
        stream: Arc::clone(&it.info.stream),
        line,
    }
}

/// Logs and counts a retryable error and returns the wait; returns fatal ones.
fn retry_or_fail(
    shared: &Shared,
    e: LokiError,
    ever_ok: bool,
    backoff: &mut Retries,
    what: &str,
) -> Result<Duration, LokiError> {
    let fatal = match &e {
        LokiError::Unauthorized { .. } => !ever_ok,
        e => !e.is_retryable(),
    };
    if fatal {
        tracing::error!("{what}: {e}");
        return Err(e);
    }
    let wait = backoff.next(e.retry_after());
    shared.stats.failed(what, &e, wait);
    Ok(wait)
}

/// A duration in nanoseconds, saturated.
pub(super) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::split_window;

    #[test]
    fn long_windows_are_cut_into_adjacent_parts_and_short_ones_not() {
        assert_eq!(split_window(0, 50, 4, 30), vec![(0, 50)]);
        assert_eq!(split_window(0, 60, 4, 30), vec![(0, 30), (30, 60)]);
        let parts = split_window(7, 1_000_007, 4, 30);
        assert_eq!(parts.len(), 4);
        assert_eq!((parts[0].0, parts[3].1), (7, 1_000_007));
        for w in parts.windows(2) {
            assert_eq!(w[0].1, w[1].0, "no gap, no overlap");
        }
        assert_eq!(
            split_window(10, 5, 4, 30),
            vec![(10, 5)],
            "an empty window stays one"
        );
        assert_eq!(
            split_window(0, 1000, 1, 30),
            vec![(0, 1000)],
            "one request at a time"
        );
    }
}
