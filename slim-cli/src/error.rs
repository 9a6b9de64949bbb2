//! The error of a `slim` command: one of the stages' typed errors, or a verdict of the
//! command itself, and the exit code each gets. Every message names what it is about; most
//! end with a `hint:` line.
//!
//! Stages own their errors and never name this one: it wraps theirs (flattened, so that a
//! kind of failure has one variant, whichever stage met it) and only the commands (`build`,
//! `cli`) return it.

use slim_probe_ebpf::ProbeError;

use crate::cgroup::CgroupError;
use crate::drive::DriveError;
use crate::engine::EngineError;
use crate::exit::ExitCode;
use crate::image::save::SaveImageError;
use crate::interrupt::{Interrupted, Unfinished};
use crate::output::OutputError;
use crate::rebuild::load::LoadError;
use crate::recover::NoOwner;
use crate::run::{RunError, logs_text};
use crate::verify::repair::VerifyError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Args(#[from] crate::settings::ArgsError),
    #[error(transparent)]
    NotReady(#[from] crate::drive::NotReady),
    #[error(
        "the container of {image} exited with code {code}{}{}\nhint: check that the image \
         runs as it is (`docker run --rm {image}`); run options such as -e, -v and --cmd \
         shape the traced run",
        if *.during_probing { " while it was being probed" } else { "" },
        logs_text(.last_logs)
    )]
    AppExited {
        image: String,
        code: i64,
        during_probing: bool,
        last_logs: Vec<String>,
    },
    #[error("cannot write {path}: {why}\nhint: pass an --output path in an existing directory")]
    BadOutput { path: String, why: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Save(#[from] crate::image::save::SaveError),
    #[error(transparent)]
    Index(#[from] crate::image::index::IndexError),
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error(transparent)]
    Keep(#[from] crate::keep::KeepError),
    #[error(transparent)]
    Profile(#[from] crate::keep::profile::ProfileError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Packages(#[from] crate::packages::PackageError),
    #[error(transparent)]
    Sbom(#[from] crate::sbom::SbomError),
    #[error(transparent)]
    Explain(#[from] crate::explain::ExplainError),
    #[error(
        "{tag} does not behave like the original: {differences} probe(s) differ and \
         {missing} file(s) are missing (see above){}; it is tagged but labelled \
         slim.verified=false\nhint: keep what is missing with --keep or a profile, drive the \
         application further (--probe, --exec), or pass --allow-diff to accept the image",
        seccomp_text(.seccomp.as_deref(), .refused_calls)
    )]
    VerificationFailed {
        tag: String,
        differences: usize,
        missing: usize,
        /// The `--seccomp` file, which is then not written.
        seccomp: Option<String>,
        /// Calls the profile refused to the new image's processes.
        refused_calls: Vec<String>,
    },
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Layer(#[from] crate::rebuild::layer::LayerError),
    #[error(transparent)]
    ImageConfig(#[from] crate::rebuild::archive::ImageConfigError),
    #[error(
        "{lost} events were lost ({ring_buffer} with the ring buffer full, {tracking} of tasks \
         the probe could not track): the trace is incomplete\nhint: raise --ring-buffer (it was \
         {ring_buffer_bytes} bytes), or pass --allow-incomplete to write the trace anyway"
    )]
    Incomplete {
        lost: u64,
        ring_buffer: u64,
        tracking: u64,
        ring_buffer_bytes: u32,
    },
    #[error(
        "{} of {total} probes failed (--strict):\n{}\nhint: fix the application or the probe \
         (`expect` in a --probe-file accepts another status), or build without --strict, \
         which only reports failed probes",
        .failed.len(),
        .failed.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
    )]
    ProbeFailed {
        /// One line for each failed probe.
        failed: Vec<String>,
        total: usize,
    },
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    LeftBehind(#[from] crate::run::LeftBehind),
    #[error(
        "internal error: {0}\nhint: this is a bug in slim; please report it with the output above"
    )]
    Internal(String),
}

// Which error gets which code lives here, with the errors; `exit` only names the codes.
impl ExitCode {
    /// The exit code for a failed command.
    pub fn of(error: &Error) -> ExitCode {
        match error {
            Error::Engine(e) => match e {
                EngineError::Unreachable { .. }
                | EngineError::SocketPermission { .. }
                | EngineError::Gone { .. } => ExitCode::Environment,
                EngineError::ImageNotFound { .. }
                | EngineError::NameInUse { .. }
                | EngineError::OptionRejected { .. } => ExitCode::BadInput,
                EngineError::StartFailed {
                    command_not_found: true,
                    ..
                } => ExitCode::BadInput,
                EngineError::StartFailed { .. }
                | EngineError::Request { .. }
                | EngineError::NoExitStatus { .. }
                | EngineError::LoadRefused { .. } => ExitCode::Failure,
            },
            Error::Cgroup(e) if e.is_environment() => ExitCode::Environment,
            Error::Cgroup(_) => ExitCode::Failure,
            Error::Probe(e) => match e {
                ProbeError::Permission { .. }
                | ProbeError::MissingCapabilities { .. }
                | ProbeError::NoKernelBtf(_)
                | ProbeError::Tracefs(_) => ExitCode::Environment,
                ProbeError::RingBufferSize(_) => ExitCode::BadInput,
                _ => ExitCode::Failure,
            },
            Error::Output(OutputError::Create { .. }) => ExitCode::BadInput,
            Error::Output(OutputError::Write { .. }) => ExitCode::Failure,
            Error::VerificationFailed { .. } => ExitCode::VerificationFailed,
            Error::Args(_)
            | Error::NotReady(_)
            | Error::AppExited { .. }
            | Error::BadOutput { .. }
            | Error::Keep(_)
            | Error::Profile(_) => ExitCode::BadInput,
            Error::Store(crate::image::store::StoreError::Required(_)) => ExitCode::BadInput,
            Error::Store(crate::image::store::StoreError::Record { .. }) => ExitCode::Failure,
            Error::Report(_) | Error::Explain(_) | Error::Sbom(_) => ExitCode::BadInput,
            Error::Seccomp(
                crate::seccomp::SeccompError::NoTable
                | crate::seccomp::SeccompError::BadPath { .. },
            ) => ExitCode::BadInput,
            Error::Seccomp(crate::seccomp::SeccompError::Write { .. }) => ExitCode::Failure,
            // The image itself is malformed: bad input, as a missing image is.
            Error::Index(crate::image::index::IndexError::ThroughDanglingLink { .. })
            | Error::Layer(
                crate::rebuild::layer::LayerError::DanglingHardLink { .. }
                | crate::rebuild::layer::LayerError::Sparse { .. },
            ) => ExitCode::BadInput,
            Error::Io { .. }
            | Error::Save(_)
            | Error::Index(_)
            | Error::Layer(_)
            | Error::Packages(_)
            | Error::ImageConfig(_) => ExitCode::Failure,
            Error::Incomplete { .. } => ExitCode::IncompleteTrace,
            Error::ProbeFailed { .. } => ExitCode::ProbeFailed,
            Error::Interrupted(_) => ExitCode::Interrupted,
            Error::LeftBehind(_) | Error::Internal(_) => ExitCode::Failure,
        }
    }
}

/// What a failed verification says of the `--seccomp` profile: it was run under, not
/// written, and what it refused.
fn seccomp_text(path: Option<&str>, refused: &[String]) -> String {
    let Some(path) = path else {
        return String::new();
    };
    let refused = if refused.is_empty() {
        "; the probe saw it refuse no call the original's runs were allowed, so it may not \
         be the cause"
            .to_string()
    } else {
        format!("; the profile refused {}", refused.join(", "))
    };
    format!(" under the seccomp profile, which was not written to {path}{refused}")
}

impl From<RunError> for Error {
    fn from(error: RunError) -> Error {
        match error {
            RunError::Engine(e) => Error::Engine(e),
            RunError::Cgroup(e) => Error::Cgroup(e),
            RunError::Probe(e) => Error::Probe(e),
            RunError::Output(e) => Error::Output(e),
            RunError::Interrupted(e) => Error::Interrupted(e),
            RunError::LeftBehind(e) => Error::LeftBehind(e),
            RunError::Incomplete {
                lost,
                ring_buffer,
                tracking,
                ring_buffer_bytes,
            } => Error::Incomplete {
                lost,
                ring_buffer,
                tracking,
                ring_buffer_bytes,
            },
            RunError::Internal(what) => Error::Internal(what),
        }
    }
}

impl From<DriveError> for Error {
    fn from(error: DriveError) -> Error {
        match error {
            DriveError::Run(e) => e.into(),
            DriveError::NotReady(e) => Error::NotReady(e),
            DriveError::Internal(what) => Error::Internal(what),
        }
    }
}

impl From<Unfinished> for Error {
    fn from(error: Unfinished) -> Error {
        match error {
            Unfinished::Interrupted(e) => Error::Interrupted(e),
            failed @ Unfinished::Failed { .. } => Error::Internal(failed.to_string()),
        }
    }
}

impl From<NoOwner> for Error {
    fn from(error: NoOwner) -> Error {
        Error::Internal(error.0)
    }
}

impl From<SaveImageError> for Error {
    fn from(error: SaveImageError) -> Error {
        match error {
            SaveImageError::Save(e) => Error::Save(e),
            SaveImageError::Interrupted(e) => Error::Interrupted(e),
            SaveImageError::Internal(what) => Error::Internal(what),
        }
    }
}

impl From<LoadError> for Error {
    fn from(error: LoadError) -> Error {
        match error {
            LoadError::Io { what, source } => Error::Io { what, source },
            LoadError::Layer(e) => Error::Layer(e),
            LoadError::Packages(e) => Error::Packages(e),
            LoadError::ImageConfig(e) => Error::ImageConfig(e),
            LoadError::Engine(e) => Error::Engine(e),
            LoadError::Interrupted(e) => Error::Interrupted(e),
            LoadError::Internal(what) => Error::Internal(what),
        }
    }
}

impl From<VerifyError> for Error {
    fn from(error: VerifyError) -> Error {
        match error {
            VerifyError::Drive(e) => e.into(),
            VerifyError::Load(e) => e.into(),
            VerifyError::Unfinished(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_their_documented_codes() {
        let missing = Error::Engine(EngineError::ImageNotFound {
            image: "x:1".into(),
        });
        assert_eq!(ExitCode::of(&missing).code(), 2);
        let lost = Error::Incomplete {
            lost: 3,
            ring_buffer: 3,
            tracking: 0,
            ring_buffer_bytes: 4096,
        };
        assert_eq!(ExitCode::of(&lost).code(), 4);
        let failed = Error::ProbeFailed {
            failed: vec!["GET :80/ → 502 (0 bytes, 1 ms)".into()],
            total: 3,
        };
        assert_eq!(ExitCode::of(&failed).code(), 5);
        assert!(failed.to_string().starts_with("1 of 3 probes failed"));
        assert_eq!(
            ExitCode::of(&Error::Cgroup(CgroupError::NoCgroupV2)).code(),
            3
        );
        let btf = Error::Probe(ProbeError::NoKernelBtf("gone".into()));
        assert_eq!(ExitCode::of(&btf).code(), 3);
        assert_eq!(ExitCode::of(&Error::Internal("bug".into())).code(), 1);
    }
}
