//! The Kubernetes deployment: manifests, generated objects, the shipped configuration and
//! its reference documentation.
//!
//! `kubernetes-validate --strict` (in `.ci/run`) checks the core objects against the
//! Kubernetes schemas; these tests check what no schema can: that the objects fit
//! together, that the prometheus-operator objects have the fields the operator requires,
//! that generated files have not drifted from their sources, that the shipped config
//! passes `check-config`, and that every config key is documented.

mod config;
mod daemonset;
mod docs;
mod examples;
mod generated;
mod manifests;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// The base (`kubectl apply -k` / `-f` on this folder).
const BASE: &str = "manifests/kubernetes";
/// The scale-out overlay.
const OVERLAY: &str = "manifests/statefulset";
/// The node-local overlay (a DaemonSet fed by each node's shipper).
const NODE_LOCAL: &str = "manifests/daemonset";

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A repository file's text; panics with the path when it is missing.
fn read(path: &str) -> String {
    let full = root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every YAML document of `text` as JSON values (empty documents skipped).
fn parse_yaml(text: &str, origin: &str) -> Vec<Value> {
    let docs = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{origin}: {e}"));
    docs.iter().map(to_json).filter(|v| !v.is_null()).collect()
}

/// Every YAML document of a repository file.
fn yaml_file(path: &str) -> Vec<Value> {
    parse_yaml(&read(path), path)
}

/// A YAML node as JSON; mapping keys become strings.
fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(s.clone()), Value::Number),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(h) => {
            let map: Map<String, Value> = h.iter().map(|(k, v)| (key(k), to_json(v))).collect();
            Value::Object(map)
        }
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

fn key(k: &Yaml) -> String {
    match to_json(k) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The objects a kustomization renders, without kustomize: its resources (files, or
/// folders holding a `Kustomization`, recursively), minus the objects its
/// `$patch: delete` patches remove. Only what this repository's kustomizations use.
fn render(dir: &str) -> Vec<Value> {
    let kustomization = kustomization(dir);
    let mut objects = Vec::new();
    for resource in strings(&kustomization["resources"]) {
        let path = normalise(&Path::new(dir).join(&resource));
        if root().join(&path).is_dir() {
            objects.extend(render(&path));
        } else {
            objects.extend(yaml_file(&path));
        }
    }
    for patch in kustomization["patches"].as_array().into_iter().flatten() {
        let text = patch["patch"].as_str().expect("inline patches only");
        for p in parse_yaml(text, dir) {
            assert_eq!(
                p["$patch"], "delete",
                "{dir}: only delete patches are rendered"
            );
            let before = objects.len();
            objects.retain(|o| !same_object(o, &p));
            assert_eq!(
                before - 1,
                objects.len(),
                "{dir}: the patch matches no object: {p}"
            );
        }
    }
    objects
}

/// The `Kustomization` file of `dir`.
fn kustomization(dir: &str) -> Value {
    let mut docs = yaml_file(&format!("{dir}/Kustomization"));
    assert_eq!(docs.len(), 1, "{dir}/Kustomization: one document");
    let k = docs.remove(0);
    assert_eq!(k["kind"], "Kustomization");
    k
}

/// `a/b/../c` as `a/c` (relative to the repository root).
fn normalise(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c.as_os_str().to_string_lossy().as_ref() {
            ".." => {
                parts.pop();
            }
            "." => {}
            s => parts.push(s.to_string()),
        }
    }
    parts.join("/")
}

fn same_object(a: &Value, b: &Value) -> bool {
    a["kind"] == b["kind"]
        && a["metadata"]["name"] == b["metadata"]["name"]
        && a["metadata"]["namespace"] == b["metadata"]["namespace"]
}

/// The one object of `kind` (named `name`, when given) among `objects`.
fn find<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .filter(|o| name.is_none_or(|n| o["metadata"]["name"] == n))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} {name:?}, found {}",
        found.len()
    );
    found[0]
}

/// A list of strings (an absent value is an empty list).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// Whether every `matchLabels` pair of `selector` is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let wanted = selector.as_object().expect("a label map");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}
