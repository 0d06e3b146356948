//! `loganomaly generate`: writes a deterministic synthetic Kubernetes log file (Loki JSON)
//! with labelled incidents and its labels file; the bundled sample is one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

/// Options of `loganomaly generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Number of log lines.
    #[arg(long, default_value_t = 100_000)]
    lines: u64,
    /// Random seed (same lines and seed give byte-identical files).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output log file (Loki query_range JSON); required, so that the bundled sample is
    /// never overwritten by accident.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Output labels file (default: `<out stem>.labels.jsonl`).
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Overwrite the output or labels file when it exists (refused otherwise).
    #[arg(long)]
    force: bool,
}

/// Writes the log and labels files, refusing to overwrite either without `--force`.
pub fn run(a: GenerateArgs) -> Result<ExitCode> {
    use loganomaly::generate::{generate, GenerateConfig};
    let labels = a
        .labels
        .unwrap_or_else(|| a.out.with_extension("labels.jsonl"));
    if !a.force {
        for p in [&a.out, &labels] {
            if p.exists() {
                bail!(
                    "{} exists: pass --force to overwrite it, or choose another --out",
                    p.display()
                );
            }
        }
    }
    let create = |p: &Path| {
        std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))
    };
    let start = Instant::now();
    let cfg = GenerateConfig {
        lines: a.lines,
        seed: a.seed,
    };
    let s = generate(&cfg, create(&a.out)?, create(&labels)?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "wrote {} lines ({:.1} MiB) from {} pods in {} namespaces to {} in {:.2} s; {} labelled anomalous lines in {}",
        s.lines,
        s.log_bytes as f64 / 1048576.0,
        s.pods,
        s.namespaces,
        a.out.display(),
        start.elapsed().as_secs_f64(),
        s.labelled_total(),
        labels.display()
    );
    Ok(ExitCode::SUCCESS)
}
