//! Interrupting the real `slim` binary and checking what it left, through the interfaces
//! that own each thing: the engine's API for containers (by the `slim.run` label and by
//! name), the cgroup filesystems for cgroups, the kernel's `bpf()` syscall for the probe's
//! programs and links, and the file system for temporary files.
//!
//! [`SlimProcess::build`] and [`SlimProcess::trace`] start `slim build` or `slim trace`
//! with `SLIM_TEST_HOOK` (slim's test-only hook that pauses it at a phase), a private
//! TMPDIR and an output directory. [`EngineProxy`] is a Unix socket that forwards to the
//! engine's socket and can be killed, to make the engine go away from slim's point of view
//! without touching the real daemon.

use std::collections::BTreeSet;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cache::{self, Lock};
use crate::process::{Ended, SlimProcess, Start};
use crate::slim::slim_bin;

/// The environment variable of slim's test hook (`pause:PHASE`, `panic:PHASE`, comma
/// separated).
pub const TEST_HOOK_ENV: &str = "SLIM_TEST_HOOK";

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

impl SlimProcess {
    /// `slim build` of `image` with `options`, `--name`, `--tag` and `SLIM_TEST_HOOK=hook`,
    /// holding the `trace` lock until it is waited for.
    pub fn build(image: &str, options: &[&str], hook: &str, env: &[(&str, &str)]) -> SlimProcess {
        SlimProcess::build_with(image, options, hook, env, |_, _| Vec::new())
    }

    /// [`SlimProcess::build`], with more options from `more(tag, out_dir)`, called before
    /// slim starts (it may also prepare the engine, e.g. tag an image).
    pub fn build_with(
        image: &str,
        options: &[&str],
        hook: &str,
        env: &[(&str, &str)],
        more: impl FnOnce(&str, &Path) -> Vec<String>,
    ) -> SlimProcess {
        let name = unique("slim-test-intr");
        let tag = format!(
            "slim-test/interrupt.slim:{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let out_dir = std::env::temp_dir().join(unique("slim-test-intr-out"));
        let mut args: Vec<String> = vec!["build".into()];
        args.extend(options.iter().map(|s| (*s).to_string()));
        args.extend(["--name".into(), name.clone(), "--tag".into(), tag.clone()]);
        let lock = Lock::acquire("trace").unwrap_or_else(|e| panic!("{e:#}"));
        fresh_dir(&out_dir);
        args.extend(more(&tag, &out_dir));
        args.push(image.to_string());
        spawn(args, name, tag, out_dir, hook, env, Some(lock))
    }

    /// `slim trace` of `image` with `options` and `-- args`.
    pub fn trace(
        image: &str,
        options: &[&str],
        args: &[&str],
        hook: &str,
        env: &[(&str, &str)],
    ) -> SlimProcess {
        SlimProcess::trace_with(image, options, args, hook, env, |_| Vec::new())
    }

    /// [`SlimProcess::trace`], with more options from `more(out_dir)`.
    pub fn trace_with(
        image: &str,
        options: &[&str],
        args: &[&str],
        hook: &str,
        env: &[(&str, &str)],
        more: impl FnOnce(&Path) -> Vec<String>,
    ) -> SlimProcess {
        let name = unique("slim-test-intr");
        let mut all: Vec<String> = vec!["trace".into()];
        all.extend(options.iter().map(|s| (*s).to_string()));
        let lock = Lock::acquire("trace").unwrap_or_else(|e| panic!("{e:#}"));
        let out_dir = std::env::temp_dir().join(unique("slim-test-intr-out"));
        fresh_dir(&out_dir);
        all.extend(more(&out_dir));
        all.extend([
            "--name".into(),
            name.clone(),
            image.to_string(),
            "--".into(),
        ]);
        all.extend(args.iter().map(|s| (*s).to_string()));
        spawn(all, name, String::new(), out_dir, hook, env, Some(lock))
    }

    /// Any `slim` command line, without the lock (the caller holds it).
    pub fn command(args: &[&str], env: &[(&str, &str)]) -> SlimProcess {
        let out_dir = std::env::temp_dir().join(unique("slim-test-intr-out"));
        fresh_dir(&out_dir);
        spawn(
            args.iter().map(|s| (*s).to_string()).collect(),
            String::new(),
            String::new(),
            out_dir,
            "",
            env,
            None,
        )
    }

    /// The BPF programs and links slim holds open right now (from `/proc/<pid>/fdinfo`).
    pub fn bpf_objects(&self) -> BpfObjects {
        BpfObjects::held_by(self.pid())
    }

    /// Waits for slim to exit (interrupting, then killing it past 120 s, which fails the
    /// test).
    pub fn wait(self) -> Ended {
        self.wait_within(Duration::from_secs(120))
            .unwrap_or_else(|stderr| {
                panic!("slim did not exit within 120 s and was stopped; stderr:\n{stderr}")
            })
    }
}

/// Starts slim with `args`, a private TMPDIR and `SLIM_TEST_HOOK=hook`.
fn spawn(
    args: Vec<String>,
    name: String,
    tag: String,
    out_dir: PathBuf,
    hook: &str,
    env: &[(&str, &str)],
    lock: Option<Lock>,
) -> SlimProcess {
    let tmpdir = std::env::temp_dir().join(unique("slim-test-intr-tmp"));
    fresh_dir(&tmpdir);
    let mut cmd = Command::new(slim_bin());
    cmd.args(&args)
        .env("TMPDIR", &tmpdir)
        .env_remove(TEST_HOOK_ENV);
    if !hook.is_empty() {
        cmd.env(TEST_HOOK_ENV, hook);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    SlimProcess::start(
        cmd,
        Start {
            keep_stdout: false,
            name,
            tag,
            tmpdir,
            out_dir,
            lock,
        },
    )
}

fn fresh_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
}

impl Ended {
    /// Everything of this run that still exists, as the engine, the kernel and the file
    /// system list it; empty when slim cleaned up.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for c in run_containers() {
            if c.name == self.name
                || c.name.starts_with(&format!("{}-", self.name))
                || self.run_ids.contains(&c.run_id)
            {
                left.push(format!("container {} (run {})", c.name, c.run_id));
            }
        }
        for id in &self.run_ids {
            left.extend(
                cgroups_of_run(id)
                    .into_iter()
                    .map(|p| format!("cgroup {}", p.display())),
            );
        }
        for dir in [&self.tmpdir, &self.out_dir] {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                left.push(format!("file {}", entry.path().display()));
            }
        }
        if !self.tag.is_empty() && image_exists(&self.tag) {
            left.push(format!("image tag {}", self.tag));
        }
        left
    }

    /// Panics unless [`Ended::leftovers`] is empty and the BPF objects slim held are gone
    /// from the kernel.
    pub fn assert_nothing_left(&self, held: &BpfObjects) {
        let left = self.leftovers();
        assert!(
            left.is_empty(),
            "slim left {left:?}; stderr:\n{}",
            self.stderr
        );
        held.assert_gone();
    }

    /// Removes the private directories (call after the checks).
    pub fn remove_dirs(&self) {
        let _ = std::fs::remove_dir_all(&self.tmpdir);
        let _ = std::fs::remove_dir_all(&self.out_dir);
    }
}

/// A container of a slim run, as the engine's API lists it.
#[derive(Clone, Debug)]
pub struct LabelledContainer {
    pub name: String,
    pub run_id: String,
}

/// Every container carrying the `slim.run` label, from the engine's API.
pub fn run_containers() -> Vec<LabelledContainer> {
    use bollard::query_parameters::ListContainersOptions;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let docker = bollard::Docker::connect_with_local_defaults().expect("the engine's socket");
        let filters =
            std::collections::HashMap::from([("label".to_string(), vec!["slim.run".to_string()])]);
        let listed = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .expect("listing containers through the engine's API");
        listed
            .into_iter()
            .filter_map(|c| {
                Some(LabelledContainer {
                    name: c.names?.first()?.trim_start_matches('/').to_string(),
                    run_id: c.labels?.get("slim.run")?.clone(),
                })
            })
            .collect()
    })
}

fn image_exists(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The cgroup directories of run `id` in every hierarchy under /sys/fs/cgroup (cgroupfs
/// and systemd placements).
pub fn cgroups_of_run(id: &str) -> Vec<PathBuf> {
    let names = [format!("slim-{id}"), format!("slim-{id}.slice")];
    let mut found = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![root.to_path_buf()];
    hierarchies.extend(
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    );
    for hierarchy in hierarchies {
        for parent in [hierarchy.clone(), hierarchy.join("slim.slice")] {
            for name in &names {
                let dir = parent.join(name);
                if dir.is_dir() {
                    found.push(dir);
                }
            }
        }
    }
    found
}

/// BPF program and link ids held by a process.
#[derive(Clone, Debug, Default)]
pub struct BpfObjects {
    pub programs: BTreeSet<u32>,
    pub links: BTreeSet<u32>,
}

const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
const BPF_LINK_GET_NEXT_ID: libc::c_long = 31;

impl BpfObjects {
    /// What `pid` holds, read from the `prog_id:` and `link_id:` lines of its fdinfo.
    pub fn held_by(pid: u32) -> BpfObjects {
        let mut held = BpfObjects::default();
        let dir = format!("/proc/{pid}/fdinfo");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for line in text.lines() {
                let mut kv = line.splitn(2, ':');
                let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
                    continue;
                };
                let Ok(id) = value.trim().parse::<u32>() else {
                    continue;
                };
                match key {
                    "prog_id" => {
                        held.programs.insert(id);
                    }
                    "link_id" => {
                        held.links.insert(id);
                    }
                    _ => {}
                }
            }
        }
        held
    }

    /// Every program and link loaded in the kernel now (the `bpf()` syscall's
    /// `*_GET_NEXT_ID` iteration).
    pub fn in_kernel() -> BpfObjects {
        BpfObjects {
            programs: bpf_ids(BPF_PROG_GET_NEXT_ID),
            links: bpf_ids(BPF_LINK_GET_NEXT_ID),
        }
    }

    /// Panics unless none of these programs and links is still in the kernel (the kernel
    /// frees them shortly after their last holder closes them: retried for 10 s).
    pub fn assert_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = BpfObjects::in_kernel();
            let programs: Vec<_> = self.programs.intersection(&now.programs).collect();
            let links: Vec<_> = self.links.intersection(&now.links).collect();
            if programs.is_empty() && links.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the probe is still in the kernel: programs {programs:?}, links {links:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn bpf_ids(command: libc::c_long) -> BTreeSet<u32> {
    // union bpf_attr for *_GET_NEXT_ID: start_id, next_id, open_flags.
    #[repr(C)]
    struct NextId {
        start_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let mut ids = BTreeSet::new();
    let mut attr = NextId {
        start_id: 0,
        next_id: 0,
        open_flags: 0,
    };
    loop {
        // SAFETY: bpf(2) reads and writes `attr`, whose size is passed along.
        let done = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                command,
                std::ptr::from_mut(&mut attr),
                std::mem::size_of::<NextId>(),
            )
        };
        if done != 0 {
            break;
        }
        ids.insert(attr.next_id);
        attr.start_id = attr.next_id;
    }
    ids
}

/// A Unix socket that forwards every connection to the engine's socket, until killed.
pub struct EngineProxy {
    pub path: PathBuf,
    killed: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<UnixStream>>>,
}

impl EngineProxy {
    /// Listens on a fresh socket in the fixture cache's tmp/ directory.
    pub fn start() -> EngineProxy {
        let dir = cache::dir().unwrap_or_else(|e| panic!("{e:#}")).join("tmp");
        std::fs::create_dir_all(&dir).expect("creating the cache's tmp/");
        let path = dir.join(format!("{}.sock", unique("engine-proxy")));
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).unwrap_or_else(|e| panic!("binding {}: {e}", path.display()));
        let killed = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let (k, conns) = (Arc::clone(&killed), Arc::clone(&connections));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if k.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
                    continue;
                };
                // Registered and checked under one lock: `kill` either sees this
                // connection and breaks it, or ran before and it is dropped here.
                let Ok(mut all) = conns.lock() else { break };
                if k.load(Ordering::SeqCst) {
                    break;
                }
                all.extend(client.try_clone().ok());
                all.extend(engine.try_clone().ok());
                drop(all);
                for (mut from, mut to) in [
                    (client.try_clone(), engine.try_clone()),
                    (engine.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        EngineProxy {
            path,
            killed,
            connections,
        }
    }

    /// `unix://<path>`, for DOCKER_HOST.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The engine goes away: the socket disappears and every open connection breaks.
    pub fn kill(&self) {
        let _ = std::fs::remove_file(&self.path);
        if let Ok(all) = self.connections.lock() {
            self.killed.store(true, Ordering::SeqCst);
            for c in all.iter() {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.kill();
    }
}
