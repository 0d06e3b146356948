//! Generation of one stream: merges its normal traffic, its incident feeds and its planned
//! lines in time order, hands out strictly increasing timestamps, and stops at exactly its
//! line budget.
//!
//! Only one event (at most a stack trace) is held at a time, so memory does not grow with
//! the line count.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::config::Tag;
use super::error::GenerateError;
use super::fake;
use super::families;
use super::incidents::{self, FeedKind};
use super::schedule::Schedule;
use super::topology::{Pod, Stream, Topology};

/// One log line before it gets its final timestamp.
#[derive(Debug, Clone)]
pub(super) struct Line {
    /// Intended instant, Unix ns (the final timestamp is this or slightly later).
    pub at: u64,
    /// The log line.
    pub text: String,
    /// Set for abnormal lines.
    pub tag: Option<Tag>,
}

impl Line {
    /// A normal (unlabelled) line.
    pub fn plain(at: u64, text: String) -> Line {
        Line {
            at,
            text,
            tag: None,
        }
    }

    /// An abnormal line.
    pub fn tagged(at: u64, text: String, tag: Tag) -> Line {
        Line {
            at,
            text,
            tag: Some(tag),
        }
    }
}

/// Everything a line generator may look at.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    /// The cluster.
    pub topo: &'a Topology,
    /// The timeline.
    pub sched: &'a Schedule,
    /// The stream being generated.
    pub stream: &'a Stream,
    /// Its pod.
    pub pod: &'a Pod,
}

/// Seeds the RNG of stream `index` (and, with another `salt`, its planned lines).
pub(super) fn stream_rng(seed: u64, index: usize, salt: u64) -> Xoshiro256PlusPlus {
    let mixed = seed
        ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ salt.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    Xoshiro256PlusPlus::seed_from_u64(mixed)
}

/// Salt of the RNG that renders a stream's planned lines.
pub(super) const PLANNED_SALT: u64 = 0x91a7;

/// A process that spreads `remaining` lines over some intervals: each gap is an
/// exponential draw whose mean is the time left divided by the lines left, so the count
/// is met exactly and the last line lands near the end.
struct Spread {
    segments: Vec<(u64, u64)>,
    total: u64,
    v: f64,
    remaining: u64,
    next: Option<u64>,
    events: u64,
    lines: u64,
}

impl Spread {
    fn new(segments: Vec<(u64, u64)>, remaining: u64) -> Spread {
        let total = segments.iter().map(|(a, b)| b - a).sum();
        Spread {
            segments,
            total,
            v: 0.0,
            remaining,
            next: None,
            events: 0,
            lines: 0,
        }
    }

    /// Absolute time of the next event, drawing it if needed.
    fn peek(&mut self, rng: &mut Xoshiro256PlusPlus) -> Option<u64> {
        if self.remaining == 0 || self.total == 0 {
            return None;
        }
        if self.next.is_none() {
            // Events left = lines left / lines per event so far (prior: one line).
            let per_event = (self.lines + 1) as f64 / (self.events + 1) as f64;
            let events_left = self.remaining as f64 / per_event;
            let left = self.total as f64 - self.v;
            let gap = left / (events_left + 1.0) * fake::exp1(rng).min(5.0);
            self.v = (self.v + gap).min(self.total as f64 - 1.0);
            self.next = Some(self.map(self.v as u64));
        }
        self.next
    }

    /// Records that an event of `lines` lines was emitted.
    fn consume(&mut self, lines: u64) {
        self.remaining = self.remaining.saturating_sub(lines);
        self.events += 1;
        self.lines += lines;
        self.next = None;
    }

    fn map(&self, mut v: u64) -> u64 {
        for (a, b) in &self.segments {
            if v < b - a {
                return a + v;
            }
            v -= b - a;
        }
        self.segments.last().map_or(0, |s| s.1.saturating_sub(1))
    }
}

/// `[from, to)` minus the `holes`, as sorted disjoint segments.
fn subtract(from: u64, to: u64, holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut holes = holes.to_vec();
    holes.sort_unstable();
    let mut out = Vec::new();
    let mut cur = from;
    for (a, b) in holes {
        if b <= cur || a >= to {
            continue;
        }
        if a > cur {
            out.push((cur, a));
        }
        cur = cur.max(b);
    }
    if cur < to {
        out.push((cur, to));
    }
    out
}

/// How many lines a stream writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// Lines of normal traffic plus incident feeds (scales with the requested total).
    pub share: u64,
    /// Hard cap on all lines of the stream (share plus planned, possibly truncated).
    pub total: u64,
}

/// Generates one stream, calling `emit(ts, line, tag)` for each line in time order.
/// Returns the number of lines emitted (always `budget.total` unless the stream has
/// nothing left to say, which the budgeting rules out).
pub(super) fn run<F>(
    ctx: Ctx<'_>,
    rng: &mut Xoshiro256PlusPlus,
    planned: Vec<Line>,
    budget: Budget,
    mut emit: F,
) -> Result<u64, GenerateError>
where
    F: FnMut(u64, &str, Option<Tag>) -> Result<(), GenerateError>,
{
    let (from, to) = ctx.stream.alive;
    let mut feeds: Vec<(FeedKind, Spread)> = Vec::new();
    let mut feed_lines = 0u64;
    for (kind, (a, b), frac) in incidents::rate_feeds(ctx) {
        let (a, b) = (a.max(from), b.min(to));
        if a >= b {
            continue;
        }
        let want = (budget.share as f64 * frac).round() as u64;
        let count = want.min(budget.share - feed_lines);
        feed_lines += count;
        feeds.push((kind, Spread::new(vec![(a, b)], count)));
    }
    let mute = incidents::mute_windows(ctx);
    let mut normal = Spread::new(subtract(from, to, &mute), budget.share - feed_lines);

    let mut planned = planned.into_iter().peekable();
    let mut event: Vec<Line> = Vec::with_capacity(32);
    let mut written = 0u64;
    let mut last: Option<u64> = None;
    let modulus = ctx.stream.ts_mod.max(1);
    let rem = ctx.stream.ts_rem % modulus;

    while written < budget.total {
        // Pick the source with the earliest next event.
        enum Src {
            Planned,
            Feed(usize),
            Normal,
        }
        let mut best: Option<(u64, Src)> = planned.peek().map(|l| (l.at, Src::Planned));
        for (i, (_, spread)) in feeds.iter_mut().enumerate() {
            if let Some(t) = spread.peek(rng) {
                if best.as_ref().is_none_or(|(bt, _)| t < *bt) {
                    best = Some((t, Src::Feed(i)));
                }
            }
        }
        if let Some(t) = normal.peek(rng) {
            if best.as_ref().is_none_or(|(bt, _)| t < *bt) {
                best = Some((t, Src::Normal));
            }
        }
        let Some((t, src)) = best else { break };

        event.clear();
        match src {
            Src::Planned => {
                if let Some(line) = planned.next() {
                    event.push(line);
                }
            }
            Src::Feed(i) => {
                let (kind, spread) = &mut feeds[i];
                incidents::feed_event(*kind, ctx, rng, t, &mut event);
                event.truncate(spread.remaining as usize);
                spread.consume(event.len().max(1) as u64);
            }
            Src::Normal => {
                families::normal_event(ctx, rng, t, &mut event);
                event.truncate(normal.remaining as usize);
                normal.consume(event.len().max(1) as u64);
            }
        }

        for line in event.drain(..) {
            if written >= budget.total {
                break;
            }
            let mut ts = line.at;
            match last {
                Some(prev) if ts <= prev => ts = prev + modulus,
                _ => ts += (rem + modulus - ts % modulus) % modulus,
            }
            last = Some(ts);
            emit(ts, &line.text, line.tag)?;
            written += 1;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_holes() {
        assert_eq!(
            subtract(0, 100, &[(10, 20), (15, 30), (90, 200)]),
            vec![(0, 10), (30, 90)]
        );
        assert_eq!(subtract(0, 100, &[]), vec![(0, 100)]);
    }

    #[test]
    fn spread_meets_count_inside_segments() {
        let mut rng = stream_rng(1, 2, 3);
        let mut s = Spread::new(vec![(100, 200), (1000, 1100)], 50);
        let mut n = 0;
        let mut prev = 0;
        while let Some(t) = s.peek(&mut rng) {
            assert!((100..200).contains(&t) || (1000..1100).contains(&t), "{t}");
            assert!(t >= prev);
            prev = t;
            s.consume(1);
            n += 1;
        }
        assert_eq!(n, 50);
    }
}
