//! Normal traffic of the cluster's edge: ingress-nginx access and error logs, CoreDNS
//! query logs and the Istio sidecar's Envoy access log.

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::clock::{civil, Civil, NS};
use super::fake::{self, pick, weighted};
use super::stream::{Ctx, Line};
use super::topology::App;

type Rng64 = Xoshiro256PlusPlus;

// ---------------------------------------------------------------- ingress-nginx

/// One ingress-nginx access-log record (`log-format-upstream` default).
pub(super) struct Access<'a> {
    /// Client address.
    pub client: &'a str,
    /// Request line: method.
    pub method: &'a str,
    /// Request line: path with query.
    pub path: &'a str,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub proto: &'a str,
    /// Response status.
    pub status: u16,
    /// `$body_bytes_sent`.
    pub bytes: u64,
    /// Referer or `-`.
    pub referer: &'a str,
    /// User agent.
    pub ua: &'a str,
    /// `$request_length`.
    pub req_len: u64,
    /// `$request_time`, seconds.
    pub req_time: f64,
    /// `$proxy_upstream_name`.
    pub upstream: &'a str,
    /// `$upstream_addr`.
    pub upstream_addr: &'a str,
    /// `$upstream_status`.
    pub upstream_status: u16,
    /// `$req_id`.
    pub req_id: &'a str,
    /// Second upstream tried after a timeout (`proxy-next-upstream: error timeout`).
    pub retry_addr: Option<&'a str>,
}

/// Formats an access-log line.
pub(super) fn ingress_access(c: &Civil, a: &Access<'_>) -> String {
    if let Some(second) = a.retry_addr {
        // Two tries, each cut at proxy-read-timeout: nginx lists both upstreams.
        let half = a.req_time / 2.0;
        return format!(
            "{} - - [{}] \"{} {} {}\" {} {} \"{}\" \"{}\" {} {:.3} [{}] [] {}, {} 0, 0 {:.3}, {:.3} {}, {} {}",
            a.client,
            c.nginx_access(),
            a.method,
            a.path,
            a.proto,
            a.status,
            a.bytes,
            a.referer,
            a.ua,
            a.req_len,
            a.req_time,
            a.upstream,
            a.upstream_addr,
            second,
            half,
            (half - 0.001).max(0.0),
            a.upstream_status,
            a.upstream_status,
            a.req_id
        );
    }
    format!(
        "{} - - [{}] \"{} {} {}\" {} {} \"{}\" \"{}\" {} {:.3} [{}] [] {} {} {:.3} {} {}",
        a.client,
        c.nginx_access(),
        a.method,
        a.path,
        a.proto,
        a.status,
        a.bytes,
        a.referer,
        a.ua,
        a.req_len,
        a.req_time,
        a.upstream,
        a.upstream_addr,
        a.bytes,
        (a.req_time - 0.001).max(0.0),
        a.upstream_status,
        a.req_id
    )
}

/// A route of the shop's Ingresses: `(weight, host, upstream name, workload, port)`.
const ROUTES: [(u32, &str, &str, &str, u16); 10] = [
    (
        30,
        "shop.example.com",
        "shop-frontend-3000",
        "frontend",
        3000,
    ),
    (14, "shop.example.com", "shop-catalog-8080", "catalog", 8080),
    (12, "shop.example.com", "shop-cart-8080", "cart", 8080),
    (10, "shop.example.com", "shop-search-8080", "search", 8080),
    (
        8,
        "shop.example.com",
        "shop-recommendation-8080",
        "recommendation",
        8080,
    ),
    (
        6,
        "shop.example.com",
        "auth-auth-service-8080",
        "auth-service",
        8080,
    ),
    (
        4,
        "shop.example.com",
        "shop-checkout-8080",
        "checkout",
        8080,
    ),
    (4, "shop.example.com", "shop-orders-8080", "orders", 8080),
    (
        2,
        "payments.example.com",
        "payments-payments-api-8080",
        "payments-api",
        8080,
    ),
    (
        1,
        "grafana.example.com",
        "monitoring-grafana-3000",
        "grafana",
        3000,
    ),
];

/// Search terms typed by shoppers.
pub(super) const QUERIES: [&str; 12] = [
    "running+shoes",
    "rain+jacket",
    "wireless+headphones",
    "yoga+mat",
    "coffee+grinder",
    "kids+backpack",
    "usb-c+cable",
    "winter+boots",
    "desk+lamp",
    "water+bottle",
    "gift+card",
    "sneakers",
];

/// One normal ingress-nginx line: an access-log record, rarely an error-log line.
pub(super) fn ingress(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let roll: f64 = rng.gen();
    if roll < 0.003 {
        out.push(Line::plain(t, nginx_benign_error(rng, &c)));
        return;
    }
    let route = weighted(rng, &ROUTES.map(|r| (r.0, (r.1, r.2, r.3, r.4))));
    let (host, upstream, workload, port) = route;
    let (method, path, status, bytes, median) = request_for(rng, workload);
    let ep = ctx
        .topo
        .endpoint(rng, workload, t)
        .map_or_else(|| "127.0.0.1".to_string(), str::to_string);
    let ua = if workload == "grafana" {
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"
    } else if workload == "payments-api" {
        "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    } else {
        let ua = fake::user_agent(rng);
        if ua.contains("Googlebot") && !matches!(workload, "frontend" | "catalog") {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"
        } else {
            ua
        }
    };
    let referer = if workload == "frontend" || rng.gen_bool(0.6) {
        format!("https://{host}/")
    } else {
        "-".to_string()
    };
    let client = fake::client_ip(rng);
    let req_time = fake::log_normal(rng, median, 0.6).min(8.0);
    let req_id = fake::hex(rng, 32);
    let a = Access {
        client: &client,
        method,
        path: &path,
        proto: if rng.gen_bool(0.7) {
            "HTTP/2.0"
        } else {
            "HTTP/1.1"
        },
        status,
        bytes,
        referer: &referer,
        ua,
        req_len: rng.gen_range(180..900),
        req_time,
        upstream,
        upstream_addr: &format!("{ep}:{port}"),
        upstream_status: status,
        req_id: &req_id,
        retry_addr: None,
    };
    out.push(Line::plain(t, ingress_access(&c, &a)));
}

/// Method, path, status, body size and median latency of a request to `workload`.
pub(super) fn request_for(
    rng: &mut Rng64,
    workload: &str,
) -> (&'static str, String, u16, u64, f64) {
    let ok = |rng: &mut Rng64, s: u16| {
        let r: f64 = rng.gen();
        if r < 0.004 {
            404
        } else if r < 0.006 {
            499
        } else {
            s
        }
    };
    match workload {
        "frontend" => {
            let r: f64 = rng.gen();
            if r < 0.35 {
                let asset = pick(
                    rng,
                    &[
                        "/_next/static/chunks/main-8f3c2a1b9d.js",
                        "/_next/static/css/4e1d7a2c.css",
                        "/_next/static/chunks/pages/product-2b7e9f.js",
                        "/favicon.ico",
                        "/images/logo.svg",
                    ],
                );
                let s = if rng.gen_bool(0.4) { 304 } else { 200 };
                let b = if s == 304 {
                    0
                } else {
                    rng.gen_range(800..180_000)
                };
                ("GET", asset.to_string(), s, b, 0.004)
            } else if r < 0.7 {
                let p = format!("/product/{}", fake::sku(rng));
                ("GET", p, ok(rng, 200), rng.gen_range(18_000..64_000), 0.09)
            } else if r < 0.85 {
                let cat = pick(
                    rng,
                    &["shoes", "outdoor", "electronics", "home", "kids", "sale"],
                );
                let p = format!("/category/{cat}?page={}", rng.gen_range(1..6));
                ("GET", p, ok(rng, 200), rng.gen_range(20_000..80_000), 0.12)
            } else {
                (
                    "GET",
                    "/".to_string(),
                    ok(rng, 200),
                    rng.gen_range(30_000..70_000),
                    0.08,
                )
            }
        }
        "catalog" => {
            if rng.gen_bool(0.7) {
                let p = format!("/api/products/{}", fake::sku(rng));
                ("GET", p, ok(rng, 200), rng.gen_range(900..4_000), 0.018)
            } else {
                let cat = pick(rng, &["shoes", "outdoor", "electronics", "home", "kids"]);
                let p = format!("/api/products?category={cat}&page={}", rng.gen_range(1..9));
                ("GET", p, ok(rng, 200), rng.gen_range(6_000..24_000), 0.035)
            }
        }
        "cart" => match rng.gen_range(0..10) {
            0..=5 => (
                "GET",
                "/api/cart".to_string(),
                ok(rng, 200),
                rng.gen_range(200..2_500),
                0.008,
            ),
            6..=8 => (
                "POST",
                "/api/cart/items".to_string(),
                201,
                rng.gen_range(150..400),
                0.015,
            ),
            _ => {
                let p = format!("/api/cart/items/{}", fake::sku(rng));
                ("DELETE", p, 204, 0, 0.01)
            }
        },
        "search" => {
            let q = pick(rng, &QUERIES);
            let p = if rng.gen_bool(0.3) {
                format!("/api/search/suggest?prefix={}", &q[..q.len().min(4)])
            } else {
                format!("/api/search?q={q}&page={}", rng.gen_range(1..4))
            };
            ("GET", p, ok(rng, 200), rng.gen_range(2_000..16_000), 0.035)
        }
        "recommendation" => {
            let p = format!("/api/recommendations?user={}&slot=pdp", fake::user_id(rng));
            ("GET", p, ok(rng, 200), rng.gen_range(1_000..3_000), 0.022)
        }
        "auth-service" => match rng.gen_range(0..10) {
            0..=3 => {
                let s = if rng.gen_bool(0.03) { 401 } else { 200 };
                (
                    "POST",
                    "/api/auth/login".to_string(),
                    s,
                    rng.gen_range(60..900),
                    0.09,
                )
            }
            4..=7 => (
                "POST",
                "/api/auth/token/refresh".to_string(),
                200,
                rng.gen_range(700..900),
                0.012,
            ),
            _ => (
                "GET",
                "/api/auth/.well-known/jwks.json".to_string(),
                200,
                1_187,
                0.002,
            ),
        },
        "checkout" => {
            if rng.gen_bool(0.5) {
                (
                    "POST",
                    "/api/checkout".to_string(),
                    ok(rng, 200),
                    rng.gen_range(300..900),
                    0.35,
                )
            } else {
                (
                    "GET",
                    "/api/checkout/shipping-quote".to_string(),
                    200,
                    rng.gen_range(200..500),
                    0.06,
                )
            }
        }
        "orders" => {
            if rng.gen_bool(0.6) {
                (
                    "GET",
                    "/api/orders?limit=10".to_string(),
                    ok(rng, 200),
                    rng.gen_range(900..9_000),
                    0.045,
                )
            } else {
                let p = format!("/api/orders/{}", fake::order_id(rng));
                ("GET", p, ok(rng, 200), rng.gen_range(800..3_000), 0.03)
            }
        }
        "payments-api" => ("POST", "/webhooks/stripe".to_string(), 200, 2, 0.03),
        _ => {
            let p = pick(
                rng,
                &[
                    "/grafana/api/ds/query",
                    "/grafana/api/dashboards/uid/k8s-pods",
                    "/grafana/api/live/ws",
                    "/grafana/public/build/runtime.4b2c8e.js",
                ],
            );
            ("GET", p.to_string(), 200, rng.gen_range(500..60_000), 0.06)
        }
    }
}

fn nginx_benign_error(rng: &mut Rng64, c: &Civil) -> String {
    let worker = rng.gen_range(30..40);
    let conn = rng.gen_range(1_000_000..9_000_000u64);
    let client = fake::client_ip(rng);
    if rng.gen_bool(0.7) {
        format!(
            "{} [warn] {worker}#{worker}: *{conn} a client request body is buffered to a temporary file /tmp/nginx/client-body/{:010}, client: {client}, server: shop.example.com, request: \"POST /api/orders/{}/attachments HTTP/2.0\", host: \"shop.example.com\"",
            c.nginx_error(),
            rng.gen_range(1..400),
            fake::order_id(rng)
        )
    } else {
        format!(
            "{} [error] {worker}#{worker}: *{conn} recv() failed (104: Connection reset by peer) while reading response header from upstream, client: {client}, server: shop.example.com, request: \"GET /product/{} HTTP/1.1\", upstream: \"http://10.244.{}.{}:3000/product/\", host: \"shop.example.com\"",
            c.nginx_error(),
            fake::sku(rng),
            rng.gen_range(1..6),
            rng.gen_range(2..250)
        )
    }
}

// ---------------------------------------------------------------- CoreDNS

/// In-cluster names the pods resolve.
const SVC_NAMES: [&str; 12] = [
    "cart.shop.svc.cluster.local.",
    "checkout.shop.svc.cluster.local.",
    "catalog.shop.svc.cluster.local.",
    "redis-cart.shop.svc.cluster.local.",
    "search.shop.svc.cluster.local.",
    "payments-api.payments.svc.cluster.local.",
    "postgres.payments.svc.cluster.local.",
    "auth-service.auth.svc.cluster.local.",
    "session-redis.auth.svc.cluster.local.",
    "kafka-0.kafka.data.svc.cluster.local.",
    "loki.monitoring.svc.cluster.local.",
    "prometheus-k8s.monitoring.svc.cluster.local.",
];

/// External names, resolved after a walk of the search path (ndots:5).
const EXT_NAMES: [&str; 5] = [
    "api.stripe.com.",
    "email.eu-west-1.amazonaws.com.",
    "risk-scoring.partner.example.net.",
    "sts.eu-west-1.amazonaws.com.",
    "hooks.slack.com.",
];

/// One CoreDNS query log line, or a search-path walk of four queries for an external name.
pub(super) fn coredns(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let client = ctx.topo.any_pod_ip(rng).to_string();
    let port = fake::port(rng);
    let qtype = if rng.gen_bool(0.6) { "A" } else { "AAAA" };
    let dns = |rng: &mut Rng64, name: &str, rcode: &str, flags: &str, secs: f64| {
        format!(
            "[INFO] {client}:{port} - {} \"{qtype} IN {name} udp {} false 512\" {rcode} {flags} {} {:.9}s",
            rng.gen_range(1..65_535u32),
            name.len() + 29,
            if rcode == "NOERROR" { rng.gen_range(90..180) } else { rng.gen_range(140..170) },
            secs
        )
    };
    let r: f64 = rng.gen();
    if r < 0.0015 {
        let name = pick(rng, &EXT_NAMES);
        let line = format!(
            "[ERROR] plugin/errors: 2 {name} {qtype}: read udp {}:{}->10.0.0.2:53: i/o timeout",
            ctx.pod.ip,
            fake::port(rng)
        );
        out.push(Line::plain(t, line));
    } else if r < 0.8 {
        let name = pick(rng, &SVC_NAMES);
        let secs = fake::log_normal(rng, 0.00012, 0.5);
        out.push(Line::plain(t, dns(rng, name, "NOERROR", "qr,aa,rd", secs)));
    } else {
        // ndots:5 walk: three NXDOMAINs from the search path, then the real answer.
        let name = pick(rng, &EXT_NAMES);
        let ns = pick(rng, &["shop", "payments", "auth", "data"]);
        let mut at = t;
        for suffix in [
            format!("{ns}.svc.cluster.local."),
            "svc.cluster.local.".into(),
            "cluster.local.".into(),
        ] {
            let q = format!("{name}{suffix}");
            let secs = fake::log_normal(rng, 0.0001, 0.4);
            out.push(Line::plain(at, dns(rng, &q, "NXDOMAIN", "qr,aa,rd", secs)));
            at += rng.gen_range(200_000..900_000);
        }
        let secs = fake::log_normal(rng, 0.004, 1.0);
        out.push(Line::plain(
            at + (secs * NS as f64) as u64,
            dns(rng, name, "NOERROR", "qr,rd,ra", secs),
        ));
    }
}

// ---------------------------------------------------------------- Istio sidecar (Envoy)

/// An Envoy access-log line of the Istio default format.
#[allow(clippy::too_many_arguments)]
pub(super) fn envoy_access(
    c: &Civil,
    method: &str,
    path: &str,
    status: u16,
    rx: u64,
    tx: u64,
    ms: u64,
    xff: &str,
    ua: &str,
    req_id: &str,
    authority: &str,
    upstream: &str,
    downstream: &str,
) -> String {
    let local_port = 33_000 + (tx * 7 + rx * 13 + ms) % 28_000;
    format!(
        "[{}] \"{method} {path} HTTP/1.1\" {status} - via_upstream - \"-\" {rx} {tx} {ms} {} \"{xff}\" \"{ua}\" \"{req_id}\" \"{authority}\" \"{upstream}\" inbound|8080|| 127.0.0.6:{local_port} {upstream} {downstream} - default",
        c.iso_ms(),
        ms.saturating_sub(1),
    )
}

/// One Istio sidecar line: an inbound Envoy access-log record, rarely an agent line.
pub(super) fn envoy(ctx: Ctx<'_>, app: App, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    if rng.gen_bool(0.002) {
        let line = format!(
            "{}\tinfo\txdsproxy\tconnected to upstream XDS server: istiod.istio-system.svc:15012",
            c.iso_us()
        );
        out.push(Line::plain(t, line));
        return;
    }
    let (authority, method, path, status, ms) = match app {
        App::Checkout => {
            if rng.gen_bool(0.6) {
                (
                    "checkout.shop.svc.cluster.local:8080",
                    "POST",
                    "/v1/checkout".to_string(),
                    200,
                    fake::log_normal(rng, 300.0, 0.4),
                )
            } else {
                (
                    "checkout.shop.svc.cluster.local:8080",
                    "GET",
                    "/healthz".to_string(),
                    200,
                    1.0,
                )
            }
        }
        App::FraudCheck => (
            "fraud-check.payments.svc.cluster.local:8080",
            "POST",
            "/v1/score".to_string(),
            200,
            fake::log_normal(rng, 60.0, 0.4),
        ),
        _ => {
            let (m, p) = pick(
                rng,
                &[
                    ("POST", "/v1/login"),
                    ("POST", "/v1/token/refresh"),
                    ("GET", "/.well-known/jwks.json"),
                    ("GET", "/v1/userinfo"),
                ],
            );
            (
                "auth-service.auth.svc.cluster.local:8080",
                m,
                p.to_string(),
                200,
                fake::log_normal(rng, 12.0, 0.6),
            )
        }
    };
    let xff = if app == App::Auth {
        fake::client_ip(rng)
    } else {
        "-".to_string()
    };
    let ua = if app == App::Auth {
        fake::user_agent(rng)
    } else {
        "Go-http-client/1.1"
    };
    let downstream = format!("{}:{}", ctx.topo.any_pod_ip(rng), fake::port(rng));
    let line = envoy_access(
        &c,
        method,
        &path,
        status,
        rng.gen_range(0..900),
        rng.gen_range(2..4_000),
        ms.round() as u64,
        &xff,
        ua,
        &fake::uuid(rng),
        authority,
        &format!("{}:8080", ctx.pod.ip),
        &downstream,
    );
    out.push(Line::plain(t, line));
}
