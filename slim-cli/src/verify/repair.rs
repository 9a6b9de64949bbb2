//! Verification with repair: the new image runs under the same probes as the original
//! did, and what differs is the verdict. Files the new image missed (and the original has)
//! are added to the keep set and the image is rebuilt, a bounded number of rounds; a new
//! image whose command is gone (it cannot start) fails verification too. Runs
//! containers under the probe (`run`, `drive`) and loads images (`rebuild::load`).

use std::sync::Arc;

use super::{
    Difference, RepairedPath, Verification, VerificationStatus, VerifySettings, compare,
    missed_files,
};
use crate::drive::runs::{extra_run, own_command};
use crate::drive::{DriveError, ProbePlan, ProbeResult, Probing};
use crate::engine::{Engine, EngineError};
use crate::image::index::FsIndex;
use crate::interrupt::{Interrupted, StopRequest, Unfinished, blocking, interruptible};
use crate::keep::{self, Excludes, ImageRuntime, KeepSet, Reason};
use crate::rebuild::archive::LABEL_VERIFIED;
use crate::rebuild::load::{Built, LoadError, Target, write_and_load};
use crate::reporter::{Reporter, Within};
use crate::run::{self, PauseThen, RunEnd, RunError, RunSettings};
use crate::trace::TraceRecord;
use slim_probe_ebpf::CallRecord;

/// Why verification could not reach a verdict.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Running the new image (a `--run` container's failure is a [`RunError`] inside).
    #[error(transparent)]
    Drive(#[from] DriveError),
    /// Rebuilding it.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Computing the repaired keep set.
    #[error(transparent)]
    Unfinished(#[from] Unfinished),
}

impl From<RunError> for VerifyError {
    fn from(error: RunError) -> VerifyError {
        VerifyError::Drive(error.into())
    }
}

impl From<EngineError> for VerifyError {
    fn from(error: EngineError) -> VerifyError {
        RunError::from(error).into()
    }
}

impl From<Interrupted> for VerifyError {
    fn from(error: Interrupted) -> VerifyError {
        RunError::from(error).into()
    }
}

/// What the original image did under the probes: verification compares against it.
pub struct Original<'a> {
    /// Every probe's result: the traced run's, then `--run`'s.
    pub probes: &'a [ProbeResult],
    /// The original's second answer to each probe that was asked twice (same positions as
    /// `probes`; shorter when the last ones were asked once).
    pub again: &'a [Option<ProbeResult>],
    /// The container's own command, when it ended by itself.
    pub container: Option<&'a ProbeResult>,
    /// The probe plan as executed (`None`: the application exited before probing finished).
    pub plan: Option<&'a ProbePlan>,
    /// The `--run` argument vectors.
    pub runs: &'a [Vec<String>],
    /// Every access traced in the original's runs.
    pub records: &'a [TraceRecord],
    /// The system calls of the original's runs, when the new image runs under a seccomp
    /// profile made from them: calls refused in both are not news.
    pub calls: Option<&'a CallRecord>,
}

/// The new image and what it was made from, so that repair can make it again.
pub struct Candidate<'a> {
    pub index: &'a Arc<FsIndex>,
    pub keep_set: KeepSet,
    /// The `--exclude` globs the keep set was computed with: repair applies them again.
    pub excludes: &'a Excludes,
    pub built: Built,
    pub runtime: &'a ImageRuntime,
    pub target: &'a Target<'a>,
    pub labels: &'a [(String, String)],
}

/// Verifies `candidate` against `original`, repairing it while files are missing and
/// rounds are left. Returns the verdict and the keep set and image it was reached with (an
/// image that failed is rebuilt labelled `slim.verified=false`).
pub async fn verify(
    engine: &impl Engine,
    original: &Original<'_>,
    candidate: Candidate<'_>,
    settings: &VerifySettings,
    run: &RunSettings,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<(Verification, KeepSet, Built), VerifyError> {
    let replay = TracedReplay {
        engine,
        run,
        plan: original.plan,
        runs: original.runs,
    };
    verify_with(
        engine, &replay, original, candidate, settings, reporter, stop,
    )
    .await
}

/// How the new image is run under the original's probes. Verification uses the traced
/// run ([`TracedReplay`]); the trait lets the loop of [`verify_with`] run without the
/// kernel's probe.
trait Replay {
    /// Runs image `tag`: the probes' results in the original's order, the container's own
    /// command's outcome when it ended by itself, and every traced access.
    async fn replay(
        &self,
        tag: &str,
        reporter: &dyn Reporter,
        stop: &mut StopRequest,
    ) -> Result<VerifyRun, VerifyError>;
}

/// The new image run as the original was: traced, under the executed plan, then the
/// `--run` containers.
struct TracedReplay<'a, E> {
    engine: &'a E,
    run: &'a RunSettings,
    plan: Option<&'a ProbePlan>,
    runs: &'a [Vec<String>],
}

impl<E: Engine> Replay for TracedReplay<'_, E> {
    async fn replay(
        &self,
        tag: &str,
        reporter: &dyn Reporter,
        stop: &mut StopRequest,
    ) -> Result<VerifyRun, VerifyError> {
        verify_run(
            self.engine,
            tag,
            self.run,
            self.plan,
            self.runs,
            reporter,
            stop,
        )
        .await
    }
}

/// [`verify`] with the new image run by `replay`.
async fn verify_with(
    engine: &impl Engine,
    replay: &impl Replay,
    original: &Original<'_>,
    candidate: Candidate<'_>,
    settings: &VerifySettings,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<(Verification, KeepSet, Built), VerifyError> {
    let Candidate {
        index,
        mut keep_set,
        excludes,
        mut built,
        runtime,
        target,
        labels,
    } = candidate;
    let mut verification = Verification::skipped();
    let mut round = 0;
    loop {
        round += 1;
        verification.rounds = round;
        reporter.step(&format!(
            "verify, round {round}: replaying the probes on {}",
            target.tag
        ));
        let within = Within::new(reporter, format!("round {round}"));
        let replayed = replay.replay(target.tag, &within, stop).await;
        let (results, slim_container, trace, calls) = match replayed {
            Ok(replayed) => replayed,
            Err(error) => {
                // The original started with the same options: the new image lacks its
                // command, or the runtime could not start it under the seccomp profile. A
                // verdict on the image (or the profile), not a failure of slim's.
                let Some(message) = command_not_found(&error)
                    .or_else(|| original.calls.and_then(|_| start_failed(&error)))
                else {
                    return Err(error);
                };
                reporter.warn(&cannot_start(target.tag, message, &keep_set));
                verification.status = VerificationStatus::Failed;
                verification.differences = vec![Difference {
                    probe: "container start".into(),
                    original: "started".into(),
                    slim: format!("could not start: {message}"),
                }];
                verification.missed.clear();
                break;
            }
        };
        verification.refused_calls = original
            .calls
            .map(|before| crate::seccomp::newly_refused(before, &calls))
            .unwrap_or_default();
        if !verification.refused_calls.is_empty() {
            reporter.warn(&format!(
                "the seccomp profile refused {} to the new image's processes (the original's \
                 runs did not have them refused)",
                verification.refused_calls.join(", ")
            ));
        }
        let (mut differences, stability) = compare(original.probes, original.again, &results);
        verification.stability = stability;
        if let (Some(a), Some(b)) = (original.container, &slim_container) {
            differences.extend(compare(std::slice::from_ref(a), &[], std::slice::from_ref(b)).0);
        }
        // Files repair cannot bring: those an --exclude glob takes out, and those repaired
        // before that are still missing (something else is wrong with them).
        let (denied, missed): (Vec<_>, Vec<_>) =
            missed_files(index, &keep_set, excludes, original.records, &trace)
                .into_iter()
                .partition(|m| {
                    m.excluded_by.is_some()
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
        if missed.is_empty() || round > settings.repair_rounds {
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
            let index = Arc::clone(index);
            let runtime = runtime.clone();
            let excludes = excludes.clone();
            move || keep::add_repaired(&index, keep_set, &additions, round, &runtime, &excludes)
        })
        .await?;
        built = write_and_load(engine, index, &keep_set, target, labels, &within, stop).await?;
    }
    if verification.status == VerificationStatus::Failed {
        // Still tagged, but marked: a user must not mistake it for a verified image.
        let mut labels = labels.to_vec();
        labels.push((LABEL_VERIFIED.to_string(), "false".to_string()));
        let within = Within::new(reporter, "labelling it unverified");
        built = write_and_load(engine, index, &keep_set, target, &labels, &within, stop).await?;
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
    Ok((verification, keep_set, built))
}

/// The engine's message when `error` says the new image's container could not start
/// because its command is not in the image.
fn command_not_found(error: &VerifyError) -> Option<&str> {
    match error {
        VerifyError::Drive(DriveError::Run(RunError::Engine(EngineError::StartFailed {
            message,
            command_not_found: true,
            ..
        }))) => Some(message),
        _ => None,
    }
}

/// The engine's message when `error` says the new image's container could not start.
fn start_failed(error: &VerifyError) -> Option<&str> {
    match error {
        VerifyError::Drive(DriveError::Run(RunError::Engine(EngineError::StartFailed {
            message,
            ..
        }))) => Some(message),
        _ => None,
    }
}

/// The warning for a new image that cannot start, naming the paths the original's run
/// used that `--exclude` left out, if any.
fn cannot_start(tag: &str, message: &str, keep_set: &KeepSet) -> String {
    let used: Vec<String> = keep_set
        .exclusions()
        .iter()
        .flat_map(|e| &e.removed)
        .filter(|(_, reasons)| reasons.iter().any(|r| matches!(r, Reason::Traced { .. })))
        .map(|(path, _)| String::from_utf8_lossy(path).into_owned())
        .take(5)
        .collect();
    let hint = if used.is_empty() {
        String::new()
    } else {
        format!(
            "\nhint: --exclude left out paths the original's run used: {}",
            used.join(", ")
        )
    };
    format!("{tag} could not start: {message}{hint}")
}

/// Runs the new image with the same run options, replaying the executed plan (its HTTP
/// requests twice: a second pass reaches what only a warm cache or a second request
/// reads), then the `--run` containers. Returns the results in the original's order (the
/// first pass for HTTP) and every traced access of all passes.
async fn verify_run(
    engine: &impl Engine,
    tag: &str,
    settings: &RunSettings,
    plan: Option<&ProbePlan>,
    extra_runs: &[Vec<String>],
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<VerifyRun, VerifyError> {
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
        settings,
        PauseThen {
            phase: "verify",
            stop: stop.clone(),
            inner: Probing {
                plan: replay,
                image: tag.to_string(),
                answer_twice: false,
            },
            watcher: None,
        },
        reporter,
        stop,
    )
    .await?;
    if stop.is_requested() {
        return Err(Interrupted.into());
    }
    let container = (outcome.end == RunEnd::Exited)
        .then(|| own_command(&image, settings, outcome.exit_code, &outcome.last_logs));
    let mut records = outcome.trace.records;
    let mut calls = outcome.calls;
    let mut results = match outcome.workload {
        Some(report) => {
            let mut results = report.results;
            results.drain(first_pass..first_pass * 2);
            results
        }
        None => Vec::new(),
    };
    for (i, args) in extra_runs.iter().enumerate() {
        let (result, trace, run_calls) =
            extra_run(engine, &image, settings, i, args, reporter, stop).await?;
        if stop.is_requested() {
            return Err(Interrupted.into());
        }
        results.push(result);
        records.extend(trace);
        calls.merge(&run_calls);
    }
    Ok((results, container, records, calls))
}

/// What a verification run got: the probes' results, the container's own command's
/// outcome when it ended by itself, every traced access, and the system calls (when
/// recorded).
type VerifyRun = (
    Vec<ProbeResult>,
    Option<ProbeResult>,
    Vec<TraceRecord>,
    CallRecord,
);

#[cfg(test)]
mod tests;
