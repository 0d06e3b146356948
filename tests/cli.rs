//! The `loganomaly` binary end to end: what a user types, what they see.

#[cfg(feature = "lab")]
use std::path::Path;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loganomaly"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.current_dir(root()).output().unwrap();
    if !out.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes a small generated log file with labels into `dir`.
#[cfg(feature = "lab")]
fn generate(dir: &Path, lines: u64) -> PathBuf {
    let path = dir.join("gen.json");
    let out = run(bin()
        .args(["generate", "--lines", &lines.to_string(), "--out"])
        .arg(&path));
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

#[test]
fn replay_of_the_bundled_sample_ranks_incident_pods_first_with_auc_above_095() {
    let out = run(bin().args(["replay", "--json", "--top", "0"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let eval = &report["evaluation"];
    assert_eq!(eval["incidents_rank_first"], Value::Bool(true), "{eval}");
    let auc = eval["lines"]["roc_auc"].as_f64().unwrap();
    assert!(auc >= 0.95, "per-line ROC-AUC {auc}");
    assert!(report["read"]["lines"].as_u64().unwrap() >= 100_000);
    assert!(report["pods_total"].as_u64().unwrap() >= 50);
}

#[test]
fn replay_prints_a_readable_report() {
    let out = run(bin().arg("replay"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in ["lines/s", "peak RSS", "NAMESPACE/POD", "why:", "ROC-AUC"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // the ledger's errors in the database outage name the database's workload
    let ledger = text
        .split("\n!")
        .find(|pod| pod.contains("payments/ledger-"))
        .unwrap_or_else(|| panic!("no anomalous ledger pod in:\n{text}"));
    assert!(ledger.contains("names: postgres,"), "{ledger}");
}

#[cfg(feature = "lab")]
#[test]
fn train_then_replay_then_score_a_generated_file() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path(), 20_000);
    let model = dir.path().join("m.model");
    let out = run(bin()
        .args(["train", "--trees", "50", "--input"])
        .arg(&logs)
        .arg("--out")
        .arg(&model));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("trained on 20000 lines"),
        "{}",
        stdout(&out)
    );

    let out = run(bin()
        .args(["replay", "--json", "--model"])
        .arg(&model)
        .arg(&logs));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["read"]["lines"], 20_000);
    assert!(report["evaluation"]["lines"]["roc_auc"].as_f64().is_some());

    let out = run(bin().args(["score", "--model"]).arg(&model).arg(&logs));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 20_000);
    let r = &records[0];
    assert!(r["score"].as_f64().unwrap() > 0.0 && r["score"].as_f64().unwrap() <= 1.0);
    assert!(r["labels"]["pod"].is_string() && r["ts"].is_string() && r["anomalous"].is_boolean());
}

#[cfg(feature = "lab")]
#[test]
fn bench_replays_with_the_threads_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let file = generate(dir.path(), 3000);
    for threads in ["1", "2"] {
        let out = run(bin()
            .args(["bench", "--threads", threads, "--runs", "2", "--file"])
            .arg(&file));
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let replays: Vec<&str> = text.lines().filter(|l| l.starts_with("replay ")).collect();
        assert_eq!(replays.len(), 2, "{text}");
        for line in replays {
            assert!(line.contains("3000 lines"), "{line}");
            assert!(line.contains(&format!("threads {threads},")), "{line}");
        }
        assert!(text.contains("median"), "{text}");
    }
}

#[test]
fn a_damaged_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(root().join("models/default.model")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("not a model", b"hello".to_vec(), "not a loganomaly model"),
        (
            "flipped",
            {
                let mut b = bytes.clone();
                let i = b.len() - 3;
                b[i] ^= 1;
                b
            },
            "checksum",
        ),
    ];
    for (name, content, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let out = run(bin().args(["replay", "--model"]).arg(&path));
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
    }
}

#[cfg(feature = "lab")]
#[test]
fn a_truncated_input_reports_what_it_read_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path(), 2_000);
    let bytes = std::fs::read(&logs).unwrap();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = run(bin().args(["replay", "--no-labels"]).arg(&cut));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("stopped early") && text.contains("truncated"),
        "{text}"
    );
    assert!(
        text.contains("NAMESPACE/POD"),
        "the lines read are still reported"
    );
}

#[test]
fn bad_arguments_and_missing_files_say_what_is_wrong() {
    let out = run(bin().args(["replay", "/nonexistent/file.json"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/file.json: cannot open"),
        "{}",
        stderr(&out)
    );
    let out = run(bin().args(["replay", "--threshold", "7"]));
    assert!(stderr(&out).contains("--threshold"), "{}", stderr(&out));
    let out = run(bin().args(["train", "--out", "/tmp/x.model", "--contamination", "0.9"]));
    assert!(stderr(&out).contains("contamination"), "{}", stderr(&out));
}

#[test]
fn help_explains_every_command() {
    let out = run(bin().arg("--help"));
    let text = stdout(&out);
    for cmd in ["replay", "score", "train", "serve", "check-config", "tail"] {
        assert!(text.contains(cmd), "{cmd} missing from --help");
    }
    for cmd in ["generate", "evaluate", "bench"] {
        let listed = text.contains(&format!("  {cmd} "));
        assert_eq!(listed, cfg!(feature = "lab"), "{cmd} in --help: {text}");
    }
    let out = run(bin().args(["replay", "--help"]));
    assert!(stdout(&out).contains("dataset/sample-loki-logs.json"));
}

#[cfg(feature = "lab")]
#[test]
fn the_bundled_sample_is_exactly_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample.json");
    let res = run(bin()
        .args(["generate", "--lines", "100000", "--seed", "42", "--out"])
        .arg(&out));
    assert!(res.status.success(), "{}", stderr(&res));
    let same = |a: &Path, b: &Path| std::fs::read(a).unwrap() == std::fs::read(b).unwrap();
    assert!(same(&out, &root().join("dataset/sample-loki-logs.json")));
    assert!(same(
        &dir.path().join("sample.labels.jsonl"),
        &root().join("dataset/sample-loki-logs.labels.jsonl")
    ));
}

#[cfg(feature = "lab")]
#[test]
fn evaluate_on_the_sample_reports_figures_and_checks_them_against_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("recorded.toml");
    let out = run(bin()
        .args([
            "evaluate",
            "sample",
            "--mode",
            "clean",
            "--json",
            "--show-top",
            "3",
        ])
        .arg("--record")
        .arg(&record));
    assert!(out.status.success(), "{}", stderr(&out));
    let evals: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let e = &evals[0];
    assert_eq!(e["mode"], "clean");
    let auc = e["quality"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.95, "clean-baseline ROC-AUC on the sample {auc}");
    let top = e["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert!(top
        .iter()
        .all(|t| !t["tokens"].as_array().unwrap().is_empty()));
    assert!(top.iter().all(|t| t["category"].as_str().is_some()));

    // the record holds; a record 0.1 better than reality fails the check
    let check = |path: &Path| {
        run(bin()
            .args(["evaluate", "sample", "--mode", "clean", "--check"])
            .arg(path))
    };
    assert!(check(&record).status.success());
    let text = std::fs::read_to_string(&record).unwrap();
    let f1: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("f1 = "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    std::fs::write(
        &record,
        text.replace(&format!("f1 = {f1}"), &format!("f1 = {}", f1 + 0.1)),
    )
    .unwrap();
    let out = check(&record);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("sample clean f1"), "{}", stderr(&out));
}

#[cfg(feature = "lab")]
#[test]
fn evaluate_without_the_shared_data_says_which_file_is_missing() {
    let out = run(bin().args(["evaluate", "bgl", "--data-dir", "/nonexistent/datasets"]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/datasets/bgl/BGL_sample_106908.log"),
        "{err}"
    );
}

/// The shared labelled data sets, or `None` (with a message) when `../shared` is absent.
#[cfg(feature = "lab")]
fn shared_datasets() -> Option<PathBuf> {
    let dir = root().join("../shared/datasets");
    if dir.is_dir() {
        return Some(dir);
    }
    eprintln!("skipped: {} not found", dir.display());
    None
}

#[cfg(feature = "lab")]
#[test]
fn evaluate_on_hdfs_scores_blocks_and_finds_most_anomalous_ones() {
    let Some(data) = shared_datasets() else {
        return;
    };
    let out = run(bin()
        .args([
            "evaluate",
            "hdfs",
            "--mode",
            "clean",
            "--session-key",
            r"blk_-?\d+",
            "--json",
            "--data-dir",
        ])
        .arg(&data));
    assert!(out.status.success(), "{}", stderr(&out));
    let evals: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let q = &evals[0]["quality"];
    assert_eq!(evals[0]["unit"], "block");
    // the test part holds thousands of blocks, a few percent anomalous
    let (pos, neg) = (
        q["positives"].as_u64().unwrap(),
        q["negatives"].as_u64().unwrap(),
    );
    assert!(
        pos > 50 && neg > 20 * pos,
        "{pos} anomalous, {neg} normal blocks"
    );
    assert!(q["roc_auc"].as_f64().unwrap() > 0.8, "{q}");
    // blocks are judged by the session model, at its own threshold
    let sessions = &evals[0]["sessions"];
    assert!(
        sessions["training_sessions"].as_u64().unwrap() > 1000,
        "{sessions}"
    );
    assert_eq!(sessions["key"], r"blk_-?\d+");
    assert_eq!(sessions["unlabelled_sessions"], 0, "{sessions}");
    assert_eq!(evals[0]["threshold"], q["at_threshold"]["threshold"]);
    assert!(q["at_threshold"]["f1"].as_f64().unwrap() > 0.85, "{q}");
}

/// Sessions are part of the product: a model trained with `--session-key` scores each
/// session in `score`, after the lines, and `replay` reports them.
#[test]
fn a_session_key_model_scores_sessions_in_score_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut train = String::new();
    for i in 0..600 {
        train.push_str(&format!(
            "open job=j{i}\nwrite job=j{i} {} bytes\nclose job=j{i}\n",
            i % 97
        ));
    }
    let train_file = dir.path().join("train.log");
    std::fs::write(&train_file, train).unwrap();
    let model = dir.path().join("jobs.model");
    let out = run(bin()
        .args([
            "train",
            "--format",
            "text",
            "--session-key",
            r"job=(\w+)",
            "--input",
        ])
        .arg(&train_file)
        .arg("--out")
        .arg(&model));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sessions: learnt from 600"),
        "{}",
        stdout(&out)
    );
    let test_file = dir.path().join("test.log");
    std::fs::write(
        &test_file,
        "open job=a\nwrite job=a 5 bytes\nclose job=a\nopen job=b\nwrite job=b 5 bytes\nwrite job=b 5 bytes\nwrite job=b 5 bytes\n",
    )
    .unwrap();
    let out = run(bin()
        .args(["score", "--format", "text", "--model"])
        .arg(&model)
        .arg(&test_file));
    assert!(out.status.success(), "{}", stderr(&out));
    let sessions: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("session").cloned())
        .collect();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0]["key"], "a");
    assert_eq!(sessions[1]["lines"], 4);
    assert!(
        sessions[1]["score"].as_f64() > sessions[0]["score"].as_f64(),
        "a session that never closes and writes three times is the odd one: {sessions:?}"
    );
    let out = run(bin()
        .args(["replay", "--format", "text", "--model"])
        .arg(&model)
        .arg(&test_file));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sessions   2 by key"),
        "{}",
        stdout(&out)
    );
}

/// Runs `cmd` with `input` piped to its stdin.
fn run_piped(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// Issue 16, finding 8: piped lines are scored (not the bundled sample) and stamped with
/// their arrival time (not "0").
#[test]
fn finding_8_score_and_replay_read_piped_stdin_with_arrival_times() {
    let input = "GET /api/items/1 200 3ms\npanic: runtime error: index out of range\n";
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let out = run_piped(bin().arg("score"), input);
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{}", stdout(&out));
    assert_eq!(
        records[1]["line"],
        "panic: runtime error: index out of range"
    );
    for r in &records {
        let ts: i64 = r["ts"].as_str().unwrap().parse().unwrap();
        assert!(ts >= before, "ts {ts} is not the arrival time");
    }
    let out = run_piped(bin().args(["replay", "--json", "--no-labels"]), input);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["read"]["lines"], 2, "{report}");
    // with stdin not piped (here: /dev/null) the bundled sample is still the default
    let out = run(bin()
        .args(["score", "--explain", "0"])
        .stdin(std::process::Stdio::null()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).lines().count() >= 100_000);
}

/// Issue 16, finding 9: `generate` never overwrites a file silently.
#[cfg(feature = "lab")]
#[test]
fn finding_9_generate_needs_out_and_force_to_overwrite() {
    let out = run(bin().args(["generate", "--lines", "100"]));
    assert!(!out.status.success(), "generate ran without --out");
    assert!(stderr(&out).contains("--out"), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.json");
    std::fs::write(&path, "keep me").unwrap();
    let out = run(bin()
        .args(["generate", "--lines", "100", "--out"])
        .arg(&path));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    let out = run(bin()
        .args(["generate", "--lines", "100", "--force", "--out"])
        .arg(&path));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(std::fs::read_to_string(&path).unwrap(), "keep me");
    let help = stdout(&run(bin().args(["generate", "--help"])));
    assert!(help.contains("--force"), "{help}");
}

/// Issue 16, finding 12: `--threads` is offered by the commands that score, not by
/// `generate` or `check-config`.
#[test]
fn finding_12_threads_only_on_commands_that_score() {
    let mut scoring = vec!["replay", "score", "train", "serve", "tail"];
    let mut others = vec!["check-config"];
    if cfg!(feature = "lab") {
        scoring.extend(["evaluate", "bench"]);
        others.push("generate");
    }
    for cmd in scoring {
        let help = stdout(&run(bin().args([cmd, "--help"])));
        assert!(help.contains("--threads"), "{cmd} --help: {help}");
    }
    for cmd in others {
        let help = stdout(&run(bin().args([cmd, "--help"])));
        assert!(!help.contains("--threads"), "{cmd} --help: {help}");
        let out = run(bin().args([cmd, "--threads", "2"]));
        assert!(!out.status.success());
    }
}

/// Issue 16, finding 11: the report counts pods, as the README and `generate` do (65 in
/// the bundled sample), not pod/container pairs (it said 72).
#[test]
fn finding_11_the_report_counts_pods_not_containers() {
    let out = run(bin().args(["replay", "--json", "--top", "0"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["pods_total"], 65);
    let text = stdout(&run(bin().arg("replay")));
    assert!(text.contains(" of 65 pods "), "{text}");
}

/// `replay --json --top 0 | head -1`: the reader goes away after the first line of a
/// report larger than a pipe holds; the report stops there without a panic and the run
/// ends as it would have.
#[test]
fn replay_into_a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = bin()
        .args(["replay", "--json", "--top", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // the pipe is closed here, before the report is written out
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(first.trim(), "{");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}

/// Issue 16, finding 7: an OS error is said once, not once per level of the error chain.
#[test]
fn finding_7_an_os_error_is_printed_once() {
    let out = bin()
        .args(["score", "--model", "/nonexistent/model.json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/model.json"), "{stderr}");
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
}

/// Issue 16, finding 10: `replay --listen --speed` says where it serves at once, not when
/// the replay (hours of log time here) has ended.
#[test]
fn finding_10_replay_listen_prints_its_url_at_once() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = bin()
        .args(["replay", "--listen", "127.0.0.1:0", "--speed", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    // generous, for a loaded machine; the replay itself would take hours
    let first = rx.recv_timeout(std::time::Duration::from_secs(60));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let first = first.expect("no line within a minute");
    assert!(first.starts_with("serving http://127.0.0.1:"), "{first}");
    assert!(first.contains("/metrics"), "{first}");
    assert!(still_running, "the replay had already ended: {first}");
}

/// Issue 18: `summarize` of the bundled sample is Markdown that parses as such (headings,
/// the incidents table), and its incidents name the workload of every labelled pod.
#[test]
fn summarize_names_every_incident_workload_of_the_sample_in_markdown() {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let out = bin()
        .arg("summarize")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8(out.stdout).unwrap();
    let (mut headings, mut in_heading, mut tables, mut cells) = (Vec::new(), false, 0, 0);
    let mut heading = String::new();
    let mut table_text = String::new();
    let mut in_table = false;
    for event in Parser::new_ext(&md, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { .. }) => (in_heading, heading) = (true, String::new()),
            Event::End(TagEnd::Heading(_)) => {
                in_heading = false;
                headings.push(heading.clone());
            }
            Event::Start(Tag::Table(_)) => (tables, in_table) = (tables + 1, true),
            Event::End(TagEnd::Table) => in_table = false,
            Event::Start(Tag::TableCell) => cells += 1,
            Event::Text(t) | Event::Code(t) => {
                if in_heading {
                    heading.push_str(&t);
                }
                if in_table {
                    table_text.push_str(&t);
                    table_text.push(' ');
                }
            }
            _ => {}
        }
    }
    assert!(headings.iter().any(|h| h == "Incidents"), "{headings:?}");
    assert!(headings.iter().any(|h| h == "Workloads"), "{headings:?}");
    assert_eq!(tables, 1, "one incidents table");
    assert!(cells > 6 * 2, "a header and rows of six cells");
    let labels = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dataset/sample-loki-logs.labels.jsonl");
    let text = std::fs::read_to_string(labels).unwrap();
    let workloads: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            v["pod"]
                .as_str()
                .map(|p| loganomaly::alert::workload_of(p).to_string())
        })
        .collect();
    assert!(workloads.len() >= 5, "{workloads:?}");
    for w in &workloads {
        assert!(
            table_text.contains(&format!("/{w}-")) || table_text.contains(&format!("/{w} ")),
            "{w} missing from the incidents: {table_text}"
        );
    }
}
