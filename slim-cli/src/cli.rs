//! The command line: clap structs that only parse and validate values, their resolution
//! into the settings the commands use, and the stderr reporter.
//!
//! No I/O happens while parsing; resolution may read slim's own environment (for `-e KEY`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::engine::DockerEngine;
use crate::error::Error;
use crate::interrupt::StopRequest;
use crate::output::OutputTarget;
use crate::reporter::Reporter;
use crate::run::{self, TraceSettings};

/// slim: make container images small without breaking them.
#[derive(Debug, Parser)]
#[command(name = "slim", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Trace(TraceArgs),
}

/// Run an image once under the eBPF probe and print every file its processes touch, as
/// JSON Lines.
///
/// The container runs with the image's own settings (ARGS replace its CMD, as with
/// `docker run IMAGE ARGS`) until it exits, until --timeout, or until Ctrl-C (which stops
/// it the engine's way and still writes the trace; a second Ctrl-C exits at once). Needs
/// root and a local Docker engine; never pulls.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The image to run; it must be in the local engine.
    pub image: String,

    /// Command and arguments that replace the image's CMD (after `--` when they start with
    /// a dash).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,

    /// Write the trace to FILE instead of stdout (`-` for stdout). The file appears only
    /// once the trace is complete.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Stop the container after SECS seconds (for servers); by default the run lasts until
    /// the container exits.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Container name [default: slim-<run id>].
    #[arg(long, value_name = "NAME", value_parser = parse_container_name)]
    pub name: Option<String>,

    /// Set an environment variable in the container (repeatable); `KEY` alone passes slim's
    /// own value of KEY.
    #[arg(short, long = "env", value_name = "KEY=VAL", value_parser = parse_env)]
    pub env: Vec<EnvArg>,

    /// Run as this user (`name`, `uid`, `uid:gid`) instead of the image's USER.
    #[arg(long, value_name = "USER", value_parser = parse_non_empty)]
    pub user: Option<String>,

    /// Working directory in the container instead of the image's WORKDIR.
    #[arg(long, value_name = "DIR", value_parser = parse_workdir)]
    pub workdir: Option<String>,

    /// Replace the image's ENTRYPOINT (the image's CMD is then dropped, as with `docker run`).
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,

    /// Size of the probe's ring buffer: bytes with an optional K, M or G suffix, a power of
    /// two of at least 4K.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_ring_buffer_size)]
    pub ring_buffer: u32,

    /// Write the trace even if the probe lost events (it is then incomplete).
    #[arg(long)]
    pub allow_incomplete: bool,
}

/// One `-e` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvArg {
    pub key: String,
    /// `None` for `-e KEY`: take slim's own value.
    pub value: Option<String>,
}

fn parse_env(text: &str) -> Result<EnvArg, String> {
    let (key, value) = match text.split_once('=') {
        Some((key, value)) => (key, Some(value.to_string())),
        None => (text, None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!(
            "{text:?} is not KEY=VAL with a non-empty KEY without spaces"
        ));
    }
    Ok(EnvArg {
        key: key.to_string(),
        value,
    })
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|secs| *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

fn parse_container_name(text: &str) -> Result<String, String> {
    let mut chars = text.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a container name: use letters, digits, `_`, `.` and `-`, \
             starting with a letter or digit"
        ))
    }
}

fn parse_non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(text.to_string())
    }
}

fn parse_workdir(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not an absolute path"))
    }
}

/// Parses `SIZE[K|M|G]` (binary multiples, `B`/`iB` suffixes and case accepted) into a
/// ring buffer size: a power of two from 4 KiB up to 2 GiB.
pub fn parse_ring_buffer_size(text: &str) -> Result<u32, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let lower = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 10),
        Some('m') => (&lower[..lower.len() - 1], 20),
        Some('g') => (&lower[..lower.len() - 1], 30),
        _ => (lower, 0),
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("{text:?} is not a size like 64M, 512K or 1G"))?;
    if !bytes.is_power_of_two() || bytes < 4096 {
        return Err(format!(
            "{text:?} ({bytes} bytes) is not a power of two of at least 4K"
        ));
    }
    u32::try_from(bytes).map_err(|_| format!("{text:?} is larger than the 2G maximum"))
}

impl TraceArgs {
    /// The settings these arguments ask for.
    pub fn resolve(self) -> TraceSettings {
        let env = self
            .env
            .into_iter()
            .filter_map(|EnvArg { key, value }| {
                let value = value.or_else(|| std::env::var(&key).ok())?;
                Some(format!("{key}={value}"))
            })
            .collect();
        let output = match self.output {
            Some(path) if path.as_os_str() != "-" => OutputTarget::File(path),
            _ => OutputTarget::Stdout,
        };
        TraceSettings {
            image: self.image,
            args: self.args,
            output,
            timeout: self.timeout,
            name: self.name,
            env,
            user: self.user,
            workdir: self.workdir,
            entrypoint: self.entrypoint,
            ring_buffer_bytes: self.ring_buffer,
            allow_incomplete: self.allow_incomplete,
        }
    }
}

/// Reports on stderr, one plain line each (stdout carries only data).
#[derive(Debug, Default)]
pub struct StderrReporter;

impl Reporter for StderrReporter {
    fn step(&self, message: &str) {
        eprintln!("slim: {message}");
    }

    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

/// Runs a parsed command line. Must be called inside a tokio runtime.
pub async fn execute(cli: Cli, reporter: &dyn Reporter) -> Result<(), Error> {
    match cli.command {
        Command::Trace(args) => {
            let settings = args.resolve();
            let mut stop = StopRequest::from_signals().map_err(|e| {
                Error::Internal(format!("cannot listen for SIGINT and SIGTERM: {e}"))
            })?;
            let engine = DockerEngine::connect().await?;
            let summary = run::trace(&engine, &settings, reporter, &mut stop).await?;
            for line in summary.lines() {
                reporter.step(&line);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<TraceArgs, clap::Error> {
        let cli = Cli::try_parse_from(["slim", "trace"].iter().chain(args))?;
        let Command::Trace(args) = cli.command;
        Ok(args)
    }

    #[test]
    fn args_after_the_image_replace_cmd_with_or_without_dashes() {
        let a = parse(&["img:1", "--", "/bin/sh", "-c", "cd /etc && cat passwd"]).unwrap();
        assert_eq!(a.image, "img:1");
        assert_eq!(a.args, ["/bin/sh", "-c", "cd /etc && cat passwd"]);
        let b = parse(&["img:1", "/bin/ls", "-l"]).unwrap();
        assert_eq!(b.args, ["/bin/ls", "-l"]);
    }

    #[test]
    fn options_are_slims_until_args_start_or_a_double_dash() {
        let a = parse(&["img", "--timeout", "5", "--", "--timeout", "9"]).unwrap();
        assert_eq!(a.timeout, Some(Duration::from_secs(5)));
        assert_eq!(a.args, ["--timeout", "9"]);
        let b = parse(&["img", "/bin/app", "--timeout", "9"]).unwrap();
        assert_eq!(b.timeout, None);
        assert_eq!(b.args, ["/bin/app", "--timeout", "9"]);
    }

    #[test]
    fn defaults_are_stdout_64m_and_no_timeout() {
        let s = parse(&["img"]).unwrap().resolve();
        assert_eq!(s.output, OutputTarget::Stdout);
        assert_eq!(s.ring_buffer_bytes, 64 << 20);
        assert_eq!(s.timeout, None);
        assert_eq!(s.name, None);
        assert!(!s.allow_incomplete);
    }

    #[test]
    fn ring_buffer_sizes_take_suffixes_and_must_be_powers_of_two() {
        assert_eq!(parse_ring_buffer_size("64M"), Ok(64 << 20));
        assert_eq!(parse_ring_buffer_size("512k"), Ok(512 << 10));
        assert_eq!(parse_ring_buffer_size("1G"), Ok(1 << 30));
        assert_eq!(parse_ring_buffer_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_ring_buffer_size("4096"), Ok(4096));
        assert!(parse_ring_buffer_size("3M").is_err());
        assert!(parse_ring_buffer_size("1K").is_err());
        assert!(parse_ring_buffer_size("4G").is_err());
        assert!(parse_ring_buffer_size("lots").is_err());
        assert!(parse_ring_buffer_size("").is_err());
        assert!(parse(&["--ring-buffer", "100M", "img"]).is_err());
    }

    #[test]
    fn env_takes_key_val_or_a_key_from_slims_environment() {
        let s = parse(&[
            "-e",
            "A=1",
            "--env",
            "B=x=y",
            "-e",
            "PATH",
            "-e",
            "SLIM_UNSET_VAR_X",
            "img",
        ])
        .unwrap()
        .resolve();
        assert_eq!(s.env.len(), 3);
        assert_eq!(s.env[0], "A=1");
        assert_eq!(s.env[1], "B=x=y");
        assert!(s.env[2].starts_with("PATH="));
        assert!(parse(&["-e", "=1", "img"]).is_err());
    }

    #[test]
    fn invalid_values_are_usage_errors() {
        for bad in [
            &["--timeout", "0", "img"][..],
            &["--timeout", "soon", "img"],
            &["--name", "-bad", "img"],
            &["--name", "a b", "img"],
            &["--workdir", "rel/dir", "img"],
            &["--user", "", "img"],
            &[],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn output_dash_is_stdout() {
        let s = parse(&["-o", "-", "img"]).unwrap().resolve();
        assert_eq!(s.output, OutputTarget::Stdout);
        let s = parse(&["--output", "t.jsonl", "img"]).unwrap().resolve();
        assert_eq!(s.output, OutputTarget::File("t.jsonl".into()));
    }
}
