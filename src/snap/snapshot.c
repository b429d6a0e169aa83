/*
 * Snapshots of a running VM (see vms_snapshot in vmsight.h).
 *
 * pause and live share one path: capture the vCPUs, lay the ELF core out,
 * copy RAM with one thread per CPU straight from the source's mapping, and
 * (pause) resume. How long the guest was paused is taken from QEMU's own
 * STOP and RESUME event timestamps when the QMP connection saw them, which
 * is what the guest felt, not what our round trips cost.
 *
 * background hands the copy to QEMU: vmsight stops the guest just long
 * enough to read the vCPUs, starts a migration with the background-snapshot
 * capability into a unix socket it listens on, and QEMU saves device state,
 * write-protects RAM with userfaultfd, resumes the guest and streams every
 * page, each one before the guest may change it. vmsight parses the stream
 * (migstream.c) and writes each page of the guest's RAM block to its place
 * in the core. Capabilities are restored afterwards, and the guest is
 * running again on every path where it was running before.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../core/target.h"
#include "../ctl/qemu.h"
#include "../ctl/qmp.h"
#include "migstream.h"
#include "util/escape.h"
#include "util/guard.h"
#include "writer.h"
#include "util/opts.h"

#define NOTE_LEN 512

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#define STREAM_TIMEOUT_MS 60000
#define STREAM_BUF (1u << 20)

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct pause_clock {
	int64_t stop_us, resume_us; /* QEMU's event timestamps, 0 if unseen */
};

static void on_event(void *ctx, const char *event, int64_t ts_us)
{
	struct pause_clock *pc = ctx;
	if (strcmp(event, "STOP") == 0)
		pc->stop_us = ts_us;
	else if (strcmp(event, "RESUME") == 0 && pc->stop_us)
		pc->resume_us = ts_us;
}

static double pause_ms(const struct pause_clock *pc, double fallback)
{
	if (pc->stop_us && pc->resume_us >= pc->stop_us)
		return (double)(pc->resume_us - pc->stop_us) / 1e3;
	return fallback;
}

/* The guest kernel's banner, JSON-escaped into OUT ("" when the guest runs
 * no Linux vmsight can find). Found before any pause: it does not change. */
static void kernel_banner(struct vms_target *t, char *out, size_t len)
{
	struct vms_kernel *k;
	struct vms_kernel_info ki;
	char saved[sizeof(t->err)];
	out[0] = '\0';
	memcpy(saved, t->err, sizeof(saved));
	if (vms_kernel_open(t, NULL, &k) == 0) {
		if (vms_kernel_info(k, &ki) == 0 && ki.banner &&
		    esc_json(out, len, ki.banner, strlen(ki.banner), 0) >= len)
			out[0] = '\0'; /* too long for the note: none rather than a cut one */
		vms_kernel_close(k);
	}
	memcpy(t->err, saved, sizeof(saved));
}

static void fill_note(struct snap_plan *p, const struct vms_snapshot_stats *st, const char *banner)
{
	char note[NOTE_LEN + 1];
	snprintf(note, sizeof(note),
	         "{\"producer\":\"vmsight %d.%d\",\"mode\":\"%s\",\"consistent\":%s,\"pause_ms\":%.3f,"
	         "\"total_ms\":%.3f,\"ram_bytes\":%llu,\"data_bytes\":%llu,\"kernel\":\"%s\"}",
	         VMS_VERSION_MAJOR, VMS_VERSION_MINOR, st->mode, st->consistent ? "true" : "false", st->pause_ms,
	         st->total_ms, (unsigned long long)st->ram_bytes, (unsigned long long)st->data_bytes, banner);
	snap_plan_set_note(p, note);
}

/* Common end of every mode: totals, the note, the header (only when the
 * copy succeeded), and the plan's memory. Returns RC or the header's error. */
static int finish(struct vms_target *t, int fd, struct snap_plan *p, struct vms_regs *regs,
                  struct vms_snapshot_stats *st, const char *banner, double t0, int rc)
{
	st->total_ms = now_ms() - t0;
	st->ram_bytes = p->ram_bytes;
	if (!rc) {
		fill_note(p, st, banner);
		rc = snap_write_header(t, fd, p);
	}
	free(regs);
	snap_plan_free(p);
	return rc;
}

/* Holds the QMP connection open (so its events are seen) and watches STOP
 * and RESUME; -ENOTSUP for targets without QMP. */
static int watch_pauses(struct vms_target *t, struct pause_clock *pc, int *prev_keep)
{
	struct vms_qmp *q;
	*prev_keep = t->qmp_keep;
	int rc = target_qmp(t, &q);
	if (rc)
		return rc;
	target_qmp_keep(t, 1);
	qmp_set_event_handler(q, on_event, pc);
	return 0;
}

static void unwatch_pauses(struct vms_target *t, int prev_keep)
{
	if (t->qmp)
		qmp_set_event_handler(t->qmp, NULL, NULL);
	target_qmp_keep(t, prev_keep);
}

/* Fill our page tables for the RAM mapping before the guest is stopped, so
 * the pause pays for copying, not for minor faults (one per 4 KiB page).
 * Best effort: sources without a mapping, or older kernels, skip it. */
static void prefault_mapping(struct vms_target *t)
{
	const struct vms_ram_range *r;
	size_t n;
	vms_ram_ranges(t, &r, &n);
	for (size_t i = 0; i < n; i++) {
		const void *p = vms_map_pa(t, r[i].gpa, r[i].len);
		uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095;
		if (p)
			madvise((void *)a, r[i].len + ((uintptr_t)p - a), MADV_POPULATE_READ);
	}
}

/* QEMU prepares RAM for write-protection (populating its page tables) only
 * after the guest was stopped; touching every page through QEMU's own
 * address space first makes that step, and so the pause, short. */
static void prefault_qemu(struct vms_target *t)
{
	struct vms_source *pm;
	struct vms_ram_map map;
	char err[256];
	qemu_ram_map(&t->ram, &map);
	if (mem_procmem_open(&map, &pm, err, sizeof(err)) == 0) {
		procmem_touch_all(pm);
		pm->ops->close(pm);
	}
}

/* ---- the guardian: what a killed vmsight leaves undone ---------------------- */

/* Notes to the guardian (util/guard.h). */
enum {
	SNAP_STREAM = 'M', /* a background snapshot streams to us: drain it, restore, resume if we paused */
};

struct snap_guard_ctx {
	char qmp_path[108];
	int sock; /* the migration stream, or -1 */
};

/* In the guardian, once vmsight is gone: read QEMU's stream to its end (a
 * background snapshot cancelled while RAM is write-protected freezes the
 * guest), put the capability back, and resume a guest we paused. */
static void snap_guard_undo(void *ctx, int note)
{
	const struct snap_guard_ctx *g = ctx;
	char buf[1 << 16];
	struct vms_qmp *q = NULL;
	if (note != SNAP_STREAM)
		return;
	if (g->sock >= 0) {
		struct pollfd p = { .fd = g->sock, .events = POLLIN };
		while (poll(&p, 1, 60000) == 1 && recv(g->sock, buf, sizeof(buf), 0) > 0)
			;
		close(g->sock);
	}
	/* Our own QMP connection closes with us; QEMU takes the next. */
	q = qmp_connect_after_us(g->qmp_path);
	if (!q)
		return;
	struct json_doc d;
	for (int i = 0; i < 300; i++) {
		int ret = qmp_cmd(q, "query-migrate", NULL, &d);
		if (ret < 0)
			break;
		const char *st = json_str(&d, json_get(&d, ret, "status"));
		int active = st && strcmp(st, "completed") && strcmp(st, "failed") && strcmp(st, "cancelled");
		json_free(&d);
		if (!active)
			break;
		usleep(100000);
	}
	if (qmp_cmd(q, "migrate-set-capabilities",
	            "{\"capabilities\":[{\"capability\":\"background-snapshot\",\"state\":false}]}", &d) >= 0)
		json_free(&d);
	if (qemu_running(q) == 0)
		qemu_cont(q);
	qmp_close(q);
}

/* Arm a guardian for T (live QEMUs with QMP only: nothing else can be
 * left changed); SOCK is the stream it drains, or -1. 0 or -errno. */
static int snap_guard_arm(struct vms_target *t, struct guard *gd, int sock)
{
	struct snap_guard_ctx ctx = { .sock = sock };
	if (!t->qmp_path[0])
		return 0;
	snprintf(ctx.qmp_path, sizeof(ctx.qmp_path), "%s", t->qmp_path);
	int keep[1] = { sock };
	return guard_arm(gd, keep, sock >= 0 ? 1 : 0, snap_guard_undo, &ctx, t->err, sizeof(t->err));
}

static int snapshot_copy(struct vms_target *t, int fd, const struct vms_snapshot_opts *o, struct vms_snapshot_stats *st,
                         int pause)
{
	struct pause_clock pc = { 0 };
	int prev_keep = 0, watching = 0, paused = 0, rc;
	double t0 = now_ms(), tp = 0;
	struct vms_regs *regs = NULL;
	int nvcpu = 0;
	struct snap_plan p = { 0 };
	char banner[256];
	kernel_banner(t, banner, sizeof(banner));
	if (t->qmp_path[0]) {
		if ((rc = watch_pauses(t, &pc, &prev_keep)))
			return rc;
		watching = 1;
	}
	prefault_mapping(t);
	if (pause && watching) {
		rc = vms_is_running(t);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			/* killed while the guest is paused: vms_pause's guardian resumes it */
			if ((rc = vms_pause(t)))
				goto out;
			paused = 1;
			tp = now_ms();
		}
	}
	if ((rc = snap_capture_regs(t, &regs, &nvcpu)) || (rc = snap_plan_elf(t, regs, nvcpu, NOTE_LEN, &p)) ||
	    (rc = snap_size_file(t, fd, &p)))
		goto out;
	rc = snap_copy(t, fd, &p, o->threads, o->progress, o->progress_ctx, &st->data_bytes);
out:
	if (paused) {
		int r2 = vms_resume(t);
		if (r2 && !rc)
			rc = r2;
		/* The RESUME event precedes cont's reply, so pc is complete here. */
		st->pause_ms = pause_ms(&pc, now_ms() - tp);
	}
	if (watching)
		unwatch_pauses(t, prev_keep);
	st->consistent = pause || !watching; /* a dump or a stopped source cannot change */
	return finish(t, fd, &p, regs, st, banner, t0, rc);
}

/* ---- background: QEMU's background-snapshot migration ----------------------- */

struct stream {
	struct vms_target *t;
	int sock, out;
	const struct snap_plan *plan;
	uint8_t *buf;
	size_t pos, len;
	uint64_t written;
	int werr; /* first error writing the file; the stream is still read to its end */
	char err[256];
	char werr_msg[1024];
};

static int stream_fill(struct stream *s)
{
	struct pollfd p = { .fd = s->sock, .events = POLLIN };
	for (;;) {
		int pr = poll(&p, 1, STREAM_TIMEOUT_MS);
		if (pr == 0) {
			snprintf(s->err, sizeof(s->err), "QEMU sent nothing for %d s", STREAM_TIMEOUT_MS / 1000);
			return -ETIMEDOUT;
		}
		if (pr < 0 && errno == EINTR)
			continue;
		ssize_t n = read(s->sock, s->buf, STREAM_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		s->pos = 0;
		s->len = (size_t)n;
		return 0;
	}
}

static int stream_read(void *ctx, void *buf, size_t n)
{
	struct stream *s = ctx;
	uint8_t *out = buf;
	while (n) {
		if (s->pos == s->len) {
			int rc = stream_fill(s);
			if (rc)
				return rc;
		}
		size_t k = s->len - s->pos < n ? s->len - s->pos : n;
		memcpy(out, s->buf + s->pos, k);
		s->pos += k;
		out += k;
		n -= k;
	}
	return 0;
}

static int stream_page(void *ctx, const char *name, uint64_t offset, const uint8_t *data, uint8_t fill)
{
	struct stream *s = ctx;
	const struct vms_qemu_ram *ram = &s->t->ram;
	if (strcmp(name, ram->block_name) != 0)
		return 0; /* ROMs, video RAM: not guest RAM */
	if (!data && fill == 0)
		return 0; /* the file is sized with holes */
	for (size_t i = 0; i < ram->nranges; i++) {
		if (offset < ram->offsets[i] || offset - ram->offsets[i] >= ram->ranges[i].len)
			continue;
		uint64_t off = s->plan->file_off[i] + (offset - ram->offsets[i]);
		uint8_t page[MS_PAGE];
		if (!data) {
			memset(page, fill, sizeof(page));
			data = page;
		}
		if (s->werr)
			return 0;
		int rc = snap_pwrite(s->t, s->out, data, MS_PAGE, off);
		if (rc) {
			s->werr = rc;
			memcpy(s->werr_msg, s->t->err, sizeof(s->werr_msg));
		}
		s->written += MS_PAGE;
		return 0;
	}
	return 0; /* part of the block the guest does not see (e.g. under the VGA window) */
}

static int listen_unix(char *path, size_t pathlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(path, pathlen, "/tmp/vmsight-snapshot-%d-%ld.sock", (int)getpid(), (long)(now_ms() * 1000));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	chmod(path, 0600);
	return fd;
}

/* QEMU may run as another user than us (libvirt's runs as libvirt-qemu):
 * the socket, 0600, becomes that user's so QEMU may connect, and no one
 * else's. Best effort: as non-root QEMU is ours anyway. */
static void give_to_qemu(const char *path, int pid)
{
	char proc[32];
	struct stat st;
	snprintf(proc, sizeof(proc), "/proc/%d", pid);
	if (pid > 0 && stat(proc, &st) == 0 && st.st_uid != geteuid() && chown(path, st.st_uid, st.st_gid) != 0)
		return; /* QEMU's connect then fails and says so */
}

static int qmp_simple(struct vms_target *t, struct vms_qmp *q, const char *cmd, const char *args)
{
	struct json_doc d;
	int rc = qmp_cmd(q, cmd, args, &d);
	if (rc < 0) {
		snprintf(t->err, sizeof(t->err), "%s", qmp_err(q));
		return rc;
	}
	json_free(&d);
	return 0;
}

/* Refuse capabilities that change the stream's format or what it carries. */
static int check_capabilities(struct vms_target *t, struct vms_qmp *q)
{
	static const char *bad[] = { "postcopy-ram", "x-ignore-shared", "compress",      "xbzrle",
		                     "multifd",      "rdma-pin-all",    "dirty-bitmaps", "return-path" };
	struct json_doc d;
	int ret = qmp_cmd(q, "query-migrate-capabilities", NULL, &d);
	if (ret < 0) {
		snprintf(t->err, sizeof(t->err), "%s", qmp_err(q));
		return ret;
	}
	int rc = 0;
	for (int i = 0, c; (c = json_at(&d, ret, i)) >= 0 && !rc; i++) {
		const char *name = json_str(&d, json_get(&d, c, "capability"));
		if (!name || json_bool(&d, json_get(&d, c, "state")) != 1)
			continue;
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
			if (strcmp(name, bad[k]) == 0) {
				snprintf(t->err, sizeof(t->err),
				         "migration capability %s is on; background snapshots "
				         "need it off",
				         name);
				rc = -EBUSY;
			}
	}
	json_free(&d);
	return rc;
}

static int migration_status(struct vms_target *t, struct vms_qmp *q, char *status, size_t len, double *downtime)
{
	struct json_doc d;
	int ret = qmp_cmd(q, "query-migrate", NULL, &d);
	if (ret < 0) {
		snprintf(t->err, sizeof(t->err), "%s", qmp_err(q));
		return ret;
	}
	const char *s = json_str(&d, json_get(&d, ret, "status"));
	snprintf(status, len, "%s", s ? s : "none");
	uint64_t dt;
	if (downtime && json_u64(&d, json_get(&d, ret, "downtime"), &dt) == 0)
		*downtime = (double)dt;
	const char *desc = json_str(&d, json_get(&d, ret, "error-desc"));
	if (desc)
		snprintf(t->err, sizeof(t->err), "QEMU: %s", desc);
	json_free(&d);
	return 0;
}

static int snapshot_background(struct vms_target *t, int fd, struct vms_snapshot_stats *st)
{
	if (!t->has_ram || !t->qmp_path[0]) {
		snprintf(t->err, sizeof(t->err), "background snapshots need a live QEMU with QMP (-t qmp:PATH)");
		return -ENOTSUP;
	}
	struct pause_clock pc = { 0 };
	int prev_keep, rc, cap_on = 0, migrating = 0, was_running = 0, lsock = -1;
	char sock_path[108] = "", status[32];
	double t0 = now_ms(), tp = 0;
	struct vms_regs *regs = NULL;
	int nvcpu = 0;
	struct snap_plan p = { 0 };
	struct stream s = { .t = t, .sock = -1, .out = fd };
	struct vms_qmp *q;
	struct guard gd = GUARD_INIT, gd_stream = GUARD_INIT;
	char banner[256];
	kernel_banner(t, banner, sizeof(banner));
	if ((rc = watch_pauses(t, &pc, &prev_keep)))
		return rc;
	q = t->qmp;
	if ((rc = migration_status(t, q, status, sizeof(status), NULL)))
		goto out;
	if (strcmp(status, "none") && strcmp(status, "completed") && strcmp(status, "failed") &&
	    strcmp(status, "cancelled")) {
		snprintf(t->err, sizeof(t->err), "a migration is already %s", status);
		rc = -EBUSY;
		goto out;
	}
	if ((rc = check_capabilities(t, q)))
		goto out;
	/* Killed from here on: the guardian puts the capability back and
	 * resumes the guest (then, once the stream flows, drains it first). */
	if ((rc = snap_guard_arm(t, &gd, -1)))
		goto out;
	guard_note(&gd, SNAP_STREAM);
	rc = qmp_simple(t, q, "migrate-set-capabilities",
	                "{\"capabilities\":[{\"capability\":\"background-snapshot\",\"state\":true}]}");
	if (rc)
		goto out;
	cap_on = 1;
	if ((lsock = listen_unix(sock_path, sizeof(sock_path))) < 0) {
		rc = lsock;
		snprintf(t->err, sizeof(t->err), "cannot listen on %s: %s", sock_path, strerror(-rc));
		goto out;
	}
	give_to_qemu(sock_path, t->ram.pid);
	/* Stop just long enough to read the vCPUs; QEMU resumes the guest itself
	 * once device state is saved and RAM is write-protected. */
	prefault_qemu(t);
	was_running = vms_is_running(t) == 1;
	if (was_running) {
		if ((rc = vms_pause(t)))
			goto out;
		/* Ours, not vms_pause's guardian, resumes a killed run: only
		 * once QEMU's stream is drained (QEMU resumes the guest itself
		 * when the snapshot has write-protected RAM). */
		guard_disarm(&t->pause_guard);
		tp = now_ms();
	}
	if ((rc = snap_capture_regs(t, &regs, &nvcpu)) || (rc = snap_plan_elf(t, regs, nvcpu, NOTE_LEN, &p)) ||
	    (rc = snap_size_file(t, fd, &p)))
		goto out;
	char args[256];
	snprintf(args, sizeof(args), "{\"uri\":\"unix:%s\"}", sock_path);
	if ((rc = qmp_simple(t, q, "migrate", args)))
		goto out;
	migrating = 1;
	struct pollfd pfd = { .fd = lsock, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1 || (s.sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		migration_status(t, q, status, sizeof(status), NULL);
		if (!strstr(t->err, "QEMU"))
			snprintf(t->err, sizeof(t->err), "QEMU did not connect to the snapshot socket (status %s)",
			         status);
		rc = -ETIMEDOUT;
		goto out;
	}
	if ((rc = snap_guard_arm(t, &gd_stream, s.sock)))
		goto out;
	guard_note(&gd_stream, SNAP_STREAM);
	guard_disarm(&gd);
	s.plan = &p;
	s.buf = malloc(STREAM_BUF);
	if (!s.buf) {
		rc = -ENOMEM;
		goto out;
	}
	struct ms_callbacks cb = { .read = stream_read, .page = stream_page, .ctx = &s };
	struct ms_stats ms;
	char perr[256] = "";
	int prc = ms_parse(&cb, &ms, perr, sizeof(perr));
	/* Read the stream to its end whatever happened on our side (a full disk,
	 * a record we could not parse): cancelling a background snapshot while
	 * guest RAM is write-protected leaves the guest frozen in QEMU 7.2, so
	 * vmsight lets QEMU complete and reports its own error afterwards. Only
	 * a stream that stops coming is cancelled. */
	int drc;
	do
		drc = stream_fill(&s);
	while (drc == 0);
	if (drc != -EPIPE) {
		rc = drc;
		snprintf(t->err, sizeof(t->err), "background snapshot stream: %s", s.err[0] ? s.err : strerror(-rc));
		goto out;
	}
	double deadline = now_ms() + 30000, downtime = 0;
	for (;;) {
		if ((rc = migration_status(t, q, status, sizeof(status), &downtime)))
			goto out;
		if (strcmp(status, "completed") == 0)
			break;
		if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0 || now_ms() > deadline) {
			rc = -EIO;
			if (!strstr(t->err, "QEMU"))
				snprintf(t->err, sizeof(t->err), "QEMU's background snapshot ended %s", status);
			goto out;
		}
		qmp_poll_events(q, 10);
	}
	migrating = 0;
	st->data_bytes = s.written;
	if (s.werr) {
		rc = s.werr;
		memcpy(t->err, s.werr_msg, sizeof(t->err));
	} else if (prc) {
		rc = prc;
		snprintf(t->err, sizeof(t->err), "background snapshot stream: %s", perr[0] ? perr : strerror(-prc));
	}
out:
	if (migrating)
		qmp_simple(t, q, "migrate_cancel", NULL);
	if (cap_on)
		qmp_simple(t, q, "migrate-set-capabilities",
		           "{\"capabilities\":[{\"capability\":\"background-snapshot\",\"state\":false}]}");
	if (was_running && vms_is_running(t) == 0) {
		int r2 = vms_resume(t);
		if (r2 && !rc)
			rc = r2;
	}
	guard_disarm(&gd_stream);
	guard_disarm(&gd);
	/* Collect the RESUME event if it has not been read yet. */
	for (int i = 0; i < 50 && pc.stop_us && !pc.resume_us && t->qmp; i++)
		qmp_poll_events(t->qmp, 10);
	st->pause_ms = was_running ? pause_ms(&pc, now_ms() - tp) : 0;
	unwatch_pauses(t, prev_keep);
	if (s.sock >= 0)
		close(s.sock);
	if (lsock >= 0)
		close(lsock);
	if (sock_path[0])
		unlink(sock_path);
	free(s.buf);
	st->consistent = 1;
	return finish(t, fd, &p, regs, st, banner, t0, rc);
}

int vms_snapshot(struct vms_target *t, int fd, const struct vms_snapshot_opts *opts, struct vms_snapshot_stats *stats)
{
	struct vms_snapshot_opts o = { .mode = VMS_SNAP_PAUSE };
	if (VMS_OPTS_COPY(&o, opts)) {
		snprintf(t->err, sizeof(t->err), VMS_OPTS_BAD, "vms_snapshot_opts", opts->sz, sizeof(o));
		return -EINVAL;
	}
	struct vms_snapshot_stats st = { 0 };
	int rc;
	switch (o.mode) {
	case VMS_SNAP_PAUSE:
		st.mode = "pause";
		rc = snapshot_copy(t, fd, &o, &st, 1);
		break;
	case VMS_SNAP_LIVE:
		st.mode = "live";
		rc = snapshot_copy(t, fd, &o, &st, 0);
		break;
	case VMS_SNAP_BACKGROUND:
		st.mode = "background";
		/* QEMU resumes the guest when its background snapshot has
		 * write-protected RAM, also one that was paused before; a guest
		 * that is not running is copied as it stands instead. */
		if (t->qmp_path[0] && vms_is_running(t) == 0)
			rc = snapshot_copy(t, fd, &o, &st, 1);
		else
			rc = snapshot_background(t, fd, &st);
		break;
	default: snprintf(t->err, sizeof(t->err), "unknown snapshot mode %d", (int)o.mode); return -EINVAL;
	}
	if (rc == 0 && fsync(fd) != 0 && errno != EINVAL) {
		rc = -errno;
		snprintf(t->err, sizeof(t->err), "writing the snapshot: %s", strerror(errno));
	}
	if (stats)
		*stats = st;
	return rc;
}

/* ---- diff ------------------------------------------------------------------- */

static int page_of(struct vms_target *t, uint64_t gpa, const uint8_t **p, uint8_t *buf)
{
	*p = vms_map_pa(t, gpa, SNAP_PAGE);
	if (*p)
		return 0;
	const struct vms_ram_range *r;
	size_t n;
	vms_ram_ranges(t, &r, &n);
	for (size_t i = 0; i < n; i++)
		if (gpa >= r[i].gpa && gpa - r[i].gpa + SNAP_PAGE <= r[i].len) {
			int rc = vms_read_pa(t, gpa, buf, SNAP_PAGE);
			*p = buf;
			return rc;
		}
	return 1; /* not RAM in this target */
}

static long long diff_one_way(struct vms_target *a, struct vms_target *b, int report_common, vms_diff_fn fn, void *ctx,
                              int *stopped)
{
	const struct vms_ram_range *r;
	size_t n;
	vms_ram_ranges(a, &r, &n);
	uint8_t ba[SNAP_PAGE], bb[SNAP_PAGE];
	long long total = 0;
	uint64_t run_start = 0, run = 0;
	for (size_t i = 0; i < n && !*stopped; i++) {
		for (uint64_t off = 0; off + SNAP_PAGE <= r[i].len; off += SNAP_PAGE) {
			uint64_t gpa = r[i].gpa + off;
			const uint8_t *pa, *pb;
			int ra = page_of(a, gpa, &pa, ba);
			if (ra < 0)
				return ra;
			int rb = page_of(b, gpa, &pb, bb);
			if (rb < 0)
				return rb;
			int differs = rb == 1 ? 1 : (report_common && memcmp(pa, pb, SNAP_PAGE) != 0);
			if (differs && run && run_start + run * SNAP_PAGE == gpa) {
				run++;
			} else {
				if (run && fn && fn(ctx, run_start, run)) {
					*stopped = 1;
					return total;
				}
				run = differs ? 1 : 0;
				run_start = gpa;
			}
			total += differs;
		}
	}
	if (run && fn && !*stopped && fn(ctx, run_start, run))
		*stopped = 1;
	return total;
}

long long vms_diff_pages(struct vms_target *a, struct vms_target *b, vms_diff_fn fn, void *ctx)
{
	int stopped = 0;
	long long x = diff_one_way(a, b, 1, fn, ctx, &stopped);
	if (x < 0 || stopped)
		return x;
	long long y = diff_one_way(b, a, 0, fn, ctx, &stopped);
	return y < 0 ? y : x + y;
}
