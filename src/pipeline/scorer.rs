//! The one place lines are scored on rayon and judged against the threshold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use loganomaly_model::{Model, ModelError};

use crate::event::{LogLine, ScoredLine};

/// A model and the threshold it is applied with: turns batches of lines into scored lines.
///
/// Cheap to clone (the model is shared), so every batch can carry the scorer that scored
/// it: a sink that explains or aggregates a line uses the very model that judged it, even
/// when a retrain has replaced the model since.
#[derive(Debug, Clone)]
pub struct Scorer {
    model: Arc<Model>,
    threshold: f32,
}

impl Scorer {
    /// Scores with `model` at `threshold`, or at the model's own threshold when `None`.
    pub fn new(model: Arc<Model>, threshold: Option<f32>) -> Self {
        let threshold = threshold.unwrap_or(model.threshold);
        Self { model, threshold }
    }

    /// The model lines are scored with.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Score at or above which a line is anomalous.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Scores `lines` in parallel (rayon) and judges each against the threshold; `scores`
    /// is a buffer reused from batch to batch. On error the lines are handed back.
    pub fn score(
        &self,
        lines: Vec<LogLine>,
        scores: &mut Vec<f32>,
    ) -> Result<Vec<ScoredLine>, (Vec<LogLine>, ModelError)> {
        if let Err(e) = self.model.score_batch(&lines, scores) {
            return Err((lines, e));
        }
        let threshold = self.threshold;
        Ok(lines
            .into_iter()
            .zip(scores.iter())
            .map(|(log, &score)| ScoredLine {
                log,
                score,
                anomalous: score >= threshold,
            })
            .collect())
    }

    /// Like [`Scorer::score`], timed: the scored lines and how long scoring took.
    pub(crate) fn score_timed(
        &self,
        lines: Vec<LogLine>,
        scores: &mut Vec<f32>,
    ) -> Result<(Vec<ScoredLine>, Duration), (Vec<LogLine>, ModelError)> {
        let started = Instant::now();
        self.score(lines, scores).map(|s| (s, started.elapsed()))
    }
}

impl AsRef<str> for LogLine {
    fn as_ref(&self) -> &str {
        &self.line
    }
}

/// Where the pipeline gets the scorer for each batch.
///
/// A fixed [`Scorer`] is the common case; the service implements this to score with
/// whatever model is current (a retrain replaces it) and to train a first model on the
/// first lines when it starts without one.
pub trait Models: Send {
    /// The scorer for `lines`, or `None` when there is no model for them. An implementation
    /// may take the lines out of `lines` to keep them (to train on, and to hand them back
    /// with a later batch); what is left in `lines` when it returns `None` is dropped and
    /// counted. `ended` is true for the last call, once the source has ended.
    fn scorer(&mut self, lines: &mut Vec<LogLine>, ended: bool) -> Option<Scorer>;
}

impl Models for Scorer {
    fn scorer(&mut self, _lines: &mut Vec<LogLine>, _ended: bool) -> Option<Scorer> {
        Some(self.clone())
    }
}
