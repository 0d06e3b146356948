//! `logcli query --output=jsonl`: one `{"labels":{...},"line":"...","timestamp":"..."}` a line.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::sync::Arc;

use serde::Deserialize;

use super::text::{drop_partial_char, read_line_bounded};
use super::{Context, ReadError, ReadStats, Sink};
use crate::event::{LogLine, Stream};

/// A record longer than this is bad input, not a log line.
const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// One logcli record; unknown fields are ignored, as logcli may add some.
#[derive(Deserialize)]
struct Record {
    labels: BTreeMap<String, String>,
    line: String,
    timestamp: Timestamp,
}

/// logcli writes RFC 3339; Loki-style nanosecond strings and integers are accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Timestamp {
    Int(i64),
    Str(String),
}

/// Reads JSONL records, interning their label sets.
pub(super) fn read<R: BufRead>(
    mut input: R,
    ctx: &Context<'_>,
    sink: &mut Sink<'_>,
) -> Result<ReadStats, ReadError> {
    let mut stats = ReadStats::default();
    let mut streams: HashMap<BTreeMap<String, String>, Arc<Stream>> = HashMap::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        let len = read_line_bounded(&mut input, &mut buf, MAX_RECORD_BYTES).map_err(|source| {
            ReadError::Io {
                path: ctx.path.clone(),
                source,
            }
        })?;
        let Some(len) = len else { break };
        line_no += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            stats.empty += 1;
            continue;
        }
        let record = if len > MAX_RECORD_BYTES {
            drop_partial_char(&mut buf);
            Err(format!("record is longer than {MAX_RECORD_BYTES} bytes"))
        } else {
            parse(&buf)
        };
        let (labels, mut line, ts_ns) = match record {
            Ok(r) => r,
            Err(what) => {
                let path = ctx.path.clone();
                let err = ReadError::Record {
                    path,
                    line: line_no,
                    what,
                };
                ctx.invalid(&mut stats, err)?;
                continue;
            }
        };
        let stream = streams
            .entry(labels)
            .or_insert_with_key(|l| Arc::new(Stream::from_labels(l.clone(), &ctx.opts.labels)));
        ctx.clip(&mut line, &mut stats);
        stats.lines += 1;
        let log = LogLine {
            ts_ns,
            stream: Arc::clone(stream),
            line,
        };
        sink(log).map_err(ReadError::Sink)?;
    }
    Ok(stats)
}

type Parsed = (BTreeMap<String, String>, String, i64);

fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let r: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let ts = match r.timestamp {
        Timestamp::Int(n) => Some(n),
        Timestamp::Str(s) => parse_timestamp(&s),
    };
    let ts = ts.ok_or("timestamp is neither RFC 3339 nor Unix nanoseconds")?;
    Ok((r.labels, r.line, ts))
}

/// Parses RFC 3339 (as logcli prints) or a decimal string of Unix nanoseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_with_offsets_and_nanoseconds() {
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.000000123+01:00"),
            Some(1_700_000_000_000_000_123)
        );
        assert_eq!(
            parse_timestamp("1700000000000000000"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
