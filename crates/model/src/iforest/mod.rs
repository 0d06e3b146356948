//! Isolation forest anomaly detector (Liu, Ting & Zhou, 2008) in the style of the linfa crates.
//!
//! Configure with [`IsolationForest::params()`], fit through linfa's `Fit` trait on a
//! `DatasetBase` of `f32` records, then score rows with [`IsolationForest::score_one`],
//! [`IsolationForest::score_samples`] or [`IsolationForest::score_into`]. Scores lie in
//! `(0, 1]`; higher means more anomalous (scikit-learn's `score_samples`, negated). Results are
//! bit-identical for a given seed whatever the number of rayon threads.
//!
//! ```
//! use loganomaly_model::iforest::IsolationForest;
//! use linfa::{traits::Fit, DatasetBase};
//! use ndarray::array;
//!
//! let records = array![[0.0f32, 0.1], [0.1, 0.0], [0.05, 0.05], [0.0, 0.0], [5.0, 5.0]];
//! let model = IsolationForest::params()
//!     .seed(7)
//!     .fit(&DatasetBase::from(records.clone()))
//!     .expect("valid parameters and finite records");
//! let scores = model.score_samples(records.view()).expect("same feature count");
//! assert!(scores[4] > scores[0]);
//! ```

mod algorithm;
mod errors;
mod hyperparams;

pub use algorithm::{average_path_length, IsolationForest};
pub use errors::{IsolationForestError, IsolationForestParamsError};
pub use hyperparams::{IsolationForestParams, IsolationForestValidParams};
