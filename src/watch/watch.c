/*
 * vms_watch: the stream of file events from vmsight-agent, over either
 * channel, with the accounting that makes loss visible.
 *
 * shm: the ring is polled. The host never stops the guest and the guest
 * never waits for the host, so waking up is the host's problem: after an
 * event it spins for 20 us (bursts come in runs), then sleeps poll_us
 * (200 us) between polls while events flow, and idle_sleep_us (1 ms) once
 * none came for 100 ms. Each wake-up drains the ring. That bounds the added
 * latency by the sleep and the CPU by the wake-up rate, not the event rate
 * (figures in docs/benchmarks.md). vcpu: the socket is event driven; we
 * block in poll().
 *
 * Loss is never silent. The agent numbers every record it makes, dropped
 * or not, so a gap in the numbers is events lost on the way (a full ring);
 * the agent's own counters (drops, kernel queue overflows) come with every
 * record and, for shm, in the ring header; an agent restart that left
 * unread events behind is counted by the ring reader. Each becomes a
 * VMS_FEV_LOST notice in the stream, where it happened.
 *
 * Around that core: the caller's filters drop unwanted events before they
 * are enriched (filter.c); the QEMU process is followed so that a shm watch
 * ends when the VM does (owner.c); and while no agent has been heard, the
 * other channel is looked at so that the silence notice can say where the
 * agent is (probe.c).
 */
#include "vmsight/vmsight.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "enrich.h"
#include "filter.h"
#include "find.h"
#include "owner.h"
#include "probe.h"
#include "wire.h"
#include "util/opts.h"

enum { CH_SHM, CH_VCPU };

/* File kinds are passed through as they are on the wire. */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(VMS_FEV_OPEN, VMS_WIRE_EV_OPEN) && SAME(VMS_FEV_READ, VMS_WIRE_EV_ACCESS) &&
                       SAME(VMS_FEV_WRITE, VMS_WIRE_EV_MODIFY) && SAME(VMS_FEV_CLOSE_WRITE, VMS_WIRE_EV_CLOSE_WRITE) &&
                       SAME(VMS_FEV_EXEC, VMS_WIRE_EV_EXEC) && SAME(VMS_FEV_CREATE, VMS_WIRE_EV_CREATE) &&
                       SAME(VMS_FEV_DELETE, VMS_WIRE_EV_DELETE) && SAME(VMS_FEV_RENAME, VMS_WIRE_EV_RENAME),
               "file event kinds match the wire");

struct vms_watch {
	int channel;
	char detail[600];
	char err[1024];
	unsigned silent_ms, poll_us, idle_sleep_us;
	vms_watch_enrich_fn enrich;
	void *enrich_ctx;
	struct vms_watch_enricher *enricher; /* introspection, when opts.kernel */
	struct vms_watch_filter filter;
	struct vms_watch_owner qemu; /* the process behind the channel */
	int qemu_gone;
	struct vms_watch_probe other; /* the other channel, while no agent is heard */

	uint8_t *map; /* shm */
	size_t map_len;
	struct vms_ring ring;
	int sock; /* vcpu */
	struct vms_framer framer;

	/* the agent run we follow */
	int have_run;
	uint32_t generation;
	uint64_t next_id;
	/* counters: as first seen (baseline), as last reported */
	int have_base;
	uint64_t base_dropped, base_overflows, dropped, overflows;
	uint64_t told_dropped, told_overflows, told_ring_lost; /* as of the last LOST notice */
	uint64_t heartbeat_ns;
	struct vms_watch_stats st;

	/* liveness and waiting */
	uint64_t alive_ns, active_ns;
	int silent_told;
	int heard; /* any sign of an agent on our channel since we attached */

	/* an event held back while a notice about it goes first */
	int held;
	struct vms_file_event held_ev;
	char comm[VMS_WIRE_COMM_MAX + 1];
	char path[VMS_WIRE_PATH_MAX + 1];
	char path2[VMS_WIRE_PATH_MAX + 1];
	char note[256];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int wfail(struct vms_watch *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int wfail(struct vms_watch *w, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	return -err;
}

/* ---- opening ---------------------------------------------------------------- */

static int open_shm(struct vms_watch *w, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return wfail(w, errno, "cannot open the agent's shared memory %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return wfail(w, EINVAL, "%s is not a shared memory file", path);
	}
	w->map_len = (size_t)st.st_size;
	w->map = mmap(NULL, w->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (w->map == MAP_FAILED) {
		w->map = NULL;
		return wfail(w, errno, "cannot map %s: %s", path, strerror(errno));
	}
	if (ring_init(&w->ring, w->map, w->map_len))
		return wfail(w, EINVAL, "%s: %zu bytes can not hold the agent's ring", path, w->map_len);
	/* Events from now on: fix the reading position before returning. */
	ring_attach(&w->ring);
	snprintf(w->detail, sizeof(w->detail), "%s (%zu KiB)", path, w->map_len >> 10);
	return 0;
}

static int open_socket(struct vms_watch *w, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return wfail(w, ENAMETOOLONG, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	w->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (w->sock < 0)
		return wfail(w, errno, "socket: %s", strerror(errno));
	if (connect(w->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return wfail(w, errno, "cannot connect to the agent's debugcon socket %s: %s", path, strerror(errno));
	framer_init(&w->framer);
	snprintf(w->detail, sizeof(w->detail), "%s", path);
	return 0;
}

/* The channel chosen (WANT, or the default) among those found. */
static int open_channel(struct vms_watch *w, const char *want, const struct vms_watch_found *f)
{
	if (!want)
		want = f->shm_path[0] ? "shm" : "vcpu";
	if (strcmp(want, "shm") == 0) {
		w->channel = CH_SHM;
		if (!f->shm_path[0])
			return wfail(w, ENOENT, "no agent shm channel: %s",
			             f->shm_problem[0] ? f->shm_problem
			                               : "the VM has no ivshmem-plain device (see docs/watch.md)");
		return open_shm(w, f->shm_path);
	}
	w->channel = CH_VCPU;
	if (!f->socket_path[0])
		return wfail(w, ENOENT,
		             "no agent vcpu channel: the VM has no isa-debugcon device on a unix "
		             "socket chardev (see docs/watch.md)");
	return open_socket(w, f->socket_path);
}

/* shm: follow QEMU's process, QMP's peer, else whoever holds the file open
 * (nobody found: the watch can not tell when QEMU goes). The vcpu channel
 * needs none of this: QEMU's end closes its socket. */
static int follow_qemu(struct vms_watch *w, const struct vms_watch_opts *o, const struct vms_watch_found *f)
{
	if (w->channel != CH_SHM)
		return 0;
	if (f->qemu_pid > 0) {
		if (watch_owner_pid(&w->qemu, f->qemu_pid) == -ESRCH)
			return wfail(w, ESRCH, "QEMU (pid %d) exited: the VM is gone", f->qemu_pid);
	} else if (o->shm_path) {
		watch_owner_of_file(&w->qemu, o->shm_path);
	}
	if (w->qemu.pid) {
		size_t n = strlen(w->detail);
		snprintf(w->detail + n, sizeof(w->detail) - n, "; QEMU pid %d%s%s%s", (int)w->qemu.pid,
		         w->qemu.comm[0] ? " (" : "", w->qemu.comm, w->qemu.comm[0] ? ")" : "");
	}
	return 0;
}

/* Until an agent is heard: keep an eye on the other channel, if known. */
static void watch_other_channel(struct vms_watch *w, const struct vms_watch_found *f, uint64_t now)
{
	if (w->channel == CH_SHM && f->socket_path[0])
		watch_probe_vcpu(&w->other, f->socket_path, now);
	else if (w->channel == CH_VCPU && f->shm_path[0])
		watch_probe_shm(&w->other, f->shm_path, now);
}

/* Where the channels are: given, or found through QMP. */
static int find_channels(struct vms_watch *w, const struct vms_watch_opts *o, struct vms_watch_found *f)
{
	memset(f, 0, sizeof(*f));
	if (o->shm_path)
		snprintf(f->shm_path, sizeof(f->shm_path), "%s", o->shm_path);
	if (o->socket_path)
		snprintf(f->socket_path, sizeof(f->socket_path), "%s", o->socket_path);
	if (o->shm_path || o->socket_path)
		return 0;
	if (!o->target || strncmp(o->target, "qmp:", 4) != 0)
		return wfail(w, EINVAL, "give a qmp:PATH target, or the channel's file or socket");
	return watch_find(o->target + 4, o->timeout_ms, f, w->err, sizeof(w->err));
}

int vms_watch_open(const struct vms_watch_opts *opts, struct vms_watch **out)
{
	struct vms_watch_opts o = { 0 };
	if (VMS_OPTS_COPY(&o, opts))
		return -EINVAL;
	struct vms_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->sock = -1;
	watch_owner_init(&w->qemu);
	watch_probe_init(&w->other);
	w->silent_ms = o.silent_ms ? o.silent_ms : 3000;
	w->poll_us = o.poll_us ? o.poll_us : 200;
	w->idle_sleep_us = o.idle_sleep_us ? o.idle_sleep_us : 1000;
	w->enrich = o.enrich;
	w->enrich_ctx = o.enrich_ctx;
	w->st.agent_pid = -1;
	int rc;
	struct vms_watch_found f;
	if (o.kernel && !(w->enricher = watch_enricher_new(o.kernel))) {
		rc = wfail(w, ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = watch_filter_init(&w->filter, o.pid, o.path_glob, o.kinds, w->err, sizeof(w->err))))
		goto out;
	if (o.channel && strcmp(o.channel, "shm") != 0 && strcmp(o.channel, "vcpu") != 0) {
		rc = wfail(w, EINVAL, "unknown channel '%s' (shm or vcpu)", o.channel);
		goto out;
	}
	if ((rc = find_channels(w, &o, &f)) || (rc = open_channel(w, o.channel, &f)) || (rc = follow_qemu(w, &o, &f)))
		goto out;
	w->alive_ns = w->active_ns = now_ns();
	if (w->channel == CH_SHM) {
		/* a heartbeat already there is an earlier run's, not a sign of life */
		struct ring_counters c;
		ring_counters(&w->ring, &c);
		w->heartbeat_ns = c.heartbeat_ns;
	}
	watch_other_channel(w, &f, w->alive_ns);
out:
	if (rc) {
		if (o.errbuf && o.errbuf_len)
			snprintf(o.errbuf, o.errbuf_len, "%s", w->err);
		vms_watch_close(w);
		return rc;
	}
	*out = w;
	return 0;
}

void vms_watch_close(struct vms_watch *w)
{
	if (!w)
		return;
	if (w->map)
		munmap(w->map, w->map_len);
	if (w->sock >= 0)
		close(w->sock);
	watch_probe_close(&w->other);
	watch_owner_close(&w->qemu);
	watch_filter_free(&w->filter);
	watch_enricher_free(w->enricher);
	free(w);
}

/* ---- records to events ------------------------------------------------------ */

static void copy_str(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = 0;
}

static void fill_event(struct vms_watch *w, const struct vms_wire_decoded *d, struct vms_file_event *ev)
{
	const struct vms_wire_event *e = &d->ev;
	memset(ev, 0, sizeof(*ev));
	copy_str(w->comm, d->comm, e->comm_len);
	copy_str(w->path, d->path, e->path_len);
	copy_str(w->path2, d->path2, e->path2_len);
	ev->kind = e->kind; /* the file kinds have the wire's values */
	ev->flags = e->flags & (VMS_FEV_F_DIR | VMS_FEV_F_TRUNC | VMS_FEV_F_NOPATH | VMS_FEV_F_NOPROC);
	if (e->flags & VMS_WIRE_F_MERGED)
		ev->flags |= VMS_FEV_F_MERGED;
	ev->ts_ns = e->ts_ns;
	ev->host_ns = now_ns();
	ev->event_id = e->event_id;
	ev->generation = e->generation;
	ev->pid = e->pid < 0 ? -1 : e->pid;
	ev->tid = e->tid < 0 ? -1 : e->tid;
	ev->uid = e->uid == UINT32_MAX ? -1 : (int64_t)e->uid;
	ev->result = e->result;
	ev->comm = w->comm;
	ev->path = w->path;
	ev->path2 = w->path2;
	ev->ppid = -1;
}

static void notice(struct vms_watch *w, struct vms_file_event *ev, int kind, uint64_t lost, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void notice(struct vms_watch *w, struct vms_file_event *ev, int kind, uint64_t lost, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->note, sizeof(w->note), fmt, ap);
	va_end(ap);
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->host_ns = now_ns();
	ev->generation = w->generation;
	ev->pid = ev->tid = ev->ppid = -1;
	ev->uid = -1;
	ev->result = INT32_MIN;
	ev->lost = lost;
	ev->comm = "";
	ev->path = w->note;
	ev->path2 = "";
}

/* Take in the agent's counters; returns the kernel queue overflows not yet
 * told (those events never reached the agent, so no gap shows them). */
static uint64_t counters(struct vms_watch *w, uint64_t dropped, uint64_t overflows)
{
	if (!w->have_base) {
		w->have_base = 1;
		w->base_dropped = w->told_dropped = dropped;
		w->base_overflows = w->told_overflows = overflows;
	}
	if (dropped > w->dropped)
		w->dropped = dropped;
	if (overflows > w->overflows)
		w->overflows = overflows;
	uint64_t n = w->overflows - w->told_overflows;
	w->told_overflows = w->overflows;
	return n;
}

/* A LOST notice for GAP events missing from the agent's numbering and OVF
 * new kernel queue overflows (either may be 0, not both). */
static void lost_notice(struct vms_watch *w, struct vms_file_event *ev, uint64_t gap, uint64_t ovf)
{
	int by_agent = w->dropped > w->told_dropped;
	w->told_dropped = w->dropped;
	char what[128] = "";
	if (ovf)
		snprintf(what, sizeof(what),
		         "the guest kernel's fanotify queue overflowed %llu time%s (events lost "
		         "before the agent)",
		         (unsigned long long)ovf, ovf == 1 ? "" : "s");
	notice(w, ev, VMS_FEV_LOST, gap, "%s%s%s",
	       !gap       ? ""
	       : by_agent ? "dropped by the agent: its channel was full"
	                  : "missing between the agent and the host",
	       gap && ovf ? "; " : "", what);
}

/* The agent on our channel showed life: the other channel has nothing
 * more to tell. */
static void sign_of_life(struct vms_watch *w, uint64_t now)
{
	w->alive_ns = now;
	w->silent_told = 0;
	if (!w->heard) {
		w->heard = 1;
		watch_probe_close(&w->other);
	}
}

/* One decoded record: 1 and *EV to return, or 0 (consumed, nothing to say).
 * A notice about loss goes first; the record then waits in held_ev. A file
 * event the filters refuse is dropped here, after the accounting (loss is
 * told whatever the filters) and before enrichment (which costs). */
static int on_record(struct vms_watch *w, const struct vms_wire_decoded *d, struct vms_file_event *ev)
{
	const struct vms_wire_event *e = &d->ev;
	sign_of_life(w, now_ns());
	uint64_t ovf = counters(w, e->dropped, e->overflows), gap = 0;
	int new_run = e->kind == VMS_WIRE_EV_HELLO || !w->have_run || e->generation != w->generation;
	if (new_run) {
		/* A new agent run (its HELLO, or a later record if HELLO was lost). */
		w->have_run = 1;
		w->generation = e->generation;
	} else if (e->event_id > w->next_id) {
		gap = e->event_id - w->next_id;
		w->st.lost += gap;
	}
	w->next_id = e->event_id + 1;
	int told = gap || ovf;
	if (told)
		lost_notice(w, ev, gap, ovf);
	int kind;
	if (e->kind == VMS_WIRE_EV_HELLO) {
		w->st.agent_starts++;
		w->st.agent_pid = e->pid;
		kind = VMS_FEV_AGENT_START;
	} else if (e->kind <= VMS_WIRE_EV_FILE_LAST) {
		w->st.received++;
		kind = e->kind;
	} else {
		return told; /* STATUS: counters only */
	}
	struct vms_file_event *dst = told ? &w->held_ev : ev;
	fill_event(w, d, dst);
	dst->kind = kind;
	if (kind != VMS_FEV_AGENT_START && !watch_filter_pass(&w->filter, dst)) {
		w->st.filtered++;
		return told;
	}
	if (kind != VMS_FEV_AGENT_START && w->enricher)
		watch_enrich(w->enricher, dst);
	if (kind != VMS_FEV_AGENT_START && w->enrich)
		w->enrich(w->enrich_ctx, dst);
	w->held = told;
	return 1;
}

/* ---- waiting ------------------------------------------------------------------ */

/* Next record from the channel: 1 with *D, 0 none now, -errno. */
static int take(struct vms_watch *w, struct vms_wire_decoded *d)
{
	const uint8_t *blob;
	size_t len;
	if (w->channel == CH_SHM) {
		while (ring_next(&w->ring, &blob, &len) == 1) {
			if (wire_decode(blob, len, 1, d) == 0)
				return 1;
			w->st.malformed++;
		}
		return 0;
	}
	for (;;) {
		while (framer_next(&w->framer, &blob, &len) == 1) {
			if (wire_decode(blob, len, 0, d) == 0)
				return 1;
			w->st.malformed++;
		}
		size_t room;
		uint8_t *dst = framer_space(&w->framer, &room);
		ssize_t n = recv(w->sock, dst, room, 0);
		if (n > 0) {
			framer_added(&w->framer, (size_t)n);
			continue;
		}
		if (n == 0)
			return wfail(w, EPIPE, "QEMU closed the agent's debugcon socket (VM gone?)");
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR)
			return wfail(w, errno, "reading the debugcon socket: %s", strerror(errno));
	}
}

/* No agent heard on our channel since we attached: say so, and what the
 * other channel shows, if we could look at it. */
static void unheard_notice(struct vms_watch *w, struct vms_file_event *ev, uint64_t now)
{
	const char *mine = vms_watch_channel(w), *other = w->channel == CH_SHM ? "vcpu" : "shm";
	int32_t pid;
	int verdict = watch_probe_verdict(&w->other, now, &pid);
	watch_probe_close(&w->other);
	char head[96];
	snprintf(head, sizeof(head), "no agent heard on the %s channel in %u ms", mine, w->silent_ms);
	if (verdict > 0)
		notice(w, ev, VMS_FEV_AGENT_SILENT, 0,
		       "%s; the agent (pid %d) is running on the %s channel: watch "
		       "that channel, or restart the agent with --channel %s",
		       head, (int)pid, other, mine);
	else if (verdict == 0)
		notice(w, ev, VMS_FEV_AGENT_SILENT, 0,
		       "%s, nor on the %s channel: is vmsight-agent running in the "
		       "guest?",
		       head, other);
	else
		notice(w, ev, VMS_FEV_AGENT_SILENT, 0, "%s: is vmsight-agent running in the guest, on this channel?",
		       head);
}

/* Things to say when no record is there: ring losses, counters, silence. */
static int idle_notices(struct vms_watch *w, struct vms_file_event *ev, uint64_t now)
{
	if (w->channel == CH_SHM && w->ring.generation) {
		struct ring_counters c;
		ring_counters(&w->ring, &c);
		if (c.heartbeat_ns != w->heartbeat_ns) {
			w->heartbeat_ns = c.heartbeat_ns;
			sign_of_life(w, now);
		}
		if (w->ring.lost > w->told_ring_lost) {
			uint64_t n = w->ring.lost - w->told_ring_lost;
			w->told_ring_lost = w->ring.lost;
			w->st.lost += n;
			notice(w, ev, VMS_FEV_LOST, n, "unread events overwritten when the agent restarted");
			return 1;
		}
		uint64_t ovf = counters(w, c.dropped, c.overflows);
		if (ovf) {
			lost_notice(w, ev, 0, ovf);
			return 1;
		}
	}
	watch_probe_poll(&w->other, now);
	if (!w->silent_told && now - w->alive_ns > (uint64_t)w->silent_ms * 1000000ull) {
		w->silent_told = 1;
		if (w->heard)
			notice(w, ev, VMS_FEV_AGENT_SILENT, 0, "no sign of life from the agent for %u ms",
			       w->silent_ms);
		else
			unheard_notice(w, ev, now);
		return 1;
	}
	return 0;
}

int vms_watch_next(struct vms_watch *w, struct vms_file_event *ev, int timeout_ms)
{
	uint64_t start = now_ns();
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		if (w->held) {
			w->held = 0;
			*ev = w->held_ev;
			return 1;
		}
		struct vms_wire_decoded d;
		int rc = take(w, &d);
		if (rc < 0)
			return rc;
		uint64_t now = now_ns();
		if (rc == 1) {
			w->active_ns = now;
			if (on_record(w, &d, ev))
				return 1;
			continue;
		}
		if (w->qemu_gone)
			return wfail(w, ESRCH, "QEMU (pid %d%s%s) exited: the VM is gone", (int)w->qemu.pid,
			             w->qemu.comm[0] ? ", " : "", w->qemu.comm);
		if (watch_owner_gone(&w->qemu, now)) {
			w->qemu_gone = 1;
			continue; /* read what it wrote before it went, then say so */
		}
		if (idle_notices(w, ev, now))
			return 1;
		if (now >= deadline)
			return 0;
		uint64_t left_ns = deadline - now;
		if (w->channel == CH_VCPU) {
			struct pollfd p = { .fd = w->sock, .events = POLLIN };
			uint64_t wait_ms = left_ns / 1000000 + 1;
			/* wake for the silence check too */
			if (wait_ms > 500)
				wait_ms = 500;
			if (poll(&p, 1, (int)wait_ms) < 0 && errno != EINTR)
				return wfail(w, errno, "poll: %s", strerror(errno));
			continue;
		}
		/* shm: spin through a burst, then sleep. */
		if (now - w->active_ns < 20000) {
			__builtin_ia32_pause();
			continue;
		}
		uint64_t ns = (uint64_t)(now - w->active_ns < 100000000ull ? w->poll_us : w->idle_sleep_us) * 1000;
		if (ns > left_ns)
			ns = left_ns;
		nanosleep(&(struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull),
		                              .tv_nsec = (long)(ns % 1000000000ull) },
		          NULL);
	}
}

void vms_watch_stats(const struct vms_watch *w, struct vms_watch_stats *out)
{
	*out = w->st;
	out->malformed += w->channel == CH_SHM ? w->ring.malformed : w->framer.malformed;
	out->agent_dropped = w->dropped - w->base_dropped;
	out->agent_overflows = w->overflows - w->base_overflows;
	out->agent_dropped_total = w->dropped;
	out->agent_overflows_total = w->overflows;
}

const char *vms_watch_channel(const struct vms_watch *w)
{
	return w->channel == CH_SHM ? "shm" : "vcpu";
}

const char *vms_watch_detail(const struct vms_watch *w)
{
	return w->detail;
}

const char *vms_watch_errmsg(const struct vms_watch *w)
{
	return w->err;
}

static const char *const kind_names[] = {
	[VMS_FEV_OPEN] = "open",
	[VMS_FEV_READ] = "read",
	[VMS_FEV_WRITE] = "write",
	[VMS_FEV_CLOSE_WRITE] = "close_write",
	[VMS_FEV_EXEC] = "exec",
	[VMS_FEV_CREATE] = "create",
	[VMS_FEV_DELETE] = "delete",
	[VMS_FEV_RENAME] = "rename",
	[VMS_FEV_AGENT_START] = "agent_start",
	[VMS_FEV_LOST] = "lost",
	[VMS_FEV_AGENT_SILENT] = "agent_silent",
};

const char *vms_fev_kind_name(int kind)
{
	if (kind < 0 || (size_t)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return NULL;
	return kind_names[kind];
}

int vms_fev_kind_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (kind_names[i] && strcmp(kind_names[i], name) == 0)
			return (int)i;
	return -1;
}
