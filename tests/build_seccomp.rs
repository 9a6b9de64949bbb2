//! `slim build --seccomp FILE` on Debian's nginx serving a small static site: the profile
//! made from the traced calls lets the slim image pass verification (which runs it under
//! the profile) and allows fewer than half of the architecture's system calls, in the file
//! and in the report. Control: with a call nginx needs to serve files (`sendfile`) taken
//! out of the profile (the debug build's `SLIM_TEST_HOOK=seccomp-drop:sendfile`), the
//! engine refuses it, verification fails with exit 6 naming the probes that differ and
//! the refused call, and the profile is not written. Redis, which starts threads, passes
//! too: `clone3` is answered ENOSYS as the engine's default profile answered it (control:
//! answered EPERM, redis cannot start its threads and exits). A path the profile cannot be written
//! to fails before any container starts, leaving nothing.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`). Runs the debug build of slim (the test hook exists only there).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{BuildCommand, BuildOutcome, TestContainer, docker, docker_ok, image, untimed};
use slim_test_kit::ScratchDir;

const STARTUP: Duration = Duration::from_secs(30);

/// The names the profile's rule with `action` lists.
fn rule_names(profile: &Value, action: &str) -> Vec<String> {
    profile["syscalls"]
        .as_array()
        .expect("syscalls is a list")
        .iter()
        .filter(|r| r["action"] == action)
        .flat_map(|r| r["names"].as_array().expect("names is a list"))
        .map(|n| n.as_str().expect("a name is a string").to_string())
        .collect()
}

fn read_profile(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading the profile {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the profile is not JSON ({e}):\n{text}"))
}

/// Removes the tag a failed build left (tagged, labelled slim.verified=false).
fn remove_tag(outcome: &BuildOutcome) {
    if let Some(tag) = &outcome.tag {
        let _ = docker(["rmi", tag.as_str()]);
    }
}

#[test]
fn root_engine_nginx_passes_verification_under_its_profile_which_allows_under_half_the_calls() {
    let dir = ScratchDir::new("seccomp-nginx");
    let path = dir.join("nginx.seccomp.json");
    let outcome = BuildCommand::new(&image("nginx"))
        .unique_tag("seccomp")
        .option("--seccomp", path.to_str().expect("UTF-8 path"))
        .run();
    let slim = outcome.image();
    let report = outcome.report.as_ref().expect("the build writes a report");
    assert_eq!(
        report["verification"]["status"], "verified",
        "verification under the profile:\n{}",
        outcome.stderr
    );

    let profile = read_profile(&path);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(profile["defaultErrnoRet"], 1, "refused calls answer EPERM");
    assert_eq!(
        profile["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64"])
    );
    let allowed = rule_names(&profile, "SCMP_ACT_ALLOW");
    let mut sorted = allowed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(allowed, sorted, "the allowed names are sorted and unique");
    let allowed: BTreeSet<String> = allowed.into_iter().collect();
    for needed in ["accept4", "epoll_wait", "openat", "sendfile", "execve"] {
        assert!(
            allowed.contains(needed),
            "nginx needs {needed}: {allowed:?}"
        );
    }
    // The runtime's set-up before its filter, and what nothing here does, stay refused.
    for refused in [
        "mount",
        "pivot_root",
        "ptrace",
        "bpf",
        "kexec_load",
        "init_module",
    ] {
        assert!(!allowed.contains(refused), "{refused} must not be allowed");
    }

    let seccomp = &report["seccomp"];
    assert_eq!(seccomp["written"], true, "{seccomp:#}");
    assert_eq!(seccomp["architecture"], "SCMP_ARCH_X86_64");
    let total = seccomp["total"].as_u64().expect("seccomp.total");
    let count = seccomp["allowed"].as_u64().expect("seccomp.allowed");
    assert!(total > 300, "x86_64 has over 300 system calls, not {total}");
    assert_eq!(
        count as usize,
        allowed.len(),
        "the report counts the file's calls"
    );
    assert!(
        count * 2 < total,
        "a static-site nginx should need fewer than half of the {total} calls, not {count}"
    );
    eprintln!("nginx: the profile allows {count} of {total} system calls");
    let line = format!(
        "seccomp profile {}: allows {count} of {total}",
        path.display()
    );
    assert!(
        outcome.messages().iter().any(|m| m.contains(&line)),
        "the summary must say `{line}`:\n{}",
        outcome.stderr
    );

    // The file works with the engine's own client too: the slim image serves under it.
    let option = format!("seccomp={}", path.display());
    let ours = TestContainer::start(&slim.tag, &["--security-opt", &option], &[]);
    let got = ours.get(80, "/", STARTUP);
    assert_eq!(
        got.status,
        200,
        "GET / under the profile; logs:\n{}",
        ours.logs()
    );
}

#[test]
fn root_engine_redis_threads_start_under_its_profile_with_clone3_answered_enosys() {
    // Redis starts threads: glibc tries clone3 first, and falls back to clone only when
    // it answers ENOSYS, as the engine's default profile makes it. EPERM would stop them.
    let dir = ScratchDir::new("seccomp-redis");
    let path = dir.join("redis.seccomp.json");
    let outcome = BuildCommand::new(&image("redis"))
        .unique_tag("seccomp-redis")
        .option("--seccomp", path.to_str().expect("UTF-8 path"))
        .run();
    let slim = outcome.image();
    let profile = read_profile(&path);
    let enosys: Vec<&Value> = profile["syscalls"]
        .as_array()
        .expect("syscalls is a list")
        .iter()
        .filter(|r| r["action"] == "SCMP_ACT_ERRNO")
        .collect();
    assert_eq!(
        enosys,
        [&serde_json::json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})],
        "{profile:#}"
    );
    assert!(rule_names(&profile, "SCMP_ACT_ALLOW").contains(&"clone".to_string()));
    let report = outcome.report.as_ref().expect("the build writes a report");
    assert_eq!(report["verification"]["status"], "verified");
    assert_eq!(
        report["seccomp"]["errno_rules"][0]["names"],
        serde_json::json!(["clone3"])
    );

    // Control: the same profile with clone3 left to the default answer (EPERM).
    let mut eperm = profile.clone();
    eperm["syscalls"]
        .as_array_mut()
        .expect("syscalls is a list")
        .retain(|r| r["action"] == "SCMP_ACT_ALLOW");
    let eperm_path = dir.write("eperm.seccomp.json", eperm.to_string());
    let option = format!("seccomp={}", eperm_path.display());
    let id = docker_ok(["run", "-d", "--security-opt", &option, &slim.tag])
        .trim()
        .to_string();
    let deadline = std::time::Instant::now() + STARTUP;
    let state = loop {
        let state = docker_ok([
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &id,
        ]);
        if state.starts_with("exited") || std::time::Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let logs = docker(["logs", &id]);
    let logs =
        String::from_utf8_lossy(&logs.stderr).into_owned() + &String::from_utf8_lossy(&logs.stdout);
    let _ = docker(["rm", "-f", &id]);
    assert_eq!(
        state.trim(),
        "exited 1",
        "redis must fail to start its threads when clone3 answers EPERM; logs:\n{logs}"
    );
    assert!(logs.contains("Can't initialize Background Jobs"), "{logs}");
}

#[test]
fn root_engine_a_needed_call_out_of_the_profile_fails_verification_naming_the_probe_and_the_call() {
    let dir = ScratchDir::new("seccomp-control");
    let path = dir.join("broken.seccomp.json");
    let outcome = BuildCommand::new(&image("nginx"))
        .unique_tag("seccomp-control")
        .option("--seccomp", path.to_str().expect("UTF-8 path"))
        .env("SLIM_TEST_HOOK", "seccomp-drop:sendfile")
        .run();
    remove_tag(&outcome);
    outcome.assert_nothing_left();
    assert_eq!(
        outcome.code,
        Some(6),
        "`{}` must fail verification; stderr:\n{}",
        outcome.command,
        outcome.stderr
    );
    // The engine enforced the profile: nginx could not send the files, and the probes
    // that fetch them are named.
    let differences: Vec<&str> = outcome
        .messages()
        .into_iter()
        .filter(|m| m.starts_with("warning: difference: GET :80/"))
        .collect();
    assert!(
        !differences.is_empty(),
        "the failed probes must be named:\n{}",
        outcome.stderr
    );
    let error = outcome.error_lines().join("\n");
    assert!(
        error.contains("the profile refused sendfile") && error.contains(path.to_str().unwrap()),
        "the error must name the refused call and the profile:\n{}",
        outcome.stderr
    );
    assert!(
        !path.exists(),
        "a profile that fails verification must not be written"
    );
    let report = outcome.report.as_ref().expect("the build writes a report");
    assert_eq!(report["verification"]["status"], "failed");
    assert_eq!(
        report["verification"]["refused_calls"],
        serde_json::json!(["sendfile"])
    );
    assert!(
        !report["verification"]["differences"]
            .as_array()
            .expect("differences")
            .is_empty()
    );
    assert_eq!(report["seccomp"]["written"], false);
    assert!(
        !report["seccomp"]["calls"]
            .as_array()
            .expect("seccomp.calls")
            .iter()
            .any(|c| c == "sendfile")
    );
}

#[test]
fn root_engine_a_seccomp_path_that_cannot_be_written_exits_2_before_any_container() {
    let source = image("nginx");
    let dir = ScratchDir::new("seccomp-bad-path");
    let missing = dir.join("no-such-dir/profile.json");
    for (path, why) in [
        (missing.to_str().unwrap(), "is not a directory"),
        (dir.path().to_str().unwrap(), "it is a directory"),
    ] {
        let outcome = BuildCommand::new(&source)
            .unique_tag("seccomp-errors")
            .option("--seccomp", path)
            .run();
        remove_tag(&outcome);
        outcome.assert_nothing_left();
        assert_eq!(outcome.code, Some(2), "{path}: stderr:\n{}", outcome.stderr);
        let error = outcome.error_lines().join("\n");
        assert!(
            error.contains(path) && error.contains(why),
            "the error must name {path} and why:\n{}",
            outcome.stderr
        );
        assert!(
            !outcome
                .messages()
                .iter()
                .any(|m| untimed(m).contains("started container")),
            "no container may start for an unusable --seccomp:\n{}",
            outcome.stderr
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("reading the scratch directory")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert!(left.is_empty(), "nothing may be left: {left:?}");

    // The profile is only trusted once verified: --no-verify is refused with it.
    let outcome = BuildCommand::new(&source)
        .unique_tag("seccomp-errors")
        .option("--seccomp", dir.join("p.json").to_str().unwrap())
        .flag("--no-verify")
        .run();
    assert_eq!(outcome.code, Some(2), "stderr:\n{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("--seccomp") && outcome.stderr.contains("--no-verify"),
        "{}",
        outcome.stderr
    );
}
