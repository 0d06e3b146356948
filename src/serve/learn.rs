//! Model lifecycle in the service: a first model trained from the first lines when none is
//! given, and periodic retraining in the background, swapped in without pausing scoring.
//!
//! Retraining learns from a uniform sample (reservoir) of the lines scored *normal* since
//! the previous training, so an ongoing incident does not teach the model that it is normal.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::stage::Shared;
use loganomaly_model::{Model, ModelError, Reservoir, TrainParams, Trainer};

/// When and from what the service (re)trains.
#[derive(Debug, Clone)]
pub struct LearnConfig {
    /// Retrain this often; `None` keeps the first model.
    pub retrain_every: Option<Duration>,
    /// Lines kept (uniformly at random) for the next retraining.
    pub reservoir_lines: usize,
    /// Fewest lines a retraining needs; with fewer, the current model stays.
    pub min_lines: usize,
    /// Training settings.
    pub params: TrainParams,
}

impl Default for LearnConfig {
    fn default() -> Self {
        Self {
            retrain_every: Some(Duration::from_secs(3600)),
            reservoir_lines: 100_000,
            min_lines: 10_000,
            params: TrainParams::default(),
        }
    }
}

/// Samples lines and runs retraining in a background thread.
pub struct Learner {
    cfg: LearnConfig,
    reservoir: Reservoir,
    since: Instant,
    training: Option<JoinHandle<Result<Model, ModelError>>>,
}

impl Learner {
    /// A learner whose first retraining is due `cfg.retrain_every` from now.
    pub fn new(cfg: LearnConfig) -> Self {
        Self {
            reservoir: Reservoir::new(cfg.reservoir_lines, cfg.params.seed),
            since: Instant::now(),
            training: None,
            cfg,
        }
    }

    /// Offers a scored line; only lines scored normal are sampled (algorithm R).
    pub fn offer(&mut self, line: &str, anomalous: bool) {
        if !anomalous && self.cfg.retrain_every.is_some() {
            self.reservoir.offer(line);
        }
    }

    /// Swaps in a finished retraining and starts the next one when it is due.
    pub fn poll(&mut self, shared: &Arc<Shared>) {
        if self.training.as_ref().is_some_and(JoinHandle::is_finished) {
            match self.training.take().map(JoinHandle::join) {
                Some(Ok(Ok(model))) => {
                    tracing::info!(
                        lines = model.meta.training_lines,
                        threshold = model.threshold,
                        "retrained model swapped in"
                    );
                    shared.set_model(Arc::new(model), "retrained");
                }
                Some(Ok(Err(e))) => tracing::warn!("retraining failed, keeping the model: {e}"),
                _ => tracing::warn!("retraining thread died, keeping the model"),
            }
        }
        let Some(every) = self.cfg.retrain_every else {
            return;
        };
        if self.training.is_some() || self.since.elapsed() < every {
            return;
        }
        self.since = Instant::now();
        if self.reservoir.lines().len() < self.cfg.min_lines {
            tracing::info!(
                lines = self.reservoir.lines().len(),
                "too few normal lines to retrain; keeping the model"
            );
            return;
        }
        let lines = self.reservoir.take();
        let params = self.cfg.params.clone();
        self.training = Some(std::thread::spawn(move || {
            train(&lines, params, "recent lines")
        }));
    }
}

/// Trains a model on `lines` (one pass; the trainer keeps its own bounded sample).
pub fn train<S: AsRef<str>>(
    lines: &[S],
    params: TrainParams,
    source: &str,
) -> Result<Model, ModelError> {
    let mut trainer = Trainer::new(params)?;
    for l in lines {
        trainer.add(l.as_ref());
    }
    trainer.finish(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(every: Option<Duration>) -> LearnConfig {
        LearnConfig {
            retrain_every: every,
            reservoir_lines: 500,
            min_lines: 100,
            params: TrainParams {
                trees: 20,
                subsample: 64,
                reservoir: 500,
                ..TrainParams::default()
            },
        }
    }

    #[test]
    fn anomalous_lines_are_not_learnt_and_the_reservoir_is_bounded() {
        let mut l = Learner::new(cfg(Some(Duration::from_secs(3600))));
        for i in 0..2000 {
            l.offer(&format!("normal {i}"), false);
            l.offer("panic: boom", true);
        }
        assert_eq!(l.reservoir.lines().len(), 500);
        assert!(l.reservoir.lines().iter().all(|s| s.starts_with("normal")));
    }

    #[test]
    fn a_due_retraining_swaps_the_model_in() {
        let shared = Arc::new(Shared::default());
        let mut l = Learner::new(cfg(Some(Duration::ZERO)));
        for i in 0..300 {
            l.offer(&format!("user {i} logged in"), false);
        }
        l.poll(&shared);
        let handle = l.training.as_ref().map(JoinHandle::is_finished);
        assert!(handle.is_some(), "training started");
        for _ in 0..600 {
            if l.training.as_ref().is_some_and(JoinHandle::is_finished) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        l.poll(&shared);
        let model = shared.model().expect("model swapped in");
        assert_eq!(model.meta.training_lines, 300);
        assert_eq!(
            shared
                .metrics
                .encode()
                .unwrap()
                .matches("source=\"retrained\"")
                .count(),
            1
        );
    }

    #[test]
    fn too_few_lines_keep_the_model_and_disabled_learns_nothing() {
        let shared = Arc::new(Shared::default());
        let mut l = Learner::new(cfg(Some(Duration::ZERO)));
        l.offer("one line", false);
        l.poll(&shared);
        assert!(l.training.is_none());
        let mut off = Learner::new(cfg(None));
        off.offer("x", false);
        assert!(off.reservoir.lines().is_empty());
    }
}
