/* Built and run on the host by build.rs: prints the layout of abi.h as Rust constants,
 * which src/abi.rs asserts against its own structs. */
#include <stddef.h>
#include <stdio.h>

#include "abi.h"

#define SIZE(name, type) printf("pub const %s: usize = %zu;\n", name, sizeof(type))
#define OFF(name, type, field) printf("pub const %s: usize = %zu;\n", name, offsetof(type, field))
#define U32(name, value) printf("pub const %s: u32 = %u;\n", name, (unsigned)(value))
#define USIZE(name, value) printf("pub const %s: usize = %u;\n", name, (unsigned)(value))

int main(void)
{
	USIZE("COMM_LEN", SLIM_COMM_LEN);
	SIZE("HEADER_SIZE", struct slim_header);
	OFF("HEADER_KIND", struct slim_header, kind);
	OFF("HEADER_PID", struct slim_header, pid);
	OFF("HEADER_TID", struct slim_header, tid);
	OFF("HEADER_KTIME_NS", struct slim_header, ktime_ns);
	OFF("HEADER_COMM", struct slim_header, comm);
	SIZE("SYS_ENTER_SIZE", struct slim_sys_enter);
	OFF("SYS_ENTER_SYSCALL", struct slim_sys_enter, syscall);
	OFF("SYS_ENTER_DIRFD", struct slim_sys_enter, dirfd);
	OFF("SYS_ENTER_FLAGS", struct slim_sys_enter, flags);
	OFF("SYS_ENTER_PATH_LEN", struct slim_sys_enter, path_len);
	OFF("SYS_ENTER_BASE_LEN", struct slim_sys_enter, base_len);
	OFF("SYS_ENTER_STATUS", struct slim_sys_enter, status);
	SIZE("SYS_EXIT_SIZE", struct slim_sys_exit);
	OFF("SYS_EXIT_SYSCALL", struct slim_sys_exit, syscall);
	OFF("SYS_EXIT_RET", struct slim_sys_exit, ret);
	OFF("SYS_EXIT_STATUS", struct slim_sys_exit, status);
	OFF("SYS_EXIT_PATH_LEN", struct slim_sys_exit, path_len);
	SIZE("FORK_SIZE", struct slim_fork);
	OFF("FORK_CHILD_TID", struct slim_fork, child_tid);
	SIZE("EXEC_SIZE", struct slim_exec);
	OFF("EXEC_OLD_TID", struct slim_exec, old_tid);
	OFF("EXEC_FILENAME_LEN", struct slim_exec, filename_len);
	SIZE("EXIT_SIZE", struct slim_exit);
	OFF("EXIT_EXIT_CODE", struct slim_exit, exit_code);
	SIZE("CONFIG_SIZE", struct slim_config);
	OFF("CONFIG_CGROUP_ID", struct slim_config, cgroup_id);
	OFF("CONFIG_CGROUP_LEVEL", struct slim_config, cgroup_level);
	OFF("CONFIG_WAKEUP_BYTES", struct slim_config, wakeup_bytes);
	OFF("CONFIG_RECORD_CALLS", struct slim_config, record_calls);
	SIZE("CALLS_SIZE", struct slim_calls);
	USIZE("CALL_WORDS", SLIM_CALL_WORDS);
	USIZE("CALL_MAX", SLIM_CALL_MAX);
	USIZE("CALLS_APP", SLIM_CALLS_APP);
	USIZE("CALLS_RUNTIME", SLIM_CALLS_RUNTIME);
	USIZE("CALLS_SETUP", SLIM_CALLS_SETUP);
	USIZE("CALLS_REFUSED", SLIM_CALLS_REFUSED);
	USIZE("CALLS_COMPAT", SLIM_CALLS_COMPAT);
	USIZE("CALLS_APP_UNFILTERED", SLIM_CALLS_APP_UNFILTERED);
	USIZE("CALLS_ROWS", SLIM_CALLS_ROWS);
	U32("KIND_SYS_ENTER", SLIM_KIND_SYS_ENTER);
	U32("KIND_SYS_EXIT", SLIM_KIND_SYS_EXIT);
	U32("KIND_FORK", SLIM_KIND_FORK);
	U32("KIND_EXEC", SLIM_KIND_EXEC);
	U32("KIND_EXIT", SLIM_KIND_EXIT);
	U32("PATH_FAULT", SLIM_PATH_FAULT);
	U32("PATH_TRUNCATED", SLIM_PATH_TRUNCATED);
	U32("BASE_PRESENT", SLIM_BASE_PRESENT);
	U32("BASE_TRUNCATED", SLIM_BASE_TRUNCATED);
	U32("BASE_UNREACHABLE", SLIM_BASE_UNREACHABLE);
	U32("BASE_BADFD", SLIM_BASE_BADFD);
	U32("EXIT_LATE_PATH", SLIM_EXIT_LATE_PATH);
	U32("EXIT_LATE_FAULT", SLIM_EXIT_LATE_FAULT);
	USIZE("LOST_RINGBUF", SLIM_LOST_RINGBUF);
	USIZE("LOST_TRACKING", SLIM_LOST_TRACKING);
	USIZE("LOST_SLOTS", SLIM_LOST_SLOTS);
	/* enum slim_syscall, in order: src/event.rs numbers them from 1 in this order. */
	static const unsigned syscalls[] = {
		SLIM_SYS_OPEN, SLIM_SYS_OPENAT, SLIM_SYS_OPENAT2, SLIM_SYS_CREAT, SLIM_SYS_EXECVE,
		SLIM_SYS_EXECVEAT, SLIM_SYS_STAT, SLIM_SYS_LSTAT, SLIM_SYS_NEWFSTATAT, SLIM_SYS_STATX,
		SLIM_SYS_ACCESS, SLIM_SYS_FACCESSAT, SLIM_SYS_FACCESSAT2, SLIM_SYS_READLINK,
		SLIM_SYS_READLINKAT, SLIM_SYS_CHDIR, SLIM_SYS_GETDENTS64, SLIM_SYS_FCHDIR,
	};
	printf("pub const SYSCALL_IDS: [u32; %zu] = [", sizeof(syscalls) / sizeof(syscalls[0]));
	for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
		printf("%u, ", syscalls[i]);
	printf("];\n");
	return 0;
}
