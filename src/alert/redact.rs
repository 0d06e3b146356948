//! Masks secrets in log lines before they leave the process.
//!
//! The built-in redaction is one table of named [`Rule`]s ([`RULES`]), shared by every path
//! a line leaves the process on: Slack, the webhook, Alertmanager, the explanation call and
//! `serve`'s `/api/v1/pods`. One [`RegexSet`] pass tells which rules occur (for an ordinary
//! line: none, and the line is returned as is); only those rules then rewrite the line.
//! Keys are kept and values masked (`password=[REDACTED]`), so the line still says what
//! went wrong.

use std::borrow::Cow;

use regex::{Captures, Regex, RegexSet};

use super::error::AlertError;

/// What a masked value becomes.
pub const MASK: &str = "[REDACTED]";

/// Key names whose values are secrets, in `key=value`, `key: value`, JSON and query forms.
/// A key may be glued to a prefix (`PGPASSWORD`, `DBPASSWORD`, `x_api_key`).
macro_rules! secret_keys {
    () => {
        r"(?:password|passwd|passphrase|pwd|secret|secret[_-]?access[_-]?key|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth|session(?:[_-]?id)?|cookie)"
    };
}

/// How one rule rewrites what it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// Replace the whole match with this text.
    Whole(&'static str),
    /// Keep capture group 1 (the key), mask the value in group 2, keeping its quotes.
    KeepKey,
}

/// One named redaction rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Short stable name, e.g. `github-token`.
    pub name: &'static str,
    /// The regular expression (Rust `regex` syntax).
    pub pattern: &'static str,
    /// What becomes of a match.
    pub rewrite: Rewrite,
}

/// The key/value rule's pattern: a secret key, possibly glued to a prefix, then its value.
const KEY_VALUE: &str = concat!(
    r#"(?i)((?:[a-z0-9]+[_.-])*[a-z0-9]*"#,
    secret_keys!(),
    r#"(?:[_.-]?(?:key|value))?\\?["']?\s*[=:]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|\\"(?:[^"\\]|\\[^"])*\\"|[^\s"'\\&,;}\]]+)"#
);

/// The built-in rules, applied in this order (earlier rules see the line first).
pub const RULES: &[Rule] = &[
    Rule {
        name: "private-key-block",
        pattern: r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
        rewrite: Rewrite::Whole("[REDACTED PRIVATE KEY]"),
    },
    Rule {
        name: "authorization-header",
        pattern: r#"(?i)((?:proxy-)?authorization\\?["']?\s*[:=]\s*\\?["']?(?:(?:bearer|basic|digest|token|negotiate)\s+)?)([^\s"'\\,;}]+)"#,
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "bearer-token",
        pattern: r"(?i)(\bbearer\s+)([A-Za-z0-9\-._~+/]{8,}=*)",
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "jwt",
        pattern: r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        rewrite: Rewrite::Whole("[REDACTED JWT]"),
    },
    Rule {
        name: "aws-access-key-id",
        pattern: r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
        rewrite: Rewrite::Whole("[REDACTED AWS KEY]"),
    },
    Rule {
        name: "github-token",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})",
        rewrite: Rewrite::Whole("[REDACTED GITHUB TOKEN]"),
    },
    Rule {
        name: "gitlab-token",
        pattern: r"\bglpat-[A-Za-z0-9_-]{20,}",
        rewrite: Rewrite::Whole("[REDACTED GITLAB TOKEN]"),
    },
    Rule {
        name: "slack-token",
        pattern: r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        rewrite: Rewrite::Whole("[REDACTED SLACK TOKEN]"),
    },
    Rule {
        name: "slack-webhook-url",
        pattern: r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
        rewrite: Rewrite::Whole("https://hooks.slack.com/[REDACTED]"),
    },
    Rule {
        name: "stripe-secret-key",
        pattern: r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}",
        rewrite: Rewrite::Whole("[REDACTED STRIPE KEY]"),
    },
    Rule {
        name: "gcp-api-key",
        pattern: r"\bAIza[0-9A-Za-z_-]{30,}",
        rewrite: Rewrite::Whole("[REDACTED GCP KEY]"),
    },
    Rule {
        name: "npm-token",
        pattern: r"\bnpm_[A-Za-z0-9]{36}\b",
        rewrite: Rewrite::Whole("[REDACTED NPM TOKEN]"),
    },
    Rule {
        name: "sendgrid-key",
        pattern: r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
        rewrite: Rewrite::Whole("[REDACTED SENDGRID KEY]"),
    },
    Rule {
        name: "azure-storage-key",
        pattern: r#"(?i)(\b(?:AccountKey|SharedAccessKey)\s*=\s*)([^;\s'"]+)"#,
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "azure-sas-signature",
        pattern: r#"([?&]sig=)([^&\s'"]+)"#,
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "url-userinfo",
        pattern: r"(?i)(\b[a-z][a-z0-9+.-]*://)([^/\s:@]*:[^/\s@]+)@",
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "url-token-userinfo",
        pattern: r"(?i)(\b[a-z][a-z0-9+.-]*://)([A-Za-z0-9_~.%+-]*[0-9_][A-Za-z0-9_~.%+-]*)@",
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "mysql-password-flag",
        pattern: r#"(\b(?:mysql|mysqldump|mysqladmin|mariadb)\b(?:\s+[^\s|;&]+)*?\s-p)([^\s'"]+)"#,
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "url-encoded-key-value",
        pattern: r"(?i)((?:[a-z0-9]+[_.-])*[a-z0-9]*(?:password|passwd|pwd|pass|secret|token|api[_-]?key|apikey)%3D)((?:[^\s&%]|%[013-9A-Fa-f][0-9A-Fa-f]|%2[0-57-9A-Fa-f])+)",
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "pass-key-value",
        pattern: r#"(?i)((?:^|[\s,;&?{"'(])(?:[a-z0-9]+[_.-])?pass(?:=|\\?["']\s*:\s*\\?))("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"'\\&,;}\]]+)"#,
        rewrite: Rewrite::KeepKey,
    },
    Rule {
        name: "key-value",
        pattern: KEY_VALUE,
        rewrite: Rewrite::KeepKey,
    },
];

/// Masks secrets in lines. Build once, use from any thread.
#[derive(Debug, Clone)]
pub struct Redactor {
    set: RegexSet,
    patterns: Vec<(Regex, Rewrite)>,
}

impl Redactor {
    /// The built-in [`RULES`] plus `extra` (each match of an extra pattern is masked whole).
    pub fn new(extra: &[String]) -> Result<Self, AlertError> {
        Self::with_rules(RULES, extra)
    }

    /// `rules` plus `extra` (each match of an extra pattern is masked whole).
    fn with_rules(rules: &[Rule], extra: &[String]) -> Result<Self, AlertError> {
        let mut sources: Vec<(String, Rewrite)> = rules
            .iter()
            .map(|r| (r.pattern.to_string(), r.rewrite))
            .collect();
        sources.extend(extra.iter().map(|p| (p.clone(), Rewrite::Whole(MASK))));
        let bad = |i: usize, e: regex::Error| {
            let key = match i.checked_sub(rules.len()) {
                Some(j) => format!("redact.extra_patterns[{j}]"),
                None => format!("built-in redaction rule {}", rules[i].name),
            };
            AlertError::config(&key, e.to_string())
        };
        let mut patterns = Vec::with_capacity(sources.len());
        for (i, (src, rewrite)) in sources.iter().enumerate() {
            patterns.push((Regex::new(src).map_err(|e| bad(i, e))?, *rewrite));
        }
        let set = RegexSet::new(sources.iter().map(|(s, _)| s)).map_err(|e| bad(0, e))?;
        Ok(Self { set, patterns })
    }

    /// The line with every secret masked; borrowed unchanged when there is none.
    pub fn redact<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let hits = self.set.matches(line);
        if !hits.matched_any() {
            return Cow::Borrowed(line);
        }
        let mut out = line.to_string();
        for i in hits.iter() {
            let (re, rewrite) = &self.patterns[i];
            let next = match rewrite {
                Rewrite::Whole(mask) => re.replace_all(&out, *mask),
                Rewrite::KeepKey => re.replace_all(&out, |c: &Captures| {
                    let value = c.get(2).map_or("", |m| m.as_str());
                    let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'');
                    match quote {
                        Some(q) => format!("{}{q}{MASK}{q}", &c[1]),
                        None => format!("{}{MASK}", &c[1]),
                    }
                }),
            };
            if let Cow::Owned(s) = next {
                out = s;
            }
        }
        Cow::Owned(out)
    }

    /// Redacts, then cuts to `max_chars` characters (marking the cut with `…`).
    pub fn redact_cut(&self, line: &str, max_chars: usize) -> String {
        let clean = self.redact(line);
        match clean.char_indices().nth(max_chars) {
            Some((cut, _)) => format!("{}…", &clean[..cut]),
            None => clean.into_owned(),
        }
    }
}

/// The built-in redactor (no extra patterns), built once.
pub fn builtin_redactor() -> Option<&'static Redactor> {
    static REDACTOR: std::sync::OnceLock<Option<Redactor>> = std::sync::OnceLock::new();
    REDACTOR.get_or_init(|| Redactor::new(&[]).ok()).as_ref()
}

/// A URL safe to log: scheme and host only, e.g. `https://hooks.slack.com/[redacted]`.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}/[redacted]",
            u.scheme(),
            u.host_str().unwrap_or("?")
        ),
        Err(_) => "[redacted URL]".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per rule: lines it must mask (line, the secret that must disappear), and lines no
    /// rule may change.
    type Examples = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
    );

    const EXAMPLES: &[Examples] = &[
        (
            "private-key-block",
            &[
                ("-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA7\\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7"),
                ("-----BEGIN EC PRIVATE KEY----- MHcCAQEEIBkg", "MHcCAQEEIBkg"),
            ],
            &["-----BEGIN CERTIFICATE----- MIIDdzCCAl+gAwIBAgIE", "loaded private key from /etc/tls/key.pem"],
        ),
        (
            "authorization-header",
            &[
                ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
                ("{\"authorization\":\"Token tk_live_9f8e7d\"}", "tk_live_9f8e7d"),
                ("proxy-authorization=Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1", "YIIGhgYJKoZIhvcSAQICAQBuggZ1"),
            ],
            &["authorization failed for user bob", "GET /authorize?client_id=web 302"],
        ),
        (
            "bearer-token",
            &[("sending request with bearer sk-proj-AbC123xyz", "sk-proj-AbC123xyz")],
            &["the bearer of bad news", "bearer token missing"],
        ),
        (
            "jwt",
            &[("token rejected: eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhdXRoIn0.c2lnbmF0dXJl expired", "eyJpc3MiOiJhdXRoIn0")],
            &["eyJ is how base64 JSON starts", "version 1.2.3 of eyJhbGci"],
        ),
        (
            "aws-access-key-id",
            &[
                ("AWS key AKIAIOSFODNN7EXAMPLE was used", "AKIAIOSFODNN7EXAMPLE"),
                ("assumed ASIAY34FZKBOKMUTVV7A for the session", "ASIAY34FZKBOKMUTVV7A"),
            ],
            &["AKIA is the prefix of AWS access keys", "requestId=AKIAIOSFODNN7EXAMPLEXX"],
        ),
        (
            "github-token",
            &[
                ("cloning with ghp_16C7e42F292c6912E7710c838347Ae178B4a", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
                ("GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS", "github_pat_11ABCDEFG0123456789"),
                ("actions: ghs_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345", "ghs_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"),
            ],
            &["ghp_ is the prefix of a personal access token", "github_pat_ rotation due"],
        ),
        (
            "gitlab-token",
            &[("push with glpat-xYz0123456789abcdefAB", "glpat-xYz0123456789abcdefAB")],
            &["glpat- tokens expire in 30 days"],
        ),
        (
            "slack-token",
            &[
                ("slack client xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-123456789012"),
                ("user token xoxp-1234-5678-9012-abcdef0123", "xoxp-1234-5678-9012-abcdef0123"),
            ],
            &["xoxb- tokens are bot tokens"],
        ),
        (
            "slack-webhook-url",
            &[("posting to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "T000/B000/XXXX")],
            &["Slack answered 404 from hooks.slack.com"],
        ),
        (
            "stripe-secret-key",
            &[
                ("charge failed with key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
                ("restricted rk_test_51HabcdEFGhij0123", "rk_test_51HabcdEFGhij0123"),
            ],
            &["pk_live_4eC39HqLyjWDarjtT1zdp7dc is publishable", "ask_live_questions"],
        ),
        (
            "gcp-api-key",
            &[("maps call key AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI")],
            &["AIza keys are restricted by referrer"],
        ),
        (
            "npm-token",
            &[("npm publish with npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_abcdefghijklmnopqrstuvwxyz0123456789")],
            &["npm_config_cache=/tmp/npm"],
        ),
        (
            "sendgrid-key",
            &[("mail via SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")],
            &["SG.1 security group attached"],
        ),
        (
            "azure-storage-key",
            &[
                ("DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"),
                ("Endpoint=sb://bus.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=abcDEF123+/xyz=", "abcDEF123+/xyz="),
            ],
            &["AccountName=shop;EndpointSuffix=core.windows.net"],
        ),
        (
            "azure-sas-signature",
            &[("GET https://shop.blob.core.windows.net/c/b?sv=2022-11-02&sig=AbC%2Bdef123%3D&se=2030", "AbC%2Bdef123%3D")],
            &["signal=TERM received", "GET /config?signature=off"],
        ),
        (
            "url-userinfo",
            &[
                ("connecting to postgres://app:s3cr3tpw@db.payments:5432/app", "s3cr3tpw"),
                ("redis://:hunter2@redis-master:6379/0 unreachable", "hunter2"),
            ],
            &["Connecting to https://api.example.com:8443/v1/orders", "mail bob@example.com: sent"],
        ),
        (
            "url-token-userinfo",
            &[
                ("git fetch https://ghp_x@github.com/shop/api.git failed", "ghp_x@"),
                ("pulling https://x0a1b2c3d4e5@gitlab.example.com/a.git", "x0a1b2c3d4e5"),
            ],
            &["cloning ssh://git@github.com/shop/api.git", "see https://example.com/@team/page"],
        ),
        (
            "mysql-password-flag",
            &[
                ("running mysql -u root -phunter2 shop", "hunter2"),
                ("mysqldump -h db -pS3cr3t! --all-databases", "S3cr3t!"),
            ],
            &["mysql -h db -P 3306 -u root -p", "mysqld: ready for connections -port"],
        ),
        (
            "url-encoded-key-value",
            &[
                ("body=user%3Dbob%26password%3Dhunter%212%26next", "hunter%212"),
                ("q=token%3dabc123&x=1", "abc123"),
            ],
            &["q=password%20reset%20link", "path=/reset%3Fpassword"],
        ),
        (
            "pass-key-value",
            &[
                ("login user=bob pass=hunter2", "hunter2"),
                ("{\"user\":\"bob\",\"pass\":\"hunter2\"}", "hunter2"),
                ("redis_pass=xyzzy connecting", "xyzzy"),
            ],
            &["bypass=true cache", "tests pass: 12 of 12", "compass=north"],
        ),
        (
            "key-value",
            &[
                ("login failed password=hunter2 user=bob", "hunter2"),
                ("export PGPASSWORD=s3cr3t psql -h db", "s3cr3t"),
                ("DBPASSWORD=p4ss; starting", "p4ss"),
                ("db_password: 'correct horse'", "correct horse"),
                ("{\"user\":\"bob\",\"password\":\"hunter2 with spaces\"}", "hunter2 with spaces"),
                ("{\\\"secret\\\":\\\"shh-123\\\"}", "shh-123"),
                ("GET /callback?code=1&access_token=abc123XYZ&state=2 HTTP/1.1", "abc123XYZ"),
                ("X-Api-Key: zzzSECRETzzz", "zzzSECRETzzz"),
                ("csrftoken=Zx81kQ9; Path=/", "Zx81kQ9"),
                ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
            ],
            &[
                "password authentication failed for user \"app\"",
                "level=info msg=\"tokens refreshed\" count=12 duration=3ms",
                "author: bob, keyword=search",
                "max_tokens=512 session_count=3",
            ],
        ),
    ];

    #[test]
    fn every_rule_has_examples_and_every_example_names_a_rule() {
        for rule in RULES {
            assert!(
                EXAMPLES.iter().any(|(name, pos, neg)| *name == rule.name
                    && !pos.is_empty()
                    && !neg.is_empty()),
                "rule {} has no positive and negative examples",
                rule.name
            );
        }
        for (name, _, _) in EXAMPLES {
            assert!(RULES.iter().any(|r| r.name == *name), "no rule {name}");
        }
    }

    /// Finding 2 (issue 16): each named rule masks its positive examples on its own, and the
    /// whole set masks them too.
    #[test]
    fn finding_2_each_named_rule_masks_its_secrets() {
        let all = Redactor::new(&[]).unwrap();
        let mut wrong = Vec::new();
        for (name, positive, _) in EXAMPLES {
            let rule = RULES.iter().find(|r| r.name == *name).unwrap();
            let alone = Redactor::with_rules(std::slice::from_ref(rule), &[]).unwrap();
            for (line, secret) in *positive {
                for (who, r) in [("alone", &alone), ("in the set", &all)] {
                    let out = r.redact(line);
                    if out.contains(secret) || !out.contains("REDACTED") {
                        wrong.push(format!("{name} ({who}): {line:?} -> {out:?}"));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// Finding 2 (issue 16): no rule changes the negative examples.
    #[test]
    fn finding_2_no_rule_touches_ordinary_lines() {
        let all = Redactor::new(&[]).unwrap();
        let mut wrong = Vec::new();
        for (name, _, negative) in EXAMPLES {
            for line in *negative {
                let out = all.redact(line);
                if out != *line {
                    wrong.push(format!("{name}: {line:?} -> {out:?}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn keys_stay_and_quotes_are_kept() {
        let r = Redactor::new(&[]).unwrap();
        assert_eq!(
            r.redact("PGPASSWORD=s3cr3t psql"),
            "PGPASSWORD=[REDACTED] psql"
        );
        assert_eq!(r.redact("{\"pass\":\"x\"}"), "{\"pass\":\"[REDACTED]\"}");
        assert_eq!(
            r.redact("mysql -u root -phunter2 shop"),
            "mysql -u root -p[REDACTED] shop"
        );
    }

    #[test]
    fn a_bad_extra_pattern_is_named() {
        let e = Redactor::new(&["(".to_string()]).unwrap_err().to_string();
        assert!(e.contains("redact.extra_patterns[0]"), "{e}");
    }
}
