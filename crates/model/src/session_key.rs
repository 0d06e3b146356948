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

/// Groups scored lines into sessions and scores each session once it is complete (at the
/// end of the input).
#[derive(Debug)]
pub struct Sessions {
    key: SessionKey,
    index: HashMap<String, usize>,
    keys: Vec<String>,
    lines: Vec<Vec<SessionLine>>,
    tokens: Tokens,
    /// Lines of sessions beyond [`MAX_OPEN_SESSIONS`], left out.
    pub dropped_lines: u64,
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
            index: HashMap::new(),
            keys: Vec::new(),
            lines: Vec::new(),
            tokens: Tokens::new(),
            dropped_lines: 0,
        }
    }

    /// Adds a scored line to its session (a line naming no session is left alone).
    pub fn add(&mut self, line: &str, score: f32) {
        let Some(key) = self.key.of(line) else {
            return;
        };
        let at = match self.index.get(key) {
            Some(&at) => at,
            None if self.keys.len() >= MAX_OPEN_SESSIONS => {
                self.dropped_lines += 1;
                return;
            }
            None => {
                self.index.insert(key.to_string(), self.keys.len());
                self.keys.push(key.to_string());
                self.lines.push(Vec::new());
                self.keys.len() - 1
            }
        };
        normalise(line, &mut self.tokens);
        let template = hash::template(self.tokens.iter());
        self.lines[at].push(SessionLine { template, score });
    }

    /// Scores every session with `model`, in order of first appearance.
    pub fn finish(self, model: &SessionModel) -> Result<Vec<ScoredSession>, ModelError> {
        let scores = model.score_batch(&self.lines)?;
        Ok(self
            .keys
            .into_iter()
            .zip(&self.lines)
            .zip(scores)
            .map(|((key, lines), score)| ScoredSession {
                key,
                lines: lines.len(),
                score,
                anomalous: score >= model.threshold,
            })
            .collect())
    }
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
