use super::*;
use crate::drive::CrawlLimits;
use crate::output::OutputTarget;

fn parse(args: &[&str]) -> Result<TraceArgs, clap::Error> {
    let cli = Cli::try_parse_from(["slim", "trace"].iter().chain(args))?;
    match cli.command {
        Command::Trace(args) => Ok(*args),
        _ => unreachable!("parsed as trace"),
    }
}

#[test]
fn args_after_the_image_replace_cmd_with_or_without_dashes() {
    let a = parse(&["img:1", "--", "/bin/sh", "-c", "cd /etc && cat passwd"]).unwrap();
    assert_eq!(a.image, "img:1");
    assert_eq!(a.args, ["/bin/sh", "-c", "cd /etc && cat passwd"]);
    let b = parse(&["img:1", "/bin/ls", "-l"]).unwrap();
    assert_eq!(b.args, ["/bin/ls", "-l"]);
}

#[test]
fn options_are_slims_until_args_start_or_a_double_dash() {
    let a = parse(&["img", "--timeout", "5", "--", "--timeout", "9"]).unwrap();
    assert_eq!(a.run.timeout, Some(Duration::from_secs(5)));
    assert_eq!(a.args, ["--timeout", "9"]);
    let b = parse(&["img", "/bin/app", "--timeout", "9"]).unwrap();
    assert_eq!(b.run.timeout, None);
    assert_eq!(b.args, ["/bin/app", "--timeout", "9"]);
}

#[test]
fn defaults_are_stdout_the_default_ring_buffer_and_no_timeout() {
    let s = parse(&["img"]).unwrap().resolve().unwrap();
    assert_eq!(s.output, OutputTarget::Stdout);
    assert_eq!(
        s.run.ring_buffer_bytes,
        slim_probe_ebpf::DEFAULT_RING_BUFFER_BYTES
    );
    assert_eq!(s.run.timeout, None);
    assert_eq!(s.run.name, None);
    assert!(!s.run.allow_incomplete);
}

#[test]
fn ring_buffer_sizes_take_suffixes_and_must_be_powers_of_two() {
    assert_eq!(parse_ring_buffer_size("64M"), Ok(64 << 20));
    assert_eq!(parse_ring_buffer_size("512k"), Ok(512 << 10));
    assert_eq!(parse_ring_buffer_size("1G"), Ok(1 << 30));
    assert_eq!(parse_ring_buffer_size("2GiB"), Ok(2 << 30));
    assert_eq!(parse_ring_buffer_size("4096"), Ok(4096));
    assert!(parse_ring_buffer_size("3M").is_err());
    assert!(parse_ring_buffer_size("1K").is_err());
    assert!(parse_ring_buffer_size("4G").is_err());
    assert!(parse_ring_buffer_size("lots").is_err());
    assert!(parse_ring_buffer_size("").is_err());
    assert!(parse(&["--ring-buffer", "100M", "img"]).is_err());
}

#[test]
fn env_takes_key_val_or_a_key_from_slims_environment() {
    let s = parse(&[
        "-e",
        "A=1",
        "--env",
        "B=x=y",
        "-e",
        "PATH",
        "-e",
        "SLIM_UNSET_VAR_X",
        "img",
    ])
    .unwrap()
    .resolve()
    .unwrap();
    assert_eq!(s.run.env.len(), 3);
    assert_eq!(s.run.env[0], "A=1");
    assert_eq!(s.run.env[1], "B=x=y");
    assert!(s.run.env[2].starts_with("PATH="));
    assert!(parse(&["-e", "=1", "img"]).is_err());
}

#[test]
fn invalid_values_are_usage_errors() {
    for bad in [
        &["--timeout", "0", "img"][..],
        &["--timeout", "soon", "img"],
        &["--name", "-bad", "img"],
        &["--name", "a b", "img"],
        &["--workdir", "rel/dir", "img"],
        &["--user", "", "img"],
        &["-v", "relative", "img"],
        &["-v", "/src:rel", "img"],
        &["--tmpfs", "tmp", "img"],
        &[],
    ] {
        let err = parse(bad).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad:?}");
    }
}

#[test]
fn env_files_come_first_and_e_overrides_them() {
    let dir = std::env::temp_dir().join(format!("slim-envfile-{}", std::process::id()));
    fs_err::create_dir_all(&dir).unwrap();
    let file = dir.join("app.env");
    fs_err::write(&file, "# comment\n\nA=from-file\nB=2\n").unwrap();
    let file_arg = file.display().to_string();
    let s = parse(&["--env-file", &file_arg, "-e", "A=flag", "img"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(s.run.env, ["A=from-file", "B=2", "A=flag"]);
    fs_err::write(&file, "not a valid line with spaces\n").unwrap();
    let err = parse(&["--env-file", &file_arg, "img"])
        .unwrap()
        .resolve()
        .unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    fs_err::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_options_reach_the_settings() {
    let s = parse(&[
        "--network",
        "host",
        "-v",
        "/data:/srv:ro",
        "--tmpfs",
        "/run:size=1m",
        "--cap-add",
        "NET_ADMIN",
        "img",
    ])
    .unwrap()
    .resolve()
    .unwrap();
    assert_eq!(s.run.network.as_deref(), Some("host"));
    assert_eq!(s.run.volumes, ["/data:/srv:ro"]);
    assert_eq!(s.run.tmpfs, ["/run:size=1m"]);
    assert_eq!(s.run.cap_add, ["NET_ADMIN"]);
}

fn parse_build(args: &[&str]) -> Result<BuildArgs, clap::Error> {
    let cli = Cli::try_parse_from(["slim", "build"].iter().chain(args))?;
    match cli.command {
        Command::Build(args) => Ok(*args),
        _ => unreachable!("parsed as build"),
    }
}

#[test]
fn commands_split_like_a_shell_or_as_json() {
    assert_eq!(
        parse_command(r#"python -c 'print("a b")' x\ y "q\"z""#).unwrap(),
        ["python", "-c", "print(\"a b\")", "x y", "q\"z"]
    );
    assert_eq!(
        parse_command(r#"["/app", "a b"]"#).unwrap(),
        ["/app", "a b"]
    );
    assert_eq!(
        parse_command("serve --port 8080 # the default").unwrap(),
        ["serve", "--port", "8080"]
    );
    assert_eq!(parse_command("a#b").unwrap(), ["a#b"]);
    for unclosed in ["'open", "\"open", "trailing\\"] {
        let error = parse_command(unclosed).unwrap_err();
        assert!(error.contains("unclosed quote"), "{unclosed}: {error}");
    }
    assert!(parse_command("  ").is_err());
    assert_eq!(parse_exec("id -un").unwrap().0, ["/bin/sh", "-c", "id -un"]);
    assert_eq!(parse_exec(r#"["id","-un"]"#).unwrap().0, ["id", "-un"]);
}

#[test]
fn references_are_checked_as_the_engine_would() {
    for good in [
        "app",
        "app.slim:1.2",
        "team/app:latest",
        "localhost:5000/a/b:v_1",
        "registry.example.com/x-y/z__w:TAG",
    ] {
        assert_eq!(parse_reference(good).as_deref(), Ok(good), "{good}");
    }
    for bad in [
        "Bad Tag:1",
        "App:1",
        "app:",
        "app:-x",
        "/app",
        "app/",
        "a//b",
        "app@sha256:00",
        "",
    ] {
        assert!(parse_reference(bad).is_err(), "{bad}");
    }
    assert!(parse_build(&["app", "--tag", "Bad Tag:1"]).is_err());
}

#[test]
fn build_options_resolve_into_settings() {
    let s = parse_build(&[
        "app:1",
        "--tag",
        "app:small",
        "--cmd",
        "serve --port 80",
        "--exec",
        "true",
        "--continue-after",
        "timeout:1",
        "--keep",
        "/srv/**",
        "--no-keep",
        "zoneinfo",
        "-e",
        "A=1",
    ])
    .unwrap()
    .resolve()
    .unwrap();
    assert_eq!(s.tag.as_deref(), Some("app:small"));
    assert_eq!(s.run.args, ["serve", "--port", "80"]);
    assert_eq!(s.plan.exec, [vec!["/bin/sh", "-c", "true"]]);
    assert_eq!(
        s.plan.continue_after,
        ContinueAfter::Timeout(Duration::from_secs(1))
    );
    assert_eq!(s.keep.patterns, ["/srv/**"]);
    assert!(!s.keep.lists.contains(&KeepList::Zoneinfo));
    assert!(s.keep.lists.contains(&KeepList::Certs));
    assert_eq!(s.run.env, ["A=1"]);
    assert!(parse_build(&["app", "--no-keep", "everything"]).is_err());
    assert!(parse_build(&["app", "--continue-after", "never"]).is_err());
}

#[test]
fn probe_options_resolve_into_the_plan_settings() {
    let dir = std::env::temp_dir().join(format!("slim-cli-probe-{}", std::process::id()));
    fs_err::create_dir_all(&dir).unwrap();
    let file = dir.join("probes.yaml");
    fs_err::write(&file, "probes:\n  - {path: /from-file, expect: 204}\n").unwrap();
    let file = file.display().to_string();
    let s = parse_build(&[
        "app:1",
        "--probe",
        "POST /api/items {\"a\":1}",
        "--probe-file",
        &file,
        "--crawl-depth",
        "2",
        "--crawl-pages",
        "50",
        "--crawl-time",
        "9",
        "--accept-language",
        "fr",
        "--host-exec",
        "./e2e.sh",
        "--run",
        "python manage.py check",
        "--strict",
        "--no-healthcheck",
    ])
    .unwrap()
    .resolve()
    .unwrap();
    let plan = &s.plan;
    assert_eq!(plan.probes.len(), 2);
    assert_eq!(plan.probes[0].body.as_deref(), Some("{\"a\":1}"));
    assert_eq!(plan.probes[1].expect_status, Some(204));
    let crawl = plan.discovery.crawl.as_ref().unwrap();
    assert_eq!((crawl.depth, crawl.pages), (2, 50));
    assert_eq!(crawl.time, Duration::from_secs(9));
    assert!(plan.discovery.find_openapi);
    assert_eq!(plan.discovery.accept_language, ["fr"]);
    assert_eq!(plan.host_exec, ["./e2e.sh"]);
    assert_eq!(plan.run, [vec!["python", "manage.py", "check"]]);
    assert!(plan.strict);
    assert!(!plan.healthcheck);

    let off = parse_build(&["app:1", "--no-crawl"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(off.plan.discovery.crawl, None);
    assert!(!off.plan.discovery.find_openapi);
    assert!(!off.plan.strict);
    assert!(off.plan.healthcheck);
    let defaults = parse_build(&["app:1"]).unwrap().resolve().unwrap();
    assert_eq!(defaults.plan.discovery.crawl, Some(CrawlLimits::default()));

    assert!(parse_build(&["app", "--probe", "GET nowhere"]).is_err());
    let missing = parse_build(&["app", "--openapi", "/nonexistent/api.json"])
        .unwrap()
        .resolve()
        .unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/api.json"),
        "{missing}"
    );
    fs_err::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_dash_is_stdout() {
    let s = parse(&["-o", "-", "img"]).unwrap().resolve().unwrap();
    assert_eq!(s.output, OutputTarget::Stdout);
    let s = parse(&["--output", "t.jsonl", "img"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(s.output, OutputTarget::File("t.jsonl".into()));
}

#[test]
fn package_db_and_sbom_options() {
    let defaults = parse_build(&["app:1"]).unwrap().resolve().unwrap();
    assert!(defaults.package_db);
    assert_eq!(defaults.sbom, None);
    let s = parse_build(&["app:1", "--no-package-db", "--sbom", "out.json"])
        .unwrap()
        .resolve()
        .unwrap();
    assert!(!s.package_db);
    assert_eq!(
        s.sbom,
        Some(crate::sbom::SbomTarget {
            path: "out.json".into(),
            format: crate::sbom::SbomFormat::CycloneDx,
        })
    );
    let spdx = parse_build(&["app:1", "--sbom", "x", "--sbom-format", "spdx"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(spdx.sbom.unwrap().format, crate::sbom::SbomFormat::Spdx);
    assert!(parse_build(&["app:1", "--sbom-format", "swid"]).is_err());
}

#[test]
fn seccomp_records_calls_and_needs_verification() {
    let defaults = parse_build(&["app:1"]).unwrap().resolve().unwrap();
    assert_eq!(defaults.seccomp, None);
    assert!(!defaults.run.record_calls);
    let s = parse_build(&["app:1", "--seccomp", "app.seccomp.json"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(s.seccomp, Some("app.seccomp.json".into()));
    assert!(s.run.record_calls, "the traced runs record system calls");
    assert_eq!(
        s.run.seccomp, None,
        "the traced runs keep the engine's profile"
    );
    // The profile is only written once verified.
    assert!(parse_build(&["app:1", "--seccomp", "p.json", "--no-verify"]).is_err());
}
