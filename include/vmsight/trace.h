/*
 * libvmsight — agentless tracing: breakpoints through QEMU's GDB stub.
 *
 * Included by vmsight.h. A vms_tracer attaches to the stub of the QEMU
 * behind a target (stock QEMU, TCG or KVM; nothing runs in the guest),
 * plants breakpoints at kernel addresses and calls back on every hit with
 * the vCPU's registers, while the guest is stopped: the callback reads
 * guest memory through the ordinary vms_* API and sees a consistent guest.
 * Then the host does the instruction under the breakpoint in the vCPU's
 * place (or single-steps it where it cannot) and the guest runs on; the
 * breakpoints stay planted until the tracer closes.
 *
 * A probe may follow a call to its return (on_return): the tracer plants
 * breakpoints on the function's return instructions (or, failing that, at
 * the return address) and matches the hit by the stack pointer, so each
 * return goes to the call it ends, recursion included.
 *
 * Attaching stops the guest until vms_tracer_run resumes it; closing
 * removes every breakpoint and detaches, and the guest runs on. The stub
 * serves one debugger at a time.
 */
#ifndef VMSIGHT_TRACE_H
#define VMSIGHT_TRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef VMS_API
#if defined(__GNUC__)
#define VMS_API __attribute__((visibility("default")))
#else
#define VMS_API
#endif
#endif

struct vms_target;
struct vms_kernel;
struct vms_regs;
struct vms_tracer;

/* One breakpoint hit, as a probe's callback sees it. */
struct vms_bp_hit {
	int probe;                   /* id from vms_tracer_probe */
	int is_return;               /* 1: the probed function returned (regs->rax: its value) */
	unsigned vcpu;               /* 0-based */
	uint64_t addr;               /* breakpoint address: the probe's, or where the call returns (its
				      * return instruction, or the return address) */
	const struct vms_regs *regs; /* that vCPU's registers */
	uint64_t dtb;                /* its CR3 (PCID bits cleared) */
	uint64_t task;               /* current task_struct (with a kernel), else 0 */
	int32_t pid, tid;            /* process and thread of the current task, -1 unknown */
	const char *comm;            /* its name, "" unknown */
	uint64_t host_ns;            /* host CLOCK_MONOTONIC when the stop arrived */
	uint64_t cookie[4];          /* entry: the callback's to fill; return: what the entry left */
};

/* Callbacks return 0, VMS_PROBE_RETURN (entry only: call on_return when
 * this call returns), or VMS_PROBE_STOP (vms_tracer_run returns after this hit). */
enum { VMS_PROBE_RETURN = 1, VMS_PROBE_STOP = 2 };
typedef int (*vms_probe_fn)(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit);

struct vms_probe_opts {
	size_t sz;              /* sizeof(struct vms_probe_opts) */
	int32_t pid;            /* only hits in this process (thread group); 0: any. Needs a kernel */
	uint64_t dtb;           /* only hits in this address space (CR3; with PTI either of a
				     * process's two); 0: any */
	vms_probe_fn on_return; /* called when a call the entry callback followed returns */
};

struct vms_tracer_opts {
	size_t sz;                 /* sizeof(struct vms_tracer_opts) */
	const char *gdb;           /* "HOST:PORT" of the stub; NULL: from the target's QEMU (QMP) */
	struct vms_kernel *kernel; /* optional: symbols for probes, and pid/tid/comm of hits */
	int hardware;              /* 1: hardware breakpoints only; 0: software, hardware if refused */
	int step_remove;           /* stepping over a breakpoint: 1 remove it first (needed where
				     * software breakpoints are int3 bytes in guest memory: KVM);
				     * -1 keep it (TCG); 0 decide from QEMU's accelerator (remove
				     * unless QMP says KVM is off) */
	unsigned timeout_ms;       /* each stub reply; 0 = 10000 */
	char *errbuf;              /* optional: why vms_tracer_open failed */
	size_t errbuf_len;
};

/* Attach to the stub. -ENOENT the QEMU has no stub, -EBUSY another debugger holds it. */
VMS_API int vms_tracer_open(struct vms_target *t, const struct vms_tracer_opts *opts, struct vms_tracer **out);

/* Plant a probe at SYMBOL (needs opts.kernel) or, if SYMBOL is NULL, at
 * ADDR. Returns its id (>= 0) or -errno (-ENOENT unknown symbol, -EREMOTEIO
 * the stub refused the breakpoint). */
VMS_API int vms_tracer_probe(struct vms_tracer *tr, const char *symbol, uint64_t addr,
                             const struct vms_probe_opts *opts, vms_probe_fn fn, void *ctx);

/* Let the guest run and handle hits for up to TIMEOUT_MS (-1: until
 * stopped). Returns 0 (time up, or stopped), or -errno when the stub or the
 * guest is gone. The guest keeps running between calls. */
VMS_API int vms_tracer_run(struct vms_tracer *tr, int timeout_ms);

/* Make vms_tracer_run return soon. Safe from a signal handler, a callback
 * or another thread. */
VMS_API void vms_tracer_stop(struct vms_tracer *tr);

/* Remove every breakpoint and detach (the guest runs), then free. Returns
 * 0, or -errno if a breakpoint could not be removed; the detach is sent
 * even then, and QEMU drops every breakpoint on a detach. */
VMS_API int vms_tracer_close(struct vms_tracer *tr);

VMS_API const char *vms_tracer_errmsg(const struct vms_tracer *tr);

struct vms_tracer_stats {
	uint64_t stops;              /* stop replies handled */
	uint64_t hits;               /* probe entries called back */
	uint64_t filtered;           /* entries a pid/dtb filter skipped */
	uint64_t returns;            /* returns matched to their call */
	uint64_t stray_returns;      /* hits at a return site that matched no pending call */
	uint64_t lost_returns;       /* followed calls forgotten (table full) */
	uint64_t foreign;            /* stops at no breakpoint of ours */
	uint64_t handled_ns;         /* host time from stop reply to resume, summed */
	uint64_t regs_ns;            /* of which reading the vCPU's registers */
	uint64_t step_ns;            /* of which getting past the breakpoint (emulated or stepped) */
	unsigned breakpoints;        /* planted now */
	int hardware;                /* breakpoint type in use: 1 hardware */
	int step_remove;             /* 1: breakpoints removed for the fallback single step */
	uint64_t emulated;           /* breakpoints passed by doing their instruction on the host */
	uint64_t steps;              /* passed by a single step: an instruction not emulated (the fallback) */
	unsigned return_sites;       /* breakpoints on return instructions of followed functions */
	unsigned returns_by_address; /* followed functions whose returns are caught at the return
				      * address instead (tail call through a pointer, no symbols, ...) */
};
VMS_API void vms_tracer_stats(const struct vms_tracer *tr, struct vms_tracer_stats *out);

/*
 * Tracers built on the engine: Linux file activity and system calls,
 * decoded with the kernel's own symbols and types.
 */
enum vms_tev_kind {
	VMS_TEV_OPEN = 1, /* path, flags, mode; result: fd or -errno */
	VMS_TEV_READ = 2, /* path, count, offset; result: bytes or -errno */
	VMS_TEV_WRITE = 3,
	VMS_TEV_UNLINK = 4,   /* path (rmdir too: VMS_TEV_F_DIR); result 0 or -errno */
	VMS_TEV_RENAME = 5,   /* path -> path2 */
	VMS_TEV_SYSCALL = 16, /* nr, name, args; result: return value */
};

enum {
	VMS_TEV_F_DIR = 1u << 0,      /* rmdir */
	VMS_TEV_F_NORESULT = 1u << 1, /* the call did not return while we watched (result unknown) */
	VMS_TEV_F_NOPATH = 1u << 2,   /* the path could not be read */
};

struct vms_trace_event {
	int kind;         /* enum vms_tev_kind */
	uint32_t flags;   /* VMS_TEV_F_* */
	uint64_t host_ns; /* host CLOCK_MONOTONIC at the entry hit */
	unsigned vcpu;
	int32_t pid, tid;
	const char *comm;
	uint64_t dtb;      /* CR3 at the call (PCID bits cleared): its address space */
	const char *path;  /* full path: from the struct file, or the name made absolute with the
				     * process's working directory; "" none */
	const char *path2; /* rename target, else "" */
	int64_t result;
	uint32_t open_flags, mode; /* open */
	uint64_t count;            /* read/write: bytes asked */
	int64_t offset;            /* read/write: file position, -1 unknown */
	int nr;                    /* syscall number */
	const char *name;          /* syscall name ("" unknown) */
	uint64_t args[6];          /* syscall arguments */
};
typedef int (*vms_trace_fn)(void *ctx, const struct vms_trace_event *ev);

/* An event of KIND for the call HIT saw: who ran it, where and when filled
 * in, strings empty, offset and nr unknown (-1); the rest is the caller's. */
static inline struct vms_trace_event vms_trace_event_at(int kind, const struct vms_bp_hit *hit)
{
	return (struct vms_trace_event){ .kind = kind,
		                         .host_ns = hit->host_ns,
		                         .vcpu = hit->vcpu,
		                         .pid = hit->pid,
		                         .tid = hit->tid,
		                         .comm = hit->comm,
		                         .dtb = hit->dtb,
		                         .path = "",
		                         .path2 = "",
		                         .offset = -1,
		                         .nr = -1,
		                         .name = "" };
}

struct vms_trace_opts {
	size_t sz;      /* sizeof(struct vms_trace_opts) */
	int32_t pid;    /* only this process; 0 any */
	uint64_t dtb;   /* only this address space (a CR3 value); 0 any */
	unsigned kinds; /* files: bit (1 << VMS_TEV_*) per kind; 0 = all */
};

/* Add the file tracer's probes (open, read, write, unlink, rename) to TR;
 * FN gets one event per call, when it returns. */
VMS_API int vms_trace_files(struct vms_tracer *tr, struct vms_kernel *k, const struct vms_trace_opts *opts,
                            vms_trace_fn fn, void *ctx);
/* Add the system-call tracer (x86-64 system calls, entry and exit). */
VMS_API int vms_trace_syscalls(struct vms_tracer *tr, struct vms_kernel *k, const struct vms_trace_opts *opts,
                               vms_trace_fn fn, void *ctx);

/* The kernel's system call table: FN(ctx, nr, name) for each number whose
 * entry is a named __x64_sys_* function (the name without that prefix, as
 * the kernel calls it: "sendfile64", "newstat"), not sys_ni_syscall.
 * Non-zero from FN stops the walk and is returned. */
typedef int (*vms_syscall_name_fn)(void *ctx, int nr, const char *name);
VMS_API int vms_syscall_names(struct vms_kernel *k, vms_syscall_name_fn fn, void *ctx);

/* "open", "read", "write", "unlink", "rename", "syscall"; NULL for other values. */
VMS_API const char *vms_tev_kind_name(int kind);
VMS_API int vms_tev_kind_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif
