//! Profiles of sets of lines, for "seen this before": the TF-IDF weights of their tokens
//! and templates under one model, compared by cosine. Two incidents whose top lines
//! share rare tokens and templates are alike; ones that share only routine words are not.

use std::collections::BTreeMap;

use crate::normalise::Tokens;
use crate::Model;

/// The weighted terms of a set of lines, L2-normalised so that [`Profile::cosine`] is a
/// dot product. Ordered, so the same lines always give the same figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    terms: BTreeMap<String, f32>,
}

impl Model {
    /// The profile of `lines` under this model: each token weighs its count times its IDF
    /// (unseen tokens the unseen IDF); masked values (`<num>`, `<ip>`…) are left out; each
    /// line's template is a term too, weighing as much as the line's average token.
    pub fn profile<'a>(&self, lines: impl IntoIterator<Item = &'a str>) -> Profile {
        let mut terms: BTreeMap<String, f32> = BTreeMap::new();
        let mut tokens = Tokens::new();
        for line in lines {
            let template = self.template_of(line, &mut tokens);
            let (mut sum, mut n) = (0.0f32, 0usize);
            for t in tokens.iter().filter(|t| !t.starts_with('<')) {
                let idf = self.featurizer.tfidf.lookup(t).idf;
                *terms.entry(t.to_string()).or_default() += idf;
                sum += idf;
                n += 1;
            }
            if n > 0 {
                *terms
                    .entry(format!("\u{1}template:{template:x}"))
                    .or_default() += sum / n as f32;
            }
        }
        let norm = terms.values().map(|w| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            terms.values_mut().for_each(|w| *w /= norm);
        }
        Profile { terms }
    }
}

impl Profile {
    /// Cosine similarity in [0, 1]; 0 when either profile is empty.
    pub fn cosine(&self, other: &Profile) -> f32 {
        let (small, large) = if self.terms.len() <= other.terms.len() {
            (self, other)
        } else {
            (other, self)
        };
        let dot: f32 = small
            .terms
            .iter()
            .filter_map(|(t, w)| large.terms.get(t).map(|v| w * v))
            .sum();
        dot.clamp(0.0, 1.0)
    }

    /// Whether no line gave a term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use crate::{TrainParams, Trainer};

    fn model() -> crate::Model {
        let mut t = Trainer::new(TrainParams::default()).unwrap();
        for i in 0..2000 {
            t.add(&format!("GET /api/cart/{i} 200 in {}ms", i % 50));
            t.add(&format!("user {i} added item {} to cart", i % 7));
        }
        t.finish("test").unwrap()
    }

    #[test]
    fn alike_lines_are_near_and_other_trouble_is_far() {
        let m = model();
        let refused = [
            "dial tcp 10.0.0.7:5432: connect: connection refused",
            "pq: could not connect to payments-db: connection refused",
        ];
        let again = [
            "dial tcp 10.0.0.9:5432: connect: connection refused",
            "pq: could not connect to payments-db: connection refused",
        ];
        let oom = [
            "fatal error: runtime: out of memory",
            "OOMKilled: container cart",
        ];
        let (a, b, c) = (m.profile(refused), m.profile(again), m.profile(oom));
        assert!(a.cosine(&b) > 0.9, "{}", a.cosine(&b));
        assert!(a.cosine(&c) < 0.3, "{}", a.cosine(&c));
        assert!((a.cosine(&a) - 1.0).abs() < 1e-4);
        assert_eq!(a.cosine(&b), b.cosine(&a), "symmetric");
        assert_eq!(m.profile([]).cosine(&a), 0.0);
        assert!(m.profile(["<num>"]).is_empty() || m.profile(["<num>"]).cosine(&a) < 0.1);
    }
}
