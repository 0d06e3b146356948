//! The per-line stages: normalise, then (in [`crate::model`]) score, then aggregate per pod.

pub mod aggregate;
pub mod normalise;
