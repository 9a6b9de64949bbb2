//! Hostile layers fed straight to slim's own readers (the save archive's unpacker, the
//! index, the in-image resolver and the layer writer), without the engine: every entry
//! here is written byte by byte (`slim_test_kit::TarWriter`), so names with `..`, absolute names, links anywhere and
//! sparse records reach slim exactly as a hostile archive would carry them, whatever an
//! engine would have normalised or refused on load.
//!
//! Each test runs in a sandbox holding the work directory and, next to it, a host
//! sentinel file that a breakout would read or overwrite; every test ends by checking that
//! nothing outside the work directory changed and that the sentinel's content never
//! reached the new layer.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::image::index::{FsIndex, IndexError, NodeKind, resolve};
use crate::image::save;
use crate::keep::{ImageRuntime, KeepList, KeepOptions, KeepSet, compute};
use crate::rebuild::layer::{LayerError, write_layer};
use crate::test_kit::record;
use crate::trace::TraceRecord;
use slim_test_kit::TarWriter;

const SECRET: &[u8] = b"HOST SECRET: never in an image";

/// A temporary directory with `work/` (slim's work area) and `secret` (a host file).
struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let root = std::env::temp_dir().join(format!(
            "slim-hostile-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs_err::remove_dir_all(&root);
        fs_err::create_dir_all(root.join("work")).unwrap();
        fs_err::write(root.join("secret"), SECRET).unwrap();
        Sandbox { root }
    }

    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    /// The sentinel's absolute path, as a hostile link would name it.
    fn secret(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        self.root.join("secret").as_os_str().as_bytes().to_vec()
    }

    fn write_layer(&self, name: &str, layer: TarWriter) -> PathBuf {
        let path = self.work().join(name);
        fs_err::write(&path, layer.finish()).unwrap();
        path
    }

    /// Nothing but `work/` and the untouched sentinel is in the sandbox.
    fn assert_untouched(&self) {
        let mut names: Vec<String> = fs_err::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["secret", "work"],
            "something was created next to work/"
        );
        assert_eq!(fs_err::read(self.root.join("secret")).unwrap(), SECRET);
        for dir in [Path::new("/"), &std::env::temp_dir()] {
            assert!(
                !dir.join("slim-hostile-escaped").exists(),
                "an entry escaped to {}",
                dir.display()
            );
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs_err::remove_dir_all(&self.root);
    }
}

/// The keep set of a run that opened `paths`, with no keep-list or profile.
fn keep(index: &FsIndex, paths: &[&[u8]]) -> KeepSet {
    let records: Vec<TraceRecord> = paths.iter().map(record).collect();
    let options = KeepOptions {
        lists: Vec::<KeepList>::new(),
        ..KeepOptions::default()
    };
    compute(index, &records, &ImageRuntime::default(), &options).unwrap()
}

/// One entry of a written layer: its kind byte, link target and content.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    kind: u8,
    link: Vec<u8>,
    content: Vec<u8>,
}

/// The new layer of `set`, read back by name (without the trailing `/` of directories).
fn rebuild(index: &FsIndex, set: &KeepSet) -> Result<BTreeMap<Vec<u8>, Written>, LayerError> {
    let (_, bytes) = write_layer(index, set.paths(), &Default::default(), Vec::new())?;
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut name = entry.path_bytes().into_owned();
        if name.ends_with(b"/") {
            name.pop();
        }
        let link = entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        let kind = entry.header().entry_type().as_byte();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert!(
            !content.windows(SECRET.len()).any(|w| w == SECRET),
            "the host sentinel's content reached the new layer"
        );
        out.insert(
            name,
            Written {
                kind,
                link,
                content,
            },
        );
    }
    Ok(out)
}

fn names(written: &BTreeMap<Vec<u8>, Written>) -> Vec<String> {
    written
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

#[test]
fn hostile_dotdot_and_absolute_names_stay_inside_the_image_root() {
    let sandbox = Sandbox::new("dotdot");
    let layer = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .file(b"../../../../../../slim-hostile-escaped", b"one")
            .file(b"a/../../b/../../abs-escaped", b"two")
            .file(b"/outside", b"three")
            .file(b"./x/./../y/", b"four"),
    );
    let index = FsIndex::from_layers(&[layer]).unwrap();
    for (path, content) in [
        (&b"/slim-hostile-escaped"[..], &b"one"[..]),
        (b"/abs-escaped", b"two"),
        (b"/outside", b"three"),
        (b"/y", b"four"),
    ] {
        let node = index.get(path).unwrap_or_else(|| panic!("{path:?}"));
        assert_eq!(index.read_to_vec(node, 100).unwrap(), content);
    }
    let set = keep(&index, &[b"/slim-hostile-escaped", b"/../../outside"]);
    let written = rebuild(&index, &set).unwrap();
    assert_eq!(names(&written), ["outside", "slim-hostile-escaped"]);
    sandbox.assert_untouched();
}

#[test]
fn hostile_save_archive_members_cannot_escape_or_read_the_host() {
    let sandbox = Sandbox::new("save");
    let layer = TarWriter::new().file(b"app", b"app").finish();
    let secret = sandbox.secret();
    let archive = TarWriter::new()
        .file(b"../../../slim-hostile-escaped", b"x")
        .file(b"/abs-escaped", b"y")
        .file(b"one/layer.tar", &layer)
        // The engine links a layer an image holds twice to its first copy.
        .symlink(b"two/layer.tar", b"../one/layer.tar")
        // A hostile link to a host file, named as a layer and as the config.
        .symlink(b"three/layer.tar", &secret)
        .symlink(b"cfg.json", b"../../../../../../../../etc/passwd")
        .file(b"c.json", b"{}")
        .file(
            b"manifest.json",
            br#"[{"Config":"c.json","Layers":["one/layer.tar","two/layer.tar"]}]"#,
        )
        .finish();
    let work = sandbox.work().join("save");
    fs_err::create_dir_all(&work).unwrap();
    let saved = save::unpack(archive.as_slice(), &work).unwrap();
    assert_eq!(saved.layers.len(), 2);
    assert_eq!(saved.layers[0], saved.layers[1]);
    assert!(saved.layers[0].starts_with(&work));
    assert!(work.join("files/slim-hostile-escaped").is_file());
    assert!(work.join("files/abs-escaped").is_file());

    // A layer or config that is a link out of the archive is missing, never read.
    for manifest in [
        br#"[{"Config":"c.json","Layers":["three/layer.tar"]}]"#.as_slice(),
        br#"[{"Config":"cfg.json","Layers":[]}]"#,
    ] {
        let archive = TarWriter::new()
            .symlink(b"three/layer.tar", &secret)
            .symlink(b"cfg.json", b"../../../../../../../../etc/passwd")
            .file(b"c.json", b"{}")
            .file(b"manifest.json", manifest)
            .finish();
        let work = sandbox.work().join("save2");
        let _ = fs_err::remove_dir_all(&work);
        fs_err::create_dir_all(&work).unwrap();
        let err = save::unpack(archive.as_slice(), &work).unwrap_err();
        assert!(matches!(err, save::SaveError::MissingMember(_)), "{err}");
    }
    sandbox.assert_untouched();
}

#[test]
fn hostile_symlinks_out_of_the_root_resolve_inside_the_image() {
    let sandbox = Sandbox::new("links");
    let secret = sandbox.secret();
    let mut relative = b"../../../../../../../../../..".to_vec();
    relative.extend_from_slice(&secret);
    let layer = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .dir(b"d/")
            .symlink(b"abs", &secret)
            .symlink(b"d/rel", &relative)
            .symlink(b"up", b"../../../..")
            .symlink(b"etc-link", b"/etc")
            .dir(b"etc/")
            .file(b"etc/passwd", b"image passwd"),
    );
    let index = FsIndex::from_layers(&[layer]).unwrap();
    // The image does not hold the sentinel's path: both links lead nowhere.
    assert_eq!(resolve(&index, b"/abs", true).target, None);
    assert_eq!(resolve(&index, b"/d/rel", true).target, None);
    // `..` stops at the image's root; `/etc` is the image's /etc.
    assert_eq!(resolve(&index, b"/up", true).target, Some(b"/".to_vec()));
    assert_eq!(
        resolve(&index, b"/up/../etc-link/passwd", true).target,
        Some(b"/etc/passwd".to_vec())
    );
    let set = keep(&index, &[b"/abs", b"/d/rel", b"/up/etc-link/passwd"]);
    let written = rebuild(&index, &set).unwrap();
    assert_eq!(
        names(&written),
        ["abs", "d", "d/rel", "etc", "etc-link", "etc/passwd", "up"]
    );
    assert_eq!(written[&b"abs"[..]].link, secret);
    assert_eq!(written[&b"etc/passwd"[..]].content, b"image passwd");
    sandbox.assert_untouched();
}

#[test]
fn hostile_symlink_loops_end_without_a_target() {
    let sandbox = Sandbox::new("loops");
    let layer = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .symlink(b"a", b"b")
            .symlink(b"b", b"a")
            .symlink(b"self", b"self")
            .symlink(b"deep", b"deep/deep/deep")
            .symlink(b"dot", b"./dot/../dot"),
    );
    let index = FsIndex::from_layers(&[layer]).unwrap();
    for path in [&b"/a"[..], b"/self", b"/deep/x", b"/dot", b"/a/b/c"] {
        assert_eq!(resolve(&index, path, true).target, None, "{path:?}");
    }
    let set = keep(&index, &[b"/a", b"/self/x", b"/deep/x", b"/dot"]);
    let written = rebuild(&index, &set).unwrap();
    assert_eq!(names(&written), ["a", "b", "deep", "dot", "self"]);
    sandbox.assert_untouched();
}

#[test]
fn hostile_directory_replaced_by_a_file_and_entries_through_a_layers_own_link() {
    let sandbox = Sandbox::new("replace");
    let l0 = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .dir(b"d/")
            .file(b"d/in", b"lower")
            .file(b"f", b"file")
            .dir(b"etc/")
            .symlink(b"old-link", b"/etc"),
    );
    let l1 = sandbox.write_layer(
        "1.tar",
        TarWriter::new()
            // A directory becomes a file, a file a directory.
            .file(b"d", b"now a file")
            .dir(b"f/")
            .file(b"f/new", b"new")
            // Below a link of a lower layer: the link becomes a directory.
            .file(b"old-link/x", b"below")
            // Through a link this layer wrote: where the engine writes it, in the image.
            .symlink(b"own", b"/etc")
            .file(b"own/through", b"through")
            .symlink(b"own2", b"own")
            .file(b"own2/twice", b"twice"),
    );
    let index = FsIndex::from_layers(&[l0, l1.clone()]).unwrap();
    assert!(matches!(
        index.get(b"/d").unwrap().kind,
        NodeKind::File { .. }
    ));
    assert!(index.get(b"/d/in").is_none());
    assert!(matches!(index.get(b"/f").unwrap().kind, NodeKind::Dir));
    assert!(matches!(
        index.get(b"/old-link").unwrap().kind,
        NodeKind::Dir
    ));
    assert!(index.get(b"/etc/through").is_some());
    assert!(index.get(b"/etc/twice").is_some());
    assert!(index.get(b"/own/through").is_none());
    let set = keep(&index, &[b"/d", b"/d/in", b"/f/new", b"/own/through"]);
    let written = rebuild(&index, &set).unwrap();
    assert_eq!(
        names(&written),
        ["d", "etc", "etc/through", "f", "f/new", "own"]
    );
    assert_eq!(written[&b"d"[..]].content, b"now a file");

    // A layer's own link that leads nowhere: the entry cannot be placed, and the error
    // names it.
    let bad = sandbox.write_layer(
        "2.tar",
        TarWriter::new()
            .symlink(b"nowhere", b"/missing")
            .file(b"nowhere/x", b"x"),
    );
    let err = FsIndex::from_layers(&[bad]).unwrap_err();
    assert!(
        matches!(err, IndexError::ThroughDanglingLink { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("/nowhere/x") && message.contains("hint:"),
        "{message}"
    );
    sandbox.assert_untouched();
}

#[test]
fn hostile_whiteouts_and_opaque_directories() {
    let sandbox = Sandbox::new("whiteouts");
    let l0 = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .dir(b"etc/")
            .file(b"etc/a", b"a")
            .file(b"etc/b", b"b")
            .dir(b"opt/")
            .file(b"opt/old", b"old")
            .dir(b"keep/")
            .file(b"keep/x", b"x")
            .dir(b"real/")
            .file(b"real/x", b"x")
            .symlink(b"wlink", b"/real"),
    );
    let l1 = sandbox.write_layer(
        "1.tar",
        TarWriter::new()
            .file(b"etc/.wh.a", b"")
            .file(b"opt/new", b"new")
            .file(b"opt/.wh..wh..opq", b"")
            // Whiteouts that name no entry, or climb out: no effect outside their directory.
            .file(b"keep/.wh.", b"")
            .file(b"keep/.wh..", b"")
            .file(b"keep/.wh...", b"")
            .file(b"keep/../../../.wh.etc", b"")
            // Below a lower layer's link, or in a directory no layer made: the engine
            // makes the directory (measured: the link becomes an empty directory).
            .file(b"wlink/.wh.x", b"")
            .file(b"newdir/.wh.y", b""),
    );
    let index = FsIndex::from_layers(&[l0, l1]).unwrap();
    assert!(
        index.get(b"/etc").is_none(),
        "the root-level whiteout of etc"
    );
    assert!(index.get(b"/opt/old").is_none());
    assert!(index.get(b"/opt/new").is_some());
    assert!(index.get(b"/keep/x").is_some());
    assert_eq!(index.get(b"/wlink").unwrap().kind, NodeKind::Dir);
    assert!(index.get(b"/real/x").is_some());
    assert_eq!(index.get(b"/newdir").unwrap().kind, NodeKind::Dir);
    let set = keep(&index, &[b"/etc/b", b"/opt/new", b"/opt/old", b"/keep/x"]);
    let written = rebuild(&index, &set).unwrap();
    assert_eq!(names(&written), ["keep", "keep/x", "opt", "opt/new"]);
    sandbox.assert_untouched();
}

#[test]
fn hostile_hard_links_to_missing_targets_fail_with_their_names() {
    let sandbox = Sandbox::new("hardlinks");
    let secret = sandbox.secret();
    let layer = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .file(b"real", b"real")
            .hard_link(b"good", b"real")
            .hard_link(b"missing", b"nope")
            .hard_link(b"host", &secret)
            .hard_link(b"loop1", b"loop2")
            .hard_link(b"loop2", b"loop1")
            .dir(b"dir/")
            .hard_link(b"to-dir", b"dir"),
    );
    // A later layer deletes the first name of a linked pair: the other keeps the content.
    let upper = sandbox.write_layer("1.tar", TarWriter::new().file(b".wh.real", b""));
    let index = FsIndex::from_layers(&[layer, upper]).unwrap();
    assert!(index.get(b"/real").is_none());
    let written = rebuild(&index, &keep(&index, &[b"/good"])).unwrap();
    assert_eq!(names(&written), ["good"]);
    assert_eq!(written[&b"good"[..]].content, b"real");
    for (path, target) in [
        (&b"/missing"[..], "/nope"),
        (b"/host", &*String::from_utf8_lossy(&secret)),
        (b"/loop1", "/loop2"),
        (b"/to-dir", "/dir"),
    ] {
        let err = rebuild(&index, &keep(&index, &[path])).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, LayerError::DanglingHardLink { .. })
                && message.contains(&*String::from_utf8_lossy(path))
                && message.contains(target)
                && message.contains("hint:"),
            "{message}"
        );
    }
    sandbox.assert_untouched();
}

#[test]
fn hostile_device_nodes_and_fifos_are_copied_as_nodes() {
    let sandbox = Sandbox::new("devices");
    let layer = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .dir(b"devices/")
            .device(tar::EntryType::Char, b"devices/null", 1, 3)
            .device(tar::EntryType::Block, b"devices/sda", 8, 0)
            .device(tar::EntryType::Fifo, b"fifo", 0, 0),
    );
    let index = FsIndex::from_layers(&[layer]).unwrap();
    assert_eq!(
        index.get(b"/devices/null").unwrap().kind,
        NodeKind::CharDevice { major: 1, minor: 3 }
    );
    let set = keep(&index, &[b"/devices/null", b"/devices/sda", b"/fifo"]);
    let (_, bytes) = write_layer(&index, set.paths(), &Default::default(), Vec::new()).unwrap();
    let mut seen = Vec::new();
    for entry in tar::Archive::new(bytes.as_slice()).entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        seen.push((
            entry.path_bytes().into_owned(),
            h.entry_type().as_byte(),
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        ));
    }
    assert_eq!(
        seen,
        [
            (b"devices/".to_vec(), b'5', 0, 0),
            (b"devices/null".to_vec(), b'3', 1, 3),
            (b"devices/sda".to_vec(), b'4', 8, 0),
            (b"fifo".to_vec(), b'6', 0, 0),
        ]
    );
    sandbox.assert_untouched();
}

#[test]
fn hostile_non_utf8_names_and_a_very_long_path_round_trip() {
    let sandbox = Sandbox::new("names");
    let mut long = Vec::new();
    for i in 0..15 {
        long.extend_from_slice(format!("{i:02}{}/", "d".repeat(198)).as_bytes());
    }
    long.extend_from_slice(b"file");
    let layer = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .file(b"caf\xe9", b"latin-1")
            .file(b"bad-\xff\xfe-utf8", b"bytes")
            .symlink(b"link-\xe9", b"caf\xe9")
            .file(&long, b"long")
            .symlink(b"to-long", [b"/".as_slice(), &long].concat()),
    );
    let index = FsIndex::from_layers(&[layer]).unwrap();
    assert!(long.len() > 3000);
    let set = keep(&index, &[b"/link-\xe9", b"/bad-\xff\xfe-utf8", b"/to-long"]);
    let written = rebuild(&index, &set).unwrap();
    assert_eq!(written[&b"caf\xe9"[..]].content, b"latin-1");
    assert_eq!(written[&b"link-\xe9"[..]].link, b"caf\xe9");
    assert_eq!(written[&b"bad-\xff\xfe-utf8"[..]].content, b"bytes");
    assert_eq!(written[&long].content, b"long");
    assert_eq!(written[&b"to-long"[..]].link.len(), long.len() + 1);
    sandbox.assert_untouched();
}

#[test]
fn hostile_sparse_files_are_indexed_by_their_real_name_and_refused_when_kept() {
    let sandbox = Sandbox::new("sparse");
    const FOUR_GIB: u64 = 4 << 30;
    let layer = sandbox.write_layer(
        "0.tar",
        TarWriter::new()
            .pax_sparse(
                b"pax-sparse",
                FOUR_GIB,
                &[(0, b"head"), (FOUR_GIB - 4, b"tail")],
            )
            .gnu_sparse(b"gnu-sparse", FOUR_GIB, 1 << 20, b"data")
            .file(b"after", b"after"),
    );
    // The layer holds a few KB for two 4 GiB files.
    assert!(fs_err::metadata(&layer).unwrap().len() < 16 << 10);
    let index = FsIndex::from_layers(&[layer]).unwrap();
    for path in [&b"/pax-sparse"[..], b"/gnu-sparse"] {
        assert_eq!(
            index.get(path).map(|n| &n.kind),
            Some(&NodeKind::Sparse { size: FOUR_GIB }),
            "{path:?}"
        );
    }
    assert!(index.get(b"/GNUSparseFile.0/pax-sparse").is_none());
    let after = index.get(b"/after").unwrap();
    assert_eq!(index.read_to_vec(after, 100).unwrap(), b"after");
    assert!(index.open(index.get(b"/pax-sparse").unwrap()).is_err());

    // Unused, they cost nothing; kept, the build stops with their name.
    let written = rebuild(&index, &keep(&index, &[b"/after"])).unwrap();
    assert_eq!(names(&written), ["after"]);
    let err = rebuild(&index, &keep(&index, &[b"/pax-sparse"])).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, LayerError::Sparse { size: FOUR_GIB, .. })
            && message.contains("/pax-sparse")
            && message.contains("hint:"),
        "{message}"
    );
    sandbox.assert_untouched();
}

#[test]
fn hostile_sandbox_check_sees_a_breakout() {
    // The check the tests above rely on does catch a file written next to work/.
    let sandbox = Sandbox::new("self-check");
    fs_err::write(sandbox.root.join("stray"), b"x").unwrap();
    let caught = std::panic::catch_unwind(|| sandbox.assert_untouched());
    assert!(caught.is_err());
}
