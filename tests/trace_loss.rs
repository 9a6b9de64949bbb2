//! `slim trace` never loses events silently: a burst of 100,000 opens is traced whole
//! with the default ring buffer, and a ring buffer forced too small makes the run fail
//! with exit code 4 unless `--allow-incomplete` is given. Black-box: the real binary, the
//! real kernel and engine.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use slim_fixtures::{TraceCommand, image};

const BURST: usize = 100_000;

fn burst() -> TraceCommand {
    TraceCommand::new(&image("probe")).args([
        "probe-fixture",
        "burst",
        &BURST.to_string(),
        "/etc/first-file",
    ])
}

#[test]
fn root_engine_burst_of_100k_opens_is_traced_with_no_loss() {
    let trace = burst().run();
    trace.assert_success();
    let opens = trace
        .records
        .iter()
        .filter(|r| {
            r.kind == "open"
                && r.path == "/etc/first-file"
                && r.result == "ok"
                && r.comm == "probe-fixture"
        })
        .count();
    assert!(
        opens >= BURST,
        "{opens} of {BURST} opens traced; stderr:\n{}",
        trace.stderr
    );
}

#[test]
fn root_engine_tiny_ring_buffer_loses_events_and_exits_4() {
    let trace = burst().option("--ring-buffer", "4K").run();
    assert_eq!(
        trace.code,
        Some(4),
        "a 4K ring buffer under a 100k burst must report an incomplete trace; stderr:\n{}",
        trace.stderr
    );
    assert!(
        trace.stderr.to_lowercase().contains("lost"),
        "stderr must say events were lost:\n{}",
        trace.stderr
    );
}

#[test]
fn root_engine_tiny_ring_buffer_with_allow_incomplete_exits_0() {
    let trace = burst()
        .option("--ring-buffer", "4K")
        .flag("--allow-incomplete")
        .run();
    trace.assert_success();
}
