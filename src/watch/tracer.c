/*
 * vms_tracer: QEMU's GDB stub as an event engine.
 *
 * The stub is all-stop: when a vCPU hits a breakpoint every vCPU stops and
 * one stop reply names the thread (vCPU) that hit. For each stop the
 * tracer reads that vCPU's registers (`g`), finds the breakpoint by RIP,
 * asks the guest kernel who runs there (GS base -> current task), applies
 * the host-side filters, calls the probes, then gets the vCPU past the
 * breakpoint and lets the guest run again:
 *
 *     stop reply -> g -> callbacks -> P/M (the instruction, done here) -> c
 *
 * Breakpoints are planted when a probe is added and removed when the
 * tracer closes, never per event: under TCG QEMU flushes its whole
 * translation cache whenever single-stepping starts or stops, so the old
 * way past a breakpoint (lift it, single-step, put it back) cost the guest
 * its translated code at every stop. Instead the host does the instruction
 * under the breakpoint and writes the registers it changes (insn.c decodes
 * it with Capstone, from the bytes read before the breakpoint was planted):
 *
 *   nop, endbr64 (ftrace's 5-byte nop opens every traceable function)
 *                        RIP += length
 *   push %reg            [RSP - 8] = reg (M), RSP -= 8, RIP += length
 *   ret, jmp to the return thunk
 *                        RIP = [RSP], RSP += 8
 *
 * Any other instruction gets today's single step, counted (stats.steps);
 * under KVM that step lifts the breakpoint (an int3 byte in guest memory)
 * around it, and the vCPU alone runs meanwhile. Emulation lifts nothing, so
 * under KVM no breakpoint is ever absent while the guest runs.
 *
 * Returns: an entry callback may ask to see its call return. When a probe
 * with an on_return is added, its function's text is read once (up to the
 * next symbol) and swept: every ret, every jump to a return thunk, those of
 * its .cold part and of the functions it tail-calls get a permanent
 * breakpoint. At the entry the tracer remembers RSP and the return address
 * on top; a stop at a return instruction with that same RSP and the same
 * word on top is that call returning (RAX: its value). A kernel stack
 * belongs to one thread, so this pairs every return with its own call,
 * through recursion and across vCPUs. A function whose returns cannot all
 * be found (a tail call through a pointer, text longer than 64 KiB, no
 * kernel symbols, hardware breakpoints) is followed the old way, by a
 * breakpoint at the return address, which is kept once planted. A call that
 * never returns (exit, exec) is forgotten when its frame is entered again
 * or its table slot is needed: the table is fixed and every loss counted.
 *
 * QEMU 7.2's stub still flushes the translation cache once at every
 * breakpoint stop by itself (gdb_vm_state_change; upstream dropped that in
 * 2025): a traced call costs two such flushes, one per stop, and nothing
 * here adds to them.
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
#include "insn.h"
#include "tracer.h"
#include "util/opts.h"

#define MAX_PROBES 256
#define MAX_SITES 2048
#define MAX_PENDING 1024
#define MAX_OWNED 8
#define FUNC_TEXT_MAX (64u << 10) /* longer functions are followed by their return address */
#define FUNC_RETS_MAX 64          /* return sites of one function, its tail calls included */
#define TAIL_DEPTH 2              /* tail calls followed to find where a function returns */
#define READ_MAX 24               /* registers read at a stop */

/* How a followed call's return is seen. */
enum {
	RET_UNKNOWN, /* not looked at yet */
	RET_SITES,   /* breakpoints on the function's own return instructions */
	RET_ADDRESS, /* a breakpoint at the return address (kept once planted) */
};

struct probe {
	uint64_t addr;
	int32_t pid;
	uint64_t dtb;
	vms_probe_fn fn, on_return;
	void *ctx;
	int ret_mode; /* RET_* */
};

struct site {
	uint64_t addr;
	unsigned probes; /* entry probes at this address */
	unsigned rets;   /* followed functions that return through this instruction */
	int retaddr;     /* a return address of followed calls (RET_ADDRESS) */
	int planted;
	int decoded; /* insn (and orig) describe the bytes before the breakpoint */
	int thunk;   /* insn is a jump to the return thunk, done as a ret */
	uint8_t orig;
	struct insn insn;
};

struct pending {
	uint64_t rsp; /* RSP at the entry: where the return address lies */
	uint64_t ret; /* the return address */
	uint64_t seq; /* age, for eviction */
	int probe;    /* -1: free */
	int mode;     /* RET_SITES or RET_ADDRESS */
	uint64_t cookie[4];
};

struct owned {
	void *p;
	void (*free_fn)(void *);
};

/* What analysing a function needs from kallsyms, gathered once. */
struct symidx {
	uint64_t *addr; /* every symbol's address, ascending, no repeats */
	size_t n, cap;
	uint64_t thunks[16]; /* the return thunks (__x86_return_thunk, retbleed_return_thunk, ...) */
	unsigned nthunks;
	uint64_t *indirect; /* __x86_indirect_* thunks: a jump there is an indirect jump */
	size_t nindirect, indirect_cap;
	struct {
		uint64_t parent, cold;
	} * colds; /* FOO.cold parts, by FOO's address */
	size_t ncolds, colds_cap;
	struct vms_kernel *k;
	int err;
};

struct vms_tracer {
	struct vms_target *t;
	struct vms_kernel *k;
	struct vms_gdb *g;
	struct insn_decoder *dec;
	int bp_type; /* 0 software, 1 hardware */
	int hw_only;
	int step_remove;
	int text_stable; /* software breakpoints leave guest memory alone (TCG) */
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
	/* the stub's register numbers, for the writes of pass() */
	int regs_known;
	unsigned gpr_num[16], rip_num;
	struct symidx *syms;
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

static int regs_setup(struct vms_tracer *tr);

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
	tr->text_stable = kvm == 0;
	char derr[300];
	if ((rc = insn_decoder_open(&tr->dec, derr, sizeof(derr)))) {
		tfail(tr, -rc, "cannot start the instruction decoder: %s", derr);
		goto fail;
	}
	if ((rc = regs_setup(tr)))
		goto fail;
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

/* Guest text as it was before our breakpoints: under KVM a planted
 * software breakpoint is an int3 byte in guest memory. */
static int read_text(struct vms_tracer *tr, uint64_t dtb, uint64_t addr, uint8_t *buf, size_t len)
{
	int rc = tr->k && !dtb ? vms_kernel_read(tr->k, addr, buf, len) : vms_read_va(tr->t, dtb, addr, buf, len, NULL);
	if (rc)
		return rc;
	for (int i = 0; i < tr->nsites; i++) {
		const struct site *s = &tr->sites[i];
		if (s->planted && s->decoded && s->addr >= addr && s->addr - addr < len)
			buf[s->addr - addr] = s->orig;
	}
	return 0;
}

static int is_return_thunk(const struct vms_tracer *tr, uint64_t addr)
{
	for (unsigned i = 0; tr->syms && i < tr->syms->nthunks; i++)
		if (tr->syms->thunks[i] == addr)
			return 1;
	return 0;
}

/* Learn the instruction at S before a breakpoint hides it (KVM) . A site
 * whose bytes cannot be read or decoded is stepped over. */
static void site_decode(struct vms_tracer *tr, struct site *s, uint64_t dtb)
{
	uint8_t code[16];
	if (s->decoded || (s->planted && !tr->text_stable))
		return;
	if (read_text(tr, dtb, s->addr, code, sizeof(code)) ||
	    insn_decode(tr->dec, code, sizeof(code), s->addr, &s->insn))
		return;
	s->orig = code[0];
	s->thunk = s->insn.kind == INSN_JMP && is_return_thunk(tr, s->insn.target);
	s->decoded = 1;
}

static int plant(struct vms_tracer *tr, struct site *s, int on)
{
	if (s->planted == on)
		return 0;
	if (on && tr->k)
		site_decode(tr, s, 0);
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
	if (tr->nsites == MAX_SITES) {
		tfail(tr, ENOSPC, "more than %d breakpoint sites", MAX_SITES);
		return NULL;
	}
	s = &tr->sites[tr->nsites++];
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

/* ---- where a function returns ----------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 1024;
	void *q = realloc(*p, ncap * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = ncap;
	return 0;
}

static int index_sym(void *ctx, const struct vms_sym *s)
{
	struct symidx *x = ctx;
	if (x->n == 0 || s->addr > x->addr[x->n - 1]) {
		if (grow((void **)&x->addr, &x->cap, x->n, sizeof(*x->addr)))
			return x->err = -ENOMEM;
		x->addr[x->n++] = s->addr;
	}
	if (s->type != 't' && s->type != 'T')
		return 0;
	const char *dot = strstr(s->name, ".cold");
	uint64_t parent;
	if (strstr(s->name, "return_thunk") && x->nthunks < 16) {
		x->thunks[x->nthunks++] = s->addr;
	} else if (strncmp(s->name, "__x86_indirect_", 15) == 0) {
		if (grow((void **)&x->indirect, &x->indirect_cap, x->nindirect, sizeof(*x->indirect)))
			return x->err = -ENOMEM;
		x->indirect[x->nindirect++] = s->addr;
	} else if (dot && dot > s->name && (size_t)(dot - s->name) < 256) {
		char name[256];
		memcpy(name, s->name, (size_t)(dot - s->name));
		name[dot - s->name] = '\0';
		if (vms_sym_lookup(x->k, name, &parent) == 0) {
			if (grow((void **)&x->colds, &x->colds_cap, x->ncolds, sizeof(*x->colds)))
				return x->err = -ENOMEM;
			x->colds[x->ncolds].parent = parent;
			x->colds[x->ncolds++].cold = s->addr;
		}
	}
	return 0;
}

static void symidx_free(struct symidx *x)
{
	if (!x)
		return;
	free(x->addr);
	free(x->indirect);
	free(x->colds);
	free(x);
}

static int symidx_load(struct vms_tracer *tr)
{
	if (tr->syms)
		return 0;
	struct symidx *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->k = tr->k;
	int rc = vms_sym_iter(tr->k, index_sym, x);
	if (rc || x->err) {
		rc = rc ? rc : x->err;
		symidx_free(x);
		return rc;
	}
	tr->syms = x;
	return 0;
}

/* Where the function at ADDR ends: the next symbol. */
static uint64_t sym_end(const struct symidx *x, uint64_t addr)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->addr[mid] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->n ? x->addr[lo] : 0;
}

static int is_indirect_thunk(const struct symidx *x, uint64_t addr)
{
	for (size_t i = 0; i < x->nindirect; i++)
		if (x->indirect[i] == addr)
			return 1;
	return 0;
}

struct sweep {
	uint64_t part[4 * (TAIL_DEPTH + 1)]; /* function parts to sweep: bodies, .cold parts */
	int depth[4 * (TAIL_DEPTH + 1)];
	unsigned nparts, done;
	uint64_t rets[FUNC_RETS_MAX];
	unsigned nrets;
};

static int sweep_add(struct sweep *sw, uint64_t addr, int depth)
{
	for (unsigned i = 0; i < sw->nparts; i++)
		if (sw->part[i] == addr)
			return 0;
	if (depth > TAIL_DEPTH || sw->nparts == sizeof(sw->part) / sizeof(sw->part[0]))
		return -E2BIG;
	sw->part[sw->nparts] = addr;
	sw->depth[sw->nparts++] = depth;
	return 0;
}

/* One part of a function: its returns into SW, its tail calls and .cold
 * part queued. -E2BIG / -EILSEQ / -EIO: its returns cannot be known. */
static int sweep_part(struct vms_tracer *tr, struct sweep *sw, uint64_t start, int depth, uint8_t *text)
{
	const struct symidx *x = tr->syms;
	uint64_t end = sym_end(x, start);
	if (!end || end - start > FUNC_TEXT_MAX)
		return -E2BIG;
	size_t len = (size_t)(end - start);
	int rc = read_text(tr, 0, start, text, len);
	if (rc)
		return -EIO;
	for (size_t i = 0; i < x->ncolds; i++)
		if (x->colds[i].parent == start && (rc = sweep_add(sw, x->colds[i].cold, depth)))
			return rc;
	for (size_t off = 0; off < len;) {
		struct insn in;
		if (insn_decode(tr->dec, text + off, len - off, start + off, &in))
			return -EILSEQ;
		off += in.len;
		int ret = in.kind == INSN_RET || (in.kind == INSN_JMP && is_return_thunk(tr, in.target));
		if (ret) {
			if (sw->nrets == FUNC_RETS_MAX)
				return -E2BIG;
			sw->rets[sw->nrets++] = start + off - in.len;
		} else if (in.kind == INSN_JMP_INDIRECT || (in.kind == INSN_JMP && is_indirect_thunk(x, in.target))) {
			return -E2BIG; /* a tail call we cannot follow */
		} else if (in.kind == INSN_JMP && (in.target < start || in.target >= end)) {
			int inside = 0; /* into one of the parts already known (hot <-> cold) */
			for (unsigned i = 0; i < sw->nparts; i++)
				inside |= in.target >= sw->part[i] && in.target < sym_end(x, sw->part[i]);
			if (!inside && (rc = sweep_add(sw, in.target, depth + 1)))
				return rc;
		}
	}
	return 0;
}

/* Plant breakpoints on every instruction through which the function at
 * ENTRY returns: its rets (or jumps to the return thunk), those of its
 * .cold part, and those of functions it tail-calls (they return for it, with
 * the same stack pointer). 0, or -errno when they cannot all be known. */
static int plant_returns(struct vms_tracer *tr, uint64_t entry)
{
	struct sweep sw = { .nparts = 0 };
	uint8_t *text = malloc(FUNC_TEXT_MAX);
	int rc = text ? symidx_load(tr) : -ENOMEM;
	if (!rc)
		rc = sweep_add(&sw, entry, 0);
	while (!rc && sw.done < sw.nparts) {
		unsigned i = sw.done++;
		rc = sweep_part(tr, &sw, sw.part[i], sw.depth[i], text);
	}
	free(text);
	if (!rc && sw.nrets == 0)
		rc = -ENOENT;
	for (unsigned i = 0; !rc && i < sw.nrets; i++) {
		struct site *s = site_get(tr, sw.rets[i]);
		if (!s)
			return -ENOSPC;
		if ((rc = plant(tr, s, 1)))
			return rc;
		if (!s->decoded || (s->insn.kind != INSN_RET && !s->thunk))
			return -EILSEQ; /* planted, used by no one: harmless until close */
		s->rets++;
		tr->st.return_sites++;
	}
	return rc;
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
	if (o.on_return) {
		/* The same function probed before: its returns are planted. */
		for (int i = 0; i < id; i++)
			if (tr->probes[i].addr == addr && tr->probes[i].ret_mode != RET_UNKNOWN)
				tr->probes[id].ret_mode = tr->probes[i].ret_mode;
		if (tr->probes[id].ret_mode == RET_UNKNOWN) {
			/* Hardware breakpoints are too few to spend on returns. */
			int prc = tr->k && !tr->hw_only ? plant_returns(tr, addr) : -ENOTSUP;
			if (prc == -EREMOTEIO || prc == -EPIPE || prc == -ETIMEDOUT)
				return prc; /* the stub refused or went away: not a question of this function */
			tr->probes[id].ret_mode = prc ? RET_ADDRESS : RET_SITES;
			if (prc)
				tr->st.returns_by_address++;
		}
	}
	if (was_running && (rc = go(tr)))
		return rc;
	return id;
}

/* ---- registers -------------------------------------------------------------------------- */

static const char *const gpr_names[16] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
	                                   "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };

static uint64_t *gpr(struct vms_regs *r, unsigned i)
{
	uint64_t *g[16] = { &r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi, &r->rbp, &r->rsp,
		            &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15 };
	return g[i & 15];
}

/* The stub's register numbers for what pass() writes. A stub without
 * them gets single steps. */
static int regs_setup(struct vms_tracer *tr)
{
	unsigned bytes;
	int rc = 0;
	for (int i = 0; i < 16 && !rc; i++)
		rc = gdb_reg_number(tr->g, gpr_names[i], &tr->gpr_num[i], &bytes);
	if (!rc)
		rc = gdb_reg_number(tr->g, "rip", &tr->rip_num, &bytes);
	tr->regs_known = rc == 0;
	return 0;
}

/* The vCPU's registers, all of them with one `g`. QEMU answers each
 * packet on its own, and one `g` (about 1 100 hex digits) costs what one
 * `p` does and less than half of a batch of the ten `p` a stop needs (RIP,
 * RSP, CR3, RAX, the argument registers; docs/benchmarks.md); under KVM `g`
 * is also what fetches the vCPU's state from the kernel, which `P` then
 * writes back. */
static int read_regs(struct vms_tracer *tr, long thread, struct vms_regs *r)
{
	int rc = gdb_read_regs(tr->g, thread, r);
	return rc ? gdb_fail(tr, rc) : 0;
}

/* ---- a stop ------------------------------------------------------------------------------- */

/* Forget the call of pending slot P, which will not be seen to return. */
static void forget(struct vms_tracer *tr, struct pending *p)
{
	p->probe = -1;
	tr->st.lost_returns++;
}

/* Remember that the call HIT entered will return to the word at its RSP. */
static void follow(struct vms_tracer *tr, int probe, const struct vms_bp_hit *hit)
{
	uint64_t ret, rsp = hit->regs->rsp;
	int mode = tr->probes[probe].ret_mode;
	if (vms_read_va(tr->t, hit->dtb, rsp, &ret, 8, NULL) || ret < (1ull << 63)) {
		tr->st.lost_returns++;
		return;
	}
	if (mode == RET_ADDRESS) {
		/* planted once, kept: a return site costs one flush, not one per call */
		struct site *s = site_get(tr, ret);
		if (!s || plant(tr, s, 1)) {
			tr->st.lost_returns++;
			return;
		}
		if (!s->decoded && tr->text_stable)
			site_decode(tr, s, hit->dtb);
		s->retaddr = 1;
	}
	struct pending *slot = NULL;
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &tr->pend[i];
		if (p->probe >= 0 && p->rsp == rsp && p->probe == probe) {
			forget(tr, p); /* the same frame entered again: that call never came back */
		}
		if (!slot || (slot->probe >= 0 && (p->probe < 0 || p->seq < slot->seq)))
			slot = p;
	}
	if (slot->probe >= 0)
		forget(tr, slot);
	*slot = (struct pending){ .rsp = rsp, .ret = ret, .seq = ++tr->seq, .probe = probe, .mode = mode };
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

/* A followed call returns at this stop: at one of its return instructions
 * (RSP where it was at the entry, the same return address on top) or at
 * its return address (RSP one word above). A kernel stack belongs to one
 * thread, so this pairs each return with its own call, recursion included. */
static void returns(struct vms_tracer *tr, const struct site *s, struct vms_bp_hit *hit, int *stop)
{
	uint64_t rsp = hit->regs->rsp, top = 0;
	int matched = 0, have_top = 0;
	if (s->rets)
		have_top = vms_read_va(tr->t, hit->dtb, rsp, &top, 8, NULL) == 0;
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &tr->pend[i];
		if (p->probe < 0)
			continue;
		int at_ret = s->rets && p->mode == RET_SITES && p->rsp == rsp;
		int at_addr = s->retaddr && p->mode == RET_ADDRESS && p->ret == s->addr && p->rsp + 8 == rsp;
		if (!at_ret && !at_addr)
			continue;
		if (at_ret && (!have_top || top != p->ret)) {
			forget(tr, p); /* its frame holds another return address: the call is gone */
			continue;
		}
		struct probe *pr = &tr->probes[p->probe];
		hit->probe = p->probe;
		hit->is_return = 1;
		memcpy(hit->cookie, p->cookie, sizeof(hit->cookie));
		p->probe = -1;
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

/* Step vCPU THREAD over the breakpoint at S with a real single step: the
 * fallback for an instruction the host does not emulate. Under TCG QEMU
 * flushes its translated code when single-stepping starts and ends; under
 * KVM the breakpoint is an int3 in guest memory and is lifted for the step,
 * the vCPU alone running meanwhile. */
static int step_over(struct vms_tracer *tr, long thread, struct site *s)
{
	char pkt[48];
	struct vms_gdb_stop st;
	int rc;
	if (tr->step_remove && (rc = plant(tr, s, 0)))
		return rc;
	snprintf(pkt, sizeof(pkt), "vCont;s:%lx", thread);
	if ((rc = gdb_resume(tr->g, pkt)) || (rc = gdb_wait_stop(tr->g, 10000, &st)) < 0)
		return gdb_fail(tr, rc);
	if (rc == 0) {
		tr->running = 1; /* still stepping: close stops it first */
		return tfail(tr, ETIMEDOUT, "vCPU %ld did not finish a single step within 10 s", thread - 1);
	}
	if (!s->planted && (rc = plant(tr, s, 1)))
		return rc;
	tr->st.steps++;
	return 0;
}

/* Get vCPU THREAD past the breakpoint at S, which stays planted: do the
 * instruction under it on the host and set the registers it changes, or
 * step (step_over). Nothing is removed, nothing flushed. */
static int pass(struct vms_tracer *tr, long thread, struct site *s, const struct vms_regs *r, uint64_t dtb)
{
	struct gdb_write w[3];
	size_t n = 0;
	const struct insn *in = &s->insn;
	int kind = s->thunk ? INSN_RET : in->kind;
	if (!s->decoded || !tr->regs_known)
		return step_over(tr, thread, s);
	uint64_t next = s->addr + in->len, rsp = r->rsp;
	if (kind == INSN_NOP) {
		w[n++] = (struct gdb_write){ 0, tr->rip_num, next, 8 };
	} else if (kind == INSN_PUSH) {
		struct vms_regs copy = *r;
		uint64_t v = *gpr(&copy, in->reg);
		w[n++] = (struct gdb_write){ 1, rsp - 8, v, 8 };
		w[n++] = (struct gdb_write){ 0, tr->gpr_num[7], rsp - 8, 8 };
		w[n++] = (struct gdb_write){ 0, tr->rip_num, next, 8 };
	} else if (kind == INSN_RET) {
		uint64_t ret;
		if (vms_read_va(tr->t, dtb, rsp, &ret, 8, NULL))
			return step_over(tr, thread, s);
		w[n++] = (struct gdb_write){ 0, tr->gpr_num[7], rsp + 8 + in->pop, 8 };
		w[n++] = (struct gdb_write){ 0, tr->rip_num, ret, 8 };
	} else {
		return step_over(tr, thread, s);
	}
	int rc = gdb_write_batch(tr->g, thread, w, n);
	if (rc)
		return gdb_fail(tr, rc);
	tr->st.emulated++;
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
	int rc = read_regs(tr, st->thread, &regs);
	if (rc)
		return rc;
	uint64_t t1 = now_ns();
	tr->st.regs_ns += t1 - t0;
	struct site *s = site_find(tr, regs.rip);
	if (!s || !s->planted) {
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
	if (s->rets || s->retaddr)
		returns(tr, s, &hit, stop);
	if (s->probes)
		entries(tr, &hit, stop);
	if (!s->decoded && tr->text_stable)
		site_decode(tr, s, hit.dtb); /* an address probe without a kernel: learnt at its first hit */
	uint64_t t2 = now_ns();
	if ((rc = pass(tr, st->thread, s, &regs, hit.dtb)))
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
	symidx_free(tr->syms);
	insn_decoder_close(tr->dec);
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
