//! The software bill of materials of the new image (`--sbom FILE`): the OS packages its
//! package database lists, the Python distributions whose metadata it keeps
//! (`*.dist-info/METADATA`, `*.egg-info`), and the Node packages whose `package.json` it
//! keeps, each with its version and package URL, and the source image it was made from.
//! Written as CycloneDX 1.5 JSON (`cyclonedx`) or SPDX 2.3 JSON (`spdx`).
//!
//! The same image gives the same document: components are sorted, the CycloneDX serial
//! number is derived from the content, and the only clock reading is SPDX's required
//! creation time (`SOURCE_DATE_EPOCH` when set).
//!
//! Reads the image index and the kept paths; writes only the file it is given.

mod cyclonedx;
mod purl;
mod spdx;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::image::index::{FsIndex, NodeKind, resolve};
use crate::packages::PackageDb;

/// Which document `--sbom` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SbomFormat {
    #[default]
    CycloneDx,
    Spdx,
}

impl SbomFormat {
    pub fn from_name(name: &str) -> Option<SbomFormat> {
        match name {
            "cyclonedx" => Some(SbomFormat::CycloneDx),
            "spdx" => Some(SbomFormat::Spdx),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SbomFormat::CycloneDx => "CycloneDX 1.5",
            SbomFormat::Spdx => "SPDX 2.3",
        }
    }
}

/// Where and how to write the SBOM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SbomTarget {
    pub path: PathBuf,
    pub format: SbomFormat,
}

/// The ecosystem a component belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ecosystem {
    Deb,
    Apk,
    Python,
    Npm,
}

/// One package the image holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    pub purl: String,
}

/// The operating system named by the image's `os-release`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID` (`debian`, `alpine`).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.19.1`).
    pub version_id: String,
}

/// What the SBOM describes.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    /// The new image's tag and id.
    pub tag: String,
    pub image_id: String,
    /// The image it was made from.
    pub source: String,
    pub source_id: String,
    pub os: Option<OsRelease>,
    pub components: Vec<Component>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the SBOM {path}: {source}\nhint: pass --sbom FILE in a writable directory")]
pub struct SbomError {
    pub path: String,
    pub source: std::io::Error,
}

/// The largest metadata file read.
const METADATA_LIMIT: u64 = 4 << 20;

/// Parses `os-release` text (`KEY=value`, values optionally quoted).
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string();
        match key.trim() {
            "ID" => os.id = value,
            "VERSION_ID" => os.version_id = value,
            _ => {}
        }
    }
    os
}

/// The `Name` and `Version` headers of Python's core metadata (`METADATA`, `PKG-INFO`),
/// read up to the first blank line.
pub fn python_name_version(text: &str) -> Option<(String, String)> {
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name.get_or_insert_with(|| v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version.get_or_insert_with(|| v.trim().to_string());
        }
    }
    Some((
        name.filter(|n| !n.is_empty())?,
        version.filter(|v| !v.is_empty())?,
    ))
}

/// The `name` and `version` of a `package.json`.
pub fn node_name_version(text: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(text).ok()?;
    let name = value.get("name")?.as_str()?.trim();
    let version = value.get("version")?.as_str()?.trim();
    (!name.is_empty() && !version.is_empty()).then(|| (name.to_string(), version.to_string()))
}

fn read_text(index: &FsIndex, path: &[u8]) -> Option<Vec<u8>> {
    let node = index.get(path)?;
    matches!(node.kind, NodeKind::File { .. } | NodeKind::HardLink { .. })
        .then(|| index.read_to_vec(node, METADATA_LIMIT).ok())
        .flatten()
}

/// The image's `os-release` (`/etc/os-release`, or `/usr/lib/os-release`).
pub fn os_release(index: &FsIndex) -> Option<OsRelease> {
    [&b"/etc/os-release"[..], b"/usr/lib/os-release"]
        .iter()
        .find_map(|p| {
            let target = resolve(index, p, true).target?;
            read_text(index, &target)
        })
        .map(|t| parse_os_release(&String::from_utf8_lossy(&t)))
        .filter(|os| !os.id.is_empty())
}

/// The components of the new image: the packages of its database, and the Python
/// distributions and Node packages whose metadata it keeps (`kept`: the kept paths).
pub fn inventory<'a>(
    index: &FsIndex,
    kept: impl IntoIterator<Item = &'a [u8]>,
    db: Option<&PackageDb>,
    os: Option<&OsRelease>,
) -> Vec<Component> {
    let mut components = BTreeSet::new();
    if let Some(db) = db {
        let ecosystem = if db.format == "apk" {
            Ecosystem::Apk
        } else {
            Ecosystem::Deb
        };
        for package in &db.kept {
            components.insert(Component {
                ecosystem,
                purl: purl::os_package(ecosystem, package, os),
                name: package.name.clone(),
                version: package.version.clone(),
            });
        }
    }
    for path in kept {
        let python = path.ends_with(b".dist-info/METADATA")
            || path.ends_with(b".egg-info/PKG-INFO")
            || path.ends_with(b".egg-info");
        let node = path.ends_with(b"/package.json");
        if !python && !node {
            continue;
        }
        let Some(text) = read_text(index, path) else {
            continue;
        };
        let found = if python {
            python_name_version(&String::from_utf8_lossy(&text)).map(|(name, version)| Component {
                ecosystem: Ecosystem::Python,
                purl: purl::pypi(&name, &version),
                name,
                version,
            })
        } else {
            node_name_version(&text).map(|(name, version)| Component {
                ecosystem: Ecosystem::Npm,
                purl: purl::npm(&name, &version),
                name,
                version,
            })
        };
        components.extend(found);
    }
    // One component per package URL.
    let mut seen = BTreeSet::new();
    components
        .into_iter()
        .filter(|c| seen.insert(c.purl.clone()))
        .collect()
}

/// The document for `subject` in `format`, as JSON text.
pub fn document(subject: &Subject, format: SbomFormat) -> Vec<u8> {
    let value = match format {
        SbomFormat::CycloneDx => cyclonedx::document(subject),
        SbomFormat::Spdx => spdx::document(subject, &spdx::creation_time()),
    };
    let mut text = serde_json::to_vec_pretty(&value).unwrap_or_default();
    text.push(b'\n');
    text
}

/// Writes the document (whole or not at all).
pub fn write(subject: &Subject, target: &SbomTarget) -> Result<(), SbomError> {
    let text = document(subject, target.format);
    write_file(&target.path, &text).map_err(|source| SbomError {
        path: target.path.display().to_string(),
        source,
    })
}

fn write_file(path: &Path, text: &[u8]) -> std::io::Result<()> {
    if crate::output::is_written_in_place(path) {
        return fs_err::write(path, text);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = fs_err::write(&temp, text).and_then(|()| fs_err::rename(&temp, path));
    if result.is_err() {
        let _ = fs_err::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests;
