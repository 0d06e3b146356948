//! Against a real Prometheus (Debian's `prometheus` package): the sample replayed with
//! `--listen` is scraped; per-pod series, incident scores, every dashboard and rule
//! expression, and the LogAnomalyHigh alert are checked through Prometheus's HTTP API.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, Guard};
use serde_json::Value;

const PROMETHEUS: &str = "/usr/bin/prometheus";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A plain HTTP/1.0 GET on loopback; returns the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.")
        .then(|| head.contains(" 200 "))
        .filter(|ok| *ok)
        .map(|_| body.to_string())
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant query; returns the result vector.
fn query(port: u16, q: &str) -> Vec<Value> {
    let body = http_get(port, &format!("/api/v1/query?query={}", encode(q)))
        .unwrap_or_else(|| panic!("query failed: {q}"));
    let v: Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
    assert_eq!(v["status"], "success", "{q}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Pods that carry at least one labelled anomalous line in the sample.
fn incident_pods() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("dataset/sample-loki-logs.labels.jsonl"))
        .expect("labels file");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["pod"].as_str().map(str::to_string))
        .collect()
}

/// The rules with `for:` shortened so the alert can fire within the replay.
fn fast_rules(dir: &Path) -> PathBuf {
    let rules = std::fs::read_to_string(root().join("manifests/prometheus/loganomaly-rules.yml"))
        .expect("rules file");
    let fast: String = rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 0s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join("rules.yml");
    std::fs::write(&path, fast).expect("write rules");
    path
}

fn start_prometheus(dir: &Path, target: u16, port: u16) -> Guard {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: install Debian's prometheus package (.ci/run does)"
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: loganomaly\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n",
        fast_rules(dir).display()
    );
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write config");
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Guard(child)
}

/// Replays the sample at 120x (one log minute per half second), serving metrics.
fn start_replay(port: u16) -> (Guard, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loganomaly"))
        .current_dir(root())
        .args(["replay", "--speed", "120x", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loganomaly");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Guard(child), rx)
}

/// Every Prometheus expression of the dashboards, with variables given real values.
fn dashboard_exprs(namespace: &str, pod: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("dashboards")).expect("dashboards/") {
        let path = entry.expect("entry").path();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .expect("dashboard JSON");
        for panel in d["panels"].as_array().into_iter().flatten() {
            for t in panel["targets"].as_array().into_iter().flatten() {
                if t["datasource"]["type"] == "prometheus" {
                    out.push(t["expr"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if let Some(q) = v["query"]
                .as_str()
                .and_then(|q| q.strip_prefix("label_values("))
            {
                // label_values(<selector>, label) -> the selector itself
                let selector = q.rsplit_once(',').map_or(q, |(s, _)| s);
                out.push(selector.to_string());
            }
        }
    }
    out.iter()
        .map(|e| {
            e.replace("$namespace", namespace)
                .replace("$pod", pod)
                .replace("$__rate_interval", "1m")
                .replace("$__interval", "15s")
        })
        .collect()
}

/// The data-selecting side of each alert rule (before its final comparison).
fn rule_exprs() -> Vec<String> {
    let rules = std::fs::read_to_string(root().join("manifests/prometheus/loganomaly-rules.yml"))
        .expect("rules file");
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .map(|e| {
            let cut = [" >= ", " == ", " > ", " < "]
                .iter()
                .filter_map(|op| e.rfind(op))
                .max()
                .unwrap_or(e.len());
            e[..cut].to_string()
        })
        .collect()
}

#[test]
fn a_real_prometheus_scrapes_the_replay_and_the_dashboards_and_rules_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app_port, prom_port) = (free_port(), free_port());
    let (_app, lines) = start_replay(app_port);
    let _prom = start_prometheus(dir.path(), app_port, prom_port);
    wait_for("prometheus to be ready", Duration::from_secs(60), || {
        http_get(prom_port, "/-/ready").is_some()
    });

    // the replay says where it serves at once, and ends after ~60 s; give Prometheus a
    // few more scrapes
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("the replay says where it serves");
    assert!(first.starts_with("serving http://127.0.0.1:"), "{first}");
    let done = lines
        .recv_timeout(Duration::from_secs(240))
        .expect("the replay finishes");
    assert!(done.starts_with("replayed 100000 lines"), "{done}");
    std::thread::sleep(Duration::from_secs(4));

    // per-pod series exist for the sample's pods
    let pods = query(
        prom_port,
        "count(count by (pod) (loganomaly_pod_lines_total))",
    );
    let n: f64 = pods[0]["value"][1]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0.0);
    assert!(n >= 55.0, "only {n} pods exported");

    // incident pods crossed the burst threshold during the replay; healthy ones did not
    let incidents = incident_pods();
    let peaks = query(
        prom_port,
        "max by (pod) (max_over_time(loganomaly_pod_burst_score[10m]))",
    );
    assert!(peaks.len() >= 55, "{} pods with burst series", peaks.len());
    for p in &peaks {
        let pod = p["metric"]["pod"].as_str().unwrap_or_default();
        let peak: f64 = p["value"][1].as_str().unwrap_or("0").parse().unwrap_or(0.0);
        if incidents.contains(pod) {
            assert!(peak >= 9.0, "incident pod {pod} peaked at {peak}");
        } else {
            assert!(peak < 9.0, "healthy pod {pod} reached {peak}");
        }
    }

    // LogAnomalyHigh fired for incident pods, and only for them
    let fired = query(
        prom_port,
        "max by (pod) (max_over_time(ALERTS{alertname=\"LogAnomalyHigh\",alertstate=\"firing\"}[10m]))",
    );
    assert!(!fired.is_empty(), "LogAnomalyHigh never fired");
    for a in &fired {
        let pod = a["metric"]["pod"].as_str().unwrap_or_default();
        assert!(incidents.contains(pod), "alert for healthy pod {pod}");
    }

    // every dashboard and rule expression returns data
    for expr in dashboard_exprs("payments", "postgres-0")
        .into_iter()
        .chain(rule_exprs())
    {
        assert!(!query(prom_port, &expr).is_empty(), "no data for {expr}");
    }
}
