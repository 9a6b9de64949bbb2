//! The default keep-lists: what every image needs though no single run touches it (CA
//! certificates, time zones, users and groups with their NSS modules, resolver files,
//! /tmp, the USER's home, the application tree).
//!
//! What a list keeps by glob or ENV variable is data, defined once in the base profile
//! (`profiles/base.toml`, built into the binary); what only the image can tell (the NSS
//! modules its nsswitch.conf names, its USER's home, its WORKDIR) is read here from the
//! image index.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use globset::GlobSet;

use super::builder::Builder;
use super::elf;
use super::glob::{as_path, compile_globs};
use super::library_search;
use super::model::{KeepList, Reason};
use super::profile;
use super::rules::left_out;
use crate::image::index::{NodeKind, join, resolve, split_parent};
use crate::trace::path::normalize;

/// Bytes of a static executable read at most to find glibc's NSS code in it.
const STATIC_BINARY_LIMIT: u64 = 256 << 20;

/// One keep-list's data, compiled.
struct CompiledList {
    globs: GlobSet,
    /// No globs: nothing of the index is matched.
    no_globs: bool,
    env: Vec<String>,
    excludes: GlobSet,
    exclude_globs: Vec<String>,
}

/// The keep-lists of the built-in base profile, compiled once. They are part of the
/// binary, and unit tests check that every list is defined and every glob compiles, so a
/// failure here is a bug of the build, not of the input.
static LISTS: LazyLock<BTreeMap<KeepList, CompiledList>> = LazyLock::new(|| {
    let lists = profile::keep_lists()
        .unwrap_or_else(|e| panic!("the built-in base profile's keep-lists: {e}"));
    lists
        .into_iter()
        .map(|(list, rules)| {
            let globs = compile_globs(rules.keep.iter().map(String::as_str))
                .unwrap_or_else(|e| panic!("the built-in base profile's keep-lists: {e}"));
            let excludes = compile_globs(rules.exclude.iter().map(String::as_str))
                .unwrap_or_else(|e| panic!("the built-in base profile's keep-lists: {e}"));
            let compiled = CompiledList {
                globs,
                no_globs: rules.keep.is_empty(),
                env: rules.env,
                excludes,
                exclude_globs: rules.exclude,
            };
            (list, compiled)
        })
        .collect()
});

impl Builder<'_> {
    /// Keeps what `list` keeps in this image.
    pub(super) fn add_list(&mut self, list: KeepList) {
        let reason = Reason::KeepList { list };
        let (matched, env_vars): (Vec<Vec<u8>>, &[String]) = match LISTS.get(&list) {
            Some(data) if !data.no_globs => (
                self.index
                    .iter()
                    .filter(|(p, _)| data.globs.is_match(as_path(p)))
                    .map(|(p, _)| p.clone())
                    .collect(),
                &data.env,
            ),
            Some(data) => (Vec::new(), &data.env),
            None => (Vec::new(), &[]),
        };
        let named = self.named_by_env(list);
        for path in matched {
            if holds_data_only(list) && self.is_executable(&path) {
                continue;
            }
            if let Some(data) = LISTS.get(&list)
                && !named.contains(&path)
                && left_out(
                    self,
                    profile::BASE,
                    &data.excludes,
                    &data.exclude_globs,
                    &path,
                )
            {
                continue;
            }
            self.add(&path, reason.clone(), true);
            self.add(&path, reason.clone(), false);
        }
        let env_paths: Vec<String> = env_vars
            .iter()
            .filter_map(|var| self.image.var(var))
            .flat_map(|value| value.split(':').map(str::to_string).collect::<Vec<_>>())
            .filter(|p| p.starts_with('/'))
            .collect();
        for path in env_paths {
            let path = normalize(path.as_bytes());
            self.add_tree(&path, &reason);
        }
        match list {
            // The NSS modules are decided once everything else is kept
            // (`add_nss_modules_if_used`).
            KeepList::Home => {
                if let Some(home) = self.user_home() {
                    self.add_tree(&home, &reason);
                }
            }
            KeepList::Workdir => {
                if let Some(dir) = self
                    .image
                    .workdir
                    .as_deref()
                    .filter(|d| is_application_dir(d))
                {
                    let dir = normalize(dir.as_bytes());
                    self.add_tree(&dir, &reason);
                }
            }
            _ => {}
        }
    }

    /// Paths of the image a variable of its ENV names for `list` though the list leaves
    /// them out: the zone `TZ` names (`TZ=right/UTC`, `TZ=:right/UTC`).
    fn named_by_env(&self, list: KeepList) -> Vec<Vec<u8>> {
        if list != KeepList::Zoneinfo {
            return Vec::new();
        }
        let Some(zone) = self.image.var("TZ").map(|tz| tz.trim_start_matches(':')) else {
            return Vec::new();
        };
        let path = if zone.starts_with('/') {
            normalize(zone.as_bytes())
        } else {
            normalize(format!("/usr/share/zoneinfo/{zone}").as_bytes())
        };
        let mut named = vec![path.clone()];
        named.extend(resolve(self.index, &path, true).target);
        named
    }

    /// Whether `path` resolves to a regular file with an execute bit: a program, which a
    /// data keep-list leaves to the trace.
    fn is_executable(&self, path: &[u8]) -> bool {
        resolve(self.index, path, true)
            .target
            .and_then(|t| self.index.get(&t))
            .is_some_and(|n| {
                matches!(n.kind, NodeKind::File { .. } | NodeKind::HardLink { .. })
                    && n.mode & 0o111 != 0
            })
    }

    /// The home directory of the image's USER, from the image's /etc/passwd.
    fn user_home(&self) -> Option<Vec<u8>> {
        let user = self
            .image
            .user
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or("root");
        let user = user.split(':').next().unwrap_or(user);
        let passwd = self.read_small(b"/etc/passwd")?;
        for line in passwd.split(|&b| b == b'\n') {
            let fields: Vec<&[u8]> = line.split(|&b| b == b':').collect();
            if fields.len() >= 6 && (fields[0] == user.as_bytes() || fields[2] == user.as_bytes()) {
                let home = fields[5];
                if home.starts_with(b"/") && home != b"/" && !is_system_dir(home) {
                    return Some(normalize(home));
                }
                return None;
            }
        }
        None
    }

    /// Keeps the NSS modules the `users` list needs, if a kept program can load them:
    /// glibc's shared C library is kept (a dynamically linked program), or a kept static
    /// executable carries glibc's NSS code (it names `libnss_`). A static binary without
    /// it (Go, Rust on musl) never loads one, and the modules would bring the whole
    /// shared C library with them.
    pub(super) fn add_nss_modules_if_used(&mut self) {
        if self.keeps_glibc() || self.keeps_static_glibc_nss() {
            self.add_nss_modules(&Reason::KeepList {
                list: KeepList::Users,
            });
        }
    }

    fn keeps_glibc(&self) -> bool {
        self.set
            .paths()
            .any(|p| split_parent(p).1.starts_with(b"libc.so."))
    }

    fn keeps_static_glibc_nss(&self) -> bool {
        let statics: Vec<Vec<u8>> = self
            .set
            .paths()
            .filter(|p| {
                self.index
                    .get(p)
                    .is_some_and(|n| matches!(n.kind, NodeKind::File { .. }) && n.mode & 0o111 != 0)
            })
            .filter(|p| {
                self.index
                    .get(p)
                    .and_then(|n| self.index.open(n).ok())
                    .and_then(|mut r| elf::parse(&mut r).ok().flatten())
                    .is_some_and(|info| info.interp.is_none())
            })
            .map(<[u8]>::to_vec)
            .collect();
        statics.iter().any(|p| {
            self.index
                .get(p)
                .and_then(|n| self.index.read_to_vec(n, STATIC_BINARY_LIMIT).ok())
                .is_some_and(|bytes| bytes.windows(7).any(|w| w == b"libnss_"))
        })
    }

    /// The NSS modules (`libnss_NAME.so.2`) of every service /etc/nsswitch.conf names,
    /// found as the C library finds them.
    fn add_nss_modules(&mut self, reason: &Reason) {
        let Some(conf) = self.read_small(b"/etc/nsswitch.conf") else {
            return;
        };
        let mut services: Vec<String> = Vec::new();
        for line in conf.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let line = line.split('#').next().unwrap_or("");
            let Some((_, sources)) = line.split_once(':') else {
                continue;
            };
            let mut in_action = false;
            for word in sources.split_whitespace() {
                if word.starts_with('[') {
                    in_action = !word.ends_with(']');
                    continue;
                }
                if in_action {
                    in_action = !word.ends_with(']');
                    continue;
                }
                if !services.iter().any(|s| s == word) {
                    services.push(word.to_string());
                }
            }
        }
        let probe = self.any_elf().unwrap_or_default();
        for service in services {
            let name = format!("libnss_{service}.so.2");
            let mut candidates: Vec<Vec<u8>> = Vec::new();
            if let Some(path) = self.cache().lookup(name.as_bytes(), &probe) {
                candidates.push(path.to_vec());
            }
            candidates.extend(
                library_search::default_dirs(&probe)
                    .iter()
                    .map(|d| join(d, name.as_bytes())),
            );
            if let Some(found) = candidates.into_iter().find(|c| self.exists_file(c)) {
                self.add(&found, reason.clone(), true);
            }
        }
    }
}

/// Whether `list` keeps data only (certificates, time zones, user and resolver files,
/// /tmp): a program its globs match (the CA store's `CA.pl`, `tsget.pl`) is kept only
/// when it was traced. The home and application trees keep their programs.
fn holds_data_only(list: KeepList) -> bool {
    match list {
        KeepList::Certs
        | KeepList::Zoneinfo
        | KeepList::Users
        | KeepList::Resolver
        | KeepList::Tmp => true,
        KeepList::Home | KeepList::Workdir => false,
    }
}

/// A directory that holds system files, never kept whole as an application tree or home.
fn is_system_dir(dir: &[u8]) -> bool {
    let dir = normalize(dir);
    matches!(
        dir.as_slice(),
        b"/" | b"/bin"
            | b"/sbin"
            | b"/lib"
            | b"/lib64"
            | b"/usr"
            | b"/usr/bin"
            | b"/usr/sbin"
            | b"/usr/lib"
            | b"/usr/local"
            | b"/usr/share"
            | b"/etc"
            | b"/var"
            | b"/var/lib"
            | b"/opt"
            | b"/home"
            | b"/tmp"
            | b"/proc"
            | b"/sys"
            | b"/dev"
            | b"/run"
            | b"/nonexistent"
    )
}

fn is_application_dir(dir: &str) -> bool {
    dir.starts_with('/') && !is_system_dir(dir.as_bytes())
}
