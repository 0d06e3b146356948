//! The incident history in a real SQLite file.

use std::time::{Duration, Instant};

use loganomaly::incident::IncidentConfig;

use super::{alerts_config, all_rows, reference_rows, replay, replay_command, store_contract};

#[test]
fn the_store_contract_holds_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/folder/incidents.db");
    store_contract(&IncidentConfig::at(&format!("sqlite://{}", db.display())));
}

/// A database that accepts the first `n` rows, then fails every insert, as a broken disk
/// or a locked file would, until the trigger is dropped.
const FAIL_AFTER_3: &str = "CREATE TRIGGER test_outage BEFORE INSERT ON incidents \
    WHEN (SELECT count(*) FROM incidents) >= 3 \
    BEGIN SELECT RAISE(ABORT, 'test: the database fails'); END";

fn count(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM incidents", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_replay_killed_mid_run_then_run_again_leaves_every_incident_once() {
    let reference = reference_rows();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let url = format!("sqlite://{}", db.display());
    let inc = IncidentConfig::at(&url);
    drop(loganomaly::incident::open(&inc.database().unwrap()).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(FAIL_AFTER_3).unwrap();
    let cfg = alerts_config(
        dir.path(),
        &format!("database = {url:?}\ndrain_timeout = \"120s\""),
    );

    // first run: three rows land, then the writer retries; kill -9 it there
    let mut child = replay_command(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&db) < 3 {
        assert!(Instant::now() < deadline, "no incident written");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the replay still runs, its writer retrying"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = all_rows(&inc);
    assert_eq!(before.len(), 3);
    assert!(before.len() < reference.len(), "killed mid-run");

    // the database recovers; the rerun completes the set without duplicating a row
    conn.execute_batch("DROP TRIGGER test_outage").unwrap();
    replay(&cfg);
    let after = all_rows(&inc);
    assert_eq!(
        after, reference,
        "every incident, once, as a clean run writes them"
    );
    for row in &before {
        assert!(
            after.iter().any(|r| r.id == row.id),
            "{} kept its id",
            row.id
        );
    }
}

/// A history written before "seen this before" existed (schema version 1) is migrated in
/// place: its rows stay, read with no past incidents named.
#[test]
fn a_version_1_history_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (version, name, sql) = loganomaly::incident::MIGRATIONS[0];
    conn.execute_batch(sql).unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at TEXT NOT NULL)",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO schema_migrations VALUES (?1, ?2, '2026-01-01T00:00:00Z')",
        rusqlite::params![version, name],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO incidents VALUES ('shop/api-0/1', 'shop', 'api-0', NULL, 'resolved', 1, \
         60000000001, 20.5, 9.0, 'timeout', NULL, '[]', '2026-01-01T00:00:00Z', 1)",
        [],
    )
    .unwrap();
    drop(conn);
    let cfg = IncidentConfig::at(&format!("sqlite://{}", db.display()));
    drop(loganomaly::incident::open(&cfg.database().unwrap()).unwrap());
    let rows = all_rows(&cfg);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].id.as_str(), rows[0].ended_ns),
        ("shop/api-0/1", Some(60_000_000_001))
    );
    assert!(rows[0].seen_before.is_empty());
}
