//! Issue 17: the node-local variant (`manifests/daemonset/`). One loganomaly per node, fed
//! by that node's shipper through a Service that keeps traffic on the node; its config
//! takes lines from the push receiver only and alerts through Alertmanager, which groups
//! the pods of one workload alerted from several nodes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{find, render, selects, strings, NODE_LOCAL};
use crate::common::{free_port, Guard};
use crate::push::{metric, now_ns, request, wait_scored};

/// The rendered objects of the variant.
fn objects() -> Vec<Value> {
    render(NODE_LOCAL)
}

/// The `loganomaly.toml` the DaemonSet's pods mount.
fn node_config(objects: &[Value]) -> String {
    let ds = find(objects, "DaemonSet", Some("loganomaly"));
    let volume = ds["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "config")
        .expect("a config volume");
    let name = volume["configMap"]["name"].as_str().expect("a ConfigMap");
    let map = find(objects, "ConfigMap", Some(name));
    map["data"]["loganomaly.toml"]
        .as_str()
        .expect("data.loganomaly.toml")
        .to_string()
}

/// The binary with `args` on the node config, with an empty environment; the config's
/// folder lives as long as the returned guard.
fn on_config(args: &[&str]) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("loganomaly.toml");
    std::fs::write(&path, node_config(&objects())).expect("writing the config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loganomaly"));
    cmd.env_clear().args(args).arg("--config").arg(&path);
    (cmd, dir)
}

#[test]
fn the_variant_replaces_the_deployment_and_its_config_with_a_daemonset() {
    let objects = objects();
    assert!(objects.iter().all(|o| o["kind"] != "Deployment"));
    assert!(
        objects
            .iter()
            .all(|o| o["metadata"]["name"] != "loganomaly-config"),
        "the base's config (it reads Loki) is not shipped beside the node config"
    );
    let ds = find(&objects, "DaemonSet", Some("loganomaly"));
    let pod = &ds["spec"]["template"]["spec"];
    assert!(selects(
        &ds["spec"]["selector"]["matchLabels"],
        &ds["spec"]["template"]["metadata"]["labels"]
    ));
    let tolerates_all = pod["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["operator"] == "Exists" && t["key"].is_null());
    assert!(
        tolerates_all,
        "a node whose shipper runs must run loganomaly"
    );
    let env: Vec<&str> = pod["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        env.iter()
            .all(|n| !n.contains("LOKI") && !n.contains("SHARD")),
        "no Loki credentials or shard: the pod reads nothing from Loki ({env:?})"
    );
}

#[test]
fn shippers_push_to_the_pod_on_their_own_node() {
    let objects = objects();
    let ds = find(&objects, "DaemonSet", Some("loganomaly"));
    let pod_labels = &ds["spec"]["template"]["metadata"]["labels"];
    let service = find(&objects, "Service", Some("loganomaly-node"));
    assert_eq!(service["spec"]["internalTrafficPolicy"], "Local");
    assert!(selects(&service["spec"]["selector"], pod_labels));
    let port = &service["spec"]["ports"][0];
    let container = &ds["spec"]["template"]["spec"]["containers"][0];
    let named = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["name"] == port["targetPort"])
        .expect("the Service's targetPort names a container port");
    assert_eq!(port["port"], named["containerPort"]);
    // Prometheus scrapes each pod once, through the base's Service, not this one too
    let monitor = find(&objects, "ServiceMonitor", None);
    assert!(!selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));
    // and the shippers may reach that port: a policy admitting pods beyond Prometheus
    let admits_shippers = objects
        .iter()
        .filter(|o| o["kind"] == "NetworkPolicy")
        .filter(|p| selects(&p["spec"]["podSelector"]["matchLabels"], pod_labels))
        .flat_map(|p| p["spec"]["ingress"].as_array().cloned().unwrap_or_default())
        .filter(|rule| rule["ports"][0]["port"] == named["name"])
        .any(|rule| {
            rule["from"].as_array().into_iter().flatten().any(|peer| {
                strings(&peer["podSelector"]["matchExpressions"][0]["values"])
                    .iter()
                    .any(|v| v == "promtail" || v == "alloy")
            })
        });
    assert!(admits_shippers, "no NetworkPolicy lets the shippers push");
}

#[test]
fn the_node_config_pushes_alerts_through_alertmanager_and_reads_no_loki() {
    let (mut cmd, _dir) = on_config(&["check-config"]);
    let out = cmd.output().expect("running check-config");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check-config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("[push]"), "{printed}");
    assert!(!printed.contains("[loki]"), "{printed}");
    assert!(printed.contains("[alerting.alertmanager]"), "{printed}");
    assert!(
        !printed.contains("[alerting.slack"),
        "Slack straight from each node would send one message per node: {printed}"
    );
}

#[test]
fn serve_on_the_node_config_scores_what_a_shipper_pushes() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (mut cmd, _dir) = on_config(&["serve"]);
    let child = cmd
        .env("LOGANOMALY_SERVER_LISTEN", &listen)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting loganomaly serve");
    let _serve = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while request(port, "GET", "/readyz", &[], b"").0 != 200 {
        assert!(Instant::now() < deadline, "serve not ready in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ts = now_ns();
    let values: Vec<Value> = (0..50)
        .map(|i| json!([(ts + i).to_string(), format!("GET /api/cart/{i} 200 3ms")]))
        .collect();
    let body = json!({"streams": [{
        "stream": {"namespace": "shop", "pod": "cart-7d9f8b6c5-x2x9k", "container": "cart"},
        "values": values,
    }]});
    let bytes = serde_json::to_vec(&body).expect("json");
    let ct = ("Content-Type", "application/json");
    let (status, _, text) = request(port, "POST", "/loki/api/v1/push", &[ct], &bytes);
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&text));
    let metrics = wait_scored(port, 50.0, Duration::from_secs(30));
    assert_eq!(metric(&metrics, "loganomaly_lines_scored_total"), 50.0);
}
