//! A file through the pipeline: `loganomaly replay`'s report and the plain run `score` uses.

use std::path::Path;
use std::sync::Arc;

use crate::event::ScoredLine;
use crate::input::{ReadOptions, SinkError};
use crate::pipeline::{self, Batch, Options, Scorer, Source, Summary};
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

impl RunOptions {
    /// The scorer of `model` at this run's threshold.
    pub fn scorer(&self, model: Arc<Model>) -> Scorer {
        Scorer::new(model, self.threshold)
    }

    /// The pipeline settings of a file run: every line is scored, no deadline.
    fn pipeline(&self) -> Options {
        Options {
            batch_lines: self.batch_lines,
            ..Options::default()
        }
    }

    /// The pipeline's source for the file `path`, read with these settings.
    pub fn file(&self, path: &Path) -> Source {
        Source::File {
            path: path.to_path_buf(),
            read: self.read.clone(),
        }
    }
}

/// Reads `path`, scores every line through the pipeline and hands each to `on_scored` in
/// order.
///
/// A read error ends the run but is returned in the summary, after every line read before
/// it has been scored: nothing already read is lost. An error from `on_scored` stops the
/// run and is returned as the error.
pub fn run(
    path: &Path,
    model: Arc<Model>,
    opts: &RunOptions,
    on_scored: impl FnMut(ScoredLine) -> Result<(), SinkError>,
) -> Result<Summary, SinkError> {
    run_source(opts.file(path), model, opts, on_scored)
}

/// [`run`] on any source (a file, or a channel fed by Loki).
pub fn run_source(
    source: Source,
    model: Arc<Model>,
    opts: &RunOptions,
    mut on_scored: impl FnMut(ScoredLine) -> Result<(), SinkError>,
) -> Result<Summary, SinkError> {
    let mut sink = |b: &mut Batch| b.lines.drain(..).try_for_each(&mut on_scored);
    pipeline::run(source, &mut opts.scorer(model), &mut sink, &opts.pipeline())
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
    Labels(#[from] crate::quality::LabelsError),
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
    model: &Arc<Model>,
    model_origin: &str,
    run_opts: &RunOptions,
    opts: &ReportOptions,
) -> Result<crate::report::ReplayReport, ReplayError> {
    use crate::aggregate::{AggregateParams, Aggregator};
    use crate::quality::{Confusion, Labels};
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
    let mut sink = |batch: &mut Batch| {
        for scored in &batch.lines {
            anomalous_lines += u64::from(scored.anomalous);
            if let Some(labels) = &labels {
                let known = labels
                    .get(&scored.log.stream.pod, scored.log.ts_ns)
                    .is_some();
                confusion.add(scored.score, known);
            }
            agg.add(scored);
            if let Some(sessions) = &mut sessions {
                sessions.add(&scored.log.line, scored.score, scored.log.ts_ns);
            }
        }
        Ok(())
    };
    let summary = pipeline::run(
        run_opts.file(path),
        &mut run_opts.scorer(Arc::clone(model)),
        &mut sink,
        &run_opts.pipeline(),
    )
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
