//! Alerting on log time: `loganomaly replay --alerts alerts.toml`.
//!
//! A Loki `query_range` response is grouped by stream, not ordered by time, so the scored
//! lines are held in memory and played in log-time order (about 200 bytes per line)
//! through a [`MinuteClock`]: at the end of each minute of log time every pod is observed
//! once, gaps follow the rule `serve` follows ([`super::minutes::Minutes`]). When the file
//! ends, log time runs on with no new lines, up to `resolve_for` plus two minutes, so that
//! anomalies still open get their resolved message.

use std::sync::Arc;

use loganomaly_model::Model;

use crate::aggregate::AggregateParams;
use crate::event::ScoredLine;
use crate::pipeline::Source;
use crate::replay::{run_source, RunOptions};

use super::alerter::{Alerter, NotifierReport};
use super::error::AlertError;
use super::minutes::MinuteClock;
use super::policy::{PodObservation, PolicyStats};
use crate::incident::RecorderTotals;

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
    /// What the incident writer did, when `[incidents]` is set.
    pub incidents: Option<RecorderTotals>,
}

/// Scores every line of `source` (a file: [`RunOptions::file`]) and returns them in
/// log-time order.
pub fn scored_in_time_order(
    source: Source,
    model: Arc<Model>,
    opts: &RunOptions,
) -> Result<Vec<ScoredLine>, AlertError> {
    let mut lines = Vec::new();
    let summary = run_source(source, model, opts, |s| {
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

/// Plays time-ordered `lines` through an aggregator and `alerter`, one observation per
/// pod per minute of log time, then flushes the outboxes and the incident writer.
pub async fn play(
    lines: &[ScoredLine],
    model: &Arc<Model>,
    threshold: f32,
    mut alerter: Alerter,
    run_on: std::time::Duration,
) -> AlertReplay {
    alerter.set_model(model);
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
    let incidents = alerter.incident_stats();
    let notifiers = alerter.shutdown().await;
    AlertReplay {
        lines: lines.len() as u64,
        minutes: clock.minutes,
        messages,
        policy,
        notifiers,
        incidents: incidents.map(|s| s.totals()),
    }
}
