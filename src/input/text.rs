//! Plain text: one log line per line; bounded line reading shared with the JSONL reader.

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::sync::Arc;

use super::{Context, ReadError, ReadStats, Sink};
use crate::event::{now_ns, LogLine, Stream};

/// Reads plain text; the whole file is one stream named after the file.
pub(super) fn read<R: BufRead>(
    mut input: R,
    ctx: &Context<'_>,
    sink: &mut Sink<'_>,
) -> Result<ReadStats, ReadError> {
    let name = ctx.path.display().to_string();
    let labels = BTreeMap::from([("filename".to_string(), name.clone())]);
    let stream = Arc::new(Stream {
        namespace: String::new(),
        pod: name,
        container: String::new(),
        labels,
    });
    let mut stats = ReadStats::default();
    let mut buf = Vec::new();
    let max = ctx.opts.max_line_bytes;
    while let Some(len) =
        read_line_bounded(&mut input, &mut buf, max).map_err(|source| ReadError::Io {
            path: ctx.path.clone(),
            source,
        })?
    {
        if len == 0 {
            stats.empty += 1;
            continue;
        }
        if len > max {
            stats.truncated += 1;
            drop_partial_char(&mut buf);
        }
        let line = match String::from_utf8(std::mem::take(&mut buf)) {
            Ok(s) => s,
            Err(e) => {
                stats.repaired_utf8 += 1;
                // each bad byte becomes a 3-byte U+FFFD: the repaired line is cut again
                let mut repaired = String::from_utf8_lossy(e.as_bytes()).into_owned();
                if repaired.len() > max {
                    repaired.truncate(super::floor_char_boundary(&repaired, max));
                    stats.truncated += u64::from(len <= max);
                }
                repaired
            }
        };
        stats.lines += 1;
        let log = LogLine {
            ts_ns: if ctx.arrival { now_ns() } else { 0 },
            stream: Arc::clone(&stream),
            line,
        };
        sink(log).map_err(ReadError::Sink)?;
    }
    Ok(stats)
}

/// Reads one line into `buf` without its `\n` (or `\r\n`), keeping at most `max` bytes
/// and discarding the rest. Returns the line's full length, or `None` at end of input.
pub(super) fn read_line_bounded<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    buf.clear();
    let mut total = 0usize;
    let mut seen_any = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        seen_any = true;
        let (part, used, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], i + 1, true),
            None => (chunk, chunk.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&part[..part.len().min(room)]);
        total += part.len();
        input.consume(used);
        if done {
            break;
        }
    }
    if !seen_any {
        return Ok(None);
    }
    if buf.last() == Some(&b'\r') && total <= max {
        buf.pop();
        total -= 1;
    }
    Ok(Some(total))
}

/// After a cut at a byte limit, drops a trailing incomplete UTF-8 sequence.
pub(super) fn drop_partial_char(buf: &mut Vec<u8>) {
    if let Err(e) = std::str::from_utf8(buf) {
        if e.error_len().is_none() {
            buf.truncate(e.valid_up_to());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(Vec<u8>, usize)> {
        let mut r = io::BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(n) = read_line_bounded(&mut r, &mut buf, max).unwrap() {
            out.push((buf.clone(), n));
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let got = lines(b"ab\r\ncd\n\nlast", 100);
        let want: Vec<(Vec<u8>, usize)> = vec![
            (b"ab".to_vec(), 2),
            (b"cd".to_vec(), 2),
            (vec![], 0),
            (b"last".to_vec(), 4),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn keeps_only_max_bytes_but_reports_full_length() {
        let got = lines(b"0123456789\nxy\n", 4);
        assert_eq!(got[0], (b"0123".to_vec(), 10));
        assert_eq!(got[1], (b"xy".to_vec(), 2));
    }

    #[test]
    fn drops_a_cut_multibyte_char() {
        let mut buf = "aé".as_bytes()[..2].to_vec();
        drop_partial_char(&mut buf);
        assert_eq!(buf, b"a");
    }
}
