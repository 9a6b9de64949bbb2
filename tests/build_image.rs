//! The image `slim build` writes, as the engine sees it: the same input gives the same
//! image id and layer digest (with or without `--output`, whose archive holds the same
//! image in an OCI layout), and every config field of the original survives (the labels
//! gain `slim.source.image`, `slim.source.id` and `slim.version`).
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{BuildCommand, BuildOutcome, EngineImage, TestContainer, image};

#[test]
fn root_engine_two_builds_of_the_same_image_give_the_same_image_id() {
    // A server with worker processes and an HTTP probe: the traced run has more room to
    // vary than a one-shot command.
    let original = image("nginx");
    let first_build = BuildCommand::new(&original).unique_tag("determinism").run();
    let first = first_build.image();
    // The second also writes the archive: --output must not change the image.
    let archive =
        std::env::temp_dir().join(format!("slim-test-archive-{}.tar", std::process::id()));
    let _ = std::fs::remove_file(&archive);
    let second_build = BuildCommand::new(&original)
        .unique_tag("determinism")
        .option("--output", archive.to_str().expect("UTF-8 temp dir"))
        .run();
    let second = second_build.image();
    assert_ne!(first.tag, second.tag);
    let members = archive_members(&archive);
    let _ = std::fs::remove_file(&archive);
    for member in ["oci-layout", "index.json", "manifest.json"] {
        assert!(
            members.iter().any(|m| m == member),
            "the --output archive lacks {member}: {members:?}"
        );
    }
    let config_blob = format!(
        "blobs/sha256/{}",
        second.engine.id.trim_start_matches("sha256:")
    );
    assert!(
        members.contains(&config_blob),
        "the --output archive does not hold the loaded image's config {config_blob}: {members:?}"
    );
    assert_eq!(
        second.engine.layers,
        first.engine.layers,
        "the layer digest changed between two identical builds; {}",
        what_differs(&first_build, &second_build)
    );
    assert_eq!(
        second.engine.id, first.engine.id,
        "the image id changed between two identical builds"
    );
}

/// What two builds' reports say differently: the paths kept by one only, with their
/// reasons, and each verification.
fn what_differs(first: &BuildOutcome, second: &BuildOutcome) -> String {
    let kept = |build: &BuildOutcome| -> Vec<Value> {
        build
            .report
            .as_ref()
            .and_then(|r| r["keep"]["paths"].as_array().cloned())
            .unwrap_or_default()
    };
    let (a, b) = (kept(first), kept(second));
    let path = |p: &Value| p["path"].clone();
    let only = |x: &[Value], y: &[Value]| -> Vec<Value> {
        x.iter()
            .filter(|p| !y.iter().any(|q| path(q) == path(p)))
            .cloned()
            .collect()
    };
    let verification = |build: &BuildOutcome| {
        build
            .report
            .as_ref()
            .map(|r| r["verification"].clone())
            .unwrap_or_default()
    };
    format!(
        "kept by the first only: {:?}\nkept by the second only: {:?}\nverification: {} / {}",
        only(&a, &b),
        only(&b, &a),
        verification(first),
        verification(second)
    )
}

/// The member names of a tar archive.
fn archive_members(path: &std::path::Path) -> Vec<String> {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("the --output archive {}: {e}", path.display()));
    let mut archive = tar::Archive::new(file);
    archive
        .entries()
        .expect("a tar archive")
        .map(|e| {
            let e = e.expect("a tar entry");
            let path = e.path().expect("a member name");
            path.to_string_lossy().trim_end_matches('/').to_string()
        })
        .collect()
}

/// Every field the config fixture sets (ENTRYPOINT, CMD, ENV, WORKDIR, USER, EXPOSE,
/// VOLUME, LABEL, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD).
const SET_FIELDS: &[&str] = &[
    "Entrypoint",
    "Cmd",
    "Env",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
];

/// `--output` naming a FIFO (or /dev/null) is written in place: a finished archive renamed
/// over it would replace the node with a file.
#[test]
fn root_engine_output_to_a_fifo_streams_the_archive_and_leaves_the_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = std::env::temp_dir().join(format!("slim-test-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the FIFO's directory");
    let fifo = dir.join("image.tar");
    let c_path = std::ffi::CString::new(fifo.to_str().expect("UTF-8 temp dir")).expect("no NUL");
    // SAFETY: mkfifo on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || archive_members(&fifo))
    };
    let built = BuildCommand::new(&image("merged-usr"))
        .unique_tag("output-fifo")
        .flag("--no-verify")
        .option("--output", fifo.to_str().expect("UTF-8 temp dir"))
        .run()
        .image();
    let members = reader.join().expect("the FIFO reader");
    let is_fifo = std::fs::metadata(&fifo).map(|m| m.file_type().is_fifo());
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("listing the FIFO's directory")
        .map(|e| e.expect("a directory entry").file_name())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        members.iter().any(|m| m == "manifest.json"),
        "the archive read from the FIFO for {}: {members:?}",
        built.tag
    );
    assert!(
        matches!(is_fifo, Ok(true)),
        "--output replaced the FIFO: {is_fifo:?}"
    );
    assert_eq!(left.len(), 1, "files next to the FIFO: {left:?}");
}

#[test]
fn root_engine_every_config_field_survives() {
    let original = image("config");
    let before = EngineImage::inspect(&original);
    for field in SET_FIELDS {
        assert!(
            !before.config[*field].is_null(),
            "the config fixture does not set {field}: {}",
            before.config
        );
    }
    let build = BuildCommand::new(&original).unique_tag("config").run();
    let slim = build.image();

    assert_eq!(slim.engine.platform, before.platform, "Os/Architecture");

    // Labels: the original ones plus slim's own.
    let mut labels = before.config["Labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert("slim.source.image".into(), Value::from(original.as_str()));
    labels.insert("slim.source.id".into(), Value::from(before.id.as_str()));
    let got_labels = slim.engine.config["Labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let version = got_labels
        .get("slim.version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    assert!(!version.is_empty(), "no slim.version label: {got_labels:?}");
    labels.insert("slim.version".into(), Value::from(version));
    assert_eq!(Value::Object(got_labels), Value::Object(labels), "Labels");

    // Everything else in Config is the original's, field by field.
    let fields = |config: &Value| -> Vec<String> {
        config
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut all = fields(&before.config);
    all.extend(fields(&slim.engine.config));
    all.sort();
    all.dedup();
    for field in all.iter().filter(|f| *f != "Labels") {
        assert_eq!(
            slim.engine.config[field.as_str()],
            before.config[field.as_str()],
            "Config.{field} differs"
        );
    }

    // And the slim image still serves (python3 -m http.server as uid 1000).
    let theirs = TestContainer::start(&original, &[], &[]);
    let ours = TestContainer::start(&slim.tag, &[], &[]);
    let expected = theirs.get(8080, "/", Duration::from_secs(30));
    let got = ours.get(8080, "/", Duration::from_secs(30));
    assert_eq!(expected.status, 200);
    assert_eq!((got.status, got.body), (expected.status, expected.body));
}
