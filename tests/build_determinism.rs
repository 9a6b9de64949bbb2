//! Determinism: the same image and options give the same slim image id and layer digest,
//! on repeat, from another working directory, in another time zone, and with slim's clock
//! moved days away (Debian's `faketime`, which shifts the process's clock through
//! LD_PRELOAD). The image crafted here has what a rebuild could stamp with the time or
//! order by chance: directories the layer does not list (their parents are synthesised),
//! a symlink, a hard link, files of several mtimes, labels and a history, and a package
//! database the rebuild writes trimmed; the SBOM is the same too.
//!
//! Needs root, the Docker engine, a kernel with BTF and bpf_loop, and `faketime` (every
//! test is named `root_engine_…`).

use std::process::Command;

use slim_fixtures::{BuildCommand, CraftedImage, EngineImage, LoadedImage, TarWriter, docker_ok};

fn crafted() -> LoadedImage {
    CraftedImage::new("determinism")
        .layer(
            TarWriter::new()
                .dir(b"app/")
                .file(b"app/a", b"first")
                .symlink(b"app/link", b"a")
                .hard_link(b"app/hard", b"app/a")
                // No entry for /deep or /deep/parent: their directories are implicit.
                .file(b"deep/parent/file", b"deep")
                // A package database, written trimmed to the package whose file is kept.
                .file(
                    b"var/lib/dpkg/status",
                    b"Package: app\nStatus: install ok installed\nArchitecture: all\n\
Version: 1\n\nPackage: gone\nStatus: install ok installed\nVersion: 2\n",
                )
                .file(b"var/lib/dpkg/info/app.list", b"/.\n/app\n/app/a\n/app/b\n")
                .file(
                    b"var/lib/dpkg/info/app.md5sums",
                    b"8b04d5e3775d298e78455efc5ca404d5  app/a\n",
                )
                .file(b"var/lib/dpkg/info/gone.list", b"/.\n/gone\n"),
        )
        .layer(
            TarWriter::new()
                .file(b"app/b", b"second layer")
                .file(b"app/.wh.gone", b""),
        )
        .opens([
            "/app/link",
            "/app/hard",
            "/app/b",
            "/deep/parent/file",
            "/app/",
        ])
        .load()
        .expect("loading the determinism image")
}

/// The slim image's id, layer digests and `Created`, removed from the engine afterwards.
fn build(command: BuildCommand) -> (String, Vec<String>, String) {
    let slim = command.unique_tag("determinism").run().image();
    let created = docker_ok(["image", "inspect", "-f", "{{.Created}}", &slim.tag]);
    (
        slim.engine.id.clone(),
        slim.engine.layers.clone(),
        created.trim().to_string(),
    )
}

#[test]
fn root_engine_same_image_id_on_repeat_from_another_directory_and_time_zone() {
    let image = crafted();
    let original = EngineImage::inspect(&image.tag);
    let sboms = std::env::temp_dir().join(format!("slim-test-sbom-{}", std::process::id()));
    std::fs::create_dir_all(&sboms).expect("creating the SBOM directory");
    let sbom = |n: usize| sboms.join(format!("{n}.cdx.json"));
    let first =
        build(BuildCommand::new(&image.tag).option("--sbom", &sbom(1).display().to_string()));
    let again =
        build(BuildCommand::new(&image.tag).option("--sbom", &sbom(2).display().to_string()));
    assert_eq!(again, first, "a second identical build differs");
    // The same but for the new image's tag (each build gets its own) and the serial
    // number derived from it.
    let read = |n: usize| {
        let text = std::fs::read_to_string(sbom(n)).expect("reading the SBOM");
        let mut bom: serde_json::Value = serde_json::from_str(&text).expect("SBOM JSON");
        assert!(text.contains("pkg:deb/"), "{text}");
        bom["metadata"]["component"]["name"] = serde_json::Value::Null;
        bom["serialNumber"] = serde_json::Value::Null;
        bom
    };
    let (one, two) = (read(1), read(2));
    let _ = std::fs::remove_dir_all(&sboms);
    assert_eq!(one, two, "a second identical build wrote another SBOM");

    let elsewhere = std::env::temp_dir().join(format!("slim-test-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).expect("creating a working directory");
    let moved = build(
        BuildCommand::new(&image.tag)
            .current_dir(&elsewhere)
            .env("TZ", "Pacific/Kiritimati"),
    );
    let _ = std::fs::remove_dir_all(&elsewhere);
    assert_eq!(
        moved, first,
        "another working directory and time zone changed the image"
    );
    // The image says when the original was made, not when slim ran.
    assert!(first.2.starts_with("2023-11-14T22:13:20"), "{first:?}");
    assert_ne!(first.0, original.id);
}

#[test]
fn root_engine_same_image_id_under_a_shifted_clock() {
    // 400 days and 7 hours ahead: another date and another time of day.
    const SHIFT: &str = "+9607h";
    let date = |faked: bool| {
        let mut cmd = Command::new(if faked { "faketime" } else { "date" });
        if faked {
            cmd.args(["-f", SHIFT, "date"]);
        }
        let out = cmd
            .arg("+%F %H")
            .output()
            .unwrap_or_else(|e| panic!("this test needs `faketime` (Debian's faketime): {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_ne!(date(true), date(false), "faketime does not shift the clock");
    let image = crafted();
    let now = build(BuildCommand::new(&image.tag));
    // The monotonic clock is left alone (slim's timeouts use it).
    let shifted = build(
        BuildCommand::new(&image.tag)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .wrapped_in(["faketime", "-f", SHIFT]),
    );
    assert_eq!(shifted, now, "a shifted clock changed the image");
}
