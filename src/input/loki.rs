//! Streaming reader for Loki `query_range` responses.
//!
//! The response is one JSON document that can hold millions of entries. It is read in
//! large blocks and walked by a small parser that knows the shape of a response, handing
//! each `[timestamp, line]` entry to the sink as soon as it is parsed: nothing but one
//! block and the current entry is held in memory. (serde_json's streaming reader takes its
//! input one byte at a time through `io::Bytes`, which cost more than normalising and
//! scoring the lines together.) Strings are cut out with memchr and checked with
//! `str::from_utf8`; syntax errors name the line and column, record errors the line.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::Arc;

use super::{Context, ReadError, ReadStats, Sink};
use crate::event::{LogLine, Stream};

/// Bytes read from the input at once.
const BLOCK: usize = 1 << 20;

/// Bytes of an entry's timestamp string kept (Unix nanoseconds have 19 digits).
const TS_LIMIT: usize = 64;

/// Bytes of an object key kept (the keys that matter are short).
const KEY_LIMIT: usize = 4096;

/// Deepest nesting of arrays and objects accepted (as serde_json's recursion limit).
const MAX_DEPTH: usize = 128;

/// Reads a whole response, feeding `sink` entry by entry.
pub(super) fn read<R: Read>(
    input: R,
    ctx: &Context<'_>,
    sink: &mut Sink<'_>,
) -> Result<ReadStats, ReadError> {
    let mut p = Parser {
        sc: Scanner::new(input),
        ctx,
        sink,
        stats: ReadStats::default(),
        status: None,
        error_message: String::new(),
        key: Vec::new(),
        scratch: Vec::new(),
        ts_text: Vec::new(),
        text: Vec::new(),
        depth: 0,
        held: None,
    };
    let done = p.document();
    #[cfg(test)]
    tests::BUFFERS.set(p.text.capacity() + p.scratch.capacity() + p.key.capacity());
    done?;
    match p.status.as_deref() {
        Some("success") => Ok(p.stats),
        Some(status) => Err(ReadError::LokiStatus {
            path: ctx.path.clone(),
            status: status.to_string(),
            message: p.error_message,
        }),
        None => Err(ReadError::Record {
            path: ctx.path.clone(),
            line: p.sc.line as u64,
            what: "not a Loki query_range response: no \"status\" field".into(),
        }),
    }
}

/// Why the scanner stopped: a read failure, the end of input, or bad JSON.
enum Stop {
    Io(io::Error),
    Eof,
    Syntax(String),
}

/// A block-buffered byte source that knows the line and column it is at.
struct Scanner<R> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
    /// 1-based line of `pos`.
    line: usize,
    /// Offset in the input of `buf[0]`.
    base: u64,
    /// Offset in the input just after the last newline.
    line_start: u64,
}

impl<R: Read> Scanner<R> {
    fn new(input: R) -> Self {
        Self {
            input,
            buf: vec![0; BLOCK].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            line: 1,
            base: 0,
            line_start: 0,
        }
    }

    /// Makes sure a byte is buffered; false at the end of the input.
    fn fill(&mut self) -> Result<bool, Stop> {
        while self.pos >= self.end {
            if self.eof {
                return Ok(false);
            }
            self.base += self.end as u64;
            self.pos = 0;
            self.end = 0;
            match self.input.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end = n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::Io(e)),
            }
        }
        Ok(true)
    }

    /// The next byte, not consumed.
    fn peek(&mut self) -> Result<Option<u8>, Stop> {
        Ok(self.fill()?.then(|| self.buf[self.pos]))
    }

    /// The next byte, consumed; the end of input is an error.
    fn next(&mut self) -> Result<u8, Stop> {
        let b = self.peek()?.ok_or(Stop::Eof)?;
        self.pos += 1;
        Ok(b)
    }

    /// Skips whitespace, counting lines; the next byte, not consumed.
    fn skip_ws(&mut self) -> Result<Option<u8>, Stop> {
        while self.fill()? {
            let b = self.buf[self.pos];
            match b {
                b'\n' => {
                    self.line += 1;
                    self.line_start = self.base + self.pos as u64 + 1;
                }
                b' ' | b'\t' | b'\r' => {}
                _ => return Ok(Some(b)),
            }
            self.pos += 1;
        }
        Ok(None)
    }

    /// 1-based column of the next byte.
    fn column(&self) -> usize {
        (self.base + self.pos as u64 - self.line_start + 1) as usize
    }

    /// Appends the raw bytes of a string up to its closing quote (the opening one is
    /// consumed), decoding escapes. JSON strings hold no raw newline, so the line stays.
    /// Past `limit` bytes in `out` the rest of the string is checked and consumed but not
    /// kept, so a huge string never sits in memory whole.
    fn string(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), Stop> {
        loop {
            if !self.fill()? {
                return Err(Stop::Eof);
            }
            let chunk = &self.buf[self.pos..self.end];
            let stop = memchr::memchr2(b'"', b'\\', chunk);
            let text = &chunk[..stop.unwrap_or(chunk.len())];
            if text.iter().any(|&b| b < 0x20) {
                return Err(Stop::Syntax(
                    "control character (\\u0000-\\u001F) found while parsing a string".into(),
                ));
            }
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&text[..text.len().min(room)]);
            self.pos += text.len();
            match stop.map(|i| chunk[i]) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => {
                    self.pos += 1;
                    let keep = out.len();
                    self.escape(out)?;
                    if out.len() > limit {
                        out.truncate(keep.max(limit));
                    }
                }
                None => {}
            }
        }
    }

    /// Decodes one escape (the backslash is consumed).
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), Stop> {
        let b = match self.next()? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(out),
            _ => return Err(Stop::Syntax("invalid escape".into())),
        };
        out.push(b);
        Ok(())
    }

    /// `\uXXXX`, with a following `\uXXXX` low surrogate when the first is a high one.
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> Result<(), Stop> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.next()? != b'\\' || self.next()? != b'u' {
                    return Err(Stop::Syntax("lone leading surrogate in hex escape".into()));
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Stop::Syntax("lone leading surrogate in hex escape".into()));
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(Stop::Syntax("lone trailing surrogate in hex escape".into()))
            }
            c => c,
        };
        let c = char::from_u32(code).ok_or(Stop::Syntax("invalid unicode escape".into()))?;
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Stop> {
        let mut v = 0;
        for _ in 0..4 {
            let d = char::from(self.next()?)
                .to_digit(16)
                .ok_or(Stop::Syntax("invalid escape".into()))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// Consumes a number or a literal (`true`, `false`, `null`) into `out`.
    fn bare_word(&mut self, out: &mut Vec<u8>) -> Result<(), Stop> {
        while let Some(b) = self.peek()? {
            if !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')) {
                break;
            }
            out.push(b);
            self.pos += 1;
        }
        Ok(())
    }
}

/// What an entry's element was, as far as an entry cares.
enum Scalar {
    Str(String),
    Int(i64),
    Other,
}

/// What an entry's element was; a string's bytes are in a buffer of the parser.
enum Element {
    Str,
    Int(i64),
    Other,
}

/// The kind of a JSON value from its first byte, for messages.
fn kind(first: u8) -> &'static str {
    match first {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// The reader's state: the scanner plus what the response said so far.
struct Parser<'a, 'b, 'c, R> {
    sc: Scanner<R>,
    ctx: &'a Context<'b>,
    sink: &'a mut Sink<'c>,
    stats: ReadStats,
    status: Option<String>,
    error_message: String,
    /// The current object key.
    key: Vec<u8>,
    /// Reused for strings that are not kept.
    scratch: Vec<u8>,
    /// The current entry's timestamp string.
    ts_text: Vec<u8>,
    /// The current entry's line, before it is checked and copied out.
    text: Vec<u8>,
    depth: usize,
    /// Lines of a stream whose `"values"` came before its `"stream"` labels (JSON key
    /// order is not significant): held until the labels are known.
    held: Option<Vec<LogLine>>,
}

impl<R: Read> Parser<'_, '_, '_, R> {
    /// Turns a scanner stop into a reader error at the current place.
    fn error(&self, stop: Stop) -> ReadError {
        let path = self.ctx.path.clone();
        let message = match stop {
            Stop::Io(source) => return ReadError::Io { path, source },
            Stop::Eof => "the input ends early (truncated?)".to_string(),
            Stop::Syntax(m) => m,
        };
        ReadError::Syntax {
            path,
            line: self.sc.line,
            column: self.sc.column(),
            message,
        }
    }

    fn syntax(&self, message: impl Into<String>) -> ReadError {
        self.error(Stop::Syntax(message.into()))
    }

    /// Runs a scanner step, placing any error.
    fn sc<T>(
        &mut self,
        step: impl FnOnce(&mut Scanner<R>) -> Result<T, Stop>,
    ) -> Result<T, ReadError> {
        step(&mut self.sc).map_err(|stop| self.error(stop))
    }

    /// The next non-blank byte, not consumed; the end of input is an error.
    fn peek(&mut self) -> Result<u8, ReadError> {
        self.sc(Scanner::skip_ws)?
            .ok_or_else(|| self.error(Stop::Eof))
    }

    /// Consumes `want` after optional blanks, or fails saying what was `expected`.
    fn expect(&mut self, want: u8, expected: &str) -> Result<(), ReadError> {
        if self.peek()? != want {
            return Err(self.syntax(format!("expected {expected}")));
        }
        self.sc.pos += 1;
        Ok(())
    }

    /// `{ "status": ..., "data": {...} }` and nothing after it.
    fn document(&mut self) -> Result<(), ReadError> {
        if self.sc(Scanner::fill)?
            && self.sc.buf[self.sc.pos..self.sc.end].starts_with(b"\xEF\xBB\xBF")
        {
            self.sc.pos += 3;
        }
        match self.sc(Scanner::skip_ws)? {
            None if self.sc.line == 1 && self.sc.base + (self.sc.pos as u64) == 0 => {
                return Err(self.syntax("the input is empty"))
            }
            None => return Err(self.syntax("the input is empty (only blanks)")),
            Some(b'{') => self.sc.pos += 1,
            Some(_) => return Err(self.syntax("expected a Loki query_range response object")),
        }
        self.object(Self::document_field)?;
        if self.sc(Scanner::skip_ws)?.is_some() {
            return Err(self.syntax("trailing characters"));
        }
        Ok(())
    }

    fn document_field(&mut self) -> Result<(), ReadError> {
        match self.key.as_slice() {
            b"status" => self.status = Some(self.string_value("status")?),
            b"error" => {
                let message = self.scalar()?;
                if let Scalar::Str(s) = message {
                    self.error_message = serde_json::Value::String(s).to_string();
                }
            }
            b"data" if self.status.as_deref().is_none_or(|s| s == "success") => {
                self.expect(b'{', "the \"data\" object of a Loki response")?;
                self.object(Self::data_field)?;
            }
            _ => self.skip_value()?,
        }
        Ok(())
    }

    fn data_field(&mut self) -> Result<(), ReadError> {
        match self.key.as_slice() {
            b"resultType" => {
                let result_type = self.string_value("resultType")?;
                if result_type != "streams" {
                    let path = self.ctx.path.clone();
                    return Err(ReadError::NotStreams { path, result_type });
                }
            }
            b"result" => {
                self.expect(b'[', "an array of streams")?;
                self.array(Self::stream)?;
            }
            _ => self.skip_value()?,
        }
        Ok(())
    }

    /// One element of `result`: a stream object; anything else is a bad record.
    fn stream(&mut self) -> Result<(), ReadError> {
        let first = self.peek()?;
        if first != b'{' {
            self.skip_value()?;
            let what = format!(
                "a result element is {}, expected a stream object",
                kind(first)
            );
            return self.invalid(what);
        }
        self.sc.pos += 1;
        let mut stream: Option<Arc<Stream>> = None;
        let unlabelled = Arc::new(Stream::from_labels(BTreeMap::new(), &self.ctx.opts.labels));
        self.object(|p| {
            match p.key.as_slice() {
                b"stream" => {
                    let labels = p.labels()?;
                    let s = Arc::new(Stream::from_labels(labels, &p.ctx.opts.labels));
                    p.release_held(&s)?;
                    stream = Some(s);
                }
                b"values" => {
                    let s = match &stream {
                        Some(s) => Arc::clone(s),
                        None => {
                            p.held.get_or_insert_with(Vec::new);
                            Arc::clone(&unlabelled)
                        }
                    };
                    p.expect(b'[', "an array of [timestamp, line] entries")?;
                    p.array(|p| p.entry(&s))?;
                }
                _ => p.skip_value()?,
            }
            Ok(())
        })?;
        // values with no labels at all: the lines are kept, with an empty label set
        self.release_held(&unlabelled)
    }

    /// Hands the held lines to the sink as lines of `stream`.
    fn release_held(&mut self, stream: &Arc<Stream>) -> Result<(), ReadError> {
        for mut line in self.held.take().unwrap_or_default() {
            line.stream = Arc::clone(stream);
            (self.sink)(line).map_err(ReadError::Sink)?;
        }
        Ok(())
    }

    /// `{"label": "value", ...}`
    fn labels(&mut self) -> Result<BTreeMap<String, String>, ReadError> {
        let mut labels = BTreeMap::new();
        self.expect(b'{', "an object of stream labels")?;
        self.object(|p| {
            let value = p.string_value("a stream label")?;
            let name = String::from_utf8_lossy(&p.key).into_owned();
            labels.insert(name, value);
            Ok(())
        })?;
        Ok(labels)
    }

    /// One `[ts, line(, metadata)]` entry; a wrong shape or type is a bad record.
    fn entry(&mut self, stream: &Arc<Stream>) -> Result<(), ReadError> {
        let first = self.peek()?;
        if first != b'[' {
            self.skip_value()?;
            let what = format!("entry is {}, expected [timestamp, line]", kind(first));
            return self.invalid(what);
        }
        self.sc.pos += 1;
        let mut ts_text = std::mem::take(&mut self.ts_text);
        let mut text = std::mem::take(&mut self.text);
        let (mut ts, mut line, mut n) = (None, None, 0);
        let max_line = self.ctx.opts.max_line_bytes;
        let parsed = self.array(|p| {
            match n {
                0 => ts = Some(p.element(&mut ts_text, TS_LIMIT)?),
                // one byte past the cut tells that the line was longer
                1 => line = Some(p.element(&mut text, max_line.saturating_add(1))?),
                _ => p.skip_value()?,
            }
            n += 1;
            Ok(())
        });
        let ts = match ts {
            Some(Element::Str) => std::str::from_utf8(&ts_text)
                .ok()
                .and_then(|s| s.parse::<i64>().ok()),
            Some(Element::Int(n)) => Some(n),
            _ => None,
        };
        let done = parsed.and_then(|()| match (ts, line) {
            (None, _) => self.invalid("entry timestamp is not a string of Unix nanoseconds"),
            (Some(ts), Some(Element::Str)) => self.emit(stream, ts, &text),
            (Some(_), Some(_)) => self.invalid("entry line is not a string"),
            (Some(_), None) => self.invalid("entry has a timestamp but no line"),
        });
        self.ts_text = ts_text;
        self.text = text;
        done
    }

    /// Hands a line to the sink, cut to `max_line_bytes` before it is copied.
    /// The line arrives already cut to `max_line_bytes + 1` bytes by the scanner; a cut
    /// that splits a character drops its first bytes. With `skip_invalid`, a line that is
    /// not UTF-8 is a bad record (skipped and counted), not the end of the file.
    fn emit(&mut self, stream: &Arc<Stream>, ts_ns: i64, text: &[u8]) -> Result<(), ReadError> {
        let max = self.ctx.opts.max_line_bytes;
        let cut = text.len() > max;
        let kept = &text[..text.len().min(max)];
        let line = match std::str::from_utf8(kept) {
            Ok(s) => s,
            // a character split by the cut (only when cut): keep what precedes it
            Err(e) if cut && e.error_len().is_none() => {
                std::str::from_utf8(&kept[..e.valid_up_to()]).unwrap_or_default()
            }
            // with skip_invalid, the entry is a bad record; else the file stops here
            Err(_) if self.ctx.opts.skip_invalid => {
                return self.invalid("line is not valid UTF-8");
            }
            Err(_) => return Err(self.syntax("invalid unicode code point in a line")),
        };
        if cut {
            self.stats.truncated += 1;
        }
        self.stats.lines += 1;
        let log = LogLine {
            ts_ns,
            stream: Arc::clone(stream),
            line: line.to_string(),
        };
        match &mut self.held {
            Some(held) => {
                held.push(log);
                Ok(())
            }
            None => (self.sink)(log).map_err(ReadError::Sink),
        }
    }

    /// An entry element: a string (its bytes, escapes decoded, left in `buf`), an
    /// integer, or anything else (consumed).
    fn element(&mut self, buf: &mut Vec<u8>, limit: usize) -> Result<Element, ReadError> {
        match self.peek()? {
            b'"' => {
                self.sc.pos += 1;
                buf.clear();
                self.sc(|sc| sc.string(buf, limit))?;
                Ok(Element::Str)
            }
            _ => Ok(match self.scalar()? {
                Scalar::Int(n) => Element::Int(n),
                _ => Element::Other,
            }),
        }
    }

    /// A bad record: skip and count it, or stop with a typed error.
    fn invalid(&mut self, what: impl Into<String>) -> Result<(), ReadError> {
        let err = ReadError::Record {
            path: self.ctx.path.clone(),
            line: self.sc.line as u64,
            what: what.into(),
        };
        self.ctx.invalid(&mut self.stats, err)
    }

    /// The members of an object whose `{` is consumed: `field` is called with each key in
    /// `self.key` and must consume its value.
    fn object(
        &mut self,
        mut field: impl FnMut(&mut Self) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        self.nest()?;
        if self.peek()? == b'}' {
            self.sc.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.expect(b'"', "a string key")?;
            let mut key = std::mem::take(&mut self.key);
            key.clear();
            let read = self.sc(|sc| sc.string(&mut key, KEY_LIMIT));
            self.key = key;
            read?;
            self.expect(b':', "`:`")?;
            field(self)?;
            match self.peek()? {
                b',' => self.sc.pos += 1,
                b'}' => break,
                _ => return Err(self.syntax("expected `,` or `}`")),
            }
        }
        self.sc.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    /// The elements of an array whose `[` is consumed: `element` must consume each.
    fn array(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        self.nest()?;
        if self.peek()? == b']' {
            self.sc.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.peek()? {
                b',' => self.sc.pos += 1,
                b']' => break,
                _ => return Err(self.syntax("expected `,` or `]`")),
            }
        }
        self.sc.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    fn nest(&mut self) -> Result<(), ReadError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.syntax("recursion limit exceeded"));
        }
        Ok(())
    }

    /// A string value; another type is a syntax error naming what was `expected`.
    fn string_value(&mut self, expected: &str) -> Result<String, ReadError> {
        match self.scalar()? {
            Scalar::Str(s) => Ok(s),
            _ => Err(self.syntax(format!("invalid type: {expected} must be a string"))),
        }
    }

    /// Any value, reduced to a string, an integer, or other (consumed entirely).
    fn scalar(&mut self) -> Result<Scalar, ReadError> {
        match self.peek()? {
            b'"' => {
                self.sc.pos += 1;
                let mut bytes = Vec::new();
                self.sc(|sc| sc.string(&mut bytes, usize::MAX))?;
                String::from_utf8(bytes)
                    .map(Scalar::Str)
                    .map_err(|_| self.syntax("invalid unicode code point"))
            }
            b'{' | b'[' => {
                self.skip_value()?;
                Ok(Scalar::Other)
            }
            _ => {
                let mut word = std::mem::take(&mut self.scratch);
                word.clear();
                let read = self.sc(|sc| sc.bare_word(&mut word));
                let value = read.and_then(|()| self.word_value(&word));
                self.scratch = word;
                value
            }
        }
    }

    /// A number or literal: an integer, or other; anything else is a syntax error.
    fn word_value(&self, word: &[u8]) -> Result<Scalar, ReadError> {
        let text = std::str::from_utf8(word).unwrap_or("");
        if matches!(text, "true" | "false" | "null") {
            return Ok(Scalar::Other);
        }
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Scalar::Int(n));
        }
        let numeric = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
        if numeric && text.parse::<f64>().is_ok() {
            return Ok(Scalar::Other);
        }
        if word.is_empty() {
            return Err(self.syntax("expected value"));
        }
        Err(self.syntax(format!("invalid value `{}`", String::from_utf8_lossy(word))))
    }

    /// Consumes any value.
    fn skip_value(&mut self) -> Result<(), ReadError> {
        match self.peek()? {
            b'{' => {
                self.sc.pos += 1;
                self.object(Self::skip_value)
            }
            b'[' => {
                self.sc.pos += 1;
                self.array(Self::skip_value)
            }
            b'"' => {
                self.sc.pos += 1;
                let mut s = std::mem::take(&mut self.scratch);
                s.clear();
                // a skipped string is checked, not kept
                let read = self.sc(|sc| sc.string(&mut s, 0));
                self.scratch = s;
                read
            }
            _ => self.scalar().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::ReadOptions;
    use std::path::PathBuf;

    thread_local! {
        /// Bytes held by the parser's string buffers at the end of the last `read` on this
        /// thread (they only grow, so this is their peak).
        pub(super) static BUFFERS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Issue 16, finding 6: a huge line (and a huge skipped string) is cut while it is
    /// read; the parser never holds it whole (a 100 MiB line peaked at 109 MiB RSS).
    #[test]
    fn finding_6_a_huge_line_is_not_held_whole() {
        let huge = "x".repeat(8 << 20);
        let doc = format!(
            r#"{{"status":"success","data":{{"resultType":"streams","result":[{{"stream":{{"pod":"p"}},"values":[["1","{huge}"]],"ignored":"{huge}"}}]}}}}"#
        );
        let opts = ReadOptions {
            max_line_bytes: 1000,
            ..ReadOptions::default()
        };
        let ctx = Context {
            path: PathBuf::from("t"),
            opts: &opts,
            arrival: false,
        };
        let mut got = Vec::new();
        let stats = read(doc.as_bytes(), &ctx, &mut |l: LogLine| {
            got.push(l.line.len());
            Ok(())
        })
        .unwrap();
        assert_eq!((stats.lines, stats.truncated), (1, 1));
        assert_eq!(got, vec![1000]);
        let held = BUFFERS.get();
        assert!(held < 64 * 1024, "the parser held {held} bytes");
    }

    fn lines_of(doc: &[u8], block: usize) -> Result<Vec<(i64, String)>, String> {
        let opts = ReadOptions::default();
        let ctx = Context {
            path: PathBuf::from("t"),
            opts: &opts,
            arrival: false,
        };
        let mut got = Vec::new();
        // a reader that hands out `block` bytes at a time, so every boundary is crossed
        let reader = Chunks(doc, block);
        read(reader, &ctx, &mut |l: LogLine| {
            got.push((l.ts_ns, l.line));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(got)
    }

    struct Chunks<'a>(&'a [u8], usize);

    impl Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn escapes_and_block_boundaries_give_the_same_lines() {
        let doc = r#" {"status":"success","data":{"resultType":"streams","stats":{"a":[1,2.5e3,true,null,"x\"y"]},"result":[{"stream":{"pod":"p"},"values":[["1","a \"q\" \\ \/ \t\u00e9\ud83d\ude00 end"],[2,"two",{"m":{}}]]}]}} "#;
        let want = vec![
            (1, "a \"q\" \\ / \té😀 end".to_string()),
            (2, "two".to_string()),
        ];
        for block in [1, 2, 3, 7, 64, BLOCK] {
            assert_eq!(
                lines_of(doc.as_bytes(), block).unwrap(),
                want,
                "block {block}"
            );
        }
    }

    #[test]
    fn bad_json_is_a_syntax_error_with_its_place() {
        let cases: [(&str, &str); 5] = [
            ("{\"status\":\"success\",\n \"data\": x}", "t:2:10"),
            ("{\"status\":\"succ\tess\"}", "control character"),
            ("{\"status\":\"success\"} x", "trailing"),
            ("{\"status\":\"\\q\"}", "invalid escape"),
            ("{\"status\":\"success\",\"data\":{\"result\":[{\"stream\":{},\"values\":[[\"1\",\"a\"]", "truncated"),
        ];
        for (doc, want) in cases {
            let err = lines_of(doc.as_bytes(), 3).unwrap_err();
            assert!(err.contains(want), "{doc}: {err}");
        }
    }
}
