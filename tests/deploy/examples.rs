//! Issue 16, finding 3: `check-config` runs the checks `serve` runs, prints every default,
//! and the shipped example configurations pass it and start `serve` as shipped.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::config::shipped_config;
use super::read;
use crate::common::free_port;
use crate::loki::fake::{labels, FakeLoki};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loganomaly"));
    c.env_clear();
    c
}

/// Writes `text` to a config file in `dir`.
fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("loganomaly.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check_config(text: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, text);
    bin()
        .envs(env.iter().copied())
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap()
}

/// Runs `serve` for at most `wait`; returns whether it was still running, and its stderr.
fn serve_briefly(text: &str, env: &[(&str, &str)], wait: Duration) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, text);
    let mut child = bin()
        .envs(env.iter().copied())
        .env("LOGANOMALY_SERVER_LISTEN", "127.0.0.1:0")
        .args(["serve", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut running = true;
    while start.elapsed() < wait {
        if child.try_wait().unwrap().is_some() {
            running = false;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if running {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    (running, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// examples/alerts.toml as the `[alerting]` section of a service config.
fn alerts_as_section() -> String {
    read("examples/alerts.toml")
        .lines()
        .map(|l| match l.strip_prefix('[') {
            Some(rest) => format!("[alerting.{rest}"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn finding_3_the_examples_pass_check_config_and_it_prints_every_default() {
    let example = read("examples/loganomaly.toml");
    let out = check_config(&example, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // [loki] with the defaults of the keys the example leaves out
    for want in [
        "[loki]",
        "url = \"http://127.0.0.1:3100\"",
        "page_limit = 5000",
        "backoff_max = \"30s\"",
        "max_line_bytes = 16384",
        "settle = \"2s\"",
        "[loki.labels]",
        "[model]",
        "trees = ",
    ] {
        assert!(stdout.contains(want), "no {want:?} in\n{stdout}");
    }
    // the alerting example, as a section: every default too, secrets by reference only
    let both = format!("{example}\n{}", alerts_as_section());
    let env = [(
        "LOGANOMALY_SLACK_WEBHOOK_URL",
        "https://hooks.slack.invalid/x/y",
    )];
    let out = check_config(&both, &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "[alerting.policy.storm]",
        "alertname = \"LogAnomaly\"",
        "env = \"LOGANOMALY_SLACK_WEBHOOK_URL\"",
    ] {
        assert!(stdout.contains(want), "no {want:?} in\n{stdout}");
    }
    assert!(!stdout.contains("slack.invalid"), "a secret was printed");
    // the ConfigMap's config prints the [loki] defaults too
    let out = check_config(
        &shipped_config(),
        &[("LOGANOMALY_SLACK_WEBHOOK_URL", "https://x.invalid/y")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("page_limit = 5000"), "{stdout}");
}

#[test]
fn finding_3_check_config_refuses_what_serve_refuses() {
    let loki = "[loki]\nurl = \"http://127.0.0.1:9\"\n";
    let cases: [(String, &[&str]); 5] = [
        ("[server]\n".to_string(), &["[loki]"]),
        (
            format!("{loki}[alerting.slack]\nwebhook_url = {{ env = \"LOGANOMALY_TEST_UNSET\" }}\n"),
            &["slack.webhook_url", "LOGANOMALY_TEST_UNSET"],
        ),
        (
            format!("{loki}[alerting.slack]\nwebhook_url = \"not-a-url\"\n"),
            &["slack.webhook_url", "URL"],
        ),
        (
            format!("{loki}[alerting.webhook]\nurl = {{ file = \"/nonexistent/hook\" }}\n"),
            &["webhook.url", "/nonexistent/hook"],
        ),
        (
            "[loki]\nurl = \"http://127.0.0.1:9\"\nusername = \"u\"\npassword_file = \"/nonexistent/pw\"\n"
                .to_string(),
            &["password_file", "/nonexistent/pw"],
        ),
    ];
    for (text, words) in cases {
        let out = check_config(&text, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "check-config passed:\n{text}");
        for w in words {
            assert!(stderr.contains(w), "{text}: {stderr}");
        }
        let (running, serve_err) = serve_briefly(&text, &[], Duration::from_secs(10));
        assert!(!running, "serve ran with:\n{text}");
        assert_eq!(
            serve_err.lines().last(),
            stderr.lines().last(),
            "check-config and serve disagree on:\n{text}"
        );
    }
}

/// A port free at the moment.
/// GET `path` on 127.0.0.1:`port`: status and body (0 when nothing answers).
fn get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (
        status,
        raw.split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string(),
    )
}

fn lines_scored(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("loganomaly_lines_scored_total")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// Starts serve on `text` with the deployment-specific addresses overridden (the Loki URL,
/// the listen port, the state file) and waits until it has scored lines and is ready.
fn serves_lines(text: &str, loki: &str, extra_env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, text);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let state = dir.path().join("state.json");
    let mut child: Child = bin()
        .envs(extra_env.iter().copied())
        .env("LOGANOMALY_LOKI_URL", loki)
        .env("LOGANOMALY_SERVER_LISTEN", &listen)
        .env("LOGANOMALY_LOKI_STATE_FILE", &state)
        .args(["serve", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (0, String::new());
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        last = get(port, "/metrics");
        if lines_scored(&last.1) >= 100.0 && get(port, "/readyz").0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        lines_scored(&last.1) >= 100.0,
        "serve did not score the lines: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        last.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_3_serve_starts_with_the_shipped_examples() {
    let fake = FakeLoki::start(Duration::from_secs(1), 1_000_000).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let l = labels(&[
        ("namespace", "shop"),
        ("pod", "cart-0"),
        ("container", "app"),
    ]);
    fake.push(
        (0..200)
            .map(|i| {
                (
                    l.clone(),
                    now - 120_000_000_000 + i * 1_000_000,
                    format!("GET /api/items/{i} 200 3ms"),
                )
            })
            .collect(),
    );
    let url = fake.url();
    let example = read("examples/loganomaly.toml");
    let shipped = shipped_config();
    tokio::task::spawn_blocking(move || {
        serves_lines(&example, &url, &[]);
        let slack = (
            "LOGANOMALY_SLACK_WEBHOOK_URL",
            "https://slack.invalid/services/x",
        );
        serves_lines(&shipped, &url, &[slack]);
    })
    .await
    .unwrap();
}
