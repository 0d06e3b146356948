//! Sessions in the product: a regular expression names the session of each line (an HDFS
//! block `blk_-?\d+`, a request id, a job id), lines are grouped by it, and each session
//! gets one score from the session model ([`super::session`]) next to its lines' scores.
//!
//! The key is part of the model's training settings, so a model file scores sessions the
//! way it learnt them, in `score`, `replay` and `evaluate` alike.

use std::collections::HashMap;

use regex::Regex;

use super::session::{SessionLine, SessionModel};
use super::{hash, Model, ModelError};
use crate::normalise::{normalise, Tokens};

/// Sessions held open at once; lines of further sessions are counted and left out.
pub const MAX_OPEN_SESSIONS: usize = 1_000_000;

/// A compiled session-key pattern: the session of a line is the pattern's first capture
/// group, or its whole match when it has no group.
#[derive(Debug, Clone)]
pub struct SessionKey {
    regex: Regex,
}

impl SessionKey {
    /// Compiles `pattern`, naming it in the error.
    pub fn new(pattern: &str) -> Result<Self, ModelError> {
        Regex::new(pattern)
            .map(|regex| Self { regex })
            .map_err(|e| ModelError::Params(format!("session_key {pattern:?}: {e}")))
    }

    /// The session `line` belongs to, if it names one.
    pub fn of<'a>(&self, line: &'a str) -> Option<&'a str> {
        let caps = self.regex.captures(line)?;
        caps.get(1).or_else(|| caps.get(0)).map(|m| m.as_str())
    }
}

/// One scored session.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScoredSession {
    /// Its key (the text the pattern matched).
    pub key: String,
    /// Its lines.
    pub lines: usize,
    /// The session model's score.
    pub score: f32,
    /// Whether the score is at or above the session threshold.
    pub anomalous: bool,
}

/// Groups scored lines into sessions and scores each session once it is complete: when it
/// has been idle long enough ([`Sessions::close_idle`], as `serve` does) or at the end of
/// the input ([`Sessions::finish`], as `score` and `replay` do).
#[derive(Debug)]
pub struct Sessions {
    key: SessionKey,
    open: HashMap<String, OpenSession>,
    /// Sessions opened so far: the next one's place in first-appearance order.
    opened: u64,
    tokens: Tokens,
    /// Lines of sessions beyond [`MAX_OPEN_SESSIONS`], left out.
    pub dropped_lines: u64,
}

/// A session still taking lines.
#[derive(Debug)]
struct OpenSession {
    /// Its place in first-appearance order.
    seq: u64,
    /// Log time of its latest line (Unix nanoseconds).
    last_ns: i64,
    lines: Vec<SessionLine>,
}

impl Sessions {
    /// Sessions as `model` cuts them; `None` when the model was trained without a key.
    pub fn for_model(model: &Model) -> Result<Option<Self>, ModelError> {
        match (&model.meta.params.session_key, &model.session) {
            (Some(pattern), Some(_)) => Ok(Some(Self::new(SessionKey::new(pattern)?))),
            _ => Ok(None),
        }
    }

    /// Empty sessions cut by `key`.
    pub fn new(key: SessionKey) -> Self {
        Self {
            key,
            open: HashMap::new(),
            opened: 0,
            tokens: Tokens::new(),
            dropped_lines: 0,
        }
    }

    /// Sessions taking lines.
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// Adds a scored line, logged at `ts_ns`, to its session (a line naming no session is
    /// left alone).
    pub fn add(&mut self, line: &str, score: f32, ts_ns: i64) {
        let Some(key) = self.key.of(line) else {
            return;
        };
        normalise(line, &mut self.tokens);
        let template = hash::template(self.tokens.iter());
        if !self.open.contains_key(key) {
            if self.open.len() >= MAX_OPEN_SESSIONS {
                self.dropped_lines += 1;
                return;
            }
            self.opened += 1;
            let s = OpenSession {
                seq: self.opened,
                last_ns: ts_ns,
                lines: Vec::new(),
            };
            self.open.insert(key.to_string(), s);
        }
        let Some(session) = self.open.get_mut(key) else {
            return;
        };
        session.last_ns = session.last_ns.max(ts_ns);
        session.lines.push(SessionLine { template, score });
    }

    /// Closes and scores the sessions whose latest line is `idle_ns` or more older than
    /// `now_ns`, in order of first appearance.
    pub fn close_idle(
        &mut self,
        now_ns: i64,
        idle_ns: i64,
        model: &SessionModel,
    ) -> Result<Vec<ScoredSession>, ModelError> {
        let idle: Vec<String> = self
            .open
            .iter()
            .filter(|(_, s)| now_ns.saturating_sub(s.last_ns) >= idle_ns)
            .map(|(k, _)| k.clone())
            .collect();
        let closed = idle
            .into_iter()
            .filter_map(|k| self.open.remove_entry(&k))
            .collect();
        score(closed, model)
    }

    /// Scores every session with `model`, in order of first appearance.
    pub fn finish(self, model: &SessionModel) -> Result<Vec<ScoredSession>, ModelError> {
        score(self.open.into_iter().collect(), model)
    }
}

/// Scores closed sessions, in order of first appearance.
fn score(
    mut closed: Vec<(String, OpenSession)>,
    model: &SessionModel,
) -> Result<Vec<ScoredSession>, ModelError> {
    closed.sort_unstable_by_key(|(_, s)| s.seq);
    let lines: Vec<Vec<SessionLine>> = closed
        .iter_mut()
        .map(|(_, s)| std::mem::take(&mut s.lines))
        .collect();
    let scores = model.score_batch(&lines)?;
    Ok(closed
        .into_iter()
        .zip(&lines)
        .zip(scores)
        .map(|(((key, _), lines), score)| ScoredSession {
            key,
            lines: lines.len(),
            score,
            anomalous: score >= model.threshold,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_first_group_or_the_whole_match() {
        let k = SessionKey::new(r"blk_-?\d+").unwrap();
        assert_eq!(k.of("Receiving block blk_-42 src"), Some("blk_-42"));
        assert_eq!(k.of("no block"), None);
        let k = SessionKey::new(r"job=(\w+)").unwrap();
        assert_eq!(k.of("step done job=a7 in 3s"), Some("a7"));
        assert!(SessionKey::new("(unclosed").is_err());
    }
}
