//! Random variable parts of log lines: ids, addresses, durations, names.
//!
//! Every function takes the caller's RNG, so a stream's lines depend only on its own
//! seeded generator.

use rand::Rng;

/// Alphabet of Kubernetes generated name suffixes (`k8s.io/apimachinery` `rand.String`).
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A Kubernetes generated suffix of `n` characters (`x2l4q`).
pub(super) fn k8s_suffix<R: Rng>(rng: &mut R, n: usize) -> String {
    (0..n)
        .map(|_| K8S_ALPHABET[rng.gen_range(0..K8S_ALPHABET.len())] as char)
        .collect()
}

/// `n` lower-case hex digits.
pub(super) fn hex<R: Rng>(rng: &mut R, n: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..n).map(|_| HEX[rng.gen_range(0..16)] as char).collect()
}

/// A random (version 4) UUID.
pub(super) fn uuid<R: Rng>(rng: &mut R) -> String {
    let a = hex(rng, 8);
    let b = hex(rng, 4);
    let c = hex(rng, 3);
    let v = ["8", "9", "a", "b"][rng.gen_range(0..4)];
    let d = hex(rng, 3);
    let e = hex(rng, 12);
    format!("{a}-{b}-4{c}-{v}{d}-{e}")
}

/// One element of a non-empty constant list.
pub(super) fn pick<R: Rng, T: Copy>(rng: &mut R, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// One element of a non-empty list of `(weight, item)`, chosen by weight.
pub(super) fn weighted<R: Rng, T: Copy>(rng: &mut R, items: &[(u32, T)]) -> T {
    let total: u32 = items.iter().map(|(w, _)| *w).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (w, item) in items {
        if x < *w {
            return *item;
        }
        x -= *w;
    }
    items[items.len() - 1].1
}

/// A standard normal draw (Box-Muller).
pub(super) fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and shape, as request latencies are.
pub(super) fn log_normal<R: Rng>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// An exponential draw with mean 1.
pub(super) fn exp1<R: Rng>(rng: &mut R) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    -u.ln()
}

/// A public client address, as seen by the ingress controller.
pub(super) fn client_ip<R: Rng>(rng: &mut R) -> String {
    const FIRST: [u8; 16] = [
        31, 37, 46, 62, 77, 78, 81, 82, 85, 86, 88, 91, 93, 109, 176, 212,
    ];
    // A small pool per first octet makes clients recur, as real visitors do.
    format!(
        "{}.{}.{}.{}",
        pick(rng, &FIRST),
        rng.gen_range(0..=255u8),
        rng.gen_range(0..=12u8) * 19,
        rng.gen_range(1..=254u8)
    )
}

/// A pod address on node `node` (pod CIDR 10.244.<node>.0/24).
pub(super) fn pod_ip<R: Rng>(rng: &mut R, node: usize) -> String {
    format!("10.244.{}.{}", node, rng.gen_range(2..=250u8))
}

/// An ephemeral source port.
pub(super) fn port<R: Rng>(rng: &mut R) -> u16 {
    rng.gen_range(32_768..=60_999)
}

/// A user id as the shop's services print it.
pub(super) fn user_id<R: Rng>(rng: &mut R) -> String {
    format!("u-{}", rng.gen_range(100_000..1_000_000u32))
}

/// A product SKU.
pub(super) fn sku<R: Rng>(rng: &mut R) -> String {
    format!("sku-{}", rng.gen_range(10_000..60_000u32))
}

/// An order id.
pub(super) fn order_id<R: Rng>(rng: &mut R) -> String {
    format!("ORD-{}", rng.gen_range(4_000_000..5_000_000u32))
}

/// A money amount with two decimals.
pub(super) fn amount<R: Rng>(rng: &mut R) -> String {
    let cents = log_normal(rng, 6_500.0, 0.8).clamp(99.0, 250_000.0) as u64;
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A Go-style duration (`843.2µs`, `12.4ms`, `1.27s`) for a value in seconds.
pub(super) fn go_duration(secs: f64) -> String {
    if secs < 0.001 {
        format!("{:.1}µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1}ms", secs * 1e3)
    } else {
        format!("{:.2}s", secs)
    }
}

/// A customer e-mail address.
pub(super) fn email<R: Rng>(rng: &mut R) -> String {
    const FIRST: [&str; 16] = [
        "anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "lena",
        "marco", "nina", "oscar", "paula", "tom",
    ];
    const LAST: [&str; 12] = [
        "schmidt", "meyer", "rossi", "martin", "novak", "jensen", "garcia", "smith", "dubois",
        "kowalski", "berg", "silva",
    ];
    const DOMAINS: [&str; 6] = [
        "gmail.com",
        "outlook.com",
        "web.de",
        "yahoo.com",
        "proton.me",
        "gmx.net",
    ];
    let sep = if rng.gen_bool(0.5) { "." } else { "" };
    let digits = if rng.gen_bool(0.3) {
        rng.gen_range(1..99u8).to_string()
    } else {
        String::new()
    };
    format!(
        "{}{}{}{}@{}",
        pick(rng, &FIRST),
        sep,
        pick(rng, &LAST),
        digits,
        pick(rng, &DOMAINS)
    )
}

/// Browser, app and tool user agents with realistic frequencies.
pub(super) fn user_agent<R: Rng>(rng: &mut R) -> &'static str {
    weighted(
        rng,
        &[
            (30, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"),
            (18, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"),
            (14, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"),
            (12, "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36"),
            (9, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"),
            (8, "ShopApp/4.12.1 (iPhone; iOS 17.1.1; Scale/3.00)"),
            (6, "ShopApp/4.12.0 (Android 13; SM-S911B)"),
            (2, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            (1, "curl/8.4.0"),
        ],
    )
}
