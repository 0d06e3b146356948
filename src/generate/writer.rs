//! Streaming writers of the two outputs: the Loki `query_range` response and the JSON
//! Lines labels file.
//!
//! The response is written piece by piece (header, one stream header, its values as they
//! come, footer), one `[ts, line]` value per text line so the file is greppable while
//! remaining a single valid JSON document.

use std::io::{self, BufWriter, Write};

use serde::Serialize;

use super::config::Label;
use super::error::GenerateError;

/// Counts bytes passing through to the inner writer.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a Loki `query_range` response (`resultType: streams`) incrementally.
pub(super) struct LokiWriter<W: Write> {
    out: BufWriter<Counting<W>>,
    streams: usize,
    values: u64,
}

impl<W: Write> LokiWriter<W> {
    /// Starts the document.
    pub fn new(inner: W) -> Result<Self, GenerateError> {
        let mut out = BufWriter::with_capacity(1 << 17, Counting { inner, bytes: 0 });
        out.write_all(br#"{"status":"success","data":{"resultType":"streams","result":["#)
            .map_err(GenerateError::Logs)?;
        Ok(LokiWriter {
            out,
            streams: 0,
            values: 0,
        })
    }

    /// Opens a stream with its three labels.
    pub fn begin_stream(
        &mut self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<(), GenerateError> {
        if self.streams > 0 {
            self.out.write_all(b",").map_err(GenerateError::Logs)?;
        }
        self.streams += 1;
        self.values = 0;
        #[derive(Serialize)]
        struct StreamLabels<'a> {
            namespace: &'a str,
            pod: &'a str,
            container: &'a str,
        }
        self.out
            .write_all(br#"{"stream":"#)
            .map_err(GenerateError::Logs)?;
        serde_json::to_writer(
            &mut self.out,
            &StreamLabels {
                namespace,
                pod,
                container,
            },
        )?;
        self.out
            .write_all(b",\"values\":[\n")
            .map_err(GenerateError::Logs)
    }

    /// Appends one `[ts, line]` value to the open stream.
    pub fn value(&mut self, ts: u64, line: &str) -> Result<(), GenerateError> {
        if self.values > 0 {
            self.out.write_all(b",\n").map_err(GenerateError::Logs)?;
        }
        self.values += 1;
        write!(self.out, "[\"{ts}\",").map_err(GenerateError::Logs)?;
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"]").map_err(GenerateError::Logs)
    }

    /// Closes the open stream.
    pub fn end_stream(&mut self) -> Result<(), GenerateError> {
        self.out.write_all(b"\n]}").map_err(GenerateError::Logs)
    }

    /// Closes the document, flushes, and returns the bytes written.
    pub fn finish(mut self) -> Result<u64, GenerateError> {
        self.out
            .write_all(b"],\"stats\":{}}}\n")
            .map_err(GenerateError::Logs)?;
        self.out.flush().map_err(GenerateError::Logs)?;
        Ok(self.out.get_ref().bytes)
    }
}

/// One record of the labels file.
#[derive(Serialize)]
struct LabelRecord<'a> {
    namespace: &'a str,
    pod: &'a str,
    ts: String,
    label: Label,
    incident: &'a str,
}

/// Writes the labels file, one JSON object per line.
pub(super) struct LabelWriter<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> LabelWriter<W> {
    /// Wraps the output.
    pub fn new(inner: W) -> Self {
        LabelWriter {
            out: BufWriter::with_capacity(1 << 16, inner),
        }
    }

    /// Writes one labelled line's record.
    pub fn label(
        &mut self,
        namespace: &str,
        pod: &str,
        ts: u64,
        label: Label,
        incident: &str,
    ) -> Result<(), GenerateError> {
        let rec = LabelRecord {
            namespace,
            pod,
            ts: ts.to_string(),
            label,
            incident,
        };
        serde_json::to_writer(&mut self.out, &rec)?;
        self.out.write_all(b"\n").map_err(GenerateError::Labels)
    }

    /// Flushes.
    pub fn finish(mut self) -> Result<(), GenerateError> {
        self.out.flush().map_err(GenerateError::Labels)
    }
}
