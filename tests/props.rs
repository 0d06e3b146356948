//! Property-based tests (issue 16): the readers, the normaliser and the model loader take
//! arbitrary bytes and mutations of valid inputs without a panic, and keep their promises.
//! The number of cases is bounded (`PROPTEST_CASES` overrides it) so CI stays quick.

use std::io::Cursor;
use std::path::Path;

use loganomaly::input::{read, Format, ReadOptions};
use loganomaly_model::normalise::{normalise, Tokens};
use loganomaly_model::Model;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    // 256 cases unless PROPTEST_CASES says otherwise
    ProptestConfig {
        // a failing case is printed for a named regression test, not written into the tree
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::Auto),
        Just(Format::Loki),
        Just(Format::Jsonl),
        Just(Format::Text)
    ]
}

/// A small valid Loki response, with the shapes a mutation can break.
fn loki_doc() -> Vec<u8> {
    br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{"namespace":"shop","pod":"cart-1"},"values":[["1700000000000000000","GET /cart 200 12ms"],["1700000001000000000","caf\u00e9 \"quoted\" \\ line"],["1700000002000000000","panic: nil pointer",{"trace_id":"abc"}]]},{"values":[["1700000003000000000","worker done"]],"stream":{"pod":"worker-1"}}]}}"#.to_vec()
}

/// One edit of a byte string: flip a byte, cut it, delete or insert a byte.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Cut(usize),
    Delete(usize),
    Insert(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        any::<usize>().prop_map(Edit::Cut),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let n = bytes.len().max(1);
    match *e {
        Edit::Flip(i, x) if !bytes.is_empty() => bytes[i % n] ^= x,
        Edit::Cut(i) => bytes.truncate(i % n),
        Edit::Delete(i) if !bytes.is_empty() => {
            bytes.remove(i % n);
        }
        Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        _ => {}
    }
}

/// Reads `bytes`, checking what every read promises: no line longer than the cut, and on
/// success as many lines counted as handed over.
fn read_checked(bytes: &[u8], opts: &ReadOptions) -> Result<(), TestCaseError> {
    let mut seen = 0u64;
    let mut too_long = None;
    let res = read(Cursor::new(bytes), Path::new("prop"), opts, &mut |l| {
        seen += 1;
        if l.line.len() > opts.max_line_bytes {
            too_long = Some(l.line.len());
        }
        Ok(())
    });
    prop_assert_eq!(too_long, None, "a line is longer than max_line_bytes");
    if let Ok(stats) = res {
        prop_assert_eq!(stats.lines, seen);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn readers_take_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        format in format(),
        skip_invalid in any::<bool>(),
        max_line_bytes in 1usize..256,
    ) {
        let opts = ReadOptions { format, skip_invalid, max_line_bytes, ..ReadOptions::default() };
        read_checked(&bytes, &opts)?;
    }

    #[test]
    fn readers_take_mutated_loki_responses(
        edits in proptest::collection::vec(edit(), 1..8),
        skip_invalid in any::<bool>(),
        max_line_bytes in 1usize..64,
    ) {
        let mut doc = loki_doc();
        for e in &edits {
            apply(&mut doc, e);
        }
        let opts = ReadOptions { format: Format::Loki, skip_invalid, max_line_bytes, ..ReadOptions::default() };
        read_checked(&doc, &opts)?;
    }

    #[test]
    fn the_normaliser_takes_any_text_and_is_deterministic(line in any::<String>()) {
        let (mut a, mut b) = (Tokens::new(), Tokens::new());
        normalise(&line, &mut a);
        normalise(&line, &mut b);
        let first: Vec<&str> = a.iter().collect();
        let again: Vec<&str> = b.iter().collect();
        prop_assert_eq!(first.len(), a.len());
        prop_assert_eq!(first, again);
    }

    #[test]
    fn the_model_loader_refuses_every_damaged_file(edits in proptest::collection::vec(edit(), 1..4)) {
        let good = model_bytes();
        let mut bytes = good.clone();
        for e in &edits {
            apply(&mut bytes, e);
        }
        let loaded = Model::from_bytes(&bytes, "mutated");
        if bytes != good {
            prop_assert!(loaded.is_err(), "a damaged model file loaded");
        }
    }
}

/// A small valid push as Promtail sends it, before snappy compression.
fn push_proto() -> Vec<u8> {
    use loganomaly::push::wire::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: br#"{namespace="shop", pod="cart-1", msg="a \"q\" \\ \n"}"#.to_vec(),
            entries: vec![
                EntryAdapter {
                    timestamp: Some(Timestamp::from_ns(1_700_000_000_000_000_001)),
                    line: "GET /cart 200 café".into(),
                },
                EntryAdapter {
                    timestamp: None,
                    line: b"\xff raw".to_vec(),
                },
            ],
            hash: 7,
        }],
    };
    prost::Message::encode_to_vec(&req)
}

/// Prometheus label-set text of `labels`, values quoted with Go escapes.
fn label_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let mut q = String::new();
            for c in v.chars() {
                match c {
                    '"' => q.push_str("\\\""),
                    '\\' => q.push_str("\\\\"),
                    '\n' => q.push_str("\\n"),
                    c => q.push(c),
                }
            }
            format!("{k}=\"{q}\"")
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

proptest! {
    #![proptest_config(config())]

    /// Issue 17: the push decoders take arbitrary bytes and mutations of valid pushes
    /// (before and after compression) without a panic.
    #[test]
    fn push_bodies_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        edits in proptest::collection::vec(edit(), 1..8),
        gzip in any::<bool>(),
    ) {
        use loganomaly::push::wire::{decode_json, decode_protobuf, parse_labels};
        let _ = decode_protobuf(&bytes, 1 << 20);
        let _ = decode_json(&bytes, gzip, 1 << 20);
        let _ = parse_labels(&String::from_utf8_lossy(&bytes));
        let mut raw = push_proto();
        for e in &edits {
            apply(&mut raw, e);
        }
        let compressed = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        if let Ok(streams) = decode_protobuf(&compressed, 1 << 20) {
            for s in streams {
                let _ = s.labels.parse();
            }
        }
        let mut damaged = snap::raw::Encoder::new().compress_vec(&push_proto()).unwrap();
        for e in &edits {
            apply(&mut damaged, e);
        }
        let _ = decode_protobuf(&damaged, 1 << 20);
        let mut json = br#"{"streams":[{"stream":{"pod":"p"},"values":[["1","a"],["2","b",{"k":"v"}]]}]}"#.to_vec();
        for e in &edits {
            apply(&mut json, e);
        }
        let _ = decode_json(&json, false, 1 << 20);
    }

    /// Any label set, written as Prometheus text with escapes, parses back to itself.
    #[test]
    fn label_sets_round_trip(
        labels in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", any::<String>(), 1..6),
    ) {
        let parsed = loganomaly::push::wire::parse_labels(&label_text(&labels));
        prop_assert_eq!(parsed, Ok(labels));
    }
}

/// The bundled model's file, as shipped.
fn model_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.model");
    std::fs::read(path).expect("models/default.model reads")
}
