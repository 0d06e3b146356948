//! `GET /api/v1/summary?namespace=shop&since=1h`: the `summarize` report of the last
//! `since` (default 1 h, at most 24 h) of the service's Loki, for one namespace or all the
//! service's selectors, as Markdown: the page alerts link to (`[message] summary_url`).
//! Read on the blocking pool with a reader of its own, so it never slows scoring.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::stage::Shared;
use crate::loki::{self, LokiConfig, LokiStats, Mode};
use crate::pipeline::Source;
use crate::replay::RunOptions;

/// The longest period a summary reads.
pub const MAX_SINCE: Duration = Duration::from_secs(24 * 3600);
/// How long a summary may take before it is answered 504.
const DEADLINE: Duration = Duration::from_secs(120);
/// Lines read from Loki ahead of the scorer.
const CHANNEL_LINES: usize = 16 * 1024;

/// The query string.
#[derive(Debug, Deserialize)]
pub struct SummaryQuery {
    /// A Kubernetes namespace; none: every selector of `[loki]`.
    namespace: Option<String>,
    /// How far back, e.g. `30m`; default 1 h.
    since: Option<String>,
}

/// Summarises the period, or says why not (404 without `[loki]`, 400 for a bad query,
/// 503 without a model, 502 when Loki fails, 504 past the deadline).
pub async fn summary(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(base) = shared.loki.get() else {
        let why = "no Loki to summarise: set [loki] in the config\n";
        return (StatusCode::NOT_FOUND, why).into_response();
    };
    let cfg = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| period(base, &q))
    {
        Ok(cfg) => cfg,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    let Some(model) = shared.model() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no model loaded yet\n").into_response();
    };
    let input = format!("{} of {}", cfg.selectors.join(" "), cfg.url);
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_LINES);
    let reading = tokio::spawn(loki::run(
        cfg,
        tx,
        Arc::new(LokiStats::default()),
        std::future::pending(),
    ));
    let scoring = tokio::task::spawn_blocking(move || {
        crate::summary::summarize(&input, Source::Channel(rx), &model, &RunOptions::default())
    });
    let done = tokio::time::timeout(DEADLINE, async { (scoring.await, reading.await) }).await;
    match done {
        Ok((Ok(Ok(report)), Ok(Ok(())))) => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            report.to_string(),
        )
            .into_response(),
        Ok((_, Ok(Err(e)))) => {
            (StatusCode::BAD_GATEWAY, format!("reading Loki: {e}\n")).into_response()
        }
        Ok((Ok(Err(e)), _)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
        Ok(_) => (StatusCode::INTERNAL_SERVER_ERROR, "summary failed\n").into_response(),
        Err(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            "the summary took over 2 minutes\n",
        )
            .into_response(),
    }
}

/// The reader's settings for `q`: the service's Loki, its tenant and credentials, one
/// namespace's streams (or its own selectors) from `since` ago up to the settled present.
fn period(base: &LokiConfig, q: &SummaryQuery) -> Result<LokiConfig, String> {
    let since = match &q.since {
        Some(s) => humantime::parse_duration(s).map_err(|e| format!("since={s:?}: {e}"))?,
        None => Duration::from_secs(3600),
    };
    if since.is_zero() || since > MAX_SINCE {
        return Err(format!(
            "since={since:?}: must be more than 0 and at most 24h"
        ));
    }
    let mut cfg = base.clone();
    if let Some(ns) = &q.namespace {
        if !is_namespace(ns) {
            return Err(format!(
                "namespace={ns:?} is not a Kubernetes namespace name"
            ));
        }
        let label = cfg
            .labels
            .namespace
            .first()
            .cloned()
            .unwrap_or_else(|| "namespace".into());
        cfg.selectors = vec![format!("{{{label}=\"{ns}\"}}")];
    }
    cfg.mode = Mode::Poll;
    cfg.backfill = since;
    cfg.state_file = None;
    cfg.shard = loki::Shard::default();
    let settle = i64::try_from(cfg.settle.as_nanos()).unwrap_or(i64::MAX);
    cfg.until_ns = Some(crate::event::now_ns().saturating_sub(settle));
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// A DNS label (RFC 1123): what Kubernetes allows as a namespace name, so it can go into
/// a LogQL selector as is.
fn is_namespace(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(namespace: Option<&str>, since: Option<&str>) -> SummaryQuery {
        SummaryQuery {
            namespace: namespace.map(Into::into),
            since: since.map(Into::into),
        }
    }

    #[test]
    fn a_period_reads_one_namespace_or_the_services_selectors_up_to_now() {
        let mut base = LokiConfig::new("http://loki:3100");
        base.selectors = vec!["{cluster=\"a\"}".into()];
        base.mode = Mode::Tail;
        let cfg = period(&base, &q(Some("shop"), Some("30m"))).unwrap();
        assert_eq!(cfg.selectors, ["{namespace=\"shop\"}"]);
        assert_eq!(
            (cfg.mode, cfg.backfill),
            (Mode::Poll, Duration::from_secs(1800))
        );
        assert!(cfg.until_ns.is_some());
        assert_eq!(
            period(&base, &q(None, None)).unwrap().selectors,
            base.selectors
        );
    }

    #[test]
    fn bad_queries_are_refused_with_the_reason() {
        let base = LokiConfig::new("http://loki:3100");
        for ns in ["Shop", "shop\"} or {a=\"b", "", "-a", &"a".repeat(64)] {
            assert!(period(&base, &q(Some(ns), None)).is_err(), "{ns:?}");
        }
        for since in ["0s", "25h", "soon"] {
            let err = period(&base, &q(None, Some(since))).unwrap_err();
            assert!(err.contains("since="), "{err}");
        }
    }
}
