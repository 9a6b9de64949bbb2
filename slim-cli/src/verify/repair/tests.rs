//! The verify and repair loop on a small image, against the fake engine: the new images
//! are really written and loaded (the fake engine reads their archives), and the
//! application is a stand-in for the traced run that reads its files from whatever image
//! it is given, stopping at the first one missing.

use std::sync::Mutex;

use serde_json::json;
use slim_test_kit::{ScratchDir, TarWriter};

use super::*;
use crate::interrupt::StopHandle;
use crate::keep::KeepOptions;
use crate::rebuild::archive::LABEL_SOURCE_IMAGE;
use crate::reporter::Silent;
use crate::test_kit::{FakeEngine, record};
use crate::verify::{Difference, MissedFile};
use slim_probe_ebpf::CallRecord;

const TAG: &str = "app.slim:1";

/// The application: reads `reads` in order from the image it runs in, as far as the
/// first that is missing, and answers `probes`; remembers the images it ran.
struct App<'a> {
    engine: &'a FakeEngine,
    reads: Vec<&'static str>,
    probes: Vec<ProbeResult>,
    ran: Mutex<Vec<String>>,
}

impl Replay for App<'_> {
    async fn replay(
        &self,
        tag: &str,
        _: &dyn Reporter,
        _: &mut StopRequest,
    ) -> Result<VerifyRun, VerifyError> {
        let image = self
            .engine
            .image(tag)
            .unwrap_or_else(|| panic!("verification ran {tag}, which the engine lacks"));
        self.ran.lock().unwrap().push(image.info.id.clone());
        let mut records = Vec::new();
        for path in &self.reads {
            if image.paths.iter().any(|p| p == path) {
                records.push(record(path));
            } else {
                records.push(record(path).failed(libc::ENOENT));
                break;
            }
        }
        Ok((self.probes.clone(), None, records, CallRecord::default()))
    }
}

/// The original image, its index, and what verification needs around it.
struct Fixture {
    dir: ScratchDir,
    index: Arc<FsIndex>,
    config: serde_json::Value,
    engine: FakeEngine,
    labels: Vec<(String, String)>,
    /// The build's `--exclude` globs.
    excludes: Vec<String>,
}

fn fixture() -> Fixture {
    let dir = ScratchDir::new("repair");
    let layer = TarWriter::new()
        .dir("app/")
        .executable("app/main", "main")
        .file("app/data.txt", "data")
        .dir("data/")
        .file("data/1", "1")
        .file("data/2", "2")
        .file("data/3", "3")
        .file("unused", "unused");
    let index = FsIndex::from_layers(&[dir.write("0.tar", layer.finish())]).unwrap();
    Fixture {
        dir,
        index: Arc::new(index),
        config: json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/app/main"]}}),
        engine: FakeEngine::default(),
        labels: vec![(LABEL_SOURCE_IMAGE.to_string(), "app:1".to_string())],
        excludes: Vec::new(),
    }
}

fn settings(repair_rounds: u32) -> VerifySettings {
    VerifySettings {
        enabled: true,
        repair_rounds,
    }
}

impl Fixture {
    fn app(&self, reads: &[&'static str], probes: Vec<ProbeResult>) -> App<'_> {
        App {
            engine: &self.engine,
            reads: reads.to_vec(),
            probes,
            ran: Mutex::default(),
        }
    }

    /// Builds the image of what `traced` names and verifies it against the original, whose
    /// run read `original_reads` and answered `original_probes`.
    async fn verify(
        &self,
        traced: &[&str],
        original_reads: &[&str],
        original_probes: &[ProbeResult],
        app: &App<'_>,
        settings: &VerifySettings,
    ) -> (Verification, KeepSet, Built) {
        let records: Vec<TraceRecord> = traced.iter().map(record).collect();
        let options = KeepOptions {
            lists: Vec::new(),
            excludes: self.excludes.clone(),
            ..KeepOptions::default()
        };
        let excludes = keep::check_user_globs(&options).unwrap();
        let runtime = ImageRuntime::default();
        let keep_set = keep::compute(&self.index, &records, &runtime, &options).unwrap();
        let target = Target {
            tag: TAG,
            archive: None,
            layer: self.dir.join("new-layer.tar"),
            config: &self.config,
            package_db: true,
        };
        let (_handle, mut stop): (StopHandle, StopRequest) = StopRequest::manual();
        let built = write_and_load(
            &self.engine,
            &self.index,
            &keep_set,
            &target,
            &self.labels,
            &Silent,
            &mut stop,
        )
        .await
        .unwrap();
        let original_records: Vec<TraceRecord> = original_reads.iter().map(record).collect();
        let original = Original {
            probes: original_probes,
            again: &[],
            container: None,
            plan: None,
            runs: &[],
            records: &original_records,
            calls: None,
        };
        let candidate = Candidate {
            index: &self.index,
            keep_set,
            excludes: &excludes,
            built,
            runtime: &runtime,
            target: &target,
            labels: &self.labels,
        };
        verify_with(
            &self.engine,
            app,
            &original,
            candidate,
            settings,
            &Silent,
            &mut stop,
        )
        .await
        .unwrap()
    }

    /// How many images were loaded.
    fn loads(&self) -> usize {
        self.engine
            .calls()
            .iter()
            .filter(|c| c.starts_with("load "))
            .count()
    }

    /// The image the tag names now.
    fn tagged(&self) -> crate::test_kit::FakeImage {
        self.engine.image(TAG).expect("the tag names an image")
    }
}

fn has(image: &crate::test_kit::FakeImage, path: &str) -> bool {
    image.paths.iter().any(|p| p == path)
}

#[tokio::test]
async fn a_file_found_missing_is_repaired_and_the_next_round_verifies() {
    let f = fixture();
    let reads = ["/app/main", "/app/data.txt"];
    let app = f.app(&reads, Vec::new());
    let (verification, keep_set, built) = f
        .verify(&["/app/main"], &reads, &[], &app, &settings(3))
        .await;
    assert_eq!(verification.status, VerificationStatus::Verified);
    assert_eq!(verification.rounds, 2);
    assert_eq!(
        verification.repaired,
        [RepairedPath {
            path: "/app/data.txt".into(),
            round: 1,
            by: vec!["app (openat)".into()],
        }]
    );
    assert!(verification.differences.is_empty() && verification.missed.is_empty());
    // What the loop returns is the repaired keep set and the image the tag names, which
    // holds the file and is not labelled unverified.
    assert!(keep_set.contains(b"/app/data.txt"));
    let tagged = f.tagged();
    assert_eq!(built.image_id, tagged.info.id);
    assert!(has(&tagged, "/app/data.txt") && has(&tagged, "/app/main"));
    assert!(!has(&tagged, "/unused"));
    assert_eq!(tagged.info.labels.get(LABEL_VERIFIED), None);
    assert_eq!(tagged.info.labels[LABEL_SOURCE_IMAGE], "app:1");
    // Round 1 ran the first image, round 2 the repaired one.
    let ran = app.ran.lock().unwrap().clone();
    assert_eq!(ran.len(), 2);
    assert_ne!(ran[0], ran[1]);
    assert_eq!(ran[1], built.image_id);
    assert_eq!(f.loads(), 2);
}

#[tokio::test]
async fn repair_stops_after_its_rounds_and_the_image_is_labelled_unverified() {
    let f = fixture();
    // Each file is read only once the one before it is there: one more is found missing
    // in every round.
    let reads = ["/app/main", "/data/1", "/data/2", "/data/3"];
    let app = f.app(&reads, Vec::new());
    let (verification, keep_set, built) = f
        .verify(&["/app/main"], &reads, &[], &app, &settings(2))
        .await;
    assert_eq!(verification.status, VerificationStatus::Failed);
    assert_eq!(verification.rounds, 3);
    let repaired: Vec<(&str, u32)> = verification
        .repaired
        .iter()
        .map(|r| (r.path.as_str(), r.round))
        .collect();
    assert_eq!(repaired, [("/data/1", 1), ("/data/2", 2)]);
    let missed: Vec<&str> = verification
        .missed
        .iter()
        .map(|m| m.path.as_str())
        .collect();
    assert_eq!(missed, ["/data/3"]);
    assert!(keep_set.contains(b"/data/2") && !keep_set.contains(b"/data/3"));
    // The first image, two repairs, then the last one again, labelled.
    assert_eq!(f.loads(), 4);
    let tagged = f.tagged();
    assert_eq!(built.image_id, tagged.info.id);
    assert_eq!(tagged.info.labels[LABEL_VERIFIED], "false");
    assert!(has(&tagged, "/data/2") && !has(&tagged, "/data/3"));
}

#[tokio::test]
async fn without_repair_rounds_a_missing_file_fails_at_once() {
    let f = fixture();
    let reads = ["/app/main", "/app/data.txt"];
    let app = f.app(&reads, Vec::new());
    let (verification, keep_set, _) = f
        .verify(&["/app/main"], &reads, &[], &app, &settings(0))
        .await;
    assert_eq!(verification.status, VerificationStatus::Failed);
    assert_eq!(verification.rounds, 1);
    assert!(verification.repaired.is_empty());
    assert_eq!(
        verification.missed,
        [MissedFile {
            path: "/app/data.txt".into(),
            asked_as: Vec::new(),
            by: vec!["app (openat)".into()],
            excluded_by: None,
            first_asked: (b"/app/data.txt".to_vec(), true),
        }]
    );
    assert!(!keep_set.contains(b"/app/data.txt"));
    assert_eq!(f.loads(), 2);
    assert_eq!(f.tagged().info.labels[LABEL_VERIFIED], "false");
}

#[tokio::test]
async fn an_excluded_file_is_not_repaired() {
    let mut f = fixture();
    f.excludes = vec!["/app/*.txt".into()];
    let reads = ["/app/main", "/app/data.txt"];
    let app = f.app(&reads, Vec::new());
    let (verification, keep_set, _) = f
        .verify(
            &["/app/main", "/app/data.txt"],
            &reads,
            &[],
            &app,
            &settings(3),
        )
        .await;
    assert!(!keep_set.contains(b"/app/data.txt"));
    assert_eq!(verification.status, VerificationStatus::Failed);
    assert_eq!(verification.rounds, 1);
    assert!(verification.repaired.is_empty());
    assert_eq!(verification.missed.len(), 1);
    assert_eq!(verification.missed[0].path, "/app/data.txt");
}

#[tokio::test]
async fn a_probe_that_answers_differently_fails_without_a_repair() {
    let f = fixture();
    let exec = |code, output: &str| ProbeResult::Exec {
        command: vec!["/app/main".into(), "--check".into()],
        exit_code: Some(code),
        output: output.into(),
        error: None,
        millis: 1,
    };
    let reads = ["/app/main"];
    let app = f.app(&reads, vec![exec(1, "broken")]);
    let (verification, _, _) = f
        .verify(&["/app/main"], &reads, &[exec(0, "ok")], &app, &settings(3))
        .await;
    assert_eq!(verification.status, VerificationStatus::Failed);
    assert_eq!(verification.rounds, 1);
    assert!(verification.repaired.is_empty() && verification.missed.is_empty());
    assert_eq!(
        verification.differences,
        [Difference {
            probe: "exec /app/main --check".into(),
            original: "exit 0, output \"ok\"".into(),
            slim: "exit 1, output \"broken\"".into(),
        }]
    );
    assert_eq!(f.loads(), 2);
    assert_eq!(f.tagged().info.labels[LABEL_VERIFIED], "false");
}

#[tokio::test]
async fn an_image_that_verifies_at_once_is_loaded_once() {
    let f = fixture();
    let reads = ["/app/main", "/app/data.txt"];
    let app = f.app(&reads, Vec::new());
    let (verification, keep_set, built) = f
        .verify(
            &["/app/main", "/app/data.txt"],
            &reads,
            &[],
            &app,
            &settings(3),
        )
        .await;
    assert_eq!(verification.status, VerificationStatus::Verified);
    assert_eq!(verification.rounds, 1);
    assert!(verification.repaired.is_empty());
    assert!(keep_set.contains(b"/app/data.txt"));
    assert_eq!(f.loads(), 1);
    assert_eq!(built.image_id, f.tagged().info.id);
}
