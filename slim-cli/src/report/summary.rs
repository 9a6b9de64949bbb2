//! The terminal summary of a build: what `slim build` did, as the value the report is
//! written from (`BuildSummary`) and as the short lines printed at the end. Pure: it only
//! formats what the stages handed on.

use std::path::PathBuf;
use std::time::Duration;

use crate::drive::{ProbePlan, ProbeResult};
use crate::footprint::{self, Footprint, LeftOutGlob};
use crate::image::reference::short_id;
use crate::packages::PackageDb;
use crate::rebuild::layer::LayerSummary;
use crate::seccomp::SeccompSummary;
use crate::verify::{Stability, Verification, VerificationStatus};

/// Work a build did alongside one of its phases, awaited in a later one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alongside {
    pub name: &'static str,
    /// The phase it started with.
    pub during: &'static str,
    /// The phase that waited for what was left of it.
    pub joined: &'static str,
    pub took: Duration,
}

/// The phases that made the build's wall time, in order: a phase with work alongside it
/// that outlasted it is replaced by that work, which then also takes the wait for it.
pub fn critical_path(
    phases: &[(&'static str, Duration)],
    alongside: &[Alongside],
) -> Vec<(&'static str, Duration)> {
    let mut path = Vec::with_capacity(phases.len());
    let mut waited_in: Vec<&str> = Vec::new();
    for &(name, took) in phases {
        if waited_in.contains(&name) {
            if let Some(last) = path.last_mut() {
                let (_, outlasting): &mut (&str, Duration) = last;
                *outlasting += took;
            }
            continue;
        }
        match alongside.iter().find(|a| a.during == name && a.took > took) {
            Some(longer) => {
                waited_in.push(longer.joined);
                path.push((longer.name, took));
            }
            None => path.push((name, took)),
        }
    }
    path
}

/// What a build did.
#[derive(Clone, Debug)]
pub struct BuildSummary {
    pub source: String,
    pub source_id: String,
    pub source_size: u64,
    pub tag: String,
    pub image_id: String,
    pub size: u64,
    pub layer: LayerSummary,
    /// The package database the new image carries (`None`: the original had none, or
    /// `--no-package-db`).
    pub packages: Option<PackageDb>,
    /// Kept paths (directories included).
    pub paths_kept: usize,
    /// Paths in the original image.
    pub paths_total: usize,
    /// Every probe's result: the traced run's (HTTP, exec, host-exec), then `--run`'s.
    pub probes: Vec<ProbeResult>,
    /// The probe plan as executed (every request made, in order): replay it against the
    /// new image to compare. `None` when the application exited before probing finished.
    pub executed_plan: Option<ProbePlan>,
    /// OpenAPI operations the traced run did not probe, with the reason.
    pub skipped_operations: Vec<crate::drive::openapi::SkippedOperation>,
    pub phases: Vec<(&'static str, Duration)>,
    /// Work that ran alongside a phase instead of in turn (not in `phases`).
    pub alongside: Vec<Alongside>,
    pub archive: Option<PathBuf>,
    /// The profiles applied, with why.
    pub profiles: AppliedProfiles,
    pub verification: Verification,
    /// Every kept path with its reasons, type and size; the removed paths by directory.
    pub footprint: Footprint,
    /// Events the probe delivered in the traced run.
    pub events: u64,
    /// Traced paths the image does not have.
    pub traced_absent: usize,
    /// Seconds the keep phase spent in import closures.
    pub closure_seconds: f64,
    /// The first of them, each with its first access.
    pub absent: Vec<footprint::AbsentPath>,
    /// Events the probe lost in the traced run (non-zero only with `--allow-incomplete`).
    pub lost_events: u64,
    /// The original image's config (`.config` of its image config: Entrypoint, Cmd, Env…).
    pub source_config: serde_json::Value,
    /// Where the original image's files were read from.
    pub image_source: crate::image::store::ImageSource,
    /// The digest of the new image's manifest.
    pub digest: String,
    /// The `--seccomp` profile: how many calls it allows, whether it was written.
    pub seccomp: Option<SeccompSummary>,
}

impl BuildSummary {
    /// The summary as short lines for the terminal.
    pub fn lines(&self) -> Vec<String> {
        let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
        let factor = if self.size > 0 {
            format!("{:.1}×", self.source_size as f64 / self.size as f64)
        } else {
            "∞".into()
        };
        let mut lines = vec![
            format!("built {} ({})", self.tag, short_id(&self.image_id)),
            format!(
                "size: {} → {} ({factor} smaller)",
                mb(self.source_size),
                mb(self.size)
            ),
            format!(
                "kept {} files, {} of {} paths ({} entries, {} of content); removed {} paths, {}",
                self.footprint.kept_files,
                self.paths_kept,
                self.paths_total,
                self.layer.entries,
                mb(self.layer.content_bytes),
                self.footprint.removed.paths,
                mb(self.footprint.removed.bytes)
            ),
        ];
        if let Some(db) = &self.packages {
            lines.push(format!(
                "package database ({}): {} package(s) kept, {} of them trimmed to their kept \
                 files; {} dropped",
                db.format,
                db.kept.len(),
                db.trimmed(),
                db.dropped.len()
            ));
        }
        if !self.footprint.by_reason.is_empty() {
            let mut parts: Vec<String> = self
                .footprint
                .by_reason
                .iter()
                .take(SUMMARY_REASONS)
                .map(|t| format!("{} {}", t.reason, mb(t.bytes)))
                .collect();
            let rest = self
                .footprint
                .by_reason
                .len()
                .saturating_sub(SUMMARY_REASONS);
            if rest > 0 {
                parts.push(format!("{rest} more in the report"));
            }
            lines.push(format!("bytes by reason: {}", parts.join(", ")));
        }
        // One line per profile rule: a rule that left out several parts (packages nothing
        // imports) names the largest, the report lists them all.
        let mut rules: Vec<(&str, &str, Vec<&LeftOutGlob>)> = Vec::new();
        for left in &self.footprint.left_out {
            match rules
                .iter_mut()
                .find(|(p, r, _)| *p == left.profile && *r == left.rule)
            {
                Some((_, _, parts)) => parts.push(left),
                None => rules.push((&left.profile, &left.rule, vec![left])),
            }
        }
        for (profile, rule, parts) in rules {
            let files: usize = parts.iter().map(|l| l.files).sum();
            let bytes: u64 = parts.iter().map(|l| l.bytes).sum();
            let largest = parts
                .iter()
                .max_by_key(|l| (l.bytes, std::cmp::Reverse(&l.glob)))
                .expect("a rule has parts");
            let keep = if parts.len() == 1 {
                format!("keep it with {}", largest.keep_option())
            } else {
                format!(
                    "{} parts, the largest {}; keep one with {}",
                    parts.len(),
                    mb(largest.bytes),
                    largest.keep_option()
                )
            };
            lines.push(format!(
                "left out by profile {profile} ({rule}): {files} file(s), {}; {keep}",
                mb(bytes)
            ));
        }
        for glob in &self.footprint.excluded {
            lines.push(match glob.paths.len() {
                0 => format!(
                    "--exclude {}: left nothing out ({})",
                    glob.pattern,
                    footprint::why_nothing_excluded(glob.image_matches)
                ),
                n => format!("--exclude {}: left out {n} path(s)", glob.pattern),
            });
        }
        let failed = self.probes.iter().filter(|p| p.failed()).count();
        if !self.probes.is_empty() {
            lines.push(format!(
                "probes: {} run, {failed} failed",
                self.probes.len()
            ));
            for probe in self.probes.iter().filter(|p| p.failed()) {
                lines.push(format!("  failed: {}", probe.line()));
            }
            for probe in self.probes.iter().filter(|p| p.unhealthy()) {
                lines.push(format!(
                    "  warning: the image's HEALTHCHECK fails on the original: {}",
                    probe.line()
                ));
            }
        }
        let v = &self.verification;
        let count = |s: Stability| v.stability.iter().filter(|p| p.answers == s).count();
        let (masked, unstable) = (count(Stability::Masked), count(Stability::Unstable));
        if masked + unstable > 0 {
            lines.push(format!(
                "the original answered {masked} probe(s) differently in places (masked) and \
                 {unstable} with another status the second time (unstable, not compared)"
            ));
        }
        match v.status {
            VerificationStatus::Verified => lines.push(format!(
                "verified: every probe answers as on the original ({} round{}{})",
                v.rounds,
                if v.rounds == 1 { "" } else { "s" },
                if v.repaired.is_empty() {
                    String::new()
                } else {
                    format!(", {} path(s) repaired", v.repaired.len())
                }
            )),
            VerificationStatus::Skipped => lines.push("not verified (--no-verify)".into()),
            VerificationStatus::Failed => {
                lines.push(format!(
                    "NOT VERIFIED after {} round(s): {} probe(s) differ, {} file(s) missing; \
                     the image is labelled slim.verified=false",
                    v.rounds,
                    v.differences.len(),
                    v.missed.len()
                ));
                for d in &v.differences {
                    lines.push(format!(
                        "  {}: original {}, slim {}",
                        d.probe, d.original, d.slim
                    ));
                }
                if !v.refused_calls.is_empty() {
                    lines.push(format!(
                        "  refused by the seccomp profile: {}",
                        v.refused_calls.join(", ")
                    ));
                }
                for m in &v.missed {
                    let excluded = m
                        .excluded_by
                        .as_ref()
                        .map(|glob| format!("; left out by --exclude {glob}"))
                        .unwrap_or_default();
                    lines.push(format!(
                        "  missing: {} (asked by {}{excluded})",
                        m.path,
                        m.by.join(", ")
                    ));
                }
            }
        }
        for r in &v.repaired {
            lines.push(format!(
                "  repaired: {} (missing in round {})",
                r.path, r.round
            ));
        }
        if let Some(seccomp) = &self.seccomp {
            lines.extend(seccomp.lines());
        }
        let kept = &self.footprint.kept_directories;
        if !kept.is_empty() {
            lines.push("largest directories kept (their own files):".into());
            for dir in kept.iter().take(SUMMARY_DIRECTORIES) {
                lines.push(format!(
                    "  {:>9}  {} ({} file{})",
                    footprint::human_bytes(dir.bytes),
                    dir.path,
                    dir.paths,
                    if dir.paths == 1 { "" } else { "s" }
                ));
            }
        }
        let removed = &self.footprint.removed.directories;
        if !removed.is_empty() {
            lines.push("largest directories removed:".into());
            for dir in removed.iter().take(SUMMARY_DIRECTORIES) {
                let what = if dir.whole {
                    format!("all of it, {} path(s)", dir.paths)
                } else {
                    format!("{} of its entries", dir.paths)
                };
                lines.push(format!(
                    "  {:>9}  {} ({what})",
                    footprint::human_bytes(dir.bytes),
                    dir.path
                ));
            }
        }
        lines.push(format!(
            "time: {}",
            self.phases
                .iter()
                .map(|(name, d)| format!("{name} {:.1}s", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let path = critical_path(&self.phases, &self.alongside);
        let total: Duration = path.iter().map(|(_, d)| *d).sum();
        let mut line = format!(
            "critical path: {} = {:.1}s",
            path.iter()
                .map(|(name, d)| format!("{name} {:.1}s", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" → "),
            total.as_secs_f64()
        );
        for a in &self.alongside {
            line.push_str(&format!(
                "; {} {:.1}s alongside {}",
                a.name,
                a.took.as_secs_f64(),
                a.during
            ));
        }
        lines.push(line);
        if let Some(archive) = &self.archive {
            lines.push(format!("archive: {}", archive.display()));
        }
        lines
    }
}

/// Reasons listed in the summary's `bytes by reason` line.
const SUMMARY_REASONS: usize = 5;

/// Directories listed in the summary by kept and by removed size.
const SUMMARY_DIRECTORIES: usize = 10;

/// The profiles applied, each with why.
pub type AppliedProfiles = Vec<(String, String)>;

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    const PHASES: &[(&str, f64)] = &[("inspect", 0.1), ("run", 3.0), ("save", 0.2), ("keep", 0.4)];

    fn phases() -> Vec<(&'static str, Duration)> {
        PHASES.iter().map(|&(n, s)| (n, secs(s))).collect()
    }

    fn index(took: f64) -> Alongside {
        Alongside {
            name: "index",
            during: "run",
            joined: "save",
            took: secs(took),
        }
    }

    #[test]
    fn work_alongside_a_longer_phase_is_off_the_critical_path() {
        let path = critical_path(&phases(), &[index(1.0)]);
        let names: Vec<&str> = path.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["inspect", "run", "save", "keep"]);
    }

    #[test]
    fn work_that_outlasts_its_phase_takes_its_place_and_the_wait_for_it() {
        let path = critical_path(&phases(), &[index(3.1)]);
        let names: Vec<&str> = path.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["inspect", "index", "keep"]);
        // The wall time is the same: the run's time and the wait, now on the index.
        let total: Duration = path.iter().map(|(_, d)| *d).sum();
        assert_eq!(total, phases().iter().map(|(_, d)| *d).sum::<Duration>());
        assert_eq!(path[1].1, secs(3.0) + secs(0.2));
    }
}
