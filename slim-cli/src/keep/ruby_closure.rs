//! Ruby's gems and the require closure of the kept Ruby files.
//!
//! A gem is `HOME/gems/NAME-VERSION` in a gem home (a directory with `gems/` and
//! `specifications/`: Debian's `/usr/share/rubygems-integration/all`, `/var/lib/gems/3.1.0`,
//! `GEM_HOME`, Bundler's `vendor/bundle/ruby/3.1.0` …). A gem of which any file was used
//! is kept whole, with `HOME/specifications/NAME-VERSION.gemspec` and its compiled
//! extensions (`HOME/extensions/ARCH/ABI/NAME-VERSION`).
//!
//! The require closure: every feature a kept Ruby file names in a literal `require`,
//! `require_relative` or `autoload` (read by `ruby_requires`), found as Ruby finds it
//! (relative to the file, or on `$LOAD_PATH`: the profile's load path directories that
//! exist in the image, then the `lib` directory of every gem), is kept and read in turn
//! until nothing new appears; a feature found in a gem keeps the gem whole. This keeps a
//! standard-library feature (and its C extension, whose shared libraries the builder
//! queues) that a route requires inside its handler, which the traced run never called.
//! What the sources cannot say comes from the profile's `ruby_requires` table: features
//! loaded by a computed name, kept whole (encodings, digest algorithms), and tools whose
//! requires are not followed from the libraries.
//!
//! Reads the image index only.

use std::collections::{BTreeSet, HashMap, HashSet};

use globset::GlobSet;

use super::builder::display;
use super::glob::{as_path, compile_globs};
use super::model::Reason;
use super::profile::RubyRequires;
use super::ruby_requires::{RequireKind, scan};
use super::rules::Apply;
use crate::image::index::{FsIndex, NodeKind, join, resolve, split_parent};
use crate::trace::path::normalize;

/// Bytes read at most from one Ruby source.
const SOURCE_LIMIT: u64 = 16 << 20;

/// The file RubyGems writes once a gem's extensions are built, in their directory.
const BUILD_MARKER: &[u8] = b"/gem.build_complete";

/// Extensions Ruby tries after a feature without one, in order.
const EXTENSIONS: [&[u8]; 2] = [b".rb", b".so"];

/// Where the image's Ruby finds features and gems.
pub(super) struct RubyLayout {
    /// The load path directories that exist, resolved, in search order.
    load_path: Vec<Vec<u8>>,
    /// Gem homes that exist, resolved.
    homes: Vec<Vec<u8>>,
    /// The `lib` directory of every gem of every home.
    gem_libs: Vec<Vec<u8>>,
    /// Gems installed straight into a `vendor_ruby` directory (Debian's older layout),
    /// known by their specification: (specification, files).
    vendor_gems: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    /// Which of `vendor_gems` each of their files belongs to.
    vendor_files: HashMap<Vec<u8>, usize>,
}

impl RubyLayout {
    /// The layout of the image: the directories `rules` names, and the gem homes the ENV
    /// variables it names point to (a home, or a Bundler path with `ruby/VERSION` below).
    pub(super) fn of(
        index: &FsIndex,
        rules: &RubyRequires,
        env: impl Fn(&str) -> Option<String>,
    ) -> RubyLayout {
        // One walk of the index per list: each directory under the first glob it
        // matches, in the globs' order.
        let dirs_matching = |globs: &[String]| -> Vec<Vec<u8>> {
            let Ok(set) = compile_globs(globs.iter().map(String::as_str)) else {
                return Vec::new();
            };
            let mut matched: Vec<(usize, Vec<u8>)> = index
                .iter()
                .filter(|(_, n)| matches!(n.kind, NodeKind::Dir))
                .filter_map(|(p, _)| {
                    let first = set.matches(as_path(p)).into_iter().min()?;
                    Some((first, p.clone()))
                })
                .collect();
            matched.sort();
            matched.into_iter().map(|(_, p)| p).collect()
        };
        let mut load_path = Vec::new();
        for dir in dirs_matching(&rules.load_path) {
            if let Some(dir) = resolve_dir(index, &dir)
                && !load_path.contains(&dir)
            {
                load_path.push(dir);
            }
        }
        let mut candidates = dirs_matching(&rules.gem_homes);
        for var in &rules.gem_env {
            for dir in env(var).unwrap_or_default().split(':') {
                if !dir.starts_with('/') {
                    continue;
                }
                let dir = normalize(dir.as_bytes());
                candidates.push(dir.clone());
                candidates.extend(
                    index
                        .children(&join(&dir, b"ruby"))
                        .map(|(p, _)| p.clone())
                        .collect::<Vec<_>>(),
                );
            }
        }
        let mut homes = Vec::new();
        for candidate in candidates {
            if let Some(home) = resolve_dir(index, &candidate)
                && resolve_dir(index, &join(&home, b"gems")).is_some()
                && !homes.contains(&home)
            {
                homes.push(home);
            }
        }
        let mut gem_libs = Vec::new();
        for home in &homes {
            let gems = join(home, b"gems");
            for (gem, _) in index.children(&gems) {
                if let Some(lib) = resolve_dir(index, &join(gem, b"lib")) {
                    gem_libs.push(lib);
                }
            }
        }
        let mut layout = RubyLayout {
            load_path,
            homes,
            gem_libs,
            vendor_gems: Vec::new(),
            vendor_files: HashMap::new(),
        };
        layout.find_vendor_gems(index);
        layout
    }

    /// The gems whose specification is in a home but whose files are not: their `lib`
    /// files found in a `vendor_ruby` directory of the load path.
    fn find_vendor_gems(&mut self, index: &FsIndex) {
        let vendor_dirs: Vec<Vec<u8>> = self
            .load_path
            .iter()
            .filter(|dir| dir.split(|&b| b == b'/').any(|part| part == b"vendor_ruby"))
            .cloned()
            .collect();
        if vendor_dirs.is_empty() {
            return;
        }
        for home in &self.homes {
            let specs: Vec<Vec<u8>> = index
                .children(&join(home, b"specifications"))
                .filter(|(p, _)| p.ends_with(b".gemspec"))
                .map(|(p, _)| p.clone())
                .collect();
            for spec in specs {
                let stem = &split_parent(&spec).1[..];
                let stem = &stem[..stem.len() - b".gemspec".len()];
                if index.get(&join(&join(home, b"gems"), stem)).is_some() {
                    continue;
                }
                let Some(text) = index
                    .get(&spec)
                    .and_then(|node| index.read_to_vec(node, SOURCE_LIMIT).ok())
                else {
                    continue;
                };
                let (files, require_paths) = spec_files(&text);
                let mut found = Vec::new();
                for file in &files {
                    let Some(rel) = require_paths.iter().find_map(|dir| {
                        file.strip_prefix(dir.as_str())
                            .and_then(|rest| rest.strip_prefix('/'))
                    }) else {
                        continue;
                    };
                    if let Some(path) = vendor_dirs
                        .iter()
                        .map(|dir| join(dir, rel.as_bytes()))
                        .find(|path| is_file(index, path))
                    {
                        found.push(path);
                    }
                }
                if found.is_empty() {
                    continue;
                }
                let at = self.vendor_gems.len();
                for file in &found {
                    self.vendor_files.entry(file.clone()).or_insert(at);
                }
                self.vendor_gems.push((spec, found));
            }
        }
    }

    /// Whether `path` is part of Ruby's libraries (on the load path or in a gem home)
    /// rather than of the application.
    fn is_library(&self, path: &[u8]) -> bool {
        self.load_path
            .iter()
            .chain(&self.homes)
            .any(|dir| is_below(path, dir))
    }

    /// Where Ruby finds `feature` required (`kind`) from a file in directory `from`.
    fn find(
        &self,
        index: &FsIndex,
        kind: RequireKind,
        feature: &str,
        from: &[u8],
    ) -> Option<Vec<u8>> {
        let feature = feature.as_bytes();
        let dirs: Vec<&[u8]> = if kind == RequireKind::Relative || feature.starts_with(b"/") {
            vec![from]
        } else if feature.starts_with(b"./") || feature.starts_with(b"../") {
            // Relative to the working directory, which a file's text cannot tell.
            return None;
        } else {
            self.load_path
                .iter()
                .chain(&self.gem_libs)
                .map(Vec::as_slice)
                .collect()
        };
        let has_extension = EXTENSIONS.iter().any(|ext| feature.ends_with(ext));
        for dir in dirs {
            let base = normalize(&join(dir, feature));
            if has_extension {
                if is_file(index, &base) {
                    return Some(base);
                }
                continue;
            }
            for ext in EXTENSIONS {
                let file = [base.as_slice(), ext].concat();
                if is_file(index, &file) {
                    return Some(file);
                }
            }
        }
        None
    }
}

/// The files (`s.files`) and require paths (`s.require_paths`, `lib` when absent) a gem
/// specification lists, from its text as RubyGems writes it (`s.files = ["lib/a.rb".freeze,
/// …]`).
pub(super) fn spec_files(text: &[u8]) -> (Vec<String>, Vec<String>) {
    let text = String::from_utf8_lossy(text);
    let strings_of = |key: &str| -> Option<Vec<String>> {
        let line = text
            .lines()
            .find(|line| line.trim_start().starts_with(key))?;
        let list = &line[line.find('[')? + 1..line.rfind(']')?];
        Some(
            list.split(',')
                .filter_map(|item| {
                    let item = item.trim();
                    let item = item.strip_suffix(".freeze").unwrap_or(item);
                    item.strip_prefix('"')?
                        .strip_suffix('"')
                        .map(str::to_string)
                })
                .filter(|item| !item.is_empty() && !item.contains(".."))
                .collect(),
        )
    };
    let files = strings_of("s.files =").unwrap_or_default();
    let paths = strings_of("s.require_paths =").unwrap_or_else(|| vec!["lib".to_string()]);
    (files, paths)
}

/// The gem a path lies in: `(HOME, NAME-VERSION)` for `HOME/gems/NAME-VERSION/…` or
/// `HOME/extensions/ARCH/ABI/NAME-VERSION/…` where `HOME/specifications` exists.
pub(super) fn gem_of(index: &FsIndex, path: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    for (at, part) in parts.iter().enumerate().rev() {
        let name_at = match *part {
            b"gems" => at + 1,
            b"extensions" => at + 3,
            _ => continue,
        };
        // The name must be a directory with something below it.
        if name_at + 1 >= parts.len() || parts[name_at].is_empty() {
            continue;
        }
        let home = parts[..at].join(&b'/');
        if home.is_empty() {
            continue;
        }
        if index.get(&join(&home, b"specifications")).is_some() {
            return Some((home, parts[name_at].to_vec()));
        }
    }
    None
}

fn resolve_dir(index: &FsIndex, path: &[u8]) -> Option<Vec<u8>> {
    resolve(index, path, true).target.filter(|t| {
        index
            .get(t)
            .is_some_and(|n| matches!(n.kind, NodeKind::Dir))
    })
}

fn is_file(index: &FsIndex, path: &[u8]) -> bool {
    resolve(index, path, true)
        .target
        .and_then(|t| index.get(&t))
        .is_some_and(|n| matches!(n.kind, NodeKind::File { .. } | NodeKind::HardLink { .. }))
}

fn is_below(path: &[u8], dir: &[u8]) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

fn is_ruby(path: &[u8]) -> bool {
    path.ends_with(b".rb")
}

impl Apply<'_, '_> {
    /// Keeps every gem of which a file was used whole.
    pub(super) fn ruby_gems(&mut self, excludes: &GlobSet) {
        let index = self.builder.index;
        // RubyGems looks at the build marker of every gem with compiled extensions when it
        // starts (to warn of missing ones): that is no use of the gem.
        let gems: BTreeSet<(Vec<u8>, Vec<u8>)> = self
            .used
            .iter()
            .filter(|p| !p.ends_with(BUILD_MARKER))
            .filter_map(|p| gem_of(index, p))
            .collect();
        for (home, name) in gems {
            let reason = self.reason(&format!(
                "ruby gem {} used",
                display(&join(&join(&home, b"gems"), &name))
            ));
            self.keep_gem(&home, &name, excludes, &reason);
        }
        if let Some(rules) = &self.profile.ruby_requires {
            let image = self.builder.image;
            let layout = RubyLayout::of(index, rules, |var| image.var(var).map(str::to_string));
            let used: BTreeSet<usize> = self
                .used
                .iter()
                .filter_map(|p| layout.vendor_files.get(p).copied())
                .collect();
            for at in used {
                self.keep_vendor_gem(&layout, at, excludes, None);
            }
        }
    }

    /// Keeps the files and the specification of the `at`th gem installed into
    /// `vendor_ruby`; returns its Ruby files. `required_by` names the file that required
    /// it, if that is why.
    fn keep_vendor_gem(
        &mut self,
        layout: &RubyLayout,
        at: usize,
        excludes: &GlobSet,
        required_by: Option<&[u8]>,
    ) -> Vec<Vec<u8>> {
        let (spec, files) = &layout.vendor_gems[at];
        let reason = match required_by {
            None => self.reason(&format!("ruby gem {} used", display(spec))),
            Some(file) => self.reason(&format!("ruby feature required by {}", display(file))),
        };
        self.builder.add(spec, reason.clone(), true);
        let mut kept = Vec::new();
        for file in files {
            if !self.excluded(excludes, file) {
                self.builder.add(file, reason.clone(), true);
                if is_ruby(file) {
                    kept.push(file.clone());
                }
            }
        }
        kept
    }

    /// Keeps the gem `name` of `home` whole, with its specification and extensions;
    /// returns its Ruby files.
    fn keep_gem(
        &mut self,
        home: &[u8],
        name: &[u8],
        excludes: &GlobSet,
        reason: &Reason,
    ) -> Vec<Vec<u8>> {
        let index = self.builder.index;
        let mut roots = vec![join(&join(home, b"gems"), name)];
        let extensions = join(home, b"extensions");
        for (arch, _) in index.children(&extensions) {
            for (abi, _) in index.children(arch) {
                let dir = join(abi, name);
                if index.get(&dir).is_some() {
                    roots.push(dir);
                }
            }
        }
        let mut files = Vec::new();
        for root in roots {
            if index.get(&root).is_none() || self.excluded(excludes, &root) {
                continue;
            }
            self.builder.add(&root, reason.clone(), true);
            let below: Vec<Vec<u8>> = index.descendants(&root).map(|(p, _)| p.clone()).collect();
            for path in below {
                if self.excluded(excludes, &path) {
                    continue;
                }
                let is_link = matches!(
                    index.get(&path).map(|n| &n.kind),
                    Some(NodeKind::Symlink { .. })
                );
                self.builder.add(&path, reason.clone(), is_link);
                if is_ruby(&path) {
                    files.push(path);
                }
            }
        }
        let spec = join(
            &join(home, b"specifications"),
            &[name, b".gemspec"].concat(),
        );
        if index.get(&spec).is_some() {
            self.builder.add(&spec, reason.clone(), true);
        }
        files
    }

    pub(super) fn excluded(&mut self, excludes: &GlobSet, path: &[u8]) -> bool {
        super::rules::left_out(
            self.builder,
            &self.profile.name,
            excludes,
            &self.profile.exclude,
            path,
        )
    }

    /// Keeps the features the kept Ruby files require, transitively.
    pub(super) fn ruby_closure(&mut self, rules: &RubyRequires, excludes: &GlobSet) {
        let index = self.builder.index;
        let image = self.builder.image;
        let layout = RubyLayout::of(index, rules, |var| image.var(var).map(str::to_string));
        if layout.load_path.is_empty() && layout.homes.is_empty() {
            return;
        }
        let mut queue: Vec<Vec<u8>> = self
            .builder
            .set
            .paths()
            .filter(|p| is_ruby(p) && is_file(index, p))
            .map(<[u8]>::to_vec)
            .collect();
        let mut gems: HashSet<(Vec<u8>, Vec<u8>)> = HashSet::new();
        let mut vendor: HashSet<usize> = HashSet::new();
        for name in &rules.whole {
            let reason = self.reason(&format!(
                "ruby feature loaded by a name computed at run time, kept whole: {name}"
            ));
            for dir in layout.load_path.clone() {
                let base = join(&dir, name.as_bytes());
                if resolve_dir(index, &base).is_some() && !self.excluded(excludes, &base) {
                    self.builder.add_tree(&base, &reason);
                    queue.extend(
                        index
                            .descendants(&base)
                            .filter(|(p, _)| is_ruby(p))
                            .map(|(p, _)| p.clone()),
                    );
                }
                for ext in EXTENSIONS {
                    let file = [base.as_slice(), ext].concat();
                    if is_file(index, &file) && !self.excluded(excludes, &file) {
                        self.builder.add(&file, reason.clone(), true);
                        queue.push(file);
                    }
                }
            }
        }
        let mut scanned = HashSet::new();
        while let Some(file) = queue.pop() {
            let Some(target) = resolve(index, &file, true).target else {
                continue;
            };
            if !scanned.insert(target.clone()) {
                continue;
            }
            let Some(source) = index
                .get(&target)
                .and_then(|node| index.read_to_vec(node, SOURCE_LIMIT).ok())
            else {
                continue;
            };
            let from_library = layout.is_library(&target);
            let dir = split_parent(&file).0;
            for reference in scan(&source).refs {
                let first = reference.feature.split('/').next().unwrap_or_default();
                if from_library
                    && reference.kind != RequireKind::Relative
                    && rules.tools.iter().any(|tool| tool == first)
                {
                    continue;
                }
                let Some(found) = layout.find(index, reference.kind, &reference.feature, &dir)
                else {
                    continue;
                };
                let reason = self.reason(&format!("ruby feature required by {}", display(&file)));
                if let Some(&at) = layout.vendor_files.get(&found) {
                    if vendor.insert(at) {
                        queue.extend(self.keep_vendor_gem(&layout, at, excludes, Some(&file)));
                    }
                    continue;
                }
                if let Some(gem) = gem_of(index, &found) {
                    if gems.insert(gem.clone()) {
                        let files = self.keep_gem(&gem.0, &gem.1, excludes, &reason);
                        queue.extend(files);
                    }
                    continue;
                }
                if self.excluded(excludes, &found) {
                    continue;
                }
                self.builder.add(&found, reason, true);
                if is_ruby(&found) {
                    queue.push(found);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::spec_files;

    #[test]
    fn reads_the_files_and_require_paths_of_a_gemspec() {
        let spec = b"Gem::Specification.new do |s|\n  s.require_paths = [\"lib\".freeze, \"ext\".freeze]\n  \
                     s.files = [\"COPYING\".freeze, \"lib/a.rb\".freeze, \"lib/../x\".freeze, \"\".freeze]\nend\n";
        let (files, paths) = spec_files(spec);
        assert_eq!(files, ["COPYING", "lib/a.rb"]);
        assert_eq!(paths, ["lib", "ext"]);
        let (files, paths) = spec_files(b"s.files = [\n\xff");
        assert!(files.is_empty());
        assert_eq!(paths, ["lib"]);
    }
}
