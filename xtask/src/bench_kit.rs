//! What the benchmarks share: the release binary they measure (and the commit it was
//! built from), and what else the machine was doing (load average, other slim or cargo
//! processes), which every section of BENCHMARKS.md records.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;

/// `$SLIM_BIN` if set, else `target/release/slim` built now.
pub(crate) fn release_slim() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(slim_fixtures::SLIM_BIN_ENV) {
        eprintln!(
            "bench: using {} from ${}",
            PathBuf::from(&bin).display(),
            slim_fixtures::SLIM_BIN_ENV
        );
        return Ok(PathBuf::from(bin));
    }
    release_build()
}

/// `target/release/slim`, built now.
pub(crate) fn release_build() -> Result<PathBuf> {
    release_build_with(&[])
}

/// `target/release/slim`, built now with these features of slim-cli.
pub(crate) fn release_build_with(features: &[&str]) -> Result<PathBuf> {
    let mut cargo = crate::cargo();
    cargo.args(["build", "--release", "-p", "slim-cli", "--bin", "slim"]);
    if !features.is_empty() {
        cargo.args(["--features", &features.join(",")]);
    }
    crate::run(&mut cargo)?;
    let bin = workspace_root().join("target/release/slim");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} is missing after the build", bin.display()))
    }
}

/// Where the binary was built from: the commit of the checkout that holds it, and
/// whether that checkout had changes to tracked files.
pub(crate) fn source_of(binary: &Path) -> String {
    let dir = binary.parent().unwrap_or(Path::new("."));
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    // Named relative to its checkout: BENCHMARKS.md never names a machine's own paths.
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shown = git(&["rev-parse", "--show-toplevel"])
        .and_then(|top| {
            binary
                .strip_prefix(&top)
                .ok()
                .map(|p| p.display().to_string())
        })
        .unwrap_or(name);
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!(
                "`{shown}`, built from commit {commit}{}",
                if dirty {
                    " plus uncommitted changes"
                } else {
                    ""
                }
            )
        }
        None => format!("`{shown}`"),
    }
}

/// The repository's root (the parent of the xtask package).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Names of other processes that make a benchmark noisy (slim, cargo, rustc, clang),
/// leaving out this process and its ancestors (the `cargo xtask` that started it).
pub(crate) fn other_processes() -> Vec<String> {
    let mut ours = vec![std::process::id()];
    while let Some(parent) = parent_of(*ours.last().unwrap_or(&1)).filter(|p| *p > 1) {
        ours.push(parent);
    }
    let mut seen: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !ours.contains(pid))
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
        .map(|comm| comm.trim().to_string())
        .filter(|comm| ["slim", "cargo", "rustc", "clang"].contains(&comm.as_str()))
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: read after its end.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}
