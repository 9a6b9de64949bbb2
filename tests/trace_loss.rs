//! `slim trace` and `slim build` never lose events silently. A burst of opens runs inside
//! the traced container while slim's process is stopped (SIGSTOP), so nothing drains the
//! ring buffer during the burst: whether events are lost depends on the buffer's size
//! alone, never on how fast the machine or the reader is. With the default ring buffer
//! the whole burst is traced; with one forced too small the run fails with exit code 4,
//! the count and a hint, unless `--allow-incomplete` is given (then a build goes on and
//! its report counts the lost events). Black-box: the real binary, kernel and engine.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::process::Command;
use std::time::{Duration, Instant};

use slim_fixtures::{Ended, SlimProcess, image, image_tags, parse_records};

/// Opens in the burst. Each is two records, about 170 bytes with the ring buffer's own
/// headers (a 72-byte entry record with the 15-byte path, a 64-byte exit record), so the
/// whole burst takes about 17 MB: the default 32 MB ring buffer holds it with nobody
/// reading, and a 4 KiB one cannot hold a hundredth of it.
const BURST: usize = 100_000;
const TARGET: &str = "/etc/first-file";

/// The squeezed ring buffer.
const TINY: &str = "4K";

/// The container's own command: it waits on a FIFO, making no system call while it waits,
/// until the test writes a line to it, then exits 0.
const WAIT_FOR_END: &str = "mkfifo /tmp/end && read line < /tmp/end";

/// Runs the burst in the traced container (a `docker exec` session, which the probe
/// traces like the container's own processes) while slim's process is stopped, then lets
/// slim go on and ends the container. Returns how slim ended.
fn burst_while_the_reader_is_stopped(mut slim: SlimProcess) -> Ended {
    let container = slim.name.clone();
    wait_until_waiting(&mut slim, &container);
    slim.signal(libc::SIGSTOP);
    wait_until_stopped(slim.pid());
    let burst = docker_exec(
        &container,
        &["probe-fixture", "burst", &BURST.to_string(), TARGET],
    );
    slim.signal(libc::SIGCONT);
    assert!(
        burst.status.success()
            && String::from_utf8_lossy(&burst.stdout).trim() == BURST.to_string(),
        "the burst failed: {burst:?}"
    );
    // Detached: the writer may be killed with the container it ends before it reports.
    let ended = exec_with(&["-d"], &container, &["sh", "-c", "echo end > /tmp/end"]);
    assert!(ended.status.success(), "ending the container: {ended:?}");
    slim.wait()
}

fn docker_exec(container: &str, args: &[&str]) -> std::process::Output {
    exec_with(&[], container, args)
}

fn exec_with(options: &[&str], container: &str, args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .arg("exec")
        .args(options)
        .arg(container)
        .args(args)
        .output()
        .expect("running docker exec")
}

/// Waits until the container's command sits on its FIFO (the container may take long to
/// start on a loaded machine: the bound only ends a test that has failed anyway).
fn wait_until_waiting(slim: &mut SlimProcess, container: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if docker_exec(container, &["test", "-p", "/tmp/end"])
            .status
            .success()
        {
            return;
        }
        assert!(
            slim.is_running(),
            "slim ended before its container was ready; stderr:\n{}",
            slim.stderr()
        );
        assert!(
            Instant::now() < deadline,
            "the container {container} never got ready; stderr:\n{}",
            slim.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every thread of `pid` is stopped, so none of them can read the ring buffer.
fn wait_until_stopped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tasks: Vec<char> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("slim's task list")
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
            .filter_map(|stat| {
                let (_, after) = stat.rsplit_once(") ")?;
                after.chars().next()
            })
            .collect();
        if !tasks.is_empty() && tasks.iter().all(|s| matches!(s, 'T' | 't')) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "slim ({pid}) did not stop: {tasks:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `slim trace` of the waiting container, its records written to `trace.jsonl` in its
/// output directory.
fn trace(options: &[&str]) -> SlimProcess {
    SlimProcess::trace_with(
        &image("probe"),
        options,
        &["sh", "-c", WAIT_FOR_END],
        "",
        &[],
        |out_dir| {
            vec![
                "--output".to_string(),
                out_dir.join("trace.jsonl").display().to_string(),
            ]
        },
    )
}

/// The burst's opens in the trace slim wrote (the file is removed once read).
fn traced_opens(ended: &Ended) -> usize {
    let path = ended.out_dir.join("trace.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}\nstderr:\n{}", path.display(), ended.stderr));
    let _ = std::fs::remove_file(&path);
    parse_records(&text)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .iter()
        .filter(|r| {
            r.kind == "open" && r.path == TARGET && r.result == "ok" && r.comm == "probe-fixture"
        })
        .count()
}

#[test]
fn root_engine_default_ring_buffer_holds_a_100k_burst_with_the_reader_stopped() {
    let ended = burst_while_the_reader_is_stopped(trace(&[]));
    ended.assert_code(0);
    let opens = traced_opens(&ended);
    assert!(
        opens >= BURST,
        "{opens} of {BURST} opens traced; stderr:\n{}",
        ended.stderr
    );
    assert_eq!(ended.leftovers(), Vec::<String>::new(), "{}", ended.stderr);
    ended.remove_dirs();
}

#[test]
fn root_engine_tiny_ring_buffer_loses_events_and_exits_4() {
    let ended = burst_while_the_reader_is_stopped(trace(&["--ring-buffer", TINY]));
    assert_eq!(
        ended.code,
        Some(4),
        "a {TINY} ring buffer that nobody drains during a {BURST}-open burst must report an \
         incomplete trace; stderr:\n{}",
        ended.stderr
    );
    assert!(
        ended.stderr.to_lowercase().contains("lost"),
        "stderr must say events were lost:\n{}",
        ended.stderr
    );
    assert_eq!(ended.leftovers(), Vec::<String>::new(), "{}", ended.stderr);
    ended.remove_dirs();
}

#[test]
fn root_engine_tiny_ring_buffer_with_allow_incomplete_exits_0() {
    let ended =
        burst_while_the_reader_is_stopped(trace(&["--ring-buffer", TINY, "--allow-incomplete"]));
    ended.assert_code(0);
    let opens = traced_opens(&ended);
    assert!(
        opens < BURST,
        "a {TINY} ring buffer cannot have held all {BURST} opens ({opens} traced)"
    );
    assert_eq!(ended.leftovers(), Vec::<String>::new(), "{}", ended.stderr);
    ended.remove_dirs();
}

/// `slim build` of the probe image whose traced run is the waiting container, with a
/// squeezed ring buffer and its report written to `report.json` in its output directory.
fn build(options: &[&str]) -> SlimProcess {
    let cmd = format!("sh -c '{WAIT_FOR_END}'");
    let mut all = vec!["--cmd", &cmd, "--ring-buffer", TINY];
    all.extend(options);
    SlimProcess::build_with(&image("probe"), &all, "", &[], |_, out_dir| {
        vec![
            "--report".to_string(),
            out_dir.join("report.json").display().to_string(),
        ]
    })
}

#[test]
fn root_engine_build_with_tiny_ring_buffer_exits_4_and_builds_nothing() {
    let slim = build(&[]);
    let tag = slim.tag.clone();
    let ended = burst_while_the_reader_is_stopped(slim);
    assert_eq!(
        ended.code,
        Some(4),
        "a build whose probe lost events must exit 4; stderr:\n{}",
        ended.stderr
    );
    // A report written for the failed build must still match the schema.
    let report = ended.out_dir.join("report.json");
    if report.exists() {
        slim_fixtures::read_valid_report(&report);
        let _ = std::fs::remove_file(&report);
    }
    assert_eq!(ended.leftovers(), Vec::<String>::new(), "{}", ended.stderr);
    let errors: Vec<&str> = ended
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{}", ended.stderr);
    let lost: u64 = errors[0]
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("the error must count the lost events: {}", errors[0]));
    assert!(lost > 0, "{}", errors[0]);
    assert!(errors[0].contains("incomplete"), "{}", errors[0]);
    let hint = ended
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint:\n{}", ended.stderr));
    assert!(
        hint.contains("--ring-buffer") && hint.contains("--allow-incomplete"),
        "{hint}"
    );
    assert!(!image_tags().contains(&tag), "the failed build left {tag}");
    ended.remove_dirs();
}

#[test]
fn root_engine_build_with_allow_incomplete_goes_on_and_reports_the_loss() {
    let slim = build(&["--allow-incomplete", "--no-verify"]);
    let tag = slim.tag.clone();
    let ended = burst_while_the_reader_is_stopped(slim);
    ended.assert_code(0);
    let path = ended.out_dir.join("report.json");
    let report = slim_fixtures::read_valid_report(&path);
    let _ = std::fs::remove_file(&path);
    let lost = report["probes"]["lost_events"].as_u64().unwrap_or(0);
    assert!(
        lost > 0,
        "the report must count the lost events: {}",
        report["probes"]
    );
    assert!(
        ended
            .stderr
            .lines()
            .any(|l| l.contains("events were lost") && l.contains("--allow-incomplete")),
        "slim must warn that the trace is incomplete:\n{}",
        ended.stderr
    );
    assert!(
        image_tags().contains(&tag),
        "the build must have tagged {tag}"
    );
    slim_fixtures::docker_ok(["rmi", tag.as_str()]);
    assert_eq!(ended.leftovers(), Vec::<String>::new(), "{}", ended.stderr);
    ended.remove_dirs();
}
