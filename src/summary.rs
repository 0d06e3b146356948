//! `loganomaly summarize`: what a period of logs held, as Markdown for a person: per
//! workload, its volume, the line templates the model has never seen and those that grew
//! far beyond their training share, its anomalous pods; and the incidents the alert policy
//! would have raised, each with an example line (redacted).
//!
//! The lines (a file, or a period read from Loki) go through the pipeline like every
//! command (`alert::scored_in_time_order`),
//! then the lines are played in log-time order through the aggregator and the alert
//! policy that `serve` and `replay --alerts` use.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use loganomaly_model::normalise::Tokens;
use loganomaly_model::Model;

use crate::aggregate::{AggregateParams, Aggregator};
use crate::alert::{
    self, workload_of, AlertError, MinuteClock, Notice, NoticeKind, Policy, PolicyConfig, Redactor,
};
use crate::event::{rfc3339, ScoredLine};
use crate::pipeline::Source;
use crate::replay::RunOptions;

/// A template counts as grown when its share of the period is this many times its share of
/// the training lines.
const GROWTH: f64 = 10.0;
/// Lines of one template below which it is not reported as new or grown: noise.
const MIN_LINES: u64 = 3;
/// Templates listed per workload and kind, at most.
const TEMPLATES_SHOWN: usize = 5;
/// Characters of an example line, at most.
const EXAMPLE_CHARS: usize = 160;
/// Burst score at or above which a pod is listed as anomalous (the policy's default).
const ANOMALOUS_BURST: f32 = 9.0;

/// A summarised period.
#[derive(Debug)]
pub struct Summary {
    /// What was read.
    pub input: String,
    /// Lines scored.
    pub lines: u64,
    /// First and last line's time (Unix ns).
    pub span: Option<(i64, i64)>,
    /// Workloads, most anomalous lines first.
    pub workloads: Vec<Workload>,
    /// Incidents the policy raised, in order.
    pub incidents: Vec<Incident>,
    /// What the period shows in a few sentences, from the `[explain]` LLM, when asked.
    pub narrative: Option<String>,
}

/// One workload (a Deployment, StatefulSet… named from its pods) in the period.
#[derive(Debug, Default)]
pub struct Workload {
    /// Namespace.
    pub namespace: String,
    /// Workload name.
    pub name: String,
    /// Lines logged.
    pub lines: u64,
    /// Lines at or above the threshold.
    pub anomalous_lines: u64,
    /// Pods seen.
    pub pods: usize,
    /// Pods whose burst score reached [`ANOMALOUS_BURST`], with their peak.
    pub anomalous_pods: Vec<(String, f32)>,
    /// Templates the model never saw, most lines first.
    pub new_templates: Vec<Seen>,
    /// Templates far above their training share, most lines first.
    pub grown_templates: Vec<Seen>,
}

/// A template seen in the period.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Lines of it.
    pub lines: u64,
    /// How many times its training share (0 for a new template).
    pub growth: f64,
    /// One of its lines, redacted and cut.
    pub example: String,
}

/// An alert episode of one pod.
#[derive(Debug, Clone)]
pub struct Incident {
    /// Namespace.
    pub namespace: String,
    /// Pod.
    pub pod: String,
    /// When it started (Unix ns).
    pub since_ns: i64,
    /// When it resolved, if it did within the period.
    pub ended_ns: Option<i64>,
    /// Highest burst score.
    pub peak_burst: f32,
    /// The kind of trouble.
    pub category: &'static str,
    /// Its most anomalous line, redacted and cut.
    pub example: String,
}

/// Summarises the lines of `source` (a file: [`RunOptions::file`]; or Loki's, through a
/// channel) with `model`; `input` names them in the report.
pub fn summarize(
    input: &str,
    source: Source,
    model: &Arc<Model>,
    opts: &RunOptions,
) -> Result<Summary, AlertError> {
    let lines = alert::scored_in_time_order(source, Arc::clone(model), opts)?;
    let redactor = Redactor::new(&[])?;
    let threshold = opts.threshold.unwrap_or(model.threshold);
    let mut counts = Counts::new(model, &redactor);
    let mut incidents = Incidents::new(model, threshold, &redactor);
    for s in &lines {
        counts.add(s);
        incidents.add(s);
    }
    Ok(Summary {
        input: input.to_string(),
        lines: lines.len() as u64,
        span: lines
            .first()
            .zip(lines.last())
            .map(|(a, b)| (a.log.ts_ns, b.log.ts_ns)),
        workloads: counts.finish(),
        incidents: incidents.finish(),
        narrative: None,
    })
}

/// Per workload and template counts, and the aggregator for pod bursts.
struct Counts<'a> {
    model: &'a Model,
    redactor: &'a Redactor,
    tokens: Tokens,
    agg: Aggregator,
    workloads: BTreeMap<(String, String), Workload>,
    /// Per (workload, template): lines and an example.
    templates: BTreeMap<((String, String), u64), (u64, String)>,
}

impl<'a> Counts<'a> {
    fn new(model: &'a Model, redactor: &'a Redactor) -> Self {
        Self {
            model,
            redactor,
            tokens: Tokens::new(),
            agg: Aggregator::new(AggregateParams::for_model(model)),
            workloads: BTreeMap::new(),
            templates: BTreeMap::new(),
        }
    }

    fn add(&mut self, s: &ScoredLine) {
        self.agg.add(s);
        let st = &s.log.stream;
        let key = (st.namespace.clone(), workload_of(&st.pod).to_string());
        let w = self.workloads.entry(key.clone()).or_default();
        w.lines += 1;
        w.anomalous_lines += u64::from(s.anomalous);
        let id = self.model.template_of(&s.log.line, &mut self.tokens);
        let redactor = self.redactor;
        let entry = self
            .templates
            .entry((key, id))
            .or_insert_with(|| (0, example(redactor, &s.log.line)));
        entry.0 += 1;
    }

    fn finish(mut self) -> Vec<Workload> {
        let training = self.model.meta.training_lines.max(1) as f64;
        let period: u64 = self.workloads.values().map(|w| w.lines).sum();
        let period = period.max(1) as f64;
        let known = &self.model.featurizer.templates;
        for ((key, id), (lines, example)) in std::mem::take(&mut self.templates) {
            let Some(w) = self.workloads.get_mut(&key) else {
                continue;
            };
            if lines < MIN_LINES {
                continue;
            }
            let trained = f64::from(known.count(id));
            let seen = |growth| Seen {
                lines,
                growth,
                example: example.clone(),
            };
            if trained == 0.0 {
                w.new_templates.push(seen(0.0));
                continue;
            }
            // shares of all lines, in the period and in training: the model's counts are
            // not per workload
            let growth = (lines as f64 / period) / (trained / training);
            if growth >= GROWTH {
                w.grown_templates.push(seen(growth));
            }
        }
        // pods, not pod/container pairs: a pod's peak is its most anomalous container's
        let mut pods: BTreeMap<(&str, &str), f32> = BTreeMap::new();
        for p in self.agg.pods() {
            let peak = pods
                .entry((p.stream.namespace.as_str(), p.stream.pod.as_str()))
                .or_insert(0.0);
            *peak = peak.max(p.peak_burst);
        }
        for ((namespace, pod), peak) in pods {
            let key = (namespace.to_string(), workload_of(pod).to_string());
            if let Some(w) = self.workloads.get_mut(&key) {
                w.pods += 1;
                if peak >= ANOMALOUS_BURST {
                    w.anomalous_pods.push((pod.to_string(), peak));
                }
            }
        }
        let mut out: Vec<Workload> = self
            .workloads
            .into_iter()
            .map(|((namespace, name), mut w)| {
                w.namespace = namespace;
                w.name = name;
                for list in [&mut w.new_templates, &mut w.grown_templates] {
                    list.sort_by_key(|t| std::cmp::Reverse(t.lines));
                    list.truncate(TEMPLATES_SHOWN);
                }
                w.anomalous_pods.sort_by(|a, b| b.1.total_cmp(&a.1));
                w
            })
            .collect();
        out.sort_by_key(|w| std::cmp::Reverse(w.anomalous_lines));
        out
    }
}

/// The alert policy on log time, as `replay --alerts` plays it, keeping the episodes.
struct Incidents<'a> {
    clock: MinuteClock<'a>,
    policy: Policy,
    redactor: &'a Redactor,
    open: BTreeMap<(String, String), Incident>,
    done: Vec<Incident>,
}

impl<'a> Incidents<'a> {
    fn new(model: &'a Model, threshold: f32, redactor: &'a Redactor) -> Self {
        Self {
            clock: MinuteClock::new(model, threshold, AggregateParams::for_model(model)),
            policy: Policy::new(PolicyConfig::default()),
            redactor,
            open: BTreeMap::new(),
            done: Vec::new(),
        }
    }

    fn add(&mut self, s: &ScoredLine) {
        let (policy, redactor) = (&mut self.policy, self.redactor);
        let (open, done) = (&mut self.open, &mut self.done);
        let _ = self.clock.add(s, |now, obs| {
            for n in policy.evaluate(now, obs) {
                note(&n, redactor, open, done);
            }
            Ok::<(), ()>(())
        });
    }

    fn finish(mut self) -> Vec<Incident> {
        let (policy, redactor) = (&mut self.policy, self.redactor);
        let (open, done) = (&mut self.open, &mut self.done);
        let _ = self
            .clock
            .finish_one(std::time::Duration::ZERO, false, |now, obs| {
                for n in policy.evaluate(now, obs) {
                    note(&n, redactor, open, done);
                }
                Ok::<(), ()>(())
            });
        let mut all = std::mem::take(&mut self.done);
        all.extend(std::mem::take(&mut self.open).into_values());
        all.sort_by_key(|i| i.since_ns);
        all
    }
}

/// Opens, updates or closes the incidents `n` is about.
fn note(
    n: &Notice,
    redactor: &Redactor,
    open: &mut BTreeMap<(String, String), Incident>,
    done: &mut Vec<Incident>,
) {
    for a in n.alerts() {
        let key = (a.namespace.clone(), a.pod.clone());
        match n.kind() {
            NoticeKind::Firing | NoticeKind::Reminder => {
                let i = open.entry(key).or_insert_with(|| Incident {
                    namespace: a.namespace.clone(),
                    pod: a.pod.clone(),
                    since_ns: a.since_ns,
                    ended_ns: None,
                    peak_burst: 0.0,
                    category: a.category.label(),
                    example: a
                        .top_lines
                        .first()
                        .map_or(String::new(), |l| example(redactor, &l.line)),
                });
                i.peak_burst = i.peak_burst.max(a.peak_burst);
            }
            NoticeKind::Resolved => {
                if let Some(mut i) = open.remove(&key) {
                    i.ended_ns = a.ended_ns.or(Some(a.at_ns));
                    i.peak_burst = i.peak_burst.max(a.peak_burst);
                    done.push(i);
                }
            }
        }
    }
}

/// A line as a report shows it: credentials masked, cut.
fn example(redactor: &Redactor, line: &str) -> String {
    alert::cut(&redactor.redact(line), EXAMPLE_CHARS)
}

/// Text safe inside a Markdown code span (no backticks) and table cell (no pipes, no
/// line breaks).
fn code(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '¦',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    format!("`{clean}`")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# Log summary of {}\n", self.input)?;
        if let Some(text) = &self.narrative {
            writeln!(f, "> {} *(LLM)*\n", text.replace('\n', " "))?;
        }
        let span = self.span.map_or(String::from("no lines"), |(a, b)| {
            format!("from {} to {}", rfc3339(a), rfc3339(b))
        });
        let pods: usize = self.workloads.iter().map(|w| w.pods).sum();
        writeln!(
            f,
            "{} lines {span}: {} workloads, {pods} pods; {} incidents.\n",
            self.lines,
            self.workloads.len(),
            self.incidents.len()
        )?;
        self.fmt_incidents(f)?;
        writeln!(f, "## Workloads\n")?;
        for w in &self.workloads {
            fmt_workload(w, f)?;
        }
        Ok(())
    }
}

impl Summary {
    fn fmt_incidents(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "## Incidents\n")?;
        if self.incidents.is_empty() {
            return writeln!(
                f,
                "None: no pod's burst score held above the policy's threshold.\n"
            );
        }
        writeln!(f, "| since | until | pod | kind | peak burst | example |")?;
        writeln!(f, "| --- | --- | --- | --- | --- | --- |")?;
        for i in &self.incidents {
            let until = i.ended_ns.map_or("still open".to_string(), rfc3339);
            writeln!(
                f,
                "| {} | {until} | {}/{} | {} | {:.1} | {} |",
                rfc3339(i.since_ns),
                i.namespace,
                i.pod,
                i.category,
                i.peak_burst,
                code(&i.example)
            )?;
        }
        writeln!(f)
    }
}

fn fmt_workload(w: &Workload, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let name = if w.namespace.is_empty() {
        w.name.clone()
    } else {
        format!("{}/{}", w.namespace, w.name)
    };
    writeln!(f, "### {name}\n")?;
    writeln!(
        f,
        "- {} lines ({} anomalous) from {} pods",
        w.lines, w.anomalous_lines, w.pods
    )?;
    if !w.anomalous_pods.is_empty() {
        let mut pods = String::new();
        for (i, (pod, peak)) in w.anomalous_pods.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(pods, "{sep}{pod} (peak burst {peak:.1})");
        }
        writeln!(f, "- anomalous pods: {pods}")?;
    }
    for (title, list) in [
        ("new templates (never seen by the model)", &w.new_templates),
        ("templates that grew against the model", &w.grown_templates),
    ] {
        if list.is_empty() {
            continue;
        }
        writeln!(f, "- {title}:")?;
        for t in list {
            let growth = if t.growth > 0.0 {
                format!(" ({:.0}x its training share)", t.growth)
            } else {
                String::new()
            };
            writeln!(f, "  - {} lines{growth}: {}", t.lines, code(&t.example))?;
        }
    }
    writeln!(f)
}
