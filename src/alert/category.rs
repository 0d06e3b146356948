//! What kind of trouble a pod's anomalous lines show, and what to check first.
//!
//! Keyword rules over the lower-cased lines: each category counts the lines that match it,
//! the most frequent wins (ties go to the more specific category, in declaration order).
//! Lines that match nothing but carry tokens never seen in training are a *new kind of
//! error*.

use serde::Serialize;

use super::dependency::is_informational;
use super::policy::ObservedLine;

/// The kind of an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// Out of memory: OOMKilled, allocation failures.
    Oom,
    /// A crash: panic, stack trace, segfault, fatal exit, crash loop.
    Crash,
    /// TLS or certificate errors.
    Tls,
    /// Name resolution failures.
    Dns,
    /// A service it calls is unavailable (no instances, no healthy upstream, 502/503):
    /// this pod is likely a victim, the cause is downstream.
    Dependency,
    /// A dependency refuses or resets connections.
    ConnectionRefused,
    /// Timeouts and deadlines.
    Timeout,
    /// Authentication or authorisation failures.
    AuthFailure,
    /// Disks, volumes and file systems: full, read-only, failed mounts, I/O errors.
    Storage,
    /// Lines with tokens never seen in training.
    NewError,
    /// Unusual lines of no known kind.
    Unusual,
}

/// Keyword rules, most specific first (ties resolve to the earlier entry).
const RULES: &[(Category, &[&str])] = &[
    (
        Category::Oom,
        &[
            "out of memory",
            "oomkill",
            "oom-kill",
            "oom killer",
            "outofmemory",
            "cannot allocate memory",
            "memory limit",
            "killed process",
        ],
    ),
    (
        Category::Crash,
        &[
            "panic",
            "goroutine ",
            "segmentation fault",
            "sigsegv",
            "traceback (most recent call last)",
            "exception in thread",
            "core dumped",
            "fatal error",
            "fatal exception",
            "crashloopbackoff",
            "back-off restarting",
            "exited with",
        ],
    ),
    (
        Category::Tls,
        &[
            "x509",
            "certificate",
            "tls handshake",
            "ssl",
            "handshake failure",
        ],
    ),
    (
        Category::Dns,
        &[
            "no such host",
            "nxdomain",
            "servfail",
            "name resolution",
            "could not resolve",
            "dns",
        ],
    ),
    (
        Category::Dependency,
        &[
            "no instances available",
            "no healthy upstream",
            "upstream connect error",
            "no endpoints available",
            "service unavailable",
            "bad gateway",
            "502 bad",
            "503 service",
            "circuit breaker",
            "circuitbreaker",
        ],
    ),
    (
        Category::ConnectionRefused,
        &[
            "connection refused",
            "econnrefused",
            "connection reset",
            "no route to host",
            "could not connect",
            "failed to connect",
            " refused",
        ],
    ),
    (
        Category::Timeout,
        &[
            "timeout",
            "timed out",
            "deadline exceeded",
            "took too long",
            "slow request",
            "slow query",
        ],
    ),
    (
        Category::AuthFailure,
        &[
            "unauthorized",
            "unauthenticated",
            "forbidden",
            "authentication failed",
            "invalid credentials",
            "invalid token",
            "permission denied",
            "access denied",
            "login failed",
            "failed login",
            "token rejected",
            "signature verification failed",
            " 401 ",
            " 403 ",
        ],
    ),
    (
        Category::Storage,
        &[
            "no space left",
            "disk full",
            "read-only file system",
            "i/o error",
            "input/output error",
            "mount failed",
            "unable to mount",
            "failed to mount",
            "filesystem",
            "file system",
            "volume",
            "disk quota",
        ],
    ),
];

/// The category of a set of anomalous lines (see the module docs).
pub fn classify(lines: &[ObservedLine]) -> Category {
    let mut counts = [0usize; RULES.len()];
    for l in lines {
        count_rules(&l.line, &mut counts);
    }
    let best = counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)));
    match best {
        Some((i, _)) => RULES[i].0,
        // a never-seen word in an info line is news, not an error
        None if lines
            .iter()
            .any(|l| !l.tokens.is_empty() && !is_informational(&l.line)) =>
        {
            Category::NewError
        }
        None => Category::Unusual,
    }
}

/// Adds one to the count of every rule that `line` matches.
fn count_rules(line: &str, counts: &mut [usize; RULES.len()]) {
    let lower = line.to_lowercase();
    for (i, (_, words)) in RULES.iter().enumerate() {
        if words.iter().any(|w| lower.contains(w)) {
            counts[i] += 1;
        }
    }
}

impl Category {
    /// The category of a single line; `new_tokens` says whether it has tokens never seen
    /// in training (then an unmatched line is a new kind of error).
    pub fn of_line(line: &str, new_tokens: bool) -> Category {
        let mut counts = [0usize; RULES.len()];
        count_rules(line, &mut counts);
        match counts.iter().position(|&c| c > 0) {
            Some(i) => RULES[i].0,
            None if new_tokens && !is_informational(line) => Category::NewError,
            None => Category::Unusual,
        }
    }

    /// A short human name, e.g. `connection refused`.
    pub fn label(self) -> &'static str {
        match self {
            Category::Oom => "out of memory",
            Category::Crash => "crash / panic",
            Category::Tls => "TLS / certificate",
            Category::Dns => "DNS",
            Category::Dependency => "dependency unavailable",
            Category::ConnectionRefused => "connection refused",
            Category::Timeout => "timeout",
            Category::AuthFailure => "auth failure",
            Category::Storage => "disk / storage",
            Category::NewError => "new kind of error",
            Category::Unusual => "unusual lines",
        }
    }

    /// A stable identifier for labels and payloads, e.g. `connection_refused`.
    pub fn id(self) -> &'static str {
        match self {
            Category::Oom => "oom",
            Category::Crash => "crash",
            Category::Tls => "tls",
            Category::Dns => "dns",
            Category::Dependency => "dependency",
            Category::ConnectionRefused => "connection_refused",
            Category::Timeout => "timeout",
            Category::AuthFailure => "auth_failure",
            Category::Storage => "storage",
            Category::NewError => "new_error",
            Category::Unusual => "unusual",
        }
    }

    /// The first thing the on-call engineer should check.
    pub fn check_first(self) -> &'static str {
        match self {
            Category::Oom => "Compare memory use with the limit (`kubectl describe pod`: last state OOMKilled?) and look for heap growth or a traffic spike.",
            Category::Crash => "Read the previous container's logs (`kubectl logs --previous`) from the first stack frame, and check the restart count and the latest rollout.",
            Category::Tls => "Check certificate expiry and the CA bundle (`openssl s_client -connect host:443`) and whether cert-manager renewed it.",
            Category::Dns => "Check CoreDNS health and resolve the failing name from inside the pod (`nslookup`).",
            Category::Dependency => "The failing calls go to another service: find it in the lines and check its pods, endpoints and alerts first; this pod is likely a victim.",
            Category::ConnectionRefused => "Check the dependency it connects to: is its pod ready and does its Service have endpoints (`kubectl get endpoints`)?",
            Category::Timeout => "Check latency and saturation of the upstream it waits on (slow queries, CPU throttling, load).",
            Category::AuthFailure => "Check for expired or rotated credentials and secrets, and for many failures from one client (credential stuffing).",
            Category::Storage => "Check the volume: free space and inodes (`df -h`, `df -i`), the PVC and its storage class, and mount or I/O errors in the node's kernel log.",
            Category::NewError => "A kind of line never seen in training: compare with the latest deploy or config change.",
            Category::Unusual => "Open the logs of the window and compare with the hour before.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, new: bool) -> ObservedLine {
        ObservedLine {
            ts_ns: 0,
            score: 0.8,
            line: text.to_string(),
            tokens: if new { vec!["x".into()] } else { vec![] },
        }
    }

    #[test]
    fn each_category_has_a_recognisable_line() {
        let cases = [
            ("panic: runtime error: index out of range", Category::Crash),
            ("goroutine 1 [running]:", Category::Crash),
            (
                "Memory cgroup out of memory: Killed process 123",
                Category::Oom,
            ),
            (
                "dial tcp 10.0.0.5:5432: connect: connection refused",
                Category::ConnectionRefused,
            ),
            (
                "upstream timed out (110: Connection timed out)",
                Category::Timeout,
            ),
            (
                "authentication failed for user \"app\"",
                Category::AuthFailure,
            ),
            (
                "x509: certificate has expired or is not yet valid",
                Category::Tls,
            ),
            ("dial tcp: lookup db.svc: no such host", Category::Dns),
            (
                "Request processing failed; nested exception is java.lang.IllegalStateException: No instances available for ts-basic-service",
                Category::Dependency,
            ),
            ("upstream connect error or disconnect/reset before headers", Category::Dependency),
            ("GET /api/v1/orders 503 Service Unavailable", Category::Dependency),
            (
                "write /data/wal: no space left on device",
                Category::Storage,
            ),
            ("Lustre mount FAILED : bglio11", Category::Storage),
        ];
        for (text, want) in cases {
            assert_eq!(classify(&[line(text, false)]), want, "{text}");
            assert_eq!(Category::of_line(text, false), want, "{text}");
        }
        assert_eq!(Category::of_line("zorglub", true), Category::NewError);
        assert_eq!(Category::of_line("zorglub", false), Category::Unusual);
        assert_eq!(
            classify(&[line("zorglub frobnicated", true)]),
            Category::NewError
        );
        assert_eq!(
            classify(&[line("zorglub frobnicated", false)]),
            Category::Unusual
        );
    }

    /// Issue 16, finding 13: an info line with new tokens is not a `new_error`.
    #[test]
    fn finding_13_an_info_line_is_not_a_new_error() {
        let text = r#"ts=2023-11-14T23:00:01Z level=info component=discovery msg="loaded" config=serviceMonitor/shop/search/0"#;
        assert_eq!(Category::of_line(text, true), Category::Unusual);
        assert_eq!(classify(&[line(text, true)]), Category::Unusual);
        let err = "level=error msg=\"quux frobnication diverged\"";
        assert_eq!(Category::of_line(err, true), Category::NewError);
        assert_eq!(classify(&[line(err, true)]), Category::NewError);
    }

    #[test]
    fn the_most_frequent_kind_wins() {
        let lines = [
            line("connection refused", false),
            line("connection refused", false),
            line("request timed out", false),
        ];
        assert_eq!(classify(&lines), Category::ConnectionRefused);
    }
}
