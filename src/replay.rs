//! Runs a file through the pipeline: a reader thread parses while rayon scores batches.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use crate::event::{LogLine, ScoredLine};
use crate::input::{read_path, ReadError, ReadOptions, ReadStats, SinkError};
use loganomaly_model::Model;

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
    let threshold = opts.threshold.unwrap_or(model.threshold);
    run_batches(path, model, opts, |batch, scores| {
        for (log, &score) in batch.drain(..).zip(scores) {
            let anomalous = score >= threshold;
            on_scored(ScoredLine {
                log,
                score,
                anomalous,
            })?;
        }
        Ok(())
    })
}

/// A batch of lines with their scores, or why it could not be scored.
type Scored = Result<(Vec<LogLine>, Vec<f32>), SinkError>;

/// Batches handed back to the reader, which frees their lines on its own thread (the
/// allocator is fastest when memory is freed by the thread that took it).
const RECYCLED: usize = 4;

/// Like [`run`], a batch at a time: `consume` gets each batch (in file order) with one
/// score per line. Three stages overlap: a reader thread parses, a scorer thread scores
/// each batch on rayon, and the calling thread consumes. What `consume` leaves in the
/// batch is dropped on the reader thread.
pub fn run_batches(
    path: &Path,
    model: &Model,
    opts: &RunOptions,
    mut consume: impl FnMut(&mut Vec<LogLine>, &[f32]) -> Result<(), SinkError>,
) -> Result<RunSummary, SinkError> {
    let start = Instant::now();
    let (line_tx, line_rx) = sync_channel::<Vec<LogLine>>(4);
    let (scored_tx, scored_rx) = sync_channel::<Scored>(2);
    let (back_tx, back_rx) = sync_channel::<Vec<LogLine>>(RECYCLED);
    let batch_lines = opts.batch_lines.max(1);
    std::thread::scope(|scope| {
        let reader =
            scope.spawn(move || read_batches(path, &opts.read, batch_lines, line_tx, back_rx));
        let scorer = scope.spawn(move || {
            for batch in line_rx {
                let mut scores = Vec::with_capacity(batch.len());
                let scored = match model.score_batch(&batch, &mut scores) {
                    Ok(()) => Ok((batch, scores)),
                    Err(e) => Err(e.into()),
                };
                if scored_tx.send(scored).is_err() {
                    break;
                }
            }
        });
        let mut lines = 0u64;
        let mut consumer_error = None;
        for scored in &scored_rx {
            let step = scored.and_then(|(mut batch, scores)| {
                lines += batch.len() as u64;
                let done = consume(&mut batch, &scores);
                // a full return channel only means the batch is freed here instead
                let _ = back_tx.try_send(batch);
                done
            });
            if let Err(e) = step {
                consumer_error = Some(e);
                break;
            }
        }
        drop(scored_rx);
        let _ = scorer.join();
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(ReadError::Sink("the reader thread panicked".into())));
        if let Some(e) = consumer_error {
            return Err(e);
        }
        Ok(summary(read, lines, start.elapsed()))
    })
}

/// The reader thread: parses `path` into batches; lines of returned batches are freed here.
fn read_batches(
    path: &Path,
    read: &ReadOptions,
    batch_lines: usize,
    tx: SyncSender<Vec<LogLine>>,
    back: Receiver<Vec<LogLine>>,
) -> Result<ReadStats, ReadError> {
    let fresh = || match back.try_recv() {
        Ok(mut used) => {
            used.clear();
            used
        }
        Err(_) => Vec::with_capacity(batch_lines),
    };
    let mut batch = fresh();
    let result = read_path(path, read, &mut |line: LogLine| {
        batch.push(line);
        if batch.len() >= batch_lines {
            let full = std::mem::replace(&mut batch, fresh());
            tx.send(full).map_err(|_| "scoring stopped")?;
        }
        Ok(())
    });
    if !batch.is_empty() {
        // the consumer may have stopped; then these lines are not wanted
        let _ = tx.send(batch);
    }
    result
}

/// The summary of a run whose reader ended with `read` after `lines` were consumed.
fn summary(read: Result<ReadStats, ReadError>, lines: u64, elapsed: Duration) -> RunSummary {
    match read {
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
    }
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
    /// The model's session key or session model failed.
    #[error(transparent)]
    Model(loganomaly_model::ModelError),
}

/// Replays `path` through the pipeline and builds the per-pod report.
pub fn report(
    path: &Path,
    model: &Model,
    model_origin: &str,
    run_opts: &RunOptions,
    opts: &ReportOptions,
) -> Result<crate::report::ReplayReport, ReplayError> {
    use crate::aggregate::{AggregateParams, Aggregator};
    use crate::eval::{Confusion, Labels};
    use crate::report::{Evaluation, ModelSummary, ReplayReport, SessionsReport};

    let labels_file = match (&opts.labels, opts.no_labels) {
        (_, true) => None,
        (Some(p), false) => Some(p.clone()),
        (None, false) => Labels::beside(path),
    };
    let labels = labels_file.as_deref().map(Labels::load).transpose()?;
    let threshold = run_opts.threshold.unwrap_or(model.threshold);
    let mut agg = Aggregator::new(AggregateParams::for_model(model));
    let mut confusion = Confusion::new(threshold);
    let mut anomalous_lines = 0u64;
    let mut sessions = loganomaly_model::Sessions::for_model(model).map_err(ReplayError::Model)?;
    let summary = run_batches(path, model, run_opts, |batch, scores| {
        // the lines go back into the batch, to be freed on the reader thread
        let lines = std::mem::replace(batch, Vec::with_capacity(scores.len()));
        for (log, &score) in lines.into_iter().zip(scores) {
            let scored = ScoredLine {
                log,
                score,
                anomalous: score >= threshold,
            };
            anomalous_lines += u64::from(scored.anomalous);
            if let Some(labels) = &labels {
                let known = labels
                    .get(&scored.log.stream.pod, scored.log.ts_ns)
                    .is_some();
                confusion.add(scored.score, known);
            }
            agg.add(&scored);
            if let Some(sessions) = &mut sessions {
                sessions.add(&scored.log.line, scored.score);
            }
            batch.push(scored.log);
        }
        Ok(())
    })
    .map_err(ReplayError::Stopped)?;

    let sessions = match (sessions, &model.session) {
        (Some(s), Some(m)) => Some(SessionsReport::new(
            model.meta.params.session_key.clone().unwrap_or_default(),
            s.finish(m).map_err(ReplayError::Model)?,
            m.threshold,
        )),
        _ => None,
    };
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
        threads: rayon::current_num_threads(),
        anomalous_lines,
        // pods, not pod/container pairs (the README and `generate` count pods)
        anomalous_pods: distinct_pods(all.iter().filter(|p| p.anomalous)),
        pods_total: distinct_pods(all.iter()),
        pods: all.into_iter().take(top).collect(),
        sessions,
        evaluation,
        error: summary.error.map(|e| e.to_string()),
    })
}

/// Distinct (namespace, pod) among `reports`: a pod with two containers counts once.
fn distinct_pods<'a>(reports: impl Iterator<Item = &'a crate::report::PodReport>) -> usize {
    reports
        .map(|p| (p.namespace.as_str(), p.pod.as_str()))
        .collect::<std::collections::HashSet<_>>()
        .len()
}
