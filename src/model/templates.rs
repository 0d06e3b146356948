//! How often each line template (the masked token sequence) was seen in training.
//!
//! A line whose template is rare or new is suspicious even when each of its tokens is
//! common: "connection" and "refused" may both be frequent, but not together.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Past this many distinct templates, new ones are no longer tracked (they stay "rare").
const MAX_TEMPLATES: usize = 500_000;

/// Template frequencies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "TemplateParts", into = "TemplateParts")]
pub struct Templates {
    counts: HashMap<u64, u32>,
    docs: u64,
}

/// Persisted form: sorted pairs, so the same training gives the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateParts {
    counts: Vec<(u64, u32)>,
    docs: u64,
}

impl From<TemplateParts> for Templates {
    fn from(p: TemplateParts) -> Self {
        Self {
            counts: p.counts.into_iter().collect(),
            docs: p.docs,
        }
    }
}

impl From<Templates> for TemplateParts {
    fn from(t: Templates) -> Self {
        let mut counts: Vec<(u64, u32)> = t.counts.into_iter().collect();
        counts.sort_unstable();
        Self {
            counts,
            docs: t.docs,
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
