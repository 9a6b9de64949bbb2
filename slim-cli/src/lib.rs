//! slim's library: one module per pipeline stage, the commands that run them, and what
//! they share.
//!
//! The stages, in pipeline order: `inspect` (what the image is) → `run` (the traced run:
//! a container in its own cgroup under the kernel probe of `slim_probe_ebpf`) → `drive`
//! (what the application is made to do meanwhile: HTTP probes, a crawl, commands) →
//! `trace` (events → records; `output` writes them as JSON Lines) → `image` (the original
//! filesystem) → `keep` (what the new image holds) → `packages` (its package database,
//! trimmed to what it keeps) → `rebuild` (the new layer and image, loaded into the
//! engine) → `verify` (the same probes on the new image, and repair) → `report`
//! (`slim.report.json` and the terminal summary) and `sbom` (the new image's bill of
//! materials) and `seccomp` (the profile `--seccomp` writes from the calls the probe saw).
//!
//! The commands: `build` orders the stages and undoes what a failed build did; `explain`
//! reads a report; `cli`, `config` and `settings` turn the command line into settings;
//! `error` and `exit` are what a command ends with. Shared: `engine` (the container
//! engine), `cgroup`, `interrupt` (signals, and blocking work a stop request ends),
//! `test_hook` (where the interruption tests catch slim), `recover` (what killed runs
//! left), `footprint`, `memory` (freed memory back to the system between phases), and `reporter`/`progress` (progress on stderr).
//!
//! Stages own their errors and never name `error`, which wraps them: the modules import
//! one another without a cycle (`module_graph_tests` checks it).

// The stages.
pub mod drive;
pub mod image;
pub mod inspect;
pub mod keep;
pub mod packages;
pub mod rebuild;
pub mod report;
pub mod run;
pub mod sbom;
pub mod seccomp;
pub mod trace;
pub mod verify;

// The commands.
pub mod build;
pub mod cli;
pub mod config;
pub mod error;
pub mod exit;
pub mod explain;
pub mod settings;

// Shared.
pub mod cgroup;
pub mod engine;
pub mod footprint;
pub mod interrupt;
pub mod memory;
pub mod netns;
pub mod output;
pub mod progress;
pub mod recover;
pub mod reporter;
pub mod test_hook;

#[cfg(test)]
mod module_graph_tests;
#[cfg(test)]
mod test_kit;
