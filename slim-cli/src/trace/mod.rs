//! The trace stage: turns the probe's raw events into [`TraceRecord`]s, one per traced call
//! that returned (or never did), with its absolute, normalised path.
//!
//! Pure: it sees only the probe crate's event types, never the engine or the kernel, so it
//! is tested from hand-made events. Enter and exit records are paired per thread (a thread
//! makes one call at a time); an enter whose exit never comes gets the result `unknown` when
//! its task exits, or at the end.

mod errno;
pub mod path;
mod record;

use std::collections::{HashMap, HashSet};

use slim_probe_ebpf::{Base, Event, Syscall, SyscallEnter, SyscallExit, Task};

pub use record::{AccessKind, CallResult, Incomplete, TraceRecord, syscall_name};

/// The trace of one run: every traced access, in the order the calls returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub records: Vec<TraceRecord>,
    /// Probe events the trace was built from.
    pub events: u64,
    /// Calls on a descriptor that is no file of the container (a pipe, a socket, an
    /// anonymous inode, or a host file handed in): `fstat` on a pipe, for one. Counted, not
    /// recorded, since no image path stands behind them.
    pub non_file_calls: u64,
}

impl Trace {
    /// The number of distinct paths in the trace.
    pub fn unique_paths(&self) -> usize {
        self.records
            .iter()
            .map(|r| r.path.as_slice())
            .collect::<HashSet<_>>()
            .len()
    }
}

/// Builds a [`Trace`] from events fed in the order the probe emitted them.
#[derive(Debug, Default)]
pub struct TraceBuilder {
    /// The call each thread is in, by thread id.
    pending: HashMap<u32, SyscallEnter>,
    /// The command name each process got from its last exec, by process id.
    comm_by_pid: HashMap<u32, String>,
    /// A hash of each distinct path recorded so far, for a live count.
    paths_seen: HashSet<u64>,
    /// Record only the calls that found nothing ([`CallResult::is_missing`]).
    missing_only: bool,
    trace: Trace,
}

impl TraceBuilder {
    pub fn new() -> TraceBuilder {
        TraceBuilder::default()
    }

    /// Records only the calls that found nothing, when `yes` (paths are still counted).
    pub fn missing_only(mut self, yes: bool) -> TraceBuilder {
        self.missing_only = yes;
        self
    }

    /// Feeds one event.
    pub fn push(&mut self, event: Event) {
        self.trace.events += 1;
        match event {
            Event::Enter(enter) => {
                if let Some(unfinished) = self.pending.insert(enter.task.tid, enter) {
                    self.emit(unfinished, None);
                }
            }
            Event::Exit(exit) => {
                let Some(enter) = self.pending.remove(&exit.task.tid) else {
                    return;
                };
                if enter.syscall == exit.syscall {
                    self.emit(enter, Some(exit));
                } else {
                    // This exit's enter was never seen, and the pending call never returned.
                    self.emit(enter, None);
                }
            }
            Event::Exec {
                task,
                old_tid,
                filename,
            } => {
                // A thread other than the leader that execs takes over the process id.
                if old_tid != task.tid
                    && let Some(enter) = self.pending.remove(&old_tid)
                    && let Some(unfinished) = self.pending.insert(task.tid, enter)
                {
                    self.emit(unfinished, None);
                }
                // The path of an execve that could not be read at entry is lost with the old
                // memory; the kernel's copy of it arrives here.
                if let Some(enter) = self.pending.get_mut(&task.tid)
                    && enter.syscall == Syscall::Execve
                    && enter.path.is_none()
                {
                    enter.path = Some(filename);
                }
                self.comm_by_pid.insert(task.pid, task.comm);
            }
            Event::Fork { .. } => {}
            Event::TaskExit { task, .. } => {
                if let Some(unfinished) = self.pending.remove(&task.tid) {
                    self.emit(unfinished, None);
                }
                if task.tid == task.pid {
                    self.comm_by_pid.remove(&task.pid);
                }
            }
        }
    }

    /// How many distinct paths were recorded so far (by hash: cheap enough to ask after
    /// every batch).
    pub fn paths_seen(&self) -> usize {
        self.paths_seen.len()
    }

    /// The records so far, in the order the calls returned (new ones are appended).
    pub fn records(&self) -> &[TraceRecord] {
        &self.trace.records
    }

    /// Feeds several events.
    pub fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.push(event);
        }
    }

    /// The trace so far, with every call still pending recorded as `unknown`.
    pub fn finish(mut self) -> Trace {
        let mut unfinished: Vec<SyscallEnter> = self.pending.drain().map(|(_, e)| e).collect();
        unfinished.sort_by_key(|e| e.task.ktime_ns);
        for enter in unfinished {
            self.emit(enter, None);
        }
        self.trace
    }

    fn emit(&mut self, enter: SyscallEnter, exit: Option<SyscallExit>) {
        let late_path = exit.as_ref().and_then(|x| x.late_path.as_deref());
        if is_descriptor_outside_root(&enter, late_path) {
            self.trace.non_file_calls += 1;
            return;
        }
        let (path, incomplete) = locate(&enter, late_path);
        let task: &Task = exit.as_ref().map_or(&enter.task, |x| &x.task);
        let comm = self
            .comm_by_pid
            .get(&task.pid)
            .unwrap_or(&task.comm)
            .clone();
        self.paths_seen.insert(path_hash(&path));
        let result = exit
            .as_ref()
            .map_or(CallResult::Unknown, |x| CallResult::from_return(x.ret));
        if self.missing_only && !result.is_missing() {
            return;
        }
        self.trace.records.push(TraceRecord {
            path,
            kind: AccessKind::of(enter.syscall),
            syscall: enter.syscall,
            result,
            pid: task.pid,
            tid: task.tid,
            comm,
            nofollow: is_nofollow(enter.syscall, enter.flags),
            write: is_write(enter.syscall, enter.flags),
            incomplete,
        });
    }
}

fn path_hash(path: &[u8]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(path)
}

const AT_SYMLINK_NOFOLLOW: u64 = libc::AT_SYMLINK_NOFOLLOW as u64;
const O_NOFOLLOW: u64 = libc::O_NOFOLLOW as u64;
const O_WRITING: u64 = (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC) as u64;

/// Whether the call leaves a symlink in the last component unfollowed.
fn is_nofollow(syscall: Syscall, flags: u64) -> bool {
    match syscall {
        Syscall::Lstat | Syscall::Readlink | Syscall::Readlinkat => true,
        Syscall::Newfstatat | Syscall::Statx | Syscall::Faccessat2 | Syscall::Execveat => {
            flags & AT_SYMLINK_NOFOLLOW != 0
        }
        Syscall::Open | Syscall::Openat | Syscall::Openat2 | Syscall::Creat => {
            flags & O_NOFOLLOW != 0
        }
        _ => false,
    }
}

/// Whether the call opens for writing, creating or truncating.
fn is_write(syscall: Syscall, flags: u64) -> bool {
    match syscall {
        Syscall::Creat => true,
        Syscall::Open | Syscall::Openat | Syscall::Openat2 => flags & O_WRITING != 0,
        _ => false,
    }
}

/// Whether the call names only a descriptor (no path, or the empty path) whose file lies
/// outside the task's root: pipes, sockets and anonymous inodes live on internal mounts.
fn is_descriptor_outside_root(enter: &SyscallEnter, late_path: Option<&[u8]>) -> bool {
    let names_only_fd = match enter.syscall {
        Syscall::Getdents64 | Syscall::Fchdir => true,
        _ => enter.path.as_deref().or(late_path) == Some(b""),
    };
    names_only_fd && enter.base == Base::Unreachable
}

/// The path a call accessed, from its path argument (or the one read at its return) and
/// the base directory the probe resolved, and why it is incomplete if it is.
fn locate(enter: &SyscallEnter, late_path: Option<&[u8]>) -> (Vec<u8>, Option<Incomplete>) {
    let takes_path = !matches!(enter.syscall, Syscall::Getdents64 | Syscall::Fchdir);
    let given: &[u8] = if takes_path {
        match enter.path.as_deref().or(late_path) {
            Some(given) => given,
            None => return (Vec::new(), Some(Incomplete::Fault)),
        }
    } else {
        b""
    };
    let truncated = enter.path_truncated.then_some(Incomplete::Truncated);
    if given.first() == Some(&b'/') {
        return (path::normalize(given), truncated);
    }
    match &enter.base {
        Base::Dir(dir) => (path::resolve(dir, given), truncated),
        Base::Truncated(part) => (path::resolve(part, given), Some(Incomplete::Truncated)),
        Base::BadFd => (given.to_vec(), Some(Incomplete::BadFd)),
        Base::Unreachable | Base::None => (given.to_vec(), Some(Incomplete::Unreachable)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(pid: u32, tid: u32, comm: &str, ktime_ns: u64) -> Task {
        Task {
            pid,
            tid,
            comm: comm.into(),
            ktime_ns,
        }
    }

    fn enter(tid: u32, syscall: Syscall, path: Option<&[u8]>, base: Base) -> Event {
        Event::Enter(SyscallEnter {
            task: task(tid, tid, "sh", u64::from(tid)),
            syscall,
            dirfd: -100,
            flags: 0,
            path: path.map(<[u8]>::to_vec),
            path_truncated: false,
            base,
        })
    }

    fn enter_with_flags(tid: u32, syscall: Syscall, path: &[u8], flags: u64) -> Event {
        let Event::Enter(mut e) = enter(tid, syscall, Some(path), Base::None) else {
            unreachable!()
        };
        e.flags = flags;
        Event::Enter(e)
    }

    fn exit(tid: u32, syscall: Syscall, ret: i64) -> Event {
        Event::Exit(SyscallExit {
            task: task(tid, tid, "sh", u64::from(tid) + 1),
            syscall,
            ret,
            late_path: None,
        })
    }

    fn build(events: Vec<Event>) -> Trace {
        let mut builder = TraceBuilder::new();
        builder.extend(events);
        builder.finish()
    }

    fn paths(trace: &Trace) -> Vec<String> {
        trace
            .records
            .iter()
            .map(|r| String::from_utf8_lossy(&r.path).into_owned())
            .collect()
    }

    #[test]
    fn enter_and_exit_on_one_thread_make_one_record() {
        let trace = build(vec![
            enter(10, Syscall::Openat, Some(b"/etc/passwd"), Base::None),
            exit(10, Syscall::Openat, 3),
        ]);
        assert_eq!(trace.events, 2);
        assert_eq!(
            trace.records,
            vec![TraceRecord {
                path: b"/etc/passwd".to_vec(),
                kind: AccessKind::Open,
                syscall: Syscall::Openat,
                result: CallResult::Ok,
                pid: 10,
                tid: 10,
                comm: "sh".into(),
                nofollow: false,
                write: false,
                incomplete: None,
            }]
        );
    }

    #[test]
    fn interleaved_threads_pair_by_thread_and_record_in_return_order() {
        let trace = build(vec![
            enter(1, Syscall::Openat, Some(b"/a"), Base::None),
            enter(2, Syscall::Stat, Some(b"/b"), Base::None),
            exit(2, Syscall::Stat, -i64::from(libc::ENOENT)),
            exit(1, Syscall::Openat, 4),
        ]);
        assert_eq!(paths(&trace), ["/b", "/a"]);
        assert_eq!(trace.records[0].result, CallResult::Failed(libc::ENOENT));
        assert_eq!(trace.records[0].tid, 2);
        assert_eq!(trace.records[1].result, CallResult::Ok);
    }

    #[test]
    fn missing_only_keeps_the_lookups_that_found_nothing_and_counts_every_path() {
        let mut builder = TraceBuilder::new().missing_only(true);
        builder.extend(vec![
            enter(1, Syscall::Openat, Some(b"/a"), Base::None),
            exit(1, Syscall::Openat, 4),
            enter(1, Syscall::Stat, Some(b"/b"), Base::None),
            exit(1, Syscall::Stat, -i64::from(libc::ENOENT)),
            enter(1, Syscall::Openat, Some(b"/c"), Base::None),
            exit(1, Syscall::Openat, -i64::from(libc::EPERM)),
        ]);
        assert_eq!(builder.paths_seen(), 3);
        let trace = builder.finish();
        assert_eq!(paths(&trace), ["/b"]);
    }

    #[test]
    fn exit_without_enter_is_ignored() {
        let trace = build(vec![exit(1, Syscall::Openat, 3)]);
        assert!(trace.records.is_empty());
    }

    #[test]
    fn enter_without_exit_is_unknown_when_its_task_exits() {
        let trace = build(vec![
            enter(7, Syscall::Openat, Some(b"/fifo"), Base::None),
            enter(8, Syscall::Openat, Some(b"/other"), Base::None),
            Event::TaskExit {
                task: task(7, 7, "sh", 50),
                exit_code: 9,
            },
            exit(8, Syscall::Openat, 3),
        ]);
        assert_eq!(paths(&trace), ["/fifo", "/other"]);
        assert_eq!(trace.records[0].result, CallResult::Unknown);
    }

    #[test]
    fn enter_without_exit_is_unknown_at_the_end() {
        // The runtime's exec of a missing entrypoint: no exit is ever recorded.
        let trace = build(vec![enter(5, Syscall::Execve, Some(b"/nope"), Base::None)]);
        assert_eq!(trace.records.len(), 1);
        assert_eq!(trace.records[0].result, CallResult::Unknown);
        assert_eq!(trace.records[0].kind, AccessKind::Exec);
    }

    #[test]
    fn a_new_enter_on_a_busy_thread_finishes_the_old_one_as_unknown() {
        let trace = build(vec![
            enter(3, Syscall::Openat, Some(b"/first"), Base::None),
            enter(3, Syscall::Stat, Some(b"/second"), Base::None),
            exit(3, Syscall::Stat, 0),
        ]);
        assert_eq!(paths(&trace), ["/first", "/second"]);
        assert_eq!(trace.records[0].result, CallResult::Unknown);
        assert_eq!(trace.records[1].result, CallResult::Ok);
    }

    #[test]
    fn an_exit_of_another_syscall_does_not_pair() {
        let trace = build(vec![
            enter(3, Syscall::Openat, Some(b"/first"), Base::None),
            exit(3, Syscall::Stat, 0),
        ]);
        assert_eq!(trace.records.len(), 1);
        assert_eq!(trace.records[0].syscall, Syscall::Openat);
        assert_eq!(trace.records[0].result, CallResult::Unknown);
    }

    #[test]
    fn relative_paths_join_their_base() {
        let trace = build(vec![
            enter(
                1,
                Syscall::Openat,
                Some(b"passwd"),
                Base::Dir(b"/etc".to_vec()),
            ),
            exit(1, Syscall::Openat, 3),
            enter(
                1,
                Syscall::Stat,
                Some(b"../bin/./sh"),
                Base::Dir(b"/etc".to_vec()),
            ),
            exit(1, Syscall::Stat, 0),
            enter(
                1,
                Syscall::Newfstatat,
                Some(b""),
                Base::Dir(b"/usr/lib".to_vec()),
            ),
            exit(1, Syscall::Newfstatat, 0),
            enter(1, Syscall::Getdents64, None, Base::Dir(b"/var".to_vec())),
            exit(1, Syscall::Getdents64, 48),
            enter(1, Syscall::Fchdir, None, Base::Dir(b"/".to_vec())),
            exit(1, Syscall::Fchdir, 0),
        ]);
        assert_eq!(
            paths(&trace),
            ["/etc/passwd", "/bin/sh", "/usr/lib", "/var", "/"]
        );
        assert!(trace.records.iter().all(|r| r.incomplete.is_none()));
        assert_eq!(trace.records[3].kind, AccessKind::List);
        assert_eq!(trace.records[4].kind, AccessKind::Chdir);
    }

    #[test]
    fn absolute_paths_are_normalised_and_ignore_the_base() {
        let trace = build(vec![
            enter(
                1,
                Syscall::Openat,
                Some(b"//bin/../etc/"),
                Base::Dir(b"/x".into()),
            ),
            exit(1, Syscall::Openat, 3),
        ]);
        assert_eq!(paths(&trace), ["/etc"]);
    }

    #[test]
    fn unresolvable_paths_are_marked_incomplete() {
        let trace = build(vec![
            enter(
                1,
                Syscall::Openat,
                Some(b"f"),
                Base::Truncated(b"/deep/dir".into()),
            ),
            exit(1, Syscall::Openat, 3),
            enter(1, Syscall::Openat, Some(b"f"), Base::Unreachable),
            exit(1, Syscall::Openat, 3),
            enter(1, Syscall::Openat, Some(b"./f"), Base::BadFd),
            exit(1, Syscall::Openat, -i64::from(libc::EBADF)),
            enter(1, Syscall::Openat, None, Base::Dir(b"/".into())),
            exit(1, Syscall::Openat, -i64::from(libc::EFAULT)),
        ]);
        assert_eq!(paths(&trace), ["/deep/dir/f", "f", "./f", ""]);
        let incomplete: Vec<_> = trace.records.iter().map(|r| r.incomplete).collect();
        assert_eq!(
            incomplete,
            [
                Some(Incomplete::Truncated),
                Some(Incomplete::Unreachable),
                Some(Incomplete::BadFd),
                Some(Incomplete::Fault)
            ]
        );
        assert_eq!(trace.records[3].result, CallResult::Failed(libc::EFAULT));
    }

    #[test]
    fn fstat_on_a_pipe_is_counted_not_recorded() {
        let trace = build(vec![
            enter(1, Syscall::Newfstatat, Some(b""), Base::Unreachable),
            exit(1, Syscall::Newfstatat, 0),
            enter(1, Syscall::Getdents64, None, Base::Unreachable),
            exit(1, Syscall::Getdents64, 0),
            enter(1, Syscall::Newfstatat, Some(b""), Base::Dir(b"/etc".into())),
            exit(1, Syscall::Newfstatat, 0),
        ]);
        assert_eq!(paths(&trace), ["/etc"]);
        assert_eq!(trace.non_file_calls, 2);
    }

    #[test]
    fn a_truncated_path_argument_is_marked_truncated() {
        let Event::Enter(mut e) = enter(1, Syscall::Stat, Some(b"/very/long"), Base::None) else {
            unreachable!()
        };
        e.path_truncated = true;
        let trace = build(vec![Event::Enter(e), exit(1, Syscall::Stat, 0)]);
        assert_eq!(trace.records[0].incomplete, Some(Incomplete::Truncated));
        assert_eq!(trace.records[0].path, b"/very/long");
    }

    #[test]
    fn a_path_read_late_at_exit_is_used() {
        let Event::Exit(mut x) = exit(1, Syscall::Openat, 3) else {
            unreachable!()
        };
        x.late_path = Some(b"lib.so".to_vec());
        let trace = build(vec![
            enter(1, Syscall::Openat, None, Base::Dir(b"/usr/lib".into())),
            Event::Exit(x),
        ]);
        assert_eq!(paths(&trace), ["/usr/lib/lib.so"]);
        assert_eq!(trace.records[0].incomplete, None);
    }

    #[test]
    fn an_exec_path_unread_at_entry_comes_from_the_exec_event() {
        let trace = build(vec![
            enter(4, Syscall::Execve, None, Base::Dir(b"/app".into())),
            Event::Exec {
                task: task(4, 4, "run", 9),
                old_tid: 4,
                filename: b"./run".to_vec(),
            },
            exit(4, Syscall::Execve, 0),
        ]);
        assert_eq!(paths(&trace), ["/app/run"]);
        assert_eq!(trace.records[0].comm, "run");
    }

    #[test]
    fn kinds_follow_the_syscall() {
        let cases = [
            (Syscall::Open, AccessKind::Open),
            (Syscall::Openat, AccessKind::Open),
            (Syscall::Openat2, AccessKind::Open),
            (Syscall::Creat, AccessKind::Open),
            (Syscall::Execve, AccessKind::Exec),
            (Syscall::Execveat, AccessKind::Exec),
            (Syscall::Stat, AccessKind::Stat),
            (Syscall::Lstat, AccessKind::Stat),
            (Syscall::Newfstatat, AccessKind::Stat),
            (Syscall::Statx, AccessKind::Stat),
            (Syscall::Access, AccessKind::Access),
            (Syscall::Faccessat, AccessKind::Access),
            (Syscall::Faccessat2, AccessKind::Access),
            (Syscall::Readlink, AccessKind::Readlink),
            (Syscall::Readlinkat, AccessKind::Readlink),
            (Syscall::Getdents64, AccessKind::List),
            (Syscall::Chdir, AccessKind::Chdir),
            (Syscall::Fchdir, AccessKind::Chdir),
        ];
        assert_eq!(cases.len(), Syscall::all().len());
        for (syscall, kind) in cases {
            let trace = build(vec![
                enter(1, syscall, Some(b"/p"), Base::None),
                exit(1, syscall, 0),
            ]);
            assert_eq!(trace.records[0].kind, kind, "{syscall:?}");
        }
    }

    #[test]
    fn nofollow_comes_from_the_syscall_or_its_flags() {
        let nofollow = |syscall, flags| {
            build(vec![
                enter_with_flags(1, syscall, b"/p", flags),
                exit(1, syscall, 0),
            ])
            .records[0]
                .nofollow
        };
        assert!(nofollow(Syscall::Lstat, 0));
        assert!(nofollow(Syscall::Readlink, 0));
        assert!(nofollow(Syscall::Readlinkat, 0));
        assert!(!nofollow(Syscall::Stat, 0));
        for syscall in [
            Syscall::Newfstatat,
            Syscall::Statx,
            Syscall::Faccessat2,
            Syscall::Execveat,
        ] {
            assert!(nofollow(syscall, 0x100), "{syscall:?}");
            assert!(!nofollow(syscall, 0x1000), "{syscall:?}");
        }
        assert!(nofollow(Syscall::Openat, libc::O_NOFOLLOW as u64));
        assert!(nofollow(Syscall::Openat2, libc::O_NOFOLLOW as u64));
        assert!(!nofollow(Syscall::Openat, 0));
        // AT_SYMLINK_NOFOLLOW's bit means something else to open.
        assert!(!nofollow(Syscall::Openat, 0x100) || libc::O_NOFOLLOW == 0x100);
    }

    #[test]
    fn write_comes_from_open_flags() {
        let write = |syscall, flags: i32| {
            build(vec![
                enter_with_flags(1, syscall, b"/p", flags as u64),
                exit(1, syscall, 3),
            ])
            .records[0]
                .write
        };
        assert!(!write(Syscall::Openat, libc::O_RDONLY));
        assert!(!write(Syscall::Openat, libc::O_RDONLY | libc::O_CLOEXEC));
        assert!(write(Syscall::Openat, libc::O_WRONLY));
        assert!(write(Syscall::Openat, libc::O_RDWR));
        assert!(write(Syscall::Open, libc::O_CREAT));
        assert!(write(Syscall::Openat2, libc::O_TRUNC));
        assert!(write(Syscall::Creat, 0));
        assert!(!write(Syscall::Newfstatat, libc::O_WRONLY));
    }

    #[test]
    fn comm_is_the_process_name_from_its_last_exec() {
        let mut thread_enter = enter(21, Syscall::Openat, Some(b"/t"), Base::None);
        let mut thread_exit = exit(21, Syscall::Openat, 3);
        for task in [&mut thread_enter, &mut thread_exit] {
            match task {
                Event::Enter(SyscallEnter { task, .. }) | Event::Exit(SyscallExit { task, .. }) => {
                    task.pid = 20;
                    task.comm = "worker-1".into();
                }
                _ => unreachable!(),
            }
        }
        let trace = build(vec![
            enter(20, Syscall::Execve, Some(b"/bin/cat"), Base::None),
            Event::Exec {
                task: task(20, 20, "cat", 5),
                old_tid: 20,
                filename: b"/bin/cat".to_vec(),
            },
            exit(20, Syscall::Execve, 0),
            thread_enter,
            thread_exit,
        ]);
        assert_eq!(trace.records[0].comm, "cat");
        assert_eq!(trace.records[1].comm, "cat");
        assert_eq!(trace.records[1].tid, 21);
    }

    #[test]
    fn exec_from_a_non_leader_thread_keeps_its_pending_call() {
        let Event::Enter(mut e) = enter(31, Syscall::Execve, Some(b"/bin/true"), Base::None) else {
            unreachable!()
        };
        e.task.pid = 30;
        let trace = build(vec![
            Event::Enter(e),
            Event::Exec {
                task: task(30, 30, "true", 9),
                old_tid: 31,
                filename: b"/bin/true".to_vec(),
            },
            exit(30, Syscall::Execve, 0),
        ]);
        assert_eq!(trace.records.len(), 1);
        assert_eq!(trace.records[0].result, CallResult::Ok);
        assert_eq!((trace.records[0].pid, trace.records[0].tid), (30, 30));
    }

    #[test]
    fn non_utf8_paths_stay_bytes() {
        let trace = build(vec![
            enter(
                1,
                Syscall::Openat,
                Some(b"caf\xe9"),
                Base::Dir(b"/d\xff".into()),
            ),
            exit(1, Syscall::Openat, 3),
        ]);
        assert_eq!(trace.records[0].path, b"/d\xff/caf\xe9");
        let json = serde_json::to_string(&trace.records[0]).unwrap();
        assert!(
            json.contains(r#""path_bytes":[47,100,255,47,99,97,102,233]"#),
            "{json}"
        );
    }

    #[test]
    fn unique_paths_count_each_path_once() {
        let mut builder = TraceBuilder::new();
        builder.extend(vec![
            enter(1, Syscall::Stat, Some(b"/a"), Base::None),
            exit(1, Syscall::Stat, 0),
            enter(1, Syscall::Openat, Some(b"a"), Base::Dir(b"/".into())),
            exit(1, Syscall::Openat, 3),
            enter(1, Syscall::Openat, Some(b"/b"), Base::None),
            exit(1, Syscall::Openat, 3),
        ]);
        assert_eq!(builder.paths_seen(), 2, "the live count");
        let trace = builder.finish();
        assert_eq!(trace.records.len(), 3);
        assert_eq!(trace.unique_paths(), 2);
    }
}
