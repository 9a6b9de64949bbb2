//! `slim build`: the whole pipeline, from an image in the local engine to a small image that
//! does the same.
//!
//! inspect → traced run with probing → the original image saved and indexed → keep set →
//! one new layer on scratch with the original config → loaded into the engine (and written
//! as an archive when asked). The new image is built from the original image's content,
//! never from the traced container's changed filesystem. Temporary files live in one work
//! directory that is removed on every way out.
//!
//! Interrupted (SIGINT, SIGTERM) or failed in any phase, a build undoes what it did: the
//! traced runs release their container, cgroup and probe; the work directory goes; an
//! `--output` archive is written under a temporary name and only renamed into place when
//! the build succeeds; and the tag is given back to the image it named before (or removed),
//! so that it never names an image that was not verified.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};

use crate::engine::{Engine, EngineError};
use crate::error::Error;
pub use crate::footprint::KeptPath;
use crate::footprint::{self, Footprint};
use crate::image::index::FsIndex;
use crate::image::save::{self, ChannelReader, SavedImage};
use crate::inspect::ImageInfo;
use crate::interrupt::{StopRequest, interruptible, test_point};
use crate::keep::profile::{self, Profile};
use crate::keep::{self, ImageRuntime, KeepOptions, KeepSet};
use crate::probe::{Discovery, HttpProbe, ProbePlan, ProbeResult, Probing};
use crate::rebuild::archive::{
    self, LABEL_SOURCE_ID, LABEL_SOURCE_IMAGE, LABEL_VERIFIED, LABEL_VERSION,
};
use crate::rebuild::layer::{self, LayerSummary};
use crate::reporter::{Counter, Phase, Reporter, Within};
use crate::run::{self, Idle, RunEnd, RunSettings, RunningContainer, Workload};
use crate::verify;
use serde::Serialize;

/// Everything `slim build` needs, resolved from the command line.
#[derive(Clone, Debug)]
pub struct BuildSettings {
    pub image: String,
    /// The new image's reference; `<repo>.slim:<tag>` when not given.
    pub tag: Option<String>,
    /// Also write the new image as an archive `docker load` accepts.
    pub output: Option<PathBuf>,
    pub run: RunSettings,
    /// The probe plan; its HTTP requests and ready ports are filled from the image's
    /// exposed ports when `None`.
    pub plan: PlanSettings,
    pub keep: KeepOptions,
    pub profiles: ProfileChoice,
    pub verify: VerifySettings,
    /// Verification failing is not an error (`--allow-diff`).
    pub allow_diff: bool,
    /// Where the report goes (`None`: `--report off`).
    pub report: Option<PathBuf>,
}

/// Whether and how the new image is verified.
#[derive(Clone, Debug)]
pub struct VerifySettings {
    pub enabled: bool,
    /// Rebuilds with the files verification found missing, at most this many times.
    pub repair_rounds: u32,
    /// Paths removed from every keep set (a hidden test hook: a keep set that breaks).
    pub test_drop: Vec<String>,
}

/// Which profiles apply: those named, and (unless off) the built-in ones detected.
#[derive(Clone, Debug)]
pub struct ProfileChoice {
    pub named: Vec<Profile>,
    pub auto: bool,
}

/// The parts of the probe plan the user sets.
#[derive(Clone, Debug)]
pub struct PlanSettings {
    pub exec: Vec<Vec<String>>,
    pub continue_after: crate::probe::ContinueAfter,
    pub ready_timeout: Duration,
    /// `--probe` and `--probe-file` requests, sent before the crawl.
    pub probes: Vec<HttpProbe>,
    /// The crawl and the OpenAPI document.
    pub discovery: Discovery,
    /// `--host-exec` scripts.
    pub host_exec: Vec<String>,
    /// `--run` argument vectors: one more traced container each.
    pub run: Vec<Vec<String>>,
    /// Any failed probe fails the build (`--strict`).
    pub strict: bool,
}

/// How long a `--run` container may run when `--timeout` does not say.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

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
    /// Kept paths (directories included).
    pub paths_kept: usize,
    /// Paths in the original image.
    pub paths_total: usize,
    /// Every probe's result: the traced run's (HTTP, exec, host-exec), then `--run`'s.
    pub probes: Vec<ProbeResult>,
    /// The probe plan as executed (every request made, in order): replay it against the
    /// new image to compare. `None` when the application exited before probing finished.
    pub executed_plan: Option<ProbePlan>,
    pub phases: Vec<(&'static str, Duration)>,
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
    /// The first of them, each with its first access.
    pub absent: Vec<footprint::AbsentPath>,
    /// Events the probe lost in the traced run (non-zero only with `--allow-incomplete`).
    pub lost_events: u64,
    /// The original image's config (`.config` of its image config: Entrypoint, Cmd, Env…).
    pub source_config: serde_json::Value,
    /// The digest of the new image's manifest.
    pub digest: String,
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
        let failed = self.probes.iter().filter(|p| p.failed()).count();
        if !self.probes.is_empty() {
            lines.push(format!(
                "probes: {} run, {failed} failed",
                self.probes.len()
            ));
            for probe in self.probes.iter().filter(|p| p.failed()) {
                lines.push(format!("  failed: {}", probe.line()));
            }
        }
        let v = &self.verification;
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
                for m in &v.missed {
                    lines.push(format!(
                        "  missing: {} (asked by {})",
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
        if let Some(archive) = &self.archive {
            lines.push(format!("archive: {}", archive.display()));
        }
        lines
    }
}

/// Directories listed in the summary by kept and by removed size.
const SUMMARY_DIRECTORIES: usize = 10;

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// `<repo>.slim:<tag>` for an image reference (`repo[:tag]`, `host:port/repo[:tag]`,
/// `repo@digest`), or for an image id the first of its tags, or `slim/<id>:latest`.
pub fn default_tag(image: &ImageInfo) -> String {
    let reference = if is_id(&image.reference) {
        match image.repo_tags.iter().find(|t| !t.contains("<none>")) {
            Some(tag) => tag.as_str(),
            None => return format!("slim/{}:latest", short_id(&image.id)),
        }
    } else {
        image.reference.as_str()
    };
    let reference = reference.split('@').next().unwrap_or(reference);
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    };
    format!("{repo}.slim:{tag}")
}

fn is_id(reference: &str) -> bool {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    hex.len() >= 12 && hex.len() <= 64 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// The name of a build's work directory in `$TMPDIR`, before its run id.
pub const WORK_DIR_PREFIX: &str = "slim-build-";

/// A directory for one build's temporary files, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<WorkDir, Error> {
        let id = run::new_run_id()?;
        let dir = std::env::temp_dir().join(format!("{WORK_DIR_PREFIX}{id}"));
        fs_err::create_dir_all(&dir).map_err(|e| Error::Io {
            what: format!("creating the work directory {}", dir.display()),
            source: e,
        })?;
        Ok(WorkDir(dir))
    }

    /// Its run id, unique to this build.
    fn id(&self) -> String {
        let name = self.0.file_name().unwrap_or_default().to_string_lossy();
        name.trim_start_matches(WORK_DIR_PREFIX).to_string()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// What a build must undo if it does not finish: the tag it moved and the archive it began.
#[derive(Debug, Default)]
struct Undo {
    /// The tag, and the image it named before the first load (`None`: no image).
    tag: Option<(String, Option<String>)>,
    /// The archive being written, and where it goes once the build succeeds.
    archive: Option<(PathBuf, PathBuf)>,
}

impl Undo {
    /// The build succeeded: the archive goes into place.
    fn commit(&mut self) -> Result<(), Error> {
        self.tag = None;
        if let Some((partial, output)) = self.archive.take() {
            fs_err::rename(&partial, &output).map_err(|source| Error::Io {
                what: format!("moving the archive into place as {}", output.display()),
                source,
            })?;
        }
        Ok(())
    }

    /// The build did not finish: the partial archive goes and the tag names what it named
    /// before.
    async fn revert(&mut self, engine: &impl Engine, reporter: &dyn Reporter) {
        if let Some((partial, _)) = self.archive.take() {
            let _ = std::fs::remove_file(partial);
        }
        let Some((tag, previous)) = self.tag.take() else {
            return;
        };
        let now = match engine.inspect_image(&tag).await {
            Ok(image) => Some(image.id),
            Err(EngineError::ImageNotFound { .. }) => None,
            Err(e) => {
                reporter.warn(&format!(
                    "{tag} may name an unfinished image: cannot check it: {e}"
                ));
                return;
            }
        };
        let Some(unfinished) = now.filter(|id| Some(id) != previous.as_ref()) else {
            return;
        };
        let restored = match &previous {
            Some(id) => engine.tag_image(id, &tag).await,
            None => engine.remove_image(&tag).await,
        };
        if let Err(e) = restored {
            let undo = if previous.is_some() {
                "given back"
            } else {
                "removed"
            };
            reporter.warn(&format!(
                "{tag} names an unfinished image and could not be {undo}: {e}"
            ));
            return;
        }
        // Left without a name, the unfinished image goes too (one that other tags name
        // stays: it is not only this build's).
        if let Ok(image) = engine.inspect_image(&unfinished).await
            && image.repo_tags.iter().all(|t| t.contains("<none>"))
        {
            let _ = engine.remove_image(&unfinished).await;
        }
    }
}

/// Runs the whole pipeline for `settings.image`. Whatever happens (errors, interrupts,
/// panics), the traced runs' containers, cgroups and probes, the work directory and a
/// partial archive are gone when this returns, and the tag names what it named before
/// unless the build succeeded.
pub async fn build(
    engine: &impl Engine,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<BuildSummary, Error> {
    let mut undo = Undo::default();
    let done = AssertUnwindSafe(build_phases(engine, settings, reporter, stop, &mut undo))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::Internal(format!("the build panicked: {what}")))
        });
    match done {
        Ok(summary) => {
            undo.commit()?;
            Ok(summary)
        }
        Err(error) => {
            undo.revert(engine, reporter).await;
            Err(error)
        }
    }
}

/// The phases of [`build`], which undoes what they leave when they fail.
async fn build_phases(
    engine: &impl Engine,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
    undo: &mut Undo,
) -> Result<BuildSummary, Error> {
    let mut phases = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, phases: &mut Vec<(&'static str, Duration)>| {
        phases.push((name, clock.elapsed()));
        clock = Instant::now();
    };

    reporter.begin(Phase::Inspect);
    let image = interruptible(stop, engine.inspect_image(&settings.image)).await??;
    keep::compile_globs(settings.keep.patterns.iter().map(String::as_str))?;
    let tag = settings.tag.clone().unwrap_or_else(|| default_tag(&image));
    for path in settings.output.iter().chain(&settings.report) {
        check_output(path)?;
    }
    reporter.end(&format!(
        "{} ({}, {})",
        settings.image,
        short_id(&image.id),
        megabytes(image.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    ));
    lap("inspect", &mut phases);

    let plan = probe_plan(&image, settings);
    reporter.step(&format!(
        "tracing {} ({})",
        settings.image,
        if plan.is_empty() {
            "no exposed port: running until it exits".to_string()
        } else {
            format!(
                "{} port(s), {}{} HTTP probe(s), {} command(s)",
                plan.ready_ports.len(),
                match plan.discovery.as_ref().and_then(|d| d.crawl.as_ref()) {
                    Some(limits) => format!("crawl to depth {}, ", limits.depth),
                    None => String::new(),
                },
                plan.http.len(),
                plan.exec.len() + plan.host_exec.len() + plan.run.len()
            )
        }
    ));
    let expects_probing = !plan.is_empty();
    let extra_runs = plan.run.clone();
    let outcome = run::traced_run(
        engine,
        &image,
        &settings.run,
        PauseThen {
            phase: "probing",
            stop: stop.clone(),
            inner: Probing {
                plan,
                image: settings.image.clone(),
            },
        },
        reporter,
        stop,
    )
    .await?;
    // A stop request ends the run early; the build must not go on with that trace.
    if stop.is_requested() {
        return Err(Error::Interrupted);
    }
    if outcome.exit_code != 0 && outcome.end == RunEnd::Exited {
        return Err(Error::AppExited {
            image: settings.image.clone(),
            code: outcome.exit_code,
            during_probing: expects_probing && outcome.workload.is_none(),
            last_logs: outcome.last_logs,
        });
    }
    if expects_probing && outcome.workload.is_none() && outcome.end == RunEnd::Exited {
        reporter.warn("the container exited before probing finished; keeping what it touched");
    }
    let container = (outcome.end == RunEnd::Exited)
        .then(|| own_command(&image, settings, outcome.exit_code, &outcome.last_logs));
    let (executed_plan, mut probes) = match outcome.workload {
        Some(report) => (Some(report.plan), report.results),
        None => (None, Vec::new()),
    };
    reporter.step(&format!(
        "traced {} accesses to {} paths, {} events, {} lost",
        outcome.trace.records.len(),
        outcome.trace.unique_paths(),
        outcome.trace.events,
        outcome.lost
    ));
    let events = outcome.trace.events;
    let lost_events = outcome.lost;
    let mut records = outcome.trace.records;
    for (i, args) in extra_runs.iter().enumerate() {
        reporter.begin(Phase::Run);
        let within = Within::new(reporter, args.join(" "));
        let (result, trace) = extra_run(engine, &image, settings, i, args, &within, stop).await?;
        if stop.is_requested() {
            return Err(Error::Interrupted);
        }
        reporter.step(&format!("probe: {}", result.line()));
        let line = result.line();
        reporter.end(line.strip_prefix("run ").unwrap_or(&line));
        probes.push(result);
        records.extend(trace);
    }
    if settings.plan.strict {
        let failed: Vec<String> = probes
            .iter()
            .filter(|p| p.failed())
            .map(ProbeResult::line)
            .collect();
        if !failed.is_empty() {
            return Err(Error::ProbeFailed {
                total: probes.len(),
                failed,
            });
        }
    }
    lap("run", &mut phases);

    let work = WorkDir::create()?;
    reporter.begin(Phase::Save);
    let saved = save_image(engine, &image, &work.0, reporter, stop).await?;
    lap("save", &mut phases);

    let runtime = ImageRuntime {
        env: image.env.clone(),
        user: image.user.clone(),
        workdir: image.working_dir.clone(),
    };
    let mut keep_options = settings.keep.clone();
    let profiles = settings.profiles.clone();
    let drop = settings.verify.test_drop.clone();
    // Shared with the keep task, not copied: a trace can hold millions of records.
    let records = std::sync::Arc::new(records);
    reporter.begin(Phase::Keep);
    let (index, mut keep_set, chosen) = blocking(stop, "keep", {
        let layers = saved.layers.clone();
        let records = records.clone();
        let runtime = runtime.clone();
        let env = image.env.clone();
        move || -> Result<(FsIndex, KeepSet, AppliedProfiles), Error> {
            let index = FsIndex::from_layers(&layers)?;
            let chosen = profile::choose(&profiles.named, profiles.auto, &index, &env, &records)?;
            let names = chosen
                .iter()
                .map(|(p, why)| (p.name.clone(), why.clone()))
                .collect();
            keep_options.profiles = chosen.into_iter().map(|(p, _)| p).collect();
            let mut keep_set = keep::compute(&index, &records, &runtime, &keep_options)?;
            for path in &drop {
                keep_set.remove(path.as_bytes());
            }
            Ok((index, keep_set, names))
        }
    })
    .await??;
    let index = std::sync::Arc::new(index);
    for (name, why) in &chosen {
        reporter.step(&format!("profile {name}: {why}"));
    }
    reporter.step(&format!(
        "keeping {} of {} paths ({} traced paths not in the image)",
        keep_set.len(),
        index.len(),
        keep_set.traced_missing
    ));
    reporter.end(&format!(
        "{} of {} paths{}",
        keep_set.len(),
        index.len(),
        if chosen.is_empty() {
            String::new()
        } else {
            format!(
                ", profiles {}",
                chosen
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ));
    lap("keep", &mut phases);

    let base_labels = vec![
        (LABEL_SOURCE_IMAGE.to_string(), settings.image.clone()),
        (LABEL_SOURCE_ID.to_string(), image.id.clone()),
        (
            LABEL_VERSION.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ];
    test_point("rebuild", reporter, stop).await?;
    // The archive is written under a temporary name next to --output, renamed when all is
    // done; a device, FIFO or socket is written as it is.
    let partial = settings.output.as_ref().map(|output| {
        if crate::output::is_written_in_place(output) {
            return output.clone();
        }
        let mut name = output.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.partial", work.id()));
        let partial = output.with_file_name(name);
        undo.archive = Some((partial.clone(), output.clone()));
        partial
    });
    let previous = match engine.inspect_image(&tag).await {
        Ok(image) => Some(image.id),
        Err(EngineError::ImageNotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    undo.tag = Some((tag.clone(), previous));
    let target = Target {
        tag: &tag,
        archive: partial.as_deref(),
        layer: work.0.join("new-layer.tar"),
        config: &saved.config,
    };
    let mut built = rebuild(
        engine,
        &index,
        &keep_set,
        &target,
        &base_labels,
        reporter,
        stop,
    )
    .await?;
    lap("rebuild", &mut phases);

    let mut verification = Verification {
        status: VerificationStatus::Skipped,
        rounds: 0,
        repaired: Vec::new(),
        differences: Vec::new(),
        missed: Vec::new(),
    };
    if settings.verify.enabled {
        reporter.begin(Phase::Verify);
        let mut round = 0;
        loop {
            round += 1;
            verification.rounds = round;
            reporter.step(&format!(
                "verify, round {round}: replaying the probes on {tag}"
            ));
            let within = Within::new(reporter, format!("round {round}"));
            let (results, slim_container, trace) = verify_run(
                engine,
                &tag,
                settings,
                executed_plan.as_ref(),
                &extra_runs,
                &within,
                stop,
            )
            .await?;
            let mut differences = verify::compare(&probes, &results);
            if let (Some(a), Some(b)) = (&container, &slim_container) {
                differences.extend(verify::compare(
                    std::slice::from_ref(a),
                    std::slice::from_ref(b),
                ));
            }
            // Paths the test hook removes stay missing: repair cannot bring them back.
            // Files repair cannot bring: those the test hook removes, and those repaired
            // before that are still missing (something else is wrong with them).
            let (denied, missed): (Vec<_>, Vec<_>) =
                verify::missed_files(&index, &keep_set, &records, &trace)
                    .into_iter()
                    .partition(|m| {
                        settings.verify.test_drop.contains(&m.path)
                            || verification.repaired.iter().any(|r| r.path == m.path)
                    });
            if differences.is_empty() && missed.is_empty() && denied.is_empty() {
                verification.status = VerificationStatus::Verified;
                verification.differences.clear();
                verification.missed.clear();
                break;
            }
            for d in &differences {
                reporter.warn(&format!(
                    "difference: {}: original {}, slim {}",
                    d.probe, d.original, d.slim
                ));
            }
            if missed.is_empty() || round > settings.verify.repair_rounds {
                verification.status = VerificationStatus::Failed;
                verification.differences = differences;
                verification.missed = missed.into_iter().chain(denied).collect();
                break;
            }
            for m in &missed {
                reporter.step(&format!(
                    "repair: {} was missing (needed by {})",
                    m.path,
                    m.by.join(", ")
                ));
                verification.repaired.push(RepairedPath {
                    path: m.path.clone(),
                    round,
                    by: m.by.clone(),
                });
            }
            let additions: Vec<(Vec<u8>, bool)> =
                missed.iter().map(|m| m.first_asked.clone()).collect();
            keep_set = blocking(stop, "repair", {
                let index = index.clone();
                let runtime = runtime.clone();
                let drop = settings.verify.test_drop.clone();
                move || {
                    let mut set = keep::add_repaired(&index, keep_set, &additions, round, &runtime);
                    for path in &drop {
                        set.remove(path.as_bytes());
                    }
                    set
                }
            })
            .await?;
            built = rebuild(
                engine,
                &index,
                &keep_set,
                &target,
                &base_labels,
                &within,
                stop,
            )
            .await?;
        }
        if verification.status == VerificationStatus::Failed {
            // Still tagged, but marked: a user must not mistake it for a verified image.
            let mut labels = base_labels.clone();
            labels.push((LABEL_VERIFIED.to_string(), "false".to_string()));
            let within = Within::new(reporter, "labelling it unverified");
            built = rebuild(engine, &index, &keep_set, &target, &labels, &within, stop).await?;
        }
        let rounds = format!("{round} round{}", if round == 1 { "" } else { "s" });
        reporter.end(&match verification.status {
            VerificationStatus::Failed => format!(
                "FAILED after {rounds}: {} probe(s) differ, {} file(s) missing",
                verification.differences.len(),
                verification.missed.len()
            ),
            _ if verification.repaired.is_empty() => format!("verified in {rounds}"),
            _ => format!(
                "verified in {rounds}, {} path(s) repaired",
                verification.repaired.len()
            ),
        });
        lap("verify", &mut phases);
    }

    let (footprint, (traced_absent, absent)) = tokio::task::spawn_blocking({
        let index = index.clone();
        move || {
            (
                footprint::measure(&index, &keep_set),
                footprint::absent(&index, &records),
            )
        }
    })
    .await
    .map_err(|e| Error::Internal(format!("the footprint task failed: {e}")))?;
    Ok(BuildSummary {
        source: settings.image.clone(),
        source_id: image.id.clone(),
        source_size: image.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        tag,
        image_id: built.image_id,
        size: built.size,
        paths_kept: footprint.kept.len(),
        traced_absent,
        absent,
        paths_total: index.len(),
        layer: built.layer,
        probes,
        executed_plan,
        phases,
        archive: settings.output.clone(),
        profiles: chosen,
        verification,
        footprint,
        events,
        lost_events,
        source_config: saved.config.get("config").cloned().unwrap_or_default(),
        digest: built.digest,
    })
}

/// The profiles applied, each with why.
type AppliedProfiles = Vec<(String, String)>;

/// Where the new image goes.
struct Target<'a> {
    tag: &'a str,
    /// The `--output` archive, if one was asked for.
    archive: Option<&'a Path>,
    layer: PathBuf,
    config: &'a serde_json::Value,
}

/// What [`rebuild`] made.
struct Built {
    image_id: String,
    /// The digest of its manifest.
    digest: String,
    size: u64,
    layer: LayerSummary,
}

/// How long an interrupted phase's blocking work and an interrupted load get to finish
/// before slim gives up waiting (so that nothing it writes outlives the clean-up).
const SETTLE: Duration = Duration::from_secs(10);

/// Runs `work` on the blocking pool. When a stop is requested meanwhile, `work` is told
/// (the flag it gets) and awaited for at most [`SETTLE`]; the result is then
/// [`Error::Interrupted`].
async fn blocking<T: Send + 'static>(
    stop: &mut StopRequest,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    blocking_cancellable(stop, what, |_| work()).await
}

async fn blocking_cancellable<T: Send + 'static>(
    stop: &mut StopRequest,
    what: &str,
    work: impl FnOnce(&AtomicBool) -> T + Send + 'static,
) -> Result<T, Error> {
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancelled);
    let mut task = tokio::task::spawn_blocking(move || work(&flag));
    tokio::select! {
        biased;
        () = stop.requested() => {
            cancelled.store(true, Ordering::Relaxed);
            let _ = tokio::time::timeout(SETTLE, &mut task).await;
            Err(Error::Interrupted)
        }
        done = &mut task => done.map_err(|e| {
            Error::Internal(format!("the {what} task failed: {e}"))
        }),
    }
}

/// Writes the layer and the image archive for `keep_set`, loads it and checks the engine
/// tagged exactly that image.
///
/// The layer goes to a file first (its digest names it in the config, which the archive
/// needs before the layer). The archive is not: it streams into the engine as it is
/// written, and into the `--output` file too when one was asked for.
async fn rebuild(
    engine: &impl Engine,
    index: &std::sync::Arc<FsIndex>,
    keep_set: &KeepSet,
    target: &Target<'_>,
    labels: &[(String, String)],
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<Built, Error> {
    reporter.begin(Phase::Rebuild);
    let meter = std::sync::Arc::new(Meter::default());
    let paths: Vec<Vec<u8>> = keep_set.paths().map(<[u8]>::to_vec).collect();
    let layer_path = target.layer.clone();
    let output = target.archive.map(Path::to_path_buf);
    let config_in = target.config.clone();
    let labels = labels.to_vec();
    let tag = target.tag.to_string();
    let index = index.clone();
    let (chunks, stream) = crate::rebuild::archive_stream();
    let task_meter = meter.clone();
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancelled);
    let write = tokio::task::spawn_blocking(move || {
        let written = (|| -> Result<(LayerSummary, archive::ArchiveSummary), Error> {
            let meter = task_meter;
            let out = BufWriter::new(Metered {
                inner: Cancellable {
                    inner: File::create(&layer_path)
                        .map_err(io_error(format!("creating {}", layer_path.display())))?,
                    cancelled: &cancelled,
                },
                written: &meter.layer,
            });
            let (summary, out) = layer::write_layer(&index, paths.iter().map(Vec::as_slice), out)?;
            out.into_inner()
                .map_err(|e| e.into_error())
                .map_err(io_error(format!("writing {}", layer_path.display())))?;
            meter.layer_done.store(true, Ordering::Relaxed);
            let config = archive::new_config(&config_in, &summary, &labels)?;
            let layer = BufReader::new(
                File::open(&layer_path)
                    .map_err(io_error(format!("reading {}", layer_path.display())))?,
            );
            let what = match &output {
                Some(path) => format!("writing the image archive {}", path.display()),
                None => "streaming the image archive to the engine".to_string(),
            };
            let file = match &output {
                Some(path) => Some(File::create(path).map_err(io_error(what.clone()))?),
                None => None,
            };
            let out = BufWriter::with_capacity(
                1 << 20,
                Metered {
                    inner: Cancellable {
                        inner: crate::rebuild::Tee::new(chunks, file),
                        cancelled: &cancelled,
                    },
                    written: &meter.archive,
                },
            );
            let (archived, mut out) =
                archive::write_archive(out, &config, layer, &summary, Some(&tag))
                    .map_err(io_error(what.clone()))?;
            out.flush().map_err(io_error(what.clone()))?;
            out.into_inner()
                .map_err(|e| e.into_error())
                .and_then(|metered| metered.inner.inner.finish())
                .map_err(io_error(what))?;
            Ok((summary, archived))
        })();
        // Writes fail once interrupted (see `Cancellable`): that is the interrupt.
        match written {
            Err(_) if cancelled.load(Ordering::Relaxed) => Err(Error::Interrupted),
            done => done,
        }
    });
    let name = format!("the new image {}", target.tag);
    let work = async { tokio::join!(write, engine.load_image(stream, &name)) };
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let (written, loaded) = loop {
        tokio::select! {
            biased;
            () = stop.requested() => {
                // Both get time to end, so that nothing is written or tagged after the
                // clean-up.
                flag.store(true, Ordering::Relaxed);
                let _ = tokio::time::timeout(SETTLE, work).await;
                return Err(Error::Interrupted);
            }
            done = &mut work => break done,
            _ = tick.tick() => meter.report(reporter),
        }
    };
    meter.report(reporter);
    let written = written.map_err(|e| Error::Internal(format!("the rebuild task failed: {e}")))?;
    let (layer_summary, archive_summary) = match (written, loaded) {
        (Ok(written), Ok(())) => written,
        // The engine stopped reading: its own error says why, not the broken pipe.
        (Err(Error::Io { source, .. }), Err(refused))
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            return Err(refused.into());
        }
        (Err(e), _) => return Err(e),
        (Ok(_), Err(refused)) => return Err(refused.into()),
    };
    test_point("load", reporter, stop).await?;
    let loaded = interruptible(stop, engine.inspect_image(target.tag)).await??;
    if loaded.id != archive_summary.image_id {
        return Err(Error::Internal(format!(
            "the engine tagged {} as {} but slim built {}",
            target.tag, loaded.id, archive_summary.image_id
        )));
    }
    reporter.end(&format!(
        "{} ({}): {} entries, {} sent",
        target.tag,
        short_id(&loaded.id),
        layer_summary.entries,
        megabytes(meter.archive.load(Ordering::Relaxed))
    ));
    Ok(Built {
        image_id: archive_summary.image_id,
        digest: archive_summary.manifest_digest,
        size: loaded
            .size
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(layer_summary.size),
        layer: layer_summary,
    })
}

/// Runs the new image with the same run options, replaying the executed plan (its HTTP
/// requests twice: a second pass reaches what only a warm cache or a second request
/// reads), then the `--run` containers. Returns the results in the original's order (the
/// first pass for HTTP) and every traced access of all passes.
async fn verify_run(
    engine: &impl Engine,
    tag: &str,
    settings: &BuildSettings,
    plan: Option<&ProbePlan>,
    extra_runs: &[Vec<String>],
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<VerifyRun, Error> {
    let image = interruptible(stop, engine.inspect_image(tag)).await??;
    let mut replay = plan.cloned().unwrap_or_else(|| ProbePlan::for_ports(&[]));
    if plan.is_none() {
        replay.discovery = None;
    }
    let first_pass = replay.http.len();
    let again = replay.http.clone();
    replay.http.extend(again);
    let outcome = run::traced_run(
        engine,
        &image,
        &settings.run,
        PauseThen {
            phase: "verify",
            stop: stop.clone(),
            inner: Probing {
                plan: replay,
                image: tag.to_string(),
            },
        },
        reporter,
        stop,
    )
    .await?;
    if stop.is_requested() {
        return Err(Error::Interrupted);
    }
    let container = (outcome.end == RunEnd::Exited)
        .then(|| own_command(&image, settings, outcome.exit_code, &outcome.last_logs));
    let mut records = outcome.trace.records;
    let mut results = match outcome.workload {
        Some(report) => {
            let mut results = report.results;
            results.drain(first_pass..first_pass * 2);
            results
        }
        None => Vec::new(),
    };
    for (i, args) in extra_runs.iter().enumerate() {
        let (result, trace) = extra_run(engine, &image, settings, i, args, reporter, stop).await?;
        if stop.is_requested() {
            return Err(Error::Interrupted);
        }
        results.push(result);
        records.extend(trace);
    }
    Ok((results, container, records))
}

/// What a verification run got: the probes' results, the container's own command's
/// outcome when it ended by itself, and every traced access.
type VerifyRun = (
    Vec<ProbeResult>,
    Option<ProbeResult>,
    Vec<crate::trace::TraceRecord>,
);

/// The container's own command as a probe result, when it ended by itself: its exit code
/// and last log lines are compared like a command's.
fn own_command(
    image: &ImageInfo,
    settings: &BuildSettings,
    exit_code: i64,
    logs: &[String],
) -> ProbeResult {
    let args = if settings.run.args.is_empty() {
        image
            .entrypoint
            .iter()
            .flatten()
            .chain(image.cmd.iter().flatten())
            .cloned()
            .collect()
    } else {
        settings.run.args.clone()
    };
    ProbeResult::Run {
        args,
        exit_code: Some(exit_code),
        output: logs.join("\n"),
        error: None,
        millis: 0,
    }
}

/// The verdict of verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Every probe answered as on the original, and nothing was missing.
    Verified,
    /// Differences or missing files survived the repair rounds.
    Failed,
    /// `--no-verify`.
    Skipped,
}

/// A path repair added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RepairedPath {
    pub path: String,
    /// The verification round that found it missing.
    pub round: u32,
    /// The processes that asked for it.
    pub by: Vec<String>,
}

/// What verification found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub status: VerificationStatus,
    /// Verification runs made.
    pub rounds: u32,
    pub repaired: Vec<RepairedPath>,
    /// Probes that still answer differently (when it failed).
    pub differences: Vec<verify::Difference>,
    /// Files still missing (when it failed).
    pub missed: Vec<verify::MissedFile>,
}

/// Fails early (before the traced run) when the archive cannot be written.
fn check_output(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::BadOutput {
            path: path.display().to_string(),
            why: "it is a directory; name the archive file to write".into(),
        });
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::BadOutput {
            path: path.display().to_string(),
            why: format!("{} is not a directory", parent.display()),
        });
    }
    Ok(())
}

/// The probe plan: wait for every exposed TCP port (and those the user's probes name),
/// send the user's probes, crawl, run the commands.
fn probe_plan(image: &ImageInfo, settings: &BuildSettings) -> ProbePlan {
    let mut ports = crate::probe::tcp_ports(&image.exposed_ports);
    ports.extend(settings.plan.probes.iter().filter_map(|p| p.port));
    ports.sort_unstable();
    ports.dedup();
    let mut plan = ProbePlan::for_ports(&ports);
    plan.http = settings.plan.probes.clone();
    plan.discovery = Some(settings.plan.discovery.clone());
    plan.host_exec = settings.plan.host_exec.clone();
    plan.run = settings.plan.run.clone();
    plan.exec = settings.plan.exec.clone();
    plan.exec_user = image.user.clone();
    plan.continue_after = settings.plan.continue_after.clone();
    plan.ready_timeout = settings.plan.ready_timeout;
    plan.host_network = settings.run.network.as_deref() == Some("host");
    plan
}

/// One `--run` container: the image with `args` as its CMD, traced like the main run
/// until it exits (or `--timeout`, five minutes by default). Engine errors (a command not
/// in the image) are the probe's failure, not the build's.
async fn extra_run(
    engine: &impl Engine,
    image: &ImageInfo,
    settings: &BuildSettings,
    index: usize,
    args: &[String],
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<(ProbeResult, Vec<crate::trace::TraceRecord>), Error> {
    let run_settings = RunSettings {
        args: args.to_vec(),
        name: settings
            .run
            .name
            .as_ref()
            .map(|name| format!("{name}-run{}", index + 1)),
        timeout: Some(settings.run.timeout.unwrap_or(RUN_TIMEOUT)),
        ..settings.run.clone()
    };
    reporter.step(&format!(
        "run: {} (a further traced container)",
        args.join(" ")
    ));
    let started = Instant::now();
    let outcome = run::traced_run(engine, image, &run_settings, Idle, reporter, stop).await;
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let result = |exit_code, output: Vec<String>, error| ProbeResult::Run {
        args: args.to_vec(),
        exit_code,
        output: output.join("\n"),
        error,
        millis,
    };
    match outcome {
        Ok(outcome) => {
            let error = (outcome.end == RunEnd::TimedOut).then(|| {
                format!(
                    "still running after {:?}: stopped (--timeout)",
                    run_settings.timeout.unwrap_or(RUN_TIMEOUT)
                )
            });
            Ok((
                result(Some(outcome.exit_code), outcome.last_logs, error),
                outcome.trace.records,
            ))
        }
        Err(Error::Engine(e)) if !e.is_gone() => {
            Ok((result(None, Vec::new(), Some(e.to_string())), Vec::new()))
        }
        Err(other) => Err(other),
    }
}

/// What the rebuild has written so far, for its progress: the layer file, then the
/// archive streamed into the engine (the `load` phase).
#[derive(Default)]
struct Meter {
    layer: AtomicU64,
    layer_done: std::sync::atomic::AtomicBool,
    archive: AtomicU64,
    /// Whether the `load` phase has begun.
    loading: std::sync::atomic::AtomicBool,
}

impl Meter {
    /// Reports the bytes of the phase in progress, moving from `rebuild` to `load` once
    /// the layer is written.
    fn report(&self, reporter: &dyn Reporter) {
        if !self.loading.load(Ordering::Relaxed) {
            let layer = self.layer.load(Ordering::Relaxed);
            reporter.count(Counter::BytesWritten, layer);
            if !self.layer_done.load(Ordering::Relaxed) {
                return;
            }
            self.loading.store(true, Ordering::Relaxed);
            reporter.end(&format!("{} layer written", megabytes(layer)));
            reporter.begin(Phase::Load);
        }
        reporter.count(Counter::BytesWritten, self.archive.load(Ordering::Relaxed));
    }
}

/// A writer that counts the bytes through it where another thread can read them.
struct Metered<'a, W> {
    inner: W,
    written: &'a AtomicU64,
}

impl<W: Write> Write for Metered<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A writer that fails once `cancelled` is set, so that an interrupt ends a long write.
struct Cancellable<'a, W> {
    inner: W,
    cancelled: &'a AtomicBool,
}

impl<W: Write> Write for Cancellable<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.cancelled.load(Ordering::Relaxed) {
            // Not ErrorKind::Interrupted: write_all would retry that.
            return Err(std::io::Error::other("interrupted"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Bytes as megabytes with one decimal, as the summary shows sizes.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Saves the original image from the engine into `dir`, streaming it to disk.
async fn save_image(
    engine: &impl Engine,
    image: &ImageInfo,
    dir: &Path,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<SavedImage, Error> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let unpack_dir = dir.to_path_buf();
    let unpacker =
        tokio::task::spawn_blocking(move || save::unpack(ChannelReader::new(rx), &unpack_dir));
    let mut stream = engine.save_image(&image.id);
    let mut failure = None;
    let mut read = 0u64;
    let mut interrupted = false;
    loop {
        let chunk = tokio::select! {
            biased;
            () = stop.requested() => {
                interrupted = true;
                break;
            }
            chunk = stream.next() => match chunk {
                Some(chunk) => chunk,
                None => break,
            },
        };
        if let Ok(bytes) = &chunk {
            read += bytes.len() as u64;
            reporter.count(Counter::BytesRead, read);
        }
        let item = chunk.map_err(|e| std::io::Error::other(e.to_string()));
        let failed = item.is_err();
        if let Err(e) = &item {
            failure = Some(e.to_string());
        }
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    if interrupted {
        // The unpacker ends at the closed channel; it must not write after the clean-up.
        let _ = tokio::time::timeout(SETTLE, unpacker).await;
        return Err(Error::Interrupted);
    }
    let saved = unpacker
        .await
        .map_err(|e| Error::Internal(format!("the save task failed: {e}")))?;
    match (saved, failure) {
        (Ok(saved), None) => {
            reporter.end(&format!("{} read from the engine", megabytes(read)));
            Ok(saved)
        }
        (Err(e), None) => Err(e.into()),
        (_, Some(message)) => Err(save::SaveError::Engine {
            image: image.reference.clone(),
            message,
        }
        .into()),
    }
}

/// A workload that first passes a test point (see [`crate::interrupt::test_point`]).
struct PauseThen<W> {
    phase: &'static str,
    stop: StopRequest,
    inner: W,
}

impl<W: Workload + Send + 'static> Workload for PauseThen<W> {
    type Output = W::Output;

    fn first_phase(&self) -> crate::reporter::Phase {
        self.inner.first_phase()
    }

    fn drive<'a, E: Engine>(
        self,
        engine: &'a E,
        container: &'a RunningContainer,
        reporter: &'a dyn Reporter,
    ) -> impl std::future::Future<Output = Result<W::Output, Error>> + Send + 'a {
        let PauseThen {
            phase,
            mut stop,
            inner,
        } = self;
        async move {
            test_point(phase, reporter, &mut stop).await?;
            inner.drive(engine, container, reporter).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(reference: &str, tags: &[&str]) -> ImageInfo {
        ImageInfo {
            id: "sha256:0123456789abcdef0123".into(),
            reference: reference.into(),
            repo_tags: tags.iter().map(|t| (*t).to_string()).collect(),
            ..ImageInfo::default()
        }
    }

    #[test]
    fn default_tags_add_slim_to_the_repository() {
        assert_eq!(default_tag(&info("nginx:1.25", &[])), "nginx.slim:1.25");
        assert_eq!(default_tag(&info("app", &[])), "app.slim:latest");
        assert_eq!(
            default_tag(&info("localhost:5000/team/app:2", &[])),
            "localhost:5000/team/app.slim:2"
        );
        assert_eq!(
            default_tag(&info("localhost:5000/app", &[])),
            "localhost:5000/app.slim:latest"
        );
        assert_eq!(default_tag(&info("app@sha256:abc", &[])), "app.slim:latest");
        assert_eq!(default_tag(&info("0123456789ab", &["web:3"])), "web.slim:3");
        assert_eq!(
            default_tag(&info("sha256:0123456789ab", &[])),
            "slim/0123456789ab:latest"
        );
    }
}
