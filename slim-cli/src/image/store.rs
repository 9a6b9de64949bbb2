//! The engine's layer store on this host, read in place instead of through the engine's
//! export: the export streams every byte of every layer, while a build needs the headers of
//! all entries and the content of the kept files only.
//!
//! When the engine stores layers as directories here (overlay2, fuse-overlayfs), each
//! layer has two records: its directory of files, and the headers of the archive it came
//! from (the `tar-split` record the engine keeps so that an export reproduces the archive
//! byte for byte). The index reads the headers from that record ([`RecordedArchive`]: the
//! archive with every header as recorded and no content), so the paths, metadata, links and
//! whiteouts are exactly those of the export, and the new image is the same whichever
//! source was used. Content is read from the layer's directory ([`StoredLayer::open`]):
//! every open is relative to that directory, never follows a symlink and never leaves it
//! (openat2 with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), and a file whose size or
//! checksum differs from the record is an error, never a silent substitute.
//!
//! Anything that does not fit (another driver, a remote engine, a record missing, a layer
//! directory that disagrees with the engine's inspect) makes the build use the export, and
//! the reason is shown. `--image-source export` (or `SLIM_IMAGE_SOURCE=export`) forces
//! the export; `store` makes a store that cannot be used an error instead.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use flate2::read::GzDecoder;
use serde::Deserialize;

use crate::image::index::seek_target;
use crate::image::reference::digest;
use crate::inspect::ImageInfo;

/// The option that chooses where the image's files are read from, as the user gives it.
const SOURCE_OPTION: &str = "--image-source";

/// Storage drivers whose layers are directories with a `diff` of the layer's own files.
const DIRECTORY_DRIVERS: &[&str] = &["overlay2", "fuse-overlayfs"];

/// Where the build reads the original image from, as the user asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceChoice {
    #[default]
    /// The layer store when it can be read, else the export.
    Auto,
    Store,
    Export,
}

impl SourceChoice {
    /// From the value of `--image-source`.
    pub fn from_name(name: &str) -> Option<SourceChoice> {
        match name {
            "auto" => Some(SourceChoice::Auto),
            "store" => Some(SourceChoice::Store),
            "export" => Some(SourceChoice::Export),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the image's layers cannot be read from the engine's layer store: {0}\nhint: use \
         `{SOURCE_OPTION} auto` (the default) or `export` to read the image through the \
         engine's export"
    )]
    Required(String),
    #[error("reading the layer store's record {path}: {source}")]
    Record { path: PathBuf, source: io::Error },
}

/// Where a build read the original image's files from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageSource {
    /// In place, from the engine's layer store on this host.
    LayerStore { driver: String },
    /// Through the engine's export, and why the layer store was not used.
    Export { why: String },
}

/// An image's layers in the engine's store on this host.
#[derive(Debug)]
pub struct LayerStore {
    /// The engine's storage driver.
    pub driver: String,
    /// Base first.
    pub layers: Vec<StoredLayer>,
    /// The image config as the engine stored it (the bytes its id is the digest of).
    pub config: serde_json::Value,
}

/// One layer: its directory of files and the record of its archive's headers.
#[derive(Debug)]
pub struct StoredLayer {
    pub diff: PathBuf,
    pub tar_split: PathBuf,
    dir: OwnedFd,
    /// Content place in the recorded archive → the file's path in `diff` and its recorded
    /// checksum; filled by the index.
    files: HashMap<u64, StoredFile>,
}

#[derive(Debug)]
struct StoredFile {
    path: Vec<u8>,
    crc: Option<u64>,
}

/// Finds `image`'s layers in the engine's store, or says why the export must be used.
pub fn locate(
    image: &ImageInfo,
    choice: SourceChoice,
) -> Result<Result<LayerStore, String>, StoreError> {
    if choice == SourceChoice::Export {
        return Ok(Err(format!("{SOURCE_OPTION} export")));
    }
    match find(image) {
        Ok(store) => Ok(Ok(store)),
        Err(why) if choice == SourceChoice::Store => Err(StoreError::Required(why)),
        Err(why) => Ok(Err(why)),
    }
}

fn find(image: &ImageInfo) -> Result<LayerStore, String> {
    if let Ok(host) = std::env::var("DOCKER_HOST")
        && !host.is_empty()
        && !host.starts_with("unix://")
    {
        return Err(format!(
            "the engine is not on this host (DOCKER_HOST={host})"
        ));
    }
    let Some(graph) = &image.graph_driver else {
        return Err("the engine did not say how it stores the image".into());
    };
    if !DIRECTORY_DRIVERS.contains(&graph.name.as_str()) {
        return Err(format!(
            "the engine's storage driver {} does not keep layers as directories",
            graph.name
        ));
    }
    let upper = graph
        .data
        .get("UpperDir")
        .map(PathBuf::from)
        .ok_or("the engine did not name the image's top layer directory")?;
    // `<root>/<driver>/<cache id>/diff`.
    let root = upper
        .ancestors()
        .nth(3)
        .ok_or_else(|| format!("{} is not a layer directory", upper.display()))?
        .to_path_buf();
    let image_dir = root.join("image").join(&graph.name);
    let mut layers = Vec::with_capacity(image.layers.len());
    let mut chain = String::new();
    for diff_id in &image.layers {
        chain = if chain.is_empty() {
            diff_id.clone()
        } else {
            digest(format!("{chain} {diff_id}").as_bytes())
        };
        let record = image_dir
            .join("layerdb/sha256")
            .join(chain.trim_start_matches("sha256:"));
        let read = |name: &str| {
            fs_err::read_to_string(record.join(name))
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("the layer store has no {name} for layer {diff_id}: {e}"))
        };
        if read("diff")? != *diff_id {
            return Err(format!(
                "the layer store's record of layer {diff_id} names another layer"
            ));
        }
        let cache_id = read("cache-id")?;
        if cache_id.is_empty() || cache_id.contains('/') || cache_id.starts_with('.') {
            return Err(format!(
                "the layer store's record of layer {diff_id} is malformed"
            ));
        }
        let diff = root.join(&graph.name).join(&cache_id).join("diff");
        let tar_split = record.join("tar-split.json.gz");
        if !tar_split.is_file() {
            return Err(format!(
                "the layer store kept no archive record of layer {diff_id}"
            ));
        }
        layers.push(
            StoredLayer::new(diff.clone(), tar_split)
                .map_err(|e| format!("{}: {e}", diff.display()))?,
        );
    }
    match layers.last() {
        Some(top) if same_dir(&top.diff, &upper) => {}
        Some(_) => {
            return Err("the layer store's records do not lead to the image's top layer".into());
        }
        None => return Err("the image has no layers".into()),
    }
    let id = image.id.trim_start_matches("sha256:");
    let config_path = image_dir.join("imagedb/content/sha256").join(id);
    let config = fs_err::read(&config_path).map_err(|e| e.to_string())?;
    if digest(&config) != image.id {
        return Err(format!(
            "{} is not the config of image {id}",
            config_path.display()
        ));
    }
    let config =
        serde_json::from_slice(&config).map_err(|e| format!("{}: {e}", config_path.display()))?;
    Ok(LayerStore {
        driver: graph.name.clone(),
        layers,
        config,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Opens a layer directory to resolve its files against; fails where openat2 is missing.
fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let dir = fs_err::File::open(path)?.into_file();
    if !dir.metadata()?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    let dir = OwnedFd::from(dir);
    // The kernel must resolve below the directory itself (Linux 5.6 and later).
    drop(openat2(&dir, b".", libc::O_DIRECTORY)?);
    Ok(dir)
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Opens `path` below `dir`: never through a symlink, never outside `dir`.
fn openat2(dir: &OwnedFd, path: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let how = OpenHow {
        flags: u64::try_from(
            flags | libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        )
        .unwrap_or_default(),
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    };
    let fd = loop {
        // SAFETY: `name` is NUL-terminated, `how` outlives the call and its size is passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                name.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            break fd;
        }
        let error = io::Error::last_os_error();
        // As `File::open` does: a signal during the call is no failure of the file.
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: the kernel just returned this descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl StoredLayer {
    /// The layer whose files are in `diff` and whose archive record is `tar_split`.
    pub fn new(diff: PathBuf, tar_split: PathBuf) -> io::Result<StoredLayer> {
        let dir = open_dir(&diff)?;
        Ok(StoredLayer {
            diff,
            tar_split,
            dir,
            files: HashMap::new(),
        })
    }

    /// Bytes of the layer's archive record (compressed, as stored).
    pub fn record_size(&self) -> u64 {
        fs_err::metadata(&self.tar_split).map_or(0, |m| m.len())
    }

    /// The layer's archive as the engine would export it, without content.
    pub fn archive(&self) -> Result<RecordedArchive, StoreError> {
        let file = fs_err::File::open(&self.tar_split)
            .map_err(|source| StoreError::Record {
                path: self.tar_split.clone(),
                source,
            })?
            .into_file();
        Ok(RecordedArchive::new(Box::new(BufReader::new(
            GzDecoder::new(BufReader::new(file)),
        ))))
    }

    /// The layer's archive as the engine took it in ([`RebuiltArchive`]).
    pub fn rebuilt_archive(&self) -> Result<RebuiltArchive<'_>, StoreError> {
        Ok(RebuiltArchive {
            layer: self,
            recorded: self.archive()?,
            content: None,
        })
    }

    /// Remembers that the content at `offset` of the recorded archive is the file at `path`
    /// of the layer (where the engine unpacked it), with the recorded checksum.
    pub fn place(&mut self, offset: u64, path: Vec<u8>, crc: Option<u64>) {
        self.files.insert(offset, StoredFile { path, crc });
    }

    /// Opens the content recorded at `offset`, `size` bytes long.
    pub fn open(&self, offset: u64, size: u64) -> io::Result<StoredContent> {
        let Some(stored) = self.files.get(&offset) else {
            return Err(io::Error::other(format!(
                "the layer store holds no file at offset {offset} of {}",
                self.tar_split.display()
            )));
        };
        let shown = || {
            format!(
                "{} in layer directory {}",
                String::from_utf8_lossy(&stored.path),
                self.diff.display()
            )
        };
        let changed = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} {what} since the image was indexed\nhint: the image changed under the \
                     build, or the layer store disagrees with its record; build again, or use \
                     `{SOURCE_OPTION} export`",
                    shown()
                ),
            )
        };
        let relative = stored.path.strip_prefix(b"/").unwrap_or(&stored.path);
        let fd = openat2(&self.dir, relative, 0)
            .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", shown())))?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(changed("is no longer a regular file"));
        }
        if meta.len() != size {
            return Err(changed(&format!(
                "is {} bytes, not the recorded {size},",
                meta.len()
            )));
        }
        Ok(StoredContent {
            file,
            size,
            pos: 0,
            crc: Crc64::new(),
            expected: stored.crc,
            sequential: true,
            what: shown(),
        })
    }
}

/// A layer's archive rebuilt from its record and its directory: the archive the engine
/// took in, byte for byte (its SHA-256 is the layer's diff id), as long as every file is
/// where the index placed it and unchanged. A check of the whole reader, not used by builds.
pub struct RebuiltArchive<'a> {
    layer: &'a StoredLayer,
    recorded: RecordedArchive,
    content: Option<StoredContent>,
}

impl Read for RebuiltArchive<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(content) = &mut self.content {
                let n = content.read(buf)?;
                if n > 0 {
                    self.recorded.advance(n as u64)?;
                    return Ok(n);
                }
                self.content = None;
            }
            let recorded = &mut self.recorded;
            if recorded.segment_pos < recorded.segment.len() {
                return recorded.read(buf);
            }
            if recorded.content_left > 0 {
                let content = self.layer.open(recorded.pos, recorded.content_left)?;
                self.content = Some(content);
            } else if !recorded.next_part()? {
                return Ok(0);
            }
        }
    }
}

/// A stored file's content; read from start to end in one pass, it is checked against the
/// recorded checksum, and a difference is an error at its end.
pub struct StoredContent {
    file: File,
    size: u64,
    pos: u64,
    crc: Crc64,
    expected: Option<u64>,
    /// Read from the start without seeking, so far: the checksum covers what was read.
    sequential: bool,
    what: String,
}

impl Read for StoredContent {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size - self.pos;
        if left == 0 {
            if self.sequential && self.expected.is_some_and(|e| e != self.crc.value()) {
                self.sequential = false;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} changed since the image was indexed (its content differs from the \
                         engine's record)\nhint: build again, or use `{SOURCE_OPTION} export`",
                        self.what
                    ),
                ));
            }
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} is shorter than recorded", self.what),
            ));
        }
        if self.sequential {
            self.crc.update(&buf[..n]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for StoredContent {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = seek_target(to, self.pos, self.size)?;
        if target != self.pos {
            self.sequential = false;
        }
        self.file.seek(SeekFrom::Start(target))?;
        self.pos = target;
        Ok(target)
    }
}

/// One line of a tar-split record.
#[derive(Deserialize)]
struct RecordLine {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    payload: Option<String>,
}

const RECORD_FILE: u8 = 1;
const RECORD_SEGMENT: u8 = 2;

/// A layer's archive rebuilt from its tar-split record: every header, padding and trailer
/// byte as recorded, with the content of files left out. It only moves forward; content is
/// passed over by seeking (as `tar::Archive::entries_with_seek` does) and reading it is an
/// error.
pub struct RecordedArchive {
    lines: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    segment: Vec<u8>,
    segment_pos: usize,
    content_left: u64,
    pos: u64,
    /// Offset of each file's content in the archive → its recorded checksum.
    checksums: HashMap<u64, u64>,
}

impl RecordedArchive {
    pub fn new(lines: Box<dyn BufRead + Send>) -> RecordedArchive {
        RecordedArchive {
            lines,
            line: Vec::new(),
            segment: Vec::new(),
            segment_pos: 0,
            content_left: 0,
            pos: 0,
            checksums: HashMap::new(),
        }
    }

    /// The recorded checksum of the content at `offset`.
    pub fn checksum(&self, offset: u64) -> Option<u64> {
        self.checksums.get(&offset).copied()
    }

    /// Moves to the next record line; false at the end of the record.
    fn next_part(&mut self) -> io::Result<bool> {
        loop {
            self.line.clear();
            if self.lines.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(false);
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record: RecordLine = serde_json::from_slice(&self.line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a malformed record line: {e}"),
                )
            })?;
            let payload = || -> io::Result<Vec<u8>> {
                base64::engine::general_purpose::STANDARD
                    .decode(record.payload.as_deref().unwrap_or_default())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            };
            match record.kind {
                RECORD_SEGMENT => {
                    self.segment = payload()?;
                    self.segment_pos = 0;
                }
                RECORD_FILE => {
                    self.content_left = record.size;
                    if let Ok(sum) = <[u8; 8]>::try_from(payload()?.as_slice()) {
                        self.checksums.insert(self.pos, u64::from_be_bytes(sum));
                    }
                }
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a record line of unknown type {other}"),
                    ));
                }
            }
            return Ok(true);
        }
    }

    /// Passes over `amount` bytes, content included.
    fn advance(&mut self, mut amount: u64) -> io::Result<()> {
        while amount > 0 {
            let in_segment = (self.segment.len() - self.segment_pos) as u64;
            if in_segment > 0 {
                let step = in_segment.min(amount);
                self.segment_pos += step as usize;
                self.pos += step;
                amount -= step;
            } else if self.content_left > 0 {
                let step = self.content_left.min(amount);
                self.content_left -= step;
                self.pos += step;
                amount -= step;
            } else if !self.next_part()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "seek past the end of the recorded archive",
                ));
            }
        }
        Ok(())
    }
}

impl Read for RecordedArchive {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let in_segment = &self.segment[self.segment_pos..];
            if !in_segment.is_empty() {
                let n = in_segment.len().min(buf.len());
                buf[..n].copy_from_slice(&in_segment[..n]);
                self.segment_pos += n;
                self.pos += n as u64;
                return Ok(n);
            }
            if self.content_left > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the archive record holds no file content",
                ));
            }
            if !self.next_part()? {
                return Ok(0);
            }
        }
    }
}

impl Seek for RecordedArchive {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(_) => None,
        }
        .filter(|t| *t >= self.pos)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "the recorded archive is read forward only",
            )
        })?;
        self.advance(target - self.pos)?;
        Ok(self.pos)
    }
}

/// CRC-64 with the ISO polynomial, as the engine records file content (Go's `crc64.ISO`),
/// eight bytes at a step (slicing-by-8): kept files are checked as they are copied.
#[derive(Clone, Copy)]
struct Crc64(u64);

const CRC64_TABLES: [[u64; 256]; 8] = {
    let mut tables = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xD800_0000_0000_0000
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut t = 1;
        while t < 8 {
            let previous = tables[t - 1][i];
            tables[t][i] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
            t += 1;
        }
        i += 1;
    }
    tables
};

impl Crc64 {
    fn new() -> Crc64 {
        Crc64(!0)
    }

    fn update(&mut self, bytes: &[u8]) {
        let t = &CRC64_TABLES;
        let mut crc = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = crc ^ u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let b = word.to_le_bytes();
            crc = t[7][b[0] as usize]
                ^ t[6][b[1] as usize]
                ^ t[5][b[2] as usize]
                ^ t[4][b[3] as usize]
                ^ t[3][b[4] as usize]
                ^ t[2][b[5] as usize]
                ^ t[1][b[6] as usize]
                ^ t[0][b[7] as usize];
        }
        for &b in chunks.remainder() {
            crc = t[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.0 = crc;
    }

    fn value(&self) -> u64 {
        !self.0
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
