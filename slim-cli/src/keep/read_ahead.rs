//! Python sources read ahead: while the traced application runs, the sources it loads are
//! read from the image and scanned for their imports on a thread of their own, so that the
//! keep phase's import closure finds most of its work done. What the run loads comes from
//! its trace as it grows ([`read_ahead`] makes the watcher and the scanner's end of it).
//! When the scanner has nothing loaded left to read, it reads what those sources import,
//! as far as it can tell before the keep phase knows `sys.path` and the profiles: from the
//! directories the loaded sources show (the standard library beside `os.py`, the
//! `site-packages` and `dist-packages` directories), without the python profile's tools
//! and excluded parts. Then, with no import left to follow, it reads the rest of what the
//! keep phase may read whole: every source of the installed packages the run loaded a
//! module of (the package rule keeps their subpackages, a framework profile some of them
//! whole), and of the standard library's packages kept whole (`encodings`).
//!
//! A scan read ahead is the one the closure would make ([`read_and_scan`]), of the same
//! index, so the keep set does not depend on what was read ahead, or guessed; the closure
//! scans what was not, and a guess it never asks for was only time on the run's spare
//! core.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use globset::GlobSet;

use super::glob::as_path;
use super::profile;
use super::python_closure::{is_dir, is_file, is_tool, relative_base, source_path, version_dir};
use super::python_imports::{Imports, scan};
use crate::image::index::{FsIndex, NodeKind, join, split_parent};
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
        // The watcher holds the run's end: dropping it tells the scanner.
        let _ = &end;
        // A module's files are looked at many times: each is copied into `sent` once.
        let mut batch: Vec<Vec<u8>> = Vec::new();
        for source in loaded_sources(records) {
            if !sent.contains(&source) {
                sent.insert(source.clone());
                batch.push(source);
            }
        }
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
    /// Reads and scans the sources as they come, then what they import, until the run
    /// ends.
    pub fn scan(self, index: &FsIndex) -> SourceScans {
        let mut done = SourceScans::default();
        let mut guess = Guess::new(index);
        let mut loaded: VecDeque<Vec<u8>> = VecDeque::new();
        // Whether the watcher is gone: no batch will come.
        let mut gone = false;
        loop {
            // What the run loaded comes before guesses: every batch waiting is taken, and
            // with nothing else to read, the next one is waited for.
            loop {
                let idle = loaded.is_empty() && guess.next.is_empty() && guess.wide.is_empty();
                let batch = if idle {
                    let batch = self.sources.recv().ok();
                    gone = batch.is_none();
                    batch
                } else {
                    self.sources.try_recv().ok()
                };
                let Some(batch) = batch else { break };
                for source in batch {
                    guess.learn(&source);
                    if guess.queued.insert(source.clone()) {
                        loaded.push_back(source);
                    }
                }
            }
            if self.ended.load(Ordering::Acquire) {
                break;
            }
            let next = loaded
                .pop_front()
                .or_else(|| guess.next.pop_front())
                .or_else(|| guess.widen());
            let Some(source) = next else {
                // Everything known is read: the next batch is waited for, unless none
                // will come.
                if gone {
                    break;
                }
                continue;
            };
            let started = Instant::now();
            if let Some(imports) = read_and_scan(index, &source) {
                guess.follow(&source, &imports);
                done.scans.insert(source, imports);
            }
            done.took += started.elapsed();
        }
        done
    }
}

/// What the scanner can tell of what a loaded source imports before the keep phase.
struct Guess<'i> {
    index: &'i FsIndex,
    /// Directories the loaded sources show to be on Python's path: a standard library
    /// (where `os.py` is), `site-packages` and `dist-packages`.
    dirs: Vec<Vec<u8>>,
    stdlib: Vec<Vec<u8>>,
    /// The python profile's tools and exclude globs.
    tools: Vec<String>,
    excludes: GlobSet,
    /// The standard library's packages the python profile keeps whole (`encodings`).
    whole: Vec<String>,
    /// Every source loaded or guessed so far, and the guesses not read yet.
    queued: HashSet<Vec<u8>>,
    next: VecDeque<Vec<u8>>,
    /// Packages whose every source is read once no import is left to follow: installed
    /// ones the run loaded a module of, the standard library's packages kept whole. Each
    /// is listed once.
    wide: VecDeque<Vec<u8>>,
    widened: HashSet<Vec<u8>>,
}

impl<'i> Guess<'i> {
    fn new(index: &'i FsIndex) -> Guess<'i> {
        let python = profile::load("python").ok();
        let rules = python.as_ref().and_then(|p| p.python_imports.as_ref());
        Guess {
            index,
            dirs: Vec::new(),
            stdlib: Vec::new(),
            tools: rules.map(|rules| rules.tools.clone()).unwrap_or_default(),
            whole: rules.map(|rules| rules.whole.clone()).unwrap_or_default(),
            excludes: python
                .and_then(|p| p.excludes().ok())
                .unwrap_or_else(GlobSet::empty),
            queued: HashSet::new(),
            next: VecDeque::new(),
            wide: VecDeque::new(),
            widened: HashSet::new(),
        }
    }

    /// Notes the path directories a loaded source shows.
    fn learn(&mut self, source: &[u8]) {
        let (dir, name) = split_parent(source);
        if name == b"os.py" && version_dir(&dir).is_some() && !self.stdlib.contains(&dir) {
            let whole: Vec<Vec<u8>> = (self.whole.iter())
                .map(|name| join(&dir, name.replace('.', "/").as_bytes()))
                .collect();
            for package in whole {
                self.widen_later(package);
            }
            self.stdlib.push(dir.clone());
            self.dirs.push(dir);
            return;
        }
        for marker in [&b"/site-packages/"[..], b"/dist-packages/"] {
            if let Some(at) = memchr::memmem::find(source, marker) {
                let site = source[..at + marker.len() - 1].to_vec();
                // The installed package (top-level directory) the source belongs to.
                let rest = &source[at + marker.len()..];
                if let Some(end) = memchr::memchr(b'/', rest) {
                    self.widen_later(join(&site, &rest[..end]));
                }
                if !self.dirs.contains(&site) {
                    self.dirs.push(site);
                }
            }
        }
    }

    /// Lists the package directory `dir` to be read whole, once.
    fn widen_later(&mut self, dir: Vec<u8>) {
        if self.widened.insert(dir.clone()) {
            self.wide.push_back(dir);
        }
    }

    /// The next source of a package read whole: each listed package's sources not read
    /// yet (the profile's excluded parts aside) are queued as guesses.
    fn widen(&mut self) -> Option<Vec<u8>> {
        while self.next.is_empty() {
            let dir = self.wide.pop_front()?;
            for (path, node) in self.index.descendants(&dir) {
                if matches!(node.kind, NodeKind::File { .. })
                    && path.ends_with(b".py")
                    && !self.excludes.is_match(as_path(path))
                    && !self.queued.contains(path)
                {
                    self.queued.insert(path.clone());
                    self.next.push_back(path.clone());
                }
            }
        }
        self.next.pop_front()
    }

    /// Queues the sources `imports` (read from `source`) would load, where they can be
    /// told.
    fn follow(&mut self, source: &[u8], imports: &Imports) {
        let in_stdlib = self
            .stdlib
            .iter()
            .any(|dir| source.starts_with(dir) && source.get(dir.len()) == Some(&b'/'));
        let mut found = Vec::new();
        for reference in &imports.refs {
            if reference.level > 0 {
                let base = relative_base(source, reference.level);
                self.resolve(&base, &reference.module, &reference.names, &mut found);
                continue;
            }
            if in_stdlib && self.is_tool(&reference.module) {
                continue;
            }
            let first = reference.module.split('.').next().unwrap_or_default();
            let dir = self.dirs.iter().find(|dir| {
                let candidate = join(dir, first.as_bytes());
                self.is_dir(&candidate) || self.is_file(&[&candidate[..], b".py"].concat())
            });
            if let Some(dir) = dir.cloned() {
                self.resolve(&dir, &reference.module, &reference.names, &mut found);
            }
        }
        for file in found {
            if !self.excludes.is_match(as_path(&file)) && self.queued.insert(file.clone()) {
                self.next.push_back(file);
            }
        }
    }

    /// The sources of the dotted `module` below `dir`, then of `names` in it.
    fn resolve(&self, dir: &[u8], module: &str, names: &[String], found: &mut Vec<Vec<u8>>) {
        let mut at = dir.to_vec();
        for part in module.split('.').filter(|p| !p.is_empty()) {
            let package = join(&at, part.as_bytes());
            let init = join(&package, b"__init__.py");
            if self.is_file(&init) {
                found.push(init);
            } else {
                let file = [&package[..], b".py"].concat();
                if self.is_file(&file) {
                    found.push(file);
                    return;
                }
                if !self.is_dir(&package) {
                    return;
                }
            }
            at = package;
        }
        for name in names {
            let package = join(&at, name.as_bytes());
            let init = join(&package, b"__init__.py");
            let file = [&package[..], b".py"].concat();
            if self.is_file(&init) {
                found.push(init);
            } else if self.is_file(&file) {
                found.push(file);
            }
        }
    }

    fn is_tool(&self, module: &str) -> bool {
        is_tool(&self.tools, module)
    }

    fn is_file(&self, path: &[u8]) -> bool {
        is_file(self.index, path)
    }

    fn is_dir(&self, path: &[u8]) -> bool {
        is_dir(self.index, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keep::test_files::index_of;
    use crate::test_kit::record;

    /// The paths of the sources scanned, sorted.
    fn scanned(scans: &SourceScans) -> Vec<String> {
        let mut scanned: Vec<String> = (scans.scans.keys())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        scanned.sort();
        scanned
    }

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
    fn with_no_import_left_the_scanner_reads_the_loaded_packages_whole() {
        let lib = "usr/lib/python3.11";
        let site = "opt/venv/lib/python3.11/site-packages";
        let files: Vec<(String, &str)> = [
            ("LIB/os.py", "import stat\n"),
            ("LIB/stat.py", ""),
            ("LIB/weakref.py", "def _test():\n    import doctest\n"),
            ("LIB/doctest.py", ""),
            ("LIB/json/__init__.py", "from .decoder import JSONDecoder\n"),
            ("LIB/json/decoder.py", ""),
            ("LIB/fractions.py", "from decimal import Decimal\n"),
            ("LIB/decimal.py", ""),
            ("LIB/test/__init__.py", ""),
            ("LIB/test/test_x.py", ""),
            ("LIB/encodings/__init__.py", ""),
            ("LIB/encodings/cp1252.py", ""),
            ("LIB/xml/__init__.py", ""),
            ("SITE/pkg/__init__.py", ""),
            ("SITE/pkg/sub.py", ""),
            ("SITE/pkg/unused.py", ""),
            ("SITE/pkg/tests/test_sub.py", ""),
            ("SITE/other/__init__.py", ""),
            (
                "app/server.py",
                "import json\ndef page():\n    import fractions\n    from pkg import sub\n    \
                 import test.test_x\n",
            ),
        ]
        .into_iter()
        .map(|(path, text)| (path.replace("LIB", lib).replace("SITE", site), text))
        .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
        let (index, _dir) = index_of("read-ahead-guess", &files);
        let (sender, sources) = channel();
        let ahead = Ahead {
            sources,
            ended: Arc::new(AtomicBool::new(false)),
        };
        let loaded = [
            "LIB/os.py",
            "LIB/weakref.py",
            "SITE/pkg/__init__.py",
            "app/server.py",
        ];
        let path = |p: &str| format!("/{}", p.replace("LIB", lib).replace("SITE", site));
        sender
            .send(loaded.iter().map(|p| path(p).into_bytes()).collect())
            .unwrap();
        drop(sender);
        let scans = ahead.scan(&index);
        let scanned = scanned(&scans);
        let mut expected: Vec<String> = [
            "LIB/os.py",
            "LIB/stat.py",
            "LIB/weakref.py",
            "LIB/json/__init__.py",
            "LIB/json/decoder.py",
            "LIB/fractions.py",
            "LIB/decimal.py",
            "SITE/pkg/__init__.py",
            "SITE/pkg/sub.py",
            "app/server.py",
            // Read whole: a package the run loaded, and one the standard library's kept
            // whole.
            "SITE/pkg/unused.py",
            "LIB/encodings/__init__.py",
            "LIB/encodings/cp1252.py",
        ]
        .iter()
        .map(|p| path(p))
        .collect();
        expected.sort();
        // Not a tool the standard library imports for its self-test, nor an excluded part
        // (test suites), nor a package nothing loaded or imported.
        assert_eq!(scanned, expected);
    }

    #[test]
    fn with_everything_read_the_scanner_waits_for_what_the_run_loads_next() {
        let site = "/opt/venv/lib/python3.11/site-packages";
        let (index, _dir) = index_of(
            "read-ahead-wait",
            &[
                ("opt/venv/lib/python3.11/site-packages/pkg/__init__.py", ""),
                ("opt/venv/lib/python3.11/site-packages/pkg/sub.py", ""),
                // A package whose every source the run loaded: read whole, it adds none.
                ("opt/venv/lib/python3.11/site-packages/one/__init__.py", ""),
                ("app/server.py", "import pkg\n"),
                ("app/late.py", ""),
            ],
        );
        let (sender, sources) = channel();
        let ahead = Ahead {
            sources,
            ended: Arc::new(AtomicBool::new(false)),
        };
        sender
            .send(vec![
                b"/app/server.py".to_vec(),
                format!("{site}/pkg/__init__.py").into_bytes(),
                format!("{site}/one/__init__.py").into_bytes(),
            ])
            .unwrap();
        // Loaded after the scanner has read the first batch and its package whole.
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            sender.send(vec![b"/app/late.py".to_vec()]).unwrap();
        });
        let scans = ahead.scan(&index);
        late.join().unwrap();
        let scanned = scanned(&scans);
        assert_eq!(
            scanned,
            [
                "/app/late.py".to_string(),
                "/app/server.py".into(),
                format!("{site}/one/__init__.py"),
                format!("{site}/pkg/__init__.py"),
                format!("{site}/pkg/sub.py"),
            ]
        );
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
