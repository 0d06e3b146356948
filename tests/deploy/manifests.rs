//! The objects fit together, run with least privilege, take secrets only from Secret
//! references, and the prometheus-operator objects have what the operator requires.

use serde_json::Value;

use super::{find, read, render, selects, strings, yaml_file, BASE, NODE_LOCAL, OVERLAY};

/// The workloads of the base (Deployment) and the overlays (StatefulSet, DaemonSet).
fn workloads() -> Vec<(String, Value)> {
    let base = render(BASE);
    let overlay = render(OVERLAY);
    let node_local = render(NODE_LOCAL);
    vec![
        ("Deployment".into(), find(&base, "Deployment", None).clone()),
        (
            "StatefulSet".into(),
            find(&overlay, "StatefulSet", None).clone(),
        ),
        (
            "DaemonSet".into(),
            find(&node_local, "DaemonSet", None).clone(),
        ),
    ]
}

/// The workloads that mount the base's config (the DaemonSet has its own: daemonset.rs).
fn loki_readers() -> Vec<(String, Value)> {
    workloads()
        .into_iter()
        .filter(|(kind, _)| kind != "DaemonSet")
        .collect()
}

/// The loganomaly container of a workload.
fn container(workload: &Value) -> &Value {
    let containers = workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container, nothing beside it");
    &containers[0]
}

#[test]
fn each_kustomization_names_files_that_exist_and_the_base_names_every_file() {
    let listed = strings(&super::kustomization(BASE)["resources"]);
    let mut on_disk: Vec<String> = std::fs::read_dir(super::root().join(BASE))
        .expect("the base folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted, on_disk,
        "{BASE}/Kustomization must list every *.yaml beside it"
    );
    // rendering reads every resource, file or folder, and applies the delete patch
    let base = render(BASE);
    let overlay = render(OVERLAY);
    let node_local = render(NODE_LOCAL);
    assert_eq!(base.len(), listed.len(), "one object per base file");
    for variant in [&overlay, &node_local] {
        assert!(variant.iter().all(|o| o["kind"] != "Deployment"));
    }
    find(&overlay, "StatefulSet", Some("loganomaly"));
    find(&node_local, "DaemonSet", Some("loganomaly"));
    for o in base.iter().chain(&overlay).chain(&node_local) {
        let name = &o["metadata"]["name"];
        assert!(name.is_string(), "an object without a name: {o}");
        if o["kind"] != "Namespace" {
            assert_eq!(o["metadata"]["namespace"], "loganomaly", "{name}");
        }
    }
}

#[test]
fn the_pod_runs_without_privileges_or_kubernetes_api_access() {
    let base = render(BASE);
    let sa = find(&base, "ServiceAccount", Some("loganomaly"));
    assert_eq!(sa["automountServiceAccountToken"], false);
    assert!(
        base.iter().all(
            |o| !["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]
                .contains(&o["kind"].as_str().unwrap_or(""))
        ),
        "loganomaly needs no Kubernetes API access"
    );
    let ns = find(&base, "Namespace", Some("loganomaly"));
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    for (kind, w) in workloads() {
        let pod = &w["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "loganomaly", "{kind}");
        assert_eq!(pod["automountServiceAccountToken"], false, "{kind}");
        assert_eq!(
            pod["enableServiceLinks"], false,
            "{kind}: Service variables would be read as overrides"
        );
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{kind}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{kind}"
        );
        for host in ["hostNetwork", "hostPID", "hostIPC"] {
            assert!(pod[host].is_null() || pod[host] == false, "{kind}: {host}");
        }
        let c = container(&w);
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{kind}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{kind}");
        assert_eq!(sc["runAsNonRoot"], true, "{kind}");
        assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{kind}");
        assert!(sc["capabilities"]["add"].is_null(), "{kind}");
        assert!(
            sc["privileged"].is_null() || sc["privileged"] == false,
            "{kind}"
        );
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{kind}");
        for volume in pod["volumes"].as_array().into_iter().flatten() {
            assert!(volume["hostPath"].is_null(), "{kind}: no hostPath volumes");
        }
    }
}

#[test]
fn the_pod_runs_as_the_image_user() {
    let dockerfile = read("Dockerfile");
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the Dockerfile sets USER");
    let uid: i64 = user
        .split(':')
        .next()
        .and_then(|u| u.trim().parse().ok())
        .expect("a numeric USER");
    for (kind, w) in workloads() {
        let pod = &w["spec"]["template"]["spec"]["securityContext"];
        assert_eq!(
            pod["runAsUser"], uid,
            "{kind}: runAsUser is the image's USER"
        );
        assert!(uid != 0);
    }
}

#[test]
fn resources_and_probes_are_set() {
    for (kind, w) in workloads() {
        let c = container(&w);
        let r = &c["resources"];
        for path in ["requests/cpu", "requests/memory", "limits/memory"] {
            let (a, b) = path.split_once('/').expect("a/b");
            assert!(r[a][b].is_string(), "{kind}: resources.{a}.{b}");
        }
        let port = &c["ports"][0];
        assert_eq!(port["name"], "metrics", "{kind}");
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let get = &c[probe]["httpGet"];
            assert_eq!(get["path"], path, "{kind}: {probe}");
            assert_eq!(get["port"], "metrics", "{kind}: {probe}");
        }
        let mounts = c["volumeMounts"].as_array().expect("mounts");
        let models = mounts
            .iter()
            .find(|m| m["name"] == "models")
            .expect("a models volume");
        assert_eq!(models["mountPath"], "/models", "{kind}");
        let args = strings(&c["args"]);
        let config = mounts
            .iter()
            .find(|m| m["name"] == "config")
            .expect("a config volume");
        let dir = config["mountPath"].as_str().expect("a path");
        assert_eq!(
            args,
            ["serve", "--config", &format!("{dir}/loganomaly.toml")],
            "{kind}"
        );
    }
}

/// Env var names that hold secrets.
fn secret_like(name: &str) -> bool {
    ["TOKEN", "PASSWORD", "WEBHOOK", "SECRET", "KEY"]
        .iter()
        .any(|s| name.contains(s))
}

#[test]
fn secrets_come_only_from_secret_references() {
    let mut objects = render(BASE);
    objects.extend(render(OVERLAY));
    objects.extend(render(NODE_LOCAL));
    assert!(
        objects.iter().all(|o| o["kind"] != "Secret"),
        "no Secret object with values in the repository"
    );
    for (kind, w) in workloads() {
        for env in container(&w)["env"].as_array().expect("env") {
            let name = env["name"].as_str().expect("a name");
            let secret_ref = &env["valueFrom"]["secretKeyRef"];
            if secret_like(name) {
                assert!(env["value"].is_null(), "{kind}: {name} has an inline value");
                assert_eq!(secret_ref["name"], "loganomaly-secrets", "{kind}: {name}");
            }
            if secret_ref.is_object() {
                assert_eq!(secret_ref["optional"], true, "{kind}: {name}");
            }
        }
    }
}

#[test]
fn the_config_reads_its_secrets_from_variables_the_pod_sets() {
    let config = super::config::shipped_config();
    let refs: Vec<&str> = config
        .split("{ env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(refs.contains(&"LOGANOMALY_SLACK_WEBHOOK_URL"), "{refs:?}");
    for needle in [
        "hooks.slack.com/services/",
        "password =",
        "token =",
        "api_key =",
    ] {
        assert!(
            !config.contains(needle),
            "the config holds a secret: {needle}"
        );
    }
    for (kind, w) in loki_readers() {
        let names: Vec<&str> = container(&w)["env"]
            .as_array()
            .expect("env")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        for r in &refs {
            assert!(
                names.contains(r),
                "{kind} does not set {r}, which the config reads"
            );
        }
        for loki in ["LOGANOMALY_LOKI_TOKEN", "LOGANOMALY_LOKI_PASSWORD"] {
            assert!(names.contains(&loki), "{kind}: {loki}");
        }
    }
}

#[test]
fn service_monitor_and_network_policy_reach_the_pods_on_the_metrics_port() {
    for dir in [BASE, OVERLAY, NODE_LOCAL] {
        let objects = render(dir);
        let workload = objects
            .iter()
            .find(|o| {
                ["Deployment", "StatefulSet", "DaemonSet"]
                    .contains(&o["kind"].as_str().unwrap_or(""))
            })
            .expect("a workload");
        let pod_labels = &workload["spec"]["template"]["metadata"]["labels"];
        assert!(selects(
            &workload["spec"]["selector"]["matchLabels"],
            pod_labels
        ));
        let monitor = find(&objects, "ServiceMonitor", None);
        let services: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "Service")
            .filter(|s| {
                selects(
                    &monitor["spec"]["selector"]["matchLabels"],
                    &s["metadata"]["labels"],
                )
            })
            .collect();
        assert_eq!(
            services.len(),
            1,
            "{dir}: the ServiceMonitor selects one Service (no double scrape)"
        );
        let service = services[0];
        assert!(selects(&service["spec"]["selector"], pod_labels), "{dir}");
        let port = &service["spec"]["ports"][0];
        assert_eq!(port["targetPort"], "metrics", "{dir}");
        let endpoint = &monitor["spec"]["endpoints"][0];
        assert_eq!(
            endpoint["port"], port["name"],
            "{dir}: the endpoint names the Service port"
        );
        let policy = find(&objects, "NetworkPolicy", Some("loganomaly"));
        assert!(
            selects(&policy["spec"]["podSelector"]["matchLabels"], pod_labels),
            "{dir}"
        );
        assert_eq!(
            policy["spec"]["ingress"][0]["ports"][0]["port"], "metrics",
            "{dir}"
        );
        let listen = super::config::shipped().server.listen;
        assert_eq!(
            container(workload)["ports"][0]["containerPort"],
            listen.port(),
            "{dir}"
        );
        assert_eq!(port["port"], listen.port(), "{dir}");
    }
}

#[test]
fn network_policy_allows_dns_loki_alertmanager_and_https_only() {
    let base = render(BASE);
    let policy = &find(&base, "NetworkPolicy", None)["spec"];
    assert_eq!(strings(&policy["policyTypes"]), ["Ingress", "Egress"]);
    let ports: Vec<i64> = policy["egress"]
        .as_array()
        .expect("egress rules")
        .iter()
        .flat_map(|rule| {
            assert!(
                rule["to"].is_array(),
                "every egress rule names its peers: {rule}"
            );
            rule["ports"]
                .as_array()
                .expect("every egress rule names its ports")
                .clone()
        })
        .map(|p| p["port"].as_i64().expect("numeric egress ports"))
        .collect();
    assert_eq!(ports, [53, 53, 8080, 3100, 9093, 443]);
    let loki = super::config::shipped().loki.expect("a [loki] section").url;
    assert!(
        loki.contains(".loki.svc"),
        "the config's Loki is in the namespace the policy allows: {loki}"
    );
}

#[test]
fn service_monitor_has_what_prometheus_operator_requires() {
    let monitor = yaml_file(&format!("{BASE}/servicemonitor.yaml")).remove(0);
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["kind"], "ServiceMonitor");
    let spec = monitor["spec"].as_object().expect("spec");
    assert!(
        spec["selector"]["matchLabels"].is_object(),
        "spec.selector is required"
    );
    let endpoints = spec["endpoints"].as_array().expect("spec.endpoints");
    assert!(!endpoints.is_empty());
    let known = [
        "port",
        "path",
        "interval",
        "scrapeTimeout",
        "scheme",
        "honorLabels",
    ];
    for e in endpoints {
        for k in e.as_object().expect("an endpoint").keys() {
            assert!(known.contains(&k.as_str()), "unexpected endpoint field {k}");
        }
        assert!(e["port"].is_string(), "an endpoint names its Service port");
        // the per-pod series' namespace/pod/container labels collide with target labels
        assert_eq!(e["honorLabels"], true, "the exported pod labels must win");
        for d in ["interval", "scrapeTimeout"] {
            assert!(
                prometheus_duration(e[d].as_str().unwrap_or("")),
                "{d}: {}",
                e[d]
            );
        }
    }
}

/// Prometheus-operator's duration pattern `^(0|(([0-9]+)y)?...(([0-9]+)ms)?)$`.
fn prometheus_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let mut rest = s;
    let mut any = false;
    for unit in ["y", "w", "d", "h", "m", "s", "ms"] {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0
            && rest[digits..].starts_with(unit)
            && !(unit == "m" && rest[digits..].starts_with("ms"))
        {
            rest = &rest[digits + unit.len()..];
            any = true;
        }
    }
    any && rest.is_empty()
}

#[test]
fn prometheus_durations_are_recognised() {
    for ok in ["15s", "1m30s", "2h", "500ms", "0", "1d2h"] {
        assert!(prometheus_duration(ok), "{ok}");
    }
    for bad in ["", "15", "1.5m", "s", "2m1h", "15 s"] {
        assert!(!prometheus_duration(bad), "{bad}");
    }
}

#[test]
fn prometheus_rule_has_what_prometheus_operator_requires() {
    let rule = yaml_file(&format!("{BASE}/prometheusrule.yaml")).remove(0);
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    let groups = rule["spec"]["groups"].as_array().expect("spec.groups");
    assert!(!groups.is_empty());
    let mut names: Vec<&str> = groups
        .iter()
        .map(|g| g["name"].as_str().expect("group name"))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), groups.len(), "group names are unique");
    let mut alerts = 0;
    for g in groups {
        assert!(
            !g["name"].as_str().unwrap_or("").is_empty(),
            "name has minLength 1"
        );
        for r in g["rules"].as_array().expect("rules") {
            assert!(r["expr"].is_string(), "expr is required: {r}");
            assert!(
                r["alert"].is_string() != r["record"].is_string(),
                "alert or record: {r}"
            );
            if let Some(d) = r["for"].as_str() {
                assert!(prometheus_duration(d), "for: {d}");
            }
            for map in ["labels", "annotations"] {
                for (k, v) in r[map].as_object().into_iter().flatten() {
                    assert!(v.is_string(), "{map}.{k} must be a string");
                }
            }
            alerts += usize::from(r["alert"].is_string());
        }
    }
    assert!(alerts >= 5, "the five loganomaly alerts");
}

#[test]
fn the_statefulset_shards_agree_with_its_replicas_and_otherwise_equals_the_deployment() {
    let base = render(BASE);
    let overlay = render(OVERLAY);
    let deployment = find(&base, "Deployment", None);
    let set = find(&overlay, "StatefulSet", None);
    let replicas = set["spec"]["replicas"].as_i64().expect("replicas");
    assert!(replicas > 1);
    assert_eq!(set["spec"]["serviceName"], "loganomaly-shards");
    find(&overlay, "Service", Some("loganomaly-shards"));
    let env = container(set)["env"].as_array().expect("env");
    let var = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(
        var("POD_INDEX")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    assert_eq!(
        var("LOGANOMALY_LOKI_SHARD")["value"],
        format!("$(POD_INDEX)/{replicas}")
    );
    // the pod templates differ only by the shard variables
    let mut template = set["spec"]["template"].clone();
    let env = template["spec"]["containers"][0]["env"]
        .as_array_mut()
        .expect("env");
    env.retain(|e| e["name"] != "POD_INDEX" && e["name"] != "LOGANOMALY_LOKI_SHARD");
    assert_eq!(
        template, deployment["spec"]["template"],
        "the StatefulSet's pod template drifted"
    );
}

/// The image builds from what its build stage copies: every workspace member (the model
/// crate is a path dependency of the service) and every folder the sources embed files
/// from (`include_str!`/`include_bytes!`).
#[test]
fn the_dockerfile_copies_every_workspace_member_and_embedded_folder() {
    let dockerfile = read("Dockerfile");
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let manifest = read("Cargo.toml");
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .expect("a workspace members list");
    let needed = members
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| *m != "." && !m.is_empty())
        .map(|m| m.split('/').next().unwrap_or(m).to_string())
        .chain(["src", "models", "examples", "migrations"].map(String::from));
    for dir in needed {
        assert!(
            copied.contains(&dir.as_str()),
            "the Dockerfile does not copy {dir}/: {copied:?}"
        );
    }
}

/// The route that sends kube-prometheus's pod alerts to `POST /api/v1/alertmanager`:
/// a well-formed AlertmanagerConfig whose webhook is the base's Service and port, that the
/// NetworkPolicy admits, and that only the single-replica base ships.
#[test]
fn alertmanager_routes_pod_alerts_to_the_evidence_endpoint() {
    let base = render(BASE);
    let config = find(&base, "AlertmanagerConfig", None);
    assert_eq!(config["apiVersion"], "monitoring.coreos.com/v1alpha1");
    let route = &config["spec"]["route"];
    let receivers = config["spec"]["receivers"].as_array().expect("receivers");
    let receiver = receivers
        .iter()
        .find(|r| r["name"] == route["receiver"])
        .expect("the route names a receiver");
    assert_eq!(
        route["continue"], true,
        "the alerts still reach other receivers"
    );
    let matcher = &route["matchers"][0];
    assert_eq!(
        (&matcher["name"], &matcher["matchType"]),
        (&"alertname".into(), &"=~".into())
    );
    let names =
        regex::Regex::new(&format!("^(?:{})$", matcher["value"].as_str().unwrap())).unwrap();
    for alert in [
        "KubePodCrashLooping",
        "KubePodNotReady",
        "KubeContainerWaiting",
    ] {
        assert!(names.is_match(alert), "{alert}");
    }
    assert!(!names.is_match("Watchdog"));

    let service = find(&base, "Service", Some("loganomaly"));
    let (name, ns) = (
        &service["metadata"]["name"],
        &service["metadata"]["namespace"],
    );
    let port = &service["spec"]["ports"][0];
    let url = format!(
        "http://{}.{}.svc:{}/api/v1/alertmanager",
        name.as_str().unwrap(),
        ns.as_str().unwrap(),
        port["port"]
    );
    assert_eq!(receiver["webhookConfigs"][0]["url"], url.as_str());
    assert_eq!(receiver["webhookConfigs"][0]["sendResolved"], false);

    let policy = find(&base, "NetworkPolicy", Some("loganomaly"));
    let admitted = policy["spec"]["ingress"]
        .as_array()
        .expect("ingress")
        .iter()
        .filter(|rule| rule["ports"][0]["port"] == port["targetPort"])
        .any(|rule| {
            rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                == "alertmanager"
        });
    assert!(admitted, "the NetworkPolicy lets Alertmanager post");

    for overlay in [OVERLAY, NODE_LOCAL] {
        let objects = render(overlay);
        assert!(
            !objects.iter().any(|o| o["kind"] == "AlertmanagerConfig"),
            "{overlay}: a replica sees only its shard's or node's pods"
        );
    }
}
