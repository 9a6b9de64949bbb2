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
//!
//! Each stage's work is in its module; this holds their order, the timings, and the undo
//! (`undo`).

mod original;
mod undo;

use original::{OriginalFiles, original_files, start_indexing};

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::drive::openapi::SkippedOperation;
use crate::drive::plan;
use crate::drive::runs::{extra_run, own_command};
use crate::drive::{ProbePlan, ProbeResult, Probing};
use crate::engine::{Engine, EngineError};
use crate::error::Error;
use crate::footprint;
use crate::image::index::FsIndex;
use crate::image::reference::{default_tag, short_id};
use crate::inspect::ImageInfo;
use crate::interrupt::{Interrupted, StopRequest, blocking, interruptible};
use crate::keep::profile;
use crate::keep::{self, ImageRuntime, KeepSet};
use crate::packages::{self, PackageDb};
use crate::rebuild::archive::{LABEL_SOURCE_ID, LABEL_SOURCE_IMAGE, LABEL_VERSION};
use crate::rebuild::load::{Target, write_and_load};
use crate::report::summary::{Alongside, AppliedProfiles, BuildSummary};
use crate::reporter::{Phase, Reporter, Within, megabytes};
use crate::run::{self, PauseThen, RunEnd, RunSettings, Watcher};
use crate::sbom::{self, SbomTarget, Subject};
use crate::seccomp::{self, Profile};
use crate::settings::BuildSettings;
use crate::test_hook::test_point;
use crate::trace::TraceRecord;
use crate::verify::repair::{self, Candidate, Original};
use crate::verify::{Verification, VerificationStatus};
use slim_probe_ebpf::CallRecord;
use undo::{Undo, WorkDir};

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
    let excludes = keep::check_user_globs(&settings.keep)?;
    let tag = settings.tag.clone().unwrap_or_else(|| default_tag(&image));
    let sbom_path = settings.sbom.as_ref().map(|s| s.path.clone());
    for path in settings
        .output
        .iter()
        .chain(&settings.report)
        .chain(&sbom_path)
    {
        check_output(path)?;
    }
    if let Some(path) = &settings.seccomp {
        seccomp::check_path(path)?;
    }
    reporter.end(&format!(
        "{} ({}, {})",
        settings.image,
        short_id(&image.id),
        megabytes(image.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    ));
    lap("inspect", &mut phases);

    // Read in place, the original's files are indexed while its traced container runs.
    let (indexing, watcher) = start_indexing(&image, settings, reporter)?;

    let Traced {
        container,
        executed_plan,
        probes,
        again,
        skipped_operations,
        extra_runs,
        records,
        events,
        lost_events,
        calls,
    } = traced_runs(engine, &image, settings, watcher, reporter, stop).await?;
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
    let OriginalFiles {
        index,
        config,
        source: image_source,
        indexed_alongside,
        ahead,
    } = original_files(engine, &image, indexing, &work.0, reporter, stop).await?;
    lap("save", &mut phases);
    let mut alongside: Vec<Alongside> = indexed_alongside
        .map(|took| Alongside {
            name: "index",
            during: "run",
            joined: "save",
            took,
        })
        .into_iter()
        .collect();
    if !ahead.is_empty() {
        alongside.push(Alongside {
            name: "python scan",
            during: "run",
            joined: "save",
            took: ahead.took,
        });
    }

    let runtime = ImageRuntime {
        env: image.env.clone(),
        user: image.user.clone(),
        workdir: image.working_dir.clone(),
    };
    let mut keep_options = settings.keep.clone();
    let profiles = settings.profiles.clone();
    reporter.begin(Phase::Keep);
    let (index, mut keep_set, chosen, (traced_absent, absent), records) = blocking(stop, "keep", {
        let runtime = runtime.clone();
        let env = image.env.clone();
        move || -> Result<_, Error> {
            let chosen = profile::choose(&profiles.named, profiles.auto, &index, &env, &records)?;
            let names: AppliedProfiles = chosen
                .iter()
                .map(|(p, why)| (p.name.clone(), why.clone()))
                .collect();
            keep_options.profiles = chosen.into_iter().map(|(p, _)| p).collect();
            let absent = footprint::absent(&index, &records);
            // From here on only the lookups that found nothing are compared (verification);
            // a trace can hold millions of records, and the keep set is computed, the new
            // image written and run without the rest.
            let missing = missing_lookups(&records);
            let keep_set = keep::compute_with(&index, records, &runtime, &keep_options, ahead)?;
            crate::memory::give_back();
            Ok((index, keep_set, names, absent, missing))
        }
    })
    .await??;
    let index = Arc::new(index);
    for (name, why) in &chosen {
        reporter.step(&format!("profile {name}: {why}"));
    }
    for exclusion in keep_set.exclusions() {
        match exclusion.removed.len() {
            0 => reporter.warn(&nothing_excluded(exclusion)),
            n => reporter.step(&format!(
                "--exclude {}: left out {n} path(s) the build would keep",
                exclusion.pattern
            )),
        }
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
        config: &config,
        package_db: settings.package_db,
    };
    let mut built = write_and_load(
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

    // The profile from the original's calls; verification runs the new image under it.
    let profile = match &settings.seccomp {
        Some(_) => {
            let mut profile = Profile::from_calls(&calls)?;
            for call in crate::test_hook::hook().seccomp_drops() {
                reporter.step(&format!(
                    "seccomp: {call} taken out of the profile ({})",
                    crate::test_hook::ENV
                ));
                profile.refuse(call);
            }
            reporter.step(&format!(
                "seccomp profile: {} of {} system calls allowed ({})",
                profile.allowed.len(),
                profile.total(),
                profile.arch
            ));
            Some(profile)
        }
        None => None,
    };
    let mut verify_run = match &profile {
        Some(profile) => RunSettings {
            seccomp: Some(profile.json(false)),
            record_calls: true,
            ..settings.run.clone()
        },
        None => settings.run.clone(),
    };
    // Verification compares only the lookups that found nothing.
    verify_run.missing_only = true;

    let mut verification = Verification::skipped();
    if settings.verify.enabled {
        // What writing the new layer used goes back before verification loads its probe.
        crate::memory::give_back();
        reporter.begin(Phase::Verify);
        let original = Original {
            probes: &probes,
            again: &again,
            container: container.as_ref(),
            plan: executed_plan.as_ref(),
            runs: &extra_runs,
            records: &records,
            calls: profile.as_ref().map(|_| &calls),
        };
        let candidate = Candidate {
            index: &index,
            keep_set,
            excludes: &excludes,
            built,
            runtime: &runtime,
            target: &target,
            labels: &base_labels,
        };
        (verification, keep_set, built) = repair::verify(
            engine,
            &original,
            candidate,
            &settings.verify,
            &verify_run,
            reporter,
            stop,
        )
        .await?;
        lap("verify", &mut phases);
    }

    if let Some(db) = &built.packages {
        keep_set.add_package_db(built.package_paths.iter().map(Vec::as_slice), &db.format);
    }
    let closure_seconds = keep_set.closure_time.as_secs_f64();
    let sbom_subject = Subject {
        tag: tag.clone(),
        image_id: built.image_id.clone(),
        source: settings.image.clone(),
        source_id: image.id.clone(),
        ..Subject::default()
    };
    let (footprint, sbom) = tokio::task::spawn_blocking({
        let index = index.clone();
        let sbom = settings.sbom.clone();
        let db = built.packages.clone();
        move || {
            let written = sbom.map(|target| {
                let start = Instant::now();
                write_sbom(&index, &keep_set, db, sbom_subject, &target)
                    .map(|n| (target, n, start.elapsed()))
            });
            (footprint::measure(&index, keep_set), written)
        }
    })
    .await
    .map_err(|e| Error::Internal(format!("the footprint task failed: {e}")))?;
    if let Some(sbom) = sbom {
        let (target, components, took) = sbom?;
        reporter.step(&format!(
            "SBOM ({}) of {components} component(s) written to {}",
            target.format.name(),
            target.path.display()
        ));
        phases.push(("sbom", took));
    }
    // Written only once the new image behaved under it (or the user accepts differences).
    let seccomp = match (&profile, &settings.seccomp) {
        (Some(profile), Some(path)) => {
            let start = Instant::now();
            let write = verification.status == VerificationStatus::Verified || settings.allow_diff;
            if write {
                seccomp::write(path, &profile.json(true))?;
                reporter.step(&format!("seccomp profile written to {}", path.display()));
            }
            phases.push(("seccomp", start.elapsed()));
            Some(profile.summary(path, write))
        }
        _ => None,
    };
    Ok(BuildSummary {
        source: settings.image.clone(),
        source_id: image.id.clone(),
        source_size: image.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        tag,
        image_id: built.image_id,
        size: built.size,
        paths_kept: footprint.kept.len(),
        traced_absent,
        closure_seconds,
        absent,
        paths_total: index.len(),
        layer: built.layer,
        packages: built.packages,
        probes,
        executed_plan,
        skipped_operations,
        phases,
        alongside,
        archive: settings.output.clone(),
        profiles: chosen,
        verification,
        footprint,
        events,
        lost_events,
        source_config: config.get("config").cloned().unwrap_or_default(),
        image_source,
        digest: built.digest,
        seccomp,
    })
}

/// Writes the SBOM of the new image; returns how many components it lists. Without
/// `--no-package-db`'s database, the packages are read for it alone.
fn write_sbom(
    index: &FsIndex,
    keep_set: &KeepSet,
    db: Option<PackageDb>,
    mut subject: Subject,
    target: &SbomTarget,
) -> Result<usize, Error> {
    let db = match db {
        Some(db) => Some(db),
        None => packages::trim(index, &|p| keep_set.contains(p))?.db,
    };
    subject.os = sbom::os_release(index);
    subject.components = sbom::inventory(index, keep_set.paths(), db.as_ref(), subject.os.as_ref());
    sbom::write(&subject, target)?;
    Ok(subject.components.len())
}

/// What the traced runs of the original image handed on.
struct Traced {
    /// The container's own command, when it ended by itself.
    container: Option<ProbeResult>,
    /// The probe plan as executed (`None`: the application exited before probing finished).
    executed_plan: Option<ProbePlan>,
    /// Every probe's result: the traced run's, then `--run`'s.
    probes: Vec<ProbeResult>,
    /// The second answers of the traced run's probes (see `ProbeReport::again`).
    again: Vec<Option<ProbeResult>>,
    /// OpenAPI operations not probed, with the reason.
    skipped_operations: Vec<SkippedOperation>,
    /// The `--run` argument vectors.
    extra_runs: Vec<Vec<String>>,
    /// Every traced access of all runs.
    records: Vec<TraceRecord>,
    /// Events the probe delivered and lost in the main run.
    events: u64,
    lost_events: u64,
    /// The system calls of all runs (recorded for `--seccomp` only).
    calls: CallRecord,
}

/// The traced run of the original image while the probe plan drives it, then the `--run`
/// containers.
async fn traced_runs(
    engine: &impl Engine,
    image: &ImageInfo,
    settings: &BuildSettings,
    watcher: Option<Watcher>,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<Traced, Error> {
    let plan = plan::probe_plan(image, &settings.plan, &settings.run);
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
                plan.exec.len()
                    + plan.host_exec.len()
                    + plan.run.len()
                    + usize::from(plan.healthcheck.is_some())
            )
        }
    ));
    let expects_probing = !plan.is_empty();
    let extra_runs = plan.run.clone();
    let outcome = run::traced_run(
        engine,
        image,
        &settings.run,
        PauseThen {
            phase: "probing",
            stop: stop.clone(),
            inner: Probing {
                plan,
                image: settings.image.clone(),
                // Verification learns what varies from the original's second answers.
                answer_twice: settings.verify.enabled,
            },
            watcher,
        },
        reporter,
        stop,
    )
    .await?;
    // A stop request ends the run early; the build must not go on with that trace.
    if stop.is_requested() {
        return Err(Interrupted.into());
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
        .then(|| own_command(image, &settings.run, outcome.exit_code, &outcome.last_logs));
    let (executed_plan, mut probes, again, skipped_operations) = match outcome.workload {
        Some(report) => (
            Some(report.plan),
            report.results,
            report.again,
            report.crawl.map(|c| c.skipped).unwrap_or_default(),
        ),
        None => (None, Vec::new(), Vec::new(), Vec::new()),
    };
    for unhealthy in probes.iter().filter(|p| p.unhealthy()) {
        reporter.warn(&unhealthy_original(unhealthy));
    }
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
    let mut calls = outcome.calls;
    for (i, args) in extra_runs.iter().enumerate() {
        reporter.begin(Phase::Run);
        let within = Within::new(reporter, args.join(" "));
        let (result, trace, run_calls) =
            extra_run(engine, image, &settings.run, i, args, &within, stop).await?;
        calls.merge(&run_calls);
        if stop.is_requested() {
            return Err(Interrupted.into());
        }
        reporter.step(&format!("probe: {}", result.line()));
        let line = result.line();
        reporter.end(line.strip_prefix("run ").unwrap_or(&line));
        probes.push(result);
        records.extend(trace);
    }
    Ok(Traced {
        container,
        executed_plan,
        probes,
        again,
        skipped_operations,
        extra_runs,
        records,
        events,
        lost_events,
        calls,
    })
}

/// The warning for an image whose own HEALTHCHECK fails on the original.
fn unhealthy_original(result: &ProbeResult) -> String {
    format!(
        "the image's HEALTHCHECK fails on the original: {}; the build goes on, and \
         verification only checks that it fails on the new image too\nhint: \
         --no-healthcheck leaves it out",
        result.line()
    )
}

/// The warning for an `--exclude` glob that took nothing out.
fn nothing_excluded(exclusion: &keep::Exclusion) -> String {
    format!(
        "--exclude {} left nothing out: {}\nhint: a glob matches paths as the image holds \
         them, without following symlinks; `slim explain PATH` says whether and why the \
         build kept a path",
        exclusion.pattern,
        footprint::why_nothing_excluded(exclusion.image_matches)
    )
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

/// The records of lookups that found nothing: all that is compared once the keep set is
/// known.
fn missing_lookups(records: &[TraceRecord]) -> Vec<TraceRecord> {
    records
        .iter()
        .filter(|r| r.result.is_missing())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
