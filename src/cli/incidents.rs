//! `loganomaly incidents`: lists the incident history that `serve` and `replay --alerts`
//! wrote, as a table or JSON, with the filters of `GET /api/v1/incidents`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use loganomaly::alert::{cut, AlertConfig};
use loganomaly::config::ServiceConfig;
use loganomaly::incident::{self, Incident, IncidentConfig, Query};

/// Options of `loganomaly incidents`.
#[derive(Args)]
pub struct IncidentsArgs {
    /// Service config whose `[alerting.incidents]` names the database (as `serve` reads it).
    #[arg(long, short, value_name = "FILE", conflicts_with_all = ["alerts", "database"])]
    config: Option<PathBuf>,
    /// Alert config whose `[incidents]` names the database (as `replay --alerts` reads it).
    #[arg(long, value_name = "FILE", conflicts_with = "database")]
    alerts: Option<PathBuf>,
    /// The database itself: `sqlite:///path/incidents.db`, or `postgres://user@host/db`
    /// for a server that needs no password (else use --config or --alerts).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Only this namespace.
    #[arg(long)]
    namespace: Option<String>,
    /// Only this pod.
    #[arg(long)]
    pod: Option<String>,
    /// Only incidents still going on at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Only incidents that started at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Only `open` or only `resolved` incidents.
    #[arg(long, value_parser = ["open", "resolved"])]
    status: Option<String>,
    /// At most this many, latest start first.
    #[arg(long, default_value_t = 100, value_name = "N")]
    limit: u32,
    /// Print JSON (an array of incidents) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Reads the database and prints the chosen incidents.
pub fn run(a: IncidentsArgs) -> Result<ExitCode> {
    let cfg = incident_config(&a)?;
    let query = Query {
        namespace: a.namespace,
        pod: a.pod,
        from: a.from,
        to: a.to,
        status: a.status,
        limit: Some(a.limit),
    };
    let filter = query.filter().map_err(anyhow::Error::msg)?;
    let db = cfg.database()?;
    let rows = incident::connect(&db)
        .and_then(|mut store| store.list(&filter))
        .context("reading the incident history")?;
    let mut out = io::stdout().lock();
    let written = if a.json {
        serde_json::to_writer_pretty(&mut out, &rows)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        write_table(&mut out, &rows)
    };
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        r => r.context("writing the incidents")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The `[incidents]` section named by the flags.
fn incident_config(a: &IncidentsArgs) -> Result<IncidentConfig> {
    if let Some(url) = &a.database {
        return Ok(IncidentConfig::at(url));
    }
    let section = match (&a.config, &a.alerts) {
        (Some(path), _) => ServiceConfig::load(Some(path))?
            .alerting
            .and_then(|al| al.incidents),
        (None, Some(path)) => AlertConfig::load(path)?.incidents,
        (None, None) => bail!("name the database: --config, --alerts or --database"),
    };
    section.context("the config has no [incidents] section")
}

/// One line per incident, latest first.
fn write_table(out: &mut impl Write, rows: &[Incident]) -> io::Result<()> {
    writeln!(
        out,
        "{:<20}  {:<9}  {:<40}  {:>6}  {:<20}  TOP LINE",
        "STARTED (UTC)", "LASTED", "NAMESPACE/POD", "PEAK", "CATEGORY"
    )?;
    for i in rows {
        let lasted = match i.ended_ns {
            Some(end) => minutes(end - i.started_ns),
            None => "open".to_string(),
        };
        let top = i.top_lines.first().map_or("", |l| l.line.as_str());
        writeln!(
            out,
            "{:<20}  {:<9}  {:<40}  {:>6.1}  {:<20}  {}",
            i.started().get(..19).unwrap_or_default().replace('T', " "),
            lasted,
            cut(&format!("{}/{}", i.namespace, i.pod), 40),
            i.peak_burst,
            i.category,
            cut(top, 100)
        )?;
    }
    Ok(())
}

/// `12 min`, `3 h 05 min`.
fn minutes(ns: i64) -> String {
    let m = ns.max(0) / 60_000_000_000;
    if m < 60 {
        format!("{m} min")
    } else {
        format!("{} h {:02} min", m / 60, m % 60)
    }
}
