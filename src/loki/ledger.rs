//! What has been delivered: the exactly-once bookkeeping of one selector.
//!
//! A *watermark* says "every entry with a timestamp below this has been delivered"; it is
//! advanced only by the complete `query_range` reader, page by page. Above it, the keys
//! of entries the tail delivered early are remembered, so the reader skips them. An entry
//! is claimed under one lock, so the tail and the reader never both deliver it. Memory is
//! bounded: the remembered keys are only those above the watermark, at most `capacity`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::shard::{label_hash, Shard};
use super::wire::{Labels, StreamValues};
use crate::event::{LabelNames, Stream};

/// A stream as the source needs it: shared, hashed, and whether this shard keeps it.
#[derive(Debug)]
pub(crate) struct StreamInfo {
    /// The stream handed to the pipeline.
    pub stream: Arc<Stream>,
    /// Stable label-set hash (sharding and entry keys).
    pub hash: u64,
    /// Whether this replica's shard owns the stream.
    pub owned: bool,
}

/// An entry ready to be claimed: its stream, timestamp and line.
#[derive(Debug)]
pub(crate) struct Item {
    /// Its stream.
    pub info: Arc<StreamInfo>,
    /// Unix nanoseconds.
    pub ts: i64,
    /// The line, uncut.
    pub line: String,
}

impl Item {
    /// Key of (stream, line); the timestamp is the map key beside it.
    fn key(&self) -> u64 {
        let mut h = self.info.hash;
        for &b in self.line.as_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }
}

/// Interns label sets into shared streams (bounded: cleared past `MAX_STREAMS`).
#[derive(Debug)]
pub(crate) struct Catalog {
    streams: HashMap<Labels, Arc<StreamInfo>>,
    names: LabelNames,
    shard: Shard,
}

/// More distinct streams than this and the interning cache starts over.
const MAX_STREAMS: usize = 100_000;

impl Catalog {
    /// An empty catalog using `names` to pick workload labels.
    pub(crate) fn new(names: LabelNames, shard: Shard) -> Self {
        Self {
            streams: HashMap::new(),
            names,
            shard,
        }
    }

    /// The shared stream of these labels.
    pub(crate) fn intern(&mut self, labels: Labels) -> Arc<StreamInfo> {
        if let Some(info) = self.streams.get(&labels) {
            return Arc::clone(info);
        }
        if self.streams.len() >= MAX_STREAMS {
            self.streams.clear();
        }
        let info = Arc::new(StreamInfo {
            hash: label_hash(&labels),
            owned: self.shard.owns(&labels),
            stream: Arc::new(Stream::from_labels(labels.clone(), &self.names)),
        });
        self.streams.insert(labels, Arc::clone(&info));
        info
    }

    /// Flattens streams into items of owned streams; returns the items and how many
    /// entries belonged to other shards.
    pub(crate) fn items(&mut self, streams: Vec<StreamValues>) -> (Vec<Item>, u64) {
        let mut items = Vec::new();
        let mut foreign = 0;
        for s in streams {
            let info = self.intern(s.stream);
            if !info.owned {
                foreign += s.values.len() as u64;
                continue;
            }
            items.extend(s.values.into_iter().map(|e| Item {
                info: Arc::clone(&info),
                ts: e.ts,
                line: e.line,
            }));
        }
        (items, foreign)
    }
}

/// What the tail may do with an entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Deliver it now.
    New,
    /// Already delivered (or below the watermark): skip it.
    Duplicate,
    /// No room to remember it: leave it to the reader, which will find it.
    Deferred,
}

/// Watermark plus the keys delivered above it.
#[derive(Debug)]
pub(crate) struct Ledger {
    watermark: i64,
    above: BTreeMap<i64, Vec<u64>>,
    len: usize,
    capacity: usize,
}

impl Ledger {
    /// Nothing below `start` will be delivered; nothing above it has been yet.
    pub(crate) fn new(start: i64, capacity: usize) -> Self {
        Self {
            watermark: start,
            above: BTreeMap::new(),
            len: 0,
            capacity,
        }
    }

    /// Every entry below this timestamp has been delivered.
    pub(crate) fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Claims an entry seen by the tail.
    pub(crate) fn claim_tail(&mut self, item: &Item) -> Claim {
        if item.ts < self.watermark {
            return Claim::Duplicate;
        }
        let key = item.key();
        if self
            .above
            .get(&item.ts)
            .is_some_and(|keys| keys.contains(&key))
        {
            return Claim::Duplicate;
        }
        if self.len >= self.capacity {
            return Claim::Deferred;
        }
        self.above.entry(item.ts).or_default().push(key);
        self.len += 1;
        Claim::New
    }

    /// Keeps the entries of a complete page that the tail has not delivered, then moves
    /// the watermark to `cursor` (everything below it is now delivered). Returns the kept
    /// items and how many were duplicates.
    pub(crate) fn claim_page(&mut self, items: Vec<Item>, cursor: i64) -> (Vec<Item>, u64) {
        let before = items.len();
        let kept: Vec<Item> = items
            .into_iter()
            .filter(|it| {
                it.ts >= self.watermark
                    && !self
                        .above
                        .get(&it.ts)
                        .is_some_and(|keys| keys.contains(&it.key()))
            })
            .collect();
        let dups = (before - kept.len()) as u64;
        self.advance(cursor);
        (kept, dups)
    }

    /// Moves the watermark up and forgets the keys below it.
    fn advance(&mut self, to: i64) {
        if to <= self.watermark {
            return;
        }
        self.watermark = to;
        let keep = self.above.split_off(&to);
        let dropped: usize = self.above.values().map(Vec::len).sum();
        self.len -= dropped;
        self.above = keep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loki::wire::Entry;

    fn catalog() -> Catalog {
        Catalog::new(LabelNames::default(), Shard::default())
    }

    fn item(c: &mut Catalog, pod: &str, ts: i64, line: &str) -> Item {
        let labels: Labels = [("pod".to_string(), pod.to_string())].into();
        Item {
            info: c.intern(labels),
            ts,
            line: line.into(),
        }
    }

    #[test]
    fn tail_then_page_delivers_once() {
        let mut c = catalog();
        let mut l = Ledger::new(100, 1000);
        assert_eq!(l.claim_tail(&item(&mut c, "a", 150, "x")), Claim::New);
        assert_eq!(l.claim_tail(&item(&mut c, "a", 150, "x")), Claim::Duplicate);
        assert_eq!(l.claim_tail(&item(&mut c, "b", 150, "x")), Claim::New);
        assert_eq!(
            l.claim_tail(&item(&mut c, "a", 99, "old")),
            Claim::Duplicate
        );
        let page = vec![item(&mut c, "a", 150, "x"), item(&mut c, "a", 150, "y")];
        let (kept, dups) = l.claim_page(page, 200);
        assert_eq!((kept.len(), dups), (1, 1));
        assert_eq!(kept[0].line, "y");
        assert_eq!(l.watermark(), 200);
        assert_eq!(l.len, 0, "keys below the watermark are forgotten");
        assert_eq!(
            l.claim_tail(&item(&mut c, "a", 150, "late")),
            Claim::Duplicate
        );
    }

    #[test]
    fn full_ledger_defers_to_the_reader() {
        let mut c = catalog();
        let mut l = Ledger::new(0, 2);
        assert_eq!(l.claim_tail(&item(&mut c, "a", 1, "1")), Claim::New);
        assert_eq!(l.claim_tail(&item(&mut c, "a", 2, "2")), Claim::New);
        assert_eq!(l.claim_tail(&item(&mut c, "a", 3, "3")), Claim::Deferred);
        let page = (1..=3)
            .map(|i| item(&mut c, "a", i, &i.to_string()))
            .collect();
        let (kept, _) = l.claim_page(page, 4);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].line, "3");
    }

    #[test]
    fn foreign_shards_are_counted_not_kept() {
        let mut c = Catalog::new(LabelNames::default(), Shard { index: 0, count: 2 });
        let streams: Vec<StreamValues> = (0..20)
            .map(|p| StreamValues {
                stream: [("pod".to_string(), format!("p{p}"))].into(),
                values: vec![Entry {
                    ts: 1,
                    line: "l".into(),
                }],
            })
            .collect();
        let (items, foreign) = c.items(streams);
        assert_eq!(items.len() as u64 + foreign, 20);
        assert!(foreign > 0 && !items.is_empty());
    }
}
