//! The `loganomaly` command line: parse arguments, call the library, report errors.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use loganomaly::aggregate::PodWindows;
use loganomaly::alert::{self, AlertConfig, Alerter};
use loganomaly::evaluate::{self, recorded};
use loganomaly::event::ScoredLine;
use loganomaly::input::{self, Format, ReadOptions};
use loganomaly::loki;
use loganomaly::pipeline::{self, Scorer, Source};
use loganomaly::replay::{self, ReportOptions, RunOptions};
use loganomaly_model::{Model, TrainParams, Trainer};

/// The bundled sample, replayed when no file is named.
const SAMPLE: &str = "dataset/sample-loki-logs.json";

/// Finds the pods of a Kubernetes cluster that started logging something abnormal.
///
/// Lines are normalised (timestamps, IPs, ids, numbers masked), turned into TF-IDF
/// features and scored by an isolation forest; scores are aggregated per pod.
#[derive(Parser)]
#[command(name = "loganomaly", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--threads`, on the commands that score (not on `generate` or `check-config`).
#[derive(Args, Clone, Copy)]
struct ThreadsArg {
    /// Worker threads for scoring (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Options of `loganomaly serve`.
#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    threads: ThreadsArg,
}

#[derive(Subcommand)]
enum Command {
    /// Stream a log file through the pipeline and report the most anomalous pods.
    Replay(ReplayArgs),
    /// Print one JSON object per input line with its score, for other tools.
    Score(ScoreArgs),
    /// Learn a model from a log file.
    Train(TrainArgs),
    /// Write a synthetic Kubernetes log file with labelled incidents.
    Generate(GenerateArgs),
    /// Run the service: read Loki, export per-pod scores on /metrics, serve /api/v1/pods.
    Serve(ServeArgs),
    /// Check a service configuration as `serve` would (sections, secrets, URLs, patterns,
    /// model file) and print the effective one with every default (secrets redacted).
    CheckConfig(ConfigArgs),
    /// Read live from Loki and print one JSON object per line with its score, like `score`.
    Tail(TailArgs),
    /// Measure detection quality on a labelled data set: learn from the older part, score
    /// the rest, print precision, recall, F1, ROC-AUC and PR-AUC per labelled unit.
    Evaluate(EvaluateArgs),
    /// Measure replay throughput and peak memory on a generated file (and the Python baseline).
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
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
    threads: ThreadsArg,
}

#[derive(Args)]
struct ConfigArgs {
    /// The TOML configuration file (LOGANOMALY_<SECTION>_<KEY> variables override it).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Input options shared by every command that reads logs.
#[derive(Args)]
struct InputArgs {
    /// Input format; `auto` sniffs the first bytes.
    #[arg(long, value_enum, default_value = "auto")]
    format: Format,
    /// Count and skip bad records instead of stopping at the first one.
    #[arg(long)]
    skip_invalid: bool,
    /// Lines longer than this many bytes are cut before scoring.
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    max_line_bytes: usize,
}

impl InputArgs {
    fn options(&self) -> Result<ReadOptions> {
        if self.max_line_bytes < 64 {
            bail!("--max-line-bytes must be at least 64");
        }
        Ok(ReadOptions {
            format: self.format,
            skip_invalid: self.skip_invalid,
            max_line_bytes: self.max_line_bytes,
            ..ReadOptions::default()
        })
    }
}

/// Model options shared by the scoring commands.
#[derive(Args)]
struct ModelArgs {
    /// Model file (default: the model bundled in the binary, trained on the sample).
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Score at or above which a line is anomalous (default: the model's calibrated one).
    #[arg(long, value_name = "SCORE")]
    threshold: Option<f32>,
}

impl ModelArgs {
    fn load(&self) -> Result<(Model, String)> {
        if let Some(t) = self.threshold {
            if !(t > 0.0 && t <= 1.0) {
                bail!("--threshold must be in (0, 1], got {t}");
            }
        }
        match &self.model {
            Some(path) => Ok((Model::load(path)?, path.display().to_string())),
            None => Ok((loganomaly::bundled::model()?, "bundled".to_string())),
        }
    }
}

#[derive(Args)]
struct ReplayArgs {
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
    /// send to the configured notifiers, flushing them before exit.
    #[arg(long, value_name = "PATH")]
    alerts: Option<PathBuf>,
    #[command(flatten)]
    threads: ThreadsArg,
}

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

#[derive(Args)]
struct ScoreArgs {
    /// Log file (`-` for stdin). Default: standard input when it is piped or redirected,
    /// else the bundled sample (dataset/sample-loki-logs.json). Plain-text lines read from
    /// stdin get their arrival time.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Tokens listed per line as its explanation (0 = none, faster).
    #[arg(long, default_value_t = 3, value_name = "N")]
    explain: usize,
    #[command(flatten)]
    threads: ThreadsArg,
}

#[derive(Args)]
struct TrainArgs {
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
    /// Share of the lines learnt from, the latest, held out to calibrate the threshold on
    /// later lines (0 = off: leave-one-out only).
    #[arg(long, default_value_t = TrainParams::default().calibration, value_name = "SHARE")]
    calibration: f64,
    /// A regular expression naming the session of a line (e.g. `blk_-?\d+` for HDFS
    /// blocks, or `request_id=(\S+)`: its first group, else its whole match): the model
    /// also learns how sessions are made (their mix of templates and line scores) and
    /// scores each session, not only each line.
    #[arg(long, value_name = "REGEX")]
    session_key: Option<String>,
    /// Learn only from lines before this time (RFC 3339 or Unix nanoseconds), e.g. the end
    /// of a period known to be healthy.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<i64>,
    #[command(flatten)]
    threads: ThreadsArg,
}

fn parse_time(s: &str) -> Result<i64, String> {
    input::parse_timestamp(s)
        .ok_or_else(|| format!("{s:?} is neither RFC 3339 nor Unix nanoseconds"))
}

/// `evaluate --split`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    /// The oldest lines train, the rest is scored.
    Time,
    /// A seeded random share of the units trains.
    Uniform,
}

#[derive(Args)]
struct EvaluateArgs {
    /// The labelled data set.
    #[arg(value_enum)]
    dataset: evaluate::DatasetName,
    /// Folder of the shared data sets (bgl/, hdfs/, k8s-nezha/).
    #[arg(long, default_value = "../shared/datasets", value_name = "DIR")]
    data_dir: PathBuf,
    /// Training mode; both by default.
    #[arg(long, value_enum)]
    mode: Option<evaluate::Mode>,
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
    /// Share of the lines learnt from, the latest, held out to calibrate the threshold on
    /// later lines (0 = off: leave-one-out only).
    #[arg(long, default_value_t = TrainParams::default().calibration, value_name = "SHARE")]
    calibration: f64,
    /// A regular expression naming the session of a line (e.g. `blk_-?\d+` for HDFS
    /// blocks, or `request_id=(\S+)`: its first group, else its whole match): the model
    /// also learns how sessions are made (their mix of templates and line scores) and
    /// scores each session, not only each line.
    #[arg(long, value_name = "REGEX")]
    session_key: Option<String>,
    /// Longest burst window of a quiet pod, in minutes, for nezha (`[pods]
    /// window_max_minutes`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    window_max_minutes: u32,
    /// Judge each pod against its own learnt anomalous rate, for nezha (`[pods] learn_rate`).
    #[arg(long)]
    learn_rate: bool,
    #[command(flatten)]
    threads: ThreadsArg,
}

#[derive(Args)]
struct GenerateArgs {
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

/// Options of `loganomaly tail`. Secrets come from `--password-file`/`--token-file` or the
/// environment (`LOGANOMALY_LOKI_PASSWORD`, `LOGANOMALY_LOKI_TOKEN`), never from a flag.
#[derive(Args)]
struct TailArgs {
    /// Loki base URL, e.g. `http://loki.monitoring:3100`.
    #[arg(long, value_name = "URL")]
    loki_url: String,
    /// LogQL stream selector; repeat for several [default: {namespace=~".+"}].
    #[arg(long = "selector", value_name = "LOGQL")]
    selectors: Vec<String>,
    /// `poll`: complete, a few seconds behind; `tail`: sub-second, reconciled by polling.
    #[arg(long, value_enum, default_value = "poll")]
    mode: loki::Mode,
    /// History to read first, e.g. `15m`.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    backfill: Duration,
    /// Keep only shard I of N of the streams (by label-set hash), e.g. `0/3`.
    #[arg(long, value_name = "I/N")]
    shard: Option<loki::Shard>,
    /// Tenant (`X-Scope-OrgID`).
    #[arg(long)]
    tenant: Option<String>,
    /// Basic-auth user; the password comes from --password-file or LOGANOMALY_LOKI_PASSWORD.
    #[arg(long)]
    username: Option<String>,
    /// File holding the basic-auth password.
    #[arg(long, value_name = "PATH")]
    password_file: Option<PathBuf>,
    /// File holding a bearer token (else LOGANOMALY_LOKI_TOKEN, if set).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// PEM file of extra CA certificates for https.
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// How far the complete window trails now [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    settle: Option<Duration>,
    /// Stop after this many lines (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0, value_name = "N")]
    max_lines: u64,
    #[command(flatten)]
    model: ModelArgs,
    /// Tokens listed per line as its explanation (0 = none).
    #[arg(long, default_value_t = 3, value_name = "N")]
    explain: usize,
    #[command(flatten)]
    threads: ThreadsArg,
}

impl TailArgs {
    fn config(&self) -> loki::LokiConfig {
        let mut c = loki::LokiConfig::new(&self.loki_url);
        if !self.selectors.is_empty() {
            c.selectors = self.selectors.clone();
        }
        c.mode = self.mode;
        c.backfill = self.backfill;
        c.shard = self.shard.unwrap_or_default();
        c.tenant = self.tenant.clone();
        c.username = self.username.clone();
        c.password_file = self.password_file.clone();
        c.token_file = self.token_file.clone();
        c.ca_file = self.ca_file.clone();
        if let Some(s) = self.settle {
            c.settle = s;
        }
        c
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let threads = match &cli.command {
        Command::Replay(a) => a.threads,
        Command::Bench(a) => a.threads,
        Command::Score(a) => a.threads,
        Command::Train(a) => a.threads,
        Command::Serve(a) => a.threads,
        Command::Tail(a) => a.threads,
        Command::Evaluate(a) => a.threads,
        Command::Generate(_) | Command::CheckConfig(_) => ThreadsArg { threads: None },
    }
    .threads;
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("--threads")?;
    }
    match cli.command {
        Command::Replay(a) => replay_cmd(a),
        Command::Bench(a) => bench_cmd(a, threads),
        Command::Score(a) => score_cmd(a),
        Command::Train(a) => train_cmd(a),
        Command::Generate(a) => generate_cmd(a),
        Command::CheckConfig(a) => check_config_cmd(a),
        Command::Serve(a) => serve_cmd(a.config),
        Command::Tail(a) => tail_cmd(a),
        Command::Evaluate(a) => evaluate_cmd(a),
    }
}

fn evaluate_cmd(a: EvaluateArgs) -> Result<ExitCode> {
    if a.dataset == evaluate::DatasetName::Loghub {
        return grouping_cmd(&a);
    }
    let corpus = a
        .dataset
        .load(&a.data_dir, Path::new(SAMPLE))
        .with_context(|| format!("cannot read the {} data set", a.dataset.key()))?;
    let opts = evaluate::Options {
        train_fraction: a
            .train_fraction
            .unwrap_or(a.dataset.default_train_fraction()),
        split: match a.split {
            SplitArg::Time => evaluate::Split::Time,
            SplitArg::Uniform => evaluate::Split::Uniform,
        },
        params: TrainParams {
            seed: a.seed,
            contamination: a.contamination,
            info_weight: a.info_weight,
            known_weight: a.known_weight,
            calibration: a.calibration,
            session_key: a.session_key.clone(),
            ..TrainParams::default()
        },
        show_top: a.show_top,
        windows: PodWindows {
            max_minutes: a.window_max_minutes,
            learn_rate: a.learn_rate,
        },
    };
    let modes = match a.mode {
        Some(m) => vec![m],
        None => vec![evaluate::Mode::Clean, evaluate::Mode::Unsupervised],
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
    if let Some(path) = &a.record {
        let mut table = recorded::load(path)?;
        for e in &results {
            recorded::record(
                &mut table,
                &record_key(&a),
                e.mode.key(),
                &recorded::figures(e),
            );
        }
        recorded::save(path, &table)?;
    }
    let measured: Vec<_> = results
        .iter()
        .map(|e| (e.mode.key(), recorded::figures(e)))
        .collect();
    check_recorded(&a, &measured)
}

/// `evaluate loghub`: grouping accuracy of the templates, per system and mean.
fn grouping_cmd(a: &EvaluateArgs) -> Result<ExitCode> {
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
    if let Some(path) = &a.record {
        let mut table = recorded::load(path)?;
        for (mode, figures) in &measured {
            recorded::record(&mut table, &record_key(a), mode, figures);
        }
        recorded::save(path, &table)?;
    }
    check_recorded(a, &measured)
}

/// The data set's key in the recorded-figures file: a uniform split is recorded apart.
fn record_key(a: &EvaluateArgs) -> String {
    match a.split {
        SplitArg::Time => a.dataset.key().to_string(),
        SplitArg::Uniform => format!("{}_uniform", a.dataset.key()),
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

/// Whether standard input is piped or redirected from a file (not a terminal, not
/// `/dev/null`, not closed): then a command given no file reads it.
fn stdin_is_piped() -> bool {
    use std::io::IsTerminal;
    if io::stdin().is_terminal() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata("/dev/stdin").is_ok_and(|m| m.file_type().is_fifo() || m.is_file())
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// The file a command reads: the one named, else piped standard input, else the sample.
fn input_file(file: Option<PathBuf>) -> PathBuf {
    match file {
        Some(f) => f,
        None if stdin_is_piped() => PathBuf::from("-"),
        None => PathBuf::from(SAMPLE),
    }
}

fn replay_cmd(mut a: ReplayArgs) -> Result<ExitCode> {
    let file = input_file(a.file.take());
    if let Some(listen) = a.listen {
        return replay_listen(a, &file, listen);
    }
    let (model, origin) = a.model.load()?;
    let model = Arc::new(model);
    let run_opts = RunOptions {
        read: a.input.options()?,
        threshold: a.model.threshold,
        ..RunOptions::default()
    };
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
    if a.json {
        serde_json::to_writer_pretty(io::stdout().lock(), &report)?;
        println!();
    } else {
        print!("{report}");
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

fn replay_listen(a: ReplayArgs, file: &Path, listen: std::net::SocketAddr) -> Result<ExitCode> {
    use loganomaly::serve::{self, replay::ReplayServe, StageConfig};
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
    let summary = runtime.block_on(serve::replay::run(
        opts,
        model,
        &origin,
        serve::shutdown_signal(),
        |s| {
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

fn load_alerts(path: &Path) -> Result<AlertConfig> {
    let cfg = AlertConfig::load(path)?;
    if !cfg.has_notifiers() {
        bail!(
            "{}: no notifier configured ([slack], [alertmanager] or [webhook])",
            path.display()
        );
    }
    Ok(cfg)
}

/// Plays the file through the alert policy on log time; failed deliveries fail the run.
fn replay_alerts(
    file: &Path,
    model: &Arc<Model>,
    run_opts: &RunOptions,
    cfg: &AlertConfig,
) -> Result<ExitCode> {
    let lines = alert::scored_in_time_order(file, Arc::clone(model), run_opts)?;
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
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One line of `loganomaly score` output.
#[derive(serde::Serialize)]
struct ScoreRecord<'a> {
    ts: String,
    labels: &'a std::collections::BTreeMap<String, String>,
    score: f32,
    anomalous: bool,
    tokens: Vec<loganomaly_model::TokenWeight>,
    line: &'a str,
}

/// A scored session as `score` prints it, after the lines: `{"session": {...}}`.
#[derive(serde::Serialize)]
struct SessionRecord {
    session: loganomaly_model::ScoredSession,
}

fn score_cmd(a: ScoreArgs) -> Result<ExitCode> {
    let file = input_file(a.file.clone());
    let model = Arc::new(a.model.load()?.0);
    let run_opts = RunOptions {
        read: a.input.options()?,
        threshold: a.model.threshold,
        ..RunOptions::default()
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut sessions = loganomaly_model::Sessions::for_model(&model)?;
    let summary = replay::run(&file, Arc::clone(&model), &run_opts, |s: ScoredLine| {
        if let Some(sessions) = &mut sessions {
            sessions.add(&s.log.line, s.score);
        }
        let record = ScoreRecord {
            ts: s.log.ts_ns.to_string(),
            labels: &s.log.stream.labels,
            score: s.score,
            anomalous: s.anomalous,
            tokens: if a.explain > 0 {
                model.explain(&s.log.line, a.explain)
            } else {
                Vec::new()
            },
            line: &s.log.line,
        };
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
        Ok(())
    });
    let summary = match summary {
        Ok(s) => s,
        Err(e) if is_broken_pipe(e.as_ref()) => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(anyhow::anyhow!(e)),
    };
    if let (Some(sessions), Some(session_model)) = (sessions, &model.session) {
        for s in sessions.finish(session_model)? {
            serde_json::to_writer(&mut out, &SessionRecord { session: s })?;
            out.write_all(b"\n")?;
        }
    }
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        r => r?,
    }
    if let Some(e) = summary.error {
        bail!(
            "{e} (the {} lines before it were scored)",
            summary.read.lines
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn is_broken_pipe(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    if let Some(io) = e.downcast_ref::<io::Error>() {
        return io.kind() == io::ErrorKind::BrokenPipe;
    }
    e.downcast_ref::<serde_json::Error>()
        .and_then(serde_json::Error::io_error_kind)
        == Some(io::ErrorKind::BrokenPipe)
}

fn train_cmd(a: TrainArgs) -> Result<ExitCode> {
    let params = TrainParams {
        contamination: a.contamination,
        trees: a.trees,
        subsample: a.subsample,
        seed: a.seed,
        min_df: a.min_df,
        info_weight: a.info_weight,
        known_weight: a.known_weight,
        calibration: a.calibration,
        session_key: a.session_key,
        ..TrainParams::default()
    };
    let mut trainer = Trainer::new(params)?;
    let start = Instant::now();
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
    Ok(ExitCode::SUCCESS)
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} training: {pos} lines ({per_sec}) {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn serve_cmd(a: ConfigArgs) -> Result<ExitCode> {
    use loganomaly::config::ServiceConfig;
    use loganomaly::serve::{self, service, Shared};
    let config = ServiceConfig::load(a.config.as_deref())?;
    config.check_for_serve()?;
    let Some(loki) = config.loki.clone() else {
        bail!("serve needs a [loki] section with at least `url` (see examples/loganomaly.toml)");
    };
    let shared = Arc::new(Shared::default());
    match serve_model(&config)? {
        Some((model, name)) => shared.set_model(Arc::new(model), &name),
        None => eprintln!(
            "no model file: training one on the first {} lines",
            config.model.initial_training_lines
        ),
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut stage = config.stage()?;
        let alerts = start_alerts(config.alerting.as_ref(), &shared, &mut stage)?;
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        eprintln!(
            "serving http://{}/metrics; reading {}",
            config.server.listen, loki.url
        );
        service::run(
            listener,
            Arc::clone(&shared),
            stage,
            config.server.drain_timeout,
            move |ctx| service::loki_source(loki, ctx),
            serve::shutdown_signal(),
        )
        .await?;
        if let Some((task, deadline)) = alerts {
            // the stage has ended, so the alert task flushes its outboxes and returns
            let _ = tokio::time::timeout(deadline, task).await;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the alert task of `serve` when `[alerting]` names a notifier, and connects the
/// scoring stage to it; returns the task and how long to wait for it to flush on exit.
fn start_alerts(
    cfg: Option<&AlertConfig>,
    shared: &Arc<loganomaly::serve::Shared>,
    stage: &mut loganomaly::serve::StageConfig,
) -> Result<Option<(tokio::task::JoinHandle<()>, Duration)>> {
    let Some(cfg) = cfg.filter(|c| c.has_notifiers()) else {
        return Ok(None);
    };
    let alerter = Alerter::new(cfg)?;
    let (tx, rx) = tokio::sync::mpsc::channel(ALERT_BATCHES);
    stage.alerts = Some(tx);
    let task = tokio::spawn(loganomaly::serve::service::alert_task(
        alerter,
        rx,
        Arc::clone(shared),
    ));
    Ok(Some((
        task,
        cfg.delivery.drain_deadline + Duration::from_secs(1),
    )))
}

/// Minutes of pod observations queued for the alert task before the stage waits.
const ALERT_BATCHES: usize = 64;

/// The model `serve` starts with (and its name), `None` when it trains one first.
fn serve_model(config: &loganomaly::config::ServiceConfig) -> Result<Option<(Model, String)>> {
    Ok(match (&config.model.path, config.model.use_bundled) {
        (Some(path), _) => Some((Model::load(path)?, path.display().to_string())),
        (None, true) => Some((loganomaly::bundled::model()?, "bundled".to_string())),
        (None, false) => None,
    })
}

fn check_config_cmd(a: ConfigArgs) -> Result<ExitCode> {
    let config = loganomaly::config::ServiceConfig::load(a.config.as_deref())?;
    // the same checks serve makes before it starts
    config.check_for_serve()?;
    serve_model(&config)?;
    print!("{}", config.to_toml());
    Ok(ExitCode::SUCCESS)
}

fn bench_cmd(a: BenchArgs, threads: Option<usize>) -> Result<ExitCode> {
    let opts = loganomaly::bench::BenchOptions {
        exe: std::env::current_exe().context("locating this binary")?,
        lines: a.lines,
        seed: a.seed,
        runs: a.runs,
        file: a.file,
        python: a.python,
        baseline: a.baseline,
        threads,
    };
    loganomaly::bench::run(&opts, &mut io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

fn generate_cmd(a: GenerateArgs) -> Result<ExitCode> {
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

fn tail_cmd(a: TailArgs) -> Result<ExitCode> {
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
    model: Arc<Model>,
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
