//! Alpine's package database, `/lib/apk/db/installed`: one stanza a package, of `K:value`
//! lines, in which `F:` opens a directory (relative to `/`) and each `R:` names a file in
//! it, followed by that file's own lines (`a:`/`M:` ownership, `Z:` checksum). Read and
//! trimmed to the paths the new image keeps; the input comes from the image and is not
//! trusted, so the parser never fails.

/// One package of the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApkPackage<'a> {
    /// The lines before its first `F:` or `R:` (name, version, architecture, …).
    pub header: Vec<&'a [u8]>,
    /// Its directories, each with its own lines and its files.
    pub dirs: Vec<ApkDir<'a>>,
}

/// One `F:` block; `path` is empty for files at the root (an `R:` before any `F:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApkDir<'a> {
    pub path: &'a [u8],
    /// The `F:` line and the lines about the directory itself (`M:`), absent at the root.
    pub lines: Vec<&'a [u8]>,
    pub files: Vec<ApkFile<'a>>,
}

/// One `R:` entry with the lines that follow it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApkFile<'a> {
    pub name: &'a [u8],
    pub lines: Vec<&'a [u8]>,
}

impl<'a> ApkPackage<'a> {
    /// The value of the header field `key` (`P` name, `V` version, `A` architecture).
    pub fn get(&self, key: u8) -> Option<&'a [u8]> {
        self.header
            .iter()
            .find(|l| l.len() >= 2 && l[0] == key && l[1] == b':')
            .map(|l| &l[2..])
    }

    /// Every file's absolute path.
    pub fn files(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.dirs
            .iter()
            .flat_map(|d| d.files.iter().map(move |f| absolute(d.path, f.name)))
    }

    /// The stanza narrowed to the files `keep` accepts and the directories that hold them
    /// or a directory that does; `None` when no file is left.
    pub fn trimmed(&self, keep: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let kept: Vec<(usize, Vec<&ApkFile<'a>>)> = self
            .dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    i,
                    d.files
                        .iter()
                        .filter(|f| keep(&absolute(d.path, f.name)))
                        .collect(),
                )
            })
            .collect();
        if kept.iter().all(|(_, files)| files.is_empty()) {
            return None;
        }
        let holding: Vec<&[u8]> = kept
            .iter()
            .filter(|(_, files)| !files.is_empty())
            .map(|(i, _)| self.dirs[*i].path)
            .collect();
        let mut out = Vec::new();
        let mut line = |l: &[u8]| {
            out.extend_from_slice(l);
            out.push(b'\n');
        };
        for l in &self.header {
            line(l);
        }
        for (i, files) in &kept {
            let dir = &self.dirs[*i];
            let above = holding.iter().any(|h| {
                *h == dir.path
                    || dir.path.is_empty()
                    || (h.starts_with(dir.path) && h.get(dir.path.len()) == Some(&b'/'))
            });
            if !above {
                continue;
            }
            for l in &dir.lines {
                line(l);
            }
            for file in files {
                for l in &file.lines {
                    line(l);
                }
            }
        }
        Some(out)
    }
}

fn absolute(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(dir.len() + name.len() + 2);
    path.push(b'/');
    if !dir.is_empty() {
        path.extend_from_slice(dir.trim_ascii_end().strip_suffix(b"/").unwrap_or(dir));
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// The packages of an `installed` file (stanzas separated by blank lines).
pub fn parse_installed(text: &[u8]) -> Vec<ApkPackage<'_>> {
    let mut packages = Vec::new();
    let mut current = ApkPackage::default();
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if !current.header.is_empty() || !current.dirs.is_empty() {
                packages.push(std::mem::take(&mut current));
            }
            continue;
        }
        match line {
            [b'F', b':', path @ ..] => current.dirs.push(ApkDir {
                path,
                lines: vec![line],
                files: Vec::new(),
            }),
            [b'R', b':', name @ ..] => {
                if current.dirs.is_empty() {
                    current.dirs.push(ApkDir::default());
                }
                let dir = current.dirs.last_mut().expect("one was pushed");
                dir.files.push(ApkFile {
                    name,
                    lines: vec![line],
                });
            }
            _ => match current.dirs.last_mut() {
                None => current.header.push(line),
                Some(dir) => match dir.files.last_mut() {
                    Some(file) => file.lines.push(line),
                    None => dir.lines.push(line),
                },
            },
        }
    }
    if !current.header.is_empty() || !current.dirs.is_empty() {
        packages.push(current);
    }
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &[u8] = b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\
F:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1xyz=\nR:libc.musl-x86_64.so.1\na:0:0:777\n\n\
P:busybox\nV:1.36.1-r5\nA:x86_64\nF:bin\nR:busybox\nZ:Q1bb=\nF:etc\nM:0:0:755\nF:etc/busybox-paths.d\nR:busybox\n\
F:usr\nF:usr/share\nF:usr/share/doc\nR:README\n\nP:empty\nV:1\n";

    #[test]
    fn installed_packages_dirs_and_files() {
        let packages = parse_installed(INSTALLED);
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[0].get(b'P'), Some(&b"musl"[..]));
        assert_eq!(packages[1].get(b'V'), Some(&b"1.36.1-r5"[..]));
        let files: Vec<Vec<u8>> = packages[1].files().collect();
        assert_eq!(
            files,
            vec![
                b"/bin/busybox".to_vec(),
                b"/etc/busybox-paths.d/busybox".to_vec(),
                b"/usr/share/doc/README".to_vec()
            ]
        );
        assert_eq!(packages[2].files().count(), 0);
    }

    #[test]
    fn a_trimmed_package_keeps_its_header_kept_files_and_the_dirs_above_them() {
        let packages = parse_installed(INSTALLED);
        let kept = packages[1]
            .trimmed(|p| p == b"/etc/busybox-paths.d/busybox")
            .unwrap();
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            "P:busybox\nV:1.36.1-r5\nA:x86_64\nF:etc\nM:0:0:755\nF:etc/busybox-paths.d\nR:busybox\n"
        );
        let musl = packages[0]
            .trimmed(|p| p == b"/lib/ld-musl-x86_64.so.1")
            .unwrap();
        assert_eq!(
            String::from_utf8(musl).unwrap(),
            "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1xyz=\n"
        );
        assert_eq!(packages[1].trimmed(|_| false), None);
        assert_eq!(packages[2].trimmed(|_| true), None);
    }

    #[test]
    fn arbitrary_lines_never_panic() {
        for text in [&b""[..], b"\n\n", b"R:\nF:\nR:x", b"a:b\nZ:\nF:/\nR:/"] {
            for package in parse_installed(text) {
                let _ = package.files().count();
                let _ = package.trimmed(|_| true);
            }
        }
    }
}
