//! The project's one path normaliser: joins a base directory and a path, then removes
//! `//`, `.` and `..` lexically.
//!
//! Symlinks are never resolved here (that needs the image's filesystem, which the keep-set
//! stage has), and paths are bytes, not strings: a container may hold non-UTF-8 names.

/// Lexically normalises a path taken as rooted at `/`: empty components and `.` are
/// dropped, `..` removes the component before it and never climbs above `/`, and the
/// result is absolute without a trailing slash (`/` for the root itself).
pub fn normalize(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for part in parts {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    out
}

/// Resolves `path` against the absolute directory `base` as the kernel would, minus
/// symlinks: an absolute `path` ignores `base`, a relative one (including the empty path,
/// which names `base` itself) is appended to it; the result is [`normalize`]d.
pub fn resolve(base: &[u8], path: &[u8]) -> Vec<u8> {
    if path.first() == Some(&b'/') {
        return normalize(path);
    }
    let mut joined = Vec::with_capacity(base.len() + path.len() + 2);
    joined.push(b'/');
    joined.extend_from_slice(base);
    joined.push(b'/');
    joined.extend_from_slice(path);
    normalize(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_dots_and_doubled_slashes() {
        assert_eq!(normalize(b"/etc//passwd"), b"/etc/passwd");
        assert_eq!(normalize(b"/etc/./passwd"), b"/etc/passwd");
        assert_eq!(normalize(b"/bin/../etc/passwd"), b"/etc/passwd");
        assert_eq!(normalize(b"/usr/lib/"), b"/usr/lib");
        assert_eq!(normalize(b"/a/b/c/../../d"), b"/a/d");
    }

    #[test]
    fn normalize_never_climbs_above_the_root() {
        assert_eq!(normalize(b"/.."), b"/");
        assert_eq!(normalize(b"/../../etc/../.."), b"/");
        assert_eq!(normalize(b"/../etc"), b"/etc");
        assert_eq!(normalize(b"/"), b"/");
        assert_eq!(normalize(b""), b"/");
        assert_eq!(normalize(b"//"), b"/");
    }

    #[test]
    fn normalize_keeps_names_that_only_look_like_dots() {
        assert_eq!(normalize(b"/a/.../b"), b"/a/.../b");
        assert_eq!(normalize(b"/a/..b/.c"), b"/a/..b/.c");
    }

    #[test]
    fn normalize_keeps_non_utf8_bytes() {
        assert_eq!(normalize(b"/tmp/\xff\xfe/../x\x80"), b"/tmp/x\x80");
    }

    #[test]
    fn resolve_joins_relative_paths_to_the_base() {
        assert_eq!(resolve(b"/etc", b"passwd"), b"/etc/passwd");
        assert_eq!(resolve(b"/etc/", b"./ssl/../passwd"), b"/etc/passwd");
        assert_eq!(resolve(b"/", b"etc"), b"/etc");
        assert_eq!(resolve(b"/usr/bin", b"../../.."), b"/");
    }

    #[test]
    fn resolve_empty_path_is_the_base_itself() {
        assert_eq!(resolve(b"/var/lib", b""), b"/var/lib");
        assert_eq!(resolve(b"/", b""), b"/");
    }

    #[test]
    fn resolve_ignores_the_base_for_absolute_paths() {
        assert_eq!(resolve(b"/etc", b"/bin/sh"), b"/bin/sh");
        assert_eq!(resolve(b"/etc", b"//bin//./sh"), b"/bin/sh");
    }

    #[test]
    fn resolve_treats_a_relative_base_as_rooted() {
        // Base::Truncated carries only the innermost part of a directory.
        assert_eq!(resolve(b"inner/dir", b"f"), b"/inner/dir/f");
    }
}
