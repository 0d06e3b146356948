//! The `/loki/api/v1/tail` websocket: connect, then frames until it closes or goes quiet.
//!
//! Loki pings every second, so silence longer than `tail_idle_timeout` means a dead
//! connection (a proxy that swallowed it, a hung Loki). Close 1011 comes with a reason
//! (Loki shutting down, `tail_max_duration`, or a LogQL parse error, which is fatal);
//! a dropped TCP connection has no close frame and is reported as 1006.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::error::LokiError;
use super::wire::TailFrame;

/// One open tail.
pub(crate) struct Tail {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    idle: Duration,
    url: String,
    selector: String,
}

/// What it takes to open a tail.
pub(crate) struct TailParams<'a> {
    /// Loki's base URL (`http(s)://...`).
    pub base: &'a str,
    /// The LogQL selector.
    pub selector: &'a str,
    /// Start of the tail, Unix ns (older lines are reconciliation's job).
    pub start: i64,
    /// Tenant and `Authorization` headers.
    pub headers: &'a reqwest::header::HeaderMap,
    /// TLS for `wss://`.
    pub tls: Arc<rustls::ClientConfig>,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Silence after which the tail is considered dead.
    pub idle: Duration,
    /// Tenant and credential source, for 401/403 messages.
    pub who: (&'a str, &'a str),
}

impl Tail {
    /// Opens the websocket; HTTP errors at the upgrade map as for `query_range`.
    pub(crate) async fn connect(p: TailParams<'_>) -> Result<Self, LokiError> {
        let ws_base = p.base.replacen("http", "ws", 1);
        let shown = format!("{ws_base}/loki/api/v1/tail");
        let params = [
            ("query", p.selector.to_string()),
            ("start", p.start.to_string()),
            ("delay_for", "0".into()),
        ];
        let url =
            reqwest::Url::parse_with_params(&shown, &params).map_err(|e| LokiError::Config {
                key: "url".into(),
                message: e.to_string(),
            })?;
        let mut req = url
            .as_str()
            .into_client_request()
            .map_err(|e| LokiError::Config {
                key: "url".into(),
                message: e.to_string(),
            })?;
        req.headers_mut().extend(p.headers.clone());
        let connector = Some(Connector::Rustls(p.tls));
        let connecting =
            tokio_tungstenite::connect_async_tls_with_config(req, None, true, connector);
        let (ws, _) = match tokio::time::timeout(p.connect_timeout, connecting).await {
            Err(_) => {
                return Err(LokiError::Connect {
                    url: shown,
                    message: format!("no answer in {:?}", p.connect_timeout),
                })
            }
            Ok(Err(e)) => return Err(upgrade_error(shown, e, p.selector, p.who)),
            Ok(Ok(ok)) => ok,
        };
        Ok(Self {
            ws,
            idle: p.idle,
            url: shown,
            selector: p.selector.to_string(),
        })
    }

    /// The next frame of entries; an error when the tail closed, failed or went quiet.
    pub(crate) async fn next_frame(&mut self) -> Result<TailFrame, LokiError> {
        loop {
            let msg = match tokio::time::timeout(self.idle, self.ws.next()).await {
                Err(_) => return Err(LokiError::TailIdle(self.idle)),
                Ok(None) => return Err(closed(1006, "connection closed without a close frame")),
                Ok(Some(Err(e))) => return Err(closed(1006, &super::query::chain(&e))),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) => {
                    return serde_json::from_str(t.as_str()).map_err(|e| LokiError::Malformed {
                        url: self.url.clone(),
                        message: format!("tail frame: {e}"),
                    })
                }
                Message::Close(frame) => return Err(self.close_error(frame)),
                _ => continue,
            }
        }
    }
}

impl Tail {
    /// A close frame as an error: a LogQL parse error is the user's to fix, not retried.
    fn close_error(&self, frame: Option<tungstenite::protocol::CloseFrame>) -> LokiError {
        let Some(f) = frame else {
            return closed(1005, "closed without a status");
        };
        let reason = f.reason.to_string();
        if reason.contains("parse error") {
            return LokiError::BadQuery {
                url: self.url.clone(),
                selector: self.selector.clone(),
                message: reason,
            };
        }
        closed(u16::from(f.code), &reason)
    }
}

fn closed(code: u16, reason: &str) -> LokiError {
    LokiError::TailClosed {
        code,
        reason: reason.to_string(),
    }
}

/// Maps a failed upgrade (HTTP status or transport) to an actionable error.
fn upgrade_error(
    url: String,
    e: tungstenite::Error,
    selector: &str,
    who: (&str, &str),
) -> LokiError {
    let tungstenite::Error::Http(resp) = e else {
        return LokiError::Connect {
            url,
            message: super::query::chain(&e),
        };
    };
    let body = resp.body().as_deref().unwrap_or_default();
    super::query::status_error(url, resp.status().as_u16(), None, body, selector, who)
}
