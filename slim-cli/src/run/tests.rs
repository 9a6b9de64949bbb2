//! Tests of the traced run. Those named `root_…` load the real probe and create a real
//! cgroup (root, BTF and tracefs needed) but drive a fake engine, so they check every way
//! out of a run without a container.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;
use crate::engine::EngineError;
use crate::error::Error;
use crate::interrupt::StopHandle;
use crate::test_kit::FakeEngine;
use slim_test_kit::announced_run_id;

fn settings() -> TraceSettings {
    TraceSettings {
        image: "app:1".into(),
        output: OutputTarget::Stdout,
        run: RunSettings {
            ring_buffer_bytes: 1 << 26,
            ..RunSettings::default()
        },
    }
}

fn image() -> ImageInfo {
    ImageInfo {
        id: "sha256:abc".into(),
        reference: "app:1".into(),
        cmd: Some(vec!["serve".into()]),
        ..ImageInfo::default()
    }
}

#[test]
fn the_container_runs_the_inspected_image_in_the_run_cgroup() {
    let spec = container_spec(&image(), &settings().run, "0a1b2c", "/slim-0a1b2c");
    assert_eq!(spec.image, "sha256:abc");
    assert_eq!(spec.name, "slim-0a1b2c");
    assert_eq!(
        spec.labels,
        [("slim.run".to_string(), "0a1b2c".to_string())]
    );
    assert_eq!(spec.cgroup_parent, "/slim-0a1b2c");
    // The image's own CMD and ENTRYPOINT apply.
    assert_eq!(spec.cmd, None);
    assert_eq!(spec.entrypoint, None);
}

#[test]
fn args_replace_cmd_and_options_override_the_image() {
    let s = RunSettings {
        args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
        name: Some("mine".into()),
        env: vec!["A=1".into()],
        user: Some("1000:1000".into()),
        workdir: Some("/srv".into()),
        entrypoint: Some("/bin/env".into()),
        network: Some("host".into()),
        cap_add: vec!["NET_ADMIN".into()],
        ..settings().run
    };
    let spec = container_spec(&image(), &s, "0a1b2c", "/slim-0a1b2c");
    assert_eq!(spec.name, "mine");
    assert_eq!(
        spec.cmd,
        Some(vec!["/bin/sh".into(), "-c".into(), "true".into()])
    );
    assert_eq!(spec.entrypoint, Some(vec!["/bin/env".into()]));
    assert_eq!(spec.env, ["A=1"]);
    assert_eq!(spec.user.as_deref(), Some("1000:1000"));
    assert_eq!(spec.working_dir.as_deref(), Some("/srv"));
    assert_eq!(spec.network.as_deref(), Some("host"));
    assert_eq!(spec.cap_add, ["NET_ADMIN"]);
    assert!(
        spec.security_opt.is_empty(),
        "the engine's own seccomp profile"
    );
}

#[test]
fn a_seccomp_profile_goes_to_the_engine_as_its_json_text() {
    let s = RunSettings {
        seccomp: Some(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#.into()),
        ..settings().run
    };
    let spec = container_spec(&image(), &s, "0a1b2c", "/slim-0a1b2c");
    assert_eq!(
        spec.security_opt,
        [r#"seccomp={"defaultAction":"SCMP_ACT_ERRNO"}"#]
    );
}

#[test]
fn run_ids_name_their_owner_in_letters_and_digits() {
    let id = new_run_id().unwrap();
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
    assert_ne!(id, new_run_id().unwrap());
    let owner = crate::recover::Owner::of_run_id(&id).expect("an owner in the run id");
    assert_eq!(owner, crate::recover::Owner::current().unwrap());
    assert!(owner.is_alive());
}

#[test]
fn summary_names_exit_code_counts_and_logs() {
    let summary = TraceSummary {
        run_id: "0a".into(),
        container: "slim-0a".into(),
        end: RunEnd::Exited,
        exit_code: 3,
        events: 10,
        records: 4,
        unique_paths: 2,
        lost: 0,
        last_logs: vec!["boom".into()],
    };
    let lines = summary.lines();
    assert_eq!(lines[0], "container slim-0a exited with code 3");
    assert_eq!(lines[2], "  | boom");
    assert_eq!(
        lines[3],
        "trace: 10 events, 4 records, 2 unique paths, 0 lost"
    );
}

/// The fake engine, holding the image `app:1`.
fn engine() -> FakeEngine {
    FakeEngine::default().with_image("app:1", image())
}

/// Keeps every step and warning.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Reporter for Recorder {
    fn step(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }

    fn warn(&self, message: &str) {
        self.0.lock().unwrap().push(format!("warning: {message}"));
    }
}

impl Recorder {
    /// The run id from the run's first step (`run <id>: cgroup …`).
    fn run_id(&self) -> Option<String> {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .find_map(|l| announced_run_id(l))
            .map(str::to_string)
    }
}

fn scratch_output(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("slim-run-{name}-{}", std::process::id()));
    let _ = fs_err::remove_dir_all(&dir);
    fs_err::create_dir_all(&dir).unwrap();
    dir.join("trace.jsonl")
}

fn assert_no_cgroup_left(run_id: &str) {
    let hierarchies = crate::cgroup::Hierarchies::detect().unwrap();
    for root in hierarchies.all {
        let dir = root.join(format!("slim-{run_id}"));
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
}

async fn run_fake(
    engine: &FakeEngine,
    settings: &TraceSettings,
) -> (Result<TraceSummary, Error>, Recorder) {
    let reporter = Recorder::default();
    let (_handle, mut stop): (StopHandle, StopRequest) = StopRequest::manual();
    // As `slim trace` reports it.
    let result = trace(engine, settings, &reporter, &mut stop)
        .await
        .map_err(Error::from);
    (result, reporter)
}

#[tokio::test]
async fn a_missing_image_creates_nothing() {
    let engine = engine();
    let out = scratch_output("missing");
    let s = TraceSettings {
        image: "missing:1".into(),
        output: OutputTarget::File(out.clone()),
        ..settings()
    };
    let (result, reporter) = run_fake(&engine, &s).await;
    assert!(matches!(
        result,
        Err(Error::Engine(EngineError::ImageNotFound { .. }))
    ));
    assert_eq!(engine.calls(), ["inspect missing:1"]);
    assert_eq!(reporter.run_id(), None, "no cgroup may be created");
    assert_eq!(fs_err::read_dir(out.parent().unwrap()).unwrap().count(), 0);
    fs_err::remove_dir(out.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn an_unwritable_output_fails_before_anything_is_created() {
    let engine = engine();
    let s = TraceSettings {
        output: OutputTarget::File(Path::new("/nonexistent-slim-dir/t.jsonl").into()),
        ..settings()
    };
    let (result, reporter) = run_fake(&engine, &s).await;
    assert!(matches!(result, Err(Error::Output(_))));
    assert_eq!(reporter.run_id(), None);
}

#[tokio::test]
async fn root_failed_start_removes_the_container_and_the_cgroup() {
    let engine = engine().failing("start");
    let out = scratch_output("failed-start");
    let s = TraceSettings {
        output: OutputTarget::File(out.clone()),
        ..settings()
    };
    let (result, reporter) = run_fake(&engine, &s).await;
    assert!(
        matches!(result, Err(Error::Engine(EngineError::StartFailed { .. }))),
        "{result:?}"
    );
    let run_id = reporter.run_id().expect("the cgroup was created");
    let name = format!("slim-{run_id}");
    assert_eq!(
        engine.calls(),
        [
            "inspect app:1".to_string(),
            format!("create {name} in /{name}"),
            format!("start {name}"),
            format!("remove {name}"),
        ]
    );
    assert_no_cgroup_left(&run_id);
    assert_eq!(fs_err::read_dir(out.parent().unwrap()).unwrap().count(), 0);
    fs_err::remove_dir(out.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn root_a_panic_in_the_run_still_cleans_up() {
    let engine = engine().panicking_in_wait();
    let (result, reporter) = run_fake(&engine, &settings()).await;
    assert!(matches!(result, Err(Error::Internal(_))), "{result:?}");
    let run_id = reporter.run_id().expect("the cgroup was created");
    assert_eq!(
        engine.calls().last().map(String::as_str),
        Some(format!("remove slim-{run_id}").as_str())
    );
    assert_no_cgroup_left(&run_id);
}

#[tokio::test]
async fn root_a_finished_run_writes_its_trace_and_cleans_up() {
    let engine = engine().with_exit_code(3);
    let out = scratch_output("finished");
    let s = TraceSettings {
        output: OutputTarget::File(out.clone()),
        ..settings()
    };
    let (result, reporter) = run_fake(&engine, &s).await;
    let summary = result.unwrap();
    let run_id = reporter.run_id().unwrap();
    assert_eq!(summary.run_id, run_id);
    assert_eq!(summary.exit_code, 3);
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.last_logs, ["the last line"]);
    // Nothing ran in the cgroup: an empty trace, written whole.
    assert_eq!(fs_err::read_to_string(&out).unwrap(), "");
    assert_eq!(
        engine.calls().last().map(String::as_str),
        Some(format!("remove slim-{run_id}").as_str())
    );
    assert_no_cgroup_left(&run_id);
    fs_err::remove_dir_all(out.parent().unwrap()).unwrap();
}
