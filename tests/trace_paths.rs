//! `slim trace` records the right path, kind and result for each kind of file access,
//! including the hard cases: the container's very first syscall, paths relative to the
//! cwd or to a directory fd, `fstat`-style calls on an fd, and exec through the
//! `/bin -> usr/bin` symlink. Black-box: the real binary, the real kernel and engine.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`). Most checks share one traced container that runs a script of
//! `probe-fixture` subcommands; each test reads its own part of that trace.

use std::sync::OnceLock;

use slim_fixtures::{Record, Trace, TraceCommand, image, keys_in_order};

/// One container runs every single-access subcommand, each touching its own path, so
/// each test below can pick its record out of the shared trace.
fn script_trace() -> &'static Trace {
    static TRACE: OnceLock<Trace> = OnceLock::new();
    TRACE.get_or_init(|| {
        let script = [
            "(cd /etc && cat passwd >/dev/null)",
            "probe-fixture dirfd /data/dir a",
            "probe-fixture fstat-empty /data/dir/b",
            "probe-fixture fstat-empty /etc/hostname",
            "probe-fixture stat /etc/first-file",
            "probe-fixture lstat /etc/link-to-passwd",
            "probe-fixture readlink /etc/link-to-passwd",
            "probe-fixture access /data/dir/c",
            "probe-fixture open /nonexistent",
            "probe-fixture list /data/dir",
        ]
        .join("\n");
        let trace = TraceCommand::new(&image("probe"))
            .args(["sh", "-c", &script])
            .run();
        trace.assert_success();
        trace
    })
}

fn by_fixture(r: &Record) -> bool {
    r.comm == "probe-fixture"
}

#[test]
fn root_engine_file_opened_in_the_first_millisecond_is_traced() {
    let trace = TraceCommand::new(&image("probe"))
        .args(["probe-fixture", "first-open", "/etc/first-file"])
        .output_file()
        .run();
    trace.assert_success();
    assert_eq!(
        trace.stray_stdout, "",
        "with --output, stdout must stay free of records"
    );
    trace.expect("open /etc/first-file ok by probe-fixture", |r| {
        r.kind == "open" && r.path == "/etc/first-file" && r.result == "ok" && by_fixture(r)
    });
}

#[test]
fn root_engine_open_relative_to_cwd_after_cd_is_absolute() {
    script_trace().expect("open /etc/passwd ok by cat", |r| {
        r.kind == "open" && r.path == "/etc/passwd" && r.result == "ok" && r.comm == "cat"
    });
}

#[test]
fn root_engine_cd_is_recorded_as_chdir() {
    script_trace().expect("chdir /etc ok", |r| {
        r.kind == "chdir" && r.path == "/etc" && r.result == "ok"
    });
}

#[test]
fn root_engine_openat_on_a_dirfd_is_joined_to_the_directory() {
    script_trace().expect("open /data/dir/a ok by probe-fixture via openat", |r| {
        r.kind == "open"
            && r.path == "/data/dir/a"
            && r.result == "ok"
            && r.syscall == "openat"
            && by_fixture(r)
    });
}

#[test]
fn root_engine_fstat_with_an_empty_path_is_a_stat_of_the_fds_file() {
    script_trace().expect("stat /data/dir/b ok via newfstatat", |r| {
        r.kind == "stat"
            && r.path == "/data/dir/b"
            && r.result == "ok"
            && r.syscall == "newfstatat"
            && by_fixture(r)
    });
}

#[test]
fn root_engine_fstat_on_a_bind_mounted_file_crosses_the_mount() {
    // Docker bind-mounts /etc/hostname from outside the image: the fd's dentry walk
    // must cross that mount back into the container's root.
    script_trace().expect("stat /etc/hostname ok via newfstatat", |r| {
        r.kind == "stat"
            && r.path == "/etc/hostname"
            && r.result == "ok"
            && r.syscall == "newfstatat"
            && by_fixture(r)
    });
}

#[test]
fn root_engine_exec_through_a_symlinked_dir_keeps_the_path_used() {
    let trace = TraceCommand::new(&image("probe"))
        .args(["/bin/sh", "-c", "true"])
        .run();
    trace.assert_success();
    trace.expect("exec /bin/sh ok", |r| {
        r.kind == "exec" && r.path == "/bin/sh" && r.result == "ok"
    });
    let resolved: Vec<_> = trace.matching("exec", "/usr/bin/sh");
    assert!(
        resolved.is_empty(),
        "exec must be recorded under the path used, not the resolved /usr/bin/sh: {resolved:?}"
    );
}

#[test]
fn root_engine_stat_only_access_is_a_stat() {
    script_trace().expect("stat /etc/first-file ok via stat", |r| {
        r.kind == "stat"
            && r.path == "/etc/first-file"
            && r.result == "ok"
            && r.syscall == "stat"
            && !r.nofollow
            && by_fixture(r)
    });
}

#[test]
fn root_engine_lstat_on_a_symlink_is_a_nofollow_stat_of_the_link() {
    script_trace().expect("nofollow stat /etc/link-to-passwd ok via lstat", |r| {
        r.kind == "stat"
            && r.path == "/etc/link-to-passwd"
            && r.result == "ok"
            && r.syscall == "lstat"
            && r.nofollow
            && by_fixture(r)
    });
}

#[test]
fn root_engine_readlink_is_recorded() {
    script_trace().expect("readlink /etc/link-to-passwd ok", |r| {
        r.kind == "readlink" && r.path == "/etc/link-to-passwd" && r.result == "ok" && by_fixture(r)
    });
}

#[test]
fn root_engine_access_is_recorded() {
    script_trace().expect("access /data/dir/c ok", |r| {
        r.kind == "access" && r.path == "/data/dir/c" && r.result == "ok" && by_fixture(r)
    });
}

#[test]
fn root_engine_failed_open_reports_enoent() {
    script_trace().expect("open /nonexistent ENOENT", |r| {
        r.kind == "open" && r.path == "/nonexistent" && r.result == "ENOENT" && by_fixture(r)
    });
}

#[test]
fn root_engine_directory_listing_is_a_list_of_the_directory() {
    script_trace().expect("list /data/dir ok via getdents64", |r| {
        r.kind == "list" && r.path == "/data/dir" && r.result == "ok" && by_fixture(r)
    });
}

const KINDS: &[&str] = &[
    "open", "exec", "stat", "access", "readlink", "list", "chdir",
];
const REQUIRED_KEYS: &[&str] = &["path", "kind", "syscall", "result", "pid", "tid", "comm"];
const OPTIONAL_KEYS: &[&str] = &["nofollow", "write", "incomplete", "path_bytes"];
const INCOMPLETE: &[&str] = &["truncated", "unreachable", "badfd", "fault"];

#[test]
fn root_engine_records_follow_the_json_lines_contract() {
    let trace = script_trace();
    assert!(!trace.lines.is_empty(), "empty trace:\n{}", trace.summary());
    for (line, record) in trace.lines.iter().zip(&trace.records) {
        let keys = keys_in_order(line).expect("a JSON object");
        assert_eq!(
            &keys[..REQUIRED_KEYS.len().min(keys.len())],
            REQUIRED_KEYS,
            "fixed field order: {line}"
        );
        let optional = &keys[REQUIRED_KEYS.len()..];
        let mut expected: Vec<&str> = OPTIONAL_KEYS.to_vec();
        expected.retain(|k| optional.iter().any(|o| o == k));
        assert_eq!(
            optional, expected,
            "unknown or reordered optional fields: {line}"
        );
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
        for flag in ["nofollow", "write"] {
            if let Some(v) = value.get(flag) {
                assert_eq!(
                    v,
                    &serde_json::Value::Bool(true),
                    "{flag} only as true: {line}"
                );
            }
        }
        assert!(KINDS.contains(&record.kind.as_str()), "kind: {line}");
        assert!(
            record.result == "ok"
                || record.result == "unknown"
                || (record.result.starts_with('E')
                    && record.result[1..]
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())),
            "result: {line}"
        );
        assert!(record.pid > 0 && record.tid > 0, "pid/tid: {line}");
        assert!(!record.comm.is_empty(), "comm: {line}");
        assert!(!record.syscall.is_empty(), "syscall: {line}");
        if let Some(why) = &record.incomplete {
            assert!(INCOMPLETE.contains(&why.as_str()), "incomplete: {line}");
            continue;
        }
        if record.path_bytes.is_none() {
            assert!(
                is_normalised(&record.path),
                "path not absolute and normalised: {line}"
            );
        }
    }
}

/// Absolute, no empty, `.` or `..` components, no trailing slash (except `/`).
fn is_normalised(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && path[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

#[test]
fn normalised_path_check_rejects_what_it_should() {
    assert!(is_normalised("/"));
    assert!(is_normalised("/etc/passwd"));
    for bad in ["etc", "/etc/", "//etc", "/etc/./x", "/etc/../x", ""] {
        assert!(!is_normalised(bad), "{bad}");
    }
}
