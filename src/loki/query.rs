//! `query_range` and `series` over HTTP, and complete paging of a time range.
//!
//! Loki's paging facts (measured on 2.8): `limit` counts the earliest entries across all
//! streams (forward); `start` is inclusive and `end` exclusive; entries sharing the last
//! timestamp of a full page may be cut. So a page delivers only the entries *before* its
//! last timestamp and the next one starts *at* it. A full page whose entries all share one
//! timestamp would repeat forever: that group is read stream by stream instead (the
//! streams named by `series`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::auth::Credentials;
use super::config::LokiConfig;
use super::error::LokiError;
use super::stats::LokiStats;
use super::wire::{Labels, QueryResponse, SeriesResponse, StreamValues};

/// An HTTP client for one Loki, with tenant and credentials set on every request.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    tenant: String,
    credentials: String,
    max_body: usize,
}

impl Client {
    /// Builds the client (TLS with `tls`, headers from `creds`).
    pub(crate) fn new(
        cfg: &LokiConfig,
        creds: &Credentials,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, LokiError> {
        let http = crate::http::builder(&tls, cfg.request_timeout)
            .default_headers(creds.headers(cfg.tenant.as_deref())?)
            .connect_timeout(cfg.connect_timeout)
            .build()
            .map_err(|e| LokiError::Tls(chain(&e)))?;
        Ok(Self {
            http,
            base: cfg.url.trim_end_matches('/').to_string(),
            tenant: cfg.tenant.clone().unwrap_or_else(|| "(none)".into()),
            credentials: creds.source().to_string(),
            max_body: cfg.max_response_bytes,
        })
    }

    /// The base URL, for building the tail's.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// One `query_range` call, forward, `[start, end)`.
    pub(crate) async fn query_range(
        &self,
        selector: &str,
        start: i64,
        end: i64,
        limit: u32,
    ) -> Result<Vec<StreamValues>, LokiError> {
        let params = [
            ("query", selector.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("limit", limit.to_string()),
            ("direction", "forward".to_string()),
        ];
        let (url, body) = self
            .get("/loki/api/v1/query_range", &params, selector)
            .await?;
        let r: QueryResponse = parse(&url, &body)?;
        match r.data {
            Some(d) if r.status == "success" && d.result_type == "streams" => Ok(d.result),
            Some(d) if r.status == "success" => Err(malformed(
                &url,
                format!("resultType {:?}, not streams", d.result_type),
            )),
            _ => Err(malformed(&url, format!("status {:?}", r.status))),
        }
    }

    /// The streams matching `matchers` with data in `[start, end)`.
    pub(crate) async fn series(
        &self,
        matchers: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>, LokiError> {
        let params = [
            ("match[]", matchers.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ];
        let (url, body) = self.get("/loki/api/v1/series", &params, matchers).await?;
        let r: SeriesResponse = parse(&url, &body)?;
        if r.status != "success" {
            return Err(malformed(&url, format!("status {:?}", r.status)));
        }
        Ok(r.data)
    }

    /// A GET whose status is mapped to a [`LokiError`]; returns the URL shown in errors
    /// (without the query string) and the body.
    async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
        selector: &str,
    ) -> Result<(String, Vec<u8>), LokiError> {
        let shown = format!("{}{path}", self.base);
        let url = Url::parse_with_params(&shown, params).map_err(|e| LokiError::Config {
            key: "url".into(),
            message: e.to_string(),
        })?;
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| connect(&shown, &e))?;
        let status = resp.status();
        let retry_after = crate::retry::retry_after(resp.headers());
        let body = self.body(resp, &shown).await?;
        if status.is_success() {
            return Ok((shown, body));
        }
        let who = (self.tenant.as_str(), self.credentials.as_str());
        Err(status_error(
            shown,
            status.as_u16(),
            retry_after,
            &body,
            selector,
            who,
        ))
    }

    /// Reads a body, refusing more than `max_response_bytes`.
    async fn body(&self, mut resp: reqwest::Response, url: &str) -> Result<Vec<u8>, LokiError> {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| connect(url, &e))? {
            if body.len() + chunk.len() > self.max_body {
                return Err(malformed(
                    url,
                    format!(
                        "response larger than max_response_bytes ({})",
                        self.max_body
                    ),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Maps an HTTP error status from Loki (a query or a tail upgrade) to an actionable error;
/// `who` is the tenant and the credential source, named but never the secret.
pub(super) fn status_error(
    url: String,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    selector: &str,
    who: (&str, &str),
) -> LokiError {
    let message = short(body);
    match status {
        400 => LokiError::BadQuery {
            url,
            selector: selector.to_string(),
            message,
        },
        s @ (401 | 403) => LokiError::Unauthorized {
            url,
            status: s,
            tenant: who.0.to_string(),
            credentials: who.1.to_string(),
            message,
        },
        s @ (429 | 500..=599) => LokiError::Overloaded {
            url,
            status: s,
            retry_after,
            message,
        },
        s => LokiError::Status {
            url,
            status: s,
            message,
        },
    }
}

/// Parses a JSON body, naming the URL when it is not what Loki sends.
fn parse<'a, T: serde::Deserialize<'a>>(url: &str, body: &'a [u8]) -> Result<T, LokiError> {
    serde_json::from_slice(body).map_err(|e| malformed(url, e.to_string()))
}

fn malformed(url: &str, message: String) -> LokiError {
    LokiError::Malformed {
        url: url.to_string(),
        message,
    }
}

/// A transport error (DNS, refused, TLS, timeout) with its causes.
fn connect(url: &str, e: &reqwest::Error) -> LokiError {
    LokiError::Connect {
        url: url.to_string(),
        message: chain(e),
    }
}

/// An error and its sources, `: `-separated (reqwest hides the useful part in sources).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// The body as text, cut to a readable length.
fn short(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    match s.char_indices().nth(500) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Reads `[start, end)` of one selector completely, page by page.
pub(crate) struct RangeReader<'a> {
    client: &'a Client,
    selector: &'a str,
    limit: u32,
    /// Everything before this has been returned.
    cursor: i64,
    end: i64,
}

impl<'a> RangeReader<'a> {
    /// A reader of `[start, end)`.
    pub(crate) fn new(
        client: &'a Client,
        selector: &'a str,
        limit: u32,
        start: i64,
        end: i64,
    ) -> Self {
        Self {
            client,
            selector,
            limit,
            cursor: start,
            end,
        }
    }

    /// Everything before this has been returned by [`RangeReader::next_page`].
    pub(crate) fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next page: every entry in `[old cursor, new cursor)`, or `None` at the end.
    /// On error the cursor stays, so the call can be retried.
    pub(crate) async fn next_page(
        &mut self,
        stats: &LokiStats,
    ) -> Result<Option<Vec<StreamValues>>, LokiError> {
        if self.cursor >= self.end {
            return Ok(None);
        }
        let mut page = self
            .client
            .query_range(self.selector, self.cursor, self.end, self.limit)
            .await?;
        let (n, first, last) = span(&page);
        if n < self.limit as usize {
            self.cursor = self.end;
            return Ok(Some(page));
        }
        if first == last {
            let group = self.group(first, stats).await?;
            self.cursor = first + 1;
            return Ok(Some(group));
        }
        for s in &mut page {
            s.values.retain(|e| e.ts < last);
        }
        page.retain(|s| !s.values.is_empty());
        self.cursor = last;
        Ok(Some(page))
    }

    /// Every entry at timestamp `ts`, read stream by stream.
    async fn group(&self, ts: i64, stats: &LokiStats) -> Result<Vec<StreamValues>, LokiError> {
        let (matchers, pipeline) = split_selector(self.selector);
        let streams = self.client.series(matchers, ts, ts + 1).await?;
        let mut out = Vec::with_capacity(streams.len());
        for labels in streams {
            let narrow = format!("{}{pipeline}", exact_selector(&labels));
            let page = self
                .client
                .query_range(&narrow, ts, ts + 1, self.limit)
                .await?;
            let (n, _, _) = span(&page);
            if n >= self.limit as usize {
                stats.unpageable(self.limit, &narrow, ts);
            }
            out.extend(page);
        }
        Ok(out)
    }
}

/// Number of entries, first and last timestamp of a page.
fn span(page: &[StreamValues]) -> (usize, i64, i64) {
    let ts = page.iter().flat_map(|s| s.values.iter().map(|e| e.ts));
    let (mut n, mut lo, mut hi) = (0, i64::MAX, i64::MIN);
    for t in ts {
        n += 1;
        lo = lo.min(t);
        hi = hi.max(t);
    }
    (n, lo, hi)
}

/// Splits `{a="b"} |= "x"` into the stream selector and the pipeline after it.
pub(crate) fn split_selector(s: &str) -> (&str, &str) {
    let mut in_str: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match in_str {
            Some(_) if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => in_str = None,
            Some(_) => {}
            None if c == '"' || c == '`' => in_str = Some(c),
            None if c == '}' => return (&s[..=i], &s[i + 1..]),
            None => {}
        }
    }
    (s, "")
}

/// `{k="v",...}` matching exactly one label set.
fn exact_selector(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_selectors_outside_strings() {
        assert_eq!(
            split_selector(r#"{a="}"} |= "x""#),
            (r#"{a="}"}"#, r#" |= "x""#)
        );
        assert_eq!(split_selector(r#"{a="\"}"}"#), (r#"{a="\"}"}"#, ""));
        assert_eq!(split_selector("{a=`}`}|~`y`"), ("{a=`}`}", "|~`y`"));
    }

    #[test]
    fn exact_selector_escapes_values() {
        let l: Labels = [
            ("a".to_string(), "x\"y".to_string()),
            ("b".into(), "1".into()),
        ]
        .into();
        assert_eq!(exact_selector(&l), r#"{a="x\"y",b="1"}"#);
    }

    #[test]
    fn short_cuts_long_bodies() {
        assert_eq!(short(b"  parse error  "), "parse error");
        assert_eq!(short(&[b'x'; 600]).chars().count(), 501);
    }
}
