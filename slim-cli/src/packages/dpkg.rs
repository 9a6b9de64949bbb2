//! Debian's package database as text: the `status` file's stanzas, the diversions, and
//! the per-package files of `info/` (file lists, checksums, conffiles), each read and
//! trimmed to the paths the new image keeps. Everything here is bytes in, bytes out: the
//! files come from the image, so nothing in them is trusted (no field need exist, lines
//! may be malformed, names may be anything), and the parser never fails.

use std::collections::{BTreeMap, BTreeSet};

/// One field of a stanza: `Name: value`, with its continuation lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    /// The value on the field's first line, without surrounding blanks.
    pub value: &'a [u8],
    /// The field's whole text: its first line and its continuation lines, each with its
    /// newline (the last one given when the file lacked it).
    pub raw: &'a [u8],
}

impl<'a> Field<'a> {
    /// The continuation lines, without their leading blank.
    pub fn continuation(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.raw
            .split(|&b| b == b'\n')
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| &l[1..])
    }
}

/// One stanza of the status file: the fields of one package, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stanza<'a> {
    pub fields: Vec<Field<'a>>,
}

impl<'a> Stanza<'a> {
    /// The first-line value of the field `name` (names compare without case).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.field(name).map(|f| f.value)
    }

    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The package's name, if the stanza names one.
    pub fn package(&self) -> Option<&'a [u8]> {
        self.get("Package").filter(|p| !p.is_empty())
    }

    /// The names its files in `info/` may have: `NAME:ARCH` (a `Multi-Arch: same`
    /// package) and `NAME`.
    pub fn info_names(&self) -> Vec<Vec<u8>> {
        let Some(name) = self.package() else {
            return Vec::new();
        };
        let mut names = Vec::with_capacity(2);
        if let Some(arch) = self.get("Architecture").filter(|a| !a.is_empty()) {
            let mut qualified = name.to_vec();
            qualified.push(b':');
            qualified.extend_from_slice(arch);
            names.push(qualified);
        }
        names.push(name.to_vec());
        names
    }

    /// The conffiles the `Conffiles` field lists (` PATH MD5 [obsolete]` lines).
    pub fn conffiles(&self) -> Vec<&'a [u8]> {
        self.field("Conffiles")
            .map(|f| {
                f.continuation()
                    .filter_map(|line| line.split(|&b| b == b' ').find(|w| !w.is_empty()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The stanza's text with its `Conffiles` lines narrowed to those `keep` accepts (the
    /// field goes when none is left); every other field as it was.
    pub fn text_keeping_conffiles(&self, keep: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut out = Vec::new();
        for field in &self.fields {
            if !field.name.eq_ignore_ascii_case(b"Conffiles") {
                out.extend_from_slice(field.raw);
                continue;
            }
            let kept: Vec<&[u8]> = field
                .raw
                .split(|&b| b == b'\n')
                .skip(1)
                .filter(|l| !l.is_empty())
                .filter(|l| {
                    l[1..]
                        .split(|&b| b == b' ')
                        .find(|w| !w.is_empty())
                        .is_some_and(&keep)
                })
                .collect();
            if kept.is_empty() {
                continue;
            }
            let first_end = field
                .raw
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(field.raw.len());
            out.extend_from_slice(&field.raw[..first_end]);
            out.push(b'\n');
            for line in kept {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        out
    }
}

/// Ends the open field at `end` and adds it to `stanza`.
fn close<'a>(
    text: &'a [u8],
    open: &mut Option<(&'a [u8], &'a [u8], usize)>,
    end: usize,
    stanza: &mut Stanza<'a>,
) {
    if let Some((name, value, start)) = open.take() {
        stanza.fields.push(Field {
            name,
            value,
            raw: &text[start..end],
        });
    }
}

/// Whether a line separates stanzas (empty, or blanks only).
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// The stanzas of a status file (or any file of RFC 822-like stanzas). Lines that are no
/// field and continue none are skipped, as are comments; empty stanzas are dropped.
pub fn parse_status(text: &[u8]) -> Vec<Stanza<'_>> {
    let mut stanzas = Vec::new();
    let mut current = Stanza::default();
    // The field being read: its name, value and where its text starts.
    let mut open: Option<(&[u8], &[u8], usize)> = None;
    let mut pos = 0;
    while pos < text.len() {
        let end = text[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| pos + i + 1);
        let line = &text[pos..end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        if is_blank(content) {
            close(text, &mut open, pos, &mut current);
            if !current.fields.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
        } else if matches!(content[0], b' ' | b'\t') {
            // A continuation: part of the open field, or of nothing.
        } else if content[0] == b'#' {
            close(text, &mut open, pos, &mut current);
        } else {
            close(text, &mut open, pos, &mut current);
            if let Some(colon) = content.iter().position(|&b| b == b':') {
                let name = &content[..colon];
                let value = content[colon + 1..].trim_ascii();
                if !name.is_empty() {
                    open = Some((name, value, pos));
                }
            }
        }
        pos = end;
    }
    close(text, &mut open, text.len(), &mut current);
    if !current.fields.is_empty() {
        stanzas.push(current);
    }
    stanzas
}

/// A field's text always ends with a newline in what is written back.
pub fn with_newline(mut text: Vec<u8>) -> Vec<u8> {
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text
}

/// One diversion of `/var/lib/dpkg/diversions`: `from` is installed as `to` for every
/// package but `by` (`:` for a local diversion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diversion {
    pub from: Vec<u8>,
    pub to: Vec<u8>,
    pub by: Vec<u8>,
}

/// The diversions file: three lines each (from, to, package); an incomplete last group is
/// ignored.
pub fn parse_diversions(text: &[u8]) -> Vec<Diversion> {
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    lines
        .chunks_exact(3)
        .filter(|group| !group[0].is_empty() && !group[1].is_empty())
        .map(|group| Diversion {
            from: group[0].to_vec(),
            to: group[1].to_vec(),
            by: group[2].to_vec(),
        })
        .collect()
}

/// The diversions as a map from the diverted path.
pub fn diversion_map(diversions: &[Diversion]) -> BTreeMap<&[u8], &Diversion> {
    diversions.iter().map(|d| (d.from.as_slice(), d)).collect()
}

/// The diversions file holding only `keep`'s.
pub fn diversions_text<'a>(diversions: impl IntoIterator<Item = &'a Diversion>) -> Vec<u8> {
    let mut out = Vec::new();
    for d in diversions {
        for line in [&d.from, &d.to, &d.by] {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

/// Where a package's listed file lies in the image: at its diverted name when another
/// package (or the administrator) diverted it.
pub fn installed_path<'a>(
    listed: &'a [u8],
    package: &[u8],
    diversions: &BTreeMap<&[u8], &'a Diversion>,
) -> &'a [u8] {
    match diversions.get(listed) {
        Some(d) if d.by != package => &d.to,
        _ => listed,
    }
}

/// The kinds of a package's `info/` files that neither `dpkg-query`, `dpkg --verify`,
/// removing the package, nor a scanner reads: `symbols` and `shlibs` (read when building
/// packages that link against it), debconf's `templates` and `config` (its configuration
/// questions, asked by `dpkg-reconfigure`) and `triggers` (read when installing other
/// packages).
pub const UNREAD_INFO: &[&[u8]] = &[b"symbols", b"shlibs", b"templates", b"config", b"triggers"];

/// The absolute paths a `.list` file names (one a line; blank lines skipped).
pub fn list_paths(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| l.starts_with(b"/"))
}

/// A `.list` narrowed to `files` (listed paths kept) and the directories above them that
/// the list names (`/.` included), in the list's order.
pub fn trim_list(text: &[u8], files: &BTreeSet<&[u8]>) -> Vec<u8> {
    let mut dirs: BTreeSet<&[u8]> = BTreeSet::new();
    for file in files {
        let mut end = file.len();
        while let Some(slash) = file[..end].iter().rposition(|&b| b == b'/') {
            dirs.insert(if slash == 0 { b"/." } else { &file[..slash] });
            end = slash;
        }
    }
    let mut out = Vec::new();
    for path in list_paths(text) {
        if files.contains(path) || dirs.contains(path) {
            out.extend_from_slice(path);
            out.push(b'\n');
        }
    }
    out
}

/// An `.md5sums` file (`DIGEST  PATH`, the path relative to `/`) narrowed to `files`.
pub fn trim_md5sums(text: &[u8], files: &BTreeSet<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Some(space) = line.iter().position(|&b| b == b' ') else {
            continue;
        };
        let path = line[space..].trim_ascii_start();
        let mut absolute = Vec::with_capacity(path.len() + 1);
        absolute.push(b'/');
        absolute.extend_from_slice(path);
        if files.contains(absolute.as_slice()) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

/// A file of one path a line (`.conffiles`) narrowed to the lines `keep` accepts.
pub fn trim_lines(text: &[u8], keep: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let path = line.strip_prefix(b"remove-on-upgrade ").unwrap_or(line);
        if keep(path.trim_ascii()) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

/// `statoverride` (`USER GROUP MODE PATH` lines) narrowed to the paths `keep` accepts.
pub fn trim_statoverride(text: &[u8], keep: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let path = line
            .splitn(4, |&b| b == b' ')
            .nth(3)
            .map(<[u8]>::trim_ascii);
        if path.is_some_and(&keep) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

/// The name of an `info/` file split into the package's name and the file's kind
/// (`libc6:amd64.list` → `libc6:amd64`, `list`); `None` for a name with no dot.
pub fn split_info_name(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let dot = name.iter().rposition(|&b| b == b'.')?;
    (dot > 0).then(|| (&name[..dot], &name[dot + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &[u8] = b"Package: nginx\n\
Status: install ok installed\n\
Architecture: amd64\n\
Version: 1.22.1-9\n\
Conffiles:\n /etc/nginx/nginx.conf 0123 \n /etc/nginx/mime.types 4567\n\
Description: small, powerful, scalable web/proxy server\n Nginx (\"engine X\") is a\n .\n more\n\
\n\
Package: libc6\nMulti-Arch: same\nArchitecture: amd64\nVersion: 2.36-9\n\n\n\
 stray continuation\n\
no colon here\n\
Package: last\nVersion: 1";

    #[test]
    fn status_stanzas_fields_and_continuations() {
        let stanzas = parse_status(STATUS);
        assert_eq!(stanzas.len(), 3);
        let nginx = &stanzas[0];
        assert_eq!(nginx.package(), Some(&b"nginx"[..]));
        assert_eq!(nginx.get("version"), Some(&b"1.22.1-9"[..]));
        assert_eq!(
            nginx.conffiles(),
            vec![&b"/etc/nginx/nginx.conf"[..], b"/etc/nginx/mime.types"]
        );
        let description = nginx.field("Description").unwrap();
        assert_eq!(description.continuation().count(), 3);
        assert_eq!(
            stanzas[1].info_names(),
            vec![b"libc6:amd64".to_vec(), b"libc6".to_vec()]
        );
        // The last stanza has no final newline; its text gets one when written.
        assert_eq!(stanzas[2].get("Version"), Some(&b"1"[..]));
        assert_eq!(
            with_newline(stanzas[2].text_keeping_conffiles(|_| true)),
            b"Package: last\nVersion: 1\n"
        );
    }

    #[test]
    fn conffiles_are_narrowed_and_everything_else_is_unchanged() {
        let stanzas = parse_status(STATUS);
        let text = stanzas[0].text_keeping_conffiles(|p| p == b"/etc/nginx/mime.types");
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("Conffiles:\n /etc/nginx/mime.types 4567\nDescription"));
        assert!(!text.contains("nginx.conf"));
        assert!(text.contains(" Nginx (\"engine X\") is a\n .\n more\n"));
        let none = String::from_utf8(stanzas[0].text_keeping_conffiles(|_| false)).unwrap();
        assert!(!none.contains("Conffiles"));
        assert!(none.starts_with("Package: nginx\nStatus: install ok installed\n"));
    }

    #[test]
    fn lists_keep_kept_files_and_the_directories_above_them() {
        let list = b"/.\n/usr\n/usr/sbin\n/usr/sbin/nginx\n/usr/share\n/usr/share/doc\n\
/usr/share/doc/nginx/copyright\n/usr/share/doc/nginx\n";
        let files: BTreeSet<&[u8]> = [&b"/usr/sbin/nginx"[..]].into_iter().collect();
        assert_eq!(
            trim_list(list, &files),
            b"/.\n/usr\n/usr/sbin\n/usr/sbin/nginx\n"
        );
        let md5 = b"aaaa  usr/sbin/nginx\nbbbb  usr/share/doc/nginx/copyright\ngarbage\n";
        assert_eq!(trim_md5sums(md5, &files), b"aaaa  usr/sbin/nginx\n");
        assert!(trim_list(list, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn a_diverted_file_lies_at_its_new_name_except_for_the_diverting_package() {
        let diversions = parse_diversions(
            b"/usr/bin/tool\n/usr/bin/tool.distrib\nwrapper\n/etc/x\n/etc/x.orig\n:\nincomplete\n",
        );
        assert_eq!(diversions.len(), 2);
        let map = diversion_map(&diversions);
        assert_eq!(
            installed_path(b"/usr/bin/tool", b"tool", &map),
            b"/usr/bin/tool.distrib"
        );
        assert_eq!(
            installed_path(b"/usr/bin/tool", b"wrapper", &map),
            b"/usr/bin/tool"
        );
        assert_eq!(installed_path(b"/etc/x", b"any", &map), b"/etc/x.orig");
        assert_eq!(
            diversions_text(&diversions[..1]),
            b"/usr/bin/tool\n/usr/bin/tool.distrib\nwrapper\n"
        );
    }

    #[test]
    fn info_names_split_at_the_last_dot() {
        assert_eq!(
            split_info_name(b"libc6:amd64.list"),
            Some((&b"libc6:amd64"[..], &b"list"[..]))
        );
        assert_eq!(
            split_info_name(b"libgcc-s1.2.md5sums"),
            Some((&b"libgcc-s1.2"[..], &b"md5sums"[..]))
        );
        assert_eq!(split_info_name(b"format"), None);
    }

    #[test]
    fn statoverride_and_conffiles_files_are_narrowed_by_path() {
        let keep = |p: &[u8]| p == b"/var/log/nginx";
        assert_eq!(
            trim_statoverride(
                b"root adm 0750 /var/log/nginx\nbad\nroot root 0700 /x\n",
                keep
            ),
            b"root adm 0750 /var/log/nginx\n"
        );
        assert_eq!(
            trim_lines(b"/var/log/nginx\n/etc/gone\n", keep),
            b"/var/log/nginx\n"
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for text in [
            &b""[..],
            b"\n\n\n",
            b":",
            b" \n:\n",
            b"Conffiles:\n \n  \n",
            b"\xff\xfe: \x00\n\t\n",
        ] {
            for stanza in parse_status(text) {
                let _ = stanza.conffiles();
                let _ = stanza.text_keeping_conffiles(|_| true);
                let _ = stanza.info_names();
            }
            let _ = parse_diversions(text);
            let _ = trim_md5sums(text, &BTreeSet::new());
        }
    }
}
