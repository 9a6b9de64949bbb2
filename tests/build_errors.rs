//! `slim build` on bad input and a hostile environment: each failure is one clear
//! `error:` line with a `hint:`, the documented exit code (2 bad input, 3 environment),
//! and nothing left behind — no container, no `slim-*` cgroup of that run, no work
//! directory in its TMPDIR, no new image tag.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`); the privilege test also needs `setpriv` (util-linux).

use slim_fixtures::{BuildCommand, BuildOutcome, image, image_tags};

/// Runs `command` (which must carry a `--tag`), expects exit `code` with one error line
/// and a hint, and checks that nothing stayed behind, the tag included.
fn expect_failure(command: BuildCommand, source: &str, code: i32) -> BuildOutcome {
    let tag = command
        .chosen_tag()
        .expect("failure tests use their own tag")
        .to_string();
    let default_tag = match source.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => format!("{repo}.slim:{tag}"),
        _ => format!("{source}.slim:latest"),
    };
    let had_default = image_tags().contains(&default_tag);
    let outcome = command.run();
    assert_eq!(
        outcome.code,
        Some(code),
        "`{}` exit code; stderr:\n{}",
        outcome.command,
        outcome.stderr
    );
    outcome.assert_nothing_left();
    let errors = outcome.error_lines();
    assert_eq!(
        errors.len(),
        1,
        "exactly one error line expected:\n{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.lines().any(|l| l.starts_with("hint: ")),
        "no hint:\n{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("panicked"),
        "slim panicked:\n{}",
        outcome.stderr
    );
    let tags = image_tags();
    assert!(!tags.contains(&tag), "a failed build left the tag {tag}");
    assert!(
        had_default || !tags.contains(&default_tag),
        "a failed build left the tag {default_tag}"
    );
    outcome
}

fn error_line(outcome: &BuildOutcome) -> &str {
    outcome.error_lines()[0]
}

#[test]
fn root_engine_missing_image_exits_2_naming_it() {
    let missing = format!("slim-fixture/no-such-image:missing-{}", std::process::id());
    let outcome = expect_failure(
        BuildCommand::new(&missing).unique_tag("errors"),
        &missing,
        2,
    );
    assert!(
        error_line(&outcome).contains(&missing),
        "the error must name the image:\n{}",
        outcome.stderr
    );
}

#[test]
fn root_engine_unreachable_engine_exits_3_naming_the_socket() {
    let source = image("debian");
    let outcome = expect_failure(
        BuildCommand::new(&source)
            .unique_tag("errors")
            .env("DOCKER_HOST", "unix:///nonexistent.sock"),
        &source,
        3,
    );
    assert!(
        error_line(&outcome).contains("/nonexistent.sock"),
        "the error must name the engine address:\n{}",
        outcome.stderr
    );
}

/// A user who is neither root nor in the docker group: the engine's socket refuses the
/// connection. The error says so (permission), not that the engine is down, and says what
/// slim needs. The control runs the same command as root: it reaches the engine.
#[test]
fn root_engine_socket_permission_denied_says_so_and_names_what_slim_needs() {
    use std::os::unix::fs::PermissionsExt;
    let source = "slim-test/never-looked-up:1";
    // A copy anyone may run, wherever the workspace is checked out.
    let dir = std::env::temp_dir().join(format!("slim-test-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the binary's directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .expect("opening the binary's directory to everyone");
    let binary = dir.join("slim");
    std::fs::copy(slim_fixtures::slim_bin(), &binary).expect("copying slim");
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ];
    let outcome = expect_failure(
        BuildCommand::new(source)
            .unique_tag("errors")
            .binary(&binary)
            .wrapped_in(nobody),
        source,
        3,
    );
    let control = BuildCommand::new(source)
        .unique_tag("errors")
        .binary(&binary)
        .run();
    let _ = std::fs::remove_dir_all(&dir);
    let error = error_line(&outcome);
    assert!(
        error.contains("permission denied") && error.contains("/var/run/docker.sock"),
        "the error must say the socket refused slim:\n{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("start the Docker engine"),
        "the engine is running; slim must not suggest starting it:\n{}",
        outcome.stderr
    );
    let hint = outcome
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_default();
    for need in [
        "root",
        "docker group",
        "CAP_BPF",
        "CAP_PERFMON",
        "CAP_SYS_ADMIN",
    ] {
        assert!(hint.contains(need), "the hint must name {need}: {hint}");
    }
    assert_eq!(
        control.code,
        Some(2),
        "as root the same command reaches the engine (image not found):\n{}",
        control.stderr
    );
}

#[test]
fn root_engine_without_capabilities_exits_3_naming_the_missing_ones() {
    let source = image("debian");
    let outcome = expect_failure(
        BuildCommand::new(&source).unique_tag("errors").wrapped_in([
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]),
        &source,
        3,
    );
    for cap in ["CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN"] {
        assert!(
            error_line(&outcome).contains(cap),
            "the error must name {cap}:\n{}",
            outcome.stderr
        );
    }
    assert!(
        !outcome.stderr.contains("started container"),
        "the capability check must come before the container:\n{}",
        outcome.stderr
    );
}

#[test]
fn root_engine_container_exiting_non_zero_exits_2_with_its_last_log_lines() {
    let source = image("debian");
    let outcome = expect_failure(
        BuildCommand::new(&source).unique_tag("errors").option(
            "--cmd",
            r#"["sh", "-c", "echo starting up; echo 'fatal: no config file' >&2; exit 3"]"#,
        ),
        &source,
        2,
    );
    assert!(
        error_line(&outcome).contains("code 3"),
        "the error must give the exit code:\n{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("starting up") && outcome.stderr.contains("fatal: no config file"),
        "the container's last log lines must be shown:\n{}",
        outcome.stderr
    );
}

/// Run options the engine itself refuses (some at create, some only at start) are bad
/// input too: exit 2, naming the option, and the container the engine created is gone.
#[test]
fn root_engine_run_options_the_engine_refuses_exit_2_naming_the_option() {
    let source = image("debian");
    for (option, value) in [
        ("--user", "nosuchuser"),
        ("--network", "nosuchnet"),
        ("--cap-add", "NOT_A_CAP"),
    ] {
        let outcome = expect_failure(
            BuildCommand::new(&source)
                .unique_tag("errors")
                .option(option, value),
            &source,
            2,
        );
        assert!(
            error_line(&outcome).contains(&format!("rejected {option}")),
            "the error must name {option}:\n{}",
            outcome.stderr
        );
    }
}

#[test]
fn root_engine_application_never_ready_exits_2_naming_what_it_listens_on_and_its_last_log_lines() {
    // EXPOSE 8080, but the application listens on its loopback's 8081.
    let source = image("config");
    let outcome = expect_failure(
        BuildCommand::new(&source)
            .unique_tag("errors")
            .option("--entrypoint", "python3")
            .option(
                "--cmd",
                r#"["-c", "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 8081)); s.listen(); print('warming caches', flush=True); time.sleep(300)"]"#,
            )
            .option("--ready-timeout", "10"),
        &source,
        2,
    );
    assert!(
        error_line(&outcome).contains("nothing listened on port 8080")
            && outcome.stderr.contains("it listens on 127.0.0.1:8081"),
        "the error must name the port and what the container listens on instead:\n{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("warming caches"),
        "the container's last log lines must be shown:\n{}",
        outcome.stderr
    );
}

#[test]
fn root_engine_invalid_keep_or_exclude_glob_exits_2_before_any_container() {
    let source = image("debian");
    for option in ["--keep", "--exclude"] {
        for (glob, why) in [("/a/[", "unclosed"), ("relative/*", "absolute")] {
            let outcome = expect_failure(
                BuildCommand::new(&source)
                    .unique_tag("errors")
                    .option(option, glob),
                &source,
                2,
            );
            let line = error_line(&outcome);
            assert!(
                line.contains(option) && line.contains(glob) && line.contains(why),
                "the error must name {option}, the pattern {glob:?} and say what is wrong \
                 ({why}):\n{}",
                outcome.stderr
            );
            assert!(
                !outcome.stderr.contains("started container") && !outcome.stderr.contains(" run "),
                "no container may start for an invalid glob:\n{}",
                outcome.stderr
            );
        }
    }
}

/// Untagged images whose `slim.source.image` label names `source`.
fn untagged_images_of(source: &str) -> Vec<String> {
    let filter = format!("label=slim.source.image={source}");
    let text = slim_fixtures::docker_ok([
        "images",
        "--quiet",
        "--no-trunc",
        "--filter",
        "dangling=true",
        "--filter",
        filter.as_str(),
    ]);
    let mut ids: Vec<String> = text.lines().map(str::to_string).collect();
    ids.sort();
    ids
}

// Regression tests: both arguments were once checked only after the whole traced run and
// rebuild (exit 1), the invalid tag leaving the new image untagged in the engine.

#[test]
fn root_engine_invalid_tag_exits_2_before_any_container() {
    let source = image("merged-usr");
    let tag = "Bad Tag:1";
    let untagged_before = untagged_images_of(&source);
    let outcome = BuildCommand::new(&source).tag(tag).run();
    let left: Vec<String> = untagged_images_of(&source)
        .into_iter()
        .filter(|id| !untagged_before.contains(id))
        .collect();
    for id in &left {
        let _ = slim_fixtures::docker(["rmi", id.as_str()]);
    }
    assert!(
        left.is_empty(),
        "the failed build left an untagged image in the engine: {left:?}"
    );
    assert_eq!(
        outcome.code,
        Some(2),
        "an invalid --tag is bad input; stderr:\n{}",
        outcome.stderr
    );
    outcome.assert_nothing_left();
    assert_eq!(outcome.error_lines().len(), 1, "{}", outcome.stderr);
    assert!(
        error_line(&outcome).contains(tag),
        "the error must name the tag:\n{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("started container"),
        "no container may start for an invalid tag:\n{}",
        outcome.stderr
    );
}

#[test]
fn root_engine_output_that_is_a_directory_exits_2_before_any_container() {
    let source = image("merged-usr");
    let dir = std::env::temp_dir();
    let outcome = expect_failure(
        BuildCommand::new(&source)
            .unique_tag("errors")
            .option("--output", dir.to_str().expect("UTF-8 temp dir")),
        &source,
        2,
    );
    assert!(
        error_line(&outcome).contains(dir.to_str().unwrap_or_default()),
        "the error must name the path:\n{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("started container"),
        "no container may start for an unusable --output:\n{}",
        outcome.stderr
    );
}
