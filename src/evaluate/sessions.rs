//! Block (session) units: each block is scored by the session model from its mix of
//! events and its lines' scores, not only by its most abnormal line.
//!
//! The session model learns from the blocks of the training part as far as the training
//! part shows them: a block still open at the split counts with the lines it has so far,
//! as the blocks scored are cut short by the end of the log. (Learning from only the
//! blocks complete before the split was measured worse: ROC-AUC 0.81 against the blocks
//! the log ends before they are deleted, common after the split and rare before it.) In
//! clean mode only blocks labelled normal are learnt.

use serde::Serialize;

use super::{in_training, Corpus, EvalError, Mode, Record};
use crate::model::{Model, SessionLine, SessionModel, SessionParams, SessionTrainer};
use crate::pipeline::normalise::Tokens;

/// How the block scores were made, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSummary {
    /// Training blocks learnt from.
    pub training_sessions: u64,
    /// The session model's settings.
    pub params: SessionParams,
    /// The line model's own threshold (blocks are judged by the session threshold).
    pub line_threshold: f32,
}

/// Trains the session model on the training part's blocks.
pub fn train(
    corpus: &Corpus,
    split: usize,
    mode: Mode,
    model: &Model,
    params: &SessionParams,
) -> Result<SessionModel, EvalError> {
    let sessions = training_sessions(corpus, split, mode);
    let texts: Vec<&str> = sessions.iter().flatten().map(|r| r.text.as_str()).collect();
    let (mut live, mut held_out) = (Vec::new(), Vec::new());
    model.score_batch(&texts, &mut live)?;
    model.score_batch_held_out(&texts, &mut held_out)?;
    let mut trainer = SessionTrainer::new(params.clone())?;
    let mut tokens = Tokens::new();
    let mut at = 0;
    for s in &sessions {
        let end = at + s.len();
        let lines = session_lines(s, &live[at..end], &mut tokens);
        trainer.add(&lines, &held_out[at..end]);
        at = end;
    }
    if trainer.sessions() == 0 {
        return Err(EvalError::Split("no block in the training part".into()));
    }
    Ok(trainer.finish()?)
}

/// The training part's lines of each block, grouped by block, in log order.
fn training_sessions(corpus: &Corpus, split: usize, mode: Mode) -> Vec<Vec<&Record>> {
    let mut by_unit: Vec<Vec<&Record>> = vec![Vec::new(); corpus.units.len()];
    for r in corpus.records[..split]
        .iter()
        .filter(|r| in_training(r, mode))
    {
        by_unit[r.unit].push(r);
    }
    by_unit.retain(|s| !s.is_empty());
    by_unit
}

fn session_lines(records: &[&Record], scores: &[f32], tokens: &mut Tokens) -> Vec<SessionLine> {
    records
        .iter()
        .zip(scores)
        .map(|(r, &s)| SessionLine::new(&r.text, s, tokens))
        .collect()
}

/// Each unit's session score (`None` for units with no test line).
pub fn unit_scores(
    corpus: &Corpus,
    test: &[&Record],
    scores: &[f32],
    model: &SessionModel,
) -> Result<Vec<Option<f32>>, EvalError> {
    let mut by_unit: Vec<Vec<SessionLine>> = vec![Vec::new(); corpus.units.len()];
    let mut tokens = Tokens::new();
    for (r, &s) in test.iter().zip(scores) {
        by_unit[r.unit].push(SessionLine::new(&r.text, s, &mut tokens));
    }
    let session_scores = model.score_batch(&by_unit)?;
    Ok(by_unit
        .iter()
        .zip(session_scores)
        .map(|(lines, s)| (!lines.is_empty()).then_some(s))
        .collect())
}
