//! Streaming reader for Loki `query_range` responses.
//!
//! The response is one JSON document that can hold millions of entries, so it is walked
//! with serde visitors that hand each `[timestamp, line]` entry to the sink as soon as it
//! is parsed: nothing but the current entry is held in memory.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Context, ReadError, ReadStats, Sink};
use crate::event::{LogLine, Stream};

/// Reads a whole response, feeding `sink` entry by entry.
pub(super) fn read<R: Read>(
    input: R,
    ctx: &Context<'_>,
    sink: &mut Sink<'_>,
) -> Result<ReadStats, ReadError> {
    let line = Rc::new(Cell::new(1));
    let counted = LineCounter {
        inner: input,
        line: Rc::clone(&line),
    };
    let mut de = serde_json::Deserializer::from_reader(counted);
    let mut state = State {
        ctx,
        sink,
        stats: ReadStats::default(),
        pending: None,
        line,
        status: None,
        error_message: String::new(),
    };
    let parsed = DocumentSeed(&mut state)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Some(err) = state.pending.take() {
        return Err(err);
    }
    parsed.map_err(|e| json_error(e, ctx))?;
    match state.status.as_deref() {
        Some("success") => Ok(state.stats),
        Some(status) => Err(ReadError::LokiStatus {
            path: ctx.path.clone(),
            status: status.to_string(),
            message: state.error_message,
        }),
        None => Err(ReadError::Record {
            path: ctx.path.clone(),
            line: state.line.get(),
            what: "not a Loki query_range response: no \"status\" field".into(),
        }),
    }
}

/// Turns a serde_json error into a reader error with its position.
pub(super) fn json_error(e: serde_json::Error, ctx: &Context<'_>) -> ReadError {
    if e.is_io() {
        return ReadError::Io {
            path: ctx.path.clone(),
            source: io::Error::from(e),
        };
    }
    let message = if e.is_eof() && e.line() <= 1 && e.column() == 0 {
        "the input is empty".to_string()
    } else if e.is_eof() {
        format!("the input ends early (truncated?): {e}")
    } else {
        e.to_string()
    };
    ReadError::Syntax {
        path: ctx.path.clone(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&message),
    }
}

/// serde_json appends " at line L column C"; the error already carries them.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Counts newlines as bytes are consumed, so record errors can name their line.
struct LineCounter<R> {
    inner: R,
    line: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.line.set(self.line.get() + newlines);
        Ok(n)
    }
}

/// Mutable state threaded through the visitors.
struct State<'a, 'b, 'c> {
    ctx: &'a Context<'b>,
    sink: &'a mut Sink<'c>,
    stats: ReadStats,
    /// A typed error raised inside a visitor; serde only carries strings.
    pending: Option<ReadError>,
    line: Rc<Cell<u64>>,
    status: Option<String>,
    error_message: String,
}

impl State<'_, '_, '_> {
    /// A bad record: skip and count it, or stop with a typed error.
    fn invalid<E: de::Error>(&mut self, what: impl Into<String>) -> Result<(), E> {
        let err = ReadError::Record {
            path: self.ctx.path.clone(),
            line: self.line.get(),
            what: what.into(),
        };
        self.ctx
            .invalid(&mut self.stats, err)
            .map_err(|err| self.stop(err))
    }

    /// Stores `err` for the caller and returns the string error serde needs.
    fn stop<E: de::Error>(&mut self, err: ReadError) -> E {
        self.pending = Some(err);
        E::custom("stopped")
    }

    fn emit<E: de::Error>(
        &mut self,
        stream: &Arc<Stream>,
        ts_ns: i64,
        mut line: String,
    ) -> Result<(), E> {
        self.ctx.clip(&mut line, &mut self.stats);
        self.stats.lines += 1;
        let log = LogLine {
            ts_ns,
            stream: Arc::clone(stream),
            line,
        };
        (self.sink)(log).map_err(|e| self.stop(ReadError::Sink(e)))
    }
}

/// `{"status": ..., "data": {...}}`
struct DocumentSeed<'s, 'a, 'b, 'c>(&'s mut State<'a, 'b, 'c>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Loki query_range response object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "status" => self.0.status = Some(map.next_value()?),
                "error" => {
                    self.0.error_message = map.next_value::<serde_json::Value>()?.to_string()
                }
                "data" if self.0.status.as_deref().is_none_or(|s| s == "success") => {
                    map.next_value_seed(DataSeed(&mut *self.0))?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `{"resultType": "streams", "result": [...]}`
struct DataSeed<'s, 'a, 'b, 'c>(&'s mut State<'a, 'b, 'c>);

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the \"data\" object of a Loki response")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "resultType" => {
                    let result_type: String = map.next_value()?;
                    if result_type != "streams" {
                        let path = self.0.ctx.path.clone();
                        return Err(self.0.stop(ReadError::NotStreams { path, result_type }));
                    }
                }
                "result" => map.next_value_seed(ResultSeed(&mut *self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `[{"stream": {...}, "values": [...]}, ...]`
struct ResultSeed<'s, 'a, 'b, 'c>(&'s mut State<'a, 'b, 'c>);

impl<'de> DeserializeSeed<'de> for ResultSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_, '_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of streams")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(StreamSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One stream object; anything else is a bad record.
struct StreamSeed<'s, 'a, 'b, 'c>(&'s mut State<'a, 'b, 'c>);

impl<'de> DeserializeSeed<'de> for StreamSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StreamSeed<'_, '_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stream object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut stream: Option<Arc<Stream>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "stream" => {
                    let labels: BTreeMap<String, String> = map.next_value()?;
                    let names = &self.0.ctx.opts.labels;
                    stream = Some(Arc::new(Stream::from_labels(labels, names)));
                }
                "values" => match &stream {
                    Some(s) => map.next_value_seed(ValuesSeed(&mut *self.0, s))?,
                    None => {
                        let what = "a stream's \"values\" come before its \"stream\" labels";
                        let err = ReadError::Record {
                            path: self.0.ctx.path.clone(),
                            line: self.0.line.get(),
                            what: what.into(),
                        };
                        return Err(self.0.stop(err));
                    }
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.0
            .invalid("a result element is an array, expected a stream object")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.0
            .invalid("a result element is a string, expected a stream object")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.0
            .invalid("a result element is a number, expected a stream object")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.0
            .invalid("a result element is a number, expected a stream object")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.0
            .invalid("a result element is a number, expected a stream object")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.0
            .invalid("a result element is a boolean, expected a stream object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0
            .invalid("a result element is null, expected a stream object")
    }
}

/// `[[ts, line], [ts, line, {metadata}], ...]`
struct ValuesSeed<'s, 'a, 'b, 'c>(&'s mut State<'a, 'b, 'c>, &'s Arc<Stream>);

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_, '_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of [timestamp, line] entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(EntrySeed(&mut *self.0, self.1))?
            .is_some()
        {}
        Ok(())
    }
}

/// One `[ts, line(, metadata)]` entry; a wrong shape or type is a bad record.
struct EntrySeed<'s, 'a, 'b, 'c>(&'s mut State<'a, 'b, 'c>, &'s Arc<Stream>);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_, '_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a [timestamp, line] entry")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ts = seq.next_element_seed(Lenient)?;
        let line = seq.next_element_seed(Lenient)?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        let ts = match ts {
            Some(Scalar::Str(s)) => s.parse::<i64>().ok(),
            Some(Scalar::Int(n)) => Some(n),
            _ => None,
        };
        let Some(ts) = ts else {
            return self
                .0
                .invalid("entry timestamp is not a string of Unix nanoseconds");
        };
        match line {
            Some(Scalar::Str(line)) => self.0.emit(self.1, ts, line),
            Some(_) => self.0.invalid("entry line is not a string"),
            None => self.0.invalid("entry has a timestamp but no line"),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.0
            .invalid("entry is an object, expected [timestamp, line]")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.0
            .invalid("entry is a string, expected [timestamp, line]")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.0
            .invalid("entry is a number, expected [timestamp, line]")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.0
            .invalid("entry is a number, expected [timestamp, line]")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.0
            .invalid("entry is a number, expected [timestamp, line]")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.0
            .invalid("entry is a boolean, expected [timestamp, line]")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.invalid("entry is null, expected [timestamp, line]")
    }
}

/// A JSON value reduced to what an entry element may be: a string, an integer, or other.
enum Scalar {
    Str(String),
    Int(i64),
    Other,
}

/// Accepts any JSON value, so a wrong type becomes a bad record rather than a parse error.
struct Lenient;

impl<'de> DeserializeSeed<'de> for Lenient {
    type Value = Scalar;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Lenient {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(i64::try_from(v).map_or(Scalar::Other, Scalar::Int))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}
