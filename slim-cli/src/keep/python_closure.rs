//! The import closure of the Python modules kept so far: every module a kept source can
//! import (read by `python_imports`), found on the image's own `sys.path` as the
//! interpreter would find it, kept and read in turn until nothing new appears. This keeps
//! a standard-library module imported inside a function that the traced run never called,
//! with an extension module's shared libraries (the builder queues its ELF closure).
//!
//! `sys.path` comes from the image's files: for each Python version whose standard
//! library was used, `…/lib/python3.N` with its `lib-dynload`, the `site-packages` and
//! `dist-packages` directories of that version (venvs included) and `/usr/lib/python3/
//! dist-packages`, and the directories their `.pth` files name. What the sources cannot
//! say comes from the profile's `python_imports` table: modules frozen into the
//! interpreter (their imports are read from the image's copy), packages imported by a name
//! computed at run time (kept whole), and modules C code imports.
//!
//! Reads the image index only.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use globset::GlobSet;

use super::builder::{Added, Builder, display};
use super::glob::as_path;
use super::model::Reason;
use super::profile::PythonImports;
use super::python_imports::{ImportRef, Imports};
use super::read_ahead::{SOURCE_LIMIT, SourceScans, read_and_scan};
use super::rules::{left_out, used_under};
use crate::image::index::{FsIndex, NodeKind, join, split_parent};
use crate::trace::path::normalize;

/// Where one Python version finds its modules.
#[derive(Clone, Debug, Default)]
pub(super) struct SysPath {
    /// The version (`3.11`).
    version: String,
    /// Directories, in search order.
    dirs: Vec<Vec<u8>>,
    /// The standard library directories among them.
    stdlib: Vec<Vec<u8>>,
    /// Extension module suffixes of the version (`.cpython-311-x86_64-linux-gnu.so`), then
    /// `.abi3.so` and `.so`.
    suffixes: Vec<Vec<u8>>,
    /// Its place among the versions of the image: what a directory holds for one version
    /// is remembered under it ([`Probe`]).
    id: usize,
    /// What a path under one of its directories holds (`/python3.11/`).
    marker: Vec<u8>,
}

/// What one directory holds under one name for a Python version's path finder.
#[derive(Clone, Debug)]
pub(super) enum Probe {
    /// A package: the directory `NAME` with this `__init__`.
    Package(Vec<u8>),
    /// A module file: an extension module, a source or sourceless bytecode.
    Module(Vec<u8>),
    /// A directory without `__init__`: part of a namespace package, unless another
    /// directory of the path has the module.
    Namespace,
    Nothing,
}

/// A module found on a path: the files importing it loads, and where its submodules are.
#[derive(Clone, Debug, Default)]
pub(super) struct Found {
    files: Vec<Vec<u8>>,
    /// The package's directories (none when the name is a plain module or not found).
    package_dirs: Vec<Vec<u8>>,
    /// Every part of the name was found.
    complete: bool,
}

/// The import closure of one profile's `python_imports` table.
pub(super) struct ImportClosure<'b, 'a> {
    pub builder: &'b mut Builder<'a>,
    pub profile: &'b str,
    pub rules: &'b PythonImports,
    pub excludes: &'b GlobSet,
    /// The globs `excludes` was compiled from: with `rules`, what makes two closures the
    /// same (a profile that extends python runs the same one again after its own rules).
    pub exclude_globs: &'b [String],
    /// Files used by the application (sorted).
    pub used: &'b BTreeSet<Vec<u8>>,
    /// Whether this round keeps the table's roots (frozen modules, packages kept whole).
    /// The first round of a profile's closure does; the rounds after it would find them
    /// kept already, with the same reasons.
    pub roots: bool,
    /// What this closure did with each file it was asked to keep. Many sources import
    /// the same modules; the second time only the reason is new, and once the file has
    /// all the reasons recorded, nothing is.
    pub seen: HashMap<Vec<u8>, Seen>,
}

/// What an import closure did with a file it was asked to keep.
pub(super) enum Seen {
    /// The profile left it out.
    LeftOut,
    Added(Added),
    /// Added, with as many reasons as are recorded.
    Full,
}

impl ImportClosure<'_, '_> {
    fn reason(&self, rule: String) -> Reason {
        Reason::Profile {
            profile: self.profile.to_string(),
            rule,
        }
    }

    /// Keeps the closure of every kept Python source.
    pub fn run(&mut self) {
        // The image and the used files do not change during a build: one walk of the
        // index finds every version's path.
        let paths = match &self.builder.python_paths {
            Some(paths) => paths.clone(),
            None => {
                let paths = self.sys_paths();
                self.builder.python_paths = Some(paths.clone());
                paths
            }
        };
        if paths.is_empty() {
            return;
        }
        // Sources an earlier run of the same closure read: only what the rules applied
        // since then added is read now.
        // What decides the imports read from a source: a profile that only adds roots
        // (`frozen`, `whole`) goes on from what another closure read.
        let key = (
            self.rules.tools.clone(),
            self.rules.implied.clone(),
            self.exclude_globs.to_vec(),
        );
        let mut scanned = self
            .builder
            .python_scanned
            .iter()
            .position(|(k, _)| *k == key)
            .map(|i| self.builder.python_scanned.swap_remove(i).1)
            .unwrap_or_default();
        let mut queue: Vec<Vec<u8>> = self
            .builder
            .set
            .paths()
            .filter_map(source_path)
            .filter(|source| !scanned.contains(source) && self.is_source(source))
            .collect();
        let roots = self.roots;
        for (version, path) in paths.iter().filter(|_| roots) {
            let why = format!("python {version} imports it at start-up (frozen module)");
            for name in self.rules.frozen_in(version) {
                let found = self.find_on_path(path, name);
                // A frozen module's file is read for its imports, not kept (unless the run
                // used it): the interpreter has its own copy. Its package is imported from
                // the image.
                if let (true, Some(file)) = (found.complete, found.files.last()) {
                    (self.builder.python_frozen).insert(file.clone(), version.clone());
                }
                self.keep(&found.files, &why, &mut queue);
            }
            for name in &self.rules.whole {
                let found = self.find_on_path(path, name);
                let why = format!(
                    "python package imported by a name computed at run time, kept whole: {name}"
                );
                self.keep(&found.files, &why, &mut queue);
                for dir in &found.package_dirs {
                    let below: Vec<Vec<u8>> = self
                        .builder
                        .index
                        .descendants(dir)
                        .filter(|(p, n)| {
                            !matches!(n.kind, NodeKind::Dir)
                                && !self.excludes.is_match(as_path(p))
                                && (!is_bytecode_cache(p) || self.used.contains(*p))
                        })
                        .map(|(p, _)| p.clone())
                        .collect();
                    self.keep(&below, &why, &mut queue);
                }
            }
        }
        // In waves: the sources found so far are read and scanned together (on every
        // core), then what they import is looked up and makes the next wave.
        while !queue.is_empty() {
            let mut wave = std::mem::take(&mut queue);
            wave.retain(|source| scanned.insert(source.clone()));
            let scans = scan_sources(self.builder.index, &wave, &mut self.builder.python_ahead);
            for (source, imports) in wave.into_iter().zip(scans) {
                let Some(imports) = imports else {
                    continue;
                };
                self.follow(&source, imports, &paths, &mut queue);
            }
        }
        self.builder.python_scanned.push((key, scanned));
    }

    /// Keeps (and queues) what one scanned source imports or names.
    fn follow(
        &mut self,
        source: &[u8],
        imports: Imports,
        paths: &BTreeMap<String, SysPath>,
        queue: &mut Vec<Vec<u8>>,
    ) {
        let why = format!("imported by {}", display(source));
        let in_stdlib = paths
            .values()
            .flat_map(|path| &path.stdlib)
            .any(|dir| source.starts_with(dir) && source.get(dir.len()) == Some(&b'/'));
        let versions = versions_of(source, paths);
        let fallback_unneeded = self.fallbacks_unneeded(source, &versions, &imports);
        for (k, reference) in imports.refs.iter().enumerate() {
            if in_stdlib && reference.level == 0 && self.is_tool(&reference.module) {
                continue;
            }
            // `except ImportError:` imports what replaces a module the image has.
            if imports.guards[k]
                .fallback_of
                .is_some_and(|t| fallback_unneeded.contains(&t))
            {
                continue;
            }
            for path in &versions {
                let (found, more) = self.find_ref(source, path, reference);
                self.keep(&found.files, &why, queue);
                self.keep(&more, &why, queue);
            }
        }
        // Names in strings: how applications and frameworks name what they import
        // (settings, plugin tables). The standard library imports by statements.
        if !in_stdlib {
            let why = format!("named by {}", display(source));
            for name in imports.named {
                for path in &versions {
                    let found = self.find_on_path(path, &name);
                    // A module inside a package at least: `"a.b"` where `a` is a
                    // plain module names an attribute, not something to import.
                    if found.files.len() >= 2 {
                        self.keep(&found.files, &why, queue);
                    }
                }
            }
        }
    }

    /// The `try` statements of a source whose every import in the body is found on the
    /// path, so that their `except ImportError` fallbacks never run.
    fn fallbacks_unneeded(
        &self,
        source: &[u8],
        versions: &[&SysPath],
        imports: &Imports,
    ) -> BTreeSet<usize> {
        let mut tried: BTreeMap<usize, bool> = BTreeMap::new();
        for (reference, guard) in imports.refs.iter().zip(&imports.guards) {
            let Some(t) = guard.tried_in else { continue };
            let found = versions
                .iter()
                .all(|path| self.resolves(source, path, reference));
            *tried.entry(t).or_insert(true) &= found;
        }
        tried
            .into_iter()
            .filter_map(|(t, all_found)| all_found.then_some(t))
            .collect()
    }

    /// Whether the module `reference` names is found, every part of its dotted name.
    fn resolves(&self, source: &[u8], path: &SysPath, reference: &ImportRef) -> bool {
        if reference.level == 0 {
            return self.find_on_path(path, &reference.module).complete;
        }
        reference.module.is_empty()
            || self
                .find(
                    &[relative_base(source, reference.level)],
                    path,
                    &reference.module,
                )
                .complete
    }

    /// Whether `module` is one of the profile's tools or inside one.
    fn is_tool(&self, module: &str) -> bool {
        is_tool(&self.rules.tools, module)
    }

    /// Keeps `files` (but what the profile excludes), queueing the new Python sources.
    fn keep(&mut self, files: &[Vec<u8>], why: &str, queue: &mut Vec<Vec<u8>>) {
        for file in files {
            match self.seen.get_mut(file) {
                Some(Seen::LeftOut | Seen::Full) => continue,
                Some(seen @ Seen::Added(_)) => {
                    let reason = Reason::Profile {
                        profile: self.profile.to_string(),
                        rule: why.to_string(),
                    };
                    if let Seen::Added(added) = seen
                        && self.builder.add_again(file, added, reason)
                    {
                        *seen = Seen::Full;
                    }
                    continue;
                }
                None => {}
            }
            if let Some(version) = self.builder.python_frozen.get(file)
                && !self.builder.set.contains(file)
            {
                let rule = format!("frozen into python {version}: imported without its file");
                let glob = display(file);
                (self.builder.set).note_left_out(self.profile, &rule, &glob, file);
                self.seen.insert(file.clone(), Seen::LeftOut);
                queue.push(file.clone());
                continue;
            }
            // An optional part the profile leaves out (a test suite, idlelib …), listed
            // in the report with how to keep it.
            if left_out(
                self.builder,
                self.profile,
                self.excludes,
                self.exclude_globs,
                file,
            ) {
                self.seen.insert(file.clone(), Seen::LeftOut);
                continue;
            }
            let reason = self.reason(why.to_string());
            let new = !self.builder.set.contains(file);
            let added = self.builder.add_resolved(file, reason, true);
            self.seen.insert(file.clone(), Seen::Added(added));
            if new && let Some(source) = self.source_of(file) {
                queue.push(source);
            }
        }
    }

    /// The Python source of a kept file ([`source_path`]), when the image has it and the
    /// profile does not exclude it.
    fn source_of(&self, path: &[u8]) -> Option<Vec<u8>> {
        source_path(path).filter(|source| self.is_source(source))
    }

    /// Whether `source` is a file of the image the profile does not exclude.
    fn is_source(&self, source: &[u8]) -> bool {
        self.is_file(source) && !self.excludes.is_match(as_path(source))
    }

    fn is_file(&self, path: &[u8]) -> bool {
        is_file(self.builder.index, path)
    }

    fn is_dir(&self, path: &[u8]) -> bool {
        is_dir(self.builder.index, path)
    }

    /// The files `reference` (in `source`) makes Python load, on `path`: the module's,
    /// then those of the modules it implies and of the submodules `from … import` names.
    fn find_ref(
        &self,
        source: &[u8],
        path: &SysPath,
        reference: &ImportRef,
    ) -> (Rc<Found>, Vec<Vec<u8>>) {
        let found = if reference.level > 0 {
            let dir = relative_base(source, reference.level);
            Rc::new(if reference.module.is_empty() {
                Found {
                    files: Vec::new(),
                    package_dirs: vec![dir],
                    complete: true,
                }
            } else {
                self.find(&[dir], path, &reference.module)
            })
        } else {
            self.find_on_path(path, &reference.module)
        };
        let mut more = Vec::new();
        if reference.level == 0 {
            for implied in self
                .rules
                .implied
                .get(&reference.module)
                .into_iter()
                .flatten()
            {
                more.extend(self.find_on_path(path, implied).files.iter().cloned());
            }
        }
        // `from pkg import name`: a submodule if the package has one, else an attribute.
        for name in &reference.names {
            let sub = self.find(&found.package_dirs, path, name);
            more.extend(sub.files);
        }
        (found, more)
    }

    /// [`Self::find`] on `path`'s directories, remembered for the build (the same module
    /// is imported by many sources).
    fn find_on_path(&self, path: &SysPath, name: &str) -> Rc<Found> {
        let remembered = self.builder.python_found.borrow();
        if let Some(found) = remembered.get(path.id).and_then(|m| m.get(name)) {
            return found.clone();
        }
        drop(remembered);
        let found = Rc::new(self.find(&path.dirs, path, name));
        let mut remembered = self.builder.python_found.borrow_mut();
        if remembered.len() <= path.id {
            remembered.resize_with(path.id + 1, HashMap::new);
        }
        remembered[path.id].insert(name.to_string(), found.clone());
        found
    }

    /// Finds the dotted module `name` below `dirs` as Python's path finder does: in each
    /// directory a package (`NAME/__init__.py`) first, then an extension module, a source
    /// or a sourceless bytecode file; a directory without `__init__` is a namespace
    /// package only if no directory has the module.
    fn find(&self, dirs: &[Vec<u8>], path: &SysPath, name: &str) -> Found {
        let mut found = Found::default();
        let mut search = Cow::Borrowed(dirs);
        for part in name.split('.') {
            if part.is_empty() || search.is_empty() {
                // `import os.path`: `os` is a module that sets `os.path` itself.
                found.package_dirs.clear();
                return found;
            }
            let mut namespace = Vec::new();
            let mut next = None;
            for dir in search.iter() {
                let candidate = join(dir, part.as_bytes());
                match self.probe(path, &candidate) {
                    Probe::Package(init) => {
                        next = Some((init, vec![candidate]));
                        break;
                    }
                    Probe::Module(file) => {
                        next = Some((file, Vec::new()));
                        break;
                    }
                    Probe::Namespace => namespace.push(candidate),
                    Probe::Nothing => {}
                }
            }
            match next {
                Some((file, package_dirs)) => {
                    found.files.push(file);
                    search = Cow::Owned(package_dirs);
                }
                None if !namespace.is_empty() => search = Cow::Owned(namespace),
                None => {
                    found.package_dirs.clear();
                    return found;
                }
            }
            found.package_dirs.clear();
            found.package_dirs.extend(search.iter().cloned());
        }
        found.complete = true;
        found
    }

    /// What `candidate` (a directory of `path` joined with a name) is to the path finder:
    /// a package (`NAME/__init__.py` first), else a module (`NAME` with an extension
    /// module's suffix, `.py` or `.pyc`), else a namespace directory. Remembered for the
    /// build: the same packages are looked into by many imports.
    fn probe(&self, path: &SysPath, candidate: &[u8]) -> Probe {
        if let Some(probe) = self
            .builder
            .python_probes
            .borrow()
            .get(path.id)
            .and_then(|probes| probes.get(candidate))
        {
            return probe.clone();
        }
        let is_dir = self.is_dir(candidate);
        let init = is_dir
            .then(|| {
                [&b"__init__.py"[..], b"__init__.pyc"]
                    .into_iter()
                    .map(|init| join(candidate, init))
                    .find(|init| self.is_file(init))
            })
            .flatten();
        let probe = match init {
            Some(init) => Probe::Package(init),
            None => {
                let module = path
                    .suffixes
                    .iter()
                    .map(Vec::as_slice)
                    .chain([&b".py"[..], b".pyc"])
                    .map(|suffix| [candidate, suffix].concat())
                    .find(|file| self.is_file(file));
                match module {
                    Some(file) => Probe::Module(file),
                    None if is_dir => Probe::Namespace,
                    None => Probe::Nothing,
                }
            }
        };
        let mut probes = self.builder.python_probes.borrow_mut();
        if probes.len() <= path.id {
            probes.resize_with(path.id + 1, HashMap::new);
        }
        probes[path.id].insert(candidate.to_vec(), probe.clone());
        probe
    }

    /// `sys.path` of each Python version whose standard library was used, by version
    /// (`3.11`).
    fn sys_paths(&self) -> BTreeMap<String, SysPath> {
        let index = self.builder.index;
        let mut paths: BTreeMap<String, SysPath> = BTreeMap::new();
        let mut site_dirs = Vec::new();
        let mut tags: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
        for (path, node) in index.iter() {
            // Names are compared in place: most of the image is none of these.
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
            if name == b"os.py"
                && let dir = split_parent(path).0
                && let Some(version) = version_dir(&dir)
                && used_under(self.used, &dir)
            {
                let entry = paths.entry(version.clone()).or_default();
                entry.version = version;
                entry.dirs.push(dir.clone());
                entry.stdlib.push(dir.clone());
                let dynload = join(&dir, b"lib-dynload");
                if self.is_dir(&dynload) {
                    entry.dirs.push(dynload);
                }
            } else if matches!(node.kind, NodeKind::Dir)
                && (name == b"site-packages" || name == b"dist-packages")
            {
                site_dirs.push(path.clone());
            } else if let Some(tag) = extension_tag(name) {
                tags.entry(String::from_utf8_lossy(&tag.0).into_owned())
                    .or_default()
                    .insert(tag.1);
            }
        }
        for (id, (version, path)) in paths.iter_mut().enumerate() {
            path.id = id;
            path.marker = format!("/python{version}/").into_bytes();
            for site in &site_dirs {
                let mut slashed = site.clone();
                slashed.push(b'/');
                if find(&slashed, &path.marker) || site.ends_with(b"/python3/dist-packages") {
                    path.dirs.push(site.clone());
                    path.dirs.extend(self.pth_dirs(site));
                }
            }
            let tag = version.replace('.', "");
            path.suffixes
                .extend(tags.get(&tag).into_iter().flatten().cloned());
            path.suffixes.push(b".abi3.so".to_vec());
            path.suffixes.push(b".so".to_vec());
        }
        paths
    }

    /// The existing directories named by the `.pth` files of `site`.
    fn pth_dirs(&self, site: &[u8]) -> Vec<Vec<u8>> {
        let index = self.builder.index;
        let mut dirs = Vec::new();
        for (pth, node) in index.children(site).filter(|(p, _)| p.ends_with(b".pth")) {
            let Ok(text) = index.read_to_vec(node, SOURCE_LIMIT) else {
                continue;
            };
            for line in text.split(|&b| b == b'\n') {
                let line = line.trim_ascii();
                if line.is_empty() || line.starts_with(b"#") || line.starts_with(b"import") {
                    continue;
                }
                let dir = if line.starts_with(b"/") {
                    normalize(line)
                } else {
                    normalize(&join(&split_parent(pth).0, line))
                };
                if self.is_dir(&dir) {
                    dirs.push(dir);
                }
            }
        }
        dirs
    }
}

/// The imports of each of `sources` (`None` for one the image cannot give), in the same
/// order: those scanned ahead, and the rest read from the image, many on every core.
fn scan_sources(
    index: &FsIndex,
    sources: &[Vec<u8>],
    ahead: &mut SourceScans,
) -> Vec<Option<Imports>> {
    let mut scans: Vec<Option<Imports>> = sources.iter().map(|s| ahead.take(s)).collect();
    let left: Vec<(usize, &Vec<u8>)> = sources
        .iter()
        .enumerate()
        .filter(|(i, _)| scans[*i].is_none())
        .collect();
    let read = |&(i, source): &(usize, &Vec<u8>)| (i, read_and_scan(index, source));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let read: Vec<(usize, Option<Imports>)> = if threads < 2 || left.len() < 16 {
        left.iter().map(read).collect()
    } else {
        let chunk = left.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = left
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(read).collect::<Vec<_>>()))
                .collect();
            parts
                .into_iter()
                .flat_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    for (i, imports) in read {
        scans[i] = imports;
    }
    scans
}

/// Whether `module` is one of `tools` or inside one.
pub(super) fn is_tool(tools: &[String], module: &str) -> bool {
    tools.iter().any(|tool| {
        module == tool
            || module
                .strip_prefix(tool.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Whether `path` is a file of the image (a symlink may be one).
pub(super) fn is_file(index: &FsIndex, path: &[u8]) -> bool {
    index.get(path).is_some_and(|n| {
        matches!(
            n.kind,
            NodeKind::File { .. } | NodeKind::HardLink { .. } | NodeKind::Symlink { .. }
        )
    })
}

pub(super) fn is_dir(index: &FsIndex, path: &[u8]) -> bool {
    index
        .get(path)
        .is_some_and(|n| matches!(n.kind, NodeKind::Dir))
}

/// The directory a relative import of `level` dots in `source` starts from: the source's
/// own package for one dot, its parent for two …
pub(super) fn relative_base(source: &[u8], level: usize) -> Vec<u8> {
    let mut dir = split_parent(source).0;
    for _ in 1..level {
        dir = split_parent(&dir).0;
    }
    dir
}

/// Where the Python source of `path` would be: itself (`X.py`), or the `X.py` of its
/// bytecode (`__pycache__/X.TAG.pyc`).
pub(super) fn source_path(path: &[u8]) -> Option<Vec<u8>> {
    if path.ends_with(b".py") {
        Some(path.to_vec())
    } else {
        source_of_bytecode(path)
    }
}

/// The source `…/X.py` whose bytecode `path` is (`…/__pycache__/X.TAG.pyc`), or `None`
/// when `path` is no such bytecode.
pub(crate) fn source_of_bytecode(path: &[u8]) -> Option<Vec<u8>> {
    let (dir, name) = split_parent(path);
    let package = dir.strip_suffix(b"/__pycache__")?;
    let stem = name.strip_suffix(b".pyc")?.split(|&b| b == b'.').next()?;
    Some(join(package, &[stem, b".py"].concat()))
}

/// Whether `path` is in a `__pycache__` directory: bytecode the interpreter rebuilds from
/// the source when it is missing.
fn is_bytecode_cache(path: &[u8]) -> bool {
    split_parent(&split_parent(path).0).1 == b"__pycache__"
}

/// The version of a standard library directory `…/lib/python3.N`.
pub(super) fn version_dir(dir: &[u8]) -> Option<String> {
    let name = split_parent(dir).1;
    let version = name.strip_prefix(b"python")?;
    let (major, minor) = version.split_first()?;
    let is_version = *major == b'3'
        && minor.first() == Some(&b'.')
        && minor.len() > 1
        && minor[1..].iter().all(u8::is_ascii_digit);
    is_version.then(|| String::from_utf8_lossy(version).into_owned())
}

/// The version tag and suffix of an extension module's file name:
/// `_json.cpython-311-x86_64-linux-gnu.so` gives (`311`, `.cpython-311-x86_64-linux-gnu.so`).
fn extension_tag(name: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let at = name.windows(9).position(|w| w == b".cpython-")?;
    let suffix = &name[at..];
    if !suffix.ends_with(b".so") {
        return None;
    }
    let tag: Vec<u8> = suffix[9..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    (!tag.is_empty()).then(|| (tag, suffix.to_vec()))
}

/// The paths of the versions a source belongs to: the one named in its path
/// (`…/python3.11/…`), else every one.
fn versions_of<'p>(source: &[u8], paths: &'p BTreeMap<String, SysPath>) -> Vec<&'p SysPath> {
    let own: Vec<&SysPath> = paths
        .values()
        .filter(|path| find(source, &path.marker))
        .collect();
    if own.is_empty() {
        paths.values().collect()
    } else {
        own
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::super::profile::load;
    use super::super::python_imports::scan;
    use super::super::read_ahead::{SourceScans, read_and_scan};
    use super::super::test_files::index_of;
    use super::super::{ImageRuntime, KeepOptions, KeepSet, Reason, compute, compute_with};
    use crate::image::index::FsIndex;
    use crate::test_kit::record;
    use slim_test_kit::ScratchDir;

    const LIB: &str = "usr/lib/python3.11";
    const SITE: &str = "opt/venv/lib/python3.11/site-packages";
    const EXT: &str = ".cpython-311-x86_64-linux-gnu.so";

    const SERVER: &str = r#"import json
import time
def page():
    import fractions
    import sqlite3
    from pkg import sub, attribute
    import extramod
    import test.test_x
    m = importlib.import_module("statistics")
    n = importlib.import_module(name)
"#;

    fn image(name: &str) -> (FsIndex, ScratchDir) {
        let files: Vec<(String, String)> = [
            ("app/server.py", SERVER),
            ("LIB/os.py", "import stat\ndef popen():\n    import subprocess\n"),
            ("LIB/__pycache__/os.cpython-311.pyc", ""),
            ("LIB/stat.py", ""),
            ("LIB/subprocess.py", "import signal\n"),
            ("LIB/signal.py", ""),
            ("LIB/copy.py", "import weakref\n"),
            ("LIB/__pycache__/copy.cpython-311.pyc", ""),
            ("LIB/weakref.py", "def _test():\n    import doctest\n"),
            ("LIB/doctest.py", ""),
            ("LIB/_strptime.py", ""),
            (
                "LIB/json/__init__.py",
                "from .decoder import JSONDecoder\n",
            ),
            ("LIB/json/decoder.py", "from json import scanner\n"),
            (
                "LIB/json/scanner.py",
                "try:\n    from _json import make_scanner\nexcept ImportError:\n    pass\n",
            ),
            ("LIB/json/tool.py", ""),
            ("LIB/lib-dynload/_jsonEXT", ""),
            ("LIB/sqlite3/__init__.py", "from sqlite3.dbapi2 import *\n"),
            ("LIB/sqlite3/dbapi2.py", "from _sqlite3 import *\n"),
            ("LIB/lib-dynload/_sqlite3EXT", ""),
            ("LIB/fractions.py", "from decimal import Decimal\n"),
            ("LIB/__pycache__/fractions.cpython-311.pyc", ""),
            ("LIB/decimal.py", "try:\n    from _decimal import *\nexcept ImportError:\n    from _pydecimal import *\n"),
            ("LIB/_pydecimal.py", ""),
            ("LIB/lib-dynload/_decimalEXT", ""),
            ("LIB/numbers.py", ""),
            (
                "LIB/statistics.py",
                "def _self_test():\n    from test import test_x\n",
            ),
            ("LIB/unused.py", ""),
            ("LIB/encodings/__init__.py", ""),
            ("LIB/encodings/idna.py", "import stringprep\n"),
            ("LIB/stringprep.py", ""),
            ("LIB/test/__init__.py", ""),
            ("LIB/test/test_x.py", ""),
            ("SITE/pkg/__init__.py", "from . import sub\n"),
            ("SITE/pkg/sub.py", "from ..pkg import other_sub\n"),
            (
                "SITE/pkg/other_sub.py",
                "try:\n    import simplejson as json\nexcept ImportError:\n    import _pyjson as json\n",
            ),
            ("LIB/_pyjson.py", ""),
            ("SITE/pkg/unused.py", ""),
            ("SITE/extra.pth", "# a comment\n/srv/extra\nimport sys\n"),
            ("srv/extra/extramod.py", ""),
            ("usr/local/lib/python3.12/os.py", ""),
            ("usr/local/lib/python3.12/fractions.py", ""),
        ]
        .iter()
        .map(|(path, content)| {
            let path = path
                .replace("LIB", LIB)
                .replace("SITE", SITE)
                .replace("EXT", EXT);
            (path, (*content).to_string())
        })
        .collect();
        index_of(&format!("python-closure-{name}"), &files)
    }

    fn keep(name: &str, import_closure: bool) -> KeepSet {
        keep_with(name, import_closure, |_| SourceScans::default())
    }

    fn kept(set: &KeepSet, path: &str) -> bool {
        let path = format!("/{path}")
            .replace("LIB", LIB)
            .replace("SITE", SITE)
            .replace("EXT", EXT);
        set.contains(path.as_bytes())
    }

    #[test]
    fn modules_imported_in_functions_are_kept_with_their_own_imports() {
        let set = keep("closure", true);
        for path in [
            "LIB/fractions.py",
            "LIB/decimal.py",
            "LIB/lib-dynload/_decimalEXT",
            // The fallback of a module the image lacks.
            "LIB/_pyjson.py",
            "LIB/numbers.py",
            "LIB/sqlite3/__init__.py",
            "LIB/sqlite3/dbapi2.py",
            "LIB/lib-dynload/_sqlite3EXT",
            "LIB/json/__init__.py",
            "LIB/json/decoder.py",
            "LIB/json/scanner.py",
            "LIB/lib-dynload/_jsonEXT",
            "LIB/statistics.py",
            "LIB/_strptime.py",
            "LIB/weakref.py",
            // What the frozen os imports (but stat, frozen too).
            "LIB/subprocess.py",
            "LIB/signal.py",
            "LIB/encodings/idna.py",
            "LIB/stringprep.py",
            "SITE/pkg/__init__.py",
            "SITE/pkg/sub.py",
            "SITE/pkg/other_sub.py",
            "srv/extra/extramod.py",
        ] {
            assert!(kept(&set, path), "{path} should be kept");
        }
        for path in [
            // Bytecode of a module the traced run did not import: the interpreter
            // compiles the kept source when it does.
            "LIB/__pycache__/fractions.cpython-311.pyc",
            // `except ImportError:` after an import of a module the image has.
            "LIB/_pydecimal.py",
            "LIB/json/tool.py",
            "LIB/unused.py",
            "SITE/pkg/unused.py",
            "LIB/test/test_x.py",
            "LIB/doctest.py",
            "usr/local/lib/python3.12/fractions.py",
            // Frozen into python 3.11, and not used by the run.
            "LIB/os.py",
            "LIB/stat.py",
        ] {
            assert!(!kept(&set, path), "{path} should not be kept");
        }
        // The profile excludes the standard library's test suite: what an import reached
        // there is reported as left out, with the glob.
        let test_x = format!("/{LIB}/test/test_x.py");
        assert!(
            set.left_out().iter().any(|l| l.profile == "python"
                && l.glob.contains("test/")
                && l.paths.contains(test_x.as_bytes())),
            "{:?}",
            set.left_out()
        );
        let reasons = set
            .reasons(format!("/{LIB}/fractions.py").as_bytes())
            .unwrap();
        assert!(
            reasons.contains(&Reason::Profile {
                profile: "python".into(),
                rule: "imported by /app/server.py".into()
            }),
            "{reasons:?}"
        );
        let reasons = set
            .reasons(format!("/{LIB}/encodings/idna.py").as_bytes())
            .unwrap();
        assert!(
            reasons
                .iter()
                .any(|r| matches!(r, Reason::Profile { rule, .. } if rule.contains("computed"))),
            "{reasons:?}"
        );
    }

    /// The python profile's keep set of [`image`] traced, with the sources `ahead` gives
    /// as scanned while the run went on.
    fn keep_with(
        name: &str,
        import_closure: bool,
        ahead: impl FnOnce(&FsIndex) -> SourceScans,
    ) -> KeepSet {
        let (index, _dir) = image(name);
        let records = [
            record("/app/server.py"),
            record(format!("/{LIB}/encodings/__init__.py")),
            record(format!("/{LIB}/__pycache__/copy.cpython-311.pyc")),
        ];
        let options = KeepOptions {
            lists: Vec::new(),
            profiles: vec![load("python").unwrap()],
            import_closure,
            ..KeepOptions::default()
        };
        let ahead = ahead(&index);
        compute_with(&index, &records, &ImageRuntime::default(), &options, ahead).unwrap()
    }

    fn kept_with_reasons(set: &KeepSet) -> Vec<(Vec<u8>, Vec<Reason>)> {
        set.paths()
            .map(|p| (p.to_vec(), set.reasons(p).unwrap().to_vec()))
            .collect()
    }

    #[test]
    fn sources_scanned_while_the_run_went_on_give_the_same_keep_set() {
        let every_source = |index: &FsIndex| {
            let mut ahead = SourceScans::default();
            for (path, _) in index.iter().filter(|(p, _)| p.ends_with(b".py")) {
                let imports = read_and_scan(index, path).unwrap();
                ahead.insert(&String::from_utf8_lossy(path), imports);
            }
            ahead
        };
        let read_ahead = keep_with("ahead-all", true, every_source);
        let read_in_keep = keep("ahead-none", true);
        assert_eq!(
            kept_with_reasons(&read_ahead),
            kept_with_reasons(&read_in_keep)
        );
    }

    #[test]
    fn the_closure_takes_a_source_scanned_ahead_instead_of_reading_it_again() {
        // What the source said while the run went on is what the closure follows.
        let set = keep_with("ahead-taken", true, |_| {
            let mut ahead = SourceScans::default();
            ahead.insert("/app/server.py", scan(b"import unused\n"));
            ahead
        });
        assert!(kept(&set, "LIB/unused.py"));
        assert!(!kept(&set, "LIB/fractions.py"));
    }

    #[test]
    fn a_frozen_module_is_kept_only_when_used_and_never_its_bytecode() {
        let set = keep("frozen-unused", true);
        let os = format!("/{LIB}/os.py");
        let left_out = set
            .left_out()
            .iter()
            .find(|l| l.paths.contains(os.as_bytes()));
        assert_eq!(
            left_out.map(|l| (l.rule.as_str(), l.glob.as_str())),
            Some(("frozen into python 3.11: imported without its file", &*os)),
            "{:?}",
            set.left_out()
        );
        // Used: python 3.11 looks for `os.py` to find its standard library.
        let (index, _dir) = image("frozen-used");
        let records = [record("/app/server.py"), record(os.clone())];
        let options = KeepOptions {
            lists: Vec::new(),
            profiles: vec![load("python").unwrap()],
            import_closure: true,
            ..KeepOptions::default()
        };
        let set = compute(&index, &records, &ImageRuntime::default(), &options).unwrap();
        assert!(kept(&set, "LIB/os.py"));
        assert!(kept(&set, "LIB/subprocess.py"), "imported by os.py");
        assert!(
            !kept(&set, "LIB/__pycache__/os.cpython-311.pyc"),
            "the interpreter's own copy is imported"
        );
    }

    #[test]
    fn without_the_import_closure_only_traced_modules_are_kept() {
        let set = keep("no-closure", false);
        assert!(kept(&set, "LIB/encodings/__init__.py"));
        for path in [
            "LIB/fractions.py",
            "LIB/lib-dynload/_sqlite3EXT",
            "LIB/encodings/idna.py",
            "LIB/os.py",
        ] {
            assert!(!kept(&set, path), "{path} should not be kept");
        }
    }

    #[test]
    fn version_directories_and_extension_tags() {
        assert_eq!(
            super::version_dir(b"/usr/lib/python3.11").as_deref(),
            Some("3.11")
        );
        assert_eq!(super::version_dir(b"/usr/lib/python3"), None);
        assert_eq!(super::version_dir(b"/usr/lib/python3.x"), None);
        assert_eq!(
            super::extension_tag(b"_json.cpython-311-x86_64-linux-gnu.so"),
            Some((
                b"311".to_vec(),
                b".cpython-311-x86_64-linux-gnu.so".to_vec()
            ))
        );
        assert_eq!(super::extension_tag(b"_json.abi3.so"), None);
    }
}
