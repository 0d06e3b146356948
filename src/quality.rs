//! Scoring against labels, for the replay report: which lines are known anomalies (a
//! labels file) and how well scores rank them, streamed into fixed-size histograms. The
//! exact per-unit figures of `evaluate` (feature `lab`) are in `evaluate::units`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One line of a labels file (`dataset/*.labels.jsonl`): the anomalous line of `pod` at `ts`.
#[derive(Debug, Deserialize)]
struct LabelRecord {
    pod: String,
    ts: TsField,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TsField {
    Int(i64),
    Str(String),
}

/// Known anomalous lines: pod -> Unix nanoseconds -> label.
#[derive(Debug, Default)]
pub struct Labels {
    by_pod: HashMap<String, HashMap<i64, String>>,
    len: usize,
}

/// Why a labels file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {what}", path.display())]
pub struct LabelsError {
    path: PathBuf,
    line: usize,
    what: String,
}

impl Labels {
    /// Reads a JSONL labels file: `{"pod": "...", "ts": "<ns>", "label": "..."}` a line.
    pub fn load(path: &Path) -> Result<Labels, LabelsError> {
        let err = |line, what: String| LabelsError {
            path: path.to_path_buf(),
            line,
            what,
        };
        let file = File::open(path).map_err(|e| err(0, e.to_string()))?;
        let mut labels = Labels::default();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| err(i + 1, e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let r: LabelRecord =
                serde_json::from_str(&line).map_err(|e| err(i + 1, e.to_string()))?;
            let ts = match r.ts {
                TsField::Int(n) => n,
                TsField::Str(s) => s
                    .parse()
                    .map_err(|_| err(i + 1, format!("ts {s:?} is not Unix nanoseconds")))?,
            };
            let label = r.label.unwrap_or_else(|| "anomaly".into());
            let new = labels.by_pod.entry(r.pod).or_default().insert(ts, label);
            labels.len += usize::from(new.is_none());
        }
        Ok(labels)
    }

    /// The labels file that sits beside `input` (`x.json` -> `x.labels.jsonl`), if any.
    pub fn beside(input: &Path) -> Option<PathBuf> {
        let stem = input.file_stem()?.to_str()?;
        let path = input.with_file_name(format!("{stem}.labels.jsonl"));
        path.is_file().then_some(path)
    }

    /// The label of the line of `pod` at `ts_ns`, if it is a known anomaly.
    pub fn get(&self, pod: &str, ts_ns: i64) -> Option<&str> {
        self.by_pod.get(pod)?.get(&ts_ns).map(String::as_str)
    }

    /// Number of labelled lines.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pods with at least one labelled line.
    pub fn pods(&self) -> Vec<&str> {
        let mut pods: Vec<&str> = self.by_pod.keys().map(String::as_str).collect();
        pods.sort_unstable();
        pods
    }
}

/// Bins of the score histograms: scores lie in (0, 1].
const BINS: usize = 10_000;

/// Streams (score, is-anomaly) pairs into fixed-size histograms, so ROC-AUC of millions of
/// lines needs no per-line memory. Ties within a bin of width 1e-4 count half.
#[derive(Debug, Clone)]
pub struct Confusion {
    pos: Vec<u64>,
    neg: Vec<u64>,
    threshold: f32,
    tp: u64,
    fp: u64,
    fn_: u64,
    tn: u64,
}

/// Detection quality at a glance.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Quality {
    /// Labelled anomalous lines seen.
    pub positives: u64,
    /// Other lines seen.
    pub negatives: u64,
    /// Area under the ROC curve (0.5 is chance).
    pub roc_auc: Option<f64>,
    /// Precision at the model's threshold.
    pub precision: f64,
    /// Recall at the model's threshold.
    pub recall: f64,
    /// F1 at the model's threshold.
    pub f1: f64,
}

impl Confusion {
    /// Empty counts for the given decision threshold.
    pub fn new(threshold: f32) -> Self {
        Self {
            pos: vec![0; BINS],
            neg: vec![0; BINS],
            threshold,
            tp: 0,
            fp: 0,
            fn_: 0,
            tn: 0,
        }
    }

    /// Adds one scored line.
    pub fn add(&mut self, score: f32, anomaly: bool) {
        let bin = ((score.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1);
        let flagged = score >= self.threshold;
        if anomaly {
            self.pos[bin] += 1;
            if flagged {
                self.tp += 1
            } else {
                self.fn_ += 1
            }
        } else {
            self.neg[bin] += 1;
            if flagged {
                self.fp += 1
            } else {
                self.tn += 1
            }
        }
    }

    /// The summary figures.
    pub fn quality(&self) -> Quality {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = ratio(self.tp, self.tp + self.fp);
        let recall = ratio(self.tp, self.tp + self.fn_);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Quality {
            positives: self.tp + self.fn_,
            negatives: self.fp + self.tn,
            roc_auc: self.roc_auc(),
            precision,
            recall,
            f1,
        }
    }

    /// P(score of a random anomaly > score of a random normal line), ties counting half.
    fn roc_auc(&self) -> Option<f64> {
        let (p, n) = (self.tp + self.fn_, self.fp + self.tn);
        if p == 0 || n == 0 {
            return None;
        }
        let mut below = 0u64;
        let mut wins = 0f64;
        for (pos, neg) in self.pos.iter().zip(&self.neg) {
            wins += *pos as f64 * (below as f64 + *neg as f64 / 2.0);
            below += neg;
        }
        Some(wins / (p as f64 * n as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_inverted_rankings() {
        let mut perfect = Confusion::new(0.5);
        let mut inverted = Confusion::new(0.5);
        let mut tied = Confusion::new(0.5);
        for i in 0..100 {
            let s = i as f32 / 100.0;
            perfect.add(s, i >= 90);
            inverted.add(s, i < 10);
            tied.add(0.5, i % 2 == 0);
        }
        assert_eq!(perfect.quality().roc_auc, Some(1.0));
        assert_eq!(inverted.quality().roc_auc, Some(0.0));
        assert_eq!(tied.quality().roc_auc, Some(0.5));
    }

    #[test]
    fn precision_recall_at_threshold() {
        let mut c = Confusion::new(0.5);
        c.add(0.9, true); // tp
        c.add(0.8, false); // fp
        c.add(0.1, true); // fn
        c.add(0.2, false); // tn
        let q = c.quality();
        assert_eq!((q.precision, q.recall, q.f1), (0.5, 0.5, 0.5));
        assert_eq!((q.positives, q.negatives), (2, 2));
    }

    #[test]
    fn single_class_has_no_auc() {
        let mut c = Confusion::new(0.5);
        c.add(0.9, false);
        assert_eq!(c.quality().roc_auc, None);
    }

    #[test]
    fn labels_file_parses_string_and_number_timestamps_and_reports_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.labels.jsonl");
        std::fs::write(
            &path,
            "{\"pod\":\"a\",\"ts\":\"5\",\"label\":\"oom\"}\n\n{\"pod\":\"b\",\"ts\":7}\n",
        )
        .unwrap();
        let l = Labels::load(&path).unwrap();
        assert_eq!(l.get("a", 5), Some("oom"));
        assert_eq!(l.get("b", 7), Some("anomaly"));
        assert_eq!(l.get("a", 6), None);
        assert_eq!(l.pods(), vec!["a", "b"]);
        std::fs::write(&path, "{\"pod\":\"a\",\"ts\":\"x\"}\n").unwrap();
        let e = Labels::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(":1:") && e.contains("not Unix nanoseconds"),
            "{e}"
        );
    }
}
