//! Running a parsed command line: each command's settings resolved, the engine reached,
//! leftovers of dead runs swept, the command run and its result written.

use std::io::Write;

use crate::build;
use crate::engine::DockerEngine;
use crate::error::Error;
use crate::interrupt::{FirstSignal, StopRequest, interruptible};
use crate::recover;
use crate::reporter::Reporter;
use crate::run;
use crate::verify::VerificationStatus;

use super::{Cli, Command};

/// Writes `shell`'s completion script for the whole command line.
pub fn write_completions(
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    use clap::CommandFactory;
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "slim", &mut buf);
    out.write_all(&buf)?;
    out.flush()
}

/// Runs a parsed command line. Must be called inside a tokio runtime.
pub async fn execute(cli: Cli, reporter: &dyn Reporter) -> Result<(), Error> {
    match cli.command {
        Command::Build(args) => {
            let json = args.json;
            let settings = args.resolve()?;
            let mut stop = StopRequest::from_signals(FirstSignal::Abort).map_err(|e| {
                Error::Internal(format!("cannot listen for SIGINT and SIGTERM: {e}"))
            })?;
            let engine = interruptible(&mut stop, DockerEngine::connect()).await??;
            interruptible(&mut stop, recover::sweep(&engine, reporter)).await?;
            let summary = build::build(&engine, &settings, reporter, &mut stop).await?;
            for line in summary.lines() {
                reporter.result(&line);
            }
            if let Some(path) = &settings.report {
                crate::report::write(&summary, path)?;
                reporter.result(&format!("report: {}", path.display()));
            }
            if json {
                crate::report::print(&summary)?;
            }
            if summary.verification.status == VerificationStatus::Failed && !settings.allow_diff {
                return Err(Error::VerificationFailed {
                    tag: summary.tag,
                    differences: summary.verification.differences.len(),
                    missing: summary.verification.missed.len(),
                    seccomp: summary.seccomp.as_ref().map(|s| s.path.clone()),
                    refused_calls: summary.verification.refused_calls.clone(),
                });
            }
            Ok(())
        }
        Command::Explain(args) => {
            let lines = crate::explain::run(&crate::explain::ExplainSettings {
                path: args.path,
                report: args.report,
            })?;
            let mut out = std::io::stdout().lock();
            for line in lines {
                // A closed stdout (`| head`) ends the answer, not slim with an error.
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
            Ok(())
        }
        Command::Trace(args) => {
            let settings = args.resolve()?;
            let mut stop = StopRequest::from_signals(FirstSignal::Stop).map_err(|e| {
                Error::Internal(format!("cannot listen for SIGINT and SIGTERM: {e}"))
            })?;
            let engine = interruptible(&mut stop, DockerEngine::connect()).await??;
            interruptible(&mut stop, recover::sweep(&engine, reporter)).await?;
            let summary = run::trace(&engine, &settings, reporter, &mut stop).await?;
            for line in summary.lines() {
                reporter.result(&line);
            }
            Ok(())
        }
        Command::Completions(args) => write_completions(args.shell, &mut std::io::stdout().lock())
            .map_err(|source| Error::Io {
                what: "cannot write the completion script to stdout".into(),
                source,
            }),
    }
}
