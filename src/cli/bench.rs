//! `loganomaly bench`: measures replay throughput and peak memory on a generated file
//! (and, when asked, the Python baseline), by running this binary in child processes.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::args::ThreadsArg;

/// Options of `loganomaly bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Lines of the generated file.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    lines: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Replays to run; the median is reported.
    #[arg(long, default_value_t = 3, value_name = "N")]
    runs: usize,
    /// Replay this file instead of generating one.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Also run the scikit-learn baseline with this Python (see ../shared/baselines).
    #[arg(long, value_name = "PYTHON")]
    python: Option<PathBuf>,
    /// The baseline script.
    #[arg(
        long,
        default_value = "../shared/baselines/sklearn_baseline.py",
        value_name = "SCRIPT"
    )]
    baseline: PathBuf,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// Runs the benchmark; `--threads` is passed on to the replays.
pub fn run(a: BenchArgs) -> Result<ExitCode> {
    let opts = loganomaly::bench::BenchOptions {
        exe: std::env::current_exe().context("locating this binary")?,
        lines: a.lines,
        seed: a.seed,
        runs: a.runs,
        file: a.file,
        python: a.python,
        baseline: a.baseline,
        threads: a.threads.threads,
    };
    loganomaly::bench::run(&opts, &mut io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
