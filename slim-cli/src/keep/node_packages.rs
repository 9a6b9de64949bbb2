//! Node packages wherever Node finds them: a package of which any file was used is kept
//! whole, and so is every package that a kept module names in a literal `require` or
//! `import`, resolved as Node resolves it from that module, transitively. Node loads
//! modules lazily (body-parser reaches for iconv-lite's encodings on the first JSON body),
//! so the files a run traced are not all a package needs.
//!
//! A package is `NAME` or `@SCOPE/NAME` in a directory Node looks for packages in: a
//! `node_modules` anywhere (any directory there), or one of the global directories (what
//! the image's `NODE_PATH` names, the global prefix `/usr/local/lib/node_modules`, and
//! Debian's `/usr/lib/TRIPLET/nodejs`, `/usr/share/nodejs` and `/usr/lib/nodejs`), where
//! it must hold a `package.json`. A package's own nested `node_modules` is kept only for
//! what is used or required in it. What a package's tests and examples require is not
//! followed. Reads the image index only.

use std::collections::{BTreeSet, HashSet, VecDeque};

use globset::GlobSet;

use super::builder::display;
use super::glob::as_path;
use super::js_specifiers::{package_name, specifiers};
use super::model::Reason;
use super::rules::Apply;
use crate::image::index::{FsIndex, NodeKind, join, resolve, split_parent};
use crate::trace::path::normalize;

/// The global prefix's packages, searched after `NODE_PATH`.
const PREFIX_DIR: &[u8] = b"/usr/local/lib/node_modules";

/// Debian's global package directories, searched after each architecture's (Node 18's
/// `module.globalPaths` on bookworm: `/usr/lib/x86_64-linux-gnu/nodejs`, then
/// `/usr/share/nodejs`).
const DEBIAN_DIRS: [&[u8]; 2] = [b"/usr/share/nodejs", b"/usr/lib/nodejs"];

/// The directory of each architecture's packages below `/usr/lib` (Debian's multiarch).
const ARCH_DIR: &[u8] = b"nodejs";

const NODE_MODULES: &[u8] = b"node_modules";

/// Bytes of one module read at most for its specifiers (bundles are large, not endless).
const MODULE_LIMIT: u64 = 16 << 20;

/// Extensions Node tries after a bare name that is no directory.
const FILE_EXTENSIONS: [&[u8]; 4] = [b"", b".js", b".json", b".node"];

/// Where the image's Node looks for packages.
pub(super) struct NodeLayout {
    /// The global package directories that exist, resolved, in search order.
    globals: Vec<Vec<u8>>,
}

impl NodeLayout {
    /// The layout of the image: `NODE_PATH` first, then the global prefix and Debian's
    /// directories.
    pub(super) fn of(index: &FsIndex, node_path: Option<&str>) -> NodeLayout {
        let mut candidates: Vec<Vec<u8>> = node_path
            .unwrap_or_default()
            .split(':')
            .filter(|dir| dir.starts_with('/'))
            .map(|dir| normalize(dir.as_bytes()))
            .collect();
        candidates.push(PREFIX_DIR.to_vec());
        candidates.extend(
            index
                .children(b"/usr/lib")
                .filter(|(_, node)| matches!(node.kind, NodeKind::Dir))
                .map(|(dir, _)| join(dir, ARCH_DIR)),
        );
        candidates.extend(DEBIAN_DIRS.iter().map(|dir| dir.to_vec()));
        let mut globals = Vec::new();
        for candidate in candidates {
            if let Some(dir) = resolve_dir(index, &candidate)
                && !globals.contains(&dir)
            {
                globals.push(dir);
            }
        }
        NodeLayout { globals }
    }

    /// The packages `path` (resolved) lies in, outermost first. It lies in none when it
    /// is a package directory itself or a single-file module.
    pub(super) fn packages_of(&self, index: &FsIndex, path: &[u8]) -> Vec<Vec<u8>> {
        let mut roots = Vec::new();
        for global in &self.globals {
            if let Some(root) = package_below(path, global)
                && index.get(&join(&root, b"package.json")).is_some()
            {
                roots.push(root);
            }
        }
        let mut at = 0;
        while let Some(found) = find(&path[at..], b"/node_modules/") {
            let container = &path[..at + found + NODE_MODULES.len() + 1];
            if let Some(root) = package_below(path, container) {
                roots.push(root);
            }
            at += found + 1;
        }
        roots.sort_by_key(Vec::len);
        roots.dedup();
        roots
    }

    /// Where `name` (a package name) resolves from a module in directory `from`: each
    /// `node_modules` from `from` up to the root, then the global directories. The path
    /// found is as Node names it (it may be a symlink): a package directory, or a
    /// single-file module.
    pub(super) fn resolve(&self, index: &FsIndex, from: &[u8], name: &str) -> Option<Vec<u8>> {
        let mut dirs = Vec::new();
        let mut dir = from.to_vec();
        loop {
            if split_parent(&dir).1 != NODE_MODULES {
                dirs.push(join(&dir, NODE_MODULES));
            }
            if dir == b"/" {
                break;
            }
            dir = split_parent(&dir).0;
        }
        dirs.extend(self.globals.iter().cloned());
        dirs.iter().find_map(|container| {
            let base = join(container, name.as_bytes());
            if resolve_dir(index, &base).is_some() {
                return Some(base);
            }
            FILE_EXTENSIONS.iter().find_map(|ext| {
                let file = [base.as_slice(), ext].concat();
                is_file(index, &file).then_some(file)
            })
        })
    }
}

/// `CONTAINER/NAME` or `CONTAINER/@SCOPE/NAME` when `path` lies strictly below it.
fn package_below(path: &[u8], container: &[u8]) -> Option<Vec<u8>> {
    let rest = path.strip_prefix(container)?.strip_prefix(b"/")?;
    let mut parts = rest.split(|&b| b == b'/');
    let first = parts.next().filter(|p| !p.is_empty())?;
    let len = if first.starts_with(b"@") {
        first.len() + 1 + parts.next().filter(|p| !p.is_empty())?.len()
    } else {
        first.len()
    };
    (len < rest.len()).then(|| path[..path.len() - rest.len() + len].to_vec())
}

fn is_module(path: &[u8]) -> bool {
    [&b".js"[..], b".cjs", b".mjs"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// Whether a module is a package's test, benchmark or example, by its directory or name.
fn is_test_or_example(path: &[u8]) -> bool {
    let (dir, name) = split_parent(path);
    let in_dir = dir.split(|&b| b == b'/').any(|part| {
        [
            &b"test"[..],
            b"tests",
            b"__tests__",
            b"example",
            b"examples",
            b"benchmark",
            b"benchmarks",
        ]
        .contains(&part)
    });
    let stem = name.split(|&b| b == b'.').next().unwrap_or_default();
    in_dir
        || [&b"test"[..], b"tests", b"spec"].contains(&stem)
        || [&b"test-"[..], b"test_"]
            .iter()
            .any(|p| stem.starts_with(p))
        || [&b".test."[..], b".spec."]
            .iter()
            .any(|infix| find(&name, infix).is_some())
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Apply<'_, '_> {
    /// Keeps the used Node packages whole and, transitively, the packages their modules
    /// (and the application's modules) require.
    pub(super) fn node_packages(&mut self, excludes: &GlobSet) {
        let index = self.builder.index;
        let layout = NodeLayout::of(index, self.builder.image.var("NODE_PATH"));
        let mut pending: VecDeque<(Vec<u8>, Reason)> = VecDeque::new();
        let used_roots: BTreeSet<Vec<u8>> = self
            .used
            .iter()
            .flat_map(|path| layout.packages_of(index, path))
            .collect();
        for root in used_roots {
            let reason = self.reason(&format!("node package {} used", display(&root)));
            pending.push_back((root, reason));
        }
        // The application's own modules (outside any package) name packages too.
        let mut scanned = HashSet::new();
        let app_modules: Vec<Vec<u8>> = self
            .builder
            .set
            .paths()
            .filter(|p| is_module(p) && is_file(index, p))
            .filter(|p| layout.packages_of(index, p).is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        for module in app_modules {
            self.required_by(&layout, &module, &mut scanned, &mut pending);
        }
        let mut kept = HashSet::new();
        while let Some((path, reason)) = pending.pop_front() {
            // A package directory reached through a symlink is kept as the link and its
            // target; the target's tree is the package.
            let Some(root) = resolve(index, &path, true).target else {
                continue;
            };
            if !kept.insert(root.clone()) || excludes.is_match(as_path(&root)) {
                continue;
            }
            self.builder.add(&path, reason.clone(), true);
            for module in self.keep_package(&root, excludes, &reason) {
                // What a package's tests and examples require is no part of the
                // application (object-inspect's test-core-js.js names all of core-js).
                if self.used.contains(&module) || !is_test_or_example(&module) {
                    self.required_by(&layout, &module, &mut scanned, &mut pending);
                }
            }
        }
    }

    /// Keeps the package at `root` (a directory, or a single-file module) but for its
    /// nested `node_modules` and what `excludes` match. A symlink in it is kept with what
    /// it points to, a directory's whole tree (Debian links `dist` directories into
    /// `/usr/share/javascript`), unless that directory holds the package itself. Returns
    /// its modules, resolved.
    fn keep_package(&mut self, root: &[u8], excludes: &GlobSet, reason: &Reason) -> Vec<Vec<u8>> {
        let index = self.builder.index;
        let nested = join(root, b"node_modules/");
        let mut trees = vec![root.to_vec()];
        let mut seen: HashSet<Vec<u8>> = trees.iter().cloned().collect();
        let mut modules = Vec::new();
        while let Some(tree) = trees.pop() {
            let below: Vec<Vec<u8>> = index
                .descendants(&tree)
                .filter(|(p, _)| !p.starts_with(&nested) && !excludes.is_match(as_path(p)))
                .map(|(p, _)| p.clone())
                .collect();
            for path in std::iter::once(tree).chain(below) {
                let is_link = matches!(
                    index.get(&path).map(|n| &n.kind),
                    Some(NodeKind::Symlink { .. })
                );
                self.builder.add(&path, reason.clone(), is_link);
                let Some(target) = resolve(index, &path, true).target else {
                    continue;
                };
                if is_module(&path) && is_file(index, &target) {
                    modules.push(target);
                } else if is_link
                    && resolve_dir(index, &target).is_some()
                    && !join(root, b"").starts_with(&join(&target, b""))
                    && seen.insert(target.clone())
                {
                    trees.push(target);
                }
            }
        }
        modules
    }

    /// Queues the packages that `module` names, as resolved from its directory, unless
    /// it was read already.
    fn required_by(
        &self,
        layout: &NodeLayout,
        module: &[u8],
        scanned: &mut HashSet<Vec<u8>>,
        pending: &mut VecDeque<(Vec<u8>, Reason)>,
    ) {
        if !scanned.insert(module.to_vec()) {
            return;
        }
        let index = self.builder.index;
        let Some(source) = index
            .get(module)
            .and_then(|node| index.read_to_vec(node, MODULE_LIMIT).ok())
        else {
            return;
        };
        let dir = split_parent(module).0;
        let names: BTreeSet<String> = specifiers(&source)
            .iter()
            .filter_map(|s| package_name(s))
            .map(str::to_string)
            .collect();
        for name in names {
            if let Some(found) = layout.resolve(index, &dir, &name) {
                let reason = self.reason(&format!("node package required by {}", display(module)));
                pending.push_back((found, reason));
            }
        }
    }
}
