//! Error types of the isolation forest: one for hyperparameter checking and one for fitting,
//! scoring and model validation.

use thiserror::Error;

/// Why a set of [`IsolationForestParams`](super::IsolationForestParams) was rejected by
/// `check()` / `check_ref()`.
///
/// Returned before any work is done, so a bad configuration fails fast instead of producing a
/// degenerate forest.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IsolationForestParamsError {
    /// `n_trees` was 0 or above 10 000.
    #[error("n_trees must be between 1 and {max}, got {got}")]
    NTrees {
        /// The rejected value.
        got: usize,
        /// The largest accepted value.
        max: usize,
    },
    /// `max_samples` was below 2: a subsample of fewer than two rows cannot be split, so every
    /// score would be the uninformative 0.5.
    #[error("max_samples must be at least 2, got {0}")]
    MaxSamples(usize),
    /// `max_depth` was set to 0 or to more than 64.
    #[error("max_depth must be between 1 and {max} when set, got {got}")]
    MaxDepth {
        /// The rejected value.
        got: usize,
        /// The largest accepted value.
        max: usize,
    },
}

/// Everything that can go wrong when fitting an isolation forest, scoring with it, or checking
/// a model that was deserialised from outside.
///
/// Scoring and fitting never panic on bad input; they return one of these instead.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IsolationForestError {
    /// The hyperparameters failed validation.
    #[error("invalid isolation forest hyperparameters: {0}")]
    Params(#[from] IsolationForestParamsError),
    /// An error reported by linfa itself (needed by linfa's blanket `Fit` impl).
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
    /// The training records have no rows.
    #[error("cannot fit an isolation forest on an empty dataset (0 rows)")]
    EmptyDataset,
    /// The training records have rows but no columns.
    #[error("cannot fit an isolation forest on records with 0 features")]
    ZeroFeatures,
    /// A NaN or infinite value was found in the input (training or scoring records).
    #[error("non-finite value {value} at row {row}, column {column}")]
    NonFinite {
        /// Zero-based row index of the offending value.
        row: usize,
        /// Zero-based column (feature) index of the offending value.
        column: usize,
        /// The offending value (NaN, +inf or -inf).
        value: f32,
    },
    /// The rows given for scoring do not have as many features as the training data had.
    #[error("feature count mismatch: the model was fitted on {expected} features but the input has {actual}")]
    FeatureCountMismatch {
        /// Number of features the model was fitted on.
        expected: usize,
        /// Number of features in the input.
        actual: usize,
    },
    /// The output buffer passed to `score_into` does not have one slot per input row.
    #[error("output buffer has length {actual} but the input has {expected} rows")]
    OutputLengthMismatch {
        /// Number of input rows.
        expected: usize,
        /// Length of the output buffer.
        actual: usize,
    },
    /// The forest would need more nodes or features than its 32-bit indices can address.
    #[error("isolation forest too large: {0}")]
    TooLarge(String),
    /// A (typically deserialised) model is structurally invalid and must not be used.
    #[error("invalid isolation forest model: {0}")]
    InvalidModel(String),
}
