//! [`generate`]: budgets the line count over the streams, then writes them one by one.

use std::collections::BTreeSet;
use std::io::Write;

use super::config::{GenerateConfig, GenerateSummary};
use super::error::GenerateError;
use super::planned;
use super::schedule::Schedule;
use super::stream::{self, Budget, Ctx, PLANNED_SALT};
use super::topology::Topology;
use super::writer::{LabelWriter, LokiWriter};

/// Salt of a stream's main RNG.
const STREAM_SALT: u64 = 0x5743;

/// Writes a generated data set: the Loki response to `logs`, the labels to `labels`.
///
/// Exactly `cfg.lines` log lines are written (for any `lines`, including 0). Streams are
/// written one after the other and each stream's lines are produced on the fly, so
/// memory stays flat whatever the line count; only a stream's planned lines (a few
/// hundred at most) are held at once. Labels are written in the same order as the lines
/// (stream by stream), not sorted by time.
pub fn generate<W: Write, L: Write>(
    cfg: &GenerateConfig,
    logs: W,
    labels: L,
) -> Result<GenerateSummary, GenerateError> {
    let sched = Schedule::new(cfg.seed);
    let topo = Topology::build(cfg.seed, &sched);
    let ctx_of = |i: usize| {
        let stream = &topo.streams[i];
        Ctx {
            topo: &topo,
            sched: &sched,
            stream,
            pod: topo.pod_of(stream),
        }
    };

    // Planned lines are a fixed cost; the rest is shared by rate × lifetime.
    let planned_counts: Vec<u64> = (0..topo.streams.len())
        .map(|i| {
            let mut rng = stream::stream_rng(cfg.seed, i, PLANNED_SALT);
            planned::render(ctx_of(i), &mut rng).len() as u64
        })
        .collect();
    let budgets = allocate(cfg.lines, &topo, &planned_counts);

    let mut loki = LokiWriter::new(logs)?;
    let mut labs = LabelWriter::new(labels);
    let mut summary = GenerateSummary {
        first_ns: u64::MAX,
        ..GenerateSummary::default()
    };
    let mut pods = BTreeSet::new();
    let mut namespaces = BTreeSet::new();

    for (i, budget) in budgets.iter().enumerate() {
        if budget.total == 0 {
            continue;
        }
        let ctx = ctx_of(i);
        let pod = ctx.pod;
        let mut prng = stream::stream_rng(cfg.seed, i, PLANNED_SALT);
        let planned_lines = planned::render(ctx, &mut prng);
        let mut rng = stream::stream_rng(cfg.seed, i, STREAM_SALT);
        loki.begin_stream(pod.namespace, &pod.name, ctx.stream.container)?;
        let written = stream::run(ctx, &mut rng, planned_lines, *budget, |ts, line, tag| {
            loki.value(ts, line)?;
            summary.first_ns = summary.first_ns.min(ts);
            summary.last_ns = summary.last_ns.max(ts);
            if let Some(tag) = tag {
                labs.label(pod.namespace, &pod.name, ts, tag.label, tag.incident)?;
                *summary.labelled.entry(tag.label).or_insert(0) += 1;
            }
            Ok(())
        })?;
        loki.end_stream()?;
        summary.lines += written;
        summary.streams += 1;
        pods.insert(pod.name.as_str());
        namespaces.insert(pod.namespace);
    }
    summary.log_bytes = loki.finish()?;
    labs.finish()?;
    summary.pods = pods.len();
    summary.namespaces = namespaces.len();
    if summary.lines == 0 {
        summary.first_ns = 0;
    }
    Ok(summary)
}

/// Splits `lines` over the streams: each gets its planned lines, and the rest is shared
/// in proportion to rate × lifetime by largest remainder, so the total is exact. When
/// `lines` is below the planned total, the planned counts themselves are scaled down.
fn allocate(lines: u64, topo: &Topology, planned: &[u64]) -> Vec<Budget> {
    let planned_total: u64 = planned.iter().sum();
    let (fixed, rest) = if lines >= planned_total {
        (planned.to_vec(), lines - planned_total)
    } else {
        let w: Vec<f64> = planned.iter().map(|&p| p as f64).collect();
        (largest_remainder(lines, &w), 0)
    };
    let weights: Vec<f64> = topo
        .streams
        .iter()
        .map(|s| s.rate * (s.alive.1 - s.alive.0) as f64)
        .collect();
    let shares = largest_remainder(rest, &weights);
    fixed
        .iter()
        .zip(shares)
        .map(|(&f, share)| Budget {
            share,
            total: f + share,
        })
        .collect()
}

/// Integer parts of `total · w_i / Σw`, plus one for the largest remainders, summing to
/// exactly `total` (ties go to the lower index).
fn largest_remainder(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if total == 0 || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let assigned: u64 = out.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order
        .iter()
        .cycle()
        .take(total.saturating_sub(assigned) as usize)
    {
        out[i] += 1;
    }
    out
}
