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

/// The bundled model's file, as shipped.
fn model_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.model");
    std::fs::read(path).expect("models/default.model reads")
}
