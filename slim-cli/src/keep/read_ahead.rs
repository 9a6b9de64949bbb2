//! Python sources read ahead: while the traced application runs, the sources it loads are
//! read from the image and scanned for their imports on a thread of their own, so that the
//! keep phase's import closure finds most of its first wave done. What the run loads comes
//! from its trace as it grows ([`read_ahead`] makes the watcher and the scanner's end of it).
//!
//! A scan read ahead is the one the closure would make ([`read_and_scan`]), of the same
//! index, so the keep set does not depend on what was read ahead; the closure scans what
//! was not.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use super::python_closure::source_path;
use super::python_imports::{Imports, scan};
use crate::image::index::FsIndex;
use crate::trace::TraceRecord;

/// Bytes read at most from one Python source.
pub(super) const SOURCE_LIMIT: u64 = 16 << 20;

/// The imports of Python sources scanned ahead, by path.
#[derive(Debug, Default)]
pub struct SourceScans {
    scans: HashMap<Vec<u8>, Imports>,
    /// The time spent reading and scanning them.
    pub took: Duration,
}

impl SourceScans {
    /// How many sources were scanned.
    pub fn len(&self) -> usize {
        self.scans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scans.is_empty()
    }

    /// The imports of `source`, when it was scanned ahead (each is handed out once).
    pub(super) fn take(&mut self, source: &[u8]) -> Option<Imports> {
        self.scans.remove(source)
    }

    /// Scans as if read ahead: `imports` for `source`.
    #[cfg(test)]
    pub(super) fn insert(&mut self, source: &str, imports: Imports) {
        self.scans.insert(source.as_bytes().to_vec(), imports);
    }
}

/// The imports of `source` read from the image, or `None` when it cannot be read.
pub(super) fn read_and_scan(index: &FsIndex, source: &[u8]) -> Option<Imports> {
    let node = index.get(source)?;
    let text = index.read_to_vec(node, SOURCE_LIMIT).ok()?;
    Some(scan(&text))
}

/// The scanner's end of a read-ahead: the sources the run loaded, in batches, until the
/// run ends.
pub struct Ahead {
    sources: Receiver<Vec<Vec<u8>>>,
    ended: Arc<AtomicBool>,
}

/// Marks the run's end when the watcher is dropped: the scanner leaves what it has not
/// read yet to the keep phase, which reads on every core.
struct RunEnd(Arc<AtomicBool>);

impl Drop for RunEnd {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A watcher of a traced run's records that passes on each Python source the run loaded
/// (once), and the scanner's end.
pub fn read_ahead() -> (impl FnMut(&[TraceRecord]) + Send + 'static, Ahead) {
    let (sender, sources): (Sender<Vec<Vec<u8>>>, _) = channel();
    let ended = Arc::new(AtomicBool::new(false));
    let end = RunEnd(ended.clone());
    let mut sent: HashSet<Vec<u8>> = HashSet::new();
    let watcher = move |records: &[TraceRecord]| {
        let _ = &end;
        let batch: Vec<Vec<u8>> = loaded_sources(records)
            .filter(|source| sent.insert(source.clone()))
            .collect();
        if !batch.is_empty() {
            // The scanner is gone when indexing failed: nothing is read ahead then.
            let _ = sender.send(batch);
        }
    };
    (watcher, Ahead { sources, ended })
}

/// The Python sources of the records that found their file: a source itself, or the
/// source of bytecode (`__pycache__/X.TAG.pyc` → `X.py`).
fn loaded_sources(records: &[TraceRecord]) -> impl Iterator<Item = Vec<u8>> + '_ {
    records
        .iter()
        .filter(|r| r.incomplete.is_none() && !r.result.is_missing())
        .filter_map(|r| source_path(&r.path))
}

impl Ahead {
    /// Reads and scans the sources as they come, until the run ends.
    pub fn scan(self, index: &FsIndex) -> SourceScans {
        let mut done = SourceScans::default();
        while let Ok(batch) = self.sources.recv() {
            for source in batch {
                if self.ended.load(Ordering::Acquire) {
                    return done;
                }
                let started = Instant::now();
                if let Some(imports) = read_and_scan(index, &source) {
                    done.scans.insert(source, imports);
                }
                done.took += started.elapsed();
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keep::test_files::index_of;
    use crate::test_kit::record;

    fn batches(ahead: &Ahead) -> Vec<Vec<String>> {
        ahead
            .sources
            .try_iter()
            .map(|batch| {
                batch
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_watcher_passes_on_each_python_source_the_run_loaded_once() {
        let (mut watch, ahead) = read_ahead();
        watch(&[
            record("/app/server.py"),
            record("/etc/passwd"),
            record("/usr/lib/python3.11/__pycache__/copy.cpython-311.pyc"),
            // Looked for where it is not: nothing was loaded.
            record("/app/json.py").failed(libc::ENOENT),
        ]);
        watch(&[]);
        watch(&[
            record("/app/server.py"),
            record("/usr/lib/python3.11/copy.py"),
            record("/usr/lib/python3.11/json/__init__.py"),
        ]);
        assert_eq!(
            batches(&ahead),
            [
                vec!["/app/server.py", "/usr/lib/python3.11/copy.py"],
                vec!["/usr/lib/python3.11/json/__init__.py"],
            ]
        );
    }

    #[test]
    fn the_scanner_reads_the_sources_as_they_come_until_the_run_ends() {
        let (index, _dir) = index_of(
            "read-ahead-scan",
            &[(
                "app/server.py",
                "import json\ndef page():\n    import fractions\n",
            )],
        );
        let (sender, sources) = channel();
        let ahead = Ahead {
            sources,
            ended: Arc::new(AtomicBool::new(false)),
        };
        sender
            .send(vec![b"/app/server.py".to_vec(), b"/app/gone.py".to_vec()])
            .unwrap();
        drop(sender);
        let mut scans = ahead.scan(&index);
        assert_eq!(scans.len(), 1, "the source the image lacks is left out");
        let imports = scans.take(b"/app/server.py").expect("scanned ahead");
        let modules: Vec<&str> = imports.refs.iter().map(|r| r.module.as_str()).collect();
        assert_eq!(modules, ["json", "fractions"]);
        assert!(scans.take(b"/app/server.py").is_none(), "handed out once");
    }

    #[test]
    fn what_the_scanner_has_not_read_when_the_run_ends_is_left_to_the_keep_phase() {
        let (index, _dir) = index_of("read-ahead-end", &[("app/server.py", "import json\n")]);
        let (mut watch, ahead) = read_ahead();
        watch(&[record("/app/server.py")]);
        drop(watch);
        assert!(ahead.scan(&index).is_empty());
    }
}
