//! The incident history in a real PostgreSQL (Debian's `postgresql` package), started by
//! the test on 127.0.0.1 with `initdb` and `pg_ctl` (as the `postgres` user when the test
//! runs as root, as CI does). Skipped, saying so, when the binaries are absent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loganomaly::incident::IncidentConfig;

use super::{alerts_config, all_rows, reference_rows, replay_command, store_contract};
use crate::common::free_port;

/// A PostgreSQL cluster in a temporary folder, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// `/usr/lib/postgresql/<version>/bin`, the newest installed.
fn pg_bin() -> Option<PathBuf> {
    let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    bins.sort();
    bins.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Cluster {
    /// Starts a cluster, or `None` (with a message) when PostgreSQL is not installed.
    fn start() -> Option<Self> {
        let Some(bin) = pg_bin() else {
            eprintln!(
                "skipped: no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if is_root() {
            // PostgreSQL refuses to run as root: hand the folder to its own user
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown to postgres");
        }
        let cluster = Self {
            bin,
            data,
            port: free_port(),
            _dir: dir,
        };
        let initdb = cluster.bin.join("initdb");
        let ok = cluster
            .run(
                &initdb,
                &["-A", "trust", "-U", "postgres", "-D"],
                &cluster.data,
            )
            .success();
        assert!(ok, "initdb");
        cluster.pg_ctl_start();
        Some(cluster)
    }

    /// Runs `program args… path`, as `postgres` when root.
    fn run(&self, program: &Path, args: &[&str], path: &Path) -> std::process::ExitStatus {
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args)
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::ExitStatus {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut all = args.to_vec();
        all.push("-D");
        self.run(&pg_ctl, &all, &self.data)
    }

    fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log");
        let log = log.to_str().unwrap();
        assert!(
            self.pg_ctl(&["-w", "-l", log, "-o", &opts, "start"])
                .success(),
            "pg_ctl start"
        );
    }

    fn stop(&self) {
        assert!(
            self.pg_ctl(&["-w", "-m", "fast", "stop"]).success(),
            "pg_ctl stop"
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}

#[test]
fn the_store_contract_holds_on_postgres() {
    let Some(pg) = Cluster::start() else { return };
    store_contract(&IncidentConfig::at(&pg.url()));
    let mut client = pg.client();
    let versions: Vec<i64> = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let known: Vec<i64> = loganomaly::incident::MIGRATIONS
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(versions, known, "each migration recorded once");
    assert_eq!(known, [1, 2]);
}

#[test]
fn postgres_stopped_for_30_s_while_alerts_flow_loses_no_incident() {
    let Some(pg) = Cluster::start() else { return };
    let reference = reference_rows();
    let inc = IncidentConfig::at(&pg.url());
    drop(loganomaly::incident::open(&inc.database().unwrap()).unwrap());

    // hold the table so the writer's first insert waits: the replay's incidents queue up
    let mut holder = pg.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE incidents IN EXCLUSIVE MODE")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = alerts_config(
        dir.path(),
        &format!("database = {:?}\ndrain_timeout = \"180s\"", pg.url()),
    );
    let child = replay_command(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watcher = pg.client();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the writer never wrote");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(watcher);

    // the database goes away mid-write for 30 s, then comes back
    pg.stop();
    drop(holder);
    std::thread::sleep(Duration::from_secs(30));
    pg.pg_ctl_start();

    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nothing dropped or given up: {stderr}"
    );
    let stats = stderr
        .lines()
        .find(|l| l.contains("incidents    written"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        stats.contains("dropped 0") && stats.contains("failed 0"),
        "{stats}"
    );
    assert!(!stats.contains("retried 0,"), "the writer retried: {stats}");
    assert_eq!(
        all_rows(&inc),
        reference,
        "every incident, as SQLite holds them"
    );
}

/// The overview dashboard's incident panel query, with Grafana's macros filled in as its
/// PostgreSQL data source fills them.
fn panel_sql(from_ns: i64, to_ns: i64, namespace_regex: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dashboards/loganomaly-overview.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panel = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["datasource"]["type"] == "grafana-postgresql-datasource")
        .expect("a panel on the PostgreSQL data source");
    panel["targets"][0]["rawSql"]
        .as_str()
        .unwrap()
        .replace("$__unixEpochNanoFrom()", &from_ns.to_string())
        .replace("$__unixEpochNanoTo()", &to_ns.to_string())
        .replace("${namespace:regex}", namespace_regex)
}

#[test]
fn the_grafana_panel_reads_the_incidents_a_replay_wrote() {
    let Some(pg) = Cluster::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = alerts_config(dir.path(), &format!("database = {:?}", pg.url()));
    super::replay(&cfg);
    let rows = all_rows(&IncidentConfig::at(&pg.url()));
    let mut client = pg.client();
    let all = client.query(&panel_sql(0, i64::MAX, ".*"), &[]).unwrap();
    assert_eq!(all.len(), rows.len());
    let first: String = all[0].get("pod");
    assert_eq!(first, rows[0].pod, "latest first");
    let top: Option<String> = all[0].get("top_line");
    assert_eq!(top.as_deref(), Some(rows[0].top_lines[0].line.as_str()));
    let ns = &rows[0].namespace;
    let in_ns = client.query(&panel_sql(0, i64::MAX, ns), &[]).unwrap();
    assert_eq!(
        in_ns.len(),
        rows.iter().filter(|r| &r.namespace == ns).count()
    );
    let before_all = rows.iter().map(|r| r.started_ns).min().unwrap() - 1;
    assert!(client
        .query(&panel_sql(0, before_all, ".*"), &[])
        .unwrap()
        .is_empty());
}
