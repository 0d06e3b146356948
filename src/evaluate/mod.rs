//! Detection quality on labelled logs: train on a chronological first part, score the
//! rest, and measure per the unit that carries the labels (line, block, pod window).
//!
//! Two training modes: *unsupervised* learns from the first part as it is, anomalies
//! included; *clean baseline* learns only from its lines labelled normal, as an operator
//! does by training on a week known to be healthy.

pub mod datasets;
pub mod grouping;
mod nezha;
pub mod print;
pub mod recorded;
mod sessions;
pub mod units;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::event::{LabelNames, LogLine, Stream};
use loganomaly_model::{Model, ModelError, TokenWeight, TrainParams, Trainer};
pub use nezha::{FaultOutcome, PodAlerts};
pub use sessions::SessionSummary;
use units::{unit_quality, UnitQuality};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A data file is missing or malformed.
    #[error("{}{}: {what}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        what: String,
    },
    /// Training or scoring failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The split left nothing to train on or nothing to score.
    #[error("{0}")]
    Split(String),
}

impl EvalError {
    fn data(path: &Path, line: usize, what: String) -> Self {
        EvalError::Data {
            path: path.to_path_buf(),
            line: (line > 0).then_some(line),
            what,
        }
    }
}

/// What carries a label in a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Each line.
    Line,
    /// A session of lines (an HDFS block): scored by the session model from its mix of
    /// events and its lines' scores ([`loganomaly_model::session`]).
    Block,
    /// A pod during a fault window: detected when the pod's burst score alerts.
    PodWindow,
}

/// One log line of a corpus.
#[derive(Debug, Clone)]
pub struct Record {
    /// Unix nanoseconds.
    pub ts_ns: i64,
    /// Index of its unit in [`Corpus::units`].
    pub unit: usize,
    /// Whether the line is labelled anomalous.
    pub anomalous: bool,
    /// The line as a log shipper would send it.
    pub text: String,
}

impl Record {
    fn new(ts_ns: i64, unit: usize, text: &str) -> Self {
        Self {
            ts_ns,
            unit,
            anomalous: false,
            text: text.to_string(),
        }
    }
}

/// A labelled unit: a line, a block or a pod.
#[derive(Debug, Clone)]
pub struct Unit {
    /// How to name it in a report.
    pub name: String,
    /// Whether it is labelled anomalous.
    pub anomalous: bool,
    /// The data set's label (an alert category for BGL).
    pub label: String,
}

impl Unit {
    fn new(name: String, anomalous: bool, label: &str) -> Self {
        Self {
            name,
            anomalous,
            label: label.to_string(),
        }
    }
}

/// A fault injected into one pod (Nezha).
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// Injection time, Unix nanoseconds.
    pub start_ns: i64,
    /// End of the fault, Unix nanoseconds.
    pub end_ns: i64,
    /// The injected pod.
    pub pod: String,
    /// Fault type, e.g. `exception`.
    pub kind: String,
    /// `code_defect` or `resource`.
    pub class: String,
}

/// A labelled data set in log-time order.
#[derive(Debug)]
pub struct Corpus {
    /// Its name in reports.
    pub name: &'static str,
    /// What carries the labels.
    pub kind: UnitKind,
    /// Where it was read from.
    pub source: PathBuf,
    /// Lines, oldest first.
    pub records: Vec<Record>,
    /// Labelled units.
    pub units: Vec<Unit>,
    /// Injected faults (Nezha only).
    pub faults: Vec<Fault>,
    /// Input lines that fit no record (no block id, too few fields).
    pub skipped: u64,
}

impl Corpus {
    fn new(name: &'static str, kind: UnitKind, source: &Path) -> Self {
        Self {
            name,
            kind,
            source: source.to_path_buf(),
            records: Vec::new(),
            units: Vec::new(),
            faults: Vec::new(),
            skipped: 0,
        }
    }

    /// Each unit's index by its name (a pod, a block id).
    fn unit_index(&self) -> std::collections::HashMap<&str, usize> {
        self.units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.name.as_str(), i))
            .collect()
    }

    fn add_unit(&mut self, unit: Unit) -> usize {
        self.units.push(unit);
        self.units.len() - 1
    }

    /// Orders records by time (stable: lines of one instant keep their file order) and
    /// lets lines inherit their unit's label.
    fn sort(&mut self) {
        self.records.sort_by_key(|r| r.ts_ns);
        self.label_lines();
    }

    fn label_lines(&mut self) {
        for r in &mut self.records {
            r.anomalous |= self.units[r.unit].anomalous;
        }
    }
}

/// Which data set to evaluate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetName {
    /// Blue Gene/L supercomputer logs, labelled per line.
    Bgl,
    /// Hadoop file system logs, labelled per block.
    Hdfs,
    /// TrainTicket pod logs with injected faults (Nezha, FSE'23).
    Nezha,
    /// The bundled sample with its labels file.
    Sample,
    /// Loghub-2k's labelled templates of each system: how well lines of one kind share a
    /// template (grouping accuracy), not anomaly detection.
    Loghub,
}

impl DatasetName {
    /// Reads the data set from `dir` (the shared datasets folder) or, for the sample, the
    /// bundled file.
    pub fn load(self, dir: &Path, sample: &Path) -> Result<Corpus, EvalError> {
        let mut c = match self {
            DatasetName::Bgl => datasets::bgl(dir)?,
            DatasetName::Hdfs => datasets::hdfs(dir)?,
            DatasetName::Nezha => return datasets::nezha(dir),
            DatasetName::Sample => return datasets::sample(sample),
            DatasetName::Loghub => {
                return Err(EvalError::Split(
                    "loghub measures templates, not detection: see grouping::measure".into(),
                ))
            }
        };
        c.label_lines();
        Ok(c)
    }

    /// Share of the lines learnt from unless told otherwise. Nezha's faults come grouped
    /// by kind (wrong return values first, then exceptions, then resource faults), so
    /// only an early split leaves faults of every kind to score.
    pub fn default_train_fraction(self) -> f64 {
        match self {
            DatasetName::Nezha => 0.1,
            _ => 0.5,
        }
    }

    /// Its key in the recorded-figures file.
    pub fn key(self) -> &'static str {
        match self {
            DatasetName::Bgl => "bgl",
            DatasetName::Hdfs => "hdfs",
            DatasetName::Nezha => "nezha",
            DatasetName::Sample => "sample",
            DatasetName::Loghub => "loghub",
        }
    }
}

/// How the model learns from the first part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Only lines labelled normal (a healthy week).
    Clean,
    /// Every line, anomalies included.
    Unsupervised,
}

impl Mode {
    /// Its key in the recorded-figures file.
    pub fn key(self) -> &'static str {
        match self {
            Mode::Clean => "clean",
            Mode::Unsupervised => "unsupervised",
        }
    }
}

/// Settings of one evaluation.
#[derive(Debug, Clone)]
pub struct Options {
    /// Share of the lines (oldest first) to learn from.
    pub train_fraction: f64,
    /// How the training part is chosen.
    pub split: Split,
    /// Model settings.
    pub params: TrainParams,
    /// How many of the most abnormal test units to show with their explanation.
    pub show_top: usize,
    /// How pods' burst windows are cut and judged (pod-window data sets).
    pub windows: crate::aggregate::PodWindows,
}

/// How the data set is cut into a training and a test part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The oldest `train_fraction` of the lines, as a service learns from the past and
    /// scores the future.
    Time,
    /// A seeded `train_fraction` of the units (lines or sessions) drawn at random, as
    /// published figures on HDFS use (loglizer); not available for pod windows.
    Uniform,
}

impl Split {
    /// Its key in the recorded-figures file (as a setting).
    pub fn code(self) -> f64 {
        match self {
            Split::Time => 0.0,
            Split::Uniform => 1.0,
        }
    }
}

/// An abnormal unit with what drove its score.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// The unit.
    pub unit: String,
    /// Its label in the data set.
    pub label: String,
    /// Its score.
    pub score: f32,
    /// Its most abnormal line.
    pub line: String,
    /// The tokens behind the score.
    pub tokens: Vec<TokenWeight>,
    /// The kind of trouble, and what to check first.
    pub category: &'static str,
}

/// The figures of one data set in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Data set name.
    pub dataset: &'static str,
    /// Training mode.
    pub mode: Mode,
    /// What carries the labels.
    pub unit: UnitKind,
    /// Lines learnt from.
    pub train_lines: usize,
    /// Lines scored.
    pub test_lines: usize,
    /// Input lines that fit no unit (no block id, too few fields), left out.
    pub skipped: u64,
    /// The threshold units are judged by: the session model's for blocks, the line
    /// model's otherwise.
    pub threshold: f32,
    /// Share of the test lines labelled normal that score at or above the line model's
    /// threshold, to set beside the contamination asked for.
    pub healthy_line_flag_rate: f64,
    /// How block scores were made (block units only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionSummary>,
    /// Per-unit quality (line and block data sets).
    pub quality: Option<UnitQuality>,
    /// Per-fault outcome and false alarms (pod-window data sets).
    pub pods: Option<PodAlerts>,
    /// The most abnormal test units.
    pub top: Vec<Shown>,
    /// Seconds spent training and scoring.
    pub seconds: f64,
    /// The settings of the run.
    #[serde(skip)]
    pub settings: Options,
}

/// Trains on the first part of `corpus` in `mode` and scores the rest.
pub fn evaluate(corpus: &Corpus, mode: Mode, opts: &Options) -> Result<Evaluation, EvalError> {
    let start = Instant::now();
    let (train_part, test) = parts(corpus, opts)?;
    let model = train(corpus, &train_part, mode, &opts.params)?;
    if test.is_empty() {
        return Err(EvalError::Split("no test lines after the split".into()));
    }
    let model = Arc::new(model);
    let scores = score(corpus, &test, &model)?;
    let (units, threshold, sessions) = match sessions::unit_scores(corpus, &test, &scores, &model)?
    {
        Some(s) => (s.scores, s.threshold, Some(s.summary)),
        None => (unit_scores(corpus, &test, &scores), model.threshold, None),
    };
    let (quality, pods) = match corpus.kind {
        UnitKind::PodWindow => {
            let warm_up = &corpus.records[..train_part.len()];
            let pods = nezha::alerts(corpus, warm_up, &test, &scores, &model, opts.windows)?;
            (None, Some(pods))
        }
        _ => (Some(unit_figures(corpus, &units, threshold)), None),
    };
    Ok(Evaluation {
        dataset: corpus.name,
        mode,
        unit: corpus.kind,
        train_lines: train_part.iter().filter(|r| in_training(r, mode)).count(),
        test_lines: test.len(),
        skipped: corpus.skipped,
        threshold,
        healthy_line_flag_rate: healthy_flag_rate(&test, &scores, model.threshold),
        sessions,
        quality,
        pods,
        top: top_units(corpus, &test, &scores, &units, &model, opts.show_top),
        seconds: start.elapsed().as_secs_f64(),
        settings: opts.clone(),
    })
}

/// Share of the normal records among `test` scoring at or above `threshold`.
fn healthy_flag_rate(test: &[&Record], scores: &[f32], threshold: f32) -> f64 {
    let (mut flagged, mut normal) = (0u64, 0u64);
    for (r, &s) in test.iter().zip(scores) {
        if !r.anomalous {
            normal += 1;
            flagged += u64::from(s >= threshold);
        }
    }
    flagged as f64 / normal.max(1) as f64
}

/// The training part (in log order) and the test part.
fn parts<'c>(
    corpus: &'c Corpus,
    opts: &Options,
) -> Result<(Vec<&'c Record>, Vec<&'c Record>), EvalError> {
    let fraction = opts.train_fraction;
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(EvalError::Split(format!(
            "the training share must be in (0, 1), got {fraction}"
        )));
    }
    match opts.split {
        Split::Time => {
            let split = (corpus.records.len() as f64 * fraction) as usize;
            let train = corpus.records[..split].iter().collect();
            Ok((train, test_records(corpus, split)))
        }
        Split::Uniform if corpus.kind == UnitKind::PodWindow => Err(EvalError::Split(
            "a uniform split needs line or block units: pod windows are split by time".into(),
        )),
        Split::Uniform => {
            let seed = opts.params.seed;
            let in_train = |unit: usize| unit_draw(seed, unit) < fraction;
            let (train, test) = corpus.records.iter().partition(|r| in_train(r.unit));
            Ok((train, test))
        }
    }
}

/// A uniform draw in [0, 1) for `unit`, reproducible for a seed.
fn unit_draw(seed: u64, unit: usize) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (seed, unit).hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a line of the training part is learnt from in `mode`.
fn in_training(r: &Record, mode: Mode) -> bool {
    mode == Mode::Unsupervised || !r.anomalous
}

fn train(
    corpus: &Corpus,
    part: &[&Record],
    mode: Mode,
    params: &TrainParams,
) -> Result<Model, EvalError> {
    let mut trainer = Trainer::new(params.clone())?;
    for r in part.iter().filter(|r| in_training(r, mode)) {
        trainer.add(&r.text);
    }
    Ok(trainer.finish(&corpus.source.display().to_string())?)
}

/// Records scored: those after the split, of units that start after it (a block begun in
/// the training part is neither trained on in part nor tested).
fn test_records(corpus: &Corpus, split: usize) -> Vec<&Record> {
    if corpus.kind == UnitKind::PodWindow {
        return corpus.records[split..].iter().collect();
    }
    let mut started = vec![false; corpus.units.len()];
    for r in &corpus.records[..split] {
        started[r.unit] = true;
    }
    corpus.records[split..]
        .iter()
        .filter(|r| !started[r.unit])
        .collect()
}

/// Scores `records` the way every command does, through the pipeline: one score per
/// record, in order. The whole line is scored (the data set adapters remove only the
/// label column); every line has the corpus as its stream.
fn score(corpus: &Corpus, records: &[&Record], model: &Arc<Model>) -> Result<Vec<f32>, EvalError> {
    use crate::pipeline::{self, Batch, Scorer, Source};
    let labels = [("pod".to_string(), corpus.source.display().to_string())].into();
    let stream = Arc::new(Stream::from_labels(labels, &LabelNames::default()));
    let lines = records
        .iter()
        .map(|r| LogLine {
            ts_ns: r.ts_ns,
            stream: Arc::clone(&stream),
            line: r.text.clone(),
        })
        .collect();
    let mut scores = Vec::with_capacity(records.len());
    let mut sink = |b: &mut Batch| {
        scores.extend(b.lines.iter().map(|s| s.score));
        Ok(())
    };
    let mut scorer = Scorer::new(Arc::clone(model), None);
    let opts = pipeline::Options::default();
    let run = pipeline::run(Source::Lines(lines), &mut scorer, &mut sink, &opts)
        .map_err(|e| EvalError::Split(format!("scoring stopped: {e}")))?;
    if run.dropped > 0 {
        return Err(EvalError::Split(format!(
            "{} lines not scored",
            run.dropped
        )));
    }
    Ok(scores)
}

/// Unit score = its most abnormal line's score.
fn unit_scores(corpus: &Corpus, test: &[&Record], scores: &[f32]) -> Vec<Option<f32>> {
    let mut best: Vec<Option<f32>> = vec![None; corpus.units.len()];
    for (r, s) in test.iter().zip(scores) {
        let b = &mut best[r.unit];
        *b = Some(b.map_or(*s, |b: f32| b.max(*s)));
    }
    best
}

fn unit_figures(corpus: &Corpus, unit_scores: &[Option<f32>], threshold: f32) -> UnitQuality {
    let mut units: Vec<(f32, bool)> = unit_scores
        .iter()
        .zip(&corpus.units)
        .filter_map(|(s, u)| s.map(|s| (s, u.anomalous)))
        .collect();
    unit_quality(&mut units, threshold)
}

/// The `n` units with the highest scores, each shown with its most abnormal line.
fn top_units(
    corpus: &Corpus,
    test: &[&Record],
    scores: &[f32],
    unit_scores: &[Option<f32>],
    model: &Model,
    n: usize,
) -> Vec<Shown> {
    if n == 0 {
        return Vec::new();
    }
    let mut worst_line: Vec<Option<usize>> = vec![None; corpus.units.len()];
    for (i, r) in test.iter().enumerate() {
        let w = &mut worst_line[r.unit];
        if w.is_none_or(|w| scores[i] > scores[w]) {
            *w = Some(i);
        }
    }
    let mut order: Vec<(usize, f32)> = unit_scores
        .iter()
        .enumerate()
        .filter_map(|(u, s)| s.map(|s| (u, s)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    order
        .into_iter()
        .filter_map(|(u, score)| worst_line[u].map(|i| (u, score, test[i])))
        .take(n)
        .map(|(u, score, r)| shown(&corpus.units[u], score, r, model))
        .collect()
}

fn shown(unit: &Unit, score: f32, r: &Record, model: &Model) -> Shown {
    let tokens = model.explain(&r.text, 5);
    let category = crate::alert::Category::of_line(&r.text, tokens.iter().any(|t| t.new));
    Shown {
        unit: unit.name.clone(),
        label: unit.label.clone(),
        score,
        line: r.text.chars().take(300).collect(),
        tokens,
        category: category.label(),
    }
}
