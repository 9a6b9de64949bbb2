//! The command line: clap structs that only parse and validate values, their resolution
//! into the settings the commands use, and running them (progress goes through
//! `crate::progress`).
//!
//! No I/O happens while parsing (`values`); resolution (`resolve`) reads the files the
//! options name and slim's own environment (for `-e KEY`); `dispatch` runs the command.

mod dispatch;
mod resolve;
mod values;

pub use dispatch::{execute, write_completions};
use values::*;
pub use values::{CommandArgv, EnvArg, parse_command, parse_ring_buffer_size};

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueHint};

use crate::drive::{ContinueAfter, HttpProbe};
use crate::image::reference::parse_reference;
use crate::keep::KeepList;

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
/// traced paths; or the --exclude glob that left it out, and what would have kept it.
/// Needs neither root nor the engine.
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
    pub cmd: Option<CommandArgv>,

    /// Run a command inside the traced container once it is ready, as the image's USER
    /// (repeatable): a JSON array is run as it is, anything else with `sh -c`.
    #[arg(long, value_name = "CMD", value_parser = parse_exec)]
    pub exec: Vec<CommandArgv>,

    /// When to stop the traced container after probing: probe (at once), timeout:SECS,
    /// signal (on SIGUSR1 to slim), enter (when Enter is pressed).
    #[arg(long, value_name = "WHEN", default_value = "probe", value_parser = ContinueAfter::parse)]
    pub continue_after: ContinueAfter,

    /// How long the application may take to listen on its exposed ports.
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

    /// Probe the operations of this OpenAPI document (JSON or YAML) [default: the
    /// document the application serves at /openapi.json or another usual path, if any].
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub openapi: Option<PathBuf>,

    /// Probe only the OpenAPI operations of these methods, e.g. GET,POST [default: all;
    /// reads first, then writes, DELETE last].
    #[arg(long, value_name = "METHODS", value_delimiter = ',', value_parser = parse_openapi_method)]
    pub openapi_methods: Vec<String>,

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
    pub run_extra: Vec<CommandArgv>,

    /// Fail (exit code 5, before building) when any probe fails: an HTTP error or 5xx
    /// answer (or not the `expect`ed status), a command that exits non-zero.
    #[arg(long)]
    pub strict: bool,

    /// Do not run the image's own HEALTHCHECK command as a probe. By default it runs once
    /// the application is ready, inside the traced container as the engine would run it,
    /// so that what it uses is kept; verification then checks it passes on the new image.
    #[arg(long)]
    pub no_healthcheck: bool,

    /// Keep paths matching this glob too (repeatable; absolute, `*` within a name, `**`
    /// across directories; a directory keeps its whole tree).
    #[arg(long, value_name = "GLOB")]
    pub keep: Vec<String>,

    /// Read more --keep globs from FILE, one per line (`#` comments).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub keep_file: Vec<PathBuf>,

    /// Leave out paths matching this glob, whatever keeps them (repeatable; globs as for
    /// --keep).
    ///
    /// Applied after every keep rule: a matched directory goes with its whole tree, the
    /// directories above an excluded path stay, and symlinks are not followed (a link to an
    /// excluded path stays, dangling). Verification shows what breaks; repair never adds an
    /// excluded path back. A glob that leaves nothing out is warned about.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Switch a default keep-list off (repeatable): certs, zoneinfo, users, resolver, tmp,
    /// home, workdir.
    #[arg(long, value_name = "LIST", value_parser = parse_keep_list)]
    pub no_keep: Vec<KeepList>,

    /// Apply a profile: a built-in one by name (python, django, flask, node, ruby, php,
    /// apache, java, nginx, postgresql, mariadb, redis) or a TOML file (repeatable). Built-in profiles are also
    /// chosen automatically from what the image holds and what was traced.
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Vec<String>,

    /// Apply only the profiles named with --profile (and base).
    #[arg(long)]
    pub no_auto_profile: bool,

    /// Keep whole packages (Python distributions, Node modules, Ruby gems) of which a file
    /// was used (`used`), or only the traced files and their closure (`none`).
    #[arg(long, value_name = "used|none", default_value = "used", value_parser = ["used", "none"])]
    pub keep_packages: String,

    /// Keep only the Python modules and Ruby features that were traced, not every one
    /// they can import or require.
    ///
    /// By default the python profile keeps the import closure of the modules the run
    /// used: each module a kept source imports (in a function body too), found on the
    /// image's sys.path, with the shared libraries of extension modules; the ruby profile
    /// likewise keeps each feature a kept Ruby file requires, found on its $LOAD_PATH.
    #[arg(long)]
    pub no_import_closure: bool,

    /// Leave the package database out of the new image.
    ///
    /// By default an image with a Debian (/var/lib/dpkg) or Alpine (/lib/apk/db/installed)
    /// package database gets a copy trimmed to the packages it keeps files of: each entry
    /// as it was, its file lists and checksums narrowed to the kept files, the packages
    /// with no kept file left out, so that scanners and dpkg-query see what it holds.
    #[arg(long)]
    pub no_package_db: bool,

    /// Write a software bill of materials of the new image to FILE: its OS packages,
    /// Python distributions and Node packages with their versions and package URLs, and
    /// the image it was made from.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub sbom: Option<PathBuf>,

    /// Write a seccomp profile (the engine's JSON) to FILE that allows only the system
    /// calls the traced runs made, and verify the new image under it.
    ///
    /// The probe records the calls of the container's processes (the application, the
    /// --exec probes, the --run containers, and what the runtime does after applying the
    /// container's filter); every other call is refused with EPERM. Verification then runs
    /// the new image under the profile (`--security-opt seccomp=`) and replays every probe:
    /// the profile is written only if it passes. x86_64 native calls only.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, conflicts_with = "no_verify")]
    pub seccomp: Option<PathBuf>,

    /// Where the original image's files are read from: `auto` reads them in place from the
    /// engine's layer store when it keeps layers as directories on this host (overlay2,
    /// fuse-overlayfs), while the traced container runs, else through the engine's export;
    /// `export` always uses the export; `store` fails unless the layer store can be read.
    /// The new image is the same whichever is used.
    #[arg(long, value_name = "auto|store|export", default_value = "auto", value_parser = ["auto", "store", "export"])]
    pub image_source: String,

    /// The format of --sbom: CycloneDX 1.5 JSON or SPDX 2.3 JSON.
    #[arg(long, value_name = "cyclonedx|spdx", default_value = "cyclonedx", value_parser = ["cyclonedx", "spdx"])]
    pub sbom_format: String,

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

#[cfg(test)]
mod tests;
