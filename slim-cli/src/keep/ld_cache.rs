//! The image's own `/etc/ld.so.cache`: where glibc's dynamic loader finds a library by its
//! name before the default directories. Parsed natively from the image's bytes (the image
//! may have no `ldconfig`, and its cache, not the host's, is what its loader reads).
//!
//! Untrusted input: an entry that points outside the file is skipped, never a panic. Reads
//! only the bytes it is given.

use object::elf::{EM_386, EM_AARCH64, EM_ARM, EM_RISCV, EM_X86_64};

use super::elf::ElfInfo;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keep::test_files::{X86_64_LIBC6, ld_cache};

    fn x86_64() -> ElfInfo {
        ElfInfo {
            class64: true,
            little_endian: true,
            machine: EM_X86_64,
            ..ElfInfo::default()
        }
    }

    #[test]
    fn the_image_cache_gives_the_library_of_the_objects_abi() {
        let bytes = ld_cache(&[
            ("libc.so.6", "/lib/i386-linux-gnu/libc.so.6", FLAG_ELF_LIBC6),
            ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", X86_64_LIBC6),
        ]);
        let cache = LdCache::parse(&bytes);
        assert_eq!(cache.entries().len(), 2);
        assert_eq!(
            cache.lookup(b"libc.so.6", &x86_64()),
            Some(&b"/lib/x86_64-linux-gnu/libc.so.6"[..])
        );
        let i386 = ElfInfo {
            machine: EM_386,
            ..ElfInfo::default()
        };
        assert_eq!(
            cache.lookup(b"libc.so.6", &i386),
            Some(&b"/lib/i386-linux-gnu/libc.so.6"[..])
        );
        assert_eq!(cache.lookup(b"libm.so.6", &x86_64()), None);
    }

    #[test]
    fn a_truncated_or_foreign_cache_is_smaller_not_a_panic() {
        let bytes = ld_cache(&[
            ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", X86_64_LIBC6),
            ("libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6", X86_64_LIBC6),
        ]);
        for len in 0..bytes.len() {
            assert!(
                LdCache::parse(&bytes[..len]).entries().len() < 2,
                "{len} bytes"
            );
        }
        assert!(
            LdCache::parse(b"ld.so-1.7.0 and nothing else")
                .entries()
                .is_empty()
        );
    }
}
