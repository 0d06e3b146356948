//! `loganomaly summarize`: a Markdown report of a period of logs: per workload its
//! volume, new and grown line templates and anomalous pods, and the incidents the alert
//! policy would have raised, each with an example line (redacted).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{input_file, InputArgs, ModelArgs, ThreadsArg};

/// Options of `loganomaly summarize`.
#[derive(Args)]
pub struct SummarizeArgs {
    /// Log file (`-` for stdin; for a period of Loki, pipe `logcli query --output=jsonl`).
    /// Default: standard input when it is piped, else the bundled sample.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Write the Markdown here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// Summarises the file and writes the Markdown.
pub fn run(a: SummarizeArgs) -> Result<ExitCode> {
    let file = input_file(a.file.clone());
    let model = Arc::new(a.model.load()?.0);
    let opts = a.model.run_options(&a.input)?;
    let summary = loganomaly::summary::summarize(&file, &model, &opts)?;
    let text = summary.to_string();
    match &a.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                r => r.context("writing the summary")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
