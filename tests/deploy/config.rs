//! The configuration shipped in the ConfigMap passes `loganomaly check-config` with the
//! environment each workload gives its pod.

use std::process::{Command, Output};

use loganomaly::config::ServiceConfig;
use serde_json::Value;

use super::{find, render, yaml_file, BASE, OVERLAY};

/// The `loganomaly.toml` of the ConfigMap.
pub(super) fn shipped_config() -> String {
    let map = yaml_file(&format!("{BASE}/config.yaml")).remove(0);
    map["data"]["loganomaly.toml"]
        .as_str()
        .expect("data.loganomaly.toml")
        .to_string()
}

/// The shipped configuration, parsed without environment overrides.
pub(super) fn shipped() -> ServiceConfig {
    ServiceConfig::from_toml(&shipped_config(), "config.yaml", std::iter::empty())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A value the pod's environment would hold: `$(VAR)` expanded, the pod index as
/// `index`, and a stand-in for each secret (a URL for a secret URL).
fn env_value(e: &Value, before: &[(String, String)], index: u32) -> String {
    if let Some(v) = e["value"].as_str() {
        return before.iter().fold(v.to_string(), |s, (name, value)| {
            s.replace(&format!("$({name})"), value)
        });
    }
    let from = &e["valueFrom"];
    if from["fieldRef"].is_object() {
        assert!(from["fieldRef"]["fieldPath"]
            .as_str()
            .is_some_and(|p| p.contains("pod-index")));
        return index.to_string();
    }
    assert!(from["secretKeyRef"].is_object(), "unknown env source: {e}");
    let key = from["secretKeyRef"]["key"].as_str().unwrap_or("?");
    // check-config checks what serve checks: a secret URL must be one
    if key.contains("url") {
        format!("https://stand-in-secret.invalid/{key}")
    } else {
        format!("stand-in-secret-{key}")
    }
}

/// The pod's environment in `workload` for pod `index`.
fn pod_env(workload: &Value, index: u32) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
    {
        let value = env_value(e, &env, index);
        env.push((e["name"].as_str().expect("a name").to_string(), value));
    }
    env
}

/// Runs `loganomaly check-config` on the shipped config with exactly `env`.
fn check_config(env: &[(String, String)]) -> Output {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("loganomaly.toml");
    std::fs::write(&path, shipped_config()).expect("writing the config");
    Command::new(env!("CARGO_BIN_EXE_loganomaly"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("running loganomaly")
}

#[test]
fn the_shipped_config_passes_check_config_in_each_workload() {
    let base = render(BASE);
    let overlay = render(OVERLAY);
    let cases = [
        (find(&base, "Deployment", None), 0, None),
        (
            find(&overlay, "StatefulSet", None),
            2,
            Some("shard = \"2/3\""),
        ),
    ];
    for (workload, index, shard) in cases {
        let env = pod_env(workload, index);
        let out = check_config(&env);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("[loki]") && stdout.contains("loki-gateway.loki.svc"));
        assert!(stdout.contains("[alerting.slack.webhook_url]"), "{stdout}");
        assert!(
            !stdout.contains("stand-in-secret"),
            "a secret was printed: {stdout}"
        );
        if let Some(shard) = shard {
            assert!(stdout.contains(shard), "{stdout}");
        }
    }
}

#[test]
fn check_config_refuses_a_shard_outside_the_replicas() {
    let overlay = render(OVERLAY);
    let mut env = pod_env(find(&overlay, "StatefulSet", None), 3);
    assert!(env
        .iter()
        .any(|(k, v)| k == "LOGANOMALY_LOKI_SHARD" && v == "3/3"));
    let out = check_config(&env);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("3/3"));
    // and a misspelt override is refused, naming it
    env.retain(|(k, _)| k != "LOGANOMALY_LOKI_SHARD");
    env.push(("LOGANOMALY_LOKI_SHRAD".into(), "0/3".into()));
    let out = check_config(&env);
    assert!(String::from_utf8_lossy(&out.stderr).contains("shrad"));
}

#[test]
fn the_shipped_config_enables_what_the_deployment_relies_on() {
    let c = shipped();
    let alerting = c.alerting.as_ref().expect("[alerting]");
    assert!(alerting.slack.is_some() && alerting.alertmanager.is_some());
    assert!(
        c.model.use_bundled && c.model.path.is_none(),
        "starts without a model file"
    );
    let loki = c.loki.expect("[loki]");
    assert!(loki.username.is_none() && loki.password_file.is_none() && loki.token_file.is_none());
}

/// Starts `loganomaly serve` on the shipped config with `env`; returns whether it was still
/// running after `wait`, and its stderr.
fn serve_for(env: &[(&str, &str)], wait: std::time::Duration) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("loganomaly.toml");
    std::fs::write(&path, shipped_config()).expect("writing the config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loganomaly"))
        .env_clear()
        .envs(env.iter().copied())
        .env("LOGANOMALY_SERVER_LISTEN", "127.0.0.1:0")
        .args(["serve", "--config"])
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting loganomaly serve");
    let start = std::time::Instant::now();
    let mut running = true;
    while start.elapsed() < wait {
        if child.try_wait().expect("waiting").is_some() {
            running = false;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if running {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("its output");
    (running, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn serve_starts_the_alerting_of_the_config_and_needs_its_slack_secret() {
    let wait = std::time::Duration::from_secs(3);
    let (running, stderr) = serve_for(&[], wait);
    assert!(!running, "serve ran without the Slack webhook secret");
    assert!(
        stderr.contains("slack.webhook_url") && stderr.contains("LOGANOMALY_SLACK_WEBHOOK_URL"),
        "{stderr}"
    );
    let url = (
        "LOGANOMALY_SLACK_WEBHOOK_URL",
        "https://slack.invalid/services/x",
    );
    let (running, stderr) = serve_for(&[url, ("LOGANOMALY_LOG", "info")], wait);
    assert!(running, "serve stopped: {stderr}");
    assert!(stderr.contains("serving http://"), "{stderr}");
    // the log, read by `kubectl logs`, is plain text
    assert!(
        stderr.contains("reading [") && stderr.contains("in Poll mode"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in the log: {stderr:?}"
    );
}
