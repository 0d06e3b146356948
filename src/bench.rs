//! `loganomaly bench`: the throughput figures of the README, reproducible by anyone.
//!
//! Generates a log file with the deterministic generator (or takes a given one), replays
//! it several times in child processes of this same binary (so that each peak RSS is the
//! replay's own), and prints the median lines/s and the largest peak RSS. With a Python
//! interpreter and the scikit-learn baseline script it runs that pipeline on the same file
//! in the same session, since only figures measured side by side compare on a noisy host.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The loganomaly binary to run (normally the current one).
    pub exe: PathBuf,
    /// Lines to generate when no file is given.
    pub lines: usize,
    /// Generator seed.
    pub seed: u64,
    /// Replays to run; the median is reported.
    pub runs: usize,
    /// An existing file to replay instead of a generated one.
    pub file: Option<PathBuf>,
    /// Python interpreter for the scikit-learn baseline (skipped when `None`).
    pub python: Option<PathBuf>,
    /// The baseline script (`sklearn_baseline.py`).
    pub baseline: PathBuf,
    /// Scoring threads of each replay (`--threads`); `None`: one per core.
    pub threads: Option<usize>,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A file or process could not be created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// What the OS said.
        source: io::Error,
    },
    /// A child process failed or printed something unexpected.
    #[error("{what}: {detail}")]
    Child {
        /// Which step.
        what: String,
        /// Its exit status and the end of its error output.
        detail: String,
    },
}

/// One replay's figures, from its JSON report.
#[derive(Debug, Clone, Copy)]
pub struct Replayed {
    /// Lines read.
    pub lines: u64,
    /// Wall time of the run (parsing included, startup excluded).
    pub seconds: f64,
    /// Lines per second.
    pub lines_per_second: f64,
    /// Peak resident set size of the replay process.
    pub peak_rss_bytes: u64,
    /// Scoring threads the replay ran with.
    pub threads: u64,
}

/// Runs the benchmark, printing progress and results to `out`.
pub fn run(opts: &BenchOptions, out: &mut impl Write) -> Result<(), BenchError> {
    let dir = std::env::temp_dir().join(format!("loganomaly-bench-{}", std::process::id()));
    let file = match &opts.file {
        Some(f) => f.clone(),
        None => generate(opts, &dir, out)?,
    };
    let result = measure(opts, &file, out);
    if opts.file.is_none() {
        // the generated file can be large; a failure to remove it is only worth a note
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            let _ = writeln!(out, "note: cannot remove {}: {e}", dir.display());
        }
    }
    result
}

fn measure(opts: &BenchOptions, file: &Path, out: &mut impl Write) -> Result<(), BenchError> {
    let mut runs = Vec::new();
    for i in 0..opts.runs.max(1) {
        let r = replay(&opts.exe, file, opts.threads)?;
        say(
            out,
            &format!(
                "replay {}: {} lines in {:.2} s = {:.0} lines/s, threads {}, peak RSS {:.1} MiB",
                i + 1,
                r.lines,
                r.seconds,
                r.lines_per_second,
                r.threads,
                mib(r.peak_rss_bytes)
            ),
        )?;
        runs.push(r);
    }
    let median = median_rate(&runs);
    let peak = runs.iter().map(|r| r.peak_rss_bytes).max().unwrap_or(0);
    say(
        out,
        &format!(
            "loganomaly replay: median {median:.0} lines/s, threads {}, peak RSS {:.1} MiB ({} runs, load average {})",
            runs.first().map_or(0, |r| r.threads),
            mib(peak),
            runs.len(),
            load_average()
        ),
    )?;
    if let Some(python) = &opts.python {
        let py = python_baseline(python, &opts.baseline, file)?;
        say(
            out,
            &format!(
                "python baseline: {py:.0} lines/s end to end; loganomaly is {:.0}x faster",
                median / py.max(f64::MIN_POSITIVE)
            ),
        )?;
    }
    Ok(())
}

fn say(out: &mut impl Write, line: &str) -> Result<(), BenchError> {
    writeln!(out, "{line}").map_err(|source| BenchError::Io {
        what: "writing the results".into(),
        source,
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// The median lines/s of the runs (the upper middle one for an even count).
pub fn median_rate(runs: &[Replayed]) -> f64 {
    let mut rates: Vec<f64> = runs.iter().map(|r| r.lines_per_second).collect();
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}

/// The 1-minute load average, to judge how noisy the figures are.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Writes the generated file into `dir`.
fn generate(opts: &BenchOptions, dir: &Path, out: &mut impl Write) -> Result<PathBuf, BenchError> {
    std::fs::create_dir_all(dir).map_err(|source| BenchError::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    let file = dir.join("bench-loki-logs.json");
    let mut cmd = Command::new(&opts.exe);
    cmd.arg("generate")
        .arg("--lines")
        .arg(opts.lines.to_string())
        .arg("--seed")
        .arg(opts.seed.to_string())
        .arg("--out")
        .arg(&file)
        .arg("--force");
    let stdout = output(cmd, "generate")?;
    say(out, stdout.trim())?;
    Ok(file)
}

/// Replays `file` in a child process (on `threads` scoring threads) and reads its JSON
/// report.
fn replay(exe: &Path, file: &Path, threads: Option<usize>) -> Result<Replayed, BenchError> {
    let mut cmd = Command::new(exe);
    cmd.arg("replay").arg(file).arg("--json").arg("--no-labels");
    if let Some(n) = threads {
        cmd.arg("--threads").arg(n.to_string());
    }
    let stdout = output(cmd, "replay")?;
    let bad = |detail: String| BenchError::Child {
        what: "replay report".into(),
        detail,
    };
    let report: serde_json::Value =
        serde_json::from_str(&stdout).map_err(|e| bad(format!("not JSON: {e}")))?;
    let number = |key: &str| {
        report
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| bad(format!("no number {key:?}")))
    };
    Ok(Replayed {
        lines: report["read"]["lines"].as_u64().unwrap_or(0),
        seconds: number("elapsed_seconds")?,
        lines_per_second: number("lines_per_second")?,
        peak_rss_bytes: number("peak_rss_bytes")? as u64,
        threads: number("threads")? as u64,
    })
}

/// Runs the scikit-learn baseline on `file`; its end-to-end lines/s.
fn python_baseline(python: &Path, script: &Path, file: &Path) -> Result<f64, BenchError> {
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(file);
    let stdout = output(cmd, "python baseline")?;
    let bad = |detail: String| BenchError::Child {
        what: "python baseline".into(),
        detail,
    };
    let first = stdout.lines().next().unwrap_or("");
    let figures: serde_json::Value =
        serde_json::from_str(first).map_err(|e| bad(format!("first line not JSON: {e}")))?;
    figures["lines_per_s"]["end_to_end"]
        .as_f64()
        .ok_or_else(|| bad("no lines_per_s.end_to_end".into()))
}

/// Runs `cmd` to completion: its standard output, or why it failed.
fn output(mut cmd: Command, what: &str) -> Result<String, BenchError> {
    let out = cmd.output().map_err(|source| BenchError::Io {
        what: format!("starting {what}"),
        source,
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(BenchError::Child {
            what: what.into(),
            detail: format!("{}: {tail}", out.status),
        });
    }
    if what == "python baseline" {
        // its per-stage figures go to standard error: show them
        eprint!("{stderr}");
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(rate: f64) -> Replayed {
        Replayed {
            lines: 1,
            seconds: 1.0,
            lines_per_second: rate,
            peak_rss_bytes: 1,
            threads: 1,
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let runs: Vec<Replayed> = [3.0, 1.0, 2.0].map(run_at).to_vec();
        assert_eq!(median_rate(&runs), 2.0);
        let runs: Vec<Replayed> = [4.0, 1.0, 3.0, 2.0].map(run_at).to_vec();
        assert_eq!(median_rate(&runs), 3.0);
        assert_eq!(median_rate(&[]), 0.0);
    }
}
