//! What the new image holds and what it drops, path by path and directory by directory:
//! the kept paths with their type, size and reasons, the kept bytes per directory, and the
//! removed paths grouped by directory, for the report, the build summary and
//! `slim explain`.
//!
//! Pure: it reads the image index and the keep set, never the engine or the kernel.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::image::index::{FsIndex, Node, NodeKind, split_parent};
use crate::keep::resolve::resolve;
use crate::keep::{KeepSet, Reason, is_runtime_mount};
use crate::trace::{AccessKind, TraceRecord};

/// Directories listed in the report by kept size.
pub const KEPT_DIRECTORIES: usize = 20;
/// Traced paths the image lacks, listed in the report at most.
pub const ABSENT_PATHS: usize = 5000;

/// A kept path, what it is, and why it is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptPath {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirTally {
    pub path: String,
    pub paths: usize,
    pub bytes: u64,
}

/// Removed paths of one directory: either the whole directory (`whole`, its parent is
/// kept) with everything below it, or the entries removed from a kept directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedDir {
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbsentPath {
    pub path: String,
    pub kind: AccessKind,
    /// `ok` (created at run time), or the errno's name (`ENOENT`).
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub paths: usize,
    pub bytes: u64,
    /// Every removed path, grouped by directory, largest first.
    pub directories: Vec<RemovedDir>,
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
}

/// Measures `keep` against `index`.
pub fn measure(index: &FsIndex, keep: &KeepSet) -> Footprint {
    let mut footprint = Footprint::default();
    let mut kept_by_dir: HashMap<Vec<u8>, (usize, u64)> = HashMap::new();
    for (path, reasons) in keep.iter() {
        let Some(node) = index.get(path) else {
            continue;
        };
        let kind = PathType::of(node);
        let size = node.size();
        let target = match &node.kind {
            NodeKind::Symlink { target } | NodeKind::HardLink { target } => {
                Some(String::from_utf8_lossy(target).into_owned())
            }
            _ => None,
        };
        if kind != PathType::Dir {
            footprint.kept_files += 1;
            footprint.kept_bytes += size;
            let tally = kept_by_dir.entry(split_parent(path).0).or_default();
            tally.0 += 1;
            tally.1 += size;
        }
        footprint.kept.push(KeptPath {
            path: String::from_utf8_lossy(path).into_owned(),
            kind,
            size,
            target,
            reasons: first_parent_only(reasons),
        });
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
    footprint
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
    use crate::trace::CallResult;
    use slim_probe_ebpf::Syscall;

    struct Image {
        dir: std::path::PathBuf,
        index: FsIndex,
    }

    impl Drop for Image {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// An image of directories (ending in `/`), files (with their size) and symlinks.
    fn image(name: &str, entries: &[(&str, u64, Option<&str>)]) -> Image {
        let dir =
            std::env::temp_dir().join(format!("slim-footprint-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let layer = dir.join("layer.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&layer).unwrap());
        for (path, size, link) in entries {
            let mut h = tar::Header::new_gnu();
            let kind = match (path.ends_with('/'), link) {
                (true, _) => tar::EntryType::Directory,
                (false, Some(_)) => tar::EntryType::Symlink,
                (false, None) => tar::EntryType::Regular,
            };
            h.set_entry_type(kind);
            h.set_mode(0o755);
            h.set_mtime(1);
            let data = vec![b'x'; usize::try_from(*size).unwrap()];
            h.set_size(*size);
            match link {
                Some(target) => b.append_link(&mut h, path, target).unwrap(),
                None => b.append_data(&mut h, path, data.as_slice()).unwrap(),
            }
        }
        b.finish().unwrap();
        drop(b);
        let index = FsIndex::from_layers(&[layer]).unwrap();
        Image { dir, index }
    }

    fn opened(path: &str) -> TraceRecord {
        TraceRecord {
            path: path.as_bytes().to_vec(),
            kind: AccessKind::Open,
            syscall: Syscall::Openat,
            result: CallResult::Ok,
            pid: 42,
            tid: 42,
            comm: "app".into(),
            nofollow: false,
            write: false,
            incomplete: None,
        }
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
            &[opened("/app/current")],
            &ImageRuntime::default(),
            &options,
        )
        .unwrap();
        let footprint = measure(&image.index, &keep);

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

        let mut missing = opened("/app/cache/x");
        missing.result = CallResult::Failed(2);
        let (count, absent) = absent(
            &image.index,
            &[opened("/app/main"), missing.clone(), missing],
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
