//! Interrupted, killed and abandoned runs leave nothing behind.
//!
//! Each test catches `slim build` (or `slim trace`) at one phase with slim's test-only hook
//! `SLIM_TEST_HOOK=pause:PHASE` (slim says `paused at PHASE` and waits there), interrupts it
//! as a user would, and then lists what is left through the interfaces that own it: the
//! engine's API (containers labelled `slim.run` or named after the run), the cgroup
//! filesystems (`slim-<run id>` in every hierarchy), the kernel's `bpf()` syscall (the
//! programs and links slim held while paused must be gone) and the file system (slim's
//! private TMPDIR and the `--output` directory), plus the tag the build was to write.
//! A run killed with SIGKILL, one forced out by a second Ctrl-C and one whose engine went
//! away leave things behind; the next slim run removes them, and says so.
//!
//! Needs root, the Docker engine and a kernel with BTF (every test is `root_engine_…`). The
//! builds use the small `probe` fixture, running `probe-fixture sleep 600` (which ends at once
//! on SIGTERM) with one `--exec` probe so the run ends as soon as probing is done.

use slim_fixtures::{Ended, EngineProxy, SlimProcess, docker, docker_ok, image};

const BUILD: &[&str] = &["--cmd", "probe-fixture sleep 600", "--exec", "true"];

/// Starts a build paused at `phase` (with `extra` options and environment), waits for it to
/// get there, checks it holds the probe when a traced run is on, and returns it with what
/// it holds in the kernel.
fn paused_build(
    phase: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (SlimProcess, slim_fixtures::BpfObjects) {
    let options: Vec<&str> = BUILD.iter().chain(extra).copied().collect();
    let hook = if phase == "cleanup" {
        "pause:probing,pause:cleanup".to_string()
    } else {
        format!("pause:{phase}")
    };
    let mut slim = SlimProcess::build(&image("probe"), &options, &hook, env);
    let at = if phase == "cleanup" { "probing" } else { phase };
    slim.wait_for_line(&format!("paused at {at}"));
    let held = slim.bpf_objects();
    if matches!(at, "start" | "probing" | "verify") {
        assert!(
            !held.programs.is_empty(),
            "slim holds no BPF program while a traced run is on; stderr:\n{}",
            slim.stderr()
        );
    }
    (slim, held)
}

/// Interrupts a paused build with `signal` and checks it exits 130 leaving nothing.
fn interrupt_and_check(slim: SlimProcess, held: &slim_fixtures::BpfObjects, signal: i32) -> Ended {
    slim.signal(signal);
    let ended = slim.wait();
    ended.assert_code(130);
    assert!(
        ended.stderr.contains("error: interrupted"),
        "no `error: interrupted` line:\n{}",
        ended.stderr
    );
    assert!(
        !ended.stderr.contains("panicked"),
        "slim panicked:\n{}",
        ended.stderr
    );
    ended.assert_nothing_left(held);
    ended.remove_dirs();
    ended
}

#[test]
fn root_engine_build_sigint_before_the_container_starts_removes_cgroup_and_probe() {
    let (slim, held) = paused_build("start", &[], &[]);
    let ended = interrupt_and_check(slim, &held, libc::SIGINT);
    assert!(
        !ended.run_ids.is_empty(),
        "no run announced:\n{}",
        ended.stderr
    );
}

#[test]
fn root_engine_build_sigint_while_probing_removes_container_cgroup_and_probe() {
    let (slim, held) = paused_build("probing", &[], &[]);
    let ended = interrupt_and_check(slim, &held, libc::SIGINT);
    assert!(
        ended.stderr.contains("interrupt again to exit at once"),
        "{}",
        ended.stderr
    );
}

#[test]
fn root_engine_build_sigterm_while_probing_cleans_up_like_sigint() {
    let (slim, held) = paused_build("probing", &[], &[]);
    interrupt_and_check(slim, &held, libc::SIGTERM);
}

#[test]
fn root_engine_build_sigint_while_rebuilding_removes_the_work_directory() {
    let (slim, held) = paused_build("rebuild", &[], &[]);
    let work: Vec<_> = std::fs::read_dir(&slim.tmpdir)
        .expect("slim's TMPDIR")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        !work.is_empty(),
        "no work directory while rebuilding; stderr:\n{}",
        slim.stderr()
    );
    interrupt_and_check(slim, &held, libc::SIGINT);
}

#[test]
fn root_engine_build_sigint_after_loading_gives_the_tag_back_and_drops_the_partial_archive() {
    let source = image("probe");
    let id_of = |reference: &str| {
        docker_ok(["image", "inspect", "--format", "{{.Id}}", reference])
            .trim()
            .to_string()
    };
    let source_id = id_of(&source);
    // The tag first names the source image, as an earlier build might have left it.
    let mut slim = SlimProcess::build_with(&source, BUILD, "pause:load", &[], |tag, out| {
        docker_ok(["tag", source.as_str(), tag]);
        vec![
            "--output".into(),
            out.join("slim.tar").display().to_string(),
        ]
    });
    slim.wait_for_line("paused at load");
    // The new image is loaded under the tag; the archive is written next to --output
    // under a temporary name.
    let loaded = id_of(&slim.tag);
    assert_ne!(loaded, source_id, "the tag does not name the new image");
    let names: Vec<_> = std::fs::read_dir(&slim.out_dir)
        .expect("the output directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("slim.tar.")) && !names.iter().any(|n| n == "slim.tar"),
        "expected only a partial archive next to --output: {names:?}"
    );
    let held = slim.bpf_objects();
    slim.signal(libc::SIGINT);
    let ended = slim.wait();
    ended.assert_code(130);
    assert_eq!(
        id_of(&ended.tag),
        source_id,
        "the tag was not given back:\n{}",
        ended.stderr
    );
    assert!(
        !docker(["image", "inspect", &loaded]).status.success(),
        "the half-done image {loaded} is still in the engine"
    );
    docker_ok(["rmi", &ended.tag]);
    ended.assert_nothing_left(&held);
    ended.remove_dirs();
}

#[test]
fn root_engine_build_sigint_while_verifying_removes_the_unverified_tag() {
    let (slim, held) = paused_build("verify", &[], &[]);
    assert!(
        docker(["image", "inspect", &slim.tag]).status.success(),
        "the image is not tagged before verification"
    );
    interrupt_and_check(slim, &held, libc::SIGINT);
}

#[test]
fn root_engine_build_panic_while_probing_cleans_up_and_says_so() {
    let mut slim = SlimProcess::build(&image("probe"), BUILD, "panic:probing", &[]);
    slim.wait_for_line("started container");
    let ended = slim.wait();
    ended.assert_code(1);
    assert!(
        ended
            .stderr
            .contains("error: internal error: the traced run panicked"),
        "{}",
        ended.stderr
    );
    ended.assert_nothing_left(&slim_fixtures::BpfObjects::default());
    ended.remove_dirs();
}

/// Runs a slim command that only recovers (its image does not exist) and returns its
/// stderr; it must name the dead process `pid`.
fn recover_after(pid: u32) -> String {
    let ended = SlimProcess::command(&["trace", "slim-test/no-such-image:1"], &[]).wait();
    ended.assert_code(2);
    let line = ended
        .stderr
        .lines()
        .find(|l| l.contains("left behind"))
        .unwrap_or_else(|| panic!("the next run did not clean up:\n{}", ended.stderr))
        .to_string();
    assert!(line.contains(&format!("{pid}")), "{line}");
    println!("the next run's stderr:\n{}", ended.stderr);
    ended.remove_dirs();
    line
}

#[test]
fn root_engine_build_second_ctrl_c_exits_at_once_and_the_next_run_cleans_up() {
    let (mut slim, held) = paused_build("cleanup", &[], &[]);
    let pid = slim.pid();
    slim.signal(libc::SIGINT);
    slim.wait_for_line("paused at cleanup");
    slim.signal(libc::SIGINT);
    let ended = slim.wait();
    println!("slim's stderr:\n{}", ended.stderr);
    ended.assert_code(130);
    assert!(
        ended.stderr.contains("exiting without cleaning up")
            && ended
                .stderr
                .contains(&format!("docker rm -f -v {}", ended.name)),
        "no forced exit with a clean-up hint:\n{}",
        ended.stderr
    );
    let left = ended.leftovers();
    assert!(
        left.iter().any(|l| l.starts_with("container"))
            && left.iter().any(|l| l.starts_with("cgroup")),
        "a forced exit should leave the container and cgroup: {left:?}"
    );
    let line = recover_after(pid);
    assert!(line.contains(&ended.name), "{line}");
    ended.assert_nothing_left(&held);
    ended.remove_dirs();
}

#[test]
fn root_engine_build_killed_with_sigkill_is_cleaned_up_by_the_next_run() {
    let (slim, held) = paused_build("probing", &[], &[]);
    let pid = slim.pid();
    slim.signal(libc::SIGKILL);
    let ended = slim.wait();
    assert_eq!(ended.code, None, "SIGKILL ends slim");
    let left = ended.leftovers();
    assert!(
        left.iter().any(|l| l.starts_with("container"))
            && left.iter().any(|l| l.starts_with("cgroup")),
        "a killed run should leave its container and cgroup: {left:?}"
    );
    // The kernel unloads the probe with its process.
    held.assert_gone();
    let line = recover_after(pid);
    assert!(line.contains(&ended.name), "{line}");
    ended.assert_nothing_left(&held);
    ended.remove_dirs();
}

#[test]
fn root_engine_build_engine_going_away_is_a_clear_error_and_the_next_run_cleans_up() {
    let proxy = EngineProxy::start();
    let host = proxy.docker_host();
    let (slim, held) = paused_build("probing", &[], &[("DOCKER_HOST", &host)]);
    let pid = slim.pid();
    proxy.kill();
    let ended = slim.wait();
    println!("slim's stderr:\n{}", ended.stderr);
    ended.assert_code(3);
    let error = ended
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        error.starts_with("error: the Docker engine went away while"),
        "{}",
        ended.stderr
    );
    assert!(ended.stderr.contains("hint: "), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("the next slim run removes it"),
        "the container left behind is not explained:\n{}",
        ended.stderr
    );
    // Only the container is left (the engine was gone): no cgroup, probe or file.
    let left = ended.leftovers();
    assert!(
        left.iter().all(|l| l.starts_with("container")),
        "more than the container was left: {left:?}\n{}",
        ended.stderr
    );
    held.assert_gone();
    if !left.is_empty() {
        let line = recover_after(pid);
        assert!(line.contains(&ended.name), "{line}");
    }
    ended.assert_nothing_left(&held);
    ended.remove_dirs();
}

#[test]
fn root_engine_trace_sigint_before_the_container_starts_exits_130_and_cleans_up() {
    let mut slim = SlimProcess::trace(
        &image("probe"),
        &[],
        &["probe-fixture", "sleep", "600"],
        "pause:start",
        &[],
    );
    slim.wait_for_line("paused at start");
    let held = slim.bpf_objects();
    assert!(!held.programs.is_empty(), "the probe is not attached");
    slim.signal(libc::SIGINT);
    let ended = slim.wait();
    ended.assert_code(130);
    ended.assert_nothing_left(&held);
    ended.remove_dirs();
}
