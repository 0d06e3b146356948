//! The [`Notifier`] trait: what makes Slack, Alertmanager and webhooks different.
//!
//! Everything else is shared: the [`super::outbox`] delivers every payload with the same
//! retries and classifies every response the same way (2xx sent, 429 waits, 5xx and 408
//! back off, other 4xx rejected). Adding a notifier is one file that implements the trait
//! and a `setup` function, its section in [`super::config::AlertConfig`], and one entry
//! in [`SETUPS`].

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::config::{check_secret_url, AlertConfig};
use super::error::AlertError;
use super::message::Message;
use super::outbox::{Auth, Target};
use super::{alertmanager, discord, slack, teams, webhook};
use crate::secret::{Secret, SecretSource};

/// One destination of alert messages: its name and its wire format.
pub(crate) trait Notifier: fmt::Debug + Send + Sync {
    /// `slack`, `alertmanager`, `webhook`: the name in metrics, logs and reports.
    fn name(&self) -> &'static str;

    /// The JSON body to `POST` for one message at `now_ns`.
    fn render(&mut self, msg: &Message, now_ns: i64) -> Value;

    /// A body to send besides the messages at `now_ns` (Alertmanager re-posts its active
    /// alerts so they keep firing); most notifiers have none.
    fn repost(&mut self, _now_ns: i64) -> Option<Value> {
        None
    }

    /// Whether follow-ups of Prometheus alerts go here too; not to Alertmanager, where
    /// the alert came from.
    fn follows_up(&self) -> bool {
        true
    }
}

/// A notifier that keeps no state: one payload per message from a render function.
#[derive(Debug)]
pub(crate) struct Stateless {
    /// See [`Notifier::name`].
    pub name: &'static str,
    /// Message to payload.
    pub render: fn(&Message) -> Value,
}

impl Notifier for Stateless {
    fn name(&self) -> &'static str {
        self.name
    }

    fn render(&mut self, msg: &Message, _now_ns: i64) -> Value {
        (self.render)(msg)
    }
}

/// Reads a secret URL and checks that it is an absolute http(s) URL, naming `key`.
pub(crate) fn secret_url(source: &SecretSource, key: &str) -> Result<Secret, AlertError> {
    let url = source.resolve(key)?;
    check_secret_url(key, &url)?;
    Ok(url)
}

/// The setup of a chat webhook whose URL is its only setting (Slack, Discord, Teams):
/// `None` when its section is absent; its URL read as the secret `key` and checked.
pub(crate) fn chat_webhook(
    url: Option<&SecretSource>,
    key: &str,
    notifier: Stateless,
    pace: Duration,
) -> Result<Option<Setup>, AlertError> {
    let Some(url) = url else {
        return Ok(None);
    };
    let target = Target {
        url: secret_url(url, key)?,
        auth: Auth::None,
        pace,
    };
    Ok(Some(Setup {
        notifier: Box::new(notifier),
        target,
    }))
}

/// A configured notifier with its secrets read and checked, before its outbox starts.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The wire format.
    pub notifier: Box<dyn Notifier>,
    /// Where it posts and how it authenticates.
    pub target: Target,
}

/// Reads one notifier's section of the config: `None` when the section is absent.
type SetupFn = fn(&AlertConfig) -> Result<Option<Setup>, AlertError>;

/// Every notifier, in the order they start and are reported.
const SETUPS: [SetupFn; 5] = [
    slack::setup,
    webhook::setup,
    alertmanager::setup,
    discord::setup,
    teams::setup,
];

/// Every configured notifier, its secrets read (`{ env = … }`, `{ file = … }`) and its
/// secret URLs checked; the error names the first bad key.
pub(crate) fn configured(cfg: &AlertConfig) -> Result<Vec<Setup>, AlertError> {
    let mut setups = Vec::new();
    for setup in SETUPS {
        setups.extend(setup(cfg)?);
    }
    Ok(setups)
}
