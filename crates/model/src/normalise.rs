//! Normaliser: one log line in, masked lower-case tokens out.
//!
//! Variable parts (timestamps, IPs, UUIDs, hex ids, numbers, durations, pod-name hashes,
//! e-mail addresses, URL query values) become placeholder tokens such as `<num>` so that
//! lines of the same kind share their tokens. JSON and logfmt lines contribute their level,
//! message and error fields rather than their braces and keys.
//!
//! This is the hot path: one pass over the bytes with a hand-written scanner, writing into
//! a reusable [`Tokens`] buffer, so a line costs no allocation once the buffer is warm.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// At most this many tokens are kept from one line; the rest add nothing but cost.
pub const MAX_TOKENS: usize = 256;

/// Severity of a line, from its level field or its leading level word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    /// No level could be found.
    #[default]
    Unknown,
    /// Trace or debug.
    Debug,
    /// Info, notice, log.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
    /// Fatal, panic, critical, emergency.
    Fatal,
}

impl Level {
    /// A number for the feature vector: 0 for unknown/debug/info, up to 3 for fatal.
    pub fn severity(self) -> f32 {
        match self {
            Level::Unknown | Level::Debug | Level::Info => 0.0,
            Level::Warn => 1.0,
            Level::Error => 2.0,
            Level::Fatal => 3.0,
        }
    }

    /// Reads a level word (`WARN`, `err`, `Critical`, ...); `None` for other words.
    fn from_word(word: &str) -> Option<Level> {
        let mut buf = [0u8; 12];
        let w = word.as_bytes();
        if w.len() > buf.len() || w.len() < 3 {
            return None;
        }
        buf[..w.len()].copy_from_slice(w);
        buf[..w.len()].make_ascii_lowercase();
        Some(match &buf[..w.len()] {
            b"trace" | b"debug" | b"dbg" | b"verbose" => Level::Debug,
            b"info" | b"information" | b"notice" | b"log" => Level::Info,
            b"warn" | b"warning" => Level::Warn,
            b"error" | b"err" | b"eror" | b"severe" => Level::Error,
            b"fatal" | b"panic" | b"critical" | b"crit" | b"emerg" | b"alert" => Level::Fatal,
            _ => return None,
        })
    }

    /// pino/bunyan numeric levels.
    fn from_number(n: f64) -> Level {
        match n as i64 {
            i64::MIN..=29 => Level::Debug,
            30..=39 => Level::Info,
            40..=49 => Level::Warn,
            50..=59 => Level::Error,
            _ => Level::Fatal,
        }
    }

    /// The token a level contributes, so the level also shows in the TF-IDF vector.
    fn token(self) -> Option<&'static str> {
        match self {
            Level::Unknown => None,
            Level::Debug => Some("debug"),
            Level::Info => Some("info"),
            Level::Warn => Some("warn"),
            Level::Error => Some("error"),
            Level::Fatal => Some("fatal"),
        }
    }
}

/// The tokens of one line, kept in one reusable string to avoid per-token allocation.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    text: String,
    ends: Vec<u32>,
    /// The line's severity.
    pub level: Level,
    /// Set after an `HTTP/1.1` or a `status=` key: the next number is a status code.
    status_next: bool,
}

impl Tokens {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the line gave no token at all.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The token text (tokens back to back) and the end offset of each token in it: the
    /// whole token sequence in two slices, for hashing it at once (the score cache's key).
    pub fn parts(&self) -> (&str, &[u32]) {
        (&self.text, &self.ends)
    }

    /// The tokens in line order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let tok = &self.text[start..end as usize];
            start = end as usize;
            tok
        })
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.level = Level::Unknown;
        self.status_next = false;
    }

    fn last(&self) -> Option<&str> {
        let end = *self.ends.last()? as usize;
        let start = self
            .ends
            .len()
            .checked_sub(2)
            .map_or(0, |i| self.ends[i] as usize);
        self.text.get(start..end)
    }

    fn full(&self) -> bool {
        self.ends.len() >= MAX_TOKENS
    }

    fn push(&mut self, tok: &str) {
        if !self.full() {
            self.text.push_str(tok);
            self.ends.push(self.text.len() as u32);
        }
    }

    fn push_lower(&mut self, tok: &str) {
        if !self.full() {
            let start = self.text.len();
            self.text.push_str(tok);
            self.text[start..].make_ascii_lowercase();
            self.ends.push(self.text.len() as u32);
        }
    }

    fn raise_level(&mut self, level: Level) {
        self.level = self.level.max(level);
    }
}

impl fmt::Display for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
        }
        Ok(())
    }
}

/// Normalises `line` into `out` (which is cleared first).
pub fn normalise(line: &str, out: &mut Tokens) {
    out.clear();
    let trimmed = line.trim();
    let structured = (looks_like_json(trimmed) && structured_json(trimmed, out, 0))
        || (looks_like_logfmt(trimmed) && logfmt(trimmed, out));
    if !structured {
        out.clear();
        scan(trimmed, out);
        detect_leading_level(out);
    }
}

fn looks_like_json(s: &str) -> bool {
    s.starts_with('{') && s.ends_with('}')
}

/// `key=value` at the start and a level or message key somewhere.
fn looks_like_logfmt(s: &str) -> bool {
    let first = s.split(' ').next().unwrap_or("");
    let Some(eq) = first.find('=') else {
        return false;
    };
    eq > 0
        && first[..eq]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && [" level=", " lvl=", " msg=", " message="]
            .iter()
            .any(|k| s.contains(k) || s.starts_with(&k[1..]))
}

/// For plain lines: the first level word among the first few words. The level field
/// comes before the message, whose words ("parity error corrected") are prose. Masked
/// values do not count: a header of timestamps, node and host ids (`1117838570
/// 2005.06.03 R02-M1-N0-C:J12-U11 ... RAS KERNEL INFO`) can put the level word far from
/// the start of the line, but it is still the first word of the line's own text.
fn detect_leading_level(out: &mut Tokens) {
    let level = out
        .iter()
        .filter(|t| !is_placeholder(t))
        .take(8)
        // words that are also ordinary English in free text are levels only in fields
        .filter(|t| !matches!(*t, "trace" | "alert" | "log" | "verbose"))
        .find_map(Level::from_word)
        .unwrap_or(Level::Unknown);
    out.raise_level(level);
}

// ---------------------------------------------------------------------------------------
// JSON and logfmt
// ---------------------------------------------------------------------------------------

/// What a structured line contributes: level, message, error-ish fields, status code.
#[derive(Default)]
struct Fields<'a> {
    level: Option<Level>,
    message: Option<Cow<'a, str>>,
    extra: [Option<Cow<'a, str>>; 3],
    status: Option<u16>,
}

/// Which role a key plays.
enum Role {
    Level,
    Message,
    Extra(usize),
    Status,
    Other,
}

fn role(key: &str) -> Role {
    let mut buf = [0u8; 16];
    let k = key.as_bytes();
    if k.len() > buf.len() {
        return Role::Other;
    }
    buf[..k.len()].copy_from_slice(k);
    buf[..k.len()].make_ascii_lowercase();
    match &buf[..k.len()] {
        b"level" | b"lvl" | b"severity" | b"loglevel" | b"log.level" | b"levelname" | b"type" => {
            Role::Level
        }
        b"msg" | b"message" | b"log" | b"text" => Role::Message,
        b"error" | b"err" | b"error.message" => Role::Extra(0),
        b"exception" | b"stacktrace" | b"stack" => Role::Extra(1),
        b"reason" => Role::Extra(2),
        b"status" | b"status_code" | b"statuscode" | b"code" | b"http.status_code" => Role::Status,
        _ => Role::Other,
    }
}

/// Parses a JSON log object; false when it is not one (then the line is scanned as text).
fn structured_json(s: &str, out: &mut Tokens, depth: u8) -> bool {
    let mut de = serde_json::Deserializer::from_str(s);
    let Ok(fields) = de.deserialize_map(FieldsVisitor) else {
        return false;
    };
    if fields.message.is_none() && fields.extra.iter().all(Option::is_none) {
        return false;
    }
    emit_fields(&fields, out, depth);
    true
}

fn emit_fields(fields: &Fields<'_>, out: &mut Tokens, depth: u8) {
    if let Some(level) = fields.level {
        out.raise_level(level);
        if let Some(t) = level.token() {
            out.push(t);
        }
    }
    if let Some(code) = fields.status {
        push_status(code, out);
    }
    if let Some(msg) = &fields.message {
        let msg = msg.trim();
        // Container runtimes wrap the app's own line: `{"log":"{\"level\":...}\n"}`.
        let nested = depth == 0
            && ((looks_like_json(msg) && structured_json(msg, out, 1))
                || (looks_like_logfmt(msg) && logfmt(msg, out)));
        if !nested {
            scan(msg, out);
            if fields.level.is_none() {
                detect_leading_level(out);
            }
        }
    }
    for extra in fields.extra.iter().flatten() {
        scan(extra, out);
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON log object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match role(&key) {
                Role::Level => {
                    let level = match map.next_value::<Scalar<'de>>()? {
                        Scalar::Str(s) => Level::from_word(s.trim()),
                        Scalar::Num(n) => Some(Level::from_number(n)),
                        Scalar::Other => None,
                    };
                    fields.level = fields.level.max(level);
                }
                Role::Message => set_text(&mut fields.message, map.next_value()?),
                Role::Extra(i) => set_text(&mut fields.extra[i], map.next_value()?),
                Role::Status => {
                    fields.status = match map.next_value::<Scalar<'de>>()? {
                        Scalar::Num(n) if (100.0..600.0).contains(&n) => Some(n as u16),
                        Scalar::Str(s) => s.parse().ok(),
                        _ => None,
                    }
                }
                Role::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

fn set_text<'a>(slot: &mut Option<Cow<'a, str>>, value: Scalar<'a>) {
    if slot.is_none() {
        if let Scalar::Str(s) = value {
            *slot = Some(s);
        }
    }
}

/// A JSON value reduced to what a log field needs.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Other,
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// Parses logfmt; false when it has no message or level (then it is scanned as text).
fn logfmt(s: &str, out: &mut Tokens) -> bool {
    let mut fields = Fields::default();
    let mut bare: Vec<&str> = Vec::new();
    let mut rest = s;
    while let Some((key, value, tail)) = next_pair(rest) {
        rest = tail;
        match (key, role(key)) {
            ("", _) => bare.push(value),
            (_, Role::Level) => fields.level = Level::from_word(value),
            (_, Role::Message) => fields.message = Some(unescape(value)),
            (_, Role::Extra(i)) => fields.extra[i] = Some(unescape(value)),
            (_, Role::Status) => fields.status = value.parse().ok(),
            (_, Role::Other) => {}
        }
    }
    if fields.message.is_none() && fields.level.is_none() {
        return false;
    }
    emit_fields(&fields, out, 1);
    for word in bare {
        scan(word, out);
    }
    true
}

/// The next `key=value` (or bare word, with an empty key) and the rest of the input.
fn next_pair(s: &str) -> Option<(&str, &str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let word_end = s.find([' ', '=']).unwrap_or(s.len());
    if s.as_bytes().get(word_end) != Some(&b'=') {
        return Some(("", &s[..word_end], &s[word_end..]));
    }
    let key = &s[..word_end];
    let after = &s[word_end + 1..];
    if let Some(quoted) = after.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return Some((key, &quoted[..i], &quoted[i + 1..])),
                _ => escaped = false,
            }
        }
        return Some((key, quoted, ""));
    }
    let end = after.find(' ').unwrap_or(after.len());
    Some((key, &after[..end], &after[end..]))
}

fn unescape(v: &str) -> Cow<'_, str> {
    if v.contains('\\') {
        Cow::Owned(v.replace("\\\"", "\"").replace("\\\\", "\\"))
    } else {
        Cow::Borrowed(v)
    }
}

// ---------------------------------------------------------------------------------------
// The scanner
// ---------------------------------------------------------------------------------------

/// Bytes that always end a word. `. : / - _ @ + % ~` stay inside words, because they
/// hold IPs, timestamps, paths, durations and e-mail addresses together.
fn is_separator(b: u8) -> bool {
    SEPARATORS[usize::from(b)]
}

/// [`is_separator`] as a table: the scanner asks it for every byte.
static SEPARATORS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = separator_byte(b as u8);
        b += 1;
    }
    table
};

const fn separator_byte(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | b'"'
            | b'\''
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'<'
            | b'>'
            | b','
            | b';'
            | b'='
            | b'|'
            | b'&'
            | b'?'
            | b'!'
            | b'*'
            | b'`'
            | b'$'
            | b'^'
            | b'#'
            | b'\\'
    )
}

/// Splits free text into words and emits each word's tokens.
fn scan(s: &str, out: &mut Tokens) {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut first = true;
    while i < bytes.len() && !out.full() {
        if is_separator(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let path_start =
            bytes[i] == b'/' && bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric);
        if path_start || is_url_start(&bytes[i..]) {
            while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'"' | b'\'' | b'>') {
                i += 1;
            }
            if path_start && !out.last().is_some_and(is_http_method) {
                out.push("<path>");
            } else {
                url(&s[start..i], out);
            }
        } else {
            while i < bytes.len() && !is_separator(bytes[i]) {
                i += 1;
            }
            word(&s[start..i], out, first);
        }
        first = false;
    }
}

/// An HTTP request method: the path after it is an API route, whose segments say what
/// was asked. Any other absolute path (files, job directories) is an identifier, masked
/// as `<path>` so that a new file name is not mistaken for a new kind of message.
fn is_http_method(t: &str) -> bool {
    matches!(
        t,
        "get" | "post" | "put" | "delete" | "patch" | "head" | "options"
    )
}

fn is_url_start(b: &[u8]) -> bool {
    let starts = |p: &[u8]| b.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    starts(b"http://") || starts(b"https://")
}

/// A URL or an absolute path: scheme, host and path segments are tokenised; query
/// values are masked.
fn url(u: &str, out: &mut Tokens) {
    let (base, query) = u.split_once('?').unwrap_or((u, ""));
    let path = match base.split_once("://") {
        Some((scheme, rest)) => {
            out.push_lower(scheme);
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            word(host, out, false);
            path
        }
        None => base,
    };
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        word(seg, out, false);
    }
    query_pairs(query, out);
}

/// `a=1&b=x`: keys kept, values masked.
fn query_pairs(query: &str, out: &mut Tokens) {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, _) = pair.split_once('=').unwrap_or((pair, ""));
        word(key, out, false);
        out.push("<val>");
    }
}

/// Characters trimmed from both ends of a word before it is classified (all ASCII).
fn is_edge_punct_byte(b: u8) -> bool {
    matches!(
        b,
        b'.' | b':' | b'-' | b'_' | b'/' | b'+' | b'%' | b'@' | b'~'
    )
}

/// `w` without edge punctuation at either end. The punctuation is ASCII, so cutting bytes
/// keeps char boundaries.
fn trim_edge_punct(w: &str) -> &str {
    let b = w.as_bytes();
    let start = b.iter().position(|&c| !is_edge_punct_byte(c));
    let Some(start) = start else {
        return "";
    };
    let end = b
        .iter()
        .rposition(|&c| !is_edge_punct_byte(c))
        .map_or(start, |e| e + 1);
    &w[start..end]
}

/// Classifies one word and emits its token(s).
fn word(raw: &str, out: &mut Tokens, first: bool) {
    let w = trim_edge_punct(raw);
    if w.is_empty() {
        return;
    }
    let status_next = std::mem::take(&mut out.status_next);
    if first {
        if let Some(level) = klog_header(w) {
            out.raise_level(level);
            out.push(level.token().unwrap_or("info"));
            out.push("<ts>");
            return;
        }
    }
    if let Some(mask) = whole_word_mask(w) {
        if mask == "<num>" && status_next {
            if let Ok(code) = w.parse::<u16>() {
                return push_status(code, out);
            }
        }
        return out.push(mask);
    }
    if w.len() >= 6 && w.as_bytes()[..5].eq_ignore_ascii_case(b"http/") {
        out.push("http");
        out.status_next = true;
        return;
    }
    if w.bytes().any(is_edge_punct_byte) {
        compound(w, out);
    } else {
        simple(w, out);
    }
}

/// `status=504`-style context and `HTTP/1.1" 504`: a class, not a masked number.
fn push_status(code: u16, out: &mut Tokens) {
    out.push(match code {
        100..=199 => "<status_1xx>",
        200..=299 => "<status_2xx>",
        300..=399 => "<status_3xx>",
        400..=499 => "<status_4xx>",
        500..=599 => "<status_5xx>",
        _ => "<num>",
    });
}

/// A word made of several parts (`com.example.Foo`, `checkout-5f7b9c6d84-kx2vq`,
/// `reflector.go:138`): split on `/ : @ ~ + _` first, then on `. - %`.
///
/// A part with two or more segments that hold digits (`R02-M1-N0-C`, `v1.2.3`,
/// `ip-10-0-1-23`, `nio-8080-exec-3`) is an identifier (a rack/node/slot id, a version, a
/// host or thread name): it becomes one `<id>`, so that every node of a cluster gives the
/// same token. Masks repeated back to back within one word collapse into one.
fn compound(w: &str, out: &mut Tokens) {
    let start = out.len();
    let mut after_host = false;
    let push_mask = |mask: &'static str, out: &mut Tokens| {
        if out.len() == start || out.last() != Some(mask) {
            out.push(mask);
        }
    };
    for part in w.split(['/', ':', '@', '~', '+', '_']) {
        if part.is_empty() {
            continue;
        }
        // `host:port` is one value, as `ip:port` is
        if std::mem::take(&mut after_host) && part.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some(mask) = whole_word_mask(part) {
            push_mask(mask, out);
            continue;
        }
        if is_host_name(part) {
            push_mask("<host>", out);
            after_host = true;
            continue;
        }

        let segments = part.split(['.', '-', '%']).filter(|p| !p.is_empty());
        let total = segments.clone().count();
        let keep = total.saturating_sub(pod_hash_parts(part));
        if keep == total && segments.clone().filter(|s| has_digit(s)).count() >= 2 {
            push_mask("<id>", out);
            continue;
        }
        for seg in segments.take(keep) {
            match whole_word_mask(seg).or_else(|| mixed_id(seg)) {
                Some(mask) => push_mask(mask, out),
                None => simple(seg, out),
            }
        }
        if keep < total {
            push_mask("<pod>", out);
        }
    }
}

/// A DNS name (`www.google.com`, `github.com`, `proxy.cse.cuhk.edu.hk`,
/// `checkout.shop.svc.cluster.local`): two labels or more, the last a common top-level
/// domain or cluster suffix. Which host is a value, not a kind of message. Reversed
/// names of code (`com.apple.cts`, `nova.compute.claims`) are not hosts.
fn is_host_name(w: &str) -> bool {
    const SUFFIXES: [&str; 40] = [
        "com", "net", "org", "edu", "gov", "mil", "int", "io", "co", "cn", "hk", "jp", "de", "uk",
        "fr", "ru", "br", "in", "au", "ca", "nl", "se", "ch", "it", "es", "kr", "tw", "info",
        "biz", "local", "internal", "lan", "corp", "home", "arpa", "svc", "cluster", "cloud",
        "dev", "app",
    ];
    // the common case, a word with no dot or a suffix of another length, is rejected first
    let Some(dot) = w.bytes().rposition(|b| b == b'.') else {
        return false;
    };
    let last = &w[dot + 1..];
    if !(2..=8).contains(&last.len()) {
        return false;
    }
    let first = w.split('.').next().unwrap_or(w);
    let label_ok =
        |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    SUFFIXES.contains(&last)
        && !matches!(
            first,
            "com" | "org" | "net" | "io" | "java" | "javax" | "android"
        )
        && w.split('.').all(label_ok)
}

/// A month or weekday name as dates write it (`Dec`, `Sun`, `Monday`): part of a
/// timestamp. Only capitalised forms, so that the word "may" stays a word.
fn is_calendar_word(w: &str) -> bool {
    if !(3..=9).contains(&w.len()) || !w.as_bytes()[0].is_ascii_uppercase() {
        return false;
    }
    const NAMES: [&str; 27] = [
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Sept",
        "Oct",
        "Nov",
        "Dec",
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
        "Sun",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    NAMES.contains(&w)
}

/// Whether `s` holds an ASCII digit.
fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// Whether a token is a placeholder (`<num>`, `<id>`, ...) rather than a word.
pub fn is_placeholder(t: &str) -> bool {
    t.starts_with('<') && t.ends_with('>')
}

/// The mask of a word that mixes letters and digits and is long enough to be an id rather
/// than a name (`req8f3k2j1x`, `dn228`), or is a short node name of two letters or more
/// then two digits or more (`en74`, `bn37`); `v1`, `x509`, `k8s`, `ec2`, `utf8` stay words.
fn mixed_id(w: &str) -> Option<&'static str> {
    let (letters, digits) = letters_digits(w);
    mixed_id_of(w, letters, digits)
}

/// Whether `w` holds ASCII letters, and ASCII digits (one pass).
fn letters_digits(w: &str) -> (bool, bool) {
    let (mut letters, mut digits) = (false, false);
    for b in w.bytes() {
        letters |= b.is_ascii_alphabetic();
        digits |= b.is_ascii_digit();
    }
    (letters, digits)
}

/// [`mixed_id`] of a word whose letters and digits are known.
fn mixed_id_of(w: &str, letters: bool, digits: bool) -> Option<&'static str> {
    if !(digits && letters) {
        return None;
    }
    if w.len() >= 5 {
        return Some(if is_hex(w) { "<hex>" } else { "<id>" });
    }
    let b = w.as_bytes();
    let alpha = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let numeric = b[alpha..].iter().all(u8::is_ascii_digit);
    (alpha >= 2 && b.len() - alpha >= 2 && numeric).then_some("<id>")
}

/// A word without inner punctuation.
fn simple(w: &str, out: &mut Tokens) {
    let (letters, digits) = letters_digits(w);
    if let Some(mask) = mixed_id_of(w, letters, digits) {
        return out.push(mask);
    }
    if digits && !letters {
        return out.push("<num>");
    }
    if !digits && is_calendar_word(w) {
        return out.push("<ts>");
    }
    // a char is at most 4 bytes: only short words need counting
    if w.len() < 8 && w.chars().count() < 2 {
        return;
    }
    out.push_lower(w);
    if matches!(w.len(), 4 | 6) && ["status", "code"].iter().any(|k| w.eq_ignore_ascii_case(k)) {
        out.status_next = true;
    }
}

/// klog's `I1114` (severity letter + month and day) at the start of a line.
fn klog_header(w: &str) -> Option<Level> {
    let b = w.as_bytes();
    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    match b[0] {
        b'I' => Some(Level::Info),
        b'W' => Some(Level::Warn),
        b'E' => Some(Level::Error),
        b'F' => Some(Level::Fatal),
        _ => None,
    }
}

/// The placeholder for a word that is entirely one variable value, if it is one.
fn whole_word_mask(w: &str) -> Option<&'static str> {
    let b = w.as_bytes();
    let first = *b.first()?;
    // every mask needs a digit, an `@`, a `:` or the length of a UUID
    if b.len() != 36
        && !b
            .iter()
            .any(|&c| c.is_ascii_digit() || c == b'@' || c == b':')
    {
        return None;
    }
    let numeric_start = first.is_ascii_digit()
        || (matches!(first, b'-' | b'+') && b.get(1).is_some_and(u8::is_ascii_digit));
    if numeric_start {
        if is_ipv4(w) {
            return Some("<ip>");
        }
        if is_number(w) {
            return Some(decimal_magnitude(w));
        }
        if is_number_with_unit(w) {
            return Some(duration_unit(w).unwrap_or("<num>"));
        }
        if is_time(w) || is_date(w) {
            return Some("<ts>");
        }
    }
    if is_uuid(w) {
        return Some("<uuid>");
    }
    if b.contains(&b'@') && is_email(w) {
        return Some("<email>");
    }
    if b.contains(&b':') && is_ipv6(w) {
        return Some("<ip>");
    }
    let hex_prefixed = w.len() > 2 && (w.starts_with("0x") || w.starts_with("0X"));
    if (hex_prefixed && is_hex(&w[2..]))
        || (w.len() >= 6 && is_hex(w) && b.iter().any(u8::is_ascii_digit))
    {
        return Some("<hex>");
    }
    None
}

fn is_hex(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `12`, `-3.5`, `1,024`, `1e-3`: one decimal point at most. (Byte loops, not `str`
/// searches: this runs for every word that starts with a digit.)
fn is_number(w: &str) -> bool {
    let b = strip_sign(w.as_bytes());
    let (mantissa, exponent) = match position(b, |c| c == b'e' || c == b'E') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let (int, frac) = match position(mantissa, |c| c == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &[][..]),
    };
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let int_ok = int.split(|&c| c == b',').all(digits);
    let frac_ok = frac.is_empty() || digits(frac);
    let exp_ok = exponent.is_none_or(|e| digits(strip_sign(e)));
    int_ok && frac_ok && exp_ok && mantissa.last() != Some(&b'.')
}

/// `b` without one leading `-` or `+`.
fn strip_sign(b: &[u8]) -> &[u8] {
    match b.first() {
        Some(b'-' | b'+') => &b[1..],
        _ => b,
    }
}

/// Index of the first byte matching `f`.
fn position(b: &[u8], f: impl Fn(u8) -> bool) -> Option<usize> {
    b.iter().position(|&c| f(c))
}

/// Integers are ids, counts and sizes: one placeholder. Decimal fractions are mostly
/// durations in seconds or ratios, whose order of magnitude is the signal (a request that
/// took `120.008` s against the usual `0.124`): they keep their integer digit count.
fn decimal_magnitude(w: &str) -> &'static str {
    let b = w.as_bytes();
    let b = &b[position(b, |c| c != b'-' && c != b'+').unwrap_or(b.len())..];
    let Some(dot) = position(b, |c| c == b'.') else {
        return "<num>";
    };
    let int = &b[..dot];
    if position(b, |c| c == b'e' || c == b'E').is_some() || int.contains(&b',') {
        return "<num>";
    }
    match int.len() - int.iter().take_while(|&&c| c == b'0').count() {
        0 => "<dec0>",
        1 => "<dec1>",
        2 => "<dec2>",
        _ => "<dec3>",
    }
}

/// `512Mi`, `12ms`, `1m30s`, `99.5%`: a number with a size or time unit; several
/// groups only when every unit is a time unit (`1h2m3s`).
fn is_number_with_unit(w: &str) -> bool {
    let mut rest = w;
    let mut groups = 0;
    let mut all_time = true;
    while !rest.is_empty() {
        let unit_at = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if unit_at == 0 {
            return false;
        }
        let after = &rest[unit_at..];
        let unit_len = after
            .find(|c: char| !(c.is_alphabetic() || c == '%'))
            .unwrap_or(after.len());
        let unit = &after[..unit_len];
        match unit_kind(unit) {
            Some(UnitKind::Time) => {}
            Some(UnitKind::Size) => all_time = false,
            None => return false,
        }
        groups += 1;
        rest = &after[unit_len..];
    }
    groups == 1 || all_time
}

enum UnitKind {
    Time,
    Size,
}

fn unit_kind(unit: &str) -> Option<UnitKind> {
    if unit.chars().count() > 3 {
        return None;
    }
    const TIME: [&str; 11] = [
        "ns", "us", "µs", "ms", "s", "m", "h", "d", "sec", "min", "hr",
    ];
    const SIZE: [&str; 15] = [
        "b", "k", "kb", "kib", "ki", "mb", "mib", "mi", "gb", "gib", "gi", "tb", "tib", "ti", "%",
    ];
    let is = |list: &[&str]| list.iter().any(|u| unit.eq_ignore_ascii_case(u));
    if is(&TIME) {
        Some(UnitKind::Time)
    } else if is(&SIZE) {
        Some(UnitKind::Size)
    } else {
        None
    }
}

/// For a number with a time unit, the duration placeholder (by magnitude class).
fn duration_unit(w: &str) -> Option<&'static str> {
    let unit_at = w.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))?;
    let unit_len = w[unit_at..]
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(w.len() - unit_at);
    match &w[unit_at..unit_at + unit_len] {
        "ns" | "us" | "µs" => Some("<dur_us>"),
        "ms" => Some("<dur_ms>"),
        "s" | "sec" => Some("<dur_s>"),
        "m" | "min" | "h" | "hr" | "d" => Some("<dur_min>"),
        _ => None,
    }
}

/// `22:13:20`, `22:13:20.123`, `9:05`.
fn is_time(w: &str) -> bool {
    let b = w.as_bytes();
    let Some(colon) = b.iter().position(|&c| c == b':') else {
        return false;
    };
    b.len() >= 4
        && (colon == 1 || colon == 2)
        && b[..colon].iter().all(u8::is_ascii_digit)
        && b.get(colon + 1).is_some_and(u8::is_ascii_digit)
        && b.iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b',' | b'Z'))
}

/// `2023-11-14`, `2023-11-14T22:13:20.123Z`, `2023/11/14`, `2005.06.03`,
/// `2005-06-03-15.42.59.413771` (BGL), `14/Nov/2023:22:13:20` (nginx).
fn is_date(w: &str) -> bool {
    let b = w.as_bytes();
    if b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && matches!(b[4], b'-' | b'/' | b'.')
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b[4]
        && b[8..10].iter().all(u8::is_ascii_digit)
    {
        return true;
    }
    // dd/Mon/yyyy...
    b.len() >= 11
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2] == b'/'
        && b[3..6].iter().all(u8::is_ascii_alphabetic)
        && b[6] == b'/'
        && b[7..11].iter().all(u8::is_ascii_digit)
}

/// `10.0.0.1`, `10.0.0.1:8080`, `10.244.0.0/16`.
fn is_ipv4(w: &str) -> bool {
    let b = w.as_bytes();
    let host = &b[..position(b, |c| c == b':' || c == b'/').unwrap_or(b.len())];
    let (mut parts, mut len) = (1, 0);
    for &c in host {
        if c == b'.' && len > 0 {
            parts += 1;
            len = 0;
        } else if c.is_ascii_digit() && len < 3 {
            len += 1;
        } else {
            return false;
        }
    }
    len > 0 && parts == 4
}

/// `fe80::1`, `2001:db8::8a2e:370:7334`, `[::1]:8080`, `::ffff:10.0.0.1`.
fn is_ipv6(w: &str) -> bool {
    let w = w.trim_start_matches('[');
    let host = w.split(']').next().unwrap_or(w);
    let host = host.split('%').next().unwrap_or(host);
    if let Some(v4) = host.strip_prefix("::ffff:") {
        return is_ipv4(v4);
    }
    let groups = host.split(':').count();
    (3..=8).contains(&groups)
        && (host.contains("::") || groups == 8)
        && host
            .split(':')
            .all(|g| g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_uuid(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_email(w: &str) -> bool {
    let Some((user, domain)) = w.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Kubernetes' random suffixes use consonants and digits only (no vowels, no 0/1/3).
fn is_k8s_random(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len())
        && s.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
}

/// How many trailing `-`-parts of a pod name are generated hashes (0, 1 or 2).
fn pod_hash_parts(w: &str) -> usize {
    let last_dash = |s: &str| s.bytes().rposition(|b| b == b'-');
    let Some(i) = last_dash(w) else {
        return 0;
    };
    let (head, last) = (&w[..i], &w[i + 1..]);
    if !is_k8s_random(last, 5..=5) {
        return 0;
    }
    let (prev, more) = match last_dash(head) {
        Some(j) => (&head[j + 1..], true),
        None => (head, false),
    };
    if is_k8s_random(prev, 6..=10) && more {
        2
    } else if has_digit(last) {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(line: &str) -> (String, Level) {
        let mut t = Tokens::new();
        normalise(line, &mut t);
        (t.to_string(), t.level)
    }

    /// Real-looking lines from many log families and the tokens they must give.
    #[test]
    fn table_of_log_families() {
        let cases: &[(&str, &str, &str, Level)] = &[
            (
                "ingress-nginx access",
                r#"10.244.1.7 - - [14/Nov/2023:22:13:20 +0000] "GET /api/v1/orders?id=42&sort=asc HTTP/1.1" 504 612 "-" "curl/8.1" 731 5.003 [shop-checkout-80] [] 10.244.2.9:8080 0 5.001 504 9f8e7d6c5b4a39281706f5e4d3c2b1a0"#,
                "<ip> <ts> <num> get api v1 orders id <val> sort <val> http <status_5xx> <num> curl <dec1> <num> <dec1> shop checkout <num> <ip> <num> <dec1> <num> <hex>",
                Level::Unknown,
            ),
            (
                "zap JSON",
                r#"{"level":"error","ts":1700000000.123,"caller":"db/pool.go:88","msg":"dial failed","error":"dial tcp 10.96.12.34:5432: connect: connection refused"}"#,
                "error dial failed dial tcp <ip> connect connection refused",
                Level::Error,
            ),
            (
                "pino JSON numeric level",
                r#"{"level":40,"time":1700000000123,"pid":1,"hostname":"cart-7d9f8c6b5-x2l4q","msg":"cache miss for user 6a1f0b2c-3d4e-4f5a-8b6c-7d8e9f0a1b2c"}"#,
                "warn cache miss for user <uuid>",
                Level::Warn,
            ),
            (
                "docker runtime wrapping JSON",
                r#"{"log":"{\"level\":\"info\",\"msg\":\"request served\",\"status\":200}\n","stream":"stdout","time":"2023-11-14T22:13:20.123456789Z"}"#,
                "info <status_2xx> request served",
                Level::Info,
            ),
            (
                "logfmt",
                r#"level=warn ts=2023-11-14T22:13:20.123Z caller=retry.go:42 msg="retrying request" attempt=3 err="context deadline exceeded""#,
                "warn retrying request context deadline exceeded",
                Level::Warn,
            ),
            (
                "klog",
                "E1114 22:13:20.123456       1 reflector.go:138] k8s.io/client-go/informers/factory.go:134: Failed to watch *v1.Pod: the server has asked for the client to provide credentials",
                "error <ts> <ts> <num> reflector go <num> <host> client go informers factory go <num> failed to watch v1 pod the server has asked for the client to provide credentials",
                Level::Error,
            ),
            (
                "spring boot",
                "2023-11-14 22:13:20.123  INFO 1 --- [nio-8080-exec-3] c.e.shop.OrderController : Order 12345 placed in 35ms",
                "<ts> <ts> info <num> <id> shop ordercontroller order <num> placed in <dur_ms>",
                Level::Info,
            ),
            (
                "java stack frame",
                "\tat com.example.shop.OrderService.place(OrderService.java:142)",
                "at com example shop orderservice place orderservice java <num>",
                Level::Unknown,
            ),
            (
                "postgres",
                "2023-11-14 22:13:20.123 UTC [12345] FATAL:  the database system is shutting down",
                "<ts> <ts> utc <num> fatal the database system is shutting down",
                Level::Fatal,
            ),
            (
                "redis",
                "1:M 14 Nov 2023 22:13:20.123 * Background saving started by pid 4242",
                "<num> <num> <ts> <num> <ts> background saving started by pid <num>",
                Level::Unknown,
            ),
            (
                "coredns",
                r#"[INFO] 10.244.1.5:53124 - 12345 "A IN checkout.shop.svc.cluster.local. udp 60 false 512" NOERROR qr,aa,rd 116 0.000123s"#,
                "info <ip> <num> in <host> udp <num> false <num> noerror qr aa rd <num> <dur_s>",
                Level::Info,
            ),
            (
                "kube event",
                r#"{"type":"Warning","reason":"BackOff","message":"Back-off restarting failed container app in pod cart-7d9f8c6b5-x2l4q_shop(6a1f0b2c-3d4e-4f5a-8b6c-7d8e9f0a1b2c)","involvedObject":{"kind":"Pod","name":"cart-7d9f8c6b5-x2l4q"}}"#,
                "warn back off restarting failed container app in pod cart <pod> shop <uuid> backoff",
                Level::Warn,
            ),
            (
                "go panic",
                "panic: runtime error: invalid memory address or nil pointer dereference",
                "panic runtime error invalid memory address or nil pointer dereference",
                Level::Fatal,
            ),
            (
                "go goroutine frame",
                "\t/app/internal/cart/handler.go:88 +0x1a4",
                "<path> <hex>",
                Level::Unknown,
            ),
            (
                "ipv6 and email",
                "login failed for alice@example.com from 2001:db8::8a2e:370:7334 after 3 attempts",
                "login failed for <email> from <ip> after <num> attempts",
                Level::Unknown,
            ),
            (
                "file path is an identifier, API route after a method is not",
                "open /var/lib/postgresql/data/base/16384/2619: No space left on device; POST /api/v1/pay",
                "open <path> no space left on device post api v1 pay",
                Level::Unknown,
            ),
            (
                "url with credentials-free query",
                "fetching https://api.example.com/v2/users/98765?token=abc&page=2 took 1.5s",
                "fetching https <host> v2 users <num> token <val> page <val> took <dur_s>",
                Level::Unknown,
            ),
            (
                "tls error never seen",
                "x509: certificate has expired or is not yet valid: current time 2023-11-14T22:13:20Z is after 2023-11-01T00:00:00Z",
                "x509 certificate has expired or is not yet valid current time <ts> is after <ts>",
                Level::Unknown,
            ),
            (
                "spring servlet logger with brackets",
                "o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() threw exception",
                "dispatcherservlet servlet service threw exception",
                Level::Unknown,
            ),
            (
                "daemonset pod and statefulset pod",
                "evicting kube-proxy-7xk2p and postgres-0",
                "evicting kube proxy <pod> and postgres <num>",
                Level::Unknown,
            ),
            (
                "request ids and hex",
                "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7 req req8f3k2j1x done",
                "trace id <hex> span <hex> req <id> done",
                Level::Unknown,
            ),
            (
                "BGL whole line: node ids are one id, the level is found past the header",
                "1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.363779 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
                "<num> <ts> <id> <ts> <id> ras kernel info instruction cache parity error corrected",
                Level::Info,
            ),
            (
                "syslog: month names are dates, DNS names are hosts",
                "Dec 10 11:04:32 LabSZ sshd[24200]: connect to www.google.com:443 via proxy.cse.cuhk.edu.hk from com.apple.cts",
                "<ts> <num> <ts> labsz sshd <num> connect to <host> via <host> from com apple cts",
                Level::Unknown,
            ),
            (
                "versions and host names with numbers are ids",
                "upgraded ip-10-0-1-23.ec2.internal to v1.28.3 on node-7",
                "upgraded <host> to <id> on node <num>",
                Level::Unknown,
            ),
        ];
        for (family, line, want, level) in cases {
            let (got, got_level) = norm(line);
            assert_eq!(&got, want, "{family}: {line}");
            assert_eq!(got_level, *level, "{family} level");
        }
    }

    #[test]
    fn empty_and_punctuation_only_lines_give_no_tokens() {
        assert_eq!(norm("").0, "");
        assert_eq!(norm("  --- ::: ...  ").0, "");
    }

    #[test]
    fn gigantic_line_is_capped() {
        let line = "word ".repeat(100_000);
        let mut t = Tokens::new();
        normalise(&line, &mut t);
        assert_eq!(t.len(), MAX_TOKENS);
    }

    #[test]
    fn broken_json_falls_back_to_text() {
        assert_eq!(norm(r#"{"msg":"unterminated }"#).0, "msg unterminated");
        // valid JSON without any message field is tokenised as text too
        assert_eq!(norm(r#"{"a":1}"#).0, "<num>");
    }

    #[test]
    fn non_ascii_text_survives() {
        assert_eq!(norm("Ошибка соединения 42").0, "Ошибка соединения <num>");
    }

    #[test]
    fn numbers_and_units() {
        for (w, mask) in [
            ("42", Some("<num>")),
            ("-3.5", Some("<dec1>")),
            ("0.124", Some("<dec0>")),
            ("120.008", Some("<dec3>")),
            ("1,024", Some("<num>")),
            ("1e-3", Some("<num>")),
            ("512Mi", Some("<num>")),
            ("99.5%", Some("<num>")),
            ("12ms", Some("<dur_ms>")),
            ("1m30s", Some("<dur_min>")),
            ("350µs", Some("<dur_us>")),
            ("abc", None),
            ("v1", None),
        ] {
            assert_eq!(whole_word_mask(w), mask, "{w}");
        }
    }

    #[test]
    fn pod_hashes() {
        assert_eq!(pod_hash_parts("checkout-5f7b9c6d84-kx2vq"), 2);
        assert_eq!(pod_hash_parts("kube-proxy-7xk2p"), 1);
        assert_eq!(pod_hash_parts("get-users"), 0);
        assert_eq!(pod_hash_parts("cart-items"), 0);
    }
}
