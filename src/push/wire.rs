//! Loki's push wire formats, decoded: `logproto.PushRequest` as snappy-compressed protobuf
//! (what Promtail, Grafana Alloy and Vector send) and the JSON form of the same request.
//!
//! The protobuf messages are written by hand with `prost` derives (no `protoc` step); only
//! the fields loganomaly reads are declared, so newer fields (Loki 2.9's structured
//! metadata, tag 3 of an entry) are skipped as unknown. Lines and labels are read as bytes
//! and made UTF-8 lossily, as Loki stores whatever a shipper sends.

use std::collections::BTreeMap;
use std::io::Read;

/// Why a push body could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The body is not valid snappy (block format).
    #[error("body is not snappy block-compressed data: {0}")]
    Snappy(String),
    /// The body is not valid gzip.
    #[error("body is not valid gzip: {0}")]
    Gzip(String),
    /// The body, once decompressed, would be larger than allowed.
    #[error("decompressed body is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body is not a `logproto.PushRequest`.
    #[error("body is not a protobuf logproto.PushRequest: {0}")]
    Protobuf(String),
    /// The body is not the JSON push form.
    #[error("body is not a JSON push request: {0}")]
    Json(String),
}

/// Why one stream's label set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelsError {
    /// The text is not `{name="value", ...}`.
    #[error("labels {text:?}: {why} at byte {at}")]
    Syntax {
        /// The label-set text (cut to 200 bytes).
        text: String,
        /// What was expected.
        why: &'static str,
        /// Byte offset of the problem.
        at: usize,
    },
    /// The stream has no label (Loki refuses those too).
    #[error("a stream needs at least one label")]
    Empty,
    /// A label name appears twice.
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}")]
    Name(String),
}

/// `logproto.PushRequest`: the body of a Loki push.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams of the push.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one stream's labels and entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// The label set as Prometheus text, `{namespace="shop", pod="cart-1"}`.
    #[prost(bytes = "vec", tag = "1")]
    pub labels: Vec<u8>,
    /// The stream's entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// A hash of the labels some clients fill in; not read.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one line and its timestamp.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When the line was logged.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line (bytes: a shipper may send invalid UTF-8).
    #[prost(bytes = "vec", tag = "2")]
    pub line: Vec<u8>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// Unix nanoseconds (saturated).
    pub fn to_ns(self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }

    /// The timestamp of Unix nanoseconds `ns`.
    pub fn from_ns(ns: i64) -> Self {
        Self {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: i32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0),
        }
    }
}

/// One decoded stream: its label text (parsed later, per stream) and entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedStream {
    /// The labels: parsed (JSON) or still text (protobuf).
    pub labels: PushedLabels,
    /// `(unix ns, line)` in the order sent.
    pub entries: Vec<(i64, String)>,
}

/// A stream's labels as the body carried them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushedLabels {
    /// Prometheus label-set text (protobuf).
    Text(String),
    /// A JSON object of strings.
    Map(BTreeMap<String, String>),
}

impl PushedLabels {
    /// The label set, checked as Loki checks it.
    pub fn parse(self) -> Result<BTreeMap<String, String>, LabelsError> {
        let map = match self {
            Self::Text(t) => parse_labels(&t)?,
            Self::Map(m) => m,
        };
        if map.is_empty() {
            return Err(LabelsError::Empty);
        }
        if let Some(bad) = map.keys().find(|k| !valid_name(k)) {
            return Err(LabelsError::Name(bad.clone()));
        }
        Ok(map)
    }
}

/// Decodes a snappy-compressed protobuf push, refusing more than `max_decoded` bytes.
pub fn decode_protobuf(body: &[u8], max_decoded: usize) -> Result<Vec<PushedStream>, WireError> {
    let len = snap::raw::decompress_len(body).map_err(|e| WireError::Snappy(e.to_string()))?;
    if len > max_decoded {
        return Err(WireError::TooLarge { limit: max_decoded });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| WireError::Snappy(e.to_string()))?;
    let req = <PushRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| WireError::Protobuf(e.to_string()))?;
    Ok(req
        .streams
        .into_iter()
        .map(|s| PushedStream {
            labels: PushedLabels::Text(lossy(s.labels)),
            entries: s
                .entries
                .into_iter()
                .map(|e| (e.timestamp.unwrap_or_default().to_ns(), lossy(e.line)))
                .collect(),
        })
        .collect())
}

/// Encodes a push as Promtail does: protobuf, then snappy block compression. For tests
/// and tools that push to loganomaly or Loki.
pub fn encode_protobuf(req: &PushRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    // compressing a Vec in memory cannot fail but for sizes past 4 GiB
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// Decodes a JSON push, gunzipping it first when `gzip`; at most `max_decoded` bytes.
pub fn decode_json(
    body: &[u8],
    gzip: bool,
    max_decoded: usize,
) -> Result<Vec<PushedStream>, WireError> {
    let unzipped;
    let text = if gzip {
        let mut out = Vec::new();
        let limit = u64::try_from(max_decoded)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        flate2::read::GzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| WireError::Gzip(e.to_string()))?;
        if out.len() > max_decoded {
            return Err(WireError::TooLarge { limit: max_decoded });
        }
        unzipped = out;
        unzipped.as_slice()
    } else {
        body
    };
    let req: JsonPush = serde_json::from_slice(text).map_err(|e| WireError::Json(e.to_string()))?;
    req.streams
        .into_iter()
        .map(|s| {
            let entries = s
                .values
                .into_iter()
                .map(|JsonEntry(ts, line)| {
                    ts.parse::<i64>().map(|t| (t, line)).map_err(|_| {
                        WireError::Json(format!("timestamp {ts:?} is not unix nanoseconds"))
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(PushedStream {
                labels: PushedLabels::Map(s.stream),
                entries,
            })
        })
        .collect()
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[derive(serde::Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(serde::Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<JsonEntry>,
}

/// `["<unix ns>", "line"]` or `["<unix ns>", "line", {structured metadata}]`.
struct JsonEntry(String, String);

impl<'de> serde::Deserialize<'de> for JsonEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = JsonEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"["<unix ns>", "line"] with optional metadata"#)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<JsonEntry, A::Error> {
                use serde::de::Error;
                let ts: String = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let line: String = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(1, &self))?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonEntry(ts, line))
            }
        }
        d.deserialize_seq(Visit)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses Prometheus label-set text: `{name="value", ...}`, values double-quoted with Go
/// escapes (`\"`, `\\`, `\n`, `\t`, `\r`, `\uXXXX`, ...). Whitespace is allowed around the
/// tokens, a trailing comma too.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, LabelsError> {
    let b = text.as_bytes();
    let err = |why, at| LabelsError::Syntax {
        text: text.chars().take(200).collect(),
        why,
        at,
    };
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return Err(err("expected '{'", i));
    }
    i += 1;
    let mut out = BTreeMap::new();
    loop {
        skip_ws(&mut i);
        match b.get(i) {
            Some(b'}') => {
                i += 1;
                break;
            }
            None => return Err(err("expected '}'", i)),
            _ => {}
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if start == i {
            return Err(err("expected a label name", i));
        }
        let name = &text[start..i];
        skip_ws(&mut i);
        if b.get(i) != Some(&b'=') {
            return Err(err("expected '='", i));
        }
        i += 1;
        skip_ws(&mut i);
        if b.get(i) != Some(&b'"') {
            return Err(err("expected '\"'", i));
        }
        i += 1;
        let mut value = String::new();
        loop {
            // text[i..] starts at a char boundary: i only moves past ASCII or whole chars
            let Some(c) = text.get(i..).and_then(|r| r.chars().next()) else {
                return Err(err("unterminated value", i));
            };
            i += c.len_utf8();
            match c {
                '"' => break,
                '\\' => {
                    let Some(e) = b.get(i).copied() else {
                        return Err(err("unterminated escape", i));
                    };
                    i += 1;
                    match e {
                        b'"' => value.push('"'),
                        b'\\' => value.push('\\'),
                        b'\'' => value.push('\''),
                        b'n' => value.push('\n'),
                        b't' => value.push('\t'),
                        b'r' => value.push('\r'),
                        b'a' => value.push('\u{7}'),
                        b'b' => value.push('\u{8}'),
                        b'f' => value.push('\u{c}'),
                        b'v' => value.push('\u{b}'),
                        b'u' | b'U' => {
                            let n = if e == b'u' { 4 } else { 8 };
                            let ch = text
                                .get(i..i + n)
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32)
                                .ok_or_else(|| err("bad unicode escape", i))?;
                            value.push(ch);
                            i += n;
                        }
                        _ => return Err(err("unknown escape", i - 1)),
                    }
                }
                c => value.push(c),
            }
        }
        if out.insert(name.to_string(), value).is_some() {
            return Err(LabelsError::Duplicate(name.to_string()));
        }
        skip_ws(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            _ => return Err(err("expected ',' or '}'", i)),
        }
    }
    skip_ws(&mut i);
    if i != b.len() {
        return Err(err("unexpected text after '}'", i));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_parse_with_escapes_and_spacing() {
        let m = parse_labels(r#"{namespace="shop", pod="cart-1",msg="a \"b\" \\ c\nd é \u00e9",}"#)
            .unwrap();
        assert_eq!(m["namespace"], "shop");
        assert_eq!(m["pod"], "cart-1");
        assert_eq!(m["msg"], "a \"b\" \\ c\nd é é");
        assert!(parse_labels(" { } ").unwrap().is_empty());
        for bad in [
            "",
            "namespace=\"x\"",
            "{a=\"x\"",
            "{a=x}",
            "{a=\"x\" b=\"y\"}",
            "{=\"x\"}",
            "{a=\"\\q\"}",
            "{a=\"x\"}}",
            "{a=\"\\u12\"}",
            "{a=\"x\",a=\"y\"}",
            "{a=\"é",
        ] {
            assert!(parse_labels(bad).is_err(), "{bad:?}");
        }
        assert!(PushedLabels::Text("{}".into()).parse().is_err());
        assert!(PushedLabels::Text("{1a=\"x\"}".into()).parse().is_err());
    }

    #[test]
    fn protobuf_round_trips_and_skips_structured_metadata() {
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: br#"{pod="p"}"#.to_vec(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp::from_ns(1_700_000_000_123_456_789)),
                    line: "héllo".into(),
                }],
                hash: 0,
            }],
        };
        let mut raw = prost::Message::encode_to_vec(&req);
        // an entry field 3 (structured metadata) appended to the stream's entry is skipped:
        // rebuild with an unknown field inside the entry
        let entry = {
            let mut e = prost::Message::encode_to_vec(&req.streams[0].entries[0]);
            e.extend_from_slice(&[0x1a, 0x02, 0x0a, 0x00]);
            e
        };
        let mut stream = vec![0x0a, 9];
        stream.extend_from_slice(br#"{pod="p"}"#);
        stream.push(0x12);
        stream.push(entry.len() as u8);
        stream.extend_from_slice(&entry);
        raw.clear();
        raw.push(0x0a);
        raw.push(stream.len() as u8);
        raw.extend_from_slice(&stream);
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        let got = decode_protobuf(&body, 1 << 20).unwrap();
        assert_eq!(
            got[0].entries,
            vec![(1_700_000_000_123_456_789, "héllo".to_string())]
        );
        let got = decode_protobuf(&encode_protobuf(&req), 1 << 20).unwrap();
        assert_eq!(got[0].labels, PushedLabels::Text(r#"{pod="p"}"#.into()));
        assert!(matches!(
            decode_protobuf(&encode_protobuf(&req), 4),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn json_pushes_decode_with_metadata_and_gzip() {
        let body = br#"{"streams":[{"stream":{"pod":"p"},"values":[["5","a"],["6","b",{"trace_id":"x"}]]}]}"#;
        let got = decode_json(body, false, 1 << 20).unwrap();
        assert_eq!(got[0].entries, vec![(5, "a".into()), (6, "b".into())]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, body).unwrap();
        let zipped = gz.finish().unwrap();
        assert_eq!(decode_json(&zipped, true, 1 << 20).unwrap(), got);
        assert!(decode_json(&zipped, true, 10).is_err());
        assert!(decode_json(
            br#"{"streams":[{"stream":{},"values":[["x","a"]]}]}"#,
            false,
            99
        )
        .is_err());
        assert!(decode_json(br#"{"streams":[{"values":[["1"]]}]}"#, false, 99).is_err());
    }
}
