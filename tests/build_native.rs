//! `slim build` on images whose entrypoint is a native binary (a C server standing for a
//! Go or Rust one), with default options:
//! - linked statically (`native-static`), the slim image is that binary, the file it reads
//!   and the keep-lists' data: no shared library (not even the NSS modules of the `users`
//!   list, which only a program linked with glibc loads), no shell, no other program; the same
//!   program linked dynamically (`native-dynamic`) brings glibc and its loader, which is
//!   the contrast that shows the static image holds nothing of the kind;
//! - linked dynamically, a library it loads with `dlopen` on one route (zlib) is kept when
//!   the traced run requested that route (`--probe 'GET /zlib'`), with its own ELF
//!   closure; built without that probe, the route fails on the slim image, since no ELF
//!   header names a library loaded by `dlopen`.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{
    NATIVE_MESSAGE, NATIVE_PORT, SlimImage, TestContainer, build_fixture, image, image_entries,
};

/// How long the server may take to answer its first request.
const START: Duration = Duration::from_secs(30);

/// Where Debian keeps glibc and zlib.
const LIBDIR: &str = "/usr/lib/x86_64-linux-gnu";

/// `GET path` on a fresh container of `image`: (status, body).
fn get(image: &str, path: &str) -> (u16, String) {
    let container = TestContainer::start(image, &[], &[]);
    let answer = container.get(NATIVE_PORT, path, START);
    (answer.status, answer.text())
}

/// The kept files (not directories) of a build's report, with the reasons given.
fn kept_files(report: &Value) -> Vec<(String, Vec<Value>)> {
    report["keep"]["paths"]
        .as_array()
        .expect("kept paths")
        .iter()
        .filter(|p| p["type"] != "dir")
        .map(|p| {
            (
                p["path"].as_str().expect("path").to_string(),
                p["reasons"].as_array().expect("reasons").clone(),
            )
        })
        .collect()
}

/// Whether a path is kept for a keep-list's sake: by a list, by the base profile (the
/// loader's configuration, os-release), as a link or directory on the way, or as the
/// package database trimmed to the packages those files come from.
fn is_keep_list(reasons: &[Value]) -> bool {
    let base = |r: &Value| r["reason"] == "profile" && r["profile"] == "base";
    reasons.iter().all(|r| {
        base(r)
            || ["keep_list", "symlink", "parent", "hard_link", "package_db"]
                .contains(&r["reason"].as_str().unwrap_or(""))
    })
}

fn has_file(slim: &SlimImage, path: &str) -> bool {
    image_entries(&slim.tag)
        .iter()
        .any(|e| e.path.trim_start_matches('/') == path.trim_start_matches('/'))
}

#[test]
fn root_engine_a_static_binary_comes_out_as_itself_and_the_keep_lists() {
    let (slim, report) = build_fixture("native-static", "native-static", &[]);
    assert_eq!(
        get(&slim.tag, "/"),
        (200, NATIVE_MESSAGE.to_string()),
        "GET / on the slim image"
    );
    let files = kept_files(&report);
    let others: Vec<&(String, Vec<Value>)> = files
        .iter()
        .filter(|(path, reasons)| {
            path != "/usr/local/bin/native-server"
                && path != "/srv/native/message.txt"
                && !is_keep_list(reasons)
        })
        .collect();
    assert!(
        others.is_empty(),
        "beyond the binary, the file it reads and the keep-lists' data, the slim image \
         holds: {others:?}"
    );
    assert!(
        !has_file(&slim, "/bin/sh") && !has_file(&slim, "/usr/bin/dash"),
        "no shell in the slim image"
    );
    assert!(
        !files.iter().any(|(p, _)| p.starts_with(LIBDIR)),
        "no shared library in the slim image: {files:?}"
    );

    // The contrast: the same program linked dynamically needs glibc and its loader, kept
    // as the ELF closure of the traced binary.
    let (dynamic, report) = build_fixture("native-dynamic", "native-dynamic", &[]);
    assert_eq!(get(&dynamic.tag, "/"), (200, NATIVE_MESSAGE.to_string()));
    let files = kept_files(&report);
    let libc = files
        .iter()
        .find(|(p, _)| p == &format!("{LIBDIR}/libc.so.6"))
        .expect("the dynamic build keeps libc.so.6");
    assert!(
        libc.1.iter().any(|r| r["reason"] == "elf_library"),
        "libc.so.6 is kept for the binary: {:?}",
        libc.1
    );
}

#[test]
fn root_engine_a_library_loaded_by_dlopen_is_kept_when_the_run_loaded_it() {
    let original = get(&image("native-dynamic"), "/zlib");
    assert_eq!(
        original.0, 200,
        "the original answers GET /zlib: {}",
        original.1
    );
    assert!(original.1.starts_with("zlib "), "{}", original.1);

    let (slim, report) =
        build_fixture("native-dynamic", "native-dlopen", &["--probe", "GET /zlib"]);
    assert_eq!(
        get(&slim.tag, "/zlib"),
        original,
        "GET /zlib on the slim image"
    );
    // The loader opens it as /lib/…/libz.so.1 (through the /lib link and the library
    // link): the file at the end of those links is kept as traced.
    let zlib: Vec<(String, Vec<Value>)> = kept_files(&report)
        .into_iter()
        .filter(|(p, _)| p.contains("/libz.so.1"))
        .collect();
    assert!(
        zlib.iter()
            .any(|(_, reasons)| reasons.iter().any(|r| r["reason"] == "traced")),
        "libz is kept because the traced run opened it: {zlib:?}"
    );

    // Control: without a request to /zlib, nothing loads zlib during the build, no ELF
    // header names it, and the route fails on the slim image.
    let (untraced, report) = build_fixture("native-dynamic", "native-no-dlopen", &[]);
    assert!(
        !kept_files(&report)
            .iter()
            .any(|(p, _)| p.starts_with(&format!("{LIBDIR}/libz.so"))),
        "libz kept though nothing loaded it"
    );
    let (status, body) = get(&untraced.tag, "/zlib");
    assert_eq!(status, 500, "GET /zlib without zlib: {body}");
    assert!(body.contains("dlopen failed"), "{body}");
}
