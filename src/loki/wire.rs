//! Loki's JSON wire format (HTTP API v1), as serde types.
//!
//! Unknown fields are ignored (Loki adds `stats`, `encodingFlags`, ...); label key order
//! is irrelevant (labels land in a `BTreeMap`); a value entry may carry a third element
//! (structured metadata, Loki 3) which is skipped.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A stream's label set, sorted by name.
pub(crate) type Labels = BTreeMap<String, String>;

/// `GET /loki/api/v1/query_range` response.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryResponse {
    /// `success` or `error`.
    pub status: String,
    /// The result when `status` is `success`.
    #[serde(default)]
    pub data: Option<QueryData>,
}

/// The `data` of a query response.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryData {
    /// Must be `streams` for a log query.
    #[serde(rename = "resultType")]
    pub result_type: String,
    /// One entry per stream, each with its values in the query's direction.
    #[serde(default)]
    pub result: Vec<StreamValues>,
}

/// One stream and some of its entries.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamValues {
    /// The stream's labels.
    pub stream: Labels,
    /// `[timestamp, line]` pairs.
    #[serde(default)]
    pub values: Vec<Entry>,
}

/// One log entry: `["<unix ns>", "<line>"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Unix timestamp in nanoseconds.
    pub ts: i64,
    /// The line.
    pub line: String,
}

/// `GET /loki/api/v1/series` response.
#[derive(Debug, Deserialize)]
pub(crate) struct SeriesResponse {
    /// `success` or `error`.
    pub status: String,
    /// Label sets of the streams with data in the range.
    #[serde(default)]
    pub data: Vec<Labels>,
}

/// One frame of `GET /loki/api/v1/tail`.
#[derive(Debug, Deserialize)]
pub(crate) struct TailFrame {
    /// New entries, grouped per stream.
    #[serde(default)]
    pub streams: Vec<StreamValues>,
    /// Entries Loki could not send, `{"labels", "timestamp"}` each (absent when none);
    /// only their number is used: reconciliation finds them, and the unreported ones.
    #[serde(default)]
    pub dropped_entries: Option<Vec<IgnoredAny>>,
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [\"<unix nanoseconds>\", \"<line>\"] entry")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
        let ts: String = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let ts = ts
            .parse::<i64>()
            .map_err(|_| de::Error::custom(format!("timestamp {ts:?} is not unix nanoseconds")))?;
        let line: String = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Entry { ts, line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_response_tolerates_extra_fields_and_metadata() {
        let body = r#"{"status":"success","data":{"resultType":"streams","result":[
            {"stream":{"pod":"a","namespace":"n"},"values":[["2","x"],["3","y",{"trace_id":"t"}]]}],
            "stats":{"summary":{}}},"extra":1}"#;
        let r: QueryResponse = serde_json::from_str(body).unwrap();
        let data = r.data.unwrap();
        assert_eq!(data.result_type, "streams");
        assert_eq!(
            data.result[0].values[1],
            Entry {
                ts: 3,
                line: "y".into()
            }
        );
    }

    #[test]
    fn tail_frame_with_and_without_dropped_entries() {
        let f: TailFrame = serde_json::from_str(
            r#"{"streams":[{"stream":{"b":"2","a":"1"},"values":[["5","l"]]}]}"#,
        )
        .unwrap();
        assert!(f.dropped_entries.is_none());
        assert_eq!(f.streams[0].stream.keys().collect::<Vec<_>>(), ["a", "b"]);
        let f: TailFrame = serde_json::from_str(
            r#"{"streams":[],"dropped_entries":[{"labels":{"a":"1"},"timestamp":"7"}]}"#,
        )
        .unwrap();
        assert_eq!(f.dropped_entries.map(|d| d.len()), Some(1));
    }

    #[test]
    fn bad_timestamps_are_errors() {
        assert!(serde_json::from_str::<Entry>(r#"["x","l"]"#).is_err());
        assert!(serde_json::from_str::<Entry>(r#"["1"]"#).is_err());
    }
}
