//! Unpacks an image archive as the engine's `save` writes it into a work directory: the
//! layer tars (uncompressed), the config and the manifest. [`save_image`] streams it from
//! the engine; [`unpack`] reads it from anything.
//!
//! The engine writes the layers before the manifest that orders them, so the archive is
//! spooled to disk, never held in memory. Both the legacy layout (`<id>/layer.tar`) and the
//! OCI layout (`blobs/sha256/<digest>`) are read, and gzip-compressed layers are
//! decompressed on the way.
//!
//! Only regular members are written, each at its normalised name below the work directory
//! (a `..` never climbs out of it). A symlink member (the engine links a layer that an
//! image holds twice to its first copy) is never created on disk: it is remembered and
//! looked up inside the archive, the way `index::resolve` looks up links inside an image.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use serde::Deserialize;

use futures_util::StreamExt;

use crate::engine::Engine;
use crate::inspect::ImageInfo;
use crate::interrupt::{Interrupted, SETTLE, StopRequest};
use crate::reporter::{Counter, Reporter, megabytes};
use crate::trace::path::normalize;

/// An unpacked image.
#[derive(Debug)]
pub struct SavedImage {
    /// The image config as the engine stored it (every field, known or not).
    pub config: serde_json::Value,
    /// Uncompressed layer tars, base first.
    pub layers: Vec<PathBuf>,
    pub repo_tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("reading the image archive from the engine: {0}")]
    Read(io::Error),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("the image archive has no manifest.json")]
    NoManifest,
    #[error("the image archive's {what} is malformed: {error}")]
    Malformed { what: String, error: String },
    #[error("the image archive names {0}, which it does not contain")]
    MissingMember(String),
    #[error("layer {0} uses a compression slim cannot read (only uncompressed and gzip layers)")]
    Compression(String),
    #[error(
        "the engine could not export {image}: {message}\nhint: `docker save {image}` fails the \
         same way; the image's layers are damaged or hold entries the engine cannot read back \
         (e.g. names with `..` or sparse files): rebuild the image without them"
    )]
    Engine { image: String, message: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Unpacks the archive read from `reader` into `dir` (which must exist and be empty).
pub fn unpack<R: Read>(reader: R, dir: &Path) -> Result<SavedImage, SaveError> {
    let files = dir.join("files");
    let mut archive = tar::Archive::new(reader);
    // Symlink members: normalised name → normalised target.
    let mut links: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for entry in archive.entries().map_err(SaveError::Read)? {
        let mut entry = entry.map_err(SaveError::Read)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let name = normalize(&entry.path_bytes());
            let target = entry
                .link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let target = if kind.is_symlink() && !target.starts_with(b"/") {
                let (dir, _) = crate::image::index::split_parent(&name);
                normalize(&crate::image::index::join(&dir, &target))
            } else {
                normalize(&target)
            };
            links.insert(name, target);
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let name = normalize(&entry.path_bytes());
        let target = member_path(&files, &name);
        let write_err = |source| SaveError::Write {
            path: target.clone(),
            source,
        };
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent).map_err(write_err)?;
        }
        #[expect(
            clippy::disallowed_methods,
            reason = "the error it maps to names the file"
        )]
        let mut out = BufWriter::new(File::create(&target).map_err(write_err)?);
        io::copy(&mut entry, &mut out).map_err(write_err)?;
        out.flush().map_err(write_err)?;
    }

    let member = |name: &str| member_path(&files, &follow(&links, normalize(name.as_bytes())));
    let manifest_path = member("manifest.json");
    if !manifest_path.exists() {
        return Err(SaveError::NoManifest);
    }
    let manifest: Vec<ManifestEntry> = serde_json::from_slice(
        &fs_err::read(&manifest_path).map_err(SaveError::Read)?,
    )
    .map_err(|e| SaveError::Malformed {
        what: "manifest.json".into(),
        error: e.to_string(),
    })?;
    let entry = manifest
        .into_iter()
        .next()
        .ok_or_else(|| SaveError::Malformed {
            what: "manifest.json".into(),
            error: "no image in it".into(),
        })?;
    let config_path = member(&entry.config);
    let config_bytes =
        fs_err::read(&config_path).map_err(|_| SaveError::MissingMember(entry.config.clone()))?;
    let config = serde_json::from_slice(&config_bytes).map_err(|e| SaveError::Malformed {
        what: format!("config {}", entry.config),
        error: e.to_string(),
    })?;

    let mut layers = Vec::new();
    for (i, layer) in entry.layers.iter().enumerate() {
        let path = member(layer);
        if !path.is_file() {
            return Err(SaveError::MissingMember(layer.clone()));
        }
        layers.push(uncompressed(
            &path,
            &dir.join(format!("layer-{i}.tar")),
            layer,
        )?);
    }
    Ok(SavedImage {
        config,
        layers,
        repo_tags: entry.repo_tags.unwrap_or_default(),
    })
}

/// The member `name` names, through the archive's own symlink members (a bounded number).
fn follow(links: &HashMap<Vec<u8>, Vec<u8>>, mut name: Vec<u8>) -> Vec<u8> {
    for _ in 0..8 {
        match links.get(&name) {
            Some(target) => name = target.clone(),
            None => break,
        }
    }
    name
}

/// Where archive member `name` (normalised, absolute) is written below `files`.
fn member_path(files: &Path, name: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    files.join(std::ffi::OsStr::from_bytes(&name[1..]))
}

/// The layer at `path` as an uncompressed tar: itself, or decompressed into `target`.
fn uncompressed(path: &Path, target: &Path, name: &str) -> Result<PathBuf, SaveError> {
    let mut magic = [0u8; 4];
    let read = fs_err::File::open(path)
        .and_then(|mut f| {
            let mut got = 0;
            while got < magic.len() {
                let n = f.read(&mut magic[got..])?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            Ok(got)
        })
        .map_err(SaveError::Read)?;
    let magic = &magic[..read];
    if magic.starts_with(&[0x1f, 0x8b]) {
        let write_err = |source| SaveError::Write {
            path: target.to_path_buf(),
            source,
        };
        let mut decoder = GzDecoder::new(BufReader::new(
            fs_err::File::open(path).map_err(SaveError::Read)?,
        ));
        #[expect(
            clippy::disallowed_methods,
            reason = "the error it maps to names the file"
        )]
        let mut out = BufWriter::new(File::create(target).map_err(write_err)?);
        io::copy(&mut decoder, &mut out).map_err(write_err)?;
        out.flush().map_err(write_err)?;
        fs_err::remove_file(path).map_err(SaveError::Read)?;
        Ok(target.to_path_buf())
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(SaveError::Compression(name.to_string()))
    } else {
        Ok(path.to_path_buf())
    }
}

/// A blocking reader over byte chunks sent from an async task: lets the synchronous tar
/// reader consume the engine's stream without spooling it twice.
pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl ChannelReader {
    pub fn new(rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>) -> ChannelReader {
        ChannelReader {
            rx,
            current: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Why [`save_image`] handed back no image.
#[derive(Debug, thiserror::Error)]
pub enum SaveImageError {
    #[error(transparent)]
    Save(#[from] SaveError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// A bug: what went wrong.
    #[error("{0}")]
    Internal(String),
}

/// Saves the original image from the engine into `dir`, streaming it to disk.
pub async fn save_image(
    engine: &impl Engine,
    image: &ImageInfo,
    dir: &Path,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<SavedImage, SaveImageError> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let unpack_dir = dir.to_path_buf();
    let unpacker = tokio::task::spawn_blocking(move || unpack(ChannelReader::new(rx), &unpack_dir));
    let mut stream = engine.save_image(&image.id);
    let mut failure = None;
    let mut read = 0u64;
    let mut interrupted = false;
    loop {
        let chunk = tokio::select! {
            biased;
            () = stop.requested() => {
                interrupted = true;
                break;
            }
            chunk = stream.next() => match chunk {
                Some(chunk) => chunk,
                None => break,
            },
        };
        if let Ok(bytes) = &chunk {
            read += bytes.len() as u64;
            reporter.count(Counter::BytesRead, read);
        }
        let item = chunk.map_err(|e| std::io::Error::other(e.to_string()));
        let failed = item.is_err();
        if let Err(e) = &item {
            failure = Some(e.to_string());
        }
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    if interrupted {
        // The unpacker ends at the closed channel; it must not write after the clean-up.
        let _ = tokio::time::timeout(SETTLE, unpacker).await;
        return Err(Interrupted.into());
    }
    let saved = unpacker
        .await
        .map_err(|e| SaveImageError::Internal(format!("the save task failed: {e}")))?;
    match (saved, failure) {
        (Ok(saved), None) => {
            reporter.end(&format!("{} read from the engine", megabytes(read)));
            Ok(saved)
        }
        (Err(e), None) => Err(e.into()),
        (_, Some(message)) => Err(SaveError::Engine {
            image: image.reference.clone(),
            message,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_test_kit::TarWriter;

    fn archive(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        members
            .iter()
            .fold(TarWriter::new(), |tar, (name, data)| tar.file(name, data))
            .finish()
    }

    fn layer_with(name: &str) -> Vec<u8> {
        archive(&[(name, b"x".to_vec())])
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("slim-save-{name}-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&dir);
        fs_err::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn legacy_layout_with_manifest_last_orders_layers_by_manifest() {
        let dir = temp("legacy");
        let bytes = archive(&[
            ("bbb/layer.tar", layer_with("second")),
            ("aaa/layer.tar", layer_with("first")),
            ("cfg.json", br#"{"config":{"Cmd":["sh"]},"rootfs":{"type":"layers"}}"#.to_vec()),
            (
                "manifest.json",
                br#"[{"Config":"cfg.json","RepoTags":["x:1"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}]"#.to_vec(),
            ),
        ]);
        let saved = unpack(bytes.as_slice(), &dir).unwrap();
        assert_eq!(saved.repo_tags, vec!["x:1".to_string()]);
        assert_eq!(saved.config["config"]["Cmd"][0], "sh");
        assert!(saved.layers[0].ends_with("aaa/layer.tar"));
        assert!(saved.layers[1].ends_with("bbb/layer.tar"));
        fs_err::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gzip_layers_are_decompressed_and_zstd_is_a_clear_error() {
        let dir = temp("gzip");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer_with("f")).unwrap();
        let bytes = archive(&[
            ("blobs/sha256/l", gz.finish().unwrap()),
            ("blobs/sha256/c", b"{}".to_vec()),
            (
                "manifest.json",
                br#"[{"Config":"blobs/sha256/c","Layers":["blobs/sha256/l"]}]"#.to_vec(),
            ),
        ]);
        let saved = unpack(bytes.as_slice(), &dir).unwrap();
        let mut tar = tar::Archive::new(fs_err::File::open(&saved.layers[0]).unwrap());
        let names: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["f"]);

        let dir2 = temp("zstd");
        let bytes = archive(&[
            ("l", vec![0x28, 0xb5, 0x2f, 0xfd, 0]),
            ("c", b"{}".to_vec()),
            (
                "manifest.json",
                br#"[{"Config":"c","Layers":["l"]}]"#.to_vec(),
            ),
        ]);
        assert!(matches!(
            unpack(bytes.as_slice(), &dir2),
            Err(SaveError::Compression(_))
        ));
        fs_err::remove_dir_all(&dir).unwrap();
        fs_err::remove_dir_all(&dir2).unwrap();
    }

    #[test]
    fn members_cannot_escape_the_work_directory() {
        let dir = temp("escape");
        let bytes = TarWriter::new()
            .file("../../outside", "x")
            .file("c", "{}")
            .file("manifest.json", r#"[{"Config":"c","Layers":[]}]"#)
            .finish();
        unpack(bytes.as_slice(), &dir).unwrap();
        assert!(dir.join("files/outside").exists());
        assert!(!dir.parent().unwrap().join("outside").exists());
        fs_err::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn channel_reader_joins_chunks() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        std::thread::spawn(move || {
            for chunk in [&b"ab"[..], b"", b"cde"] {
                tx.blocking_send(Ok(bytes::Bytes::from_static(chunk)))
                    .unwrap();
            }
        });
        let mut out = String::new();
        ChannelReader::new(rx).read_to_string(&mut out).unwrap();
        assert_eq!(out, "abcde");
    }
}
