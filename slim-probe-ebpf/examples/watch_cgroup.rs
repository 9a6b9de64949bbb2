//! Prints the probe's events for one cgroup v2 directory until Ctrl-C: a developer's view of
//! the raw event stream, and at the end the system calls its tasks made.
//!
//! Usage: `watch_cgroup /sys/fs/cgroup/unified/NAME` (the directory must exist; start a
//! container with `--cgroup-parent /NAME` after this prints "attached").

use std::os::unix::fs::MetadataExt;

use slim_probe_ebpf::{DEFAULT_RING_BUFFER_BYTES, Probe, ProbeConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: watch_cgroup CGROUP_DIR")?;
    let cgroup_id = std::fs::metadata(&dir)?.ino();
    let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|root| dir.starts_with(root))
        .ok_or("not under /sys/fs/cgroup")?;
    let cgroup_level = dir[root.len()..]
        .split('/')
        .filter(|c| !c.is_empty())
        .count() as u32;
    let (probe, mut events) = Probe::attach(&ProbeConfig {
        cgroup_id,
        cgroup_level,
        ring_buffer_bytes: DEFAULT_RING_BUFFER_BYTES,
        record_calls: true,
    })?;
    eprintln!("attached: cgroup id {cgroup_id} level {cgroup_level}");
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            r = events.next_batch(&mut batch) => { r?; }
            _ = tokio::signal::ctrl_c() => break,
        }
        for event in batch.drain(..) {
            println!("{event:?}");
        }
    }
    eprintln!("lost: {:?}", probe.lost_events()?);
    let calls = probe.calls()?;
    let names = |set: &std::collections::BTreeSet<u32>| {
        set.iter()
            .map(|nr| slim_probe_ebpf::syscall_name(*nr).map_or(nr.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" ")
    };
    eprintln!("calls of the application: {}", names(&calls.application));
    eprintln!(
        "calls of the runtime under its filter: {}",
        names(&calls.runtime)
    );
    eprintln!("calls of the runtime before: {}", names(&calls.setup));
    eprintln!("refused: {:?}", calls.refused);
    eprintln!("compat: {:?}", calls.compat);
    Ok(())
}
