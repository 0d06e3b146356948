//! The six labelled incidents: which streams they touch, and the text of their lines.
//!
//! Incidents whose volume follows traffic (auth storm, DB errors, latency, expired
//! certificate) are *rate feeds*: a fraction of the stream's line share, spread over the
//! incident window by the stream runner. Incidents with a physical clock (crash-loop
//! back-off, OOM cycles, the Postgres restart) are *planned* from the [`Schedule`] and
//! rendered by `planned.rs` with the helpers here. Each abnormal line carries its text
//! signal in words, not only in numbers (a detector that masks numbers still sees it).
//!
//! [`Schedule`]: super::schedule::Schedule

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::apps::{exec_thread, gc_line, logfmt, zap, zap_request};
use super::clock::{civil, Civil, MS, NS};
use super::config::{Label, Tag};
use super::datastores::pg;
use super::edge::{envoy_access, ingress_access, Access, QUERIES};
use super::fake::{self, pick};
use super::schedule::CERT_NOT_AFTER_SECS;
use super::shapes::{lf, spring};
use super::stream::{Ctx, Line};
use super::topology::{App, Kind, POSTGRES_SVC_IP};

type Rng64 = Xoshiro256PlusPlus;

/// Crash-looping `notification-worker`.
pub(super) const CRASHLOOP: Tag = Tag {
    label: Label::Crashloop,
    incident: "crashloop-notification-worker",
};
/// OOM-killed `orders`.
pub(super) const OOM: Tag = Tag {
    label: Label::Oom,
    incident: "oom-orders",
};
/// Postgres restart in `payments`.
pub(super) const DB: Tag = Tag {
    label: Label::DbConnRefused,
    incident: "db-outage-payments",
};
/// Credential stuffing against `auth-service`.
pub(super) const AUTH: Tag = Tag {
    label: Label::AuthFailure,
    incident: "auth-storm",
};
/// Expired partner certificate seen by `fraud-check`.
pub(super) const NOVEL: Tag = Tag {
    label: Label::NovelError,
    incident: "tls-cert-expired-risk-scoring",
};
/// Stalled `search` backend.
pub(super) const LATENCY: Tag = Tag {
    label: Label::Latency,
    incident: "latency-search",
};

/// Addresses of the credential-stuffing bots.
const ATTACKERS: [&str; 3] = ["185.220.101.42", "45.155.205.233", "193.32.162.71"];
const BOT_UA: &str = "python-requests/2.31.0";

/// A traffic-proportional incident feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FeedKind {
    /// 401s for `/api/auth/login` from the bots, at the ingress.
    AuthIngress,
    /// Failed logins and forged tokens in the auth service.
    AuthApp,
    /// 401s in the auth service's sidecar.
    AuthEnvoy,
    /// HikariCP / PSQLException errors in the Java apps of `payments`.
    DbJava,
    /// `dial tcp ...: connection refused` in `fraud-check`.
    DbGo,
    /// 504s and `upstream timed out` at the ingress.
    LatencyIngress,
    /// Slow requests and deadline errors in `search`.
    LatencySearch,
    /// x509 expiry errors in `fraud-check`.
    NovelFraud,
}

/// The rate feeds of a stream: kind, window and fraction of the stream's line share.
pub(super) fn rate_feeds(ctx: Ctx<'_>) -> Vec<(FeedKind, (u64, u64), f64)> {
    let s = ctx.sched;
    let db = (s.db.shutdown, s.db.apps_until);
    match ctx.stream.kind {
        Kind::Ingress => vec![
            (FeedKind::AuthIngress, s.auth, 0.008),
            (FeedKind::LatencyIngress, s.latency, 0.012),
        ],
        Kind::Zap(App::Auth) => vec![(FeedKind::AuthApp, s.auth, 0.10)],
        Kind::Envoy(App::Auth) => vec![(FeedKind::AuthEnvoy, s.auth, 0.05)],
        Kind::Spring(App::PaymentsApi) | Kind::Spring(App::Ledger) => {
            vec![(FeedKind::DbJava, db, 0.05)]
        }
        Kind::Zap(App::FraudCheck) => vec![
            (FeedKind::DbGo, db, 0.05),
            (FeedKind::NovelFraud, s.novel, 0.15),
        ],
        Kind::Logfmt(App::Search) => vec![(FeedKind::LatencySearch, s.latency, 0.12)],
        _ => Vec::new(),
    }
}

/// Intervals in which the stream's normal traffic is silent (its container is dead).
pub(super) fn mute_windows(ctx: Ctx<'_>) -> Vec<(u64, u64)> {
    let s = ctx.sched;
    let pod = ctx.pod;
    match (pod.workload, ctx.stream.kind) {
        ("notification-worker", _) => s
            .crash
            .iter()
            .filter(|c| c.replica == pod.replica)
            .map(|c| (c.panics[0], c.recovered + 2 * NS))
            .collect(),
        ("orders", _) if pod.replica == 0 => s
            .oom
            .iter()
            .map(|c| (c.kill, c.restart + 14 * NS))
            .collect(),
        ("postgres", Kind::Postgres { primary: true }) => vec![(s.db.down, s.db.ready)],
        _ => Vec::new(),
    }
}

/// Whether `t` falls in an OOM build-up of this pod (first full GC to the kill), when
/// ordinary young-GC lines would contradict the full heap.
pub(super) fn heap_exhausted(ctx: Ctx<'_>, t: u64) -> bool {
    ctx.pod.workload == "orders"
        && ctx.pod.replica == 0
        && ctx.sched.oom.iter().any(|c| {
            c.gc.first()
                .is_some_and(|&g| g.saturating_sub(10 * NS) <= t && t <= c.kill)
        })
}

/// Writes one event of feed `kind` at `t`.
pub(super) fn feed_event(
    kind: FeedKind,
    ctx: Ctx<'_>,
    rng: &mut Rng64,
    t: u64,
    out: &mut Vec<Line>,
) {
    let c = civil(t);
    match kind {
        FeedKind::AuthIngress => {
            let ep = ctx
                .topo
                .endpoint(rng, "auth-service", t)
                .unwrap_or("10.244.4.12")
                .to_string();
            let req_id = fake::hex(rng, 32);
            let a = Access {
                client: pick(rng, &ATTACKERS),
                method: "POST",
                path: "/api/auth/login",
                proto: "HTTP/1.1",
                status: 401,
                bytes: 58,
                referer: "-",
                ua: BOT_UA,
                req_len: rng.gen_range(280..340),
                req_time: fake::log_normal(rng, 0.04, 0.3),
                upstream: "auth-auth-service-8080",
                upstream_addr: &format!("{ep}:8080"),
                upstream_status: 401,
                req_id: &req_id,
                retry_addr: None,
            };
            out.push(Line::tagged(t, ingress_access(&c, &a), AUTH));
        }
        FeedKind::AuthApp => {
            let ip = pick(rng, &ATTACKERS);
            let line = match rng.gen_range(0..20) {
                0..=8 => zap(
                    &c,
                    "warn",
                    "login/handler.go:112",
                    "login failed: invalid credentials",
                )
                .s("username", &fake::email(rng))
                .s("client_ip", ip)
                .s("user_agent", BOT_UA)
                .done(),
                9..=13 => {
                    let secs = fake::log_normal(rng, 0.03, 0.3);
                    zap_request(rng, &c, "POST", "/v1/login", 401, secs, BOT_UA)
                }
                14..=17 => zap(&c, "error", "jwt/verify.go:88", "token rejected")
                    .s(
                        "error",
                        "token signature verification failed: crypto/rsa: verification error",
                    )
                    .s("kid", "2023-10-a1")
                    .s("path", "/v1/userinfo")
                    .s("client_ip", ip)
                    .done(),
                _ => zap(
                    &c,
                    "warn",
                    "login/ratelimit.go:57",
                    "too many failed login attempts, locking account",
                )
                .s("username", &fake::email(rng))
                .s("client_ip", ip)
                .n("failures_5m", rng.gen_range(5..40))
                .s("lock_duration", "15m0s")
                .done(),
            };
            out.push(Line::tagged(t, line, AUTH));
        }
        FeedKind::AuthEnvoy => {
            let downstream = format!("{}:{}", ctx.topo.any_pod_ip(rng), fake::port(rng));
            let line = envoy_access(
                &c,
                "POST",
                "/v1/login",
                401,
                rng.gen_range(280..340),
                58,
                rng.gen_range(20..60),
                pick(rng, &ATTACKERS),
                BOT_UA,
                &fake::uuid(rng),
                "auth-service.auth.svc.cluster.local:8080",
                &format!("{}:8080", ctx.pod.ip),
                &downstream,
            );
            out.push(Line::tagged(t, line, AUTH));
        }
        FeedKind::DbJava => {
            let th = exec_thread(rng);
            let sql = "o.h.engine.jdbc.spi.SqlExceptionHelper";
            match rng.gen_range(0..20) {
                0..=6 => out.push(Line::tagged(
                    t,
                    spring(&c, "ERROR", &th, sql, "HikariPool-1 - Connection is not available, request timed out after 30000ms."),
                    DB,
                )),
                7..=13 => {
                    out.push(Line::tagged(t, spring(&c, "WARN", &th, sql, "SQL Error: 0, SQLState: 08001"), DB));
                    out.push(Line::tagged(
                        t + MS / 2,
                        spring(&c, "ERROR", &th, sql, "Connection to postgres.payments.svc.cluster.local:5432 refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections."),
                        DB,
                    ));
                }
                14..=16 => out.push(Line::tagged(
                    t,
                    spring(
                        &c,
                        "WARN",
                        &th,
                        "com.zaxxer.hikari.pool.PoolBase",
                        &format!("HikariPool-1 - Failed to validate connection org.postgresql.jdbc.PgConnection@{} (This connection has been closed.). Possibly consider using a shorter maxLifetime value.", fake::hex(rng, 8)),
                    ),
                    DB,
                )),
                _ => out.push(Line::tagged(
                    t,
                    spring(&c, "ERROR", &th, sql, "FATAL: the database system is shutting down"),
                    DB,
                )),
            }
        }
        FeedKind::DbGo => {
            let refused = format!("dial tcp {POSTGRES_SVC_IP}:5432: connect: connection refused");
            let line = match rng.gen_range(0..20) {
                0..=9 => zap(&c, "error", "store/postgres.go:77", "query failed")
                    .s("query", "select_risk_signals")
                    .s(
                        "error",
                        &format!("failed to connect to `host=postgres.payments.svc.cluster.local user=fraud database=payments`: dial error ({refused})"),
                    )
                    .done(),
                10..=16 => zap(&c, "error", "store/health.go:31", "database ping failed")
                    .s("error", &refused)
                    .done(),
                _ => zap(&c, "error", "store/postgres.go:77", "query failed")
                    .s("query", "insert_score")
                    .s("error", "FATAL: the database system is shutting down (SQLSTATE 57P03)")
                    .done(),
            };
            out.push(Line::tagged(t, line, DB));
        }
        FeedKind::LatencyIngress => {
            // Each stalled request is tried on two search pods and cut at the 60 s
            // proxy-read-timeout both times: an error-log line per try, then the 504.
            // An event is one try ending now; every other one also completes a request.
            let ep = ctx
                .topo
                .endpoint(rng, "search", t)
                .unwrap_or("10.244.3.17")
                .to_string();
            let mut other = ep.clone();
            for _ in 0..8 {
                if other != ep {
                    break;
                }
                other = ctx
                    .topo
                    .endpoint(rng, "search", t)
                    .unwrap_or("10.244.3.18")
                    .to_string();
            }
            let q = pick(rng, &QUERIES);
            let path = format!("/api/search?q={q}&page=1");
            let client = fake::client_ip(rng);
            let worker = rng.gen_range(30..40);
            let err = format!(
                "{} [error] {worker}#{worker}: *{} upstream timed out (110: Connection timed out) while reading response header from upstream, client: {client}, server: shop.example.com, request: \"GET {path} HTTP/2.0\", upstream: \"http://{ep}:8080{path}\", host: \"shop.example.com\", referrer: \"https://shop.example.com/\"",
                c.nginx_error(),
                rng.gen_range(1_000_000..9_000_000u64)
            );
            out.push(Line::tagged(t, err, LATENCY));
            if rng.gen_bool(0.5) {
                let t2 = t + rng.gen_range(1..400) * 1_000;
                let req_id = fake::hex(rng, 32);
                let a = Access {
                    client: &client,
                    method: "GET",
                    path: &path,
                    proto: "HTTP/2.0",
                    status: 504,
                    bytes: 160,
                    referer: "https://shop.example.com/",
                    ua: fake::user_agent(rng),
                    req_len: rng.gen_range(200..700),
                    req_time: 120.0 + rng.gen_range(0.0..0.01),
                    upstream: "shop-search-8080",
                    upstream_addr: &format!("{other}:8080"),
                    upstream_status: 504,
                    req_id: &req_id,
                    retry_addr: Some(&format!("{ep}:8080")),
                };
                out.push(Line::tagged(t2, ingress_access(&civil(t2), &a), LATENCY));
            }
        }
        FeedKind::LatencySearch => {
            let line = match rng.gen_range(0..10) {
                0..=3 => format!(
                    "{} method=GET path=/api/search query_id={} took={}",
                    logfmt(&c, "warn", "middleware.go:88", "slow request"),
                    fake::hex(rng, 16),
                    fake::go_duration(rng.gen_range(5.0..30.0))
                ),
                4..=7 => format!(
                    "{} index=products-v7 query_id={} err={}",
                    logfmt(&c, "error", "handler.go:171", "search backend query failed"),
                    fake::hex(rng, 16),
                    lf("context deadline exceeded")
                ),
                _ => format!(
                    "{} path=/api/search err={} waited={}",
                    logfmt(
                        &c,
                        "warn",
                        "middleware.go:95",
                        "request canceled before backend responded"
                    ),
                    lf("context canceled"),
                    fake::go_duration(rng.gen_range(10.0..60.0))
                ),
            };
            out.push(Line::tagged(t, line, LATENCY));
        }
        FeedKind::NovelFraud => {
            let line = if rng.gen_bool(0.6) {
                let now = c.rfc3339_secs();
                let exp = civil(CERT_NOT_AFTER_SECS * NS).rfc3339_secs();
                zap(&c, "error", "riskclient/client.go:97", "risk score request failed")
                    .s("target", "risk-scoring.partner.example.net:443")
                    .s(
                        "error",
                        &format!("rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {now} is after {exp}\""),
                    )
                    .n("attempt", rng.gen_range(1..4))
                    .done()
            } else {
                zap(
                    &c,
                    "warn",
                    "scoring/service.go:88",
                    "risk service unavailable, falling back to rule-based scoring",
                )
                .s("payment_id", &format!("pay_{}", fake::hex(rng, 24)))
                .s("reason", "tls handshake failure")
                .done()
            };
            out.push(Line::tagged(t, line, NOVEL));
        }
    }
}

// ---------------------------------------------------------------- planned incident text

/// The Go runtime's panic output for the poison message: every line its own entry with
/// consecutive nanosecond timestamps.
pub(super) fn go_panic(rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let recv = format!("0xc000{}0", fake::hex(rng, 5));
    let msg = format!("0xc000{}8", fake::hex(rng, 5));
    let lines = [
        "panic: runtime error: invalid memory address or nil pointer dereference".to_string(),
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0x9f9735]".to_string(),
        "goroutine 1 [running]:".to_string(),
        format!("github.com/example/notification-worker/internal/render.(*Renderer).OrderConfirmation(0x0, {msg})"),
        "\t/app/internal/render/order.go:64 +0x3c".to_string(),
        format!("github.com/example/notification-worker/internal/consumer.(*Handler).Handle({recv}, {{0xa1c3e8, 0xc0003c2000}}, {msg})"),
        "\t/app/internal/consumer/handler.go:118 +0x1d2".to_string(),
        format!("github.com/example/notification-worker/internal/consumer.(*Consumer).Poll({recv}, {{0xa1c3e8, 0xc0003c2000}})"),
        "\t/app/internal/consumer/consumer.go:93 +0x2f4".to_string(),
        "main.main()".to_string(),
        "\t/app/cmd/notification-worker/main.go:57 +0x4d6".to_string(),
    ];
    for (i, l) in lines.into_iter().enumerate() {
        out.push(Line::tagged(t + i as u64, l, CRASHLOOP));
    }
}

/// A request thread's `OutOfMemoryError` as Spring's dispatcher servlet logs it.
pub(super) fn java_oome(rng: &mut Rng64, t: u64, heap_dump: bool, out: &mut Vec<Line>) {
    let c = civil(t);
    let th = exec_thread(rng);
    let mut lines = Vec::with_capacity(16);
    if heap_dump {
        lines.push("java.lang.OutOfMemoryError: Java heap space".to_string());
        lines.push("Dumping heap to /dumps/java_pid1.hprof ...".to_string());
        lines.push(format!(
            "Heap dump file created [{} bytes in {:.3} secs]",
            rng.gen_range(520_000_000..540_000_000u64),
            rng.gen_range(1.5..3.5)
        ));
    }
    lines.push(spring(
        &c,
        "ERROR",
        &th,
        "o.a.c.c.C.[.[.[/].[dispatcherServlet]",
        "Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception [Handler dispatch failed: java.lang.OutOfMemoryError: Java heap space] with root cause",
    ));
    lines.push("java.lang.OutOfMemoryError: Java heap space".to_string());
    for f in [
        "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
        "\tat java.base/java.lang.AbstractStringBuilder.ensureCapacityInternal(AbstractStringBuilder.java:228)",
        "\tat java.base/java.lang.AbstractStringBuilder.append(AbstractStringBuilder.java:582)",
        "\tat java.base/java.lang.StringBuilder.append(StringBuilder.java:179)",
        "\tat com.example.shop.orders.export.OrderCsvWriter.appendRow(OrderCsvWriter.java:57)",
        "\tat com.example.shop.orders.export.OrderExportService.renderCsv(OrderExportService.java:88)",
        "\tat com.example.shop.orders.export.OrderExportController.export(OrderExportController.java:41)",
        "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
        "\tat org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:205)",
        "\tat org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1081)",
    ] {
        lines.push(f.to_string());
    }
    for (i, l) in lines.into_iter().enumerate() {
        out.push(Line::tagged(t + i as u64, l, OOM));
    }
}

/// A full-GC pause of a heap that no longer frees anything.
pub(super) fn gc_full(rng: &mut Rng64, t: u64, n: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let before = rng.gen_range(505..512);
    let after = before - rng.gen_range(0..4);
    let ms = rng.gen_range(900.0..2_600.0);
    out.push(Line::tagged(
        t,
        format!("[{}][info][gc] GC({n}) To-space exhausted", c.jvm()),
        OOM,
    ));
    out.push(Line::tagged(
        t + MS,
        gc_line(
            &civil(t + MS),
            n + 1,
            "Pause Full (G1 Compaction Pause)",
            before,
            after,
            ms,
        ),
        OOM,
    ));
}

/// A Postgres line tagged with the DB incident.
pub(super) fn pg_db(c: &Civil, pid: u32, sev: &str, msg: &str) -> Line {
    Line::tagged(c.ns, pg(c, pid, sev, msg), DB)
}
