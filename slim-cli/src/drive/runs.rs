//! Commands as probes: a `--run` container (the image with other arguments, traced until
//! it exits) and the container's own command when it ends by itself. Their outcomes are
//! probe results, compared like any other.

use std::time::{Duration, Instant};

use super::ProbeResult;
use crate::engine::Engine;
use crate::inspect::ImageInfo;
use crate::interrupt::StopRequest;
use crate::reporter::Reporter;
use crate::run::{self, Idle, RunEnd, RunError, RunSettings};
use crate::trace::TraceRecord;
use slim_probe_ebpf::CallRecord;

/// How long a `--run` container may run when `--timeout` does not say.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// One `--run` container: the image with `args` as its CMD, traced like the main run
/// until it exits (or `--timeout`, five minutes by default). Engine errors (a command not
/// in the image) are the probe's failure, not the build's.
pub async fn extra_run(
    engine: &impl Engine,
    image: &ImageInfo,
    settings: &RunSettings,
    index: usize,
    args: &[String],
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<(ProbeResult, Vec<TraceRecord>, CallRecord), RunError> {
    let run_settings = RunSettings {
        args: args.to_vec(),
        name: settings
            .name
            .as_ref()
            .map(|name| format!("{name}-run{}", index + 1)),
        timeout: Some(settings.timeout.unwrap_or(RUN_TIMEOUT)),
        ..settings.clone()
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
                outcome.calls,
            ))
        }
        Err(RunError::Engine(e)) if !e.is_gone() => Ok((
            result(None, Vec::new(), Some(e.to_string())),
            Vec::new(),
            CallRecord::default(),
        )),
        Err(other) => Err(other),
    }
}

/// The container's own command as a probe result, when it ended by itself: its exit code
/// and last log lines are compared like a command's.
pub fn own_command(
    image: &ImageInfo,
    settings: &RunSettings,
    exit_code: i64,
    logs: &[String],
) -> ProbeResult {
    let args = if settings.args.is_empty() {
        image
            .entrypoint
            .iter()
            .flatten()
            .chain(image.cmd.iter().flatten())
            .cloned()
            .collect()
    } else {
        settings.args.clone()
    };
    ProbeResult::Run {
        args,
        exit_code: Some(exit_code),
        output: logs.join("\n"),
        error: None,
        millis: 0,
    }
}
