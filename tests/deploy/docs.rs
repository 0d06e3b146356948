//! docs/configuration.md documents every key of the service configuration, and nothing
//! else. The keys are read from the configuration types themselves: an unknown key in a
//! section gets serde's error "unknown field `x`, expected one of `a`, `b`, ...", which
//! lists the section's keys; a key that is a section of its own answers a probe the same way.

use std::collections::BTreeSet;

use loganomaly::config::ServiceConfig;

use super::read;

/// The reference.
const REFERENCE: &str = "docs/configuration.md";

/// A key that cannot exist.
const PROBE: &str = "__probe__";

/// The keys serde accepts in the section at `path`; `None` when `path` is not a section.
fn keys_of(path: &[String]) -> Option<Vec<String>> {
    let header = if path.is_empty() {
        String::new()
    } else {
        format!("[{}]\n", path.join("."))
    };
    let text = format!("{header}{PROBE} = 1\n");
    let error = match ServiceConfig::from_toml(&text, "probe", std::iter::empty()) {
        Ok(_) => panic!("{text}: a probe key was accepted"),
        Err(e) => e.to_string(),
    };
    let listed = error
        .split_once(&format!("unknown field `{PROBE}`, expected"))?
        .1;
    Some(
        listed
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

/// Every (section, key) pair of the configuration, `section` like `loki.labels`.
fn config_keys() -> BTreeSet<(String, String)> {
    let mut keys = BTreeSet::new();
    let mut sections = vec![Vec::<String>::new()];
    while let Some(path) = sections.pop() {
        for key in keys_of(&path).expect("a section") {
            let child: Vec<String> = path.iter().cloned().chain([key.clone()]).collect();
            if keys_of(&child).is_some() {
                sections.push(child);
            } else {
                keys.insert((path.join("."), key));
            }
        }
    }
    keys
}

/// One documented key: its section, name and the default column.
struct Row {
    section: String,
    key: String,
    default: String,
}

/// The rows of the reference's tables, under headings that name a section as `` `[x]` ``.
fn documented_rows(markdown: &str) -> Vec<Row> {
    let mut section = None;
    let mut rows = Vec::new();
    for line in markdown.lines() {
        if line.starts_with('#') {
            section = line
                .split_once("`[")
                .and_then(|(_, rest)| rest.split_once("]`"))
                .map(|(name, _)| name.to_string());
            continue;
        }
        let (Some(section), Some(rest)) = (&section, line.strip_prefix("| `")) else {
            continue;
        };
        let Some((key, rest)) = rest.split_once('`') else {
            continue;
        };
        let default = rest.split('|').nth(1).unwrap_or("").trim().to_string();
        rows.push(Row {
            section: section.clone(),
            key: key.to_string(),
            default,
        });
    }
    rows
}

#[test]
fn the_key_probe_reads_the_configuration_types() {
    let root = keys_of(&[]).expect("the root is a section");
    assert_eq!(
        root,
        ["server", "model", "pods", "loki", "push", "alerting"]
    );
    let labels = keys_of(&["loki".into(), "labels".into()]).expect("a section");
    assert_eq!(labels, ["namespace", "pod", "container"]);
    assert!(keys_of(&["server".into(), "listen".into()]).is_none());
    let keys = config_keys();
    for (section, key) in [
        ("server", "listen"),
        ("loki", "shard"),
        ("alerting.policy.storm", "window"),
        ("alerting.slack", "webhook_url"),
    ] {
        assert!(
            keys.contains(&(section.into(), key.into())),
            "{section}.{key}"
        );
    }
}

#[test]
fn every_config_key_is_documented_and_every_documented_key_exists() {
    let rows = documented_rows(&read(REFERENCE));
    let documented: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.section.clone(), r.key.clone()))
        .collect();
    assert_eq!(documented.len(), rows.len(), "a key documented twice");
    let keys = config_keys();
    let missing: Vec<String> = keys
        .difference(&documented)
        .map(|(s, k)| format!("{s}.{k}"))
        .collect();
    let unknown: Vec<String> = documented
        .difference(&keys)
        .map(|(s, k)| format!("{s}.{k}"))
        .collect();
    assert!(
        missing.is_empty(),
        "undocumented in {REFERENCE}: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "documented but not config keys: {unknown:?}"
    );
}

#[test]
fn documented_defaults_are_the_defaults() {
    let rows = documented_rows(&read(REFERENCE));
    let defaults: toml::Table =
        toml::from_str(&ServiceConfig::default().to_toml()).expect("the defaults as TOML");
    let mut checked = 0;
    for (section, table) in &defaults {
        let toml::Value::Table(table) = table else {
            continue;
        };
        for (key, value) in table {
            let row = rows
                .iter()
                .find(|r| &r.section == section && &r.key == key)
                .unwrap_or_else(|| panic!("{section}.{key} is not documented"));
            assert_eq!(row.default, format!("`{value}`"), "{section}.{key}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn rows_are_read_under_their_section() {
    let md = "## `[a.b]`\n| `k` | `1` | x |\n| key | default | meaning |\n## Other\n| `z` | | |\n";
    let rows = documented_rows(md);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].section.as_str(), rows[0].key.as_str()),
        ("a.b", "k")
    );
    assert_eq!(rows[0].default, "`1`");
}

/// The documents a newcomer follows from an empty cluster to the dashboards.
const GUIDES: [&str; 4] = [
    "README.md",
    "docs/deploy.md",
    "docs/operations.md",
    "docs/configuration.md",
];

/// Where repository paths start.
const PATH_PREFIXES: [&str; 7] = [
    "manifests/",
    "dashboards/",
    "docs/",
    "examples/",
    "models/",
    "Dockerfile",
    ".dockerignore",
];

/// Repository paths a document names: words of `` `code` `` spans that start like one, and
/// relative link targets (resolved against the document's folder).
fn named_paths(markdown: &str, doc_dir: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for span in markdown.split('`').skip(1).step_by(2) {
        for word in span.split_whitespace() {
            let word = word.trim_end_matches([',', ':', ')', '.', ';']);
            if PATH_PREFIXES.iter().any(|p| word.starts_with(p)) && !placeholder(word) {
                paths.push(word.to_string());
            }
        }
    }
    for target in markdown
        .split("](")
        .skip(1)
        .filter_map(|s| s.split(')').next())
    {
        let target = target.split('#').next().unwrap_or("");
        if target.is_empty() || target.contains("://") {
            continue;
        }
        paths.push(super::normalise(
            &std::path::Path::new(doc_dir).join(target),
        ));
    }
    paths
}

/// Whether a path holds a placeholder such as `NAME` (three or more capitals in a row).
fn placeholder(path: &str) -> bool {
    path.as_bytes()
        .windows(3)
        .any(|w| w.iter().all(u8::is_ascii_uppercase))
}

/// Whether `path` (maybe ending in a `*.ext` glob) names something in the repository.
fn exists(path: &str) -> bool {
    let full = super::root().join(path);
    match path.rsplit_once("/*") {
        Some((dir, suffix)) => std::fs::read_dir(super::root().join(dir))
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(suffix))
            })
            .unwrap_or(false),
        None => full.exists(),
    }
}

#[test]
fn every_file_the_guides_name_exists() {
    let mut checked = 0;
    for guide in GUIDES {
        let dir = std::path::Path::new(guide)
            .parent()
            .map_or(String::new(), |d| d.to_string_lossy().into_owned());
        for path in named_paths(&read(guide), &dir) {
            assert!(exists(&path), "{guide} names {path}, which does not exist");
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
}

#[test]
fn named_paths_are_found_in_code_and_links() {
    let md = "Apply `kubectl apply -f manifests/kubernetes/`, see [ops](operations.md#sizing), \
              `dashboards/*.json`, [web](https://example.com/x), `cargo test`.";
    let paths = named_paths(md, "docs");
    assert_eq!(
        paths,
        [
            "manifests/kubernetes/",
            "dashboards/*.json",
            "docs/operations.md"
        ]
    );
    assert!(exists("dashboards/*.json") && !exists("dashboards/*.yaml"));
    assert!(!exists("manifests/nope.yaml"));
    assert!(placeholder("models/NAME.model") && !placeholder("manifests/kubernetes/Kustomization"));
}
