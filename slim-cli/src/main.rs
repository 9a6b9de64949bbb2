//! The `slim` binary: parses the command line, runs the command from the library, and maps
//! its error to an exit code (see `slim_cli::exit`), printing `error:` and `hint:` lines.

use clap::Parser;
use slim_cli::cli::{self, Cli, StderrReporter};
use slim_cli::exit::ExitCode;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
    let reporter = StderrReporter;
    match runtime.block_on(cli::execute(cli, &reporter)) {
        Ok(()) => ExitCode::Success.into(),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::of(&error).into()
        }
    }
}
