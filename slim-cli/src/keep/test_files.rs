//! Small files the keep tests build instead of reading the host's: a dynamic ELF file with
//! the load-time fields the closure reads, and a glibc `ld.so.cache`. Written byte by byte,
//! independently of the reader under test, so the tests run the same on every machine.
//! And the index of an image of small text files.

use object::elf::{DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_STRSZ, DT_STRTAB};

/// What an ELF file built by `elf` declares.
#[derive(Clone, Debug)]
pub struct ElfSpec<'a> {
    pub class64: bool,
    pub little_endian: bool,
    pub machine: u16,
    pub interp: Option<&'a str>,
    pub needed: &'a [&'a str],
    pub rpath: Option<&'a str>,
    pub runpath: Option<&'a str>,
}

impl ElfSpec<'_> {
    /// A 64-bit little-endian x86-64 file that declares nothing.
    pub fn x86_64() -> Self {
        ElfSpec {
            class64: true,
            little_endian: true,
            machine: object::elf::EM_X86_64,
            interp: None,
            needed: &[],
            rpath: None,
            runpath: None,
        }
    }
}

/// A minimal dynamic ELF file: the file header, PT_INTERP (when there is one), one PT_LOAD
/// over the whole file and PT_DYNAMIC with DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_STRTAB and
/// DT_STRSZ. Virtual addresses equal file offsets.
pub fn elf(spec: &ElfSpec) -> Vec<u8> {
    let word = |out: &mut Vec<u8>, v: u64| match (spec.class64, spec.little_endian) {
        (true, true) => out.extend_from_slice(&v.to_le_bytes()),
        (true, false) => out.extend_from_slice(&v.to_be_bytes()),
        (false, true) => out.extend_from_slice(&u32::try_from(v).unwrap().to_le_bytes()),
        (false, false) => out.extend_from_slice(&u32::try_from(v).unwrap().to_be_bytes()),
    };
    let half = |out: &mut Vec<u8>, v: u16| {
        out.extend_from_slice(&if spec.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        })
    };
    let int = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if spec.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        })
    };

    let mut strtab = vec![0u8];
    let mut string = |s: &str| {
        let at = strtab.len() as u64;
        strtab.extend_from_slice(s.as_bytes());
        strtab.push(0);
        at
    };
    let mut dynamic: Vec<(i64, u64)> = Vec::new();
    for name in spec.needed {
        dynamic.push((DT_NEEDED, string(name)));
    }
    if let Some(rpath) = spec.rpath {
        dynamic.push((DT_RPATH, string(rpath)));
    }
    if let Some(runpath) = spec.runpath {
        dynamic.push((DT_RUNPATH, string(runpath)));
    }
    let interp: Vec<u8> = spec
        .interp
        .map(|i| [i.as_bytes(), b"\0"].concat())
        .unwrap_or_default();

    let (ehsize, phentsize, dynsize) = if spec.class64 {
        (64u64, 56u64, 16u64)
    } else {
        (52, 32, 8)
    };
    let phnum = if spec.interp.is_some() { 3 } else { 2 };
    let interp_off = ehsize + phentsize * phnum;
    let strtab_off = interp_off + interp.len() as u64;
    let dyn_off = (strtab_off + strtab.len() as u64).next_multiple_of(8);
    dynamic.push((DT_STRTAB, strtab_off));
    dynamic.push((DT_STRSZ, strtab.len() as u64));
    dynamic.push((DT_NULL, 0));
    let dyn_bytes = dynamic.len() as u64 * dynsize;
    let total = dyn_off + dyn_bytes;

    let mut out = b"\x7fELF".to_vec();
    out.push(if spec.class64 { 2 } else { 1 });
    out.push(if spec.little_endian { 1 } else { 2 });
    out.push(1); // EV_CURRENT
    out.resize(16, 0);
    half(&mut out, 3); // ET_DYN
    half(&mut out, spec.machine);
    int(&mut out, 1); // EV_CURRENT
    word(&mut out, 0); // entry
    word(&mut out, ehsize); // program headers right after the file header
    word(&mut out, 0); // no section headers
    int(&mut out, 0); // flags
    half(&mut out, ehsize as u16);
    half(&mut out, phentsize as u16);
    half(&mut out, phnum as u16);
    half(&mut out, 0);
    half(&mut out, 0);
    half(&mut out, 0);
    assert_eq!(out.len() as u64, ehsize);

    let mut segments = Vec::new();
    if spec.interp.is_some() {
        segments.push((object::elf::PT_INTERP, interp_off, interp.len() as u64));
    }
    segments.push((object::elf::PT_LOAD, 0, total));
    segments.push((object::elf::PT_DYNAMIC, dyn_off, dyn_bytes));
    for (kind, offset, size) in segments {
        if spec.class64 {
            int(&mut out, kind);
            int(&mut out, 4); // PF_R
            for v in [offset, offset, offset, size, size, 8] {
                word(&mut out, v);
            }
        } else {
            int(&mut out, kind);
            for v in [offset, offset, offset, size, size] {
                word(&mut out, v);
            }
            int(&mut out, 4); // PF_R
            word(&mut out, 8);
        }
    }
    out.extend_from_slice(&interp);
    out.extend_from_slice(&strtab);
    out.resize(dyn_off as usize, 0);
    for (tag, value) in dynamic {
        word(&mut out, tag as u64);
        word(&mut out, value);
    }
    assert_eq!(out.len() as u64, total);
    out
}

/// glibc's `ld.so.cache` (the new format) listing `(name, path, flags)`.
pub fn ld_cache(entries: &[(&str, &str, i32)]) -> Vec<u8> {
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    let strings_at = HEADER + ENTRY * entries.len();
    let mut strings = Vec::new();
    let mut table = Vec::new();
    for (name, path, flags) in entries {
        let key = strings_at + strings.len();
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
        let value = strings_at + strings.len();
        strings.extend_from_slice(path.as_bytes());
        strings.push(0);
        table.extend_from_slice(&flags.to_le_bytes());
        table.extend_from_slice(&u32::try_from(key).unwrap().to_le_bytes());
        table.extend_from_slice(&u32::try_from(value).unwrap().to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes()); // osversion
        table.extend_from_slice(&0u64.to_le_bytes()); // hwcap
    }
    let mut out = b"glibc-ld.so.cache1.1".to_vec();
    out.extend_from_slice(&u32::try_from(entries.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&u32::try_from(strings.len()).unwrap().to_le_bytes());
    out.resize(HEADER, 0);
    out.extend_from_slice(&table);
    out.extend_from_slice(&strings);
    out
}

/// The cache flags of an x86-64 glibc library (`FLAG_ELF_LIBC6 | FLAG_X8664_LIB64`).
pub const X86_64_LIBC6: i32 = 0x0303;

/// The index of a one-layer image holding `files` (path, text), written in a scratch
/// directory named after `name` (kept alive by the returned handle).
pub fn index_of<S: AsRef<str>>(
    name: &str,
    files: &[(S, S)],
) -> (crate::image::index::FsIndex, slim_test_kit::ScratchDir) {
    let dir = slim_test_kit::ScratchDir::new(name);
    let layer = files
        .iter()
        .fold(slim_test_kit::TarWriter::new(), |layer, (path, content)| {
            layer.file(path.as_ref(), content.as_ref())
        });
    let index =
        crate::image::index::FsIndex::from_layers(&[dir.write("layer.tar", layer.finish())])
            .unwrap();
    (index, dir)
}
