//! Runs `slim build` the way a user would and looks at what it made: the command with a
//! watchdog, its exit code, summary and phase times, its peak memory; the new image as the
//! engine holds it (config, size, every entry of its layers with mode, owner, link target
//! and xattrs, read from `docker save`); containers of the new image started with
//! `docker run -d` and fetched from with a plain HTTP/1.0 GET.
//!
//! Builds take the cache's `trace` lock, like traced runs: they share the kernel's probe
//! points and the engine, and the leftover check compares the engine and the cgroup tree
//! before and after one run. Each build gets a private TMPDIR, so the check that slim
//! removed its work directory is exact even when other slim runs share the machine.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use slim_test_kit::http::{self, HttpAnswer};
use slim_test_kit::untimed;

use crate::cache::Lock;
use crate::process::{SlimProcess, Start, drain};
use crate::report::{read_valid_report, report_violations};
use crate::slim::{Leftovers, RunIdentity, left_behind, slim_bin};

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call: `<prefix>-<pid>-<n>`.
pub(crate) fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `docker ARGS`, returning its output whatever the exit status.
pub fn docker<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    let args: Vec<_> = args.into_iter().collect();
    Command::new("docker")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running docker: {e}"))
}

/// Runs `docker ARGS` and returns its stdout; panics with its stderr on failure.
pub fn docker_ok<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> String {
    let args: Vec<_> = args.into_iter().collect();
    let out = docker(&args);
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "docker {} failed ({}): {}",
        shown.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every `repository:tag` in the engine.
pub fn image_tags() -> BTreeSet<String> {
    docker_ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .filter(|l| !l.contains("<none>"))
        .map(str::to_string)
        .collect()
}

/// `docker image inspect`'s `.Config` of `image`.
pub fn inspect_config(image: &str) -> serde_json::Value {
    inspect(image)["Config"].clone()
}

fn inspect(image: &str) -> serde_json::Value {
    let text = docker_ok(["image", "inspect", image]);
    let mut all: Vec<serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("inspect {image}: {e}: {text}"));
    assert_eq!(all.len(), 1, "inspect {image}: {text}");
    all.remove(0)
}

/// An image as the engine reports it.
#[derive(Clone, Debug)]
pub struct EngineImage {
    /// `sha256:…`.
    pub id: String,
    /// `.Size` in bytes.
    pub size: u64,
    /// `.Config`.
    pub config: serde_json::Value,
    /// The layer digests of `.RootFS.Layers`.
    pub layers: Vec<String>,
    /// `.Os` and `.Architecture`, e.g. `linux/amd64`.
    pub platform: String,
}

impl EngineImage {
    /// Inspects `image`; panics if the engine lacks it.
    pub fn inspect(image: &str) -> EngineImage {
        let value = inspect(image);
        EngineImage {
            id: value["Id"].as_str().unwrap_or_default().to_string(),
            size: value["Size"].as_u64().unwrap_or_default(),
            config: value["Config"].clone(),
            layers: value["RootFS"]["Layers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            platform: format!(
                "{}/{}",
                value["Os"].as_str().unwrap_or_default(),
                value["Architecture"].as_str().unwrap_or_default()
            ),
        }
    }
}

/// A `slim build` invocation being put together.
#[derive(Clone, Debug)]
pub struct BuildCommand {
    image: String,
    options: Vec<String>,
    tag: Option<String>,
    env: Vec<(String, String)>,
    wrapper: Vec<String>,
    binary: Option<PathBuf>,
    limit: Duration,
    dir: Option<PathBuf>,
}

impl BuildCommand {
    /// `slim build IMAGE` with a unique container name and the default tag.
    pub fn new(image: &str) -> Self {
        BuildCommand {
            image: image.to_string(),
            options: Vec::new(),
            tag: None,
            env: Vec::new(),
            wrapper: Vec::new(),
            binary: None,
            limit: Duration::from_secs(300),
            dir: None,
        }
    }

    /// An option with a value, e.g. `("--exec", "id -un")`.
    pub fn option(mut self, flag: &str, value: &str) -> Self {
        self.options.push(flag.to_string());
        self.options.push(value.to_string());
        self
    }

    /// A flag without a value.
    pub fn flag(mut self, flag: &str) -> Self {
        self.options.push(flag.to_string());
        self
    }

    /// `--tag TAG`.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = Some(tag.to_string());
        self
    }

    /// `--tag slim-test/<label>.slim:<pid>-<n>`: a tag no other run uses.
    pub fn unique_tag(self, label: &str) -> Self {
        let tag = format!(
            "slim-test/{label}.slim:{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        self.tag(&tag)
    }

    /// An environment variable for slim itself (e.g. `DOCKER_HOST`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs slim under this command, e.g. `setpriv --bounding-set=-all`.
    pub fn wrapped_in<S: AsRef<str>>(mut self, wrapper: impl IntoIterator<Item = S>) -> Self {
        self.wrapper = wrapper
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .collect();
        self
    }

    /// Run this `slim` binary instead of [`slim_bin`]'s (benchmarks use a release build).
    pub fn binary(mut self, path: &Path) -> Self {
        self.binary = Some(path.to_path_buf());
        self
    }

    /// Run slim in this directory (where it looks for `slim.toml` and writes its report).
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// Kill slim and fail if it has not exited after this long (default 300 s).
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// The tag slim will give the new image, when --tag was set.
    pub fn chosen_tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Runs slim to completion once no other traced run holds the trace lock; checks
    /// that it left no container, cgroup or work directory behind (the outcome says
    /// what, see [`BuildOutcome::assert_nothing_left`]).
    pub fn run(self) -> BuildOutcome {
        let bin = self.binary.as_deref().unwrap_or_else(|| slim_bin());
        let lock = Lock::acquire("trace").unwrap_or_else(|e| panic!("{e:#}"));
        let tmpdir = std::env::temp_dir().join(unique("slim-test-tmpdir"));
        let _ = std::fs::remove_dir_all(&tmpdir);
        std::fs::create_dir_all(&tmpdir)
            .unwrap_or_else(|e| panic!("creating {}: {e}", tmpdir.display()));
        let name = unique("slim-test-build");
        // Every build writes a report that must match the schema: into a file of the
        // test's own choosing, or else into a temporary one read and removed here. A test
        // that sets slim's directory or a slim.toml may choose the report there: then the
        // report is read where slim puts it by default, if this build wrote one.
        let chooses_in_config = self.dir.is_some() || self.options.iter().any(|o| o == "--config");
        let from_env = self.env.iter().rev().find_map(|(key, value)| {
            (key == "SLIM_REPORT").then(|| (value != "off").then(|| PathBuf::from(value)))
        });
        let (report_path, own_report) = match report_option(&self.options).or(from_env) {
            Some(given) => (given, false),
            None if chooses_in_config => (
                Some(
                    self.dir
                        .clone()
                        .unwrap_or_default()
                        .join("slim.report.json"),
                ),
                false,
            ),
            None => (
                Some(std::env::temp_dir().join(format!("{}.report.json", unique("slim-test")))),
                true,
            ),
        };
        // A relative path is slim's, from the directory it runs in.
        let report_path = report_path.map(|p| match &self.dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p,
        });
        // File times come from the kernel's coarse clock, which may lag the wall clock by
        // a tick: a second's margin still tells a file of this build from an older one.
        let written_since = std::time::SystemTime::now() - Duration::from_secs(1);
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(bin);
                cmd
            }
            None => Command::new(bin),
        };
        cmd.arg("build")
            .args(&self.options)
            .arg("--name")
            .arg(&name);
        if let Some(tag) = &self.tag {
            cmd.arg("--tag").arg(tag);
        }
        if own_report && let Some(path) = &report_path {
            cmd.arg("--report").arg(path);
        }
        cmd.arg(&self.image).env("TMPDIR", &tmpdir);
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let before = Leftovers::snapshot();
        let slim = SlimProcess::start(
            cmd,
            Start {
                keep_stdout: true,
                name: name.clone(),
                tmpdir: tmpdir.clone(),
                lock: Some(lock),
                ..Start::default()
            },
        );
        let command = slim.command_line().to_string();
        let ended = slim.wait_within(self.limit).unwrap_or_else(|stderr| {
            let _ = std::fs::remove_dir_all(&tmpdir);
            panic!(
                "`{command}` did not finish in {:?}; stderr:\n{stderr}",
                self.limit
            )
        });
        let stdout = String::from_utf8_lossy(&ended.stdout).into_owned();
        let stderr = ended.stderr.clone();
        // A build may trace more than once (the verification replays the probes on the
        // new image): each run's leftovers are ours.
        let mut run_ids: Vec<Option<String>> = ended.run_ids.iter().cloned().map(Some).collect();
        if run_ids.is_empty() {
            run_ids.push(None);
        }
        let mut problems: Vec<String> = Vec::new();
        for run_id in run_ids {
            let run = RunIdentity {
                name: Some(name.clone()),
                run_id,
                slim_pid: Some(ended.pid),
            };
            if let Some(problem) = left_behind(&before, &run)
                && !problems.contains(&problem)
            {
                problems.push(problem);
            }
        }
        let stray: Vec<PathBuf> = std::fs::read_dir(&tmpdir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        if !stray.is_empty() {
            problems.push(format!("slim left files in its TMPDIR: {stray:?}"));
        }
        let _ = std::fs::remove_dir_all(&tmpdir);
        let code = ended.code;
        let tag = built_tag(&stderr).or(self.tag.clone());
        // Only a regular file this build wrote: a report sent to /dev/null or a FIFO is
        // the test's own to read.
        let written = |p: &PathBuf| {
            std::fs::metadata(p)
                .is_ok_and(|m| m.is_file() && m.modified().is_ok_and(|t| t >= written_since))
        };
        let report = report_path.filter(written).map(|path| {
            let report = read_valid_report(&path);
            if own_report {
                let _ = std::fs::remove_file(&path);
            }
            report
        });
        // `--json` prints the same report on stdout: it must match the schema as well.
        if self.options.iter().any(|o| o == "--json") && code == Some(0) {
            let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
                panic!("`{command}` --json printed no JSON document ({e}):\n{stdout}")
            });
            let violations = report_violations(&printed);
            assert!(
                violations.is_empty(),
                "the report `{command}` printed does not match \
                 slim-cli/schema/report.schema.json:\n{}",
                violations.join("\n")
            );
        }
        BuildOutcome {
            command,
            code,
            stdout,
            stderr,
            tag,
            container_name: name,
            wall: ended.wall,
            max_rss_kib: ended.max_rss_kib,
            leftovers: (!problems.is_empty()).then(|| problems.join("\n")),
            report,
        }
    }
}

/// The `--report` the options give: `None` when they give none, `Some(None)` for
/// `--report off`.
fn report_option(options: &[String]) -> Option<Option<PathBuf>> {
    let value = options.iter().enumerate().rev().find_map(|(i, o)| {
        if o == "--report" {
            options.get(i + 1).cloned()
        } else {
            o.strip_prefix("--report=").map(str::to_string)
        }
    })?;
    Some((value != "off").then(|| PathBuf::from(value)))
}

/// The tag of a `slim: built TAG (ID)` line.
fn built_tag(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        let rest = untimed(l).strip_prefix("slim: built ")?;
        Some(rest.split_whitespace().next()?.to_string())
    })
}

/// `slim build` of fixture `fixture` under a unique tag made from `label`, each of `args`
/// passed as it is (`-e`, `NAME=VALUE` …): the new image and the build's report. Panics
/// unless the build succeeds; prints the sizes.
pub fn build_fixture(fixture: &str, label: &str, args: &[&str]) -> (SlimImage, serde_json::Value) {
    let mut command = BuildCommand::new(&crate::image(fixture)).unique_tag(label);
    for arg in args {
        command = command.flag(arg);
    }
    let outcome = command.run();
    let slim = outcome.image();
    let report = outcome.report.expect("the build writes a report");
    eprintln!(
        "{label}: original {} bytes, slim {} bytes",
        report["source"]["size"], report["image"]["size"]
    );
    (slim, report)
}

/// Two builds that should give the same image (`first`, then `second`), made again until
/// their traced runs saw the same accesses, three times at most: an application's runs
/// can differ by timing (a connection the readiness check closes early sends a server
/// into its error handler, which imports more), and only builds of the same trace must
/// give the same image. Panics with the accesses that differed when no pair agreed.
pub fn builds_of_one_trace(
    first: impl Fn() -> BuildOutcome,
    second: impl Fn() -> BuildOutcome,
) -> (BuildOutcome, BuildOutcome) {
    let mut differences = Vec::new();
    for attempt in 1..=3 {
        let (a, b) = (first(), second());
        let traced = |outcome: &BuildOutcome| {
            crate::traced_accesses(outcome.report.as_ref().expect("a report"))
        };
        let (seen_a, seen_b) = (traced(&a), traced(&b));
        if seen_a == seen_b {
            return (a, b);
        }
        let differ: Vec<String> = seen_a
            .symmetric_difference(&seen_b)
            .map(|access| {
                let side = if seen_a.contains(access) {
                    "first"
                } else {
                    "second"
                };
                format!("{side} only: {access}")
            })
            .collect();
        eprintln!(
            "attempt {attempt}: the two traced runs saw different accesses:\n{}",
            differ.join("\n")
        );
        differences.push(differ.join("\n"));
        // Each was built: its image goes.
        drop((a.image(), b.image()));
    }
    panic!(
        "three pairs of traced runs never saw the same accesses:\n{}",
        differences.join("\n--\n")
    );
}

/// What one finished `slim build` run did.
#[derive(Debug)]
pub struct BuildOutcome {
    /// The command line, for messages.
    pub command: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Everything slim wrote to stdout.
    pub stdout: String,
    /// Everything slim wrote to stderr (summary, errors).
    pub stderr: String,
    /// The new image's tag: from slim's summary, or the `--tag` given.
    pub tag: Option<String>,
    /// The traced container's name.
    pub container_name: String,
    /// Wall time of the whole command.
    pub wall: Duration,
    /// slim's peak resident memory, KiB (its VmHWM, read while it runs).
    pub max_rss_kib: u64,
    /// What the run left behind (containers, cgroups, work files), if anything.
    pub leftovers: Option<String>,
    /// The report the build wrote, already checked against the schema (`None` when it
    /// wrote none: `--report off`, or a build that failed before).
    pub report: Option<serde_json::Value>,
}

impl BuildOutcome {
    /// Panics unless slim exited 0 and left nothing behind.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "`{}` failed; stderr:\n{}",
            self.command,
            self.stderr
        );
        self.assert_nothing_left();
        self
    }

    /// Panics if the run left a container, a `slim-*` cgroup or its work directory.
    pub fn assert_nothing_left(&self) -> &Self {
        if let Some(problem) = &self.leftovers {
            panic!(
                "`{}` (exit code {:?}): {problem}\nstderr:\n{}",
                self.command, self.code, self.stderr
            );
        }
        self
    }

    /// The phases of the `time:` summary line, in order, in seconds.
    pub fn phases(&self) -> Vec<(String, f64)> {
        let Some(line) = self
            .stderr
            .lines()
            .find_map(|l| untimed(l).strip_prefix("slim: time: "))
        else {
            return Vec::new();
        };
        line.split(", ")
            .filter_map(|part| {
                let (name, secs) = part.rsplit_once(' ')?;
                Some((name.to_string(), secs.strip_suffix('s')?.parse().ok()?))
            })
            .collect()
    }

    /// The lines of stderr without their timestamps.
    pub fn messages(&self) -> Vec<&str> {
        self.stderr.lines().map(untimed).collect()
    }

    /// Lines of stderr that start with `error:`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }

    /// The new image, removed from the engine when the guard drops. Panics unless the
    /// build succeeded.
    pub fn image(&self) -> SlimImage {
        self.assert_success();
        let tag = self
            .tag
            .clone()
            .unwrap_or_else(|| panic!("no `built TAG` line in:\n{}", self.stderr));
        let engine = EngineImage::inspect(&tag);
        SlimImage { tag, engine }
    }
}

/// An image `slim build` made, `docker rmi`'d when dropped.
#[derive(Debug)]
pub struct SlimImage {
    /// Its tag.
    pub tag: String,
    /// What the engine says about it.
    pub engine: EngineImage,
}

impl Drop for SlimImage {
    fn drop(&mut self) {
        let out = docker(["rmi", &self.tag]);
        if !out.status.success() {
            eprintln!(
                "warning: docker rmi {}: {}",
                self.tag,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}

/// A container started with `docker run -d`, removed with `docker rm -f` when dropped.
#[derive(Debug)]
pub struct TestContainer {
    /// Its name.
    pub name: String,
}

impl TestContainer {
    /// `docker run -d --name <unique> RUN_ARGS IMAGE ARGS`.
    pub fn start(image: &str, run_args: &[&str], args: &[&str]) -> TestContainer {
        let name = unique("slim-test-run");
        let mut all = vec!["run", "-d", "--name", &name];
        all.extend_from_slice(run_args);
        all.push(image);
        all.extend_from_slice(args);
        let container = TestContainer { name: name.clone() };
        docker_ok(&all);
        container
    }

    /// The container's IP address on its network.
    pub fn address(&self) -> IpAddr {
        let text = docker_ok([
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            &self.name,
        ]);
        text.split_whitespace()
            .find_map(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("container {} has no IP address: {text:?}", self.name))
    }

    /// Its logs so far (stdout and stderr).
    pub fn logs(&self) -> String {
        let out = docker(["logs", &self.name]);
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }

    /// `GET PATH` on PORT, retried until the server answers or `limit` passes (the
    /// application may still be starting). Panics with the container's logs on timeout.
    pub fn get(&self, port: u16, path: &str, limit: Duration) -> HttpAnswer {
        let addr = SocketAddr::new(self.address(), port);
        let deadline = Instant::now() + limit;
        let mut pause = Duration::from_millis(20);
        loop {
            match http::get(addr, path, Duration::from_secs(10)) {
                Ok(answer) => return answer,
                Err(err) if Instant::now() > deadline => panic!(
                    "GET {path} on {addr} ({}): {err}; logs:\n{}",
                    self.name,
                    self.logs()
                ),
                Err(_) => {
                    let running = docker_ok(["inspect", "-f", "{{.State.Running}}", &self.name]);
                    assert_eq!(
                        running.trim(),
                        "true",
                        "{} stopped before answering GET {path}; logs:\n{}",
                        self.name,
                        self.logs()
                    );
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    /// `docker exec NAME ARGS` (as the image's USER), its output whatever the exit status.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut all = vec!["exec", self.name.as_str()];
        all.extend_from_slice(args);
        docker(&all)
    }

    /// `docker exec NAME ARGS` retried until it succeeds or `limit` passes (the server may
    /// still be starting); returns its stdout. Panics with the container's logs on timeout
    /// or once the container has stopped.
    pub fn exec_until_ok(&self, args: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let mut pause = Duration::from_millis(20);
        loop {
            let out = self.exec(args);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            let running = docker_ok(["inspect", "-f", "{{.State.Running}}", &self.name]);
            assert!(
                running.trim() == "true" && Instant::now() <= deadline,
                "docker exec {} {args:?} never succeeded (running: {}): {}{}; logs:\n{}",
                self.name,
                running.trim(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// `docker restart NAME`: the main process is stopped with the image's stop signal
    /// and started again in the same container (same filesystem).
    pub fn restart(&self) {
        docker_ok(["restart", &self.name]);
    }

    /// `(uid, command)` of every process in the container, sorted (`docker top`).
    pub fn processes(&self) -> Vec<(String, String)> {
        // `docker top` insists on a PID column.
        let text = docker_ok(["top", &self.name, "-o", "pid,uid,comm"]);
        let mut all: Vec<(String, String)> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split_whitespace().skip(1);
                Some((f.next()?.to_string(), f.next()?.to_string()))
            })
            .collect();
        all.sort();
        all
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = docker(["rm", "-f", "-v", &self.name]);
    }
}

/// Runs `docker run --rm RUN_ARGS IMAGE ARGS` to completion (killed past `limit`):
/// exit code, stdout, stderr.
pub fn run_to_end(
    image: &str,
    run_args: &[&str],
    args: &[&str],
    limit: Duration,
) -> (Option<i32>, String, String) {
    let name = unique("slim-test-once");
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--name", &name])
        .args(run_args)
        .arg(image)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running docker run: {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for docker run") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = docker(["rm", "-f", &name]);
            let _ = child.kill();
            let _ = child.wait();
            panic!("docker run {image} {args:?} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code(),
        String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned(),
        String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use slim_test_kit::announced_run_ids;

    use super::*;

    #[test]
    fn every_announced_run_and_the_built_tag_are_read_from_stderr() {
        let stderr = "slim: tracing a:1 (1 HTTP probe(s), 0 command(s))\n\
                      2026-11-29T19:51:41.123Z slim: run 15e3c1f4e512: cgroup /sys/fs/cgroup/unified/slim-15e3c1f4e512\n\
                      slim: probes: 1 run, 0 failed\n\
                      slim: verify, round 1: replaying the probes on a.slim:1\n\
                      slim: run a2d876ccba8b: cgroup /sys/fs/cgroup/unified/slim-a2d876ccba8b\n\
                      2026-11-29T19:51:43.456Z slim: built a.slim:1 (b7fad35a28fb)\n";
        assert_eq!(announced_run_ids(stderr), ["15e3c1f4e512", "a2d876ccba8b"]);
        assert_eq!(built_tag(stderr).as_deref(), Some("a.slim:1"));
    }

    #[test]
    fn phases_are_read_from_the_time_line() {
        let outcome = BuildOutcome {
            command: String::new(),
            code: Some(0),
            stdout: String::new(),
            stderr: "2026-11-29T19:51:41.123Z slim: time: inspect 0.0s, run 1.3s, keep+layer 0.4s, verify 12.0s\n".into(),
            tag: None,
            container_name: String::new(),
            wall: Duration::ZERO,
            max_rss_kib: 0,
            leftovers: None,
            report: None,
        };
        assert_eq!(
            outcome.phases(),
            [
                ("inspect".to_string(), 0.0),
                ("run".to_string(), 1.3),
                ("keep+layer".to_string(), 0.4),
                ("verify".to_string(), 12.0)
            ]
        );
    }
}
