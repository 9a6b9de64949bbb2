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
    #[error("interrupted: the run ended before its trace was complete")]
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
