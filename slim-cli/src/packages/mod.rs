//! The package databases of the new image: the original image's Debian (`/var/lib/dpkg`)
//! or Alpine (`/lib/apk/db/installed`) database, trimmed to the packages that still have
//! a kept file, so that scanners and `dpkg-query` see what the new image holds.
//!
//! A package is kept when at least one of its files (not directories) is kept; its entry
//! is unchanged but for the lists of its files, which name only the kept files and the
//! directories above them (file list, checksums, conffiles), and the `info/` files that
//! only building or configuring packages reads ([`dpkg::UNREAD_INFO`]), which are left
//! out. A package with no kept file is absent. The trimmed files are new content written in place of the original files
//! of the same paths, with their metadata; `dpkg` and `apk` hold the text formats (both
//! parse untrusted bytes and never fail).
//!
//! Pure: reads the image index and a predicate over kept paths, never the engine.

pub mod apk;
pub mod dpkg;

use std::collections::{BTreeMap, BTreeSet};

use crate::image::index::{FsIndex, NodeKind, resolve};

/// Where Debian's database lives.
pub const DPKG_DIR: &[u8] = b"/var/lib/dpkg";
/// Alpine's database of installed packages.
pub const APK_INSTALLED: &[u8] = b"/lib/apk/db/installed";
/// The largest database file read (a status file of many thousand packages is a few MB).
const READ_LIMIT: u64 = 256 << 20;

/// The package database as the new image holds it, for the report.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PackageDb {
    /// `dpkg` or `apk`.
    pub format: String,
    /// Packages with at least one kept file, in the database's order.
    pub kept: Vec<KeptPackage>,
    /// Packages none of whose files is kept: absent from the new database.
    pub dropped: Vec<String>,
    /// Seconds spent reading and trimming the database.
    #[schemars(range(min = 0))]
    pub seconds: f64,
}

impl PackageDb {
    /// How many kept packages lost files.
    pub fn trimmed(&self) -> usize {
        self.kept.iter().filter(|p| p.is_trimmed()).count()
    }
}

/// One package the new image's database lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct KeptPackage {
    pub name: String,
    pub version: String,
    /// Empty when the database names none.
    pub architecture: String,
    /// Its files (not directories) in the original image.
    pub files: usize,
    /// Those the new image keeps.
    pub files_kept: usize,
}

impl KeptPackage {
    pub fn is_trimmed(&self) -> bool {
        self.files_kept < self.files
    }
}

/// The database files of the new image.
#[derive(Clone, Debug, Default)]
pub struct Trimmed {
    pub db: Option<PackageDb>,
    /// Every path of the database the new image holds: `Some` with its new content, `None`
    /// for a file or directory written as the original image has it.
    pub files: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Trimmed {
    /// The new contents only.
    pub fn contents(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.files
            .iter()
            .filter_map(|(p, c)| c.clone().map(|c| (p.clone(), c)))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("reading the package database file {path} of the image: {source}")]
pub struct PackageError {
    pub path: String,
    pub source: std::io::Error,
}

/// What the new image keeps, as the package databases ask it: by the path a package
/// lists, resolved in the image (directory symlinks such as `/lib -> usr/lib` followed).
struct Kept<'a> {
    index: &'a FsIndex,
    kept: &'a dyn Fn(&[u8]) -> bool,
}

impl Kept<'_> {
    /// The path as the image holds it, and whether it is a directory (a symlink to one
    /// counts as one: `/lib` in a list of a merged-`/usr` image).
    fn lookup(&self, path: &[u8]) -> Option<(Vec<u8>, bool)> {
        let target = resolve(self.index, path, false).target?;
        let is_dir = match &self.index.get(&target)?.kind {
            NodeKind::Dir => true,
            NodeKind::Symlink { .. } => resolve(self.index, path, true)
                .target
                .and_then(|t| self.index.get(&t))
                .is_some_and(|n| matches!(n.kind, NodeKind::Dir)),
            _ => false,
        };
        Some((target, is_dir))
    }

    /// `Some(is_directory)` for a path the new image holds.
    fn node(&self, path: &[u8]) -> Option<bool> {
        let (target, is_dir) = self.lookup(path)?;
        (self.kept)(&target).then_some(is_dir)
    }

    /// Whether a path is a file (not a directory) of the original image.
    fn is_file(&self, path: &[u8]) -> bool {
        self.lookup(path).is_some_and(|(_, is_dir)| !is_dir)
    }

    fn file(&self, path: &[u8]) -> bool {
        self.node(path) == Some(false)
    }
}

fn read(index: &FsIndex, path: &[u8]) -> Result<Option<Vec<u8>>, PackageError> {
    let Some(node) = index.get(path) else {
        return Ok(None);
    };
    if index.content_node(node).is_none() {
        return Ok(None);
    }
    index
        .read_to_vec(node, READ_LIMIT)
        .map(Some)
        .map_err(|source| PackageError {
            path: String::from_utf8_lossy(path).into_owned(),
            source,
        })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn under(dir: &[u8], name: &[u8]) -> Vec<u8> {
    crate::image::index::join(dir, name)
}

/// The trimmed databases of `index` for the paths `kept` accepts (paths as the index has
/// them, symlinks not followed).
pub fn trim(index: &FsIndex, kept: &dyn Fn(&[u8]) -> bool) -> Result<Trimmed, PackageError> {
    let start = std::time::Instant::now();
    let kept = Kept { index, kept };
    let mut out = Trimmed::default();
    if let Some(mut db) = trim_dpkg(&kept, &mut out)? {
        db.seconds = start.elapsed().as_secs_f64();
        out.db = Some(db);
    } else if let Some(mut db) = trim_apk(&kept, &mut out)? {
        db.seconds = start.elapsed().as_secs_f64();
        out.db = Some(db);
    }
    // The directories above every database file, as the image has them.
    let parents: Vec<Vec<u8>> = out
        .files
        .keys()
        .flat_map(|path| {
            let mut up = Vec::new();
            let mut end = path.len();
            while let Some(slash) = path[..end].iter().rposition(|&b| b == b'/') {
                if slash == 0 {
                    break;
                }
                up.push(path[..slash].to_vec());
                end = slash;
            }
            up
        })
        .filter(|p| {
            index
                .get(p)
                .is_some_and(|n| matches!(n.kind, NodeKind::Dir))
        })
        .collect();
    for parent in parents {
        out.files.entry(parent).or_insert(None);
    }
    Ok(out)
}

/// A file of `info/`: its kind (`list`, `md5sums`, `postinst`…) and its path.
type InfoFile = (Vec<u8>, Vec<u8>);

fn trim_dpkg(kept: &Kept<'_>, out: &mut Trimmed) -> Result<Option<PackageDb>, PackageError> {
    let index = kept.index;
    let status_path = under(DPKG_DIR, b"status");
    let Some(status) = read(index, &status_path)? else {
        return Ok(None);
    };
    let diversions_path = under(DPKG_DIR, b"diversions");
    let diversions = read(index, &diversions_path)?
        .map(|t| dpkg::parse_diversions(&t))
        .unwrap_or_default();
    let diverted = dpkg::diversion_map(&diversions);
    let info_dir = under(DPKG_DIR, b"info");
    let mut info: BTreeMap<Vec<u8>, Vec<InfoFile>> = BTreeMap::new();
    for (path, node) in index.children(&info_dir) {
        if matches!(node.kind, NodeKind::Dir) {
            continue;
        }
        let name = &path[info_dir.len() + 1..];
        match dpkg::split_info_name(name) {
            Some((package, kind)) => info
                .entry(package.to_vec())
                .or_default()
                .push((kind.to_vec(), path.clone())),
            // `format` and the like: the database's own files.
            None => {
                out.files.insert(path.clone(), None);
            }
        }
    }

    let mut db = PackageDb {
        format: "dpkg".into(),
        ..PackageDb::default()
    };
    let mut new_status = Vec::new();
    for stanza in dpkg::parse_status(&status) {
        let Some(package) = stanza.package() else {
            continue;
        };
        let files_of = stanza
            .info_names()
            .into_iter()
            .find_map(|n| info.get(&n))
            .cloned()
            .unwrap_or_default();
        let list = match files_of.iter().find(|(kind, _)| kind == b"list") {
            Some((_, path)) => read(index, path)?.unwrap_or_default(),
            None => Vec::new(),
        };
        let mut files = 0;
        let mut kept_files: BTreeSet<&[u8]> = BTreeSet::new();
        for listed in dpkg::list_paths(&list) {
            let installed = dpkg::installed_path(listed, package, &diverted);
            // One lookup an entry: lists name thousands of paths.
            let Some((target, false)) = kept.lookup(installed) else {
                continue;
            };
            files += 1;
            if (kept.kept)(&target) {
                kept_files.insert(listed);
            }
        }
        let conffiles = stanza.conffiles();
        let conffiles_kept = conffiles.iter().filter(|c| kept.file(c)).count();
        if kept_files.is_empty() && conffiles_kept == 0 {
            db.dropped.push(text(package));
            continue;
        }
        if list.is_empty() {
            files = conffiles.iter().filter(|c| kept.is_file(c)).count();
            kept_files.extend(conffiles.iter().filter(|c| kept.file(c)));
        }
        new_status.extend(dpkg::with_newline(
            stanza.text_keeping_conffiles(|p| kept.file(p)),
        ));
        new_status.push(b'\n');
        for (kind, path) in &files_of {
            let content = match kind.as_slice() {
                b"list" => Some(dpkg::trim_list(&list, &kept_files)),
                b"md5sums" => read(index, path)?.map(|t| dpkg::trim_md5sums(&t, &kept_files)),
                b"conffiles" => read(index, path)?.map(|t| dpkg::trim_lines(&t, |p| kept.file(p))),
                kind if dpkg::UNREAD_INFO.contains(&kind) => continue,
                _ => None,
            };
            out.files.insert(path.clone(), content);
        }
        db.kept.push(KeptPackage {
            name: text(package),
            version: text(stanza.get("Version").unwrap_or_default()),
            architecture: text(stanza.get("Architecture").unwrap_or_default()),
            files,
            files_kept: kept_files.len(),
        });
    }
    out.files.insert(status_path, Some(new_status));
    if index.get(&diversions_path).is_some() {
        let text = dpkg::diversions_text(
            diversions
                .iter()
                .filter(|d| kept.file(&d.from) || kept.file(&d.to)),
        );
        out.files.insert(diversions_path, Some(text));
    }
    let statoverride = under(DPKG_DIR, b"statoverride");
    if let Some(text) = read(index, &statoverride)? {
        let trimmed = dpkg::trim_statoverride(&text, |p| kept.node(p).is_some());
        out.files.insert(statoverride, Some(trimmed));
    }
    for name in [&b"arch"[..], b"info", b"updates"] {
        let path = under(DPKG_DIR, name);
        if index.get(&path).is_some() {
            out.files.insert(path, None);
        }
    }
    Ok(Some(db))
}

fn trim_apk(kept: &Kept<'_>, out: &mut Trimmed) -> Result<Option<PackageDb>, PackageError> {
    let index = kept.index;
    let Some(path) = resolve(index, APK_INSTALLED, true).target else {
        return Ok(None);
    };
    let Some(installed) = read(index, &path)? else {
        return Ok(None);
    };
    let mut db = PackageDb {
        format: "apk".into(),
        ..PackageDb::default()
    };
    let mut new = Vec::new();
    for package in apk::parse_installed(&installed) {
        let name = text(package.get(b'P').unwrap_or_default());
        match package.trimmed(|p| kept.file(p)) {
            Some(stanza) => {
                new.extend(stanza);
                new.push(b'\n');
                let (mut files, mut files_kept) = (0, 0);
                for file in package.files() {
                    if kept.is_file(&file) {
                        files += 1;
                        files_kept += usize::from(kept.file(&file));
                    }
                }
                db.kept.push(KeptPackage {
                    name,
                    version: text(package.get(b'V').unwrap_or_default()),
                    architecture: text(package.get(b'A').unwrap_or_default()),
                    files,
                    files_kept,
                });
            }
            None => db.dropped.push(name),
        }
    }
    out.files.insert(path, Some(new));
    Ok(Some(db))
}

#[cfg(test)]
mod tests;
