//! Typed events decoded from the probe's ring buffer records.
//!
//! Decoding only: no path joining beyond turning the kernel's leaf-first directory names
//! into one absolute directory. Normalising paths is the trace stage's job.

use crate::abi;

/// The task (thread) a record came from. Pids are in the host's pid namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Thread group id (the process id).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The task's command name at the time of the record.
    pub comm: String,
    /// `CLOCK_MONOTONIC` time of the record in nanoseconds.
    pub ktime_ns: u64,
}

/// The traced system calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Syscall {
    Open,
    Openat,
    Openat2,
    Creat,
    Execve,
    Execveat,
    Stat,
    Lstat,
    Newfstatat,
    Statx,
    Access,
    Faccessat,
    Faccessat2,
    Readlink,
    Readlinkat,
    Chdir,
    Getdents64,
    Fchdir,
}

impl Syscall {
    const ALL: [Syscall; 18] = [
        Syscall::Open,
        Syscall::Openat,
        Syscall::Openat2,
        Syscall::Creat,
        Syscall::Execve,
        Syscall::Execveat,
        Syscall::Stat,
        Syscall::Lstat,
        Syscall::Newfstatat,
        Syscall::Statx,
        Syscall::Access,
        Syscall::Faccessat,
        Syscall::Faccessat2,
        Syscall::Readlink,
        Syscall::Readlinkat,
        Syscall::Chdir,
        Syscall::Getdents64,
        Syscall::Fchdir,
    ];

    /// Every traced system call.
    pub fn all() -> &'static [Syscall] {
        &Self::ALL
    }

    /// The number used for it in the records (`enum slim_syscall` in abi.h).
    pub fn abi_id(self) -> u32 {
        self as u32 + 1
    }

    fn from_abi_id(id: u32) -> Option<Syscall> {
        Self::ALL
            .get(usize::try_from(id.checked_sub(1)?).ok()?)
            .copied()
    }

    /// The system call's name in the kernel (`newstat` and `newlstat` for the `stat` and
    /// `lstat` that x86-64 programs call).
    pub fn name(self) -> &'static str {
        match self {
            Syscall::Open => "open",
            Syscall::Openat => "openat",
            Syscall::Openat2 => "openat2",
            Syscall::Creat => "creat",
            Syscall::Execve => "execve",
            Syscall::Execveat => "execveat",
            Syscall::Stat => "newstat",
            Syscall::Lstat => "newlstat",
            Syscall::Newfstatat => "newfstatat",
            Syscall::Statx => "statx",
            Syscall::Access => "access",
            Syscall::Faccessat => "faccessat",
            Syscall::Faccessat2 => "faccessat2",
            Syscall::Readlink => "readlink",
            Syscall::Readlinkat => "readlinkat",
            Syscall::Chdir => "chdir",
            Syscall::Getdents64 => "getdents64",
            Syscall::Fchdir => "fchdir",
        }
    }
}

/// Where a relative path argument starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// The path is absolute (or the call takes no path relative to a directory).
    None,
    /// The absolute directory, inside the task's root, that the path is relative to.
    Dir(Vec<u8>),
    /// The walk hit its depth or size limit: only the innermost part of the directory is
    /// known, without its leading part.
    Truncated(Vec<u8>),
    /// The directory is not below the task's root (for example a fd opened before a chroot).
    Unreachable,
    /// The directory fd was not open.
    BadFd,
}

/// A traced system call entering the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallEnter {
    pub task: Task,
    pub syscall: Syscall,
    /// The directory fd argument of `*at` calls and of `getdents64`/`fchdir`
    /// (`AT_FDCWD` = -100 for the working directory); -100 for calls without one.
    pub dirfd: i32,
    /// Open flags (`O_*`) for the open family, `AT_*` flags for the `*at` family.
    pub flags: u64,
    /// The path argument as passed; `None` if it could not be read.
    pub path: Option<Vec<u8>>,
    /// The path argument was longer than the probe copies.
    pub path_truncated: bool,
    /// The directory a relative path is resolved from.
    pub base: Base,
}

/// A traced system call returning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallExit {
    pub task: Task,
    pub syscall: Syscall,
    /// The raw return value: negative errno on failure.
    pub ret: i64,
    /// The path argument, read at return because it could not be read at entry (its page
    /// was not resident yet). `None` when the entry record already had it, and for an exec
    /// that succeeded (the old memory is gone: use the `Exec` event's filename).
    pub late_path: Option<Vec<u8>>,
}

/// One event from the probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Enter(SyscallEnter),
    Exit(SyscallExit),
    /// `parent` created a task (process or thread) with thread id `child_tid`.
    Fork {
        parent: Task,
        child_tid: u32,
    },
    /// `task` executed `filename` (the path as passed to exec); `task.comm` is the new name.
    Exec {
        task: Task,
        old_tid: u32,
        filename: Vec<u8>,
    },
    /// `task` exited.
    TaskExit {
        task: Task,
        exit_code: i32,
    },
}

/// Why a ring buffer record could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("malformed probe record ({len} bytes): {what}")]
pub struct DecodeError {
    pub len: usize,
    pub what: &'static str,
}

impl Event {
    /// Decodes one ring buffer record.
    pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
        let bad = |what| DecodeError {
            len: bytes.len(),
            what,
        };
        let hdr: abi::Header = abi::read(bytes).ok_or_else(|| bad("short header"))?;
        let task = task_of(&hdr);
        match hdr.kind {
            abi::KIND_SYS_ENTER => {
                let rec: abi::SysEnter = abi::read(bytes).ok_or_else(|| bad("short enter"))?;
                let syscall =
                    Syscall::from_abi_id(rec.syscall).ok_or_else(|| bad("unknown syscall"))?;
                let data = &bytes[size_of::<abi::SysEnter>()..];
                let path_len = rec.path_len as usize;
                let base_len = rec.base_len as usize;
                if data.len() < path_len + base_len {
                    return Err(bad("payload shorter than its lengths"));
                }
                let path = (rec.status & abi::PATH_FAULT == 0).then(|| data[..path_len].to_vec());
                let base = if rec.status & abi::BASE_BADFD != 0 {
                    Base::BadFd
                } else if rec.status & abi::BASE_UNREACHABLE != 0 {
                    Base::Unreachable
                } else if rec.status & abi::BASE_PRESENT != 0 {
                    let dir = join_leaf_first(&data[path_len..path_len + base_len]);
                    if rec.status & abi::BASE_TRUNCATED != 0 {
                        Base::Truncated(dir)
                    } else {
                        Base::Dir(dir)
                    }
                } else {
                    Base::None
                };
                Ok(Event::Enter(SyscallEnter {
                    task,
                    syscall,
                    dirfd: rec.dirfd,
                    flags: rec.flags,
                    path,
                    path_truncated: rec.status & abi::PATH_TRUNCATED != 0,
                    base,
                }))
            }
            abi::KIND_SYS_EXIT => {
                let rec: abi::SysExit = abi::read(bytes).ok_or_else(|| bad("short exit"))?;
                let syscall =
                    Syscall::from_abi_id(rec.syscall).ok_or_else(|| bad("unknown syscall"))?;
                let late_path = if rec.status & abi::EXIT_LATE_PATH != 0 {
                    let data = &bytes[size_of::<abi::SysExit>()..];
                    let len = rec.path_len as usize;
                    if data.len() < len {
                        return Err(bad("late path shorter than its length"));
                    }
                    Some(data[..len].to_vec())
                } else {
                    None
                };
                Ok(Event::Exit(SyscallExit {
                    task,
                    syscall,
                    ret: rec.ret,
                    late_path,
                }))
            }
            abi::KIND_FORK => {
                let rec: abi::Fork = abi::read(bytes).ok_or_else(|| bad("short fork"))?;
                Ok(Event::Fork {
                    parent: task,
                    child_tid: rec.child_tid,
                })
            }
            abi::KIND_EXEC => {
                let rec: abi::Exec = abi::read(bytes).ok_or_else(|| bad("short exec"))?;
                let data = &bytes[size_of::<abi::Exec>()..];
                let len = rec.filename_len as usize;
                if data.len() < len {
                    return Err(bad("exec filename shorter than its length"));
                }
                Ok(Event::Exec {
                    task,
                    old_tid: rec.old_tid,
                    filename: data[..len].to_vec(),
                })
            }
            abi::KIND_EXIT => {
                let rec: abi::Exit = abi::read(bytes).ok_or_else(|| bad("short task exit"))?;
                Ok(Event::TaskExit {
                    task,
                    exit_code: rec.exit_code,
                })
            }
            _ => Err(bad("unknown record kind")),
        }
    }
}

fn task_of(hdr: &abi::Header) -> Task {
    let end = hdr
        .comm
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(hdr.comm.len());
    Task {
        pid: hdr.pid,
        tid: hdr.tid,
        comm: String::from_utf8_lossy(&hdr.comm[..end]).into_owned(),
        ktime_ns: hdr.ktime_ns,
    }
}

/// Turns NUL-ended names, innermost first, into `/outer/.../inner` (`/` for none).
fn join_leaf_first(names: &[u8]) -> Vec<u8> {
    let parts: Vec<&[u8]> = names
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .collect();
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut dir = Vec::with_capacity(names.len() + 1);
    for name in parts.iter().rev() {
        dir.push(b'/');
        dir.extend_from_slice(name);
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_first_names_join_into_an_absolute_directory() {
        assert_eq!(join_leaf_first(b"etc\0"), b"/etc");
        assert_eq!(join_leaf_first(b"c\0b\0a\0"), b"/a/b/c");
        assert_eq!(join_leaf_first(b""), b"/");
    }

    #[test]
    fn syscall_ids_round_trip() {
        for &s in Syscall::all() {
            assert_eq!(Syscall::from_abi_id(s.abi_id()), Some(s));
        }
        assert_eq!(Syscall::from_abi_id(0), None);
        assert_eq!(Syscall::from_abi_id(19), None);
    }
}
