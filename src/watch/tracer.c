/*
 * vms_tracer: QEMU's GDB stub as an event engine.
 *
 * The stub is all-stop: when a vCPU hits a breakpoint every vCPU stops and
 * one stop reply names the thread (vCPU) that hit. For each stop the
 * tracer reads that vCPU's registers (`g`), finds the breakpoint by RIP,
 * asks the guest kernel who runs there (GS base -> current task), applies
 * the host-side filters, calls the probes, then steps the vCPU over the
 * breakpoint and lets the guest run again:
 *
 *     stop reply -> g -> callbacks -> [z] vCont;s:T -> stop -> [Z] -> c
 *
 * The bracketed removal is needed only where a software breakpoint is an
 * int3 byte in guest memory (KVM). Under TCG QEMU checks breakpoints when
 * it translates code and a single-step is not stopped by one, so the step
 * goes straight over it and two round trips are saved (opts.step_remove,
 * decided from QEMU's accelerator).
 *
 * Returns: an entry callback may ask to see its call return. The return
 * address is the word at RSP on entry; the tracer plants a breakpoint there
 * (once per site, removed when no call waits on it) and remembers the
 * entry's RSP. A hit at the site belongs to the call whose entry RSP + 8
 * equals RSP now: a kernel stack belongs to one thread, so this pairs every
 * return with its own call even when many threads wait at one site. A call
 * that never returns (exit, exec) is forgotten when its table slot is
 * needed again: the table is fixed in size and every loss is counted.
 *
 * The guest is stopped while a callback runs, so everything it reads
 * through the target is consistent; the software TLB is flushed at every
 * stop since the guest ran in between.
 *
 * Leaving: vms_tracer_close stops the guest (0x03), removes every
 * breakpoint, and detaches, which resumes the guest. QEMU's detach drops
 * every breakpoint too; a connection that merely closes would leave them
 * planted (and the guest stopped at the next hit), so the GDB client sends
 * the detach even on a connection that is out of step.
 */
#include "vmsight/vmsight.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/target_access.h"
#include "ctl/gdb.h"
#include "util/json.h"
#include "ctl/qemu.h"
#include "ctl/qmp.h"
#include "ctl/stub.h"
#include "linux/views.h"
#include "tracer.h"
#include "util/opts.h"

#define MAX_PROBES 256
#define MAX_SITES 512
#define MAX_PENDING 1024
#define MAX_OWNED 8

struct probe {
	uint64_t addr;
	int32_t pid;
	uint64_t dtb;
	vms_probe_fn fn, on_return;
	void *ctx;
};

struct site {
	uint64_t addr;
	unsigned probes;  /* entry probes at this address */
	unsigned waiting; /* followed calls returning here */
	int planted;
};

struct pending {
	uint64_t site; /* return address */
	uint64_t rsp;  /* RSP at the entry */
	uint64_t seq;  /* age, for eviction */
	int probe;     /* -1: free */
	uint64_t cookie[4];
};

struct owned {
	void *p;
	void (*free_fn)(void *);
};

struct vms_tracer {
	struct vms_target *t;
	struct vms_kernel *k;
	struct vms_gdb *g;
	int bp_type; /* 0 software, 1 hardware */
	int hw_only;
	int step_remove;
	int running;
	volatile sig_atomic_t stop_req;
	int wake[2];             /* self-pipe: vms_tracer_stop wakes vms_tracer_run */
	uint64_t percpu_current; /* per-CPU offset of `current`, when k */
	int have_current;
	struct probe probes[MAX_PROBES];
	int nprobes;
	struct site sites[MAX_SITES];
	int nsites;
	struct pending pend[MAX_PENDING];
	uint64_t seq;
	struct owned owned[MAX_OWNED];
	struct vms_tracer_stats st;
	struct qemu_stub stub; /* ours, for a libvirt domain without one */
	int own_stub_ok;       /* no stub was named (opts.gdb): one of ours may be started */
	char err[1024];
};

static int tfail(struct vms_tracer *tr, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int tfail(struct vms_tracer *tr, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tr->err, sizeof(tr->err), fmt, ap);
	va_end(ap);
	return -err;
}

static int gdb_fail(struct vms_tracer *tr, int rc)
{
	return tfail(tr, -rc, "%s", gdb_err(tr->g));
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- attaching ---------------------------------------------------------------------- */

/* The stub's port and QEMU's accelerator, from the target's QMP socket. */
static int qemu_facts(struct vms_tracer *tr, int *port, int *kvm, int *running)
{
	struct vms_qmp *q;
	struct json_doc doc;
	*kvm = -1;
	if (!target_has_qmp(tr->t))
		return tfail(tr, EINVAL,
		             "this target has no QMP socket to find the GDB stub through: "
		             "use a qmp: or pid: target, or name the stub (--gdb HOST:PORT)");
	int rc = target_qmp(tr->t, &q);
	if (rc)
		return tfail(tr, -rc, "%s", vms_errmsg(tr->t));
	*port = qemu_gdb_port(q);
	*running = qemu_running(q);
	int r = qmp_cmd(q, "query-kvm", NULL, &doc);
	if (r >= 0) {
		*kvm = json_bool(&doc, json_get(&doc, r, "enabled"));
		json_free(&doc);
	}
	/* A libvirt domain cannot be given -gdb without a restart: it gets a
	 * stub of ours for the trace, stopped again at vms_tracer_close. */
	if (*port == 0 && *running == 1 && tr->own_stub_ok && strncmp(qmp_socket_path(q), "libvirt:", 8) == 0) {
		char err[512];
		if ((r = stub_start(q, &tr->stub, err, sizeof(err)))) {
			target_qmp_release(tr->t);
			return tfail(tr, -r, "%s", err);
		}
		*port = tr->stub.port;
	}
	target_qmp_release(tr->t);
	if (*port < 0)
		return tfail(tr, -*port, "asking QEMU for its GDB stub: %s", vms_errmsg(tr->t));
	if (*port == 0)
		return tfail(tr, ENOENT,
		             "QEMU has no GDB stub (start it with -gdb tcp:127.0.0.1:PORT, "
		             "or `gdbserver tcp:127.0.0.1:PORT` in its monitor)");
	return 0;
}

int vms_tracer_open(struct vms_target *t, const struct vms_tracer_opts *opts, struct vms_tracer **out)
{
	struct vms_tracer_opts o = { 0 };
	if (VMS_OPTS_COPY(&o, opts)) {
		if (o.errbuf && o.errbuf_len)
			snprintf(o.errbuf, o.errbuf_len, VMS_OPTS_BAD, "vms_tracer_opts", opts->sz, sizeof(o));
		return -EINVAL;
	}
	struct vms_tracer *tr = calloc(1, sizeof(*tr));
	if (!tr) {
		if (o.errbuf && o.errbuf_len)
			snprintf(o.errbuf, o.errbuf_len, "out of memory");
		return -ENOMEM;
	}
	tr->t = t;
	tr->k = o.kernel;
	tr->wake[0] = tr->wake[1] = -1;
	tr->stub.guard = (struct guard)GUARD_INIT;
	for (int i = 0; i < MAX_PENDING; i++)
		tr->pend[i].probe = -1;
	char host[256] = "127.0.0.1", gerr[512];
	int port = 0, kvm = -1, running = -1, rc;
	if (target_source_is(t, "gdb")) {
		rc = tfail(tr, EBUSY,
		           "the target reads memory through the GDB stub, which serves one debugger: "
		           "trace a qmp: or pid: target (memory through shm or procmem)");
		goto fail;
	}
	if (o.gdb) {
		if ((rc = gdb_parse_hostport(o.gdb, host, sizeof(host), &port))) {
			tfail(tr, EINVAL, "expected HOST:PORT for the GDB stub, got '%s'", o.gdb);
			goto fail;
		}
		int unused;
		if (target_has_qmp(t) && qemu_facts(tr, &unused, &kvm, &running))
			kvm = -1;
	} else {
		tr->own_stub_ok = 1;
		if ((rc = qemu_facts(tr, &port, &kvm, &running)))
			goto fail;
	}
	/* without `current`, hits carry no pid/comm and pid filters are refused */
	tr->have_current = o.kernel && lx_current_offset(o.kernel, &tr->percpu_current) == 0;
	if (pipe2(tr->wake, O_CLOEXEC | O_NONBLOCK)) {
		rc = tfail(tr, errno, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((rc = gdb_connect(host, port, o.timeout_ms, &tr->g, gerr, sizeof(gerr)))) {
		tfail(tr, -rc, "%s", gerr); /* a stub busy with another debugger says so here */
		goto fail;
	}
	if (running == 0) {
		/* Paused before we came (QMP said so): leave it paused — close
		 * without `D`, at which QEMU would resume it. */
		gdb_leave_stopped(tr->g);
		rc = tfail(tr, EBUSY,
		           "the guest is paused: tracing needs it running, and vmsight resumes no guest it did "
		           "not pause (resume it first, e.g. QMP cont)");
		goto fail;
	}
	tr->hw_only = o.hardware == 1;
	tr->bp_type = tr->hw_only;
	/* Stepping over a planted breakpoint is safe without removing it only
	 * where QEMU plants none in guest memory: TCG. Unknown means remove. */
	tr->step_remove = o.step_remove > 0 ? 1 : o.step_remove < 0 ? 0 : kvm != 0;
	*out = tr;
	return 0;
fail:
	if (o.errbuf && o.errbuf_len)
		snprintf(o.errbuf, o.errbuf_len, "%s", tr->err);
	vms_tracer_close(tr);
	return rc;
}

/* ---- breakpoints ---------------------------------------------------------------------- */

static struct site *site_find(struct vms_tracer *tr, uint64_t addr)
{
	for (int i = 0; i < tr->nsites; i++)
		if (tr->sites[i].addr == addr)
			return &tr->sites[i];
	return NULL;
}

static int plant(struct vms_tracer *tr, struct site *s, int on)
{
	if (s->planted == on)
		return 0;
	int rc = gdb_breakpoint(tr->g, on, tr->bp_type, s->addr, 1);
	if (rc == -ENOTSUP && on && tr->bp_type == 0 && !tr->hw_only) {
		tr->bp_type = 1; /* the stub has no software breakpoints: hardware ones */
		rc = gdb_breakpoint(tr->g, on, tr->bp_type, s->addr, 1);
	}
	if (rc)
		return gdb_fail(tr, rc);
	s->planted = on;
	if (on)
		tr->st.breakpoints++;
	else
		tr->st.breakpoints--;
	return 0;
}

static struct site *site_get(struct vms_tracer *tr, uint64_t addr)
{
	struct site *s = site_find(tr, addr);
	if (s)
		return s;
	for (int i = 0; i < tr->nsites; i++)
		if (!tr->sites[i].probes && !tr->sites[i].waiting && !tr->sites[i].planted) {
			s = &tr->sites[i];
			break;
		}
	if (!s) {
		if (tr->nsites == MAX_SITES) {
			tfail(tr, ENOSPC, "more than %d breakpoint sites", MAX_SITES);
			return NULL;
		}
		s = &tr->sites[tr->nsites++];
	}
	memset(s, 0, sizeof(*s));
	s->addr = addr;
	return s;
}

/* Stop a running guest before talking to the stub; RESUME says whether to
 * let it go again afterwards (vms_tracer_probe while running). */
static int halt(struct vms_tracer *tr, int *was_running)
{
	*was_running = tr->running;
	if (!tr->running)
		return 0;
	struct vms_gdb_stop st;
	int rc = gdb_interrupt(tr->g);
	/* A hit may be in flight: it is left unhandled, and the vCPU meets
	 * the breakpoint again when it resumes. */
	if (!rc && (rc = gdb_wait_stop(tr->g, 10000, &st)) == 0)
		return tfail(tr, ETIMEDOUT, "the guest did not stop when asked");
	if (rc < 0)
		return gdb_fail(tr, rc);
	tr->running = 0;
	return 0;
}

static int go(struct vms_tracer *tr)
{
	int rc = gdb_resume(tr->g, "c");
	if (rc)
		return gdb_fail(tr, rc);
	tr->running = 1;
	return 0;
}

int vms_tracer_probe(struct vms_tracer *tr, const char *symbol, uint64_t addr, const struct vms_probe_opts *opts,
                     vms_probe_fn fn, void *ctx)
{
	struct vms_probe_opts o = { 0 };
	if (VMS_OPTS_COPY(&o, opts))
		return tfail(tr, EINVAL, VMS_OPTS_BAD, "vms_probe_opts", opts->sz, sizeof(o));
	if (!fn)
		return tfail(tr, EINVAL, "a probe needs a callback");
	if (symbol) {
		if (!tr->k)
			return tfail(tr, EINVAL, "probing a symbol needs a kernel (vms_tracer_opts.kernel)");
		if (vms_sym_lookup(tr->k, symbol, &addr))
			return tfail(tr, ENOENT, "the kernel has no symbol '%s'", symbol);
	}
	if (o.pid && !tr->have_current)
		return tfail(tr, EINVAL, "a pid filter needs a kernel whose current task vmsight can find");
	if (tr->nprobes == MAX_PROBES)
		return tfail(tr, ENOSPC, "more than %d probes", MAX_PROBES);
	int was_running, rc;
	if ((rc = halt(tr, &was_running)))
		return rc;
	struct site *s = site_get(tr, addr);
	if (!s)
		return -ENOSPC;
	if ((rc = plant(tr, s, 1))) {
		if (symbol)
			tfail(tr, -rc, "cannot plant a breakpoint at %s (0x%" PRIx64 "): %s", symbol, addr,
			      gdb_err(tr->g));
		return rc;
	}
	s->probes++;
	int id = tr->nprobes++;
	tr->probes[id] = (struct probe){
		.addr = addr, .pid = o.pid, .dtb = o.dtb & ~0xfffull, .fn = fn, .on_return = o.on_return, .ctx = ctx
	};
	if (was_running && (rc = go(tr)))
		return rc;
	return id;
}

/* ---- a stop ------------------------------------------------------------------------------- */

/* Remember that the call HIT entered will return to the word at its RSP. */
static void follow(struct vms_tracer *tr, int probe, const struct vms_bp_hit *hit)
{
	uint64_t ret;
	if (vms_read_va(tr->t, hit->dtb, hit->regs->rsp, &ret, 8, NULL) || ret < (1ull << 63)) {
		tr->st.lost_returns++;
		return;
	}
	struct pending *slot = NULL;
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &tr->pend[i];
		if (p->probe >= 0 && p->rsp == hit->regs->rsp && p->site == ret) {
			slot = p; /* the same frame again: that call never came back */
			tr->st.lost_returns++;
			break;
		}
		if (!slot || (slot->probe >= 0 && (p->probe < 0 || p->seq < slot->seq)))
			slot = p;
	}
	struct site *s;
	if (slot->probe >= 0) {
		if (slot->site != ret || slot->rsp != hit->regs->rsp)
			tr->st.lost_returns++;
		if ((s = site_find(tr, slot->site)) != NULL && s->waiting)
			s->waiting--;
		slot->probe = -1;
	}
	if ((s = site_get(tr, ret)) == NULL) {
		tr->st.lost_returns++;
		return;
	}
	if (!s->planted && plant(tr, s, 1)) {
		tr->st.lost_returns++;
		return;
	}
	s->waiting++;
	*slot = (struct pending){ .site = ret, .rsp = hit->regs->rsp, .seq = ++tr->seq, .probe = probe };
	memcpy(slot->cookie, hit->cookie, sizeof(slot->cookie));
}

/* Two CR3 values name one address space; with PTI a process has two page
 * tables, the kernel's and the user's, 4 KiB apart in one 8 KiB block. */
static int same_space(const struct vms_tracer *tr, uint64_t a, uint64_t b)
{
	uint64_t mask = tr->k && tr->k->pti ? ~0x1fffull : ~0xfffull;
	return (a & mask) == (b & mask);
}

static void entries(struct vms_tracer *tr, struct vms_bp_hit *hit, int *stop)
{
	for (int i = 0; i < tr->nprobes; i++) {
		struct probe *p = &tr->probes[i];
		if (p->addr != hit->addr)
			continue;
		if ((p->pid && p->pid != hit->pid) || (p->dtb && !same_space(tr, p->dtb, hit->dtb))) {
			tr->st.filtered++;
			continue;
		}
		tr->st.hits++;
		hit->probe = i;
		memset(hit->cookie, 0, sizeof(hit->cookie));
		int r = p->fn(p->ctx, tr, hit);
		if (r & VMS_PROBE_STOP)
			*stop = 1;
		if ((r & VMS_PROBE_RETURN) && p->on_return)
			follow(tr, i, hit);
	}
}

static void returns(struct vms_tracer *tr, struct site *s, struct vms_bp_hit *hit, int *stop)
{
	int matched = 0;
	for (int i = 0; i < MAX_PENDING && s->waiting; i++) {
		struct pending *p = &tr->pend[i];
		if (p->probe < 0 || p->site != s->addr || p->rsp + 8 != hit->regs->rsp)
			continue;
		struct probe *pr = &tr->probes[p->probe];
		hit->probe = p->probe;
		hit->is_return = 1;
		memcpy(hit->cookie, p->cookie, sizeof(hit->cookie));
		p->probe = -1;
		s->waiting--;
		matched = 1;
		tr->st.returns++;
		if (pr->on_return(pr->ctx, tr, hit) & VMS_PROBE_STOP)
			*stop = 1;
		hit->is_return = 0;
	}
	if (!matched)
		tr->st.stray_returns++;
}

/* Who runs on the vCPU: pid, tid, comm, from the guest kernel. */
static void identify(struct vms_tracer *tr, struct vms_bp_hit *hit, struct lx_who *who)
{
	struct lx_walk w;
	hit->pid = hit->tid = -1;
	hit->comm = "";
	if (!tr->have_current || lx_walk_begin(&w, tr->k, LX_TASKS, 1, 1, 0))
		return;
	if (lx_current_task(&w, tr->percpu_current, hit->regs->gs_base, &hit->task) ||
	    lx_task_who(&w, hit->task, who)) {
		hit->task = 0;
		return;
	}
	hit->pid = who->tgid;
	hit->tid = who->pid;
	hit->comm = who->comm;
}

/* Step vCPU THREAD over the breakpoint at ADDR, which stays planted if KEEP. */
static int step_over(struct vms_tracer *tr, long thread, struct site *s, int keep)
{
	char pkt[48];
	struct vms_gdb_stop st;
	int rc;
	if (s && s->planted && (tr->step_remove || !keep) && (rc = plant(tr, s, 0)))
		return rc;
	snprintf(pkt, sizeof(pkt), "vCont;s:%lx", thread);
	if ((rc = gdb_resume(tr->g, pkt)) || (rc = gdb_wait_stop(tr->g, 10000, &st)) < 0)
		return gdb_fail(tr, rc);
	if (rc == 0) {
		tr->running = 1; /* still stepping: close stops it first */
		return tfail(tr, ETIMEDOUT, "vCPU %ld did not finish a single step within 10 s", thread - 1);
	}
	if (s && keep && !s->planted && (rc = plant(tr, s, 1)))
		return rc;
	return 0;
}

static int handle_stop(struct vms_tracer *tr, const struct vms_gdb_stop *st, int *stop)
{
	struct vms_regs regs;
	struct lx_who who;
	tr->st.stops++;
	uint64_t t0 = now_ns();
	if (st->signal != 5 || st->thread < 1) {
		/* Not a breakpoint (QEMU stopped for another reason: a QMP
		 * `stop`, a 0x03 of ours that crossed a hit): just go on. */
		tr->st.foreign++;
		return go(tr);
	}
	int rc = gdb_read_regs(tr->g, st->thread, &regs);
	if (rc)
		return gdb_fail(tr, rc);
	uint64_t t1 = now_ns();
	tr->st.regs_ns += t1 - t0;
	struct site *s = site_find(tr, regs.rip);
	if (!s || (!s->probes && !s->waiting)) {
		tr->st.foreign++;
		return go(tr);
	}
	vms_tlb_flush(tr->t);
	struct vms_bp_hit hit = { .vcpu = (unsigned)(st->thread - 1),
		                  .addr = regs.rip,
		                  .regs = &regs,
		                  .dtb = regs.cr3 & ~0xfffull & ((1ull << 52) - 1),
		                  .host_ns = t0 };
	identify(tr, &hit, &who);
	if (s->waiting)
		returns(tr, s, &hit, stop);
	if (s->probes)
		entries(tr, &hit, stop);
	uint64_t t2 = now_ns();
	if ((rc = step_over(tr, st->thread, s, s->probes || s->waiting)))
		return rc;
	uint64_t t3 = now_ns();
	tr->st.step_ns += t3 - t2;
	tr->st.handled_ns += t3 - t0;
	return go(tr);
}

int vms_tracer_run(struct vms_tracer *tr, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ms * 1000000u;
	int rc, stop = 0;
	if (!tr->running && (rc = go(tr)))
		return rc;
	while (!tr->stop_req && !stop) {
		uint64_t now = now_ns();
		if (now >= deadline)
			break;
		uint64_t left_ms = deadline == UINT64_MAX ? 1000 : (deadline - now + 999999) / 1000000;
		struct pollfd pfd[2] = { { .fd = gdb_fd(tr->g), .events = POLLIN },
			                 { .fd = tr->wake[0], .events = POLLIN } };
		int pr = poll(pfd, 2, left_ms > 1000 ? 1000 : (int)left_ms);
		if (pr < 0 && errno != EINTR)
			return tfail(tr, errno, "poll: %s", strerror(errno));
		if (pr <= 0 || !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		struct vms_gdb_stop st;
		rc = gdb_wait_stop(tr->g, 0, &st);
		if (rc < 0)
			return gdb_fail(tr, rc);
		if (rc == 0)
			continue;
		tr->running = 0;
		if ((rc = handle_stop(tr, &st, &stop)))
			return rc;
	}
	char drain[64];
	while (read(tr->wake[0], drain, sizeof(drain)) > 0)
		;
	tr->stop_req = 0;
	return 0;
}

void vms_tracer_stop(struct vms_tracer *tr)
{
	tr->stop_req = 1;
	if (tr->wake[1] >= 0) {
		ssize_t n = write(tr->wake[1], "x", 1);
		(void)n;
	}
}

int vms_tracer_close(struct vms_tracer *tr)
{
	if (!tr)
		return 0;
	int rc = 0, was_running;
	if (tr->g) {
		rc = halt(tr, &was_running);
		for (int i = 0; i < tr->nsites && rc == 0; i++)
			if (tr->sites[i].planted)
				rc = plant(tr, &tr->sites[i], 0);
		int drc = gdb_detach(tr->g);
		if (!rc && drc)
			rc = gdb_fail(tr, drc);
		gdb_client_close(tr->g);
	}
	char serr[512];
	int src = stub_stop(&tr->stub, serr, sizeof(serr));
	if (src && !rc)
		rc = tfail(tr, -src, "%s", serr);
	for (int i = 0; i < MAX_OWNED; i++)
		if (tr->owned[i].p)
			tr->owned[i].free_fn(tr->owned[i].p);
	if (tr->wake[0] >= 0)
		close(tr->wake[0]);
	if (tr->wake[1] >= 0)
		close(tr->wake[1]);
	free(tr);
	return rc;
}

const char *vms_tracer_errmsg(const struct vms_tracer *tr)
{
	return tr->err;
}

void vms_tracer_stats(const struct vms_tracer *tr, struct vms_tracer_stats *out)
{
	*out = tr->st;
	out->hardware = tr->bp_type;
	out->step_remove = tr->step_remove;
}

/* ---- for the tracers built on the engine ---------------------------------------------- */

int tracer_own(struct vms_tracer *tr, void *p, void (*free_fn)(void *))
{
	for (int i = 0; i < MAX_OWNED; i++)
		if (!tr->owned[i].p) {
			tr->owned[i].p = p;
			tr->owned[i].free_fn = free_fn;
			return 0;
		}
	free_fn(p);
	return tfail(tr, ENOSPC, "too many tracers on one engine");
}

int tracer_fail(struct vms_tracer *tr, int err, const char *msg)
{
	return tfail(tr, err, "%s", msg);
}

struct vms_target *tracer_target(struct vms_tracer *tr)
{
	return tr->t;
}
