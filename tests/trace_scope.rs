//! `slim trace` sees exactly the traced container: processes that join it later through
//! `docker exec` are in the trace, and a busy host process running at the same time is
//! not. Black-box: the real binary, the real kernel and engine.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::process::Command;
use std::time::{Duration, Instant};

use slim_fixtures::{TraceCommand, image, probe_fixture_host_binary};

fn container_is_running(name: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "--format", "{{.State.Running}}", name])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
}

#[test]
fn root_engine_docker_exec_into_the_traced_container_is_traced() {
    let name = format!("slim-test-exec-{}", std::process::id());
    let mut running = TraceCommand::new(&image("probe"))
        .name(&name)
        .option("--timeout", "300")
        .args(["probe-fixture", "sleep", "600"])
        .limit(Duration::from_secs(360))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !container_is_running(&name) {
        if !running.is_running() {
            let trace = running.wait();
            panic!("slim ended before {name} ran:\n{}", trace.summary());
        }
        assert!(Instant::now() < deadline, "{name} not running after 180 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let exec = Command::new("docker")
        .args(["exec", &name, "cat", "/etc/exec-marker"])
        .output()
        .expect("running docker exec");
    running.interrupt();
    let trace = running.wait();
    assert!(
        exec.status.success(),
        "docker exec failed: {}",
        String::from_utf8_lossy(&exec.stderr)
    );
    trace.assert_success();
    trace.expect("open /etc/exec-marker ok by cat (docker exec)", |r| {
        r.kind == "open" && r.path == "/etc/exec-marker" && r.result == "ok" && r.comm == "cat"
    });
}

#[test]
fn root_engine_busy_host_process_is_never_traced() {
    let marker = std::env::temp_dir().join(format!("slim-host-marker-{}", std::process::id()));
    std::fs::write(&marker, "host only\n").expect("writing the host marker");
    // One host process opening one path as fast as it can for the whole traced run.
    let mut host = Command::new(probe_fixture_host_binary())
        .arg("burst")
        .arg("1000000000")
        .arg(&marker)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting the host loop");
    let host_pid = host.id();
    let trace = TraceCommand::new(&image("probe"))
        .args(["probe-fixture", "burst", "2000", "/etc/first-file"])
        .run();
    let host_was_busy = matches!(host.try_wait(), Ok(None));
    let _ = host.kill();
    let _ = host.wait();
    let _ = std::fs::remove_file(&marker);

    trace.assert_success();
    assert!(
        host_was_busy,
        "the host loop ended before the traced run did"
    );
    let inside = trace
        .matching("open", "/etc/first-file")
        .into_iter()
        .filter(|r| r.comm == "probe-fixture")
        .count();
    assert!(
        inside >= 2000,
        "the container's own opens are missing ({inside} of 2000):\n{}",
        trace.summary()
    );
    let marker_name = marker.file_name().and_then(|n| n.to_str()).expect("UTF-8");
    let leaked: Vec<_> = trace
        .records
        .iter()
        .filter(|r| r.path.contains(marker_name) || r.pid == host_pid || r.tid == host_pid)
        .take(5)
        .collect();
    assert!(
        leaked.is_empty(),
        "host process {host_pid} leaked into the trace: {leaked:?}"
    );
}
