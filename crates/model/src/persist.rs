//! The model file: a small header, then the postcard-encoded model.
//!
//! ```text
//! b"LOGANOMALY-MODEL\n"  magic (17 bytes)
//! u32 LE                 format version
//! u64 LE                 payload length
//! u32 LE                 CRC-32 of the payload
//! payload                postcard(Model)
//! ```
//! The header lets a wrong, truncated, corrupt or other-version file fail with a clear
//! message instead of a decoding error or, worse, a model that scores nonsense.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::{Model, ModelError};

const MAGIC: &[u8; 17] = b"LOGANOMALY-MODEL\n";
/// Format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 5;
const HEADER: usize = MAGIC.len() + 4 + 8 + 4;

impl Model {
    /// Encodes the model with its header.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        let payload = postcard::to_stdvec(self).map_err(|e| ModelError::Decode {
            origin: "model".into(),
            reason: e.to_string(),
        })?;
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decodes a model; `origin` names the source in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Model, ModelError> {
        let origin = origin.to_string();
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelError::NotAModel { origin });
        }
        if bytes.len() < HEADER {
            return Err(ModelError::Truncated {
                origin,
                expected: 0,
                found: 0,
            });
        }
        let field = |at: usize, n: usize| &bytes[MAGIC.len() + at..MAGIC.len() + at + n];
        let version = u32::from_le_bytes(field(0, 4).try_into().unwrap_or_default());
        let len = u64::from_le_bytes(field(4, 8).try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(field(12, 4).try_into().unwrap_or_default());
        if version != FORMAT_VERSION {
            return Err(ModelError::Version {
                origin,
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let payload = &bytes[HEADER..];
        if payload.len() as u64 > len {
            return Err(ModelError::Trailing {
                origin,
                extra: payload.len() as u64 - len,
            });
        }
        if (payload.len() as u64) < len {
            return Err(ModelError::Truncated {
                origin,
                expected: len,
                found: payload.len() as u64,
            });
        }
        if crc32fast::hash(payload) != crc {
            return Err(ModelError::Checksum { origin });
        }
        let model: Model = postcard::from_bytes(payload).map_err(|e| ModelError::Decode {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        model
            .check()
            .map_err(|reason| ModelError::Decode { origin, reason })?;
        Ok(model)
    }

    /// Writes the model to `path` atomically (a temporary file, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = self.to_bytes()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let bytes = fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Model::from_bytes(&bytes, &path.display().to_string())
    }
}
