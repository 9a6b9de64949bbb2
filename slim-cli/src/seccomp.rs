//! `--seccomp FILE`: a seccomp profile in the engine's JSON format, made from the system
//! calls the probe saw the container's processes make, that refuses every other call.
//!
//! What is allowed: every call the application entered in the traced runs (the main run,
//! the `--exec` probes and the `--run` containers), plus what the runtime (runc) did
//! between applying the container's filter and its exec of the entrypoint (the probe
//! tells these apart by the task's seccomp mode), plus a few calls runc's Go runtime may
//! make on that thread at any moment (`RUNTIME_BASELINE`). Calls the engine's own default
//! profile refused in the original run with another errno than EPERM (`clone3`, answered
//! ENOSYS so that the C library falls back to `clone`) are refused the same way. The
//! profile is then verified (the slim image runs under it, `repair`), and written only
//! once verified. Pure: the file is written by `write`, nothing here runs anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use slim_probe_ebpf::{CallRecord, seccomp_arch, syscall_name, syscall_table};

/// The errno every call the profile does not name returns (EPERM), as the engine's own
/// default profile does.
pub const DEFAULT_ERRNO: u32 = 1;

/// Calls runc's Go runtime may make on its init thread between the filter and the exec
/// whether or not the traced run saw them (a garbage collection, a preemption signal,
/// a new thread): the runtime's part of the profile must not depend on its timing.
pub const RUNTIME_BASELINE: &[&str] = &[
    "clone",
    "exit",
    "exit_group",
    "futex",
    "getpid",
    "gettid",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_yield",
    "sigaltstack",
    "tgkill",
];

/// Why `--seccomp` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error(
        "--seccomp is not available on this architecture: slim has no table of its system \
         calls\nhint: build the profile on x86_64"
    )]
    NoTable,
    #[error(
        "cannot write the seccomp profile {path}: {why}\nhint: pass --seccomp FILE in a writable directory"
    )]
    BadPath { path: String, why: String },
    #[error("cannot write the seccomp profile {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A profile made from a run's calls, before and after verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// seccomp's name of the architecture (`SCMP_ARCH_X86_64`).
    pub arch: &'static str,
    /// The calls allowed, by name, sorted.
    pub allowed: BTreeSet<String>,
    /// Calls refused with another errno than [`DEFAULT_ERRNO`], by errno.
    pub errno_rules: BTreeMap<u32, BTreeSet<String>>,
    /// Call numbers the processes made that have no name in slim's table: the profile
    /// cannot name them, so the runtime refuses them.
    pub unnamed: BTreeSet<u32>,
    /// Whether the original ran under the engine's filter, so that the calls made under
    /// it are allowed (`true`), or without one, so that every call of the container's
    /// tasks is, the runtime's set-up included (`false`).
    pub under_filter: bool,
    /// Distinct 32-bit (compat) calls seen: the profile allows none of them.
    pub compat_calls: usize,
}

impl Profile {
    /// The profile for the calls of `record`.
    pub fn from_calls(record: &CallRecord) -> Result<Profile, SeccompError> {
        let arch = seccomp_arch().ok_or(SeccompError::NoTable)?;
        // Under the engine's filter every task of the application runs filtered, and the
        // runtime from its filter on: what ran unfiltered was the runtime's set-up (even a
        // traced task: runc re-executing itself inside the cgroup is taken for the
        // application's start at times).
        let under_filter = !record.application.is_empty() || !record.runtime.is_empty();
        let (application, runtime) = if under_filter {
            (&record.application, &record.runtime)
        } else {
            (&record.application_unfiltered, &record.setup)
        };
        let mut allowed = BTreeSet::new();
        let mut unnamed = BTreeSet::new();
        for nr in application.iter().chain(runtime) {
            match syscall_name(*nr) {
                Some(name) => {
                    allowed.insert(name.to_string());
                }
                None => {
                    unnamed.insert(*nr);
                }
            }
        }
        allowed.extend(RUNTIME_BASELINE.iter().map(|s| (*s).to_string()));
        let mut errno_rules: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        for (nr, errno) in &record.refused {
            if *errno == DEFAULT_ERRNO {
                continue;
            }
            if let Some(name) = syscall_name(*nr)
                && !allowed.contains(name)
            {
                errno_rules
                    .entry(*errno)
                    .or_default()
                    .insert(name.to_string());
            }
        }
        Ok(Profile {
            arch,
            allowed,
            errno_rules,
            unnamed,
            under_filter,
            compat_calls: record.compat.len(),
        })
    }

    /// Takes `name` out of the allowed calls (the test hook `seccomp-drop:NAME`).
    pub fn refuse(&mut self, name: &str) {
        self.allowed.remove(name);
    }

    /// How many calls the architecture has.
    pub fn total(&self) -> usize {
        syscall_table().len()
    }

    /// The profile in the engine's JSON format: pretty for the file, compact for the
    /// engine's API. Same calls, same text.
    pub fn json(&self, pretty: bool) -> String {
        let mut syscalls = vec![Rule {
            names: self.allowed.iter().cloned().collect(),
            action: "SCMP_ACT_ALLOW",
            errno_ret: None,
        }];
        for (errno, names) in &self.errno_rules {
            syscalls.push(Rule {
                names: names.iter().cloned().collect(),
                action: "SCMP_ACT_ERRNO",
                errno_ret: Some(*errno),
            });
        }
        let document = Document {
            default_action: "SCMP_ACT_ERRNO",
            default_errno_ret: DEFAULT_ERRNO,
            architectures: vec![self.arch],
            syscalls,
        };
        let mut text = if pretty {
            serde_json::to_string_pretty(&document)
        } else {
            serde_json::to_string(&document)
        }
        .unwrap_or_default();
        if pretty {
            text.push('\n');
        }
        text
    }

    /// What the report says of it.
    pub fn summary(&self, path: &Path, written: bool) -> SeccompSummary {
        SeccompSummary {
            path: path.display().to_string(),
            written,
            architecture: self.arch.to_string(),
            allowed: self.allowed.len(),
            total: self.total(),
            calls: self.allowed.iter().cloned().collect(),
            errno_rules: self
                .errno_rules
                .iter()
                .map(|(errno, names)| ErrnoRule {
                    errno: *errno,
                    names: names.iter().cloned().collect(),
                })
                .collect(),
            unnamed: self.unnamed.iter().copied().collect(),
            under_filter: self.under_filter,
            compat_calls: self.compat_calls,
        }
    }
}

/// The calls a verification run under the profile tried and the profile refused, that the
/// original's runs did not have refused: by name (or number), sorted.
pub fn newly_refused(original: &CallRecord, verified: &CallRecord) -> Vec<String> {
    verified
        .refused
        .keys()
        .filter(|nr| !original.refused.contains_key(nr))
        .map(|nr| syscall_name(*nr).map_or_else(|| format!("#{nr}"), str::to_string))
        .collect()
}

/// Fails early (before the traced run) when the profile cannot be written to `path`: it
/// is a directory, its directory does not exist or takes no new file, or it exists and
/// cannot be opened for writing. Leaves nothing behind.
pub fn check_path(path: &Path) -> Result<(), SeccompError> {
    seccomp_arch().ok_or(SeccompError::NoTable)?;
    let bad = |why: String| SeccompError::BadPath {
        path: path.display().to_string(),
        why,
    };
    if path.is_dir() {
        return Err(bad("it is a directory; name the file to write".into()));
    }
    let dir = parent(path);
    if !dir.is_dir() {
        return Err(bad(format!("{} is not a directory", dir.display())));
    }
    if path.exists() {
        fs_err::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| bad(format!("it cannot be opened for writing: {e}")))?;
        return Ok(());
    }
    let probe = temp_name(path, "check");
    fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| bad(format!("{} takes no new file: {e}", dir.display())))?;
    let _ = fs_err::remove_file(&probe);
    Ok(())
}

/// Writes `text` to `path` through a temporary file in the same directory, renamed into
/// place: a reader never sees half a profile, and a failure leaves nothing.
pub fn write(path: &Path, text: &str) -> Result<(), SeccompError> {
    let temp = temp_name(path, "tmp");
    let error = |source| SeccompError::Write {
        path: path.display().to_string(),
        source,
    };
    let result = fs_err::write(&temp, text).and_then(|()| fs_err::rename(&temp, path));
    if let Err(e) = result {
        let _ = fs_err::remove_file(&temp);
        return Err(error(e));
    }
    Ok(())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_name(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent(path).join(format!(".{name}.{}.{what}", std::process::id()))
}

/// The engine's seccomp profile document (the fields slim writes).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    default_action: &'static str,
    default_errno_ret: u32,
    architectures: Vec<&'static str>,
    syscalls: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<String>,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errno_ret: Option<u32>,
}

/// Calls refused with one errno.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ErrnoRule {
    #[schemars(range(min = 1))]
    pub errno: u32,
    pub names: Vec<String>,
}

/// The seccomp profile of a build, as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SeccompSummary {
    /// The `--seccomp` file.
    pub path: String,
    /// Whether it was written: only once the slim image passed verification under it (or
    /// with `--allow-diff`).
    pub written: bool,
    /// seccomp's name of the architecture (`SCMP_ARCH_X86_64`): the only one the profile
    /// lists, so 32-bit (compat) calls are refused.
    pub architecture: String,
    /// How many calls the profile allows.
    pub allowed: usize,
    /// How many calls the architecture has (slim's table).
    pub total: usize,
    /// The calls allowed, sorted.
    pub calls: Vec<String>,
    /// Calls refused with another errno than EPERM, as the engine's default profile
    /// refused them in the original run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errno_rules: Vec<ErrnoRule>,
    /// Call numbers seen that slim's table does not name: not in the profile.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unnamed: Vec<u32>,
    /// Whether the original ran under the engine's filter, the calls made under it being
    /// those allowed (or, without one, every call of the container's tasks, the runtime's
    /// set-up included).
    pub under_filter: bool,
    /// Distinct 32-bit (compat) calls the processes made: the profile refuses them.
    pub compat_calls: usize,
}

impl SeccompSummary {
    /// The summary's lines about the profile.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "seccomp profile {}: allows {} of {} system calls ({}){}",
            self.path,
            self.allowed,
            self.total,
            self.architecture,
            if self.written {
                ""
            } else {
                "; NOT WRITTEN: the slim image failed verification under it"
            }
        )];
        if self.compat_calls > 0 {
            lines.push(format!(
                "  warning: {} distinct 32-bit system call(s) were made; the profile lists \
                 {} only, so 32-bit programs are refused",
                self.compat_calls, self.architecture
            ));
        }
        if !self.unnamed.is_empty() {
            lines.push(format!(
                "  warning: call number(s) {:?} have no name in slim's table: the profile \
                 cannot allow them",
                self.unnamed
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CallRecord {
        let nr = |name: &str| {
            syscall_table()
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(nr, _)| *nr)
                .unwrap()
        };
        CallRecord {
            application: ["read", "openat", "sendfile", "epoll_wait"].map(nr).into(),
            application_unfiltered: ["sethostname"].map(nr).into(),
            runtime: ["capset", "execve"].map(nr).into(),
            setup: ["mount", "pivot_root"].map(nr).into(),
            refused: [(nr("clone3"), 38), (nr("keyctl"), 1)].into(),
            compat: BTreeSet::new(),
        }
    }

    #[test]
    fn the_profile_allows_the_application_and_the_runtime_under_its_filter() {
        if seccomp_arch().is_none() {
            return;
        }
        let profile = Profile::from_calls(&record()).unwrap();
        for name in [
            "read",
            "openat",
            "sendfile",
            "epoll_wait",
            "capset",
            "execve",
        ] {
            assert!(profile.allowed.contains(name), "{name}");
        }
        // The runtime's set-up before its filter is not the container's, even when a
        // traced task made it.
        for name in ["mount", "pivot_root", "sethostname"] {
            assert!(!profile.allowed.contains(name), "{name}");
        }
        assert!(profile.under_filter);
        // clone3 is answered ENOSYS as the engine's default did; keyctl falls to EPERM.
        assert_eq!(
            profile.errno_rules,
            BTreeMap::from([(38, BTreeSet::from(["clone3".to_string()]))])
        );
        assert!(profile.allowed.len() < profile.total() / 2);
    }

    #[test]
    fn without_a_filter_in_the_original_the_runtime_set_up_is_allowed() {
        if seccomp_arch().is_none() {
            return;
        }
        let mut record = record();
        record
            .application_unfiltered
            .append(&mut record.application);
        record.setup.append(&mut record.runtime);
        let profile = Profile::from_calls(&record).unwrap();
        assert!(!profile.under_filter);
        for name in ["read", "sendfile", "capset", "mount", "sethostname"] {
            assert!(profile.allowed.contains(name), "{name}");
        }
    }

    #[test]
    fn the_json_is_the_engine_format_sorted_and_deterministic() {
        if seccomp_arch().is_none() {
            return;
        }
        let profile = Profile::from_calls(&record()).unwrap();
        let text = profile.json(true);
        assert_eq!(text, Profile::from_calls(&record()).unwrap().json(true));
        assert!(text.ends_with("}\n"));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(doc["defaultErrnoRet"], 1);
        assert_eq!(
            doc["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64"])
        );
        let rules = doc["syscalls"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["action"], "SCMP_ACT_ALLOW");
        assert!(rules[0].get("errnoRet").is_none());
        let names: Vec<&str> = rules[0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "names are sorted and unique");
        assert_eq!(
            rules[1],
            serde_json::json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})
        );
        // The compact text is the same document.
        let compact: serde_json::Value = serde_json::from_str(&profile.json(false)).unwrap();
        assert_eq!(compact, doc);
        assert!(!profile.json(false).contains('\n'));
    }

    #[test]
    fn a_refused_call_is_dropped_from_the_allowed_ones() {
        if seccomp_arch().is_none() {
            return;
        }
        let mut profile = Profile::from_calls(&record()).unwrap();
        let before = profile.allowed.len();
        profile.refuse("sendfile");
        assert_eq!(profile.allowed.len(), before - 1);
        assert!(!profile.json(true).contains("\"sendfile\""));
    }

    #[test]
    fn only_calls_newly_refused_under_the_profile_are_named() {
        let original = record();
        let mut verified = CallRecord {
            refused: original.refused.clone(),
            ..CallRecord::default()
        };
        assert!(newly_refused(&original, &verified).is_empty());
        if seccomp_arch().is_some() {
            verified.refused.insert(40, 1);
            assert_eq!(newly_refused(&original, &verified), ["sendfile"]);
        }
    }

    #[test]
    fn a_path_that_cannot_be_written_is_named_and_nothing_is_left() {
        if seccomp_arch().is_none() {
            return;
        }
        let dir = slim_test_kit::ScratchDir::new("seccomp-path");
        let missing = dir.path().join("nope/profile.json");
        let err = check_path(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope/profile.json") && err.contains("is not a directory"),
            "{err}"
        );
        let err = check_path(dir.path()).unwrap_err().to_string();
        assert!(err.contains("it is a directory"), "{err}");
        let fine = dir.path().join("profile.json");
        check_path(&fine).unwrap();
        write(&fine, "{}\n").unwrap();
        check_path(&fine).unwrap();
        let left: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("profile.json")]);
    }
}
