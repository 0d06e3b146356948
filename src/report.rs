//! The replay report: what was read, how fast, and which pods look abnormal and why.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::alert::{Category, Workloads};

use crate::aggregate::{Aggregator, TopLine, BURST_THRESHOLD};
use crate::input::ReadStats;
use crate::quality::Quality;
use loganomaly_model::{describe, Model, ScoredSession, TokenWeight};

/// A whole replay run, for humans ([`fmt::Display`]) or machines (JSON).
#[derive(Debug, Serialize)]
pub struct ReplayReport {
    /// The input file.
    pub input: String,
    /// The model used and its provenance.
    pub model: ModelSummary,
    /// Reader counts.
    pub read: ReadStats,
    /// Wall time in seconds.
    pub elapsed_seconds: f64,
    /// Lines per second, end to end.
    pub lines_per_second: f64,
    /// Peak resident memory of the process, in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Scoring threads (rayon's pool): throughput figures mean little without it.
    pub threads: usize,
    /// Lines at or above the threshold.
    pub anomalous_lines: u64,
    /// Pods (not pod/container pairs) with a container whose burst score crossed
    /// [`BURST_THRESHOLD`].
    pub anomalous_pods: usize,
    /// Pods seen (not pod/container pairs; the ranking lists containers).
    pub pods_total: usize,
    /// The most anomalous pods, ranked.
    pub pods: Vec<PodReport>,
    /// Sessions, when the model was trained with a session key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionsReport>,
    /// Detection quality, when a labels file was found.
    pub evaluation: Option<Evaluation>,
    /// The read error that ended the run early, if any.
    pub error: Option<String>,
}

/// Sessions shown in a report.
const TOP_SESSIONS: usize = 5;

/// How the sessions of a run scored (lines grouped by the model's session key).
#[derive(Debug, Serialize)]
pub struct SessionsReport {
    /// The model's session key.
    pub key: String,
    /// Sessions scored.
    pub scored: usize,
    /// Sessions at or above the session threshold.
    pub anomalous: usize,
    /// The session threshold.
    pub threshold: f32,
    /// The most abnormal sessions, most abnormal first.
    pub top: Vec<ScoredSession>,
}

impl SessionsReport {
    /// Summarises scored sessions.
    pub fn new(key: String, mut sessions: Vec<ScoredSession>, threshold: f32) -> Self {
        sessions.sort_by(|a, b| b.score.total_cmp(&a.score));
        Self {
            key,
            scored: sessions.len(),
            anomalous: sessions.iter().filter(|s| s.anomalous).count(),
            threshold,
            top: sessions.into_iter().take(TOP_SESSIONS).collect(),
        }
    }
}

impl fmt::Display for SessionsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "\n  sessions   {} by key {:?}: {} anomalous (session threshold {:.3})",
            self.scored, self.key, self.anomalous, self.threshold
        )?;
        for s in &self.top {
            let mark = if s.anomalous { '!' } else { ' ' };
            writeln!(
                f,
                "  {mark} {:<40} {:>6} lines  score {:.3}",
                s.key, s.lines, s.score
            )?;
        }
        Ok(())
    }
}

/// Which model scored the run.
#[derive(Debug, Serialize)]
pub struct ModelSummary {
    /// Where it was loaded from.
    pub origin: String,
    /// What it was trained on.
    pub trained_on: String,
    /// When.
    pub trained_at: String,
    /// Lines it learnt from.
    pub training_lines: u64,
    /// Decision threshold in use.
    pub threshold: f32,
}

/// One pod in the ranking.
#[derive(Debug, Serialize)]
pub struct PodReport {
    /// Rank, 1 = most anomalous.
    pub rank: usize,
    /// Namespace.
    pub namespace: String,
    /// Pod.
    pub pod: String,
    /// Container.
    pub container: String,
    /// Lines scored.
    pub lines: u64,
    /// Lines at or above the threshold.
    pub anomalous_lines: u64,
    /// Highest burst score: -log10 of the chance of its worst minute of anomalous lines.
    pub burst: f32,
    /// Highest moving-average line score.
    pub peak_score: f32,
    /// Highest single-line score.
    pub max_score: f32,
    /// Whether the burst score crossed [`BURST_THRESHOLD`].
    pub anomalous: bool,
    /// The most anomalous lines.
    pub top_lines: Vec<TopLine>,
    /// Tokens that made the top line unusual.
    pub why: Vec<TokenWeight>,
    /// The kind of trouble the top line shows (e.g. `connection_refused`).
    pub category: &'static str,
    /// What the on-call engineer should check first.
    pub check_first: &'static str,
    /// The other workload its top lines name most often: where a victim pod's trouble
    /// likely comes from.
    pub dependency: Option<String>,
}

/// Quality against labels.
#[derive(Debug, Serialize)]
pub struct Evaluation {
    /// The labels file.
    pub labels_file: String,
    /// Per-line figures.
    pub lines: Quality,
    /// Rank of each labelled pod in the ranking.
    pub incident_pod_ranks: Vec<(String, usize)>,
    /// Whether every labelled pod ranks above every other pod.
    pub incidents_rank_first: bool,
}

/// Number of tokens shown for each pod's top line.
const WHY_TOKENS: usize = 4;

impl ReplayReport {
    /// Every pod, ranked, with the tokens that explain its most anomalous line.
    pub fn pods(agg: &Aggregator, model: &Model) -> Vec<PodReport> {
        let ranked = agg.ranked();
        let workloads = Workloads::of(ranked.iter().map(|p| p.stream.pod.as_str()));
        ranked
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let why: Vec<TokenWeight> = p
                    .top
                    .first()
                    .map(|t| model.explain(&t.line, WHY_TOKENS))
                    .unwrap_or_default();
                let category = Category::of_line(
                    p.top.first().map_or("", |t| t.line.as_str()),
                    why.iter().any(|w| w.new),
                );
                PodReport {
                    rank: i + 1,
                    namespace: p.stream.namespace.clone(),
                    pod: p.stream.pod.clone(),
                    container: p.stream.container.clone(),
                    lines: p.lines,
                    anomalous_lines: p.anomalous,
                    burst: p.peak_burst,
                    peak_score: p.peak_ewma,
                    max_score: p.max_score,
                    anomalous: p.peak_burst >= BURST_THRESHOLD,
                    why,
                    category: category.id(),
                    check_first: category.check_first(),
                    dependency: workloads
                        .named_by(&p.stream.pod, p.top.iter().map(|t| t.line.as_str())),
                    top_lines: p.top.clone(),
                }
            })
            .collect()
    }
}

/// Width of the pod column.
const POD_COL: usize = 56;
/// Longest line excerpt shown.
const EXCERPT: usize = 110;

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.model;
        writeln!(f, "loganomaly replay of {}", self.input)?;
        writeln!(
            f,
            "  model      {} (trained on {}, {} lines, {}), threshold {:.3}",
            m.origin, m.trained_on, m.training_lines, m.trained_at, m.threshold
        )?;
        let rss = self.peak_rss_bytes.map_or("n/a".to_string(), |b| {
            format!("{:.1} MiB", b as f64 / 1048576.0)
        });
        writeln!(
            f,
            "  read       {} lines in {:.2} s: {:.0} lines/s, threads {}, peak RSS {rss}",
            self.read.lines, self.elapsed_seconds, self.lines_per_second, self.threads
        )?;
        let r = &self.read;
        if r.skipped + r.truncated + r.repaired_utf8 + r.empty > 0 {
            writeln!(
                f,
                "  input      {} invalid records skipped, {} lines truncated, {} with invalid UTF-8 repaired, {} empty",
                r.skipped, r.truncated, r.repaired_utf8, r.empty
            )?;
        }
        let share = 100.0 * self.anomalous_lines as f64 / self.read.lines.max(1) as f64;
        writeln!(
            f,
            "  anomalous  {} lines ({share:.2} %); {} of {} pods with a burst score of {BURST_THRESHOLD} or more",
            self.anomalous_lines, self.anomalous_pods, self.pods_total
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  #  {:<POD_COL$} {:>7} {:>6} {:>6} {:>6} {:>6}",
            "NAMESPACE/POD [CONTAINER]", "LINES", "ANOM", "BURST", "EWMA", "MAX"
        )?;
        for p in &self.pods {
            write_pod(f, p)?;
        }
        if let Some(s) = &self.sessions {
            write!(f, "{s}")?;
        }
        if let Some(e) = &self.evaluation {
            write_evaluation(f, e)?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "\n  stopped early: {e}")?;
        }
        Ok(())
    }
}

fn write_pod(f: &mut fmt::Formatter<'_>, p: &PodReport) -> fmt::Result {
    let mut name = if p.namespace.is_empty() {
        p.pod.clone()
    } else {
        format!("{}/{}", p.namespace, p.pod)
    };
    if !p.container.is_empty() {
        let _ = write!(name, " [{}]", p.container);
    }
    let flag = if p.anomalous { '!' } else { ' ' };
    writeln!(
        f,
        "{flag}{:>2}  {:<POD_COL$} {:>7} {:>6} {:>6.1} {:>6.3} {:>6.3}",
        p.rank,
        clip(&name, POD_COL),
        p.lines,
        p.anomalous_lines,
        p.burst,
        p.peak_score,
        p.max_score
    )?;
    if !p.anomalous {
        return Ok(());
    }
    if let Some(top) = p.top_lines.first() {
        writeln!(f, "      line: {}", clip(top.line.trim(), EXCERPT))?;
    }
    if !p.why.is_empty() {
        writeln!(f, "      why:  {}", describe(&p.why))?;
    }
    writeln!(
        f,
        "      kind: {}; check first: {}",
        p.category.replace('_', " "),
        p.check_first
    )?;
    if let Some(d) = &p.dependency {
        writeln!(
            f,
            "      names: {d}, another workload here: if it is failing too, start there"
        )?;
    }
    Ok(())
}

fn write_evaluation(f: &mut fmt::Formatter<'_>, e: &Evaluation) -> fmt::Result {
    let q = &e.lines;
    writeln!(f, "\n  evaluation against {}", e.labels_file)?;
    let auc = q.roc_auc.map_or("n/a".into(), |a| format!("{a:.4}"));
    writeln!(
        f,
        "    per line: ROC-AUC {auc}; at the threshold precision {:.3}, recall {:.3}, F1 {:.3} ({} labelled of {} lines)",
        q.precision,
        q.recall,
        q.f1,
        q.positives,
        q.positives + q.negatives
    )?;
    let ranks: Vec<String> = e
        .incident_pod_ranks
        .iter()
        .map(|(pod, r)| format!("{pod} #{r}"))
        .collect();
    writeln!(f, "    incident pods: {}", ranks.join(", "))?;
    let verdict = if e.incidents_rank_first { "yes" } else { "NO" };
    writeln!(
        f,
        "    every incident pod ranks above every healthy pod: {verdict}"
    )
}

/// Cuts `s` to at most `max` characters, marking the cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_marks_the_cut_and_counts_chars() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("ééééé", 3), "éé…");
    }
}
