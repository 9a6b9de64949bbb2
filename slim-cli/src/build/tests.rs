//! `slim build` against the fake engine. The tests named `root_…` trace for real (root, BTF
//! and tracefs: a cgroup and the kernel probe) while the fake engine's containers run
//! nothing; it saves the original image from an archive written here and loads the new
//! ones in memory. What a build makes (containers, cgroups, the work directory, the
//! archive, the tag) is in place when it succeeds and gone or given back when it fails.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::json;
use slim_test_kit::{ScratchDir, TarWriter};

use super::*;
use crate::drive::plan::PlanSettings;
use crate::drive::{ContinueAfter, Discovery};
use crate::inspect::ImageInfo;
use crate::interrupt::StopHandle;
use crate::recover::{Owner, WORK_DIR_PREFIX};
use crate::reporter::Silent;
use crate::settings::ProfileChoice;
use crate::test_kit::FakeEngine;
use crate::verify::{VerificationStatus, VerifySettings};

/// Held by the tests that look at this process's work directories, so that one test's
/// directory is not taken for another's leftover.
static WORK_DIRS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TAG: &str = "app.slim:1";
const OLD: &str = "sha256:01d";

/// `app:1` as `docker save` writes it: one layer, a command, no exposed port (the traced
/// run lasts until the container exits, which the fake engine's do at once).
fn original() -> Vec<u8> {
    let layer = TarWriter::new()
        .dir("app/")
        .executable("app/main", "#!/bin/sh\n")
        .file("app/unused", "unused")
        .dir("etc/")
        .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/app/main"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let manifest = json!([{
        "Config": "config.json",
        "RepoTags": ["app:1"],
        "Layers": ["l0/layer.tar"],
    }]);
    TarWriter::new()
        .file("l0/layer.tar", layer.finish())
        .file("config.json", serde_json::to_vec(&config).unwrap())
        .file("manifest.json", serde_json::to_vec(&manifest).unwrap())
        .finish()
}

fn settings(output: PathBuf) -> BuildSettings {
    BuildSettings {
        image_source: crate::image::store::SourceChoice::Auto,
        package_db: true,
        sbom: None,
        seccomp: None,
        image: "app:1".into(),
        tag: Some(TAG.into()),
        output: Some(output),
        run: crate::run::RunSettings {
            ring_buffer_bytes: 1 << 26,
            ..crate::run::RunSettings::default()
        },
        plan: PlanSettings {
            exec: Vec::new(),
            continue_after: ContinueAfter::Probe,
            ready_timeout: Duration::from_secs(10),
            probes: Vec::new(),
            discovery: Discovery::default(),
            host_exec: Vec::new(),
            run: Vec::new(),
            strict: false,
            healthcheck: true,
        },
        keep: keep::KeepOptions::default(),
        profiles: ProfileChoice {
            named: Vec::new(),
            auto: false,
        },
        verify: VerifySettings {
            enabled: true,
            repair_rounds: 3,
        },
        allow_diff: false,
        report: None,
    }
}

/// The work directories of this process.
fn own_work_dirs() -> BTreeSet<PathBuf> {
    let me = Owner::current().unwrap();
    fs_err::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.to_string();
            let owner = Owner::of_run_id(name.strip_prefix(WORK_DIR_PREFIX)?)?;
            (owner == me).then_some(path)
        })
        .collect()
}

/// The names of the containers the engine was asked to create, in order.
fn containers(engine: &FakeEngine) -> Vec<String> {
    engine
        .calls()
        .iter()
        .filter_map(|c| Some(c.strip_prefix("create ")?.split(' ').next()?.to_string()))
        .collect()
}

/// The engine removed each of `containers` after creating it, and its run's cgroup is
/// gone (a container is named after its run).
fn assert_gone(engine: &FakeEngine, containers: &[String]) {
    let calls = engine.calls();
    let hierarchies = crate::cgroup::Hierarchies::detect().unwrap();
    for name in containers {
        let created = calls
            .iter()
            .position(|c| c.starts_with(&format!("create {name} ")))
            .unwrap();
        assert!(
            calls[created..].contains(&format!("remove {name}")),
            "{name} was not removed: {calls:#?}"
        );
        for root in &hierarchies.all {
            let dir = root.join(name);
            assert!(!dir.exists(), "{} was left behind", dir.display());
        }
    }
}

async fn build_with(engine: &FakeEngine, settings: &BuildSettings) -> Result<BuildSummary, Error> {
    let (_handle, mut stop): (StopHandle, StopRequest) = StopRequest::manual();
    build(engine, settings, &Silent, &mut stop).await
}

#[tokio::test]
async fn root_a_build_tags_the_verified_image_and_writes_its_archive() {
    let _work_dirs = WORK_DIRS.lock().await;
    let before = own_work_dirs();
    let dir = ScratchDir::new("build-ok");
    let output = dir.join("app.tar");
    let engine = FakeEngine::default().with_saved_image(original());
    let summary = build_with(&engine, &settings(output.clone()))
        .await
        .unwrap();

    assert_eq!(summary.tag, TAG);
    assert_eq!(summary.verification.status, VerificationStatus::Verified);
    let tagged = engine.image(TAG).expect("the tag names the new image");
    assert_eq!(tagged.info.id, summary.image_id);
    // Nothing ran, so only the keep-lists keep anything.
    assert!(
        tagged.paths.iter().any(|p| p == "/etc/passwd"),
        "{:?}",
        tagged.paths
    );
    assert!(!tagged.paths.iter().any(|p| p == "/app/unused"));
    // The archive is in place under its own name, and is the image the engine holds.
    let names: Vec<_> = fs_err::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["app.tar"]);
    assert_eq!(fs_err::read(&output).unwrap(), tagged.archive);
    // The original's run and verification's.
    let containers = containers(&engine);
    assert_eq!(containers.len(), 2);
    assert_gone(&engine, &containers);
    assert_eq!(own_work_dirs(), before);
}

#[tokio::test]
async fn root_a_build_that_fails_in_verification_gives_the_tag_back_and_leaves_nothing() {
    let _work_dirs = WORK_DIRS.lock().await;
    let before = own_work_dirs();
    let dir = ScratchDir::new("build-undone");
    let old = ImageInfo {
        id: OLD.into(),
        ..ImageInfo::default()
    };
    // The second container, verification's, cannot be created.
    let engine = FakeEngine::default()
        .with_saved_image(original())
        .with_image(TAG, old)
        .failing_from("create", 2);
    let err = build_with(&engine, &settings(dir.join("app.tar")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Engine(EngineError::NameInUse { .. })),
        "{err:?}"
    );

    // The new image was loaded and tagged, then the tag went back to the old image and
    // the new one was removed.
    let calls = engine.calls();
    let loaded = calls.iter().position(|c| c.starts_with("load ")).unwrap();
    let given_back = calls
        .iter()
        .position(|c| *c == format!("tag {OLD} {TAG}"))
        .unwrap_or_else(|| panic!("the tag was not given back: {calls:#?}"));
    assert!(loaded < given_back);
    let removed = calls[given_back..]
        .iter()
        .find_map(|c| c.strip_prefix("remove image "))
        .unwrap_or_else(|| panic!("the new image was not removed: {calls:#?}"));
    assert!(engine.image(removed).is_none());
    assert_eq!(engine.image(TAG).unwrap().info.id, OLD);
    let mut left: Vec<String> = engine.images().into_iter().map(|i| i.info.id).collect();
    left.sort();
    let original_id = engine.image("app:1").unwrap().info.id;
    let mut expected = vec![OLD.to_string(), original_id];
    expected.sort();
    assert_eq!(left, expected);
    // No archive, partial or whole, and no work directory.
    assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
    assert_eq!(own_work_dirs(), before);
    // The original's container was removed; verification's was never made, and its
    // run's cgroup is gone too.
    let containers = containers(&engine);
    assert_eq!(containers.len(), 2);
    assert_gone(&engine, &containers[..1]);
    let hierarchies = crate::cgroup::Hierarchies::detect().unwrap();
    for root in &hierarchies.all {
        assert!(!root.join(&containers[1]).exists());
    }
}

#[test]
fn the_work_directory_goes_when_dropped() {
    let _work_dirs = WORK_DIRS.blocking_lock();
    let work = WorkDir::create().unwrap();
    let path = work.0.clone();
    assert!(path.is_dir());
    assert!(own_work_dirs().contains(&path));
    let id = work.id();
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{id}"
    );
    assert_eq!(
        path.file_name().unwrap().to_string_lossy(),
        format!("{WORK_DIR_PREFIX}{id}")
    );
    fs_err::write(path.join("layer.tar"), b"x").unwrap();
    drop(work);
    assert!(!path.exists());
}
