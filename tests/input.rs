//! Readers against malformed and unusual input: clear errors, never a panic, nothing lost.

use std::io::Cursor;
use std::path::Path;

use loganomaly::event::LogLine;
use loganomaly::input::{read, Format, ReadError, ReadOptions, ReadStats};

fn read_all(bytes: &[u8], opts: &ReadOptions) -> (Vec<LogLine>, Result<ReadStats, ReadError>) {
    let mut lines = Vec::new();
    let res = read(Cursor::new(bytes), Path::new("in.json"), opts, &mut |l| {
        lines.push(l);
        Ok(())
    });
    (lines, res)
}

fn loki(values: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"streams","result":[{{"stream":{{"namespace":"shop","pod":"cart-1","container":"app"}},"values":[{values}]}}],"stats":{{}}}}}}"#
    )
}

fn skip() -> ReadOptions {
    ReadOptions {
        skip_invalid: true,
        ..ReadOptions::default()
    }
}

#[test]
fn loki_response_with_structured_metadata_and_two_streams() {
    let doc = r#"{"status":"success","data":{"resultType":"streams","result":[
        {"stream":{"pod":"a","namespace":"n"},"values":[["1700000000000000001","one"],["1700000000000000002","two",{"structuredMetadata":{"trace_id":"x"}}]]},
        {"stream":{"k8s_pod_name":"b","k8s_namespace_name":"m"},"values":[["5","three"]]}]}}"#;
    let (lines, res) = read_all(doc.as_bytes(), &ReadOptions::default());
    assert_eq!(res.unwrap().lines, 3);
    let got: Vec<(&str, &str, i64, &str)> = lines
        .iter()
        .map(|l| {
            (
                l.stream.namespace.as_str(),
                l.stream.pod.as_str(),
                l.ts_ns,
                l.line.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("n", "a", 1_700_000_000_000_000_001, "one"),
            ("n", "a", 1_700_000_000_000_000_002, "two"),
            ("m", "b", 5, "three")
        ]
    );
}

#[test]
fn truncated_json_names_the_place_and_keeps_what_came_before() {
    let doc = loki(r#"["1","first"],["2","second"],["3","third"]"#);
    let cut = &doc.as_bytes()[..doc.find("thi").unwrap() + 3];
    let (lines, res) = read_all(cut, &ReadOptions::default());
    let err = res.unwrap_err().to_string();
    assert!(err.starts_with("in.json:1:"), "{err}");
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(lines.len(), 2, "lines before the damage are kept");
}

#[test]
fn wrong_types_are_errors_with_a_line_number_or_skipped_and_counted() {
    let doc = loki("[\"1\",\"ok\"],\n[1700000000,\"number ts ok\"],\n[\"2\",42],\n{\"a\":1},\n[\"x\",\"bad ts\"],\n[\"3\",\"last\"]");
    let (_, res) = read_all(doc.as_bytes(), &ReadOptions::default());
    let err = res.unwrap_err().to_string();
    assert!(err.contains("in.json:3:"), "{err}");
    assert!(err.contains("line is not a string"), "{err}");

    let (lines, res) = read_all(doc.as_bytes(), &skip());
    let stats = res.unwrap();
    assert_eq!(stats.skipped, 3);
    assert_eq!(stats.lines, 3);
    let texts: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(texts, vec!["ok", "number ts ok", "last"]);
}

#[test]
fn empty_and_whitespace_inputs() {
    let opts = ReadOptions {
        format: Format::Loki,
        ..ReadOptions::default()
    };
    let err = read_all(b"", &opts).1.unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    let err = read_all(b"  \n ", &opts).1.unwrap_err().to_string();
    assert!(err.contains("in.json"), "{err}");
    // auto-detected empty input is an empty text file: no lines, no error
    let (lines, res) = read_all(b"", &ReadOptions::default());
    assert!(lines.is_empty());
    assert_eq!(res.unwrap().lines, 0);
}

#[test]
fn loki_error_status_and_metric_results_are_explained() {
    let err = read_all(
        br#"{"status":"error","errorType":"bad_data","error":"parse error at line 1"}"#,
        &ReadOptions::default(),
    )
    .1
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("status \"error\"") && err.contains("parse error"),
        "{err}"
    );
    let err = read_all(
        br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
        &ReadOptions::default(),
    )
    .1
    .unwrap_err()
    .to_string();
    assert!(err.contains("matrix") && err.contains("streams"), "{err}");
}

#[test]
fn invalid_utf8_inside_json_is_a_syntax_error_with_position() {
    let mut doc = loki(r#"["1","caf"#).into_bytes();
    let tail = loki(r#"["1","caf"#);
    doc.truncate(tail.find("caf").unwrap() + 3);
    doc.extend_from_slice(b"\xff\xfe\"]]}]}}");
    let err = read_all(&doc, &ReadOptions::default()).1.unwrap_err();
    assert!(matches!(err, ReadError::Syntax { line: 1, .. }), "{err}");
}

#[test]
fn a_one_mebibyte_line_is_truncated_and_counted_not_fatal() {
    let big = "x".repeat(1 << 20);
    let doc = loki(&format!(r#"["1","{big}"],["2","small"]"#));
    let (lines, res) = read_all(doc.as_bytes(), &ReadOptions::default());
    let stats = res.unwrap();
    assert_eq!(stats.truncated, 1);
    assert_eq!(lines[0].line.len(), ReadOptions::default().max_line_bytes);
    assert_eq!(lines[1].line, "small");
}

#[test]
fn text_input_repairs_invalid_utf8_and_cuts_giant_lines() {
    let mut bytes = b"ok line\r\nbad \xff\xfe byte\n\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'y', 100_000));
    bytes.extend_from_slice("é\nend".as_bytes());
    let opts = ReadOptions {
        format: Format::Text,
        max_line_bytes: 1000,
        ..ReadOptions::default()
    };
    let (lines, res) = read_all(&bytes, &opts);
    let stats = res.unwrap();
    assert_eq!(
        (
            stats.lines,
            stats.repaired_utf8,
            stats.truncated,
            stats.empty
        ),
        (4, 1, 1, 1)
    );
    assert_eq!(lines[0].line, "ok line");
    assert_eq!(lines[1].line, "bad \u{fffd}\u{fffd} byte");
    assert_eq!(lines[2].line.len(), 1000);
    assert_eq!(lines[3].line, "end");
    assert_eq!(lines[0].stream.pod, "in.json");
}

#[test]
fn logcli_jsonl_with_bad_records() {
    let input = concat!(
        r#"{"labels":{"namespace":"a","pod":"p"},"line":"hello","timestamp":"2023-11-14T22:13:20Z"}"#,
        "\n",
        r#"{"labels":{"namespace":"a","pod":"p"},"line":"again","timestamp":"2023-11-14T22:13:21.5+00:00","extra":1}"#,
        "\n",
        "not json\n",
        r#"{"labels":{},"line":"x","timestamp":"soon"}"#,
        "\n",
        r#"{"labels":{"namespace":"a","pod":"p"},"line":"last","timestamp":"1700000003000000000"}"#,
        "\n"
    );
    let opts = ReadOptions {
        format: Format::Jsonl,
        ..ReadOptions::default()
    };
    let err = read_all(input.as_bytes(), &opts).1.unwrap_err().to_string();
    assert!(err.starts_with("in.json:3:"), "{err}");
    let opts = ReadOptions {
        skip_invalid: true,
        ..opts
    };
    let (lines, res) = read_all(input.as_bytes(), &opts);
    assert_eq!(res.unwrap().skipped, 2);
    let ts: Vec<i64> = lines.iter().map(|l| l.ts_ns).collect();
    assert_eq!(
        ts,
        vec![
            1_700_000_000_000_000_000,
            1_700_000_001_500_000_000,
            1_700_000_003_000_000_000
        ]
    );
    assert!(std::sync::Arc::ptr_eq(&lines[0].stream, &lines[2].stream));
}

/// Issue 16, finding 7: JSON key order is not significant: `"values"` before `"stream"`
/// reads the lines with their labels, and values with no labels at all keep their lines.
#[test]
fn finding_7_values_before_stream_labels_are_read_with_their_labels() {
    let doc = r#"{"status":"success","data":{"resultType":"streams","result":[{"values":[["1","x"],["2","y"]],"stream":{"pod":"a"}},{"stream":{"pod":"b"},"values":[["3","z"]]},{"values":[["4","w"]]}]}}"#;
    let (lines, res) = read_all(doc.as_bytes(), &ReadOptions::default());
    assert_eq!(res.unwrap().lines, 4);
    let got: Vec<(&str, i64, &str)> = lines
        .iter()
        .map(|l| (l.stream.pod.as_str(), l.ts_ns, l.line.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![("a", 1, "x"), ("a", 2, "y"), ("b", 3, "z"), ("", 4, "w")]
    );
}

#[test]
fn a_stopping_consumer_stops_the_reader() {
    let doc = loki(r#"["1","a"],["2","b"],["3","c"]"#);
    let mut seen = 0;
    let res = read(
        Cursor::new(doc.as_bytes()),
        Path::new("x"),
        &ReadOptions::default(),
        &mut |_| {
            seen += 1;
            if seen == 2 {
                Err("enough".into())
            } else {
                Ok(())
            }
        },
    );
    assert_eq!(seen, 2);
    assert!(matches!(res, Err(ReadError::Sink(_))));
}

/// Issue 16, finding 5: one invalid UTF-8 byte inside a Loki JSON line skips that entry
/// with `--skip-invalid`, not the rest of the file (it was 0 of 300 lines).
#[test]
fn finding_5_invalid_utf8_in_a_loki_line_skips_only_that_entry() {
    let mut doc = Vec::new();
    let values: Vec<String> = (0..300)
        .map(|i| format!(r#"["{i}","line {i} BAD"]"#))
        .collect();
    let text = loki(&values.join(","));
    // line 150's "BAD" becomes "B\xffD"
    let at = text.find("line 150 BAD").unwrap() + "line 150 B".len();
    doc.extend_from_slice(&text.as_bytes()[..at]);
    doc.push(0xff);
    doc.extend_from_slice(&text.as_bytes()[at + 1..]);
    let (lines, res) = read_all(&doc, &skip());
    let stats = res.unwrap();
    assert_eq!((stats.lines, stats.skipped), (299, 1));
    assert_eq!(lines.len(), 299);
    assert!(lines.iter().all(|l| !l.line.starts_with("line 150 ")));
    // without it, still an error with its place
    let err = read_all(&doc, &ReadOptions::default()).1.unwrap_err();
    assert!(matches!(err, ReadError::Syntax { line: 1, .. }), "{err}");
}

/// Issue 16, finding 6: a huge Loki JSON line is cut while it is read: the reader keeps at
/// most `max_line_bytes` of it (the cut lands on a character boundary), and the entries
/// after it are read.
#[test]
fn finding_6_a_huge_loki_line_is_cut_while_reading() {
    let opts = ReadOptions {
        max_line_bytes: 100,
        ..ReadOptions::default()
    };
    // "é" is two bytes: byte 100 falls inside one
    let big = format!("{}{}", "x".repeat(99), "é".repeat(4 << 20));
    let escaped = format!("{}\\u00e9\\n{}", "y".repeat(99), "z".repeat(1 << 20));
    let doc = loki(&format!(r#"["1","{big}"],["2","{escaped}"],["3","small"]"#));
    let (lines, res) = read_all(doc.as_bytes(), &opts);
    let stats = res.unwrap();
    assert_eq!((stats.lines, stats.truncated), (3, 2));
    assert_eq!(lines[0].line, "x".repeat(99));
    assert_eq!(lines[1].line, "y".repeat(99));
    assert_eq!(lines[2].line, "small");
}

/// Found by `props::readers_take_arbitrary_bytes`: a text line of invalid UTF-8 bytes, cut
/// to `max_line_bytes` and then repaired (each bad byte a 3-byte U+FFFD), grew past the cut.
#[test]
fn a_repaired_text_line_still_fits_max_line_bytes() {
    let input = vec![0xffu8; 100];
    let opts = ReadOptions {
        format: Format::Text,
        max_line_bytes: 60,
        ..ReadOptions::default()
    };
    let (lines, res) = read_all(&input, &opts);
    let stats = res.unwrap();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].line.len() <= 60, "{}", lines[0].line.len());
    assert!(lines[0].line.starts_with('\u{fffd}'));
    assert_eq!((stats.truncated, stats.repaired_utf8), (1, 1));
}
