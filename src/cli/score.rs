//! `loganomaly score`: prints one JSON object per input line with its score (and the
//! tokens behind it), then one per session when the model scores sessions, for other
//! tools to read.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use clap::Args;

use loganomaly::event::ScoredLine;
use loganomaly::replay;

use super::args::{input_file, InputArgs, ModelArgs, ThreadsArg};

/// Options of `loganomaly score`.
#[derive(Args)]
pub struct ScoreArgs {
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
    pub threads: ThreadsArg,
}

/// One line of `loganomaly score` (and `tail`) output.
#[derive(serde::Serialize)]
pub struct ScoreRecord<'a> {
    /// Log time in Unix nanoseconds, as a string: JSON numbers lose precision past 2^53.
    pub ts: String,
    /// The stream's labels, so that a reader can tell pods apart.
    pub labels: &'a std::collections::BTreeMap<String, String>,
    /// The line's anomaly score in (0, 1].
    pub score: f32,
    /// Whether the score reaches the threshold.
    pub anomalous: bool,
    /// The tokens that weigh most in the score (empty with `--explain 0`).
    pub tokens: Vec<loganomaly_model::TokenWeight>,
    /// The line as scored.
    pub line: &'a str,
}

/// A scored session as `score` prints it, after the lines: `{"session": {...}}`.
#[derive(serde::Serialize)]
struct SessionRecord {
    /// The session's key, score and verdict.
    session: loganomaly_model::ScoredSession,
}

/// Scores the file and prints a record per line, then per session; a reader that goes
/// away (a closed pipe) ends the run quietly.
pub fn run(a: ScoreArgs) -> Result<ExitCode> {
    let file = input_file(a.file.clone());
    let model = Arc::new(a.model.load()?.0);
    let run_opts = a.model.run_options(&a.input)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut sessions = loganomaly_model::Sessions::for_model(&model)?;
    let summary = replay::run(&file, Arc::clone(&model), &run_opts, |s: ScoredLine| {
        if let Some(sessions) = &mut sessions {
            sessions.add(&s.log.line, s.score, s.log.ts_ns);
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

/// Whether writing failed because the reader closed the pipe (`score | head`).
fn is_broken_pipe(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    if let Some(io) = e.downcast_ref::<io::Error>() {
        return io.kind() == io::ErrorKind::BrokenPipe;
    }
    e.downcast_ref::<serde_json::Error>()
        .and_then(serde_json::Error::io_error_kind)
        == Some(io::ErrorKind::BrokenPipe)
}
