//! The new image made and loaded: the kept paths written as a layer file, then the image
//! archive streamed into the engine as it is written (and into an `--output` file when one
//! is asked for), with progress and an end on interrupt. Touches the engine and the work
//! directory only.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::archive;
use super::archive::ImageConfigError;
use super::layer::{self, LayerError, LayerSummary};
use crate::engine::{Engine, EngineError};
use crate::image::index::FsIndex;
use crate::image::reference::short_id;
use crate::interrupt::{Interrupted, SETTLE, StopRequest, interruptible};
use crate::keep::KeepSet;
use crate::packages::{self, PackageDb, PackageError};
use crate::reporter::{Counter, Phase, Reporter, megabytes};
use crate::test_hook::test_point;

/// Why the new image was not made or not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Packages(#[from] PackageError),
    #[error(transparent)]
    ImageConfig(#[from] ImageConfigError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// A bug: what went wrong.
    #[error("{0}")]
    Internal(String),
}

/// Where the new image goes.
pub struct Target<'a> {
    pub tag: &'a str,
    /// The `--output` archive, if one was asked for.
    pub archive: Option<&'a Path>,
    /// Where the layer is written before it is archived.
    pub layer: PathBuf,
    /// The original image's config.
    pub config: &'a serde_json::Value,
    /// Whether the new image carries the original's package database, trimmed to the
    /// packages it keeps files of (`--no-package-db` turns it off).
    pub package_db: bool,
}

/// What the writing task made: the layer, the archive, and the package database with
/// its paths.
type Written = (
    LayerSummary,
    archive::ArchiveSummary,
    Option<PackageDb>,
    Vec<Vec<u8>>,
);

/// What [`write_and_load`] made.
pub struct Built {
    pub image_id: String,
    /// The digest of its manifest.
    pub digest: String,
    pub size: u64,
    pub layer: LayerSummary,
    /// The package database written into it, if any, and its paths.
    pub packages: Option<PackageDb>,
    pub package_paths: Vec<Vec<u8>>,
}

/// Writes the layer and the image archive for `keep_set`, loads it and checks the engine
/// tagged exactly that image.
///
/// The layer goes to a file first (its digest names it in the config, which the archive
/// needs before the layer). The archive is not: it streams into the engine as it is
/// written, and into the `--output` file too when one was asked for.
pub async fn write_and_load(
    engine: &impl Engine,
    index: &std::sync::Arc<FsIndex>,
    keep_set: &KeepSet,
    target: &Target<'_>,
    labels: &[(String, String)],
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<Built, LoadError> {
    reporter.begin(Phase::Rebuild);
    let meter = std::sync::Arc::new(Meter::default());
    let paths: Vec<Vec<u8>> = keep_set.paths().map(<[u8]>::to_vec).collect();
    let package_db = target.package_db;
    let layer_path = target.layer.clone();
    let output = target.archive.map(Path::to_path_buf);
    let config_in = target.config.clone();
    let labels = labels.to_vec();
    let tag = target.tag.to_string();
    let index = index.clone();
    let (chunks, stream) = super::archive_stream();
    let task_meter = meter.clone();
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancelled);
    let write = tokio::task::spawn_blocking(move || {
        let written = (|| -> Result<Written, LoadError> {
            let meter = task_meter;
            let (paths, generated, db, db_paths) = if package_db {
                let kept = |p: &[u8]| paths.binary_search_by(|k| k.as_slice().cmp(p)).is_ok();
                let trimmed = packages::trim(&index, &kept)?;
                let generated = trimmed.contents();
                let db_paths: Vec<Vec<u8>> = if trimmed.db.is_some() {
                    trimmed.files.into_keys().collect()
                } else {
                    Vec::new()
                };
                let mut all = paths;
                all.extend(db_paths.iter().cloned());
                (all, generated, trimmed.db, db_paths)
            } else {
                (paths, std::collections::BTreeMap::new(), None, Vec::new())
            };
            #[expect(
                clippy::disallowed_methods,
                reason = "the error it maps to names the file"
            )]
            let out = BufWriter::new(Metered {
                inner: Cancellable {
                    inner: File::create(&layer_path)
                        .map_err(io_error(format!("creating {}", layer_path.display())))?,
                    cancelled: &cancelled,
                },
                written: &meter.layer,
            });
            let (summary, out) =
                layer::write_layer(&index, paths.iter().map(Vec::as_slice), &generated, out)?;
            out.into_inner()
                .map_err(|e| e.into_error())
                .map_err(io_error(format!("writing {}", layer_path.display())))?;
            meter.layer_done.store(true, Ordering::Relaxed);
            let config = archive::new_config(&config_in, &summary, &labels)?;
            #[expect(
                clippy::disallowed_methods,
                reason = "the error it maps to names the file"
            )]
            let layer = BufReader::new(
                File::open(&layer_path)
                    .map_err(io_error(format!("reading {}", layer_path.display())))?,
            );
            let what = match &output {
                Some(path) => format!("writing the image archive {}", path.display()),
                None => "streaming the image archive to the engine".to_string(),
            };
            #[expect(
                clippy::disallowed_methods,
                reason = "the error it maps to names the file"
            )]
            let file = match &output {
                Some(path) => Some(File::create(path).map_err(io_error(what.clone()))?),
                None => None,
            };
            let out = BufWriter::with_capacity(
                1 << 20,
                Metered {
                    inner: Cancellable {
                        inner: super::Tee::new(chunks, file),
                        cancelled: &cancelled,
                    },
                    written: &meter.archive,
                },
            );
            let (archived, mut out) =
                archive::write_archive(out, &config, layer, &summary, Some(&tag))
                    .map_err(io_error(what.clone()))?;
            out.flush().map_err(io_error(what.clone()))?;
            out.into_inner()
                .map_err(|e| e.into_error())
                .and_then(|metered| metered.inner.inner.finish())
                .map_err(io_error(what))?;
            Ok((summary, archived, db, db_paths))
        })();
        // Writes fail once interrupted (see `Cancellable`): that is the interrupt.
        match written {
            Err(_) if cancelled.load(Ordering::Relaxed) => Err(LoadError::Interrupted(Interrupted)),
            done => done,
        }
    });
    let name = format!("the new image {}", target.tag);
    let work = async { tokio::join!(write, engine.load_image(stream, &name)) };
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let (written, loaded) = loop {
        tokio::select! {
            biased;
            () = stop.requested() => {
                // Both get time to end, so that nothing is written or tagged after the
                // clean-up.
                flag.store(true, Ordering::Relaxed);
                let _ = tokio::time::timeout(SETTLE, work).await;
                return Err(LoadError::Interrupted(Interrupted));
            }
            done = &mut work => break done,
            _ = tick.tick() => meter.report(reporter),
        }
    };
    meter.report(reporter);
    let written =
        written.map_err(|e| LoadError::Internal(format!("the rebuild task failed: {e}")))?;
    let (layer_summary, archive_summary, packages, package_paths) = match (written, loaded) {
        (Ok(written), Ok(())) => written,
        // The engine stopped reading: its own error says why, not the broken pipe.
        (Err(LoadError::Io { source, .. }), Err(refused))
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            return Err(refused.into());
        }
        (Err(e), _) => return Err(e),
        (Ok(_), Err(refused)) => return Err(refused.into()),
    };
    test_point("load", reporter, stop).await?;
    let loaded = interruptible(stop, engine.inspect_image(target.tag)).await??;
    if loaded.id != archive_summary.image_id {
        return Err(LoadError::Internal(format!(
            "the engine tagged {} as {} but slim built {}",
            target.tag, loaded.id, archive_summary.image_id
        )));
    }
    reporter.end(&format!(
        "{} ({}): {} entries, {} sent",
        target.tag,
        short_id(&loaded.id),
        layer_summary.entries,
        megabytes(meter.archive.load(Ordering::Relaxed))
    ));
    Ok(Built {
        image_id: archive_summary.image_id,
        digest: archive_summary.manifest_digest,
        size: loaded
            .size
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(layer_summary.size),
        layer: layer_summary,
        packages,
        package_paths,
    })
}

/// What the rebuild has written so far, for its progress: the layer file, then the
/// archive streamed into the engine (the `load` phase).
#[derive(Default)]
struct Meter {
    layer: AtomicU64,
    layer_done: std::sync::atomic::AtomicBool,
    archive: AtomicU64,
    /// Whether the `load` phase has begun.
    loading: std::sync::atomic::AtomicBool,
}

impl Meter {
    /// Reports the bytes of the phase in progress, moving from `rebuild` to `load` once
    /// the layer is written.
    fn report(&self, reporter: &dyn Reporter) {
        if !self.loading.load(Ordering::Relaxed) {
            let layer = self.layer.load(Ordering::Relaxed);
            reporter.count(Counter::BytesWritten, layer);
            if !self.layer_done.load(Ordering::Relaxed) {
                return;
            }
            self.loading.store(true, Ordering::Relaxed);
            reporter.end(&format!("{} layer written", megabytes(layer)));
            reporter.begin(Phase::Load);
        }
        reporter.count(Counter::BytesWritten, self.archive.load(Ordering::Relaxed));
    }
}

/// A writer that counts the bytes through it where another thread can read them.
struct Metered<'a, W> {
    inner: W,
    written: &'a AtomicU64,
}

impl<W: Write> Write for Metered<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A writer that fails once `cancelled` is set, so that an interrupt ends a long write.
struct Cancellable<'a, W> {
    inner: W,
    cancelled: &'a AtomicBool,
}

impl<W: Write> Write for Cancellable<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.cancelled.load(Ordering::Relaxed) {
            // Not ErrorKind::Interrupted: write_all would retry that.
            return Err(std::io::Error::other("interrupted"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LoadError {
    let what = what.into();
    move |source| LoadError::Io { what, source }
}
