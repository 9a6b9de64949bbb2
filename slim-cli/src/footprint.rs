//! What the new image holds and what it drops, path by path and directory by directory:
//! the kept paths with their type, size and reasons, the kept bytes per directory, the
//! removed paths grouped by directory, and what each `--exclude` glob left out, for the
//! report, the build summary and `slim explain`.
//!
//! Pure: it reads the image index and the keep set, never the engine or the kernel.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::image::index::{FsIndex, Node, NodeKind, resolve, split_parent};
use crate::keep::{KeepSet, Reason, is_runtime_mount};
use crate::trace::{AccessKind, TraceRecord};

/// Directories listed in the report by kept size.
pub const KEPT_DIRECTORIES: usize = 20;
/// Traced paths the image lacks, listed in the report at most.
pub const ABSENT_PATHS: usize = 5000;

/// A kept path, what it is, and why it is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeptPath {
    #[schemars(pattern("^/"))]
    pub path: String,
    #[serde(rename = "type")]
    pub kind: PathType,
    /// Bytes of content (regular files; 0 for the rest, hard links included).
    pub size: u64,
    /// What a symlink points to, or the path a hard link shares its content with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub reasons: Vec<Reason>,
}

/// The type of a path in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathType {
    File,
    Dir,
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
}

impl PathType {
    fn of(node: &Node) -> PathType {
        match node.kind {
            NodeKind::File { .. } | NodeKind::Sparse { .. } => PathType::File,
            NodeKind::Dir => PathType::Dir,
            NodeKind::Symlink { .. } => PathType::Symlink,
            NodeKind::HardLink { .. } => PathType::HardLink,
            NodeKind::CharDevice { .. } => PathType::CharDevice,
            NodeKind::BlockDevice { .. } => PathType::BlockDevice,
            NodeKind::Fifo => PathType::Fifo,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PathType::File => "file",
            PathType::Dir => "directory",
            PathType::Symlink => "symlink",
            PathType::HardLink => "hard link",
            PathType::CharDevice => "character device",
            PathType::BlockDevice => "block device",
            PathType::Fifo => "fifo",
        }
    }
}

/// Bytes and paths under one directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DirTally {
    #[schemars(pattern("^/"))]
    pub path: String,
    pub paths: usize,
    pub bytes: u64,
}

/// Removed paths of one directory: either the whole directory (`whole`, its parent is
/// kept) with everything below it, or the entries removed from a kept directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RemovedDir {
    #[schemars(pattern("^/"))]
    pub path: String,
    /// The directory itself was removed, with everything below it.
    pub whole: bool,
    /// Paths removed (for a whole directory, itself included).
    pub paths: usize,
    /// Bytes of file content removed.
    pub bytes: u64,
    /// The removed paths relative to `path`, sorted (for a whole directory, everything
    /// below it).
    pub entries: Vec<String>,
}

/// A path a traced process asked for that the image does not have (created at run
/// time, or looked for in vain), with the first access to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AbsentPath {
    #[schemars(pattern("^/"))]
    pub path: String,
    pub kind: AccessKind,
    /// `ok` (created at run time), or the errno's name (`ENOENT`).
    #[schemars(length(min = 1))]
    pub result: String,
    pub comm: String,
    pub pid: u32,
}

/// The traced paths `index` does not have (not even through its symlinks), sorted, with
/// the first access to each; at most [`ABSENT_PATHS`] of them, and how many there are.
pub fn absent(index: &FsIndex, records: &[TraceRecord]) -> (usize, Vec<AbsentPath>) {
    let mut first: BTreeMap<&[u8], &TraceRecord> = BTreeMap::new();
    let mut seen: HashSet<&[u8]> = HashSet::new();
    for record in records {
        if record.incomplete.is_some()
            || record.path.is_empty()
            || is_runtime_mount(&record.path)
            || !seen.insert(&record.path)
        {
            continue;
        }
        let resolution = resolve(index, &record.path, !record.nofollow);
        if resolution.target.is_none() && resolution.links.is_empty() {
            first.insert(&record.path, record);
        }
    }
    let count = first.len();
    let listed = first
        .into_iter()
        .take(ABSENT_PATHS)
        .map(|(path, record)| AbsentPath {
            path: String::from_utf8_lossy(path).into_owned(),
            kind: record.kind,
            result: record.result.to_wire().into_owned(),
            comm: record.comm.clone(),
            pid: record.pid,
        })
        .collect();
    (count, listed)
}

/// What the new image drops.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Removed {
    pub paths: usize,
    pub bytes: u64,
    /// Every removed path, grouped by directory, largest first.
    pub directories: Vec<RemovedDir>,
}

/// What one `--exclude` glob left out of the new image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExcludedGlob {
    #[schemars(length(min = 1))]
    pub pattern: String,
    /// Paths of the original image the glob itself matches, kept or not.
    pub image_matches: usize,
    /// The paths it took out of the keep set, sorted (empty: it left nothing out).
    pub paths: Vec<ExcludedPath>,
}

/// Why an `--exclude` glob that matches `image_matches` paths of the image left nothing out.
pub fn why_nothing_excluded(image_matches: usize) -> String {
    match image_matches {
        0 => "it matches no path of the image".into(),
        n => format!("none of the {n} path(s) of the image it matches is kept"),
    }
}

/// A path an `--exclude` glob took out, with the reasons the build would have kept it for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExcludedPath {
    #[schemars(pattern("^/"))]
    pub path: String,
    pub reasons: Vec<Reason>,
}

/// The keep set measured against the original image.
#[derive(Clone, Debug, Default)]
pub struct Footprint {
    /// Every kept path, sorted.
    pub kept: Vec<KeptPath>,
    /// Kept non-directory paths.
    pub kept_files: usize,
    /// Bytes of kept file content.
    pub kept_bytes: u64,
    /// Kept bytes by the directory that directly holds them, largest first, at most
    /// [`KEPT_DIRECTORIES`].
    pub kept_directories: Vec<DirTally>,
    pub removed: Removed,
    /// What each `--exclude` glob left out, in the order given.
    pub excluded: Vec<ExcludedGlob>,
    /// Kept files and bytes by why they are kept, largest first.
    pub by_reason: Vec<ReasonTally>,
    /// What profiles' exclude globs left out, by profile and glob.
    pub left_out: Vec<LeftOutGlob>,
}

/// What one exclude glob of a profile left out of what the profile's rules keep (an
/// optional heavy part of an ecosystem), and how to keep it anyway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeftOutGlob {
    #[schemars(length(min = 1))]
    pub profile: String,
    /// The rule that left it out: `exclude GLOB`, or why a package was left out.
    #[schemars(length(min = 1))]
    pub rule: String,
    /// What `--keep` keeps it with.
    #[schemars(length(min = 1))]
    pub glob: String,
    /// Files (not directories) left out, and their bytes (without what they would have
    /// brought along: an ELF file's libraries are not counted).
    pub files: usize,
    pub bytes: u64,
    /// Every path left out, sorted.
    pub paths: Vec<String>,
}

impl LeftOutGlob {
    /// The option that keeps what it left out.
    pub fn keep_option(&self) -> String {
        format!("--keep '{}'", self.glob)
    }
}

/// Kept files and their bytes for one reason: `traced`, `ELF closure of traced`, `#!
/// closure of keep-list certs`, `profile python: keep`, `--keep /srv/**` …
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReasonTally {
    #[schemars(length(min = 1))]
    pub reason: String,
    pub files: usize,
    pub bytes: u64,
}

/// Measures `keep` against `index`.
pub fn measure(index: &FsIndex, keep: KeepSet) -> Footprint {
    let mut footprint = Footprint::default();
    let mut kept_by_dir: HashMap<Vec<u8>, (usize, u64)> = HashMap::new();
    for path in keep.paths() {
        let Some(node) = index.get(path) else {
            continue;
        };
        if !matches!(node.kind, NodeKind::Dir) {
            footprint.kept_files += 1;
            footprint.kept_bytes += node.size();
            let tally = kept_by_dir.entry(split_parent(path).0).or_default();
            tally.0 += 1;
            tally.1 += node.size();
        }
    }
    footprint.kept_directories = largest(
        kept_by_dir
            .into_iter()
            .map(|(dir, (paths, bytes))| DirTally {
                path: String::from_utf8_lossy(&dir).into_owned(),
                paths,
                bytes,
            })
            .collect(),
        |t| (t.bytes, &t.path),
    );
    footprint.kept_directories.truncate(KEPT_DIRECTORIES);
    footprint.by_reason = by_reason(index, &keep);
    footprint.left_out = keep
        .left_out()
        .iter()
        .map(|left| {
            let mut glob = LeftOutGlob {
                profile: left.profile.clone(),
                rule: left.rule.clone(),
                glob: left.glob.clone(),
                files: 0,
                bytes: 0,
                paths: Vec::new(),
            };
            for path in left.paths.iter().filter(|p| !keep.contains(p)) {
                if let Some(node) = index.get(path)
                    && !matches!(node.kind, NodeKind::Dir)
                {
                    glob.files += 1;
                    glob.bytes += node.size();
                }
                glob.paths.push(String::from_utf8_lossy(path).into_owned());
            }
            glob
        })
        .filter(|glob| !glob.paths.is_empty())
        .collect();

    // A kept path's parents are kept, so the removed paths fall into disjoint groups: a
    // removed directory whose parent is kept (with all below it), or the removed
    // non-directories of a kept directory.
    let kept = |p: &[u8]| p == b"/" || keep.contains(p);
    let mut groups: BTreeMap<(Vec<u8>, bool), RemovedDir> = BTreeMap::new();
    for (path, node) in index.iter() {
        if kept(path) {
            continue;
        }
        let mut top = path.as_slice();
        loop {
            let (parent, _) = split_parent(top);
            if kept(&parent) {
                break;
            }
            top = &path[..parent.len()];
        }
        let whole = top != path.as_slice() || matches!(node.kind, NodeKind::Dir);
        let (dir, rest) = if whole {
            (
                top.to_vec(),
                path[top.len()..].strip_prefix(b"/").unwrap_or(&[]),
            )
        } else {
            let (parent, _) = split_parent(path);
            let rest = &path[parent.len()..];
            (parent, rest.strip_prefix(b"/").unwrap_or(rest))
        };
        let group = groups
            .entry((dir.clone(), whole))
            .or_insert_with(|| RemovedDir {
                path: String::from_utf8_lossy(&dir).into_owned(),
                whole,
                paths: 0,
                bytes: 0,
                entries: Vec::new(),
            });
        group.paths += 1;
        group.bytes += node.size();
        if !rest.is_empty() {
            group
                .entries
                .push(String::from_utf8_lossy(rest).into_owned());
        }
        footprint.removed.paths += 1;
        footprint.removed.bytes += node.size();
    }
    footprint.removed.directories = largest(groups.into_values().collect(), |g| (g.bytes, &g.path));
    footprint.excluded = keep
        .exclusions()
        .iter()
        .map(|exclusion| ExcludedGlob {
            pattern: exclusion.pattern.clone(),
            image_matches: exclusion.image_matches,
            paths: exclusion
                .removed
                .iter()
                .map(|(path, reasons)| ExcludedPath {
                    path: String::from_utf8_lossy(path).into_owned(),
                    reasons: first_parent_only(reasons),
                })
                .collect(),
        })
        .collect();
    // Last, and taken apart as it goes: the list holds every kept path again, and a
    // keep set can hold millions.
    footprint.kept = keep
        .into_paths()
        .filter_map(|(path, reasons)| {
            let node = index.get(&path)?;
            let target = match &node.kind {
                NodeKind::Symlink { target } | NodeKind::HardLink { target } => {
                    Some(String::from_utf8_lossy(target).into_owned())
                }
                _ => None,
            };
            Some(KeptPath {
                path: String::from_utf8(path)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                kind: PathType::of(node),
                size: node.size(),
                target,
                reasons: first_parent_only(&reasons),
            })
        })
        .collect();
    footprint
}

/// Every kept file counted once, under the reason that best says why it costs its bytes:
/// the trace first, then what the trace's files need (their closure), then the user's,
/// the profiles' and the keep-lists' rules, then the closure of those. A closure reason
/// is named after the reason of the file it serves (`ELF closure of profile postgresql:
/// keep`), so a large library is charged to the rule that brought the program in.
fn by_reason(index: &FsIndex, keep: &KeepSet) -> Vec<ReasonTally> {
    let mut ranker = Ranker {
        keep,
        memo: HashMap::new(),
    };
    // Strongest reason first, so that content shared by hard-linked names is charged
    // once, to the name that best explains it (the new layer stores it once).
    let mut files: Vec<(u8, String, u64, Option<ContentKey>)> = Vec::new();
    for (path, _) in keep.iter() {
        let Some(node) = index.get(path) else {
            continue;
        };
        if matches!(node.kind, NodeKind::Dir) {
            continue;
        }
        let (rank, label) = ranker.primary(path);
        let content = match index.content_node(node).map(|c| &c.kind) {
            Some(NodeKind::File { layer, offset, .. }) => Some((*layer, *offset)),
            _ => None,
        };
        files.push((rank, label, node.size(), content));
    }
    files.sort_by_key(|(rank, ..)| *rank);
    let mut charged = HashSet::new();
    let mut tallies: HashMap<String, (usize, u64)> = HashMap::new();
    for (_, label, size, content) in files {
        let tally = tallies.entry(label).or_default();
        tally.0 += 1;
        if content.is_none_or(|key| charged.insert(key)) {
            tally.1 += size;
        }
    }
    let mut list: Vec<ReasonTally> = tallies
        .into_iter()
        .map(|(reason, (files, bytes))| ReasonTally {
            reason,
            files,
            bytes,
        })
        .collect();
    list.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.reason.cmp(&b.reason)));
    list
}

/// Where a file's content lies in its layer: the same for every name of a hard link.
type ContentKey = (usize, u64);

/// The strongest reason of each kept path, with the closure reasons followed to the rule
/// that started them; remembered per path (a library serves many files).
struct Ranker<'a> {
    keep: &'a KeepSet,
    /// `None` while the path is being ranked: a closure that loops back ends there.
    memo: HashMap<Vec<u8>, Option<(u8, String)>>,
}

/// The label of a kept path with no reason that explains it.
const LINKS: &str = "links and directories";

impl Ranker<'_> {
    /// The rank (lower is stronger) and label of the reason that best explains `path`.
    fn primary(&mut self, path: &[u8]) -> (u8, String) {
        match self.memo.get(path) {
            Some(Some(known)) => return known.clone(),
            Some(None) => return (u8::MAX, LINKS.into()),
            None => {}
        }
        self.memo.insert(path.to_vec(), None);
        let keep = self.keep;
        let best = keep
            .reasons(path)
            .unwrap_or_default()
            .iter()
            .map(|reason| self.rank_and_label(reason))
            .min_by(|a, b| a.0.cmp(&b.0))
            .unwrap_or((u8::MAX, LINKS.into()));
        self.memo.insert(path.to_vec(), Some(best.clone()));
        best
    }

    fn rank_and_label(&mut self, reason: &Reason) -> (u8, String) {
        let mut served = |what: &str, of: &str| {
            let (rank, root) = self.primary(of.as_bytes());
            // The label of the file served, without its own closure prefix: the root cause.
            let root = root.rsplit_once(" of ").map_or(root.as_str(), |(_, r)| r);
            // The closure of the trace is needed as much as the trace; others follow rules.
            (if rank <= 1 { 2 } else { 6 }, format!("{what} of {root}"))
        };
        match reason {
            Reason::Traced { .. } => (0, "traced".into()),
            Reason::Repaired { .. } => (1, "repaired by verification".into()),
            Reason::ElfInterpreter { of } | Reason::ElfLibrary { of } => served("ELF closure", of),
            Reason::ScriptInterpreter { of } => served("#! closure", of),
            Reason::HardLink { of } => served("hard link", of),
            Reason::UserGlob { pattern } => (3, format!("--keep {pattern}")),
            Reason::PackageDb { .. } => (5, "package database".into()),
            Reason::Profile { profile, rule } => {
                (4, format!("profile {profile}: {}", rule_family(rule)))
            }
            Reason::KeepList { list } => (5, format!("keep-list {}", list.name())),
            Reason::Symlink { .. } | Reason::Parent { .. } => (8, LINKS.into()),
        }
    }
}

/// A profile rule as the bytes-by-reason tally names it: the rules that name the file
/// they follow from (each import, each `require`) are counted together.
fn rule_family(rule: &str) -> String {
    if rule.starts_with("imported by ") {
        "python import closure".into()
    } else if rule.starts_with("node package required by ") {
        "node packages required by kept modules".into()
    } else if rule.starts_with("node package ") && rule.ends_with(" used") {
        "node packages used".into()
    } else {
        rule.to_string()
    }
}

/// `reasons` with only the first "directory on the way to" among them: a directory is
/// on the way to hundreds of paths, and one of them says why it is kept.
fn first_parent_only(reasons: &[Reason]) -> Vec<Reason> {
    let mut parent_seen = false;
    reasons
        .iter()
        .filter(|r| {
            let parent = matches!(r, Reason::Parent { .. });
            let keep = !(parent && parent_seen);
            parent_seen |= parent;
            keep
        })
        .cloned()
        .collect()
}

/// `512 B`, `34.0 kB`, `1.2 MB`, `3.40 GB` (decimal units), for people.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1000 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// `items` sorted by a size, largest first, then by name.
fn largest<T>(mut items: Vec<T>, key: impl Fn(&T) -> (u64, &String)) -> Vec<T> {
    items.sort_by(|a, b| {
        let (size_a, name_a) = key(a);
        let (size_b, name_b) = key(b);
        size_b.cmp(&size_a).then_with(|| name_a.cmp(name_b))
    });
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keep::{ImageRuntime, KeepOptions};
    use crate::test_kit::record;
    use slim_test_kit::{ScratchDir, TarWriter};

    struct Image {
        _dir: ScratchDir,
        index: FsIndex,
    }

    /// An image of directories (ending in `/`), files (with their size) and symlinks.
    fn image(name: &str, entries: &[(&str, u64, Option<&str>)]) -> Image {
        let dir = ScratchDir::new(&format!("footprint-{name}"));
        let mut layer = TarWriter::new();
        for (path, size, link) in entries {
            let data = vec![b'x'; usize::try_from(*size).unwrap()];
            layer = match (path.ends_with('/'), link) {
                (true, _) => layer.dir(path),
                (false, Some(target)) => layer.symlink(path, target),
                (false, None) => layer.executable(path, data),
            };
        }
        let index = FsIndex::from_layers(&[dir.write("layer.tar", layer.finish())]).unwrap();
        Image { _dir: dir, index }
    }

    /// The bytes-by-reason tally of `keep` as (reason, files, bytes).
    fn tallies(index: &FsIndex, keep: &KeepSet) -> Vec<(String, usize, u64)> {
        measure(index, keep.clone())
            .by_reason
            .into_iter()
            .map(|t| (t.reason, t.files, t.bytes))
            .collect()
    }

    #[test]
    fn bytes_are_charged_to_the_rule_that_brought_the_program_in() {
        let image = image(
            "by-reason",
            &[
                ("bin/", 0, None),
                ("bin/server", 100, None),
                ("bin/tool", 10, None),
                ("py/", 0, None),
                ("py/a.py", 3, None),
                ("py/b.py", 4, None),
                ("lib/", 0, None),
                ("lib/libc.so", 1000, None),
                ("lib/libbig.so", 5000, None),
                ("etc/", 0, None),
                ("etc/ca.pem", 7, None),
            ],
        );
        let traced = Reason::Traced {
            kind: AccessKind::Exec,
            comm: "server".into(),
            pid: 1,
        };
        let profile = Reason::Profile {
            profile: "db".into(),
            rule: "keep".into(),
        };
        let imported = |by: &str| Reason::Profile {
            profile: "python".into(),
            rule: format!("imported by {by}"),
        };
        let library = |of: &str| Reason::ElfLibrary { of: of.into() };
        let keep = KeepSet::of(&[
            (
                "/bin",
                Reason::Parent {
                    of: "/bin/server".into(),
                },
            ),
            ("/bin/server", traced),
            ("/bin/tool", profile),
            ("/py/a.py", imported("/app/main.py")),
            ("/py/b.py", imported("/py/a.py")),
            // libc serves both; the trace's need is the stronger reason.
            ("/lib/libc.so", library("/bin/tool")),
            ("/lib/libc.so", library("/bin/server")),
            ("/lib/libbig.so", library("/lib/libhelper.so")),
            ("/lib/libhelper.so", library("/bin/tool")),
            (
                "/etc/ca.pem",
                Reason::KeepList {
                    list: crate::keep::KeepList::Certs,
                },
            ),
        ]);
        assert_eq!(
            tallies(&image.index, &keep),
            [
                ("ELF closure of profile db: keep".to_string(), 1, 5000),
                ("ELF closure of traced".to_string(), 1, 1000),
                ("traced".to_string(), 1, 100),
                ("profile db: keep".to_string(), 1, 10),
                ("keep-list certs".to_string(), 1, 7),
                ("profile python: python import closure".to_string(), 2, 7),
            ]
        );
    }

    #[test]
    fn content_shared_by_hard_links_is_charged_once_to_the_strongest_reason() {
        let dir = ScratchDir::new("footprint-hard-links");
        let layer = TarWriter::new()
            .dir("data")
            .executable("data/a", vec![b'x'; 100])
            .hard_link("data/b", "data/a");
        let index = FsIndex::from_layers(&[dir.write("layer.tar", layer.finish())]).unwrap();
        let keep = KeepSet::of(&[
            (
                "/data/a",
                Reason::Traced {
                    kind: AccessKind::Open,
                    comm: "app".into(),
                    pid: 1,
                },
            ),
            (
                "/data/b",
                Reason::HardLink {
                    of: "/data/a".into(),
                },
            ),
        ]);
        assert_eq!(
            tallies(&index, &keep),
            [
                ("traced".to_string(), 1, 100),
                ("hard link of traced".to_string(), 1, 0),
            ]
        );
    }

    #[test]
    fn removed_paths_group_by_removed_tree_or_kept_directory() {
        let image = image(
            "groups",
            &[
                ("app/", 0, None),
                ("app/main", 10, None),
                ("app/unused", 7, None),
                ("app/current", 0, Some("main")),
                ("doc/", 0, None),
                ("doc/a/", 0, None),
                ("doc/a/readme", 100, None),
                ("doc/b", 50, None),
            ],
        );
        let options = KeepOptions {
            lists: Vec::new(),
            ..KeepOptions::default()
        };
        let keep = crate::keep::compute(
            &image.index,
            &[record("/app/current").by(42, "app")],
            &ImageRuntime::default(),
            &options,
        )
        .unwrap();
        let footprint = measure(&image.index, keep.clone());

        let link = footprint
            .kept
            .iter()
            .find(|k| k.path == "/app/current")
            .unwrap();
        assert_eq!(link.kind, PathType::Symlink);
        assert_eq!(link.target.as_deref(), Some("main"));
        let main = footprint
            .kept
            .iter()
            .find(|k| k.path == "/app/main")
            .unwrap();
        assert_eq!((main.kind, main.size), (PathType::File, 10));
        assert!(matches!(
            &main.reasons[0],
            Reason::Traced { comm, pid: 42, .. } if comm == "app"
        ));
        assert_eq!((footprint.kept_files, footprint.kept_bytes), (2, 10));
        assert_eq!(
            footprint.kept_directories,
            [DirTally {
                path: "/app".into(),
                paths: 2,
                bytes: 10
            }]
        );

        let missing = record("/app/cache/x").by(42, "app").failed(2);
        let (count, absent) = absent(
            &image.index,
            &[record("/app/main").by(42, "app"), missing.clone(), missing],
        );
        assert_eq!(count, 1);
        assert_eq!(
            absent,
            [AbsentPath {
                path: "/app/cache/x".into(),
                kind: AccessKind::Open,
                result: "ENOENT".into(),
                comm: "app".into(),
                pid: 42,
            }]
        );

        let removed = &footprint.removed;
        assert_eq!((removed.paths, removed.bytes), (5, 157));
        assert_eq!(
            removed.directories,
            [
                RemovedDir {
                    path: "/doc".into(),
                    whole: true,
                    paths: 4,
                    bytes: 150,
                    entries: vec!["a".into(), "a/readme".into(), "b".into()],
                },
                RemovedDir {
                    path: "/app".into(),
                    whole: false,
                    paths: 1,
                    bytes: 7,
                    entries: vec!["unused".into()],
                },
            ]
        );
    }
}
