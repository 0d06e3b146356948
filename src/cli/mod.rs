//! The commands of the `loganomaly` binary, one file each: its flags (a clap `Args`
//! struct) beside the `run` function that carries it out. `main.rs` holds the map of
//! commands and dispatches to them; the pipelines themselves live in the library.

pub mod args;
#[cfg(feature = "lab")]
pub mod bench;
#[cfg(feature = "lab")]
pub mod evaluate;
#[cfg(feature = "lab")]
pub mod generate;
pub mod incidents;
pub mod replay;
pub mod score;
pub mod serve;
pub mod summarize;
pub mod tail;
pub mod train;
