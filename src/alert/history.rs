//! "Seen this before": when an incident opens, the past incidents most like it — by the
//! model's TF-IDF profile of their top lines ([`loganomaly_model::Profile`]) — are named in
//! its alert and its incident row: when, which pod, how long it lasted.
//!
//! The past is the incident history (its latest [`REMEMBERED`] rows, read once at start
//! on a thread of its own) plus every episode of this run. Only episodes that were over
//! when the new one started count: incidents going on at the same time are one event (storm
//! grouping shows them), not a precedent; and the answer is the same however often a
//! period is replayed.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Duration;

use loganomaly_model::Model;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::event::rfc3339;
use crate::incident::config::Database;
use crate::incident::{self, Filter, Incident};

/// Past incidents kept for comparison.
pub const REMEMBERED: usize = 2000;
/// Past incidents named per new one.
pub const NAMED: usize = 3;
/// Least cosine for a past incident to be named.
pub const MIN_SIMILARITY: f32 = 0.5;
/// How long the first comparison waits for the history to be read.
const LOAD_WAIT: Duration = Duration::from_secs(10);

/// A past incident like a new one, as alerts and incident rows name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenBefore {
    /// The past incident's id.
    pub id: String,
    /// Its namespace.
    pub namespace: String,
    /// Its pod.
    pub pod: String,
    /// RFC 3339: when it started.
    pub started: String,
    /// How long it lasted, in minutes.
    pub lasted_minutes: i64,
    /// Cosine of the two incidents' profiles, in [0, 1], 2 decimals.
    pub similarity: f64,
}

/// One episode that later ones are compared with.
#[derive(Debug, Clone)]
struct Past {
    id: String,
    namespace: String,
    pod: String,
    started_ns: i64,
    ended_ns: Option<i64>,
    lines: Vec<String>,
}

impl From<Incident> for Past {
    fn from(i: Incident) -> Self {
        Self {
            lines: i.top_lines.into_iter().map(|l| l.line).collect(),
            id: i.id,
            namespace: i.namespace,
            pod: i.pod,
            started_ns: i.started_ns,
            ended_ns: i.ended_ns,
        }
    }
}

/// An episode being noticed: who, since when, its top lines (redacted, as shown).
#[derive(Debug, Clone, Copy)]
pub struct Episode<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Pod.
    pub pod: &'a str,
    /// When it started (Unix ns).
    pub started_ns: i64,
    /// When it ended, once resolved.
    pub ended_ns: Option<i64>,
    /// Its top lines.
    pub lines: &'a [String],
}

/// The past incidents and what each episode of this run was found like.
#[derive(Debug, Default)]
pub struct History {
    past: Vec<Past>,
    /// The history being read, until it arrives.
    loading: Option<oneshot::Receiver<Vec<Incident>>>,
    /// Per episode id: the incidents named when it opened (kept for its later notices).
    named: HashMap<String, Vec<SeenBefore>>,
}

impl History {
    /// Starts reading the latest incidents of `db` on a thread of its own; an unreadable
    /// history (new database, server down) is logged and counts as empty.
    pub fn load(db: Database) -> Self {
        let (tx, rx) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("incident-history".into())
            .spawn(move || {
                let filter = Filter {
                    limit: Some(REMEMBERED as u32),
                    ..Filter::default()
                };
                let rows = incident::connect(&db).and_then(|mut s| s.list(&filter));
                let _ = tx.send(rows.unwrap_or_else(|e| {
                    tracing::info!(error = %e, "no incident history read: seen-before starts empty");
                    Vec::new()
                }));
            });
        Self {
            loading: spawned.is_ok().then_some(rx),
            ..Self::default()
        }
    }

    /// Waits (at most [`LOAD_WAIT`], once) for the history being read.
    async fn loaded(&mut self) {
        let Some(rx) = self.loading.take() else {
            return;
        };
        match tokio::time::timeout(LOAD_WAIT, rx).await {
            Ok(Ok(rows)) => {
                for row in rows {
                    self.remember(row.into());
                }
            }
            Ok(Err(_)) => {}
            Err(_) => tracing::warn!(
                "the incident history took over {LOAD_WAIT:?} to read: seen-before starts empty"
            ),
        }
    }

    /// The past incidents like `e` (computed when it is first noticed, the same after),
    /// and `e` remembered for the episodes after it.
    pub async fn seen_before(&mut self, model: &Model, e: Episode<'_>) -> Vec<SeenBefore> {
        self.loaded().await;
        let id = Incident::id_of(e.namespace, e.pod, e.started_ns);
        let named = match self.named.get(&id) {
            Some(named) => named.clone(),
            None => {
                let named = self.rank(model, &id, &e);
                self.named.insert(id.clone(), named.clone());
                named
            }
        };
        self.remember(Past {
            id,
            namespace: e.namespace.to_string(),
            pod: e.pod.to_string(),
            started_ns: e.started_ns,
            ended_ns: e.ended_ns,
            lines: e.lines.to_vec(),
        });
        named
    }

    /// The past incidents that ended before `e` started, most alike first (then the same
    /// pod, then the latest), at least [`MIN_SIMILARITY`] alike, at most [`NAMED`].
    fn rank(&self, model: &Model, id: &str, e: &Episode<'_>) -> Vec<SeenBefore> {
        let profile = model.profile(e.lines.iter().map(String::as_str));
        if profile.is_empty() {
            return Vec::new();
        }
        let mut alike: Vec<(f32, &Past)> = self
            .past
            .iter()
            .filter(|p| p.id != id && p.ended_ns.is_some_and(|end| end <= e.started_ns))
            .map(|p| {
                (
                    profile.cosine(&model.profile(p.lines.iter().map(String::as_str))),
                    p,
                )
            })
            .filter(|(sim, _)| *sim >= MIN_SIMILARITY)
            .collect();
        let same_pod = |p: &Past| p.namespace == e.namespace && p.pod == e.pod;
        alike.sort_by(|(sa, a), (sb, b)| {
            round2(*sb)
                .total_cmp(&round2(*sa))
                .then_with(|| same_pod(b).cmp(&same_pod(a)))
                .then_with(|| b.started_ns.cmp(&a.started_ns))
                .then_with(|| a.id.cmp(&b.id))
                .then(Ordering::Equal)
        });
        alike
            .into_iter()
            .take(NAMED)
            .filter_map(|(sim, p)| Some((sim, p, p.ended_ns?)))
            .map(|(sim, p, end)| SeenBefore {
                id: p.id.clone(),
                namespace: p.namespace.clone(),
                pod: p.pod.clone(),
                started: rfc3339(p.started_ns),
                lasted_minutes: (end - p.started_ns) / 60_000_000_000,
                similarity: round2(sim),
            })
            .collect()
    }

    /// Adds or updates (its end, its lines) one past episode, dropping the oldest past
    /// [`REMEMBERED`].
    fn remember(&mut self, p: Past) {
        if let Some(known) = self.past.iter_mut().find(|k| k.id == p.id) {
            *known = p;
            return;
        }
        self.past.push(p);
        if self.past.len() > REMEMBERED {
            if let Some(oldest) = (0..self.past.len()).min_by_key(|&i| self.past[i].started_ns) {
                self.past.swap_remove(oldest);
            }
        }
    }
}

/// `x` to 2 decimals, so that equal-looking figures compare equal.
fn round2(x: f32) -> f64 {
    (f64::from(x) * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000_000;

    fn model() -> Model {
        crate::bundled::model().unwrap()
    }

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_later_like_incident_names_the_earlier_ones_and_not_the_reverse() {
        let m = model();
        let mut h = History::default();
        let refused = lines(&[
            "dial tcp 10.0.0.7:5432: connect: connection refused",
            "could not connect to payments-db: connection refused",
        ]);
        let oom = lines(&["fatal error: runtime: out of memory", "OOMKilled"]);
        let ep = |pod, start, ended, lines| Episode {
            namespace: "shop",
            pod,
            started_ns: start,
            ended_ns: ended,
            lines,
        };
        assert!(h
            .seen_before(&m, ep("cart-0", 0, None, &refused))
            .await
            .is_empty());
        assert!(h
            .seen_before(&m, ep("cart-0", 0, Some(14 * MINUTE), &refused))
            .await
            .is_empty());
        assert!(h
            .seen_before(&m, ep("api-0", MINUTE, None, &oom))
            .await
            .is_empty());
        let later = h
            .seen_before(&m, ep("cart-0", 1440 * MINUTE, None, &refused))
            .await;
        assert_eq!(later.len(), 1, "{later:?}");
        assert_eq!(later[0].id, Incident::id_of("shop", "cart-0", 0));
        assert_eq!(later[0].lasted_minutes, 14);
        assert!(later[0].similarity > 0.99);
        // its next notices name the same, even as the past grows
        let again = h
            .seen_before(
                &m,
                ep("cart-0", 1440 * MINUTE, Some(1450 * MINUTE), &refused),
            )
            .await;
        assert_eq!(again, later);
        // an episode that started earlier does not name a later one
        let earlier = h
            .seen_before(&m, ep("cart-1", -MINUTE, None, &refused))
            .await;
        assert!(earlier.is_empty(), "{earlier:?}");
    }

    #[tokio::test]
    async fn the_same_pod_comes_first_among_equals_and_at_most_three_are_named() {
        let m = model();
        let mut h = History::default();
        let refused = lines(&["could not connect to payments-db: connection refused"]);
        for (i, pod) in ["a-0", "b-0", "c-0", "d-0", "cart-0"].iter().enumerate() {
            let e = Episode {
                namespace: "shop",
                pod,
                started_ns: i as i64 * MINUTE,
                ended_ns: Some(i as i64 * MINUTE + 5 * MINUTE),
                lines: &refused,
            };
            h.seen_before(&m, e).await;
        }
        let e = Episode {
            namespace: "shop",
            pod: "cart-0",
            started_ns: 100 * MINUTE,
            ended_ns: None,
            lines: &refused,
        };
        let named = h.seen_before(&m, e).await;
        let pods: Vec<&str> = named.iter().map(|s| s.pod.as_str()).collect();
        assert_eq!(pods, ["cart-0", "d-0", "c-0"]);
    }
}
