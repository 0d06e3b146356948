//! Log time in minutes, as the alert policy sees it: the lines of each minute, one
//! observation per pod when a minute ends, and the one rule for gaps in log time
//! ([`Minutes`]). `serve`, `replay --alerts` and `evaluate` all go through it.

use std::collections::BTreeMap;

use loganomaly_model::Model;

use crate::aggregate::{AggregateParams, Aggregator};
use crate::event::ScoredLine;

use super::policy::{ObservedLine, PodObservation};

/// Anomalous lines kept per pod and minute.
const LINES_PER_WINDOW: usize = 5;
/// Tokens kept per line as its explanation.
const TOKENS_PER_LINE: usize = 5;

/// The most anomalous lines of each pod in the current window.
#[derive(Debug, Default)]
pub struct WindowLines {
    pods: BTreeMap<(String, String), Vec<ObservedLine>>,
}

impl WindowLines {
    /// Keeps `scored` if it is anomalous and among its pod's top lines of the window;
    /// `model` explains the kept lines (their unusual tokens).
    pub fn add(&mut self, scored: &ScoredLine, model: &Model) {
        if !scored.anomalous {
            return;
        }
        let s = &scored.log.stream;
        let kept = self
            .pods
            .entry((s.namespace.clone(), s.pod.clone()))
            .or_default();
        let worst = kept.last().map_or(f32::MIN, |l| l.score);
        if kept.len() >= LINES_PER_WINDOW && scored.score <= worst {
            return;
        }
        let tokens: Vec<String> = model
            .explain(&scored.log.line, TOKENS_PER_LINE)
            .into_iter()
            .map(|t| t.token)
            .collect();
        // the same kind of line again (same score, same unusual tokens) adds nothing
        let same = |l: &ObservedLine| {
            l.line == scored.log.line || (l.score == scored.score && l.tokens == tokens)
        };
        if kept.iter().any(same) {
            return;
        }
        let line = ObservedLine {
            ts_ns: scored.log.ts_ns,
            score: scored.score,
            line: scored.log.line.clone(),
            tokens,
        };
        let at = kept.partition_point(|l| l.score >= line.score);
        kept.insert(at, line);
        kept.truncate(LINES_PER_WINDOW);
    }

    /// Takes the lines gathered so far, starting a new window.
    pub fn take(&mut self) -> BTreeMap<(String, String), Vec<ObservedLine>> {
        std::mem::take(&mut self.pods)
    }
}

/// One observation per pod (its containers merged: counts summed, the highest burst
/// score) for the span `window` that just ended: pods whose window does not reach it count
/// zero. A window that goes on for a quiet pod is observed at each of its spans.
pub fn observations(
    agg: &Aggregator,
    mut lines: BTreeMap<(String, String), Vec<ObservedLine>>,
    window: i64,
    threshold: f32,
) -> Vec<PodObservation> {
    let params = agg.params();
    let mut by_pod: BTreeMap<(String, String), PodObservation> = BTreeMap::new();
    for w in agg.windows() {
        let s = &w.stats.stream;
        let key = (s.namespace.clone(), s.pod.clone());
        let obs = by_pod.entry(key).or_insert_with(|| PodObservation {
            namespace: s.namespace.clone(),
            pod: s.pod.clone(),
            at_ns: (window + 1).saturating_mul(params.window_ns),
            score: 0.0,
            threshold,
            burst: 0.0,
            anomalous_in_window: 0,
            top_lines: Vec::new(),
        });
        obs.score = obs.score.max(w.stats.ewma);
        if w.window == window {
            obs.anomalous_in_window += w.anomalous;
            obs.burst = obs.burst.max(w.burst);
        }
    }
    by_pod
        .into_iter()
        .map(|(key, mut obs)| {
            obs.top_lines = lines.remove(&key).unwrap_or_default();
            obs
        })
        .collect()
}

/// The minutes of log time to observe, one by one, and the lines each gathered.
///
/// **The gap rule**, the one `serve`, `replay --alerts` and `evaluate` share: when log time
/// jumps forward, every minute from the last line's to the one before the new line's is
/// ended and observed, up to [`MAX_GAP_MINUTES`] of them counted from the last line; the
/// rest of a longer gap is skipped, and the clock goes on at the new line's minute. So a
/// quiet pod's episode resolves when it would have (`resolve_for` after its last line),
/// however long the gap, and a gap costs at most a day of observations.
#[derive(Debug, Default)]
pub struct Minutes {
    lines: WindowLines,
    current: Option<i64>,
}

/// Minutes of a gap in log time observed one by one; the rest is skipped.
pub const MAX_GAP_MINUTES: i64 = 24 * 60;

impl Minutes {
    /// No minute yet; a minute is the window of the aggregator passed to each call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Before `scored` is aggregated: ends each minute that the gap rule plays between the
    /// last line's minute and `scored`'s, calling `ended(end_ns, observations)` for each.
    pub fn before<E>(
        &mut self,
        agg: &Aggregator,
        scored: &ScoredLine,
        threshold: f32,
        mut ended: impl FnMut(i64, Vec<PodObservation>) -> Result<(), E>,
    ) -> Result<(), E> {
        let w = scored.log.ts_ns.div_euclid(window_ns(agg));
        if let Some(c) = self.current.filter(|c| w > *c) {
            for done in c..w.min(c.saturating_add(MAX_GAP_MINUTES)) {
                let (end, obs) = self.end(agg, done, threshold);
                ended(end, obs)?;
            }
        }
        self.current = Some(self.current.map_or(w, |c| c.max(w)));
        Ok(())
    }

    /// After `scored` is aggregated: keeps it if it is among its pod's top lines of the
    /// minute.
    pub fn keep(&mut self, scored: &ScoredLine, model: &Model) {
        self.lines.add(scored, model);
    }

    /// Ends minute `done`: its end in nanoseconds and one observation per pod.
    pub fn end(
        &mut self,
        agg: &Aggregator,
        done: i64,
        threshold: f32,
    ) -> (i64, Vec<PodObservation>) {
        let obs = observations(agg, self.lines.take(), done, threshold);
        (done.saturating_add(1).saturating_mul(window_ns(agg)), obs)
    }

    /// The minute of the latest line so far.
    pub fn current(&self) -> Option<i64> {
        self.current
    }
}

/// The length of `agg`'s minute in nanoseconds.
fn window_ns(agg: &Aggregator) -> i64 {
    agg.params().window_ns.max(1)
}

/// Log time cut into minutes, with an aggregator of its own: time-ordered scored lines go
/// in, and each minute that ends (by the gap rule of [`Minutes`]) comes out with one
/// observation per pod, as the alert policy takes them. Used by `replay --alerts` and by
/// `evaluate`, so both see what the policy would see.
pub struct MinuteClock<'a> {
    model: &'a Model,
    threshold: f32,
    agg: Aggregator,
    minutes_of: Minutes,
    /// The next minute of the run-on to end, once it started.
    run_on: Option<i64>,
    /// Minutes observed so far.
    pub minutes: u64,
}

impl<'a> MinuteClock<'a> {
    /// A clock with the aggregator `replay` and `serve` use for `model`.
    pub fn new(model: &'a Model, threshold: f32, params: AggregateParams) -> Self {
        let agg = Aggregator::new(params);
        Self {
            model,
            threshold,
            agg,
            minutes_of: Minutes::new(),
            run_on: None,
            minutes: 0,
        }
    }

    /// Adds a line (in log-time order); first calls `ended(now_ns, observations)` for
    /// each minute that ends before it.
    pub fn add<E>(
        &mut self,
        s: &ScoredLine,
        mut ended: impl FnMut(i64, &[PodObservation]) -> Result<(), E>,
    ) -> Result<(), E> {
        let count = &mut self.minutes;
        self.minutes_of
            .before(&self.agg, s, self.threshold, |now, obs| {
                *count += 1;
                ended(now, &obs)
            })?;
        self.agg.add(s);
        self.minutes_of.keep(s, self.model);
        Ok(())
    }

    /// Ends the next minute of the run-on after the last line: the last line's own minute
    /// first, then up to `run_on` more with no lines while `open` (episodes are still open,
    /// so that they can resolve). False when there is none left to end.
    pub fn finish_one<E>(
        &mut self,
        run_on: std::time::Duration,
        open: bool,
        mut ended: impl FnMut(i64, &[PodObservation]) -> Result<(), E>,
    ) -> Result<bool, E> {
        let Some(c) = self.minutes_of.current() else {
            return Ok(false);
        };
        let extra = i64::try_from(run_on.as_nanos()).unwrap_or(0) / window_ns(&self.agg);
        let next = self.run_on.unwrap_or(c);
        if next > c + extra || (next > c && !open) {
            return Ok(false);
        }
        self.run_on = Some(next + 1);
        let (now, obs) = self.minutes_of.end(&self.agg, next, self.threshold);
        self.minutes += 1;
        ended(now, &obs)?;
        Ok(true)
    }
}
