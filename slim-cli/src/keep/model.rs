//! The keep set as a value: every kept path with the reasons it is kept (and the paths
//! exclude globs took out, with the reasons they had), the default keep-lists by name,
//! and what the keep stage is told of the image and the user's wishes.
//!
//! Plain data with serde where the report needs it; nothing here reads the image.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::trace::AccessKind;

/// Reasons recorded per path at most: a library needed by hundreds of objects keeps the
/// first few.
const MAX_REASONS: usize = 6;

/// Why a path is kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// A file or directory of the package database (`dpkg` or `apk`), written trimmed to
    /// the packages the new image keeps files of.
    PackageDb { format: String },
    /// The new image's verification run missed it in this round, and repair added it.
    Repaired {
        #[schemars(range(min = 1))]
        round: u32,
    },
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
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
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
    pub(super) fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v)
        })
    }
}

/// What one exclude glob took out of the keep set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exclusion {
    /// The glob, as the user gave it.
    pub pattern: String,
    /// Paths of the image the glob itself matches, kept or not.
    pub image_matches: usize,
    /// The paths it took out, each with the reasons it was kept for.
    pub removed: BTreeMap<Vec<u8>, Vec<Reason>>,
}

/// What one rule of a profile left out: optional heavy parts of an ecosystem (a JIT
/// provider, test suites) its exclude globs name, or a package nothing imports; kept only
/// when traced or named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    pub profile: String,
    /// The rule, as the report names it: `exclude GLOB`, or why a package was left out.
    pub rule: String,
    /// The glob that keeps what it left out with `--keep` (an exclude's own glob).
    pub glob: String,
    /// The paths a rule of the profile would have kept, none kept for another reason.
    pub paths: BTreeSet<Vec<u8>>,
}

/// Every kept path with its reasons, and what the exclude globs took out.
#[derive(Clone, Debug, Default)]
pub struct KeepSet {
    paths: BTreeMap<Vec<u8>, Vec<Reason>>,
    /// One per exclude glob, in the order given.
    exclusions: Vec<Exclusion>,
    /// What profiles' exclude globs left out, by profile and glob.
    left_out: Vec<LeftOut>,
    /// Traced paths that do not exist in the image (created at run time, or probed and
    /// absent), counted for the report.
    pub traced_missing: usize,
    /// Time spent reading sources for what they import (Python's import closure, Node's
    /// required packages).
    pub closure_time: std::time::Duration,
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

    /// Every kept path with its reasons, in order, the set taken apart as they come.
    pub fn into_paths(self) -> impl Iterator<Item = (Vec<u8>, Vec<Reason>)> {
        self.paths.into_iter()
    }

    pub fn contains(&self, path: &[u8]) -> bool {
        self.paths.contains_key(path)
    }

    /// Adds the paths of the package database the rebuild wrote (see `packages`), so that
    /// the report and `slim explain` count them as kept.
    pub fn add_package_db<'a>(&mut self, paths: impl IntoIterator<Item = &'a [u8]>, format: &str) {
        for path in paths {
            self.keep(
                path,
                Reason::PackageDb {
                    format: format.to_string(),
                },
            );
        }
    }

    /// Whether a path below the directory `dir` is kept.
    pub fn has_below(&self, dir: &[u8]) -> bool {
        let mut prefix = dir.to_vec();
        prefix.push(b'/');
        self.paths
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// What each exclude glob took out, in the order the globs were given.
    pub fn exclusions(&self) -> &[Exclusion] {
        &self.exclusions
    }

    /// Takes `path` out of the set because the exclude glob `pattern` matches it, and
    /// records it under that glob with the reasons it was kept for. Returns whether the
    /// path was kept.
    pub(super) fn exclude(&mut self, path: &[u8], pattern: &str) -> bool {
        let Some(reasons) = self.paths.remove(path) else {
            return false;
        };
        let recorded = self
            .exclusion_mut(pattern)
            .removed
            .entry(path.to_vec())
            .or_default();
        for reason in reasons {
            add_reason(recorded, reason);
        }
        true
    }

    /// The record of the exclude glob `pattern`, made (empty) the first time it is named.
    pub(super) fn exclusion_mut(&mut self, pattern: &str) -> &mut Exclusion {
        let i = match self.exclusions.iter().position(|e| e.pattern == pattern) {
            Some(i) => i,
            None => {
                self.exclusions.push(Exclusion {
                    pattern: pattern.to_string(),
                    ..Exclusion::default()
                });
                self.exclusions.len() - 1
            }
        };
        &mut self.exclusions[i]
    }

    /// Records one more reason to keep `path` (at most `MAX_REASONS`, none said twice).
    /// Returns whether `path` has as many reasons as are recorded: keeping it again adds
    /// none.
    pub(super) fn keep(&mut self, path: &[u8], reason: Reason) -> bool {
        match self.paths.get_mut(path) {
            Some(reasons) => {
                add_reason(reasons, reason);
                reasons.len() >= MAX_REASONS
            }
            None => {
                self.paths.insert(path.to_vec(), vec![reason]);
                MAX_REASONS <= 1
            }
        }
    }

    /// What profiles' exclude globs left out (paths kept for another reason are not
    /// listed once [`KeepSet::settle_left_out`] ran).
    pub fn left_out(&self) -> &[LeftOut] {
        &self.left_out
    }

    /// Notes that `profile`'s `rule` kept it from keeping `path`, which `--keep glob`
    /// keeps. A path the same rule of another profile (one that extends it) left out
    /// already is listed once.
    pub(super) fn note_left_out(&mut self, profile: &str, rule: &str, glob: &str, path: &[u8]) {
        if self
            .left_out
            .iter()
            .any(|l| l.rule == rule && l.glob == glob && l.paths.contains(path))
        {
            return;
        }
        let i = match self
            .left_out
            .iter()
            .position(|l| l.profile == profile && l.glob == glob && l.rule == rule)
        {
            Some(i) => i,
            None => {
                self.left_out.push(LeftOut {
                    profile: profile.to_string(),
                    rule: rule.to_string(),
                    glob: glob.to_string(),
                    paths: BTreeSet::new(),
                });
                self.left_out.len() - 1
            }
        };
        self.left_out[i].paths.insert(path.to_vec());
    }

    /// Drops from the left-out lists what ended up kept anyway (traced, or kept by
    /// another rule), and the globs that then left nothing out.
    pub(super) fn settle_left_out(&mut self) {
        let paths = &self.paths;
        for left in &mut self.left_out {
            left.paths.retain(|p| !paths.contains_key(p));
        }
        self.left_out.retain(|l| !l.paths.is_empty());
    }

    /// A keep set of the given paths and reasons, for tests of what is computed from one.
    #[cfg(test)]
    pub fn of(kept: &[(&str, Reason)]) -> KeepSet {
        let mut set = KeepSet::default();
        for (path, reason) in kept {
            set.keep(path.as_bytes(), reason.clone());
        }
        set
    }
}

/// Adds `reason` to `reasons` unless they hold `MAX_REASONS` already or say it.
fn add_reason(reasons: &mut Vec<Reason>, reason: Reason) {
    if reasons.len() < MAX_REASONS && !reasons.iter().any(|r| r.repeats(&reason)) {
        reasons.push(reason);
    }
}
