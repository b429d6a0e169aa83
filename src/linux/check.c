/*
 * vms_check: the integrity checks, run one after another over one look at
 * the kernel, and what they share (check.h): the kernel's landmarks, who
 * owns an address, symbol names, findings, and the xarray walk.
 *
 * Ownership is the heart of most checks: a system-call entry, an IDT
 * handler, a jump patched into a function or a notifier callback is judged
 * by where it points. The kernel's text is the kernel's; module memory is
 * a module's when it lies in one of the module's allocations (core and
 * init up to 6.3, mem[] from 6.4), whether the module is listed or was
 * found hidden by the module scan; executable module memory is also
 * handed out for BPF programs and ftrace trampolines, which the checks
 * that walk those add as regions. Whatever is left in the module area is
 * "module memory no module owns", a classic place for a loader that
 * unmapped its module to leave its code.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/opts.h"

static const struct {
	const char *name;
	unsigned bit;
	int (*run)(struct check_run *c);
} checks[] = {
	{ "syscalls", VMS_CHECK_SYSCALLS, check_syscalls },
	{ "idt", VMS_CHECK_IDT, check_idt },
	{ "modules", VMS_CHECK_MODULES, check_modules },
	{ "tasks", VMS_CHECK_TASKS, check_tasks },
	{ "ftrace", VMS_CHECK_FTRACE, check_ftrace },
	{ "kprobes", VMS_CHECK_KPROBES, check_kprobes },
	{ "bpf", VMS_CHECK_BPF, check_bpf },
	{ "hooks", VMS_CHECK_HOOKS, check_hooks },
	{ "notifiers", VMS_CHECK_NOTIFIERS, check_notifiers },
	{ "net", VMS_CHECK_NET, check_net },
};
#define NCHECKS (sizeof(checks) / sizeof(checks[0]))

int vms_check_by_name(const char *name)
{
	for (size_t i = 0; i < NCHECKS; i++)
		if (!strcmp(name, checks[i].name))
			return (int)checks[i].bit;
	return -EINVAL;
}

const char *vms_check_name(unsigned bit)
{
	for (size_t i = 0; i < NCHECKS; i++)
		if (checks[i].bit == bit)
			return checks[i].name;
	return NULL;
}

/* ---- symbols ------------------------------------------------------------------ */

int ck_sym(struct check_run *c, const char *name, uint64_t *addr)
{
	return vms_sym_lookup(c->w.k, name, addr);
}

/* The index of the first symbol (of its aliases) containing VA, or -1. */
static long sym_index(struct check_run *c, uint64_t va)
{
	const struct symtab *s = &c->w.k->syms;
	if (!c->sorted || !s->n || va < c->stext || va >= KERNEL_MAP_END)
		return -1;
	size_t lo = 0, hi = s->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (symtab_addr(s, &s->syms[mid]) <= va)
			lo = mid;
		else
			hi = mid;
	}
	if (symtab_addr(s, &s->syms[lo]) > va)
		return -1;
	while (lo > 0 && symtab_addr(s, &s->syms[lo - 1]) == symtab_addr(s, &s->syms[lo]))
		lo--;
	return (long)lo;
}

int ck_sym_named(struct check_run *c, uint64_t va, int (*pred)(const char *name, int arg), int arg)
{
	const struct symtab *s = &c->w.k->syms;
	long i = sym_index(c, va);
	if (i < 0 || symtab_addr(s, &s->syms[i]) != va)
		return 0;
	for (size_t j = (size_t)i; j < s->n && symtab_addr(s, &s->syms[j]) == va; j++)
		if (pred(symtab_name(s, &s->syms[j]), arg))
			return 1;
	return 0;
}

const char *ck_sym_at(struct check_run *c, uint64_t va, uint64_t *start, uint64_t *next)
{
	const struct symtab *s = &c->w.k->syms;
	long i = sym_index(c, va);
	if (i < 0)
		return NULL;
	size_t lo = (size_t)i, j = lo, best = lo;
	/* Of the aliases, a global name (__x64_sys_getppid, not __do_sys_getppid). */
	for (; j < s->n && symtab_addr(s, &s->syms[j]) == symtab_addr(s, &s->syms[lo]); j++)
		if (s->syms[j].type >= 'A' && s->syms[j].type <= 'Z' &&
		    !(s->syms[best].type >= 'A' && s->syms[best].type <= 'Z'))
			best = j;
	if (start)
		*start = symtab_addr(s, &s->syms[lo]);
	if (next)
		*next = j < s->n ? symtab_addr(s, &s->syms[j]) : symtab_addr(s, &s->syms[lo]);
	return symtab_name(s, &s->syms[best]);
}

int ck_in_text(const struct check_run *c, uint64_t va)
{
	return (va >= c->stext && va < c->etext) || (va >= c->sinittext && va < c->einittext);
}

const char *ck_symbolize(struct check_run *c, uint64_t va, char *buf, size_t len)
{
	uint64_t start;
	buf[0] = '\0';
	if (!ck_in_text(c, va) && !(va >= KERNEL_MAP_START && va < KERNEL_MAP_END))
		return buf;
	const char *name = ck_sym_at(c, va, &start, NULL);
	if (!name || va - start > (1u << 20))
		return buf;
	if (va == start)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s+0x%llx", name, (unsigned long long)(va - start));
	return buf;
}

/* ---- owners ------------------------------------------------------------------- */

int ck_region_add(struct check_run *c, uint64_t start, uint64_t end, int32_t module, const char *what)
{
	if (end <= start)
		return 0;
	if (c->nregions == c->capregions) {
		size_t cap = c->capregions ? c->capregions * 2 : 64;
		struct ck_region *r = realloc(c->regions, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		c->regions = r;
		c->capregions = cap;
	}
	c->regions[c->nregions++] = (struct ck_region){ start, end, module, what };
	return 0;
}

/* A member of up to 8 bytes read alone (0 if the kernel lacks it). */
static int read_member(struct check_run *c, uint64_t obj, struct lx_member m, uint64_t *out)
{
	uint8_t b[8] = { 0 };
	*out = 0;
	if (!m.size || m.size > 8)
		return -ENOENT;
	int rc = lx_read(&c->w, obj + m.off, b, m.size);
	if (rc)
		return rc;
	struct lx_member z = m;
	z.off = 0;
	*out = lx_get(b, z);
	return 0;
}

/* The memory of the module at MOD: core and init (to 6.3), mem[] (6.4+). */
static int module_regions(struct check_run *c, uint64_t mod, int32_t idx)
{
	const struct lx_layout *L = c->w.lay;
	struct {
		struct lx_member base, size;
	} part[8];
	unsigned n = 0;
	if (L->mod_init_base.size) { /* up to 6.3: core_layout, init_layout */
		part[n].base = L->mod_base;
		part[n++].size = L->mod_mem_size[0];
		if (L->mod_mem_count > 1) {
			part[n].base = L->mod_init_base;
			part[n++].size = L->mod_mem_size[1];
		}
	} else { /* 6.4+: mem[i], each base where its size is, less the size's offset */
		for (uint32_t i = 0; i < L->mod_mem_count && i < 8; i++, n++) {
			part[n].base = L->mod_base;
			part[n].base.off += L->mod_mem_size[i].off - L->mod_mem_size[0].off;
			part[n].size = L->mod_mem_size[i];
		}
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t base, size;
		if (read_member(c, mod, part[i].base, &base) || read_member(c, mod, part[i].size, &size))
			continue;
		/* A module's memory lies in the module area, at most 1 GiB. */
		if (!base || base < CK_MODULES_VADDR || size > (1ull << 30) || base + size > CK_MODULES_END)
			continue;
		int rc = ck_region_add(c, base, base + size, idx, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

static int owners_module(void *ctx, const struct vms_module *m)
{
	struct check_run *c = ctx;
	if (m->flags & VMS_ENTRY_UNREADABLE)
		return 0;
	if (c->nmods == c->capmods) {
		size_t cap = c->capmods ? c->capmods * 2 : 64;
		struct ck_module *p = realloc(c->mods, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->mods = p;
		c->capmods = cap;
	}
	struct ck_module *cm = &c->mods[c->nmods];
	cm->addr = m->addr;
	snprintf(cm->name, sizeof(cm->name), "%s", m->name);
	cm->hidden = (m->flags & VMS_MODULE_HIDDEN) != 0;
	return module_regions(c, m->addr, (int32_t)c->nmods++);
}

int ck_owners(struct check_run *c)
{
	if (c->owners_read)
		return c->owners_rc;
	c->owners_read = 1;
	struct vms_modules_opts mo = { .sz = sizeof(mo), .scan = 1, .max_entries = CK_MODULES_MAX };
	int rc = vms_modules(c->w.k, &mo, owners_module, c);
	/* vms_modules began a walk of its own: the layout we hold stays valid,
	 * the TLB was flushed (harmless). */
	if (rc > 0)
		rc = -EIO;
	c->owners_rc = rc;
	return rc;
}

const char *ck_owner(struct check_run *c, uint64_t va, char *buf, size_t len, int *mod)
{
	if (mod)
		*mod = -1;
	if (ck_in_text(c, va)) {
		snprintf(buf, len, "kernel");
		return buf;
	}
	ck_owners(c);
	for (size_t i = 0; i < c->nregions; i++) {
		const struct ck_region *r = &c->regions[i];
		if (va < r->start || va >= r->end)
			continue;
		if (r->module >= 0) {
			const struct ck_module *m = &c->mods[r->module];
			snprintf(buf, len, "%s%s", m->name, m->hidden ? " (hidden)" : "");
			if (mod)
				*mod = r->module;
		} else {
			snprintf(buf, len, "%s", r->what);
		}
		return buf;
	}
	if (va >= CK_MODULES_VADDR && va < CK_MODULES_END)
		snprintf(buf, len, "module memory no module owns");
	else if (va >= KERNEL_MAP_START && va < KERNEL_MAP_END)
		snprintf(buf, len, "kernel image (not text)");
	else
		snprintf(buf, len, "unknown");
	return buf;
}

int ck_report(struct check_run *c, const char *status, const char *table, int64_t nr, const char *name, uint64_t addr,
              uint64_t target, const char *owner, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	uint64_t at = target ? target : addr;
	if (!owner)
		owner = ck_owner(c, at, c->owner, sizeof(c->owner), NULL);
	struct vms_finding f = {
		.check = c->check,
		.status = status,
		.table = table ? table : "",
		.nr = nr,
		.name = name ? name : "",
		.addr = addr,
		.target = target,
		.target_sym = target ? ck_symbolize(c, target, c->sym, sizeof(c->sym)) : "",
		.owner = owner,
		.detail = c->detail,
	};
	c->found++;
	c->findings++;
	int rc = c->fn ? c->fn(c->ctx, &f) : 0;
	if (rc)
		c->stop = rc;
	return rc;
}

/* ---- xarray ------------------------------------------------------------------- */

#define XA_CHUNK 64
#define XA_MAX_NODES (1u << 20)
#define XA_MAX_DEPTH 11 /* 64-bit indexes, 6 bits a level */

static int xa_is_node(uint64_t v)
{
	return (v & 3) == 2 && v > 4096;
}

int ck_xa_walk(struct check_run *c, uint64_t head, unsigned max, int (*fn)(void *ctx, uint64_t index, uint64_t entry),
               void *ctx)
{
	struct lx_walk *w = &c->w;
	const struct lx_layout *L = w->lay;
	if (!L->xa_slots.size || !L->xa_shift.size)
		return lx_fail(w, ENOTSUP, "the kernel's types have no xa_node.slots/shift");
	uint64_t root;
	if (lx_read_u64(w, head, &root))
		return lx_fail(w, EIO, "xarray at 0x%llx is unreadable", (unsigned long long)head);
	if (!root)
		return 0;
	if (!xa_is_node(root))
		return (root & 3) ? 0 : fn(ctx, 0, root); /* a single entry at index 0 */
	struct frame {
		uint64_t node, base;
		unsigned shift, slot;
		uint64_t slots[XA_CHUNK];
	} *st = malloc(sizeof(*st) * (XA_MAX_DEPTH + 1));
	if (!st)
		return lx_fail(w, ENOMEM, "out of memory");
	unsigned depth = 0, nodes = 0, entries = 0;
	int rc = 0;
	uint64_t node = root - 2, parent = 0, base = 0;
	int prev_shift = -1;
	for (;;) {
		if (node) { /* descend into NODE */
			uint8_t shift;
			uint64_t back = 0;
			struct frame *f = &st[depth];
			if (++nodes > XA_MAX_NODES) {
				rc = lx_fail(w, E2BIG, "xarray at 0x%llx: more than %u nodes", (unsigned long long)head,
				             XA_MAX_NODES);
				break;
			}
			if (!lx_kptr(w, node, 8) || lx_read(w, node + L->xa_shift.off, &shift, 1) ||
			    lx_read(w, node + L->xa_slots.off, f->slots, sizeof(f->slots)) ||
			    (L->xa_parent.size == 8 && lx_read_u64(w, node + L->xa_parent.off, &back))) {
				rc = lx_fail(w, EIO, "xarray at 0x%llx: node 0x%llx is unreadable",
				             (unsigned long long)head, (unsigned long long)node);
				break;
			}
			if (shift % 6 || shift > 60 || (prev_shift >= 0 && shift != prev_shift - 6) ||
			    (L->xa_parent.size == 8 && back != parent)) {
				rc = lx_fail(w, EIO,
				             "xarray at 0x%llx: node 0x%llx does not fit its place (shift %u, parent "
				             "0x%llx, not 0x%llx): changed while read, or corrupt",
				             (unsigned long long)head, (unsigned long long)node, shift,
				             (unsigned long long)back, (unsigned long long)parent);
				break;
			}
			f->node = node;
			f->base = base;
			f->shift = shift;
			f->slot = 0;
			node = 0;
		}
		struct frame *f = &st[depth];
		if (f->slot == XA_CHUNK) { /* this node is done: up */
			if (depth == 0)
				break;
			depth--;
			continue;
		}
		unsigned i = f->slot++;
		uint64_t v = f->slots[i], idx = f->base + ((uint64_t)i << f->shift);
		if (!v)
			continue;
		if (xa_is_node(v)) {
			if (f->shift == 0 || depth + 1 > XA_MAX_DEPTH)
				continue; /* a node below the last level: ignore */
			depth++;
			node = v - 2;
			parent = f->node;
			base = idx;
			prev_shift = (int)f->shift;
			continue;
		}
		if (v & 3)
			continue; /* a value, sibling or retry entry: not an object */
		if (++entries > max) {
			rc = lx_fail(w, E2BIG, "xarray at 0x%llx: more than %u entries", (unsigned long long)head, max);
			break;
		}
		if ((rc = fn(ctx, idx, v)))
			break;
	}
	free(st);
	return rc;
}

/* ---- the run ------------------------------------------------------------------ */

static void landmarks(struct check_run *c)
{
	const struct symtab *s = &c->w.k->syms;
	uint64_t v;
	c->stext = ck_sym(c, "_stext", &v) == 0 ? v : c->w.k->text_va;
	c->etext = ck_sym(c, "_etext", &v) == 0 ? v : 0;
	if (ck_sym(c, "__entry_text_start", &c->entry_start) || ck_sym(c, "__entry_text_end", &c->entry_end))
		c->entry_start = c->entry_end = 0;
	if (ck_sym(c, "_sinittext", &c->sinittext) || ck_sym(c, "_einittext", &c->einittext))
		c->sinittext = c->einittext = 0;
	/* kallsyms is in address order apart from the absolute (per-CPU)
	 * symbols; if this table is not, no address is named. */
	c->sorted = 1;
	uint64_t last = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->syms[i].flags & KSYM_ABS)
			continue;
		if (symtab_addr(s, &s->syms[i]) < last) {
			c->sorted = 0;
			break;
		}
		last = symtab_addr(s, &s->syms[i]);
	}
	if (!c->sorted) /* the absolute symbols would break bsearch too */
		return;
	for (size_t i = 0; i < s->n; i++)
		if ((s->syms[i].flags & KSYM_ABS) && i &&
		    symtab_addr(s, &s->syms[i]) < symtab_addr(s, &s->syms[i - 1])) {
			c->sorted = 0;
			return;
		}
}

int vms_check(struct vms_kernel *k, const struct vms_check_opts *opts, vms_finding_fn fn, void *ctx)
{
	struct vms_check_opts o;
	if (VMS_OPTS_COPY(&o, opts))
		return kernel_fail(k, EINVAL, VMS_OPTS_BAD, "vms_check_opts", opts->sz, sizeof(o));
	unsigned want = o.checks ? o.checks : VMS_CHECK_ALL;
	if (want & ~(unsigned)VMS_CHECK_ALL)
		return kernel_fail(k, EINVAL, "unknown checks 0x%x", want & ~(unsigned)VMS_CHECK_ALL);
	struct check_run *c = calloc(1, sizeof(*c));
	if (!c)
		return kernel_fail(k, ENOMEM, "out of memory");
	int rc = lx_walk_begin(&c->w, k, LX_MODULES | LX_TASKS | LX_CHECK, 0, 1u << 22, 0);
	if (rc) {
		free(c);
		return rc;
	}
	c->fn = fn;
	c->ctx = ctx;
	landmarks(c);
	int first_err = 0;
	char err[1100] = "";
	for (size_t i = 0; i < NCHECKS && !c->stop; i++) {
		if (!(want & checks[i].bit))
			continue;
		c->check = checks[i].name;
		c->checked = c->found = 0;
		c->what[0] = '\0';
		k->t->err[0] = '\0';
		int r = checks[i].run(c);
		if (c->stop)
			break;
		if (r > 0)
			r = 0;
		if (r < 0 && !first_err) {
			first_err = r;
			snprintf(err, sizeof(err), "%s: %s", checks[i].name, k->t->err);
		}
		if (o.summary) {
			struct vms_check_summary s = { .check = checks[i].name,
				                       .checked = c->checked,
				                       .findings = c->found,
				                       .what = c->what,
				                       .error = r < 0 ? r : 0,
				                       .error_text = r < 0 ? k->t->err : "" };
			o.summary(o.summary_ctx, &s);
		}
	}
	if (c->stop)
		rc = c->stop;
	else if (first_err)
		rc = kernel_fail(k, -first_err, "%s", err);
	else
		rc = (int)c->findings;
	free(c->mods);
	free(c->regions);
	free(c);
	return rc;
}
