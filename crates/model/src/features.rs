//! Featuriser: a line's tokens to a short dense vector for the isolation forest.
//!
//! Raw sparse TF-IDF does not suit an isolation forest: in a 256-line subsample almost
//! every column is constant zero, so trees split on rare identifiers and novel lines fall
//! on the zero side (measured ROC-AUC below 0.25). Instead each line becomes
//! - a signed random projection of its l2-normalised TF-IDF vector ([`PROJECTION_DIMS`]
//!   values): each token's ±1/0 code comes from a stable hash of the token itself, so
//!   tokens never seen in training still move the vector, weighted by the largest IDF;
//! - a few scalar rarity features: the share of unseen tokens, mean and max IDF, how rare
//!   the line's template is, its severity and its length.

use serde::{Deserialize, Serialize};

use super::hash::mix;
use super::templates::Templates;
use super::tfidf::{Term, TfIdf};
use crate::normalise::{normalise, Tokens, MAX_TOKENS};

/// Width of the random projection of the TF-IDF vector.
pub const PROJECTION_DIMS: usize = 16;
/// Number of scalar features after the projection.
pub const SCALAR_DIMS: usize = 6;
/// Total feature-vector width.
pub const DIMS: usize = PROJECTION_DIMS + SCALAR_DIMS;

/// Names of the features, in vector order, for explanations and docs.
pub const SCALAR_NAMES: [&str; SCALAR_DIMS] = [
    "unseen_token_share",
    "mean_idf",
    "max_idf",
    "template_rarity",
    "severity",
    "length",
];

/// Whether a feature row (from [`Featurizer::features`]) has a token unseen in training.
pub fn has_unseen_token(row: &[f32]) -> bool {
    row.get(PROJECTION_DIMS).is_some_and(|share| *share > 0.0)
}

/// Learnt vocabulary and template statistics; turns lines into feature vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Featurizer {
    /// Vocabulary with fixed IDF.
    pub tfidf: TfIdf,
    /// Template frequencies.
    pub templates: Templates,
}

/// Per-thread buffers, so featurising a line allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The normalised tokens of the current line.
    pub tokens: Tokens,
    terms: Vec<Term>,
}

impl Scratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self {
            tokens: Tokens::new(),
            terms: Vec::with_capacity(MAX_TOKENS),
        }
    }
}

/// Whether a line is featurised as scored (`Live`) or, for calibration, as a training
/// line the model had not learnt (`HeldOut`: its own counts taken out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Against the model as trained.
    Live,
    /// Leave-one-out: the line's tokens and template counted one time fewer.
    HeldOut,
}

impl Featurizer {
    /// Normalises `line` and writes its [`DIMS`] features into `out`.
    pub fn features(&self, line: &str, scratch: &mut Scratch, out: &mut [f32]) {
        self.features_as(line, View::Live, scratch, out);
    }

    /// [`Featurizer::features`] in the given [`View`].
    pub fn features_as(&self, line: &str, view: View, scratch: &mut Scratch, out: &mut [f32]) {
        normalise(line, &mut scratch.tokens);
        self.features_of_tokens(&scratch.tokens, view, &mut scratch.terms, out);
    }

    /// Writes the features of already-normalised tokens into `out`.
    ///
    /// Contract: the result depends on nothing but the tokens (their text, boundaries and
    /// level), the view and this featuriser. The score cache ([`super::cache`]) relies on it to reuse
    /// a score for every line with the same tokens; a feature that looked at the raw line,
    /// the stream or the time would need to be part of the cache key.
    pub fn features_of_tokens(
        &self,
        tokens: &Tokens,
        view: View,
        terms: &mut Vec<Term>,
        out: &mut [f32],
    ) {
        out.fill(0.0);
        terms.clear();
        terms.extend(tokens.iter().map(|t| match view {
            View::Live => self.tfidf.lookup(t),
            View::HeldOut => self.tfidf.lookup_held_out(t),
        }));
        let n = terms.len();
        let unseen_idf = self.tfidf.unseen_idf();
        let unseen = terms.iter().filter(|t| !t.seen).count();
        let idf_sum: f32 = terms.iter().map(|t| t.idf).sum();
        let idf_max = terms.iter().map(|t| t.idf).fold(0.0, f32::max);
        project(terms, &mut out[..PROJECTION_DIMS]);
        let s = &mut out[PROJECTION_DIMS..];
        if n > 0 {
            s[0] = unseen as f32 / n as f32;
            s[1] = idf_sum / n as f32 / unseen_idf;
            s[2] = idf_max / unseen_idf;
        }
        let t = self.templates.id(tokens);
        s[3] = match view {
            View::Live => self.templates.rarity(t),
            View::HeldOut => self.templates.rarity_held_out(t),
        };
        s[4] = tokens.level.severity() / 3.0;
        s[5] = ((1 + n) as f32).ln() / ((1 + MAX_TOKENS) as f32).ln();
    }
}

/// Adds each distinct term's normalised TF-IDF weight times its ±1/0 code (also used for
/// sessions' template counts, see [`super::session`]).
pub(super) fn project(terms: &mut [Term], out: &mut [f32]) {
    terms.sort_unstable_by_key(|t| t.key);
    let mut norm2 = 0.0f32;
    for_each_distinct(terms, |_, w| norm2 += w * w);
    if norm2 <= 0.0 {
        return;
    }
    let inv = norm2.sqrt().recip();
    for_each_distinct(terms, |key, w| {
        let bits = mix(key);
        for (k, o) in out.iter_mut().enumerate() {
            match (bits >> (2 * k)) & 3 {
                0 => *o -= w * inv,
                1 => *o += w * inv,
                _ => {}
            }
        }
    });
}

/// Calls `f(key, tf * idf)` once per distinct key of sorted `terms`.
fn for_each_distinct(terms: &[Term], mut f: impl FnMut(u64, f32)) {
    let mut i = 0;
    while i < terms.len() {
        let key = terms[i].key;
        let mut w = 0.0;
        while i < terms.len() && terms[i].key == key {
            w += terms[i].idf;
            i += 1;
        }
        f(key, w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfidf::DocumentFrequencies;

    fn featurizer(lines: &[&str]) -> Featurizer {
        let mut df = DocumentFrequencies::new();
        let mut templates = Templates::new();
        let mut tokens = Tokens::new();
        for l in lines {
            normalise(l, &mut tokens);
            df.add(tokens.iter());
            templates.learn(&tokens);
        }
        Featurizer {
            tfidf: df.finish(1, 1000),
            templates: templates.mined(),
        }
    }

    fn feats(f: &Featurizer, line: &str) -> Vec<f32> {
        let mut out = vec![0.0; DIMS];
        f.features(line, &mut Scratch::new(), &mut out);
        out
    }

    #[test]
    fn unseen_tokens_raise_rarity_features() {
        let f = featurizer(&["user 1 logged in", "user 2 logged in", "user 3 logged out"]);
        let seen = feats(&f, "user 7 logged in");
        let novel = feats(&f, "x509 certificate expired");
        let s = PROJECTION_DIMS;
        assert_eq!(seen[s], 0.0);
        assert_eq!(novel[s], 1.0);
        assert!(novel[s + 1] > seen[s + 1]);
        assert!(novel[s + 3] > seen[s + 3]);
        assert!((novel[s + 2] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn projection_is_bounded_and_changes_with_new_tokens() {
        let f = featurizer(&["a b c", "a b d"]);
        let base = feats(&f, "aa bb cc");
        let more = feats(&f, "aa bb cc zzz");
        assert_ne!(&base[..PROJECTION_DIMS], &more[..PROJECTION_DIMS]);
        // each value sums 3 unit-norm weights of ±1: at most sqrt(3) in magnitude
        let bound = 3f32.sqrt() + 1e-6;
        assert!(base[..PROJECTION_DIMS].iter().all(|v| v.abs() <= bound));
        assert!(base[..PROJECTION_DIMS].iter().any(|v| *v != 0.0));
    }

    #[test]
    fn same_line_same_features_and_empty_line_is_finite() {
        let f = featurizer(&["a b c"]);
        assert_eq!(feats(&f, "a b zzz"), feats(&f, "a b zzz"));
        assert!(feats(&f, "").iter().all(|v| v.is_finite()));
    }

    #[test]
    fn repeated_token_counts_as_term_frequency() {
        let t = |key, idf| Term {
            key,
            idf,
            seen: true,
        };
        let mut seen = vec![];
        for_each_distinct(&[t(1, 2.0), t(1, 2.0), t(5, 1.0)], |k, w| seen.push((k, w)));
        assert_eq!(seen, vec![(1, 4.0), (5, 1.0)]);
    }
}
