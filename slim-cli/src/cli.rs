//! The command line: clap structs that only parse and validate values, their resolution
//! into the settings the commands use, and running them (progress goes through
//! `crate::progress`).
//!
//! No I/O happens while parsing; resolution may read slim's own environment (for `-e KEY`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueHint};

use crate::build::{self, BuildSettings, PlanSettings, ProfileChoice, VerifySettings};
use crate::engine::DockerEngine;
use crate::error::Error;
use crate::interrupt::{FirstSignal, StopRequest, interruptible};
use crate::keep::profile;
use crate::keep::{KeepList, KeepOptions};
use crate::output::OutputTarget;
use crate::probe::{ContinueAfter, CrawlLimits, Discovery, HttpProbe, openapi, spec};
use crate::recover;
use crate::reporter::Reporter;
use crate::run::{self, RunSettings, TraceSettings};

/// slim: make container images small without breaking them.
#[derive(Debug, Parser)]
#[command(name = "slim", version, about, max_term_width = 100, after_help = TOP_EXAMPLES)]
pub struct Cli {
    /// Print only warnings, errors and the final result on stderr (no progress).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether progress is off: `--quiet`, or `--json` (the data is the output).
    pub fn quiet(&self) -> bool {
        self.quiet || matches!(&self.command, Command::Build(args) if args.json)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Build(Box<BuildArgs>),
    Trace(Box<TraceArgs>),
    Completions(CompletionsArgs),
    Explain(ExplainArgs),
}

const TOP_EXAMPLES: &str = "\
Examples:
  slim build myapp:1                   # writes myapp.slim:1 and slim.report.json
  slim build myapp:1 --keep '/app/templates/**' --probe 'GET /health'
  slim trace myapp:1 -o trace.jsonl    # every file the container touches
  slim explain /usr/lib/libssl.so.3    # why the last build kept or removed it
  slim completions bash > /etc/bash_completion.d/slim

`slim build` also reads its options from ./slim.toml (or --config FILE) and from SLIM_*
environment variables; see `slim build --help`. Needs root and a local Docker engine.";

const EXPLAIN_EXAMPLES: &str = "\
Examples:
  slim explain /usr/lib/x86_64-linux-gnu/libssl.so.3
  slim explain /etc/ssl/certs/ca-certificates.crt --report build/slim.report.json";

const BUILD_EXAMPLES: &str = "\
Examples:
  slim build nginx:1.25
  slim build myapp:1 --exec 'python manage.py check' --keep '/app/templates/**'
  slim build worker:2 --timeout 30 --tag worker:2-slim --output worker.tar
  slim build api:3 --probe 'POST /api/items {\"a\":1}' --host-exec ./e2e.sh --strict
  SLIM_TAG=registry.example.com/api:3-slim slim build api:3 --config ci/slim.toml";

const BUILD_CONFIG_HELP: &str = "\
Configuration:
  Every option above (but --config, --no-config) can also be set in slim.toml, found in
  the current directory (or named with --config FILE; --no-config ignores it), under the
  option's long name:

    tag = \"myapp.slim:ci\"
    keep = [\"/app/templates/**\", \"/etc/mime.types\"]
    probe = [\"GET /health\", \"POST /api/items {\\\"a\\\":1}\"]
    profile = [\"django\"]
    strict = true
    crawl-depth = 2

  and in an environment variable SLIM_<NAME> (SLIM_TAG, SLIM_KEEP, SLIM_CRAWL_DEPTH; a
  repeatable option takes one value per line, a switch 1/true/yes or 0/false/no).
  Precedence: command line > environment > slim.toml > defaults. A layer that sets an
  option replaces what lower layers give it, lists included: `--keep /x` on the command
  line drops slim.toml's `keep` list. Relative paths of files slim reads (probe-file,
  keep-file, env-file, openapi, output, profile files) in slim.toml are taken from the
  directory that holds it.";

/// Print a shell completion script for slim on stdout.
///
/// Install it where your shell looks for completions, e.g.
///   bash: slim completions bash > /etc/bash_completion.d/slim
///   zsh:  slim completions zsh > "${fpath[1]}/_slim"
///   fish: slim completions fish > ~/.config/fish/completions/slim.fish
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Say why a build kept a path of the image, or why it removed it, from its report.
///
/// For a kept path: its reasons (the process and access that touched it, the keep-list,
/// profile rule or --keep pattern that matched, the binary an ELF library was needed by,
/// what a symlink points to). For a removed path: that nothing touched it, and the nearest
/// traced paths. Needs neither root nor the engine.
#[derive(Debug, Args)]
#[command(after_help = EXPLAIN_EXAMPLES)]
pub struct ExplainArgs {
    /// An absolute path inside the image.
    pub path: String,

    /// The report of the build (`slim build --report`).
    #[arg(long, value_name = "FILE", default_value = "slim.report.json")]
    pub report: PathBuf,
}

/// Make a small image that still works: run IMAGE under the eBPF probe, drive it, and
/// rebuild it on scratch with only what it used, its closure and the default keep-lists.
///
/// By default each EXPOSEd TCP port is waited for (until it answers) and each that speaks
/// HTTP or HTTPS is crawled: its links, robots.txt, sitemaps, a missing page, and the GET
/// operations of an OpenAPI document it serves; then the container is stopped the engine's
/// way. An image with no exposed port runs until it exits (or --timeout). The new image keeps the original ENTRYPOINT, CMD, ENV, USER, WORKDIR,
/// EXPOSE and the rest of its config, and is tagged `<repo>.slim:<tag>` unless --tag says
/// otherwise. Needs root and a local Docker engine; never pulls.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    after_help = BUILD_EXAMPLES,
    after_long_help = format!("{BUILD_EXAMPLES}\n\n{BUILD_CONFIG_HELP}")
)]
pub struct BuildArgs {
    /// The image to minify; it must be in the local engine.
    pub image: String,

    /// Read options from FILE instead of ./slim.toml (see Configuration below).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub config: Option<PathBuf>,

    /// Do not read ./slim.toml.
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,

    /// Reference of the new image [default: <repo>.slim:<tag>].
    #[arg(short, long, value_name = "NAME", value_parser = parse_reference)]
    pub tag: Option<String>,

    /// Also write the new image to FILE as an archive `docker load` accepts.
    #[arg(short, long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub output: Option<PathBuf>,

    /// Replace the image's CMD for the traced run: a JSON array, or words split as a shell
    /// would (quotes and backslashes).
    #[arg(long, value_name = "CMD", value_parser = parse_command_arg)]
    pub cmd: Option<CommandLine>,

    /// Run a command inside the traced container once it is ready, as the image's USER
    /// (repeatable): a JSON array is run as it is, anything else with `sh -c`.
    #[arg(long, value_name = "CMD", value_parser = parse_exec)]
    pub exec: Vec<CommandLine>,

    /// When to stop the traced container after probing: probe (at once), timeout:SECS,
    /// signal (on SIGUSR1 to slim), enter (when Enter is pressed).
    #[arg(long, value_name = "WHEN", default_value = "probe", value_parser = ContinueAfter::parse)]
    pub continue_after: ContinueAfter,

    /// How long the application may take until its exposed ports answer.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    pub ready_timeout: Duration,

    /// Send this HTTP request once the application is ready, before the crawl
    /// (repeatable): `METHOD TARGET [HEADER]... [BODY]`, e.g. `GET /health`,
    /// `POST /api/items {"a":1}`, `POST :8080/login 'X-Token: t' user=x`. TARGET is /path
    /// (on the first HTTP port), :PORT/path or https://:PORT/path.
    #[arg(long, value_name = "REQUEST", value_parser = parse_probe_arg)]
    pub probe: Vec<HttpProbe>,

    /// Read more probes from FILE, TOML or YAML (repeatable): a list `probes` (`[[probe]]`
    /// in TOML) with method, path, and optionally port, scheme, headers, body or json,
    /// expect (the status that counts as success).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub probe_file: Vec<PathBuf>,

    /// Probe the GET operations of this OpenAPI document (JSON or YAML) [default: the
    /// document the application serves at /openapi.json or another usual path, if any].
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub openapi: Option<PathBuf>,

    /// Do not crawl: send only `GET /` to each HTTP port (and --probe, --openapi).
    #[arg(long)]
    pub no_crawl: bool,

    /// How many links deep the crawl follows pages from `/` (pages a sitemap lists are one
    /// deep; what a page needs to render is fetched at its page's depth).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub crawl_depth: u32,

    /// At most N crawl requests in all (pages and what they load).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub crawl_pages: usize,

    /// Send no new crawl request after SECS seconds.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    pub crawl_time: Duration,

    /// Ask for pages in this language (`Accept-Language`, repeatable): the crawl asks in the
    /// first, then fetches its HTML pages again in each of the others.
    #[arg(long, value_name = "LANG", value_parser = parse_non_empty)]
    pub accept_language: Vec<String>,

    /// Run SCRIPT on the host with `sh -c` once the application is ready (repeatable), to
    /// drive it with your own tests: SLIM_TARGET holds host:port of each exposed port
    /// (space-separated), SLIM_URLS a base URL of each HTTP one, SLIM_CONTAINER the
    /// container's name and SLIM_IMAGE the image.
    #[arg(long, value_name = "SCRIPT", value_parser = parse_non_empty)]
    pub host_exec: Vec<String>,

    /// After the main run, run one more container of the image with ARGS replacing its
    /// CMD (repeatable), traced the same way, e.g. `python manage.py check`: a JSON array,
    /// or words split as a shell would.
    #[arg(long = "run", value_name = "ARGS", value_parser = parse_command_arg)]
    pub run_extra: Vec<CommandLine>,

    /// Fail (exit code 5, before building) when any probe fails: an HTTP error or 5xx
    /// answer (or not the `expect`ed status), a command that exits non-zero.
    #[arg(long)]
    pub strict: bool,

    /// Keep paths matching this glob too (repeatable; absolute, `*` within a name, `**`
    /// across directories; a directory keeps its whole tree).
    #[arg(long, value_name = "GLOB")]
    pub keep: Vec<String>,

    /// Read more --keep globs from FILE, one per line (`#` comments).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub keep_file: Vec<PathBuf>,

    /// Switch a default keep-list off (repeatable): certs, zoneinfo, users, resolver, tmp,
    /// home, workdir.
    #[arg(long, value_name = "LIST", value_parser = parse_keep_list)]
    pub no_keep: Vec<KeepList>,

    /// Apply a profile: a built-in one by name (python, django, flask, node, java, nginx,
    /// postgresql) or a TOML file (repeatable). Built-in profiles are also chosen
    /// automatically from what the image holds and what was traced.
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Vec<String>,

    /// Apply only the profiles named with --profile (and base).
    #[arg(long)]
    pub no_auto_profile: bool,

    /// Keep whole packages (Python distributions, Node modules, Ruby gems) of which a file
    /// was used (`used`), or only the traced files and their closure (`none`).
    #[arg(long, value_name = "used|none", default_value = "used", value_parser = ["used", "none"])]
    pub keep_packages: String,

    /// Write the build's report (every probe, every kept path with its reasons, the
    /// verification) to FILE; `off` writes none.
    #[arg(long, value_name = "FILE|off", default_value = "slim.report.json")]
    pub report: String,

    /// Print the report (as in --report's file) on stdout, and no progress on stderr.
    #[arg(long)]
    pub json: bool,

    /// Do not run the new image to check it behaves like the original.
    #[arg(long)]
    pub no_verify: bool,

    /// Rebuild with the files verification found missing at most N times.
    #[arg(long, value_name = "N", default_value = "3")]
    pub repair_rounds: u32,

    /// Exit 0 even if verification found differences (the image is labelled
    /// slim.verified=false either way).
    #[arg(long)]
    pub allow_diff: bool,

    /// Testing only: remove PATH from every keep set, to check that verification catches
    /// a broken image.
    #[arg(long, value_name = "PATH", hide = true)]
    pub test_drop: Vec<String>,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Run an image once under the eBPF probe and print every file its processes touch, as
/// JSON Lines.
///
/// The container runs with the image's own settings (ARGS replace its CMD, as with
/// `docker run IMAGE ARGS`) until it exits, until --timeout, or until Ctrl-C (which stops
/// it the engine's way and still writes the trace; a second Ctrl-C exits at once). Needs
/// root and a local Docker engine; never pulls.
#[derive(Debug, Args)]
#[command(after_help = TRACE_EXAMPLES)]
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
    #[arg(short, long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub run: RunArgs,
}

const TRACE_EXAMPLES: &str = "\
Examples:
  slim trace alpine:3 -- ls /etc            # one-shot command, trace on stdout
  slim trace myapp:1 --timeout 20 -o trace.jsonl
  slim trace myapp:1 -e DEBUG=1 -v /srv/data:/data:ro -o trace.jsonl
  jq -r 'select(.result == \"ENOENT\") | .path' trace.jsonl | sort -u";

/// How the traced container runs (as with `docker run`) and how the probe records it.
/// These shape the traced run only; a built image keeps the original configuration.
#[derive(Debug, Args)]
pub struct RunArgs {
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

    /// Read environment variables from FILE (`KEY=VAL` lines; `#` comments), as
    /// `docker run --env-file` (repeatable; -e wins).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub env_file: Vec<PathBuf>,

    /// Run as this user (`name`, `uid`, `uid:gid`) instead of the image's USER.
    #[arg(long, value_name = "USER", value_parser = parse_non_empty)]
    pub user: Option<String>,

    /// Working directory in the container instead of the image's WORKDIR.
    #[arg(long, value_name = "DIR", value_parser = parse_workdir)]
    pub workdir: Option<String>,

    /// Replace the image's ENTRYPOINT (the image's CMD is then dropped, as with `docker run`).
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,

    /// Connect the container to this network (`bridge`, `host`, `none`, or a network name).
    #[arg(long, value_name = "NETWORK", value_parser = parse_non_empty)]
    pub network: Option<String>,

    /// Mount a volume or bind mount, `SRC:DEST[:OPTS]` as with `docker run -v`
    /// (repeatable).
    #[arg(short = 'v', long = "volume", value_name = "SRC:DEST[:OPTS]", value_parser = parse_volume)]
    pub volumes: Vec<String>,

    /// Mount a tmpfs at DEST, `DEST[:OPTS]` (repeatable).
    #[arg(long, value_name = "DEST[:OPTS]", value_parser = parse_tmpfs)]
    pub tmpfs: Vec<String>,

    /// Add a Linux capability to the container (repeatable), e.g. NET_ADMIN.
    #[arg(long, value_name = "CAP", value_parser = parse_non_empty)]
    pub cap_add: Vec<String>,

    /// Size of the probe's ring buffer: bytes with an optional K, M or G suffix, a power of
    /// two of at least 4K.
    #[arg(long, value_name = "SIZE", default_value = "32M", value_parser = parse_ring_buffer_size)]
    pub ring_buffer: u32,

    /// Go on even if the probe lost events (the trace is then incomplete).
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

fn parse_volume(text: &str) -> Result<String, String> {
    let mut parts = text.split(':');
    let (src, dest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if src.is_empty() || !dest.starts_with('/') {
        return Err(format!(
            "{text:?} is not SRC:DEST[:OPTS] with an absolute DEST"
        ));
    }
    Ok(text.to_string())
}

fn parse_tmpfs(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not DEST[:OPTS] with an absolute DEST"))
    }
}

/// Checks an image reference as the engine will (`[host[:port]/]path[:tag]`, lowercase path
/// components), so a bad `--tag` fails before anything runs.
pub fn parse_reference(text: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("{text:?} is not a valid image reference: {why}"));
    if text.is_empty() || text.len() > 255 {
        return bad("it must be 1 to 255 characters");
    }
    if text.contains('@') {
        return bad("a digest cannot be a tag; use NAME[:TAG]");
    }
    let (name, tag) = match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (text, None),
    };
    if let Some(tag) = tag {
        let mut chars = tag.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok
            || tag.len() > 128
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return bad("the tag takes letters, digits, `_`, `.` and `-` (128 at most)");
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 {
        let host = parts[0];
        if host.contains('.') || host.contains(':') || host == "localhost" {
            parts.remove(0);
        }
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars().all(|ch| {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
            })
    };
    if parts.is_empty() || !parts.iter().all(|c| component_ok(c)) {
        return bad(
            "names take lowercase letters, digits and `.`, `_`, `-` between them, in parts separated by `/`",
        );
    }
    Ok(text.to_string())
}

fn parse_keep_list(text: &str) -> Result<KeepList, String> {
    KeepList::from_name(text).ok_or_else(|| {
        format!(
            "{text:?} is not a keep-list; the lists are {}",
            KeepList::ALL.map(KeepList::name).join(", ")
        )
    })
}

/// Splits a command line: a JSON array of strings as it is, otherwise words separated by
/// white space, with single quotes, double quotes and backslashes as a shell reads them.
pub fn parse_command(text: &str) -> Result<Vec<String>, String> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<String>>(text)
            .map_err(|e| format!("{text:?} is not a JSON array of strings: {e}"))
            .and_then(|v| {
                if v.is_empty() {
                    Err("the command is empty".into())
                } else {
                    Ok(v)
                }
            });
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed single quote in {text:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed double quote in {text:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed double quote in {text:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("{text:?} ends with a backslash")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

/// A command as an argument vector (one option value, not several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine(pub Vec<String>);

fn parse_command_arg(text: &str) -> Result<CommandLine, String> {
    parse_command(text).map(CommandLine)
}

/// An `--exec` command: a JSON array as it is, anything else through `sh -c`.
fn parse_exec(text: &str) -> Result<CommandLine, String> {
    if text.trim_start().starts_with('[') {
        parse_command_arg(text)
    } else if text.trim().is_empty() {
        Err("the command is empty".into())
    } else {
        Ok(CommandLine(vec![
            "/bin/sh".into(),
            "-c".into(),
            text.to_string(),
        ]))
    }
}

fn parse_probe_arg(text: &str) -> Result<HttpProbe, String> {
    spec::parse_probe(text)
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

/// Why the command line's values could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("cannot read --env-file {path}: {source}")]
    EnvFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    #[error("cannot read --keep-file {path}: {source}")]
    KeepFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    ProbeFile(#[from] spec::ProbeFileError),
    #[error(transparent)]
    OpenApi(#[from] openapi::OpenApiError),
    #[error("--env-file {path}, line {line}: {text:?} is not KEY=VAL")]
    EnvFileLine {
        path: String,
        line: usize,
        text: String,
    },
}

/// Reads `docker run --env-file` files: `KEY=VAL` lines, `KEY` alone for slim's own value,
/// blank lines and `#` comments skipped.
fn read_env_files(files: &[PathBuf]) -> Result<Vec<EnvArg>, ArgsError> {
    let mut out = Vec::new();
    for file in files {
        let path = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|source| ArgsError::EnvFile {
            path: path.clone(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(parse_env(line).map_err(|_| ArgsError::EnvFileLine {
                path: path.clone(),
                line: i + 1,
                text: line.to_string(),
            })?);
        }
    }
    Ok(out)
}

impl RunArgs {
    /// The run settings these arguments ask for, with `args` replacing the image's CMD.
    pub fn resolve(self, args: Vec<String>) -> Result<RunSettings, ArgsError> {
        let mut entries = read_env_files(&self.env_file)?;
        entries.extend(self.env);
        let env = entries
            .into_iter()
            .filter_map(|EnvArg { key, value }| {
                let value = value.or_else(|| std::env::var(&key).ok())?;
                Some(format!("{key}={value}"))
            })
            .collect();
        Ok(RunSettings {
            args,
            timeout: self.timeout,
            name: self.name,
            env,
            user: self.user,
            workdir: self.workdir,
            entrypoint: self.entrypoint,
            network: self.network,
            volumes: self.volumes,
            tmpfs: self.tmpfs,
            cap_add: self.cap_add,
            ring_buffer_bytes: self.ring_buffer,
            allow_incomplete: self.allow_incomplete,
        })
    }
}

impl BuildArgs {
    /// The settings these arguments ask for (reads --env-file and --keep-file).
    pub fn resolve(self) -> Result<BuildSettings, ArgsError> {
        let mut patterns = self.keep;
        for file in &self.keep_file {
            let path = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|source| ArgsError::KeepFile {
                path: path.clone(),
                source,
            })?;
            patterns.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        let mut probes = self.probe;
        for file in &self.probe_file {
            probes.extend(spec::read_probe_file(file)?);
        }
        let document = self.openapi.as_deref().map(openapi::read).transpose()?;
        Ok(BuildSettings {
            image: self.image,
            tag: self.tag,
            output: self.output,
            run: self
                .run
                .resolve(self.cmd.map(|c| c.0).unwrap_or_default())?,
            plan: PlanSettings {
                exec: self.exec.into_iter().map(|c| c.0).collect(),
                continue_after: self.continue_after,
                ready_timeout: self.ready_timeout,
                probes,
                discovery: Discovery {
                    crawl: (!self.no_crawl).then(|| CrawlLimits {
                        depth: self.crawl_depth,
                        pages: self.crawl_pages,
                        time: self.crawl_time,
                        ..CrawlLimits::default()
                    }),
                    find_openapi: !self.no_crawl && document.is_none(),
                    openapi: document,
                    accept_language: self.accept_language,
                },
                host_exec: self.host_exec,
                run: self.run_extra.into_iter().map(|c| c.0).collect(),
                strict: self.strict,
            },
            keep: KeepOptions {
                lists: KeepList::ALL
                    .into_iter()
                    .filter(|l| !self.no_keep.contains(l))
                    .collect(),
                patterns,
                profiles: Vec::new(),
                packages: self.keep_packages == "used",
            },
            verify: VerifySettings {
                enabled: !self.no_verify,
                repair_rounds: self.repair_rounds,
                test_drop: self.test_drop,
            },
            allow_diff: self.allow_diff,
            report: (self.report != "off").then(|| PathBuf::from(&self.report)),
            profiles: ProfileChoice {
                named: self
                    .profile
                    .iter()
                    .map(|p| profile::load(p))
                    .collect::<Result<_, _>>()?,
                auto: !self.no_auto_profile,
            },
        })
    }
}

impl TraceArgs {
    /// The settings these arguments ask for.
    pub fn resolve(self) -> Result<TraceSettings, ArgsError> {
        let output = match self.output {
            Some(path) if path.as_os_str() != "-" => OutputTarget::File(path),
            _ => OutputTarget::Stdout,
        };
        Ok(TraceSettings {
            image: self.image,
            output,
            run: self.run.resolve(self.args)?,
        })
    }
}

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
            if summary.verification.status == build::VerificationStatus::Failed
                && !settings.allow_diff
            {
                return Err(Error::VerificationFailed {
                    tag: summary.tag,
                    differences: summary.verification.differences.len(),
                    missing: summary.verification.missed.len(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<TraceArgs, clap::Error> {
        let cli = Cli::try_parse_from(["slim", "trace"].iter().chain(args))?;
        match cli.command {
            Command::Trace(args) => Ok(*args),
            _ => unreachable!("parsed as trace"),
        }
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
        assert_eq!(a.run.timeout, Some(Duration::from_secs(5)));
        assert_eq!(a.args, ["--timeout", "9"]);
        let b = parse(&["img", "/bin/app", "--timeout", "9"]).unwrap();
        assert_eq!(b.run.timeout, None);
        assert_eq!(b.args, ["/bin/app", "--timeout", "9"]);
    }

    #[test]
    fn defaults_are_stdout_the_default_ring_buffer_and_no_timeout() {
        let s = parse(&["img"]).unwrap().resolve().unwrap();
        assert_eq!(s.output, OutputTarget::Stdout);
        assert_eq!(
            s.run.ring_buffer_bytes,
            slim_probe_ebpf::DEFAULT_RING_BUFFER_BYTES
        );
        assert_eq!(s.run.timeout, None);
        assert_eq!(s.run.name, None);
        assert!(!s.run.allow_incomplete);
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
        .resolve()
        .unwrap();
        assert_eq!(s.run.env.len(), 3);
        assert_eq!(s.run.env[0], "A=1");
        assert_eq!(s.run.env[1], "B=x=y");
        assert!(s.run.env[2].starts_with("PATH="));
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
            &["-v", "relative", "img"],
            &["-v", "/src:rel", "img"],
            &["--tmpfs", "tmp", "img"],
            &[],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn env_files_come_first_and_e_overrides_them() {
        let dir = std::env::temp_dir().join(format!("slim-envfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.env");
        std::fs::write(&file, "# comment\n\nA=from-file\nB=2\n").unwrap();
        let file_arg = file.display().to_string();
        let s = parse(&["--env-file", &file_arg, "-e", "A=flag", "img"])
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(s.run.env, ["A=from-file", "B=2", "A=flag"]);
        std::fs::write(&file, "not a valid line with spaces\n").unwrap();
        let err = parse(&["--env-file", &file_arg, "img"])
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn run_options_reach_the_settings() {
        let s = parse(&[
            "--network",
            "host",
            "-v",
            "/data:/srv:ro",
            "--tmpfs",
            "/run:size=1m",
            "--cap-add",
            "NET_ADMIN",
            "img",
        ])
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(s.run.network.as_deref(), Some("host"));
        assert_eq!(s.run.volumes, ["/data:/srv:ro"]);
        assert_eq!(s.run.tmpfs, ["/run:size=1m"]);
        assert_eq!(s.run.cap_add, ["NET_ADMIN"]);
    }

    fn parse_build(args: &[&str]) -> Result<BuildArgs, clap::Error> {
        let cli = Cli::try_parse_from(["slim", "build"].iter().chain(args))?;
        match cli.command {
            Command::Build(args) => Ok(*args),
            _ => unreachable!("parsed as build"),
        }
    }

    #[test]
    fn commands_split_like_a_shell_or_as_json() {
        assert_eq!(
            parse_command(r#"python -c 'print("a b")' x\ y "q\"z""#).unwrap(),
            ["python", "-c", "print(\"a b\")", "x y", "q\"z"]
        );
        assert_eq!(
            parse_command(r#"["/app", "a b"]"#).unwrap(),
            ["/app", "a b"]
        );
        assert!(parse_command("'open").is_err());
        assert!(parse_command("  ").is_err());
        assert_eq!(parse_exec("id -un").unwrap().0, ["/bin/sh", "-c", "id -un"]);
        assert_eq!(parse_exec(r#"["id","-un"]"#).unwrap().0, ["id", "-un"]);
    }

    #[test]
    fn references_are_checked_as_the_engine_would() {
        for good in [
            "app",
            "app.slim:1.2",
            "team/app:latest",
            "localhost:5000/a/b:v_1",
            "registry.example.com/x-y/z__w:TAG",
        ] {
            assert_eq!(parse_reference(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "Bad Tag:1",
            "App:1",
            "app:",
            "app:-x",
            "/app",
            "app/",
            "a//b",
            "app@sha256:00",
            "",
        ] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
        assert!(parse_build(&["app", "--tag", "Bad Tag:1"]).is_err());
    }

    #[test]
    fn build_options_resolve_into_settings() {
        let s = parse_build(&[
            "app:1",
            "--tag",
            "app:small",
            "--cmd",
            "serve --port 80",
            "--exec",
            "true",
            "--continue-after",
            "timeout:1",
            "--keep",
            "/srv/**",
            "--no-keep",
            "zoneinfo",
            "-e",
            "A=1",
        ])
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(s.tag.as_deref(), Some("app:small"));
        assert_eq!(s.run.args, ["serve", "--port", "80"]);
        assert_eq!(s.plan.exec, [vec!["/bin/sh", "-c", "true"]]);
        assert_eq!(
            s.plan.continue_after,
            ContinueAfter::Timeout(Duration::from_secs(1))
        );
        assert_eq!(s.keep.patterns, ["/srv/**"]);
        assert!(!s.keep.lists.contains(&KeepList::Zoneinfo));
        assert!(s.keep.lists.contains(&KeepList::Certs));
        assert_eq!(s.run.env, ["A=1"]);
        assert!(parse_build(&["app", "--no-keep", "everything"]).is_err());
        assert!(parse_build(&["app", "--continue-after", "never"]).is_err());
    }

    #[test]
    fn probe_options_resolve_into_the_plan_settings() {
        let dir = std::env::temp_dir().join(format!("slim-cli-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("probes.yaml");
        std::fs::write(&file, "probes:\n  - {path: /from-file, expect: 204}\n").unwrap();
        let file = file.display().to_string();
        let s = parse_build(&[
            "app:1",
            "--probe",
            "POST /api/items {\"a\":1}",
            "--probe-file",
            &file,
            "--crawl-depth",
            "2",
            "--crawl-pages",
            "50",
            "--crawl-time",
            "9",
            "--accept-language",
            "fr",
            "--host-exec",
            "./e2e.sh",
            "--run",
            "python manage.py check",
            "--strict",
        ])
        .unwrap()
        .resolve()
        .unwrap();
        let plan = &s.plan;
        assert_eq!(plan.probes.len(), 2);
        assert_eq!(plan.probes[0].body.as_deref(), Some("{\"a\":1}"));
        assert_eq!(plan.probes[1].expect_status, Some(204));
        let crawl = plan.discovery.crawl.as_ref().unwrap();
        assert_eq!((crawl.depth, crawl.pages), (2, 50));
        assert_eq!(crawl.time, Duration::from_secs(9));
        assert!(plan.discovery.find_openapi);
        assert_eq!(plan.discovery.accept_language, ["fr"]);
        assert_eq!(plan.host_exec, ["./e2e.sh"]);
        assert_eq!(plan.run, [vec!["python", "manage.py", "check"]]);
        assert!(plan.strict);

        let off = parse_build(&["app:1", "--no-crawl"])
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(off.plan.discovery.crawl, None);
        assert!(!off.plan.discovery.find_openapi);
        assert!(!off.plan.strict);
        let defaults = parse_build(&["app:1"]).unwrap().resolve().unwrap();
        assert_eq!(defaults.plan.discovery.crawl, Some(CrawlLimits::default()));

        assert!(parse_build(&["app", "--probe", "GET nowhere"]).is_err());
        let missing = parse_build(&["app", "--openapi", "/nonexistent/api.json"])
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/api.json"),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn output_dash_is_stdout() {
        let s = parse(&["-o", "-", "img"]).unwrap().resolve().unwrap();
        assert_eq!(s.output, OutputTarget::Stdout);
        let s = parse(&["--output", "t.jsonl", "img"])
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(s.output, OutputTarget::File("t.jsonl".into()));
    }
}
