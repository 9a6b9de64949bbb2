//! The one way the tests run the real `slim` binary: [`SlimProcess`] starts it (or a
//! program that runs it) with no stdin, its stderr read line by line as it comes and its
//! stdout collected or dropped; sends it signals; waits for it within a time limit,
//! interrupting it as a user would, then killing it, past the limit; and reads back how it
//! ended ([`Ended`]), with the runs it announced. `slim trace` ([`crate::TraceCommand`]),
//! `slim build` ([`crate::BuildCommand`]) and the interrupt tests
//! ([`SlimProcess::build`] …) all start slim here.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use slim_test_kit::announced_run_ids;

use crate::cache::Lock;

/// How long slim gets to clean up after SIGINT before it is killed.
const GRACE: Duration = Duration::from_secs(20);

/// What a test gave the slim it starts besides its command line: the names of what it
/// makes, directories of its own, and the lock it holds while slim runs.
#[derive(Debug, Default)]
pub struct Start {
    /// Collect stdout (otherwise it goes to /dev/null).
    pub keep_stdout: bool,
    /// Its `--name`, if the test chose one.
    pub name: String,
    /// Its `--tag`, if the test chose one.
    pub tag: String,
    /// Its private TMPDIR, if it has one.
    pub tmpdir: PathBuf,
    /// A directory for its outputs, if it has one.
    pub out_dir: PathBuf,
    /// Held until slim has ended and its leftovers are checked.
    pub lock: Option<Lock>,
}

/// A `slim` process started by a test.
pub struct SlimProcess {
    child: Child,
    /// The wait status and peak memory (KiB), once reaped.
    reaped: Option<(libc::c_int, u64)>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    started: Instant,
    command: String,
    /// Its private TMPDIR, if it has one: empty once slim has cleaned up.
    pub tmpdir: PathBuf,
    /// Its directory for `--output`, if it has one: empty unless a build succeeded.
    pub out_dir: PathBuf,
    /// Its `--name`, if the test chose one.
    pub name: String,
    /// Its `--tag`, if the test chose one.
    pub tag: String,
    lock: Option<Lock>,
}

/// How a [`SlimProcess`] ended.
#[derive(Debug)]
pub struct Ended {
    /// The command line, for messages.
    pub command: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stderr: String,
    /// Its stdout, when kept.
    pub stdout: Vec<u8>,
    /// How long it took from the moment it was waited for.
    pub waited: Duration,
    /// How long it ran.
    pub wall: Duration,
    /// Its peak resident memory, KiB: the highest `VmHWM` read while it ran (see
    /// [`SlimProcess::wait_within`]).
    pub max_rss_kib: u64,
    /// The run ids it announced (`run <id>: cgroup …`), in order.
    pub run_ids: Vec<String>,
    pub name: String,
    pub tag: String,
    pub tmpdir: PathBuf,
    pub out_dir: PathBuf,
    pub pid: u32,
    /// The lock stays held until the checks are done (and any recovery run).
    _lock: Option<Lock>,
}

impl SlimProcess {
    /// Starts `cmd`: slim, or a program that runs it.
    pub fn start(mut cmd: Command, start: Start) -> SlimProcess {
        let command = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(if start.keep_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command}: {e}"));
        let started = Instant::now();
        let stdout = child.stdout.take().map(drain);
        let (tx, lines) = channel();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let all = Arc::clone(&stderr);
        let mut pipe = BufReader::new(child.stderr.take().expect("piped stderr"));
        let reader = std::thread::spawn(move || {
            let mut line = Vec::new();
            while pipe.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                if let Ok(mut all) = all.lock() {
                    all.extend_from_slice(&line);
                }
                let text = String::from_utf8_lossy(&line);
                let _ = tx.send(text.trim_end_matches('\n').to_string());
                line.clear();
            }
        });
        SlimProcess {
            child,
            reaped: None,
            lines,
            stderr,
            reader: Some(reader),
            stdout,
            started,
            command,
            tmpdir: start.tmpdir,
            out_dir: start.out_dir,
            name: start.name,
            tag: start.tag,
            lock: start.lock,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> &str {
        &self.command
    }

    /// Whether slim has not exited yet.
    pub fn is_running(&mut self) -> bool {
        self.try_reap().is_none()
    }

    /// Everything slim wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .unwrap_or_default()
    }

    /// Waits for a stderr line containing `needle`; panics with the stderr if slim exits
    /// or 180 s pass first.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => panic!(
                    "`{}` never wrote a line with {needle:?}; stderr:\n{}",
                    self.command,
                    self.stderr()
                ),
            }
        }
    }

    /// Sends `signal` (e.g. `libc::SIGINT`) to slim.
    pub fn signal(&self, signal: libc::c_int) {
        assert!(
            self.send(signal),
            "kill: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Sends SIGINT, as Ctrl-C would.
    pub fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }

    fn send(&self, signal: libc::c_int) -> bool {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return false;
        };
        // SAFETY: kill(2) on our own child, not yet reaped (the callers check); no memory
        // is involved.
        self.reaped.is_none() && unsafe { libc::kill(pid, signal) } == 0
    }

    /// slim's peak resident memory so far, KiB (`VmHWM` of its own address space), while
    /// it runs.
    fn high_water_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Reaps slim if it has exited: its wait status and peak memory.
    fn try_reap(&mut self) -> Option<(libc::c_int, u64)> {
        if self.reaped.is_none() {
            let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
            let mut status = 0;
            // SAFETY: an all-zero rusage is a valid value of this plain C struct.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: wait4 on our own child with pointers to live locals.
            let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if rc == pid {
                self.reaped = Some((status, u64::try_from(usage.ru_maxrss).unwrap_or_default()));
            }
        }
        self.reaped
    }

    /// Interrupts slim, gives it [`GRACE`] to clean up, then kills it; reaps it.
    fn stop(&mut self) {
        if self.try_reap().is_some() {
            return;
        }
        self.send(libc::SIGINT);
        let grace = Instant::now() + GRACE;
        while Instant::now() < grace && self.try_reap().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.try_reap().is_none() {
            let _ = self.child.kill();
            while self.try_reap().is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Waits for slim to exit. Past `limit` it is interrupted, then killed, and `Err`
    /// carries what it wrote to stderr.
    ///
    /// Its peak memory is read from its own address space while it runs, every 20 ms:
    /// the `ru_maxrss` that `wait4` gives counts the address space it was spawned from
    /// (this test process, which may hold large reports), not only slim's own.
    pub fn wait_within(mut self, limit: Duration) -> Result<Ended, String> {
        let called = Instant::now();
        let deadline = called + limit;
        let mut high_water = 0;
        let (status, max_rss_kib) = loop {
            if let Some(kib) = self.high_water_kib() {
                high_water = high_water.max(kib);
            }
            if let Some((status, maxrss)) = self.try_reap() {
                break (status, if high_water > 0 { high_water } else { maxrss });
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let waited = called.elapsed();
        let wall = self.started.elapsed();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let stdout = self
            .stdout
            .take()
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self.stderr();
        Ok(Ended {
            command: self.command.clone(),
            code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
            run_ids: announced_run_ids(&stderr),
            stderr,
            stdout,
            waited,
            wall,
            max_rss_kib,
            name: std::mem::take(&mut self.name),
            tag: std::mem::take(&mut self.tag),
            tmpdir: std::mem::take(&mut self.tmpdir),
            out_dir: std::mem::take(&mut self.out_dir),
            pid: self.child.id(),
            _lock: self.lock.take(),
        })
    }
}

/// Reads `pipe` to its end on a thread of its own.
pub(crate) fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

impl Drop for SlimProcess {
    /// A test that panics while slim runs must not leave it running.
    fn drop(&mut self) {
        self.stop();
    }
}

impl Ended {
    /// Panics with the stderr unless slim exited with `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "`{}` exit code (waited {:?}); stderr:\n{}",
            self.command,
            self.waited,
            self.stderr
        );
        self
    }
}
