//! Model errors: training that cannot run, and model files that cannot be used.

use std::io;
use std::path::PathBuf;

use super::iforest::IsolationForestError;

/// Why a model could not be trained, saved or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A training parameter is out of range.
    #[error("invalid training parameter: {0}")]
    Params(String),
    /// Training saw no line with any token.
    #[error("no log lines to train on")]
    NoData,
    /// The isolation forest refused its input or parameters.
    #[error(transparent)]
    Forest(#[from] IsolationForestError),
    /// Reading or writing the model file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The model file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file does not start with the model header.
    #[error("{origin}: not a loganomaly model file")]
    NotAModel {
        /// The model file.
        origin: String,
    },
    /// The file was written by a build with another format.
    #[error(
        "{origin}: model format version {found}, this build reads version {supported}; \
         retrain it with `loganomaly train`"
    )]
    Version {
        /// The model file.
        origin: String,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The file is shorter than its header says.
    #[error("{origin}: truncated: {found} of {expected} payload bytes present")]
    Truncated {
        /// The model file.
        origin: String,
        /// Payload bytes announced.
        expected: u64,
        /// Payload bytes found.
        found: u64,
    },
    /// The file goes on after the payload its header announces (two files written into
    /// one, or a copy that appended): not a truncation, and not to be guessed at.
    #[error("{origin}: {extra} unexpected bytes after the model's payload")]
    Trailing {
        /// The model file.
        origin: String,
        /// Bytes after the payload.
        extra: u64,
    },
    /// The payload does not match its checksum.
    #[error("{origin}: corrupt: checksum mismatch")]
    Checksum {
        /// The model file.
        origin: String,
    },
    /// The payload is not a valid model.
    #[error("{origin}: invalid model: {reason}")]
    Decode {
        /// The model file.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}
