//! Where the dynamic loader looks for a library, in its order: DT_RPATH, `LD_LIBRARY_PATH`,
//! DT_RUNPATH (with `$ORIGIN`, `$LIB` and `$PLATFORM` expanded), the image's ld.so.cache,
//! then the default directories of the object's ABI (glibc's, Debian's multiarch ones and
//! musl's). Gives candidate paths only, reading nothing: the closure keeps the first that
//! exists in the image.

use object::elf::{EM_386, EM_AARCH64, EM_ARM, EM_RISCV, EM_X86_64};

use super::elf::ElfInfo;
use super::ld_cache::LdCache;

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
