//! Runs a file through the pipeline: a reader thread parses while rayon scores batches.

use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use crate::event::{LogLine, ScoredLine};
use crate::input::{read_path, ReadError, ReadOptions, ReadStats, SinkError};
use crate::model::Model;

/// How to run a file through the pipeline.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Reader settings.
    pub read: ReadOptions,
    /// Lines scored together; large enough to keep both cores busy.
    pub batch_lines: usize,
    /// Score at or above which a line is anomalous (the model's own when `None`).
    pub threshold: Option<f32>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            read: ReadOptions::default(),
            batch_lines: 8192,
            threshold: None,
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct RunSummary {
    /// Reader counts (complete when the read finished, else lines only).
    pub read: ReadStats,
    /// Wall time from start to the last line scored.
    pub elapsed: Duration,
    /// The error that stopped the read early; the lines before it were scored.
    pub error: Option<ReadError>,
}

impl AsRef<str> for LogLine {
    fn as_ref(&self) -> &str {
        &self.line
    }
}

/// Reads `path`, scores every line with `model` and hands each to `on_scored` in order.
///
/// A read error ends the run but is returned in the summary, after every line read before
/// it has been scored: nothing already read is lost. An error from `on_scored` stops the
/// run and is returned as the error.
pub fn run(
    path: &Path,
    model: &Model,
    opts: &RunOptions,
    mut on_scored: impl FnMut(ScoredLine) -> Result<(), SinkError>,
) -> Result<RunSummary, SinkError> {
    let start = Instant::now();
    let threshold = opts.threshold.unwrap_or(model.threshold);
    let (tx, rx) = sync_channel::<Vec<LogLine>>(4);
    let batch_lines = opts.batch_lines.max(1);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(batch_lines);
            let result = {
                let mut sink = |line: LogLine| -> Result<(), SinkError> {
                    batch.push(line);
                    if batch.len() >= batch_lines {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_lines));
                        tx.send(full).map_err(|_| "scoring stopped")?;
                    }
                    Ok(())
                };
                read_path(path, &opts.read, &mut sink)
            };
            if !batch.is_empty() {
                // the consumer may have stopped; then these lines are not wanted
                let _ = tx.send(batch);
            }
            result
        });

        let mut lines = 0u64;
        let mut scores = Vec::new();
        let mut consumer_error = None;
        'batches: for batch in &rx {
            if let Err(e) = model.score_batch(&batch, &mut scores) {
                consumer_error = Some(e.into());
                break;
            }
            for (log, &score) in batch.into_iter().zip(&scores) {
                lines += 1;
                let scored = ScoredLine {
                    log,
                    score,
                    anomalous: score >= threshold,
                };
                if let Err(e) = on_scored(scored) {
                    consumer_error = Some(e);
                    break 'batches;
                }
            }
        }
        drop(rx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(ReadError::Sink("the reader thread panicked".into())));
        if let Some(e) = consumer_error {
            return Err(e);
        }
        let elapsed = start.elapsed();
        Ok(match read {
            Ok(stats) => RunSummary {
                read: stats,
                elapsed,
                error: None,
            },
            Err(error) => RunSummary {
                read: ReadStats {
                    lines,
                    ..ReadStats::default()
                },
                elapsed,
                error: Some(error),
            },
        })
    })
}

/// What `loganomaly replay` shows besides the run itself.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Pods listed (0 = all).
    pub top_pods: usize,
    /// A labels file to evaluate against (found beside the input when `None`).
    pub labels: Option<std::path::PathBuf>,
    /// Do not look for a labels file at all.
    pub no_labels: bool,
}

/// Why a replay could not produce a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The labels file is unreadable.
    #[error(transparent)]
    Labels(#[from] crate::eval::LabelsError),
    /// The run was stopped by its consumer.
    #[error("{0}")]
    Stopped(SinkError),
}

/// Replays `path` through the pipeline and builds the per-pod report.
pub fn report(
    path: &Path,
    model: &Model,
    model_origin: &str,
    run_opts: &RunOptions,
    opts: &ReportOptions,
) -> Result<crate::report::ReplayReport, ReplayError> {
    use crate::eval::{Confusion, Labels};
    use crate::pipeline::aggregate::{AggregateParams, Aggregator};
    use crate::report::{Evaluation, ModelSummary, ReplayReport};

    let labels_file = match (&opts.labels, opts.no_labels) {
        (_, true) => None,
        (Some(p), false) => Some(p.clone()),
        (None, false) => Labels::beside(path),
    };
    let labels = labels_file.as_deref().map(Labels::load).transpose()?;
    let threshold = run_opts.threshold.unwrap_or(model.threshold);
    let mut agg = Aggregator::new(AggregateParams {
        expected_rate: model.meta.params.contamination,
        ..AggregateParams::default()
    });
    let mut confusion = Confusion::new(threshold);
    let mut anomalous_lines = 0u64;
    let summary = run(path, model, run_opts, |scored| {
        anomalous_lines += u64::from(scored.anomalous);
        if let Some(labels) = &labels {
            let known = labels
                .get(&scored.log.stream.pod, scored.log.ts_ns)
                .is_some();
            confusion.add(scored.score, known);
        }
        agg.add(&scored);
        Ok(())
    })
    .map_err(ReplayError::Stopped)?;

    let all = ReplayReport::pods(&agg, model);
    let evaluation = labels.as_ref().zip(labels_file.as_ref()).map(|(l, file)| {
        let incident_pods = l.pods();
        // a pod ranks where its most anomalous container ranks
        let mut pod_order: Vec<(&str, usize)> = Vec::new();
        for p in &all {
            if !pod_order.iter().any(|(name, _)| *name == p.pod) {
                pod_order.push((&p.pod, p.rank));
            }
        }
        let incident_pod_ranks: Vec<(String, usize)> = pod_order
            .iter()
            .filter(|(name, _)| incident_pods.contains(name))
            .map(|(name, rank)| (name.to_string(), *rank))
            .collect();
        let k = incident_pod_ranks.len();
        let first_k_are_incidents = pod_order
            .iter()
            .take(k)
            .all(|(name, _)| incident_pods.contains(name));
        Evaluation {
            labels_file: file.display().to_string(),
            lines: confusion.quality(),
            incidents_rank_first: k > 0 && first_k_are_incidents,
            incident_pod_ranks,
        }
    });
    let secs = summary.elapsed.as_secs_f64();
    let top = if opts.top_pods == 0 {
        all.len()
    } else {
        opts.top_pods
    };
    Ok(ReplayReport {
        input: path.display().to_string(),
        model: ModelSummary {
            origin: model_origin.to_string(),
            trained_on: model.meta.source.clone(),
            trained_at: model.meta.trained_at.clone(),
            training_lines: model.meta.training_lines,
            threshold,
        },
        lines_per_second: if secs > 0.0 {
            summary.read.lines as f64 / secs
        } else {
            0.0
        },
        read: summary.read,
        elapsed_seconds: secs,
        peak_rss_bytes: crate::sys::peak_rss_bytes(),
        anomalous_lines,
        anomalous_pods: all.iter().filter(|p| p.anomalous).count(),
        pods_total: all.len(),
        pods: all.into_iter().take(top).collect(),
        evaluation,
        error: summary.error.map(|e| e.to_string()),
    })
}
