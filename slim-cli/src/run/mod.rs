//! The traced run stage: runs an image once in its own cgroup under the probe and hands
//! the events to the trace stage.
//!
//! Order matters: the cgroup exists and the probe watches it before the container is
//! created, so nothing the container does escapes. The run ends when the container exits,
//! when `--timeout` passes, or when the user asks to stop (then the container is stopped
//! the engine's way); then every event still in the ring buffer is drained, losses are
//! checked, and the trace is written. Whatever happens (errors, interrupts, panics), the
//! container and the cgroup are removed before [`trace`] returns.

mod reader;
mod resources;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use slim_probe_ebpf::{CallRecord, Event, Probe, ProbeConfig};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::cgroup::{CgroupDriver, CgroupError, RunCgroup};
use crate::engine::{ContainerSpec, Engine, EngineError, RUN_LABEL};
use crate::inspect::ImageInfo;
use crate::interrupt::{Interrupted, StopRequest, interruptible};
use crate::netns::Processes;
use crate::output::{OutputError, OutputTarget, TraceOutput};
use crate::recover::NoOwner;
use crate::reporter::{Counter, Phase, Reporter};
use crate::test_hook::test_point;
use crate::trace::{Trace, TraceBuilder, TraceRecord};

pub use resources::LeftBehind;
use resources::RunResources;

/// How long a stopped container gets between its stop signal and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How many of the container's last log lines are shown when it fails.
pub const LOG_LINES: usize = 20;

/// Why a traced run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Probe(#[from] slim_probe_ebpf::ProbeError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    LeftBehind(#[from] LeftBehind),
    /// Events were lost and `--allow-incomplete` was not given (the command's error says
    /// it in full, with its hint).
    #[error("{lost} events were lost: the trace is incomplete")]
    Incomplete {
        lost: u64,
        ring_buffer: u64,
        tracking: u64,
        ring_buffer_bytes: u32,
    },
    /// A bug: what went wrong.
    #[error("{0}")]
    Internal(String),
}

impl From<NoOwner> for RunError {
    fn from(error: NoOwner) -> RunError {
        RunError::Internal(error.0)
    }
}

/// `; its last log lines:` and the lines, for error messages (nothing when there are none).
pub fn logs_text(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(
            "; its last log lines:\n{}",
            lines
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// Everything `slim trace` needs, resolved from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSettings {
    /// The image reference as given.
    pub image: String,
    pub output: OutputTarget,
    pub run: RunSettings,
}

/// How to run the traced container and the probe: the image's own configuration with the
/// user's overrides, as `docker run` takes them. They shape the traced run only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSettings {
    /// Replaces the image's CMD when not empty.
    pub args: Vec<String>,
    /// Stop the container after this long.
    pub timeout: Option<Duration>,
    /// Container name; `slim-<run id>` when not given.
    pub name: Option<String>,
    /// `KEY=VAL` entries for the container's environment.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<String>,
    pub network: Option<String>,
    /// `-v` mounts, `SRC:DEST[:OPTS]`.
    pub volumes: Vec<String>,
    /// `--tmpfs` mounts, `DEST[:OPTS]`.
    pub tmpfs: Vec<String>,
    pub cap_add: Vec<String>,
    pub ring_buffer_bytes: u32,
    pub allow_incomplete: bool,
    /// Record the system calls the container's processes make (`--seccomp`).
    pub record_calls: bool,
    /// The seccomp profile (the engine's JSON) the container runs under instead of the
    /// engine's default: verification's run under the profile `--seccomp` wrote.
    pub seccomp: Option<String>,
    /// Keep only the traced calls that found nothing (verification looks at no others): a
    /// run that reads 100,000 files would otherwise hold a record of each.
    pub missing_only: bool,
}

/// Why the traced container stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// It exited by itself.
    Exited,
    /// `--timeout` passed and slim stopped it.
    TimedOut,
    /// The user asked slim to stop, and slim stopped it.
    Stopped,
    /// The workload (probing) finished, and slim stopped it.
    Driven,
}

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSummary {
    pub run_id: String,
    pub container: String,
    pub end: RunEnd,
    pub exit_code: i64,
    pub events: u64,
    pub records: usize,
    pub unique_paths: usize,
    pub lost: u64,
    /// The container's last log lines, when it exited non-zero.
    pub last_logs: Vec<String>,
}

impl TraceSummary {
    /// The summary as short lines for the terminal.
    pub fn lines(&self) -> Vec<String> {
        let ended = match self.end {
            RunEnd::Exited => "exited",
            RunEnd::TimedOut => "stopped after --timeout, then exited",
            RunEnd::Stopped => "stopped on request, then exited",
            RunEnd::Driven => "stopped after probing, then exited",
        };
        let mut lines = vec![format!(
            "container {} {ended} with code {}",
            self.container, self.exit_code
        )];
        if !self.last_logs.is_empty() {
            lines.push(format!("its last {} log lines:", self.last_logs.len()));
            lines.extend(self.last_logs.iter().map(|l| format!("  | {l}")));
        }
        lines.push(format!(
            "trace: {} events, {} records, {} unique paths, {} lost",
            self.events, self.records, self.unique_paths, self.lost
        ));
        lines
    }
}

/// A fresh run id naming this process as its owner (see [`crate::recover`]), in letters
/// and digits only, as systemd slice names need.
pub fn new_run_id() -> Result<String, NoOwner> {
    crate::recover::Owner::current()?.new_run_id()
}

/// The container to create for a run: the image's own configuration, with the user's
/// overrides applied the way `docker run` applies them.
pub fn container_spec(
    image: &ImageInfo,
    settings: &RunSettings,
    run_id: &str,
    cgroup_parent: &str,
) -> ContainerSpec {
    ContainerSpec {
        image: image.id.clone(),
        name: settings
            .name
            .clone()
            .unwrap_or_else(|| format!("slim-{run_id}")),
        labels: vec![(RUN_LABEL.to_string(), run_id.to_string())],
        cgroup_parent: cgroup_parent.to_string(),
        cmd: (!settings.args.is_empty()).then(|| settings.args.clone()),
        entrypoint: settings.entrypoint.as_ref().map(|e| vec![e.clone()]),
        env: settings.env.clone(),
        user: settings.user.clone(),
        working_dir: settings.workdir.clone(),
        network: settings.network.clone(),
        binds: settings.volumes.clone(),
        tmpfs: settings.tmpfs.clone(),
        cap_add: settings.cap_add.clone(),
        security_opt: settings
            .seccomp
            .iter()
            .map(|profile| format!("seccomp={profile}"))
            .collect(),
    }
}

/// The container of a run while it runs, for a [`Workload`] to drive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningContainer {
    /// Its name in the engine (unique, used to address it).
    pub name: String,
    pub run_id: String,
    /// Its processes: those of the run's cgroup.
    pub processes: Processes,
}

/// Told of a traced run's records as they come in, each once, in order; dropped when the
/// run ends.
pub type Watcher = Box<dyn FnMut(&[TraceRecord]) + Send>;

/// What drives the application while the probe watches: nothing (the container runs until
/// it exits), or probes. When it finishes, the container is stopped the engine's way.
pub trait Workload {
    type Output: Send;
    /// Its own failures, and the run's: a traced run fails with this.
    type Error: From<RunError> + Send;

    /// The phase the run is in once the container has started.
    fn first_phase(&self) -> Phase {
        Phase::Run
    }

    /// What watches the trace while the workload drives (taken once, before it starts).
    fn take_watcher(&mut self) -> Option<Watcher> {
        None
    }

    fn drive<'a, E: Engine>(
        self,
        engine: &'a E,
        container: &'a RunningContainer,
        reporter: &'a dyn Reporter,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send + 'a;
}

/// A workload that never finishes: the container runs until it exits, `--timeout` passes
/// or the user stops it.
pub struct Idle;

impl Workload for Idle {
    type Output = ();
    type Error = RunError;

    fn drive<'a, E: Engine>(
        self,
        _: &'a E,
        _: &'a RunningContainer,
        _: &'a dyn Reporter,
    ) -> impl Future<Output = Result<(), RunError>> + Send + 'a {
        std::future::pending()
    }
}

/// A workload that first passes a test point (see [`crate::test_hook::test_point`]), and
/// whose run's trace `watcher` sees as it grows.
pub struct PauseThen<W> {
    pub phase: &'static str,
    pub stop: StopRequest,
    pub inner: W,
    pub watcher: Option<Watcher>,
}

impl<W: Workload + Send + 'static> Workload for PauseThen<W> {
    type Output = W::Output;
    type Error = W::Error;

    fn first_phase(&self) -> crate::reporter::Phase {
        self.inner.first_phase()
    }

    fn take_watcher(&mut self) -> Option<Watcher> {
        self.watcher.take().or_else(|| self.inner.take_watcher())
    }

    fn drive<'a, E: Engine>(
        self,
        engine: &'a E,
        container: &'a RunningContainer,
        reporter: &'a dyn Reporter,
    ) -> impl std::future::Future<Output = Result<W::Output, W::Error>> + Send + 'a {
        let PauseThen {
            phase,
            mut stop,
            inner,
            ..
        } = self;
        async move {
            test_point(phase, reporter, &mut stop)
                .await
                .map_err(RunError::from)?;
            inner.drive(engine, container, reporter).await
        }
    }
}

/// What a finished run hands on.
#[derive(Debug)]
pub struct RunOutcome<T> {
    pub run_id: String,
    pub container: String,
    pub end: RunEnd,
    pub exit_code: i64,
    pub trace: Trace,
    pub lost: u64,
    /// The container's last log lines, when it exited non-zero or by itself.
    pub last_logs: Vec<String>,
    /// The workload's result, if it finished before the container exited.
    pub workload: Option<T>,
    /// The system calls the container's processes made (empty unless
    /// [`RunSettings::record_calls`]).
    pub calls: CallRecord,
}

/// Runs `settings.image` under the probe and writes its trace to `settings.output`.
pub async fn trace(
    engine: &impl Engine,
    settings: &TraceSettings,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<TraceSummary, RunError> {
    reporter.begin(Phase::Inspect);
    let image = interruptible(stop, engine.inspect_image(&settings.image)).await??;
    let output = TraceOutput::open(&settings.output)?;
    reporter.end(&image.reference);
    let outcome = traced_run(engine, &image, &settings.run, Idle, reporter, stop).await?;
    output.write_all(&outcome.trace.records)?;
    Ok(TraceSummary {
        run_id: outcome.run_id,
        container: outcome.container,
        end: outcome.end,
        exit_code: outcome.exit_code,
        events: outcome.trace.events,
        records: outcome.trace.records.len(),
        unique_paths: outcome.trace.unique_paths(),
        lost: outcome.lost,
        last_logs: if outcome.exit_code != 0 {
            outcome.last_logs
        } else {
            Vec::new()
        },
    })
}

/// Runs `image` once under the probe while `workload` drives it, and returns its trace.
/// The container, the probe and the cgroup are gone when this returns, whatever happened.
pub async fn traced_run<E: Engine, W: Workload>(
    engine: &E,
    image: &ImageInfo,
    settings: &RunSettings,
    workload: W,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<RunOutcome<W::Output>, W::Error> {
    slim_probe_ebpf::check_privileges().map_err(RunError::from)?;
    let run_id = new_run_id().map_err(RunError::from)?;
    let driver = interruptible(stop, engine.cgroup_driver())
        .await
        .map_err(RunError::from)?
        .map_err(RunError::from)?;

    let mut resources = RunResources::default();
    let mut abort = stop.clone();
    let run = AssertUnwindSafe(async {
        tokio::select! {
            biased;
            () = abort.aborted() => Err(RunError::Interrupted(Interrupted)),
            result = run_in_cgroup(
                engine,
                settings,
                workload,
                reporter,
                stop,
                &run_id,
                image,
                driver,
                &mut resources,
            ) => result,
        }
    })
    .catch_unwind()
    .await;
    let released = resources.release(engine).await;
    stop.set_cleanup_hint(None);
    match run {
        Ok(Ok(Ok(outcome))) => released
            .map(|()| outcome)
            .map_err(|left| RunError::from(left).into()),
        Ok(Ok(Err(error))) => {
            if let Err(left) = released {
                reporter.warn(&left.to_string());
            }
            Err(error)
        }
        Ok(Err(error)) => {
            if let Err(left) = released {
                reporter.warn(&left.to_string());
            }
            Err(error.into())
        }
        Err(panic) => {
            if let Err(left) = released {
                reporter.warn(&left.to_string());
            }
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(RunError::Internal(format!("the traced run panicked: {what}")).into())
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the run's inputs, each used once; bundling them would only move the list"
)]
async fn run_in_cgroup<E: Engine, W: Workload>(
    engine: &E,
    settings: &RunSettings,
    workload: W,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
    run_id: &str,
    image: &ImageInfo,
    driver: CgroupDriver,
    resources: &mut RunResources,
) -> Result<Result<RunOutcome<W::Output>, W::Error>, RunError> {
    reporter.begin(Phase::Start);
    let cgroup = RunCgroup::create(run_id, driver)?;
    let (cgroup_id, cgroup_level) = (cgroup.id(), cgroup.level());
    let processes = Processes::Cgroup(cgroup.v2_dir().to_path_buf());
    let parent = cgroup.parent().to_string();
    reporter.step(&format!(
        "run {run_id}: cgroup {} (id {cgroup_id}, level {cgroup_level})",
        cgroup.v2_dir().display()
    ));
    resources.cgroup = Some(cgroup);
    stop.set_cleanup_hint(Some(resources.cleanup_commands().join(" && ")));

    let (probe, stream) = Probe::attach(&ProbeConfig {
        cgroup_id,
        cgroup_level,
        ring_buffer_bytes: settings.ring_buffer_bytes,
        record_calls: settings.record_calls,
    })?;
    resources.probe = Some(probe);
    let (to_processor, mut batches) = mpsc::unbounded_channel::<Vec<Event>>();
    let (stop_reader, reader_stop) = oneshot::channel();
    resources.reader = Some(tokio::spawn(reader::forward_events(
        stream,
        to_processor,
        reader_stop,
    )));

    test_point("start", reporter, stop).await?;
    let spec = container_spec(image, settings, run_id, &parent);
    engine.create_container(&spec).await?;
    // The name is unique in the engine and reads better than the id in every message.
    let id = spec.name.clone();
    resources.container = Some(id.clone());
    stop.set_cleanup_hint(Some(resources.cleanup_commands().join(" && ")));
    engine.start_container(&id).await?;
    reporter.step(&format!(
        "started container {} from {}",
        spec.name, image.reference
    ));
    reporter.end(&format!("container {} (run {run_id})", spec.name));
    reporter.begin(workload.first_phase());
    reporter.count(Counter::Files, 0);

    let mut workload = workload;
    let mut watching = workload.take_watcher().map(|watcher| (watcher, 0));
    let running = RunningContainer {
        name: spec.name.clone(),
        run_id: run_id.to_string(),
        processes,
    };
    let work = workload.drive(engine, &running, reporter);
    tokio::pin!(work);
    let mut work_output = None;
    let mut builder = TraceBuilder::new().missing_only(settings.missing_only);
    let deadline = settings.timeout.map(|t| Instant::now() + t);
    let mut end = RunEnd::Exited;
    let wait = engine.wait_container(&id);
    tokio::pin!(wait);
    let exit_code = loop {
        tokio::select! {
            code = &mut wait => break code?,
            batch = batches.recv() => match batch {
                Some(events) => {
                    builder.extend(events);
                    watch(&mut watching, &builder);
                    reporter.count(Counter::Files, count(builder.paths_seen()));
                }
                None => {
                    // The reader ended by itself: it failed.
                    let reader = resources.reader.take();
                    return Err(match reader {
                        Some(handle) => match handle.await {
                            Ok(Err(e)) => RunError::Probe(e),
                            Ok(Ok(_)) => RunError::Internal("the event reader stopped early".into()),
                            Err(e) => RunError::Internal(format!("the event reader failed: {e}")),
                        },
                        None => RunError::Internal("the event reader is gone".into()),
                    });
                }
            },
            done = &mut work, if work_output.is_none() && end == RunEnd::Exited => {
                // The workload's failure ends the run: the caller releases the rest.
                match done {
                    Ok(output) => work_output = Some(output),
                    Err(error) => return Ok(Err(error)),
                }
                end = RunEnd::Driven;
                reporter.step(&format!("probing done: stopping container {}", spec.name));
                reporter.begin(Phase::Stop);
                engine.stop_container(&id, STOP_GRACE).await?;
            }
            () = sleep_until(deadline), if end == RunEnd::Exited && deadline.is_some() => {
                end = RunEnd::TimedOut;
                reporter.step(&format!("timeout reached: stopping container {}", spec.name));
                reporter.begin(Phase::Stop);
                engine.stop_container(&id, STOP_GRACE).await?;
            }
            () = stop.requested(), if end == RunEnd::Exited => {
                end = RunEnd::Stopped;
                reporter.step(&format!("stopping container {}", spec.name));
                reporter.begin(Phase::Stop);
                engine.stop_container(&id, STOP_GRACE).await?;
            }
        }
    };

    // The container has exited: every record it caused is in the ring buffer by now.
    let _ = stop_reader.send(());
    let mut stream = match resources.reader.take() {
        Some(handle) => handle
            .await
            .map_err(|e| RunError::Internal(format!("the event reader failed: {e}")))??,
        None => return Err(RunError::Internal("the event reader is gone".into())),
    };
    while let Ok(events) = batches.try_recv() {
        builder.extend(events);
    }
    let mut rest = Vec::new();
    while stream.drain(&mut rest)? > 0 {
        builder.extend(rest.drain(..));
    }
    drop(stream);
    // The container has exited: the watcher learns the run is over.
    drop(watching);

    let (lost, calls) = match &resources.probe {
        Some(probe) if settings.record_calls => (probe.lost_events()?, probe.calls()?),
        Some(probe) => (probe.lost_events()?, CallRecord::default()),
        None => return Err(RunError::Internal("the probe is gone".into())),
    };
    if lost.total() > 0 {
        if !settings.allow_incomplete {
            return Err(RunError::Incomplete {
                lost: lost.total(),
                ring_buffer: lost.ring_buffer,
                tracking: lost.tracking,
                ring_buffer_bytes: settings.ring_buffer_bytes,
            });
        }
        reporter.warn(&format!(
            "{} events were lost: the trace is incomplete; going on anyway \
             (--allow-incomplete)",
            lost.total()
        ));
    }

    // A container that ended by itself is compared by its output too (verification).
    let last_logs = if exit_code != 0 || end == RunEnd::Exited {
        engine
            .container_logs(&id, LOG_LINES)
            .await
            .unwrap_or_else(|e| vec![format!("(logs unavailable: {e})")])
    } else {
        Vec::new()
    };
    let trace = builder.finish();
    let files = trace.unique_paths();
    reporter.count(Counter::Files, count(files));
    reporter.end(&format!(
        "{} exited with code {exit_code}; {files} files seen, {} events, {} lost",
        spec.name,
        trace.events,
        lost.total()
    ));
    Ok(Ok(RunOutcome {
        run_id: run_id.to_string(),
        container: spec.name,
        end,
        exit_code,
        trace,
        lost: lost.total(),
        last_logs,
        workload: work_output,
        calls,
    }))
}

/// Shows the watcher, if any, the records it has not seen yet.
fn watch(watching: &mut Option<(Watcher, usize)>, builder: &TraceBuilder) {
    if let Some((watcher, seen)) = watching {
        let records = builder.records();
        if records.len() > *seen {
            watcher(&records[*seen..]);
            *seen = records.len();
        }
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
