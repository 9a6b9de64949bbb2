//! Keep-list profiles: what a runtime or framework loads lazily, as data (`profiles/*.toml`,
//! built into the binary; users may add their own files).
//!
//! A profile says when it applies (paths or globs that exist in the image, ENV variables, a
//! traced path matching a glob) and what it keeps: plain globs, globs under every "used"
//! directory of a kind (a Django app's `templates/`, `locale/` …), whole packages of which
//! any file was used (Python distributions, Node modules, Ruby gems), globs relative to a
//! file's location when that file was used (a JRE's modules when `libjvm.so` was), and
//! Python's source/bytecode pairs. `extends` pulls in another profile's rules. The base
//! profile, which always applies, also defines what each default keep-list keeps.
//!
//! This module parses, resolves and detects profiles; the keep set applies their rules.

use std::collections::{BTreeMap, BTreeSet};

use globset::GlobSet;
use serde::Deserialize;

use super::glob::{KeepError, as_path, compile_globs, relative_globs};
use super::model::KeepList;
use crate::image::index::FsIndex;
use crate::trace::TraceRecord;

/// The profile that always applies, and the only one that defines keep-lists.
pub const BASE: &str = "base";

/// The profiles built into slim, from the repository's `profiles/` folder.
pub const BUILTIN: &[(&str, &str)] = &[
    (BASE, include_str!("../../../profiles/base.toml")),
    ("python", include_str!("../../../profiles/python.toml")),
    ("django", include_str!("../../../profiles/django.toml")),
    ("flask", include_str!("../../../profiles/flask.toml")),
    ("node", include_str!("../../../profiles/node.toml")),
    ("ruby", include_str!("../../../profiles/ruby.toml")),
    ("php", include_str!("../../../profiles/php.toml")),
    ("apache", include_str!("../../../profiles/apache.toml")),
    ("java", include_str!("../../../profiles/java.toml")),
    ("nginx", include_str!("../../../profiles/nginx.toml")),
    (
        "postgresql",
        include_str!("../../../profiles/postgresql.toml"),
    ),
    ("mariadb", include_str!("../../../profiles/mariadb.toml")),
    ("redis", include_str!("../../../profiles/redis.toml")),
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
    /// Keep the import closure of the kept Python modules.
    #[serde(default)]
    pub python_imports: Option<PythonImports>,
    /// Keep the require closure of the kept Ruby files.
    #[serde(default)]
    pub ruby_requires: Option<RubyRequires>,
    /// Keep what configuration files tell a program to load.
    #[serde(default)]
    pub config_loads: Vec<ConfigLoads>,
    /// What each default keep-list keeps, by list name (the base profile only).
    #[serde(default)]
    pub keep_lists: BTreeMap<String, ListRules>,
}

/// What a default keep-list keeps by data alone; some lists add what only the image can
/// tell (the NSS modules, the USER's home, the WORKDIR tree).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRules {
    /// Globs (absolute) of the image.
    #[serde(default)]
    pub keep: Vec<String>,
    /// ENV variables of the image whose value names more paths (`:`-separated), each kept
    /// with its whole tree.
    #[serde(default)]
    pub env: Vec<String>,
    /// Globs of what the list leaves out of what `keep` matches (an optional part no
    /// program reads unless configured to), listed in the report as left out.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The import closure of the kept Python modules: each module a kept source can import,
/// found on the image's `sys.path`, until nothing new appears. What the sources cannot say
/// is listed here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonImports {
    /// Modules the interpreter imports without opening their file (frozen into it), in
    /// every version: their imports are read from the image's copy, which is kept only
    /// when the run used it.
    #[serde(default)]
    pub frozen: Vec<String>,
    /// More frozen modules, by the version (`3.11`) that froze them.
    #[serde(default)]
    pub frozen_since: BTreeMap<String, Vec<String>>,
    /// Packages imported by a name computed at run time: kept whole.
    #[serde(default)]
    pub whole: Vec<String>,
    /// Modules that C code imports when the module named by the key is imported.
    #[serde(default)]
    pub implied: BTreeMap<String, Vec<String>>,
    /// Packages and modules the standard library imports only in self-tests and
    /// interactive help: not followed from the standard library's own modules (an
    /// application's import of them is).
    #[serde(default)]
    pub tools: Vec<String>,
}

impl PythonImports {
    /// The modules frozen into Python `version` (`3.11`).
    pub fn frozen_in(&self, version: &str) -> impl Iterator<Item = &String> {
        let since = self
            .frozen_since
            .iter()
            .filter(move |(since, _)| version_at_least(version, since))
            .flat_map(|(_, modules)| modules);
        self.frozen.iter().chain(since)
    }

    /// Both tables' modules together.
    fn merge(&mut self, other: PythonImports) {
        self.frozen.extend(other.frozen);
        for (version, frozen) in other.frozen_since {
            self.frozen_since.entry(version).or_default().extend(frozen);
        }
        self.whole.extend(other.whole);
        self.tools.extend(other.tools);
        for (module, implied) in other.implied {
            self.implied.entry(module).or_default().extend(implied);
        }
    }
}

/// Whether the Python version `version` (`3.12`) is `since` (`3.11`) or later; a version
/// that does not read as `MAJOR.MINOR` is not.
fn version_at_least(version: &str, since: &str) -> bool {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    matches!((parse(version), parse(since)), (Some(v), Some(s)) if v >= s)
}

/// The require closure of the kept Ruby files: each feature a kept file can require,
/// found on the image's `$LOAD_PATH` and in its gems, until nothing new appears. Where
/// Ruby looks, and what the sources cannot say, is listed here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RubyRequires {
    /// Globs of the directories on `$LOAD_PATH`, in search order (those that exist in the
    /// image are searched).
    #[serde(default)]
    pub load_path: Vec<String>,
    /// Globs of gem homes (directories with `gems/` and `specifications/`): the `lib`
    /// directory of each of their gems is searched after the load path.
    #[serde(default)]
    pub gem_homes: Vec<String>,
    /// ENV variables of the image naming more gem homes (`:`-separated; a Bundler path
    /// holds its home in `ruby/VERSION`).
    #[serde(default)]
    pub gem_env: Vec<String>,
    /// Features loaded by a name computed at run time: the file and the directory of that
    /// name in every load path directory, kept whole.
    #[serde(default)]
    pub whole: Vec<String>,
    /// Features (by their first part) the standard library and gems require only as
    /// tools (documentation, debugging, tests): not followed from them (an
    /// application's require of them is).
    #[serde(default)]
    pub tools: Vec<String>,
}

impl RubyRequires {
    fn merge(&mut self, other: RubyRequires) {
        self.load_path.extend(other.load_path);
        self.gem_homes.extend(other.gem_homes);
        self.gem_env.extend(other.gem_env);
        self.whole.extend(other.whole);
        self.tools.extend(other.tools);
    }
}

/// Files that configuration files name in a directive to load (PHP's `extension=intl`,
/// Apache's `LoadModule`): each one named is kept with its ELF closure.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLoads {
    /// Globs of the configuration files read.
    pub files: Vec<String>,
    /// The directives (without regard to case) whose value's last word names a file.
    pub directives: Vec<String>,
    /// Globs of the directories a relative name is looked up in.
    #[serde(default)]
    pub dirs: Vec<String>,
    /// Appended to a name that does not exist as written (`intl` is `intl.so`).
    #[serde(default)]
    pub suffix: String,
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
    /// `NAME` and `@SCOPE/NAME` in a `node_modules` or a global package directory
    /// (`/usr/share/nodejs`, `NODE_PATH` …), with the packages their modules require.
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
    pub python_imports: Option<PythonImports>,
    pub ruby_requires: Option<RubyRequires>,
    pub config_loads: Vec<ConfigLoads>,
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
    #[error("profile {0} defines keep-lists; only the base profile does")]
    DefinesLists(String),
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
        #[expect(
            clippy::disallowed_methods,
            reason = "the error it maps to names the file"
        )]
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
        python_imports: None,
        ruby_requires: None,
        config_loads: Vec::new(),
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
        merge_imports(&mut profile.python_imports, parent.python_imports);
        merge_requires(&mut profile.ruby_requires, parent.ruby_requires);
        profile.config_loads.extend(parent.config_loads);
    }
    chain.pop();
    if !file.keep_lists.is_empty() {
        if !(profile.source == Source::Builtin && file.name == BASE) {
            return Err(ProfileError::DefinesLists(file.name));
        }
        list_rules(&file)?;
    }
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
    merge_imports(&mut profile.python_imports, file.python_imports);
    merge_requires(&mut profile.ruby_requires, file.ruby_requires);
    profile.config_loads.extend(file.config_loads);
    profile.validate()?;
    Ok(profile)
}

fn merge_imports(into: &mut Option<PythonImports>, from: Option<PythonImports>) {
    if let Some(from) = from {
        into.get_or_insert_with(PythonImports::default).merge(from);
    }
}

fn merge_requires(into: &mut Option<RubyRequires>, from: Option<RubyRequires>) {
    if let Some(from) = from {
        into.get_or_insert_with(RubyRequires::default).merge(from);
    }
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
        if let Some(rules) = &self.ruby_requires {
            compile_globs(rules.load_path.iter().map(String::as_str)).map_err(err)?;
            compile_globs(rules.gem_homes.iter().map(String::as_str)).map_err(err)?;
        }
        for rule in &self.config_loads {
            compile_globs(rule.files.iter().map(String::as_str)).map_err(err)?;
            compile_globs(rule.dirs.iter().map(String::as_str)).map_err(err)?;
        }
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

/// What each default keep-list keeps, as the built-in base profile defines it.
pub fn keep_lists() -> Result<BTreeMap<KeepList, ListRules>, ProfileError> {
    let (_, text) = BUILTIN
        .iter()
        .find(|(n, _)| *n == BASE)
        .ok_or_else(|| ProfileError::Unknown(BASE.to_string()))?;
    list_rules(&parse(BASE, text)?)
}

/// The keep-lists a profile file defines, each name known and every glob valid.
fn list_rules(file: &ProfileFile) -> Result<BTreeMap<KeepList, ListRules>, ProfileError> {
    let mut lists = BTreeMap::new();
    for (name, rules) in &file.keep_lists {
        let list = KeepList::from_name(name).ok_or_else(|| ProfileError::UnknownList {
            name: file.name.clone(),
            list: name.clone(),
        })?;
        for globs in [&rules.keep, &rules.exclude] {
            compile_globs(globs.iter().map(String::as_str)).map_err(|source| {
                ProfileError::Glob {
                    name: file.name.clone(),
                    source,
                }
            })?;
        }
        lists.insert(list, rules.clone());
    }
    Ok(lists)
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
    let base = load(BASE)?;
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
    fn frozen_modules_by_version() {
        let rules = PythonImports {
            frozen: vec!["zipimport".into()],
            frozen_since: [("3.11".to_string(), vec!["os".to_string()])].into(),
            ..PythonImports::default()
        };
        let frozen = |version| rules.frozen_in(version).cloned().collect::<Vec<_>>();
        assert_eq!(frozen("3.9"), ["zipimport"]);
        assert_eq!(
            frozen("3.10"),
            ["zipimport"],
            "3.10 < 3.11, though \"3.10\" > \"3.1\""
        );
        assert_eq!(frozen("3.11"), ["zipimport", "os"]);
        assert_eq!(frozen("3.12"), ["zipimport", "os"]);
        assert_eq!(frozen("3.x"), ["zipimport"]);
    }

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
        let base = profiles.iter().find(|p| p.name == BASE).unwrap();
        assert_eq!(base.lists.len(), KeepList::ALL.len());
    }

    #[test]
    fn the_base_profile_defines_every_keep_list() {
        let lists = keep_lists().unwrap();
        assert_eq!(
            lists.keys().copied().collect::<Vec<_>>(),
            KeepList::ALL.to_vec()
        );
        assert!(
            lists[&KeepList::Certs]
                .env
                .contains(&"SSL_CERT_FILE".to_string())
        );
        assert!(
            lists[&KeepList::Users]
                .keep
                .contains(&"/etc/passwd".to_string())
        );
    }

    #[test]
    fn only_the_base_profile_defines_keep_lists() {
        let text = "name = \"x\"\n[keep_lists.certs]\nkeep = [\"/x\"]\n";
        assert!(matches!(
            resolve(parse("x", text).unwrap(), Source::Builtin, &mut Vec::new()),
            Err(ProfileError::DefinesLists(_))
        ));
        let unknown = "name = \"base\"\n[keep_lists.everything]\n";
        assert!(matches!(
            resolve(
                parse("base", unknown).unwrap(),
                Source::Builtin,
                &mut Vec::new()
            ),
            Err(ProfileError::UnknownList { .. })
        ));
        let relative = "name = \"base\"\n[keep_lists.certs]\nkeep = [\"etc/ssl\"]\n";
        assert!(matches!(
            resolve(
                parse("base", relative).unwrap(),
                Source::Builtin,
                &mut Vec::new()
            ),
            Err(ProfileError::Glob { .. })
        ));
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
