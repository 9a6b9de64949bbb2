//! Hostile images: archives crafted entry by entry (tests/support/hostile.rs), loaded
//! through the engine's load endpoint, then given to `slim build`. One test per kind of
//! hostile content; each asserts what the user sees (a built image that behaves like the
//! original and holds the right entries, or one clear `error:` with a `hint:`), that slim
//! left nothing behind, and that nothing on the host outside slim's work area was created,
//! read into the image or changed (a sentinel file and the names a breakout would use).
//!
//! Where the engine itself refuses or rewrites an entry on load or save, the test asserts
//! that too, and hands the same crafted archive to slim's own reader (unpack, index,
//! rewrite) without the engine, since slim must not rely on the engine for safety;
//! slim-cli/src/image/hostile_tests.rs does the same on more shapes.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::time::Duration;

use slim_cli::image::index::{FsIndex, NodeKind};
use slim_cli::image::save;
use slim_cli::rebuild::layer::{LayerError, write_layer};
use slim_fixtures::{
    BuildCommand, BuildOutcome, CraftedImage, HOST_SECRET, HostSentinel, ImageEntry,
    ImageEntryKind, TarWriter, image_entries, run_to_end,
};

const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The image's own output (its CMD opens the paths it was crafted with).
fn output(image: &str) -> String {
    let (code, stdout, stderr) = run_to_end(image, &[], &[], RUN_LIMIT);
    assert_eq!(code, Some(0), "{image}: {stderr}");
    stdout
}

/// Builds `image` with `options`; the build must succeed, leave nothing behind, and the
/// slim image must print what the original prints (`expected`, when the engine's answer
/// is the same everywhere). The image is read from the engine's layer store, and built
/// again through the export: both must give the same image. Returns the slim image's
/// entries.
fn build_ok(image: &str, options: &[(&str, &str)], expected: Option<&str>) -> Vec<ImageEntry> {
    let original = output(image);
    if let Some(expected) = expected {
        assert_eq!(original, expected, "the crafted image itself");
    }
    let build = |source: &str| {
        let mut build = BuildCommand::new(image)
            .unique_tag("hostile")
            .option("--image-source", source);
        for (flag, value) in options {
            build = build.option(flag, value);
        }
        build.run()
    };
    let outcome = build("store");
    let slim = outcome.image();
    let through_export = build("export").image();
    assert_eq!(
        slim.engine.id, through_export.engine.id,
        "{image}: the layer store and the export gave different images"
    );
    assert_eq!(
        output(&slim.tag),
        original,
        "the slim image answers differently"
    );
    let entries = image_entries(&slim.tag);
    for entry in &entries {
        assert!(
            !entry.path.contains(".wh."),
            "a whiteout reached the slim image: {}",
            entry.path
        );
    }
    entries
}

fn entry<'a>(entries: &'a [ImageEntry], path: &str) -> Option<&'a ImageEntry> {
    entries.iter().find(|e| e.path == path)
}

/// slim's own reader on the crafted archive, without the engine: the archive unpacked as
/// slim unpacks `docker save`'s, then indexed. Runs `check` on the index, then checks that
/// everything written stayed in the work directory.
fn with_slim_reader(image: &CraftedImage, sentinel: &HostSentinel, check: impl FnOnce(&FsIndex)) {
    let work = std::env::temp_dir().join(format!(
        "slim-test-reader-{}-{}",
        sentinel.escape_name,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("unpack")).expect("creating a work directory");
    let archive = image
        .archive("slim-test/reader:1")
        .expect("crafting the archive");
    let saved = save::unpack(archive.as_slice(), &work.join("unpack"))
        .unwrap_or_else(|e| panic!("slim's reader refused the archive: {e}"));
    let index = FsIndex::from_layers(&saved.layers)
        .unwrap_or_else(|e| panic!("slim's index refused the layers: {e}"));
    check(&index);
    let top: Vec<_> = std::fs::read_dir(&work)
        .expect("the work directory")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(top, ["unpack"], "slim's reader wrote beside its directory");
    let _ = std::fs::remove_dir_all(&work);
    sentinel.assert_untouched();
}

/// What writing `paths` of `index` into a new layer gives.
fn rewrite(index: &FsIndex, paths: &[&[u8]]) -> Result<(), LayerError> {
    write_layer(
        index,
        paths.iter().copied(),
        &Default::default(),
        std::io::sink(),
    )
    .map(drop)
}

/// The build failed with one `error:` line naming `needle`, a `hint:`, exit code `code`,
/// and left nothing behind.
fn assert_clear_error(outcome: &BuildOutcome, code: i32, needle: &str) {
    assert_eq!(outcome.code, Some(code), "{}", outcome.stderr);
    outcome.assert_nothing_left();
    let errors = outcome.error_lines();
    assert_eq!(errors.len(), 1, "{}", outcome.stderr);
    assert!(errors[0].contains(needle), "{}", outcome.stderr);
    assert!(
        outcome.stderr.lines().any(|l| l.starts_with("hint: ")),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
}

#[test]
fn root_engine_hostile_dotdot_and_absolute_entry_names() {
    let sentinel = HostSentinel::new("dotdot");
    // Names that climb out of the layer: the engine keeps the file inside the layer on
    // load, but its `docker save` then reads the name relative to the layer's directory
    // on the host and fails. Read in place from the layer store, slim keeps the names
    // inside the image root as the engine did; through the export it says the engine
    // failed. Nothing is created anywhere.
    let climbing = CraftedImage::new("dotdot")
        .layer(
            TarWriter::new()
                .file(b"ok", b"ok")
                .file(
                    format!("../../../../{}", sentinel.escape_name).as_bytes(),
                    b"x",
                )
                .file(
                    format!("a/../../../../../../../{}", sentinel.escape_name).as_bytes(),
                    b"y",
                ),
        )
        .opens(["/ok".to_string(), format!("/{}", sentinel.escape_name)])
        .load()
        .expect("the engine loads names with `..`");
    // Inside the container the file is at the image's root.
    assert_eq!(
        output(&climbing.tag),
        format!("/ok: ok 2\n/{}: ok 1\n", sentinel.escape_name)
    );
    let from_store = BuildCommand::new(&climbing.tag).unique_tag("hostile").run();
    let slim = from_store.image();
    assert_eq!(
        output(&slim.tag),
        output(&climbing.tag),
        "the slim image answers differently"
    );
    sentinel.assert_untouched();
    let through_export = BuildCommand::new(&climbing.tag)
        .unique_tag("hostile")
        .option("--image-source", "export")
        .run();
    assert_clear_error(&through_export, 1, "the engine could not export");
    sentinel.assert_untouched();
    // slim's reader, given the same archive, keeps the names inside the image root.
    let crafted = CraftedImage::new("dotdot")
        .layer(
            TarWriter::new()
                .file(b"ok", b"ok")
                .file(
                    format!("../../../../{}", sentinel.escape_name).as_bytes(),
                    b"x",
                )
                .file(b"/abs", b"abs"),
        )
        .opens(["/ok"]);
    with_slim_reader(&crafted, &sentinel, |index| {
        let escaped = format!("/{}", sentinel.escape_name);
        assert!(index.get(escaped.as_bytes()).is_some());
        assert!(index.get(b"/abs").is_some());
        rewrite(index, &[escaped.as_bytes(), b"/abs"]).expect("rewriting the entries");
    });

    // Absolute names and `..` that stay inside: the image is built and right.
    let inside = CraftedImage::new("absolute")
        .layer(
            TarWriter::new()
                .file(b"/abs-file", b"absolute")
                .file(b"./x/../inside", b"inside")
                .dir(b"/srv/")
                .file(b"/srv/../srv/./data", b"data"),
        )
        .opens(["/abs-file", "/inside", "/srv/data"])
        .load()
        .expect("the engine loads absolute names");
    let entries = build_ok(
        &inside.tag,
        &[],
        Some("/abs-file: ok 8\n/inside: ok 6\n/srv/data: ok 4\n"),
    );
    for path in ["/abs-file", "/inside", "/srv/data"] {
        assert!(
            entry(&entries, path).is_some(),
            "{path} missing: {entries:?}"
        );
    }
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_symlinks_out_of_the_root_resolve_inside_the_image() {
    let sentinel = HostSentinel::new("links");
    let secret = sentinel.secret();
    let host_only = format!("{}/host-only", sentinel.dir.display());
    let secret_in_image = secret.trim_start_matches('/');
    let image = CraftedImage::new("links")
        .layer(
            TarWriter::new()
                // The image holds a file at the sentinel's path, with its own content.
                .file(secret_in_image.as_bytes(), b"image's own")
                .symlink(b"abs", secret.as_bytes())
                .dir(b"d/")
                .symlink(
                    b"d/rel",
                    format!("../../../../../../../..{secret}").as_bytes(),
                )
                // A path only the host has.
                .symlink(b"host-only", host_only.as_bytes())
                .symlink(b"up", b"../../../../..")
                .symlink(b"root-passwd", b"/etc/passwd"),
        )
        .opens(["/abs", "/d/rel", "/host-only", "/up/abs", "/root-passwd"])
        .load()
        .expect("the engine loads links out of the root");
    std::fs::write(&host_only, HOST_SECRET).expect("writing the host-only file");
    let expected = "/abs: ok 11\n/d/rel: ok 11\n/host-only: ENOENT\n/up/abs: ok 11\n\
                    /root-passwd: ENOENT\n";
    let entries = build_ok(&image.tag, &[], Some(expected));
    std::fs::remove_file(&host_only).expect("removing the host-only file");
    let kept = entry(&entries, &secret).expect("the image's file at the sentinel's path");
    assert_eq!(kept.size, "image's own".len() as u64);
    for (link, target) in [("/abs", secret.as_str()), ("/host-only", &host_only)] {
        assert!(
            matches!(&entry(&entries, link).map(|e| &e.kind),
                Some(ImageEntryKind::Symlink(t)) if t == target),
            "{link}: {entries:?}"
        );
    }
    assert!(entry(&entries, &host_only).is_none());
    assert!(entry(&entries, "/etc/passwd").is_none());
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_symlink_loops() {
    let sentinel = HostSentinel::new("loops");
    let image = CraftedImage::new("loops")
        .layer(
            TarWriter::new()
                .symlink(b"a", b"b")
                .symlink(b"b", b"a")
                .symlink(b"self", b"self")
                .symlink(b"deep", b"deep/deep"),
        )
        .opens(["/a", "/self", "/deep/x", "/a/b/c"])
        .load()
        .expect("the engine loads symlink loops");
    let entries = build_ok(
        &image.tag,
        &[],
        Some("/a: ELOOP\n/self: ELOOP\n/deep/x: ELOOP\n/a/b/c: ELOOP\n"),
    );
    for link in ["/a", "/b", "/self", "/deep"] {
        assert!(
            matches!(
                entry(&entries, link).map(|e| &e.kind),
                Some(ImageEntryKind::Symlink(_))
            ),
            "{link}: {entries:?}"
        );
    }
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_directory_replaced_by_a_file_in_a_later_layer() {
    let sentinel = HostSentinel::new("replace");
    let image = CraftedImage::new("replace")
        .layer(
            TarWriter::new()
                .dir(b"d/")
                .file(b"d/in", b"lower")
                .file(b"f", b"file")
                .dir(b"etc/")
                .symlink(b"link", b"/etc"),
        )
        .layer(
            TarWriter::new()
                .file(b"d", b"now a file")
                .dir(b"f/")
                .file(b"f/new", b"new")
                // Below a lower layer's link: the engine makes it a directory.
                .file(b"link/below", b"below"),
        )
        .opens(["/d", "/d/in", "/f/new", "/link/below", "/etc/below"])
        .load()
        .expect("the engine loads replaced directories");
    let entries = build_ok(
        &image.tag,
        &[],
        Some("/d: ok 10\n/d/in: ENOTDIR\n/f/new: ok 3\n/link/below: ok 5\n/etc/below: ENOENT\n"),
    );
    assert!(matches!(
        entry(&entries, "/d").map(|e| &e.kind),
        Some(ImageEntryKind::File)
    ));
    assert!(entry(&entries, "/d/in").is_none());
    assert!(matches!(
        entry(&entries, "/f").map(|e| &e.kind),
        Some(ImageEntryKind::Dir)
    ));
    assert!(matches!(
        entry(&entries, "/link").map(|e| &e.kind),
        Some(ImageEntryKind::Dir)
    ));
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_whiteouts_and_opaque_directories() {
    let sentinel = HostSentinel::new("whiteouts");
    let image = CraftedImage::new("whiteouts")
        .layer(
            TarWriter::new()
                .dir(b"conf/")
                .file(b"conf/a", b"a")
                .file(b"conf/b", b"b")
                .dir(b"opt/")
                .file(b"opt/old", b"old")
                .file(b"gone", b"gone")
                .dir(b"pair/")
                .file(b"pair/first", b"linked")
                .hard_link(b"pair/second", b"pair/first")
                .dir(b"real/")
                .file(b"real/x", b"x")
                .symlink(b"wlink", b"/real"),
        )
        .layer(
            TarWriter::new()
                .file(b"conf/.wh.a", b"")
                .dir(b"opt/")
                .file(b"opt/.wh..wh..opq", b"")
                .file(b"opt/new", b"new")
                .file(b".wh.gone", b"")
                // One name of a hard-linked pair deleted: the other keeps the content.
                .file(b"pair/.wh.first", b"")
                // A whiteout below a lower layer's link: the engine makes the link an
                // (empty) directory.
                .file(b"wlink/.wh.x", b""),
        )
        .opens([
            "/conf/a",
            "/conf/b",
            "/opt/old",
            "/opt/new",
            "/gone",
            "/opt/",
            "/pair/second",
            "/wlink/",
            "/real/x",
        ])
        .load()
        .expect("the engine loads whiteouts");
    let entries = build_ok(
        &image.tag,
        &[],
        Some(
            "/conf/a: ENOENT\n/conf/b: ok 1\n/opt/old: ENOENT\n/opt/new: ok 3\n/gone: ENOENT\n\
             /opt/: new\n/pair/second: ok 6\n/wlink/:\n/real/x: ok 1\n",
        ),
    );
    for (path, present) in [
        ("/conf/a", false),
        ("/conf/b", true),
        ("/opt/old", false),
        ("/opt/new", true),
        ("/gone", false),
        ("/pair/first", false),
        ("/pair/second", true),
    ] {
        assert_eq!(
            entry(&entries, path).is_some(),
            present,
            "{path}: {entries:?}"
        );
    }
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_hard_links_to_missing_targets() {
    let sentinel = HostSentinel::new("hardlinks");
    // The engine refuses such a layer on load, naming the link; slim's reader gives the
    // same image a named error of its own (hostile_tests.rs, hard links).
    for target in ["nope".to_string(), sentinel.secret()] {
        let refused = CraftedImage::new("hardlink")
            .layer(
                TarWriter::new()
                    .file(b"real", b"real")
                    .hard_link(b"good", b"real")
                    .hard_link(b"missing", target.as_bytes()),
            )
            .opens(["/good", "/missing"])
            .load()
            .expect_err("the engine loads a hard link to a missing target");
        assert!(
            refused.contains("missing") && refused.contains("no such file"),
            "{refused}"
        );
        // slim's reader indexes the same archive; keeping the link is a named error.
        let crafted = CraftedImage::new("hardlink").layer(
            TarWriter::new()
                .file(b"real", b"real")
                .hard_link(b"good", b"real")
                .hard_link(b"missing", target.as_bytes()),
        );
        with_slim_reader(&crafted, &sentinel, |index| {
            rewrite(index, &[b"/good", b"/real"]).expect("a hard link to a file");
            let err = rewrite(index, &[b"/missing"]).expect_err("a dangling hard link");
            let message = err.to_string();
            assert!(
                matches!(err, LayerError::DanglingHardLink { .. })
                    && message.contains("/missing")
                    && message.contains("hint:"),
                "{message}"
            );
        });
    }
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_device_nodes_and_fifos() {
    let sentinel = HostSentinel::new("devices");
    let image = CraftedImage::new("devices")
        .layer(
            TarWriter::new()
                .dir(b"nodes/")
                .device(tar::EntryType::Char, b"nodes/null", 1, 3)
                .device(tar::EntryType::Block, b"nodes/loop", 7, 0)
                .fifo(b"nodes/fifo"),
        )
        .opens(["/nodes/null", "/nodes/fifo", "/nodes/loop", "/nodes/"])
        .load()
        .expect("the engine loads devices and FIFOs");
    // Whether the devices open depends on the engine (its device cgroup; a storage
    // driver on FUSE mounts nodev): the slim image must answer as the original does.
    let entries = build_ok(&image.tag, &[], None);
    for (path, kind) in [
        ("/nodes/null", b'3'),
        ("/nodes/loop", b'4'),
        ("/nodes/fifo", b'6'),
    ] {
        assert!(
            matches!(entry(&entries, path).map(|e| &e.kind), Some(ImageEntryKind::Other(k)) if *k == kind),
            "{path}: {entries:?}"
        );
    }
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_non_utf8_names() {
    let sentinel = HostSentinel::new("names");
    let image = CraftedImage::new("names")
        .layer(
            TarWriter::new()
                .dir(b"names/")
                .file(b"names/caf\xe9", b"latin-1")
                .file(b"names/\xff\xfe", b"bytes")
                .symlink(b"names/link-\xe9", b"caf\xe9"),
        )
        .opens(["/names/"])
        .load()
        .expect("the engine loads non-UTF-8 names");
    let entries = build_ok(
        &image.tag,
        &[("--keep", "/names/**")],
        Some("/names/: caf\\xe9 link-\\xe9 \\xff\\xfe\n"),
    );
    // Three entries below /names, whatever their bytes (read back lossily here).
    let below = entries
        .iter()
        .filter(|e| e.path.starts_with("/names/"))
        .count();
    assert_eq!(below, 3, "{entries:?}");
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_very_long_path() {
    let sentinel = HostSentinel::new("long");
    // 15 names of 200 bytes: about 3,000 bytes, near what the engine's own paths allow
    // (it refuses about 3,900 bytes, where its layer directory reaches PATH_MAX).
    let mut long = String::new();
    for i in 0..15 {
        long.push_str(&format!("/{i:02}{}", "d".repeat(198)));
    }
    long.push_str("/file");
    let image = CraftedImage::new("long")
        .layer(
            TarWriter::new()
                .file(&long.as_bytes()[1..], b"long")
                .symlink(b"to-long", long.as_bytes()),
        )
        .opens([long.as_str(), "/to-long"])
        .load()
        .expect("the engine loads a 3,000-byte path");
    let entries = build_ok(
        &image.tag,
        &[],
        Some(&format!("{long}: ok 4\n/to-long: ok 4\n")),
    );
    assert!(
        matches!(
            entry(&entries, &long).map(|e| &e.kind),
            Some(ImageEntryKind::File)
        ),
        "{entries:?}"
    );
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_sparse_4gib_file() {
    const FOUR_GIB: u64 = 4 << 30;
    let sentinel = HostSentinel::new("sparse");
    // The old GNU format: this engine refuses it on load.
    let refused = CraftedImage::new("gnu-sparse")
        .layer(TarWriter::new().gnu_sparse(b"sparse", FOUR_GIB, 0, b"head"))
        .opens(["/sparse"])
        .load()
        .expect_err("the engine loads a GNU sparse entry");
    assert!(refused.contains("header type 83"), "{refused}");
    for layer in [
        TarWriter::new().gnu_sparse(b"sparse", FOUR_GIB, 0, b"head"),
        TarWriter::new().pax_sparse(b"sparse", FOUR_GIB, &[(0, b"head")]),
    ] {
        // slim's reader: the real name and size, a few KB on disk, refused when kept.
        let crafted = CraftedImage::new("sparse").layer(layer.file(b"after", b"after"));
        with_slim_reader(&crafted, &sentinel, |index| {
            assert_eq!(
                index.get(b"/sparse").map(|n| &n.kind),
                Some(&NodeKind::Sparse { size: FOUR_GIB })
            );
            rewrite(index, &[b"/after"]).expect("the file after the sparse one");
            let err = rewrite(index, &[b"/sparse"]).expect_err("a kept sparse file");
            assert!(matches!(err, LayerError::Sparse { .. }), "{err}");
        });
    }

    // The PAX format: the engine loads it, writing the holes out (4 GiB on its disk), but
    // then cannot export it (`docker save` fails its own layer check). slim says so; its
    // reader handles both formats (hostile_tests.rs, sparse).
    let image = CraftedImage::new("pax-sparse")
        .layer(TarWriter::new().pax_sparse(
            b"sparse",
            FOUR_GIB,
            &[(0, b"head"), (FOUR_GIB - 4, b"tail")],
        ))
        .opens(["/sparse"])
        .load()
        .expect("the engine loads a PAX sparse entry");
    assert_eq!(output(&image.tag), "/sparse: ok 64\n");
    let outcome = BuildCommand::new(&image.tag)
        .unique_tag("hostile")
        .limit(Duration::from_secs(600))
        .run();
    assert_clear_error(&outcome, 1, "the engine could not export");
    sentinel.assert_untouched();
}

#[test]
fn root_engine_hostile_100k_small_files() {
    let sentinel = HostSentinel::new("many");
    let mut layer = TarWriter::new().dir(b"many/");
    for i in 0..100 {
        layer = layer.dir(format!("many/{i:02}/").as_bytes());
        for j in 0..1000 {
            layer = layer.file(
                format!("many/{i:02}/{j:03}").as_bytes(),
                format!("{i}-{j}\n").as_bytes(),
            );
        }
    }
    let image = CraftedImage::new("many")
        .layer(layer)
        .opens(["/many/42/042"])
        .load()
        .expect("the engine loads 100,000 files");
    // All 100,000 are saved and indexed; one directory of them is kept whole (keeping
    // them all only measures the rebuild: `cargo xtask bench build` does that).
    let outcome = BuildCommand::new(&image.tag)
        .unique_tag("hostile")
        .option("--keep", "/many/07/**")
        .limit(Duration::from_secs(600))
        .run();
    let slim = outcome.image();
    assert_eq!(output(&slim.tag), "/many/42/042: ok 6\n");
    let entries = image_entries(&slim.tag);
    let files: Vec<&str> = entries
        .iter()
        .filter(|e| matches!(e.kind, ImageEntryKind::File))
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        files.len(),
        1 + 1000 + 1,
        "hostile-open, /many/07/*, /many/42/042"
    );
    assert!(files.contains(&"/many/07/999") && files.contains(&"/many/42/042"));
    eprintln!(
        "100,000 files, 1,002 kept: slim build {:.1}s, peak RSS {} MiB, phases {:?}",
        outcome.wall.as_secs_f64(),
        outcome.max_rss_kib / 1024,
        outcome.phases()
    );
    sentinel.assert_untouched();
}
