//! Session (block) units, scored as the product scores them: the model file's own session
//! model groups the test lines by its session key and scores each session once
//! ([`loganomaly_model::Sessions`]). Without a session key a block's score is its most
//! abnormal line's, as a user without sessions would see it.
//!
//! The session model learns from the sessions of the training part as far as the training
//! part shows them: a session still open at the split counts with the lines it has so far,
//! as the sessions scored are cut short by the end of the log. (Learning from only the
//! blocks complete before the split was measured worse: ROC-AUC 0.81 against the blocks
//! the log ends before they are deleted, common after the split and rare before it.) In
//! clean mode only blocks labelled normal are learnt.

use serde::Serialize;

use super::{Corpus, EvalError, Record};
use loganomaly_model::{Model, SessionParams, Sessions};

/// How the block scores were made, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSummary {
    /// The model's session key.
    pub key: String,
    /// Training sessions learnt from.
    pub training_sessions: u64,
    /// The session model's settings.
    pub params: SessionParams,
    /// The line model's own threshold (blocks are judged by the session threshold).
    pub line_threshold: f32,
    /// Test sessions scored.
    pub test_sessions: usize,
    /// Test sessions whose key names no labelled unit.
    pub unlabelled_sessions: usize,
}

/// What the session model made of the test part.
pub struct SessionUnits {
    /// Each unit's session score (`None` for units with no test session).
    pub scores: Vec<Option<f32>>,
    /// The session threshold.
    pub threshold: f32,
    /// How the scores were made.
    pub summary: SessionSummary,
}

/// The units' session scores; `None` when the model has no session model.
pub fn unit_scores(
    corpus: &Corpus,
    test: &[&Record],
    scores: &[f32],
    model: &Model,
) -> Result<Option<SessionUnits>, EvalError> {
    let (Some(mut sessions), Some(session_model)) = (Sessions::for_model(model)?, &model.session)
    else {
        return Ok(None);
    };
    for (r, &s) in test.iter().zip(scores) {
        sessions.add(&r.text, s, r.ts_ns);
    }
    let units = corpus.unit_index();
    let mut out = vec![None; corpus.units.len()];
    let scored = sessions.finish(session_model)?;
    let mut unlabelled = 0;
    for s in &scored {
        match units.get(s.key.as_str()) {
            Some(&u) => out[u] = Some(s.score),
            None => unlabelled += 1,
        }
    }
    let summary = SessionSummary {
        key: model.meta.params.session_key.clone().unwrap_or_default(),
        training_sessions: session_model.stats.sessions(),
        params: session_model.params.clone(),
        line_threshold: model.threshold,
        test_sessions: scored.len(),
        unlabelled_sessions: unlabelled,
    };
    Ok(Some(SessionUnits {
        scores: out,
        threshold: session_model.threshold,
        summary,
    }))
}
