// SPDX-License-Identifier: GPL-2.0
/* The kernel side of slim's probe.
 *
 * Records, for the tasks of one cgroup subtree only, every path-taking system call of
 * interest (at entry, with the directory a relative path starts from resolved in the kernel)
 * and its return value (at exit), plus task fork, exec and exit.
 *
 * Selection: a task is tracked from its first successful exec inside the selected cgroup
 * (the container's entrypoint, or a `docker exec` command, both started by the runtime
 * after it joined the cgroup) and every task it creates is tracked from birth. The
 * runtime's own set-up work before that exec is not the application's and is not recorded.
 *
 * Loss: a record that cannot be written is counted in `lost`, never silently dropped.
 *
 * System calls (when slim_config.record_calls is set, for a seccomp profile): every call
 * a task of the selected cgroup enters is marked by number in the `calls` bitmap of its
 * kind (tracked or not, under a seccomp filter or not), and a call that
 * returns without having been entered (a seccomp filter refused it) in the refused row,
 * with its errno. No record is sent: a bit per call number, set once.
 *
 * Only classic tracepoints are used, so the probe runs where kprobes and fentry do not. */

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "abi.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000

/* Kernel types, reduced to the fields read here. preserve_access_index makes every access a
 * CO-RE relocation against the running kernel's BTF, so field offsets are the kernel's. */
struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
} __attribute__((preserve_access_index));

struct vfsmount {
	struct dentry *mnt_root;
} __attribute__((preserve_access_index));

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} __attribute__((preserve_access_index));

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct fs_struct {
	struct path root;
	struct path pwd;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct thread_info {
	unsigned int status;
} __attribute__((preserve_access_index));

struct seccomp {
	int mode;
} __attribute__((preserve_access_index));

struct task_struct {
	struct thread_info thread_info;
	struct seccomp seccomp;
	struct fs_struct *fs;
	struct files_struct *files;
	int exit_code;
} __attribute__((preserve_access_index));

struct trace_event_raw_sched_process_fork {
	int child_pid;
} __attribute__((preserve_access_index));

struct trace_event_raw_sched_process_exec {
	unsigned int __data_loc_filename;
	int old_pid;
} __attribute__((preserve_access_index));

/* The records of raw_syscalls/sys_enter and sys_exit: one program pair sees every system
 * call and picks the traced ones by number. Two attachments rather than one per call keep
 * attaching and detaching fast (each detach waits for an RCU grace period). */
struct syscall_enter_ctx {
	unsigned long long common;
	long id;
	unsigned long args[6];
};

struct syscall_exit_ctx {
	unsigned long long common;
	long id;
	long ret;
};

#if defined(__TARGET_ARCH_x86)
/* x86-64 marks a 32-bit (compat) system call in thread_info.status; its numbers differ. */
#define TS_COMPAT 0x0002
static __always_inline int is_compat_syscall(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
}
#else
static __always_inline int is_compat_syscall(void)
{
	return 0;
}
#endif

/* seccomp's mode of a task that runs under a filter (SECCOMP_MODE_FILTER). */
#define SECCOMP_MODE_FILTER 2

/* Whether the current task runs under a seccomp filter (never, on a kernel without
 * seccomp). */
static __always_inline int under_seccomp_filter(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!bpf_core_field_exists(task->seccomp))
		return 0;
	return BPF_CORE_READ(task, seccomp.mode) == SECCOMP_MODE_FILTER;
}

/* Payload space: offsets into it are masked with DATA_MASK, and one more name always fits. */
#define DATA_MASK 16383
#define DATA_SIZE (DATA_MASK + 1 + SLIM_NAME_MAX)
#define BASE_LIMIT (SLIM_PATH_MAX + SLIM_BASE_MAX - SLIM_NAME_MAX)

struct enter_scratch {
	struct slim_sys_enter rec;
	char data[DATA_SIZE];
};

struct exit_scratch {
	struct slim_sys_exit rec;
	char data[SLIM_PATH_MAX];
};

struct exec_scratch {
	struct slim_exec rec;
	char data[SLIM_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slim_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLIM_LOST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* System calls made, one bitmap per row (SLIM_CALLS_*). Shared by all CPUs: a call's
 * exit can run on another CPU than its entry, and must see the entry's bit. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLIM_CALLS_ROWS);
	__type(key, __u32);
	__type(value, struct slim_calls);
} calls SEC(".maps");

/* The errno a refused call returned, by call number. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLIM_CALL_MAX);
	__type(key, __u32);
	__type(value, __u32);
} refusal SEC(".maps");

/* Tasks (by thread id) whose events are recorded. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enter_scratch);
} enter_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} exec_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exit_scratch);
} exit_buf SEC(".maps");

/* Path arguments (user pointers, by thread id) that could not be read at entry: the exit
 * program reads them again once the kernel has faulted their page in. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} unread_path SEC(".maps");

static __always_inline void count_lost(__u32 slot)
{
	__u64 *counter = bpf_map_lookup_elem(&lost, &slot);
	if (counter)
		*counter += 1;
}

static __always_inline int in_selected_cgroup(void)
{
	__u32 zero = 0;
	struct slim_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->cgroup_id)
		return 0;
	return bpf_get_current_ancestor_cgroup_id(cfg->cgroup_level) == cfg->cgroup_id;
}

static __always_inline int is_tracked(__u32 tid)
{
	return bpf_map_lookup_elem(&tracked, &tid) != 0;
}

static __always_inline void track(__u32 tid)
{
	__u8 one = 1;
	if (bpf_map_update_elem(&tracked, &tid, &one, BPF_ANY))
		count_lost(SLIM_LOST_TRACKING);
}

static __always_inline void fill_header(struct slim_header *hdr, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	hdr->kind = kind;
	hdr->pid = id >> 32;
	hdr->tid = (__u32)id;
	hdr->_pad = 0;
	hdr->ktime_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
}

/* Wakes the reader only once enough bytes wait: one wakeup per record would cost the
 * reader more than the records themselves. */
static __always_inline void emit(void *rec, __u64 size)
{
	__u32 zero = 0;
	__u64 flags = BPF_RB_NO_WAKEUP;
	struct slim_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, rec, size, flags))
		count_lost(SLIM_LOST_RINGBUF);
}

/* Marks call `nr` in `row`. The bit is tested first: after the first few calls every
 * bit a program needs is set, and a read keeps the cache line shared between CPUs. */
static __always_inline void mark_call(__u32 row, __u64 nr)
{
	struct slim_calls *c = bpf_map_lookup_elem(&calls, &row);
	if (!c)
		return;
	__u64 *word = &c->words[(nr / 64) & (SLIM_CALL_WORDS - 1)];
	__u64 bit = 1ULL << (nr % 64);
	if (!(*word & bit))
		__sync_fetch_and_or(word, bit);
}

static __always_inline int call_marked(__u32 row, __u64 nr)
{
	struct slim_calls *c = bpf_map_lookup_elem(&calls, &row);
	if (!c)
		return 1;
	return (c->words[(nr / 64) & (SLIM_CALL_WORDS - 1)] >> (nr % 64)) & 1;
}

/* The row of the current task's calls: by whether it is tracked (the application) and
 * whether it runs under a seccomp filter. Where the engine applies a filter, every task
 * of the application runs under it: a tracked task without one is the runtime before its
 * filter, taken for the application when it re-executes itself inside the cgroup (runc
 * 1.1 does, at times). -1: not a task of the selected cgroup, or the recording is off.
 * The cgroup is checked first: every system call on the host passes here, and the host's
 * return at once. */
static __always_inline int call_row(__u32 tid)
{
	__u32 zero = 0;
	struct slim_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->record_calls || !cfg->cgroup_id)
		return -1;
	if (bpf_get_current_ancestor_cgroup_id(cfg->cgroup_level) != cfg->cgroup_id)
		return -1;
	int filtered = under_seccomp_filter();
	if (is_tracked(tid))
		return filtered ? SLIM_CALLS_APP : SLIM_CALLS_APP_UNFILTERED;
	return filtered ? SLIM_CALLS_RUNTIME : SLIM_CALLS_SETUP;
}

static __always_inline void note_call_entry(long nr, __u32 tid)
{
	int row = call_row(tid);
	if (row < 0 || nr < 0 || nr >= SLIM_CALL_MAX)
		return;
	if (is_compat_syscall())
		row = SLIM_CALLS_COMPAT;
	mark_call(row, nr);
}

/* A call that returns an error and was never entered in the task's row was refused by a
 * seccomp filter before the sys_enter tracepoint (which runs after seccomp). */
static __always_inline void note_call_exit(long nr, long ret, __u32 tid)
{
	if (ret >= 0 || ret < -4095)
		return;
	int row = call_row(tid);
	if (row < 0 || row == SLIM_CALLS_SETUP || nr < 0 || nr >= SLIM_CALL_MAX)
		return;
	if (is_compat_syscall() || call_marked(row, nr))
		return;
	__u32 key = nr;
	__u32 errno = -ret;
	bpf_map_update_elem(&refusal, &key, &errno, BPF_ANY);
	mark_call(SLIM_CALLS_REFUSED, nr);
}

/* Maps this architecture's syscall numbers to enum slim_syscall (0: not traced). */
static __always_inline __u32 slim_syscall_of(long nr)
{
	switch (nr) {
#if defined(__TARGET_ARCH_x86)
	case 2: return SLIM_SYS_OPEN;
	case 257: return SLIM_SYS_OPENAT;
	case 437: return SLIM_SYS_OPENAT2;
	case 85: return SLIM_SYS_CREAT;
	case 59: return SLIM_SYS_EXECVE;
	case 322: return SLIM_SYS_EXECVEAT;
	case 4: return SLIM_SYS_STAT;
	case 6: return SLIM_SYS_LSTAT;
	case 262: return SLIM_SYS_NEWFSTATAT;
	case 332: return SLIM_SYS_STATX;
	case 21: return SLIM_SYS_ACCESS;
	case 269: return SLIM_SYS_FACCESSAT;
	case 439: return SLIM_SYS_FACCESSAT2;
	case 89: return SLIM_SYS_READLINK;
	case 267: return SLIM_SYS_READLINKAT;
	case 80: return SLIM_SYS_CHDIR;
	case 217: return SLIM_SYS_GETDENTS64;
	case 81: return SLIM_SYS_FCHDIR;
#elif defined(__TARGET_ARCH_arm64)
	case 56: return SLIM_SYS_OPENAT;
	case 437: return SLIM_SYS_OPENAT2;
	case 221: return SLIM_SYS_EXECVE;
	case 281: return SLIM_SYS_EXECVEAT;
	case 79: return SLIM_SYS_NEWFSTATAT;
	case 291: return SLIM_SYS_STATX;
	case 48: return SLIM_SYS_FACCESSAT;
	case 439: return SLIM_SYS_FACCESSAT2;
	case 78: return SLIM_SYS_READLINKAT;
	case 49: return SLIM_SYS_CHDIR;
	case 61: return SLIM_SYS_GETDENTS64;
	case 50: return SLIM_SYS_FCHDIR;
#else
#error "unsupported architecture: define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif
	default: return 0;
	}
}

/* State of one directory walk, from a dentry up to the task's root. */
struct walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 off;
	__u32 status;
	__u32 done;
};

static long walk_step(__u32 index, void *arg)
{
	struct walk *w = arg;
	/* Copies into locals: a CO-RE read through a field of this local struct would be
	 * relocated against `struct walk`, which the kernel's BTF does not have. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt || !up) {
			/* The top of the mount tree, and the task's root was not met on the way. */
			w->status |= SLIM_BASE_UNREACHABLE;
			w->done = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfsmnt = (struct vfsmount *)((char *)up + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	if (w->off > BASE_LIMIT) {
		w->status |= SLIM_BASE_TRUNCATED;
		w->done = 1;
		return 1;
	}
	__u32 zero = 0;
	struct enter_scratch *s = bpf_map_lookup_elem(&enter_buf, &zero);
	if (!s)
		return 1;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(&s->data[w->off & DATA_MASK], SLIM_NAME_MAX, name);
	if (n > 0)
		w->off += n;
	w->dentry = parent;
	return 0;
}

/* Writes the names of `dir` (leaf first) after the path in the scratch record. */
static __always_inline void resolve_base(struct enter_scratch *s, struct task_struct *task,
					 struct dentry *dentry, struct vfsmount *vfsmnt)
{
	struct walk w = {};
	w.dentry = dentry;
	w.vfsmnt = vfsmnt;
	w.mnt = (struct mount *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	w.root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	w.root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	w.off = s->rec.path_len;
	bpf_loop(SLIM_MAX_DEPTH, walk_step, &w, 0);
	if (!w.done)
		w.status |= SLIM_BASE_TRUNCATED;
	s->rec.status |= w.status | SLIM_BASE_PRESENT;
	s->rec.base_len = w.off - s->rec.path_len;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct syscall_enter_ctx *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	note_call_entry(ctx->id, tid);
	__u32 sc = slim_syscall_of(ctx->id);
	if (!sc)
		return 0;
	if (sc == SLIM_SYS_EXECVE || sc == SLIM_SYS_EXECVEAT) {
		/* The runtime's exec of the entrypoint comes from a task not tracked yet. */
		if (!is_tracked(tid) && !in_selected_cgroup())
			return 0;
	} else if (!is_tracked(tid)) {
		return 0;
	}
	if (is_compat_syscall())
		return 0;

	unsigned long args[6];
	for (int i = 0; i < 6; i++)
		args[i] = ctx->args[i];

	__u32 zero = 0;
	struct enter_scratch *s = bpf_map_lookup_elem(&enter_buf, &zero);
	if (!s)
		return 0;
	fill_header(&s->rec.hdr, SLIM_KIND_SYS_ENTER);
	s->rec.syscall = sc;
	s->rec.dirfd = AT_FDCWD;
	s->rec.flags = 0;
	s->rec.path_len = 0;
	s->rec.base_len = 0;
	s->rec.status = 0;
	s->rec._pad = 0;

	const char *path = 0;
	int has_path = 1;
	switch (sc) {
	case SLIM_SYS_OPEN:
		path = (const char *)args[0];
		s->rec.flags = args[1];
		break;
	case SLIM_SYS_CREAT:
		path = (const char *)args[0];
		s->rec.flags = O_CREAT | O_WRONLY | O_TRUNC;
		break;
	case SLIM_SYS_EXECVE:
	case SLIM_SYS_STAT:
	case SLIM_SYS_LSTAT:
	case SLIM_SYS_ACCESS:
	case SLIM_SYS_READLINK:
	case SLIM_SYS_CHDIR:
		path = (const char *)args[0];
		break;
	case SLIM_SYS_OPENAT:
		s->rec.dirfd = (int)args[0];
		path = (const char *)args[1];
		s->rec.flags = args[2];
		break;
	case SLIM_SYS_OPENAT2: {
		__u64 how_flags = 0;
		s->rec.dirfd = (int)args[0];
		path = (const char *)args[1];
		bpf_probe_read_user(&how_flags, sizeof(how_flags), (void *)args[2]);
		s->rec.flags = how_flags;
		break;
	}
	case SLIM_SYS_EXECVEAT:
		s->rec.dirfd = (int)args[0];
		path = (const char *)args[1];
		s->rec.flags = args[4];
		break;
	case SLIM_SYS_NEWFSTATAT:
	case SLIM_SYS_FACCESSAT2:
		s->rec.dirfd = (int)args[0];
		path = (const char *)args[1];
		s->rec.flags = args[3];
		break;
	case SLIM_SYS_STATX:
		s->rec.dirfd = (int)args[0];
		path = (const char *)args[1];
		s->rec.flags = args[2];
		break;
	case SLIM_SYS_FACCESSAT:
	case SLIM_SYS_READLINKAT:
		s->rec.dirfd = (int)args[0];
		path = (const char *)args[1];
		break;
	case SLIM_SYS_GETDENTS64:
	case SLIM_SYS_FCHDIR:
		s->rec.dirfd = (int)args[0];
		has_path = 0;
		break;
	default:
		return 0;
	}

	int relative = 1;
	if (has_path) {
		long n = bpf_probe_read_user_str(s->data, SLIM_PATH_MAX, path);
		if (n <= 0) {
			/* Not resident yet: read it at exit. A relative path still needs its base,
			 * which may change during the call (chdir), so resolve the base now. */
			__u64 ptr = (__u64)path;
			s->rec.status |= SLIM_PATH_FAULT;
			if (bpf_map_update_elem(&unread_path, &tid, &ptr, BPF_ANY))
				count_lost(SLIM_LOST_TRACKING);
		} else {
			s->rec.path_len = (__u32)(n - 1) & (SLIM_PATH_MAX - 1);
			if (n == SLIM_PATH_MAX)
				s->rec.status |= SLIM_PATH_TRUNCATED;
			relative = s->data[0] != '/';
		}
	}

	if (relative) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct dentry *dentry = 0;
		struct vfsmount *vfsmnt = 0;
		if (s->rec.dirfd == AT_FDCWD) {
			dentry = BPF_CORE_READ(task, fs, pwd.dentry);
			vfsmnt = BPF_CORE_READ(task, fs, pwd.mnt);
		} else {
			struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
			unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
			struct file **fds = BPF_CORE_READ(fdt, fd);
			struct file *file = 0;
			if (s->rec.dirfd >= 0 && (unsigned int)s->rec.dirfd < max_fds)
				bpf_probe_read_kernel(&file, sizeof(file), &fds[s->rec.dirfd]);
			if (file) {
				dentry = BPF_CORE_READ(file, f_path.dentry);
				vfsmnt = BPF_CORE_READ(file, f_path.mnt);
			}
		}
		if (dentry && vfsmnt)
			resolve_base(s, task, dentry, vfsmnt);
		else
			s->rec.status |= SLIM_BASE_BADFD;
	}

	__u64 size = sizeof(struct slim_sys_enter) +
		     ((s->rec.path_len + s->rec.base_len) & DATA_MASK);
	emit(s, size);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit(struct syscall_exit_ctx *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	note_call_exit(ctx->id, ctx->ret, tid);
	__u32 sc = slim_syscall_of(ctx->id);
	if (!sc)
		return 0;
	if (!is_tracked(tid) || is_compat_syscall())
		return 0;
	__u32 zero = 0;
	struct exit_scratch *s = bpf_map_lookup_elem(&exit_buf, &zero);
	if (!s)
		return 0;
	fill_header(&s->rec.hdr, SLIM_KIND_SYS_EXIT);
	s->rec.syscall = sc;
	s->rec.status = 0;
	s->rec.ret = ctx->ret;
	s->rec.path_len = 0;
	s->rec._pad = 0;
	__u64 *ptr = bpf_map_lookup_elem(&unread_path, &tid);
	if (ptr) {
		__u64 user = *ptr;
		bpf_map_delete_elem(&unread_path, &tid);
		/* After a successful exec the old memory is gone; sched_process_exec had the name. */
		int exec_done = (sc == SLIM_SYS_EXECVE || sc == SLIM_SYS_EXECVEAT) && ctx->ret == 0;
		if (!exec_done) {
			long n = bpf_probe_read_user_str(s->data, SLIM_PATH_MAX, (const char *)user);
			if (n > 0) {
				s->rec.status = SLIM_EXIT_LATE_PATH;
				s->rec.path_len = (__u32)(n - 1) & (SLIM_PATH_MAX - 1);
			} else {
				s->rec.status = SLIM_EXIT_LATE_FAULT;
			}
		}
	}
	emit(s, sizeof(struct slim_sys_exit) + (s->rec.path_len & (SLIM_PATH_MAX - 1)));
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int sched_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!is_tracked(tid))
		return 0;
	struct slim_fork rec = {};
	fill_header(&rec.hdr, SLIM_KIND_FORK);
	rec.child_tid = (__u32)BPF_CORE_READ(ctx, child_pid);
	track(rec.child_tid);
	emit(&rec, sizeof(rec));
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int sched_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!is_tracked(tid)) {
		if (!in_selected_cgroup())
			return 0;
		track(tid);
	}
	__u32 zero = 0;
	struct exec_scratch *s = bpf_map_lookup_elem(&exec_buf, &zero);
	if (!s)
		return 0;
	fill_header(&s->rec.hdr, SLIM_KIND_EXEC);
	s->rec.old_tid = (__u32)BPF_CORE_READ(ctx, old_pid);
	unsigned int loc = BPF_CORE_READ(ctx, __data_loc_filename);
	long n = bpf_probe_read_kernel_str(s->data, SLIM_PATH_MAX, (char *)ctx + (loc & 0xffff));
	s->rec.filename_len = n > 0 ? (__u32)(n - 1) & (SLIM_PATH_MAX - 1) : 0;
	emit(s, sizeof(struct slim_exec) + s->rec.filename_len);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_exit(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!is_tracked(tid))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct slim_exit rec = {};
	fill_header(&rec.hdr, SLIM_KIND_EXIT);
	rec.exit_code = BPF_CORE_READ(task, exit_code);
	emit(&rec, sizeof(rec));
	bpf_map_delete_elem(&tracked, &tid);
	bpf_map_delete_elem(&unread_path, &tid);
	return 0;
}
