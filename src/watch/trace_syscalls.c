/*
 * vms_trace_syscalls: every x86-64 system call, from a breakpoint on the
 * kernel's C entry point do_syscall_64(struct pt_regs *regs, int nr).
 *
 * The arguments are the user's registers as the entry code saved them in
 * pt_regs (di, si, dx, r10, r8, r9: offsets from BTF); the result is
 * pt_regs->ax when do_syscall_64 returns (it is void: the value goes back
 * to user space through pt_regs). Names come from the kernel's own table:
 * sys_call_table[nr] points at __x64_sys_NAME, which kallsyms names; the
 * table's length is where the next symbol begins.
 *
 * exit and exit_group never return, so they are reported at their entry;
 * any other call is reported when it returns, with its arguments kept from
 * the entry. 32-bit system calls (int 0x80, sysenter) take other entry
 * points and are not traced.
 */
#include "vmsight/vmsight.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linux/views.h"
#include "tracer.h"
#include "util/opts.h"

#define TABLE_MAX 1024
#define INFLIGHT 256
#define NR_EXIT 60
#define NR_EXIT_GROUP 231

struct call {
	uint64_t gen;
	int nr;
	uint64_t args[6];
};

struct strace {
	struct vms_kernel *k;
	struct vms_target *t;
	vms_trace_fn fn;
	void *ctx;
	uint64_t regs_off[7]; /* di si dx r10 r8 r9, then ax */
	char (*names)[32];    /* by number; "" unknown */
	unsigned nnames;
	struct call calls[INFLIGHT];
	uint64_t gen;
};

/* Symbol scan: the __x64_sys_* functions and where sys_call_table ends. */
struct scan {
	uint64_t table, table_end;
	struct {
		uint64_t addr;
		char name[32];
	} * fns;
	size_t n, cap;
};

static int scan_sym(void *ctx, const struct vms_sym *s)
{
	struct scan *sc = ctx;
	if (s->addr > sc->table && (sc->table_end == 0 || s->addr < sc->table_end))
		sc->table_end = s->addr;
	if (strncmp(s->name, "__x64_sys_", 10) != 0 || strlen(s->name + 10) >= 32)
		return 0;
	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 512;
		void *p = realloc(sc->fns, ncap * sizeof(*sc->fns));
		if (!p)
			return -ENOMEM;
		sc->fns = p;
		sc->cap = ncap;
	}
	sc->fns[sc->n].addr = s->addr;
	snprintf(sc->fns[sc->n].name, sizeof(sc->fns[sc->n].name), "%s", s->name + 10);
	sc->n++;
	return 0;
}

/* Names by number from sys_call_table (a malloc'd array of *N names, ""
 * where unknown); a kernel without the table gives none. */
static int load_names(struct vms_kernel *k, char (**names)[32], unsigned *count)
{
	struct scan sc = { 0 };
	*names = NULL;
	*count = 0;
	if (vms_sym_lookup(k, "sys_call_table", &sc.table))
		return 0;
	int rc = vms_sym_iter(k, scan_sym, &sc);
	if (rc < 0) {
		free(sc.fns);
		return rc;
	}
	uint64_t n = sc.table_end > sc.table ? (sc.table_end - sc.table) / 8 : 0;
	if (n > TABLE_MAX)
		n = TABLE_MAX;
	uint64_t *ptr = n ? calloc(n, 8) : NULL;
	char(*nm)[32] = n ? calloc(n, sizeof(*nm)) : NULL;
	if (n && (!ptr || !nm)) {
		free(ptr);
		free(nm);
		free(sc.fns);
		return -ENOMEM;
	}
	if (n && vms_kernel_read(k, sc.table, ptr, n * 8) == 0) {
		for (uint64_t i = 0; i < n; i++)
			for (size_t j = 0; j < sc.n; j++)
				if (sc.fns[j].addr == ptr[i]) {
					memcpy(nm[i], sc.fns[j].name, sizeof(nm[i]));
					break;
				}
		*names = nm;
		*count = (unsigned)n;
	} else {
		free(nm);
	}
	free(ptr);
	free(sc.fns);
	return 0;
}

int vms_syscall_names(struct vms_kernel *k, vms_syscall_name_fn fn, void *ctx)
{
	char(*names)[32];
	unsigned n;
	int rc = load_names(k, &names, &n);
	if (rc)
		return kernel_fail(k, -rc, "out of memory");
	if (!n)
		return kernel_fail(k, ENOENT, "the kernel has no readable sys_call_table");
	for (unsigned i = 0; i < n && rc == 0; i++)
		if (names[i][0] && strcmp(names[i], "ni_syscall") != 0)
			rc = fn(ctx, (int)i, names[i]);
	free(names);
	return rc;
}

static void strace_free(void *p)
{
	struct strace *st = p;
	free(st->names);
	free(st);
}

static void fill(struct strace *st, struct vms_trace_event *ev, const struct vms_bp_hit *hit, int nr)
{
	*ev = vms_trace_event_at(VMS_TEV_SYSCALL, hit);
	ev->nr = nr;
	if (nr >= 0 && (unsigned)nr < st->nnames)
		ev->name = st->names[nr];
}

static int on_entry(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit)
{
	struct strace *st = ctx;
	uint64_t regs = hit->regs->rdi, v[6] = { 0 };
	int nr = (int)(uint32_t)hit->regs->rsi;
	(void)tr;
	for (int i = 0; i < 6; i++)
		if (vms_read_va(st->t, hit->dtb, regs + st->regs_off[i], &v[i], 8, NULL))
			v[i] = 0;
	if (nr == NR_EXIT || nr == NR_EXIT_GROUP) {
		struct vms_trace_event ev;
		fill(st, &ev, hit, nr);
		memcpy(ev.args, v, sizeof(v));
		ev.flags = VMS_TEV_F_NORESULT;
		return st->fn(st->ctx, &ev) ? VMS_PROBE_STOP : 0;
	}
	uint64_t gen = ++st->gen;
	struct call *c = &st->calls[gen % INFLIGHT];
	c->gen = gen;
	c->nr = nr;
	memcpy(c->args, v, sizeof(v));
	hit->cookie[0] = gen;
	hit->cookie[1] = regs;
	return VMS_PROBE_RETURN;
}

static int on_return(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit)
{
	struct strace *st = ctx;
	struct call *c = &st->calls[hit->cookie[0] % INFLIGHT];
	uint64_t ax;
	(void)tr;
	if (c->gen != hit->cookie[0])
		return 0; /* written over by INFLIGHT later calls */
	struct vms_trace_event ev;
	fill(st, &ev, hit, c->nr);
	memcpy(ev.args, c->args, sizeof(ev.args));
	if (vms_read_va(st->t, hit->dtb, hit->cookie[1] + st->regs_off[6], &ax, 8, NULL))
		ev.flags |= VMS_TEV_F_NORESULT;
	else
		ev.result = (int64_t)ax;
	return st->fn(st->ctx, &ev) ? VMS_PROBE_STOP : 0;
}

int vms_trace_syscalls(struct vms_tracer *tr, struct vms_kernel *k, const struct vms_trace_opts *opts, vms_trace_fn fn,
                       void *ctx)
{
	static const char *const regs[7] = { "di", "si", "dx", "r10", "r8", "r9", "ax" };
	struct vms_trace_opts o = { 0 };
	if (VMS_OPTS_COPY(&o, opts)) {
		char why[256];
		snprintf(why, sizeof(why), VMS_OPTS_BAD, "vms_trace_opts", opts->sz, sizeof(o));
		return tracer_fail(tr, EINVAL, why);
	}
	struct strace *st = calloc(1, sizeof(*st));
	if (!st)
		return tracer_fail(tr, ENOMEM, "out of memory");
	int rc = tracer_own(tr, st, strace_free);
	if (rc)
		return rc;
	st->k = k;
	st->t = tracer_target(tr);
	st->fn = fn;
	st->ctx = ctx;
	for (int i = 0; i < 7; i++) {
		uint64_t size;
		if (vms_btf_member(k, "pt_regs", regs[i], &st->regs_off[i], &size) || size != 8) {
			char msg[96];
			snprintf(msg, sizeof(msg), "the kernel's types have no pt_regs.%s", regs[i]);
			return tracer_fail(tr, ENOENT, msg);
		}
	}
	if ((rc = load_names(k, &st->names, &st->nnames)))
		return tracer_fail(tr, -rc, "out of memory");
	struct vms_probe_opts po = { .sz = sizeof(po), .pid = o.pid, .dtb = o.dtb, .on_return = on_return };
	rc = vms_tracer_probe(tr, "do_syscall_64", 0, &po, on_entry, st);
	return rc < 0 ? rc : 0;
}
