//! `cargo xtask deps`: every direct dependency of every package of the workspace (and of
//! the fuzz crate) is used by that package's code. A dependency counts as used when its
//! crate name appears as a path (`name::`), in `use name` or `extern crate name`, in the
//! sources that can see it: `build.rs` for build dependencies, the package's other Rust
//! files for normal and dev dependencies. Nested packages are left to themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Result;

/// Checks the workspace and the fuzz crate; the error names each unused dependency.
pub fn check() -> Result {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?;
    let mut unused = Vec::new();
    let mut checked = 0;
    for manifest in [root.join("Cargo.toml"), root.join("fuzz/Cargo.toml")] {
        for package in workspace_packages(&manifest)? {
            checked += package.dependencies.len();
            unused.extend(unused_in(&package, root)?);
        }
    }
    xtask_builds_without_the_probe(&root.join("Cargo.toml"))?;
    if unused.is_empty() {
        eprintln!("deps: {checked} direct dependencies, all used; xtask builds without clang");
        Ok(())
    } else {
        Err(format!(
            "unused dependencies (remove them from the Cargo.toml named):\n  {}",
            unused.join("\n  ")
        ))
    }
}

/// The package whose build script needs clang: the eBPF probe.
const NEEDS_CLANG: &str = "slim-probe-ebpf";

/// `cargo xtask setup` is what installs clang, so xtask itself must build without it: no
/// normal or build dependency of xtask, however indirect, may be [`NEEDS_CLANG`].
fn xtask_builds_without_the_probe(manifest: &Path) -> Result {
    let metadata = cargo_metadata(manifest, &[])?;
    match build_path(&metadata, "xtask", NEEDS_CLANG) {
        None => Ok(()),
        Some(path) => Err(format!(
            "xtask depends on {NEEDS_CLANG} ({}), whose build needs clang: `cargo xtask \
             setup` could not run on a fresh machine to install it\nhint: run what needs \
             that crate through cargo (as `cargo xtask schema` runs a slim-cli test)",
            path.join(" → ")
        )),
    }
}

/// The chain of package names from `from` to `to` through normal and build dependencies
/// in `cargo metadata`'s resolve graph (dev dependencies are not built for `from`), if
/// there is one.
fn build_path(metadata: &Value, from: &str, to: &str) -> Option<Vec<String>> {
    let name_of = |id: &str| -> String {
        metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["id"] == id)
            .and_then(|p| p["name"].as_str())
            .unwrap_or(id)
            .to_string()
    };
    let nodes = metadata["resolve"]["nodes"].as_array()?;
    let start = nodes
        .iter()
        .find(|n| name_of(n["id"].as_str().unwrap_or("")) == from)?;
    let mut seen = BTreeSet::new();
    let mut queue = std::collections::VecDeque::from([(start, vec![from.to_string()])]);
    while let Some((node, path)) = queue.pop_front() {
        for dep in node["deps"].as_array().into_iter().flatten() {
            let built = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            let id = dep["pkg"].as_str().unwrap_or("");
            if !built || !seen.insert(id.to_string()) {
                continue;
            }
            let mut path = path.clone();
            path.push(name_of(id));
            if path.last().is_some_and(|n| n == to) {
                return Some(path);
            }
            if let Some(next) = nodes.iter().find(|n| n["id"] == id) {
                queue.push_back((next, path));
            }
        }
    }
    None
}

/// A package and its direct dependencies, as `cargo metadata` gives them.
struct Package {
    name: String,
    dir: PathBuf,
    dependencies: Vec<Dependency>,
}

struct Dependency {
    /// The name the code uses (`rename` or the package name, `-` as `_`).
    crate_name: String,
    /// `build` for build dependencies; normal and dev dependencies share the sources.
    build: bool,
}

fn workspace_packages(manifest: &Path) -> Result<Vec<Package>> {
    parse_packages(&cargo_metadata(manifest, &["--no-deps"])?)
}

/// `cargo metadata` of `manifest` with `extra` arguments, parsed.
fn cargo_metadata(manifest: &Path, extra: &[&str]) -> Result<Value> {
    let output = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["metadata", "--format-version", "1"])
        .args(extra)
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata --manifest-path {} failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("reading cargo metadata's output: {e}"))
}

fn parse_packages(metadata: &Value) -> Result<Vec<Package>> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata gave no packages")?;
    // A path dependency on a package of the workspace goes by that package's lib name.
    let lib_names: BTreeMap<&str, &str> = packages
        .iter()
        .filter_map(|p| {
            let lib = p["targets"].as_array()?.iter().find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "lib"))
            })?;
            Some((p["name"].as_str()?, lib["name"].as_str()?))
        })
        .collect();
    packages
        .iter()
        .map(|p| {
            let manifest = p["manifest_path"]
                .as_str()
                .ok_or("a package without manifest_path")?;
            let dependencies = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    let package = d["name"].as_str().unwrap_or("");
                    let name = d["rename"]
                        .as_str()
                        .or(lib_names.get(package).copied())
                        .unwrap_or(package);
                    Dependency {
                        crate_name: name.replace('-', "_"),
                        build: d["kind"] == "build",
                    }
                })
                .collect();
            Ok(Package {
                name: p["name"].as_str().unwrap_or("?").to_string(),
                dir: Path::new(manifest)
                    .parent()
                    .ok_or("a manifest without a directory")?
                    .to_path_buf(),
                dependencies,
            })
        })
        .collect()
}

/// The unused dependencies of `package`, each named with its manifest's path relative to
/// `root`.
fn unused_in(package: &Package, root: &Path) -> Result<Vec<String>> {
    let mut sources = Vec::new();
    rust_files(&package.dir, true, &mut sources)?;
    let build_script = package.dir.join("build.rs");
    let mut used = BTreeSet::new();
    let mut used_by_build = BTreeSet::new();
    for file in &sources {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        let names = if *file == build_script {
            &mut used_by_build
        } else {
            &mut used
        };
        for dependency in &package.dependencies {
            if mentions_crate(&text, &dependency.crate_name) {
                names.insert(dependency.crate_name.clone());
            }
        }
    }
    Ok(package
        .dependencies
        .iter()
        .filter(|d| {
            let seen = if d.build { &used_by_build } else { &used };
            !seen.contains(&d.crate_name)
        })
        .map(|d| {
            let kind = if d.build { " (build)" } else { "" };
            let manifest = package.dir.join("Cargo.toml");
            let manifest = manifest.strip_prefix(root).unwrap_or(&manifest);
            format!("{}{kind} in {}", d.crate_name, manifest.display())
        })
        .map(|line| format!("{}: {line}", package.name))
        .collect())
}

/// The `.rs` files under `dir`, skipping `target` and nested packages.
fn rust_files(dir: &Path, top: bool, out: &mut Vec<PathBuf>) -> Result {
    if !top && (dir.join("Cargo.toml").exists() || dir.ends_with("target")) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("listing {}: {e}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if kind.is_dir() {
            rust_files(&path, false, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether `text` names the crate `name`: `name::`, `use name` or `extern crate name`,
/// with `name` not the end of a longer identifier.
fn mentions_crate(text: &str, name: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            return false;
        }
        let after = &text[at + name.len()..];
        if after.starts_with("::") {
            return true;
        }
        let ends_word = !after.chars().next().is_some_and(is_ident);
        let head = text[..at].trim_end();
        ends_word && (head.ends_with("use") || head.ends_with("extern crate"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_is_mentioned_by_a_path_a_use_or_extern_crate() {
        assert!(mentions_crate(
            "let x = serde_json::json!({});",
            "serde_json"
        ));
        assert!(mentions_crate("use tar;\n", "tar"));
        assert!(mentions_crate("use tar::{Builder};", "tar"));
        assert!(mentions_crate("pub use  object as elf;", "object"));
        assert!(mentions_crate("extern crate libc;", "libc"));
        assert!(!mentions_crate("use serde_json::Value;", "serde"));
        assert!(!mentions_crate("let tar = 1; a.tar", "tar"));
        assert!(!mentions_crate("use std::io::bytes::X;", "bytes"));
        assert!(!mentions_crate("my_tar::x()", "tar"));
    }

    #[test]
    fn xtask_builds_on_a_machine_without_clang() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        xtask_builds_without_the_probe(&root).unwrap();
    }

    #[test]
    fn a_dependency_is_found_through_normal_and_build_edges_only() {
        let node = |id: &str, deps: &[(&str, Option<&str>)]| {
            serde_json::json!({"id": id, "deps": deps.iter().map(|(pkg, kind)| serde_json::json!({
                "pkg": pkg, "dep_kinds": [{"kind": kind}]
            })).collect::<Vec<_>>()})
        };
        let metadata = serde_json::json!({
            "packages": [
                {"id": "x#1", "name": "xtask"}, {"id": "t#1", "name": "tests"},
                {"id": "c#1", "name": "cli"}, {"id": "p#1", "name": "probe"}
            ],
            "resolve": {"nodes": [
                node("x#1", &[("t#1", None)]),
                node("t#1", &[("c#1", Some("dev"))]),
                node("c#1", &[("p#1", Some("build"))]),
                node("p#1", &[]),
            ]}
        });
        assert_eq!(build_path(&metadata, "xtask", "probe"), None);
        assert_eq!(
            build_path(&metadata, "cli", "probe"),
            Some(vec!["cli".to_string(), "probe".to_string()])
        );
        let mut direct = metadata.clone();
        direct["resolve"]["nodes"][1] = node("t#1", &[("c#1", None)]);
        assert_eq!(
            build_path(&direct, "xtask", "probe"),
            Some(vec![
                "xtask".into(),
                "tests".into(),
                "cli".into(),
                "probe".into()
            ])
        );
    }

    #[test]
    fn packages_come_from_cargo_metadata() {
        let metadata = serde_json::json!({"packages": [{
            "name": "p",
            "manifest_path": "/r/p/Cargo.toml",
            "targets": [{"kind": ["bin"], "name": "p"}],
            "dependencies": [
                {"name": "fs-err", "rename": null, "kind": null},
                {"name": "cc", "rename": null, "kind": "build"},
                {"name": "serde_json", "rename": "json", "kind": "dev"},
                {"name": "q-tests", "rename": null, "kind": null}
            ]
        }, {
            "name": "q-tests",
            "manifest_path": "/r/q/Cargo.toml",
            "targets": [{"kind": ["lib"], "name": "q_fixtures"}],
            "dependencies": []
        }]});
        let packages = parse_packages(&metadata).unwrap();
        let names: Vec<(&str, bool)> = packages[0]
            .dependencies
            .iter()
            .map(|d| (d.crate_name.as_str(), d.build))
            .collect();
        assert_eq!(
            names,
            [
                ("fs_err", false),
                ("cc", true),
                ("json", false),
                ("q_fixtures", false)
            ]
        );
        assert_eq!(packages[0].dir, Path::new("/r/p"));
    }

    #[test]
    fn the_workspace_uses_every_dependency_it_declares() {
        check().unwrap();
    }
}
