//! `slim explain PATH`: why a build kept a path of the image or dropped it, read from the
//! build's report alone (no engine, no root).
//!
//! A kept path is told with each reason the keep set recorded (the process and access
//! that touched it, the keep-list, profile rule or `--keep` pattern that matched, the
//! binary an ELF dependency was needed by), what a symlink points to and the kept links
//! that point to it. A removed path is told with the directory it went with and the
//! nearest traced paths, or, when an `--exclude` glob left it out, with that glob and the
//! reasons the build would have kept it for. A path that is neither is not in the image.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::footprint::{
    AbsentPath, ExcludedGlob, ExcludedPath, KeptPath, LeftOutGlob, PathType, Removed, RemovedDir,
    human_bytes,
};
use crate::keep::Reason;
use crate::trace::AccessKind;
use crate::trace::path::normalize;

/// Traced neighbours shown for a removed path.
const NEIGHBOURS: usize = 5;
/// Symlinks followed while looking a path up through kept links.
const MAX_LINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(
        "cannot read the report {path}: {source}\nhint: run `slim build IMAGE` first (it writes \
         ./slim.report.json), or pass --report FILE"
    )]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a slim build report: {why}\nhint: pass the file `slim build --report` \
         wrote (./slim.report.json by default)"
    )]
    Malformed { path: String, why: String },
    #[error(
        "{path} is a report of schema version {version}; this slim reads version {}\nhint: \
         explain it with the slim that wrote it, or build again",
        crate::report::SCHEMA_VERSION
    )]
    Version { path: String, version: u64 },
    #[error(
        "{path:?} is not an absolute path\nhint: name a path inside the image, e.g. /etc/passwd"
    )]
    Relative { path: String },
    #[error(
        "{path} is not in {image}: the build neither kept nor removed it{}{}\nhint: give the \
         path as it is in the image (see `docker run --rm --entrypoint ls {image} -l DIR`); \
         a file the application creates at run time is never in the image",
        looked_for_text(.looked_for.as_deref()),
        nearest_text(.nearest)
    )]
    NotInImage {
        path: String,
        image: String,
        /// The first traced access to it, if the traced run asked for it.
        looked_for: Option<Box<AbsentPath>>,
        nearest: Vec<String>,
    },
}

fn looked_for_text(access: Option<&AbsentPath>) -> String {
    match access {
        Some(a) if a.result == "ok" => format!(
            "; {} (pid {}) reached it in the traced run ({}): it was created at run time",
            a.comm,
            a.pid,
            kind_name(a.kind)
        ),
        Some(a) => format!(
            "; {} (pid {}) looked for it in the traced run ({} → {})",
            a.comm,
            a.pid,
            kind_name(a.kind),
            a.result
        ),
        None => String::new(),
    }
}

fn kind_name(kind: AccessKind) -> &'static str {
    match kind {
        AccessKind::Open => "open",
        AccessKind::Exec => "exec",
        AccessKind::Stat => "stat",
        AccessKind::Access => "access",
        AccessKind::Readlink => "readlink",
        AccessKind::List => "list",
        AccessKind::Chdir => "chdir",
    }
}

fn nearest_text(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!("; paths of the image nearby: {}", nearest.join(", "))
    }
}

/// The parts of the report `explain` reads.
#[derive(Debug, Deserialize)]
pub struct ReportView {
    pub source: SourceView,
    pub image: ImageView,
    pub profiles: Vec<ProfileView>,
    pub keep: KeepView,
    pub removed: Removed,
    /// Absent from reports of builds without `--exclude` written before the field was.
    #[serde(default)]
    pub excluded: Vec<ExcludedGlob>,
    /// Absent from reports written before profiles reported what they leave out.
    #[serde(default)]
    pub left_out: Vec<LeftOutGlob>,
}

#[derive(Debug, Deserialize)]
pub struct SourceView {
    pub reference: String,
}

#[derive(Debug, Deserialize)]
pub struct ImageView {
    pub tag: String,
}

#[derive(Debug, Deserialize)]
pub struct ProfileView {
    pub name: String,
    pub why: String,
}

#[derive(Debug, Deserialize)]
pub struct KeepView {
    pub paths: Vec<KeptPath>,
    pub absent: Vec<AbsentPath>,
}

/// Reads the report at `path`.
pub fn read_report(path: &Path) -> Result<ReportView, ExplainError> {
    let shown = path.display().to_string();
    #[expect(
        clippy::disallowed_methods,
        reason = "the error it maps to names the file"
    )]
    let text = std::fs::read_to_string(path).map_err(|source| ExplainError::Read {
        path: shown.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ExplainError::Malformed {
            path: shown.clone(),
            why: format!("not JSON ({e})"),
        })?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(crate::report::SCHEMA_VERSION) => {}
        Some(version) => {
            return Err(ExplainError::Version {
                path: shown,
                version,
            });
        }
        None => {
            return Err(ExplainError::Malformed {
                path: shown,
                why: "it has no schema_version".into(),
            });
        }
    }
    serde_json::from_value(value).map_err(|e| ExplainError::Malformed {
        path: shown,
        why: e.to_string(),
    })
}

/// What `slim explain` answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Kept,
    Removed,
}

/// Why `path` was kept or removed, as lines for the terminal.
pub fn explain(report: &ReportView, path: &str) -> Result<(Verdict, Vec<String>), ExplainError> {
    if !path.starts_with('/') {
        return Err(ExplainError::Relative { path: path.into() });
    }
    let asked = String::from_utf8_lossy(&normalize(path.as_bytes())).into_owned();
    let mut lines = Vec::new();
    let path = match find(report, &asked) {
        Some(_) => asked.clone(),
        None => match through_links(report, &asked) {
            Some(resolved) => {
                lines.push(format!(
                    "{asked} resolves to {resolved} through the image's symlinks"
                ));
                resolved
            }
            None => {
                return Err(ExplainError::NotInImage {
                    looked_for: report
                        .keep
                        .absent
                        .iter()
                        .find(|a| a.path == asked)
                        .map(|a| Box::new(a.clone())),
                    nearest: nearest_paths(report, &asked),
                    path: asked,
                    image: report.source.reference.clone(),
                });
            }
        },
    };
    match find(report, &path) {
        Some(Found::Kept(kept)) => {
            explain_kept(report, kept, &mut lines);
            Ok((Verdict::Kept, lines))
        }
        Some(Found::Removed(group)) => {
            explain_removed(report, &path, group, &mut lines);
            Ok((Verdict::Removed, lines))
        }
        None => unreachable!("found above"),
    }
}

enum Found<'a> {
    Kept(&'a KeptPath),
    Removed(&'a RemovedDir),
}

fn find<'a>(report: &'a ReportView, path: &str) -> Option<Found<'a>> {
    if let Ok(i) = report
        .keep
        .paths
        .binary_search_by(|k| k.path.as_str().cmp(path))
    {
        return Some(Found::Kept(&report.keep.paths[i]));
    }
    if let Some(kept) = report.keep.paths.iter().find(|k| k.path == path) {
        return Some(Found::Kept(kept));
    }
    report
        .removed
        .directories
        .iter()
        .find(|group| in_group(group, path))
        .map(Found::Removed)
}

fn in_group(group: &RemovedDir, path: &str) -> bool {
    if group.whole && group.path == path {
        return true;
    }
    let Some(rest) = path.strip_prefix(group.path.as_str()).and_then(|r| {
        if group.path == "/" {
            Some(r)
        } else {
            r.strip_prefix('/')
        }
    }) else {
        return false;
    };
    !rest.is_empty()
        && group
            .entries
            .binary_search_by(|e| e.as_str().cmp(rest))
            .is_ok()
}

/// `path` with the image's symlinks on its way replaced by their targets, when the
/// result is in the report.
fn through_links(report: &ReportView, path: &str) -> Option<String> {
    let mut current = path.to_string();
    for _ in 0..MAX_LINKS {
        let components: Vec<&str> = current.split('/').filter(|c| !c.is_empty()).collect();
        let mut replaced = None;
        for i in 1..=components.len() {
            let prefix = format!("/{}", components[..i].join("/"));
            let Some(Found::Kept(kept)) = find(report, &prefix) else {
                continue;
            };
            if kept.kind != PathType::Symlink {
                continue;
            }
            let Some(target) = &kept.target else {
                continue;
            };
            let base = link_target(&prefix, target);
            let rest = components[i..].join("/");
            replaced = Some(if rest.is_empty() {
                base
            } else {
                format!("{}/{rest}", base.trim_end_matches('/'))
            });
            break;
        }
        current = replaced?;
        if find(report, &current).is_some() {
            return Some(current);
        }
    }
    None
}

/// The absolute, normalised path symlink `link` with `target` points to.
fn link_target(link: &str, target: &str) -> String {
    let joined = if target.starts_with('/') {
        target.to_string()
    } else {
        let parent = match link.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &link[..i],
        };
        format!("{}/{target}", parent.trim_end_matches('/'))
    };
    String::from_utf8_lossy(&normalize(joined.as_bytes())).into_owned()
}

fn explain_kept(report: &ReportView, kept: &KeptPath, lines: &mut Vec<String>) {
    let size = if kept.kind == PathType::File {
        format!(", {}", human_bytes(kept.size))
    } else {
        String::new()
    };
    lines.push(format!(
        "{}: KEPT in {} ({}{size})",
        kept.path,
        report.image.tag,
        kept.kind.name()
    ));
    match (&kept.target, kept.kind) {
        (Some(target), PathType::Symlink) => lines.push(format!(
            "  symlink to {target} ({})",
            link_target(&kept.path, target)
        )),
        (Some(target), _) => lines.push(format!("  hard link sharing its content with {target}")),
        (None, _) => {}
    }
    lines.push("  why:".into());
    for reason in &kept.reasons {
        lines.push(format!("  - {}", reason_text(report, reason)));
    }
    let links: Vec<String> = report
        .keep
        .paths
        .iter()
        .filter(|k| k.kind == PathType::Symlink)
        .filter_map(|k| {
            let target = k.target.as_deref()?;
            (link_target(&k.path, target) == kept.path).then(|| format!("{} -> {target}", k.path))
        })
        .collect();
    if !links.is_empty() {
        lines.push(format!("  symlinks to it: {}", links.join(", ")));
    }
}

fn explain_removed(report: &ReportView, path: &str, group: &RemovedDir, lines: &mut Vec<String>) {
    lines.push(format!(
        "{path}: REMOVED from {} (it is in {})",
        report.image.tag, report.source.reference
    ));
    let excluded = excluded_by(report, path);
    let left_out = report
        .left_out
        .iter()
        .find(|left| left.paths.iter().any(|p| p == path));
    if let (None, Some(left)) = (excluded, left_out) {
        lines.push(format!(
            "  why: left out by profile {}, rule `{}`: an optional part the profile \
             keeps only when it is traced, and no traced process used it",
            left.profile, left.rule
        ));
    }
    match excluded {
        Some((glob, excluded)) => {
            lines.push(format!("  why: excluded by --exclude {}", glob.pattern));
            lines.push("  without it, the build would keep it:".into());
            for reason in &excluded.reasons {
                lines.push(format!("  - {}", reason_text(report, reason)));
            }
        }
        None if left_out.is_some() => {}
        None => lines.push(
            "  why: no traced process opened, executed, stat'ed or listed it, nothing kept \
             needs it (ELF closure, symlinks, interpreters), and no keep-list, profile rule or \
             --keep pattern matched it"
                .into(),
        ),
    }
    if group.whole && group.path == path {
        lines.push(format!(
            "  removed whole, with everything below it ({} path(s), {})",
            group.paths,
            human_bytes(group.bytes)
        ));
    } else if group.whole {
        lines.push(format!(
            "  it went with {}, removed whole ({} path(s), {})",
            group.path,
            group.paths,
            human_bytes(group.bytes)
        ));
    } else {
        lines.push(format!(
            "  {} is kept; {} of its entries ({}) were removed, this one among them",
            group.path,
            group.paths,
            human_bytes(group.bytes)
        ));
    }
    if let Some((glob, _)) = excluded {
        lines.push(format!(
            "  to keep it: build without --exclude '{}', or with a glob that does not match it",
            glob.pattern
        ));
        return;
    }
    if let Some(left) = left_out {
        lines.push(format!("  to keep it: slim build {} …", left.keep_option()));
        return;
    }
    let neighbours = traced_neighbours(report, path);
    if neighbours.is_empty() {
        lines.push("  no path near it was traced".into());
    } else {
        lines.push("  nearest traced paths:".into());
        for kept in neighbours {
            let how = kept
                .reasons
                .iter()
                .find(|r| matches!(r, Reason::Traced { .. }))
                .map(|r| reason_text(report, r))
                .unwrap_or_default();
            lines.push(format!("  - {} ({how})", kept.path));
        }
    }
    lines.push(format!(
        "  to keep it: slim build --keep '{path}' …, or a profile rule that matches it"
    ));
}

/// The `--exclude` glob that left `path` out, with what the report says of it.
fn excluded_by<'a>(
    report: &'a ReportView,
    path: &str,
) -> Option<(&'a ExcludedGlob, &'a ExcludedPath)> {
    report.excluded.iter().find_map(|glob| {
        glob.paths
            .iter()
            .find(|e| e.path == path)
            .map(|excluded| (glob, excluded))
    })
}

/// The traced kept paths that share the most leading components with `path`.
fn traced_neighbours<'a>(report: &'a ReportView, path: &str) -> Vec<&'a KeptPath> {
    let traced = report
        .keep
        .paths
        .iter()
        .filter(|k| k.reasons.iter().any(|r| matches!(r, Reason::Traced { .. })));
    let scored: Vec<(usize, &KeptPath)> = traced
        .map(|k| (common_components(&k.path, path), k))
        .collect();
    let Some(best) = scored.iter().map(|(n, _)| *n).max() else {
        return Vec::new();
    };
    scored
        .into_iter()
        .filter(|(n, _)| *n == best && best > 0)
        .map(|(_, k)| k)
        .take(NEIGHBOURS)
        .collect()
}

fn common_components(a: &str, b: &str) -> usize {
    a.split('/')
        .zip(b.split('/'))
        .skip(1)
        .take_while(|(x, y)| x == y)
        .count()
}

/// Paths of the image (kept or removed) sharing the most leading components with
/// `path`, for the error of a path not in the image.
fn nearest_paths(report: &ReportView, path: &str) -> Vec<String> {
    let (parent, name) = match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    };
    let mut siblings: Vec<String> = report
        .keep
        .paths
        .iter()
        .map(|k| k.path.clone())
        .chain(report.removed.directories.iter().flat_map(|g| {
            g.entries
                .iter()
                .map(move |e| format!("{}/{e}", g.path.trim_end_matches('/')))
                .chain(g.whole.then(|| g.path.clone()))
        }))
        .filter(|p| {
            let p_parent = match p.rfind('/') {
                Some(0) => "/",
                Some(i) => &p[..i],
                None => "/",
            };
            p_parent == parent
        })
        .collect();
    let stem = name.split('.').next().unwrap_or(name);
    siblings.sort_by_key(|p| {
        let last = p.rsplit('/').next().unwrap_or(p);
        (!last.starts_with(stem), p.clone())
    });
    siblings.truncate(NEIGHBOURS);
    siblings
}

fn reason_text(report: &ReportView, reason: &Reason) -> String {
    match reason {
        Reason::Traced { kind, comm, pid } => {
            let verb = match kind {
                AccessKind::Open => "opened",
                AccessKind::Exec => "executed",
                AccessKind::Stat => "stat'ed",
                AccessKind::Access => "checked with access()",
                AccessKind::Readlink => "read as a symlink (readlink)",
                AccessKind::List => "listed (getdents64)",
                AccessKind::Chdir => "entered (chdir)",
            };
            format!("traced: {verb} by {comm} (pid {pid})")
        }
        Reason::Symlink { of } => format!("a symlink on the way to {of}"),
        Reason::Parent { of } => format!("a directory on the way to {of}"),
        Reason::ElfInterpreter { of } => {
            format!("ELF dependency: the program interpreter (PT_INTERP) of {of}")
        }
        Reason::ElfLibrary { of } => format!("ELF dependency: a library (DT_NEEDED) of {of}"),
        Reason::ScriptInterpreter { of } => format!("the #! interpreter of the script {of}"),
        Reason::HardLink { of } => format!("shares its content (a hard link) with {of}"),
        Reason::KeepList { list } => format!(
            "keep-list {}: a default list (--no-keep {} switches it off)",
            list.name(),
            list.name()
        ),
        Reason::UserGlob { pattern } => format!("--keep pattern {pattern}"),
        Reason::Profile { profile, rule } => {
            let why = report
                .profiles
                .iter()
                .find(|p| &p.name == profile)
                .map(|p| format!(" (applied: {})", p.why))
                .unwrap_or_default();
            format!("profile {profile}, rule {rule}{why}")
        }
        Reason::PackageDb { format } => format!(
            "the package database ({format}), trimmed to the packages the image keeps files \
             of (--no-package-db leaves it out)"
        ),
        Reason::Repaired { round } => format!(
            "repair: verification round {round} found the new image missing it, so it was added"
        ),
    }
}

/// `slim explain` settings.
#[derive(Clone, Debug)]
pub struct ExplainSettings {
    pub path: String,
    pub report: PathBuf,
}

/// Runs `slim explain`: the explanation's lines.
pub fn run(settings: &ExplainSettings) -> Result<Vec<String>, ExplainError> {
    let report = read_report(&settings.report)?;
    explain(&report, &settings.path).map(|(_, lines)| lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ReportView {
        let kept = |path: &str, kind, target: Option<&str>, reasons| KeptPath {
            path: path.into(),
            kind,
            size: 0,
            target: target.map(str::to_string),
            reasons,
        };
        let traced = |comm: &str| Reason::Traced {
            kind: AccessKind::Open,
            comm: comm.into(),
            pid: 7,
        };
        ReportView {
            source: SourceView {
                reference: "app:1".into(),
            },
            image: ImageView {
                tag: "app.slim:1".into(),
            },
            profiles: Vec::new(),
            keep: KeepView {
                paths: vec![
                    kept("/", PathType::Dir, None, Vec::new()),
                    kept("/lib", PathType::Symlink, Some("usr/lib"), Vec::new()),
                    kept("/usr", PathType::Dir, None, Vec::new()),
                    kept("/usr/lib", PathType::Dir, None, Vec::new()),
                    kept("/usr/lib/a.so", PathType::File, None, vec![traced("app")]),
                    kept("/usr/lib/b.so", PathType::File, None, vec![traced("sh")]),
                ],
                absent: vec![AbsentPath {
                    path: "/usr/lib/a.so.1".into(),
                    kind: AccessKind::Open,
                    result: "ENOENT".into(),
                    comm: "app".into(),
                    pid: 7,
                }],
            },
            removed: Removed {
                paths: 3,
                bytes: 30,
                directories: vec![
                    RemovedDir {
                        path: "/usr/share".into(),
                        whole: true,
                        paths: 2,
                        bytes: 20,
                        entries: vec!["doc".into()],
                    },
                    RemovedDir {
                        path: "/usr/lib".into(),
                        whole: false,
                        paths: 1,
                        bytes: 10,
                        entries: vec!["c.so".into()],
                    },
                    RemovedDir {
                        path: "/srv".into(),
                        whole: true,
                        paths: 2,
                        bytes: 5,
                        entries: vec!["page.txt".into()],
                    },
                ],
            },
            excluded: vec![
                ExcludedGlob {
                    pattern: "/srv/*.txt".into(),
                    image_matches: 1,
                    paths: vec![ExcludedPath {
                        path: "/srv/page.txt".into(),
                        reasons: vec![traced("app")],
                    }],
                },
                ExcludedGlob {
                    pattern: "/nowhere".into(),
                    image_matches: 0,
                    paths: Vec::new(),
                },
            ],
            left_out: vec![LeftOutGlob {
                profile: "docs".into(),
                rule: "exclude /usr/share/doc/**".into(),
                glob: "/usr/share/doc/**".into(),
                files: 1,
                bytes: 10,
                paths: vec!["/usr/share/doc".into()],
            }],
        }
    }

    #[test]
    fn a_path_a_profile_left_out_names_the_profile_its_rule_and_how_to_keep_it() {
        let (verdict, lines) = explain(&report(), "/usr/share/doc").unwrap();
        assert_eq!(verdict, Verdict::Removed);
        let text = lines.join("\n");
        assert!(
            text.contains("why: left out by profile docs, rule `exclude /usr/share/doc/**`"),
            "{text}"
        );
        assert!(
            text.contains("to keep it: slim build --keep '/usr/share/doc/**' …"),
            "{text}"
        );
        assert!(!text.contains("no traced process opened"), "{text}");
    }

    #[test]
    fn an_excluded_path_names_its_glob_and_what_would_have_kept_it() {
        let (verdict, lines) = explain(&report(), "/srv/page.txt").unwrap();
        assert_eq!(verdict, Verdict::Removed);
        let text = lines.join("\n");
        assert!(
            text.contains("\n  why: excluded by --exclude /srv/*.txt\n"),
            "{text}"
        );
        assert!(
            text.contains("would keep it:\n  - traced: opened by app (pid 7)"),
            "{text}"
        );
        assert!(text.contains("without --exclude '/srv/*.txt'"), "{text}");
        assert!(!text.contains("no traced process"), "{text}");
        // Removed without an exclusion: the usual answer.
        let (_, lines) = explain(&report(), "/srv").unwrap();
        assert!(lines.join("\n").contains("no traced process"), "{lines:?}");
    }

    #[test]
    fn a_path_through_a_kept_symlink_is_explained_as_its_target() {
        let (verdict, lines) = explain(&report(), "/lib/a.so").unwrap();
        assert_eq!(verdict, Verdict::Kept);
        assert!(lines[0].contains("resolves to /usr/lib/a.so"), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("opened by app (pid 7)")));
    }

    #[test]
    fn removed_paths_name_their_group_and_nearest_traced_paths() {
        let (verdict, lines) = explain(&report(), "/usr/lib/c.so").unwrap();
        assert_eq!(verdict, Verdict::Removed);
        let text = lines.join("\n");
        assert!(
            text.contains("/usr/lib is kept; 1 of its entries"),
            "{text}"
        );
        assert!(
            text.contains("- /usr/lib/a.so (traced: opened by app"),
            "{text}"
        );
        let (verdict, _) = explain(&report(), "/usr/share/doc").unwrap();
        assert_eq!(verdict, Verdict::Removed);
        let (verdict, _) = explain(&report(), "/usr/share").unwrap();
        assert_eq!(verdict, Verdict::Removed);
    }

    #[test]
    fn paths_not_in_the_image_are_errors_naming_nearby_paths() {
        let err = explain(&report(), "/usr/lib/a.so.1").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/usr/lib/a.so.1 is not in app:1"),
            "{text}"
        );
        assert!(text.contains("nearby: /usr/lib/a.so"), "{text}");
        assert!(
            text.contains("app (pid 7) looked for it in the traced run (open → ENOENT)"),
            "{text}"
        );
        assert!(text.contains("\nhint: "), "{text}");
        assert!(matches!(
            explain(&report(), "usr/lib/a.so"),
            Err(ExplainError::Relative { .. })
        ));
    }
}
