//! The keep set under construction: adding one path keeps it as resolved inside the image,
//! with every symlink and directory on its way, and queues the file for its closure.
//!
//! Every rule (trace, keep-lists, profiles, `--keep`, repair) adds paths through here, so
//! each path is resolved the same way whatever the reason. Reads the image index only.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use super::ld_cache::LdCache;
use super::model::{ImageRuntime, KeepSet, Reason};
use super::python_closure::{Found, Probe, SysPath};
use super::read_ahead::SourceScans;
use crate::image::index::{FsIndex, NodeKind, resolve};

/// Bytes read at most from a small configuration file of the image (passwd, nsswitch.conf,
/// ld.so.cache).
const SMALL_FILE_LIMIT: u64 = 4 << 20;

/// Paths sharing one content (a hard-link group), by the content's place in its layer.
pub(super) type HardLinkGroups = HashMap<(usize, u64), Vec<Vec<u8>>>;

pub(super) struct Builder<'a> {
    pub(super) index: &'a FsIndex,
    pub(super) image: &'a ImageRuntime,
    pub(super) set: KeepSet,
    /// Files whose closure (ELF, script, hard links) is still to be added, with the RPATH
    /// of the executable that loads them.
    pub(super) queue: VecDeque<(Vec<u8>, Vec<Vec<u8>>)>,
    /// Files whose closure was added.
    pub(super) closed: HashSet<Vec<u8>>,
    /// The image's `/etc/ld.so.cache`, read on first use.
    pub(super) ld_cache: Option<LdCache>,
    /// The image's hard-link groups, gathered on first use.
    pub(super) hard_links: Option<HardLinkGroups>,
    /// The Python sources each import closure (by its rules and exclude globs) has read.
    pub(super) python_scanned: Vec<(ClosureKey, HashSet<Vec<u8>>)>,
    /// `sys.path` of each Python version used, found on the first import closure.
    pub(super) python_paths: Option<BTreeMap<String, SysPath>>,
    /// What a module name finds on a version's `sys.path` (by the version's place, then
    /// name).
    pub(super) python_found: RefCell<Vec<HashMap<String, Rc<Found>>>>,
    /// What a directory holds under a name, for a version's path finder (by the version's
    /// place, then the directory joined with the name).
    pub(super) python_probes: RefCell<Vec<HashMap<Vec<u8>, Probe>>>,
    /// Subpackages of used Python distributions that nothing has reached yet, with the
    /// profile and reason that keep them once something does (see
    /// `rules::Apply::keep_python_package`).
    pub(super) python_unreached: BTreeMap<Vec<u8>, (String, Reason)>,
    /// The files of the modules frozen into a Python version (by the version), found on
    /// its path: read for their imports, kept only when used.
    pub(super) python_frozen: HashMap<Vec<u8>, String>,
    /// Python sources scanned while the traced run went on, handed to the first closure
    /// that reads them.
    pub(super) python_ahead: SourceScans,
}

/// Where [`Builder::add_resolved`] put a path's reason.
#[derive(Clone, Debug)]
pub(super) struct Added {
    /// The path is itself a symlink (kept with the reason).
    link_itself: bool,
    /// The file or directory it resolves to, if it exists.
    target: Option<Vec<u8>>,
    /// Symlinks were on its way.
    through_links: bool,
}

/// What makes the imports read from a source the same in two Python import closures: the
/// profile's `tools`, `implied` and exclude globs.
pub(super) type ClosureKey = (Vec<String>, BTreeMap<String, Vec<String>>, Vec<String>);

impl<'a> Builder<'a> {
    pub(super) fn new(index: &'a FsIndex, image: &'a ImageRuntime) -> Self {
        Builder {
            index,
            image,
            set: KeepSet::default(),
            queue: VecDeque::new(),
            closed: HashSet::new(),
            ld_cache: None,
            hard_links: None,
            python_scanned: Vec::new(),
            python_paths: None,
            python_found: RefCell::new(Vec::new()),
            python_probes: RefCell::new(Vec::new()),
            python_unreached: BTreeMap::new(),
            python_ahead: SourceScans::default(),
            python_frozen: HashMap::new(),
        }
    }

    pub(super) fn keep(&mut self, path: &[u8], reason: Reason) {
        self.set.keep(path, reason);
    }

    /// Keeps `path` as resolved in the image with every symlink and directory on its way.
    /// Returns whether the path exists in the image.
    pub(super) fn add(&mut self, path: &[u8], reason: Reason, follow_last: bool) -> bool {
        let added = self.add_resolved(path, reason, follow_last);
        added.target.is_some() || added.through_links
    }

    /// [`Self::add`], saying where `reason` went: adding the same path again with another
    /// reason changes nothing but the reasons of those paths (the directories and links
    /// on its way already name it).
    pub(super) fn add_resolved(&mut self, path: &[u8], reason: Reason, follow_last: bool) -> Added {
        let resolution = resolve(self.index, path, follow_last);
        let of = display(path);
        for dir in &resolution.dirs {
            self.keep(dir, Reason::Parent { of: of.clone() });
        }
        for link in &resolution.links {
            if link.as_slice() != path {
                self.keep(link, Reason::Symlink { of: of.clone() });
            }
        }
        let link_itself = resolution.links.first().map(Vec::as_slice) == Some(path);
        if link_itself {
            self.keep(path, reason.clone());
        }
        let Some(target) = resolution.target else {
            return Added {
                link_itself,
                target: None,
                through_links: !resolution.links.is_empty(),
            };
        };
        self.keep(&target, reason);
        if !self.closed.contains(&target)
            && let Some(node) = self.index.get(&target)
            && matches!(node.kind, NodeKind::File { .. } | NodeKind::HardLink { .. })
        {
            self.queue.push_back((target.clone(), Vec::new()));
        }
        Added {
            link_itself,
            target: Some(target),
            through_links: !resolution.links.is_empty(),
        }
    }

    /// Gives `reason` to a path [`Self::add_resolved`] added, as adding it again would.
    /// Returns whether every path it kept has as many reasons as are recorded: adding it
    /// again changes nothing.
    pub(super) fn add_again(&mut self, path: &[u8], added: &Added, reason: Reason) -> bool {
        let mut full = true;
        if added.link_itself {
            full &= self.set.keep(path, reason.clone());
        }
        if let Some(target) = &added.target {
            full &= self.set.keep(target, reason);
        }
        full
    }

    /// Keeps `path` and, if it is a directory, everything below it.
    pub(super) fn add_tree(&mut self, path: &[u8], reason: &Reason) {
        self.add(path, reason.clone(), true);
        let below: Vec<Vec<u8>> = self
            .index
            .descendants(path)
            .map(|(p, _)| p.clone())
            .collect();
        for p in below {
            self.add(&p, reason.clone(), false);
            // A symlink inside a kept tree keeps what it points to as well.
            if matches!(
                self.index.get(&p).map(|n| &n.kind),
                Some(NodeKind::Symlink { .. })
            ) {
                self.add(&p, reason.clone(), true);
            }
        }
    }

    /// Whether `path` resolves to a regular file of the image.
    pub(super) fn exists_file(&self, path: &[u8]) -> bool {
        resolve(self.index, path, true)
            .target
            .and_then(|t| {
                self.index
                    .get(&t)
                    .map(|n| matches!(n.kind, NodeKind::File { .. } | NodeKind::HardLink { .. }))
            })
            .unwrap_or(false)
    }

    /// The content of a small file of the image, symlinks resolved.
    pub(super) fn read_small(&self, path: &[u8]) -> Option<Vec<u8>> {
        let target = resolve(self.index, path, true).target?;
        let node = self.index.get(&target)?;
        self.index.read_to_vec(node, SMALL_FILE_LIMIT).ok()
    }
}

/// A path as reasons and messages name it.
pub(super) fn display(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}
