/*
 * libvmsight — file monitoring: events from vmsight-agent in the guest.
 *
 * Included by vmsight.h. The agent (agent/, docs/watch.md) reports the
 * guest's file activity over one of two channels; a vms_watch follows one
 * of them and hands out one event at a time. Everything the agent sends is
 * checked: a broken or malicious agent costs events (counted as malformed),
 * never the host's memory safety.
 */
#ifndef VMSIGHT_WATCH_H
#define VMSIGHT_WATCH_H

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

/* What happened. File events, then notices about the stream itself. */
enum vms_fev_kind {
	VMS_FEV_OPEN = 1,
	VMS_FEV_READ = 2,  /* fanotify FAN_ACCESS */
	VMS_FEV_WRITE = 3, /* FAN_MODIFY */
	VMS_FEV_CLOSE_WRITE = 4,
	VMS_FEV_EXEC = 5, /* opened for execution (FAN_OPEN_EXEC) */
	VMS_FEV_CREATE = 6,
	VMS_FEV_DELETE = 7,
	VMS_FEV_RENAME = 8,        /* path -> path2 */
	VMS_FEV_AGENT_START = 32,  /* an agent run began: pid = the agent, path = what it watches */
	VMS_FEV_LOST = 33,         /* `lost` events are gone; path says where they were lost */
	VMS_FEV_AGENT_SILENT = 34, /* no sign of life from the agent for a while (killed? guest stopped?);
				     * when none was heard since the watch began, path also says whether
				     * the other channel shows an agent running */
};

enum {
	VMS_FEV_F_DIR = 1u << 0,    /* the object is a directory */
	VMS_FEV_F_TRUNC = 1u << 1,  /* a path was cut at 4096 bytes */
	VMS_FEV_F_NOPATH = 1u << 2, /* the agent could not name the object */
	VMS_FEV_F_NOPROC = 1u << 3, /* the process was gone: comm "" and uid unknown */
	VMS_FEV_F_MERGED = 1u << 4, /* the kernel merged this with other kinds on the same object
				     * by the same process: count and order among them unknown */
};

struct vms_file_event {
	int kind;            /* enum vms_fev_kind */
	uint32_t flags;      /* VMS_FEV_F_* */
	uint64_t ts_ns;      /* guest CLOCK_MONOTONIC when the agent read the event */
	uint64_t host_ns;    /* host CLOCK_MONOTONIC when vmsight received it */
	uint64_t event_id;   /* the agent's running number (per agent run) */
	uint32_t generation; /* agent run */
	int32_t pid;         /* process (thread group) id, -1 unknown */
	int32_t tid;         /* thread id, -1 unknown (fanotify reports the process) */
	int64_t uid;         /* effective uid, -1 unknown */
	int32_t result;      /* 0: the operation succeeded (fanotify reports completed ones) */
	uint64_t lost;       /* VMS_FEV_LOST: how many */
	const char *comm;    /* process name ("" unknown); these strings stay valid */
	const char *path;    /* until the next vms_watch_next */
	const char *path2;   /* rename target, else "" */
	/* The process's parent and command line, from introspection: filled
	 * when vms_watch_opts.kernel is set (from the guest kernel's task
	 * list, not from the agent), or by the enrich hook. */
	int32_t ppid;        /* -1 unknown */
	const char *cmdline; /* NULL unknown */
};

/* Called for every file event before vms_watch_next returns it; may fill
 * ppid and cmdline (pointing at memory it owns until its next call). */
typedef void (*vms_watch_enrich_fn)(void *ctx, struct vms_file_event *ev);

struct vms_kernel;

struct vms_watch_opts {
	size_t sz;               /* sizeof(struct vms_watch_opts) */
	const char *target;      /* "qmp:PATH": find the channels through QEMU's QMP socket */
	const char *channel;     /* "shm" or "vcpu"; NULL: shm if the VM has it, else vcpu */
	const char *shm_path;    /* the ivshmem region's backing file (instead of QMP) */
	const char *socket_path; /* the isa-debugcon chardev's unix socket (instead of QMP) */
	unsigned timeout_ms;     /* QMP replies; 0 = 10000 */
	unsigned silent_ms;      /* report VMS_FEV_AGENT_SILENT after this long; 0 = 3000 */
	unsigned poll_us;        /* shm: sleep between polls while events flow; 0 = 200 */
	unsigned idle_sleep_us;  /* shm: sleep between polls after 100 ms without events; 0 = 1000 */
	vms_watch_enrich_fn enrich;
	void *enrich_ctx;
	char *errbuf; /* optional: why vms_watch_open failed */
	size_t errbuf_len;
	struct vms_kernel *kernel; /* optional: fill ppid and cmdline from this kernel's task list
				     * (vms_tasks; cached per pid for 2 s, refreshed on exec). It
				     * must outlive the watch; the hook above runs after it. */
	/* Filters. A file event that fails one is dropped inside the library
	 * before enrichment (so it costs no task-list walk) and counted in
	 * vms_watch_stats.filtered; notices (agent_start, lost, agent_silent)
	 * always pass, and loss is accounted on every record, filtered or not. */
	int32_t pid;           /* only events of this process (thread group id); 0 = any
				     * (no guest process has pid 0) */
	const char *path_glob; /* only events whose path, or rename target, matches this
				     * fnmatch(3) pattern (no flags: '*' crosses '/'); NULL = any.
				     * Copied: it need not outlive vms_watch_open */
	uint32_t kinds;        /* only these kinds: VMS_FEV_BIT(VMS_FEV_OPEN) | ...; 0 = all.
				     * Bits of kinds other than the file kinds are refused (-EINVAL) */
};

/* The bit of file event kind K in vms_watch_opts.kinds. */
#define VMS_FEV_BIT(k) (1u << (k))

struct vms_watch;

/*
 * Attach to an agent channel. With a target, the shm channel is the
 * ivshmem-plain device's memory backend (its mem-path) and the vcpu
 * channel is the unix socket behind the isa-debugcon device's chardev.
 * shm: events from the agent's present on (or from its start, if it has
 * not started yet). The guest is never paused.
 *
 * The shm channel is a file, which outlives QEMU; to notice a dead VM the
 * watch follows QEMU's process: the QMP peer's pid with a target, else the
 * process that holds shm_path open (QEMU keeps its memory backend's file
 * open; one named qemu* is preferred if several do). When the other
 * channel is known too (a target, or both shm_path and socket_path), it is
 * looked at while no agent has been heard, for the AGENT_SILENT notice:
 * the shm ring's header read twice, or the vcpu socket connected (and
 * drained) until the agent is heard or the notice is given.
 */
VMS_API int vms_watch_open(const struct vms_watch_opts *opts, struct vms_watch **out);
VMS_API void vms_watch_close(struct vms_watch *w);

/* Wait up to TIMEOUT_MS (-1: for ever) for the next event. Returns 1 with
 * *EV filled, 0 on timeout, or -errno with vms_watch_errmsg saying why. The
 * VM is gone: -EPIPE when QEMU closed the vcpu channel's socket; -ESRCH
 * when the QEMU process behind the shm channel exited (checked about every
 * 200 ms while the ring is empty, after the ring is drained). */
VMS_API int vms_watch_next(struct vms_watch *w, struct vms_file_event *ev, int timeout_ms);

struct vms_watch_stats {
	uint64_t received;            /* file events that came in (returned + filtered) */
	uint64_t lost;                /* events known to be missing: gaps in the agent's numbering, and
				     * unread records an agent restart wrote over (counted in ring slots) */
	uint64_t agent_dropped;       /* the agent's count of events it dropped (channel full), since we attached */
	uint64_t agent_overflows;     /* kernel fanotify queue overflows the agent saw, since we attached */
	uint64_t agent_dropped_total; /* the agent's counters as they stand */
	uint64_t agent_overflows_total;
	uint64_t malformed;    /* records or bytes rejected */
	uint64_t agent_starts; /* agent runs seen (restarts + 1) */
	int32_t agent_pid;     /* latest agent run's pid, -1 none yet */
	uint64_t filtered;     /* file events dropped by the filters of vms_watch_opts */
};
VMS_API void vms_watch_stats(const struct vms_watch *w, struct vms_watch_stats *out);

/* "shm" or "vcpu", and where it is (file, socket). */
VMS_API const char *vms_watch_channel(const struct vms_watch *w);
VMS_API const char *vms_watch_detail(const struct vms_watch *w);
VMS_API const char *vms_watch_errmsg(const struct vms_watch *w);

/* "open", "read", "write", "close_write", "exec", "create", "delete",
 * "rename", "agent_start", "lost", "agent_silent"; NULL for other values.
 * vms_fev_kind_parse returns the kind or -1. */
VMS_API const char *vms_fev_kind_name(int kind);
VMS_API int vms_fev_kind_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif
