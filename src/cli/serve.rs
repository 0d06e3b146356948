//! `loganomaly serve`: the long-running service (read Loki, score, export per-pod scores
//! on /metrics, serve /api/v1/pods, send alerts); and `loganomaly check-config`, which
//! makes the checks `serve` makes before it starts and prints the effective configuration.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use loganomaly::alert::{AlertConfig, Alerter};
use loganomaly::config::ServiceConfig;
use loganomaly::serve::{self, service, Shared, StageConfig};
use loganomaly_model::Model;

use super::args::{ConfigArgs, ThreadsArg};

/// Options of `loganomaly serve`.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// Runs the service until a shutdown signal, then drains and flushes the alerts.
pub fn run(a: ConfigArgs) -> Result<ExitCode> {
    let config = ServiceConfig::load(a.config.as_deref())?;
    config.check_for_serve()?;
    let loki = config.loki.clone();
    let push = config.push_settings();
    let shared = Arc::new(Shared::default());
    if let Some(l) = &loki {
        let _ = shared.loki.set(l.clone());
    }
    match serve_model(&config)? {
        Some((model, name)) => shared.set_model(Arc::new(model), &name),
        None => eprintln!(
            "no model file: training one on the first {} lines",
            config.model.initial_training_lines
        ),
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut stage = config.stage()?;
        let alerts = start_alerts(config.alerting.as_ref(), &shared, &mut stage)?;
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let listen = listener.local_addr().unwrap_or(config.server.listen);
        let reading = match &loki {
            Some(l) => format!("reading {}", l.url),
            None => "no Loki to read".to_string(),
        };
        let pushing = match &push {
            Some(_) => format!(
                "; receiving pushes on http://{listen}{}",
                loganomaly::push::PUSH_PATH
            ),
            None => String::new(),
        };
        eprintln!("serving http://{listen}/metrics; {reading}{pushing}");
        let drain = config.server.drain_timeout;
        let shutdown = serve::shutdown_signal();
        // Loki, or (push only) a source that just waits for the stop
        let source = move |ctx| async move {
            match loki {
                Some(loki) => service::loki_source(loki, ctx).await,
                None => service::push_only_source(ctx).await,
            }
        };
        service::run_with(
            listener,
            Arc::clone(&shared),
            stage,
            drain,
            source,
            push,
            shutdown,
        )
        .await?;
        if let Some((task, deadline)) = alerts {
            // the stage has ended, so the alert task flushes its outboxes and returns
            let _ = tokio::time::timeout(deadline, task).await;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the alert task of `serve` when `[alerting]` names a notifier or an incident
/// database, and connects the scoring stage to it (and `/api/v1/incidents` to the database); returns the task and how long to wait for it to flush on exit.
fn start_alerts(
    cfg: Option<&AlertConfig>,
    shared: &Arc<Shared>,
    stage: &mut StageConfig,
) -> Result<Option<(tokio::task::JoinHandle<()>, Duration)>> {
    let Some(cfg) = cfg.filter(|c| c.has_notifiers() || c.incidents.is_some()) else {
        return Ok(None);
    };
    let alerter = Alerter::new(cfg)?;
    if let Some(inc) = &cfg.incidents {
        let _ = shared.incidents.set(inc.database()?);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(ALERT_BATCHES);
    stage.alerts = Some(tx);
    let (follow_tx, follow_rx) = tokio::sync::mpsc::channel(FOLLOW_UPS);
    let _ = shared.follow_ups.set(follow_tx);
    let task = tokio::spawn(service::alert_task(
        alerter,
        rx,
        follow_rx,
        Arc::clone(shared),
    ));
    let incidents = cfg
        .incidents
        .as_ref()
        .map_or(Duration::ZERO, |i| i.drain_timeout);
    let deadline = cfg.delivery.drain_deadline.max(incidents) + Duration::from_secs(1);
    Ok(Some((task, deadline)))
}

/// Minutes of pod observations queued for the alert task before the stage waits.
const ALERT_BATCHES: usize = 64;

/// Alertmanager notifications queued for follow-up; past this they are answered without.
const FOLLOW_UPS: usize = 64;

/// The model `serve` starts with (and its name), `None` when it trains one first.
fn serve_model(config: &ServiceConfig) -> Result<Option<(Model, String)>> {
    Ok(match (&config.model.path, config.model.use_bundled) {
        (Some(path), _) => Some((Model::load(path)?, path.display().to_string())),
        (None, true) => Some((loganomaly::bundled::model()?, "bundled".to_string())),
        (None, false) => None,
    })
}

/// `check-config`: loads and checks the configuration as `serve` would, loads its model,
/// and prints the effective configuration.
pub fn check_config(a: ConfigArgs) -> Result<ExitCode> {
    let config = ServiceConfig::load(a.config.as_deref())?;
    // the same checks serve makes before it starts
    config.check_for_serve()?;
    serve_model(&config)?;
    print!("{}", config.to_toml());
    Ok(ExitCode::SUCCESS)
}
