/*
 * vms_va_ranges: every mapping of an address space, found by reading its
 * page tables top down in address order and joining neighbouring pages into
 * runs that are contiguous in both virtual and physical memory.
 *
 * Each table is copied once before its entries are looked at: on a running
 * guest that gives a consistent view of one table while we descend from it.
 * The guest's tables may be hostile: an entry with reserved bits set, or a
 * table outside RAM, is skipped like a not-present entry, and a budget of
 * tables read bounds the whole walk, since tables may point at themselves
 * or at each other and so stand for far more memory than the guest has.
 */
#include <errno.h>
#include <string.h>

#include "paging.h"

struct enumeration {
	struct vms_target *t;
	const struct vms_mmu *m;
	const struct vms_pt_level *lv;
	unsigned nlevels, esize;
	unsigned tables_left, max_tables;
	unsigned canon_bit; /* 47 or 56 in IA-32e; 0: no sign extension */
	vms_va_range_fn cb;
	void *ctx;
	struct vms_va_range cur; /* the run being grown; len 0 = none */
	int by_callback;         /* stopped because the callback said so */
};

/* Adds one page to the current run, or reports the run and starts another. */
static int add_page(struct enumeration *w, uint64_t va, uint64_t pa, uint64_t size, uint32_t prot)
{
	struct vms_va_range *c = &w->cur;
	if (c->len && c->va + c->len == va && c->pa + c->len == pa && c->page_size == size && c->prot == prot) {
		c->len += size;
		return 0;
	}
	if (c->len) {
		int rc = w->cb(w->ctx, c);
		if (rc) {
			w->by_callback = 1;
			return rc;
		}
	}
	*c = (struct vms_va_range){ va, size, pa, size, prot };
	return 0;
}

static int visit(struct enumeration *w, unsigned level, uint64_t table, uint64_t va_base, uint32_t prot)
{
	const struct vms_pt_level *l = &w->lv[level];
	unsigned count = 1u << l->bits;
	uint8_t copy[4096];
	if (w->tables_left == 0)
		return arch_fail(w->t, E2BIG, "more than %u page tables: stopped (looping page tables?)",
		                 w->max_tables);
	w->tables_left--;
	int rc = vms_read_pa(w->t, table, copy, (size_t)count * w->esize);
	if (rc == -EFAULT && level == 0)
		return arch_fail(w->t, EIO, "corrupt page table: the top table at 0x%llx is outside guest RAM",
		                 (unsigned long long)table);
	if (rc)
		return rc == -EFAULT ? 0 : rc; /* a lower table outside RAM maps nothing */
	for (unsigned i = 0; i < count; i++) {
		uint64_t e;
		if (w->esize == 4) {
			uint32_t e32;
			memcpy(&e32, copy + 4 * i, 4);
			e = e32;
		} else {
			memcpy(&e, copy + 8 * i, 8);
		}
		if (!(e & 1))
			continue;
		uint64_t va = va_base | (uint64_t)i << l->shift, addr, bad;
		uint32_t p = prot;
		switch (pt_decode(w->m, l, w->esize, level == w->nlevels - 1, e, &addr, &p, &bad)) {
		case VMS_PT_TABLE: rc = visit(w, level + 1, addr, va, p); break;
		case VMS_PT_PAGE:
			if (w->canon_bit && (va >> w->canon_bit & 1))
				va |= ~0ull << w->canon_bit;
			rc = add_page(w, va, addr, 1ull << l->shift, p);
			break;
		default: break; /* reserved bits: the CPU would fault; nothing mapped */
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* With paging off every address is its own: report guest RAM. */
static int identity_ranges(struct vms_target *t, vms_va_range_fn cb, void *ctx)
{
	const struct vms_source *s = t->src;
	for (size_t i = 0; i < s->nranges; i++) {
		struct vms_va_range r = { s->ranges[i].gpa, s->ranges[i].len, s->ranges[i].gpa, 4096,
			                  VMS_PAGE_PRESENT | VMS_PAGE_WRITE | VMS_PAGE_USER };
		int rc = cb(ctx, &r);
		if (rc)
			return rc;
	}
	return 0;
}

int va_ranges_bounded(struct vms_target *t, uint64_t dtb, unsigned max_tables, vms_va_range_fn cb, void *ctx)
{
	struct vms_mmu *m;
	int rc = mmu_ready(t, &m);
	if (rc)
		return rc;
	if (m->mode == VMS_PAGING_NONE)
		return identity_ranges(t, cb, ctx);
	struct enumeration w = {
		.t = t, .m = m, .tables_left = max_tables, .max_tables = max_tables, .cb = cb, .ctx = ctx
	};
	w.lv = pt_levels(m->mode, &w.nlevels, &w.esize);
	if (!w.lv)
		return arch_fail(t, ENOTSUP, "paging mode unknown: set it (vms_set_paging, --paging)");
	if (m->mode == VMS_PAGING_4LEVEL || m->mode == VMS_PAGING_5LEVEL)
		w.canon_bit = w.lv[0].shift + 8;
	rc = visit(&w, 0, dtb & pt_dtb_mask(m->mode), 0, VMS_PAGE_PRESENT | VMS_PAGE_WRITE | VMS_PAGE_USER);
	if (w.by_callback)
		return rc;
	/* The last run, also when the walk stopped early: what was found stands. */
	if (w.cur.len) {
		int crc = cb(ctx, &w.cur);
		if (crc)
			return crc;
	}
	return rc;
}

int vms_va_ranges(struct vms_target *t, uint64_t dtb, vms_va_range_fn cb, void *ctx)
{
	return va_ranges_bounded(t, dtb, VMS_VA_RANGES_MAX_TABLES, cb, ctx);
}
