//! The keep set computed over a small merged-/usr image: the trace with its closure, the
//! keep-lists, user patterns and repair.

use super::builder::{Builder, display};
use super::test_files::{ElfSpec, X86_64_LIBC6, elf, ld_cache};
use super::*;
use crate::test_kit::record;
use crate::trace::AccessKind;
use slim_test_kit::{Entry, ScratchDir, TarWriter};

/// A small merged-/usr image: dash with its loader and libc, an NSS module, the image's
/// own ld.so.cache, a tool with a bundled library and a vendor library only the cache
/// names, configuration files, a script and a hard link. Its ELF files and cache are built
/// here (`test_files`), so the tests never depend on the host's files.
struct Fixture {
    _dir: ScratchDir,
    index: FsIndex,
}

const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

fn elf_files() -> Vec<(&'static str, Vec<u8>)> {
    let with = |interp, needed, runpath| {
        elf(&ElfSpec {
            interp,
            needed,
            runpath,
            ..ElfSpec::x86_64()
        })
    };
    vec![
        ("usr/bin/dash", with(Some(LOADER), &["libc.so.6"], None)),
        (
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            with(Some(LOADER), &["ld-linux-x86-64.so.2"], None),
        ),
        (
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            with(None, &[], None),
        ),
        (
            "usr/lib/x86_64-linux-gnu/libnss_files.so.2",
            with(None, &["libc.so.6"], None),
        ),
        (
            "opt/tool/bin/tool",
            with(
                Some(LOADER),
                &["libtool.so.1", "libvendor.so.1", "libc.so.6"],
                Some("$ORIGIN/../lib"),
            ),
        ),
        (
            "opt/tool/lib/libtool.so.1",
            with(None, &["libc.so.6"], None),
        ),
        ("opt/vendor/lib/libvendor.so.1", with(None, &[], None)),
    ]
}

fn fixture(name: &str) -> Fixture {
    let mut layer = TarWriter::new();
    for d in [
        "usr/",
        "usr/bin/",
        "usr/lib/",
        "usr/lib/x86_64-linux-gnu/",
        "usr/lib64/",
        "etc/",
        "tmp/",
        "app/",
        "app/lib/",
        "usr/share/",
        "usr/share/zoneinfo/",
        "usr/share/zoneinfo/Europe/",
        "usr/share/zoneinfo/right/",
        "usr/share/zoneinfo/right/Europe/",
        "opt/",
        "opt/tool/",
        "opt/tool/bin/",
        "opt/tool/lib/",
        "opt/vendor/",
        "opt/vendor/lib/",
        "etc/ssl/",
        "etc/ssl/certs/",
        "etc/ssl/misc/",
        "srv/",
        "srv/certs/",
    ] {
        layer = layer.entry(Entry::dir(d).mtime(1));
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("usr/bin/sh", "dash"),
        (
            "usr/lib64/ld-linux-x86-64.so.2",
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        ),
        ("etc/localtime", "/usr/share/zoneinfo/Europe/Paris"),
    ] {
        layer = layer.entry(Entry::symlink(link, target).mode(0o644).mtime(1));
    }
    let cache = ld_cache(&[
        ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", X86_64_LIBC6),
        (
            "libnss_files.so.2",
            "/lib/x86_64-linux-gnu/libnss_files.so.2",
            X86_64_LIBC6,
        ),
        (
            "ld-linux-x86-64.so.2",
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            X86_64_LIBC6,
        ),
        (
            "libvendor.so.1",
            "/opt/vendor/lib/libvendor.so.1",
            X86_64_LIBC6,
        ),
    ]);
    let files = elf_files().into_iter().chain([
        ("etc/ld.so.cache", cache),
        (
            "etc/ssl/certs/ca-certificates.crt",
            b"system bundle".to_vec(),
        ),
        ("srv/certs/bundle.pem", b"the image's own bundle".to_vec()),
        ("srv/certs/unused.pem", b"not named".to_vec()),
        ("usr/share/zoneinfo/Europe/Paris", b"TZif".to_vec()),
        ("usr/share/zoneinfo/right/UTC", b"TZif leap".to_vec()),
        (
            "usr/share/zoneinfo/right/Europe/Paris",
            b"TZif leap".to_vec(),
        ),
        (
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".to_vec(),
        ),
        ("etc/group", b"root:x:0:\n".to_vec()),
        (
            "etc/nsswitch.conf",
            b"passwd: files [NOTFOUND=return] systemd\n".to_vec(),
        ),
        ("etc/unused", b"x".to_vec()),
        ("app/run.sh", b"#!/usr/bin/env sh\necho hi\n".to_vec()),
        ("app/lib/mod.py", Vec::new()),
        ("usr/bin/big", b"content".to_vec()),
    ]);
    for (path, bytes) in files {
        layer = layer.entry(Entry::file(path, bytes).mtime(1));
    }
    // A program and a script among the CA store's files, as OpenSSL ships CA.pl.
    layer = layer
        .entry(Entry::file("usr/bin/perl", b"perl").mode(0o755).mtime(1))
        .entry(
            Entry::file("etc/ssl/misc/CA.pl", b"#!/usr/bin/perl\n")
                .mode(0o755)
                .mtime(1),
        )
        .entry(
            Entry::file("etc/ssl/misc/example.pl", b"#!/usr/bin/perl\n")
                .mode(0o644)
                .mtime(1),
        );
    layer = layer.entry(Entry::hard_link("usr/bin/big-alias", "usr/bin/big").mtime(1));
    let dir = ScratchDir::new(&format!("keep-{name}"));
    let index = FsIndex::from_layers(&[dir.write("layer.tar", layer.finish())]).unwrap();
    Fixture { _dir: dir, index }
}

fn no_lists() -> KeepOptions {
    KeepOptions {
        lists: Vec::new(),
        ..KeepOptions::default()
    }
}

#[test]
fn exec_through_directory_symlink_keeps_links_targets_loader_and_libc() {
    let f = fixture("exec");
    let set = compute(
        &f.index,
        &[record("/bin/sh").of_kind(AccessKind::Exec)],
        &ImageRuntime::default(),
        &no_lists(),
    )
    .unwrap();
    for path in [
        "/bin",
        "/usr/bin/sh",
        "/usr/bin/dash",
        "/lib64",
        "/usr/lib64/ld-linux-x86-64.so.2",
        "/lib",
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr",
        "/usr/lib",
    ] {
        assert!(
            set.contains(path.as_bytes()),
            "{path} kept: {:?}",
            set.paths().map(display).collect::<Vec<_>>()
        );
    }
    assert!(!set.contains(b"/etc/unused"));
    assert!(matches!(
        set.reasons(b"/usr/bin/dash").unwrap()[0],
        Reason::Traced {
            kind: AccessKind::Exec,
            ..
        }
    ));
    assert!(
        set.reasons(b"/usr/lib/x86_64-linux-gnu/libc.so.6")
            .unwrap()
            .iter()
            .any(|r| matches!(r, Reason::ElfLibrary { of } if of == "/usr/bin/dash"))
    );
}

#[test]
fn a_script_keeps_its_env_interpreter_found_on_path() {
    let f = fixture("script");
    let set = compute(
        &f.index,
        &[record("/app/run.sh").of_kind(AccessKind::Exec)],
        &ImageRuntime::default(),
        &no_lists(),
    )
    .unwrap();
    assert!(
        set.contains(b"/usr/bin/dash"),
        "sh found through PATH and kept with its target"
    );
}

#[test]
fn hard_link_peers_are_kept_together() {
    let f = fixture("hardlink");
    let set = compute(
        &f.index,
        &[record("/usr/bin/big-alias")],
        &ImageRuntime::default(),
        &no_lists(),
    )
    .unwrap();
    assert!(set.contains(b"/usr/bin/big"));
    assert!(set.contains(b"/usr/bin/big-alias"));
}

#[test]
fn keep_lists_bring_users_nss_zoneinfo_home_and_workdir() {
    let f = fixture("lists");
    let image = ImageRuntime {
        env: vec!["PATH=/usr/bin".into()],
        user: Some("app".into()),
        workdir: Some("/app".into()),
    };
    // A dynamically linked program ran: its C library loads NSS modules.
    let shell = [record("/bin/sh").of_kind(AccessKind::Exec)];
    let set = compute(&f.index, &shell, &image, &KeepOptions::default()).unwrap();
    for path in [
        "/etc/passwd",
        "/etc/group",
        "/etc/nsswitch.conf",
        "/usr/lib/x86_64-linux-gnu/libnss_files.so.2",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/etc/localtime",
        "/usr/share/zoneinfo/Europe/Paris",
        "/tmp",
        "/app/lib/mod.py",
        "/app/run.sh",
    ] {
        assert!(set.contains(path.as_bytes()), "{path} kept");
    }
    assert!(!set.contains(b"/etc/unused"));
}

/// The keep set of `records` with the default keep-lists and no profile.
fn with_defaults(f: &Fixture, records: &[TraceRecord]) -> KeepSet {
    compute(
        &f.index,
        records,
        &ImageRuntime::default(),
        &KeepOptions::default(),
    )
    .unwrap()
}

#[test]
fn nss_modules_are_kept_only_for_a_program_that_can_load_them() {
    let f = fixture("nss");
    // Nothing kept links glibc (a Go or musl binary ran): the modules would only bring
    // the shared C library.
    let set = with_defaults(&f, &[]);
    assert!(set.contains(b"/etc/nsswitch.conf"));
    assert!(!set.contains(b"/usr/lib/x86_64-linux-gnu/libnss_files.so.2"));
    assert!(!set.contains(b"/usr/lib/x86_64-linux-gnu/libc.so.6"));
    // Control: a dynamically linked program kept brings them.
    let shell = [record("/bin/sh").of_kind(AccessKind::Exec)];
    let set = with_defaults(&f, &shell);
    assert!(set.contains(b"/usr/lib/x86_64-linux-gnu/libnss_files.so.2"));
}

#[test]
fn zones_with_leap_seconds_are_left_out_unless_tz_names_one() {
    let f = fixture("right");
    let set = with_defaults(&f, &[]);
    assert!(set.contains(b"/usr/share/zoneinfo/Europe/Paris"));
    assert!(!set.contains(b"/usr/share/zoneinfo/right/UTC"));
    let left = set
        .left_out()
        .iter()
        .find(|l| l.glob == "/usr/share/zoneinfo/right/**")
        .expect("listed as left out");
    assert_eq!(left.profile, "base");
    assert!(
        left.paths
            .contains(&b"/usr/share/zoneinfo/right/Europe/Paris"[..])
    );

    let image = ImageRuntime {
        env: vec!["TZ=:right/UTC".into()],
        ..ImageRuntime::default()
    };
    let set = compute(&f.index, &[], &image, &KeepOptions::default()).unwrap();
    assert!(
        set.contains(b"/usr/share/zoneinfo/right/UTC"),
        "the zone TZ names"
    );
    assert!(!set.contains(b"/usr/share/zoneinfo/right/Europe/Paris"));
}

#[test]
fn switching_a_list_off_drops_it() {
    let f = fixture("off");
    let options = KeepOptions {
        lists: KeepList::ALL
            .into_iter()
            .filter(|l| *l != KeepList::Zoneinfo)
            .collect(),
        patterns: Vec::new(),
        ..KeepOptions::default()
    };
    let set = compute(&f.index, &[], &ImageRuntime::default(), &options).unwrap();
    assert!(!set.contains(b"/usr/share/zoneinfo/Europe/Paris"));
    assert!(set.contains(b"/etc/passwd"));
}

#[test]
fn user_patterns_keep_matches_and_whole_trees() {
    let f = fixture("globs");
    let options = KeepOptions {
        lists: Vec::new(),
        patterns: vec!["/etc/unus*".into(), "/app".into()],
        ..KeepOptions::default()
    };
    let set = compute(&f.index, &[], &ImageRuntime::default(), &options).unwrap();
    assert!(set.contains(b"/etc/unused"));
    assert!(set.contains(b"/app/lib/mod.py"));
    assert!(
        matches!(&set.reasons(b"/etc/unused").unwrap()[0], Reason::UserGlob { pattern } if pattern == "/etc/unus*")
    );
}

#[test]
fn invalid_and_relative_patterns_are_errors() {
    let index = FsIndex::default();
    let bad = KeepOptions {
        lists: Vec::new(),
        patterns: vec!["/a/[".into()],
        ..KeepOptions::default()
    };
    assert!(matches!(
        compute(&index, &[], &ImageRuntime::default(), &bad),
        Err(KeepError::Pattern { of: "--keep", .. })
    ));
    let rel = KeepOptions {
        lists: Vec::new(),
        patterns: vec!["etc/*".into()],
        ..KeepOptions::default()
    };
    assert!(matches!(
        compute(&index, &[], &ImageRuntime::default(), &rel),
        Err(KeepError::RelativePattern { of: "--keep", .. })
    ));
}

#[test]
fn repaired_paths_come_with_their_closure_and_reason() {
    let f = fixture("repair");
    let set = compute(&f.index, &[], &ImageRuntime::default(), &no_lists()).unwrap();
    assert!(!set.contains(b"/usr/bin/dash"));
    let set = add_repaired(
        &f.index,
        set,
        &[(b"/bin/sh".to_vec(), true)],
        2,
        &ImageRuntime::default(),
        &Excludes::default(),
    );
    assert!(set.contains(b"/usr/bin/dash"));
    assert!(
        set.contains(b"/usr/lib/x86_64-linux-gnu/libc.so.6"),
        "closure of the repaired file"
    );
    assert_eq!(
        set.reasons(b"/usr/bin/dash").unwrap()[0],
        Reason::Repaired { round: 2 }
    );
}

#[test]
fn excluding_a_path_moves_it_with_its_reasons_under_its_glob() {
    let mut set = KeepSet::default();
    let traced = Reason::Traced {
        kind: AccessKind::Open,
        comm: "app".into(),
        pid: 3,
    };
    set.keep(b"/srv/a", traced.clone());
    set.keep(
        b"/srv/a",
        Reason::KeepList {
            list: KeepList::Tmp,
        },
    );
    set.keep(b"/srv/b", traced.clone());
    assert!(set.exclude(b"/srv/a", "/srv/a*"));
    assert!(!set.exclude(b"/srv/a", "/srv/a*"), "no longer kept");
    assert!(!set.exclude(b"/srv/none", "/srv/n*"), "never kept");
    assert!(!set.contains(b"/srv/a") && set.contains(b"/srv/b"));
    let exclusions = set.exclusions();
    assert_eq!(
        exclusions.len(),
        1,
        "a glob that took nothing has no record"
    );
    assert_eq!(exclusions[0].pattern, "/srv/a*");
    assert_eq!(
        exclusions[0].removed[&b"/srv/a"[..]],
        [
            traced,
            Reason::KeepList {
                list: KeepList::Tmp
            }
        ]
    );
}

#[test]
fn excludes_apply_after_every_keep_rule_and_record_why() {
    let f = fixture("exclude");
    let image = ImageRuntime {
        env: vec!["PATH=/usr/bin".into()],
        user: Some("app".into()),
        workdir: Some("/app".into()),
    };
    let options = KeepOptions {
        patterns: vec!["/etc/unused".into()],
        excludes: vec![
            "/usr/lib/x86_64-linux-gnu/libc.so.*".into(),
            "/etc/unus*".into(),
            "/app/lib".into(),
            "/nowhere/**".into(),
        ],
        ..KeepOptions::default()
    };
    let set = compute(
        &f.index,
        &[record("/bin/sh").of_kind(AccessKind::Exec)],
        &image,
        &options,
    )
    .unwrap();
    // Traced closure, a --keep glob and the workdir keep-list: all beaten by --exclude.
    for gone in [
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/etc/unused",
        "/app/lib",
        "/app/lib/mod.py",
    ] {
        assert!(!set.contains(gone.as_bytes()), "{gone} is excluded");
    }
    // What the globs do not match stays, the directories above an excluded path too.
    for kept in [
        "/usr/bin/dash",
        "/app",
        "/app/run.sh",
        "/usr/lib/x86_64-linux-gnu",
    ] {
        assert!(set.contains(kept.as_bytes()), "{kept} is kept");
    }
    let took = |pattern: &str| {
        set.exclusions()
            .iter()
            .find(|e| e.pattern == pattern)
            .unwrap_or_else(|| panic!("no record of {pattern}"))
    };
    let libc = &took("/usr/lib/x86_64-linux-gnu/libc.so.*").removed;
    assert_eq!(libc.len(), 1);
    assert!(
        libc[&b"/usr/lib/x86_64-linux-gnu/libc.so.6"[..]]
            .iter()
            .any(|r| matches!(r, Reason::ElfLibrary { of } if of == "/usr/bin/dash")),
        "the reasons it was kept for are recorded: {libc:?}"
    );
    assert!(
        took("/etc/unus*").removed[&b"/etc/unused"[..]].contains(&Reason::UserGlob {
            pattern: "/etc/unused".into()
        })
    );
    let tree: Vec<&[u8]> = took("/app/lib").removed.keys().map(Vec::as_slice).collect();
    assert_eq!(
        tree,
        [&b"/app/lib"[..], b"/app/lib/mod.py"],
        "the whole tree"
    );
    assert_eq!(took("/app/lib").image_matches, 1);
    let nothing = took("/nowhere/**");
    assert!(nothing.removed.is_empty());
    assert_eq!(
        nothing.image_matches, 0,
        "a glob that matched nothing says so"
    );
}

#[test]
fn repair_never_brings_back_an_excluded_path() {
    let f = fixture("exclude-repair");
    let options = KeepOptions {
        excludes: vec!["/usr/lib/x86_64-linux-gnu/libc.so.6".into()],
        ..no_lists()
    };
    let excludes = Excludes::compile(&options.excludes).unwrap();
    let set = compute(&f.index, &[], &ImageRuntime::default(), &options).unwrap();
    let set = add_repaired(
        &f.index,
        set,
        &[
            (b"/bin/sh".to_vec(), true),
            (b"/usr/lib/x86_64-linux-gnu/libc.so.6".to_vec(), true),
        ],
        1,
        &ImageRuntime::default(),
        &excludes,
    );
    assert!(set.contains(b"/usr/bin/dash"), "repaired");
    assert!(
        !set.contains(b"/usr/lib/x86_64-linux-gnu/libc.so.6"),
        "asked for by repair and needed by dash, still excluded"
    );
    let removed = &set.exclusions()[0].removed[&b"/usr/lib/x86_64-linux-gnu/libc.so.6"[..]];
    assert!(
        removed.contains(&Reason::Repaired { round: 1 }),
        "{removed:?}"
    );
}

#[test]
fn invalid_exclude_globs_are_errors_naming_the_option() {
    let index = FsIndex::default();
    for (pattern, what) in [
        ("/a/[", "invalid --exclude pattern '/a/['"),
        ("etc/*", "--exclude pattern 'etc/*' is not absolute"),
    ] {
        let options = KeepOptions {
            excludes: vec![pattern.into()],
            ..no_lists()
        };
        let error = compute(&index, &[], &ImageRuntime::default(), &options).unwrap_err();
        assert!(error.to_string().starts_with(what), "{error}");
        let error = check_user_globs(&options).unwrap_err();
        assert!(error.to_string().starts_with(what), "{error}");
    }
    let keep = KeepOptions {
        patterns: vec!["/a/[".into()],
        ..no_lists()
    };
    let error = check_user_globs(&keep).unwrap_err().to_string();
    assert!(
        error.starts_with("invalid --keep pattern '/a/['"),
        "{error}"
    );
}

#[test]
fn missing_paths_and_runtime_mounts_are_not_kept() {
    let f = fixture("missing");
    let set = compute(
        &f.index,
        &[record("/nope"), record("/proc/self/maps")],
        &ImageRuntime::default(),
        &no_lists(),
    )
    .unwrap();
    assert!(set.is_empty());
    assert_eq!(set.traced_missing, 1);
}

#[test]
fn libraries_found_through_runpath_origin_and_the_image_cache_are_kept() {
    let f = fixture("search");
    let set = compute(
        &f.index,
        &[record("/opt/tool/bin/tool").of_kind(AccessKind::Exec)],
        &ImageRuntime::default(),
        &no_lists(),
    )
    .unwrap();
    let library_of_tool = |path: &str| {
        set.reasons(path.as_bytes()).is_some_and(|reasons| {
            reasons
                .iter()
                .any(|r| matches!(r, Reason::ElfLibrary { of } if of == "/opt/tool/bin/tool"))
        })
    };
    assert!(
        library_of_tool("/opt/tool/lib/libtool.so.1"),
        "$ORIGIN/../lib"
    );
    assert!(
        library_of_tool("/opt/vendor/lib/libvendor.so.1"),
        "named only by the image's ld.so.cache"
    );
    assert!(set.contains(b"/usr/lib/x86_64-linux-gnu/libc.so.6"));
    assert!(set.contains(b"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
    assert!(!set.contains(b"/usr/bin/dash"));
}

#[test]
fn the_certs_list_keeps_system_bundles_and_the_one_the_image_env_names() {
    let f = fixture("certs");
    let image = ImageRuntime {
        env: vec!["SSL_CERT_FILE=/srv/certs/bundle.pem".into()],
        ..ImageRuntime::default()
    };
    let options = KeepOptions {
        lists: vec![KeepList::Certs],
        ..KeepOptions::default()
    };
    let set = compute(&f.index, &[], &image, &options).unwrap();
    let certs = Reason::KeepList {
        list: KeepList::Certs,
    };
    for path in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/srv/certs/bundle.pem",
    ] {
        assert_eq!(
            set.reasons(path.as_bytes()),
            Some(&[certs.clone()][..]),
            "{path}"
        );
    }
    assert!(!set.contains(b"/srv/certs/unused.pem"));
    assert!(!set.contains(b"/etc/passwd"), "only the certs list is on");
}

#[test]
fn a_data_keep_list_keeps_no_program_and_no_interpreter() {
    let f = fixture("certs-programs");
    let options = KeepOptions {
        lists: vec![KeepList::Certs],
        ..KeepOptions::default()
    };
    let set = compute(&f.index, &[], &ImageRuntime::default(), &options).unwrap();
    assert!(set.contains(b"/etc/ssl/certs/ca-certificates.crt"));
    assert!(
        !set.contains(b"/etc/ssl/misc/CA.pl"),
        "an executable under the CA store is a program, kept only when traced"
    );
    assert!(
        set.contains(b"/etc/ssl/misc/example.pl"),
        "a non-executable script is data"
    );
    assert!(
        !set.contains(b"/usr/bin/perl"),
        "a script kept as data brings no interpreter"
    );

    let traced = compute(
        &f.index,
        &[record("/etc/ssl/misc/CA.pl").of_kind(AccessKind::Exec)],
        &ImageRuntime::default(),
        &options,
    )
    .unwrap();
    assert!(traced.contains(b"/etc/ssl/misc/CA.pl") && traced.contains(b"/usr/bin/perl"));
}

#[test]
fn a_script_brings_its_interpreter_only_when_it_ran_or_was_named() {
    let f = fixture("script-reasons");
    let read = compute(
        &f.index,
        &[record("/app/run.sh").of_kind(AccessKind::Open)],
        &ImageRuntime::default(),
        &no_lists(),
    )
    .unwrap();
    assert!(read.contains(b"/app/run.sh"));
    assert!(
        !read.contains(b"/usr/bin/env") && !read.contains(b"/usr/bin/dash"),
        "a script only read does not run: no interpreter"
    );
    let named = compute(
        &f.index,
        &[],
        &ImageRuntime::default(),
        &KeepOptions {
            patterns: vec!["/app/run.sh".into()],
            ..no_lists()
        },
    )
    .unwrap();
    assert!(
        named.contains(b"/usr/bin/dash"),
        "a script named with --keep keeps its interpreter"
    );
}

#[test]
fn a_path_added_again_gets_its_reason_where_adding_it_would_put_it() {
    let f = fixture("add-again");
    let image = ImageRuntime::default();
    let first = || Reason::KeepList {
        list: KeepList::Users,
    };
    let second = || Reason::KeepList {
        list: KeepList::Certs,
    };
    // A directory symlink on the way (`/bin/sh`), a symlink itself (`/usr/bin/sh`), a
    // plain file, a path the image does not have.
    for path in [
        &b"/bin/sh"[..],
        b"/usr/bin/sh",
        b"/usr/bin/dash",
        b"/etc/passwd",
        b"/missing",
    ] {
        let mut twice = Builder::new(&f.index, &image);
        twice.add(path, first(), true);
        twice.add(path, second(), true);
        let mut again = Builder::new(&f.index, &image);
        let added = again.add_resolved(path, first(), true);
        again.add_again(path, &added, second());
        let listing = |b: &Builder| -> Vec<(String, Vec<Reason>)> {
            b.set
                .paths()
                .map(|p| (display(p), b.set.reasons(p).unwrap_or_default().to_vec()))
                .collect()
        };
        assert_eq!(listing(&again), listing(&twice), "{}", display(path));
    }
}
