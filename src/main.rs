//! The `loganomaly` command line: the map of commands. Each command's flags and body live
//! in its own file under `cli/`; this file parses the arguments, sets up logging and the
//! scoring threads, dispatches, and turns an error into a message and an exit code.

#![warn(missing_docs)]

mod cli;

use std::io;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use cli::args::{ConfigArgs, ThreadsArg};
#[cfg(feature = "lab")]
use cli::{bench, evaluate, generate};
use cli::{incidents, replay, score, serve, summarize, tail, train};

/// Finds the pods of a Kubernetes cluster that started logging something abnormal.
///
/// Lines are normalised (timestamps, IPs, ids, numbers masked), turned into TF-IDF
/// features and scored by an isolation forest; scores are aggregated per pod.
#[derive(Parser)]
#[command(name = "loganomaly", version, about, long_about = None)]
struct Cli {
    /// The command to run.
    #[command(subcommand)]
    command: Command,
}

/// The commands, in the order `--help` lists them.
#[derive(Subcommand)]
enum Command {
    /// Stream a log file through the pipeline and report the most anomalous pods.
    Replay(replay::ReplayArgs),
    /// Print one JSON object per input line with its score, for other tools.
    Score(score::ScoreArgs),
    /// Learn a model from a log file.
    Train(train::TrainArgs),
    /// Write a Markdown summary of a log file or of the last hour(s) of Loki: per workload
    /// its volume, new and grown line templates and anomalous pods, and the incidents the
    /// alert policy would raise.
    Summarize(summarize::SummarizeArgs),
    /// List the incident history `serve` and `replay --alerts` wrote (SQLite or
    /// PostgreSQL): when, which pod, how long, how bad, its top line; a table or `--json`.
    Incidents(incidents::IncidentsArgs),
    /// Write a synthetic Kubernetes log file with labelled incidents.
    #[cfg(feature = "lab")]
    Generate(generate::GenerateArgs),
    /// Run the service: read Loki, export per-pod scores on /metrics, serve /api/v1/pods.
    Serve(serve::ServeArgs),
    /// Check a service configuration as `serve` would (sections, secrets, URLs, patterns,
    /// model file) and print the effective one with every default (secrets redacted).
    CheckConfig(ConfigArgs),
    /// Read live from Loki and print one JSON object per line with its score, like `score`.
    Tail(tail::TailArgs),
    /// Measure detection quality on a labelled data set: learn from the older part, score
    /// the rest, print precision, recall, F1, ROC-AUC and PR-AUC per labelled unit.
    #[cfg(feature = "lab")]
    Evaluate(evaluate::EvaluateArgs),
    /// Measure replay throughput and peak memory on a generated file (and the Python baseline).
    #[cfg(feature = "lab")]
    Bench(bench::BenchArgs),
}

impl Command {
    /// `--threads`, on the commands that score.
    fn threads(&self) -> ThreadsArg {
        match self {
            Command::Replay(a) => a.threads,
            Command::Score(a) => a.threads,
            Command::Train(a) => a.threads,
            Command::Summarize(a) => a.threads,
            Command::Serve(a) => a.threads,
            Command::Tail(a) => a.threads,
            #[cfg(feature = "lab")]
            Command::Evaluate(a) => a.threads,
            #[cfg(feature = "lab")]
            Command::Bench(a) => a.threads,
            #[cfg(feature = "lab")]
            Command::Generate(_) => ThreadsArg::default(),
            Command::CheckConfig(_) | Command::Incidents(_) => ThreadsArg::default(),
        }
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGANOMALY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // colours only on a terminal: `kubectl logs` and log collectors get plain text
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", readable(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: a cause whose text the message already holds
/// (a library error that shows its OS error and also gives it as its source) is left out.
fn readable(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// Sizes the scoring pool, then runs the command.
fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(n) = cli.command.threads().threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("--threads")?;
    }
    match cli.command {
        Command::Replay(a) => replay::run(a),
        Command::Score(a) => score::run(a),
        Command::Train(a) => train::run(a),
        Command::Summarize(a) => summarize::run(a),
        Command::Incidents(a) => incidents::run(a),
        #[cfg(feature = "lab")]
        Command::Generate(a) => generate::run(a),
        Command::Serve(a) => serve::run(a.config),
        Command::CheckConfig(a) => serve::check_config(a),
        Command::Tail(a) => tail::run(a),
        #[cfg(feature = "lab")]
        Command::Evaluate(a) => evaluate::run(a),
        #[cfg(feature = "lab")]
        Command::Bench(a) => bench::run(a),
    }
}
