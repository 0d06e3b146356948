//! Normal lines of the application services: Go (zap JSON and go-kit logfmt), Node.js
//! (pino) and Spring Boot (console pattern, JVM GC log, one-entry-per-frame stack traces).

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::clock::{civil, Civil, MS, NS};
use super::edge::QUERIES;
use super::fake::{self, pick};
use super::incidents;
use super::shapes::{lf, spring, Obj};
use super::stream::{Ctx, Line};
use super::topology::App;

type Rng64 = Xoshiro256PlusPlus;

// ---------------------------------------------------------------- Go zap services

/// Starts a zap JSON line: `{"level":..,"ts":..,"caller":..,"msg":..`.
pub(super) fn zap(c: &Civil, level: &str, caller: &str, msg: &str) -> Obj {
    Obj::new()
        .s("level", level)
        .raw("ts", &c.epoch_float())
        .s("caller", caller)
        .s("msg", msg)
}

/// A zap "request completed" line of the shared HTTP middleware.
pub(super) fn zap_request(
    rng: &mut Rng64,
    c: &Civil,
    method: &str,
    path: &str,
    status: u16,
    secs: f64,
    ua: &str,
) -> String {
    zap(
        c,
        "info",
        "httpserver/middleware.go:64",
        "request completed",
    )
    .s("method", method)
    .s("path", path)
    .n("status", status)
    .n("duration", format!("{secs:.6}"))
    .n("bytes", rng.gen_range(2..4_000))
    .s("request_id", &fake::uuid(rng))
    .s("user_agent", ua)
    .done()
}

/// One normal line (or a retry pair) of a Go service logging with zap.
pub(super) fn zap_app(ctx: Ctx<'_>, app: App, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let probe = "kube-probe/1.28";
    let gw = "Go-http-client/2.0";
    let line = match app {
        App::Cart => match fake::weighted(
            rng,
            &[(40, 0), (15, 1), (6, 2), (14, 3), (12, 4), (2, 5), (1, 6)],
        ) {
            0 => {
                let (m, p, s) = pick(
                    rng,
                    &[
                        ("GET", "/v1/carts/current", 200),
                        ("POST", "/v1/carts/current/items", 201),
                        ("DELETE", "/v1/carts/current/items", 204),
                    ],
                );
                let secs = fake::log_normal(rng, 0.006, 0.5);
                zap_request(rng, &c, m, p, s, secs, gw)
            }
            1 => zap(&c, "info", "store/cache.go:41", "cache hit")
                .s("key", &format!("cart:{}", fake::user_id(rng)))
                .done(),
            2 => zap(&c, "info", "store/cache.go:52", "cache miss")
                .s("key", &format!("cart:{}", fake::user_id(rng)))
                .s("loaded_from", "redis")
                .n(
                    "duration",
                    format!("{:.6}", fake::log_normal(rng, 0.0015, 0.4)),
                )
                .done(),
            3 => zap(&c, "info", "cart/service.go:118", "item added to cart")
                .s("user_id", &fake::user_id(rng))
                .s("sku", &fake::sku(rng))
                .n("qty", rng.gen_range(1..4))
                .done(),
            4 => {
                let secs = fake::log_normal(rng, 0.0002, 0.3);
                zap_request(rng, &c, "GET", "/healthz", 200, secs, probe)
            }
            5 => {
                // A retry that succeeds: WARN, then INFO shortly after.
                let warn = zap(&c, "warn", "store/redis.go:77", "retrying redis command")
                    .s("cmd", "HGETALL")
                    .n("attempt", 1)
                    .s(
                        "error",
                        &format!(
                            "read tcp {}:{}->10.96.44.7:6379: i/o timeout",
                            ctx.pod.ip,
                            fake::port(rng)
                        ),
                    )
                    .done();
                out.push(Line::plain(t, warn));
                let t2 = t + rng.gen_range(50..300) * MS;
                let ok = zap(
                    &civil(t2),
                    "info",
                    "store/redis.go:81",
                    "redis command succeeded after retry",
                )
                .s("cmd", "HGETALL")
                .n("attempt", 2)
                .done();
                out.push(Line::plain(t2, ok));
                return;
            }
            _ => zap(&c, "info", "cart/janitor.go:33", "expired carts purged")
                .n("count", rng.gen_range(0..60))
                .n(
                    "duration",
                    format!("{:.6}", fake::log_normal(rng, 0.2, 0.3)),
                )
                .done(),
        },
        App::Checkout => match fake::weighted(
            rng,
            &[(25, 0), (15, 1), (15, 2), (15, 3), (12, 4), (8, 5), (2, 6)],
        ) {
            0 => {
                let secs = fake::log_normal(rng, 0.3, 0.4);
                zap_request(rng, &c, "POST", "/v1/checkout", 200, secs, gw)
            }
            1 => zap(&c, "info", "checkout/flow.go:58", "checkout started")
                .s("cart_id", &fake::uuid(rng))
                .s("user_id", &fake::user_id(rng))
                .n("items", rng.gen_range(1..7))
                .done(),
            2 => zap(&c, "info", "checkout/payment.go:91", "payment authorized")
                .s("order_id", &fake::order_id(rng))
                .n("amount", fake::amount(rng))
                .s("currency", "EUR")
                .n(
                    "duration",
                    format!("{:.6}", fake::log_normal(rng, 0.18, 0.3)),
                )
                .done(),
            3 => zap(&c, "info", "checkout/flow.go:142", "order placed")
                .s("order_id", &fake::order_id(rng))
                .s("user_id", &fake::user_id(rng))
                .done(),
            4 => zap(&c, "info", "shipping/quote.go:40", "shipping quote fetched")
                .s("carrier", pick(rng, &["dhl", "ups", "dpd", "gls"]))
                .n("cost", format!("{}.99", rng.gen_range(3..12)))
                .n("cached", rng.gen_bool(0.7))
                .done(),
            5 => {
                let secs = fake::log_normal(rng, 0.0002, 0.3);
                zap_request(rng, &c, "GET", "/healthz", 200, secs, probe)
            }
            _ => {
                let warn = zap(&c, "warn", "client/retry.go:55", "retrying call")
                    .s("service", "payments-api")
                    .n("attempt", 1)
                    .s("error", "rpc error: code = Unavailable desc = upstream connect error or disconnect/reset before headers. reset reason: connection termination")
                    .done();
                out.push(Line::plain(t, warn));
                let t2 = t + rng.gen_range(100..600) * MS;
                let ok = zap(
                    &civil(t2),
                    "info",
                    "checkout/payment.go:91",
                    "payment authorized",
                )
                .s("order_id", &fake::order_id(rng))
                .n("amount", fake::amount(rng))
                .s("currency", "EUR")
                .n("attempt", 2)
                .done();
                out.push(Line::plain(t2, ok));
                return;
            }
        },
        App::Notifier => match fake::weighted(rng, &[(45, 0), (35, 1), (8, 2), (2, 3)]) {
            0 => zap(&c, "info", "consumer/handler.go:97", "message processed")
                .s("topic", "order-events")
                .n("partition", rng.gen_range(0..6))
                .n("offset", rng.gen_range(880_000..884_000))
                .n(
                    "duration",
                    format!("{:.6}", fake::log_normal(rng, 0.03, 0.5)),
                )
                .done(),
            1 => zap(&c, "info", "mailer/ses.go:66", "email sent")
                .s(
                    "template",
                    pick(
                        rng,
                        &[
                            "order_confirmation",
                            "shipping_update",
                            "password_reset",
                            "welcome",
                        ],
                    ),
                )
                .s(
                    "message_id",
                    &format!("0102018b{}-{}-000000", fake::hex(rng, 8), fake::uuid(rng)),
                )
                .s("provider", "ses")
                .done(),
            2 => zap(&c, "info", "consumer/lag.go:28", "consumer lag")
                .s("group", "notification-worker")
                .n("lag", rng.gen_range(0..40))
                .done(),
            _ => zap(
                &c,
                "warn",
                "mailer/ses.go:81",
                "email send throttled, retrying",
            )
            .s("error", "Throttling: Maximum sending rate exceeded.")
            .n("backoff", format!("{:.3}", rng.gen_range(0.2..1.0)))
            .done(),
        },
        App::FraudCheck => {
            match fake::weighted(rng, &[(40, 0), (10, 1), (15, 2), (12, 3), (10, 4), (1, 5)]) {
                0 => zap(&c, "info", "scoring/service.go:73", "score computed")
                    .s("payment_id", &format!("pay_{}", fake::hex(rng, 24)))
                    .n("score", format!("{:.3}", rng.gen_range(0.0..0.6)))
                    .s("model", "gbm-v14")
                    .n(
                        "risk_service_latency",
                        format!("{:.6}", fake::log_normal(rng, 0.045, 0.3)),
                    )
                    .s("decision", "allow")
                    .done(),
                1 => zap(&c, "info", "rules/engine.go:112", "rule matched")
                    .s(
                        "rule",
                        pick(
                            rng,
                            &["velocity_24h", "geo_mismatch", "new_device", "high_amount"],
                        ),
                    )
                    .s("payment_id", &format!("pay_{}", fake::hex(rng, 24)))
                    .s("action", "review")
                    .done(),
                2 => zap(&c, "info", "riskclient/client.go:61", "risk score received")
                    .s("target", "risk-scoring.partner.example.net:443")
                    .s("grpc_code", "OK")
                    .n(
                        "duration",
                        format!("{:.6}", fake::log_normal(rng, 0.045, 0.3)),
                    )
                    .done(),
                3 => zap(&c, "info", "store/postgres.go:54", "db query")
                    .s("query", "select_risk_signals")
                    .n("rows", rng.gen_range(0..40))
                    .n(
                        "duration",
                        format!("{:.6}", fake::log_normal(rng, 0.003, 0.5)),
                    )
                    .done(),
                4 => {
                    let secs = fake::log_normal(rng, 0.0002, 0.3);
                    zap_request(rng, &c, "GET", "/healthz", 200, secs, probe)
                }
                _ => zap(
                    &c,
                    "warn",
                    "features/cache.go:88",
                    "feature cache stale, refreshing",
                )
                .n("age_s", rng.gen_range(300..900))
                .done(),
            }
        }
        App::Auth => match fake::weighted(
            rng,
            &[(22, 0), (18, 1), (20, 2), (25, 3), (6, 4), (8, 5), (1, 6)],
        ) {
            0 => zap(&c, "info", "login/handler.go:96", "login succeeded")
                .s("user_id", &fake::user_id(rng))
                .s("method", "password")
                .n("mfa", rng.gen_bool(0.4))
                .done(),
            1 => zap(&c, "info", "token/issuer.go:71", "token issued")
                .s("user_id", &fake::user_id(rng))
                .s("kid", "2023-10-a1")
                .n("expires_in", 900)
                .done(),
            2 => zap(&c, "info", "token/refresh.go:44", "token refreshed")
                .s("user_id", &fake::user_id(rng))
                .s("session_id", &fake::hex(rng, 16))
                .done(),
            3 => {
                let (m, p, s) = pick(
                    rng,
                    &[
                        ("POST", "/v1/login", 200),
                        ("POST", "/v1/token/refresh", 200),
                        ("GET", "/.well-known/jwks.json", 200),
                        ("GET", "/v1/userinfo", 200),
                    ],
                );
                let secs = fake::log_normal(rng, 0.01, 0.6);
                zap_request(rng, &c, m, p, s, secs, gw)
            }
            4 => zap(&c, "info", "mfa/totp.go:39", "mfa challenge sent")
                .s("user_id", &fake::user_id(rng))
                .s("channel", pick(rng, &["totp", "sms"]))
                .done(),
            5 => {
                let secs = fake::log_normal(rng, 0.0002, 0.3);
                zap_request(rng, &c, "GET", "/healthz", 200, secs, probe)
            }
            // Real users mistype passwords: the storm's message exists at a low rate.
            _ => zap(
                &c,
                "warn",
                "login/handler.go:112",
                "login failed: invalid credentials",
            )
            .s("username", &fake::email(rng))
            .s("client_ip", &fake::client_ip(rng))
            .s("user_agent", fake::user_agent(rng))
            .done(),
        },
        _ => zap(&c, "info", "main.go:42", "tick")
            .s("pod", &ctx.pod.name)
            .done(),
    };
    out.push(Line::plain(t, line));
}

// ---------------------------------------------------------------- Node pino services

/// Starts a pino line: `{"level":30,"time":..,"pid":1,"hostname":..` (msg goes last).
pub(super) fn pino(c: &Civil, level: u8, hostname: &str) -> Obj {
    Obj::new()
        .n("level", level)
        .n("time", c.epoch_ms())
        .n("pid", 1)
        .s("hostname", hostname)
}

/// One normal line of a Node.js service logging with pino.
pub(super) fn pino_app(ctx: Ctx<'_>, app: App, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let host = ctx.pod.name.as_str();
    let req = |rng: &mut Rng64, method: &str, url: &str| {
        Obj::new()
            .n("id", rng.gen_range(1..900_000))
            .s("method", method)
            .s("url", url)
            .s(
                "remoteAddress",
                &format!(
                    "::ffff:10.244.{}.{}",
                    rng.gen_range(0..6),
                    rng.gen_range(2..250)
                ),
            )
            .n("remotePort", fake::port(rng))
            .done()
    };
    let line = match app {
        App::Frontend => {
            match fake::weighted(rng, &[(50, 0), (15, 1), (12, 2), (8, 3), (10, 4), (2, 5)]) {
                0 => {
                    let url = if rng.gen_bool(0.6) {
                        format!("/product/{}", fake::sku(rng))
                    } else {
                        format!(
                            "/category/{}",
                            pick(rng, &["shoes", "outdoor", "electronics", "home"])
                        )
                    };
                    let status = if rng.gen_bool(0.005) { 404 } else { 200 };
                    let r = req(rng, "GET", &url);
                    pino(&c, 30, host)
                        .raw("req", &r)
                        .raw("res", &Obj::new().n("statusCode", status).done())
                        .n("responseTime", fake::log_normal(rng, 80.0, 0.5).round())
                        .s("msg", "request completed")
                        .done()
                }
                1 => pino(&c, 30, host)
                    .s("route", "/product/[sku]")
                    .n("duration_ms", fake::log_normal(rng, 45.0, 0.4).round())
                    .s("msg", "page rendered")
                    .done(),
                2 => pino(&c, 30, host)
                    .s("key", &format!("page:/product/{}", fake::sku(rng)))
                    .n("hit", rng.gen_bool(0.8))
                    .s("msg", "ssr cache lookup")
                    .done(),
                3 => {
                    let r = req(rng, "GET", "/api/health");
                    pino(&c, 30, host)
                        .raw("req", &r)
                        .raw("res", &Obj::new().n("statusCode", 200).done())
                        .n("responseTime", rng.gen_range(0..3))
                        .s("msg", "request completed")
                        .done()
                }
                4 => pino(&c, 30, host)
                    .s(
                        "upstream",
                        pick(rng, &["catalog", "recommendation", "cart"]),
                    )
                    .n("duration_ms", fake::log_normal(rng, 20.0, 0.5).round())
                    .s("msg", "upstream call")
                    .done(),
                _ => pino(&c, 40, host)
                    .s("upstream", "catalog")
                    .n("attempt", 2)
                    .s("err", "socket hang up")
                    .s("msg", "upstream request retried")
                    .done(),
            }
        }
        _ => match fake::weighted(rng, &[(55, 0), (15, 1), (20, 2), (1, 3)]) {
            0 => pino(&c, 30, host)
                .s("user_id", &fake::user_id(rng))
                .s("model", "als-2023-11-10")
                .n("count", 12)
                .n("latency_ms", fake::log_normal(rng, 18.0, 0.4).round())
                .s("msg", "recommendations served")
                .done(),
            1 => pino(&c, 30, host)
                .s("current", "als-2023-11-10")
                .s("latest", "als-2023-11-10")
                .s("msg", "model refresh check")
                .done(),
            2 => pino(&c, 30, host)
                .n("hit", rng.gen_bool(0.9))
                .n("keys", rng.gen_range(1..40))
                .s("msg", "feature store lookup")
                .done(),
            _ => pino(&c, 40, host)
                .n("heapUsedMB", rng.gen_range(380..460))
                .n("heapLimitMB", 512)
                .s(
                    "msg",
                    "heap usage above 75%, triggering model cache eviction",
                )
                .done(),
        },
    };
    out.push(Line::plain(t, line));
}

// ---------------------------------------------------------------- Spring Boot services

/// An HTTP worker thread name.
pub(super) fn exec_thread(rng: &mut Rng64) -> String {
    format!("http-nio-8080-exec-{}", rng.gen_range(1..=10))
}

/// A JVM unified-logging GC line (`-Xlog:gc`).
pub(super) fn gc_line(c: &Civil, n: u64, what: &str, before: u32, after: u32, ms: f64) -> String {
    format!(
        "[{}][info][gc] GC({n}) {what} {before}M->{after}M(512M) {ms:.3}ms",
        c.jvm()
    )
}

/// A plausible, time-increasing GC event number (one young GC every ~7 s).
pub(super) fn gc_number(t: u64) -> u64 {
    (t / NS) % 100_000 / 7
}

/// Java main class, logger prefix and a short name for each Spring app.
pub(super) fn spring_names(app: App) -> (&'static str, &'static str) {
    match app {
        App::Orders => ("OrdersApplication", "c.e.shop.orders"),
        App::Catalog => ("CatalogApplication", "c.e.shop.catalog"),
        App::PaymentsApi => ("PaymentsApiApplication", "c.e.payments.api"),
        _ => ("LedgerApplication", "c.e.payments.ledger"),
    }
}

/// One normal event of a Spring Boot service: business line, GC pause, housekeeping,
/// a benign HikariCP warning or a retried request with its stack trace.
pub(super) fn spring_app(ctx: Ctx<'_>, app: App, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let (_, pkg) = spring_names(app);
    let th = exec_thread(rng);
    let mut r = fake::weighted(rng, &[(60, 0), (12, 1), (8, 2), (3, 3), (1, 4)]);
    if r == 1 && incidents::heap_exhausted(ctx, t) {
        // The heap is full: only the incident's full GCs are logged now.
        r = 0;
    }
    let line = match r {
        1 => {
            let young = rng.gen_bool(0.9);
            let before = rng.gen_range(280..340);
            let after = rng.gen_range(70..120);
            let what = if young {
                "Pause Young (Normal) (G1 Evacuation Pause)"
            } else {
                "Pause Young (Concurrent Start) (G1 Humongous Allocation)"
            };
            let n = gc_number(t) + ctx.pod.replica as u64;
            gc_line(&c, n, what, before, after, fake::log_normal(rng, 8.0, 0.5))
        }
        2 => spring(
            &c,
            "INFO",
            "scheduling-1",
            &format!("{pkg}.jobs.HousekeepingJob"),
            &format!(
                "Housekeeping run finished: {} records checked, 0 mismatches in {} ms",
                rng.gen_range(80..400),
                rng.gen_range(40..400)
            ),
        ),
        3 => spring(
            &c,
            "WARN",
            "HikariPool-1 housekeeper",
            "com.zaxxer.hikari.pool.HikariPool",
            &format!(
                "HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta={}s{}ms).",
                rng.gen_range(45..75),
                rng.gen_range(0..1000)
            ),
        ),
        4 => {
            retry_trace(ctx, app, rng, t, out);
            return;
        }
        _ => spring_business(app, pkg, &th, rng, &c),
    };
    out.push(Line::plain(t, line));
}

fn spring_business(app: App, pkg: &str, th: &str, rng: &mut Rng64, c: &Civil) -> String {
    match app {
        App::Orders => match rng.gen_range(0..4) {
            0 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.OrderController"),
                &format!(
                    "Order {} created for user {} ({} items, total {} EUR)",
                    fake::order_id(rng),
                    fake::user_id(rng),
                    rng.gen_range(1..6),
                    fake::amount(rng)
                ),
            ),
            1 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.OrderService"),
                &format!(
                    "Payment authorized for order {} via payments-api in {} ms",
                    fake::order_id(rng),
                    fake::log_normal(rng, 180.0, 0.3).round()
                ),
            ),
            2 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.OrderQueryController"),
                &format!(
                    "Listed {} orders for user {} in {} ms",
                    rng.gen_range(0..11),
                    fake::user_id(rng),
                    rng.gen_range(4..60)
                ),
            ),
            _ => spring(
                c,
                "INFO",
                "scheduling-1",
                &format!("{pkg}.PriceCache"),
                &format!(
                    "Price cache refreshed: {} entries in {} ms",
                    rng.gen_range(4_700..4_900),
                    rng.gen_range(200..500)
                ),
            ),
        },
        App::Catalog => match rng.gen_range(0..4) {
            0 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.ProductController"),
                &format!(
                    "GET /api/v1/products/{} -> 200 ({} ms)",
                    fake::sku(rng),
                    rng.gen_range(2..40)
                ),
            ),
            1 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.ProductCache"),
                &format!(
                    "Cache miss for product {}; loaded from database in {} ms",
                    fake::sku(rng),
                    rng.gen_range(8..60)
                ),
            ),
            2 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.StockService"),
                &format!(
                    "Stock reserved for {} qty={}",
                    fake::sku(rng),
                    rng.gen_range(1..4)
                ),
            ),
            _ => spring(
                c,
                "INFO",
                "scheduling-2",
                &format!("{pkg}.ProductCache"),
                &format!(
                    "Cache statistics: hitRatio={:.2} size={} evictions={}",
                    rng.gen_range(0.85..0.97),
                    rng.gen_range(9_000..12_000),
                    rng.gen_range(0..300)
                ),
            ),
        },
        App::PaymentsApi => match rng.gen_range(0..4) {
            0 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.PaymentController"),
                &format!(
                    "Payment pay_{} authorized: amount={} currency=EUR psp=stripe latency={}ms",
                    fake::hex(rng, 24),
                    fake::amount(rng),
                    fake::log_normal(rng, 180.0, 0.3).round()
                ),
            ),
            1 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.WebhookController"),
                &format!(
                    "Received webhook evt_{} type={}",
                    fake::hex(rng, 24),
                    pick(
                        rng,
                        &[
                            "charge.succeeded",
                            "payment_intent.succeeded",
                            "charge.refunded",
                            "payout.paid"
                        ]
                    )
                ),
            ),
            2 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.FraudCheckClient"),
                &format!(
                    "Fraud score {:.2} for payment pay_{} (decision=ALLOW)",
                    rng.gen_range(0.0..0.5),
                    fake::hex(rng, 24)
                ),
            ),
            _ => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.IdempotencyFilter"),
                &format!(
                    "Duplicate request detected for key ik_{}, returning cached response",
                    fake::hex(rng, 20)
                ),
            ),
        },
        _ => match rng.gen_range(0..3) {
            0 => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.LedgerService"),
                &format!(
                    "Posted journal entry je_{} (2 lines, balanced)",
                    fake::hex(rng, 16)
                ),
            ),
            1 => spring(
                c,
                "INFO",
                "scheduling-1",
                &format!("{pkg}.SettlementJob"),
                &format!(
                    "Settlement batch {}-{:02} progress: {} entries",
                    "20231114",
                    rng.gen_range(0..24),
                    rng.gen_range(100..2000)
                ),
            ),
            _ => spring(
                c,
                "INFO",
                th,
                &format!("{pkg}.BalanceController"),
                &format!(
                    "Balance query for account acc_{} served in {} ms",
                    fake::hex(rng, 10),
                    rng.gen_range(2..30)
                ),
            ),
        },
    }
}

/// A WARN with a short stack trace, one Loki entry per frame (Promtail without a
/// multiline stage), followed by the INFO of the successful retry.
pub(super) fn retry_trace(ctx: Ctx<'_>, app: App, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let (_, pkg) = spring_names(app);
    let th = exec_thread(rng);
    let (client, url, svc_pkg) = match app {
        App::PaymentsApi | App::Ledger => (
            format!("{pkg}.PspClient"),
            "https://api.stripe.com/v1/payment_intents".to_string(),
            "com.example.payments",
        ),
        App::Catalog => (
            format!("{pkg}.SupplierFeedClient"),
            format!(
                "https://feeds.supplier.example.net/v2/stock/{}",
                fake::sku(rng)
            ),
            "com.example.shop",
        ),
        _ => (
            format!("{pkg}.CatalogClient"),
            format!(
                "http://catalog.shop.svc.cluster.local:8080/api/v1/stock/{}",
                fake::sku(rng)
            ),
            "com.example.shop",
        ),
    };
    let cls = client.rsplit('.').next().unwrap_or("Client").to_string();
    let mut lines = vec![
        spring(&c, "WARN", &th, &client, &format!("Request to {url} failed, retrying (attempt 1/3)")),
        format!("org.springframework.web.client.ResourceAccessException: I/O error on GET request for \"{url}\": Read timed out"),
        "\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:791)".to_string(),
        "\tat org.springframework.web.client.RestTemplate.execute(RestTemplate.java:717)".to_string(),
        format!("\tat {svc_pkg}.{}.{cls}.fetch({cls}.java:{})", ctx.pod.workload.replace('-', ""), rng.gen_range(40..90)),
        "Caused by: java.net.SocketTimeoutException: Read timed out".to_string(),
        "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)".to_string(),
        "\tat java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)".to_string(),
        format!("\t... {} more", rng.gen_range(40..70)),
    ];
    for (i, l) in lines.drain(..).enumerate() {
        out.push(Line::plain(t + i as u64, l));
    }
    let t2 = t + rng.gen_range(150..900) * MS;
    out.push(Line::plain(
        t2,
        spring(
            &civil(t2),
            "INFO",
            &th,
            &client,
            &format!("Request to {url} succeeded on attempt 2"),
        ),
    ));
}

// ---------------------------------------------------------------- Go logfmt services

/// Starts a go-kit logfmt line: `level=.. ts=.. caller=.. msg=".."`.
pub(super) fn logfmt(c: &Civil, level: &str, caller: &str, msg: &str) -> String {
    format!(
        "level={level} ts={} caller={caller} msg={}",
        c.rfc3339_nano(),
        lf(msg)
    )
}

/// One normal line of a Go service logging go-kit logfmt.
pub(super) fn logfmt_app(ctx: Ctx<'_>, app: App, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let line = match app {
        App::Search => match fake::weighted(rng, &[(55, 0), (25, 1), (6, 2), (10, 3), (1, 4)]) {
            0 => format!(
                "{} query_id={} index=products-v7 q={} hits={} took={}",
                logfmt(&c, "info", "handler.go:142", "search completed"),
                fake::hex(rng, 16),
                lf(&pick(rng, &QUERIES).replace('+', " ")),
                rng.gen_range(0..400),
                fake::go_duration(fake::log_normal(rng, 0.025, 0.5))
            ),
            1 => format!(
                "{} prefix={} suggestions={} took={}",
                logfmt(&c, "info", "suggest.go:57", "autocomplete"),
                &pick(rng, &QUERIES)[..3],
                rng.gen_range(0..10),
                fake::go_duration(fake::log_normal(rng, 0.003, 0.4))
            ),
            2 => format!(
                "{} index=products-v7 docs={} segments={} took={}",
                logfmt(&c, "info", "indexer.go:210", "index refresh"),
                rng.gen_range(48_000..48_500),
                rng.gen_range(8..16),
                fake::go_duration(fake::log_normal(rng, 0.8, 0.3))
            ),
            3 => format!(
                "{} method=GET path=/healthz status=200 took={}",
                logfmt(&c, "debug", "middleware.go:71", "request"),
                fake::go_duration(fake::log_normal(rng, 0.0002, 0.3))
            ),
            _ => format!(
                "{} index=products-v7 shards_ok=4 shards_total=5",
                logfmt(&c, "warn", "handler.go:160", "partial shard response, serving cached page")
            ),
        },
        App::Etl => match fake::weighted(rng, &[(50, 0), (25, 1), (20, 2), (2, 3)]) {
            0 => format!(
                "{} pipeline=orders_to_warehouse rows={} bytes={} took={}",
                logfmt(&c, "info", "pipeline.go:88", "batch committed"),
                rng.gen_range(200..2_000),
                rng.gen_range(50_000..600_000),
                fake::go_duration(fake::log_normal(rng, 1.2, 0.3))
            ),
            1 => format!(
                "{} pipeline=orders_to_warehouse topic=order-events partition={} offset={}",
                logfmt(&c, "info", "checkpoint.go:41", "checkpoint saved"),
                rng.gen_range(0..6),
                rng.gen_range(880_000..884_000)
            ),
            2 => format!(
                "{} pipeline=payments_to_warehouse lag=0s",
                logfmt(&c, "info", "pipeline.go:120", "waiting for new data")
            ),
            _ => format!(
                "{} table=fact_orders attempt=1 err={}",
                logfmt(&c, "warn", "warehouse.go:133", "load job retry"),
                lf("googleapi: Error 503: Visibility check was unavailable. Please retry the request and contact support if the problem persists, backendError")
            ),
        },
        _ => {
            let _ = ctx;
            match rng.gen_range(0..3) {
                0 => format!(
                    "{} report=daily_sales chunk={} rows=5000",
                    logfmt(&c, "info", "export.go:77", "exported chunk"),
                    rng.gen_range(1..60)
                ),
                1 => format!(
                    "{} table=orders rows={} took={}",
                    logfmt(&c, "info", "query.go:52", "query page fetched"),
                    rng.gen_range(4_000..5_001),
                    fake::go_duration(fake::log_normal(rng, 0.3, 0.3))
                ),
                _ => format!(
                    "{} part={} size={}",
                    logfmt(&c, "info", "upload.go:61", "multipart upload part sent"),
                    rng.gen_range(1..20),
                    rng.gen_range(5_000_000..8_388_608)
                ),
            }
        }
    };
    out.push(Line::plain(t, line));
}
