//! Alerting on log time: `loganomaly replay --alerts alerts.toml`.
//!
//! A Loki `query_range` response is grouped by stream, not ordered by time, so the scored
//! lines are held in memory and played in log-time order (about 200 bytes per line). At
//! the end of each minute of log time every pod is observed once, from the aggregator
//! (moving average, window counts) and [`WindowLines`] (that minute's most anomalous
//! lines). When the file ends, log time runs on with no new lines, up to `resolve_for`
//! plus two minutes, so that anomalies still open get their resolved message.
//!
//! `serve` reuses [`WindowLines`] and [`observations`] on wall time.

use std::collections::BTreeMap;
use std::path::Path;

use crate::event::ScoredLine;
use crate::model::Model;
use crate::pipeline::aggregate::{AggregateParams, Aggregator};
use crate::replay::{run, RunOptions};

use super::alerter::{Alerter, NotifierReport};
use super::error::AlertError;
use super::policy::{ObservedLine, PodObservation, PolicyStats};

/// Anomalous lines kept per pod and minute.
const LINES_PER_WINDOW: usize = 5;
/// Tokens kept per line as its explanation.
const TOKENS_PER_LINE: usize = 5;
/// A gap in log time longer than this is skipped rather than played minute by minute.
const MAX_GAP_WINDOWS: i64 = 24 * 60;

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

/// What an alerting replay did.
#[derive(Debug, Clone)]
pub struct AlertReplay {
    /// Lines played.
    pub lines: u64,
    /// Minutes of log time observed (the run-on after the file included).
    pub minutes: u64,
    /// Messages queued, per notifier.
    pub messages: usize,
    /// What storm control did.
    pub policy: PolicyStats,
    /// What each notifier did.
    pub notifiers: Vec<NotifierReport>,
}

/// Scores `path` and returns its lines in log-time order.
pub fn scored_in_time_order(
    path: &Path,
    model: &Model,
    opts: &RunOptions,
) -> Result<Vec<ScoredLine>, AlertError> {
    let mut lines = Vec::new();
    let summary = run(path, model, opts, |s| {
        lines.push(s);
        Ok(())
    })
    .map_err(|e| AlertError::Replay(e.to_string()))?;
    if let Some(e) = summary.error {
        return Err(AlertError::Replay(e.to_string()));
    }
    lines.sort_by_key(|s| s.log.ts_ns);
    Ok(lines)
}

/// Log time cut into minutes: time-ordered scored lines go in, and each minute that
/// ends comes out with one observation per pod, as the alert policy takes them. A gap in
/// log time longer than a day is skipped rather than played minute by minute. Used by
/// `replay --alerts` and by `evaluate`, so both see what the policy would see.
pub struct MinuteClock<'a> {
    model: &'a Model,
    threshold: f32,
    agg: Aggregator,
    window_ns: i64,
    tracker: WindowLines,
    current: Option<i64>,
    /// The next minute of the run-on to end, once it started.
    run_on: Option<i64>,
    /// Minutes observed so far.
    pub minutes: u64,
}

impl<'a> MinuteClock<'a> {
    /// A clock with the aggregator `replay` and `serve` use for `model`.
    pub fn new(model: &'a Model, threshold: f32, params: AggregateParams) -> Self {
        let agg = Aggregator::new(params);
        let window_ns = agg.params().window_ns.max(1);
        Self {
            model,
            threshold,
            agg,
            window_ns,
            tracker: WindowLines::default(),
            current: None,
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
        let w = s.log.ts_ns.div_euclid(self.window_ns);
        if let Some(c) = self.current.filter(|c| w > *c) {
            for done in c..w.min(c + MAX_GAP_WINDOWS) {
                self.end_minute(done, &mut ended)?;
            }
        }
        self.current = Some(self.current.map_or(w, |c| c.max(w)));
        self.agg.add(s);
        self.tracker.add(s, self.model);
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
        let Some(c) = self.current else {
            return Ok(false);
        };
        let extra = i64::try_from(run_on.as_nanos()).unwrap_or(0) / self.window_ns;
        let next = self.run_on.unwrap_or(c);
        if next > c + extra || (next > c && !open) {
            return Ok(false);
        }
        self.run_on = Some(next + 1);
        self.end_minute(next, &mut ended)?;
        Ok(true)
    }

    fn end_minute<E>(
        &mut self,
        done: i64,
        ended: &mut impl FnMut(i64, &[PodObservation]) -> Result<(), E>,
    ) -> Result<(), E> {
        let obs = observations(&self.agg, self.tracker.take(), done, self.threshold);
        self.minutes += 1;
        ended((done + 1) * self.window_ns, &obs)
    }
}

/// Plays time-ordered `lines` through an aggregator and `alerter`, one observation per
/// pod per minute of log time, then flushes the outboxes.
pub async fn play(
    lines: &[ScoredLine],
    model: &Model,
    threshold: f32,
    mut alerter: Alerter,
    run_on: std::time::Duration,
) -> AlertReplay {
    let mut clock = MinuteClock::new(model, threshold, AggregateParams::for_model(model));
    let mut ended: Vec<(i64, Vec<PodObservation>)> = Vec::new();
    let mut messages = 0usize;
    for s in lines {
        let _ = clock.add(s, |now, obs| {
            ended.push((now, obs.to_vec()));
            Ok::<(), ()>(())
        });
        for (now, obs) in ended.drain(..) {
            messages += alerter.observe(now, &obs).await;
        }
    }
    loop {
        // one minute at a time, so that the alerter says whether episodes are still open
        let open = alerter.open_episodes() > 0;
        let more = clock
            .finish_one(run_on, open, |now, obs| {
                ended.push((now, obs.to_vec()));
                Ok::<(), ()>(())
            })
            .unwrap_or(false);
        for (now, obs) in ended.drain(..) {
            messages += alerter.observe(now, &obs).await;
        }
        if !more {
            break;
        }
    }
    let policy = alerter.policy_stats();
    AlertReplay {
        lines: lines.len() as u64,
        minutes: clock.minutes,
        messages,
        policy,
        notifiers: alerter.shutdown().await,
    }
}
