//! `slim build` on a JSON API that only its OpenAPI document describes (a Python
//! standard-library server; every endpoint reads its own data file under /srv/api-data
//! when called, so the slim image answers an endpoint only if a probe called it):
//!
//! - by default, slim finds the document at /openapi.json and calls every GET operation
//!   with the document's example or default values; each works on the slim image;
//! - `--host-exec` runs a script on the host that finds the container through SLIM_TARGET
//!   and calls an endpoint the document does not name; `--run` starts one more container
//!   with other arguments; what both touched is kept, and `--no-crawl` keeps the
//!   document's endpoints out (the control);
//! - `--strict` fails the build with exit code 5 when a probe gets a 5xx.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`). Containers are reached by their bridge address.

use std::time::Duration;

use slim_fixtures::{API_PORT, BuildCommand, TestContainer, image, image_tags, run_to_end};

const STARTUP: Duration = Duration::from_secs(30);

/// Each GET operation of the fixture's openapi.json, as slim should call it.
const OPERATIONS: &[&str] = &[
    "/api/items",
    "/api/items/2",
    "/api/search?q=teapot",
    "/api/stats?period=day",
    "/api/version",
];

/// A directory for the host script's files, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(label: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("slim-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn root_engine_api_every_openapi_get_operation_works_on_the_slim_image() {
    let original = image("python-api");
    let build = BuildCommand::new(&original).unique_tag("python-api").run();
    let slim = build.image();
    assert!(
        build.stderr.contains("5 OpenAPI operation(s)"),
        "slim should have found the 5 GET operations of /openapi.json:\n{}",
        build.stderr
    );
    let theirs = TestContainer::start(&original, &[], &[]);
    let ours = TestContainer::start(&slim.tag, &[], &[]);
    for path in OPERATIONS {
        let expected = theirs.get(API_PORT, path, STARTUP);
        assert_eq!(
            expected.status,
            200,
            "the original on {path}: {}",
            expected.text()
        );
        let got = ours.get(API_PORT, path, STARTUP);
        assert_eq!(
            (got.status, got.text()),
            (expected.status, expected.text()),
            "GET {path} on the slim image; build stderr:\n{}\nlogs:\n{}",
            build.stderr,
            ours.logs()
        );
    }
}

#[test]
fn root_engine_api_host_scripts_and_run_containers_are_probes() {
    let original = image("python-api");
    let scratch = ScratchDir::new("host-exec");
    let out = scratch.0.display().to_string();
    // bash's /dev/tcp, so the host needs nothing but bash.
    let script = format!(
        r#"#!/bin/bash
set -eu
printf '%s|%s|%s|%s\n' "$SLIM_TARGET" "$SLIM_URLS" "$SLIM_CONTAINER" "$SLIM_IMAGE" >> {out}/env.txt
exec 3<>"/dev/tcp/${{SLIM_TARGET%:*}}/${{SLIM_TARGET##*:}}"
printf 'GET /api/host-only HTTP/1.0\r\n\r\n' >&3
cat <&3 > {out}/answer.txt
grep -q ' 200 ' {out}/answer.txt
"#
    );
    let script_path = scratch.0.join("drive.sh");
    std::fs::write(&script_path, script).expect("writing the host script");
    let build = BuildCommand::new(&original)
        .flag("--no-crawl")
        .option("--host-exec", &format!("bash {}", script_path.display()))
        .option("--run", "python3 /app/api.py --check")
        .option("--probe", "GET /boom")
        .unique_tag("python-api-host")
        .run();
    let slim = build.image();

    // One line per run of the script: the traced run first, then any replay of the plan
    // on the new image (verification).
    let env = std::fs::read_to_string(scratch.0.join("env.txt")).expect("the script ran");
    for (i, line) in env.lines().enumerate() {
        let fields: Vec<&str> = line.split('|').collect();
        let target = fields[0];
        assert!(
            target.ends_with(&format!(":{API_PORT}")) && !target.contains(' '),
            "SLIM_TARGET is host:port of the one exposed port: {env}"
        );
        assert_eq!(fields[1], format!("http://{target}"), "SLIM_URLS: {env}");
        if i == 0 {
            assert_eq!(fields[2], build.container_name, "SLIM_CONTAINER: {env}");
            assert_eq!(fields[3], original, "SLIM_IMAGE of the traced run: {env}");
        } else {
            assert_eq!(fields[3], slim.tag, "SLIM_IMAGE of a replay: {env}");
        }
    }
    for line in [
        "host-exec bash",
        "exit 0",
        "run python3 /app/api.py --check → exit 0",
        "failed: GET :8080/boom → 500",
    ] {
        assert!(
            build.stderr.contains(line),
            "{line:?} missing from:\n{}",
            build.stderr
        );
    }

    // The host script's request was traced: its endpoint works on the slim image.
    let ours = TestContainer::start(&slim.tag, &[], &[]);
    let answer = ours.get(API_PORT, "/api/host-only", STARTUP);
    assert_eq!(
        (answer.status, answer.text().trim()),
        (200, r#"{"note": "fetched only by the host script"}"#),
        "logs:\n{}",
        ours.logs()
    );
    // The control: with --no-crawl the OpenAPI operations were not called.
    let skipped = ours.get(API_PORT, "/api/version", STARTUP);
    assert_eq!(
        skipped.status,
        500,
        "without the crawl /api/version's data file should be gone: {}",
        skipped.text()
    );
    // The --run container's file is in the slim image.
    let (code, stdout, stderr) = run_to_end(
        &slim.tag,
        &[],
        &["python3", "/app/api.py", "--check"],
        Duration::from_secs(60),
    );
    assert_eq!(
        (code, stdout.trim()),
        (Some(0), "read only by the --run container"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn root_engine_api_strict_fails_on_a_server_error_before_building() {
    let original = image("python-api");
    let build = BuildCommand::new(&original)
        .flag("--no-crawl")
        .flag("--strict")
        .option("--probe", "GET /boom")
        .unique_tag("python-api-strict");
    let tag = build.chosen_tag().expect("a unique tag").to_string();
    let outcome = build.run();
    assert_eq!(
        outcome.code,
        Some(5),
        "--strict with a 5xx should exit 5:\n{}",
        outcome.stderr
    );
    outcome.assert_nothing_left();
    let errors = outcome.error_lines();
    assert!(
        errors
            .iter()
            .any(|l| l.contains("1 of 2 probes failed (--strict)")),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("GET :8080/boom → 500") && outcome.stderr.contains("hint:"),
        "{}",
        outcome.stderr
    );
    assert!(
        !image_tags().contains(&tag),
        "--strict failed, yet {tag} was built"
    );
}
