//! The `slim` binary: parses the command line (with `slim.toml` and `SLIM_*` variables, see
//! `slim_cli::config`), runs the command from the library, and maps its error to an exit
//! code (see `slim_cli::exit`), printing `error:` and `hint:` lines.

use std::path::Path;

use slim_cli::cli;
use slim_cli::config::{self, ParseError};
use slim_cli::exit::ExitCode;
use slim_cli::progress::{StderrReporter, Style};
use slim_cli::reporter::Reporter;

fn main() -> std::process::ExitCode {
    let env = |key: &str| std::env::var(key).ok();
    let command_line = match config::parse(std::env::args_os(), Path::new(""), &env) {
        Ok(command_line) => command_line,
        Err(ParseError::Clap(error)) => error.exit(),
        Err(ParseError::Config(error)) => {
            eprintln!("error: {error}");
            return ExitCode::BadInput.into();
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Failure.into();
        }
    };
    let reporter = StderrReporter::new(Style::detect(command_line.cli.quiet()));
    for line in &command_line.sources {
        reporter.step(line);
    }
    let done = runtime.block_on(cli::execute(command_line.cli, &reporter));
    // Work on the blocking pool that an interrupt or an error left running has been told
    // to stop and waited for already; do not hang on it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match done {
        Ok(()) => ExitCode::Success.into(),
        Err(error) => {
            reporter.fail();
            eprintln!("error: {error}");
            ExitCode::of(&error).into()
        }
    }
}
