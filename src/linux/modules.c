/*
 * Loaded modules (vms_modules): the kernel's module list, then, if asked,
 * module memory scanned for modules the list does not hold.
 *
 * The list is `modules`, linked through module->list, as /proc/modules
 * walks it; each module shows what /proc/modules shows: name, size (core
 * and init memory), users, the modules using it (module->source_list of
 * struct module_use), state, and the core text's address. Up to 6.3 a
 * module's memory is core_layout and init_layout; from 6.4 it is mem[],
 * one struct module_memory per kind (text, data, rodata, ro_after_init
 * and the init kinds), and the size shown is their sum (layout.c).
 *
 * A rootkit hides a module by unlinking it from that list; its struct
 * module stays where the module loader put it, in the module's own memory
 * (.gnu.linkonce.this_module) in the module mapping area. The scan reads
 * every mapped page of that area (from the kernel's page tables) and keeps
 * each 8-byte aligned place whose module->mkobj.mod points at itself
 * (set for every module whose sysfs entry was made: a self-pointer at a
 * fixed offset is rare in other data), then checks it as a list entry is
 * checked. A module found so that is not on the list is reported hidden.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"
#include "util/opts.h"

#define MODULES_MAX_DEFAULT 65536u
/* x86-64's module mapping area: MODULES_VADDR .. MODULES_END. */
#define MODULES_VADDR 0xffffffffc0000000ull
#define MODULES_END 0xffffffffff000000ull
#define SCAN_CHUNK (64u << 10)
#define USED_BY_MAX 64

static const char *const state_names[] = { "Live", "Loading", "Unloading", "Unformed" };

struct mod_walk {
	struct lx_walk w;
	struct vms_modules_opts o;
	uint8_t *obj;
	uint64_t *seen; /* modules reported from the list, sorted for the scan */
	size_t nseen, capseen;
	vms_module_fn fn;
	void *ctx;
	char name[256];
	char taint[40];
	char used_by[512];
};

/* Taint letters of the flags a module can carry, as /proc/modules prints
 * them (kernel/panic.c: taint_flags with .module set). */
static void taint_text(uint64_t taints, int state, char *buf, size_t len)
{
	static const struct {
		unsigned bit;
		char c;
	} flags[] = { { 0, 'P' },  { 1, 'F' },  { 10, 'C' }, { 12, 'O' }, { 13, 'E' },
		      { 15, 'K' }, { 16, 'X' }, { 17, 'T' }, { 18, 'N' } };
	size_t n = 0;
	buf[0] = '\0';
	if (!taints && state != 1 && state != 2)
		return;
	buf[n++] = '(';
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (taints & (1ull << flags[i].bit))
			buf[n++] = flags[i].c;
	if (state == 2)
		buf[n++] = '-';
	if (state == 1)
		buf[n++] = '+';
	buf[n++] = ')';
	buf[n] = '\0';
	(void)len;
}

/* The modules using MOD, "a,b," as /proc/modules lists them. */
static void used_by(struct mod_walk *mw, uint64_t mod)
{
	struct lx_walk *w = &mw->w;
	const struct lx_layout *L = w->lay;
	size_t n = 0;
	mw->used_by[0] = '\0';
	if (!L->mod_source_list.size || !L->use_source_list.size || !L->use_source.size)
		return;
	struct lx_list l;
	uint64_t node;
	lx_list_init(&l, mod + L->mod_source_list.off, USED_BY_MAX);
	while (lx_list_next(w, &l, &node) == 1) {
		uint64_t src;
		char name[64];
		if (lx_read_u64(w, node - L->use_source_list.off + L->use_source.off, &src) || !lx_kptr(w, src, 8) ||
		    lx_read(w, src + L->mod_name.off, name,
		            sizeof(name) < L->mod_name.size ? sizeof(name) : L->mod_name.size))
			break;
		name[sizeof(name) - 1] = '\0';
		int k = snprintf(mw->used_by + n, sizeof(mw->used_by) - n, "%s,", name);
		if (k < 0 || (size_t)k >= sizeof(mw->used_by) - n)
			break;
		n += (size_t)k;
	}
}

/* A module's name: NUL-terminated within its field, printable, not empty. */
static int name_ok(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len && p[i] >= 0x21 && p[i] < 0x7f)
		i++;
	return i > 0 && i < len && p[i] == 0;
}

/* Copy and check the struct module at MOD; fill OUT. A PROBE (the scan
 * trying a place) is read once and not counted when it fails. */
static int module_read(struct mod_walk *mw, uint64_t mod, int probe, struct vms_module *out)
{
	struct lx_walk *w = &mw->w;
	const struct lx_layout *L = w->lay;
	uint8_t *o = mw->obj;
	memset(out, 0, sizeof(*out));
	out->addr = mod;
	out->name = out->state_name = out->taint = out->used_by = "";
	out->refcnt = -1;
	for (unsigned attempt = 0;; attempt++) {
		if (attempt) {
			if (probe)
				return -EINVAL;
			if (attempt > w->retries)
				break;
			w->retried++;
		}
		if (lx_read_plan(w, &L->mod_plan, mod, o))
			continue;
		uint64_t state = lx_get(o, L->mod_state), base = lx_get(o, L->mod_base);
		if (state > 3 || !name_ok(o + L->mod_name.off, L->mod_name.size) || (base && !lx_kptr(w, base, 8)) ||
		    (L->mod_kobj_mod.size && state != 3 && state != 1 && lx_get(o, L->mod_kobj_mod) != mod))
			continue;
		uint32_t size = 0; /* an unsigned int in the kernel's sum too */
		for (uint32_t i = 0; i < L->mod_mem_count; i++)
			size += (uint32_t)lx_get(o, L->mod_mem_size[i]);
		size_t nl = L->mod_name.size < sizeof(mw->name) ? L->mod_name.size : sizeof(mw->name) - 1;
		memcpy(mw->name, o + L->mod_name.off, nl);
		mw->name[nl] = '\0';
		out->name = mw->name;
		out->base = base;
		out->size = size;
		out->state = (int)state;
		out->state_name = state_names[state];
		if (L->mod_refcnt.size)
			out->refcnt = lx_get_s32(o, L->mod_refcnt) - 1; /* MODULE_REF_BASE */
		out->taints = lx_get(o, L->mod_taints);
		taint_text(out->taints, out->state, mw->taint, sizeof(mw->taint));
		out->taint = mw->taint;
		used_by(mw, mod);
		out->used_by = mw->used_by;
		return 0;
	}
	w->unreadable++;
	out->flags |= VMS_ENTRY_UNREADABLE;
	return -EIO;
}

static int seen_add(struct mod_walk *mw, uint64_t mod)
{
	if (mw->nseen == mw->capseen) {
		size_t cap = mw->capseen ? mw->capseen * 2 : 64;
		uint64_t *s = realloc(mw->seen, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		mw->seen = s;
		mw->capseen = cap;
	}
	mw->seen[mw->nseen++] = mod;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int report(struct mod_walk *mw, uint32_t flags, struct vms_module *m)
{
	if (mw->w.entries >= mw->w.max)
		return lx_fail(&mw->w, E2BIG, "more than %u modules", mw->w.max);
	m->flags |= flags;
	mw->w.entries++;
	return mw->fn(mw->ctx, m);
}

/* ---- the scan ----------------------------------------------------------------- */

struct scan {
	struct mod_walk *mw;
	uint8_t *buf; /* SCAN_CHUNK + the struct's size */
	int rc;
};

static int scan_range(void *ctx, const struct vms_va_range *r)
{
	struct scan *s = ctx;
	struct mod_walk *mw = s->mw;
	struct lx_walk *w = &mw->w;
	const struct lx_layout *L = w->lay;
	if (r->va + r->len <= MODULES_VADDR)
		return 0;
	if (r->va >= MODULES_END)
		return 1;
	uint64_t lo = r->va < MODULES_VADDR ? MODULES_VADDR : r->va;
	uint64_t hi = r->va + r->len > MODULES_END ? MODULES_END : r->va + r->len;
	uint32_t self = L->mod_kobj_mod.off;
	for (uint64_t va = lo; va < hi; va += SCAN_CHUNK) {
		size_t len = hi - va < SCAN_CHUNK ? (size_t)(hi - va) : SCAN_CHUNK;
		size_t got = 0;
		/* Read on past the chunk: a struct module may straddle it
		 * (the next range may not follow; then fewer bytes are there). */
		lx_read_dtb(w, w->dtb, va, s->buf, len + self + 8, &got);
		for (size_t off = 0; off < len && off + self + 8 <= got; off += 8) {
			uint64_t v;
			memcpy(&v, s->buf + off + self, 8);
			if (v != va + off)
				continue;
			if (bsearch(&v, mw->seen, mw->nseen, sizeof(uint64_t), cmp_u64))
				continue;
			struct vms_module m;
			if (module_read(mw, v, 1, &m))
				continue; /* a self-pointer, not a module */
			if ((s->rc = seen_add(mw, v)))
				return 1;
			qsort(mw->seen, mw->nseen, sizeof(uint64_t), cmp_u64);
			if ((s->rc = report(mw, VMS_MODULE_HIDDEN, &m)))
				return 1;
		}
	}
	return 0;
}

static int scan(struct mod_walk *mw)
{
	struct lx_walk *w = &mw->w;
	if (!w->lay->mod_kobj_mod.size)
		return lx_fail(w, ENOTSUP, "the kernel's struct module has no mkobj.mod to recognise modules by");
	struct scan s = { .mw = mw, .buf = malloc(SCAN_CHUNK + w->lay->mod_size + 16) };
	if (!s.buf)
		return lx_fail(w, ENOMEM, "out of memory");
	qsort(mw->seen, mw->nseen, sizeof(uint64_t), cmp_u64);
	int rc = vms_va_ranges(w->t, w->dtb, scan_range, &s);
	free(s.buf);
	if (s.rc)
		return s.rc;
	return rc < 0 ? rc : 0;
}

int vms_modules(struct vms_kernel *k, const struct vms_modules_opts *opts, vms_module_fn fn, void *ctx)
{
	struct mod_walk mw;
	memset(&mw, 0, sizeof(mw));
	if (VMS_OPTS_COPY(&mw.o, opts))
		return kernel_fail(k, EINVAL, VMS_OPTS_BAD, "vms_modules_opts", opts->sz, sizeof(mw.o));
	int rc = lx_walk_begin(&mw.w, k, LX_MODULES, mw.o.max_entries, MODULES_MAX_DEFAULT, mw.o.retries);
	if (rc)
		return rc;
	const struct lx_layout *L = mw.w.lay;
	mw.fn = fn;
	mw.ctx = ctx;
	if (!(mw.obj = malloc(L->mod_plan.end))) {
		rc = kernel_fail(k, ENOMEM, "out of memory");
		goto out;
	}
	struct lx_list l;
	uint64_t node;
	lx_list_init(&l, L->modules_head, mw.w.max);
	while ((rc = lx_list_next(&mw.w, &l, &node)) == 1) {
		uint64_t mod = node - L->mod_list.off;
		if ((rc = seen_add(&mw, mod))) {
			rc = kernel_fail(k, ENOMEM, "out of memory");
			break;
		}
		struct vms_module m;
		module_read(&mw, mod, 0, &m);
		if ((rc = report(&mw, 0, &m)))
			break;
	}
	if (rc == 0 && mw.o.scan)
		rc = scan(&mw);
out:
	lx_walk_stats(&mw.w, mw.o.stats);
	free(mw.obj);
	free(mw.seen);
	return rc;
}
