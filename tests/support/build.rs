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

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cache::{self, Lock};
use crate::report::{read_valid_report, report_violations};
use crate::slim::{Leftovers, RunIdentity, announced_run_id, left_behind, slim_bin, untimed};

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call: `<prefix>-<pid>-<n>`.
fn unique(prefix: &str) -> String {
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
    #[expect(
        clippy::zombie_processes,
        reason = "the child is reaped with wait4(2), which also gives its peak memory"
    )]
    pub fn run(self) -> BuildOutcome {
        let bin = self.binary.as_deref().unwrap_or_else(|| slim_bin());
        let _lock = Lock::acquire("trace").unwrap_or_else(|e| panic!("{e:#}"));
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
        let written_since = std::time::SystemTime::now();
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
        let command = format!("{cmd:?}");
        let before = Leftovers::snapshot();
        let started = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command}: {e}"));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        let deadline = started + self.limit;
        let (status, usage) = loop {
            if let Some(done) = try_wait4(pid) {
                break done;
            }
            if Instant::now() > deadline {
                // SIGINT first, as a user would, so slim cleans up; then kill.
                // SAFETY: kill(2) on our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGINT) };
                let grace = Instant::now() + Duration::from_secs(20);
                while Instant::now() < grace && try_wait4(pid).is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                let _ = try_wait4(pid);
                let stderr =
                    String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
                let _ = std::fs::remove_dir_all(&tmpdir);
                panic!(
                    "`{command}` did not finish in {:?}; stderr:\n{stderr}",
                    self.limit
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let wall = started.elapsed();
        let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        // A build may trace more than once (the verification replays the probes on the
        // new image): each run's leftovers are ours.
        let mut run_ids: Vec<Option<String>> =
            announced_run_ids(&stderr).into_iter().map(Some).collect();
        if run_ids.is_empty() {
            run_ids.push(None);
        }
        let mut problems: Vec<String> = Vec::new();
        for run_id in run_ids {
            let run = RunIdentity {
                name: Some(name.clone()),
                run_id,
                slim_pid: Some(child.id()),
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
        let code = if libc::WIFEXITED(status) {
            Some(libc::WEXITSTATUS(status))
        } else {
            None
        };
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
            wall,
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or_default(),
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

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Reaps `pid` if it has exited, with its resource usage (peak RSS).
fn try_wait4(pid: libc::pid_t) -> Option<(libc::c_int, libc::rusage)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with pointers to live locals.
    let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    (rc == pid).then_some((status, usage))
}

/// Every run id slim announces (`slim: run <id>: …`), in order.
fn announced_run_ids(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| announced_run_id(untimed(l).strip_prefix("slim: ")?))
        .collect()
}

/// The tag of a `slim: built TAG (ID)` line.
fn built_tag(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        let rest = untimed(l).strip_prefix("slim: built ")?;
        Some(rest.split_whitespace().next()?.to_string())
    })
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
    /// slim's peak resident memory, KiB (getrusage of the child).
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
            match http_get(addr, path, Duration::from_secs(10)) {
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

/// An HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Header lines as (lower-case name, value), in order.
    pub headers: Vec<(String, String)>,
    /// The body, whole.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET PATH HTTP/1.0` to `addr`, reading until the server closes the connection.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<HttpAnswer> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: slim-tests\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let headers = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// What kind of entry a layer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageEntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link with its target text.
    Symlink(String),
    /// A hard link to the named (absolute) path.
    HardLink(String),
    /// Anything else (devices, fifos), with the tar type byte.
    Other(u8),
}

/// One entry of one layer of an image, as `docker save` writes it.
#[derive(Clone, Debug)]
pub struct ImageEntry {
    /// Absolute path inside the image, no trailing slash (`/` for the root).
    pub path: String,
    /// File, directory, symlink, hard link …
    pub kind: ImageEntryKind,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size (0 for links).
    pub size: u64,
    /// Extended attributes from PAX `SCHILY.xattr.*` records, by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Index of the layer (0 = lowest).
    pub layer: usize,
}

/// Every entry of every layer of `image`, lowest layer first, read from `docker save`.
pub fn image_entries(image: &str) -> Vec<ImageEntry> {
    let dir = cache::dir().unwrap_or_else(|e| panic!("{e:#}")).join("tmp");
    std::fs::create_dir_all(&dir).expect("creating the cache's tmp/");
    let archive = dir.join(format!("{}.tar", unique("saved")));
    let out = docker([
        "save".as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
        image.as_ref(),
    ]);
    let result = if out.status.success() {
        read_saved(&archive)
    } else {
        Err(std::io::Error::other(format!(
            "docker save failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    };
    let _ = std::fs::remove_file(&archive);
    result.unwrap_or_else(|e| panic!("reading docker save of {image}: {e}"))
}

fn read_saved(archive: &Path) -> std::io::Result<Vec<ImageEntry>> {
    let open = || std::fs::File::open(archive).map(std::io::BufReader::new);
    let mut manifest = None;
    for entry in tar::Archive::new(open()?).entries()? {
        let mut entry = entry?;
        if entry.path()?.as_os_str() == "manifest.json" {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            manifest = Some(text);
            break;
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&manifest.ok_or_else(|| std::io::Error::other("no manifest.json"))?)
            .map_err(std::io::Error::other)?;
    let layers: Vec<String> = manifest[0]["Layers"]
        .as_array()
        .ok_or_else(|| std::io::Error::other("manifest.json has no Layers"))?
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    let mut by_layer: Vec<Vec<ImageEntry>> = vec![Vec::new(); layers.len()];
    for entry in tar::Archive::new(open()?).entries()? {
        let entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        // A layer listed twice (the same diff) is stored once.
        let indexes: Vec<usize> = (0..layers.len()).filter(|i| layers[*i] == name).collect();
        if let Some(&first) = indexes.first() {
            let entries = read_layer(entry, first)?;
            for &index in &indexes {
                by_layer[index] = entries
                    .iter()
                    .cloned()
                    .map(|e| ImageEntry { layer: index, ..e })
                    .collect();
            }
        }
    }
    Ok(by_layer.into_iter().flatten().collect())
}

fn read_layer(reader: impl Read, layer: usize) -> std::io::Result<Vec<ImageEntry>> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let mut xattrs = BTreeMap::new();
        if let Some(pax) = entry.pax_extensions()? {
            for ext in pax {
                let ext = ext?;
                if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    xattrs.insert(name.to_string(), ext.value_bytes().to_vec());
                }
            }
        }
        let header = entry.header();
        let absolute = |p: &Path| {
            let text = p.to_string_lossy();
            let trimmed = text.trim_start_matches("./").trim_start_matches('/');
            format!("/{}", trimmed.trim_end_matches('/'))
        };
        let link = || {
            entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => ImageEntryKind::File,
            tar::EntryType::Directory => ImageEntryKind::Dir,
            tar::EntryType::Symlink => ImageEntryKind::Symlink(link()),
            tar::EntryType::Link => ImageEntryKind::HardLink(absolute(Path::new(&link()))),
            other => ImageEntryKind::Other(other.as_byte()),
        };
        let path = absolute(&entry.path()?);
        out.push(ImageEntry {
            path: if path == "/." { "/".into() } else { path },
            kind,
            mode: header.mode()? & 0o7777,
            uid: header.uid()?,
            gid: header.gid()?,
            size: header.size()?,
            xattrs,
            layer,
        });
        // Drain the content so the next header is read from the right place.
        std::io::copy(&mut entry, &mut std::io::sink())?;
    }
    Ok(out)
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
