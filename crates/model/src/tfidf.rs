//! TF-IDF with document frequencies fixed at training time.
//!
//! linfa-preprocessing's vectoriser recomputes IDF from whatever batch it transforms (one
//! line alone gets idf = 1 everywhere) and is `!Sync`, so the hot path owns its transform:
//! IDF is learnt once by [`DocumentFrequencies`] and frozen in [`TfIdf`]. A token never
//! seen (or seen fewer than `min_df` times) gets the largest IDF there is, so novelty
//! raises a line's weight instead of vanishing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::hash::fnv1a;

/// Counts in how many lines each token occurs, during training.
#[derive(Debug, Default, Clone)]
pub struct DocumentFrequencies {
    /// token -> (document frequency, last document that counted it)
    counts: HashMap<String, (u32, u64)>,
    docs: u64,
}

/// Past this many distinct tokens, tokens seen once are pruned to bound memory.
const MAX_TRACKED_TOKENS: usize = 2_000_000;

impl DocumentFrequencies {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one line's tokens (each distinct token once).
    pub fn add<'a>(&mut self, tokens: impl Iterator<Item = &'a str>) {
        self.docs += 1;
        let doc = self.docs;
        for tok in tokens {
            match self.counts.get_mut(tok) {
                Some((df, last)) if *last != doc => {
                    *df += 1;
                    *last = doc;
                }
                Some(_) => {}
                None => {
                    self.counts.insert(tok.to_string(), (1, doc));
                }
            }
        }
        if self.counts.len() > MAX_TRACKED_TOKENS {
            self.counts.retain(|_, (df, _)| *df > 1);
        }
    }

    /// Number of lines counted.
    pub fn docs(&self) -> u64 {
        self.docs
    }

    /// Freezes the vocabulary: tokens in at least `min_df` lines, the `max_vocab` most
    /// frequent, in a deterministic order (frequency, then token).
    pub fn finish(self, min_df: u32, max_vocab: usize) -> TfIdf {
        let mut kept: Vec<(String, u32)> = self
            .counts
            .into_iter()
            .filter(|(_, (df, _))| *df >= min_df)
            .map(|(t, (df, _))| (t, df))
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(max_vocab);
        TfIdf::from_parts(TfIdfParts {
            tokens: kept.iter().map(|(t, _)| t.clone()).collect(),
            df: kept.iter().map(|(_, df)| *df).collect(),
            docs: self.docs,
            min_df,
        })
    }
}

/// The frozen vocabulary with its IDF weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "TfIdfParts", into = "TfIdfParts")]
pub struct TfIdf {
    parts: TfIdfParts,
    index: HashMap<String, u32>,
    idf: Vec<f32>,
    unseen_idf: f32,
}

/// What is persisted; the lookup table and weights are rebuilt on load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TfIdfParts {
    /// Tokens, column order.
    pub tokens: Vec<String>,
    /// Document frequency of each token.
    pub df: Vec<u32>,
    /// Number of training lines.
    pub docs: u64,
    /// Tokens in fewer training lines than this were left out of the vocabulary.
    pub min_df: u32,
}

impl TryFrom<TfIdfParts> for TfIdf {
    type Error = String;
    fn try_from(p: TfIdfParts) -> Result<Self, String> {
        if p.tokens.len() != p.df.len() {
            return Err(format!(
                "vocabulary has {} tokens but {} frequencies",
                p.tokens.len(),
                p.df.len()
            ));
        }
        if p.df.iter().any(|&df| df == 0 || u64::from(df) > p.docs) {
            return Err("a document frequency is out of range".into());
        }
        Ok(Self::from_parts(p))
    }
}

impl From<TfIdf> for TfIdfParts {
    fn from(t: TfIdf) -> Self {
        t.parts
    }
}

impl TfIdf {
    fn from_parts(parts: TfIdfParts) -> Self {
        let idf = parts.df.iter().map(|&d| idf_of(d, parts.docs)).collect();
        let index = parts
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self {
            unseen_idf: idf_of(0, parts.docs),
            parts,
            index,
            idf,
        }
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.idf.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// The IDF given to tokens outside the vocabulary: the largest possible.
    pub fn unseen_idf(&self) -> f32 {
        self.unseen_idf
    }

    /// A token's column key and IDF; unseen tokens get a hash key and the unseen IDF.
    pub fn lookup(&self, token: &str) -> Term {
        match self.index.get(token) {
            Some(&i) => Term {
                key: fnv1a(token.as_bytes()),
                idf: self.idf[i as usize],
                seen: true,
            },
            None => Term {
                key: fnv1a(token.as_bytes()),
                idf: self.unseen_idf,
                seen: false,
            },
        }
    }

    /// [`TfIdf::lookup`] for a token of a training line as if that line had not been
    /// learnt: its document frequency less one. Calibrating on such held-out terms shows
    /// how often healthy lines carry a token seen nowhere else.
    pub fn lookup_held_out(&self, token: &str) -> Term {
        let key = fnv1a(token.as_bytes());
        let df = self.index.get(token).map(|&i| self.parts.df[i as usize]);
        match df {
            Some(df) if df > self.parts.min_df => Term {
                key,
                idf: idf_of(df - 1, self.parts.docs),
                seen: true,
            },
            _ => Term {
                key,
                idf: self.unseen_idf,
                seen: false,
            },
        }
    }

    /// Training-time IDF of a token, if it is in the vocabulary.
    pub fn idf(&self, token: &str) -> Option<f32> {
        self.index.get(token).map(|&i| self.idf[i as usize])
    }
}

/// Smoothed inverse document frequency, as scikit-learn's `smooth_idf=True`.
fn idf_of(df: u32, docs: u64) -> f32 {
    let n = docs as f64;
    (((1.0 + n) / (1.0 + f64::from(df))).ln() + 1.0) as f32
}

/// One token as the vectoriser sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Term {
    /// Stable hash of the token: its identity in the projection.
    pub key: u64,
    /// Inverse document frequency.
    pub idf: f32,
    /// Whether the token is in the training vocabulary.
    pub seen: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(docs: &[&str], min_df: u32) -> TfIdf {
        let mut df = DocumentFrequencies::new();
        for d in docs {
            df.add(d.split(' '));
        }
        df.finish(min_df, 1000)
    }

    #[test]
    fn idf_matches_linfa_preprocessing_on_the_training_batch() {
        use linfa_preprocessing::tf_idf_vectorization::{TfIdfMethod, TfIdfVectorizer};
        let docs = [
            "connection refused to db",
            "connection ok",
            "user login ok",
            "user login failed",
            "db ok",
        ];
        let ours = fit(&docs, 1);
        let texts = ndarray::Array1::from_iter(docs.iter().map(|s| s.to_string()));
        let linfa = TfIdfVectorizer::default().fit(&texts).unwrap();
        assert!(matches!(linfa.method(), TfIdfMethod::Smooth));
        // linfa's transform of the training batch uses that batch's df: with a single-word
        // document per token, its tf-idf value is the idf itself.
        let vocab = linfa.vocabulary().clone();
        let matrix = linfa.transform(&texts).unwrap().to_dense();
        for (col, tok) in vocab.iter().enumerate() {
            let (row, count) = docs
                .iter()
                .enumerate()
                .find_map(|(i, d)| {
                    let c = d.split(' ').filter(|t| *t == tok.as_str()).count();
                    (c > 0).then_some((i, c))
                })
                .unwrap();
            let want = matrix[(row, col)] / count as f64;
            let got = ours.idf(tok).unwrap();
            assert!(
                (f64::from(got) - want).abs() < 1e-5,
                "{tok}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn unseen_tokens_weigh_more_than_any_seen_token() {
        let t = fit(&["a b", "a c", "a b"], 1);
        let unseen = t.lookup("zzz");
        assert!(!unseen.seen);
        for tok in ["a", "b", "c"] {
            assert!(t.lookup(tok).seen);
            assert!(unseen.idf > t.lookup(tok).idf, "{tok}");
        }
    }

    #[test]
    fn min_df_drops_rare_tokens_and_order_is_deterministic() {
        let docs = ["x y", "x z", "x y", "q"];
        let t = fit(&docs, 2);
        assert!(t.idf("x").is_some() && t.idf("y").is_some());
        assert!(t.idf("z").is_none() && t.idf("q").is_none());
        assert_eq!(t.parts.tokens, vec!["x", "y"]);
    }

    #[test]
    fn repeated_token_in_one_line_counts_once() {
        let t = fit(&["a a a", "b"], 1);
        assert_eq!(t.parts.df, vec![1, 1]);
    }

    #[test]
    fn inconsistent_persisted_parts_are_rejected() {
        let bad = TfIdfParts {
            tokens: vec!["a".into()],
            df: vec![],
            docs: 1,
            min_df: 1,
        };
        assert!(TfIdf::try_from(bad).is_err());
        let bad = TfIdfParts {
            tokens: vec!["a".into()],
            df: vec![5],
            docs: 1,
            min_df: 1,
        };
        assert!(TfIdf::try_from(bad).is_err());
    }

    #[test]
    fn held_out_lookup_takes_the_line_itself_out() {
        // "a" in 3 lines, "b" in 2, min_df 2
        let t = fit(&["a b", "a b", "a"], 2);
        let live = t.lookup("b");
        let held = t.lookup_held_out("b");
        assert!(live.seen);
        assert!(!held.seen, "b would be in one line only, below min_df");
        assert_eq!(held.idf, t.unseen_idf());
        let a = t.lookup_held_out("a");
        assert!(a.seen);
        assert!(a.idf > t.lookup("a").idf, "one line fewer makes a rarer");
        assert!(!t.lookup_held_out("zzz").seen);
    }
}
