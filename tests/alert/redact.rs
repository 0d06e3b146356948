//! Redaction: secrets in many shapes never survive; ordinary lines are unchanged.

use std::time::Duration;

use loganomaly::alert::{AlertConfig, Alerter, ObservedLine, Redactor};
use loganomaly::serve::StageConfig;

use super::support::{at, obs, FakeServer, BASE_NS};

/// (line, the secret that must disappear, what must remain).
const SECRETS: &[(&str, &str, &str)] = &[
    ("Authorization: Bearer abc.DEF-123_xyz", "abc.DEF-123_xyz", "Authorization: Bearer"),
    ("curl -H \"Authorization: Basic dXNlcjpwYXNzd29yZA==\" http://x", "dXNlcjpwYXNzd29yZA", "Authorization"),
    ("{\"authorization\":\"Token tk_live_9f8e7d\"}", "tk_live_9f8e7d", "authorization"),
    ("sending request with bearer sk-proj-AbC123xyz", "sk-proj-AbC123xyz", "bearer"),
    ("login failed password=hunter2 user=bob", "hunter2", "user=bob"),
    ("db_password: 'correct horse'", "correct horse", "db_password"),
    ("{\"user\":\"bob\",\"password\":\"hunter2 with spaces\"}", "hunter2 with spaces", "\"user\":\"bob\""),
    ("{\\\"secret\\\":\\\"shh-123\\\"}", "shh-123", "secret"),
    ("GET /callback?code=1&access_token=abc123XYZ&state=2 HTTP/1.1", "abc123XYZ", "state=2"),
    ("POST /v1/items?api_key=AIzaSyA-1234567890abcdef", "AIzaSyA-1234567890abcdef", "/v1/items"),
    ("X-Api-Key: zzzSECRETzzz", "zzzSECRETzzz", "X-Api-Key"),
    ("client_secret=s3cr3t-value&grant_type=client_credentials", "s3cr3t-value", "grant_type"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "aws_secret_access_key"),
    ("AWS key AKIAIOSFODNN7EXAMPLE was used", "AKIAIOSFODNN7EXAMPLE", "was used"),
    ("connecting to postgres://app:s3cr3tpw@db.payments:5432/app", "s3cr3tpw", "db.payments:5432"),
    ("redis://:hunter2@redis-master:6379/0 unreachable", "hunter2", "redis-master"),
    ("jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjgNryP4J3jVmNHl0w5N", "jwt"),
    ("token rejected: eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhdXRoIn0.c2lnbmF0dXJl expired", "eyJpc3MiOiJhdXRoIn0", "token rejected"),
    ("-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA7\\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7", "[REDACTED PRIVATE KEY]"),
    ("key: -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEA", "b3BlbnNzaC1rZXktdjEA", "key:"),
    ("set-cookie: session=9f8e7d6c5b4a; Path=/", "9f8e7d6c5b4a", "Path=/"),
    ("token: ghp_16C7e42F292c6912E7710c838347Ae178B4a", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "token"),
    ("msg=\"retrying\" SECRET_KEY=django-insecure-42", "django-insecure-42", "retrying"),
    ("customer-12345678 placed an order", "customer-12345678", "placed an order"),
];

/// Lines that must pass unchanged (from the bundled sample and everyday logs).
const ORDINARY: &[&str] = &[
    "10.4.228.233 - - [14/Nov/2023:22:13:23 +0000] \"POST /api/auth/token/refresh HTTP/2.0\" 200 832 \"-\"",
    "{\"level\":\"error\",\"msg\":\"token rejected\",\"error\":\"token signature verification failed\"}",
    "2023-11-14 23:25:21.776 UTC [1] LOG:  background worker \"logical replication launcher\" (PID 68) exited",
    "goroutine 1 [running]:",
    "password authentication failed for user \"app\"",
    "level=info msg=\"tokens refreshed\" count=12 duration=3ms",
    "GET /healthz 200 0.4ms",
    "upstream timed out (110: Connection timed out) while reading response header from upstream",
    "Connecting to https://api.example.com/v1/orders",
];

#[test]
fn no_secret_survives_and_the_rest_of_the_line_stays() {
    let r = Redactor::new(&[r"\bcustomer-\d{6,}\b".to_string()]).unwrap();
    for (line, secret, kept) in SECRETS {
        let out = r.redact(line);
        assert!(
            !out.contains(secret),
            "{line:?} -> {out:?} still holds {secret:?}"
        );
        assert!(out.contains("[REDACTED"), "{line:?} -> {out:?}");
        assert!(out.contains(kept), "{line:?} -> {out:?} lost {kept:?}");
    }
}

#[test]
fn ordinary_lines_are_unchanged() {
    let r = Redactor::new(&[]).unwrap();
    for line in ORDINARY {
        assert_eq!(r.redact(line), *line);
    }
}

#[test]
fn in_the_sample_only_session_ids_are_masked() {
    let r = Redactor::new(&[]).unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dataset/sample-loki-logs.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (mut total, mut changed) = (0usize, Vec::new());
    for stream in v["data"]["result"].as_array().unwrap() {
        for pair in stream["values"].as_array().unwrap() {
            let line = pair[1].as_str().unwrap();
            total += 1;
            if r.redact(line) != line {
                changed.push(line.to_string());
            }
        }
    }
    assert!(total >= 100_000);
    // the sample's only credentials are session ids (a session id is a bearer credential);
    // any other change would be an over-eager pattern
    let other: Vec<&String> = changed
        .iter()
        .filter(|l| !l.contains("\"session_id\":\""))
        .collect();
    assert!(
        other.is_empty(),
        "{} changed, e.g. {:?}",
        other.len(),
        &other[..other.len().min(5)]
    );
    assert!(
        changed.len() < total / 100,
        "{} of {total} changed",
        changed.len()
    );
}

#[test]
fn cutting_marks_the_cut_and_keeps_char_boundaries() {
    let r = Redactor::new(&[]).unwrap();
    assert_eq!(r.redact_cut("ééééé", 3), "ééé…");
    assert_eq!(r.redact_cut("short", 10), "short");
}

/// Issue 16, finding 2: the secrets the issue found in Slack, the webhook JSON and
/// `/api/v1/pods`, each (line, secret).
const FINDING_2: &[(&str, &str)] = &[
    (
        "export PGPASSWORD=pgS3cretValue && psql -h db",
        "pgS3cretValue",
    ),
    ("DBPASSWORD=dbS3cretValue; connecting", "dbS3cretValue"),
    (
        "git clone https://ghp_AbCdEfGhIjKlMnOp0123456789qrstuvwxyz@github.com/o/r.git",
        "ghp_AbCdEfGhIjKlMnOp",
    ),
    (
        "git clone https://tok3nOnly_userinfo@git.example.com/o/r.git",
        "tok3nOnly_userinfo",
    ),
    ("login user=bob pass=passS3cretValue", "passS3cretValue"),
    (
        "POST body user%3Dbob%26password%3DencS3cretValue%26x",
        "encS3cretValue",
    ),
    ("exec mysql -u root -pmyS3cretValue shop", "myS3cretValue"),
    (
        "slack token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "AbCdEfGhIjKlMnOpQrStUvWx",
    ),
    (
        "slack user xoxp-1234567890-1234567890-abcdef0123456789",
        "abcdef0123456789",
    ),
    (
        "stripe: sk_live_4eC39HqLyjWDarjtT1zdp7dc declined",
        "4eC39HqLyjWDarjtT1zdp7dc",
    ),
    (
        "pushing with github_pat_11AAAAAAA0bbbbbbbbbbbb_cccccccccccccccccccccccccccccc",
        "github_pat_11AAAAAAA0",
    ),
    (
        "maps key AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI quota",
        "AIzaSyDdI0hCZtE6vySjMm",
    ),
    (
        "AccountName=shop;AccountKey=azS3cretValue0123+/==;EndpointSuffix=core.windows.net",
        "azS3cretValue0123",
    ),
];

fn secret_lines() -> Vec<ObservedLine> {
    FINDING_2
        .iter()
        .enumerate()
        .map(|(i, (line, _))| ObservedLine {
            ts_ns: BASE_NS + i as i64,
            score: 0.9,
            line: format!("panic: {line}"),
            tokens: vec![],
        })
        .collect()
}

/// Issue 16, finding 2: none of the issue's secrets reaches Slack, the webhook or
/// Alertmanager (one rule set in the alerter) or `/api/v1/pods` (the stage's redaction).
#[tokio::test]
async fn finding_2_no_secret_of_the_issue_leaves_by_any_notifier_or_the_pods_view() {
    let server = FakeServer::start(vec![]).await;
    let text = format!(
        "[message]\ntop_lines = 20\nmax_line_chars = 2000\n[slack]\nwebhook_url = {:?}\n[webhook]\nurl = \"{}/hook\"\n[alertmanager]\nurl = {:?}\n",
        server.slack_url(),
        server.base,
        server.base,
    );
    let cfg = AlertConfig::from_toml(&text, "test").unwrap();
    let mut alerter = Alerter::new(&cfg).unwrap();
    for m in 0..2 {
        let mut o = obs("shop", "ledger-0", m, 40.0);
        o.top_lines = secret_lines();
        alerter.observe(at(m), &[o]).await;
    }
    let got = server.wait_for(3, Duration::from_secs(10)).await;
    alerter.shutdown().await;
    assert!(got.len() >= 3, "{} requests", got.len());
    let all: String = got.iter().map(|r| r.body.to_string()).collect();
    assert!(all.contains("REDACTED"), "{all}");
    for (line, secret) in FINDING_2 {
        assert!(!all.contains(secret), "{line:?} went out: {all}");
    }
    // the pods view uses the same rules
    let stage = StageConfig::default();
    for (line, secret) in FINDING_2 {
        let shown = stage.redact(line);
        assert!(!shown.contains(secret), "{line:?} -> {shown:?}");
    }
}
