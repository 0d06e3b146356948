//! `loganomaly train`: learns a model from a log file (optionally only from lines before
//! a time) and writes it, saying what it learnt.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use loganomaly::input::{self, ReadStats};
use loganomaly_model::{Model, TrainParams, Trainer};

use super::args::{InputArgs, LearnArgs, ThreadsArg, SAMPLE};

/// Options of `loganomaly train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Log file to learn from.
    #[arg(long, short, default_value = SAMPLE)]
    input: PathBuf,
    /// Where to write the model.
    #[arg(long, short)]
    out: PathBuf,
    #[command(flatten)]
    read: InputArgs,
    /// Expected share of anomalous lines; sets the threshold.
    #[arg(long, default_value_t = TrainParams::default().contamination)]
    contamination: f64,
    /// Isolation trees.
    #[arg(long, default_value_t = TrainParams::default().trees)]
    trees: usize,
    /// Lines drawn for each tree.
    #[arg(long, default_value_t = TrainParams::default().subsample)]
    subsample: usize,
    /// Random seed (same input and seed give the same model).
    #[arg(long, default_value_t = TrainParams::default().seed)]
    seed: u64,
    /// Tokens in fewer training lines than this count as new.
    #[arg(long, default_value_t = TrainParams::default().min_df)]
    min_df: u32,
    /// Share of the score kept by lines at info level or below (fatal lines keep all of
    /// it): lower values rank never-seen errors above never-seen chatter.
    #[arg(long, default_value_t = TrainParams::default().info_weight)]
    info_weight: f32,
    /// Share of the score kept by lines whose every token was seen in training (1 = off):
    /// lower values rank lines with a never-seen word above new mixes of familiar words.
    #[arg(long, default_value_t = TrainParams::default().known_weight)]
    known_weight: f32,
    #[command(flatten)]
    learn: LearnArgs,
    /// Learn only from lines before this time (RFC 3339 or Unix nanoseconds), e.g. the end
    /// of a period known to be healthy.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<i64>,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// Parses `--until`: RFC 3339 or Unix nanoseconds.
fn parse_time(s: &str) -> Result<i64, String> {
    input::parse_timestamp(s)
        .ok_or_else(|| format!("{s:?} is neither RFC 3339 nor Unix nanoseconds"))
}

/// Trains on the input and writes the model to `--out`.
pub fn run(a: TrainArgs) -> Result<ExitCode> {
    let mut trainer = Trainer::new(params(&a))?;
    let start = Instant::now();
    let stats = read(&a, &mut trainer)?;
    let source = a.input.display().to_string();
    let empty = trainer.empty_lines();
    let model = trainer.finish(&source)?;
    model.save(&a.out)?;
    let size = std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "trained on {} lines of {source} in {:.2} s: vocabulary {}, threshold {:.4}; wrote {} ({:.1} KiB){}",
        model.meta.training_lines,
        start.elapsed().as_secs_f64(),
        model.featurizer.tfidf.len(),
        model.threshold,
        a.out.display(),
        size as f64 / 1024.0,
        if stats.skipped > 0 {
            format!("; {} invalid records skipped", stats.skipped)
        } else {
            String::new()
        }
    );
    if empty > 0 {
        println!("skipped {empty} lines with no token (blank or punctuation only)");
    }
    say_what_was_learnt(&model);
    Ok(ExitCode::SUCCESS)
}

/// The model settings from the flags.
fn params(a: &TrainArgs) -> TrainParams {
    TrainParams {
        contamination: a.contamination,
        trees: a.trees,
        subsample: a.subsample,
        seed: a.seed,
        min_df: a.min_df,
        info_weight: a.info_weight,
        known_weight: a.known_weight,
        calibration: a.learn.calibration,
        session_key: a.learn.session_key.clone(),
        ..TrainParams::default()
    }
}

/// Feeds the input's lines before `--until` to the trainer, with a progress spinner.
fn read(a: &TrainArgs, trainer: &mut Trainer) -> Result<ReadStats> {
    let bar = progress_bar();
    let until = a.until.unwrap_or(i64::MAX);
    let stats = input::read_path(&a.input, &a.read.options()?, &mut |line| {
        if line.ts_ns >= until {
            return Ok(());
        }
        trainer.add(&line.line);
        if trainer.lines() % 16_384 == 0 {
            bar.set_position(trainer.lines());
        }
        Ok(())
    })
    .with_context(|| "no model written")?;
    bar.finish_and_clear();
    Ok(stats)
}

/// Prints the sessions and templates the model learnt, and warns when a session key
/// matched no line.
fn say_what_was_learnt(model: &Model) {
    match (&model.meta.params.session_key, &model.session) {
        (Some(_), Some(s)) => println!(
            "sessions: learnt from {} training sessions, session threshold {:.4}",
            s.stats.sessions(),
            s.threshold
        ),
        (Some(key), None) => eprintln!(
            "warning: no training line matched --session-key {key:?}: the model scores lines only"
        ),
        _ => {}
    }
    println!(
        "templates: {} learnt (token sequences whose words mostly agree share one)",
        model.featurizer.templates.mined_templates()
    );
}

/// A spinner counting the lines read, on standard error.
fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} training: {pos} lines ({per_sec}) {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar
}
