//! `loganomaly evaluate`: measures detection quality on a labelled data set (learn from
//! one part, score the rest), or for `loghub` how well the templates group lines; can
//! record the figures and check them against a recorded file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use loganomaly::aggregate::PodWindows;
use loganomaly::evaluate::{self, recorded, DatasetName, Mode, Split};
use loganomaly_model::TrainParams;

use super::args::{LearnArgs, ThreadsArg, SAMPLE};

/// `evaluate <DATASET>`: which data set to evaluate on.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DatasetArg {
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

impl From<DatasetArg> for DatasetName {
    fn from(d: DatasetArg) -> Self {
        match d {
            DatasetArg::Bgl => DatasetName::Bgl,
            DatasetArg::Hdfs => DatasetName::Hdfs,
            DatasetArg::Nezha => DatasetName::Nezha,
            DatasetArg::Sample => DatasetName::Sample,
            DatasetArg::Loghub => DatasetName::Loghub,
        }
    }
}

/// `evaluate --mode`: how the model learns from the first part.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    /// Only lines labelled normal (a healthy week).
    Clean,
    /// Every line, anomalies included.
    Unsupervised,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Clean => Mode::Clean,
            ModeArg::Unsupervised => Mode::Unsupervised,
        }
    }
}

/// `evaluate --split`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    /// The oldest lines train, the rest is scored.
    Time,
    /// A seeded random share of the units trains.
    Uniform,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Self {
        match s {
            SplitArg::Time => Split::Time,
            SplitArg::Uniform => Split::Uniform,
        }
    }
}

/// Options of `loganomaly evaluate`.
#[derive(Args)]
pub struct EvaluateArgs {
    /// The labelled data set.
    #[arg(value_enum)]
    dataset: DatasetArg,
    /// Folder of the shared data sets (bgl/, hdfs/, k8s-nezha/).
    #[arg(long, default_value = "../shared/datasets", value_name = "DIR")]
    data_dir: PathBuf,
    /// Training mode; both by default.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Share of the lines, oldest first, to learn from; the rest is scored (default: 0.5,
    /// for nezha 0.1: its faults are grouped by kind, and a later split leaves only the
    /// resource faults and the exceptions that log nothing).
    #[arg(long, value_name = "SHARE")]
    train_fraction: Option<f64>,
    /// How the training part is chosen: `time` (the oldest lines, as a service learns)
    /// or `uniform` (a seeded random share of the units, as published HDFS figures use).
    #[arg(long, value_enum, default_value_t = SplitArg::Time)]
    split: SplitArg,
    /// Show the N most abnormal test units with the tokens behind their score.
    #[arg(long, default_value_t = 0, value_name = "N")]
    show_top: usize,
    /// Print the evaluations as JSON.
    #[arg(long)]
    json: bool,
    /// Fail when a figure is worse than recorded in FILE (beyond the tolerance).
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// Write the measured figures into FILE (keeping other data sets' figures).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Random seed of the model.
    #[arg(long, default_value_t = TrainParams::default().seed)]
    seed: u64,
    /// Expected share of anomalous lines; sets the threshold.
    #[arg(long, default_value_t = TrainParams::default().contamination)]
    contamination: f64,
    /// Share of the score kept by lines at info level or below (see `train --help`).
    #[arg(long, default_value_t = TrainParams::default().info_weight)]
    info_weight: f32,
    /// Share of the score kept by lines made only of known tokens (see `train --help`).
    #[arg(long, default_value_t = TrainParams::default().known_weight)]
    known_weight: f32,
    #[command(flatten)]
    learn: LearnArgs,
    /// Longest burst window of a quiet pod, in minutes, for nezha (`[pods]
    /// window_max_minutes`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    window_max_minutes: u32,
    /// Judge each pod against its own learnt anomalous rate, for nezha (`[pods] learn_rate`).
    #[arg(long)]
    learn_rate: bool,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// Evaluates in each mode asked for and prints the figures; fails on a regression
/// against `--check`.
pub fn run(a: EvaluateArgs) -> Result<ExitCode> {
    let dataset = DatasetName::from(a.dataset);
    if dataset == DatasetName::Loghub {
        return loghub(&a);
    }
    let corpus = dataset
        .load(&a.data_dir, Path::new(SAMPLE))
        .with_context(|| format!("cannot read the {} data set", dataset.key()))?;
    let opts = options(&a, dataset);
    let modes = match a.mode {
        Some(m) => vec![m.into()],
        None => vec![Mode::Clean, Mode::Unsupervised],
    };
    let mut results = Vec::new();
    for mode in modes {
        let e = evaluate::evaluate(&corpus, mode, &opts)?;
        if !a.json {
            println!("{}", evaluate::print::render(&e));
        }
        results.push(e);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    let measured: Vec<_> = results
        .iter()
        .map(|e| (e.mode.key(), recorded::figures(e)))
        .collect();
    record(&a, &measured)?;
    check_recorded(&a, &measured)
}

/// The evaluation settings from the flags.
fn options(a: &EvaluateArgs, dataset: DatasetName) -> evaluate::Options {
    evaluate::Options {
        train_fraction: a.train_fraction.unwrap_or(dataset.default_train_fraction()),
        split: a.split.into(),
        params: TrainParams {
            seed: a.seed,
            contamination: a.contamination,
            info_weight: a.info_weight,
            known_weight: a.known_weight,
            calibration: a.learn.calibration,
            session_key: a.learn.session_key.clone(),
            ..TrainParams::default()
        },
        show_top: a.show_top,
        windows: PodWindows {
            max_minutes: a.window_max_minutes,
            learn_rate: a.learn_rate,
        },
    }
}

/// `evaluate loghub`: grouping accuracy of the templates, per system and mean.
fn loghub(a: &EvaluateArgs) -> Result<ExitCode> {
    use evaluate::grouping;
    let dir = a.data_dir.join("loghub-2k");
    let systems = grouping::measure(&dir)
        .with_context(|| format!("cannot measure templates in {}", dir.display()))?;
    let mean = grouping::mean(&systems);
    let mut out = io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&systems)?)?;
    } else {
        writeln!(out, "{}", evaluate::print::grouping(&systems, mean))?;
    }
    let measured = [("templates", vec![recorded::higher("mean_accuracy", mean)])];
    record(a, &measured)?;
    check_recorded(a, &measured)
}

/// With `--record FILE`: writes the measured figures into FILE, keeping the others.
fn record(a: &EvaluateArgs, measured: &[(&str, Vec<recorded::Figure>)]) -> Result<()> {
    let Some(path) = &a.record else {
        return Ok(());
    };
    let mut table = recorded::load(path)?;
    for (mode, figures) in measured {
        recorded::record(&mut table, &record_key(a), mode, figures);
    }
    recorded::save(path, &table)?;
    Ok(())
}

/// The data set's key in the recorded-figures file: a uniform split is recorded apart.
fn record_key(a: &EvaluateArgs) -> String {
    let key = DatasetName::from(a.dataset).key();
    match a.split {
        SplitArg::Time => key.to_string(),
        SplitArg::Uniform => format!("{key}_uniform"),
    }
}

/// With `--check FILE`: fails when a measured figure is worse than recorded.
fn check_recorded(
    a: &EvaluateArgs,
    measured: &[(&str, Vec<recorded::Figure>)],
) -> Result<ExitCode> {
    let Some(path) = &a.check else {
        return Ok(ExitCode::SUCCESS);
    };
    let table = recorded::load(path)?;
    let worse: Vec<String> = measured
        .iter()
        .flat_map(|(mode, figures)| recorded::regressions(&table, &record_key(a), mode, figures))
        .collect();
    if worse.is_empty() {
        println!("figures hold against {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    for w in &worse {
        eprintln!("regression: {w}");
    }
    Ok(ExitCode::FAILURE)
}
