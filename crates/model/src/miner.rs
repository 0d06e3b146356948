//! Learnt templates: positions whose words vary among lines of one kind become variables.
//!
//! Masking ([`crate::normalise`]) catches values that look like values: numbers,
//! ids, addresses, hosts. Some values look like words: user names (`Invalid user admin`,
//! `Invalid user webmaster`), program names, states. This learns them from the training
//! lines, the way Drain (He et al., ICWS 2017) does: token sequences of one length are
//! clustered when enough of their words agree position by position, and the positions
//! where members of a cluster differ become the variable `<*>`.
//!
//! Differences from Drain, for whole lines of unknown format: no prefix tree on the first
//! tokens (a header or a program name may come first); positions where both tokens are
//! masked values do not count towards the similarity (a header of timestamps and ids
//! would make every pair of lines look alike); one similarity threshold for every kind of
//! log ([`SIMILARITY`]), as a user cannot tune one per source.

use std::collections::HashMap;

use super::hash;
use crate::normalise::is_placeholder;

/// Share of a line's words (positions not masked on both sides) that must equal a
/// cluster's for the line to join it. Measured on Loghub-2k's whole lines (mean grouping
/// accuracy over 14 systems): 0.6 gives 0.56, 0.7 0.65, 0.8 0.68, 0.9 0.65; below 0.8
/// messages that differ in one word of five merge.
pub const SIMILARITY: f64 = 0.8;
/// The variable that replaces a position whose words differ within a cluster.
pub const WILDCARD: &str = "<*>";
/// Clusters of one length compared with a line, newest last; older ones are not matched.
const MAX_SCAN: usize = 2000;

/// Clusters of token sequences, each with its template.
#[derive(Debug, Clone, Default)]
pub struct TemplateMiner {
    /// Each cluster's template: its tokens, `<*>` where its members differ.
    clusters: Vec<Vec<String>>,
    /// Each cluster's identity: the hash of its template.
    ids: Vec<u64>,
    /// Token count -> clusters of that length.
    by_len: HashMap<usize, Vec<u32>>,
    /// Identity of a training sequence (its exact token hash) -> its cluster.
    exact: HashMap<u64, u32>,
}

impl TemplateMiner {
    /// Clusters `sequences` (exact hash, tokens), in the order given.
    pub fn mine<'a>(sequences: impl Iterator<Item = (u64, &'a [String])>) -> Self {
        let mut miner = Self::default();
        for (raw, tokens) in sequences {
            let words: Vec<&str> = tokens.iter().map(String::as_str).collect();
            let cluster = match miner.best(&words) {
                Some(c) => {
                    merge(&mut miner.clusters[c as usize], &words);
                    c
                }
                None => miner.push(tokens.to_vec()),
            };
            miner.exact.insert(raw, cluster);
        }
        miner.ids = miner.clusters.iter().map(|t| template_id(t)).collect();
        miner
    }

    /// Rebuilds a miner from its persisted clusters and exact assignments.
    pub fn from_parts(clusters: Vec<Vec<String>>, exact: Vec<(u64, u32)>) -> Self {
        let mut miner = Self::default();
        for c in clusters {
            miner.push(c);
        }
        miner.ids = miner.clusters.iter().map(|t| template_id(t)).collect();
        let n = miner.clusters.len() as u32;
        miner.exact = exact.into_iter().filter(|(_, c)| *c < n).collect();
        miner
    }

    /// The persisted form: templates in cluster order, exact assignments sorted.
    pub fn parts(&self) -> (Vec<Vec<String>>, Vec<(u64, u32)>) {
        let mut exact: Vec<(u64, u32)> = self.exact.iter().map(|(k, v)| (*k, *v)).collect();
        exact.sort_unstable();
        (self.clusters.clone(), exact)
    }

    /// Number of clusters.
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    /// The template identity of a token sequence whose exact hash is `raw`: its training
    /// cluster's, else the most similar cluster's, else `raw` itself (a new template).
    pub fn id_of<'a>(&self, raw: u64, tokens: impl Iterator<Item = &'a str>) -> u64 {
        if let Some(&c) = self.exact.get(&raw) {
            return self.ids[c as usize];
        }
        if self.clusters.is_empty() {
            return raw;
        }
        let words: Vec<&str> = tokens.collect();
        self.best(&words).map_or(raw, |c| self.ids[c as usize])
    }

    /// A cluster's identity for a training sequence, if it was mined.
    pub fn id_of_exact(&self, raw: u64) -> Option<u64> {
        self.exact.get(&raw).map(|&c| self.ids[c as usize])
    }

    fn push(&mut self, tokens: Vec<String>) -> u32 {
        let c = self.clusters.len() as u32;
        self.by_len.entry(tokens.len()).or_default().push(c);
        self.clusters.push(tokens);
        c
    }

    /// The cluster most similar to `words`, if one is similar enough.
    fn best(&self, words: &[&str]) -> Option<u32> {
        let candidates = self.by_len.get(&words.len())?;
        let start = candidates.len().saturating_sub(MAX_SCAN);
        let mut best: Option<(f64, u32)> = None;
        for &c in &candidates[start..] {
            let sim = similarity(words, &self.clusters[c as usize]);
            if sim >= SIMILARITY && best.is_none_or(|(s, _)| sim > s) {
                best = Some((sim, c));
            }
        }
        best.map(|(_, c)| c)
    }
}

/// Share of positions holding a word on either side whose tokens are equal (1 when every
/// position is a masked value on both sides).
fn similarity(words: &[&str], template: &[String]) -> f64 {
    let (mut counted, mut equal) = (0u32, 0u32);
    for (w, t) in words.iter().zip(template) {
        if is_placeholder(w) && is_placeholder(t) {
            continue;
        }
        counted += 1;
        equal += u32::from(*w == t.as_str());
    }
    if counted == 0 {
        return if words.iter().zip(template).all(|(w, t)| *w == t.as_str()) {
            1.0
        } else {
            SIMILARITY
        };
    }
    f64::from(equal) / f64::from(counted)
}

/// Turns the positions where `words` differ from `template` into variables.
fn merge(template: &mut [String], words: &[&str]) {
    for (t, w) in template.iter_mut().zip(words) {
        if t.as_str() != *w && t.as_str() != WILDCARD {
            *t = WILDCARD.to_string();
        }
    }
}

fn template_id(tokens: &[String]) -> u64 {
    hash::template(tokens.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    fn mine(lines: &[&str]) -> (TemplateMiner, Vec<u64>) {
        let seqs: Vec<Vec<String>> = lines.iter().map(|l| seq(l)).collect();
        let raws: Vec<u64> = seqs.iter().map(|s| template_id(s)).collect();
        let miner = TemplateMiner::mine(raws.iter().copied().zip(seqs.iter().map(Vec::as_slice)));
        let ids = raws
            .iter()
            .map(|r| miner.id_of_exact(*r).unwrap())
            .collect();
        (miner, ids)
    }

    #[test]
    fn a_word_that_varies_among_lines_of_one_kind_becomes_a_variable() {
        let (miner, ids) = mine(&[
            "<ts> labsz sshd <num> invalid user admin from <ip>",
            "<ts> labsz sshd <num> invalid user webmaster from <ip>",
            "<ts> labsz sshd <num> connection closed by <ip> preauth",
        ]);
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_eq!(miner.len(), 2);
        // an unseen user name joins the learnt template
        let raw = template_id(&seq("<ts> labsz sshd <num> invalid user oracle from <ip>"));
        let id = miner.id_of(
            raw,
            "<ts> labsz sshd <num> invalid user oracle from <ip>".split(' '),
        );
        assert_eq!(id, ids[0]);
    }

    #[test]
    fn a_shared_header_of_masked_values_does_not_make_lines_alike() {
        let (_, ids) = mine(&[
            "<num> <ts> <id> <ts> <id> instruction cache parity error corrected",
            "<num> <ts> <id> <ts> <id> data storage interrupt was raised",
        ]);
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn the_persisted_form_gives_the_same_identities() {
        let (miner, ids) = mine(&["a b c d e", "a x c d e", "q r s t"]);
        let (clusters, exact) = miner.parts();
        let back = TemplateMiner::from_parts(clusters, exact);
        let raw = template_id(&seq("a x c d e"));
        assert_eq!(back.id_of_exact(raw), Some(ids[1]));
        assert_eq!(ids[0], ids[1]);
        assert_eq!(back.id_of(7, "a z c d e".split(' ')), ids[0]);
        assert_eq!(back.id_of(7, "a z z d e".split(' ')), 7);
        assert_eq!(back.id_of(7, "no match at all".split(' ')), 7);
    }
}
