//! Writes the new image's single layer: the kept paths of the original filesystem, in
//! sorted order, with their original modes, owners, times and extended attributes, and
//! hard links as links. The same index and keep set always give the same bytes.
//!
//! This is the project's one tar writer.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use sha2::{Digest, Sha256};

use crate::image::index::{FsIndex, Node, NodeKind};

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct LayerSummary {
    /// `sha256:<hex>` of the uncompressed layer (the image config's diff_id).
    #[schemars(pattern("^sha256:[0-9a-f]{64}$"))]
    pub diff_id: String,
    /// Size of the layer tar in bytes.
    pub size: u64,
    /// Entries written (paths, hard links included).
    pub entries: u64,
    /// Bytes of file content written (each hard-linked content once).
    pub content_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("writing {path} into the new layer: {source}")]
    Entry { path: String, source: io::Error },
    #[error("finishing the new layer: {0}")]
    Finish(io::Error),
    #[error("{0} is not in the original image")]
    Missing(String),
    #[error(
        "{path} is a hard link to {target}, which the image does not hold as a regular file \
         (the image is malformed)\nhint: rebuild the image so the link's target exists, or \
         leave {path} out of the keep set"
    )]
    DanglingHardLink { path: String, target: String },
    #[error(
        "{path} is a sparse file ({size} bytes with holes), whose content slim cannot copy\n\
         hint: store it without holes in the image (`cp --sparse=never`), create it at run \
         time, or leave it out of the keep set"
    )]
    Sparse { path: String, size: u64 },
}

/// Counts and hashes what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The `sha256:<hex>` digest and the byte count so far, and the inner writer.
    pub fn finish(self) -> (String, u64, W) {
        (
            format!("sha256:{:x}", self.hasher.finalize()),
            self.written,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `paths` (absolute, normalised, each present in `index`; sorted here) as one
/// layer tar to `out`. Parents must be among the paths for their metadata to be kept; a
/// missing parent is left to the engine's defaults. A path of `generated` (which must be
/// among `paths`) is written as a regular file with that content and the original's
/// metadata: the trimmed package database.
pub fn write_layer<'a, W: Write>(
    index: &FsIndex,
    paths: impl IntoIterator<Item = &'a [u8]>,
    generated: &BTreeMap<Vec<u8>, Vec<u8>>,
    out: W,
) -> Result<(LayerSummary, W), LayerError> {
    let mut sorted: Vec<&[u8]> = paths.into_iter().filter(|p| *p != b"/").collect();
    sorted.sort_unstable();
    sorted.dedup();

    let mut builder = tar::Builder::new(HashingWriter::new(out));
    builder.mode(tar::HeaderMode::Complete);
    // Content identity (layer, offset) → the first path written with that content.
    let mut written_content: HashMap<(usize, u64), Vec<u8>> = HashMap::new();
    let mut entries = 0u64;
    let mut content_bytes = 0u64;

    for path in sorted {
        let display = String::from_utf8_lossy(path).into_owned();
        let node = index
            .get(path)
            .ok_or_else(|| LayerError::Missing(display.clone()))?;
        let err = |source| LayerError::Entry {
            path: display.clone(),
            source,
        };
        let name = &path[1..];
        if !node.xattrs.is_empty() {
            let pax: Vec<(String, &[u8])> = node
                .xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                .collect();
            builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))
                .map_err(err)?;
        }
        let mut header = base_header(node).map_err(err)?;
        if let Some(content) = generated.get(path) {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(content.len() as u64);
            append(&mut builder, &mut header, name, content.as_slice()).map_err(err)?;
            content_bytes += content.len() as u64;
            entries += 1;
            continue;
        }
        match &node.kind {
            NodeKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                let mut dir_name = name.to_vec();
                dir_name.push(b'/');
                append(&mut builder, &mut header, &dir_name, io::empty()).map_err(err)?;
            }
            NodeKind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                append_link(&mut builder, &mut header, name, target).map_err(err)?;
            }
            NodeKind::File { .. } | NodeKind::HardLink { .. } => {
                let content = index.content_node(node).ok_or_else(|| {
                    let target = match &node.kind {
                        NodeKind::HardLink { target } => String::from_utf8_lossy(target),
                        _ => "?".into(),
                    };
                    LayerError::DanglingHardLink {
                        path: display.clone(),
                        target: target.into_owned(),
                    }
                })?;
                let NodeKind::File {
                    layer,
                    offset,
                    size,
                } = content.kind
                else {
                    return Err(err(io::Error::other(
                        "hard link does not lead to a regular file",
                    )));
                };
                if let Some(first) = written_content.get(&(layer, offset)) {
                    header.set_entry_type(tar::EntryType::Link);
                    let target = first.clone();
                    append_link(&mut builder, &mut header, name, &target).map_err(err)?;
                } else {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(size);
                    let reader = index.open(node).map_err(err)?;
                    append(&mut builder, &mut header, name, reader).map_err(err)?;
                    written_content.insert((layer, offset), name.to_vec());
                    content_bytes += size;
                }
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                header.set_entry_type(if matches!(node.kind, NodeKind::CharDevice { .. }) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                header.set_device_major(*major).map_err(err)?;
                header.set_device_minor(*minor).map_err(err)?;
                append(&mut builder, &mut header, name, io::empty()).map_err(err)?;
            }
            NodeKind::Fifo => {
                header.set_entry_type(tar::EntryType::Fifo);
                append(&mut builder, &mut header, name, io::empty()).map_err(err)?;
            }
            NodeKind::Sparse { size } => {
                return Err(LayerError::Sparse {
                    path: display,
                    size: *size,
                });
            }
        }
        entries += 1;
    }
    let hashing = builder.into_inner().map_err(LayerError::Finish)?;
    let (diff_id, size, out) = hashing.finish();
    Ok((
        LayerSummary {
            diff_id,
            size,
            entries,
            content_bytes,
        },
        out,
    ))
}

fn base_header(node: &Node) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(node.mode);
    header.set_uid(node.uid);
    header.set_gid(node.gid);
    header.set_mtime(node.mtime);
    header.set_size(0);
    if !node.uname.is_empty() {
        header.set_username(&String::from_utf8_lossy(&node.uname))?;
    }
    if !node.gname.is_empty() {
        header.set_groupname(&String::from_utf8_lossy(&node.gname))?;
    }
    Ok(header)
}

fn as_path(bytes: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(bytes))
}

fn append<W: Write, R: io::Read>(
    builder: &mut tar::Builder<W>,
    header: &mut tar::Header,
    name: &[u8],
    data: R,
) -> io::Result<()> {
    builder.append_data(header, as_path(name), data)
}

fn append_link<W: Write>(
    builder: &mut tar::Builder<W>,
    header: &mut tar::Header,
    name: &[u8],
    target: &[u8],
) -> io::Result<()> {
    builder.append_link(header, as_path(name), as_path(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_test_kit::{Entry, ScratchDir, TarWriter};

    #[test]
    fn the_same_paths_in_any_order_give_the_same_bytes() {
        let dir = ScratchDir::new("layer-order");
        let mut layer = TarWriter::new();
        for (i, name) in ["z/file", "a/file", "m/deep/file", "a/other"]
            .iter()
            .enumerate()
        {
            layer = layer.entry(Entry::file(name, "x").mtime(1_000 + i as u64));
        }
        let tar_path = dir.write("0.tar", layer.finish());
        let index = FsIndex::from_layers(&[tar_path]).unwrap();
        let paths: Vec<Vec<u8>> = index
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| p != b"/")
            .collect();
        let forward = write_layer(
            &index,
            paths.iter().map(Vec::as_slice),
            &BTreeMap::new(),
            Vec::new(),
        )
        .unwrap();
        let backward = write_layer(
            &index,
            paths.iter().rev().map(Vec::as_slice),
            &BTreeMap::new(),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(forward.1, backward.1);
        assert_eq!(forward.0, backward.0);
        // Directories the layer never listed are written with a fixed time, not the clock's.
        let mut archive = tar::Archive::new(forward.1.as_slice());
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            if entry.header().entry_type().is_dir() {
                assert_eq!(entry.header().mtime().unwrap(), 0);
            }
        }
    }
}
