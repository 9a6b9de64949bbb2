//! The `slim trace` command line as a user meets it: documented options, exit codes for
//! bad input, `--timeout`, and no container or cgroup left behind when a run fails early.
//! Black-box: the real binary.
//!
//! Tests named `cli_…` need nothing but the binary; `root_engine_…` need root, the Docker
//! engine and a kernel with BTF and bpf_loop.

use std::process::Command;
use std::time::{Duration, Instant};

use slim_fixtures::{TraceCommand, image, slim_bin};

#[test]
fn cli_trace_help_names_every_option() {
    let out = Command::new(slim_bin())
        .args(["trace", "--help"])
        .output()
        .expect("running slim trace --help");
    assert!(out.status.success(), "slim trace --help failed");
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--output",
        "--timeout",
        "--name",
        "-e",
        "--user",
        "--workdir",
        "--entrypoint",
        "--ring-buffer",
        "--allow-incomplete",
    ] {
        assert!(help.contains(option), "help lacks {option}:\n{help}");
    }
}

#[test]
fn cli_ring_buffer_size_that_is_not_a_power_of_two_exits_2() {
    let out = Command::new(slim_bin())
        .args(["trace", "--ring-buffer", "5K", "slim-fixture/any:tag"])
        .output()
        .expect("running slim trace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("error"), "stderr:\n{stderr}");
}

#[test]
fn root_engine_missing_image_exits_2_naming_it_and_leaves_nothing() {
    let missing = format!("slim-fixture/no-such-image:missing-{}", std::process::id());
    // `run` also asserts that no labelled container or slim-* cgroup stayed behind.
    let trace = TraceCommand::new(&missing).args(["true"]).run();
    assert_eq!(trace.code, Some(2), "stderr:\n{}", trace.stderr);
    assert!(
        trace.stderr.contains("error:") && trace.stderr.contains(&missing),
        "the error must name the image:\n{}",
        trace.stderr
    );
    assert!(trace.records.is_empty(), "records for a missing image");
}

#[test]
fn root_engine_timeout_ends_a_long_run() {
    // The image and the binary first: building either is no part of the run's time.
    let command = TraceCommand::new(&image("probe"))
        .option("--timeout", "2")
        .args(["probe-fixture", "sleep", "300"])
        .limit(Duration::from_secs(240));
    slim_fixtures::slim_bin();
    let started = Instant::now();
    let trace = command.run();
    trace.assert_success();
    // Far below the 300 s the command would sleep, and far above what a slow machine
    // needs to start and stop a container: only a run the timeout did not end fails.
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "--timeout 2 took {:?}",
        started.elapsed()
    );
    trace.expect("exec of probe-fixture", |r| {
        r.kind == "exec" && r.path == "/usr/local/bin/probe-fixture"
    });
}
