//! Flag groups shared by several commands (threads, configuration file, Loki access, input,
//! model) and
//! the rule for which file a command reads when none is named.

use std::io;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use loganomaly::input::{Format, ReadOptions};
use loganomaly_model::{Model, TrainParams};

/// The bundled sample, replayed when no file is named.
pub const SAMPLE: &str = "dataset/sample-loki-logs.json";

/// `--threads`, on the commands that score (not on `generate` or `check-config`).
#[derive(Args, Clone, Copy, Default)]
pub struct ThreadsArg {
    /// Worker threads for scoring (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// `--config`, on the commands that read a service configuration.
#[derive(Args)]
pub struct ConfigArgs {
    /// The TOML configuration file (LOGANOMALY_<SECTION>_<KEY> variables override it).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// How to reach a Loki besides its URL: tenant, credentials and CA, on the commands that
/// read Loki (`tail`, `summarize --loki-url`). Secrets come from files or the environment
/// (`LOGANOMALY_LOKI_PASSWORD`, `LOGANOMALY_LOKI_TOKEN`), never from a flag.
#[derive(Args)]
pub struct LokiAccess {
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
}

impl LokiAccess {
    /// The Loki source's settings for `url` with these flags.
    pub fn config(&self, url: &str) -> loganomaly::loki::LokiConfig {
        let mut c = loganomaly::loki::LokiConfig::new(url);
        c.tenant = self.tenant.clone();
        c.username = self.username.clone();
        c.password_file = self.password_file.clone();
        c.token_file = self.token_file.clone();
        c.ca_file = self.ca_file.clone();
        c
    }
}

/// `--format`: the input file formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    /// Sniff the first bytes of the input.
    Auto,
    /// A Loki `query_range` JSON response (`resultType: streams`).
    Loki,
    /// `logcli query --output=jsonl`: one `{"labels","line","timestamp"}` object a line.
    Jsonl,
    /// Plain text, one log line a line.
    Text,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Auto => Format::Auto,
            FormatArg::Loki => Format::Loki,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Text => Format::Text,
        }
    }
}

/// Input options shared by every command that reads logs.
#[derive(Args)]
pub struct InputArgs {
    /// Input format; `auto` sniffs the first bytes.
    #[arg(long, value_enum, default_value = "auto")]
    format: FormatArg,
    /// Count and skip bad records instead of stopping at the first one.
    #[arg(long)]
    skip_invalid: bool,
    /// Lines longer than this many bytes are cut before scoring.
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    max_line_bytes: usize,
}

impl InputArgs {
    /// The reader settings, once the flags are checked.
    pub fn options(&self) -> Result<ReadOptions> {
        if self.max_line_bytes < 64 {
            bail!("--max-line-bytes must be at least 64");
        }
        Ok(ReadOptions {
            format: self.format.into(),
            skip_invalid: self.skip_invalid,
            max_line_bytes: self.max_line_bytes,
            ..ReadOptions::default()
        })
    }
}

/// Model options shared by the scoring commands.
#[derive(Args)]
pub struct ModelArgs {
    /// Model file (default: the model bundled in the binary, trained on the sample).
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Score at or above which a line is anomalous (default: the model's calibrated one).
    #[arg(long, value_name = "SCORE")]
    pub threshold: Option<f32>,
}

impl ModelArgs {
    /// How a file command runs: `input`'s reader settings and this `--threshold`.
    pub fn run_options(&self, input: &InputArgs) -> Result<loganomaly::replay::RunOptions> {
        Ok(loganomaly::replay::RunOptions {
            read: input.options()?,
            threshold: self.threshold,
            ..loganomaly::replay::RunOptions::default()
        })
    }

    /// Loads the model named (or the bundled one) and says where it came from; checks
    /// `--threshold` first.
    pub fn load(&self) -> Result<(Model, String)> {
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

/// Model settings shared by `train` and `evaluate`: threshold calibration and sessions.
#[derive(Args)]
pub struct LearnArgs {
    /// Share of the lines learnt from, the latest, held out to calibrate the threshold on
    /// later lines (0 = off: leave-one-out only).
    #[arg(long, default_value_t = TrainParams::default().calibration, value_name = "SHARE")]
    pub calibration: f64,
    /// A regular expression naming the session of a line (e.g. `blk_-?\d+` for HDFS
    /// blocks, or `request_id=(\S+)`: its first group, else its whole match): the model
    /// also learns how sessions are made (their mix of templates and line scores) and
    /// scores each session, not only each line.
    #[arg(long, value_name = "REGEX")]
    pub session_key: Option<String>,
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
pub fn input_file(file: Option<PathBuf>) -> PathBuf {
    match file {
        Some(f) => f,
        None if stdin_is_piped() => PathBuf::from("-"),
        None => PathBuf::from(SAMPLE),
    }
}
