//! slim's library: one module per pipeline stage, plus the command line and the engine.
//!
//! Pipeline order: `inspect` (what the image is) → `run` (the traced run: `engine`,
//! `cgroup` and the probe) → `trace` (events → records) → `output` (JSON Lines).

pub mod cgroup;
pub mod cli;
pub mod engine;
pub mod error;
pub mod exit;
pub mod inspect;
pub mod interrupt;
pub mod output;
pub mod reporter;
pub mod run;
pub mod trace;
