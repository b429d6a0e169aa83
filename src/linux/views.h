/*
 * What the Linux views (tasks.c, modules.c, files.c, maps.c, dmesg.c)
 * share: the kernel's structure layout as the views need it, resolved from
 * BTF once per kernel (layout.c), and careful reading of a guest that may be
 * running or hostile (vread.c).
 *
 * A view never trusts guest memory. Every pointer it follows is checked to
 * lie in the kernel half of the address space and to be aligned before it
 * is read; every list walk is bounded, checks each link against its back
 * link and detects cycles (Brent); every count and length read from the
 * guest is clamped before it sizes anything. A structure that changes while
 * it is copied (a running guest) fails its checks and is read again a few
 * times, then reported as unreadable. See docs/views.md.
 */
#ifndef VMS_LINUX_VIEWS_H
#define VMS_LINUX_VIEWS_H

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

/* Where a member lies in its struct; size 0: this kernel does not have it.
 * A bitfield has bits > 0 and starts bit bit_off of the byte at off. */
struct lx_member {
	uint32_t off, size;
	uint8_t bit_off, bits;
};

/* The parts of one struct a view copies per object: members that lie
 * close together are read in one copy, so a task costs a handful of small
 * reads whatever the size of task_struct. */
#define LX_PLAN_RUNS 24
#define LX_PLAN_GAP 96 /* members closer than this share a copy */
#define LX_OBJ_MAX (16u << 10)
struct lx_plan {
	unsigned n;
	struct {
		uint32_t off, len;
	} run[LX_PLAN_RUNS];
	uint32_t end; /* bytes of buffer needed */
};

/* Groups of the layout, resolved on first use by the views that need them. */
enum {
	LX_TASKS = 1u << 0,
	LX_FILES = 1u << 1, /* files and paths (lsof; maps uses paths too) */
	LX_MAPS = 1u << 2,
	LX_MODULES = 1u << 3,
	LX_PRINTK = 1u << 4,
	LX_CHECK = 1u << 5, /* the integrity checks (check*.c): every member optional */
	LX_NET = 1u << 6,   /* sockets (net.c); comes with files */
};

/* Module memory kinds at most (6.4+: MOD_MEM_NUM_TYPES, 7 so far). */
#define LX_MOD_MEM_MAX 8
/* Bytes of a struct worker copied for a kernel worker's name, at most. */
#define LX_WORKER_MAX 1024

/* Pseudo file systems whose files d_path names by their d_dname function. */
enum { LX_DNAME_PIPE, LX_DNAME_SOCKET, LX_DNAME_ANON, LX_DNAME_SIMPLE, LX_DNAME_NS, LX_DNAME_KINDS };

struct lx_layout {
	unsigned resolved;
	uint64_t kmin; /* lowest kernel address (4- or 5-level) */
	uint64_t umax; /* highest user address + 1 */

	/* LX_TASKS */
	uint64_t init_task;
	struct lx_member task_state, task_flags, task_tasks, task_mm, task_exit_state, task_pid, task_tgid,
	        task_real_parent, task_group_leader, task_thread_node, task_thread_group, task_start, task_real_cred,
	        task_comm, task_files, task_signal, task_fs;
	struct lx_member task_kthread; /* worker_private (6.1+) or set_child_tid: the struct kthread */
	struct lx_member kthread_data, kthread_full_name;
	/* Workqueue workers, for the name /proc shows (wq_worker_comm). */
	struct lx_member worker_current_work, worker_pool, worker_desc, worker_id, worker_rescue_wq;
	struct lx_member pool_cpu, pool_id, pool_attrs, attrs_nice, wq_name;
	int worker_full_id; /* 6.10+: the name is made from the worker, not its comm */
	struct lx_member sig_thread_head, sig_nr_threads;
	struct lx_member cred_id[8]; /* uid gid suid sgid euid egid fsuid fsgid */
	struct lx_member mm_pgd, mm_arg_start, mm_arg_end, mm_env_start, mm_env_end, mm_start_brk, mm_brk,
	        mm_start_stack, mm_mt_root, mm_mmap, mm_map_count, mm_vdso;
	struct lx_plan task_plan, mm_plan, cred_plan, worker_plan;

	/* LX_FILES */
	struct lx_member files_fdt, fdt_max_fds, fdt_fd, fdt_cloexec;
	struct lx_member file_mnt, file_dentry, file_inode, file_pos, file_flags, file_mode;
	struct lx_member d_parent, d_name_len, d_name_ptr, d_hash_pprev, d_sb, d_inode, d_op, d_fsdata, dops_dname;
	struct lx_member i_mode, i_ino, i_sb, sb_dev;
	struct lx_member fs_pwd_mnt, fs_pwd_dentry; /* task->fs->pwd: the working directory */
	uint64_t dname_fn[LX_DNAME_KINDS];          /* the d_dname functions of the pseudo file systems */
	uint64_t mount_mnt;                         /* offsetof(struct mount, mnt): the vfsmount inside */
	struct lx_member mnt_parent, mnt_mountpoint, mnt_root, mnt_id;
	struct lx_plan file_plan, dentry_plan, mount_plan, inode_plan;

	/* LX_MAPS */
	int maple; /* VMAs in mm->mm_mt (6.1+), else the mm->mmap list */
	struct lx_member vma_start, vma_end, vma_next, vma_mm, vma_flags, vma_pgoff, vma_file, vma_ops, vma_private,
	        vma_anon_name;
	struct lx_plan vma_plan;
	uint32_t mt_range_pivot, mt_range_slot, mt_range_meta, mt_arange_pivot, mt_arange_slot, mt_arange_meta;
	uint64_t special_vmops; /* special_mapping_vmops: [vdso], [vvar] name themselves */
	uint64_t vsyscall_mode; /* its address; 0 if the kernel has none */

	/* LX_MODULES */
	uint64_t modules_head;
	struct lx_member mod_list, mod_name, mod_state, mod_base, mod_taints, mod_refcnt, mod_source_list, mod_kobj_mod;
	/* The sizes /proc/modules adds up: core_layout and init_layout (to
	 * 6.3), or each mem[type] of struct module_memory (6.4 on). */
	struct lx_member mod_mem_size[LX_MOD_MEM_MAX];
	uint32_t mod_mem_count;
	struct lx_member use_source_list, use_source;
	struct lx_plan mod_plan;
	uint64_t mod_size;

	/* LX_PRINTK */
	uint64_t prb; /* address of the pointer `prb` */
	struct lx_member rb_count_bits, rb_descs, rb_infos, rb_head_id, rb_tail_id, rb_size_bits, rb_data;
	struct lx_member desc_state, desc_begin, desc_next, info_seq, info_ts, info_len, info_facility, info_level,
	        info_caller;
	uint64_t desc_size, info_size;

	/* LX_CHECK (each check says what it lacks when a member is absent) */
	struct lx_member mod_init_base;                          /* init_layout.base up to 6.3 */
	struct lx_member xa_head, xa_shift, xa_slots, xa_parent; /* struct xarray, struct xa_node */
	struct lx_member idr_rt, pidns_idr, pid_nr, pid_first, task_pid_links;
	struct lx_member rq_curr;
	struct lx_member kp_hlist, kp_addr, kp_sym, kp_pre, kp_post;
	struct lx_member fops_func, fops_next, fops_flags, fops_tramp, fops_tramp_size;
	struct lx_member fpage_next, fpage_records, fpage_index, dyn_ip, dyn_flags;
	struct lx_member nb_call, nb_next, nh_head;
	struct lx_member pt_type, pt_func, pt_list, hotdata_ptype_all; /* net_hotdata.ptype_all: 6.10+ */
	struct lx_member sysmeta_name;
	struct lx_member prog_type, prog_func, prog_aux, aux_id, aux_name, aux_attach_name;
	uint64_t dyn_size, kprobe_size;
	/* LX_NET: sockets and the kernel's socket tables (net.c) */
	struct lx_member sk_daddr, sk_rcv_saddr, sk_dport, sk_num, sk_family, sk_state, sk_node, sk_v6_daddr,
	        sk_v6_rcv_saddr, tw_substate;
	struct lx_member sk_type, sk_protocol, sk_socket, sk_ack_backlog, sk_max_ack_backlog, sk_rmem_alloc,
	        sk_wmem_alloc, sk_rcv_qlen;
	struct lx_member tcp_rcv_nxt, tcp_copied_seq, tcp_write_seq, tcp_snd_una, udp_forward_deficit;
	struct lx_member unix_addr, unix_peer, unix_addr_len, unix_addr_path, packet_num, packet_ifindex;
	struct lx_member socket_sk, socket_file, socket_ino, file_private, file_op;
	struct lx_member hi_ehash, hi_ehash_mask, hi_lhash2, hi_lhash2_mask, ehb_chain, ilb_head, listen_node;
	struct lx_member udpt_hash, udpt_mask, hslot_head, raw_ht, net_packet_list, net_unix_buckets;
	uint64_t ehb_size, ilb_size, hslot_size;
	uint64_t tcp_hashinfo, udp_table, raw_v4, raw_v6, init_net, socket_fops; /* addresses; 0: absent */
	struct lx_plan sk_common_plan, sk_plan, tcp_plan, unix_plan;
};

/* Every guest read a view makes, for bench_views (which replays them as
 * plain loads: the machine's own cost of touching the same memory). */
typedef void (*lx_trace_fn)(void *ctx, uint64_t dtb, uint64_t va, size_t len);

/* The per-kernel state of the views (hangs off struct vms_kernel). */
struct linux_views {
	struct lx_layout lay;
	char err[256]; /* why a group failed to resolve, kept for the next call */
	unsigned failed;
	unsigned cached;   /* groups whose members came from PROFILE.views: finished when first needed */
	lx_trace_fn trace; /* NULL but in benchmarks */
	void *trace_ctx;
};
void linux_views_free(struct linux_views *v);

/* Resolve the layout groups in NEED (once). 0 or -errno with t->err set. */
int lx_layout_need(struct vms_kernel *k, unsigned need, const struct lx_layout **out);

/* One walk of a view: what it reads with, and what it counts. */
struct lx_walk {
	struct vms_kernel *k;
	struct vms_target *t;
	uint64_t dtb;
	const struct lx_layout *lay;
	unsigned retries; /* extra reads of an object that fails its checks */
	unsigned max;     /* entries at most */
	unsigned entries, unreadable, retried;
	lx_trace_fn trace;
	void *trace_ctx;
};
int lx_walk_begin(struct lx_walk *w, struct vms_kernel *k, unsigned need, unsigned max, unsigned max_default,
                  unsigned retries);

/* What the walk met, into STATS (a view's optional output; NULL is ok). */
void lx_walk_stats(const struct lx_walk *w, struct vms_view_stats *stats);

/* Error text into t->err; returns -ERR. */
int lx_fail(struct lx_walk *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A kernel pointer worth following: in the kernel half and ALIGN-aligned. */
static inline int lx_kptr(const struct lx_walk *w, uint64_t va, uint64_t align)
{
	return va >= w->lay->kmin && (va & (align - 1)) == 0;
}

/* Kernel virtual memory, always through the page tables (live data: the
 * image copy vms_kernel_read may use is a snapshot of discovery time). */
int lx_read(struct lx_walk *w, uint64_t va, void *buf, size_t len);
/* The same in another address space (a process's): *DONE as vms_read_va. */
int lx_read_dtb(struct lx_walk *w, uint64_t dtb, uint64_t va, void *buf, size_t len, size_t *done);
int lx_read_u64(struct lx_walk *w, uint64_t va, uint64_t *out);
/* Copy the runs of PLAN of the object at VA into BUF (plan->end bytes). */
int lx_read_plan(struct lx_walk *w, const struct lx_plan *plan, uint64_t va, uint8_t *buf);
/* A NUL-terminated kernel string into BUF (LEN >= 1): its length, or -errno. */
int lx_read_str(struct lx_walk *w, uint64_t va, char *buf, size_t len);

/* A member's value from an object copied with its plan (0 if absent). */
uint64_t lx_get(const uint8_t *obj, struct lx_member m);
static inline int64_t lx_get_s32(const uint8_t *obj, struct lx_member m)
{
	return (int32_t)(uint32_t)lx_get(obj, m);
}

/* A circular struct list_head walk: each next pointer checked (kernel,
 * aligned, its prev pointing back), bounded by the walk's max, cycles that
 * miss the head detected (Brent). A node whose back link disagrees is read
 * again; a node unlinked while we stood on it is stepped around through the
 * node before it. */
struct lx_list {
	uint64_t head, prev, cur;
	uint64_t mark;
	uint64_t power, lam;
	unsigned steps, max;
};
void lx_list_init(struct lx_list *l, uint64_t head, unsigned max);
/* The next node (its list_head's address) in *NODE: 1, or 0 at the end, or
 * -errno: -ELOOP a cycle, -E2BIG past max, -EIO a link that does not hold. */
int lx_list_next(struct lx_walk *w, struct lx_list *l, uint64_t *node);

/* File paths (dpath.c): the path of (mount, dentry) as d_path prints it,
 * with " (deleted)" for unlinked dentries and the pseudo file systems'
 * names (pipe:[INO], socket:[INO], anon_inode:NAME). Returns the length, or
 * -errno; *TRUNC set when the path did not fit LEN or a walk bound. */
int lx_path(struct lx_walk *w, uint64_t vfsmount, uint64_t dentry, char *buf, size_t len, int *trunc);
/* The inode of a dentry's file, and the facts views print about it. */
struct lx_inode {
	uint64_t addr, ino, sb;
	uint32_t mode, dev;
};
int lx_inode_read(struct lx_walk *w, uint64_t inode, struct lx_inode *out);
/* The mount id of a vfsmount (as fdinfo's mnt_id), or -1. */
int lx_mount_id(struct lx_walk *w, uint64_t vfsmount);

/* Tasks (tasks.c), for the views that go per process: the process (thread
 * group leader) with PID, its task_struct in *TASK. -ENOENT if none. */
int lx_find_process(struct lx_walk *w, int32_t pid, uint64_t *task);
/* Each process: FN(ctx, task_struct address, pid); non-zero stops. */
int lx_each_process(struct lx_walk *w, int (*fn)(void *ctx, uint64_t task, int32_t pid), void *ctx);

/* Who runs and what it holds (current.c), for the tracers: the task on a
 * vCPU from its GS base (the per-CPU `current_task`), a task's identity, a
 * descriptor's struct file, a file's path and the working directory. */
struct lx_who {
	int32_t pid;  /* thread id */
	int32_t tgid; /* process id */
	char comm[16];
};
/* The per-CPU offset of `current` (current_task, or pcpu_hot.current_task
 * from 6.2); -ENOENT if the kernel has neither. */
int lx_current_offset(struct vms_kernel *k, uint64_t *off);
int lx_current_task(struct lx_walk *w, uint64_t percpu_off, uint64_t gs_base, uint64_t *task);
int lx_task_who(struct lx_walk *w, uint64_t task, struct lx_who *out);
int lx_task_fd_file(struct lx_walk *w, uint64_t task, int32_t fd, uint64_t *file);
/* A task's file descriptor table (files.c): 1 with *OUT filled (max_fds as
 * the guest says: clamp before use), 0 if it has none (a kernel thread, or
 * exiting), -EIO if unreadable. */
struct lx_fdtable {
	uint64_t fd, cloexec; /* the struct file * array, the close-on-exec bitmap */
	uint32_t max_fds;
};
int lx_task_fdtable(struct lx_walk *w, uint64_t task, struct lx_fdtable *out);
#define LX_FDS_MAX (1u << 20) /* NR_OPEN: no table is read beyond it */
/* Every open descriptor of TASK (process PID), in order: its name into
 * COMM first (16 bytes), then FN(CTX, fd, struct file *, close-on-exec) for
 * each slot in use, the table read a chunk at a time. 0, FN's non-zero
 * return, or for a table that cannot be read: counted in w->unreadable,
 * and an error naming PID if STRICT (the process was asked for), else 0. */
typedef int (*lx_fd_fn)(void *ctx, int32_t fd, uint64_t file, int cloexec);
int lx_task_each_fd(struct lx_walk *w, uint64_t task, int32_t pid, int strict, char comm[16], lx_fd_fn fn, void *ctx);
int lx_file_path(struct lx_walk *w, uint64_t file, char *buf, size_t len);
int lx_task_cwd(struct lx_walk *w, uint64_t task, char *buf, size_t len);

#endif
