//! Exact detection figures over units small enough to hold in memory (lines, blocks, pod
//! windows of an evaluation): ROC-AUC, PR-AUC, and the counts at the model's threshold and
//! at the best one.

use serde::Serialize;

/// Exact detection figures over scored units (lines, blocks): for sets small enough to
/// hold, where the histogram of [`crate::quality::Confusion`] would blur close scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnitQuality {
    /// Anomalous units.
    pub positives: u64,
    /// Normal units.
    pub negatives: u64,
    /// Area under the ROC curve, ties counting half (`None` with one class only).
    pub roc_auc: Option<f64>,
    /// Area under the precision-recall curve (average precision).
    pub pr_auc: Option<f64>,
    /// Counts and figures at the model's threshold.
    pub at_threshold: Counts,
    /// Counts and figures at the threshold with the highest F1 (hindsight: an upper bound).
    pub best: Counts,
}

/// Confusion counts at one threshold, with precision, recall and F1.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Counts {
    /// Units at or above this score are flagged.
    pub threshold: f32,
    /// Anomalies flagged.
    pub tp: u64,
    /// Normal units flagged.
    pub fp: u64,
    /// Anomalies missed.
    pub fn_: u64,
    /// Normal units not flagged.
    pub tn: u64,
    /// tp / (tp + fp).
    pub precision: f64,
    /// tp / (tp + fn).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

impl Counts {
    /// Share of the normal units flagged: fp / (fp + tn), to set beside the contamination
    /// a model was trained for.
    pub fn healthy_flag_rate(&self) -> f64 {
        if self.fp + self.tn == 0 {
            return 0.0;
        }
        self.fp as f64 / (self.fp + self.tn) as f64
    }

    fn new(threshold: f32, tp: u64, fp: u64, pos: u64, neg: u64) -> Self {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, pos));
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Self {
            threshold,
            tp,
            fp,
            fn_: pos - tp,
            tn: neg - fp,
            precision,
            recall,
            f1,
        }
    }
}

/// Scores `(score, anomalous)` units at `threshold` and at every other possible threshold.
pub fn unit_quality(units: &mut [(f32, bool)], threshold: f32) -> UnitQuality {
    units.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let pos = units.iter().filter(|u| u.1).count() as u64;
    let neg = units.len() as u64 - pos;
    let at = |t: f32| {
        let flagged = units.iter().take_while(|u| u.0 >= t);
        let tp = flagged.clone().filter(|u| u.1).count() as u64;
        Counts::new(t, tp, flagged.count() as u64 - tp, pos, neg)
    };
    let mut best = at(f32::INFINITY);
    let (mut tp, mut fp, mut ap, mut auc_wins) = (0u64, 0u64, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < units.len() {
        let score = units[i].0;
        let (mut dtp, mut dfp) = (0u64, 0u64);
        while i < units.len() && units[i].0 == score {
            if units[i].1 {
                dtp += 1
            } else {
                dfp += 1
            }
            i += 1;
        }
        // each anomaly beats the normal units below it and ties with those level with it
        auc_wins += dtp as f64 * ((neg - fp - dfp) as f64 + dfp as f64 / 2.0);
        tp += dtp;
        fp += dfp;
        if pos > 0 {
            ap += dtp as f64 / pos as f64 * tp as f64 / (tp + fp) as f64;
        }
        let c = Counts::new(score, tp, fp, pos, neg);
        if c.f1 > best.f1 {
            best = c;
        }
    }
    let both = pos > 0 && neg > 0;
    UnitQuality {
        positives: pos,
        negatives: neg,
        roc_auc: both.then(|| auc_wins / (pos as f64 * neg as f64)),
        pr_auc: (pos > 0).then_some(ap),
        at_threshold: at(threshold),
        best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_unit_quality_matches_hand_counts() {
        // scores high to low: A A N A N N (A = anomaly)
        let mut u = vec![
            (0.9, true),
            (0.2, false),
            (0.8, true),
            (0.6, false),
            (0.5, true),
            (0.1, false),
        ];
        let q = unit_quality(&mut u, 0.65);
        assert_eq!((q.positives, q.negatives), (3, 3));
        // anomalies beat 3, 3 and 2 of the 3 normal units
        assert!((q.roc_auc.unwrap() - 8.0 / 9.0).abs() < 1e-12);
        // AP = (1/3)(1 + 1 + 3/4)
        assert!((q.pr_auc.unwrap() - 11.0 / 12.0).abs() < 1e-12);
        let t = &q.at_threshold;
        assert_eq!((t.tp, t.fp, t.fn_, t.tn), (2, 0, 1, 3));
        // best: everything down to 0.5 flagged, P 3/4 R 1 beats P 1 R 2/3
        assert!((q.best.f1 - 6.0 / 7.0).abs() < 1e-12);
        assert_eq!(q.best.threshold, 0.5);
        let q = unit_quality(&mut u, 0.5);
        assert_eq!((q.at_threshold.tp, q.at_threshold.fp), (3, 1));
        assert!((q.at_threshold.precision - 0.75).abs() < 1e-12);
    }

    #[test]
    fn tied_scores_count_half_and_one_class_has_no_auc() {
        let mut u = vec![(0.5, true), (0.5, false)];
        assert_eq!(unit_quality(&mut u, 0.9).roc_auc, Some(0.5));
        let mut u = vec![(0.5, false)];
        let q = unit_quality(&mut u, 0.9);
        assert_eq!((q.roc_auc, q.pr_auc), (None, None));
    }
}
