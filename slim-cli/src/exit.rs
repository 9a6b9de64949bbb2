//! The process exit codes of `slim`, in one place, and which error gets which.

use slim_probe_ebpf::ProbeError;

use crate::engine::EngineError;
use crate::error::Error;
use crate::output::OutputError;

/// What `slim`'s exit status says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// The command did what was asked.
    Success = 0,
    /// Something failed that should not have (a bug, or an engine or kernel error).
    Failure = 1,
    /// The input was wrong: usage, an image that is not there, an invalid option value.
    BadInput = 2,
    /// The host cannot do it: no engine, no privilege for eBPF, no BTF, no tracefs, no
    /// cgroup v2.
    Environment = 3,
    /// Events were lost and `--allow-incomplete` was not given.
    IncompleteTrace = 4,
    /// A probe failed (a 5xx answer, an unexpected status, a failing command) and
    /// `--strict` was given.
    ProbeFailed = 5,
    /// The new image does not behave like the original, and `--allow-diff` was not given.
    VerificationFailed = 6,
    /// Stopped by a signal before the run began.
    Interrupted = 130,
}

impl ExitCode {
    /// The exit code for a failed command.
    pub fn of(error: &Error) -> ExitCode {
        match error {
            Error::Engine(e) => match e {
                EngineError::Unreachable { .. } | EngineError::Gone { .. } => ExitCode::Environment,
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
            Error::Report(_) | Error::Explain(_) => ExitCode::BadInput,
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
            | Error::Config(_) => ExitCode::Failure,
            Error::Incomplete { .. } => ExitCode::IncompleteTrace,
            Error::ProbeFailed { .. } => ExitCode::ProbeFailed,
            Error::Interrupted => ExitCode::Interrupted,
            Error::LeftBehind { .. } | Error::Internal(_) => ExitCode::Failure,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::CgroupError;

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
