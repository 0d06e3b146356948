//! Alerting: tells the on-call engineer once when a pod starts logging abnormally, once
//! when it is over, and never floods.
//!
//! ## Layout
//! - [`policy`]: the pure state machine (enter, hysteresis, reminders, storm grouping, the
//!   per-minute cap) over [`PodObservation`]s; time is passed in.
//! - `category`: lines -> kind of trouble (crash, OOM, TLS…) and what to check first.
//! - `dependency`: lines -> the other workload they blame, if any.
//! - `redact`: masks secrets before any line leaves the process.
//! - `message`: a notice made ready to render (redacted lines, links, times).
//! - `notifier`: the `Notifier` trait (name, wire format) and the list of notifiers.
//! - `slack`, `discord`, `teams`, `alertmanager`, `webhook`: one file per notifier: its setup
//!   and payloads.
//! - `evidence`: Alertmanager's webhook payload in, the pods its alerts name, follow-ups
//!   with their log evidence (each alert episode once).
//! - `history`: "seen this before": past incidents like a new one, by the model's TF-IDF
//!   profile of their top lines.
//! - `explain`: optional two-sentence likely cause from an OpenAI-compatible LLM endpoint.
//! - `outbox`: bounded queues with retry, backoff, `Retry-After` and a drain deadline.
//! - `alerter`: wires the above; `preview`: plays a file on log time (`replay --alerts`), a preview of what `serve` sends.
//! - `config`: the `[alerting]` section; `error`: typed errors.

mod alerter;
mod alertmanager;
mod category;
mod config;
mod dependency;
mod discord;
mod error;
mod evidence;
mod explain;
mod history;
mod message;
mod minutes;
mod notifier;
mod outbox;
pub mod policy;
mod preview;
mod redact;
mod slack;
mod teams;
mod webhook;

pub use alerter::{Alerter, NotifierReport};
pub use category::{classify, Category};
pub use config::{
    AlertConfig, AlertmanagerConfig, DeliveryConfig, DiscordConfig, ExplainConfig, MessageConfig,
    PolicyConfig, RedactConfig, SlackConfig, StormConfig, TeamsConfig, WebhookConfig,
};
pub use dependency::{workload_of, Workloads};
pub use discord::render as render_discord;
pub use error::{AlertError, DeliveryError};
pub use evidence::{
    AlertmanagerWebhook, Evidence, FollowUps, PayloadError, Subject, WebhookAlert, WORKLOAD_LABELS,
};
pub use explain::Explainer;
pub use history::{SeenBefore, MIN_SIMILARITY, NAMED, REMEMBERED};
pub use message::{cut, LineView, Message, PodView};
pub use minutes::{observations, MinuteClock, Minutes, WindowLines, MAX_GAP_MINUTES};
pub use outbox::{http_client, DeliveryStats, StatsSnapshot};
pub use policy::{Notice, NoticeKind, ObservedLine, PodAlert, PodObservation, Policy, Scope};
pub use preview::{play, scored_in_time_order, AlertReplay};
pub use redact::{builtin_redactor, redact_url, Redactor, Rewrite, Rule, RULES};
pub use slack::render as render_slack;
pub use teams::render as render_teams;
pub use webhook::{render as render_webhook, WebhookPayload};
