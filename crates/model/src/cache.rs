//! Score cache: skips featurising and the forest for lines already scored.
//!
//! Logs repeat themselves: once timestamps, ids and numbers are masked, a few thousand
//! token sequences make up nearly every line. The features of a line are a pure function of
//! its normalised tokens and level (see [`super::Featurizer::features_of_tokens`]), and the
//! forest is a pure function of the features, so the score of a token sequence can be
//! remembered and reused bit for bit.
//!
//! - **Key**: a 64-bit hash of the token text, the token boundaries and the level.
//! - **Bounded**: each scoring thread has one fixed-size table ([`SLOTS`] entries, 256 KiB);
//!   a full bucket overwrites one of its entries. Memory does not grow with the input.
//! - **Invalidated on model swap**: every [`Model`](super::Model) value carries its own
//!   [`Generation`]; a table filled for another generation is emptied before use. A clone of
//!   a model gets a new generation too, so a clone whose fields are then changed never sees
//!   the scores of the original.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::normalise::Tokens;

/// Entries of each thread's table: a power of two.
pub const SLOTS: usize = 1 << 14;

/// Identity of one model value's scores in the cache; never shared by two model values.
#[derive(Debug)]
pub struct Generation(u64);

impl Default for Generation {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl Clone for Generation {
    /// A clone is a new model value: it starts with scores of its own.
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// One thread's table of token-sequence keys to scores.
pub struct Table {
    generation: u64,
    keys: Box<[u64]>,
    scores: Box<[f32]>,
}

/// Marks an unused slot; [`key`] never returns it.
const EMPTY: u64 = 0;

impl Table {
    fn new() -> Self {
        Self {
            generation: 0,
            keys: vec![EMPTY; SLOTS].into_boxed_slice(),
            scores: vec![0.0; SLOTS].into_boxed_slice(),
        }
    }

    /// Empties the table unless it already holds scores of `generation`.
    fn switch_to(&mut self, generation: u64) {
        if self.generation != generation {
            self.keys.fill(EMPTY);
            self.generation = generation;
        }
    }

    /// The two slots a key may live in.
    fn bucket(key: u64) -> usize {
        (key as usize) & (SLOTS - 1) & !1
    }

    /// The remembered score of `key`, if any.
    pub fn get(&self, key: u64) -> Option<f32> {
        let b = Self::bucket(key);
        (b..b + 2)
            .find(|&i| self.keys[i] == key)
            .map(|i| self.scores[i])
    }

    /// Remembers `score` for `key`, in a free slot of its bucket or over an old entry.
    pub fn insert(&mut self, key: u64, score: f32) {
        let b = Self::bucket(key);
        let slot = if self.keys[b] == EMPTY || self.keys[b] == key {
            b
        } else if self.keys[b + 1] == EMPTY {
            b + 1
        } else {
            b + ((key >> 40) as usize & 1)
        };
        self.keys[slot] = key;
        self.scores[slot] = score;
    }
}

thread_local! {
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's table, emptied first if it holds another model's scores.
pub fn with_table<R>(generation: &Generation, f: impl FnOnce(&mut Table) -> R) -> R {
    TABLE.with_borrow_mut(|slot| {
        let table = slot.get_or_insert_with(Table::new);
        table.switch_to(generation.0);
        f(table)
    })
}

const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// 64x64 -> 128-bit multiply, folded: the mixing step of wyhash and foldhash.
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Reads up to 8 bytes little-endian, zero-padded.
fn word(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(buf)
}

/// The cache key of a normalised line: its token text, token boundaries and level, and a
/// `variant` for anything else the score depends on (how the line is featurised).
///
/// Two lines with the same key have the same tokens and level (up to a 64-bit hash
/// collision), hence the same features and score.
pub fn key(tokens: &Tokens, variant: u64) -> u64 {
    let (text, ends) = tokens.parts();
    let shape = (text.len() as u64) | ((ends.len() as u64) << 32);
    let mut h = fold(
        K0 ^ tokens.level as u64,
        K1 ^ shape ^ variant.rotate_left(48),
    );
    for pair in text.as_bytes().chunks(16) {
        let (a, b) = pair.split_at(pair.len().min(8));
        h = fold(word(a) ^ K1, word(b) ^ h ^ K2);
    }
    for pair in ends.chunks(2) {
        let e = u64::from(pair[0]) | (u64::from(*pair.get(1).unwrap_or(&0)) << 32);
        h = fold(e ^ K2, h ^ K0);
    }
    let h = fold(h ^ K1, K2 ^ shape);
    if h == EMPTY {
        1
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::normalise;

    fn key_of(line: &str) -> u64 {
        let mut t = Tokens::new();
        normalise(line, &mut t);
        key(&t, 0)
    }

    #[test]
    fn same_tokens_same_key_and_other_tokens_other_keys() {
        // the numbers are masked: same tokens
        assert_eq!(key_of("user 12 logged in"), key_of("user 7 logged in"));
        assert_ne!(key_of("user 12 logged in"), key_of("user 12 logged out"));
        // the same bytes split into other tokens
        assert_ne!(key_of("ab cd"), key_of("abc d"));
        // the level counts even when the text is the same
        assert_ne!(
            key_of(r#"{"level":"error","msg":"disk full"}"#),
            key_of(r#"{"level":"warn","msg":"disk full"}"#)
        );
        assert_ne!(key_of(""), EMPTY);
        // another variant of the same tokens
        let mut t = Tokens::new();
        normalise("user 12 logged in", &mut t);
        assert_ne!(key(&t, 0), key(&t, 1));
    }

    #[test]
    fn table_is_bounded_and_keeps_recent_entries() {
        let mut t = Table::new();
        for k in 1..=(4 * SLOTS as u64) {
            t.insert(k, k as f32);
        }
        assert_eq!(t.keys.len(), SLOTS);
        let last = 4 * SLOTS as u64;
        assert_eq!(t.get(last), Some(last as f32));
        assert_eq!(t.get(1), None);
    }

    #[test]
    fn another_generation_empties_the_table() {
        let (a, b) = (Generation::default(), Generation::default());
        with_table(&a, |t| t.insert(42, 0.5));
        assert_eq!(with_table(&a, |t| t.get(42)), Some(0.5));
        assert_eq!(with_table(&b, |t| t.get(42)), None);
        assert_eq!(with_table(&a.clone(), |t| t.get(42)), None);
    }
}
