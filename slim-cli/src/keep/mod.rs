//! The keep set: every path of the original image that the new image holds, each with the
//! reasons it is kept.
//!
//! Starts from the traced paths that exist in the image, resolved inside the image root
//! with every symlink and directory on their way; adds the closure the trace cannot see
//! (ELF interpreters and libraries, script interpreters, hard-link peers, parent
//! directories) and the keep-lists every image needs but no single run touches (CA
//! certificates, time zones, users and groups with their NSS modules, resolver files,
//! /tmp, the user's home, the application tree), plus the user's own globs.
//!
//! Pure: it reads the image index and the trace, never the engine or the kernel.

pub mod elf;
pub mod profile;
pub mod resolve;
mod rules;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Read;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::image::index::{FsIndex, Node, NodeKind, join, split_parent};
use crate::trace::{AccessKind, TraceRecord};
use elf::{ElfInfo, LdCache};
use resolve::resolve;

/// Reasons recorded per path at most: a library needed by hundreds of objects keeps the
/// first few.
const MAX_REASONS: usize = 6;
/// Bytes read from a file to recognise a `#!` line.
const SHEBANG_BYTES: u64 = 256;

/// Why a path is kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// A traced process accessed it: the first process of each command name that did
    /// it this way (host pid).
    Traced {
        kind: AccessKind,
        comm: String,
        pid: u32,
    },
    /// A symlink passed while resolving `of`.
    Symlink { of: String },
    /// A directory walked through to reach `of`.
    Parent { of: String },
    /// The program interpreter (PT_INTERP) of the ELF file `of`.
    ElfInterpreter { of: String },
    /// A library (DT_NEEDED) of the ELF file `of`.
    ElfLibrary { of: String },
    /// The `#!` interpreter of the script `of`.
    ScriptInterpreter { of: String },
    /// Shares its content (a hard link) with the kept `of`.
    HardLink { of: String },
    /// A default keep-list.
    KeepList { list: KeepList },
    /// A `--keep` pattern.
    UserGlob { pattern: String },
    /// A rule of a profile.
    Profile { profile: String, rule: String },
    /// The new image's verification run missed it in this round, and repair added it.
    Repaired { round: u32 },
}

impl Reason {
    /// Whether `other` says nothing this reason does not: equal, or the same access by
    /// another process of the same command (the first pid is enough to name it).
    fn repeats(&self, other: &Reason) -> bool {
        match (self, other) {
            (
                Reason::Traced { kind, comm, .. },
                Reason::Traced {
                    kind: other_kind,
                    comm: other_comm,
                    ..
                },
            ) => kind == other_kind && comm == other_comm,
            _ => self == other,
        }
    }
}

/// The default keep-lists, each of which can be switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepList {
    /// CA certificate bundles and directories, and those the image ENV names.
    Certs,
    /// Time zone data and the local time setting.
    Zoneinfo,
    /// /etc/passwd, /etc/group, /etc/nsswitch.conf and the NSS modules it names.
    Users,
    /// /etc/hosts and resolver configuration.
    Resolver,
    /// /tmp and /var/tmp (with their modes, 1777).
    Tmp,
    /// The home directory of the image's USER.
    Home,
    /// The application tree under WORKDIR (when it is not a system directory).
    Workdir,
}

impl KeepList {
    pub const ALL: [KeepList; 7] = [
        KeepList::Certs,
        KeepList::Zoneinfo,
        KeepList::Users,
        KeepList::Resolver,
        KeepList::Tmp,
        KeepList::Home,
        KeepList::Workdir,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeepList::Certs => "certs",
            KeepList::Zoneinfo => "zoneinfo",
            KeepList::Users => "users",
            KeepList::Resolver => "resolver",
            KeepList::Tmp => "tmp",
            KeepList::Home => "home",
            KeepList::Workdir => "workdir",
        }
    }

    pub fn from_name(name: &str) -> Option<KeepList> {
        KeepList::ALL.into_iter().find(|l| l.name() == name)
    }

    fn globs(self) -> &'static [&'static str] {
        match self {
            KeepList::Certs => &[
                "/etc/ssl/**",
                "/etc/pki/**",
                "/etc/ca-certificates/**",
                "/etc/ca-certificates.conf",
                "/usr/share/ca-certificates/**",
                "/usr/local/share/ca-certificates/**",
                "/usr/lib/ssl/**",
                "/etc/ssl",
                "/usr/lib/ssl",
            ],
            KeepList::Zoneinfo => &[
                "/usr/share/zoneinfo/**",
                "/usr/share/zoneinfo",
                "/etc/localtime",
                "/etc/timezone",
            ],
            KeepList::Users => &["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"],
            KeepList::Resolver => &[
                "/etc/hosts",
                "/etc/resolv.conf",
                "/etc/host.conf",
                "/etc/gai.conf",
                "/etc/hostname",
            ],
            KeepList::Tmp => &["/tmp", "/var/tmp"],
            KeepList::Home | KeepList::Workdir => &[],
        }
    }

    /// Environment variables whose value names a path this list keeps.
    fn env_vars(self) -> &'static [&'static str] {
        match self {
            KeepList::Certs => &[
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                "REQUESTS_CA_BUNDLE",
                "CURL_CA_BUNDLE",
                "NODE_EXTRA_CA_CERTS",
            ],
            KeepList::Zoneinfo => &["TZDIR"],
            _ => &[],
        }
    }
}

/// What the keep set needs to know of the image's runtime config.
#[derive(Clone, Debug, Default)]
pub struct ImageRuntime {
    /// `KEY=VALUE` entries of the image's Env.
    pub env: Vec<String>,
    /// The image's USER (name or uid, optionally `:group`).
    pub user: Option<String>,
    /// The image's WORKDIR.
    pub workdir: Option<String>,
}

impl ImageRuntime {
    fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v)
        })
    }
}

/// Options of the keep set.
#[derive(Clone, Debug)]
pub struct KeepOptions {
    /// Keep-lists allowed (`--no-keep` removes some); with profiles, a list applies when a
    /// profile turns it on too.
    pub lists: Vec<KeepList>,
    /// The user's `--keep` patterns (absolute globs; a pattern naming a directory keeps
    /// the whole tree below it).
    pub patterns: Vec<String>,
    /// Profiles whose rules apply.
    pub profiles: Vec<profile::Profile>,
    /// Whether package rules apply (`--keep-packages used`), or only what was traced.
    pub packages: bool,
}

impl Default for KeepOptions {
    fn default() -> Self {
        KeepOptions {
            lists: KeepList::ALL.to_vec(),
            patterns: Vec::new(),
            profiles: Vec::new(),
            packages: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error(
        "invalid keep pattern '{pattern}': {error}\nhint: patterns are globs on absolute paths, e.g. '/usr/share/myapp/**'"
    )]
    Pattern { pattern: String, error: String },
    #[error("keep pattern '{0}' is not absolute\nhint: start it with '/', e.g. '/{0}'")]
    RelativePattern(String),
}

/// Compiles globs the way every keep rule matches paths: `*` stays within one component,
/// `**` crosses them.
pub fn compile_globs<'a>(
    patterns: impl IntoIterator<Item = &'a str>,
) -> Result<GlobSet, KeepError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(glob(pattern)?);
    }
    builder.build().map_err(|e| KeepError::Pattern {
        pattern: String::new(),
        error: e.to_string(),
    })
}

fn glob(pattern: &str) -> Result<Glob, KeepError> {
    if !pattern.starts_with('/') {
        return Err(KeepError::RelativePattern(pattern.to_string()));
    }
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| KeepError::Pattern {
            pattern: pattern.to_string(),
            error: e.kind().to_string(),
        })
}

use profile::as_path;

fn display(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Paths the runtime mounts over in every container: their content in the image is never
/// what the application sees.
pub fn is_runtime_mount(path: &[u8]) -> bool {
    [&b"/proc/"[..], b"/sys/", b"/dev/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Every kept path with its reasons.
#[derive(Clone, Debug, Default)]
pub struct KeepSet {
    paths: BTreeMap<Vec<u8>, Vec<Reason>>,
    /// Traced paths that do not exist in the image (created at run time, or probed and
    /// absent), counted for the report.
    pub traced_missing: usize,
}

impl KeepSet {
    /// Kept paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &[u8]> {
        self.paths.keys().map(Vec::as_slice)
    }

    pub fn reasons(&self, path: &[u8]) -> Option<&[Reason]> {
        self.paths.get(path).map(Vec::as_slice)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<Reason>)> {
        self.paths.iter()
    }

    pub fn contains(&self, path: &[u8]) -> bool {
        self.paths.contains_key(path)
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Removes a path (and nothing else): for tests that need a broken keep set.
    pub fn remove(&mut self, path: &[u8]) -> bool {
        self.paths.remove(path).is_some()
    }
}

/// Computes the keep set of `records` over `index`.
pub fn compute(
    index: &FsIndex,
    records: &[TraceRecord],
    image: &ImageRuntime,
    options: &KeepOptions,
) -> Result<KeepSet, KeepError> {
    let user_globs = options
        .patterns
        .iter()
        .map(|p| glob(p).map(|g| (p.clone(), g.compile_matcher())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut builder = Builder::new(index, image);

    for record in records {
        if record.incomplete.is_some() || record.path.is_empty() {
            continue;
        }
        if is_runtime_mount(&record.path) {
            continue;
        }
        let reason = Reason::Traced {
            kind: record.kind,
            comm: record.comm.clone(),
            pid: record.pid,
        };
        let follow = !record.nofollow;
        if !builder.add(&record.path, reason, follow) {
            builder.set.traced_missing += 1;
        }
    }

    // What the application used: the trace and its closure, before any rule adds more.
    builder.close();
    let used: std::collections::BTreeSet<Vec<u8>> = builder
        .set
        .paths
        .keys()
        .filter(|p| {
            index
                .get(p)
                .is_some_and(|n| !matches!(n.kind, NodeKind::Dir))
        })
        .cloned()
        .collect();

    let lists: Vec<KeepList> = if options.profiles.is_empty() {
        options.lists.clone()
    } else {
        options
            .lists
            .iter()
            .copied()
            .filter(|l| options.profiles.iter().any(|p| p.lists.contains(l)))
            .collect()
    };
    for list in lists {
        builder.add_list(list)?;
    }
    for profile in &options.profiles {
        rules::Apply {
            builder: &mut builder,
            profile,
            used: &used,
            packages: options.packages,
        }
        .run()?;
    }

    for (pattern, matcher) in &user_globs {
        let matched: Vec<Vec<u8>> = index
            .iter()
            .filter(|(p, _)| matcher.is_match(as_path(p)))
            .map(|(p, _)| p.clone())
            .collect();
        for path in matched {
            builder.add_tree(
                &path,
                &Reason::UserGlob {
                    pattern: pattern.clone(),
                },
            );
        }
    }

    builder.close();
    Ok(builder.set)
}

/// Paths sharing one content (a hard-link group), by the content's place in its layer.
type HardLinkGroups = HashMap<(usize, u64), Vec<Vec<u8>>>;

/// Adds files a verification run found missing to a computed keep set, with everything
/// on their way and their closure, each with the reason "repaired in round `round`".
pub fn add_repaired(
    index: &FsIndex,
    set: KeepSet,
    paths: &[(Vec<u8>, bool)],
    round: u32,
    image: &ImageRuntime,
) -> KeepSet {
    let mut builder = Builder::new(index, image);
    builder.set = set;
    for (path, follow) in paths {
        builder.add(path, Reason::Repaired { round }, *follow);
    }
    builder.close();
    builder.set
}

struct Builder<'a> {
    index: &'a FsIndex,
    image: &'a ImageRuntime,
    set: KeepSet,
    /// Files whose closure (ELF, script, hard links) is still to be added, with the RPATH
    /// of the executable that loads them.
    queue: VecDeque<(Vec<u8>, Vec<Vec<u8>>)>,
    closed: HashSet<Vec<u8>>,
    ld_cache: Option<LdCache>,
    hard_links: Option<HardLinkGroups>,
}

impl<'a> Builder<'a> {
    fn new(index: &'a FsIndex, image: &'a ImageRuntime) -> Self {
        Builder {
            index,
            image,
            set: KeepSet::default(),
            queue: VecDeque::new(),
            closed: HashSet::new(),
            ld_cache: None,
            hard_links: None,
        }
    }

    fn keep(&mut self, path: &[u8], reason: Reason) {
        let reasons = self.set.paths.entry(path.to_vec()).or_default();
        if reasons.len() < MAX_REASONS && !reasons.iter().any(|r| r.repeats(&reason)) {
            reasons.push(reason);
        }
    }

    /// Keeps `path` as resolved in the image with every symlink and directory on its way.
    /// Returns whether the path exists in the image.
    fn add(&mut self, path: &[u8], reason: Reason, follow_last: bool) -> bool {
        let resolution = resolve(self.index, path, follow_last);
        let of = display(path);
        for dir in &resolution.dirs {
            self.keep(dir, Reason::Parent { of: of.clone() });
        }
        for link in &resolution.links {
            if link.as_slice() != path {
                self.keep(link, Reason::Symlink { of: of.clone() });
            }
        }
        if resolution.links.first().map(Vec::as_slice) == Some(path) {
            self.keep(path, reason.clone());
        }
        let Some(target) = resolution.target else {
            return !resolution.links.is_empty();
        };
        self.keep(&target, reason);
        if !self.closed.contains(&target)
            && let Some(node) = self.index.get(&target)
            && matches!(node.kind, NodeKind::File { .. } | NodeKind::HardLink { .. })
        {
            self.queue.push_back((target, Vec::new()));
        }
        true
    }

    /// Keeps `path` and, if it is a directory, everything below it.
    fn add_tree(&mut self, path: &[u8], reason: &Reason) {
        self.add(path, reason.clone(), true);
        let below: Vec<Vec<u8>> = self
            .index
            .descendants(path)
            .map(|(p, _)| p.clone())
            .collect();
        for p in below {
            self.add(&p, reason.clone(), false);
            // A symlink inside a kept tree keeps what it points to as well.
            if matches!(
                self.index.get(&p).map(|n| &n.kind),
                Some(NodeKind::Symlink { .. })
            ) {
                self.add(&p, reason.clone(), true);
            }
        }
    }

    fn add_list(&mut self, list: KeepList) -> Result<(), KeepError> {
        let reason = Reason::KeepList { list };
        let globs = compile_globs(list.globs().iter().copied())?;
        let matched: Vec<Vec<u8>> = if list.globs().is_empty() {
            Vec::new()
        } else {
            self.index
                .iter()
                .filter(|(p, _)| globs.is_match(as_path(p)))
                .map(|(p, _)| p.clone())
                .collect()
        };
        for path in matched {
            self.add(&path, reason.clone(), true);
            self.add(&path, reason.clone(), false);
        }
        let env_paths: Vec<String> = list
            .env_vars()
            .iter()
            .filter_map(|var| self.image.var(var))
            .flat_map(|value| value.split(':').map(str::to_string).collect::<Vec<_>>())
            .filter(|p| p.starts_with('/'))
            .collect();
        for path in env_paths {
            let path = crate::trace::path::normalize(path.as_bytes());
            self.add_tree(&path, &reason);
        }
        match list {
            KeepList::Users => self.add_nss_modules(&reason),
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
                    let dir = crate::trace::path::normalize(dir.as_bytes());
                    self.add_tree(&dir, &reason);
                }
            }
            _ => {}
        }
        Ok(())
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
                    return Some(crate::trace::path::normalize(home));
                }
                return None;
            }
        }
        None
    }

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
                elf::default_dirs(&probe)
                    .iter()
                    .map(|d| join(d, name.as_bytes())),
            );
            if let Some(found) = candidates.into_iter().find(|c| self.exists_file(c)) {
                self.add(&found, reason.clone(), true);
            }
        }
    }

    fn cache(&mut self) -> &LdCache {
        if self.ld_cache.is_none() {
            let cache = self
                .read_small(b"/etc/ld.so.cache")
                .map(|bytes| LdCache::parse(&bytes))
                .unwrap_or_default();
            self.ld_cache = Some(cache);
        }
        self.ld_cache.get_or_insert_with(LdCache::default)
    }

    /// The ELF info of some kept binary, for the image's ABI.
    fn any_elf(&self) -> Option<ElfInfo> {
        for path in [&b"/bin/sh"[..], b"/usr/bin/env", b"/bin/busybox"] {
            if let Some(target) = resolve(self.index, path, true).target
                && let Some(node) = self.index.get(&target)
                && let Ok(mut reader) = self.index.open(node)
                && let Ok(Some(info)) = elf::parse(&mut reader)
            {
                return Some(info);
            }
        }
        None
    }

    fn exists_file(&self, path: &[u8]) -> bool {
        resolve(self.index, path, true)
            .target
            .and_then(|t| {
                self.index
                    .get(&t)
                    .map(|n| matches!(n.kind, NodeKind::File { .. } | NodeKind::HardLink { .. }))
            })
            .unwrap_or(false)
    }

    fn read_small(&self, path: &[u8]) -> Option<Vec<u8>> {
        let target = resolve(self.index, path, true).target?;
        let node = self.index.get(&target)?;
        self.index.read_to_vec(node, 4 << 20).ok()
    }

    /// Adds the closure of every queued file, until nothing new is found.
    fn close(&mut self) {
        while let Some((path, inherited_rpath)) = self.queue.pop_front() {
            if !self.closed.insert(path.clone()) {
                continue;
            }
            let Some(node) = self.index.get(&path) else {
                continue;
            };
            let node: Node = node.clone();
            self.add_hard_link_peers(&path, &node);
            self.add_elf_closure(&path, &node, &inherited_rpath);
            self.add_script_interpreter(&path, &node);
        }
        self.add_ancestors();
    }

    fn add_hard_link_peers(&mut self, path: &[u8], node: &Node) {
        let index = self.index;
        let groups = self.hard_links.get_or_insert_with(|| {
            let mut groups = HardLinkGroups::new();
            for (p, n) in index.iter() {
                if let Some(NodeKind::File { layer, offset, .. }) =
                    index.content_node(n).map(|c| &c.kind)
                {
                    groups.entry((*layer, *offset)).or_default().push(p.clone());
                }
            }
            groups.retain(|_, peers| peers.len() > 1);
            groups
        });
        let Some(NodeKind::File { layer, offset, .. }) = index.content_node(node).map(|c| &c.kind)
        else {
            return;
        };
        let Some(peers) = groups.get(&(*layer, *offset)).cloned() else {
            return;
        };
        let of = display(path);
        for peer in peers {
            if peer.as_slice() != path {
                self.add(&peer, Reason::HardLink { of: of.clone() }, false);
                self.closed.insert(peer);
            }
        }
    }

    fn add_elf_closure(&mut self, path: &[u8], node: &Node, inherited_rpath: &[Vec<u8>]) {
        let Ok(mut reader) = self.index.open(node) else {
            return;
        };
        let Ok(Some(info)) = elf::parse(&mut reader) else {
            return;
        };
        let of = display(path);
        if let Some(interp) = &info.interp {
            self.add(interp, Reason::ElfInterpreter { of: of.clone() }, true);
        }
        // An executable's RPATH applies to everything it loads.
        let rpath: Vec<Vec<u8>> = if info.interp.is_some() {
            info.rpath.clone()
        } else {
            inherited_rpath.to_vec()
        };
        let ld_library_path: Vec<Vec<u8>> = self
            .image
            .var("LD_LIBRARY_PATH")
            .map(|v| {
                v.split(':')
                    .filter(|d| d.starts_with('/'))
                    .map(|d| d.as_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        for needed in &info.needed {
            let candidates = {
                let cache = self.cache().clone();
                elf::candidates(needed, &info, path, &rpath, &ld_library_path, &cache)
            };
            let Some(found) = candidates
                .into_iter()
                .map(|c| crate::trace::path::normalize(&c))
                .find(|c| self.exists_file(c))
            else {
                continue;
            };
            self.add(&found, Reason::ElfLibrary { of: of.clone() }, true);
            if let Some(target) = resolve(self.index, &found, true).target {
                self.queue.push_back((target, rpath.clone()));
            }
        }
    }

    fn add_script_interpreter(&mut self, path: &[u8], node: &Node) {
        let Ok(reader) = self.index.open(node) else {
            return;
        };
        let mut head = Vec::new();
        if reader.take(SHEBANG_BYTES).read_to_end(&mut head).is_err() || !head.starts_with(b"#!") {
            return;
        }
        let line = head[2..].split(|&b| b == b'\n').next().unwrap_or_default();
        let mut words = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty());
        let Some(interpreter) = words.next() else {
            return;
        };
        let of = display(path);
        let reason = Reason::ScriptInterpreter { of };
        self.add(interpreter, reason.clone(), true);
        // `#!/usr/bin/env NAME`: NAME is looked up in the image's PATH.
        if interpreter.ends_with(b"/env") {
            let Some(name) = words.find(|w| !w.starts_with(b"-")) else {
                return;
            };
            let path_var = self
                .image
                .var("PATH")
                .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                .to_string();
            for dir in path_var.split(':').filter(|d| d.starts_with('/')) {
                let candidate = join(dir.as_bytes(), name);
                if self.exists_file(&candidate) {
                    self.add(&candidate, reason, true);
                    break;
                }
            }
        }
    }

    /// Every kept path's parent directories are kept too.
    fn add_ancestors(&mut self) {
        let paths: Vec<Vec<u8>> = self.set.paths.keys().cloned().collect();
        for path in paths {
            let of = display(&path);
            let mut dir = split_parent(&path).0;
            while dir != b"/" {
                if self.set.paths.contains_key(&dir) {
                    break;
                }
                if self.index.get(&dir).is_some() {
                    self.keep(&dir, Reason::Parent { of: of.clone() });
                }
                dir = split_parent(&dir).0;
            }
        }
    }
}

/// A directory that holds system files, never kept whole as an application tree or home.
fn is_system_dir(dir: &[u8]) -> bool {
    let dir = crate::trace::path::normalize(dir);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::CallResult;
    use slim_probe_ebpf::Syscall;

    /// A merged-/usr image assembled from the host's own dash, libc and loader.
    struct Fixture {
        dir: std::path::PathBuf,
        index: FsIndex,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn host_fixture(name: &str) -> Option<Fixture> {
        let host = [
            "/usr/bin/dash",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            "/usr/lib/x86_64-linux-gnu/libnss_files.so.2",
            "/etc/ld.so.cache",
        ];
        if !host.iter().all(|p| std::path::Path::new(p).exists()) {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("slim-keep-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let layer = dir.join("layer.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&layer).ok()?);
        let entry = |b: &mut tar::Builder<std::fs::File>,
                     kind,
                     path: &str,
                     data: &[u8],
                     link: Option<&str>| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(if kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1);
            h.set_size(data.len() as u64);
            match link {
                Some(target) => b.append_link(&mut h, path, target).unwrap(),
                None => b.append_data(&mut h, path, data).unwrap(),
            }
        };
        for d in [
            "usr/",
            "usr/bin/",
            "usr/lib/",
            "usr/lib/x86_64-linux-gnu/",
            "usr/lib64/",
            "etc/",
            "tmp/",
            "app/",
            "app/lib/",
            "usr/share/",
            "usr/share/zoneinfo/",
            "usr/share/zoneinfo/Europe/",
        ] {
            entry(&mut b, tar::EntryType::Directory, d, b"", None);
        }
        for (link, target) in [
            ("bin", "usr/bin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("usr/bin/sh", "dash"),
            (
                "usr/lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            ),
            ("etc/localtime", "/usr/share/zoneinfo/Europe/Paris"),
        ] {
            entry(&mut b, tar::EntryType::Symlink, link, b"", Some(target));
        }
        for path in host {
            entry(
                &mut b,
                tar::EntryType::Regular,
                &path[1..],
                &std::fs::read(path).unwrap(),
                None,
            );
        }
        entry(
            &mut b,
            tar::EntryType::Regular,
            "usr/share/zoneinfo/Europe/Paris",
            b"TZif",
            None,
        );
        entry(
            &mut b,
            tar::EntryType::Regular,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
            None,
        );
        entry(
            &mut b,
            tar::EntryType::Regular,
            "etc/group",
            b"root:x:0:\n",
            None,
        );
        entry(
            &mut b,
            tar::EntryType::Regular,
            "etc/nsswitch.conf",
            b"passwd: files [NOTFOUND=return] systemd\n",
            None,
        );
        entry(&mut b, tar::EntryType::Regular, "etc/unused", b"x", None);
        entry(
            &mut b,
            tar::EntryType::Regular,
            "app/run.sh",
            b"#!/usr/bin/env sh\necho hi\n",
            None,
        );
        entry(&mut b, tar::EntryType::Regular, "app/lib/mod.py", b"", None);
        entry(
            &mut b,
            tar::EntryType::Regular,
            "usr/bin/big",
            b"content",
            None,
        );
        entry(
            &mut b,
            tar::EntryType::Link,
            "usr/bin/big-alias",
            b"",
            Some("usr/bin/big"),
        );
        b.finish().ok()?;
        drop(b);
        let index = FsIndex::from_layers(&[layer]).ok()?;
        Some(Fixture { dir, index })
    }

    fn record(path: &str, kind: AccessKind) -> TraceRecord {
        TraceRecord {
            path: path.as_bytes().to_vec(),
            kind,
            syscall: Syscall::Openat,
            result: CallResult::Ok,
            pid: 1,
            tid: 1,
            comm: "test".into(),
            nofollow: false,
            write: false,
            incomplete: None,
        }
    }

    fn no_lists() -> KeepOptions {
        KeepOptions {
            lists: Vec::new(),
            ..KeepOptions::default()
        }
    }

    #[test]
    fn exec_through_directory_symlink_keeps_links_targets_loader_and_libc() {
        let Some(f) = host_fixture("exec") else {
            return;
        };
        let set = compute(
            &f.index,
            &[record("/bin/sh", AccessKind::Exec)],
            &ImageRuntime::default(),
            &no_lists(),
        )
        .unwrap();
        for path in [
            "/bin",
            "/usr/bin/sh",
            "/usr/bin/dash",
            "/lib64",
            "/usr/lib64/ld-linux-x86-64.so.2",
            "/lib",
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr",
            "/usr/lib",
        ] {
            assert!(
                set.contains(path.as_bytes()),
                "{path} kept: {:?}",
                set.paths().map(display).collect::<Vec<_>>()
            );
        }
        assert!(!set.contains(b"/etc/unused"));
        assert!(matches!(
            set.reasons(b"/usr/bin/dash").unwrap()[0],
            Reason::Traced {
                kind: AccessKind::Exec,
                ..
            }
        ));
        assert!(
            set.reasons(b"/usr/lib/x86_64-linux-gnu/libc.so.6")
                .unwrap()
                .iter()
                .any(|r| matches!(r, Reason::ElfLibrary { of } if of == "/usr/bin/dash"))
        );
    }

    #[test]
    fn a_script_keeps_its_env_interpreter_found_on_path() {
        let Some(f) = host_fixture("script") else {
            return;
        };
        let set = compute(
            &f.index,
            &[record("/app/run.sh", AccessKind::Exec)],
            &ImageRuntime::default(),
            &no_lists(),
        )
        .unwrap();
        assert!(
            set.contains(b"/usr/bin/dash"),
            "sh found through PATH and kept with its target"
        );
    }

    #[test]
    fn hard_link_peers_are_kept_together() {
        let Some(f) = host_fixture("hardlink") else {
            return;
        };
        let set = compute(
            &f.index,
            &[record("/usr/bin/big-alias", AccessKind::Open)],
            &ImageRuntime::default(),
            &no_lists(),
        )
        .unwrap();
        assert!(set.contains(b"/usr/bin/big"));
        assert!(set.contains(b"/usr/bin/big-alias"));
    }

    #[test]
    fn keep_lists_bring_users_nss_zoneinfo_home_and_workdir() {
        let Some(f) = host_fixture("lists") else {
            return;
        };
        let image = ImageRuntime {
            env: vec!["PATH=/usr/bin".into()],
            user: Some("app".into()),
            workdir: Some("/app".into()),
        };
        let set = compute(&f.index, &[], &image, &KeepOptions::default()).unwrap();
        for path in [
            "/etc/passwd",
            "/etc/group",
            "/etc/nsswitch.conf",
            "/usr/lib/x86_64-linux-gnu/libnss_files.so.2",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/etc/localtime",
            "/usr/share/zoneinfo/Europe/Paris",
            "/tmp",
            "/app/lib/mod.py",
            "/app/run.sh",
        ] {
            assert!(set.contains(path.as_bytes()), "{path} kept");
        }
        assert!(!set.contains(b"/etc/unused"));
    }

    #[test]
    fn switching_a_list_off_drops_it() {
        let Some(f) = host_fixture("off") else { return };
        let options = KeepOptions {
            lists: KeepList::ALL
                .into_iter()
                .filter(|l| *l != KeepList::Zoneinfo)
                .collect(),
            patterns: Vec::new(),
            ..KeepOptions::default()
        };
        let set = compute(&f.index, &[], &ImageRuntime::default(), &options).unwrap();
        assert!(!set.contains(b"/usr/share/zoneinfo/Europe/Paris"));
        assert!(set.contains(b"/etc/passwd"));
    }

    #[test]
    fn user_patterns_keep_matches_and_whole_trees() {
        let Some(f) = host_fixture("globs") else {
            return;
        };
        let options = KeepOptions {
            lists: Vec::new(),
            patterns: vec!["/etc/unus*".into(), "/app".into()],
            ..KeepOptions::default()
        };
        let set = compute(&f.index, &[], &ImageRuntime::default(), &options).unwrap();
        assert!(set.contains(b"/etc/unused"));
        assert!(set.contains(b"/app/lib/mod.py"));
        assert!(
            matches!(&set.reasons(b"/etc/unused").unwrap()[0], Reason::UserGlob { pattern } if pattern == "/etc/unus*")
        );
    }

    #[test]
    fn invalid_and_relative_patterns_are_errors() {
        let index = FsIndex::default();
        let bad = KeepOptions {
            lists: Vec::new(),
            patterns: vec!["/a/[".into()],
            ..KeepOptions::default()
        };
        assert!(matches!(
            compute(&index, &[], &ImageRuntime::default(), &bad),
            Err(KeepError::Pattern { .. })
        ));
        let rel = KeepOptions {
            lists: Vec::new(),
            patterns: vec!["etc/*".into()],
            ..KeepOptions::default()
        };
        assert!(matches!(
            compute(&index, &[], &ImageRuntime::default(), &rel),
            Err(KeepError::RelativePattern(_))
        ));
    }

    #[test]
    fn repaired_paths_come_with_their_closure_and_reason() {
        let Some(f) = host_fixture("repair") else {
            return;
        };
        let set = compute(&f.index, &[], &ImageRuntime::default(), &no_lists()).unwrap();
        assert!(!set.contains(b"/usr/bin/dash"));
        let set = add_repaired(
            &f.index,
            set,
            &[(b"/bin/sh".to_vec(), true)],
            2,
            &ImageRuntime::default(),
        );
        assert!(set.contains(b"/usr/bin/dash"));
        assert!(
            set.contains(b"/usr/lib/x86_64-linux-gnu/libc.so.6"),
            "closure of the repaired file"
        );
        assert_eq!(
            set.reasons(b"/usr/bin/dash").unwrap()[0],
            Reason::Repaired { round: 2 }
        );
    }

    #[test]
    fn missing_paths_and_runtime_mounts_are_not_kept() {
        let Some(f) = host_fixture("missing") else {
            return;
        };
        let set = compute(
            &f.index,
            &[
                record("/nope", AccessKind::Open),
                record("/proc/self/maps", AccessKind::Open),
            ],
            &ImageRuntime::default(),
            &no_lists(),
        )
        .unwrap();
        assert!(set.is_empty());
        assert_eq!(set.traced_missing, 1);
    }
}
