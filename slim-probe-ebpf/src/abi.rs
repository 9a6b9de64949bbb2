//! The records the kernel probe writes, mirrored from `bpf/abi.h`.
//!
//! build.rs compiles that header on the host and writes its sizes and offsets to
//! `abi_layout.rs`; the asserts at the end of this file compare them with these structs, so
//! a change on one side that is not made on the other fails the build.

pub const COMM_LEN: usize = 16;

pub const KIND_SYS_ENTER: u32 = 1;
pub const KIND_SYS_EXIT: u32 = 2;
pub const KIND_FORK: u32 = 3;
pub const KIND_EXEC: u32 = 4;
pub const KIND_EXIT: u32 = 5;

pub const PATH_FAULT: u32 = 1;
pub const PATH_TRUNCATED: u32 = 2;
pub const BASE_PRESENT: u32 = 4;
pub const BASE_TRUNCATED: u32 = 8;
pub const BASE_UNREACHABLE: u32 = 16;
pub const BASE_BADFD: u32 = 32;

pub const EXIT_LATE_PATH: u32 = 1;
pub const EXIT_LATE_FAULT: u32 = 2;

pub const LOST_RINGBUF: usize = 0;
pub const LOST_TRACKING: usize = 1;
pub const LOST_SLOTS: usize = 2;

pub const CALL_WORDS: usize = 8;
pub const CALL_MAX: usize = CALL_WORDS * 64;
pub const CALLS_APP: usize = 0;
pub const CALLS_RUNTIME: usize = 1;
pub const CALLS_SETUP: usize = 2;
pub const CALLS_REFUSED: usize = 3;
pub const CALLS_COMPAT: usize = 4;
pub const CALLS_APP_UNFILTERED: usize = 5;
pub const CALLS_ROWS: usize = 6;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    pub _pad: u32,
    pub ktime_ns: u64,
    pub comm: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SysEnter {
    pub hdr: Header,
    pub syscall: u32,
    pub dirfd: i32,
    pub flags: u64,
    pub path_len: u32,
    pub base_len: u32,
    pub status: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SysExit {
    pub hdr: Header,
    pub syscall: u32,
    pub status: u32,
    pub ret: i64,
    pub path_len: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Fork {
    pub hdr: Header,
    pub child_tid: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Exec {
    pub hdr: Header,
    pub old_tid: u32,
    pub filename_len: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    pub hdr: Header,
    pub exit_code: i32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    pub cgroup_id: u64,
    pub cgroup_level: u32,
    pub wakeup_bytes: u32,
    pub record_calls: u32,
    pub _pad: u32,
}

// SAFETY: plain integers with explicit padding; every bit pattern is valid.
unsafe impl aya::Pod for Config {}

/// One row of the `calls` array: a bit per call number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Calls {
    pub words: [u64; CALL_WORDS],
}

// SAFETY: plain integers; every bit pattern is valid.
unsafe impl aya::Pod for Calls {}

/// Reads a record of type `T` from the front of `bytes`, if it is long enough.
pub(crate) fn read<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the length is checked above; `T` is one of the plain `repr(C)` records of this
    // module, valid for any bit pattern; the read is unaligned because ring buffer records
    // are only 8-byte aligned by the kernel and slices carry no alignment.
    Some(unsafe { bytes.as_ptr().cast::<T>().read_unaligned() })
}

mod layout {
    include!(concat!(env!("OUT_DIR"), "/abi_layout.rs"));
}

macro_rules! check_layout {
    ($ty:ty, $size:expr, $( $field:ident . $($sub:ident).* = $off:expr ),* $(,)?) => {
        const _: () = assert!(size_of::<$ty>() == $size, concat!("size of ", stringify!($ty), " differs from abi.h"));
        $( const _: () = assert!(core::mem::offset_of!($ty, $field $(. $sub)*) == $off,
            concat!("offset of ", stringify!($ty), ".", stringify!($field), " differs from abi.h")); )*
    };
}

check_layout!(Header, layout::HEADER_SIZE,
    kind. = layout::HEADER_KIND, pid. = layout::HEADER_PID, tid. = layout::HEADER_TID,
    ktime_ns. = layout::HEADER_KTIME_NS, comm. = layout::HEADER_COMM);
check_layout!(SysEnter, layout::SYS_ENTER_SIZE,
    syscall. = layout::SYS_ENTER_SYSCALL, dirfd. = layout::SYS_ENTER_DIRFD,
    flags. = layout::SYS_ENTER_FLAGS, path_len. = layout::SYS_ENTER_PATH_LEN,
    base_len. = layout::SYS_ENTER_BASE_LEN, status. = layout::SYS_ENTER_STATUS);
check_layout!(SysExit, layout::SYS_EXIT_SIZE,
    syscall. = layout::SYS_EXIT_SYSCALL, ret. = layout::SYS_EXIT_RET,
    status. = layout::SYS_EXIT_STATUS, path_len. = layout::SYS_EXIT_PATH_LEN);
check_layout!(Fork, layout::FORK_SIZE, child_tid. = layout::FORK_CHILD_TID);
check_layout!(Exec, layout::EXEC_SIZE,
    old_tid. = layout::EXEC_OLD_TID, filename_len. = layout::EXEC_FILENAME_LEN);
check_layout!(Exit, layout::EXIT_SIZE, exit_code. = layout::EXIT_EXIT_CODE);
check_layout!(Config, layout::CONFIG_SIZE,
    cgroup_id. = layout::CONFIG_CGROUP_ID, cgroup_level. = layout::CONFIG_CGROUP_LEVEL,
    wakeup_bytes. = layout::CONFIG_WAKEUP_BYTES, record_calls. = layout::CONFIG_RECORD_CALLS);
check_layout!(Calls, layout::CALLS_SIZE,);

const _: () = assert!(COMM_LEN == layout::COMM_LEN);
const _: () = assert!(KIND_SYS_ENTER == layout::KIND_SYS_ENTER);
const _: () = assert!(KIND_SYS_EXIT == layout::KIND_SYS_EXIT);
const _: () = assert!(KIND_FORK == layout::KIND_FORK);
const _: () = assert!(KIND_EXEC == layout::KIND_EXEC);
const _: () = assert!(KIND_EXIT == layout::KIND_EXIT);
const _: () = assert!(PATH_FAULT == layout::PATH_FAULT);
const _: () = assert!(PATH_TRUNCATED == layout::PATH_TRUNCATED);
const _: () = assert!(BASE_PRESENT == layout::BASE_PRESENT);
const _: () = assert!(BASE_TRUNCATED == layout::BASE_TRUNCATED);
const _: () = assert!(BASE_UNREACHABLE == layout::BASE_UNREACHABLE);
const _: () = assert!(BASE_BADFD == layout::BASE_BADFD);
const _: () = assert!(EXIT_LATE_PATH == layout::EXIT_LATE_PATH);
const _: () = assert!(EXIT_LATE_FAULT == layout::EXIT_LATE_FAULT);
const _: () = assert!(LOST_RINGBUF == layout::LOST_RINGBUF);
const _: () = assert!(LOST_TRACKING == layout::LOST_TRACKING);
const _: () = assert!(LOST_SLOTS == layout::LOST_SLOTS);
const _: () = assert!(CALL_WORDS == layout::CALL_WORDS);
const _: () = assert!(CALL_MAX == layout::CALL_MAX);
const _: () = assert!(CALLS_APP == layout::CALLS_APP);
const _: () = assert!(CALLS_RUNTIME == layout::CALLS_RUNTIME);
const _: () = assert!(CALLS_SETUP == layout::CALLS_SETUP);
const _: () = assert!(CALLS_REFUSED == layout::CALLS_REFUSED);
const _: () = assert!(CALLS_COMPAT == layout::CALLS_COMPAT);
const _: () = assert!(CALLS_APP_UNFILTERED == layout::CALLS_APP_UNFILTERED);
const _: () = assert!(CALLS_ROWS == layout::CALLS_ROWS);

const _: () = {
    let mut i = 0;
    while i < layout::SYSCALL_IDS.len() {
        assert!(
            layout::SYSCALL_IDS[i] == i as u32 + 1,
            "enum slim_syscall differs from Syscall"
        );
        i += 1;
    }
};
