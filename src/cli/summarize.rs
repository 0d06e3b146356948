//! `loganomaly summarize`: a Markdown report of a period of logs — a file, or the last
//! `--since` of Loki — per workload its volume, new and grown line templates and anomalous
//! pods, and the incidents the alert policy would have raised, each with an example line
//! (redacted).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use loganomaly::alert::{AlertConfig, Explainer};
use loganomaly::loki::{self, LokiStats, Mode};
use loganomaly::pipeline::Source;
use loganomaly::replay::RunOptions;
use loganomaly::summary::{summarize, Summary};
use loganomaly_model::Model;

use super::args::{input_file, InputArgs, LokiAccess, ModelArgs, ThreadsArg};

/// Lines read from Loki ahead of the scorer.
const CHANNEL_LINES: usize = 16 * 1024;

/// Options of `loganomaly summarize`.
#[derive(Args)]
pub struct SummarizeArgs {
    /// Log file (`-` for stdin). Default: standard input when it is piped, else the bundled
    /// sample; with --loki-url, the last --since of Loki instead.
    #[arg(value_name = "FILE", conflicts_with = "loki_url")]
    file: Option<PathBuf>,
    /// Read the period from this Loki, e.g. `http://loki.monitoring:3100`: every line of
    /// the selectors from --since ago up to now (less 2 s, for lines still arriving).
    #[arg(long, value_name = "URL")]
    loki_url: Option<String>,
    /// With --loki-url: LogQL stream selector, e.g. `{namespace="shop"}`; repeat for
    /// several [default: {namespace=~".+"}].
    #[arg(long = "selector", value_name = "LOGQL", requires = "loki_url")]
    selectors: Vec<String>,
    /// With --loki-url: how far back the period starts, e.g. `1h`, `30m`, `1d`.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1h")]
    since: Duration,
    /// With --loki-url: give up (and write no report) when Loki has not delivered the
    /// period within this long; errors it answers are retried until then.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "5m")]
    timeout: Duration,
    #[command(flatten)]
    access: LokiAccess,
    /// Alert config (TOML, see examples/alerts.toml) whose `[explain]` section writes a
    /// short narrative on top of the report (the LLM reads the redacted report); without
    /// an answer in its `timeout`, the report goes without it.
    #[arg(long, value_name = "PATH")]
    alerts: Option<PathBuf>,
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

/// Summarises the file or the period of Loki and writes the Markdown.
pub fn run(a: SummarizeArgs) -> Result<ExitCode> {
    let model = Arc::new(a.model.load()?.0);
    let opts = a.model.run_options(&a.input)?;
    let mut summary = match &a.loki_url {
        Some(url) => from_loki(&a, url, &model, &opts)?,
        None => {
            let file = input_file(a.file.clone());
            let name = file.display().to_string();
            summarize(&name, opts.file(&file), &model, &opts)?
        }
    };
    if let Some(path) = &a.alerts {
        summary.narrative = narrative(path, &summary)?;
    }
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

/// Reads the last `--since` of Loki (every line once, in order per stream) and summarises
/// it; fails, writing nothing, when Loki refuses the query or does not deliver in time.
fn from_loki(
    a: &SummarizeArgs,
    url: &str,
    model: &Arc<Model>,
    opts: &RunOptions,
) -> Result<Summary> {
    let mut cfg = a.access.config(url);
    if !a.selectors.is_empty() {
        cfg.selectors = a.selectors.clone();
    }
    cfg.mode = Mode::Poll;
    cfg.backfill = a.since;
    let settle = i64::try_from(cfg.settle.as_nanos()).unwrap_or(i64::MAX);
    cfg.until_ns = Some(loganomaly::event::now_ns().saturating_sub(settle));
    cfg.validate()?;
    let input = format!(
        "{} of {url}, the last {}",
        cfg.selectors.join(" "),
        humantime::format_duration(a.since)
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_LINES);
    let stats = Arc::new(LokiStats::default());
    let timeout = a.timeout;
    let reading = rt.spawn(async move {
        let read = loki::run(cfg, tx, stats, std::future::pending());
        tokio::time::timeout(timeout, read).await
    });
    let summary = summarize(&input, Source::Channel(rx), model, opts)?;
    match rt.block_on(reading).context("the Loki reader stopped")? {
        Ok(Ok(())) => Ok(summary),
        Ok(Err(e)) => Err(e).context("reading Loki; no report written"),
        Err(_) => anyhow::bail!(
            "Loki did not deliver the period within {} (--timeout); no report written",
            humantime::format_duration(timeout)
        ),
    }
}

/// The `[explain]` LLM's narrative of `summary`, when `path`'s alert config has that
/// section (`None` when it has not, or the LLM fails or is late).
fn narrative(path: &std::path::Path, summary: &Summary) -> Result<Option<String>> {
    let cfg = AlertConfig::load(path)?;
    let Some(ex) = &cfg.explain else {
        eprintln!(
            "{}: no [explain] section; the report has no narrative",
            path.display()
        );
        return Ok(None);
    };
    let explainer = Explainer::from_config(ex)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(rt.block_on(explainer.narrate(&summary.to_string())))
}
