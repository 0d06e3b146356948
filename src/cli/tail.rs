//! `loganomaly tail`: reads live from Loki (polling or websocket tail, with backfill and
//! sharding) and prints one JSON object per line with its score, as `score` does.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use loganomaly::event::ScoredLine;
use loganomaly::input;
use loganomaly::loki;
use loganomaly::pipeline::{self, Scorer, Source};
use loganomaly_model::Model;

use super::args::{LokiAccess, ModelArgs, ThreadsArg};
use super::score::ScoreRecord;

/// `tail --mode`: how lines are read from Loki.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    /// Poll `query_range` over a window trailing "now" by `settle`: complete and cheap,
    /// latency about `settle + poll_interval`.
    Poll,
    /// Websocket tail for sub-second latency, reconciled against `query_range` so that
    /// lines the tail lost are scored late rather than never.
    Tail,
}

impl From<ModeArg> for loki::Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Poll => loki::Mode::Poll,
            ModeArg::Tail => loki::Mode::Tail,
        }
    }
}

/// Options of `loganomaly tail`. Secrets come from `--password-file`/`--token-file` or the
/// environment (`LOGANOMALY_LOKI_PASSWORD`, `LOGANOMALY_LOKI_TOKEN`), never from a flag.
#[derive(Args)]
pub struct TailArgs {
    /// Loki base URL, e.g. `http://loki.monitoring:3100`.
    #[arg(long, value_name = "URL")]
    loki_url: String,
    /// LogQL stream selector; repeat for several [default: {namespace=~".+"}].
    #[arg(long = "selector", value_name = "LOGQL")]
    selectors: Vec<String>,
    /// `poll`: complete, a few seconds behind; `tail`: sub-second, reconciled by polling.
    #[arg(long, value_enum, default_value = "poll")]
    mode: ModeArg,
    /// History to read first, e.g. `15m`.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    backfill: Duration,
    /// Keep only shard I of N of the streams (by label-set hash), e.g. `0/3`.
    #[arg(long, value_name = "I/N")]
    shard: Option<loki::Shard>,
    #[command(flatten)]
    access: LokiAccess,
    /// How far the complete window trails now [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    settle: Option<Duration>,
    /// Stop after this many lines (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0, value_name = "N")]
    max_lines: u64,
    /// Resume where the last run stopped, as `serve`'s `[loki] state_file`: each selector's
    /// resume point is saved here every 5 s and on exit, and the next run starts there
    /// instead of `--backfill` back. The point is where the source stopped reading, so
    /// lines read but not printed (past `--max-lines`, or after the output closed) are
    /// not printed again.
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Tokens listed per line as its explanation (0 = none).
    #[arg(long, default_value_t = 3, value_name = "N")]
    explain: usize,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

impl TailArgs {
    /// The Loki source's settings from the flags (defaults where a flag is absent).
    fn config(&self) -> loki::LokiConfig {
        let mut c = self.access.config(&self.loki_url);
        if !self.selectors.is_empty() {
            c.selectors = self.selectors.clone();
        }
        c.mode = self.mode.into();
        c.backfill = self.backfill;
        c.shard = self.shard.unwrap_or_default();
        c.state_file = self.state_file.clone();
        if let Some(s) = self.settle {
            c.settle = s;
        }
        c
    }
}

/// Tails Loki until Ctrl-C, `--max-lines` lines, or the reader goes away.
pub fn run(a: TailArgs) -> Result<ExitCode> {
    let (model, _) = a.model.load()?;
    let cfg = a.config();
    cfg.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let model = Arc::new(model);
    let scorer = Scorer::new(Arc::clone(&model), a.model.threshold);
    let printer = Printer {
        model,
        explain: a.explain,
        left: if a.max_lines == 0 {
            u64::MAX
        } else {
            a.max_lines
        },
        done: false,
    };
    rt.block_on(tail_async(cfg, scorer, printer))
}

/// Prints live scored lines as `score` does.
struct Printer {
    /// The model that explains the lines.
    model: Arc<Model>,
    /// Tokens listed per line (0 = none).
    explain: usize,
    /// Lines still to print.
    left: u64,
    /// Enough lines were printed, or the reader of the output went away.
    done: bool,
}

impl pipeline::Sink for Printer {
    fn batch(&mut self, batch: &mut pipeline::Batch) -> Result<(), input::SinkError> {
        if self.print(&batch.lines)? {
            return Ok(());
        }
        self.done = true;
        Err("done".into())
    }
}

/// Scores the lines of the Loki source through the pipeline and prints them.
async fn tail_async(cfg: loki::LokiConfig, scorer: Scorer, p: Printer) -> Result<ExitCode> {
    let (tx, rx) = tokio::sync::mpsc::channel(8192);
    let stats = Arc::new(loki::LokiStats::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stopped => {}
        }
    };
    let source = tokio::spawn(loki::run(cfg, tx, Arc::clone(&stats), shutdown));
    let (done, printed) = tokio::task::spawn_blocking(move || {
        let (mut p, mut scorer) = (p, scorer);
        let opts = pipeline::Options {
            batch_lines: 1024,
            ..pipeline::Options::default()
        };
        let printed = pipeline::run(Source::Channel(rx), &mut scorer, &mut p, &opts);
        (p.done, printed)
    })
    .await?;
    let _ = stop.send(());
    source.await?.context("Loki source")?;
    match printed {
        Err(e) if !done => Err(anyhow::anyhow!(e)),
        _ => Ok(ExitCode::SUCCESS),
    }
}

impl Printer {
    /// Prints a scored batch; false once done (enough lines, or the reader went away).
    fn print(&mut self, lines: &[ScoredLine]) -> io::Result<bool> {
        let mut out = BufWriter::new(io::stdout().lock());
        for s in lines.iter().take(self.left as usize) {
            let l = &s.log;
            let record = ScoreRecord {
                ts: l.ts_ns.to_string(),
                labels: &l.stream.labels,
                score: s.score,
                anomalous: s.anomalous,
                tokens: if self.explain > 0 {
                    self.model.explain(&l.line, self.explain)
                } else {
                    Vec::new()
                },
                line: &l.line,
            };
            let written = serde_json::to_writer(&mut out, &record)
                .map_err(io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            match written {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
                r => r?,
            }
            self.left -= 1;
        }
        match out.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            r => r.map(|()| self.left > 0),
        }
    }
}
