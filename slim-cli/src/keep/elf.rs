//! Reads what an ELF file needs at load time, natively, from the image's own bytes: the
//! program interpreter (PT_INTERP), DT_NEEDED libraries, RPATH/RUNPATH, and the image's
//! `/etc/ld.so.cache`. The image may have no `ldd`, and running the image's own tools would
//! need its architecture, so nothing here executes anything.
//!
//! The kernel opens PT_INTERP itself during execve (no syscall is traced for it), and a
//! library can be mapped only when a rarely taken branch runs: this is why the keep set adds
//! the closure rather than trusting the trace alone.

use std::io::{self, Read, Seek, SeekFrom};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// Upper bounds that keep a hostile file from making us allocate without limit.
const MAX_PHDRS: usize = 4096;
const MAX_DYNAMIC_BYTES: u64 = 1 << 20;
const MAX_STRTAB_BYTES: u64 = 16 << 20;
const MAX_INTERP_BYTES: u64 = 4096;

/// What the dynamic loader needs for one ELF file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfInfo {
    pub class64: bool,
    pub little_endian: bool,
    /// `e_machine`: libraries of another machine are not candidates.
    pub machine: u16,
    pub interp: Option<Vec<u8>>,
    pub needed: Vec<Vec<u8>>,
    pub rpath: Vec<Vec<u8>>,
    pub runpath: Vec<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("reading ELF data: {0}")]
    Io(#[from] io::Error),
    #[error("malformed ELF file: {0}")]
    Malformed(&'static str),
}

struct Endian {
    little: bool,
}

impl Endian {
    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.little {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        }
    }
    fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    }
    fn u64(&self, b: &[u8]) -> u64 {
        let a = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
        if self.little {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    }
}

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

fn read_exact_at<R: Read + Seek>(r: &mut R, offset: u64, len: u64) -> Result<Vec<u8>, ElfError> {
    r.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    r.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(ElfError::Malformed(
            "segment extends past the end of the file",
        ));
    }
    Ok(buf)
}

/// Parses the ELF file behind `r`. Returns `None` if it is not an ELF file (or too short to
/// be one), so callers can hand it every kept regular file.
pub fn parse<R: Read + Seek>(r: &mut R) -> Result<Option<ElfInfo>, ElfError> {
    let mut ident = [0u8; 64];
    r.seek(SeekFrom::Start(0))?;
    let mut got = 0;
    while got < ident.len() {
        let n = r.read(&mut ident[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if got < 52 || &ident[..4] != b"\x7fELF" {
        return Ok(None);
    }
    let class64 = match ident[4] {
        1 => false,
        2 => true,
        _ => return Err(ElfError::Malformed("unknown ELF class")),
    };
    let e = Endian {
        little: match ident[5] {
            1 => true,
            2 => false,
            _ => return Err(ElfError::Malformed("unknown ELF byte order")),
        },
    };
    if class64 && got < 64 {
        return Ok(None);
    }
    let machine = e.u16(&ident[18..]);
    let (phoff, phentsize, phnum) = if class64 {
        (
            e.u64(&ident[32..]),
            e.u16(&ident[54..]),
            e.u16(&ident[56..]),
        )
    } else {
        (
            u64::from(e.u32(&ident[28..])),
            e.u16(&ident[42..]),
            e.u16(&ident[44..]),
        )
    };
    let min_entsize = if class64 { 56 } else { 32 };
    if usize::from(phnum) > MAX_PHDRS || (phnum > 0 && usize::from(phentsize) < min_entsize) {
        return Err(ElfError::Malformed("bad program header table"));
    }
    let table = read_exact_at(r, phoff, u64::from(phentsize) * u64::from(phnum))?;
    let segments: Vec<Segment> = table
        .chunks_exact(usize::from(phentsize.max(1)))
        .map(|ph| {
            if class64 {
                Segment {
                    kind: e.u32(ph),
                    offset: e.u64(&ph[8..]),
                    vaddr: e.u64(&ph[16..]),
                    filesz: e.u64(&ph[32..]),
                }
            } else {
                Segment {
                    kind: e.u32(ph),
                    offset: u64::from(e.u32(&ph[4..])),
                    vaddr: u64::from(e.u32(&ph[8..])),
                    filesz: u64::from(e.u32(&ph[16..])),
                }
            }
        })
        .collect();

    let mut info = ElfInfo {
        class64,
        little_endian: e.little,
        machine,
        ..ElfInfo::default()
    };
    if let Some(seg) = segments.iter().find(|s| s.kind == PT_INTERP) {
        let mut bytes = read_exact_at(r, seg.offset, seg.filesz.min(MAX_INTERP_BYTES))?;
        if let Some(end) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(end);
        }
        if !bytes.is_empty() {
            info.interp = Some(bytes);
        }
    }
    let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Ok(Some(info));
    };
    let dynamic = read_exact_at(r, dynamic.offset, dynamic.filesz.min(MAX_DYNAMIC_BYTES))?;
    let entsize = if class64 { 16 } else { 8 };
    let mut entries = Vec::new();
    for ent in dynamic.chunks_exact(entsize) {
        let (tag, val) = if class64 {
            (e.u64(ent), e.u64(&ent[8..]))
        } else {
            (u64::from(e.u32(ent)), u64::from(e.u32(&ent[4..])))
        };
        if tag == DT_NULL {
            break;
        }
        entries.push((tag, val));
    }
    let find = |wanted| entries.iter().find(|(t, _)| *t == wanted).map(|&(_, v)| v);
    let (Some(strtab_vaddr), Some(strsz)) = (find(DT_STRTAB), find(DT_STRSZ)) else {
        return Ok(Some(info));
    };
    // DT_STRTAB is a virtual address: find the loadable segment that maps it. Addresses,
    // sizes and offsets come from the file: no sum of them may overflow.
    let strtab_offset = segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find_map(|s| {
            let into = strtab_vaddr.checked_sub(s.vaddr)?;
            (into < s.filesz).then(|| s.offset.checked_add(into))?
        })
        .ok_or(ElfError::Malformed(
            "DT_STRTAB is not in a loadable segment",
        ))?;
    let strtab = read_exact_at(r, strtab_offset, strsz.min(MAX_STRTAB_BYTES))?;
    let string = |off: u64| -> Option<Vec<u8>> {
        let start = usize::try_from(off).ok()?;
        let rest = strtab.get(start..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(rest[..end].to_vec())
    };
    for &(tag, val) in &entries {
        let Some(s) = string(val) else { continue };
        match tag {
            DT_NEEDED => info.needed.push(s),
            DT_RPATH => info.rpath.extend(split_search_path(&s)),
            DT_RUNPATH => info.runpath.extend(split_search_path(&s)),
            _ => {}
        }
    }
    Ok(Some(info))
}

fn split_search_path(list: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    list.split(|&b| b == b':')
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
}

/// One entry of `/etc/ld.so.cache`: a library's soname, its path and its flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    pub name: Vec<u8>,
    pub path: Vec<u8>,
    pub flags: i32,
}

/// The image's `/etc/ld.so.cache` (glibc's "new" format; the legacy libc5 format is not
/// produced by any glibc still in use).
#[derive(Clone, Debug, Default)]
pub struct LdCache {
    entries: Vec<CacheEntry>,
}

const CACHE_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const CACHE_HEADER: usize = 48;
const CACHE_ENTRY: usize = 24;
/// Type bits of the entry flags that tell which ABI a library is for.
const FLAG_TYPE_MASK: i32 = 0x00ff;
const FLAG_ELF_LIBC6: i32 = 0x0003;
const FLAG_REQUIRED_MASK: i32 = 0xff00;

impl LdCache {
    /// Parses a cache file. A file in an unknown format yields an empty cache: the default
    /// directories still apply, as they do for the dynamic loader.
    pub fn parse(bytes: &[u8]) -> LdCache {
        // Very old caches put the legacy table first and the new one after it.
        let Some(start) = bytes
            .windows(CACHE_MAGIC.len())
            .position(|w| w == CACHE_MAGIC)
        else {
            return LdCache::default();
        };
        let data = &bytes[start..];
        if data.len() < CACHE_HEADER {
            return LdCache::default();
        }
        let nlibs = u32::from_le_bytes([data[20], data[21], data[22], data[23]]) as usize;
        let mut entries = Vec::new();
        for i in 0..nlibs {
            let at = CACHE_HEADER + i * CACHE_ENTRY;
            let Some(ent) = data.get(at..at + CACHE_ENTRY) else {
                break;
            };
            let flags = i32::from_le_bytes([ent[0], ent[1], ent[2], ent[3]]);
            let key = u32::from_le_bytes([ent[4], ent[5], ent[6], ent[7]]) as usize;
            let value = u32::from_le_bytes([ent[8], ent[9], ent[10], ent[11]]) as usize;
            // In the new format string offsets count from the start of the new header.
            let (Some(name), Some(path)) = (c_string(data, key), c_string(data, value)) else {
                continue;
            };
            entries.push(CacheEntry { name, path, flags });
        }
        LdCache { entries }
    }

    pub fn entries(&self) -> &[CacheEntry] {
        &self.entries
    }

    /// The path the cache gives for `name`, for a library matching `object`'s ABI.
    pub fn lookup(&self, name: &[u8], object: &ElfInfo) -> Option<&[u8]> {
        let wanted = cache_flags_for(object);
        self.entries
            .iter()
            .filter(|e| e.name == name)
            .find(|e| match wanted {
                Some(flags) => e.flags & (FLAG_TYPE_MASK | FLAG_REQUIRED_MASK) == flags,
                None => e.flags & FLAG_TYPE_MASK == FLAG_ELF_LIBC6,
            })
            .map(|e| e.path.as_slice())
    }
}

fn c_string(data: &[u8], offset: usize) -> Option<Vec<u8>> {
    let rest = data.get(offset..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(rest[..end].to_vec())
}

const EM_386: u16 = 3;
const EM_ARM: u16 = 40;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;

/// The ld.so.cache flags glibc uses for libraries of `object`'s ABI (see glibc's
/// `_DL_CACHE_DEFAULT_ID`), where known.
fn cache_flags_for(object: &ElfInfo) -> Option<i32> {
    match (object.machine, object.class64) {
        (EM_X86_64, true) => Some(0x0300 | FLAG_ELF_LIBC6),
        (EM_AARCH64, true) => Some(0x0a00 | FLAG_ELF_LIBC6),
        (EM_386, false) | (EM_ARM, false) => Some(FLAG_ELF_LIBC6),
        (EM_RISCV, true) => Some(0x1000 | FLAG_ELF_LIBC6),
        _ => None,
    }
}

/// The Debian multiarch triplet of `object`'s ABI.
fn multiarch_triplet(object: &ElfInfo) -> Option<&'static str> {
    match (object.machine, object.class64) {
        (EM_X86_64, true) => Some("x86_64-linux-gnu"),
        (EM_AARCH64, true) => Some("aarch64-linux-gnu"),
        (EM_386, false) => Some("i386-linux-gnu"),
        (EM_ARM, false) => Some("arm-linux-gnueabihf"),
        (EM_RISCV, true) => Some("riscv64-linux-gnu"),
        _ => None,
    }
}

/// Directories searched after the cache: glibc's trusted directories for the ABI (on
/// Debian-like systems the multiarch ones) and musl's defaults.
pub fn default_dirs(object: &ElfInfo) -> Vec<Vec<u8>> {
    let mut dirs = Vec::new();
    if let Some(triplet) = multiarch_triplet(object) {
        dirs.push(format!("/lib/{triplet}").into_bytes());
        dirs.push(format!("/usr/lib/{triplet}").into_bytes());
    }
    if object.class64 {
        dirs.push(b"/lib64".to_vec());
        dirs.push(b"/usr/lib64".to_vec());
    }
    dirs.extend([
        b"/lib".to_vec(),
        b"/usr/lib".to_vec(),
        b"/usr/local/lib".to_vec(),
    ]);
    dirs
}

/// Expands `$ORIGIN`, `$LIB` and `$PLATFORM` (also in `${...}` form) in an RPATH/RUNPATH
/// entry. `origin` is the directory of the object that carries the entry.
pub fn expand_dst(entry: &[u8], origin: &[u8], object: &ElfInfo) -> Vec<u8> {
    let lib: &[u8] = if object.class64 { b"lib64" } else { b"lib" };
    let platform: &[u8] = match object.machine {
        EM_X86_64 => b"x86_64",
        EM_AARCH64 => b"aarch64",
        EM_386 => b"i686",
        _ => b"",
    };
    let mut out = Vec::with_capacity(entry.len());
    let mut i = 0;
    while i < entry.len() {
        if entry[i] == b'$' {
            let rest = &entry[i + 1..];
            let mut matched = false;
            for (name, value) in [
                (&b"ORIGIN"[..], origin),
                (b"LIB", lib),
                (b"PLATFORM", platform),
            ] {
                let braced = [b"{", name, b"}"].concat();
                let len = if rest.starts_with(&braced) {
                    braced.len()
                } else if rest.starts_with(name)
                    && !rest
                        .get(name.len())
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    name.len()
                } else {
                    continue;
                };
                out.extend_from_slice(value);
                i += 1 + len;
                matched = true;
                break;
            }
            if matched {
                continue;
            }
        }
        out.push(entry[i]);
        i += 1;
    }
    out
}

/// Where the dynamic loader looks for `needed`, in its order: DT_RPATH (of the object and
/// of the executable, only when the object has no DT_RUNPATH), `LD_LIBRARY_PATH`,
/// DT_RUNPATH, the cache, the default directories. A name containing a slash is a path.
pub fn candidates(
    needed: &[u8],
    object: &ElfInfo,
    object_path: &[u8],
    executable_rpath: &[Vec<u8>],
    ld_library_path: &[Vec<u8>],
    cache: &LdCache,
) -> Vec<Vec<u8>> {
    if needed.contains(&b'/') {
        return vec![needed.to_vec()];
    }
    let origin = match object_path.iter().rposition(|&b| b == b'/') {
        Some(0) => b"/".to_vec(),
        Some(i) => object_path[..i].to_vec(),
        None => b".".to_vec(),
    };
    let join = |dir: &[u8]| {
        let mut p = dir.to_vec();
        if !p.ends_with(b"/") {
            p.push(b'/');
        }
        p.extend_from_slice(needed);
        p
    };
    let mut out = Vec::new();
    if object.runpath.is_empty() {
        for dir in object.rpath.iter().chain(executable_rpath) {
            out.push(join(&expand_dst(dir, &origin, object)));
        }
    }
    out.extend(ld_library_path.iter().map(|d| join(d)));
    for dir in &object.runpath {
        out.push(join(&expand_dst(dir, &origin, object)));
    }
    if let Some(path) = cache.lookup(needed, object) {
        out.push(path.to_vec());
    }
    out.extend(default_dirs(object).iter().map(|d| join(d)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn host_file(path: &str) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }

    #[test]
    fn a_host_executable_names_its_interpreter_and_libc() {
        let Some(bytes) = host_file("/bin/ls") else {
            return;
        };
        let info = parse(&mut Cursor::new(bytes)).unwrap().expect("ELF");
        assert!(
            info.interp
                .as_deref()
                .is_some_and(|i| i.starts_with(b"/lib"))
        );
        assert!(info.needed.iter().any(|n| n.starts_with(b"libc.so")));
    }

    #[test]
    fn not_an_elf_file_is_none() {
        assert_eq!(
            parse(&mut Cursor::new(b"#!/bin/sh\necho hi\n".to_vec())).unwrap(),
            None
        );
        assert_eq!(parse(&mut Cursor::new(Vec::new())).unwrap(), None);
    }

    #[test]
    fn truncated_elf_is_an_error_not_a_panic() {
        let Some(bytes) = host_file("/bin/ls") else {
            return;
        };
        for len in [64, 100, 500, 2000] {
            let _ = parse(&mut Cursor::new(bytes[..len].to_vec()));
        }
    }

    #[test]
    fn the_host_cache_resolves_libc_for_a_host_binary() {
        let (Some(cache), Some(ls)) = (host_file("/etc/ld.so.cache"), host_file("/bin/ls")) else {
            return;
        };
        let cache = LdCache::parse(&cache);
        assert!(!cache.entries().is_empty());
        let info = parse(&mut Cursor::new(ls)).unwrap().unwrap();
        let path = cache.lookup(b"libc.so.6", &info).expect("libc in cache");
        assert!(path.ends_with(b"/libc.so.6"));
    }

    /// Found by fuzzing (`elf_reader`): a PT_LOAD segment whose file offset plus the
    /// DT_STRTAB address within it passes `u64::MAX` overflowed instead of being rejected.
    #[test]
    fn elf_load_segment_offset_overflow_is_malformed_not_a_panic() {
        let bytes = include_bytes!("testdata/elf-load-segment-offset-overflow.bin");
        assert!(matches!(
            parse(&mut Cursor::new(&bytes[..])),
            Err(ElfError::Malformed(_))
        ));
    }

    #[test]
    fn dynamic_string_tokens_expand() {
        let info = ElfInfo {
            class64: true,
            machine: EM_X86_64,
            ..ElfInfo::default()
        };
        assert_eq!(
            expand_dst(b"$ORIGIN/../lib", b"/opt/app/bin", &info),
            b"/opt/app/bin/../lib"
        );
        assert_eq!(expand_dst(b"${ORIGIN}/x", b"/a", &info), b"/a/x");
        assert_eq!(expand_dst(b"/usr/$LIB", b"/a", &info), b"/usr/lib64");
        assert_eq!(expand_dst(b"$ORIGINAL", b"/a", &info), b"$ORIGINAL");
    }

    #[test]
    fn search_order_is_rpath_env_runpath_cache_defaults() {
        let object = ElfInfo {
            class64: true,
            machine: EM_X86_64,
            runpath: vec![b"$ORIGIN/lib".to_vec()],
            ..ElfInfo::default()
        };
        let c = candidates(
            b"libfoo.so.1",
            &object,
            b"/app/bin/tool",
            &[b"/ignored-rpath".to_vec()],
            &[b"/env".to_vec()],
            &LdCache::default(),
        );
        assert_eq!(c[0], b"/env/libfoo.so.1");
        assert_eq!(c[1], b"/app/bin/lib/libfoo.so.1");
        assert_eq!(c[2], b"/lib/x86_64-linux-gnu/libfoo.so.1");
        assert!(!c.iter().any(|p| p.starts_with(b"/ignored-rpath")));
        assert_eq!(
            candidates(b"./x.so", &object, b"/a", &[], &[], &LdCache::default()),
            vec![b"./x.so".to_vec()]
        );
    }
}
