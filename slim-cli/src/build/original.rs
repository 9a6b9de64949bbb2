//! The original image's files as the keep phase reads them: indexed from the engine's
//! layer store while the traced container runs (with the Python sources it loads scanned
//! ahead), else read through the engine's export after the run.

use std::path::Path;
use std::time::{Duration, Instant};

use super::blocking;
use crate::engine::Engine;
use crate::error::Error;
use crate::image::index::{FsIndex, IndexError, LayerSource};
use crate::image::save::save_image;
use crate::image::store::{self, ImageSource, LayerStore, SourceChoice};
use crate::inspect::ImageInfo;
use crate::interrupt::{StopRequest, interruptible};
use crate::keep::SourceScans;
use crate::keep::read_ahead::read_ahead;
use crate::reporter::{Reporter, megabytes};
use crate::run::Watcher;
use crate::settings::BuildSettings;

/// Starts indexing `image` in the engine's layer store when it can be read there, with the
/// watcher that passes the traced run's Python sources to the index task, which scans
/// them once the index is made; else says why the export will be read.
pub(super) fn start_indexing(
    image: &ImageInfo,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Result<(Indexing, Option<Watcher>), Error> {
    let source_choice = settings.image_source;
    let LayerStore {
        driver,
        layers,
        config,
    } = match store::locate(image, source_choice)? {
        Ok(store) => store,
        Err(why) => return Ok((Indexing::Export { why }, None)),
    };
    reporter.step(&format!(
        "indexing the image in the engine's layer store ({driver}) while it runs"
    ));
    let (watcher, ahead): (Option<Watcher>, _) = if settings.keep.import_closure {
        let (watch, ahead) = read_ahead();
        (Some(Box::new(watch)), Some(ahead))
    } else {
        (None, None)
    };
    let task = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let records: u64 = layers.iter().map(|l| l.record_size()).sum();
        let index = FsIndex::from_sources(layers.into_iter().map(LayerSource::Store).collect())?;
        let took = start.elapsed();
        let ahead = ahead.map(|a| a.scan(&index)).unwrap_or_default();
        Ok(Indexed {
            index,
            records,
            took,
            ahead,
        })
    });
    let indexing = Indexing::Store {
        driver,
        config,
        task,
        required: source_choice == SourceChoice::Store,
    };
    Ok((indexing, watcher))
}

/// The original image's files, indexed from the engine's layer store while the traced
/// container runs, or to be read through the export.
pub(super) enum Indexing {
    Store {
        driver: String,
        config: serde_json::Value,
        task: tokio::task::JoinHandle<Result<Indexed, IndexError>>,
        /// `--image-source store`: a failure is the build's, not a reason for the export.
        required: bool,
    },
    Export {
        why: String,
    },
}

/// What the index task made of the layer store while the traced container ran.
pub(super) struct Indexed {
    index: FsIndex,
    /// The bytes of layer records it read.
    records: u64,
    /// How long indexing took.
    took: Duration,
    /// The Python sources the run loaded, scanned once the index was made.
    ahead: SourceScans,
}

/// The original image's files, as the keep phase reads them.
pub(super) struct OriginalFiles {
    pub(super) index: FsIndex,
    pub(super) config: serde_json::Value,
    pub(super) source: ImageSource,
    /// How long indexing took alongside the run (`None`: it was read after the run).
    pub(super) indexed_alongside: Option<Duration>,
    pub(super) ahead: SourceScans,
}

/// The original's index and config, and where they were read from: the layer store's
/// index when it succeeded, else the engine's export saved into `work` and indexed.
pub(super) async fn original_files(
    engine: &impl Engine,
    image: &ImageInfo,
    indexing: Indexing,
    work: &Path,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<OriginalFiles, Error> {
    let why = match indexing {
        Indexing::Store {
            driver,
            config,
            task,
            required,
        } => match interruptible(stop, task).await? {
            Ok(Ok(Indexed {
                index,
                records,
                took,
                ahead,
            })) => {
                reporter.end(&format!(
                    "read in place: {} paths, {} read from the layer store's records \
                     ({driver}), indexed in {:.1}s alongside the run{}",
                    index.len(),
                    megabytes(records),
                    took.as_secs_f64(),
                    if ahead.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", {} Python sources scanned in {:.2}s",
                            ahead.len(),
                            ahead.took.as_secs_f64()
                        )
                    }
                ));
                return Ok(OriginalFiles {
                    index,
                    config,
                    source: ImageSource::LayerStore { driver },
                    indexed_alongside: Some(took),
                    ahead,
                });
            }
            Ok(Err(error)) if required => return Err(error.into()),
            Ok(Err(error)) => {
                reporter.warn(&format!(
                    "the layer store could not be read ({error}); reading the image through \
                     the engine's export"
                ));
                format!("the layer store could not be read: {error}")
            }
            Err(join) => {
                return Err(Error::Internal(format!("the index task failed: {join}")));
            }
        },
        Indexing::Export { why } => why,
    };
    let saved = save_image(engine, image, work, reporter, stop).await?;
    let layers = saved.layers;
    let index = blocking(stop, "index", move || FsIndex::from_layers(&layers)).await??;
    Ok(OriginalFiles {
        index,
        config: saved.config,
        source: ImageSource::Export { why },
        indexed_alongside: None,
        ahead: SourceScans::default(),
    })
}
