//! `loganomaly replay`: streams a log file through the pipeline and reports the most
//! anomalous pods (text or JSON, with quality against a labels file when one is found);
//! with `--listen` it serves the service's endpoints while replaying, and with `--alerts`
//! it plays the file through the alert policy on log time.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use loganomaly::alert::{self, AlertConfig, Alerter};
use loganomaly::replay::{self, ReportOptions, RunOptions};
use loganomaly_model::Model;

use super::args::{input_file, InputArgs, ModelArgs, ThreadsArg};

/// Options of `loganomaly replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// Log file: Loki query_range JSON, logcli JSONL or plain text (`-` for stdin).
    /// Default: standard input when it is piped or redirected, else the bundled sample
    /// (dataset/sample-loki-logs.json).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Pods to list (0 = all).
    #[arg(long, default_value_t = 15, value_name = "N")]
    top: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Labels file to evaluate against (default: `<file stem>.labels.jsonl` beside the input).
    #[arg(long, value_name = "PATH")]
    labels: Option<PathBuf>,
    /// Do not evaluate against labels even when a labels file is found.
    #[arg(long, conflicts_with = "labels")]
    no_labels: bool,
    /// Serve /metrics, /healthz, /readyz and /api/v1/pods on this address while replaying,
    /// and keep serving after the end until interrupted (try the dashboards without a Loki).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// With --listen: release lines in log-time order at this multiple of real time
    /// (`10x` or `10`); the file is then held in memory to sort it.
    #[arg(long, value_name = "FACTOR", value_parser = parse_speed, requires = "listen")]
    speed: Option<f64>,
    /// Alert config (TOML, see examples/alerts.toml): run the alert policy on log time and
    /// send to the configured notifiers (and write the episodes to its `[incidents]`
    /// database), flushing them before exit.
    #[arg(long, value_name = "PATH")]
    alerts: Option<PathBuf>,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// Parses `--speed`: a positive factor, `10x` or `10`.
fn parse_speed(s: &str) -> Result<f64, String> {
    let n: f64 = s
        .trim_end_matches(['x', 'X'])
        .parse()
        .map_err(|_| format!("{s:?} is not a speed such as 10x"))?;
    if n.is_finite() && n > 0.0 {
        Ok(n)
    } else {
        Err(format!("speed must be positive, got {s}"))
    }
}

/// Replays the file and prints its report; fails when reading stopped on an error or an
/// alert could not be delivered.
pub fn run(mut a: ReplayArgs) -> Result<ExitCode> {
    let file = input_file(a.file.take());
    if let Some(listen) = a.listen {
        return replay_listen(a, &file, listen);
    }
    let (model, origin) = a.model.load()?;
    let model = Arc::new(model);
    let run_opts = a.model.run_options(&a.input)?;
    let opts = ReportOptions {
        top_pods: a.top,
        labels: a.labels,
        no_labels: a.no_labels,
    };
    let alert_cfg = a.alerts.as_deref().map(load_alerts).transpose()?;
    if alert_cfg.is_some() && file.as_os_str() == "-" {
        bail!("--alerts reads the file a second time: name a file, not stdin");
    }
    let report = replay::report(&file, &model, &origin, &run_opts, &opts)?;
    if let (Some(e), 0) = (&report.error, report.read.lines) {
        bail!("{e}");
    }
    match print_report(&report, a.json) {
        // the reader of the output went away (`| head`): what it read was enough
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        r => r.context("writing the report")?,
    }
    if let Some(e) = &report.error {
        eprintln!(
            "error: {e} (the {} lines before it are reported)",
            report.read.lines
        );
        return Ok(ExitCode::FAILURE);
    }
    match alert_cfg {
        Some(cfg) => replay_alerts(&file, &model, &run_opts, &cfg),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Writes the report to standard output, as JSON or as text.
fn print_report(report: &loganomaly::report::ReplayReport, json: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
    } else {
        write!(out, "{report}")?;
    }
    out.flush()
}

/// `replay --listen`: serves the endpoints while replaying, then until interrupted.
fn replay_listen(a: ReplayArgs, file: &Path, listen: std::net::SocketAddr) -> Result<ExitCode> {
    use loganomaly::serve::{self, listen::ReplayServe, StageConfig};
    let (mut model, origin) = a.model.load()?;
    if let Some(t) = a.model.threshold {
        model.threshold = t;
    }
    let opts = ReplayServe {
        path: file.to_path_buf(),
        read: a.input.options()?,
        speed: a.speed,
        listen,
        stage: StageConfig {
            live: false,
            ..StageConfig::default()
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let start = Instant::now();
    let progress = std::cell::RefCell::new(None);
    let summary = runtime.block_on(serve::listen::run(
        opts,
        model,
        &origin,
        serve::shutdown_signal(),
        |addr, shared| {
            let pace = a.speed.map_or(String::new(), |x| format!(" at {x}x log time"));
            println!(
                "serving http://{addr}/metrics; replaying {}{pace} (Ctrl-C stops)",
                file.display()
            );
            *progress.borrow_mut() = Some(Progress::start(Arc::clone(shared)));
        },
        |s| {
            drop(progress.borrow_mut().take());
            println!(
                "replayed {} lines of {} in {:.2} s; serving http://{}/metrics until interrupted (Ctrl-C)",
                s.read.lines,
                file.display(),
                start.elapsed().as_secs_f64(),
                s.local_addr
            );
            if let Some(e) = &s.error {
                eprintln!("error: {e} (the {} lines before it were scored)", s.read.lines);
            }
        },
    ))?;
    Ok(match summary.error {
        Some(_) => ExitCode::FAILURE,
        None => ExitCode::SUCCESS,
    })
}

/// A spinner on standard error (when it is a terminal) counting the lines scored, until
/// dropped.
struct Progress {
    done: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(shared: Arc<loganomaly::serve::Shared>) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} replaying: {pos} lines scored")
            {
                bar.set_style(style);
            }
            while !stop.load(Ordering::Relaxed) {
                bar.set_position(shared.metrics.lines_scored());
                std::thread::sleep(Duration::from_millis(200));
            }
            bar.finish_and_clear();
        });
        Self {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads `--alerts`, refusing a config that would send nothing.
fn load_alerts(path: &Path) -> Result<AlertConfig> {
    let cfg = AlertConfig::load(path)?;
    if !cfg.has_notifiers() && cfg.incidents.is_none() {
        bail!(
            "{}: no notifier configured ([slack], [discord], [teams], [alertmanager] or [webhook]) and no [incidents]",
            path.display()
        );
    }
    Ok(cfg)
}

/// Plays the file through the alert policy on log time; failed deliveries and incident
/// writes fail the run.
fn replay_alerts(
    file: &Path,
    model: &Arc<Model>,
    run_opts: &RunOptions,
    cfg: &AlertConfig,
) -> Result<ExitCode> {
    let lines = alert::scored_in_time_order(run_opts.file(file), Arc::clone(model), run_opts)?;
    let threshold = run_opts.threshold.unwrap_or(model.threshold);
    let run_on = cfg.policy.resolve_for + Duration::from_secs(120);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        let alerter = Alerter::new(cfg)?;
        Ok::<_, alert::AlertError>(alert::play(&lines, model, threshold, alerter, run_on).await)
    })?;
    eprintln!(
        "alerts: {} messages over {} minutes of log time ({} pod alerts grouped, {} held back)",
        summary.messages, summary.minutes, summary.policy.grouped, summary.policy.held_back
    );
    let mut failed = 0;
    for n in &summary.notifiers {
        let s = n.stats;
        eprintln!(
            "  {:<12} sent {}, failed {}, retried {}",
            n.name, s.sent, s.failed, s.retried
        );
        failed += s.failed;
    }
    if let Some(t) = summary.incidents {
        eprintln!(
            "  incidents    written {}, dropped {}, retried {}, failed {}",
            t.written, t.dropped, t.retried, t.failed
        );
        failed += t.dropped + t.failed;
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
