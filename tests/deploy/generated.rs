//! Objects generated from other files of the repository, so that they cannot drift: the
//! PrometheusRule (from the Prometheus rules file) and the dashboards ConfigMap (from
//! `dashboards/*.json`). A test fails when a generated file differs from what its source
//! gives; `LOGANOMALY_BLESS=1 cargo test --release --test tests deploy` rewrites it.

use super::{read, root, yaml_file, BASE};

/// The rules file, the single source of the alert rules.
const RULES: &str = "manifests/prometheus/loganomaly-rules.yml";
/// The dashboards, in the order they are embedded.
const DASHBOARDS: [&str; 2] = ["loganomaly-overview.json", "loganomaly-pod.json"];

/// Compares `path` with `expected`; rewrites it instead when `LOGANOMALY_BLESS` is set.
fn check_generated(path: &str, expected: &str) {
    let full = root().join(path);
    if std::env::var_os("LOGANOMALY_BLESS").is_some() {
        std::fs::write(&full, expected).unwrap_or_else(|e| panic!("{path}: {e}"));
        return;
    }
    let actual = std::fs::read_to_string(&full).unwrap_or_default();
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map_or(actual.lines().count().min(expected.lines().count()), |i| i)
            + 1;
        panic!(
            "{path} is out of date (first difference at line {line}); regenerate it with \
             `LOGANOMALY_BLESS=1 cargo test --release --test tests deploy`"
        );
    }
}

/// `text` with every non-empty line indented by `n` spaces.
fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// The rules file from its `groups:` line on (its header comment stays behind).
fn rule_groups(rules: &str) -> &str {
    let start = rules
        .find("\ngroups:")
        .map(|i| i + 1)
        .expect("a groups: line");
    &rules[start..]
}

/// The PrometheusRule: the rules file's groups, verbatim, as `spec`.
fn prometheus_rule(rules: &str) -> String {
    format!(
        "# Generated from {RULES} (the groups below are that file's, byte for byte, indented):\n\
         # edit that file, then `LOGANOMALY_BLESS=1 cargo test --release --test tests deploy`.\n\
         # prometheus-operator: the label `release` is the one kube-prometheus-stack's Prometheus\n\
         # selects by default; match your Prometheus's ruleSelector (docs/deploy.md).\n\
         apiVersion: monitoring.coreos.com/v1\n\
         kind: PrometheusRule\n\
         metadata:\n  name: loganomaly\n  namespace: loganomaly\n  labels:\n    \
         app.kubernetes.io/name: loganomaly\n    release: kube-prometheus-stack\n\
         spec:\n{}",
        indent(rule_groups(rules), 2)
    )
}

/// The dashboards ConfigMap for Grafana's dashboard sidecar.
fn dashboards_config_map(dashboards: &[(&str, String)]) -> String {
    let mut out = String::from(
        "# Generated from dashboards/*.json: edit those, then\n\
         # `LOGANOMALY_BLESS=1 cargo test --release --test tests deploy`.\n\
         # Grafana's dashboard sidecar (kube-prometheus-stack, the Grafana chart) loads ConfigMaps\n\
         # labelled grafana_dashboard=\"1\"; it must watch this namespace (docs/deploy.md).\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n  name: loganomaly-dashboards\n  namespace: loganomaly\n  labels:\n    \
         app.kubernetes.io/name: loganomaly\n    grafana_dashboard: \"1\"\n  annotations:\n    \
         grafana_folder: loganomaly\n\
         data:\n",
    );
    for (name, json) in dashboards {
        out.push_str(&format!("  {name}: |\n"));
        out.push_str(&indent(json, 4));
    }
    out
}

fn dashboards() -> Vec<(&'static str, String)> {
    DASHBOARDS
        .iter()
        .map(|name| (*name, read(&format!("dashboards/{name}"))))
        .collect()
}

#[test]
fn the_prometheus_rule_holds_the_rules_file_byte_for_byte() {
    let rules = read(RULES);
    let path = format!("{BASE}/prometheusrule.yaml");
    check_generated(&path, &prometheus_rule(&rules));
    // the indented text still means the same rules
    let file = yaml_file(RULES).remove(0);
    let object = yaml_file(&path).remove(0);
    assert_eq!(object["spec"]["groups"], file["groups"]);
    assert!(object["spec"]["groups"][0]["rules"][0]["expr"].is_string());
}

#[test]
fn the_dashboards_config_map_holds_the_dashboards_byte_for_byte() {
    let dashboards = dashboards();
    let path = format!("{BASE}/dashboards.yaml");
    check_generated(&path, &dashboards_config_map(&dashboards));
    let object = yaml_file(&path).remove(0);
    assert_eq!(object["metadata"]["labels"]["grafana_dashboard"], "1");
    for (name, json) in &dashboards {
        assert_eq!(
            object["data"][*name].as_str(),
            Some(json.as_str()),
            "{name}"
        );
        let parsed: serde_json::Value = serde_json::from_str(json).expect("dashboard JSON");
        assert!(parsed["uid"].is_string(), "{name}");
    }
    let on_disk = std::fs::read_dir(root().join("dashboards"))
        .expect("dashboards/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count();
    assert_eq!(
        on_disk,
        DASHBOARDS.len(),
        "every dashboard is in the ConfigMap"
    );
    // a ConfigMap holds at most 1 MiB
    assert!(read(&path).len() < 1024 * 1024);
}

#[test]
fn a_changed_source_is_detected() {
    let rules = read(RULES);
    let changed = rules.replace(">= 9", ">= 8");
    assert_ne!(prometheus_rule(&rules), prometheus_rule(&changed));
    let mut d = dashboards();
    let before = dashboards_config_map(&d);
    d[0].1.push(' ');
    assert_ne!(before, dashboards_config_map(&d));
    // the header comment of the rules file stays out of the object
    assert!(!prometheus_rule(&rules).contains("Load them into Prometheus"));
}
