//! How often each line template (the masked token sequence) was seen in training.
//!
//! A line whose template is rare or new is suspicious even when each of its tokens is
//! common: "connection" and "refused" may both be frequent, but not together.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::hash;
use super::miner::TemplateMiner;
use crate::normalise::Tokens;

/// Past this many distinct templates, new ones are no longer tracked (they stay "rare").
const MAX_TEMPLATES: usize = 500_000;
/// Distinct token sequences kept for mining; past it, sequences count as their own template.
const MAX_MINED: usize = 100_000;

/// Template frequencies, by template identity (a learnt template's, see
/// [`super::miner`], or an exact token sequence's).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "TemplateParts", into = "TemplateParts")]
pub struct Templates {
    counts: HashMap<u64, u32>,
    docs: u64,
    miner: TemplateMiner,
    /// Training only: each distinct token sequence's tokens, for mining.
    sequences: HashMap<u64, Vec<String>>,
}

/// Persisted form: sorted pairs, so the same training gives the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateParts {
    counts: Vec<(u64, u32)>,
    docs: u64,
    clusters: Vec<Vec<String>>,
    exact: Vec<(u64, u32)>,
}

impl From<TemplateParts> for Templates {
    fn from(p: TemplateParts) -> Self {
        Self {
            counts: p.counts.into_iter().collect(),
            docs: p.docs,
            miner: TemplateMiner::from_parts(p.clusters, p.exact),
            sequences: HashMap::new(),
        }
    }
}

impl From<Templates> for TemplateParts {
    fn from(t: Templates) -> Self {
        let mut counts: Vec<(u64, u32)> = t.counts.into_iter().collect();
        counts.sort_unstable();
        let (clusters, exact) = t.miner.parts();
        Self {
            counts,
            docs: t.docs,
            clusters,
            exact,
        }
    }
}

impl Templates {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one training line's template.
    pub fn add(&mut self, template: u64) {
        self.docs += 1;
        if let Some(c) = self.counts.get_mut(&template) {
            *c = c.saturating_add(1);
        } else if self.counts.len() < MAX_TEMPLATES {
            self.counts.insert(template, 1);
        }
    }

    /// Counts one training line by its token sequence, kept for [`Templates::mined`].
    pub fn learn(&mut self, tokens: &Tokens) {
        let raw = hash::template(tokens.iter());
        self.add(raw);
        if self.sequences.len() < MAX_MINED && !self.sequences.contains_key(&raw) {
            self.sequences
                .insert(raw, tokens.iter().map(String::from).collect());
        }
    }

    /// The table as scoring uses it: the learnt sequences clustered into templates (most
    /// frequent first, so that common kinds anchor their clusters), each template counting
    /// the lines of all its sequences.
    pub fn mined(&self) -> Templates {
        let mut order: Vec<(u32, u64)> = self
            .sequences
            .keys()
            .map(|raw| (self.count(*raw), *raw))
            .collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let miner = TemplateMiner::mine(
            order
                .iter()
                .filter_map(|(_, raw)| Some((*raw, self.sequences.get(raw)?.as_slice()))),
        );
        let mut counts: HashMap<u64, u32> = HashMap::new();
        for (raw, c) in &self.counts {
            let id = miner.id_of_exact(*raw).unwrap_or(*raw);
            let n = counts.entry(id).or_default();
            *n = n.saturating_add(*c);
        }
        Templates {
            counts,
            docs: self.docs,
            miner,
            sequences: HashMap::new(),
        }
    }

    /// The identity of a line's template: its learnt template's, else its exact token
    /// sequence's.
    pub fn id(&self, tokens: &Tokens) -> u64 {
        let raw = hash::template(tokens.iter());
        self.miner.id_of(raw, tokens.iter())
    }

    /// Learnt templates.
    pub fn mined_templates(&self) -> usize {
        self.miner.len()
    }

    /// Drops templates seen fewer than `min_count` times: they count as new.
    pub fn prune(&mut self, min_count: u32) {
        self.counts.retain(|_, c| *c >= min_count);
    }

    /// Number of distinct templates kept.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no template is kept.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Training count of a template (0 when new).
    pub fn count(&self, template: u64) -> u32 {
        self.counts.get(&template).copied().unwrap_or(0)
    }

    /// Rarity in [0, 1]: 0 for a template every line had, 1 for one never seen.
    pub fn rarity(&self, template: u64) -> f32 {
        self.rarity_of_count(self.count(template))
    }

    /// [`Templates::rarity`] for the template of a training line as if that line had not
    /// been learnt (its count less one).
    pub fn rarity_held_out(&self, template: u64) -> f32 {
        self.rarity_of_count(self.count(template).saturating_sub(1))
    }

    fn rarity_of_count(&self, count: u32) -> f32 {
        rarity(count, self.docs)
    }
}

/// Rarity in [0, 1] of something seen `count` times in `total` training items: 0 when every
/// item had it, 1 when none did (add-one smoothed log ratio).
pub(super) fn rarity(count: u32, total: u64) -> f32 {
    let n = total as f64 + 1.0;
    let c = f64::from(count) + 1.0;
    ((n / c).ln() / n.ln().max(f64::MIN_POSITIVE)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rarity_orders_common_rare_and_new() {
        let mut t = Templates::new();
        for _ in 0..90 {
            t.add(1);
        }
        for _ in 0..10 {
            t.add(2);
        }
        assert!(t.rarity(1) < t.rarity(2));
        assert!(t.rarity(2) < t.rarity(3));
        assert!((t.rarity(3) - 1.0).abs() < 1e-6);
        assert!(t.rarity(1) >= 0.0);
    }

    #[test]
    fn prune_turns_rare_templates_into_new_ones() {
        let mut t = Templates::new();
        t.add(1);
        t.add(2);
        t.add(2);
        t.prune(2);
        assert_eq!(t.count(1), 0);
        assert_eq!(t.count(2), 2);
    }

    #[test]
    fn held_out_rarity_makes_a_singleton_new() {
        let mut t = Templates::new();
        t.add(1);
        t.add(2);
        t.add(2);
        assert!(t.rarity(1) < 1.0);
        assert!((t.rarity_held_out(1) - 1.0).abs() < 1e-6);
        assert!(t.rarity_held_out(2) > t.rarity(2));
        assert!(t.rarity_held_out(2) < 1.0);
    }
}
