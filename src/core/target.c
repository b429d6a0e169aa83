/*
 * A target: one attached VM. It joins a memory source (where guest bytes
 * come from) with the control channel a live QEMU offers (QMP: run state,
 * vCPU registers) and picks the fastest source that works, saying why.
 *
 * The paging mode translation uses is vCPU 0's, and asking for registers
 * may mean talking to QEMU, which a page walk must never do. So the target
 * asks here, at the moments the guest may have changed it: when it opens,
 * after every pause and resume, and when a fixed mode is given up
 * (vms_set_paging(VMS_PAGING_UNKNOWN)); src/arch only reads memory.
 *
 * QMP connections are opened for the moment they are needed and closed
 * after, because QEMU serves one QMP client at a time and vmsight must not
 * lock other tools (libvirt, operators) out of the monitor. Only the qmp
 * memory source, which talks to QEMU on every read, keeps one open. A burst
 * of operations (attaching, finding the kernel: one CLI command) may be
 * held together (vms_hold): one connection for all of it, and the vCPUs'
 * registers read once, all of them in one `info registers -a`.
 */
#include "target.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../arch/paging.h"
#include "../ctl/cmdline.h"
#include "../ctl/gdb.h"
#include "../ctl/libvirt.h"
#include "../ctl/qemu.h"
#include "memo.h"
#include "util/opts.h"

static int tfail(struct vms_target *t, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int tfail(struct vms_target *t, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return -err;
}

void target_log(struct vms_target *t, const char *fmt, ...)
{
	if (!t->log)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->log(t->log_ctx, msg);
}

/* The QMP connection for one operation; pair with qmp_release. */
static int qmp_acquire(struct vms_target *t, struct vms_qmp **out)
{
	if (!t->qmp_path[0])
		return tfail(t, ENOTSUP, "target has no QMP control channel (needed for run state and registers)");
	if (!t->qmp) {
		char err[512];
		int rc = qmp_connect(t->qmp_path, t->timeout_ms, &t->qmp, err, sizeof(err));
		if (rc)
			return tfail(t, -rc, "%s", err);
	}
	*out = t->qmp;
	return 0;
}

static void qmp_release(struct vms_target *t)
{
	if (t->qmp && !t->qmp_keep && !t->hold) {
		qmp_close(t->qmp);
		t->qmp = NULL;
		t->regs_asked = 0;
	}
}

static int held_regs(struct vms_target *t);

/* The registers read while held are of one moment: a pause or resume
 * makes another. One asked for and not yet read is read first: QEMU
 * answers in order. */
static void held_regs_drop(struct vms_target *t)
{
	if (t->regs_asked && t->qmp)
		held_regs(t);
	free(t->held_regs);
	t->held_regs = NULL;
	t->held_nregs = 0;
}

void vms_hold(struct vms_target *t)
{
	t->hold++;
}

void vms_unhold(struct vms_target *t)
{
	if (!t->hold || --t->hold)
		return;
	held_regs_drop(t);
	qmp_release(t);
}

int target_qmp(struct vms_target *t, struct vms_qmp **out)
{
	return qmp_acquire(t, out);
}

void target_qmp_release(struct vms_target *t)
{
	qmp_release(t);
}

int target_has_qmp(const struct vms_target *t)
{
	return t->qmp_path[0] != '\0';
}

int target_source_is(const struct vms_target *t, const char *name)
{
	return t->src && strcmp(t->src->ops->name, name) == 0;
}

void target_qmp_keep(struct vms_target *t, int keep)
{
	t->qmp_keep = keep;
	if (!keep)
		qmp_release(t);
}

static int qmp_result(struct vms_target *t, int rc)
{
	if (rc < 0 && t->qmp)
		tfail(t, -rc, "%s", qmp_err(t->qmp));
	qmp_release(t);
	return rc;
}

static int open_named(struct vms_target *t, const char *name, const struct vms_qemu_ram *ram, int gdb_port)
{
	char err[1024] = "";
	struct vms_ram_map map;
	int rc;
	qemu_ram_map(ram, &map);
	if (strcmp(name, "shm") == 0) {
		rc = qemu_ram_shareable(ram, err, sizeof(err));
		if (rc == 0)
			rc = mem_shm_open(&map, &t->src, err, sizeof(err));
	} else if (strcmp(name, "procmem") == 0) {
		rc = mem_procmem_open(&map, &t->src, err, sizeof(err));
	} else if (strcmp(name, "gdb") == 0) {
		if (gdb_port <= 0)
			return tfail(t, ENOENT, "QEMU has no GDB stub (start it with -gdb tcp:127.0.0.1:PORT)");
		/* QEMU stops the guest when a debugger attaches and resumes it at
		 * `D`: one someone had paused must be left stopped. */
		struct vms_qmp *q;
		int running = qmp_acquire(t, &q) == 0 ? qemu_running(q) : -1;
		if (t->qmp)
			qmp_release(t);
		rc = mem_gdb_open("127.0.0.1", gdb_port, t->timeout_ms, &t->src, err, sizeof(err));
		if (rc == 0 && running == 0)
			mem_gdb_leave_stopped(t->src);
	} else if (strcmp(name, "qmp") == 0) {
		struct vms_qmp *q;
		if (t->regs_asked)
			held_regs(t); /* its reply first: the source talks to QEMU from now on */
		if ((rc = qmp_acquire(t, &q)))
			return rc;
		t->qmp_keep = 1;
		rc = mem_qmp_open(q, &map, &t->src, err, sizeof(err));
	} else {
		return tfail(t, EINVAL, "unknown source '%s' (shm, procmem, gdb, qmp, dump)", name);
	}
	if (rc)
		return tfail(t, -rc, "source %s: %s", name, err);
	return 0;
}

/* qmp:PATH, or pid:N whose command line names a QMP socket. */
static int open_qemu(struct vms_target *t, const char *force)
{
	struct vms_qmp *q;
	struct vms_qemu_ram ram;
	int rc = qmp_acquire(t, &q);
	if (rc)
		return rc;
	memo_name_qemu(t, qmp_pid(q));
	/* The GDB stub matters only to the gdb source (and to a log that says
	 * what QEMU offers): not a round trip for every attach. */
	int want_gdb = (force && strcmp(force, "gdb") == 0) || t->log;
	if (memo_layout(t, &ram) == 0) {
		/* Nothing to ask of QEMU before the registers, which a held attach
		 * reads next: asked now, answered while the source opens. */
		if (t->hold && !want_gdb && qemu_regs_all_send(q) == 0)
			t->regs_asked = 1;
		target_log(t, "the RAM layout of QEMU pid %d as an earlier attach found it (no layout queries)",
		           qmp_pid(q));
	} else {
		rc = qemu_discover_ram(q, &ram);
	}
	if (rc == -ENOENT)
		tfail(t, ENOENT, "QEMU at %s reports no RAM backend with a guest-physical mapping", t->qmp_path);
	else if (rc)
		tfail(t, -rc, "learning the RAM layout from QMP: %s",
		      rc == -EPROTO && !qmp_err(q)[0] ? "unexpected `info mtree -f` output" : qmp_err(q));
	int gdb_port = rc || !want_gdb ? 0 : qemu_gdb_port(q);
	qmp_release(t);
	if (rc)
		return rc;
	t->ram = ram;
	t->has_ram = 1;
	if (t->pid && ram.pid != t->pid)
		return tfail(t, EINVAL, "QMP socket %s belongs to pid %d, not %d", t->qmp_path, ram.pid, t->pid);
	target_log(t, "QEMU pid %d, RAM backend %s '%s' (%llu MiB%s%s%s), %zu guest-physical ranges, GDB stub %s",
	           ram.pid, ram.backend_type, ram.block_name, (unsigned long long)(ram.size >> 20),
	           ram.shared ? ", shared" : ", private", ram.mem_path[0] ? ", file " : "", ram.mem_path, ram.nranges,
	           gdb_port > 0 ? "present" : "absent");
	if (force)
		return open_named(t, force, &ram, gdb_port);
	/* Fastest first: in-place loads, then one syscall per read, then the
	 * monitor. The GDB stub is never picked by itself: it pauses the guest. */
	static const char *order[] = { "shm", "procmem", "qmp" };
	for (size_t i = 0; i < 3; i++) {
		rc = open_named(t, order[i], &ram, gdb_port);
		if (rc == 0) {
			target_log(t, "picked source %s: %s", order[i], t->src->detail);
			return 0;
		}
		target_log(t, "not %s: %s", order[i], t->err);
	}
	return rc;
}

static int open_pid(struct vms_target *t, const char *force)
{
	struct vms_qemu_ram ram;
	char err[512];
	int rc = cmdline_read(t->pid, t->qmp_path, sizeof(t->qmp_path), &ram, err, sizeof(err));
	if (rc)
		return tfail(t, -rc, "%s", err);
	if (t->qmp_path[0]) {
		target_log(t, "QEMU %d has a QMP socket at %s: using it for the layout", t->pid, t->qmp_path);
		rc = open_qemu(t, force ? force : "procmem");
		if (rc == 0 || force)
			return rc;
		target_log(t, "QMP unusable (%s); falling back to the command line", t->err);
		t->qmp_path[0] = '\0';
	}
	if (force && strcmp(force, "procmem") != 0 && strcmp(force, "shm") != 0)
		return tfail(t, ENOTSUP, "source %s needs a QMP socket, and QEMU %d has none", force, t->pid);
	memo_name_qemu(t, t->pid); /* no layout kept: the command line gives it */
	target_log(t, "layout from QEMU %d's command line: %llu MiB, %zu ranges (PC machine rules)", t->pid,
	           (unsigned long long)(ram.size >> 20), ram.nranges);
	const char *name = force ? force : "procmem";
	rc = open_named(t, name, &ram, 0);
	if (rc == 0)
		target_log(t, "picked source %s: %s", name, t->src->detail);
	return rc;
}

static int parse_target(struct vms_target *t, const char *target, const char *force)
{
	char err[1024];
	int rc;
	if (strncmp(target, "qmp:", 4) == 0) {
		if (strlen(target + 4) >= sizeof(t->qmp_path) || !target[4])
			return tfail(t, EINVAL, "bad QMP socket path in '%s'", target);
		strcpy(t->qmp_path, target + 4);
		return open_qemu(t, force);
	}
	if (strncmp(target, LIBVIRT_PREFIX, strlen(LIBVIRT_PREFIX)) == 0) {
		/* QMP through libvirt (ctl/libvirt.h): the same code paths as qmp:,
		 * with the "socket" naming the domain for every later connection. */
		char name[256], uri[256];
		if (libvirt_parse(target + strlen(LIBVIRT_PREFIX), name, sizeof(name), uri, sizeof(uri)) ||
		    strlen(target) >= sizeof(t->qmp_path))
			return tfail(t, EINVAL, "bad libvirt target '%s' (expected libvirt:NAME or libvirt:NAME@URI)",
			             target);
		if (!libvirt_available())
			return tfail(t, ENOTSUP,
			             "%s: this vmsight was built without libvirt (apt-get install libvirt-dev, "
			             "then meson setup --reconfigure -Dlibvirt=enabled BUILDDIR)",
			             target);
		strcpy(t->qmp_path, target);
		/* libvirt multiplexes its monitor: a held connection locks no one
		 * out, and saves a domain lookup per operation */
		t->qmp_keep = 1;
		return open_qemu(t, force);
	}
	if (strncmp(target, "pid:", 4) == 0) {
		char *end;
		long pid = strtol(target + 4, &end, 10);
		if (*end || pid <= 0 || pid > 0x3fffffff)
			return tfail(t, EINVAL, "bad process id in '%s'", target);
		t->pid = (int)pid;
		return open_pid(t, force);
	}
	if (strncmp(target, "gdb:", 4) == 0) {
		char host[256];
		int port;
		if (gdb_parse_hostport(target + 4, host, sizeof(host), &port))
			return tfail(t, EINVAL, "expected gdb:HOST:PORT, got '%s'", target);
		if (force && strcmp(force, "gdb") != 0)
			return tfail(t, EINVAL, "target %s only offers the gdb source", target);
		rc = mem_gdb_open(host, port, t->timeout_ms, &t->src, err, sizeof(err));
		return rc ? tfail(t, -rc, "%s", err) : 0;
	}
	if (strncmp(target, "dump:", 5) == 0) {
		if (force && strcmp(force, "dump") != 0)
			return tfail(t, EINVAL, "target %s only offers the dump source", target);
		rc = mem_dump_open(target + 5, &t->src, err, sizeof(err));
		return rc ? tfail(t, -rc, "%s", err) : 0;
	}
	return tfail(t, EINVAL,
	             "unknown target '%s' (expected qmp:PATH, libvirt:NAME, pid:N, gdb:HOST:PORT or dump:FILE)",
	             target);
}

/* Learn the paging mode from vCPU 0 unless it is fixed; a failure is kept
 * in t->paging_why for the translations it fails, and leaves t->err as it
 * was (the caller's own error, if any, stands). */
static void learn_paging(struct vms_target *t)
{
	if (mmu_mode_fixed(t))
		return;
	char saved[sizeof(t->err)];
	memcpy(saved, t->err, sizeof(saved));
	struct vms_regs r;
	int rc = vms_vcpu_regs(t, 0, &r);
	if (rc)
		snprintf(t->paging_why, sizeof(t->paging_why),
		         "no registers of vCPU 0 (%s); set the mode "
		         "(vms_set_paging, --paging)",
		         t->err);
	else if ((rc = mmu_learn(t, &r)) == -ENOTSUP)
		snprintf(t->paging_why, sizeof(t->paging_why),
		         "vCPU 0's registers do not tell it "
		         "(set it: vms_set_paging, --paging)");
	else if (rc)
		snprintf(t->paging_why, sizeof(t->paging_why), "%s", t->err);
	else
		t->paging_why[0] = '\0';
	memcpy(t->err, saved, sizeof(saved));
}

int vms_get_paging(struct vms_target *t)
{
	struct vms_mmu *m;
	if (!mmu_mode_known(t))
		learn_paging(t);
	int rc = mmu_ready(t, &m);
	return rc ? rc : m->mode;
}

int vms_set_paging(struct vms_target *t, enum vms_paging mode)
{
	int rc = mmu_set_mode(t, mode);
	if (rc == 0 && mode == VMS_PAGING_UNKNOWN)
		learn_paging(t);
	return rc;
}

int vms_open(const char *target, const struct vms_open_opts *opts, struct vms_target **out)
{
	struct vms_open_opts o = { 0 };
	if (VMS_OPTS_COPY(&o, opts)) {
		if (o.errbuf && o.errbuf_len)
			snprintf(o.errbuf, o.errbuf_len, VMS_OPTS_BAD, "vms_open_opts", opts->sz, sizeof(o));
		return -EINVAL;
	}
	struct vms_target *t = calloc(1, sizeof(*t));
	if (t)
		t->pause_guard = (struct guard)GUARD_INIT;
	if (!t) {
		if (o.errbuf && o.errbuf_len)
			snprintf(o.errbuf, o.errbuf_len, "out of memory");
		return -ENOMEM;
	}
	t->log = o.log;
	t->log_ctx = o.log_ctx;
	t->timeout_ms = o.timeout_ms ? o.timeout_ms : 10000;
	memo_setup(t, o.cache_dir, o.no_cache);
	vms_hold(t); /* the layout and vCPU 0's paging mode over one connection */
	int rc = target ? parse_target(t, target, o.source) : tfail(t, EINVAL, "no target given");
	if (rc) {
		if (o.errbuf && o.errbuf_len)
			snprintf(o.errbuf, o.errbuf_len, "%s", t->err);
		vms_close(t);
		return rc;
	}
	learn_paging(t);
	/* Without registers (a dump), the mode and the kernel's place as an
	 * earlier command found them, if they still hold here. */
	if (!mmu_mode_known(t)) {
		memo_name_source(t);
		memo_settle(t);
	}
	if (!o.hold)
		vms_unhold(t);
	*out = t;
	return 0;
}

void vms_close(struct vms_target *t)
{
	if (!t)
		return;
	guard_disarm(&t->pause_guard);
	if (t->src)
		t->src->ops->close(t->src);
	if (t->qmp)
		qmp_close(t->qmp); /* a reply still owed goes with the connection */
	t->qmp = NULL;
	t->regs_asked = 0;
	held_regs_drop(t);
	mmu_free(t->mmu);
	memo_free(t);
	free(t);
}

const char *vms_errmsg(const struct vms_target *t)
{
	return t->err;
}
const char *vms_source_name(const struct vms_target *t)
{
	return t->src->ops->name;
}
const char *vms_source_detail(const struct vms_target *t)
{
	return t->src->detail;
}

int vms_ram_ranges(const struct vms_target *t, const struct vms_ram_range **ranges, size_t *count)
{
	*ranges = t->src->ranges;
	*count = t->src->nranges;
	return 0;
}

/* Slow path of vms_read_pa: the range spans RAM ranges, or the source has
 * no mapping. Walks range by range so touching ranges read as one. */
int read_pa_slow(struct vms_target *t, uint64_t pa, void *buf, size_t len)
{
	struct vms_source *s = t->src;
	uint8_t *out = buf;
	while (len) {
		int i = source_find_range(s, pa, 1);
		if (i < 0)
			return tfail(t, EFAULT, "guest-physical 0x%llx is not RAM", (unsigned long long)pa);
		uint64_t avail = s->ranges[i].len - (pa - s->ranges[i].gpa);
		size_t n = len < avail ? len : (size_t)avail;
		int rc;
		if (s->host[i]) {
			memcpy(out, s->host[i] + (pa - s->ranges[i].gpa), n);
			rc = shm_broken() ? source_fail(s, EIO, "guest RAM file was truncated (QEMU exited?)") : 0;
		} else {
			rc = s->ops->read(s, pa, out, n);
		}
		if (rc)
			return tfail(t, -rc, "%s", s->err);
		out += n;
		pa += n;
		len -= n;
	}
	return 0;
}

const void *vms_map_pa(struct vms_target *t, uint64_t pa, size_t len)
{
	struct vms_source *s = t->src;
	return s->ops->map ? s->ops->map(s, pa, len) : NULL;
}

/* While held: every vCPU's registers, read once (asked for early by the
 * attach, or now). */
static int held_regs(struct vms_target *t)
{
	if (t->held_regs)
		return 0;
	struct vms_qmp *q;
	int rc = qmp_acquire(t, &q);
	if (rc)
		return rc;
	rc = t->regs_asked ? 0 : qemu_regs_all_send(q);
	t->regs_asked = 0;
	if (rc == 0)
		rc = qemu_regs_all_recv(q, &t->held_regs, &t->held_nregs);
	if (rc == -EPROTO)
		return tfail(t, EPROTO, "unexpected `info registers -a` output");
	return qmp_result(t, rc);
}

int vms_vcpu_count(struct vms_target *t)
{
	if (t->src->ops->vcpus)
		return t->src->ops->vcpus(t->src);
	if (t->hold && t->qmp_path[0] && held_regs(t) == 0)
		return (int)t->held_nregs;
	struct vms_qmp *q;
	int rc = qmp_acquire(t, &q);
	if (rc)
		return rc;
	return qmp_result(t, qemu_vcpu_count(q));
}

int vms_vcpu_regs(struct vms_target *t, unsigned vcpu, struct vms_regs *out)
{
	if (t->src->ops->regs) {
		int rc = t->src->ops->regs(t->src, vcpu, out);
		return rc ? tfail(t, -rc, "%s", t->src->err) : 0;
	}
	int rc;
	if (t->hold && t->qmp_path[0] && (rc = held_regs(t)) == 0) {
		if (vcpu >= t->held_nregs || !t->held_regs[vcpu].valid)
			return tfail(t, vcpu >= t->held_nregs ? ENOENT : EPROTO,
			             vcpu >= t->held_nregs ? "no vCPU %u"
			                                   : "unexpected `info registers` output for vCPU %u",
			             vcpu);
		*out = t->held_regs[vcpu];
		return 0;
	}
	struct vms_qmp *q;
	rc = qmp_acquire(t, &q);
	if (rc)
		return rc;
	rc = qemu_regs(q, vcpu, out);
	if (rc == -ENOENT || rc == -EPROTO) {
		tfail(t, -rc, rc == -ENOENT ? "no vCPU %u" : "unexpected `info registers` output for vCPU %u", vcpu);
		qmp_release(t);
		return rc;
	}
	return qmp_result(t, rc);
}

/* Translations cached while the guest ran may be stale once it stops, and
 * will be once it runs again: both drop the TLB (docs/arch.md). */
/* ---- pause and resume, with a guardian ---- */

#define STOPPING_IT 'S' /* a running guest; our stop may be on its way */
#define PAUSED_BY_US 'P'
#define NOT_OURS 'N' /* running, or paused by someone else */

struct pause_guard_ctx {
	char qmp_path[108];
};

/* In the guardian, once vmsight was killed while the guest was paused by
 * it, or while it was stopping a running guest (QEMU runs a stop already
 * sent before it frees the monitor for us): resume the guest. */
static void resume_on_death(void *ctx, int note)
{
	const struct pause_guard_ctx *g = ctx;
	struct vms_qmp *q = NULL;
	if (note != PAUSED_BY_US && note != STOPPING_IT)
		return;
	q = qmp_connect_after_us(g->qmp_path);
	if (!q)
		return;
	if (qemu_running(q) == 0)
		qemu_cont(q);
	qmp_close(q);
}

int vms_pause(struct vms_target *t)
{
	struct vms_qmp *q;
	mmu_guest_moved(t);
	held_regs_drop(t);
	/* The guardian is forked before the stop, so the pause is not made
	 * longer by the fork; it acts only once told we are stopping the guest. */
	if (t->qmp_path[0] && t->pause_guard.fd < 0) {
		struct pause_guard_ctx ctx;
		snprintf(ctx.qmp_path, sizeof(ctx.qmp_path), "%s", t->qmp_path);
		int g = guard_arm(&t->pause_guard, NULL, 0, resume_on_death, &ctx, t->err, sizeof(t->err));
		if (g)
			return g;
	}
	/* The guardian hears before QEMU does: killed between the stop and the
	 * note that it was done, the guest would stay paused. A guest paused by
	 * someone else is left to them (and the guardian told nothing). */
	int rc = qmp_acquire(t, &q);
	if (rc == 0) {
		int running = qemu_running(q);
		if (running == 1) {
			guard_note(&t->pause_guard, STOPPING_IT);
			rc = qemu_stop(q);
			guard_note(&t->pause_guard, rc == 0 ? PAUSED_BY_US : NOT_OURS);
		} else if (running < 0) {
			rc = running;
		}
		rc = qmp_result(t, rc);
	}
	learn_paging(t);
	return rc;
}

int vms_resume(struct vms_target *t)
{
	struct vms_qmp *q;
	mmu_guest_moved(t);
	held_regs_drop(t);
	int rc = qmp_acquire(t, &q);
	rc = rc ? rc : qmp_result(t, qemu_cont(q));
	if (rc == 0)
		guard_disarm(&t->pause_guard);
	learn_paging(t);
	return rc;
}

int vms_is_running(struct vms_target *t)
{
	struct vms_qmp *q;
	int rc = qmp_acquire(t, &q);
	return rc ? rc : qmp_result(t, qemu_running(q));
}
