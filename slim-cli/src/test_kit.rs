//! What the unit tests share that needs slim's own types: an engine that runs nothing and
//! keeps its images in memory ([`FakeEngine`]), and trace records ([`record`]). What
//! needs none of them (the tar writer, HTTP parsing, scratch directories) is the
//! `slim-test-kit` crate's.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use slim_probe_ebpf::Syscall;

use crate::cgroup::CgroupDriver;
use crate::engine::{ArchiveStream, ContainerSpec, Engine, EngineError, ExecOutcome, RunContainer};
use crate::inspect::ImageInfo;
use crate::trace::{AccessKind, CallResult, TraceRecord};

/// A trace record: a successful `openat` of `path` by task 1, `app`, until the methods
/// below say otherwise.
pub fn record(path: impl AsRef<[u8]>) -> TraceRecord {
    TraceRecord {
        path: path.as_ref().to_vec(),
        kind: AccessKind::Open,
        syscall: Syscall::Openat,
        result: CallResult::Ok,
        pid: 1,
        tid: 1,
        comm: "app".into(),
        nofollow: false,
        write: false,
        incomplete: None,
    }
}

impl TraceRecord {
    pub fn of_kind(self, kind: AccessKind) -> TraceRecord {
        TraceRecord { kind, ..self }
    }

    pub fn via(self, syscall: Syscall) -> TraceRecord {
        TraceRecord { syscall, ..self }
    }

    /// The call failed with `errno`.
    pub fn failed(self, errno: i32) -> TraceRecord {
        TraceRecord {
            result: CallResult::Failed(errno),
            ..self
        }
    }

    /// Made by the single-threaded process `pid` called `comm`.
    pub fn by(self, pid: u32, comm: &str) -> TraceRecord {
        TraceRecord {
            pid,
            tid: pid,
            comm: comm.into(),
            ..self
        }
    }
}

/// An image [`FakeEngine`] holds.
#[derive(Clone, Debug)]
pub struct FakeImage {
    /// What inspecting it answers (its id, tags and labels among the rest).
    pub info: ImageInfo,
    /// The paths its layer holds, `/`-rooted, when it was loaded from an archive.
    pub paths: Vec<String>,
    /// The archive it was loaded from, which saving it gives back.
    pub archive: Vec<u8>,
}

/// An engine that runs nothing: containers are created, started and waited for in name
/// only; images live in memory, loaded from the archives slim writes, tagged and removed
/// as the engine would. Every call that matters to a test is logged (`calls`), and any
/// operation can be made to fail ([`FakeEngine::failing`]).
pub struct FakeEngine {
    images: Mutex<Vec<FakeImage>>,
    calls: Mutex<Vec<String>>,
    logs: Vec<String>,
    exit_code: i64,
    /// Operations that fail, each from its n-th call on.
    failing: Vec<(&'static str, usize)>,
    /// How many times each operation was called.
    counts: Mutex<BTreeMap<&'static str, usize>>,
    panic_in_wait: bool,
}

impl Default for FakeEngine {
    fn default() -> FakeEngine {
        FakeEngine {
            images: Mutex::default(),
            calls: Mutex::default(),
            logs: vec!["the last line".into()],
            exit_code: 0,
            failing: Vec::new(),
            counts: Mutex::default(),
            panic_in_wait: false,
        }
    }
}

impl FakeEngine {
    /// Holds `info` as an image tagged `tag` (taken from any image that had it, as the
    /// engine moves a tag).
    pub fn with_image(self, tag: &str, info: ImageInfo) -> FakeEngine {
        let mut images = self.images.lock().unwrap();
        for image in images.iter_mut() {
            image.info.repo_tags.retain(|t| t != tag);
        }
        match images.iter_mut().find(|i| i.info.id == info.id) {
            Some(held) => held.info.repo_tags.push(tag.to_string()),
            None => {
                let mut info = info;
                info.repo_tags.push(tag.to_string());
                images.push(FakeImage {
                    info,
                    paths: Vec::new(),
                    archive: Vec::new(),
                });
            }
        }
        drop(images);
        self
    }

    /// What the containers' logs say.
    pub fn with_logs(mut self, lines: &[&str]) -> FakeEngine {
        self.logs = lines.iter().map(|l| (*l).to_string()).collect();
        self
    }

    /// How the containers exit.
    pub fn with_exit_code(mut self, code: i64) -> FakeEngine {
        self.exit_code = code;
        self
    }

    /// `operation` fails: `inspect`, `create`, `start`, `load`, `tag` or `remove image`,
    /// each with the error the engine gives.
    pub fn failing(self, operation: &'static str) -> FakeEngine {
        self.failing_from(operation, 1)
    }

    /// `operation` fails from its `nth` call on (the first is 1).
    pub fn failing_from(mut self, operation: &'static str, nth: usize) -> FakeEngine {
        self.failing.push((operation, nth));
        self
    }

    /// Holds the image an archive as `docker save` writes it describes, tagged as its
    /// manifest says; saving it gives the archive back.
    pub fn with_saved_image(self, archive: Vec<u8>) -> FakeEngine {
        let image = read_archive(&archive).expect("an image archive");
        self.images.lock().unwrap().push(image);
        self
    }

    /// Waiting for a container panics.
    pub fn panicking_in_wait(mut self) -> FakeEngine {
        self.panic_in_wait = true;
        self
    }

    /// The calls made so far, in order (`inspect REF`, `create NAME in PARENT`, `start ID`,
    /// `load NAME`, `tag ID TAG`, `remove image REF` …).
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// The image `reference` (a tag or an id) names now.
    pub fn image(&self, reference: &str) -> Option<FakeImage> {
        let images = self.images.lock().unwrap();
        images.iter().find(|i| names(i, reference)).cloned()
    }

    /// Every image it holds.
    pub fn images(&self) -> Vec<FakeImage> {
        self.images.lock().unwrap().clone()
    }

    fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    /// Counts a call of `operation`; whether this one fails.
    fn fails(&self, operation: &'static str) -> bool {
        let mut counts = self.counts.lock().unwrap();
        let count = counts.entry(operation).or_default();
        *count += 1;
        self.failing
            .iter()
            .any(|&(failing, nth)| failing == operation && *count >= nth)
    }
}

fn names(image: &FakeImage, reference: &str) -> bool {
    image.info.id == reference || image.info.repo_tags.iter().any(|t| t == reference)
}

/// What the engine answers when it refuses a request.
fn refused(action: &'static str, subject: &str) -> EngineError {
    EngineError::Request {
        action,
        subject: subject.to_string(),
        source: bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: format!("the fake engine refuses to {action}"),
        },
    }
}

/// The image an archive holds (`docker save`'s layout or slim's): its id (the config's
/// digest), tags, command, labels and the paths of its layers.
fn read_archive(archive: &[u8]) -> std::io::Result<FakeImage> {
    let mut members = BTreeMap::new();
    for entry in tar::Archive::new(archive).entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        members.insert(name, bytes);
    }
    let missing = |what: &str| std::io::Error::other(format!("the archive has no {what}"));
    let manifest: serde_json::Value = serde_json::from_slice(
        members
            .get("manifest.json")
            .ok_or_else(|| missing("manifest.json"))?,
    )?;
    let config_path = manifest[0]["Config"]
        .as_str()
        .ok_or_else(|| missing("config"))?;
    let config: serde_json::Value = serde_json::from_slice(
        members
            .get(config_path)
            .ok_or_else(|| missing(config_path))?,
    )?;
    let mut paths = Vec::new();
    let mut size = 0;
    for layer in manifest[0]["Layers"].as_array().into_iter().flatten() {
        let layer = members
            .get(layer.as_str().unwrap_or_default())
            .ok_or_else(|| missing("layer"))?;
        size += layer.len();
        for entry in tar::Archive::new(layer.as_slice()).entries()? {
            let name = entry?.path()?.to_string_lossy().into_owned();
            paths.push(format!("/{}", name.trim_end_matches('/')));
        }
    }
    let strings = |value: &serde_json::Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| Some(v.as_str()?.to_string()))
            .collect()
    };
    let labels = config["config"]["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    let info = ImageInfo {
        id: crate::image::reference::digest(&members[config_path]),
        repo_tags: strings(&manifest[0]["RepoTags"]),
        cmd: Some(strings(&config["config"]["Cmd"])).filter(|c| !c.is_empty()),
        labels,
        size: i64::try_from(size).ok(),
        ..ImageInfo::default()
    };
    Ok(FakeImage {
        info,
        paths,
        archive: archive.to_vec(),
    })
}

impl Engine for FakeEngine {
    async fn cgroup_driver(&self) -> Result<CgroupDriver, EngineError> {
        Ok(CgroupDriver::Cgroupfs)
    }

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, EngineError> {
        self.log(format!("inspect {reference}"));
        if self.fails("inspect") {
            return Err(refused("inspect", reference));
        }
        let image = self.image(reference).ok_or(EngineError::ImageNotFound {
            image: reference.into(),
        })?;
        Ok(ImageInfo {
            reference: reference.to_string(),
            ..image.info
        })
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        self.log(format!("create {} in {}", spec.name, spec.cgroup_parent));
        if self.fails("create") {
            return Err(EngineError::NameInUse {
                name: spec.name.clone(),
            });
        }
        Ok("0123456789ab".into())
    }

    async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        self.log(format!("start {id}"));
        if self.fails("start") {
            return Err(EngineError::StartFailed {
                container: id.into(),
                message: "exec: \"/nope\": no such file or directory".into(),
                command_not_found: true,
            });
        }
        Ok(())
    }

    async fn wait_container(&self, id: &str) -> Result<i64, EngineError> {
        self.log(format!("wait {id}"));
        assert!(!self.panic_in_wait, "the fake engine panics while waiting");
        Ok(self.exit_code)
    }

    async fn stop_container(&self, id: &str, _: Duration) -> Result<(), EngineError> {
        self.log(format!("stop {id}"));
        Ok(())
    }

    async fn container_logs(&self, id: &str, _: usize) -> Result<Vec<String>, EngineError> {
        self.log(format!("logs {id}"));
        Ok(self.logs.clone())
    }

    async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        self.log(format!("remove {id}"));
        Ok(())
    }

    async fn container_address(&self, _: &str) -> Result<Option<IpAddr>, EngineError> {
        Ok(None)
    }

    /// `false` exits 1, anything else 0, without output.
    async fn exec(
        &self,
        id: &str,
        cmd: &[String],
        _: Option<&str>,
    ) -> Result<ExecOutcome, EngineError> {
        self.log(format!("exec {id} {}", cmd.join(" ")));
        Ok(ExecOutcome {
            exit_code: if cmd.first().is_some_and(|c| c == "false") {
                1
            } else {
                0
            },
            output: String::new(),
        })
    }

    /// The archive the image was loaded from, in one piece (nothing for an image that
    /// came from none).
    fn save_image(&self, image: &str) -> BoxStream<'static, Result<Bytes, EngineError>> {
        self.log(format!("save {image}"));
        let archive = self.image(image).map(|i| i.archive).unwrap_or_default();
        let chunks = (!archive.is_empty()).then(|| Ok(Bytes::from(archive)));
        Box::pin(futures_util::stream::iter(chunks))
    }

    /// Reads the whole archive, then holds its image under the tags it names (moved from
    /// any image that had them).
    async fn load_image(&self, archive: ArchiveStream, name: &str) -> Result<(), EngineError> {
        self.log(format!("load {name}"));
        let chunks: Vec<Bytes> = archive.try_collect().await.unwrap_or_default();
        if self.fails("load") {
            return Err(EngineError::LoadRefused {
                archive: name.into(),
                message: "the fake engine refuses to load".into(),
            });
        }
        let loaded = read_archive(&chunks.concat()).map_err(|e| EngineError::LoadRefused {
            archive: name.into(),
            message: e.to_string(),
        })?;
        let mut images = self.images.lock().unwrap();
        for image in images.iter_mut() {
            image
                .info
                .repo_tags
                .retain(|t| !loaded.info.repo_tags.contains(t));
        }
        images.retain(|i| i.info.id != loaded.info.id);
        images.push(loaded);
        Ok(())
    }

    /// A tag loses its name, and the image goes with its last one; an id removes the
    /// image.
    async fn remove_image(&self, image: &str) -> Result<(), EngineError> {
        self.log(format!("remove image {image}"));
        if self.fails("remove image") {
            return Err(refused("remove", image));
        }
        self.images.lock().unwrap().retain_mut(|i| {
            let tags = i.info.repo_tags.len();
            i.info.repo_tags.retain(|t| t != image);
            let lost_its_last = tags > 0 && i.info.repo_tags.is_empty();
            i.info.id != image && !lost_its_last
        });
        Ok(())
    }

    async fn tag_image(&self, id: &str, tag: &str) -> Result<(), EngineError> {
        self.log(format!("tag {id} {tag}"));
        if self.fails("tag") {
            return Err(refused("tag", id));
        }
        let mut images = self.images.lock().unwrap();
        if !images.iter().any(|i| names(i, id)) {
            return Err(EngineError::ImageNotFound { image: id.into() });
        }
        for image in images.iter_mut() {
            image.info.repo_tags.retain(|t| t != tag);
            if names(image, id) {
                image.info.repo_tags.push(tag.to_string());
            }
        }
        Ok(())
    }

    async fn run_containers(&self) -> Result<Vec<RunContainer>, EngineError> {
        Ok(Vec::new())
    }
}
