//! The entries of an image's layers as `docker save` writes them: what the tests read to
//! check what a slim image holds (modes, owners, links, xattrs), independently of slim's
//! own reader.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::build::{docker, unique};
use crate::cache;

/// What kind of entry a layer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageEntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link with its target text.
    Symlink(String),
    /// A hard link to the named (absolute) path.
    HardLink(String),
    /// Anything else (devices, fifos), with the tar type byte.
    Other(u8),
}

/// One entry of one layer of an image, as `docker save` writes it.
#[derive(Clone, Debug)]
pub struct ImageEntry {
    /// Absolute path inside the image, no trailing slash (`/` for the root).
    pub path: String,
    /// File, directory, symlink, hard link …
    pub kind: ImageEntryKind,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size (0 for links).
    pub size: u64,
    /// Extended attributes from PAX `SCHILY.xattr.*` records, by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Index of the layer (0 = lowest).
    pub layer: usize,
}

/// Every entry of every layer of `image`, lowest layer first, read from `docker save`.
pub fn image_entries(image: &str) -> Vec<ImageEntry> {
    let dir = cache::dir().unwrap_or_else(|e| panic!("{e:#}")).join("tmp");
    std::fs::create_dir_all(&dir).expect("creating the cache's tmp/");
    let archive = dir.join(format!("{}.tar", unique("saved")));
    let out = docker([
        "save".as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
        image.as_ref(),
    ]);
    let result = if out.status.success() {
        read_saved(&archive)
    } else {
        Err(std::io::Error::other(format!(
            "docker save failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    };
    let _ = std::fs::remove_file(&archive);
    result.unwrap_or_else(|e| panic!("reading docker save of {image}: {e}"))
}

fn read_saved(archive: &Path) -> std::io::Result<Vec<ImageEntry>> {
    let open = || std::fs::File::open(archive).map(std::io::BufReader::new);
    let mut manifest = None;
    for entry in tar::Archive::new(open()?).entries()? {
        let mut entry = entry?;
        if entry.path()?.as_os_str() == "manifest.json" {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            manifest = Some(text);
            break;
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&manifest.ok_or_else(|| std::io::Error::other("no manifest.json"))?)
            .map_err(std::io::Error::other)?;
    let layers: Vec<String> = manifest[0]["Layers"]
        .as_array()
        .ok_or_else(|| std::io::Error::other("manifest.json has no Layers"))?
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    let mut by_layer: Vec<Vec<ImageEntry>> = vec![Vec::new(); layers.len()];
    for entry in tar::Archive::new(open()?).entries()? {
        let entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        // A layer listed twice (the same diff) is stored once.
        let indexes: Vec<usize> = (0..layers.len()).filter(|i| layers[*i] == name).collect();
        if let Some(&first) = indexes.first() {
            let entries = read_layer(entry, first)?;
            for &index in &indexes {
                by_layer[index] = entries
                    .iter()
                    .cloned()
                    .map(|e| ImageEntry { layer: index, ..e })
                    .collect();
            }
        }
    }
    Ok(by_layer.into_iter().flatten().collect())
}

fn read_layer(reader: impl Read, layer: usize) -> std::io::Result<Vec<ImageEntry>> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let mut xattrs = BTreeMap::new();
        if let Some(pax) = entry.pax_extensions()? {
            for ext in pax {
                let ext = ext?;
                if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    xattrs.insert(name.to_string(), ext.value_bytes().to_vec());
                }
            }
        }
        let header = entry.header();
        let absolute = |p: &Path| {
            let text = p.to_string_lossy();
            let trimmed = text.trim_start_matches("./").trim_start_matches('/');
            format!("/{}", trimmed.trim_end_matches('/'))
        };
        let link = || {
            entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => ImageEntryKind::File,
            tar::EntryType::Directory => ImageEntryKind::Dir,
            tar::EntryType::Symlink => ImageEntryKind::Symlink(link()),
            tar::EntryType::Link => ImageEntryKind::HardLink(absolute(Path::new(&link()))),
            other => ImageEntryKind::Other(other.as_byte()),
        };
        let path = absolute(&entry.path()?);
        out.push(ImageEntry {
            path: if path == "/." { "/".into() } else { path },
            kind,
            mode: header.mode()? & 0o7777,
            uid: header.uid()?,
            gid: header.gid()?,
            size: header.size()?,
            xattrs,
            layer,
        });
        // Drain the content so the next header is read from the right place.
        std::io::copy(&mut entry, &mut std::io::sink())?;
    }
    Ok(out)
}
