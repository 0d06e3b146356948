//! Sharding: `n` replicas split the streams of one cluster by a stable label-set hash.
//!
//! The hash is FNV-1a over the sorted `name=value` pairs, fixed forever, so replicas of
//! different versions still agree on who owns which stream.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shard `index` of `count`: the streams this replica keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This replica's index, `0..count` (a StatefulSet's ordinal).
    pub index: u32,
    /// How many replicas share the streams.
    pub count: u32,
}

impl Default for Shard {
    /// One replica keeps everything.
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Shard {
    /// Whether the stream with these labels belongs to this shard.
    pub fn owns(&self, labels: &BTreeMap<String, String>) -> bool {
        self.count <= 1 || label_hash(labels) % u64::from(self.count) == u64::from(self.index)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("shard {s:?} is not `i/n` with 0 <= i < n");
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = i.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Serialize for Shard {
    /// As `i/n`, the form it is written in.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Stable 64-bit hash of a label set (FNV-1a, then a splitmix finaliser for the low bits).
pub(crate) fn label_hash(labels: &BTreeMap<String, String>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pod: &str) -> BTreeMap<String, String> {
        [("namespace", "shop"), ("pod", pod)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!("1/4".parse(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_stream_has_exactly_one_owner_and_shards_are_balanced() {
        let shards: Vec<Shard> = (0..4).map(|i| Shard { index: i, count: 4 }).collect();
        let mut per = [0usize; 4];
        for p in 0..4000 {
            let l = labels(&format!("api-{p}"));
            let owners: Vec<usize> = (0..4).filter(|&i| shards[i].owns(&l)).collect();
            assert_eq!(owners.len(), 1);
            per[owners[0]] += 1;
        }
        assert!(per.iter().all(|&n| n > 800), "{per:?}");
    }

    #[test]
    fn hash_is_fixed_forever() {
        assert_eq!(label_hash(&labels("a")), label_hash(&labels("a")));
        assert_ne!(label_hash(&labels("a")), label_hash(&labels("b")));
        assert_eq!(label_hash(&BTreeMap::new()), 0xf52a15e9a9b5e89b);
    }
}
