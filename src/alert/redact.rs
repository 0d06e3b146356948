//! Masks secrets in log lines before they leave the process.
//!
//! One [`RegexSet`] pass tells which patterns occur (for an ordinary line: none, and the
//! line is returned as is); only those patterns then rewrite the line. Keys are kept and
//! values masked (`password=[REDACTED]`), so the line still says what went wrong.

use std::borrow::Cow;

use regex::{Captures, Regex, RegexSet};

use super::error::AlertError;

/// What a masked value becomes.
pub const MASK: &str = "[REDACTED]";

/// Key names whose values are secrets, in `key=value`, `key: value`, JSON and query forms.
const SECRET_KEYS: &str = r"(?:password|passwd|passphrase|pwd|secret|secret[_-]?access[_-]?key|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth|session(?:[_-]?id)?|cookie)";

/// How one pattern rewrites what it matched.
#[derive(Debug, Clone, Copy)]
enum Rewrite {
    /// Replace the whole match.
    Whole(&'static str),
    /// Keep capture group 1 (the key), mask the value in group 2, keeping its quotes.
    KeepKey,
}

/// Built-in patterns, applied in this order.
fn builtin() -> Vec<(String, Rewrite)> {
    vec![
        (
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)".into(),
            Rewrite::Whole("[REDACTED PRIVATE KEY]"),
        ),
        (
            r#"(?i)((?:proxy-)?authorization\\?["']?\s*[:=]\s*\\?["']?(?:(?:bearer|basic|digest|token|negotiate)\s+)?)([^\s"'\\,;}]+)"#.into(),
            Rewrite::KeepKey,
        ),
        (
            r"(?i)(\bbearer\s+)([A-Za-z0-9\-._~+/]+=*)".into(),
            Rewrite::KeepKey,
        ),
        (
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*".into(),
            Rewrite::Whole("[REDACTED JWT]"),
        ),
        (
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b".into(),
            Rewrite::Whole("[REDACTED AWS KEY]"),
        ),
        (
            r"(?i)(\b[a-z][a-z0-9+.-]*://)([^/\s:@]*:[^/\s@]+)@".into(),
            Rewrite::KeepKey,
        ),
        (
            format!(
                r#"(?i)((?:\b|_)(?:[a-z0-9]+[_.-])*{SECRET_KEYS}(?:[_.-]?(?:key|value))?\\?["']?\s*[=:]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|\\"(?:[^"\\]|\\[^"])*\\"|[^\s"'\\&,;}}\]]+)"#
            ),
            Rewrite::KeepKey,
        ),
    ]
}

/// Masks secrets in lines. Build once, use from any thread.
#[derive(Debug, Clone)]
pub struct Redactor {
    set: RegexSet,
    patterns: Vec<(Regex, Rewrite)>,
}

impl Redactor {
    /// The built-in patterns plus `extra` (each match of an extra pattern is masked whole).
    pub fn new(extra: &[String]) -> Result<Self, AlertError> {
        let mut sources = builtin();
        sources.extend(extra.iter().map(|p| (p.clone(), Rewrite::Whole(MASK))));
        let bad = |i: usize, e: regex::Error| {
            let key = match i.checked_sub(builtin().len()) {
                Some(j) => format!("redact.extra_patterns[{j}]"),
                None => format!("built-in redaction pattern {i}"),
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
