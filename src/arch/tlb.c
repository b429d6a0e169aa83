/*
 * The software TLB: filling it after a walk, and invalidating it.
 *
 * Lookups are inline in paging.h. Flushing everything bumps the generation
 * kept in every entry's key, so it costs nothing however often a caller
 * flushes (views flush at the start of each walk of the guest); only when
 * the generation wraps are the arrays wiped. Flushing one address space or
 * one range looks at the entries themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "paging.h"

struct vms_mmu *vms_mmu_new(void)
{
	struct vms_mmu *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->mode = VMS_PAGING_UNKNOWN;
	m->nxe = 1;
	m->pse = 1;
	m->gen = 1ull << VMS_TLB_GEN_SHIFT;
	return m;
}

void vms_mmu_free(struct vms_mmu *m)
{
	free(m);
}

static void flush_all(struct vms_mmu *m)
{
	uint64_t gen = (m->gen >> VMS_TLB_GEN_SHIFT) + 1;
	if (gen > VMS_TLB_GEN_MAX) {
		memset(m->e4k, 0, sizeof(m->e4k));
		memset(m->e2m, 0, sizeof(m->e2m));
		memset(m->e1g, 0, sizeof(m->e1g));
		gen = 1;
	}
	m->gen = gen << VMS_TLB_GEN_SHIFT;
}

/* The host address of [pa, pa + len) when the source maps all of it in one
 * RAM range; the same condition as vms_read_pa's fast path. */
static const uint8_t *host_of(const struct vms_source *s, uint64_t pa, uint64_t len)
{
	int i = vms_source_find_range(s, pa, (size_t)len);
	return i >= 0 && s->host[i] ? s->host[i] + (pa - s->ranges[i].gpa) : NULL;
}

void vms_tlb_insert(struct vms_target *t, struct vms_mmu *m, uint64_t dtb, const struct vms_translation *tr)
{
	if (!m->dtb_mask)
		return;
	unsigned wshift, bits;
	struct vms_tlb_entry *arr;
	uint64_t code;
	switch (tr->page_size) {
	case 1ull << 12: wshift = 12, bits = VMS_TLB_4K_BITS, arr = m->e4k, code = VMS_PSZ_4K; break;
	case 1ull << 21: wshift = 21, bits = VMS_TLB_2M_BITS, arr = m->e2m, code = VMS_PSZ_2M; break;
	case 1ull << 22: wshift = 21, bits = VMS_TLB_2M_BITS, arr = m->e2m, code = VMS_PSZ_4M; break;
	case 1ull << 30: wshift = 30, bits = VMS_TLB_1G_BITS, arr = m->e1g, code = VMS_PSZ_1G; break;
	default: return;
	}
	uint64_t wsize = 1ull << wshift;
	uint64_t key = vms_tlb_key(m, dtb);
	uint64_t tag = tr->va >> wshift;
	uint64_t wpa = tr->pa & ~(wsize - 1);
	struct vms_tlb_entry *e = &arr[vms_tlb_slot(tag, vms_tlb_hash(key), bits)];
	e->tag = tag;
	e->key = key;
	e->pa = wpa | (tr->prot & VMS_TLB_PROT_MASK) | code << VMS_TLB_PSZ_SHIFT;
	e->host = host_of(t->src, wpa, wsize);
}

void vms_tlb_flush(struct vms_target *t)
{
	if (t->mmu)
		flush_all(t->mmu);
}

static void drop_matching(struct vms_tlb_entry *arr, size_t n, uint64_t key, unsigned wshift, uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < n; i++) {
		struct vms_tlb_entry *e = &arr[i];
		if (e->key != key)
			continue;
		uint64_t start = e->tag << wshift, end = start + ((1ull << wshift) - 1);
		if (start <= hi && end >= lo)
			e->key = 0;
	}
}

void vms_tlb_flush_dtb(struct vms_target *t, uint64_t dtb)
{
	vms_tlb_flush_range(t, dtb, 0, UINT64_MAX);
}

void vms_tlb_flush_range(struct vms_target *t, uint64_t dtb, uint64_t va, uint64_t len)
{
	struct vms_mmu *m = t->mmu;
	if (!m || !len)
		return;
	uint64_t key = vms_tlb_key(m, dtb);
	uint64_t last = len - 1 > UINT64_MAX - va ? UINT64_MAX : va + len - 1;
	/* The arrays hold five thousand entries: a scan costs microseconds,
	 * and is right for ranges of any size. */
	drop_matching(m->e4k, 1u << VMS_TLB_4K_BITS, key, 12, va, last);
	drop_matching(m->e2m, 1u << VMS_TLB_2M_BITS, key, 21, va, last);
	drop_matching(m->e1g, 1u << VMS_TLB_1G_BITS, key, 30, va, last);
}

void vms_mmu_guest_moved(struct vms_target *t)
{
	struct vms_mmu *m = t->mmu;
	if (!m)
		return;
	flush_all(m);
	if (!m->mode_fixed) {
		m->mode = VMS_PAGING_UNKNOWN;
		m->dtb_mask = 0;
	}
}
