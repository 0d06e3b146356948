//! Template grouping accuracy against Loghub-2k's labelled templates.
//!
//! loganomaly's template of a line is what its model makes of it: the normalised token
//! sequence, clustered with the sequences of training lines whose words mostly agree
//! ([`loganomaly_model`]'s learnt templates). Two lines share a template when they are the
//! same kind of message with other values. Each system's model is trained on its 2 000
//! lines, as template miners are measured, with the default settings. Loghub-2k labels 2 000 lines of each of
//! its systems with the event (template) they come from, so how well the normaliser masks
//! the variable parts can be measured: the *grouping accuracy* of Zhu et al. (ICSE-SEIP
//! 2019) is the share of lines whose group (the lines given the same template) is exactly
//! the set of lines of their labelled event. Lines are taken whole, as a shipper stores
//! them, header included: no per-system format regex, as in the product.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::EvalError;
use loganomaly_model::normalise::Tokens;
use loganomaly_model::{Model, TrainParams, Trainer};

/// The labels measured against: the original templates (`*_structured.csv`), which
/// published parser figures use (Drain's mean grouping accuracy over 16 systems: 0.865).
/// The revised files of Loghub-2.0 keep the same grouping of lines.
const LABELS: &str = "_2k.log_structured.csv";

/// The grouping of one system's 2 000 lines.
#[derive(Debug, Clone, Serialize)]
pub struct SystemGrouping {
    /// The system (`Apache`, `BGL`, ...).
    pub system: String,
    /// Lines measured.
    pub lines: usize,
    /// Labelled events among them.
    pub events: usize,
    /// Templates loganomaly gave them.
    pub templates: usize,
    /// Share of lines whose template groups exactly the lines of their event.
    pub accuracy: f64,
}

/// Grouping accuracy of every system found under `dir` (the `loghub-2k` folder).
pub fn measure(dir: &Path) -> Result<Vec<SystemGrouping>, EvalError> {
    let mut out = Vec::new();
    for (system, log, labels) in systems(dir)? {
        let lines = super::datasets::read_text(&log)?;
        let events = event_ids(&labels)?;
        let lines: Vec<&str> = lines.lines().collect();
        if lines.len() != events.len() {
            return Err(EvalError::data(
                &log,
                0,
                format!(
                    "{} lines but {} labelled in {}",
                    lines.len(),
                    events.len(),
                    labels.display()
                ),
            ));
        }
        let model = train(&lines, &log)?;
        let mut tokens = Tokens::new();
        let templates: Vec<u64> = lines
            .iter()
            .map(|l| model.template_of(l, &mut tokens))
            .collect();
        out.push(SystemGrouping {
            system,
            lines: lines.len(),
            events: distinct(&events),
            templates: distinct(&templates),
            accuracy: grouping_accuracy(&templates, &events),
        });
    }
    if out.is_empty() {
        return Err(EvalError::Split(format!(
            "no system with a labelled 2k log under {}",
            dir.display()
        )));
    }
    Ok(out)
}

/// A model learnt from `lines` with the default settings.
fn train(lines: &[&str], source: &Path) -> Result<Model, EvalError> {
    let mut trainer = Trainer::new(TrainParams::default())?;
    for l in lines {
        trainer.add(l);
    }
    Ok(trainer.finish(&source.display().to_string())?)
}

/// Mean accuracy over the systems.
pub fn mean(systems: &[SystemGrouping]) -> f64 {
    systems.iter().map(|s| s.accuracy).sum::<f64>() / systems.len().max(1) as f64
}

/// `(name, log, labels)` of each system folder holding both files, by name.
fn systems(dir: &Path) -> Result<Vec<(String, PathBuf, PathBuf)>, EvalError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| EvalError::data(dir, 0, format!("cannot list: {e}")))?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let log = e.path().join(format!("{name}_2k.log"));
        let labels = e.path().join(format!("{name}{LABELS}"));
        if log.is_file() && labels.is_file() {
            out.push((name, log, labels));
        }
    }
    out.sort();
    Ok(out)
}

/// The `EventId` column of a structured CSV, in line order.
fn event_ids(path: &Path) -> Result<Vec<String>, EvalError> {
    let column = "EventId";
    let text = super::datasets::read_text(path)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| EvalError::data(path, 1, e.to_string()))?;
    let Some(col) = headers.iter().position(|h| h == column) else {
        return Err(EvalError::data(path, 1, format!("no {column} column")));
    };
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| EvalError::data(path, i + 2, e.to_string()))?;
        let Some(id) = row.get(col) else {
            return Err(EvalError::data(path, i + 2, format!("no {column}")));
        };
        out.push(id.to_string());
    }
    Ok(out)
}

fn distinct<T: std::hash::Hash + Eq>(items: &[T]) -> usize {
    items.iter().collect::<std::collections::HashSet<_>>().len()
}

/// Share of items whose predicted group holds exactly the items of their true group: a
/// predicted group is right when all its items share one true label and no other item
/// has that label.
pub fn grouping_accuracy<P, T>(predicted: &[P], truth: &[T]) -> f64
where
    P: std::hash::Hash + Eq,
    T: std::hash::Hash + Eq,
{
    if predicted.is_empty() {
        return 0.0;
    }
    let mut true_size: HashMap<&T, usize> = HashMap::new();
    for t in truth {
        *true_size.entry(t).or_default() += 1;
    }
    let mut groups: HashMap<&P, (usize, Option<&T>, bool)> = HashMap::new();
    for (p, t) in predicted.iter().zip(truth) {
        let g = groups.entry(p).or_insert((0, Some(t), true));
        g.0 += 1;
        g.2 &= g.1 == Some(t);
    }
    let right: usize = groups
        .values()
        .filter(|(n, t, pure)| *pure && t.is_some_and(|t| true_size.get(t) == Some(n)))
        .map(|(n, _, _)| n)
        .sum();
    right as f64 / predicted.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_counts_only_when_it_is_exactly_its_event() {
        // perfect grouping, whatever the names
        assert_eq!(grouping_accuracy(&[1, 1, 2], &["a", "a", "b"]), 1.0);
        // event a split in two: its 2 lines are wrong, b's line is right
        assert!((grouping_accuracy(&[1, 3, 2], &["a", "a", "b"]) - 1.0 / 3.0).abs() < 1e-9);
        // a and b merged: all wrong
        assert_eq!(grouping_accuracy(&[1, 1, 1], &["a", "a", "b"]), 0.0);
        assert_eq!(grouping_accuracy::<u8, u8>(&[], &[]), 0.0);
    }

    #[test]
    fn lines_of_one_kind_with_other_values_share_a_template() {
        let lines: Vec<String> = (0..300)
            .flat_map(|i| {
                [
                    format!("PacketResponder {} for block blk_{i} terminating", i % 3),
                    format!("Receiving block blk_{i} src: /10.0.0.{}:5001", i % 200),
                    format!(
                        "Invalid user {} from 10.1.1.{} port {} ssh2",
                        ["admin", "oracle", "test"][i % 3],
                        i % 9,
                        i + 1000
                    ),
                ]
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let model = train(&refs, Path::new("test")).unwrap();
        let mut t = Tokens::new();
        let mut id = |l: &str| model.template_of(l, &mut t);
        assert_eq!(id(&lines[0]), id(&lines[3]));
        assert_ne!(id(&lines[0]), id(&lines[1]));
        // a user name never seen is still the same kind of message
        assert_eq!(
            id(&lines[2]),
            id("Invalid user webmaster from 10.1.1.4 port 22 ssh2")
        );
    }
}
