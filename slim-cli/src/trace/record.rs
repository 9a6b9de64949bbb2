//! One traced file access, and its JSON Lines form: the output contract of `slim trace`.
//!
//! ```json
//! {"path":"/etc/passwd","kind":"open","syscall":"openat","result":"ok","pid":1234,"tid":1234,"comm":"cat"}
//! ```
//!
//! Fields appear in that order; the optional `nofollow`, `write`, `incomplete` and
//! `path_bytes` follow only when they say something (`path_bytes` holds the raw path when it
//! is not valid UTF-8, and `path` then holds its lossy form).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use slim_probe_ebpf::Syscall;

use super::errno;

/// How a path was accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccessKind {
    /// open, openat, openat2, creat
    Open,
    /// execve, execveat
    Exec,
    /// stat, lstat, newfstatat, statx
    Stat,
    /// access, faccessat, faccessat2
    Access,
    /// readlink, readlinkat
    Readlink,
    /// getdents64: the directory was listed
    List,
    /// chdir, fchdir
    Chdir,
}

impl AccessKind {
    /// The kind of access a system call makes.
    pub fn of(syscall: Syscall) -> AccessKind {
        match syscall {
            Syscall::Open | Syscall::Openat | Syscall::Openat2 | Syscall::Creat => AccessKind::Open,
            Syscall::Execve | Syscall::Execveat => AccessKind::Exec,
            Syscall::Stat | Syscall::Lstat | Syscall::Newfstatat | Syscall::Statx => {
                AccessKind::Stat
            }
            Syscall::Access | Syscall::Faccessat | Syscall::Faccessat2 => AccessKind::Access,
            Syscall::Readlink | Syscall::Readlinkat => AccessKind::Readlink,
            Syscall::Getdents64 => AccessKind::List,
            Syscall::Chdir | Syscall::Fchdir => AccessKind::Chdir,
        }
    }
}

/// How a traced call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallResult {
    /// It returned a non-negative value.
    Ok,
    /// It failed with this errno.
    Failed(i32),
    /// It never returned (its task was killed mid-call, or the runtime's exec of the
    /// entrypoint failed before the task was tracked).
    Unknown,
}

impl CallResult {
    /// Whether the call failed because the file it wanted was not there or not reachable.
    pub fn is_missing(self) -> bool {
        matches!(
            self,
            CallResult::Failed(e)
                if e == libc::ENOENT || e == libc::ENOTDIR || e == libc::ELOOP || e == libc::EACCES
        )
    }

    /// The result of a raw system call return value (negative errno on failure).
    pub fn from_return(ret: i64) -> CallResult {
        if ret >= 0 {
            CallResult::Ok
        } else {
            CallResult::Failed(i32::try_from(-ret).unwrap_or(i32::MAX))
        }
    }

    /// `ok`, `unknown` or the errno's name (`ENOENT`), as the trace output writes it.
    pub fn to_wire(self) -> Cow<'static, str> {
        match self {
            CallResult::Ok => Cow::Borrowed("ok"),
            CallResult::Unknown => Cow::Borrowed("unknown"),
            CallResult::Failed(errno) => Cow::Owned(errno::name(errno)),
        }
    }

    fn from_wire(text: &str) -> Option<CallResult> {
        match text {
            "ok" => Some(CallResult::Ok),
            "unknown" => Some(CallResult::Unknown),
            name => errno::from_name(name).map(CallResult::Failed),
        }
    }
}

/// Why a record's path is not the full path of the access; the path then holds what is
/// known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Incomplete {
    /// The path argument or its base directory was longer than the probe copies: the path
    /// holds the known part.
    Truncated,
    /// The base directory lies outside the task's root: the path holds the relative path.
    Unreachable,
    /// The directory fd was not open: the path holds the relative path.
    #[serde(rename = "badfd")]
    BadFd,
    /// The path argument could not be read: the path is empty.
    Fault,
}

/// The name a system call has in the trace output: its name in the system call table
/// (`stat`, `lstat`), where the kernel's tracepoint names differ (`newstat`, `newlstat`).
pub fn syscall_name(syscall: Syscall) -> &'static str {
    match syscall {
        Syscall::Stat => "stat",
        Syscall::Lstat => "lstat",
        other => other.name(),
    }
}

fn syscall_from_name(name: &str) -> Option<Syscall> {
    Syscall::all()
        .iter()
        .copied()
        .find(|&s| syscall_name(s) == name)
}

/// One file access by one task of the traced container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// Absolute, lexically normalised path inside the container (see [`Incomplete`] for
    /// when it is not).
    pub path: Vec<u8>,
    pub kind: AccessKind,
    pub syscall: Syscall,
    pub result: CallResult,
    /// Host process id.
    pub pid: u32,
    /// Host thread id.
    pub tid: u32,
    /// The process's command name.
    pub comm: String,
    /// The call did not follow a symlink in the last component.
    pub nofollow: bool,
    /// The call opened for writing, creating or truncating.
    pub write: bool,
    pub incomplete: Option<Incomplete>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The JSON form of a record; field order is the output contract.
#[derive(Serialize, Deserialize)]
struct WireRecord<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
    kind: AccessKind,
    #[serde(borrow)]
    syscall: Cow<'a, str>,
    #[serde(borrow)]
    result: Cow<'a, str>,
    pid: u32,
    tid: u32,
    #[serde(borrow)]
    comm: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "is_false")]
    nofollow: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    write: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    incomplete: Option<Incomplete>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path_bytes: Option<Cow<'a, [u8]>>,
}

impl Serialize for TraceRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (path, path_bytes) = match std::str::from_utf8(&self.path) {
            Ok(text) => (Cow::Borrowed(text), None),
            Err(_) => (
                String::from_utf8_lossy(&self.path),
                Some(Cow::Borrowed(self.path.as_slice())),
            ),
        };
        WireRecord {
            path,
            kind: self.kind,
            syscall: Cow::Borrowed(syscall_name(self.syscall)),
            result: self.result.to_wire(),
            pid: self.pid,
            tid: self.tid,
            comm: Cow::Borrowed(&self.comm),
            nofollow: self.nofollow,
            write: self.write,
            incomplete: self.incomplete,
            path_bytes,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TraceRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = WireRecord::deserialize(deserializer)?;
        let syscall = syscall_from_name(&wire.syscall)
            .ok_or_else(|| D::Error::custom(format!("unknown syscall {:?}", wire.syscall)))?;
        let result = CallResult::from_wire(&wire.result)
            .ok_or_else(|| D::Error::custom(format!("unknown result {:?}", wire.result)))?;
        let path = match wire.path_bytes {
            Some(bytes) => bytes.into_owned(),
            None => wire.path.into_owned().into_bytes(),
        };
        Ok(TraceRecord {
            path,
            kind: wire.kind,
            syscall,
            result,
            pid: wire.pid,
            tid: wire.tid,
            comm: wire.comm.into_owned(),
            nofollow: wire.nofollow,
            write: wire.write,
            incomplete: wire.incomplete,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_kit;

    /// `cat` opening /etc/passwd.
    fn record() -> TraceRecord {
        test_kit::record("/etc/passwd").by(1234, "cat")
    }

    #[test]
    fn json_matches_the_output_contract() {
        assert_eq!(
            serde_json::to_string(&record()).unwrap(),
            r#"{"path":"/etc/passwd","kind":"open","syscall":"openat","result":"ok","pid":1234,"tid":1234,"comm":"cat"}"#
        );
    }

    #[test]
    fn optional_fields_follow_in_contract_order() {
        let rec = TraceRecord {
            path: b"/tmp/\xffx".to_vec(),
            syscall: Syscall::Lstat,
            kind: AccessKind::Stat,
            result: CallResult::Failed(libc::ENOENT),
            nofollow: true,
            write: true,
            incomplete: Some(Incomplete::BadFd),
            ..record()
        };
        assert_eq!(
            serde_json::to_string(&rec).unwrap(),
            r#"{"path":"/tmp/�x","kind":"stat","syscall":"lstat","result":"ENOENT","pid":1234,"tid":1234,"comm":"cat","nofollow":true,"write":true,"incomplete":"badfd","path_bytes":[47,116,109,112,47,255,120]}"#
        );
    }

    #[test]
    fn records_read_back_as_written() {
        let records = [
            record(),
            TraceRecord {
                path: b"/\x80".to_vec(),
                result: CallResult::Unknown,
                incomplete: Some(Incomplete::Truncated),
                ..record()
            },
            TraceRecord {
                syscall: Syscall::Stat,
                result: CallResult::Failed(4000),
                ..record()
            },
        ];
        for rec in records {
            let text = serde_json::to_string(&rec).unwrap();
            let back: TraceRecord = serde_json::from_str(&text).unwrap();
            assert_eq!(back, rec, "{text}");
        }
    }

    #[test]
    fn negative_returns_are_errnos() {
        assert_eq!(CallResult::from_return(0), CallResult::Ok);
        assert_eq!(CallResult::from_return(3), CallResult::Ok);
        assert_eq!(
            CallResult::from_return(-i64::from(libc::ENOENT)),
            CallResult::Failed(libc::ENOENT)
        );
    }
}
