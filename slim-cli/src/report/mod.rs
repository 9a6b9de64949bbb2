//! The report of a build, `slim.report.json`: what went in, what came out, every probe and
//! its result, every kept path with its reasons, what `--exclude` left out, and the
//! verification verdict. Data for people and tools; the terminal summary (`summary`) is a
//! short view of it.

pub mod schema;
pub mod summary;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::drive::{ProbePlan, ProbeResult};
use crate::footprint::{
    AbsentPath, DirTally, ExcludedGlob, KeptPath, LeftOutGlob, ReasonTally, Removed,
};
use crate::packages::PackageDb;
use crate::rebuild::layer::LayerSummary;
use crate::seccomp::SeccompSummary;
use crate::verify::Verification;
use summary::BuildSummary;

use crate::drive::openapi::SkippedOperation;

/// The version of the report's shape (`slim-cli/schema/report.schema.json`): raised when
/// a field is removed or changes meaning, not when one is added.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, schemars::JsonSchema)]
struct Tool {
    #[schemars(extend("const" = "slim"))]
    name: &'static str,
    #[schemars(length(min = 1))]
    version: &'static str,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Source<'a> {
    #[schemars(length(min = 1))]
    reference: &'a str,
    #[schemars(pattern("^sha256:[0-9a-f]{64}$"))]
    id: &'a str,
    size: u64,
    /// The image's config: Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts…
    #[schemars(extend("type" = ["object", "null"]))]
    config: &'a serde_json::Value,
    /// Where its files were read from: in place from the engine's layer store, or
    /// through the engine's export (with why).
    read_from: &'a crate::image::store::ImageSource,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Image<'a> {
    #[schemars(length(min = 1))]
    tag: &'a str,
    /// The id (config digest) of the image that was tagged, the one verification ran.
    #[schemars(pattern("^sha256:[0-9a-f]{64}$"))]
    id: &'a str,
    /// The digest of its manifest.
    #[schemars(pattern("^sha256:[0-9a-f]{64}$"))]
    digest: &'a str,
    size: u64,
    layer: &'a LayerSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    archive: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Probes<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a ProbePlan>,
    results: &'a [ProbeResult],
    /// OpenAPI operations not probed, with the reason (credentials missing, a method
    /// left out by `--openapi-methods`).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    skipped_operations: &'a [SkippedOperation],
    events: u64,
    lost_events: u64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct AlongsideWork {
    name: &'static str,
    /// The phase it ran alongside.
    during: &'static str,
    #[schemars(range(min = 0))]
    seconds: f64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct PathStep {
    name: &'static str,
    #[schemars(range(min = 0))]
    seconds: f64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Profile<'a> {
    #[schemars(length(min = 1))]
    name: &'a str,
    #[schemars(length(min = 1))]
    why: &'a str,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Keep<'a> {
    paths_kept: usize,
    paths_in_original: usize,
    /// Kept paths that are not directories.
    files_kept: usize,
    /// Bytes of kept file content.
    bytes_kept: u64,
    /// Traced paths the image does not have (created at run time, or looked for in vain).
    traced_absent: usize,
    /// Seconds of the keep phase spent reading kept sources for what they import
    /// (Python's import closure, the packages Node modules require).
    #[schemars(range(min = 0))]
    closure_seconds: f64,
    /// The first of them (sorted), each with the first access to it.
    absent: &'a [AbsentPath],
    /// Kept bytes by the directory that directly holds them, largest first.
    directories: &'a [DirTally],
    /// Kept files and bytes by why they are kept (each file once, under its strongest
    /// reason; a closure under the reason of the file it serves), largest first.
    by_reason: &'a [ReasonTally],
    paths: &'a [KeptPath],
}

#[derive(Serialize, schemars::JsonSchema)]
struct Report<'a> {
    #[schemars(extend("const" = SCHEMA_VERSION))]
    schema_version: u32,
    tool: Tool,
    source: Source<'a>,
    image: Image<'a>,
    /// Original size divided by new size.
    #[schemars(range(min = 0))]
    factor: f64,
    /// Seconds per phase.
    #[schemars(extend("propertyNames" = {"pattern": "^[a-z][a-z_+-]*$"}))]
    phases: BTreeMap<&'a str, f64>,
    /// Work done alongside a phase rather than in turn (its time is not in `phases`):
    /// indexing the original from the engine's layer store while it runs, and scanning
    /// the Python sources it loads for their imports.
    alongside: Vec<AlongsideWork>,
    /// The phases that made the wall time, in order, with seconds: a phase whose work
    /// alongside outlasted it is replaced by that work.
    critical_path: Vec<PathStep>,
    profiles: Vec<Profile<'a>>,
    probes: Probes<'a>,
    keep: Keep<'a>,
    removed: &'a Removed,
    /// What each `--exclude` glob left out, in the order given.
    excluded: &'a [ExcludedGlob],
    /// What profiles left out of their own rules (optional heavy parts, kept only when
    /// traced): by profile and exclude glob.
    left_out: &'a [LeftOutGlob],
    /// The package database the new image carries: the packages with a kept file (those
    /// with `files_kept` < `files` trimmed), and those left out. Absent when the original
    /// image has none, or with `--no-package-db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    packages: Option<&'a PackageDb>,
    verification: &'a Verification,
    /// The `--seccomp` profile: the calls it allows (of how many the architecture has),
    /// and whether it was written (only once the new image passed verification under it).
    #[serde(skip_serializing_if = "Option::is_none")]
    seccomp: Option<&'a SeccompSummary>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the report {path}: {source}\nhint: pass --report FILE in a writable directory, or --report off"
)]
pub struct ReportError {
    pub path: String,
    pub source: std::io::Error,
}

/// The report of `summary`.
fn report(summary: &BuildSummary) -> Report<'_> {
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "slim",
            version: env!("CARGO_PKG_VERSION"),
        },
        source: Source {
            reference: &summary.source,
            id: &summary.source_id,
            size: summary.source_size,
            config: &summary.source_config,
            read_from: &summary.image_source,
        },
        image: Image {
            tag: &summary.tag,
            id: &summary.image_id,
            digest: &summary.digest,
            size: summary.size,
            layer: &summary.layer,
            archive: summary.archive.as_ref().map(|p| p.display().to_string()),
        },
        factor: if summary.size > 0 {
            summary.source_size as f64 / summary.size as f64
        } else {
            0.0
        },
        phases: summary
            .phases
            .iter()
            .map(|(name, d)| (*name, d.as_secs_f64()))
            .collect(),
        alongside: summary
            .alongside
            .iter()
            .map(|a| AlongsideWork {
                name: a.name,
                during: a.during,
                seconds: a.took.as_secs_f64(),
            })
            .collect(),
        critical_path: summary::critical_path(&summary.phases, &summary.alongside)
            .into_iter()
            .map(|(name, d)| PathStep {
                name,
                seconds: d.as_secs_f64(),
            })
            .collect(),
        profiles: summary
            .profiles
            .iter()
            .map(|(name, why)| Profile { name, why })
            .collect(),
        probes: Probes {
            plan: summary.executed_plan.as_ref(),
            results: &summary.probes,
            skipped_operations: &summary.skipped_operations,
            events: summary.events,
            lost_events: summary.lost_events,
        },
        keep: Keep {
            paths_kept: summary.paths_kept,
            paths_in_original: summary.paths_total,
            files_kept: summary.footprint.kept_files,
            bytes_kept: summary.footprint.kept_bytes,
            traced_absent: summary.traced_absent,
            closure_seconds: summary.closure_seconds,
            absent: &summary.absent,
            directories: &summary.footprint.kept_directories,
            by_reason: &summary.footprint.by_reason,
            paths: &summary.footprint.kept,
        },
        removed: &summary.footprint.removed,
        excluded: &summary.footprint.excluded,
        left_out: &summary.footprint.left_out,
        packages: summary.packages.as_ref(),
        verification: &summary.verification,
        seccomp: summary.seccomp.as_ref(),
    }
}

/// Writes `report` as the report's text: one line of JSON. A large image's report is
/// megabytes, a third of it indentation (`jq .` or `slim explain` read it).
fn serialize(report: &Report<'_>, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, report).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Prints the report of `summary` on stdout (`--json`), as [`write`] writes it.
pub fn print(summary: &BuildSummary) -> Result<(), ReportError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    serialize(&report(summary), &mut out).map_err(|source| ReportError {
        path: "stdout".into(),
        source,
    })
}

/// Writes the report of `summary` to `path` (whole or not at all).
pub fn write(summary: &BuildSummary, path: &Path) -> Result<(), ReportError> {
    let report = report(summary);
    let err = |source| ReportError {
        path: path.display().to_string(),
        source,
    };
    if crate::output::is_written_in_place(path) {
        #[expect(
            clippy::disallowed_methods,
            reason = "the error it maps to names the file"
        )]
        let file = std::fs::OpenOptions::new().write(true).open(path);
        return file
            .and_then(|file| serialize(&report, &mut std::io::BufWriter::new(file)))
            .map_err(err);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    #[expect(
        clippy::disallowed_methods,
        reason = "the error it maps to names the file"
    )]
    let result = (|| {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        serialize(&report, &mut file)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&temp);
    }
    result.map_err(err)
}
