//! The error of a `slim` command: one of the stages' typed errors, or a verdict of the
//! command itself. Every message names what it is about; most end with a `hint:` line.

use slim_probe_ebpf::ProbeError;

use crate::cgroup::CgroupError;
use crate::engine::EngineError;
use crate::output::OutputError;

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
    Args(#[from] crate::cli::ArgsError),
    #[error(transparent)]
    NotReady(#[from] crate::probe::NotReady),
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
    Keep(#[from] crate::keep::KeepError),
    #[error(transparent)]
    Profile(#[from] crate::keep::profile::ProfileError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Explain(#[from] crate::explain::ExplainError),
    #[error(
        "{tag} does not behave like the original: {differences} probe(s) differ and \
         {missing} file(s) are missing (see above); it is tagged but labelled \
         slim.verified=false\nhint: keep what is missing with --keep or a profile, drive the \
         application further (--probe, --exec), or pass --allow-diff to accept the image"
    )]
    VerificationFailed {
        tag: String,
        differences: usize,
        missing: usize,
    },
    #[error(transparent)]
    Layer(#[from] crate::rebuild::layer::LayerError),
    #[error(transparent)]
    Config(#[from] crate::rebuild::archive::ConfigError),
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
    #[error(
        "interrupted before the end: slim removed what it had made (containers, cgroups, the \
         probe, temporary files)"
    )]
    Interrupted,
    #[error(
        "the run left things behind: {}\nhint: remove them by hand: {}",
        .what.join("; "),
        .commands.join(" && ")
    )]
    LeftBehind {
        what: Vec<String>,
        commands: Vec<String>,
    },
    #[error(
        "internal error: {0}\nhint: this is a bug in slim; please report it with the output above"
    )]
    Internal(String),
}

/// `; its last log lines:` and the lines, for error messages (nothing when there are none).
pub(crate) fn logs_text(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(
            "; its last log lines:\n{}",
            lines
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}
