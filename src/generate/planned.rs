//! Lines that happen at fixed instants of the [`Schedule`]: restarts and their startup
//! logs, crash and OOM traces, the Postgres restart, Kubernetes events of rollouts, cron
//! jobs and incidents, config reloads and checkpoints.
//!
//! Their number does not depend on the requested line count (a crash loop backs off at
//! the same pace in a quiet or a busy cluster), so a stream renders all of its planned
//! lines up front: a few hundred at most.
//!
//! [`Schedule`]: super::schedule::Schedule

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::apps::{gc_number, logfmt, zap};
use super::clock::{civil, MS, NS};
use super::datastores::pg;
use super::events::{pod_event, Involved, KubeEvent};
use super::fake;
use super::incidents::{gc_full, go_panic, java_oome, pg_db, CRASHLOOP, DB, OOM};
use super::platform::config_reloader_line;
use super::shapes::{klog, spring};
use super::stream::{Ctx, Line};
use super::topology::{Kind, Owner, Pod, NODES};

type Rng64 = Xoshiro256PlusPlus;

/// Image the `search` rollout moves to.
const SEARCH_NEW_IMAGE: &str = "registry.example.com/shop/search:1.10.0";

/// All planned lines of the stream, sorted by instant.
pub(super) fn render(ctx: Ctx<'_>, rng: &mut Rng64) -> Vec<Line> {
    let mut out = Vec::new();
    let pod = ctx.pod;
    match ctx.stream.kind {
        Kind::Ingress => ingress_reload(ctx, rng, &mut out),
        Kind::Prometheus => prometheus_reload(ctx, rng, &mut out),
        Kind::ConfigReloader => {
            let t = ctx.sched.prom_reload;
            out.push(Line::plain(t, config_reloader_line(&civil(t))));
        }
        Kind::Postgres { primary: true } => postgres_primary(ctx, rng, &mut out),
        Kind::Postgres { primary: false } => postgres_replica(ctx, rng, &mut out),
        Kind::Zap(_) if pod.workload == "notification-worker" => crash_loop(ctx, rng, &mut out),
        Kind::Spring(_) if pod.workload == "orders" && pod.replica == 0 => {
            oom_cycles(ctx, rng, &mut out)
        }
        Kind::Logfmt(_) if pod.workload == "search" => search_lifecycle(ctx, rng, &mut out),
        Kind::Logfmt(_) if pod.workload == "report-export" => report_job(ctx, rng, &mut out),
        Kind::EventExporter => all_events(ctx, rng, &mut out),
        Kind::ControllerManager => controller_events(ctx, rng, &mut out),
        Kind::Scheduler => scheduler_binds(ctx, &mut out),
        _ => {}
    }
    out.sort_by_key(|l| l.at);
    out
}

fn ingress_reload(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let pod = ctx.pod;
    let mut t = ctx.sched.ingress_reload + rng.gen_range(5..400) * MS;
    let k = |t: u64, src: &str, msg: &str| Line::plain(t, klog(&civil(t), 'I', 7, src, msg));
    if pod.replica == 0 {
        out.push(k(
            t - 40 * MS,
            "main.go:107",
            "\"successfully validated configuration, accepting\" ingress=\"shop/shop-frontend\"",
        ));
    }
    out.push(k(
        t,
        "controller.go:190",
        "\"Configuration changes detected, backend reload required\"",
    ));
    t += rng.gen_range(60..180) * MS;
    out.push(k(
        t,
        "controller.go:210",
        "\"Backend successfully reloaded\"",
    ));
    let ev = format!(
        "Event(v1.ObjectReference{{Kind:\"Pod\", Namespace:\"ingress-nginx\", Name:\"{}\", UID:\"{}\", APIVersion:\"v1\", ResourceVersion:\"{}\", FieldPath:\"\"}}): type: 'Normal' reason: 'RELOAD' NGINX reload triggered due to a change in configuration",
        pod.name,
        pod.uid,
        rng.gen_range(4_000_000..4_100_000)
    );
    out.push(k(t + 90_000, "event.go:298", &ev));
}

fn prometheus_reload(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let mut t = ctx.sched.prom_reload + rng.gen_range(20..60) * MS;
    let file = "/etc/prometheus/config_out/prometheus.env.yaml";
    out.push(Line::plain(
        t,
        format!(
            "ts={} caller=main.go:1223 level=info msg=\"Loading configuration file\" filename={file}",
            civil(t).iso_ms()
        ),
    ));
    t += rng.gen_range(2..8) * MS;
    out.push(Line::plain(
        t,
        format!(
            "ts={} caller=kubernetes.go:329 level=info component=\"discovery manager scrape\" discovery=kubernetes config=serviceMonitor/shop/search/0 msg=\"Using pod service account via in-cluster config\"",
            civil(t).iso_ms()
        ),
    ));
    t += rng.gen_range(30..60) * MS;
    out.push(Line::plain(
        t,
        format!(
            "ts={} caller=main.go:1260 level=info msg=\"Completed loading of configuration file\" filename={file} totalDuration={} db_storage=1.42µs remote_storage=2.1µs web_handler=811ns query_engine=1.05µs scrape=512.3µs scrape_sd=3.21ms notify=45.1µs notify_sd=21.3µs rules=12.8ms tracing=6.2µs",
            civil(t).iso_ms(),
            fake::go_duration(rng.gen_range(0.04..0.07))
        ),
    ));
}

fn postgres_primary(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let s = ctx.sched;
    let db = &s.db;
    // checkpoint_timeout = 5min, checkpoint_completion_target = 0.9.
    let mut t = s.start + rng.gen_range(0..300_000) * MS + rng.gen_range(0..1_000_000);
    while t + 270 * NS < s.end {
        let clear = t + 275 * NS < db.shutdown || t > db.ready + 10 * NS;
        if clear {
            let pid = 27;
            out.push(Line::plain(
                t,
                pg(&civil(t), pid, "LOG", "checkpoint starting: time"),
            ));
            let done = t + 269 * NS + rng.gen_range(0..1_000) * MS;
            out.push(Line::plain(
                done,
                pg(&civil(done), pid, "LOG", &checkpoint_complete(rng)),
            ));
        }
        t += 300 * NS;
    }

    // Fast shutdown (SIGINT), clients bounce off, the new container starts up.
    let c = |t: u64| civil(t);
    let mut t = db.shutdown;
    out.push(pg_db(&c(t), 1, "LOG", "received fast shutdown request"));
    t += MS;
    out.push(pg_db(&c(t), 1, "LOG", "aborting any active transactions"));
    for _ in 0..rng.gen_range(4..8) {
        t += rng.gen_range(100..900) * 1_000;
        let pid = rng.gen_range(2_000..60_000);
        out.push(pg_db(
            &c(t),
            pid,
            "FATAL",
            "terminating connection due to administrator command",
        ));
    }
    t += 3 * MS;
    out.push(pg_db(
        &c(t),
        1,
        "LOG",
        "background worker \"logical replication launcher\" (PID 68) exited with exit code 1",
    ));
    t += 4 * MS;
    out.push(pg_db(&c(t), 27, "LOG", "shutting down"));
    out.push(pg_db(
        &c(t + 100_000),
        27,
        "LOG",
        "checkpoint starting: shutdown immediate",
    ));
    let mut f = t + 150 * MS;
    while f + 700 * MS < db.down {
        let pid = rng.gen_range(2_000..60_000);
        out.push(pg_db(
            &c(f),
            pid,
            "FATAL",
            "the database system is shutting down",
        ));
        f += rng.gen_range(150..500) * MS;
    }
    out.push(pg_db(
        &c(db.down - 400 * MS),
        27,
        "LOG",
        &checkpoint_complete(rng),
    ));
    out.push(pg_db(&c(db.down), 1, "LOG", "database system is shut down"));

    let mut t = db.start;
    let startup = [
        "starting PostgreSQL 15.4 (Debian 15.4-2.pgdg120+1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit",
        "listening on IPv4 address \"0.0.0.0\", port 5432",
        "listening on IPv6 address \"::\", port 5432",
        "listening on Unix socket \"/var/run/postgresql/.s.PGSQL.5432\"",
    ];
    for msg in startup {
        out.push(Line::plain(t, pg(&c(t), 1, "LOG", msg)));
        t += rng.gen_range(1..5) * MS;
    }
    let shut_at = civil(db.down).postgres_secs();
    out.push(Line::plain(
        t,
        pg(
            &c(t),
            31,
            "LOG",
            &format!("database system was shut down at {shut_at}"),
        ),
    ));
    let mut f = t + 200 * MS;
    while f + 200 * MS < db.ready {
        let pid = rng.gen_range(2_000..60_000);
        out.push(pg_db(
            &c(f),
            pid,
            "FATAL",
            "the database system is starting up",
        ));
        f += rng.gen_range(300..800) * MS;
    }
    out.push(Line::plain(
        db.ready,
        pg(
            &c(db.ready),
            1,
            "LOG",
            "database system is ready to accept connections",
        ),
    ));
}

fn checkpoint_complete(rng: &mut Rng64) -> String {
    let buffers = rng.gen_range(200..4_000);
    format!(
        "checkpoint complete: wrote {buffers} buffers ({:.1}%); 0 WAL file(s) added, 0 removed, {} recycled; write={:.3} s, sync={:.3} s, total={:.3} s; sync files={}, longest={:.3} s, average={:.3} s; distance={} kB, estimate={} kB",
        buffers as f64 / 163.84,
        rng.gen_range(0..3),
        rng.gen_range(268.5..270.0),
        rng.gen_range(0.002..0.05),
        rng.gen_range(269.0..270.5),
        rng.gen_range(10..80),
        rng.gen_range(0.001..0.01),
        rng.gen_range(0.0005..0.002),
        rng.gen_range(2_000..40_000),
        rng.gen_range(30_000..45_000)
    )
}

fn postgres_replica(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let s = ctx.sched;
    let db = &s.db;
    let c = |t: u64| civil(t);
    let mut t = s.start + rng.gen_range(0..300_000) * MS + rng.gen_range(0..1_000_000);
    while t + 270 * NS < s.end {
        if t + 275 * NS < db.shutdown || t > db.ready + 10 * NS {
            out.push(Line::plain(
                t,
                pg(&c(t), 26, "LOG", "restartpoint starting: time"),
            ));
            let done = t + 269 * NS + rng.gen_range(0..1_000) * MS;
            let msg = checkpoint_complete(rng).replacen("checkpoint", "restartpoint", 1);
            out.push(Line::plain(done, pg(&c(done), 26, "LOG", &msg)));
            let lsn = format!("0/{:X}", 0x5A00_0000u64 + rng.gen_range(0..0xFF_FFFF));
            out.push(Line::plain(
                done + 1,
                pg(
                    &c(done),
                    26,
                    "LOG",
                    &format!("recovery restart point at {lsn}"),
                ),
            ));
        }
        t += 300 * NS;
    }
    let mut t = db.shutdown + rng.gen_range(20..80) * MS;
    out.push(pg_db(
        &c(t),
        41,
        "LOG",
        "replication terminated by primary server",
    ));
    out.push(pg_db(
        &c(t + 1),
        41,
        "DETAIL",
        "End of WAL reached on timeline 1 at 0/5A3C1F28.",
    ));
    out.push(pg_db(&c(t + 2), 41, "FATAL", "could not send end-of-streaming message to primary: server closed the connection unexpectedly"));
    t += 5 * NS;
    let primary_ip = ctx
        .topo
        .replica("postgres", 0)
        .map_or("10.244.3.9", |p| p.ip.as_str());
    while t < db.ready {
        let pid = rng.gen_range(2_000..60_000);
        let msg = if t < db.down {
            "could not connect to the primary server: connection to server at \"postgres-0.postgres.payments.svc.cluster.local\" (IP), port 5432 failed: FATAL:  the database system is shutting down".replace("IP", primary_ip)
        } else {
            format!("could not connect to the primary server: connection to server at \"postgres-0.postgres.payments.svc.cluster.local\" ({primary_ip}), port 5432 failed: Connection refused")
        };
        out.push(pg_db(&c(t), pid, "FATAL", &msg));
        if t >= db.down {
            out.push(Line {
                at: t + 1,
                text: "\tIs the server running on that host and accepting TCP/IP connections?"
                    .into(),
                tag: Some(DB),
            });
        }
        t += 5 * NS + rng.gen_range(0..50) * MS;
    }
    let msg = "started streaming WAL from primary at 0/5A000000 on timeline 1";
    out.push(Line::plain(
        t,
        pg(&c(t), rng.gen_range(2_000..60_000), "LOG", msg),
    ));
}

fn worker_startup(pod: &Pod, rng: &mut Rng64, t0: u64, out: &mut Vec<Line>) {
    let mut t = t0 + rng.gen_range(100..300) * MS;
    let c = |t: u64| civil(t);
    out.push(Line::plain(
        t,
        zap(
            &c(t),
            "info",
            "notification-worker/main.go:31",
            "starting notification-worker",
        )
        .s("version", "v2.8.1")
        .s("commit", "3f9a2c1")
        .s("pod", &pod.name)
        .done(),
    ));
    t += rng.gen_range(150..400) * MS;
    out.push(Line::plain(
        t,
        zap(
            &c(t),
            "info",
            "consumer/consumer.go:52",
            "connected to kafka",
        )
        .s(
            "brokers",
            "kafka-0.kafka.data.svc:9092,kafka-1.kafka.data.svc:9092,kafka-2.kafka.data.svc:9092",
        )
        .done(),
    ));
    t += rng.gen_range(500..1_000) * MS;
    out.push(Line::plain(
        t,
        zap(
            &c(t),
            "info",
            "consumer/consumer.go:71",
            "consumer group joined",
        )
        .s("group", "notification-worker")
        .raw(
            "partitions",
            if pod.replica == 0 {
                "[0,1,2]"
            } else {
                "[3,4,5]"
            },
        )
        .done(),
    ));
}

fn crash_loop(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let pod = ctx.pod;
    let Some(cl) = ctx.sched.crash.iter().find(|c| c.replica == pod.replica) else {
        return;
    };
    // The poison message sits in a partition this replica owns.
    let poison: (u32, u64) = if pod.replica == 0 {
        (1, 884_213)
    } else {
        (4, 871_932)
    };
    for &p in &cl.panics {
        let t = p - 2 * MS;
        out.push(Line::plain(
            t,
            zap(
                &civil(t),
                "info",
                "consumer/handler.go:84",
                "processing message",
            )
            .s("topic", "order-events")
            .n("partition", poison.0)
            .n("offset", poison.1)
            .s("type", "OrderConfirmed")
            .done(),
        ));
        go_panic(rng, p, out);
    }
    for &r in cl.restarts.iter().chain(std::iter::once(&cl.recovered)) {
        worker_startup(pod, rng, r, out);
    }
    let t = cl.recovered + 2500 * MS;
    out.push(Line::plain(
        t,
        zap(
            &civil(t),
            "warn",
            "consumer/handler.go:79",
            "skipping message without template data",
        )
        .s("topic", "order-events")
        .n("partition", poison.0)
        .n("offset", poison.1)
        .done(),
    ));
}

fn spring_startup(rng: &mut Rng64, t0: u64, out: &mut Vec<Line>) {
    let main = "c.e.shop.orders.OrdersApplication";
    let tomcat = "o.s.b.w.embedded.tomcat.TomcatWebServer";
    let total = rng.gen_range(9.5..12.5);
    let steps: [(f64, &str, String); 8] = [
        (0.9, main, "Starting OrdersApplication v3.4.2 using Java 17.0.9 with PID 1 (/app/orders.jar started by app in /app)".into()),
        (0.92, main, "The following 1 profile is active: \"prod\"".into()),
        (3.4, tomcat, "Tomcat initialized with port(s): 8080 (http)".into()),
        (5.1, "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Starting...".into()),
        (5.6, "com.zaxxer.hikari.pool.HikariPool", format!("HikariPool-1 - Added connection org.postgresql.jdbc.PgConnection@{}", fake::hex(rng, 8))),
        (5.61, "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Start completed.".into()),
        (total - 0.3, tomcat, "Tomcat started on port(s): 8080 (http) with context path ''".into()),
        (total, main, format!("Started OrdersApplication in {:.3} seconds (process running for {:.1})", total - 0.8, total + 0.4)),
    ];
    for (secs, logger, msg) in steps {
        let t = t0 + (secs * NS as f64) as u64;
        out.push(Line::plain(
            t,
            spring(&civil(t), "INFO", "main", logger, &msg),
        ));
    }
}

fn oom_cycles(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    for cycle in &ctx.sched.oom {
        let mut gc_n = cycle.gc.first().map_or(0, |&g| gc_number(g) + 1);
        for &g in &cycle.gc {
            gc_full(rng, g, gc_n, out);
            gc_n += 2;
        }
        for (i, &o) in cycle.oome.iter().enumerate() {
            java_oome(rng, o, i == 0, out);
        }
        spring_startup(rng, cycle.restart, out);
    }
}

fn search_lifecycle(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let (from, to) = ctx.stream.alive;
    let c = |t: u64| civil(t);
    if from > ctx.sched.start {
        let mut t = from + rng.gen_range(50..200) * MS;
        out.push(Line::plain(
            t,
            format!(
                "{} version=1.10.0 commit=9c1e7b2",
                logfmt(&c(t), "info", "main.go:48", "starting search")
            ),
        ));
        t += rng.gen_range(400..900) * MS;
        out.push(Line::plain(
            t,
            format!(
                "{} index=products-v7 docs={}",
                logfmt(&c(t), "info", "index.go:77", "index opened"),
                rng.gen_range(48_000..48_500)
            ),
        ));
        t += rng.gen_range(10..50) * MS;
        out.push(Line::plain(
            t,
            format!(
                "{} addr=:8080",
                logfmt(&c(t), "info", "main.go:92", "listening")
            ),
        ));
    }
    if to < ctx.sched.end {
        let t = to - 900 * MS;
        out.push(Line::plain(
            t,
            format!(
                "{} signal=terminated",
                logfmt(
                    &c(t),
                    "info",
                    "main.go:110",
                    "received signal, shutting down"
                )
            ),
        ));
        let t = to - 150 * MS;
        out.push(Line::plain(
            t,
            logfmt(&c(t), "info", "main.go:121", "http server stopped"),
        ));
    }
}

fn report_job(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let (from, to) = ctx.stream.alive;
    let c = |t: u64| civil(t);
    let t = from + rng.gen_range(100..300) * MS;
    out.push(Line::plain(
        t,
        format!(
            "{} report=daily_sales window=24h format=csv.gz",
            logfmt(&c(t), "info", "main.go:40", "starting export")
        ),
    ));
    let t = to - 700 * MS;
    let day = c(from);
    out.push(Line::plain(
        t,
        format!(
            "{} bucket=s3://reports-prod key=daily_sales/{:04}-{:02}-{:02}/{:02}{:02}.csv.gz size={}",
            logfmt(&c(t), "info", "upload.go:88", "uploaded report"),
            day.year, day.month, day.day, day.hour, day.min,
            rng.gen_range(20_000_000..90_000_000)
        ),
    ));
    let t = to - 200 * MS;
    out.push(Line::plain(
        t,
        format!(
            "{} took={}",
            logfmt(&c(t), "info", "main.go:71", "export finished"),
            fake::go_duration((to - from) as f64 / NS as f64)
        ),
    ));
}

/// The object of a controller-side event.
fn obj(
    kind: &'static str,
    api: &'static str,
    namespace: &str,
    name: &str,
    uid: String,
) -> Involved {
    Involved {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid,
        api_version: api,
        field_path: String::new(),
    }
}

/// A controller-side event (no kubelet host).
fn ctrl_event(
    t: u64,
    involved: Involved,
    component: &'static str,
    reason: &'static str,
    message: String,
) -> KubeEvent {
    KubeEvent {
        name: format!("{}.{:x}", involved.name, t ^ reason.len() as u64),
        namespace: involved.namespace.clone(),
        reason,
        kind_type: "Normal",
        message,
        involved,
        component,
        host: String::new(),
        count: 1,
        first: t,
        last: t,
        rv: 4_000_000 + (t / 1_000_000) % 1_000_000,
        instance: String::new(),
    }
}

/// The sequence of kubelet events of a container (re)start.
fn start_events(
    pod: &Pod,
    t: u64,
    image: &str,
    count: u32,
    pulled_fresh: bool,
    out: &mut Vec<KubeEvent>,
) {
    let msg = if pulled_fresh {
        format!("Successfully pulled image \"{image}\" in 2.841s (2.841s including waiting)")
    } else {
        format!("Container image \"{image}\" already present on machine")
    };
    let container = pod.main_container;
    for (i, (reason, msg)) in [
        ("Pulled", msg),
        ("Created", format!("Created container {container}")),
        ("Started", format!("Started container {container}")),
    ]
    .into_iter()
    .enumerate()
    {
        let at = t + i as u64 * 40 * MS;
        let mut e = pod_event(pod, at, "Normal", reason, msg);
        e.count = count;
        out.push(e);
    }
}

fn scheduled(pod: &Pod, t: u64) -> KubeEvent {
    let mut e = pod_event(
        pod,
        t,
        "Normal",
        "Scheduled",
        format!(
            "Successfully assigned {}/{} to {}",
            pod.namespace, pod.name, NODES[pod.node]
        ),
    );
    e.component = "default-scheduler";
    e.host = String::new();
    e.instance = "default-scheduler-k8s-cp-1".into();
    e.involved.field_path = String::new();
    e
}

fn rs_name(pod: &Pod) -> String {
    match &pod.owner {
        Owner::ReplicaSet(rs) => rs.clone(),
        _ => pod.workload.to_string(),
    }
}

/// Every event of the timeline, with the labels of the incident ones.
fn all_events(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let s = ctx.sched;
    let topo = ctx.topo;
    let mut ev: Vec<(KubeEvent, Option<super::config::Tag>)> = Vec::new();
    let plain = |v: Vec<KubeEvent>, ev: &mut Vec<(KubeEvent, Option<super::config::Tag>)>| {
        ev.extend(v.into_iter().map(|e| (e, None)));
    };

    // Crash loop: BackOff after every panic, start events after every restart.
    for cl in &s.crash {
        let Some(pod) = topo.replica("notification-worker", cl.replica) else {
            continue;
        };
        let first = cl.panics[0] + 1_500 * MS;
        for (k, &p) in cl.panics.iter().enumerate() {
            let mut e = pod_event(
                pod,
                p + 1_500 * MS,
                "Warning",
                "BackOff",
                format!(
                    "Back-off restarting failed container {} in pod {}_{}({})",
                    pod.main_container, pod.name, pod.namespace, pod.uid
                ),
            );
            e.count = k as u32 + 1;
            e.first = first;
            ev.push((e, Some(CRASHLOOP)));
        }
        let mut v = Vec::new();
        for (k, &r) in cl
            .restarts
            .iter()
            .chain(std::iter::once(&cl.recovered))
            .enumerate()
        {
            start_events(pod, r - 300 * MS, pod.image, k as u32 + 2, false, &mut v);
        }
        plain(v, &mut ev);
    }

    // OOM: the kernel monitor's OOMKilling on the node, then the restart.
    if let Some(pod) = topo.replica("orders", 0) {
        for (k, cycle) in s.oom.iter().enumerate() {
            let node = NODES[pod.node];
            let t = cycle.kill + 300 * MS;
            let e = KubeEvent {
                name: format!("{node}.{:x}", t),
                namespace: "default".into(),
                reason: "OOMKilling",
                kind_type: "Warning",
                message: format!(
                    "Memory cgroup out of memory: Killed process {} (java) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:0kB, UID:1000 pgtables:{}kB oom_score_adj:983",
                    rng.gen_range(4_000..90_000),
                    rng.gen_range(4_800_000..5_200_000),
                    rng.gen_range(1_040_000..1_048_576),
                    rng.gen_range(20_000..30_000),
                    rng.gen_range(2_200..2_800)
                ),
                involved: Involved {
                    kind: "Node",
                    namespace: String::new(),
                    name: node.to_string(),
                    uid: node.to_string(),
                    api_version: "v1",
                    field_path: String::new(),
                },
                component: "kernel-monitor",
                host: node.to_string(),
                count: 1,
                first: t,
                last: t,
                rv: 4_000_000 + (t / 1_000_000) % 1_000_000,
                instance: node.to_string(),
            };
            ev.push((e, Some(OOM)));
            let mut v = Vec::new();
            start_events(
                pod,
                cycle.restart - 200 * MS,
                pod.image,
                k as u32 + 2,
                false,
                &mut v,
            );
            plain(v, &mut ev);
        }
    }

    // Postgres primary pod deleted and recreated by its StatefulSet.
    if let Some(pg0) = topo.replica("postgres", 0) {
        let db = &s.db;
        let mut v = Vec::new();
        let mut kill = pod_event(
            pg0,
            db.shutdown - 200 * MS,
            "Normal",
            "Killing",
            "Stopping container postgres".into(),
        );
        kill.count = 1;
        v.push(kill);
        let created = db.down + 30 * NS;
        v.push(ctrl_event(
            created,
            obj(
                "StatefulSet",
                "apps/v1",
                "payments",
                "postgres",
                fake::uuid(rng),
            ),
            "statefulset-controller",
            "SuccessfulCreate",
            "create Pod postgres-0 in StatefulSet postgres successful".into(),
        ));
        v.push(scheduled(pg0, created + 20 * MS));
        start_events(pg0, db.start - 400 * MS, pg0.image, 1, false, &mut v);
        plain(v, &mut ev);
    }

    // search rollout, one replica at a time.
    let old: Vec<&Pod> = topo
        .pods_of("search")
        .filter(|p| p.alive.0 == s.start)
        .collect();
    let new: Vec<&Pod> = topo
        .pods_of("search")
        .filter(|p| p.alive.0 > s.start)
        .collect();
    let mut v = Vec::new();
    let dep_uid = fake::uuid(rng);
    for (i, (n, o)) in new.iter().zip(old.iter()).enumerate() {
        let up = s.rollout.new_start[i] - 3 * NS;
        let (nrs, ors) = (rs_name(n), rs_name(o));
        let scaled_up = if i == 0 {
            format!("Scaled up replica set {nrs} to 1")
        } else {
            format!("Scaled up replica set {nrs} to 2 from 1")
        };
        v.push(ctrl_event(
            up,
            obj("Deployment", "apps/v1", "shop", "search", dep_uid.clone()),
            "deployment-controller",
            "ScalingReplicaSet",
            scaled_up,
        ));
        v.push(ctrl_event(
            up + 15 * MS,
            obj("ReplicaSet", "apps/v1", "shop", &nrs, fake::uuid(rng)),
            "replicaset-controller",
            "SuccessfulCreate",
            format!("Created pod: {}", n.name),
        ));
        v.push(scheduled(n, up + 30 * MS));
        let mut pulling = pod_event(
            n,
            up + 400 * MS,
            "Normal",
            "Pulling",
            format!("Pulling image \"{SEARCH_NEW_IMAGE}\""),
        );
        pulling.count = 1;
        v.push(pulling);
        start_events(
            n,
            s.rollout.new_start[i] - 200 * MS,
            SEARCH_NEW_IMAGE,
            1,
            true,
            &mut v,
        );
        let down = s.rollout.old_stop[i] - 50 * MS;
        let scaled_down = if i == 0 {
            format!("Scaled down replica set {ors} to 1 from 2")
        } else {
            format!("Scaled down replica set {ors} to 0 from 1")
        };
        v.push(ctrl_event(
            down,
            obj("Deployment", "apps/v1", "shop", "search", dep_uid.clone()),
            "deployment-controller",
            "ScalingReplicaSet",
            scaled_down,
        ));
        v.push(ctrl_event(
            down + 10 * MS,
            obj("ReplicaSet", "apps/v1", "shop", &ors, fake::uuid(rng)),
            "replicaset-controller",
            "SuccessfulDelete",
            format!("Deleted pod: {}", o.name),
        ));
        v.push(pod_event(
            o,
            down + 30 * MS,
            "Normal",
            "Killing",
            "Stopping container search".into(),
        ));
    }
    plain(v, &mut ev);

    // report-export CronJob runs.
    let cron_uid = fake::uuid(rng);
    let mut v = Vec::new();
    for (run, pod) in s.cron.iter().zip(topo.pods_of("report-export")) {
        let job = match &pod.owner {
            Owner::Job(j) => j.clone(),
            _ => continue,
        };
        let job_uid = fake::uuid(rng);
        v.push(ctrl_event(
            run.created,
            obj(
                "CronJob",
                "batch/v1",
                "data",
                "report-export",
                cron_uid.clone(),
            ),
            "cronjob-controller",
            "SuccessfulCreate",
            format!("Created job {job}"),
        ));
        v.push(ctrl_event(
            run.created + 20 * MS,
            obj("Job", "batch/v1", "data", &job, job_uid.clone()),
            "job-controller",
            "SuccessfulCreate",
            format!("Created pod: {}", pod.name),
        ));
        v.push(scheduled(pod, run.created + 40 * MS));
        start_events(pod, run.start - 300 * MS, pod.image, 1, false, &mut v);
        v.push(ctrl_event(
            run.end + 900 * MS,
            obj("Job", "batch/v1", "data", &job, job_uid),
            "job-controller",
            "Completed",
            "Job completed".into(),
        ));
        v.push(ctrl_event(
            run.end + 1_200 * MS,
            obj(
                "CronJob",
                "batch/v1",
                "data",
                "report-export",
                cron_uid.clone(),
            ),
            "cronjob-controller",
            "SawCompletedJob",
            format!("Saw completed job: {job}, status: Complete"),
        ));
    }
    plain(v, &mut ev);

    // The ingress reload: one RELOAD event per controller pod.
    let mut v = Vec::new();
    for pod in topo.pods_of("ingress-nginx-controller") {
        let t = s.ingress_reload + rng.gen_range(300..600) * MS;
        let mut e = pod_event(
            pod,
            t,
            "Normal",
            "RELOAD",
            "NGINX reload triggered due to a change in configuration".into(),
        );
        e.component = "nginx-ingress-controller";
        e.host = String::new();
        e.involved.field_path = String::new();
        e.instance = String::new();
        v.push(e);
    }
    plain(v, &mut ev);

    // The exporter sees events a moment after they are recorded.
    for (e, tag) in ev {
        let at = e.last + rng.gen_range(20..250) * MS;
        out.push(Line {
            at,
            text: e.json(),
            tag,
        });
    }
}

fn kcm_event(t: u64, object: &str, kind: &str, api: &str, reason: &str, message: &str) -> Line {
    let msg = format!(
        "\"Event occurred\" object=\"{object}\" fieldPath=\"\" kind=\"{kind}\" apiVersion=\"{api}\" type=\"Normal\" reason=\"{reason}\" message=\"{message}\""
    );
    Line::plain(t, klog(&civil(t), 'I', 1, "event.go:307", &msg))
}

fn controller_events(ctx: Ctx<'_>, rng: &mut Rng64, out: &mut Vec<Line>) {
    let s = ctx.sched;
    let topo = ctx.topo;
    let old: Vec<&Pod> = topo
        .pods_of("search")
        .filter(|p| p.alive.0 == s.start)
        .collect();
    let new: Vec<&Pod> = topo
        .pods_of("search")
        .filter(|p| p.alive.0 > s.start)
        .collect();
    for (i, (n, o)) in new.iter().zip(old.iter()).enumerate() {
        let up = s.rollout.new_start[i] - 3 * NS + rng.gen_range(1..5) * MS;
        let (nrs, ors) = (rs_name(n), rs_name(o));
        let m = if i == 0 {
            format!("Scaled up replica set {nrs} to 1")
        } else {
            format!("Scaled up replica set {nrs} to 2 from 1")
        };
        out.push(kcm_event(
            up,
            "shop/search",
            "Deployment",
            "apps/v1",
            "ScalingReplicaSet",
            &m,
        ));
        out.push(kcm_event(
            up + 12 * MS,
            &format!("shop/{nrs}"),
            "ReplicaSet",
            "apps/v1",
            "SuccessfulCreate",
            &format!("Created pod: {}", n.name),
        ));
        let down = s.rollout.old_stop[i] - 50 * MS + rng.gen_range(1..5) * MS;
        let m = if i == 0 {
            format!("Scaled down replica set {ors} to 1 from 2")
        } else {
            format!("Scaled down replica set {ors} to 0 from 1")
        };
        out.push(kcm_event(
            down,
            "shop/search",
            "Deployment",
            "apps/v1",
            "ScalingReplicaSet",
            &m,
        ));
        out.push(kcm_event(
            down + 9 * MS,
            &format!("shop/{ors}"),
            "ReplicaSet",
            "apps/v1",
            "SuccessfulDelete",
            &format!("Deleted pod: {}", o.name),
        ));
    }
    for (run, pod) in s.cron.iter().zip(topo.pods_of("report-export")) {
        let Owner::Job(job) = &pod.owner else {
            continue;
        };
        let t = run.created + rng.gen_range(1..5) * MS;
        out.push(kcm_event(
            t,
            "data/report-export",
            "CronJob",
            "batch/v1",
            "SuccessfulCreate",
            &format!("Created job {job}"),
        ));
        out.push(kcm_event(
            t + 18 * MS,
            &format!("data/{job}"),
            "Job",
            "batch/v1",
            "SuccessfulCreate",
            &format!("Created pod: {}", pod.name),
        ));
        let t = run.end + 880 * MS;
        out.push(kcm_event(
            t,
            &format!("data/{job}"),
            "Job",
            "batch/v1",
            "Completed",
            "Job completed",
        ));
        out.push(kcm_event(
            t + 300 * MS,
            "data/report-export",
            "CronJob",
            "batch/v1",
            "SawCompletedJob",
            &format!("Saw completed job: {job}, status: Complete"),
        ));
    }
    let t = s.db.down + 30 * NS - 5 * MS;
    out.push(kcm_event(
        t,
        "payments/postgres",
        "StatefulSet",
        "apps/v1",
        "SuccessfulCreate",
        "create Pod postgres-0 in StatefulSet postgres successful",
    ));
}

fn scheduler_binds(ctx: Ctx<'_>, out: &mut Vec<Line>) {
    let s = ctx.sched;
    let topo = ctx.topo;
    let bind = |t: u64, pod: &Pod| {
        let msg = format!(
            "\"Successfully bound pod to node\" pod=\"{}/{}\" node=\"{}\" evaluatedNodes=6 feasibleNodes=5",
            pod.namespace, pod.name, NODES[pod.node]
        );
        Line::plain(t, klog(&civil(t), 'I', 1, "schedule_one.go:286", &msg))
    };
    for (i, n) in topo
        .pods_of("search")
        .filter(|p| p.alive.0 > s.start)
        .enumerate()
    {
        out.push(bind(s.rollout.new_start[i.min(1)] - 3 * NS + 28 * MS, n));
    }
    for (run, pod) in s.cron.iter().zip(topo.pods_of("report-export")) {
        out.push(bind(run.created + 38 * MS, pod));
    }
    if let Some(pg0) = topo.replica("postgres", 0) {
        out.push(bind(s.db.down + 30 * NS + 18 * MS, pg0));
    }
}
