//! Readers: turn files of log lines into a stream of [`LogLine`]s.
//!
//! Three formats are understood: a Loki `query_range` response (what the bundled sample
//! is), `logcli query --output=jsonl` lines, and plain text. Every reader streams: memory
//! stays flat whatever the file size. A bad record is an error naming the file and the
//! place; with [`ReadOptions::skip_invalid`] it is counted and skipped instead.

mod error;
mod jsonl;
mod loki;
mod text;

pub use error::{ReadError, SinkError};
pub use jsonl::parse_timestamp;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::event::{LabelNames, LogLine};

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Sniff the first bytes of the input.
    Auto,
    /// A Loki `query_range` JSON response (`resultType: streams`).
    Loki,
    /// `logcli query --output=jsonl`: one `{"labels","line","timestamp"}` object a line.
    Jsonl,
    /// Plain text, one log line a line.
    Text,
}

/// How to read an input.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The input format, or `Auto` to sniff it.
    pub format: Format,
    /// Count and skip bad records instead of stopping at the first one.
    pub skip_invalid: bool,
    /// Lines longer than this are truncated (at a character boundary) before scoring.
    pub max_line_bytes: usize,
    /// Which labels name the namespace, pod and container.
    pub labels: LabelNames,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            format: Format::Auto,
            skip_invalid: false,
            max_line_bytes: 16 * 1024,
            labels: LabelNames::default(),
        }
    }
}

/// What a reader saw, for the run report: nothing is dropped without being counted here.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    /// Lines handed to the pipeline.
    pub lines: u64,
    /// Bad records skipped (only with `skip_invalid`).
    pub skipped: u64,
    /// Lines cut to `max_line_bytes`.
    pub truncated: u64,
    /// Plain-text lines whose invalid UTF-8 bytes were replaced by U+FFFD.
    pub repaired_utf8: u64,
    /// Empty lines of plain-text input, which carry nothing to score.
    pub empty: u64,
}

/// Where a line goes once read; returning an error stops the reader.
pub type Sink<'a> = dyn FnMut(LogLine) -> Result<(), SinkError> + 'a;

/// Reads the file at `path` (or standard input for `-`) and hands every line to `sink`.
pub fn read_path(
    path: &Path,
    opts: &ReadOptions,
    sink: &mut Sink<'_>,
) -> Result<ReadStats, ReadError> {
    if path == Path::new("-") {
        // lines typed or piped in are stamped when they arrive, not "0"
        return read_from(io::stdin().lock(), path, opts, true, sink);
    }
    let file = File::open(path).map_err(|source| ReadError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    read(file, path, opts, sink)
}

/// Reads from any byte source; `path` only names it in errors.
pub fn read<R: Read>(
    input: R,
    path: &Path,
    opts: &ReadOptions,
    sink: &mut Sink<'_>,
) -> Result<ReadStats, ReadError> {
    read_from(input, path, opts, false, sink)
}

/// [`read`]; with `arrival`, plain-text lines (which carry no time) get the time they were
/// read as their timestamp instead of 0.
fn read_from<R: Read>(
    input: R,
    path: &Path,
    opts: &ReadOptions,
    arrival: bool,
    sink: &mut Sink<'_>,
) -> Result<ReadStats, ReadError> {
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let format = match opts.format {
        Format::Auto => sniff(&mut input, path)?,
        f => f,
    };
    let ctx = Context {
        path: path.to_path_buf(),
        opts,
        arrival,
    };
    match format {
        Format::Loki => loki::read(input, &ctx, sink),
        Format::Jsonl => jsonl::read(input, &ctx, sink),
        Format::Text | Format::Auto => text::read(input, &ctx, sink),
    }
}

/// What every reader needs to know besides the bytes.
struct Context<'a> {
    path: PathBuf,
    opts: &'a ReadOptions,
    /// Stamp plain-text lines with the time they were read (standard input).
    arrival: bool,
}

impl Context<'_> {
    /// Reports a bad record: an error, or with `skip_invalid` a counted warning.
    fn invalid(&self, stats: &mut ReadStats, err: ReadError) -> Result<(), ReadError> {
        if !self.opts.skip_invalid {
            return Err(err);
        }
        stats.skipped += 1;
        if stats.skipped <= 10 {
            tracing::warn!("skipped: {err}");
        } else if stats.skipped == 11 {
            tracing::warn!("more invalid records skipped; only their count is reported");
        }
        Ok(())
    }

    /// Cuts an over-long line and counts it.
    fn clip(&self, line: &mut String, stats: &mut ReadStats) {
        if line.len() > self.opts.max_line_bytes {
            line.truncate(floor_char_boundary(line, self.opts.max_line_bytes));
            stats.truncated += 1;
        }
    }
}

/// The largest index `<= max` that is a char boundary of `s`.
pub(crate) fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// Guesses the format from the first bytes without consuming them: an object
/// whose first key is `data` or `status`, or that names `resultType` or
/// `status` in its first 4 KiB, is a Loki response; other objects are JSONL.
fn sniff<R: Read>(input: &mut BufReader<R>, path: &Path) -> Result<Format, ReadError> {
    let head = input.fill_buf().map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Ok(Format::Text);
    };
    if head[start] != b'{' {
        return Ok(Format::Text);
    }
    let window = &head[start..head.len().min(start + 4096)];
    let has = |needle: &[u8]| window.windows(needle.len()).any(|w| w == needle);
    let first_key = window[1..]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|at| &window[1 + at..]);
    let loki_first = first_key
        .is_some_and(|rest| rest.starts_with(b"\"data\"") || rest.starts_with(b"\"status\""));
    if loki_first || has(b"\"resultType\"") || has(b"\"status\"") {
        Ok(Format::Loki)
    } else {
        Ok(Format::Jsonl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(bytes: &[u8]) -> Format {
        sniff(&mut BufReader::new(bytes), Path::new("t")).unwrap()
    }

    #[test]
    fn sniffs_each_format() {
        assert_eq!(
            sniffed(b"{\"status\":\"success\",\"data\":{}}"),
            Format::Loki
        );
        assert_eq!(
            sniffed(b"\n {\"data\":{\"resultType\":\"streams\"}}"),
            Format::Loki
        );
        assert_eq!(
            sniffed(b"{\"labels\":{},\"line\":\"x\",\"timestamp\":\"t\"}\n"),
            Format::Jsonl
        );
        // Compact output with sorted keys: "status" and "resultType" may sit
        // beyond the window, but a response opens with "data" or "status".
        let long = format!(
            "{{ \"data\":{{\"result\":[{{\"values\":[[\"1\",\"{}\"]]}}]}}}}",
            "x".repeat(8000)
        );
        assert_eq!(sniffed(long.as_bytes()), Format::Loki);
        assert_eq!(sniffed(b"I1114 22:13:20 started"), Format::Text);
        assert_eq!(sniffed(b""), Format::Text);
    }

    #[test]
    fn floor_char_boundary_never_splits_a_char() {
        let s = "aé€";
        assert_eq!(floor_char_boundary(s, 2), 1);
        assert_eq!(floor_char_boundary(s, 3), 3);
        assert_eq!(floor_char_boundary(s, 5), 3);
        assert_eq!(floor_char_boundary(s, 100), s.len());
    }
}
