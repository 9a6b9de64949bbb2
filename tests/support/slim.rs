//! Runs the real `slim` binary the way a user would and reads what it wrote: locating (and
//! if needed building) the binary, `slim trace IMAGE -- ARGS` with a watchdog, the JSON
//! Lines records, and the check that a run left no container or cgroup behind.
//!
//! Traced runs are serialised across threads and processes with the cache's `trace`
//! lock: they share the kernel's probe points and the engine, and the leftover check
//! compares the engine and cgroup tree before and after one run.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::cache::{self, Lock};
use crate::process::{SlimProcess, Start};

/// Set to a `slim` binary to test that one instead of building the workspace's.
pub const SLIM_BIN_ENV: &str = "SLIM_BIN";

/// The `slim` binary under test: `$SLIM_BIN`, or `target/<profile>/slim` next to the
/// running executable. The first call in a process runs `cargo build -p slim-cli --bin
/// slim` for that profile, which is a no-op when the binary is fresh and rebuilds it when
/// missing or stale. Panics if the build fails.
pub fn slim_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| locate_and_build().map_err(|e| format!("{e:#}"))) {
        Ok(path) => path,
        Err(err) => panic!("cannot get the slim binary: {err}"),
    }
}

fn locate_and_build() -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    if let Some(bin) = std::env::var_os(SLIM_BIN_ENV) {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().context("locating the running executable")?;
    let mut profile_dir = exe.parent().context("executable has no directory")?;
    if profile_dir.file_name() == Some("deps".as_ref()) {
        profile_dir = profile_dir.parent().context("deps/ has no parent")?;
    }
    let target_dir = profile_dir
        .parent()
        .context("profile directory has no parent")?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("profile directory name is not UTF-8")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("tests/ has no parent")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut build = Command::new(&cargo);
    build
        .current_dir(workspace)
        .args(["build", "--quiet", "-p", "slim-cli", "--bin", "slim"])
        .env("CARGO_TARGET_DIR", target_dir);
    match profile {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let status = build
        .status()
        .with_context(|| format!("running {cargo:?} build -p slim-cli"))?;
    anyhow::ensure!(
        status.success(),
        "cargo build -p slim-cli failed ({status})"
    );
    let bin = profile_dir.join("slim");
    anyhow::ensure!(
        bin.is_file(),
        "cargo built slim-cli but {} is missing",
        bin.display()
    );
    Ok(bin)
}

/// One access as `slim trace` reports it (one JSON Lines object).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// Absolute, lexically normalised path inside the container.
    pub path: String,
    /// open, exec, stat, access, readlink, list or chdir.
    pub kind: String,
    /// The system call, e.g. `openat`.
    pub syscall: String,
    /// `ok`, an errno name such as `ENOENT`, or `unknown`.
    pub result: String,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The thread's command name.
    pub comm: String,
    /// The call did not follow a final symlink (lstat, O_NOFOLLOW).
    #[serde(default)]
    pub nofollow: bool,
    /// The file was opened for writing.
    #[serde(default)]
    pub write: bool,
    /// Why the path may be partial: truncated, unreachable, badfd, fault.
    #[serde(default)]
    pub incomplete: Option<String>,
    /// The raw path bytes when the path is not UTF-8.
    #[serde(default)]
    pub path_bytes: Option<Vec<u8>>,
}

/// Parses `slim trace` output: one JSON object per non-empty line.
pub fn parse_records(text: &str) -> anyhow::Result<Vec<Record>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("line {} is not a trace record ({e}): {line}", n + 1))
        })
        .collect()
}

/// The keys of one JSON object, in the order they appear in its text.
pub fn keys_in_order(line: &str) -> Result<Vec<String>, serde_json::Error> {
    struct Keys(Vec<String>);
    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_str::<Keys>(line).map(|k| k.0)
}

/// What one finished `slim trace` run produced.
#[derive(Debug)]
pub struct Trace {
    /// The command line, for messages.
    pub command: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Every record, in output order.
    pub records: Vec<Record>,
    /// The raw JSON lines the records came from.
    pub lines: Vec<String>,
    /// Everything slim wrote to stderr.
    pub stderr: String,
    /// Whatever went to stdout when `--output` was used (should be nothing).
    pub stray_stdout: String,
}

impl Trace {
    /// Panics with the run's stderr unless slim exited 0.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "`{}` failed; stderr:\n{}",
            self.command,
            self.stderr
        );
        self
    }

    /// Records with this kind and path.
    pub fn matching(&self, kind: &str, path: &str) -> Vec<&Record> {
        self.records
            .iter()
            .filter(|r| r.kind == kind && r.path == path)
            .collect()
    }

    /// The first record satisfying `pred`, or a panic that shows `what` and what the
    /// trace has near that path.
    pub fn expect(&self, what: &str, pred: impl Fn(&Record) -> bool) -> &Record {
        if let Some(r) = self.records.iter().find(|r| pred(r)) {
            return r;
        }
        panic!("no record {what} in `{}`\n{}", self.command, self.summary());
    }

    /// A short description for failure messages: exit code, stderr and a sample of the
    /// records (all of them when few).
    pub fn summary(&self) -> String {
        let mut out = format!(
            "exit code {:?}, {} records\nstderr:\n{}\n",
            self.code,
            self.records.len(),
            self.stderr
        );
        let mut seen = BTreeSet::new();
        for r in &self.records {
            if seen.len() >= 200 {
                out.push_str("  …\n");
                break;
            }
            if seen.insert((&r.kind, &r.path, &r.result, &r.comm)) {
                let _ = writeln!(
                    out,
                    "  {} {} {} {} ({}){}",
                    r.kind,
                    r.path,
                    r.result,
                    r.comm,
                    r.syscall,
                    if r.nofollow { " nofollow" } else { "" }
                );
            }
        }
        out
    }
}

/// A `slim trace` invocation being put together.
#[derive(Clone, Debug)]
pub struct TraceCommand {
    image: String,
    options: Vec<String>,
    args: Option<Vec<String>>,
    name: Option<String>,
    to_file: bool,
    limit: Duration,
}

impl TraceCommand {
    /// `slim trace IMAGE`, with the image's own command.
    pub fn new(image: &str) -> Self {
        TraceCommand {
            image: image.to_string(),
            options: Vec::new(),
            args: None,
            name: None,
            to_file: false,
            limit: Duration::from_secs(120),
        }
    }

    /// `-- ARGS...`: replaces the image's CMD.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args = Some(args.into_iter().map(|s| s.as_ref().to_string()).collect());
        self
    }

    /// An option with a value, e.g. `("--ring-buffer", "4K")`.
    pub fn option(mut self, flag: &str, value: &str) -> Self {
        self.options.push(flag.to_string());
        self.options.push(value.to_string());
        self
    }

    /// A flag without a value, e.g. `--allow-incomplete`.
    pub fn flag(mut self, flag: &str) -> Self {
        self.options.push(flag.to_string());
        self
    }

    /// `--name NAME` (by default each run gets a unique `slim-test-<pid>-<n>`); the
    /// leftover check makes sure no container of that name stays.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self.option("--name", name)
    }

    /// Read the records from `--output FILE` instead of stdout.
    pub fn output_file(mut self) -> Self {
        self.to_file = true;
        self
    }

    /// Kill slim and fail if it has not exited after this long (default 120 s).
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Runs to completion; see [`RunningTrace::wait`].
    pub fn run(self) -> Trace {
        self.spawn().wait()
    }

    /// Starts slim in the background, once no other traced run holds the trace lock.
    pub fn spawn(self) -> RunningTrace {
        let bin = slim_bin();
        let lock = Lock::acquire("trace").unwrap_or_else(|e| panic!("{e:#}"));
        let output = self.to_file.then(|| {
            let dir = cache::dir().unwrap_or_else(|e| panic!("{e:#}")).join("tmp");
            std::fs::create_dir_all(&dir).expect("creating the cache's tmp/");
            let path = dir.join(format!(
                "trace-{}-{:?}.jsonl",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_file(&path);
            path
        });
        let mut cmd = Command::new(bin);
        cmd.arg("trace").args(&self.options);
        let name = match self.name {
            Some(name) => name,
            None => {
                // A name of our own, so leftovers can be told apart from other runs.
                static RUNS: AtomicUsize = AtomicUsize::new(0);
                let name = format!(
                    "slim-test-{}-{}",
                    std::process::id(),
                    RUNS.fetch_add(1, Ordering::Relaxed)
                );
                cmd.arg("--name").arg(&name);
                name
            }
        };
        if let Some(path) = &output {
            cmd.arg("--output").arg(path);
        }
        cmd.arg(&self.image);
        if let Some(args) = &self.args {
            cmd.arg("--").args(args);
        }
        let before = Leftovers::snapshot();
        let process = SlimProcess::start(
            cmd,
            Start {
                keep_stdout: true,
                name,
                lock: Some(lock),
                ..Start::default()
            },
        );
        RunningTrace {
            process,
            output,
            deadline: Instant::now() + self.limit,
            before,
        }
    }
}

/// A `slim trace` process running in the background.
pub struct RunningTrace {
    process: SlimProcess,
    output: Option<PathBuf>,
    deadline: Instant,
    before: Leftovers,
}

impl RunningTrace {
    /// slim's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Sends SIGINT, as Ctrl-C would.
    pub fn interrupt(&self) {
        self.process.interrupt();
    }

    /// Whether slim is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Waits for slim to exit (interrupting, then killing it and panicking past the time
    /// limit), parses its records and asserts that it left no container or cgroup behind.
    pub fn wait(self) -> Trace {
        let RunningTrace {
            process,
            output,
            deadline,
            before,
        } = self;
        let command = process.command_line().to_string();
        let ended = process
            .wait_within(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|stderr| {
                panic!("`{command}` did not finish in time and was stopped; stderr:\n{stderr}")
            });
        let stderr = ended.stderr.clone();
        let (data, stray_stdout) = match &output {
            Some(path) => {
                let data = std::fs::read(path).unwrap_or_default();
                let _ = std::fs::remove_file(path);
                (data, String::from_utf8_lossy(&ended.stdout).into_owned())
            }
            None => (ended.stdout.clone(), String::new()),
        };
        let text = String::from_utf8(data)
            .unwrap_or_else(|e| panic!("`{command}` wrote output that is not UTF-8: {e}"));
        let records =
            parse_records(&text).unwrap_or_else(|e| panic!("`{command}`: {e}\nstderr:\n{stderr}"));
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let run = RunIdentity {
            name: Some(ended.name.clone()),
            run_id: ended.run_ids.first().cloned(),
            slim_pid: Some(ended.pid),
        };
        if let Some(problem) = left_behind(&before, &run) {
            panic!(
                "`{command}` (exit code {:?}): {problem}\nstderr:\n{stderr}",
                ended.code
            );
        }
        Trace {
            command,
            code: ended.code,
            records,
            lines,
            stderr,
            stray_stdout,
        }
    }
}

/// A container labelled `slim.run`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunContainer {
    /// Full container id.
    pub id: String,
    /// Container name, without the leading slash.
    pub name: String,
    /// The `slim.run` label: the run id.
    pub run_id: String,
}

/// slim's footprint outside its own process: containers labelled `slim.run` and cgroups
/// named `slim-<run id>` (top level and one level down, e.g.
/// `/sys/fs/cgroup/memory/slim-…`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Containers with the `slim.run` label.
    pub containers: BTreeSet<RunContainer>,
    /// `slim-*` cgroup directories.
    pub cgroups: BTreeSet<PathBuf>,
}

impl Leftovers {
    /// What exists right now.
    pub fn snapshot() -> Leftovers {
        let out = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--no-trunc",
                "--filter",
                "label=slim.run",
                "--format",
                "{{.ID}} {{.Names}} {{.Label \"slim.run\"}}",
            ])
            .output()
            .expect("running docker ps");
        assert!(
            out.status.success(),
            "docker ps failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let containers = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut f = line.split(' ');
                Some(RunContainer {
                    id: f.next()?.to_string(),
                    name: f.next()?.trim_start_matches('/').to_string(),
                    run_id: f.next().unwrap_or_default().to_string(),
                })
            })
            .collect();
        let mut cgroups = BTreeSet::new();
        let root = Path::new("/sys/fs/cgroup");
        let slim_children = |dir: &Path, into: &mut BTreeSet<PathBuf>| {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with("slim-") && entry.path().is_dir() {
                    into.insert(entry.path());
                }
            }
        };
        slim_children(root, &mut cgroups);
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                slim_children(&entry.path(), &mut cgroups);
            }
        }
        Leftovers {
            containers,
            cgroups,
        }
    }
}

/// The run id a `slim-<id>` or `slim-<id>.slice` cgroup belongs to.
fn cgroup_run_id(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let id = name.strip_prefix("slim-")?;
    Some(id.strip_suffix(".slice").unwrap_or(id).to_string())
}

/// Whether a `slim` process other than `except` is alive (someone else tracing on this
/// machine), in which case new cgroups that cannot be tied to a run are not blamed on ours.
pub(crate) fn other_slim_alive(except: Option<u32>) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| Some(*pid) != except && *pid != std::process::id())
        .any(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
                let exe = exe.to_string_lossy();
                exe.trim_end_matches(" (deleted)").ends_with("/slim")
            })
        })
}

/// Which run to blame leftovers on.
#[derive(Clone, Debug, Default)]
pub struct RunIdentity {
    /// The `--name` the run was given.
    pub name: Option<String>,
    /// The run id, when known (from slim's stderr).
    pub run_id: Option<String>,
    /// slim's pid, so it does not count as another slim.
    pub slim_pid: Option<u32>,
}

/// Panics if the run left a container or a `slim-*` cgroup behind that did not exist at
/// `before`. Containers are ours by name or run id; a new cgroup is ours by run id, and
/// otherwise unless it belongs to another live run (another container's run id, or
/// another slim process alive on the machine).
pub fn assert_nothing_left(before: &Leftovers, run: &RunIdentity) {
    if let Some(problem) = left_behind(before, run) {
        panic!("{problem}");
    }
}

/// What [`assert_nothing_left`] would complain about, if anything.
pub fn left_behind(before: &Leftovers, run: &RunIdentity) -> Option<String> {
    let now = Leftovers::snapshot();
    let ours_by_id = |id: &str| run.run_id.as_deref() == Some(id);
    let containers: Vec<_> = now
        .containers
        .iter()
        .filter(|c| {
            run.name.as_deref() == Some(c.name.as_str())
                || ours_by_id(&c.run_id)
                || (run.name.is_none() && !before.containers.contains(c))
        })
        .collect();
    let foreign_runs: BTreeSet<&str> = now
        .containers
        .iter()
        .filter(|c| !containers.contains(c))
        .map(|c| c.run_id.as_str())
        .collect();
    let mut others_alive = None;
    let cgroups: Vec<_> = now
        .cgroups
        .difference(&before.cgroups)
        .filter(|path| {
            let id = cgroup_run_id(path).unwrap_or_default();
            if ours_by_id(&id) {
                return true;
            }
            if run.run_id.is_some() || foreign_runs.contains(id.as_str()) {
                return false;
            }
            !*others_alive.get_or_insert_with(|| other_slim_alive(run.slim_pid))
        })
        .collect();
    let mut problems = Vec::new();
    if !containers.is_empty() {
        problems.push(format!(
            "slim left containers behind (docker ps -a --filter label=slim.run): {containers:?}"
        ));
    }
    if !cgroups.is_empty() {
        problems.push(format!("slim left cgroups behind: {cgroups:?}"));
    }
    (!problems.is_empty()).then(|| problems.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_read_from_the_cgroup_name() {
        assert_eq!(
            cgroup_run_id(Path::new("/sys/fs/cgroup/memory/slim-0a1b")).as_deref(),
            Some("0a1b")
        );
        assert_eq!(
            cgroup_run_id(Path::new("/sys/fs/cgroup/slim-0a1b.slice")).as_deref(),
            Some("0a1b")
        );
    }
}
