//! What `slim build` runs with, resolved from the command line, `slim.toml` and `SLIM_*`
//! variables: plain values, no I/O. The stages' own parts live with their stage (`run`,
//! `drive`, `keep`, `verify`); this gathers them, and says why resolving can fail
//! (`ArgsError`).

use std::path::PathBuf;

use crate::drive::plan::PlanSettings;
use crate::drive::{openapi, spec};
use crate::image::store::SourceChoice;
use crate::keep::KeepOptions;
use crate::keep::profile::{self, Profile};
use crate::run::RunSettings;
use crate::sbom::SbomTarget;
use crate::verify::VerifySettings;

/// Everything `slim build` needs, resolved from the command line.
#[derive(Clone, Debug)]
pub struct BuildSettings {
    pub image: String,
    /// The new image's reference; `<repo>.slim:<tag>` when not given.
    pub tag: Option<String>,
    /// Also write the new image as an archive `docker load` accepts.
    pub output: Option<PathBuf>,
    pub run: RunSettings,
    /// The probe plan; its HTTP requests and ready ports are filled from the image's
    /// exposed ports when `None`.
    pub plan: PlanSettings,
    pub keep: KeepOptions,
    pub profiles: ProfileChoice,
    pub verify: VerifySettings,
    /// Verification failing is not an error (`--allow-diff`).
    pub allow_diff: bool,
    /// Where the report goes (`None`: `--report off`).
    pub report: Option<PathBuf>,
    /// Whether the new image carries the trimmed package database (`--no-package-db`).
    pub package_db: bool,
    /// Where the SBOM goes, and in which format (`--sbom`, `--sbom-format`).
    pub sbom: Option<SbomTarget>,
    /// Where the seccomp profile goes (`--seccomp`); the traced runs then record system
    /// calls (`run.record_calls`).
    pub seccomp: Option<PathBuf>,
    /// Where the original image's files are read from (`--image-source`).
    pub image_source: SourceChoice,
}

/// Which profiles apply: those named, and (unless off) the built-in ones detected.
#[derive(Clone, Debug)]
pub struct ProfileChoice {
    pub named: Vec<Profile>,
    pub auto: bool,
}

/// Why the command line's values could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("cannot read --env-file {path}: {source}")]
    EnvFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    #[error("cannot read --keep-file {path}: {source}")]
    KeepFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    ProbeFile(#[from] spec::ProbeFileError),
    #[error(transparent)]
    OpenApi(#[from] openapi::OpenApiError),
    #[error("--env-file {path}, line {line}: {text:?} is not KEY=VAL")]
    EnvFileLine {
        path: String,
        line: usize,
        text: String,
    },
}
