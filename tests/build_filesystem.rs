//! `slim build` reproduces the filesystem structures minifiers are known to break: the
//! merged-/usr directory symlink a shell ENTRYPOINT goes through, a large hard-linked file
//! (kept once, its names as tar hard links), a file capability and a setuid bit, and a
//! non-root USER known by name. Each slim image is run and must do what the original did;
//! its layer is then read back from `docker save` to check the structure itself.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::time::Duration;

use slim_fixtures::{
    BuildCommand, EngineImage, ImageEntry, ImageEntryKind, LINKED_FILE_NAMES, LINKED_FILE_SIZE,
    image, image_entries, run_to_end,
};

const LIMIT: Duration = Duration::from_secs(60);

/// The last entry for `path` across the layers (the one the image shows).
fn entry<'a>(entries: &'a [ImageEntry], path: &str) -> Option<&'a ImageEntry> {
    entries.iter().rev().find(|e| e.path == path)
}

fn output_of(image: &str, run_args: &[&str], args: &[&str]) -> String {
    let (code, stdout, stderr) = run_to_end(image, run_args, args, LIMIT);
    assert_eq!(
        code,
        Some(0),
        "docker run {image} {args:?} failed: stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[test]
fn root_engine_shell_entrypoint_through_the_merged_usr_link_still_runs() {
    let original = image("merged-usr");
    let expected = output_of(&original, &[], &[]);
    assert_eq!(
        expected, "ok\nmarker read through /bin/sh\n",
        "the fixture itself"
    );

    let slim = BuildCommand::new(&original)
        .unique_tag("merged-usr")
        .run()
        .image();
    assert_eq!(
        output_of(&slim.tag, &[], &[]),
        expected,
        "the slim image's ENTRYPOINT [/bin/sh -c …] printed something else"
    );
    assert_eq!(
        slim.engine.config["Entrypoint"],
        EngineImage::inspect(&original).config["Entrypoint"]
    );

    let entries = image_entries(&slim.tag);
    assert_eq!(
        entry(&entries, "/bin").map(|e| &e.kind),
        Some(&ImageEntryKind::Symlink("usr/bin".into())),
        "/bin must stay the symlink to usr/bin"
    );
    assert!(
        matches!(
            entry(&entries, "/usr/bin/dash").map(|e| &e.kind),
            Some(ImageEntryKind::File)
        ),
        "/usr/bin/dash (what /bin/sh runs) is missing"
    );
}

#[test]
fn root_engine_hard_links_capabilities_and_setuid_survive() {
    let original = image("filemodes");
    let before = image_entries(&original);
    // Preconditions: the engine's save of the original carries what we test for.
    let capability = entry(&before, "/usr/local/bin/capcat")
        .and_then(|e| e.xattrs.get("security.capability"))
        .cloned()
        .expect("the original's capcat has no security.capability xattr: fixture broken");
    let setuid_mode = entry(&before, "/usr/local/bin/suid-id")
        .map(|e| e.mode)
        .filter(|mode| mode & 0o4000 != 0)
        .expect("the original's suid-id is not setuid: fixture broken");
    let linked = |entries: &[ImageEntry]| -> Vec<ImageEntryKind> {
        LINKED_FILE_NAMES
            .iter()
            .map(|name| {
                entry(entries, name)
                    .map(|e| e.kind.clone())
                    .unwrap_or(ImageEntryKind::Other(0))
            })
            .collect()
    };
    assert_eq!(
        linked(&before)
            .iter()
            .filter(|k| matches!(k, ImageEntryKind::HardLink(_)))
            .count(),
        LINKED_FILE_NAMES.len() - 1,
        "the original should hold one file and four hard links: {:?}",
        linked(&before)
    );
    let expected = output_of(&original, &[], &[]);
    assert_eq!(
        expected,
        format!("{LINKED_FILE_SIZE} /data/links/big.bin\nCapEff:\t0000000000000400\n0\n1000\n"),
        "the fixture itself (uid 1000 gets cap_net_bind_service from the file, euid 0 \
         from the setuid bit)"
    );

    let build = BuildCommand::new(&original).unique_tag("filemodes").run();
    let slim = build.image();
    assert_eq!(
        output_of(&slim.tag, &[], &[]),
        expected,
        "the slim image behaves differently (file capability or setuid bit lost?)"
    );

    let after = image_entries(&slim.tag);
    // Only /data/links/big.bin was used; its peers come with it, as links.
    let kinds = linked(&after);
    let files: Vec<&str> = LINKED_FILE_NAMES
        .iter()
        .zip(&kinds)
        .filter(|(_, k)| **k == ImageEntryKind::File)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one name holds the content, the rest link to it: {kinds:?}"
    );
    for (name, kind) in LINKED_FILE_NAMES.iter().zip(&kinds) {
        if *name != files[0] {
            assert_eq!(
                kind,
                &ImageEntryKind::HardLink(files[0].to_string()),
                "{name} must be a hard link to {}",
                files[0]
            );
        }
    }
    assert_eq!(
        entry(&after, files[0]).map(|e| e.size),
        Some(LINKED_FILE_SIZE)
    );
    let content: u64 = after.iter().map(|e| e.size).sum();
    assert!(
        content < LINKED_FILE_SIZE * 2,
        "the layer holds {content} bytes: the linked file was copied"
    );
    assert!(
        slim.engine.size < LINKED_FILE_SIZE + 15_000_000,
        "the slim image is {} bytes for about {LINKED_FILE_SIZE} of content",
        slim.engine.size
    );

    let capcat = entry(&after, "/usr/local/bin/capcat").expect("capcat kept");
    assert_eq!(
        capcat.xattrs.get("security.capability"),
        Some(&capability),
        "capcat lost its file capability"
    );
    assert_eq!(
        entry(&after, "/usr/local/bin/suid-id").map(|e| e.mode),
        Some(setuid_mode),
        "suid-id lost its mode bits"
    );
}

#[test]
fn root_engine_non_root_user_by_name_still_works() {
    let original = image("users");
    let expected = output_of(&original, &[], &[]);
    assert_eq!(
        expected, "app\napp\nhome=/home/app\nhome-writable\n",
        "the fixture itself"
    );

    // The image's CMD looks the user up by name (id -un) during the traced run.
    let slim = BuildCommand::new(&original)
        .unique_tag("users")
        .run()
        .image();
    assert_eq!(slim.engine.config["User"], "app");
    assert_eq!(
        output_of(&slim.tag, &[], &[]),
        expected,
        "the slim image's user, group or home differ"
    );
    assert_eq!(
        output_of(&slim.tag, &[], &["id", "-un"]),
        "app\n",
        "docker run SLIM id -un"
    );
    // The tmp keep-list: /tmp and /var/tmp exist with mode 1777, writable by app.
    assert_eq!(
        output_of(
            &slim.tag,
            &[],
            &[
                "/bin/sh",
                "-c",
                "touch /tmp/f /var/tmp/f && echo tmp-writable"
            ]
        ),
        "tmp-writable\n",
        "app cannot write /tmp or /var/tmp in the slim image"
    );
}

#[test]
fn root_engine_exec_commands_run_as_the_image_user_and_their_lookups_are_kept() {
    let original = image("users");
    // The traced run idles (its CMD replaced) while an --exec command checks who it runs
    // as: the image's USER, looked up by name.
    let build = BuildCommand::new(&original)
        .unique_tag("users-exec")
        .option(
            "--cmd",
            r#"["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]"#,
        )
        .option(
            "--exec",
            r#"["/bin/sh", "-c", "test \"$(id -un):$(id -gn)\" = app:app"]"#,
        )
        .run();
    let slim = build.image();
    let probe = build
        .messages()
        .into_iter()
        .find(|l| l.starts_with("slim: probe: exec"))
        .unwrap_or_else(|| panic!("no exec probe line:\n{}", build.stderr));
    assert!(
        probe.contains("→ exit 0"),
        "the --exec command did not run as app:app: {probe}\n{}",
        build.stderr
    );
    assert_eq!(
        output_of(&slim.tag, &[], &["id", "-un"]),
        "app\n",
        "docker run SLIM id -un"
    );
}
