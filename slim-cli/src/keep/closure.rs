//! The closure of the kept files: what the trace cannot see but a kept file needs. An ELF
//! file's program interpreter and libraries, found the way the dynamic loader finds them
//! in the image; a script's `#!` interpreter; the other names of a hard-linked file; every
//! kept path's parent directories.
//!
//! A script's interpreter is added only for scripts that run: executed during the trace,
//! kept by the user (`--keep`), by a profile naming it, by repair or as another script's
//! interpreter. A script that a keep-list, a profile's directory rule or a package rule
//! keeps as data (the CA store's `CA.pl`, a package's `bin/` stub) brings no interpreter:
//! that is how a whole Perl came along with the certificates.
//!
//! The kernel opens PT_INTERP itself during execve (no syscall is traced for it), and a
//! library can be mapped only when a rarely taken branch runs: this is why the closure is
//! computed rather than trusted to the trace. Reads the image index only.

use std::io::Read;

use super::builder::{Builder, HardLinkGroups, display};
use super::elf::{self, ElfInfo};
use super::ld_cache::LdCache;
use super::library_search;
use super::model::Reason;
use super::rules::PROFILE_KEEP_RULE;
use crate::image::index::{Node, NodeKind, join, resolve, split_parent};
use crate::trace::AccessKind;
use crate::trace::path::normalize;

/// Bytes read from a file to recognise a `#!` line.
const SHEBANG_BYTES: u64 = 256;
/// The PATH a `#!/usr/bin/env NAME` script searches when the image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Builder<'_> {
    /// Adds the closure of every queued file, until nothing new is found.
    pub(super) fn close(&mut self) {
        while let Some((path, inherited_rpath)) = self.queue.pop_front() {
            if !self.closed.insert(path.clone()) {
                continue;
            }
            let Some(node) = self.index.get(&path) else {
                continue;
            };
            let node: Node = node.clone();
            self.add_hard_link_peers(&path, &node);
            self.add_elf_closure(&path, &node, &inherited_rpath);
            self.add_script_interpreter(&path, &node);
        }
        self.add_ancestors();
    }

    /// The image's dynamic loader cache (empty when the image has none).
    pub(super) fn cache(&mut self) -> &LdCache {
        if self.ld_cache.is_none() {
            let cache = self
                .read_small(b"/etc/ld.so.cache")
                .map(|bytes| LdCache::parse(&bytes))
                .unwrap_or_default();
            self.ld_cache = Some(cache);
        }
        self.ld_cache.get_or_insert_with(LdCache::default)
    }

    /// The ELF info of some kept binary, for the image's ABI.
    pub(super) fn any_elf(&self) -> Option<ElfInfo> {
        for path in [&b"/bin/sh"[..], b"/usr/bin/env", b"/bin/busybox"] {
            if let Some(target) = resolve(self.index, path, true).target
                && let Some(node) = self.index.get(&target)
                && let Ok(mut reader) = self.index.open(node)
                && let Ok(Some(info)) = elf::parse(&mut reader)
            {
                return Some(info);
            }
        }
        None
    }

    fn add_hard_link_peers(&mut self, path: &[u8], node: &Node) {
        let index = self.index;
        let groups = self.hard_links.get_or_insert_with(|| {
            let mut groups = HardLinkGroups::new();
            for (p, n) in index.iter() {
                if let Some(NodeKind::File { layer, offset, .. }) =
                    index.content_node(n).map(|c| &c.kind)
                {
                    groups.entry((*layer, *offset)).or_default().push(p.clone());
                }
            }
            groups.retain(|_, peers| peers.len() > 1);
            groups
        });
        let Some(NodeKind::File { layer, offset, .. }) = index.content_node(node).map(|c| &c.kind)
        else {
            return;
        };
        let Some(peers) = groups.get(&(*layer, *offset)).cloned() else {
            return;
        };
        let of = display(path);
        for peer in peers {
            if peer.as_slice() != path {
                self.add(&peer, Reason::HardLink { of: of.clone() }, false);
                self.closed.insert(peer);
            }
        }
    }

    fn add_elf_closure(&mut self, path: &[u8], node: &Node, inherited_rpath: &[Vec<u8>]) {
        let Ok(mut reader) = self.index.open(node) else {
            return;
        };
        let Ok(Some(info)) = elf::parse(&mut reader) else {
            return;
        };
        let of = display(path);
        if let Some(interp) = &info.interp {
            self.add(interp, Reason::ElfInterpreter { of: of.clone() }, true);
        }
        // An executable's RPATH applies to everything it loads.
        let rpath: Vec<Vec<u8>> = if info.interp.is_some() {
            info.rpath.clone()
        } else {
            inherited_rpath.to_vec()
        };
        let ld_library_path: Vec<Vec<u8>> = self
            .image
            .var("LD_LIBRARY_PATH")
            .map(|v| {
                v.split(':')
                    .filter(|d| d.starts_with('/'))
                    .map(|d| d.as_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        for needed in &info.needed {
            let candidates = {
                let cache = self.cache().clone();
                library_search::candidates(needed, &info, path, &rpath, &ld_library_path, &cache)
            };
            let Some(found) = candidates
                .into_iter()
                .map(|c| normalize(&c))
                .find(|c| self.exists_file(c))
            else {
                continue;
            };
            self.add(&found, Reason::ElfLibrary { of: of.clone() }, true);
            if let Some(target) = resolve(self.index, &found, true).target {
                self.queue.push_back((target, rpath.clone()));
            }
        }
    }

    /// Whether the kept `path` is a script whose interpreter must come along: one that
    /// ran or that someone named, not one kept with the data around it.
    fn runs_as_script(&self, path: &[u8]) -> bool {
        self.set.reasons(path).is_some_and(|reasons| {
            reasons.iter().any(|reason| match reason {
                Reason::Traced { kind, .. } => *kind == AccessKind::Exec,
                Reason::UserGlob { .. }
                | Reason::Repaired { .. }
                | Reason::ScriptInterpreter { .. } => true,
                Reason::Profile { rule, .. } => rule == PROFILE_KEEP_RULE,
                Reason::Symlink { .. }
                | Reason::HardLink { .. }
                | Reason::Parent { .. }
                | Reason::ElfInterpreter { .. }
                | Reason::ElfLibrary { .. }
                | Reason::KeepList { .. }
                | Reason::PackageDb { .. } => false,
            })
        })
    }

    fn add_script_interpreter(&mut self, path: &[u8], node: &Node) {
        if !self.runs_as_script(path) {
            return;
        }
        let Ok(reader) = self.index.open(node) else {
            return;
        };
        let mut head = Vec::new();
        if reader.take(SHEBANG_BYTES).read_to_end(&mut head).is_err() || !head.starts_with(b"#!") {
            return;
        }
        let line = head[2..].split(|&b| b == b'\n').next().unwrap_or_default();
        let mut words = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty());
        let Some(interpreter) = words.next() else {
            return;
        };
        let of = display(path);
        let reason = Reason::ScriptInterpreter { of };
        self.add(interpreter, reason.clone(), true);
        // `#!/usr/bin/env NAME`: NAME is looked up in the image's PATH.
        if interpreter.ends_with(b"/env") {
            let Some(name) = words.find(|w| !w.starts_with(b"-")) else {
                return;
            };
            let path_var = self.image.var("PATH").unwrap_or(DEFAULT_PATH).to_string();
            for dir in path_var.split(':').filter(|d| d.starts_with('/')) {
                let candidate = join(dir.as_bytes(), name);
                if self.exists_file(&candidate) {
                    self.add(&candidate, reason, true);
                    break;
                }
            }
        }
    }

    /// Every kept path's parent directories are kept too.
    fn add_ancestors(&mut self) {
        let paths: Vec<Vec<u8>> = self.set.paths().map(<[u8]>::to_vec).collect();
        for path in paths {
            let of = display(&path);
            let mut dir = split_parent(&path).0;
            while dir != b"/" {
                if self.set.contains(&dir) {
                    break;
                }
                if self.index.get(&dir).is_some() {
                    self.keep(&dir, Reason::Parent { of: of.clone() });
                }
                dir = split_parent(&dir).0;
            }
        }
    }
}
