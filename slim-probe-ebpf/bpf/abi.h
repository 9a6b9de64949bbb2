/* The records the probe sends to userspace through its ring buffer, and the maps userspace
 * writes. Mirrored by src/abi.rs; build.rs compiles this header on the host and checks
 * every size and offset against the Rust side, so the two cannot drift.
 *
 * Every record starts with struct slim_header; `kind` says which record follows. Padding
 * is explicit: every field sits at its natural alignment and every struct is a multiple
 * of 8 bytes. */
#ifndef SLIM_ABI_H
#define SLIM_ABI_H

#ifdef __bpf__
typedef unsigned char slim_u8;
typedef unsigned int slim_u32;
typedef int slim_s32;
typedef unsigned long long slim_u64;
typedef long long slim_s64;
#else
#include <stdint.h>
typedef uint8_t slim_u8;
typedef uint32_t slim_u32;
typedef int32_t slim_s32;
typedef uint64_t slim_u64;
typedef int64_t slim_s64;
#endif

#define SLIM_COMM_LEN 16
/* A path argument as the process passed it (PATH_MAX, NUL included). */
#define SLIM_PATH_MAX 4096
/* One directory entry name (NAME_MAX + NUL). */
#define SLIM_NAME_MAX 256
/* Bytes available for the base directory's components, leaf first, NUL-separated. */
#define SLIM_BASE_MAX 8192
/* Directory levels walked at most when resolving a base directory. */
#define SLIM_MAX_DEPTH 256
/* Bytes of payload after a record's fixed part (path, then base). */
#define SLIM_DATA_MAX (SLIM_PATH_MAX + SLIM_BASE_MAX + SLIM_NAME_MAX)

enum slim_kind {
	SLIM_KIND_SYS_ENTER = 1,
	SLIM_KIND_SYS_EXIT = 2,
	SLIM_KIND_FORK = 3,
	SLIM_KIND_EXEC = 4,
	SLIM_KIND_EXIT = 5,
};

/* Architecture-neutral names of the traced system calls. */
enum slim_syscall {
	SLIM_SYS_OPEN = 1,
	SLIM_SYS_OPENAT = 2,
	SLIM_SYS_OPENAT2 = 3,
	SLIM_SYS_CREAT = 4,
	SLIM_SYS_EXECVE = 5,
	SLIM_SYS_EXECVEAT = 6,
	SLIM_SYS_STAT = 7,
	SLIM_SYS_LSTAT = 8,
	SLIM_SYS_NEWFSTATAT = 9,
	SLIM_SYS_STATX = 10,
	SLIM_SYS_ACCESS = 11,
	SLIM_SYS_FACCESSAT = 12,
	SLIM_SYS_FACCESSAT2 = 13,
	SLIM_SYS_READLINK = 14,
	SLIM_SYS_READLINKAT = 15,
	SLIM_SYS_CHDIR = 16,
	SLIM_SYS_GETDENTS64 = 17,
	SLIM_SYS_FCHDIR = 18,
};

/* Bits of slim_sys_enter.status. */
#define SLIM_PATH_FAULT 1u        /* the path argument could not be read */
#define SLIM_PATH_TRUNCATED 2u    /* the path argument filled SLIM_PATH_MAX */
#define SLIM_BASE_PRESENT 4u      /* base holds the directory a relative path starts from */
#define SLIM_BASE_TRUNCATED 8u    /* the walk stopped before the root: base is incomplete */
#define SLIM_BASE_UNREACHABLE 16u /* the directory lies outside the task's root */
#define SLIM_BASE_BADFD 32u       /* the directory fd was not open */

/* Bits of slim_sys_exit.status. */
#define SLIM_EXIT_LATE_PATH 1u  /* the path argument, read at exit, follows */
#define SLIM_EXIT_LATE_FAULT 2u /* the path argument could not be read at exit either */

/* Counters in the per-CPU `lost` array. */
#define SLIM_LOST_RINGBUF 0     /* a record could not be written to the ring buffer */
#define SLIM_LOST_TRACKING 1    /* a task could not be added to the tracked-task table */
#define SLIM_LOST_SLOTS 2

/* System calls made, by number: one bit per call number in each row of the `calls` array,
 * written only when slim_config.record_calls is set. */
#define SLIM_CALL_WORDS 8 /* 512 call numbers */
#define SLIM_CALL_MAX (SLIM_CALL_WORDS * 64)
/* Rows of the `calls` array. */
#define SLIM_CALLS_APP 0     /* entered by a tracked task (the application) under a
			      * seccomp filter */
#define SLIM_CALLS_RUNTIME 1 /* entered by another task of the cgroup (the runtime) under a
			      * seccomp filter: what it does between its filter and the exec */
#define SLIM_CALLS_SETUP 2   /* entered by another task of the cgroup before any filter */
#define SLIM_CALLS_REFUSED 3 /* returned without being entered: a seccomp filter refused it;
			      * the `refusal` array holds the errno it returned */
#define SLIM_CALLS_COMPAT 4  /* entered in 32-bit compat mode (by compat number) */
#define SLIM_CALLS_APP_UNFILTERED 5 /* entered by a tracked task under no filter: the
				     * application of a container run without one, or the
				     * runtime taken for it (its own re-exec inside the cgroup) */
#define SLIM_CALLS_ROWS 6

struct slim_calls {
	slim_u64 words[SLIM_CALL_WORDS];
};

struct slim_header {
	slim_u32 kind;
	slim_u32 pid; /* thread group id, host pid namespace */
	slim_u32 tid;
	slim_u32 _pad;
	slim_u64 ktime_ns;
	char comm[SLIM_COMM_LEN];
};

/* A traced system call as it enters: its arguments and the directory a relative path
 * starts from. Followed by `path_len` bytes of path (no NUL), then `base_len` bytes of
 * base directory names, leaf first, each ended by a NUL. */
struct slim_sys_enter {
	struct slim_header hdr;
	slim_u32 syscall;
	slim_s32 dirfd;
	slim_u64 flags;
	slim_u32 path_len;
	slim_u32 base_len;
	slim_u32 status;
	slim_u32 _pad;
};

/* The same call as it returns, on the same thread. When the path could not be read at
 * entry (its page was not resident yet; the kernel faults it in during the call), it is
 * read again here: SLIM_EXIT_LATE_PATH is set and `path_len` bytes of path follow. */
struct slim_sys_exit {
	struct slim_header hdr;
	slim_u32 syscall;
	slim_u32 status;
	slim_s64 ret;
	slim_u32 path_len;
	slim_u32 _pad;
};

/* A new task (process or thread) created by the header's task. */
struct slim_fork {
	struct slim_header hdr;
	slim_u32 child_tid;
	slim_u32 _pad;
};

/* A successful exec; the header carries the new comm. Followed by `filename_len` bytes. */
struct slim_exec {
	struct slim_header hdr;
	slim_u32 old_tid;
	slim_u32 filename_len;
};

/* A task exits. */
struct slim_exit {
	struct slim_header hdr;
	slim_s32 exit_code;
	slim_u32 _pad;
};

/* Written by userspace before any program is attached. */
struct slim_config {
	slim_u64 cgroup_id;    /* cgroup v2 id of the selected cgroup; 0 selects nothing */
	slim_u32 cgroup_level; /* its depth below the v2 root */
	/* Records are written without waking the reader until this many bytes wait in the
	 * ring buffer; the reader also drains on a short timer, so nothing waits long. */
	slim_u32 wakeup_bytes;
	/* Non-zero: record the system calls of the cgroup's tasks in `calls` (seccomp). */
	slim_u32 record_calls;
	slim_u32 _pad;
};

#endif
