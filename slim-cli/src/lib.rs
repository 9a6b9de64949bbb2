//! slim's library: one module per pipeline stage, plus the command line and the engine.
//!
//! Pipeline order: `inspect` (what the image is) → `run` (the traced run: `engine`,
//! `cgroup` and the probe) → `trace` (events → records; `output` writes them as JSON
//! Lines) → `image` (the original filesystem) → `keep` (what the new image holds) →
//! `rebuild` (the new layer and image archive).

pub mod build;
pub mod cgroup;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod exit;
pub mod explain;
pub mod footprint;
pub mod image;
pub mod inspect;
pub mod interrupt;
pub mod keep;
pub mod output;
pub mod probe;
pub mod progress;
pub mod rebuild;
pub mod recover;
pub mod report;
pub mod reporter;
pub mod run;
pub mod trace;
pub mod verify;
