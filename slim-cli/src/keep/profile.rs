//! Keep-list profiles: what a runtime or framework loads lazily, as data (`profiles/*.toml`,
//! built into the binary; users may add their own files).
//!
//! A profile says when it applies (paths or globs that exist in the image, ENV variables, a
//! traced path matching a glob) and what it keeps: plain globs, globs under every "used"
//! directory of a kind (a Django app's `templates/`, `locale/` …), whole packages of which
//! any file was used (Python distributions, Node modules, Ruby gems), globs relative to a
//! file's location when that file was used (a JRE's modules when `libjvm.so` was), and
//! Python's source/bytecode pairs. `extends` pulls in another profile's rules.
//!
//! This module parses, resolves and detects profiles; the keep set applies their rules.

use std::collections::BTreeSet;
use std::path::Path;

use globset::{GlobMatcher, GlobSet};
use serde::Deserialize;

use crate::image::index::FsIndex;
use crate::keep::{KeepError, KeepList, compile_globs, glob};
use crate::trace::TraceRecord;

/// The profiles built into slim, from the repository's `profiles/` folder.
pub const BUILTIN: &[(&str, &str)] = &[
    ("base", include_str!("../../../profiles/base.toml")),
    ("python", include_str!("../../../profiles/python.toml")),
    ("django", include_str!("../../../profiles/django.toml")),
    ("flask", include_str!("../../../profiles/flask.toml")),
    ("node", include_str!("../../../profiles/node.toml")),
    ("java", include_str!("../../../profiles/java.toml")),
    ("nginx", include_str!("../../../profiles/nginx.toml")),
    (
        "postgresql",
        include_str!("../../../profiles/postgresql.toml"),
    ),
];

/// A profile as written in TOML.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Profiles whose rules this one includes.
    #[serde(default)]
    pub extends: Vec<String>,
    #[serde(default)]
    pub detect: Detect,
    /// Default keep-lists this profile turns on (by name: certs, zoneinfo, users …).
    #[serde(default)]
    pub lists: Vec<String>,
    /// Globs (absolute) kept whenever the profile applies.
    #[serde(default)]
    pub keep: Vec<String>,
    /// Globs never kept by this profile's package, directory and location rules.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub packages: Vec<Ecosystem>,
    #[serde(default)]
    pub dirs_of_used: Vec<DirsOfUsed>,
    #[serde(default)]
    pub when_used: Vec<WhenUsed>,
    /// Keep Python's `X.py` with its `__pycache__/X.*.pyc` and the other way round.
    #[serde(default)]
    pub python_bytecode_pairs: bool,
}

/// When a profile applies: any one of these.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detect {
    /// Globs of which some path exists in the image.
    #[serde(default)]
    pub paths: Vec<String>,
    /// ENV variables set in the image.
    #[serde(default)]
    pub env: Vec<String>,
    /// Globs that a traced path matches.
    #[serde(default)]
    pub traced: Vec<String>,
}

/// Ecosystems whose packages are kept whole once any of their files was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Distributions in `site-packages`/`dist-packages`, with their metadata and `.pth`.
    Python,
    /// `node_modules/NAME` and `node_modules/@SCOPE/NAME`.
    Node,
    /// `gems/NAME-VERSION` with `specifications/NAME-VERSION.gemspec`.
    Ruby,
}

/// Keep globs under every used directory that holds one of `markers`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirsOfUsed {
    /// File names that make a directory one of the kind (e.g. `apps.py`).
    pub markers: Vec<String>,
    /// Globs relative to the directory (e.g. `templates/**`).
    pub keep: Vec<String>,
    /// Globs relative to the directory that this rule never keeps.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Keep globs relative to a used file's directory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenUsed {
    /// A glob that a used file matches.
    pub trigger: String,
    /// Where `keep` is rooted, relative to the trigger's directory (e.g. `../..`).
    #[serde(default = "dot")]
    pub root: String,
    pub keep: Vec<String>,
    /// Globs relative to the root that this rule never keeps.
    #[serde(default)]
    pub exclude: Vec<String>,
}

fn dot() -> String {
    ".".into()
}

/// Where a profile came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Builtin,
    File(String),
}

/// A profile with its rules (its own and those it extends), ready to apply.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub source: Source,
    pub lists: Vec<KeepList>,
    pub keep: Vec<String>,
    pub exclude: Vec<String>,
    pub packages: Vec<Ecosystem>,
    pub dirs_of_used: Vec<DirsOfUsed>,
    pub when_used: Vec<WhenUsed>,
    pub python_bytecode_pairs: bool,
    detect: Detect,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile {name}: {error}\nhint: see the profile format in the README")]
    Parse { name: String, error: String },
    #[error("cannot read profile file {path}: {error}")]
    Read { path: String, error: String },
    #[error(
        "no profile named {0:?}\nhint: the built-in profiles are {builtin}; or give the path \
         of a TOML file",
        builtin = BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    )]
    Unknown(String),
    #[error("profile {name} extends {missing:?}, which does not exist")]
    UnknownParent { name: String, missing: String },
    #[error("profile {0} extends itself through its parents")]
    Cycle(String),
    #[error("profile {name}: unknown keep-list {list:?}")]
    UnknownList { name: String, list: String },
    #[error("profile {name}: {source}")]
    Glob { name: String, source: KeepError },
}

fn parse(name: &str, text: &str) -> Result<ProfileFile, ProfileError> {
    toml::from_str(text).map_err(|e| ProfileError::Parse {
        name: name.to_string(),
        error: e.to_string(),
    })
}

/// Every built-in profile, resolved.
pub fn builtin() -> Result<Vec<Profile>, ProfileError> {
    BUILTIN.iter().map(|(name, _)| load(name)).collect()
}

/// Whether a `--profile` value names a profile file (rather than a built-in profile): it
/// contains a `/` or ends with `.toml`, and is not a built-in name.
pub fn names_a_file(name_or_path: &str) -> bool {
    !BUILTIN.iter().any(|(n, _)| *n == name_or_path)
        && (name_or_path.contains('/') || name_or_path.ends_with(".toml"))
}

/// Loads a built-in profile by name, or a profile file by path.
pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    let (file, source) = if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        (parse(name_or_path, text)?, Source::Builtin)
    } else if names_a_file(name_or_path) {
        let text = std::fs::read_to_string(name_or_path).map_err(|e| ProfileError::Read {
            path: name_or_path.to_string(),
            error: e.to_string(),
        })?;
        (
            parse(name_or_path, &text)?,
            Source::File(name_or_path.to_string()),
        )
    } else {
        return Err(ProfileError::Unknown(name_or_path.to_string()));
    };
    resolve(file, source, &mut Vec::new())
}

fn resolve(
    file: ProfileFile,
    source: Source,
    chain: &mut Vec<String>,
) -> Result<Profile, ProfileError> {
    if chain.contains(&file.name) {
        return Err(ProfileError::Cycle(file.name));
    }
    chain.push(file.name.clone());
    let mut profile = Profile {
        name: file.name.clone(),
        description: file.description.clone(),
        source,
        lists: Vec::new(),
        keep: Vec::new(),
        exclude: Vec::new(),
        packages: Vec::new(),
        dirs_of_used: Vec::new(),
        when_used: Vec::new(),
        python_bytecode_pairs: false,
        detect: file.detect.clone(),
    };
    for parent in &file.extends {
        let (_, text) = BUILTIN.iter().find(|(n, _)| n == parent).ok_or_else(|| {
            ProfileError::UnknownParent {
                name: file.name.clone(),
                missing: parent.clone(),
            }
        })?;
        let parent = resolve(parse(parent, text)?, Source::Builtin, chain)?;
        profile.lists.extend(parent.lists);
        profile.keep.extend(parent.keep);
        profile.exclude.extend(parent.exclude);
        profile.packages.extend(parent.packages);
        profile.dirs_of_used.extend(parent.dirs_of_used);
        profile.when_used.extend(parent.when_used);
        profile.python_bytecode_pairs |= parent.python_bytecode_pairs;
    }
    chain.pop();
    for list in &file.lists {
        let list = KeepList::from_name(list).ok_or_else(|| ProfileError::UnknownList {
            name: file.name.clone(),
            list: list.clone(),
        })?;
        if !profile.lists.contains(&list) {
            profile.lists.push(list);
        }
    }
    profile.keep.extend(file.keep);
    profile.exclude.extend(file.exclude);
    for eco in file.packages {
        if !profile.packages.contains(&eco) {
            profile.packages.push(eco);
        }
    }
    profile.dirs_of_used.extend(file.dirs_of_used);
    profile.when_used.extend(file.when_used);
    profile.python_bytecode_pairs |= file.python_bytecode_pairs;
    profile.validate()?;
    Ok(profile)
}

impl Profile {
    /// Checks every glob compiles (so a bad profile fails before any container runs).
    fn validate(&self) -> Result<(), ProfileError> {
        let err = |source| ProfileError::Glob {
            name: self.name.clone(),
            source,
        };
        compile_globs(self.keep.iter().map(String::as_str)).map_err(err)?;
        compile_globs(self.exclude.iter().map(String::as_str)).map_err(err)?;
        compile_globs(self.detect.paths.iter().map(String::as_str)).map_err(err)?;
        compile_globs(self.detect.traced.iter().map(String::as_str)).map_err(err)?;
        for rule in &self.when_used {
            compile_globs([rule.trigger.as_str()]).map_err(err)?;
            relative_globs(&rule.keep).map_err(err)?;
            relative_globs(&rule.exclude).map_err(err)?;
        }
        for rule in &self.dirs_of_used {
            relative_globs(&rule.keep).map_err(err)?;
            relative_globs(&rule.exclude).map_err(err)?;
        }
        Ok(())
    }

    /// Why this profile applies to the image and trace, or `None`.
    pub fn detect(
        &self,
        index: &FsIndex,
        env: &[String],
        records: &[TraceRecord],
    ) -> Result<Option<String>, KeepError> {
        if let Some(var) = self.detect.env.iter().find(|var| {
            env.iter()
                .any(|kv| kv.split_once('=').is_some_and(|(k, _)| k == var.as_str()))
        }) {
            return Ok(Some(format!("ENV {var} is set")));
        }
        if !self.detect.paths.is_empty() {
            let set = compile_globs(self.detect.paths.iter().map(String::as_str))?;
            if let Some((path, _)) = index.iter().find(|(p, _)| set.is_match(as_path(p))) {
                return Ok(Some(format!("{} exists", String::from_utf8_lossy(path))));
            }
        }
        if !self.detect.traced.is_empty() {
            let set = compile_globs(self.detect.traced.iter().map(String::as_str))?;
            if let Some(record) = records.iter().find(|r| set.is_match(as_path(&r.path))) {
                return Ok(Some(format!(
                    "{} was traced",
                    String::from_utf8_lossy(&record.path)
                )));
            }
        }
        Ok(None)
    }

    /// The profile's exclusions, compiled.
    pub fn excludes(&self) -> Result<GlobSet, KeepError> {
        compile_globs(self.exclude.iter().map(String::as_str))
    }
}

/// Globs relative to a directory, compiled as if rooted at `/` (match them against the
/// path below that directory, with a leading `/`).
pub fn relative_globs(globs: &[String]) -> Result<Vec<GlobMatcher>, KeepError> {
    globs
        .iter()
        .map(|g| glob(&format!("/{}", g.trim_start_matches('/'))).map(|g| g.compile_matcher()))
        .collect()
}

pub(crate) fn as_path(bytes: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(bytes))
}

/// The profiles that apply: the ones named (`--profile`), then, unless `auto` is off, every
/// built-in one whose detection matches; `base` always first. Each with why it applies.
pub fn choose(
    named: &[Profile],
    auto: bool,
    index: &FsIndex,
    env: &[String],
    records: &[TraceRecord],
) -> Result<Vec<(Profile, String)>, ProfileError> {
    let mut chosen: Vec<(Profile, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    let base = load("base")?;
    seen.insert(base.name.clone());
    chosen.push((base, "always applies".into()));
    for profile in named {
        if seen.insert(profile.name.clone()) {
            chosen.push((profile.clone(), "named with --profile".into()));
        }
    }
    if auto {
        for profile in builtin()? {
            if seen.contains(&profile.name) {
                continue;
            }
            let why = profile
                .detect(index, env, records)
                .map_err(|source| ProfileError::Glob {
                    name: profile.name.clone(),
                    source,
                })?;
            if let Some(why) = why {
                seen.insert(profile.name.clone());
                chosen.push((profile, why));
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses_and_resolves() {
        let profiles = builtin().unwrap();
        assert_eq!(profiles.len(), BUILTIN.len());
        let django = profiles.iter().find(|p| p.name == "django").unwrap();
        assert!(
            django.packages.contains(&Ecosystem::Python),
            "django extends python"
        );
        assert!(!django.dirs_of_used.is_empty());
        let base = profiles.iter().find(|p| p.name == "base").unwrap();
        assert_eq!(base.lists.len(), KeepList::ALL.len());
    }

    #[test]
    fn bad_profiles_are_named_errors() {
        let unknown_field = parse("x", "name = \"x\"\nkeepp = []\n");
        assert!(matches!(unknown_field, Err(ProfileError::Parse { .. })));
        let bad_parent = resolve(
            parse("x", "name = \"x\"\nextends = [\"nope\"]\n").unwrap(),
            Source::Builtin,
            &mut Vec::new(),
        );
        assert!(matches!(
            bad_parent,
            Err(ProfileError::UnknownParent { .. })
        ));
        let bad_glob = resolve(
            parse("x", "name = \"x\"\nkeep = [\"/a/[\"]\n").unwrap(),
            Source::Builtin,
            &mut Vec::new(),
        );
        assert!(matches!(bad_glob, Err(ProfileError::Glob { .. })));
        let bad_list = resolve(
            parse("x", "name = \"x\"\nlists = [\"everything\"]\n").unwrap(),
            Source::Builtin,
            &mut Vec::new(),
        );
        assert!(matches!(bad_list, Err(ProfileError::UnknownList { .. })));
        assert!(matches!(
            load("no-such-profile"),
            Err(ProfileError::Unknown(_))
        ));
    }
}
