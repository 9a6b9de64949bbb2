//! Loads the probe object, selects a cgroup, attaches the tracepoints and hands out the
//! event stream.
//!
//! Order matters: the cgroup selection is written before any program is attached, so the
//! probe never records the loader itself or any task outside the selected cgroup.

use std::io;
use std::path::Path;

use aya::maps::{Array, Map, PerCpuArray};
use aya::programs::TracePoint;
use aya::programs::trace_point::TracePointLink;
use aya::{Btf, Ebpf, EbpfLoader};
use tokio::io::unix::AsyncFd;

use crate::abi;
use crate::calls::{CallRecord, numbers};
use crate::event::Event;
use crate::ring::Ring;

static PROBE_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/probe.bpf.o"));

/// How often the reader drains the ring buffer when no wakeup came: the probe wakes it
/// only once [`wakeup_bytes`] wait, so a trickle of events waits at most this long.
const DRAIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// The fill level at which the probe wakes the reader: a sixteenth of the ring buffer,
/// so a burst still leaves fifteen sixteenths of room while the reader wakes up.
fn wakeup_bytes(ring_buffer_bytes: u32) -> u32 {
    (ring_buffer_bytes / 16).max(1)
}

/// Default size of the ring buffer: room for a burst of several hundred thousand events
/// while userspace catches up. Its pages are mapped twice (the kernel maps the data area
/// twice so records can wrap), so it counts double in slim's resident memory.
pub const DEFAULT_RING_BUFFER_BYTES: u32 = 32 << 20;

/// What the probe records.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// cgroup v2 id of the cgroup whose tasks (and their descendants' cgroups) are traced.
    pub cgroup_id: u64,
    /// Depth of that cgroup below the cgroup v2 root (a child of the root is level 1).
    pub cgroup_level: u32,
    /// Ring buffer size in bytes; a power of two, at least one page.
    pub ring_buffer_bytes: u32,
    /// Also record which system calls the cgroup's tasks make ([`Probe::calls`]).
    pub record_calls: bool,
}

/// Events that never reached userspace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LostEvents {
    /// Records dropped because the ring buffer was full.
    pub ring_buffer: u64,
    /// Tasks that could not be tracked (table full): their events were not recorded.
    pub tracking: u64,
}

impl LostEvents {
    pub fn total(&self) -> u64 {
        self.ring_buffer + self.tracking
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "not permitted to load the eBPF probe ({what}): slim needs root, or the capabilities \
         CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN\nhint: run slim with sudo, or grant those \
         capabilities to its binary"
    )]
    Permission { what: String },
    #[error(
        "slim lacks {missing} to load its eBPF probe\nhint: run slim as root (sudo), or grant \
         its binary CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (`setcap \
         cap_bpf,cap_perfmon,cap_sys_admin+ep slim`)"
    )]
    MissingCapabilities { missing: String },
    #[error(
        "the kernel has no BTF type information at /sys/kernel/btf/vmlinux ({0})\nhint: slim \
         needs Linux 5.8 or later built with CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoKernelBtf(String),
    #[error(
        "tracefs is not available at /sys/kernel/tracing and could not be mounted: {0}\nhint: \
         mount it with `mount -t tracefs tracefs /sys/kernel/tracing` as root"
    )]
    Tracefs(io::Error),
    #[error("ring buffer size {0} is not a power of two of at least 4096 bytes")]
    RingBufferSize(u32),
    #[error("failed to load the eBPF probe: {0}")]
    Load(String),
    #[error("failed to attach the probe to tracepoint {category}/{name}: {error}")]
    Attach {
        category: String,
        name: String,
        error: String,
    },
    #[error("failed to read the probe's ring buffer: {0}")]
    Read(io::Error),
    #[error(transparent)]
    Decode(#[from] crate::event::DecodeError),
}

/// The loaded and attached probe. Dropping it detaches every program.
pub struct Probe {
    /// One per attached tracepoint; dropping one detaches it.
    links: Vec<TracePointLink>,
    ebpf: Ebpf,
}

impl Drop for Probe {
    fn drop(&mut self) {
        // Detaching a tracepoint waits for grace periods of the kernel's (0.36 s for the
        // five one after another here, 0.21 s at once): each link goes on a thread of its
        // own, so that the waits overlap.
        std::thread::scope(|scope| {
            for link in self.links.drain(..) {
                // Without a thread, the link goes here (the ones before it go on theirs).
                let _ = std::thread::Builder::new()
                    .name("slim-detach".into())
                    .spawn_scoped(scope, move || drop(link));
            }
        });
    }
}

/// The stream of events from an attached probe.
pub struct EventStream {
    ring: AsyncFd<Ring>,
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Checks, before anything is created, that this process may load and attach the probe:
/// CAP_BPF (or CAP_SYS_ADMIN) to load programs and maps, CAP_PERFMON (or CAP_SYS_ADMIN) to
/// attach tracepoints, and CAP_SYS_ADMIN for cgroup ancestry and mounting tracefs.
pub fn check_privileges() -> Result<(), ProbeError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    missing_capabilities(effective).map_or(Ok(()), |missing| {
        Err(ProbeError::MissingCapabilities { missing })
    })
}

/// The capabilities the probe needs that `effective` lacks, named, or `None`.
fn missing_capabilities(effective: u64) -> Option<String> {
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_SYS_ADMIN) {
        if !has(CAP_BPF) {
            missing.push("CAP_BPF");
        }
        if !has(CAP_PERFMON) {
            missing.push("CAP_PERFMON");
        }
        missing.push("CAP_SYS_ADMIN");
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// Mounts tracefs at /sys/kernel/tracing if no tracefs is mounted yet.
pub fn ensure_tracefs() -> Result<(), ProbeError> {
    let events = |root: &str| Path::new(root).join("events/syscalls").is_dir();
    if events("/sys/kernel/tracing") || events("/sys/kernel/debug/tracing") {
        return Ok(());
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: plain mount(2) with NUL-terminated strings and no data argument.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(ProbeError::Tracefs(io::Error::last_os_error()));
    }
    Ok(())
}

fn is_permission(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && matches!(io.raw_os_error(), Some(libc::EPERM | libc::EACCES))
        {
            return true;
        }
        source = e.source();
    }
    false
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

impl Probe {
    /// Loads the probe, selects the cgroup and attaches every tracepoint. Must be called
    /// inside a tokio runtime (the event stream registers with its reactor).
    pub fn attach(config: &ProbeConfig) -> Result<(Probe, EventStream), ProbeError> {
        let size = config.ring_buffer_bytes;
        if !size.is_power_of_two() || size < 4096 {
            return Err(ProbeError::RingBufferSize(size));
        }
        ensure_tracefs()?;
        let btf = Btf::from_sys_fs().map_err(|e| ProbeError::NoKernelBtf(e.to_string()))?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .map_max_entries("events", size)
            .load(PROBE_OBJECT)
            .map_err(|e| {
                if is_permission(&e) {
                    ProbeError::Permission { what: chain(&e) }
                } else {
                    ProbeError::Load(chain(&e))
                }
            })?;

        let mut selection: Array<_, abi::Config> = Array::try_from(
            ebpf.map_mut("config")
                .ok_or_else(|| ProbeError::Load("map `config` missing".into()))?,
        )
        .map_err(|e| ProbeError::Load(chain(&e)))?;
        selection
            .set(
                0,
                abi::Config {
                    cgroup_id: config.cgroup_id,
                    cgroup_level: config.cgroup_level,
                    wakeup_bytes: wakeup_bytes(size),
                    record_calls: u32::from(config.record_calls),
                    _pad: 0,
                },
                0,
            )
            .map_err(|e| ProbeError::Load(chain(&e)))?;

        let mut links = Vec::new();
        for (program, category, name) in [
            ("sys_enter", "raw_syscalls", "sys_enter"),
            ("sys_exit", "raw_syscalls", "sys_exit"),
            ("sched_fork", "sched", "sched_process_fork"),
            ("sched_exec", "sched", "sched_process_exec"),
            ("sched_exit", "sched", "sched_process_exit"),
        ] {
            let prog: &mut TracePoint = ebpf
                .program_mut(program)
                .ok_or_else(|| ProbeError::Load(format!("program `{program}` missing")))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| ProbeError::Load(chain(&e)))?;
            prog.load().map_err(|e| {
                if is_permission(&e) {
                    ProbeError::Permission { what: chain(&e) }
                } else {
                    ProbeError::Load(format!("program `{program}`: {}", chain(&e)))
                }
            })?;
            let link = prog.attach(category, name).map_err(|e| {
                if is_permission(&e) {
                    ProbeError::Permission { what: chain(&e) }
                } else {
                    ProbeError::Attach {
                        category: category.to_string(),
                        name: name.to_string(),
                        error: chain(&e),
                    }
                }
            })?;
            links.push(
                prog.take_link(link)
                    .map_err(|e| ProbeError::Load(chain(&e)))?,
            );
        }

        let events = match ebpf.take_map("events") {
            Some(Map::RingBuf(map)) => map,
            Some(_) => return Err(ProbeError::Load("map `events` is no ring buffer".into())),
            None => return Err(ProbeError::Load("map `events` missing".into())),
        };
        let ring = Ring::new(events, size).map_err(ProbeError::Read)?;
        // SAFETY: the ring owns its map fd and keeps it open, unchanged, for as long as it
        // lives, and the AsyncFd owns the ring.
        let ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
            .map_err(|e| ProbeError::Read(e.into()))?;
        Ok((Probe { links, ebpf }, EventStream { ring }))
    }

    /// Events lost so far, summed over all CPUs.
    pub fn lost_events(&self) -> Result<LostEvents, ProbeError> {
        let lost: PerCpuArray<_, u64> = PerCpuArray::try_from(
            self.ebpf
                .map("lost")
                .ok_or_else(|| ProbeError::Load("map `lost` missing".into()))?,
        )
        .map_err(|e| ProbeError::Load(chain(&e)))?;
        let sum = |slot: usize| -> Result<u64, ProbeError> {
            let values = lost
                .get(&(slot as u32), 0)
                .map_err(|e| ProbeError::Load(chain(&e)))?;
            Ok(values.iter().sum())
        };
        Ok(LostEvents {
            ring_buffer: sum(abi::LOST_RINGBUF)?,
            tracking: sum(abi::LOST_TRACKING)?,
        })
    }
}

impl Probe {
    /// The system calls recorded so far (empty unless [`ProbeConfig::record_calls`]).
    pub fn calls(&self) -> Result<CallRecord, ProbeError> {
        let rows: Array<_, abi::Calls> = Array::try_from(
            self.ebpf
                .map("calls")
                .ok_or_else(|| ProbeError::Load("map `calls` missing".into()))?,
        )
        .map_err(|e| ProbeError::Load(chain(&e)))?;
        let row = |index: usize| -> Result<std::collections::BTreeSet<u32>, ProbeError> {
            let row = rows
                .get(&(index as u32), 0)
                .map_err(|e| ProbeError::Load(chain(&e)))?;
            Ok(numbers(&row))
        };
        let refusal: Array<_, u32> = Array::try_from(
            self.ebpf
                .map("refusal")
                .ok_or_else(|| ProbeError::Load("map `refusal` missing".into()))?,
        )
        .map_err(|e| ProbeError::Load(chain(&e)))?;
        let mut refused = std::collections::BTreeMap::new();
        for nr in row(abi::CALLS_REFUSED)? {
            let errno = refusal
                .get(&nr, 0)
                .map_err(|e| ProbeError::Load(chain(&e)))?;
            refused.insert(nr, errno);
        }
        Ok(CallRecord {
            application: row(abi::CALLS_APP)?,
            application_unfiltered: row(abi::CALLS_APP_UNFILTERED)?,
            runtime: row(abi::CALLS_RUNTIME)?,
            setup: row(abi::CALLS_SETUP)?,
            refused,
            compat: row(abi::CALLS_COMPAT)?,
        })
    }
}

impl EventStream {
    /// Waits until at least one record is available, then decodes every available record
    /// into `out`. Returns the number of events added.
    pub async fn next_batch(&mut self, out: &mut Vec<Event>) -> Result<usize, ProbeError> {
        loop {
            match tokio::time::timeout(DRAIN_INTERVAL, self.ring.readable_mut()).await {
                Ok(guard) => {
                    let mut guard = guard.map_err(ProbeError::Read)?;
                    let added = drain_ring(guard.get_inner_mut(), out)?;
                    guard.clear_ready();
                    if added > 0 {
                        return Ok(added);
                    }
                }
                Err(_) => {
                    let added = drain_ring(self.ring.get_mut(), out)?;
                    if added > 0 {
                        return Ok(added);
                    }
                }
            }
        }
    }

    /// Decodes every record available now into `out`, without waiting.
    pub fn drain(&mut self, out: &mut Vec<Event>) -> Result<usize, ProbeError> {
        drain_ring(self.ring.get_mut(), out)
    }
}

fn drain_ring(ring: &mut Ring, out: &mut Vec<Event>) -> Result<usize, ProbeError> {
    ring.drain(|record| {
        out.push(Event::decode(record)?);
        Ok::<(), ProbeError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_capabilities_are_named() {
        assert_eq!(missing_capabilities(u64::MAX), None);
        assert_eq!(missing_capabilities(1 << CAP_SYS_ADMIN), None);
        assert_eq!(
            missing_capabilities(0).as_deref(),
            Some("CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN")
        );
        assert_eq!(
            missing_capabilities((1 << CAP_BPF) | (1 << CAP_PERFMON)).as_deref(),
            Some("CAP_SYS_ADMIN")
        );
    }
}
