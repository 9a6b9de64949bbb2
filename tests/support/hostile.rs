//! Crafted images for the hostile-image tests: layer tars written entry by entry with raw
//! names (`..`, absolute names, any bytes), links anywhere, devices, whiteouts and sparse
//! records (`slim_test_kit::TarWriter`), put in an archive laid out as `docker save`
//! writes it, and loaded through the engine's load endpoint (`POST /images/load`), as a
//! user's `docker load` would. The engine may refuse or normalise some entries:
//! [`CraftedImage::load`] returns its refusal as text so a test can assert it.
//!
//! Every crafted image runs `/hostile-open` (tests/fixtures/hostile-open.c, static): it
//! opens each path it is given and prints what happened, so the original and the slim
//! image can be compared by their output.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, anyhow};
use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use slim_test_kit::TarWriter;

use crate::image::{block_on, connect};
use crate::rootfs::static_c_binary;

/// The C source of `/hostile-open`.
pub const HOSTILE_OPEN_SOURCE: &str = include_str!("../fixtures/hostile-open.c");

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

/// An image to load: `/hostile-open` in a first layer of its own, then the crafted
/// layers; its CMD runs `/hostile-open` on `paths`.
#[derive(Clone, Debug)]
pub struct CraftedImage {
    name: String,
    layers: Vec<TarWriter>,
    paths: Vec<String>,
}

impl CraftedImage {
    pub fn new(name: &str) -> Self {
        CraftedImage {
            name: name.to_string(),
            layers: Vec::new(),
            paths: Vec::new(),
        }
    }

    pub fn layer(mut self, layer: TarWriter) -> Self {
        self.layers.push(layer);
        self
    }

    /// The paths the image's CMD opens (a path ending in `/` is listed).
    pub fn opens<S: AsRef<str>>(mut self, paths: impl IntoIterator<Item = S>) -> Self {
        self.paths = paths.into_iter().map(|p| p.as_ref().to_string()).collect();
        self
    }

    /// The archive `docker save` would write for this image (legacy layout), tagged `tag`.
    pub fn archive(&self, tag: &str) -> Result<Vec<u8>> {
        let binary = static_c_binary("hostile-open", HOSTILE_OPEN_SOURCE)?;
        let program =
            std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
        let mut layers = vec![TarWriter::new().executable(b"hostile-open", &program)];
        layers.extend(self.layers.iter().cloned());
        let tars: Vec<Vec<u8>> = layers.iter().map(TarWriter::finish).collect();
        let diff_ids: Vec<String> = tars
            .iter()
            .map(|t| format!("sha256:{:x}", Sha256::digest(t)))
            .collect();
        let mut cmd = vec!["/hostile-open".to_string()];
        cmd.extend(self.paths.iter().cloned());
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": {
                "Cmd": cmd,
                "Env": ["PATH=/"],
                "Labels": { "org.example.crafted": self.name },
            },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": tars.iter().map(|_| serde_json::json!({
                "created": "2023-11-14T22:13:20Z",
                "created_by": format!("crafted: {}", self.name),
            })).collect::<Vec<_>>(),
        });
        let names: Vec<String> = (0..tars.len()).map(|i| format!("l{i}/layer.tar")).collect();
        let manifest = serde_json::json!([{
            "Config": "config.json",
            "RepoTags": [tag],
            "Layers": names,
        }]);
        let mut archive = TarWriter::new();
        for (name, tar) in names.iter().zip(&tars) {
            archive = archive.file(name.as_bytes(), tar);
        }
        archive = archive
            .file(b"config.json", &serde_json::to_vec(&config)?)
            .file(b"manifest.json", &serde_json::to_vec(&manifest)?);
        Ok(archive.finish())
    }

    /// Loads the image through the engine's load endpoint as
    /// `slim-test/hostile-<name>:<pid>-<n>`. `Err` carries the engine's refusal.
    pub fn load(&self) -> Result<LoadedImage, String> {
        let tag = format!(
            "slim-test/hostile-{}:{}-{}",
            self.name,
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let archive = self
            .archive(&tag)
            .unwrap_or_else(|e| panic!("crafting the {} image: {e:#}", self.name));
        let loaded = block_on(async {
            let docker = connect().await?;
            let progress: Vec<_> = docker
                .import_image(
                    ImportImageOptionsBuilder::new().quiet(true).build(),
                    bollard::body_full(bytes::Bytes::from(archive)),
                    None,
                )
                .try_collect()
                .await
                .map_err(|e| anyhow!("{e}"))?;
            if let Some(error) = progress.iter().find_map(|p| p.error_detail.as_ref()) {
                return Err(anyhow!(
                    "{}",
                    error.message.as_deref().unwrap_or("no message")
                ));
            }
            Ok(())
        });
        match loaded {
            Ok(()) => Ok(LoadedImage { tag }),
            Err(e) => {
                // A refused load may still have left the tag half-made.
                let _ = crate::docker(["rmi", &tag]);
                Err(format!("{e:#}"))
            }
        }
    }
}

/// A crafted image in the engine, removed when dropped.
#[derive(Debug)]
pub struct LoadedImage {
    pub tag: String,
}

impl Drop for LoadedImage {
    fn drop(&mut self) {
        let _ = crate::docker(["rmi", &self.tag]);
    }
}

/// Host paths a breakout would touch: a directory holding a secret file (that a link out
/// of the image would read), and the names a `..` entry would create around it and at the
/// host's root. [`HostSentinel::assert_untouched`] checks all of them.
#[derive(Debug)]
pub struct HostSentinel {
    pub dir: PathBuf,
    /// A name `..` entries use: nothing by that name may appear on the host.
    pub escape_name: String,
    secret_mtime: i64,
}

/// The sentinel file's content.
pub const HOST_SECRET: &[u8] = b"host secret: must never reach an image";

impl HostSentinel {
    pub fn new(case: &str) -> HostSentinel {
        let dir = std::env::temp_dir().join(format!(
            "slim-hostile-sentinel-{case}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the sentinel directory");
        let secret = dir.join("secret");
        std::fs::write(&secret, HOST_SECRET).expect("writing the sentinel");
        let secret_mtime = std::fs::metadata(&secret).expect("the sentinel").mtime();
        HostSentinel {
            escape_name: format!("slim-hostile-escaped-{case}-{}", std::process::id()),
            dir,
            secret_mtime,
        }
    }

    /// The secret file's absolute path on the host.
    pub fn secret(&self) -> String {
        self.dir.join("secret").to_string_lossy().into_owned()
    }

    /// The secret is unchanged, nothing new is in its directory, and nothing named
    /// `escape_name` exists at the host's root, in the temp directory or next to the
    /// sentinel.
    pub fn assert_untouched(&self) {
        let secret = self.dir.join("secret");
        assert_eq!(
            std::fs::read(&secret).expect("the sentinel"),
            HOST_SECRET,
            "the host sentinel was overwritten"
        );
        assert_eq!(
            std::fs::metadata(&secret).expect("the sentinel").mtime(),
            self.secret_mtime,
            "the host sentinel was written to"
        );
        let names: Vec<_> = std::fs::read_dir(&self.dir)
            .expect("the sentinel directory")
            .map(|e| e.expect("a directory entry").file_name())
            .collect();
        assert_eq!(
            names,
            ["secret"],
            "something was created next to the sentinel"
        );
        for dir in [
            PathBuf::from("/"),
            std::env::temp_dir(),
            self.dir.clone(),
            PathBuf::from("/var/lib"),
            PathBuf::from("/var/lib/docker"),
        ] {
            let path = dir.join(&self.escape_name);
            assert!(!path.exists(), "{} was created on the host", path.display());
        }
    }
}

impl Drop for HostSentinel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
