//! The kernel probe of slim: tracepoint programs (C, `bpf/probe.bpf.c`, built by build.rs)
//! that record the file accesses of one cgroup's tasks, and their aya loader.
//!
//! This is the only crate that touches aya or the kernel's BPF interface. It hands out a
//! typed event stream and a lost-event count; turning events into paths is left to the
//! trace stage of `slim-cli`.

mod abi;
mod calls;
mod event;
mod loader;
mod ring;

pub use calls::{CallRecord, seccomp_arch, syscall_name, syscall_table};
pub use event::{Base, DecodeError, Event, Syscall, SyscallEnter, SyscallExit, Task};
pub use loader::{
    DEFAULT_RING_BUFFER_BYTES, EventStream, LostEvents, Probe, ProbeConfig, ProbeError,
    check_privileges, ensure_tracefs,
};
