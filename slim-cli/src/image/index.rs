//! The original image's filesystem as an index: every path of the merged layers with its
//! metadata and where its content lies in which layer tar, with no content in memory.
//!
//! Layers are applied in order with the OCI whiteout rules (`.wh.NAME` deletes NAME,
//! `.wh..wh..opq` hides what lower layers had in a directory). Every path is normalised to
//! an absolute path inside the image root: `..` never climbs above `/`, so a hostile layer
//! cannot name anything outside the image. Nothing here touches the host's filesystem
//! beyond reading the layer tars: no entry is ever extracted, and a symlink is only ever
//! followed inside the index (see `resolve`).
//!
//! Entries a layer writes through a symlink it wrote itself (`d -> /etc`, then `d/x`) land
//! where the engine puts them, at the link's target inside the image; across layers a
//! later entry below a path that is no directory replaces it with one, as the engine's
//! overlay does. Sparse files (GNU `S` entries, PAX `GNU.sparse.*` records) are indexed
//! under their real name and size, but their content is not readable here: a keep set
//! that includes one fails with an error naming it.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use crate::image::store::{RebuiltArchive, StoreError, StoredContent, StoredLayer};
use crate::trace::path::normalize;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Links of its own layer one entry may be moved through, as Linux's MAXSYMLINKS.
const MAX_LAYER_LINKS: usize = 40;

/// What a path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file whose content is `size` bytes at `offset` in layer `layer`'s tar.
    File {
        layer: usize,
        offset: u64,
        size: u64,
    },
    Dir,
    Symlink {
        target: Vec<u8>,
    },
    /// A hard link whose `target` was no file (nothing, a directory, another such link)
    /// when the layer was read: a malformed entry, reported if it is kept. A hard link to
    /// a file takes the file's kind and content place, so peers share `File`'s
    /// `(layer, offset)`.
    HardLink {
        target: Vec<u8>,
    },
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// A sparse regular file of `size` bytes (holes included). Its content is stored as
    /// data segments plus a map, which slim does not rewrite.
    Sparse {
        size: u64,
    },
}

/// One path of the image with the metadata the new image must reproduce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    /// Permission and special bits (setuid, setgid, sticky), without the file type.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub mtime: u64,
    /// Extended attributes from PAX `SCHILY.xattr.*` records (e.g. `security.capability`).
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// The layer that last wrote this path.
    pub layer: usize,
}

impl Node {
    /// Size of the content for a regular file, 0 otherwise.
    pub fn size(&self) -> u64 {
        match self.kind {
            NodeKind::File { size, .. } | NodeKind::Sparse { size } => size,
            _ => 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("reading layer {layer} ({path}): {source}")]
    Layer {
        layer: usize,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "layer {layer} of the image is malformed: its entry {entry} goes through the symlink \
         {link}, which does not lead to a directory of the image\nhint: rebuild the image \
         without that entry (the engine cannot apply it either)"
    )]
    ThroughDanglingLink {
        layer: usize,
        entry: String,
        link: String,
    },
}

/// Where a layer's entries and content are read from.
#[derive(Debug)]
pub enum LayerSource {
    /// An uncompressed layer tar (from the engine's export).
    Archive(PathBuf),
    /// The layer in the engine's store on this host: headers from its archive record,
    /// content from its directory.
    Store(StoredLayer),
}

/// The merged filesystem of an image.
#[derive(Debug, Default)]
pub struct FsIndex {
    nodes: BTreeMap<Vec<u8>, Node>,
    layers: Vec<LayerSource>,
}

impl FsIndex {
    /// Indexes the layer tars (uncompressed), lowest first.
    pub fn from_layers(layers: &[PathBuf]) -> Result<FsIndex, IndexError> {
        FsIndex::from_sources(layers.iter().cloned().map(LayerSource::Archive).collect())
    }

    /// Indexes the layers, lowest first.
    pub fn from_sources(layers: Vec<LayerSource>) -> Result<FsIndex, IndexError> {
        let mut index = FsIndex {
            nodes: BTreeMap::new(),
            layers: Vec::with_capacity(layers.len()),
        };
        index.nodes.insert(b"/".to_vec(), Node::root());
        for (layer, source) in layers.into_iter().enumerate() {
            let source = index.apply_source(layer, source)?;
            index.layers.push(source);
        }
        Ok(index)
    }

    fn apply_source(
        &mut self,
        layer: usize,
        source: LayerSource,
    ) -> Result<LayerSource, IndexError> {
        match source {
            LayerSource::Archive(path) => {
                let io_err = |source| IndexError::Layer {
                    layer,
                    path: path.clone(),
                    source,
                };
                #[expect(
                    clippy::disallowed_methods,
                    reason = "the error it maps to names the file"
                )]
                let file = File::open(&path).map_err(io_err)?;
                let mut archive = tar::Archive::new(BufReader::new(file));
                self.apply_layer(layer, &mut archive, &path)?;
                Ok(LayerSource::Archive(path))
            }
            LayerSource::Store(mut stored) => {
                let path = stored.tar_split.clone();
                let recorded = stored.archive().map_err(|e| IndexError::Layer {
                    layer,
                    path: path.clone(),
                    source: io::Error::other(e),
                })?;
                let mut archive = tar::Archive::new(recorded);
                let files = self.apply_layer(layer, &mut archive, &path)?;
                let recorded = archive.into_inner();
                for (offset, file) in files {
                    stored.place(offset, file, recorded.checksum(offset));
                }
                Ok(LayerSource::Store(stored))
            }
        }
    }

    /// Applies one layer's entries; returns where each regular file's content starts in the
    /// archive and the path it was written at.
    fn apply_layer<R: Read + Seek>(
        &mut self,
        layer: usize,
        archive: &mut tar::Archive<R>,
        path: &Path,
    ) -> Result<Vec<(u64, Vec<u8>)>, IndexError> {
        let io_err = |source| IndexError::Layer {
            layer,
            path: path.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        let mut written_here: HashSet<Vec<u8>> = HashSet::new();
        let mut links_here = false;
        for entry in archive.entries_with_seek().map_err(io_err)? {
            let mut entry = entry.map_err(io_err)?;
            let mut xattrs = Vec::new();
            let mut sparse = PaxSparse::default();
            if let Some(pax) = entry.pax_extensions().map_err(io_err)? {
                for ext in pax {
                    let ext = ext.map_err(io_err)?;
                    let Ok(key) = ext.key() else { continue };
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                    } else if key.starts_with("GNU.sparse.") {
                        sparse.record(key, ext.value_bytes());
                    }
                }
            }
            xattrs.sort();
            let raw = match &sparse.name {
                Some(name) => name.clone(),
                None => entry.path_bytes().into_owned(),
            };
            let mut path = normalize(&raw);
            if links_here {
                path = self.through_own_links(&path, layer)?;
            }
            let (dir, name) = split_parent(&path);
            if name == OPAQUE_MARKER || name.starts_with(WHITEOUT_PREFIX) {
                // The engine makes the directory of a whiteout in the layer, replacing a
                // lower layer's file or symlink of that name.
                self.ensure_parents(&dir, layer);
            }
            if name == OPAQUE_MARKER {
                self.hide_lower_children(&dir, &written_here);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
                // `.wh.`, `.wh..` and `.wh...` name no entry of the directory.
                if !matches!(hidden, b"" | b"." | b"..") {
                    self.remove_tree(&join(&dir, hidden));
                }
                continue;
            }
            if path == b"/" && !entry.header().entry_type().is_dir() {
                continue;
            }
            let header = entry.header().clone();
            let kind = match header.entry_type() {
                tar::EntryType::GNUSparse => NodeKind::Sparse { size: entry.size() },
                tar::EntryType::Regular | tar::EntryType::Continuous if sparse.is_sparse() => {
                    NodeKind::Sparse {
                        size: sparse.size.unwrap_or_else(|| entry.size()),
                    }
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => NodeKind::File {
                    layer,
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Directory => NodeKind::Dir,
                tar::EntryType::Symlink => NodeKind::Symlink {
                    target: entry
                        .link_name_bytes()
                        .map(|l| l.into_owned())
                        .unwrap_or_default(),
                },
                tar::EntryType::Link => {
                    let target = normalize(
                        &entry
                            .link_name_bytes()
                            .map(|l| l.into_owned())
                            .unwrap_or_default(),
                    );
                    // A hard link is another name of its target's inode: it takes the
                    // target's content now, and keeps it when a later layer deletes or
                    // replaces the target's name (`rm` of one name of a linked pair).
                    match self.nodes.get(&target).map(|n| &n.kind) {
                        Some(NodeKind::Dir | NodeKind::HardLink { .. }) | None => {
                            NodeKind::HardLink { target }
                        }
                        Some(kind) => kind.clone(),
                    }
                }
                tar::EntryType::Char => NodeKind::CharDevice {
                    major: header.device_major().ok().flatten().unwrap_or(0),
                    minor: header.device_minor().ok().flatten().unwrap_or(0),
                },
                tar::EntryType::Block => NodeKind::BlockDevice {
                    major: header.device_major().ok().flatten().unwrap_or(0),
                    minor: header.device_minor().ok().flatten().unwrap_or(0),
                },
                tar::EntryType::Fifo => NodeKind::Fifo,
                // PAX/GNU metadata entries are consumed by the tar reader; anything else
                // has no place in a root filesystem.
                _ => continue,
            };
            links_here |= matches!(kind, NodeKind::Symlink { .. });
            let node = Node {
                kind,
                // Numeric fields that do not parse (empty, as some writers leave them) read
                // as the tar default rather than failing the whole image.
                mode: header.mode().unwrap_or(0o644) & 0o7777,
                uid: header.uid().unwrap_or(0),
                gid: header.gid().unwrap_or(0),
                uname: header
                    .username_bytes()
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
                gname: header
                    .groupname_bytes()
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
                mtime: header.mtime().unwrap_or(0),
                xattrs,
                layer,
            };
            // A non-directory replacing a directory hides everything below it.
            if !matches!(node.kind, NodeKind::Dir) {
                self.remove_tree(&path);
            }
            self.ensure_parents(&dir, layer);
            written_here.insert(path.clone());
            // A hard link's content was placed under its target's name.
            if let NodeKind::File { offset, .. } = node.kind
                && header.entry_type() != tar::EntryType::Link
            {
                files.push((offset, path.clone()));
            }
            self.nodes.insert(path, node);
        }
        Ok(files)
    }

    /// Where the engine puts `path` when a directory on its way is a symlink this same
    /// layer wrote: the engine unpacks a layer into its own directory, following the
    /// layer's links (inside that directory, never on the host), while links of lower
    /// layers are replaced by directories. Resolution happens inside the image root.
    fn through_own_links(&self, path: &[u8], layer: usize) -> Result<Vec<u8>, IndexError> {
        let dangling = |link: &[u8]| IndexError::ThroughDanglingLink {
            layer,
            entry: String::from_utf8_lossy(path).into_owned(),
            link: String::from_utf8_lossy(link).into_owned(),
        };
        let mut current = path.to_vec();
        // Each round moves the entry through one link; a target may lie below another.
        'rounds: for _ in 0..MAX_LAYER_LINKS {
            let parts: Vec<Vec<u8>> = current
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            let mut prefix = Vec::with_capacity(current.len());
            for (i, part) in parts.iter().enumerate().take(parts.len().saturating_sub(1)) {
                prefix.push(b'/');
                prefix.extend_from_slice(part);
                let Some(node) = self.nodes.get(&prefix) else {
                    return Ok(current);
                };
                match node.kind {
                    NodeKind::Dir => {}
                    NodeKind::Symlink { .. } if node.layer == layer => {
                        let mut moved = resolve(self, &prefix, true)
                            .target
                            .filter(|t| {
                                matches!(self.nodes.get(t).map(|n| &n.kind), Some(NodeKind::Dir))
                            })
                            .ok_or_else(|| dangling(&prefix))?;
                        for part in &parts[i + 1..] {
                            moved = join(&moved, part);
                        }
                        current = moved;
                        continue 'rounds;
                    }
                    _ => return Ok(current),
                }
            }
            return Ok(current);
        }
        Err(dangling(path))
    }

    fn ensure_parents(&mut self, dir: &[u8], layer: usize) {
        let mut current = dir.to_vec();
        loop {
            match self.nodes.get(&current) {
                Some(node) if matches!(node.kind, NodeKind::Dir) => break,
                _ => {
                    // Layers normally list parents first; a missing (or replaced) parent
                    // is recreated as a plain directory so the tree stays consistent.
                    self.nodes
                        .insert(current.clone(), Node::implicit_dir(layer));
                }
            }
            if current == b"/" {
                break;
            }
            current = split_parent(&current).0;
        }
    }

    fn hide_lower_children(&mut self, dir: &[u8], written_here: &HashSet<Vec<u8>>) {
        let doomed: Vec<Vec<u8>> = self
            .children_range(dir)
            .filter(|(p, _)| !written_here.contains(*p))
            .map(|(p, _)| p.clone())
            .collect();
        for path in doomed {
            self.nodes.remove(&path);
        }
    }

    fn remove_tree(&mut self, path: &[u8]) {
        if path == b"/" {
            return;
        }
        self.nodes.remove(path);
        let doomed: Vec<Vec<u8>> = self.children_range(path).map(|(p, _)| p.clone()).collect();
        for p in doomed {
            self.nodes.remove(&p);
        }
    }

    /// Every path strictly below `dir`, in order.
    fn children_range<'a>(
        &'a self,
        dir: &[u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Node)> + 'a {
        let mut prefix = dir.to_vec();
        if !prefix.ends_with(b"/") {
            prefix.push(b'/');
        }
        let start = prefix.clone();
        self.nodes
            .range::<Vec<u8>, _>((Bound::Included(start), Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(&prefix))
    }

    /// The node at an absolute, normalised path (symlinks are not followed).
    pub fn get(&self, path: &[u8]) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Every path and node, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Node)> {
        self.nodes.iter()
    }

    /// Every path below `dir` (at any depth), sorted.
    pub fn descendants<'a>(
        &'a self,
        dir: &[u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Node)> + 'a {
        self.children_range(dir)
    }

    /// The direct entries of directory `dir`.
    pub fn children<'a>(
        &'a self,
        dir: &[u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Node)> + 'a {
        let depth = if dir == b"/" { 0 } else { dir.len() };
        self.children_range(dir)
            .filter(move |(p, _)| !p[depth + 1..].contains(&b'/'))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The regular-file node a path's content comes from (a hard link's target).
    pub fn content_node<'a>(&'a self, node: &'a Node) -> Option<&'a Node> {
        let mut node = node;
        for _ in 0..8 {
            match &node.kind {
                NodeKind::File { .. } => return Some(node),
                NodeKind::HardLink { target } => node = self.nodes.get(target)?,
                _ => return None,
            }
        }
        None
    }

    /// Opens a reader over a regular file's content (following a hard link to its target).
    pub fn open(&self, node: &Node) -> io::Result<ContentReader> {
        let Some(NodeKind::File {
            layer,
            offset,
            size,
        }) = self.content_node(node).map(|n| &n.kind)
        else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        };
        match &self.layers[*layer] {
            LayerSource::Archive(path) => {
                let mut file = fs_err::File::open(path)?.into_file();
                file.seek(SeekFrom::Start(*offset))?;
                Ok(ContentReader(Content::Archive {
                    file,
                    start: *offset,
                    size: *size,
                    pos: 0,
                }))
            }
            LayerSource::Store(stored) => {
                Ok(ContentReader(Content::Stored(stored.open(*offset, *size)?)))
            }
        }
    }

    /// Layer `layer`'s archive rebuilt from the engine's layer store (`None`: the layer was
    /// read from an archive).
    pub fn rebuilt_layer(&self, layer: usize) -> Option<Result<RebuiltArchive<'_>, StoreError>> {
        match self.layers.get(layer)? {
            LayerSource::Store(stored) => Some(stored.rebuilt_archive()),
            LayerSource::Archive(_) => None,
        }
    }

    /// Reads a whole small file (bounded by `limit` bytes).
    pub fn read_to_vec(&self, node: &Node, limit: u64) -> io::Result<Vec<u8>> {
        // Room for the whole content and the read that finds its end: no regrowing.
        let size = match node.kind {
            NodeKind::File { size, .. } => size.min(limit),
            _ => 0,
        };
        let mut buf = Vec::with_capacity(usize::try_from(size).map_or(0, |s| s + 1));
        self.open(node)?.take(limit).read_to_end(&mut buf)?;
        Ok(buf)
    }
}

impl Node {
    fn root() -> Node {
        Node::implicit_dir(0)
    }

    fn implicit_dir(layer: usize) -> Node {
        Node {
            kind: NodeKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            uname: Vec::new(),
            gname: Vec::new(),
            mtime: 0,
            xattrs: Vec::new(),
            layer,
        }
    }
}

/// A regular file's content, readable and seekable on its own.
pub struct ContentReader(Content);

enum Content {
    /// Inside a layer tar.
    Archive {
        file: File,
        start: u64,
        size: u64,
        pos: u64,
    },
    /// In a layer directory of the engine's store.
    Stored(StoredContent),
}

impl Read for ContentReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Content::Archive {
                file, size, pos, ..
            } => {
                let left = *size - *pos;
                if left == 0 {
                    return Ok(0);
                }
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = file.read(&mut buf[..want])?;
                *pos += n as u64;
                Ok(n)
            }
            Content::Stored(stored) => stored.read(buf),
        }
    }
}

impl Seek for ContentReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match &mut self.0 {
            Content::Archive {
                file,
                start,
                size,
                pos,
            } => {
                let target = seek_target(to, *pos, *size)?;
                file.seek(SeekFrom::Start(*start + target))?;
                *pos = target;
                Ok(target)
            }
            Content::Stored(stored) => stored.seek(to),
        }
    }
}

/// Where `to` leads in content of `size` bytes read up to `pos`: never before the start,
/// never past the end.
pub(crate) fn seek_target(to: SeekFrom, pos: u64, size: u64) -> io::Result<u64> {
    Ok(match to {
        SeekFrom::Start(p) => Some(p),
        SeekFrom::Current(d) => pos.checked_add_signed(d),
        SeekFrom::End(d) => size.checked_add_signed(d),
    }
    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?
    .min(size))
}

/// The `GNU.sparse.*` PAX records of one entry (GNU tar's sparse formats 0.0, 0.1, 1.0).
#[derive(Default)]
struct PaxSparse {
    /// The file's real name (the entry itself is named `GNUSparseFile.N/NAME`).
    name: Option<Vec<u8>>,
    /// The file's real size, holes included.
    size: Option<u64>,
    any: bool,
}

impl PaxSparse {
    fn record(&mut self, key: &str, value: &[u8]) {
        self.any = true;
        match key {
            "GNU.sparse.name" => self.name = Some(value.to_vec()),
            "GNU.sparse.realsize" | "GNU.sparse.size" => {
                self.size = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
            _ => {}
        }
    }

    fn is_sparse(&self) -> bool {
        self.any
    }
}

/// Splits a normalised absolute path into its parent directory and its last name.
pub fn split_parent(path: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/".to_vec(), path[1..].to_vec()),
        Some(i) => (path[..i].to_vec(), path[i + 1..].to_vec()),
        None => (b"/".to_vec(), path.to_vec()),
    }
}

/// Joins a directory and a name.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

// Path resolution inside the image root, the way the kernel would resolve it inside the
// container: every symlink on the way (directory symlinks such as `/bin -> usr/bin`
// included) is followed within the image, never on the host, and `..` never leaves the
// root. Every symlink passed and every directory walked through is reported, because the
// new image needs them all for the same path to resolve the same way. It lives with the
// index, which needs it itself (an entry written through a link), and every stage that
// looks a path up in the image uses it.

/// Symlinks followed at most in one resolution, as Linux's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

/// The outcome of resolving one path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The path the resolution ends at, if it exists in the image.
    pub target: Option<Vec<u8>>,
    /// Symlinks passed on the way, in order.
    pub links: Vec<Vec<u8>>,
    /// Directories walked through (existing ones), in order.
    pub dirs: Vec<Vec<u8>>,
}

/// Resolves `path` (absolute, normalised) in `index`. The last component is followed if it
/// is a symlink only when `follow_last` is set.
pub fn resolve(index: &FsIndex, path: &[u8], follow_last: bool) -> Resolution {
    let mut out = Resolution::default();
    let mut pending: Vec<Vec<u8>> = components(path).into_iter().rev().collect();
    let mut current = b"/".to_vec();
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        if name == b".." {
            current = split_parent(&current).0;
            continue;
        }
        if name == b"." {
            continue;
        }
        let candidate = join(&current, &name);
        let Some(node) = index.get(&candidate) else {
            return out;
        };
        let last = pending.is_empty();
        match &node.kind {
            NodeKind::Symlink { target } if !last || follow_last => {
                hops += 1;
                if hops > MAX_LINKS {
                    return out;
                }
                out.links.push(candidate);
                if target.first() == Some(&b'/') {
                    current = b"/".to_vec();
                }
                for part in components(target).into_iter().rev() {
                    pending.push(part);
                }
                if target.is_empty() {
                    return out;
                }
            }
            NodeKind::Dir => {
                out.dirs.push(candidate.clone());
                current = candidate;
            }
            _ if !last => return out,
            _ => current = candidate,
        }
    }
    out.target = Some(current);
    out
}

fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_test_kit::{Entry, ScratchDir, TarWriter};
    use std::io::Read;

    #[test]
    fn layers_merge_with_whiteouts_opaque_dirs_and_links() {
        let tmp = ScratchDir::new("index");
        let l0 = TarWriter::new()
            .dir("usr/")
            .dir("usr/bin/")
            .entry(Entry::file("usr/bin/busybox", "BB").mode(0o4755))
            .hard_link("usr/bin/sh", "usr/bin/busybox")
            .symlink("bin", "usr/bin")
            .dir("etc/")
            .file("etc/a", "a0")
            .file("etc/b", "b0")
            .dir("opt/")
            .file("opt/old", "old");
        let l1 = TarWriter::new()
            .whiteout("etc/a")
            .entry(Entry::file("etc/b", "b1").mode(0o600))
            .dir("opt/")
            .opaque("opt/")
            .file("opt/new", "new");
        let l0 = tmp.write("0.tar", l0.finish());
        let l1 = tmp.write("1.tar", l1.finish());
        let idx = FsIndex::from_layers(&[l0, l1]).unwrap();
        assert!(idx.get(b"/etc/a").is_none());
        let b = idx.get(b"/etc/b").unwrap();
        assert_eq!(b.mode, 0o600);
        let mut s = String::new();
        idx.open(b).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "b1");
        assert!(idx.get(b"/opt/old").is_none());
        assert!(idx.get(b"/opt/new").is_some());
        assert_eq!(idx.get(b"/usr/bin/busybox").unwrap().mode, 0o4755);
        assert_eq!(
            idx.get(b"/usr/bin/sh").unwrap().kind,
            idx.get(b"/usr/bin/busybox").unwrap().kind
        );
        assert_eq!(
            idx.read_to_vec(idx.get(b"/usr/bin/sh").unwrap(), 100)
                .unwrap(),
            b"BB"
        );
        assert!(
            matches!(&idx.get(b"/bin").unwrap().kind, NodeKind::Symlink { target } if target == b"usr/bin")
        );
        let kids: Vec<_> = idx.children(b"/etc").map(|(p, _)| p.clone()).collect();
        assert_eq!(kids, vec![b"/etc/b".to_vec()]);
    }
}
