//! Issue 18: the incident history in a real SQLite file and a real PostgreSQL. The same
//! store contract runs on both; `replay --alerts` of the bundled sample writes the rows.

mod api;
mod postgres;
mod seen;
pub(crate) mod serve;
mod sqlite;

use std::path::Path;
use std::process::{Command, Output};

use loganomaly::incident::{self, Filter, Incident, IncidentConfig, Status};

const MINUTE_NS: i64 = 60_000_000_000;

/// An alert config that only writes incidents: `incidents` is the `[incidents]` body.
fn alerts_config(dir: &Path, incidents: &str) -> std::path::PathBuf {
    let path = dir.join("alerts.toml");
    std::fs::write(&path, format!("[incidents]\n{incidents}\n")).unwrap();
    path
}

/// `loganomaly replay --alerts <cfg>` of the bundled sample, not started yet.
fn replay_command(cfg: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loganomaly"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", "--top", "1", "--alerts"])
        .arg(cfg)
        .arg("dataset/sample-loki-logs.json");
    cmd
}

/// Runs the replay to its end and checks it succeeded (no incident dropped or failed).
fn replay(cfg: &Path) -> Output {
    let out = replay_command(cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("incidents    written"), "{stderr}");
    out
}

/// Every incident of `cfg`'s database, in a stable order.
fn all_rows(cfg: &IncidentConfig) -> Vec<Incident> {
    let filter = Filter {
        limit: Some(10_000),
        ..Filter::default()
    };
    let db = cfg.database().unwrap();
    incident::connect(&db).unwrap().list(&filter).unwrap()
}

/// The incidents the bundled sample raises, written to a fresh SQLite file: the reference
/// the other runs are compared with.
fn reference_rows() -> Vec<Incident> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reference.db");
    let cfg = alerts_config(
        dir.path(),
        &format!("path = {:?}", db.display().to_string()),
    );
    replay(&cfg);
    let rows = all_rows(&IncidentConfig::at(&format!("sqlite://{}", db.display())));
    assert!(rows.len() > 5, "the sample raises incidents: {rows:?}");
    rows
}

fn row(ns: &str, pod: &str, minute: i64, status: Status) -> Incident {
    let started_ns = 1_700_000_000_000_000_000 + minute * MINUTE_NS;
    Incident {
        id: Incident::id_of(ns, pod, started_ns),
        namespace: ns.into(),
        pod: pod.into(),
        grouped_in: None,
        status,
        started_ns,
        ended_ns: (status == Status::Resolved).then_some(started_ns + 10 * MINUTE_NS),
        peak_burst: 21.5,
        threshold: 9.0,
        category: "timeout".into(),
        dependency: Some("redis".into()),
        top_lines: vec![incident::IncidentLine {
            ts: "2023-11-14T23:00:00Z".into(),
            score: 0.8,
            line: "upstream timed out password=<redacted>".into(),
        }],
        model_version: "2026-01-01T00:00:00Z".into(),
        updated_ns: started_ns,
        seen_before: Vec::new(),
    }
}

/// What every store must do: migrate once and again, upsert by id, filter and order.
fn store_contract(cfg: &IncidentConfig) {
    let db = cfg.database().unwrap();
    drop(incident::open(&db).unwrap());
    let mut store = incident::open(&db).expect("migrating twice is a no-op");
    let opened = row("shop", "api-1", 0, Status::Open);
    store.upsert(&opened).unwrap();
    let mut resolved = opened.clone();
    resolved.status = Status::Resolved;
    resolved.ended_ns = Some(opened.started_ns + 7 * MINUTE_NS);
    resolved.peak_burst = 30.0;
    store.upsert(&resolved).unwrap();
    let mut later = row("shop", "api-2", 30, Status::Open);
    // seen before: the first one, round-tripped through the `seen_before` column
    later.seen_before = vec![loganomaly::alert::SeenBefore {
        id: opened.id.clone(),
        namespace: "shop".into(),
        pod: "api-1".into(),
        started: opened.started(),
        lasted_minutes: 7,
        similarity: 0.93,
    }];
    let other = row("pay", "ledger-0", 60, Status::Resolved);
    store.upsert(&later).unwrap();
    store.upsert(&other).unwrap();

    let list = |store: &mut Box<dyn incident::Store>, f: Filter| store.list(&f).unwrap();
    let all = list(&mut store, Filter::default());
    assert_eq!(all, vec![other.clone(), later.clone(), resolved.clone()]);
    let shop = Filter {
        namespace: Some("shop".into()),
        ..Filter::default()
    };
    assert_eq!(
        list(&mut store, shop),
        vec![later.clone(), resolved.clone()]
    );
    let pod = Filter {
        pod: Some("api-1".into()),
        ..Filter::default()
    };
    assert_eq!(list(&mut store, pod), vec![resolved.clone()]);
    let open = Filter {
        status: Some(Status::Open),
        ..Filter::default()
    };
    assert_eq!(list(&mut store, open), vec![later.clone()]);
    // going on between minutes 20 and 40: the open one only (the first ended at 7)
    let window = Filter {
        from_ns: Some(later.started_ns - 10 * MINUTE_NS),
        to_ns: Some(later.started_ns + 10 * MINUTE_NS),
        ..Filter::default()
    };
    assert_eq!(list(&mut store, window), vec![later.clone()]);
    let first = Filter {
        limit: Some(1),
        ..Filter::default()
    };
    assert_eq!(list(&mut store, first), vec![other]);
}
