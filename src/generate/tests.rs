//! End-to-end tests of the generator's outputs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

use super::{generate, GenerateConfig, GenerateSummary, Label, SPAN_SECS, START_UNIX_SECS};

const NS: u64 = 1_000_000_000;

/// Output of one run: log bytes, label bytes, summary.
struct Run {
    logs: Vec<u8>,
    labels: Vec<u8>,
    summary: GenerateSummary,
}

fn run(lines: u64, seed: u64) -> Run {
    let mut logs = Vec::new();
    let mut labels = Vec::new();
    let summary = generate(&GenerateConfig { lines, seed }, &mut logs, &mut labels)
        .expect("generation into memory cannot fail");
    Run {
        logs,
        labels,
        summary,
    }
}

/// The default data set, generated once for all tests that inspect it.
fn sample() -> &'static Run {
    static SAMPLE: OnceLock<Run> = OnceLock::new();
    SAMPLE.get_or_init(|| run(100_000, 42))
}

/// One parsed line: namespace, pod, container, ts, text.
struct Entry {
    namespace: String,
    pod: String,
    container: String,
    ts: u64,
    text: String,
}

/// Parses a response, asserting its exact Loki shape on the way.
fn parse(logs: &[u8]) -> Vec<Vec<Entry>> {
    let doc: Value = serde_json::from_slice(logs).expect("valid JSON");
    let top = doc.as_object().expect("top-level object");
    assert_eq!(top.keys().collect::<Vec<_>>(), ["data", "status"]);
    assert_eq!(top["status"], "success");
    let data = top["data"].as_object().expect("data object");
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["result", "resultType", "stats"]
    );
    assert_eq!(data["resultType"], "streams");
    assert_eq!(data["stats"], Value::Object(Default::default()));
    let mut streams = Vec::new();
    for s in data["result"].as_array().expect("result array") {
        let s = s.as_object().expect("stream object");
        assert_eq!(s.keys().collect::<Vec<_>>(), ["stream", "values"]);
        let labels = s["stream"].as_object().expect("labels object");
        assert_eq!(
            labels.keys().collect::<BTreeSet<_>>(),
            ["container", "namespace", "pod"]
                .iter()
                .map(|k| k.to_string())
                .collect::<BTreeSet<_>>()
                .iter()
                .collect()
        );
        let get = |k: &str| labels[k].as_str().expect("label is a string").to_string();
        let values = s["values"].as_array().expect("values array");
        assert!(!values.is_empty(), "Loki never returns an empty stream");
        let mut entries = Vec::with_capacity(values.len());
        for v in values {
            let pair = v.as_array().expect("value is an array");
            assert_eq!(pair.len(), 2);
            let ts_str = pair[0].as_str().expect("ts is a string");
            assert!(!ts_str.starts_with('0') && ts_str.bytes().all(|b| b.is_ascii_digit()));
            entries.push(Entry {
                namespace: get("namespace"),
                pod: get("pod"),
                container: get("container"),
                ts: ts_str.parse().expect("ts is a decimal u64"),
                text: pair[1].as_str().expect("line is a string").to_string(),
            });
        }
        streams.push(entries);
    }
    streams
}

fn sample_streams() -> &'static Vec<Vec<Entry>> {
    static PARSED: OnceLock<Vec<Vec<Entry>>> = OnceLock::new();
    PARSED.get_or_init(|| parse(&sample().logs))
}

/// Parsed labels: (namespace, pod, ts, label, incident).
fn parse_labels(labels: &[u8]) -> Vec<(String, String, u64, String, String)> {
    std::str::from_utf8(labels)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("label line is JSON");
            let o = v.as_object().expect("label object");
            assert_eq!(
                o.keys().collect::<BTreeSet<_>>(),
                ["incident", "label", "namespace", "pod", "ts"]
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<BTreeSet<_>>()
                    .iter()
                    .collect()
            );
            let s = |k: &str| o[k].as_str().expect("string field").to_string();
            (
                s("namespace"),
                s("pod"),
                s("ts").parse().expect("ts"),
                s("label"),
                s("incident"),
            )
        })
        .collect()
}

#[test]
fn output_has_exact_loki_shape_and_one_value_per_line() {
    let r = sample();
    let streams = sample_streams();
    assert_eq!(streams.len(), r.summary.streams);
    let text = std::str::from_utf8(&r.logs).expect("utf-8");
    assert!(text.starts_with(
        r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{"namespace":""#
    ));
    assert!(text.ends_with("],\"stats\":{}}}\n"));
    let value_lines = text.lines().filter(|l| l.starts_with("[\"")).count() as u64;
    assert_eq!(
        value_lines, r.summary.lines,
        "every value sits on its own line"
    );
}

#[test]
fn line_count_is_exact() {
    assert_eq!(sample().summary.lines, 100_000);
    let total: usize = sample_streams().iter().map(Vec::len).sum();
    assert_eq!(total, 100_000);
    for lines in [0u64, 1, 7, 999, 4_321, 23_457] {
        let r = run(lines, 7);
        assert_eq!(r.summary.lines, lines);
        let got: usize = parse(&r.logs).iter().map(Vec::len).sum();
        assert_eq!(got as u64, lines, "lines={lines}");
    }
}

#[test]
fn same_seed_is_byte_identical_and_other_seed_differs() {
    let a = run(20_000, 42);
    let b = run(20_000, 42);
    assert!(a.logs == b.logs, "logs differ between identical runs");
    assert!(a.labels == b.labels, "labels differ between identical runs");
    assert_eq!(a.summary, b.summary);
    let c = run(20_000, 43);
    assert!(a.logs != c.logs);
    assert_eq!(c.summary.lines, 20_000);
    // The sample is the prefix-independent default: 100k with seed 42 twice.
    let d = run(100_000, 42);
    assert!(d.logs == sample().logs);
}

#[test]
fn timestamps_strictly_increase_per_stream_and_are_unique_per_pod() {
    let mut per_pod: HashSet<(&str, u64)> = HashSet::new();
    let start = START_UNIX_SECS * NS;
    let end = start + SPAN_SECS * NS;
    for stream in sample_streams() {
        let mut prev = 0u64;
        for e in stream {
            assert!(
                e.ts > prev,
                "{}/{} not increasing at {}",
                e.pod,
                e.container,
                e.ts
            );
            prev = e.ts;
            assert!(
                e.ts >= start && e.ts < end + NS,
                "ts {} outside the span",
                e.ts
            );
            assert!(
                per_pod.insert((e.pod.as_str(), e.ts)),
                "duplicate (pod, ts) {} {}",
                e.pod,
                e.ts
            );
        }
    }
}

#[test]
fn every_label_refers_to_an_existing_line() {
    let mut lines: HashMap<(&str, u64), &Entry> = HashMap::new();
    for e in sample_streams().iter().flatten() {
        lines.insert((e.pod.as_str(), e.ts), e);
    }
    let labels = parse_labels(&sample().labels);
    let mut keys = HashSet::new();
    for (ns, pod, ts, label, incident) in &labels {
        let e = lines
            .get(&(pod.as_str(), *ts))
            .unwrap_or_else(|| panic!("label ({pod}, {ts}) has no line"));
        assert_eq!(&e.namespace, ns);
        assert!(keys.insert((pod.clone(), *ts)), "duplicate label key");
        assert!(Label::ALL.iter().any(|l| l.as_str() == label));
        assert!(!incident.is_empty());
    }
    assert_eq!(labels.len() as u64, sample().summary.labelled_total());
}

#[test]
fn cluster_is_big_enough() {
    let s = &sample().summary;
    assert!(s.pods >= 55, "{} pods", s.pods);
    assert!(s.namespaces >= 6, "{} namespaces", s.namespaces);
    let pods: BTreeSet<&str> = sample_streams()
        .iter()
        .flatten()
        .map(|e| e.pod.as_str())
        .collect();
    let nss: BTreeSet<&str> = sample_streams()
        .iter()
        .flatten()
        .map(|e| e.namespace.as_str())
        .collect();
    assert_eq!(pods.len(), s.pods);
    assert_eq!(nss.len(), s.namespaces);
    // Some pods have a sidecar: two streams, one pod.
    let mut containers: BTreeMap<&str, usize> = BTreeMap::new();
    for stream in sample_streams() {
        *containers.entry(stream[0].pod.as_str()).or_default() += 1;
    }
    assert!(containers.values().filter(|&&n| n >= 2).count() >= 3);
    assert!(
        pods.iter().any(|p| p.ends_with("-0")),
        "StatefulSet ordinal"
    );
}

#[test]
fn each_label_has_at_least_100_lines_and_total_is_a_few_percent() {
    let s = &sample().summary;
    for label in Label::ALL {
        let n = s.labelled.get(&label).copied().unwrap_or(0);
        assert!(n >= 100, "{} has only {n} lines", label.as_str());
    }
    let frac = s.labelled_total() as f64 / s.lines as f64;
    assert!((0.01..=0.04).contains(&frac), "labelled fraction {frac}");
}

#[test]
fn first_40_percent_has_no_labelled_line() {
    let cut = START_UNIX_SECS * NS + SPAN_SECS * NS * 4 / 10;
    for (_, pod, ts, label, _) in parse_labels(&sample().labels) {
        assert!(ts >= cut, "{label} at {ts} on {pod} is in the first 40 %");
    }
}

/// Replaces every token that contains a digit by `#`, as a number-masking detector would.
fn mask(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut tok = String::new();
    let flush = |tok: &mut String, out: &mut String| {
        if tok.bytes().any(|b| b.is_ascii_digit()) {
            out.push('#');
        } else {
            out.push_str(tok);
        }
        tok.clear();
    };
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            tok.push(c);
        } else {
            flush(&mut tok, &mut out);
            out.push(c);
        }
    }
    flush(&mut tok, &mut out);
    out
}

#[test]
fn incidents_are_visible_in_text_not_only_in_numbers() {
    let labels: HashMap<(String, u64), String> = parse_labels(&sample().labels)
        .into_iter()
        .map(|(_, pod, ts, label, _)| ((pod, ts), label))
        .collect();
    let cut = START_UNIX_SECS * NS + SPAN_SECS * NS * 4 / 10;
    let mut normal = HashSet::new();
    let mut abnormal: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in sample_streams().iter().flatten() {
        match labels.get(&(e.pod.clone(), e.ts)) {
            Some(l) => abnormal.entry(l.clone()).or_default().push(mask(&e.text)),
            None if e.ts < cut => {
                normal.insert(mask(&e.text));
            }
            None => {}
        }
    }
    for (label, lines) in abnormal {
        let novel = lines.iter().filter(|l| !normal.contains(*l)).count();
        let frac = novel as f64 / lines.len() as f64;
        assert!(
            frac >= 0.9,
            "{label}: only {frac:.2} of lines differ from normal text"
        );
    }
}

#[test]
fn every_family_is_present() {
    let all: Vec<&str> = sample_streams()
        .iter()
        .flatten()
        .map(|e| e.text.as_str())
        .collect();
    let has = |what: &str, f: &dyn Fn(&str) -> bool| {
        assert!(all.iter().any(|l| f(l)), "no {what} line");
    };
    has("nginx access", &|l| {
        l.contains(" - - [") && l.contains("] \"GET ") && l.contains("] [] ")
    });
    has("nginx error", &|l| {
        l.contains(" [error] ") && l.contains("upstream")
    });
    has("klog", &|l| l.starts_with("I1114 ") && l.contains("] \""));
    has("zap", &|l| l.starts_with("{\"level\":\"info\",\"ts\":17"));
    has("pino", &|l| l.starts_with("{\"level\":30,\"time\":17"));
    has("logfmt", &|l| l.starts_with("level=info ts=2023-11-"));
    has("spring", &|l| {
        l.contains("  INFO 1 --- [") && l.contains(" : ")
    });
    has("java frame", &|l| l.starts_with("\tat com.example."));
    has("caused by", &|l| l.starts_with("Caused by: "));
    has("more", &|l| l.starts_with("\t... ") && l.ends_with(" more"));
    has("postgres", &|l| {
        l.contains(" UTC [") && l.contains("] LOG:  checkpoint starting: time")
    });
    has("redis", &|l| {
        l.starts_with("1:M ") && l.contains("Background saving started by pid")
    });
    has("coredns", &|l| {
        l.starts_with("[INFO] 10.") && l.contains(" IN ") && l.contains("NOERROR")
    });
    has("k8s event", &|l| {
        l.starts_with("{\"metadata\":") && l.contains("\"involvedObject\"")
    });
    has("envoy", &|l| {
        l.contains(" via_upstream ") && l.contains("inbound|8080||")
    });
    has("kafka", &|l| {
        l.contains("] INFO [") && l.contains("(kafka.")
    });
    has("go panic", &|l| {
        l.starts_with("panic: runtime error: invalid memory address")
    });
    has("backoff event", &|l| {
        l.contains("Back-off restarting failed container")
    });
    has("oom", &|l| {
        l == "java.lang.OutOfMemoryError: Java heap space"
    });
    has("x509", &|l| {
        l.contains("x509: certificate has expired or is not yet valid")
    });
    // Every line is valid UTF-8 text on one line.
    assert!(all.iter().all(|l| !l.contains('\n')));
}

#[test]
fn java_stack_frames_are_consecutive_entries() {
    // A normal WARN trace: each frame is its own entry right after the previous one.
    let mut found = false;
    for stream in sample_streams() {
        for w in stream.windows(2) {
            if w[1].text.starts_with("\tat ") && w[1].ts - w[0].ts <= 2 {
                found = true;
            }
        }
    }
    assert!(found);
}
