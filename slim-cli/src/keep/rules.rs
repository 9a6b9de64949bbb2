//! Applying profiles to a keep set: their globs, the directories of used apps, whole
//! packages of which a file was used (Node's in `node_packages`), locations relative to a
//! used file, and Python's source/bytecode pairs.
//!
//! "Used" means kept for the trace or its closure before any profile rule ran, so a
//! keep-list or another profile never makes a package count as used. Reads the image
//! index only.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use globset::{GlobMatcher, GlobSet};

use super::builder::{Builder, display};
use super::glob::{KeepError, as_path, compile_globs, relative_globs};
use super::model::Reason;
use super::profile::{Ecosystem, Profile};
use super::python_closure::{ImportClosure, source_of_bytecode};
use crate::image::index::{FsIndex, NodeKind, join, split_parent};
use crate::trace::path::normalize;

const SITE_DIRS: [&[u8]; 2] = [b"site-packages", b"dist-packages"];

/// What the rules of one profile read and keep.
pub(super) struct Apply<'b, 'a> {
    pub builder: &'b mut Builder<'a>,
    pub profile: &'b Profile,
    /// Files used by the application (sorted).
    pub used: &'b BTreeSet<Vec<u8>>,
    pub packages: bool,
    pub import_closure: bool,
}

/// The rule name of a profile's own `keep` globs (the paths it names, whatever was used).
pub(super) const PROFILE_KEEP_RULE: &str = "keep";

impl Apply<'_, '_> {
    pub(super) fn reason(&self, rule: &str) -> Reason {
        Reason::Profile {
            profile: self.profile.name.clone(),
            rule: rule.to_string(),
        }
    }

    /// Applies every rule of the profile.
    pub fn run(&mut self) -> Result<(), KeepError> {
        let excludes = self.profile.excludes()?;
        self.keep_globs(&excludes)?;
        for rule in self.profile.when_used.clone() {
            self.when_used(
                &rule.trigger,
                &rule.root,
                &rule.keep,
                &rule.exclude,
                &excludes,
            )?;
        }
        for rule in self.profile.config_loads.clone() {
            self.config_loads(&rule, &excludes)?;
        }
        for rule in self.profile.dirs_of_used.clone() {
            self.dirs_of_used(&rule.markers, &rule.keep, &rule.exclude, &excludes)?;
        }
        if self.packages {
            for eco in self.profile.packages.clone() {
                match eco {
                    Ecosystem::Python => self.python_packages(&excludes),
                    Ecosystem::Node => {
                        let started = Instant::now();
                        self.node_packages(&excludes);
                        self.builder.set.closure_time += started.elapsed();
                    }
                    Ecosystem::Ruby => self.ruby_gems(&excludes),
                }
            }
        }
        if self.import_closure
            && let Some(rules) = &self.profile.python_imports
        {
            // The closure reaches into subpackages the package rule left waiting; each
            // one reached is kept, and its sources read in turn.
            let started = Instant::now();
            let mut first = true;
            loop {
                ImportClosure {
                    builder: self.builder,
                    profile: &self.profile.name,
                    rules,
                    excludes: &excludes,
                    exclude_globs: &self.profile.exclude,
                    used: self.used,
                    roots: first,
                    seen: HashMap::new(),
                }
                .run();
                first = false;
                if !self.keep_reached_packages(&excludes) {
                    break;
                }
            }
            self.builder.set.closure_time += started.elapsed();
        }
        if self.import_closure
            && let Some(rules) = &self.profile.ruby_requires
        {
            let started = Instant::now();
            self.ruby_closure(rules, &excludes);
            self.builder.set.closure_time += started.elapsed();
        }
        if self.profile.python_bytecode_pairs {
            self.bytecode_pairs();
        }
        Ok(())
    }

    fn keep_globs(&mut self, excludes: &GlobSet) -> Result<(), KeepError> {
        if self.profile.keep.is_empty() {
            return Ok(());
        }
        let set = compile_globs(self.profile.keep.iter().map(String::as_str))?;
        let matched: Vec<Vec<u8>> = self
            .builder
            .index
            .iter()
            .filter(|(p, _)| set.is_match(as_path(p)))
            .map(|(p, _)| p.clone())
            .collect();
        let reason = self.reason(PROFILE_KEEP_RULE);
        for path in matched {
            if self.left_out(excludes, &path) {
                continue;
            }
            self.builder.add(&path, reason.clone(), false);
            self.builder.add(&path, reason.clone(), true);
        }
        Ok(())
    }

    /// Keeps what matches `keep` (relative to `root`) below every directory `root`.
    fn keep_below(
        &mut self,
        root: &[u8],
        keep: &[GlobMatcher],
        exclude: &[GlobMatcher],
        profile_excludes: &GlobSet,
        reason: &Reason,
    ) {
        let prefix_len = if root == b"/" { 0 } else { root.len() };
        let matched: Vec<Vec<u8>> = self
            .builder
            .index
            .descendants(root)
            .filter(|(p, _)| {
                let rel = as_path(&p[prefix_len..]);
                keep.iter().any(|g| g.is_match(rel)) && !exclude.iter().any(|g| g.is_match(rel))
            })
            .map(|(p, _)| p.clone())
            .collect();
        for path in matched {
            if !self.left_out(profile_excludes, &path) {
                self.builder.add(&path, reason.clone(), false);
            }
        }
    }

    fn when_used(
        &mut self,
        trigger: &str,
        root: &str,
        keep: &[String],
        exclude: &[String],
        excludes: &GlobSet,
    ) -> Result<(), KeepError> {
        let trigger_set = compile_globs([trigger])?;
        let keep = relative_globs(keep)?;
        let exclude = relative_globs(exclude)?;
        let roots: BTreeSet<Vec<u8>> = self
            .used
            .iter()
            .filter(|p| trigger_set.is_match(as_path(p)))
            .map(|p| {
                let dir = split_parent(p).0;
                normalize(&join(&dir, root.as_bytes()))
            })
            .collect();
        let reason = self.reason(&format!("when {trigger} is used"));
        for root in roots {
            self.keep_below(&root, &keep, &exclude, excludes, &reason);
        }
        Ok(())
    }

    fn dirs_of_used(
        &mut self,
        markers: &[String],
        keep: &[String],
        exclude: &[String],
        excludes: &GlobSet,
    ) -> Result<(), KeepError> {
        let keep = relative_globs(keep)?;
        let exclude = relative_globs(exclude)?;
        let mut dirs = BTreeSet::new();
        let mut seen = HashSet::new();
        for path in self.used {
            let mut dir = split_parent(path).0;
            while dir != b"/" && seen.insert(dir.clone()) {
                let is_kind = markers.iter().any(|m| {
                    self.builder
                        .index
                        .get(&join(&dir, m.as_bytes()))
                        .is_some_and(|n| !matches!(n.kind, NodeKind::Dir))
                });
                if is_kind {
                    dirs.insert(dir.clone());
                }
                dir = split_parent(&dir).0;
            }
        }
        let reason = self.reason(&format!(
            "directory with {} that was used",
            markers.join(" or ")
        ));
        for dir in dirs {
            self.keep_below(&dir, &keep, &exclude, excludes, &reason);
        }
        Ok(())
    }

    fn keep_tree(&mut self, root: &[u8], excludes: &GlobSet, reason: &Reason) {
        if self.left_out(excludes, root) {
            return;
        }
        self.builder.add(root, reason.clone(), false);
        let below: Vec<Vec<u8>> = self
            .builder
            .index
            .descendants(root)
            .map(|(p, _)| p.clone())
            .collect();
        for path in below {
            if !self.left_out(excludes, &path) {
                self.builder.add(&path, reason.clone(), false);
            }
        }
    }

    /// Whether the profile's `excludes` (compiled from its `exclude` list, in order) match
    /// `path`; if so, notes the first glob that does as having left it out.
    fn left_out(&mut self, excludes: &GlobSet, path: &[u8]) -> bool {
        left_out(
            self.builder,
            &self.profile.name,
            excludes,
            &self.profile.exclude,
            path,
        )
    }

    fn used_under(&self, dir: &[u8]) -> bool {
        used_under(self.used, dir)
    }

    /// Python distributions in every used `site-packages`/`dist-packages`: a distribution
    /// of which any file was used is kept whole (its RECORD, its top-level packages, its
    /// metadata), and the directory's `.pth` files with it.
    fn python_packages(&mut self, excludes: &GlobSet) {
        let sites: Vec<Vec<u8>> = self
            .builder
            .index
            .iter()
            .filter(|(p, n)| {
                matches!(n.kind, NodeKind::Dir) && SITE_DIRS.contains(&split_parent(p).1.as_slice())
            })
            .map(|(p, _)| p.clone())
            .collect();
        for site in sites {
            if !self.used_under(&site) {
                continue;
            }
            let reason = self.reason(&format!(
                "python package used in {}",
                String::from_utf8_lossy(&site)
            ));
            let children: Vec<(Vec<u8>, bool)> = self
                .builder
                .index
                .children(&site)
                .map(|(p, n)| (p.clone(), matches!(n.kind, NodeKind::Dir)))
                .collect();
            for (child, _) in children.iter().filter(|(p, _)| p.ends_with(b".pth")) {
                self.builder.add(child, reason.clone(), true);
            }
            let mut covered: HashSet<Vec<u8>> = HashSet::new();
            for (meta, _) in children.iter().filter(|(p, is_dir)| {
                *is_dir && (p.ends_with(b".dist-info") || p.ends_with(b".egg-info"))
            }) {
                let files = self.distribution_files(&site, meta);
                let tops: BTreeSet<Vec<u8>> = files
                    .iter()
                    .filter_map(|f| f.strip_prefix(site.as_slice()))
                    .filter_map(|rel| rel.split(|&b| b == b'/').nth(1).map(<[u8]>::to_vec))
                    .filter(|top| !top.is_empty())
                    .collect();
                let top_paths: Vec<Vec<u8>> = tops.iter().map(|t| join(&site, t)).collect();
                let used = self.used_under(meta)
                    || top_paths
                        .iter()
                        .any(|t| self.used.contains(t) || self.used_under(t));
                covered.extend(top_paths.iter().cloned());
                if !used {
                    continue;
                }
                self.keep_tree(meta, excludes, &reason);
                for top in &top_paths {
                    self.keep_python_package(top, excludes, &reason);
                }
                for file in files {
                    let in_top = || top_paths.iter().any(|t| is_below(&file, t));
                    if !excludes.is_match(as_path(&file))
                        && self.builder.index.get(&file).is_some()
                        && !(self.prunes_packages() && in_top())
                    {
                        self.builder.add(&file, reason.clone(), false);
                    }
                }
            }
            // Packages without metadata (vendored or copied in): kept whole when used.
            for (child, is_dir) in &children {
                if *is_dir && !covered.contains(child) && self.used_under(child) {
                    self.keep_python_package(child, excludes, &reason);
                }
            }
        }
    }

    /// Whether used distributions are kept by the packages reached in them rather than
    /// whole: when the import closure runs, which reaches the rest.
    fn prunes_packages(&self) -> bool {
        self.import_closure && self.profile.python_imports.is_some()
    }

    /// Keeps the package directory `dir` of a used distribution: its own files and its
    /// data directories (templates, static files, locales) whole, and each subpackage (a
    /// directory with `__init__.py`) when it is reached: something below it is kept
    /// already. An unreached subpackage waits in the builder until the import closure
    /// reaches it (an import, or a dotted name in a string) and is left out if nothing
    /// does. Without the import closure the package is kept whole.
    fn keep_python_package(&mut self, dir: &[u8], excludes: &GlobSet, reason: &Reason) {
        if !self.prunes_packages() {
            return self.keep_tree(dir, excludes, reason);
        }
        if self.left_out(excludes, dir) {
            return;
        }
        self.builder.python_unreached.remove(dir);
        self.builder.add(dir, reason.clone(), false);
        let children: Vec<(Vec<u8>, bool)> = self
            .builder
            .index
            .children(dir)
            .map(|(p, n)| (p.clone(), matches!(n.kind, NodeKind::Dir)))
            .collect();
        for (child, is_dir) in children {
            if !is_dir {
                if !self.left_out(excludes, &child) {
                    self.builder.add(&child, reason.clone(), false);
                }
            } else if split_parent(&child).1 == b"__pycache__" {
                // The bytecode of the modules the traced run imported is kept with them
                // (`bytecode_pairs`); the rest is compiled from source when imported.
                self.builder.add(&child, reason.clone(), false);
            } else if !is_package(self.builder.index, &child) {
                self.keep_tree(&child, excludes, reason);
            } else if self.builder.set.has_below(&child) || self.used_under(&child) {
                self.keep_python_package(&child, excludes, reason);
            } else {
                self.builder
                    .python_unreached
                    .insert(child, (self.profile.name.clone(), reason.clone()));
            }
        }
    }

    /// Keeps the waiting subpackages that something below them is now kept in. Returns
    /// whether there were any.
    fn keep_reached_packages(&mut self, excludes: &GlobSet) -> bool {
        let reached: Vec<(Vec<u8>, Reason)> = self
            .builder
            .python_unreached
            .iter()
            .filter(|(dir, _)| self.builder.set.has_below(dir))
            .map(|(dir, (_, reason))| (dir.clone(), reason.clone()))
            .collect();
        for (dir, reason) in &reached {
            self.keep_python_package(dir, excludes, reason);
        }
        !reached.is_empty()
    }

    /// The files of a distribution: its RECORD (dist-info) or installed-files.txt and
    /// top_level.txt (egg-info), as absolute paths.
    fn distribution_files(&self, site: &[u8], meta: &[u8]) -> Vec<Vec<u8>> {
        let read = |name: &[u8]| -> Option<Vec<u8>> {
            let node = self.builder.index.get(&join(meta, name))?;
            self.builder.index.read_to_vec(node, 16 << 20).ok()
        };
        let mut files = Vec::new();
        if let Some(record) = read(b"RECORD") {
            for line in record.split(|&b| b == b'\n') {
                let path = line.split(|&b| b == b',').next().unwrap_or_default();
                if !path.is_empty() {
                    files.push(normalize(&join(site, path)));
                }
            }
        }
        if let Some(installed) = read(b"installed-files.txt") {
            for line in installed.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                files.push(normalize(&join(meta, line)));
            }
        }
        if let Some(tops) = read(b"top_level.txt") {
            for top in tops.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                for candidate in [top.to_vec(), [top, b".py"].concat()] {
                    let path = join(site, &candidate);
                    if self.builder.index.get(&path).is_some() {
                        files.push(path);
                    }
                }
            }
        }
        files
    }

    /// A used `X.py` keeps `__pycache__/X.*.pyc` and a kept `__pycache__/X.TAG.pyc` keeps
    /// `X.py`, where the image has them.
    fn bytecode_pairs(&mut self) {
        let kept: Vec<Vec<u8>> = self.builder.set.paths().map(<[u8]>::to_vec).collect();
        let reason = self.reason("python source and bytecode together");
        for path in kept {
            let (dir, name) = split_parent(&path);
            // Bytecode is a cache: the interpreter compiles a kept source the traced run
            // never imported when it first imports it, so only a used source brings its
            // bytecode.
            // A frozen module's bytecode is not read either.
            if let Some(stem) = name.strip_suffix(b".py")
                && self.used.contains(&path)
                && !self.builder.python_frozen.contains_key(&path)
            {
                let cache = join(&dir, b"__pycache__");
                let mut prefix = join(&cache, stem);
                prefix.push(b'.');
                let pycs: Vec<Vec<u8>> = self
                    .builder
                    .index
                    .children(&cache)
                    .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(b".pyc"))
                    .map(|(p, _)| p.clone())
                    .collect();
                for pyc in pycs {
                    self.builder.add(&pyc, reason.clone(), false);
                }
            } else if let Some(source) = source_of_bytecode(&path)
                && self.builder.index.get(&source).is_some()
            {
                self.builder.add(&source, reason.clone(), false);
            }
        }
    }
}

/// Whether `profile`'s `excludes` (compiled from `globs`, in order) match `path`; if so,
/// notes in the keep set the first glob that does as having left it out.
pub(super) fn left_out(
    builder: &mut Builder,
    profile: &str,
    excludes: &GlobSet,
    globs: &[String],
    path: &[u8],
) -> bool {
    let Some(&first) = excludes.matches(as_path(path)).first() else {
        return false;
    };
    let glob = globs.get(first).map_or("?", String::as_str);
    builder
        .set
        .note_left_out(profile, &format!("exclude {glob}"), glob, path);
    true
}

/// The rule that leaves out a subpackage of a used distribution that nothing reached.
pub(super) const UNREACHED_PACKAGE_RULE: &str = "python package nothing imports or names";

/// Notes the subpackages that waited for the import closure and that nothing reached as
/// left out, each with the glob that keeps it.
pub(super) fn note_unreached_packages(builder: &mut Builder) {
    let unreached = std::mem::take(&mut builder.python_unreached);
    for (dir, (profile, _)) in unreached {
        if builder.set.contains(&dir) || builder.set.has_below(&dir) {
            continue;
        }
        let glob = format!("{}/**", display(&dir));
        let below: Vec<Vec<u8>> = builder
            .index
            .descendants(&dir)
            .map(|(p, _)| p.clone())
            .collect();
        for path in std::iter::once(dir).chain(below) {
            builder
                .set
                .note_left_out(&profile, UNREACHED_PACKAGE_RULE, &glob, &path);
        }
    }
}

/// Whether `dir` is a regular Python package: a directory with `__init__.py` (or only its
/// bytecode).
fn is_package(index: &FsIndex, dir: &[u8]) -> bool {
    [&b"__init__.py"[..], b"__init__.pyc"]
        .iter()
        .any(|init| index.get(&join(dir, init)).is_some())
}

/// Whether `path` is `dir` or below it.
fn is_below(path: &[u8], dir: &[u8]) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

/// Whether a file below `dir` was used (`used` is sorted).
pub(super) fn used_under(used: &BTreeSet<Vec<u8>>, dir: &[u8]) -> bool {
    let mut prefix = dir.to_vec();
    prefix.push(b'/');
    used.range(prefix.clone()..)
        .next()
        .is_some_and(|p| p.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::super::profile::load;
    use super::super::test_files::index_of;
    use super::super::{ImageRuntime, KeepOptions, KeepSet, compute};
    use crate::image::index::FsIndex;
    use crate::test_kit::record;
    use slim_test_kit::ScratchDir;

    const SITE: &str = "usr/local/lib/python3.11/site-packages";

    fn index(name: &str, files: &[(&str, &str)]) -> (FsIndex, ScratchDir) {
        index_of(&format!("rules-{name}"), files)
    }

    fn project() -> Vec<(String, &'static str)> {
        let record = "django/__init__.py,sha256=x,1\n\
                      django/contrib/admin/apps.py,,\n\
                      django/contrib/admin/templates/admin/base.html,,\n\
                      django/conf/locale/fr/LC_MESSAGES/django.mo,,\n\
                      ../../../bin/django-admin,,\n\
                      Django-4.2.dist-info/METADATA,,\n";
        let mut files: Vec<(String, &str)> = vec![
            (
                "usr/lib/python3.11/os.py".into(),
                "def popen():\n    import numbers\n",
            ),
            ("usr/lib/python3.11/numbers.py".into(), ""),
            (
                "usr/lib/python3.11/__pycache__/numbers.cpython-311.pyc".into(),
                "",
            ),
            ("usr/lib/python3.11/test/test_os.py".into(), ""),
            (
                "usr/local/bin/django-admin".into(),
                "#!/usr/bin/python3.11\n",
            ),
            (format!("{SITE}/django/__init__.py"), ""),
            (format!("{SITE}/django/contrib/__init__.py"), ""),
            (format!("{SITE}/django/contrib/admin/__init__.py"), ""),
            (format!("{SITE}/django/contrib/admin/apps.py"), ""),
            // An app no setting names and nothing imports.
            (format!("{SITE}/django/contrib/gis/__init__.py"), ""),
            // A Windows script launcher.
            (format!("{SITE}/django/cli-64.exe"), "MZ"),
            (format!("{SITE}/django/contrib/gis/static/gis/map.js"), ""),
            (format!("{SITE}/django/contrib/gis/db/__init__.py"), ""),
            (format!("{SITE}/django/conf/__init__.py"), ""),
            (format!("{SITE}/django/conf/locale/__init__.py"), ""),
            (format!("{SITE}/django/conf/locale/fr/__init__.py"), ""),
            (format!("{SITE}/django/conf/locale/fr/formats.py"), ""),
            (
                format!("{SITE}/django/conf/locale/fr/LC_MESSAGES/django.po"),
                "",
            ),
            (format!("{SITE}/django/core/__init__.py"), ""),
            (format!("{SITE}/django/core/mail/__init__.py"), ""),
            (format!("{SITE}/django/core/mail/backends/__init__.py"), ""),
            (format!("{SITE}/django/core/mail/backends/smtp.py"), ""),
            (format!("{SITE}/django/core/mail/backends/console.py"), ""),
            (
                format!("{SITE}/django/contrib/admin/templates/admin/base.html"),
                "",
            ),
            (
                format!("{SITE}/django/conf/locale/fr/LC_MESSAGES/django.mo"),
                "",
            ),
            (format!("{SITE}/Django-4.2.dist-info/METADATA"), ""),
            (format!("{SITE}/unused/__init__.py"), ""),
            (
                format!("{SITE}/unused-1.0.dist-info/RECORD"),
                "unused/__init__.py,,\n",
            ),
            (format!("{SITE}/distutils-precedence.pth"), ""),
            (
                "app/mysite/settings.py".into(),
                "INSTALLED_APPS = ['django.contrib.admin', 'blog']\n\
                 EMAIL_BACKEND = 'django.core.mail.backends.smtp.EmailBackend'\n",
            ),
            ("app/blog/apps.py".into(), ""),
            ("app/blog/views.py".into(), ""),
            ("app/blog/templates/blog/post.html".into(), ""),
            ("app/blog/locale/fr/LC_MESSAGES/django.mo".into(), ""),
            ("app/node_modules/express/index.js".into(), ""),
            ("app/node_modules/express/package.json".into(), ""),
            (
                "app/node_modules/express/node_modules/dep/index.js".into(),
                "",
            ),
            ("app/node_modules/@scope/pkg/index.js".into(), ""),
            ("app/node_modules/@scope/pkg/README.md".into(), ""),
            ("app/node_modules/unused/index.js".into(), ""),
        ];
        files.push((
            format!("{SITE}/Django-4.2.dist-info/RECORD"),
            Box::leak(record.to_string().into_boxed_str()),
        ));
        files
    }

    fn keep_with(name: &str, profiles: &[&str], packages: bool) -> KeepSet {
        let options = KeepOptions {
            packages,
            ..KeepOptions::default()
        };
        keep_with_options(name, profiles, options)
    }

    fn keep_with_options(name: &str, profiles: &[&str], options: KeepOptions) -> KeepSet {
        let files = project();
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        let (index, _dir) = index(name, &refs);
        let records = [
            record("/usr/lib/python3.11/os.py"),
            record(format!("/{SITE}/django/__init__.py")),
            record("/app/mysite/settings.py"),
            record("/app/blog/views.py"),
            record("/app/node_modules/express/index.js"),
            record("/app/node_modules/@scope/pkg/index.js"),
        ];
        let options = KeepOptions {
            lists: Vec::new(),
            profiles: profiles.iter().map(|p| load(p).unwrap()).collect(),
            ..options
        };
        compute(&index, &records, &ImageRuntime::default(), &options).unwrap()
    }

    fn has(set: &KeepSet, path: &str) -> bool {
        set.contains(path.as_bytes())
    }

    #[test]
    fn django_profile_keeps_the_used_distribution_the_stdlib_and_app_dirs() {
        let set = keep_with("django", &["django"], true);
        assert!(
            has(&set, "/usr/lib/python3.11/numbers.py"),
            "imported by os.py, in a function"
        );
        assert!(
            !has(
                &set,
                "/usr/lib/python3.11/__pycache__/numbers.cpython-311.pyc"
            ),
            "bytecode of a module the run never imported: compiled when imported"
        );
        assert!(
            !has(&set, "/usr/lib/python3.11/test/test_os.py"),
            "stdlib tests excluded"
        );
        for path in [
            "django/contrib/admin/templates/admin/base.html",
            "django/conf/locale/fr/LC_MESSAGES/django.mo",
            "Django-4.2.dist-info/METADATA",
            "distutils-precedence.pth",
        ] {
            assert!(has(&set, &format!("/{SITE}/{path}")), "{path}");
        }
        assert!(
            has(&set, "/usr/local/bin/django-admin"),
            "console script from RECORD"
        );
        assert!(
            !has(&set, &format!("/{SITE}/unused/__init__.py")),
            "unused distribution"
        );
        assert!(
            has(&set, "/app/blog/templates/blog/post.html"),
            "template of a used app"
        );
        assert!(has(&set, "/app/blog/locale/fr/LC_MESSAGES/django.mo"));
        let reasons = set.reasons(b"/app/blog/templates/blog/post.html").unwrap();
        assert!(reasons.iter().any(
            |r| matches!(r, super::super::Reason::Profile { profile, .. } if profile == "django")
        ));
    }

    #[test]
    fn a_used_distribution_keeps_the_subpackages_something_imports_or_names() {
        let set = keep_with("reached", &["django"], true);
        for path in [
            "django/contrib/admin/__init__.py",
            "django/core/mail/backends/smtp.py",
            "django/core/mail/backends/console.py",
            "django/conf/locale/fr/formats.py",
        ] {
            assert!(has(&set, &format!("/{SITE}/{path}")), "{path}");
        }
        for path in [
            "django/contrib/gis",
            "django/contrib/gis/static/gis/map.js",
            "django/conf/locale/fr/LC_MESSAGES/django.po",
            "django/cli-64.exe",
        ] {
            assert!(!has(&set, &format!("/{SITE}/{path}")), "{path}");
        }
        let gis = set
            .left_out()
            .iter()
            .find(|l| l.rule == super::UNREACHED_PACKAGE_RULE)
            .expect("the unreached app is listed as left out");
        assert_eq!(gis.glob, format!("/{SITE}/django/contrib/gis/**"));
        assert!(
            gis.paths
                .contains(format!("/{SITE}/django/contrib/gis/db/__init__.py").as_bytes())
        );
        let exe = format!("/{SITE}/django/cli-64.exe");
        assert!(
            set.left_out()
                .iter()
                .any(|l| l.glob == "/**/site-packages/**/*.exe" && l.paths.contains(exe.as_bytes())),
            "{:?}",
            set.left_out()
        );

        // Control: without the import closure, the used distribution is kept whole.
        let options = KeepOptions {
            import_closure: false,
            ..KeepOptions::default()
        };
        let whole = keep_with_options("whole", &["django"], options);
        assert!(has(
            &whole,
            &format!("/{SITE}/django/contrib/gis/static/gis/map.js")
        ));
    }

    #[test]
    fn without_profiles_or_packages_only_the_trace_is_kept() {
        let none = keep_with("none", &[], true);
        assert!(!has(
            &none,
            &format!("/{SITE}/django/contrib/admin/templates/admin/base.html")
        ));
        assert!(!has(&none, "/app/blog/templates/blog/post.html"));
        let no_packages = keep_with("nopkg", &["django"], false);
        assert!(!has(
            &no_packages,
            &format!("/{SITE}/django/contrib/admin/templates/admin/base.html")
        ));
        assert!(
            has(&no_packages, "/app/blog/templates/blog/post.html"),
            "app dirs still apply"
        );
    }

    #[test]
    fn node_profile_keeps_used_packages_but_not_their_unused_dependencies() {
        let set = keep_with("node", &["node"], true);
        assert!(has(&set, "/app/node_modules/express/package.json"));
        assert!(has(&set, "/app/node_modules/@scope/pkg/index.js"));
        assert!(
            !has(&set, "/app/node_modules/@scope/pkg/README.md"),
            "excluded docs"
        );
        assert!(!has(
            &set,
            "/app/node_modules/express/node_modules/dep/index.js"
        ));
        assert!(!has(&set, "/app/node_modules/unused/index.js"));
    }
}
