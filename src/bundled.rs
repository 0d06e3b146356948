//! The model trained on the bundled sample, compiled into the binary so that
//! `loganomaly replay` works with no model file at hand.

use loganomaly_model::{Model, ModelError};

/// Loads the bundled model (`models/default.model`, trained on the sample's healthy part).
pub fn model() -> Result<Model, ModelError> {
    static BYTES: &[u8] =
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/default.model"));
    Model::from_bytes(BYTES, "bundled model (models/default.model)")
}
