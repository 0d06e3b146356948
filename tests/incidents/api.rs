//! Reading the history: `GET /api/v1/incidents` of the service and `loganomaly incidents`.

use std::process::Command;
use std::sync::Arc;

use loganomaly::incident::{self, Filter, Incident, IncidentConfig, Status};
use loganomaly::serve::{http, Shared};

use super::{alerts_config, all_rows, replay};

/// A history written by a replay of the sample, and its alert config.
fn replayed() -> (tempfile::TempDir, std::path::PathBuf, IncidentConfig) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let cfg = alerts_config(
        dir.path(),
        &format!("path = {:?}", db.display().to_string()),
    );
    replay(&cfg);
    let inc = IncidentConfig::at(&format!("sqlite://{}", db.display()));
    (dir, cfg, inc)
}

async fn get(base: &str, query: &str) -> (u16, String) {
    let client = loganomaly::http::client(std::time::Duration::from_secs(10)).unwrap();
    let resp = client
        .get(format!("{base}/api/v1/incidents{query}"))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn serve(shared: Arc<Shared>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, http::router(shared)).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_filters_the_history_a_replay_wrote() {
    let (_dir, _cfg, inc) = tokio::task::spawn_blocking(replayed).await.unwrap();
    let rows = all_rows(&inc);
    let shared = Arc::new(Shared::default());
    shared.incidents.set(inc.database().unwrap()).unwrap();
    let base = serve(shared).await;

    let (status, body) = get(&base, "?limit=1000").await;
    assert_eq!(status, 200, "{body}");
    let got: Vec<Incident> = serde_json::from_str(&body).unwrap();
    assert_eq!(got, rows);
    assert!(
        rows.iter().all(|r| r.status == Status::Resolved),
        "the replay resolves all"
    );

    let pod = &rows[0];
    let from = pod.started();
    let query = format!(
        "?namespace={}&pod={}&status=resolved&from={}",
        pod.namespace, pod.pod, from
    );
    let (_, body) = get(&base, &query).await;
    let got: Vec<Incident> = serde_json::from_str(&body).unwrap();
    let want: Vec<&Incident> = rows
        .iter()
        .filter(|r| r.pod == pod.pod && r.namespace == pod.namespace)
        .filter(|r| r.ended_ns.unwrap() >= pod.started_ns)
        .collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), want);
    assert_eq!(get(&base, "?status=open").await.1, "[]");

    let (status, body) = get(&base, "?status=closed").await;
    assert_eq!(status, 400);
    assert!(body.contains("open or resolved"), "{body}");
    let (status, _) = get(&base, "?colour=red").await;
    assert_eq!(status, 400, "unknown parameters are refused");
}

#[tokio::test]
async fn without_a_database_the_api_says_how_to_set_one() {
    let base = serve(Arc::new(Shared::default())).await;
    let (status, body) = get(&base, "").await;
    assert_eq!(status, 404);
    assert!(body.contains("[alerting.incidents]"), "{body}");
}

#[test]
fn the_incidents_command_lists_the_same_rows_as_a_table_or_json() {
    let (_dir, cfg, inc) = replayed();
    let ns = all_rows(&inc)[0].namespace.clone();
    let want = incident::connect(&inc.database().unwrap())
        .unwrap()
        .list(&Filter {
            namespace: Some(ns.clone()),
            ..Filter::default()
        })
        .unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_loganomaly"))
            .args(["incidents", "--alerts"])
            .arg(&cfg)
            .args(["--namespace", &ns])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let got: Vec<Incident> = serde_json::from_str(&run(&["--json"])).unwrap();
    assert_eq!(got, want);
    let table = run(&[]);
    assert_eq!(table.lines().count(), want.len() + 1, "{table}");
    for row in &want {
        let name: String = format!("{}/{}", row.namespace, row.pod)
            .chars()
            .take(39)
            .collect();
        assert!(table.contains(&name), "{table}");
    }
}
