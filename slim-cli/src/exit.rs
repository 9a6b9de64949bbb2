//! The process exit codes of `slim`, in one place. Which error gets which is decided next
//! to the errors (`ExitCode::of`, in `error`), so that this module depends on nothing and
//! the signal handler of `interrupt` can exit with a code too.

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
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}
