//! Optional LLM explanation through an OpenAI-compatible chat-completions endpoint
//! (Ollama serves one locally, which keeps logs in-house).
//!
//! Only redacted lines go out: an alert's top lines, or a `summarize` report. The call is bounded by `explain.timeout`; when it fails,
//! is slow or answers garbage, the alert goes out without an explanation.

use std::time::Duration;

use serde_json::{json, Value};

use super::config::ExplainConfig;
use super::error::AlertError;
use super::message::Message;
use super::outbox::http_client;
use crate::secret::Secret;

/// Longest explanation kept, in characters.
const MAX_CHARS: usize = 400;

const SYSTEM: &str = "You are a site reliability engineer. Given abnormal log lines from one \
Kubernetes pod, state the most likely cause in at most two short sentences. No preamble, no \
markdown.";

const NARRATE: &str = "You are a site reliability engineer. Given a Markdown summary of a period \
of a Kubernetes cluster's logs (incidents, workloads, new or grown log templates), tell what \
happened in at most three short sentences and which workload to look at first. No preamble, no \
markdown.";

/// Most characters of a report sent for a narrative.
const MAX_REPORT_CHARS: usize = 12_000;

/// Asks the LLM for a likely cause.
#[derive(Debug, Clone)]
pub struct Explainer {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<Secret>,
    timeout: Duration,
}

impl Explainer {
    /// From the config: its API key read, its own HTTP client with the config's timeout.
    pub fn from_config(cfg: &ExplainConfig) -> Result<Self, AlertError> {
        Ok(Self::new(cfg, cfg.api_key()?, http_client(cfg.timeout)?))
    }

    /// From the config (the API key resolved by the caller).
    pub fn new(cfg: &ExplainConfig, api_key: Option<Secret>, client: reqwest::Client) -> Self {
        Self {
            client,
            url: cfg.url.clone(),
            model: cfg.model.clone(),
            api_key,
            timeout: cfg.timeout,
        }
    }

    /// Two sentences on the likely cause of `msg`'s most anomalous pod, or `None` when the
    /// endpoint fails, answers nothing usable or takes longer than the timeout.
    pub async fn explain(&self, msg: &Message) -> Option<String> {
        let pod = msg.pods.first()?;
        let lines: Vec<&str> = pod.top_lines.iter().map(|l| l.line.as_str()).collect();
        let prompt = format!(
            "Pod {}/{} (detected category: {}), {} pods affected. Abnormal lines:\n{}",
            pod.namespace,
            pod.pod,
            pod.category_label,
            msg.pods.len(),
            lines.join("\n")
        );
        self.bounded(SYSTEM, &prompt, 120, "alert").await
    }

    /// At most three sentences on what a period's report shows (`summarize` with
    /// `[explain]`), or `None` as for [`Explainer::explain`]. The report's lines are already
    /// redacted; it is cut to 12 000 characters.
    pub async fn narrate(&self, report: &str) -> Option<String> {
        let report: String = report.chars().take(MAX_REPORT_CHARS).collect();
        self.bounded(NARRATE, &report, 200, "summary").await
    }

    /// [`Explainer::ask`] within the timeout; failures are logged, naming what goes
    /// without the text.
    async fn bounded(
        &self,
        system: &str,
        prompt: &str,
        max_tokens: u32,
        what: &str,
    ) -> Option<String> {
        match tokio::time::timeout(self.timeout, self.ask(system, prompt, max_tokens)).await {
            Ok(Ok(text)) => Some(text),
            Ok(Err(reason)) => {
                tracing::info!(%reason, "explanation unavailable; {what} sent without it");
                None
            }
            Err(_) => {
                tracing::info!(timeout = ?self.timeout, "explanation timed out; {what} sent without it");
                None
            }
        }
    }

    async fn ask(&self, system: &str, prompt: &str, max_tokens: u32) -> Result<String, String> {
        let body = json!({
            "model": self.model,
            "temperature": 0.2,
            "max_tokens": max_tokens,
            "stream": false,
            "messages": [
                { "role": "system", "content": system },
                { "role": "user", "content": prompt },
            ],
        });
        let mut req = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose());
        }
        let resp = req.send().await.map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let answer: Value = resp.json().await.map_err(|e| e.without_url().to_string())?;
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("no choices[0].message.content in the answer")?;
        Ok(text.chars().take(MAX_CHARS).collect())
    }
}
