//! The tar writer of the tests: layers and image archives of any shape, written entry by
//! entry in memory.
//!
//! Names and link targets are bytes written as they are given (`..`, absolute names,
//! invalid UTF-8), where `tar::Builder` would refuse or normalise them, so that a hostile
//! entry reaches slim exactly as a hostile archive would carry it. Names and link targets
//! of 100 bytes or more get GNU long-name records; extended attributes and other PAX
//! records go in a PAX header before their entry. [`Entry::header`] edits a header before
//! its checksum and [`TarWriter::raw`] appends bytes as they are, for entries no option
//! here describes.

use tar::{EntryType, Header};

/// The mtime of an entry unless told otherwise (2023-11-14).
pub const MTIME: u64 = 1_700_000_000;

/// A tar archive written entry by entry; every method appends.
#[derive(Clone, Debug, Default)]
pub struct TarWriter {
    bytes: Vec<u8>,
}

/// A change made to an entry's header once its fields are set, before its checksum.
type HeaderEdit = Box<dyn FnOnce(&mut Header)>;

/// One entry of a [`TarWriter`]: its kind, name, link target, content, mode, owner,
/// mtime, PAX records and device numbers.
pub struct Entry {
    kind: EntryType,
    name: Vec<u8>,
    link: Vec<u8>,
    data: Vec<u8>,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    pax: Vec<(String, Vec<u8>)>,
    device: Option<(u32, u32)>,
    edit: Option<HeaderEdit>,
}

impl Entry {
    /// An entry of `kind` called `name`, empty, with the usual mode of its kind (0644,
    /// 0755 for directories, 0777 for symlinks, 0666 for devices), owned by root.
    pub fn new(kind: EntryType, name: impl AsRef<[u8]>) -> Entry {
        let mode = match kind {
            EntryType::Directory => 0o755,
            EntryType::Symlink => 0o777,
            EntryType::Char | EntryType::Block => 0o666,
            _ => 0o644,
        };
        Entry {
            kind,
            name: name.as_ref().to_vec(),
            link: Vec::new(),
            data: Vec::new(),
            mode,
            uid: 0,
            gid: 0,
            mtime: MTIME,
            pax: Vec::new(),
            device: None,
            edit: None,
        }
    }

    /// A regular file.
    pub fn file(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Entry {
        Entry::new(EntryType::Regular, name).data(data)
    }

    /// A directory (give its name a trailing `/`, as engines write them).
    pub fn dir(name: impl AsRef<[u8]>) -> Entry {
        Entry::new(EntryType::Directory, name)
    }

    /// A symbolic link to `target`.
    pub fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Entry {
        Entry::new(EntryType::Symlink, name).link(target)
    }

    /// A hard link to the archive's entry `target`.
    pub fn hard_link(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Entry {
        Entry::new(EntryType::Link, name).link(target)
    }

    /// The content.
    pub fn data(mut self, data: impl AsRef<[u8]>) -> Entry {
        self.data = data.as_ref().to_vec();
        self
    }

    /// The link target.
    pub fn link(mut self, target: impl AsRef<[u8]>) -> Entry {
        self.link = target.as_ref().to_vec();
        self
    }

    /// The mode bits, with setuid, setgid and sticky.
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }

    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn mtime(mut self, mtime: u64) -> Entry {
        self.mtime = mtime;
        self
    }

    /// An extended attribute (a PAX `SCHILY.xattr.NAME` record, as engines write them).
    pub fn xattr(self, name: &str, value: impl AsRef<[u8]>) -> Entry {
        self.pax(&format!("SCHILY.xattr.{name}"), value)
    }

    /// A PAX record for this entry.
    pub fn pax(mut self, key: &str, value: impl AsRef<[u8]>) -> Entry {
        self.pax.push((key.to_string(), value.as_ref().to_vec()));
        self
    }

    /// The device numbers of a character or block device.
    pub fn device(mut self, major: u32, minor: u32) -> Entry {
        self.device = Some((major, minor));
        self
    }

    /// Edits the header once its fields are set (the checksum is computed after).
    pub fn header(mut self, edit: impl FnOnce(&mut Header) + 'static) -> Entry {
        self.edit = Some(Box::new(edit));
        self
    }
}

impl TarWriter {
    pub fn new() -> TarWriter {
        TarWriter::default()
    }

    /// Appends `entry`, after its PAX header and long-name records when it needs them.
    pub fn entry(mut self, entry: Entry) -> TarWriter {
        if !entry.pax.is_empty() {
            let records: Vec<u8> = entry
                .pax
                .iter()
                .flat_map(|(key, value)| pax_record(key, value))
                .collect();
            self = self.entry(Entry::new(EntryType::XHeader, b"PaxHeaders/entry").data(records));
        }
        if entry.name.len() >= 100 {
            self.long_record(b'L', &entry.name);
        }
        if entry.link.len() >= 100 {
            self.long_record(b'K', &entry.link);
        }
        let mut h = Header::new_gnu();
        let gnu = h.as_gnu_mut().expect("a GNU header");
        let n = entry.name.len().min(99);
        gnu.name[..n].copy_from_slice(&entry.name[..n]);
        let l = entry.link.len().min(99);
        gnu.linkname[..l].copy_from_slice(&entry.link[..l]);
        h.set_entry_type(entry.kind);
        h.set_size(entry.data.len() as u64);
        h.set_mode(entry.mode);
        h.set_uid(entry.uid);
        h.set_gid(entry.gid);
        h.set_mtime(entry.mtime);
        if matches!(entry.kind, EntryType::Char | EntryType::Block) || entry.device.is_some() {
            let (major, minor) = entry.device.unwrap_or((0, 0));
            h.set_device_major(major).expect("a device field");
            h.set_device_minor(minor).expect("a device field");
        }
        if let Some(edit) = entry.edit {
            edit(&mut h);
        }
        h.set_cksum();
        self.bytes.extend_from_slice(h.as_bytes());
        self.bytes.extend_from_slice(&entry.data);
        self.pad();
        self
    }

    /// A regular file, mode 0644.
    pub fn file(self, name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> TarWriter {
        self.entry(Entry::file(name, data))
    }

    /// A regular file, mode 0755.
    pub fn executable(self, name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> TarWriter {
        self.entry(Entry::file(name, data).mode(0o755))
    }

    /// A directory, mode 0755.
    pub fn dir(self, name: impl AsRef<[u8]>) -> TarWriter {
        self.entry(Entry::dir(name))
    }

    pub fn symlink(self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> TarWriter {
        self.entry(Entry::symlink(name, target))
    }

    pub fn hard_link(self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> TarWriter {
        self.entry(Entry::hard_link(name, target))
    }

    pub fn fifo(self, name: impl AsRef<[u8]>) -> TarWriter {
        self.entry(Entry::new(EntryType::Fifo, name))
    }

    /// A character or block device node.
    pub fn device(
        self,
        kind: EntryType,
        name: impl AsRef<[u8]>,
        major: u32,
        minor: u32,
    ) -> TarWriter {
        self.entry(Entry::new(kind, name).device(major, minor))
    }

    /// The whiteout that deletes `path` of the layers below (`dir/.wh.name`).
    pub fn whiteout(self, path: impl AsRef<[u8]>) -> TarWriter {
        let path = path.as_ref();
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(slash) => path.split_at(slash + 1),
            None => (&b""[..], path),
        };
        self.file([dir, b".wh.", name].concat(), b"")
    }

    /// The marker that hides everything the layers below have in `dir`
    /// (`dir/.wh..wh..opq`).
    pub fn opaque(self, dir: impl AsRef<[u8]>) -> TarWriter {
        let dir = dir.as_ref();
        let dir = dir.strip_suffix(b"/").unwrap_or(dir);
        self.file([dir, b"/.wh..wh..opq"].concat(), b"")
    }

    /// A sparse file of `size` bytes in GNU tar's PAX format 1.0 (what `tar --sparse
    /// --format=posix` writes): data `segments` at their offsets, holes elsewhere.
    pub fn pax_sparse(
        self,
        name: impl AsRef<[u8]>,
        size: u64,
        segments: &[(u64, &[u8])],
    ) -> TarWriter {
        let name = name.as_ref();
        let mut data = format!("{}\n", segments.len()).into_bytes();
        for (offset, bytes) in segments {
            data.extend_from_slice(format!("{offset}\n{}\n", bytes.len()).as_bytes());
        }
        data.resize(data.len().div_ceil(512) * 512, 0);
        for (_, bytes) in segments {
            data.extend_from_slice(bytes);
        }
        self.entry(
            Entry::file([&b"GNUSparseFile.0/"[..], name].concat(), data)
                .pax("GNU.sparse.major", "1")
                .pax("GNU.sparse.minor", "0")
                .pax("GNU.sparse.name", name)
                .pax("GNU.sparse.realsize", size.to_string()),
        )
    }

    /// A sparse file of `size` bytes in the old GNU format (type `S`, what `tar --sparse
    /// --format=gnu` writes) with one data segment at `offset`.
    pub fn gnu_sparse(
        self,
        name: impl AsRef<[u8]>,
        size: u64,
        offset: u64,
        data: &[u8],
    ) -> TarWriter {
        let segment = data.len() as u64;
        self.entry(
            Entry::new(EntryType::GNUSparse, name)
                .data(data)
                .header(move |h| {
                    let gnu = h.as_gnu_mut().expect("a GNU header");
                    octal(&mut gnu.sparse[0].offset, offset);
                    octal(&mut gnu.sparse[0].numbytes, segment);
                    // GNU tar ends the map with an empty segment at the end of the file.
                    octal(&mut gnu.sparse[1].offset, size);
                    octal(&mut gnu.sparse[1].numbytes, 0);
                    octal(&mut gnu.realsize, size);
                }),
        )
    }

    /// Appends `bytes` as they are (a hand-made header, a truncated record), padded to the
    /// next 512-byte block.
    pub fn raw(mut self, bytes: &[u8]) -> TarWriter {
        self.bytes.extend_from_slice(bytes);
        self.pad();
        self
    }

    /// The archive's bytes, with its end-of-archive blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        bytes.resize(bytes.len() + 1024, 0);
        bytes
    }

    fn pad(&mut self) {
        self.bytes.resize(self.bytes.len().div_ceil(512) * 512, 0);
    }

    fn long_record(&mut self, kind: u8, value: &[u8]) {
        let mut data = value.to_vec();
        data.push(0);
        let mut h = Header::new_gnu();
        h.as_gnu_mut().expect("a GNU header").name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(EntryType::new(kind));
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        self.bytes.extend_from_slice(h.as_bytes());
        self.bytes.extend_from_slice(&data);
        self.pad();
    }
}

/// One PAX record, `LEN KEY=VALUE\n`, whose length counts its own digits.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len += 1;
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// `value` in octal, zero-padded, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}", width = field.len() - 1);
    field[..text.len()].copy_from_slice(text.as_bytes());
    field[text.len()] = 0;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;

    /// One entry as the `tar` crate reads it back.
    #[derive(Debug, PartialEq, Eq)]
    struct ReadBack {
        kind: u8,
        link: Vec<u8>,
        data: Vec<u8>,
        mode: u32,
        owner: (u64, u64),
        mtime: u64,
        device: (u32, u32),
        xattrs: BTreeMap<String, Vec<u8>>,
    }

    fn read(archive: &[u8]) -> BTreeMap<Vec<u8>, ReadBack> {
        let mut out = BTreeMap::new();
        let mut archive = tar::Archive::new(archive);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut xattrs = BTreeMap::new();
            if let Some(pax) = entry.pax_extensions().unwrap() {
                for ext in pax {
                    let ext = ext.unwrap();
                    if let Some(name) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                        xattrs.insert(name.to_string(), ext.value_bytes().to_vec());
                    }
                }
            }
            let h = entry.header().clone();
            let name = entry.path_bytes().into_owned();
            let link = entry
                .link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.insert(
                name,
                ReadBack {
                    kind: h.entry_type().as_byte(),
                    link,
                    data,
                    mode: h.mode().unwrap(),
                    owner: (h.uid().unwrap(), h.gid().unwrap()),
                    mtime: h.mtime().unwrap(),
                    // Empty in the headers of entries that are not devices.
                    device: (
                        h.device_major().ok().flatten().unwrap_or(0),
                        h.device_minor().ok().flatten().unwrap_or(0),
                    ),
                    xattrs,
                },
            );
        }
        out
    }

    #[test]
    fn every_kind_of_entry_reads_back_as_written() {
        let long = "d/".repeat(80) + "file";
        let archive = TarWriter::new()
            .dir("etc/")
            .file("etc/a", "a")
            .executable("bin", "\x7fELF")
            .symlink("link", "/etc/a")
            .hard_link("hard", "etc/a")
            .fifo("fifo")
            .device(EntryType::Char, "null", 1, 3)
            .entry(
                Entry::file("owned", "o")
                    .mode(0o4750)
                    .owner(1000, 100)
                    .mtime(1234)
                    .xattr("security.capability", [1, 0, 0, 2]),
            )
            .file(&long, "long")
            .symlink("to-long", &long)
            .whiteout("etc/b")
            .whiteout("top")
            .opaque("opt/")
            .finish();
        let read = read(&archive);
        let names: Vec<String> = read
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(
            names,
            [
                ".wh.top",
                "bin",
                long.as_str(),
                "etc/",
                "etc/.wh.b",
                "etc/a",
                "fifo",
                "hard",
                "link",
                "null",
                "opt/.wh..wh..opq",
                "owned",
                "to-long"
            ]
        );
        let owned = &read[&b"owned"[..]];
        assert_eq!(
            (owned.mode, owned.owner, owned.mtime, &owned.data[..]),
            (0o4750, (1000, 100), 1234, &b"o"[..])
        );
        assert_eq!(owned.xattrs["security.capability"], [1, 0, 0, 2]);
        let etc = &read[&b"etc/"[..]];
        assert_eq!((etc.kind, etc.mode, etc.mtime), (b'5', 0o755, MTIME));
        assert_eq!(read[&b"bin"[..]].mode, 0o755);
        assert_eq!(read[&b"etc/a"[..]].mode, 0o644);
        assert_eq!(read[&b"link"[..]].link, b"/etc/a");
        assert_eq!(read[&b"hard"[..]].kind, b'1');
        assert_eq!(read[&b"fifo"[..]].kind, b'6');
        assert_eq!(read[&b"null"[..]].device, (1, 3));
        assert_eq!(read[long.as_bytes()].data, b"long");
        assert_eq!(read[&b"to-long"[..]].link, long.as_bytes());
    }

    #[test]
    fn hostile_names_are_written_as_given() {
        let archive = TarWriter::new()
            .file("../../escape", "x")
            .file("/absolute", "y")
            .file(b"caf\xe9", "z")
            .finish();
        let names: Vec<Vec<u8>> = tar::Archive::new(archive.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path_bytes().into_owned())
            .collect();
        assert_eq!(
            names,
            [&b"../../escape"[..], b"/absolute", b"caf\xe9"].map(<[u8]>::to_vec)
        );
    }

    #[test]
    fn sparse_files_carry_their_real_name_and_size() {
        let archive = TarWriter::new()
            .pax_sparse("pax", 1 << 20, &[(0, b"head"), ((1 << 20) - 4, b"tail")])
            .gnu_sparse("gnu", 1 << 20, 512, b"data")
            .finish();
        let mut sizes = BTreeMap::new();
        let mut archive = tar::Archive::new(archive.as_slice());
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            sizes.insert(entry.path_bytes().into_owned(), entry.size());
        }
        assert_eq!(sizes[&b"gnu"[..]], 1 << 20);
        // The `tar` crate reads the PAX 1.0 map as data: the entry keeps its stored name.
        assert!(sizes.contains_key(&b"GNUSparseFile.0/pax"[..]), "{sizes:?}");
    }

    #[test]
    fn header_edits_and_raw_bytes_go_in_as_they_are() {
        let archive = TarWriter::new()
            .entry(Entry::file("edited", "x").header(|h| h.set_mode(0o600)))
            .raw(b"not a header")
            .finish();
        assert_eq!(archive.len(), 512 * 3 + 1024);
        assert_eq!(&archive[1024..1036], b"not a header");
        let first = Header::from_byte_slice(&archive[..512]);
        assert_eq!(first.mode().unwrap(), 0o600);
        assert_eq!(first.cksum().unwrap(), {
            let mut h = first.clone();
            h.set_cksum();
            h.cksum().unwrap()
        });
    }

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record("a", b"b"), b"6 a=b\n");
        let record = pax_record("key", &[b'v'; 95]);
        assert_eq!(record.len(), 104);
        assert!(record.starts_with(b"104 key="));
    }
}
