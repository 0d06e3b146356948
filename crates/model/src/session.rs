//! Session scoring: a whole session (an HDFS block, a request, a job) gets one score from
//! its *mix* of events, not only from its most abnormal line.
//!
//! Some failures show no abnormal line at all: a block whose replicas were never all
//! written logs fewer "receiving" and "stored" lines than a healthy one, and every line it
//! does log is routine. A per-line scorer cannot see that; a session scorer can.
//!
//! Each session becomes a dense vector for an isolation forest, like lines do
//! ([`super::features`]):
//! - a signed random projection ([`PROJECTION_DIMS`] values) of its idf-weighted count
//!   vector of line templates (loglizer's and LogClustering's event-count vectors): each
//!   template's ±1/0 code comes from a stable hash of the template, so templates never seen
//!   in training still move the vector, with the largest weight;
//! - a few scalars ([`SCALAR_NAMES`]): how rare the session's exact template counts and its
//!   set of templates were among the training sessions, the share of its lines whose
//!   template training never saw (or saw in one session only), its lines' largest and
//!   mean line-model score, and its length.
//!
//! The threshold is the upper `contamination` quantile of the training sessions' held-out
//! scores: each training session is scored as if it had not been learnt (its own counts
//! taken out), so the threshold knows how often healthy sessions bring a mix never seen.
//! Nothing here knows any particular log format or event name.

use std::collections::HashMap;

use linfa::traits::Fit;
use linfa::DatasetBase;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{project, PROJECTION_DIMS};
use super::hash::{extend, mix, template};
use super::iforest::IsolationForest;
use super::templates;
use super::tfidf::Term;
use super::{check_contamination, check_forest, upper_quantile, ModelError};
use crate::normalise::{normalise, Tokens};

/// Number of scalar features after the projection.
pub const SCALAR_DIMS: usize = 6;
/// Total width of a session's feature vector.
pub const DIMS: usize = PROJECTION_DIMS + SCALAR_DIMS;
/// Templates held by fewer training sessions than this count as unseen (as tokens in
/// fewer than `min_df` lines do for the line model): so that the unseen share varies among
/// the training sessions too, and the forest learns how much of it is usual.
const MIN_SESSIONS: u32 = 2;
/// Sessions longer than this count as this long in the length feature.
const LONG_SESSION: usize = 1000;

/// Names of the scalar features, in vector order, for explanations and docs.
pub const SCALAR_NAMES: [&str; SCALAR_DIMS] = [
    "signature_rarity",
    "template_set_rarity",
    "unseen_template_share",
    "max_line_score",
    "mean_line_score",
    "length",
];

/// Settings of the session model; checked by [`SessionParams::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionParams {
    /// Expected share of anomalous sessions: the threshold is this upper quantile of the
    /// training sessions' held-out scores.
    pub contamination: f64,
    /// Number of isolation trees.
    pub trees: usize,
    /// Sessions drawn for each tree.
    pub subsample: usize,
    /// Seed for every random choice.
    pub seed: u64,
    /// Isolate a session at the first tree node whose training range it falls outside, so
    /// that mixes never seen in training (a new signature, an unseen template) score as
    /// novel even on features that training never varied.
    pub range_check: bool,
}

impl Default for SessionParams {
    fn default() -> Self {
        Self {
            contamination: 0.01,
            trees: 100,
            subsample: 256,
            seed: 42,
            range_check: true,
        }
    }
}

impl SessionParams {
    /// Rejects values that cannot train a useful model, naming the parameter.
    pub fn check(&self) -> Result<(), ModelError> {
        check_contamination("session contamination", self.contamination)?;
        check_forest(self.trees, self.subsample)
    }
}

/// One line of a session, as the session model sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionLine {
    /// Identity of the line's template (its normalised token sequence).
    pub template: u64,
    /// The line model's score of the line.
    pub score: f32,
}

impl SessionLine {
    /// Normalises `line` (into the reusable `tokens`) and pairs its template with `score`.
    pub fn new(line: &str, score: f32, tokens: &mut Tokens) -> Self {
        normalise(line, tokens);
        Self {
            template: template(tokens.iter()),
            score,
        }
    }
}

/// Whether a session is featurised as scored (`Live`) or as a training session the model
/// had not learnt (`HeldOut`: its own counts taken out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Live,
    HeldOut,
}

/// What a session is made of: its distinct templates with their counts, and its line
/// scores summed up.
#[derive(Debug, Clone, PartialEq)]
struct Mix {
    /// (template, count), sorted by template.
    counts: Vec<(u64, u32)>,
    /// Number of lines.
    lines: usize,
    /// Largest line score.
    max_score: f32,
    /// Mean line score.
    mean_score: f32,
}

impl Mix {
    fn of(lines: &[SessionLine]) -> Self {
        let mut templates: Vec<u64> = lines.iter().map(|l| l.template).collect();
        templates.sort_unstable();
        let mut counts: Vec<(u64, u32)> = Vec::new();
        for t in templates {
            match counts.last_mut() {
                Some((last, c)) if *last == t => *c += 1,
                _ => counts.push((t, 1)),
            }
        }
        let sum: f32 = lines.iter().map(|l| l.score).sum();
        Self {
            counts,
            lines: lines.len(),
            max_score: lines.iter().map(|l| l.score).fold(0.0, f32::max),
            mean_score: if lines.is_empty() {
                0.0
            } else {
                sum / lines.len() as f32
            },
        }
    }

    /// Identity of the exact template counts.
    fn signature(&self) -> u64 {
        self.counts.iter().fold(mix(1), |h, (t, c)| {
            extend(extend(h, &t.to_le_bytes()), &c.to_le_bytes())
        })
    }

    /// Identity of the set of templates, counts ignored.
    fn template_set(&self) -> u64 {
        self.counts
            .iter()
            .fold(mix(2), |h, (t, _)| extend(h, &t.to_le_bytes()))
    }
}

/// How often things were seen among the training sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionStats {
    /// Training sessions.
    sessions: u64,
    /// Template -> training sessions that hold it at least once.
    #[serde(with = "sorted")]
    template_sessions: HashMap<u64, u32>,
    /// Exact template counts ([`Mix::signature`]) -> training sessions with them.
    #[serde(with = "sorted")]
    signatures: HashMap<u64, u32>,
    /// Template set ([`Mix::template_set`]) -> training sessions with it.
    #[serde(with = "sorted")]
    template_sets: HashMap<u64, u32>,
}

/// Counts persisted as sorted pairs, so that the same training gives the same bytes.
mod sorted {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(map: &HashMap<u64, u32>, s: S) -> Result<S::Ok, S::Error> {
        let mut pairs: Vec<(u64, u32)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        pairs.sort_unstable();
        pairs.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashMap<u64, u32>, D::Error> {
        Ok(Vec::<(u64, u32)>::deserialize(d)?.into_iter().collect())
    }
}

impl SessionStats {
    /// Number of training sessions.
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    fn add(&mut self, m: &Mix) {
        self.sessions += 1;
        for (t, _) in &m.counts {
            *self.template_sessions.entry(*t).or_default() += 1;
        }
        *self.signatures.entry(m.signature()).or_default() += 1;
        *self.template_sets.entry(m.template_set()).or_default() += 1;
    }

    /// A count as `view` sees it: one fewer for a held-out training session.
    fn seen(map: &HashMap<u64, u32>, key: u64, view: View) -> u32 {
        let c = map.get(&key).copied().unwrap_or(0);
        match view {
            View::Live => c,
            View::HeldOut => c.saturating_sub(1),
        }
    }

    /// Rarity in [0, 1]: 0 for something every session had, 1 for something never seen.
    fn rarity(&self, count: u32) -> f32 {
        templates::rarity(count, self.sessions)
    }

    /// Smoothed inverse session frequency, `ln((1 + n) / (1 + df)) + 1`: a template in
    /// every session keeps weight 1 (so a missing routine event still moves the vector),
    /// an unseen one gets the largest weight.
    fn idf(&self, sessions_with: u32) -> f32 {
        let n = self.sessions as f64 + 1.0;
        ((n / (f64::from(sessions_with) + 1.0)).ln() + 1.0) as f32
    }

    /// Writes the [`DIMS`] features of a session into `out`.
    fn features(&self, m: &Mix, view: View, terms: &mut Vec<Term>, out: &mut [f32]) {
        out.fill(0.0);
        terms.clear();
        let mut unseen_lines = 0u32;
        for &(t, c) in &m.counts {
            let df = Self::seen(&self.template_sessions, t, view);
            if df < MIN_SESSIONS {
                unseen_lines += c;
            }
            terms.push(Term {
                key: t,
                idf: c as f32 * self.idf(df),
                seen: df > 0,
            });
        }
        project(terms, &mut out[..PROJECTION_DIMS]);
        let s = &mut out[PROJECTION_DIMS..];
        s[0] = self.rarity(Self::seen(&self.signatures, m.signature(), view));
        s[1] = self.rarity(Self::seen(&self.template_sets, m.template_set(), view));
        s[2] = unseen_lines as f32 / m.lines.max(1) as f32;
        s[3] = m.max_score;
        s[4] = m.mean_score;
        s[5] = length(m.lines);
    }
}

/// `ln(1 + lines)` scaled to [0, 1] at [`LONG_SESSION`] lines.
fn length(lines: usize) -> f32 {
    let n = lines.min(LONG_SESSION);
    ((1 + n) as f32).ln() / ((1 + LONG_SESSION) as f32).ln()
}

/// A trained session model: statistics of the training sessions, the forest fitted on
/// their features and the calibrated threshold. Part of a model file trained with a
/// session key ([`super::TrainParams::session_key`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionModel {
    /// The settings it was trained with.
    pub params: SessionParams,
    /// What the training sessions were made of.
    pub stats: SessionStats,
    /// Session features -> anomaly score.
    pub forest: IsolationForest,
    /// Sessions scoring at or above this are anomalous.
    pub threshold: f32,
}

impl SessionModel {
    /// Scores sessions in parallel, one score each, in `(0, 1]`: higher is more abnormal.
    pub fn score_batch(&self, sessions: &[Vec<SessionLine>]) -> Result<Vec<f32>, ModelError> {
        let mixes: Vec<Mix> = sessions.par_iter().map(|s| Mix::of(s)).collect();
        self.score_mixes(&mixes, View::Live)
    }

    /// Scores one session (for tests and tools; batches are faster).
    pub fn score(&self, lines: &[SessionLine]) -> Result<f32, ModelError> {
        let scores = self.score_mixes(&[Mix::of(lines)], View::Live)?;
        Ok(scores.first().copied().unwrap_or(0.0))
    }

    /// The [`DIMS`] features of a session as scored, for explanations and diagnosis.
    pub fn features(&self, lines: &[SessionLine]) -> Vec<f32> {
        let mut out = vec![0.0; DIMS];
        self.stats
            .features(&Mix::of(lines), View::Live, &mut Vec::new(), &mut out);
        out
    }

    fn score_mixes(&self, mixes: &[Mix], view: View) -> Result<Vec<f32>, ModelError> {
        let rows = self.stats.rows(mixes, view);
        Ok(self.forest.score_samples(rows.view())?.to_vec())
    }
}

impl SessionStats {
    fn rows(&self, mixes: &[Mix], view: View) -> Array2<f32> {
        let mut rows = Array2::<f32>::zeros((mixes.len(), DIMS));
        if let Some(flat) = rows.as_slice_mut() {
            flat.par_chunks_mut(DIMS)
                .zip(mixes.par_iter())
                .for_each_init(Vec::new, |terms, (row, m)| {
                    self.features(m, view, terms, row)
                });
        }
        rows
    }
}

/// Learns a [`SessionModel`] from training sessions (all kept in memory: sessions are few
/// next to lines).
pub struct SessionTrainer {
    params: SessionParams,
    stats: SessionStats,
    /// Each session as scored live (for the fit) and held out (for the threshold).
    live: Vec<Mix>,
    held_out: Vec<Mix>,
}

impl SessionTrainer {
    /// A trainer with checked parameters.
    pub fn new(params: SessionParams) -> Result<Self, ModelError> {
        params.check()?;
        Ok(Self {
            params,
            stats: SessionStats::default(),
            live: Vec::new(),
            held_out: Vec::new(),
        })
    }

    /// Learns from one training session. `held_out_scores` are its lines' scores as if the
    /// line model had not learnt them, in line order (see `Model::score_batch_held_out`);
    /// when their number differs, the live scores stand in.
    pub fn add(&mut self, lines: &[SessionLine], held_out_scores: &[f32]) {
        let live = Mix::of(lines);
        self.stats.add(&live);
        let held_out = if held_out_scores.len() == lines.len() {
            let held: Vec<SessionLine> = lines
                .iter()
                .zip(held_out_scores)
                .map(|(l, &score)| SessionLine { score, ..*l })
                .collect();
            Mix::of(&held)
        } else {
            live.clone()
        };
        self.live.push(live);
        self.held_out.push(held_out);
    }

    /// Sessions learnt from so far.
    pub fn sessions(&self) -> usize {
        self.live.len()
    }

    /// Fits the forest on the sessions' features and calibrates the threshold on their
    /// held-out scores.
    pub fn finish(self) -> Result<SessionModel, ModelError> {
        if self.live.is_empty() {
            return Err(ModelError::NoData);
        }
        let p = self.params;
        let rows = self.stats.rows(&self.live, View::Live);
        let forest = IsolationForest::params()
            .n_trees(p.trees)
            .max_samples(p.subsample.min(self.live.len()))
            .seed(p.seed)
            .range_check(p.range_check)
            .fit(&DatasetBase::from(rows))?;
        let mut model = SessionModel {
            params: p,
            stats: self.stats,
            forest,
            threshold: 0.0,
        };
        let mut held = model.score_mixes(&self.held_out, View::HeldOut)?;
        model.threshold = upper_quantile(&mut held, model.params.contamination);
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session of the given templates, each line scored `score`.
    fn session(templates: &[u64], score: f32) -> Vec<SessionLine> {
        templates
            .iter()
            .map(|&template| SessionLine { template, score })
            .collect()
    }

    /// A healthy session: open, three writes, three acknowledgements, sometimes reads,
    /// sometimes a delete: a few mixes, each common.
    fn healthy(i: usize) -> Vec<SessionLine> {
        let mut t = vec![1, 2, 2, 2, 3, 3, 3];
        t.extend(std::iter::repeat_n(4, i % 3));
        if i % 4 == 0 {
            t.extend([5, 5, 5]);
        }
        session(&t, 0.4 + (i % 5) as f32 * 0.01)
    }

    fn model() -> SessionModel {
        let mut t = SessionTrainer::new(SessionParams {
            trees: 50,
            subsample: 128,
            ..SessionParams::default()
        })
        .unwrap();
        for i in 0..600 {
            let s = healthy(i);
            let held: Vec<f32> = s.iter().map(|l| l.score).collect();
            t.add(&s, &held);
        }
        assert_eq!(t.sessions(), 600);
        t.finish().unwrap()
    }

    #[test]
    fn a_session_missing_events_scores_above_the_threshold_and_a_healthy_one_below() {
        let m = model();
        // every line routine and scored low, but two of the three writes and all the
        // acknowledgements are missing
        let missing = m.score(&session(&[1, 2], 0.4)).unwrap();
        let normal = m.score(&healthy(7)).unwrap();
        assert!(missing > m.threshold, "{missing} vs {}", m.threshold);
        assert!(normal < m.threshold, "{normal} vs {}", m.threshold);
    }

    #[test]
    fn an_extra_repeated_event_scores_above_the_threshold() {
        let m = model();
        let extra = m.score(&session(&[1, 2, 2, 2, 3, 3, 3, 5, 5, 5, 5, 5, 5], 0.4));
        assert!(extra.unwrap() > m.threshold);
    }

    #[test]
    fn an_unseen_template_raises_the_score() {
        let m = model();
        let base = healthy(1);
        let mut with_new = base.clone();
        with_new.push(SessionLine {
            template: 99,
            score: 0.4,
        });
        let (a, b) = (m.score(&base).unwrap(), m.score(&with_new).unwrap());
        assert!(
            b > a && b > m.threshold,
            "{b} vs {a}, threshold {}",
            m.threshold
        );
    }

    #[test]
    fn batch_scores_match_single_ones_and_training_is_reproducible() {
        let (a, b) = (model(), model());
        let sessions = vec![healthy(1), session(&[1], 0.3), Vec::new()];
        let batch = a.score_batch(&sessions).unwrap();
        for (s, score) in sessions.iter().zip(&batch) {
            assert_eq!(a.score(s).unwrap(), *score);
            assert_eq!(b.score(s).unwrap(), *score);
            assert!(score.is_finite());
        }
        assert_eq!(a.threshold, b.threshold);
    }

    #[test]
    fn mix_counts_templates_and_sums_scores() {
        let m = Mix::of(&session(&[3, 1, 3], 0.5));
        assert_eq!(m.counts, vec![(1, 1), (3, 2)]);
        assert_eq!((m.lines, m.max_score, m.mean_score), (3, 0.5, 0.5));
        let other = Mix::of(&session(&[3, 1, 1], 0.5));
        assert_ne!(m.signature(), other.signature());
        assert_eq!(m.template_set(), other.template_set());
    }

    #[test]
    fn held_out_view_makes_a_single_session_signature_new() {
        let mut stats = SessionStats::default();
        let m = Mix::of(&session(&[1, 1, 2], 0.1));
        for other in [&[1, 1][..], &[1, 2, 2], &[1, 3]] {
            stats.add(&Mix::of(&session(other, 0.1)));
        }
        stats.add(&m);
        let (mut live, mut held) = (vec![0.0; DIMS], vec![0.0; DIMS]);
        stats.features(&m, View::Live, &mut Vec::new(), &mut live);
        stats.features(&m, View::HeldOut, &mut Vec::new(), &mut held);
        let s = PROJECTION_DIMS;
        assert!(live[s] < 1.0);
        assert!((held[s] - 1.0).abs() < 1e-6);
        // template 2 is in two training sessions, this one included: learnt, it counts as
        // seen; held out, it is in one session only, which counts as unseen
        assert_eq!(live[s + 2], 0.0);
        assert!((held[s + 2] - 1.0 / 3.0).abs() < 1e-6, "{}", held[s + 2]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        for p in [
            SessionParams {
                contamination: 0.0,
                ..SessionParams::default()
            },
            SessionParams {
                trees: 0,
                ..SessionParams::default()
            },
        ] {
            assert!(matches!(p.check(), Err(ModelError::Params(_))), "{p:?}");
        }
        let empty = SessionTrainer::new(SessionParams::default()).unwrap();
        assert!(matches!(empty.finish(), Err(ModelError::NoData)));
    }
}
