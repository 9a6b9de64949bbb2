//! Reads what an ELF file needs at load time from the image's own bytes: the program
//! interpreter (PT_INTERP), DT_NEEDED libraries and RPATH/RUNPATH. The image may have no
//! `ldd`, and running the image's own tools would need its architecture, so nothing here
//! executes anything.
//!
//! The `object` crate parses the file and program headers; the dynamic section is found
//! and read through the program headers, as the dynamic loader does (a stripped file may
//! have no section headers). Untrusted input: a malformed file is an error, never a panic,
//! and what is read is bounded. Where the loader then looks for each library is
//! `library_search`.

use std::io::{self, Read, Seek, SeekFrom};

use object::elf::{
    DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_STRSZ, DT_STRTAB, ELFCLASS32, ELFCLASS64,
    ELFDATA2LSB, ELFDATA2MSB, FileHeader32, FileHeader64, PT_DYNAMIC, PT_INTERP, PT_LOAD,
};
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, ReadCache, ReadRef};

/// Upper bounds that keep a hostile file from making us allocate without limit.
const MAX_DYNAMIC_BYTES: u64 = 1 << 20;
const MAX_STRTAB_BYTES: u64 = 16 << 20;
const MAX_INTERP_BYTES: u64 = 4096;
/// Bytes of the file header: 52 for 32-bit files, 64 for 64-bit ones.
const HEADER32_BYTES: usize = 52;
const HEADER64_BYTES: usize = 64;

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

/// Parses the ELF file behind `r`. Returns `None` if it is not an ELF file (or too short to
/// be one), so callers can hand it every kept regular file.
pub fn parse<R: Read + Seek>(r: &mut R) -> Result<Option<ElfInfo>, ElfError> {
    // The identification is read here, not by `object`, so that a file that is no ELF file
    // is `None` rather than an error, and an I/O error stays one.
    let mut ident = [0u8; HEADER64_BYTES];
    r.seek(SeekFrom::Start(0))?;
    let mut got = 0;
    while got < ident.len() {
        let n = r.read(&mut ident[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if got < HEADER32_BYTES || ident[..4] != object::elf::ELFMAG {
        return Ok(None);
    }
    let class64 = match ident[4] {
        ELFCLASS32 => false,
        ELFCLASS64 => true,
        _ => return Err(ElfError::Malformed("unknown ELF class")),
    };
    if !matches!(ident[5], ELFDATA2LSB | ELFDATA2MSB) {
        return Err(ElfError::Malformed("unknown ELF byte order"));
    }
    if class64 && got < HEADER64_BYTES {
        return Ok(None);
    }
    // Reads only the ranges asked for, each at most once: a library of hundreds of
    // megabytes is never read whole.
    let data = ReadCache::new(r);
    let info = if class64 {
        read::<FileHeader64<Endianness>, _>(&data)?
    } else {
        read::<FileHeader32<Endianness>, _>(&data)?
    };
    Ok(Some(info))
}

fn read<'data, Elf, R>(data: R) -> Result<ElfInfo, ElfError>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let header = Elf::parse(data).map_err(|_| ElfError::Malformed("unsupported ELF header"))?;
    let endian = header
        .endian()
        .map_err(|_| ElfError::Malformed("unknown ELF byte order"))?;
    let segments = header
        .program_headers(endian, data)
        .map_err(|_| ElfError::Malformed("bad program header table"))?;
    let mut info = ElfInfo {
        class64: header.is_class_64(),
        little_endian: header.is_little_endian(),
        machine: header.e_machine(endian),
        ..ElfInfo::default()
    };
    if let Some(segment) = segments.iter().find(|s| s.p_type(endian) == PT_INTERP) {
        let (offset, size) = segment.file_range(endian);
        let mut bytes = read_at(data, offset, size.min(MAX_INTERP_BYTES))?;
        if let Some(end) = bytes.iter().position(|&b| b == 0) {
            bytes = &bytes[..end];
        }
        if !bytes.is_empty() {
            info.interp = Some(bytes.to_vec());
        }
    }
    let Some(dynamic) = segments.iter().find(|s| s.p_type(endian) == PT_DYNAMIC) else {
        return Ok(info);
    };
    let (offset, size) = dynamic.file_range(endian);
    let bytes = read_at(data, offset, size.min(MAX_DYNAMIC_BYTES))?;
    let count = bytes.len() / size_of::<Elf::Dyn>();
    let (dynamic, _) = object::pod::slice_from_bytes::<Elf::Dyn>(bytes, count)
        .map_err(|()| ElfError::Malformed("misaligned dynamic segment"))?;
    let entries: Vec<(i64, u64)> = dynamic
        .iter()
        .map(|d| (d.tag(endian), d.val(endian)))
        .take_while(|&(tag, _)| tag != DT_NULL)
        .collect();
    let find = |wanted: i64| {
        entries
            .iter()
            .find(|(tag, _)| *tag == wanted)
            .map(|&(_, value)| value)
    };
    let (Some(strtab_vaddr), Some(strsz)) = (find(DT_STRTAB), find(DT_STRSZ)) else {
        return Ok(info);
    };
    // DT_STRTAB is a virtual address: find the loadable segment that maps it. Addresses,
    // sizes and offsets come from the file: no sum of them may overflow.
    let strtab_offset = segments
        .iter()
        .filter(|s| s.p_type(endian) == PT_LOAD)
        .find_map(|s| {
            let (offset, filesz) = s.file_range(endian);
            let into = strtab_vaddr.checked_sub(s.p_vaddr(endian).into())?;
            (into < filesz).then(|| offset.checked_add(into))?
        })
        .ok_or(ElfError::Malformed(
            "DT_STRTAB is not in a loadable segment",
        ))?;
    let strtab = read_at(data, strtab_offset, strsz.min(MAX_STRTAB_BYTES))?;
    let string = |offset: u64| -> Option<Vec<u8>> {
        let rest = strtab.get(usize::try_from(offset).ok()?..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(rest[..end].to_vec())
    };
    for &(tag, value) in &entries {
        let Some(s) = string(value) else { continue };
        match tag {
            DT_NEEDED => info.needed.push(s),
            DT_RPATH => info.rpath.extend(split_search_path(&s)),
            DT_RUNPATH => info.runpath.extend(split_search_path(&s)),
            _ => {}
        }
    }
    Ok(info)
}

fn read_at<'data, R: ReadRef<'data>>(
    data: R,
    offset: u64,
    len: u64,
) -> Result<&'data [u8], ElfError> {
    data.read_bytes_at(offset, len)
        .map_err(|()| ElfError::Malformed("segment extends past the end of the file"))
}

fn split_search_path(list: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    list.split(|&b| b == b':')
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keep::test_files::{ElfSpec, elf};
    use std::io::Cursor;

    fn parse_bytes(bytes: &[u8]) -> Result<Option<ElfInfo>, ElfError> {
        parse(&mut Cursor::new(bytes))
    }

    fn tool() -> Vec<u8> {
        elf(&ElfSpec {
            interp: Some("/lib64/ld-linux-x86-64.so.2"),
            needed: &["libfoo.so.1", "libc.so.6"],
            runpath: Some("$ORIGIN/../lib:/opt/lib"),
            ..ElfSpec::x86_64()
        })
    }

    #[test]
    fn an_executable_names_its_interpreter_libraries_and_runpath() {
        let info = parse_bytes(&tool()).unwrap().expect("ELF");
        assert_eq!(
            info,
            ElfInfo {
                class64: true,
                little_endian: true,
                machine: object::elf::EM_X86_64,
                interp: Some(b"/lib64/ld-linux-x86-64.so.2".to_vec()),
                needed: vec![b"libfoo.so.1".to_vec(), b"libc.so.6".to_vec()],
                rpath: Vec::new(),
                runpath: vec![b"$ORIGIN/../lib".to_vec(), b"/opt/lib".to_vec()],
            }
        );
    }

    #[test]
    fn a_32_bit_big_endian_library_names_its_rpath() {
        let bytes = elf(&ElfSpec {
            class64: false,
            little_endian: false,
            machine: object::elf::EM_ARM,
            needed: &["libm.so.6"],
            rpath: Some("/usr/local/lib"),
            ..ElfSpec::x86_64()
        });
        let info = parse_bytes(&bytes).unwrap().expect("ELF");
        assert!(!info.class64 && !info.little_endian);
        assert_eq!(info.machine, object::elf::EM_ARM);
        assert_eq!(info.interp, None);
        assert_eq!(info.needed, vec![b"libm.so.6".to_vec()]);
        assert_eq!(info.rpath, vec![b"/usr/local/lib".to_vec()]);
    }

    #[test]
    fn not_an_elf_file_is_none() {
        assert_eq!(parse_bytes(b"#!/bin/sh\necho hi\n").unwrap(), None);
        assert_eq!(parse_bytes(b"").unwrap(), None);
    }

    #[test]
    fn truncated_elf_is_an_error_not_a_panic() {
        let bytes = tool();
        for len in 0..bytes.len() {
            let parsed = parse_bytes(&bytes[..len]);
            if len < 64 {
                assert!(
                    matches!(parsed, Ok(None)),
                    "{len} bytes: too short to be ELF"
                );
            } else {
                assert!(
                    matches!(parsed, Err(ElfError::Malformed(_))),
                    "{len} bytes: {parsed:?}"
                );
            }
        }
        assert!(parse_bytes(&bytes).unwrap().is_some());
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
}
