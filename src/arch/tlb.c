/*
 * The software TLB: filling it after a walk, and invalidating it.
 *
 * Lookups are inline in paging.h. Flushing everything bumps the generation
 * kept in every entry's key, so it costs nothing however often a caller
 * flushes (views flush at the start of each walk of the guest); only when
 * the generation wraps are the arrays wiped. Flushing one address space or
 * one range looks at the entries themselves.
 */
#include <string.h>
#include <sys/mman.h>

#include "paging.h"

/* 800 KiB of entries, of which a guest uses a part: anonymous memory comes
 * zeroed (every key empty), page by page as it is touched. */
static size_t mmu_bytes(void)
{
	return sizeof(struct vms_mmu);
}

struct vms_mmu *mmu_new(void)
{
	struct vms_mmu *m = mmap(NULL, mmu_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	m->mode = VMS_PAGING_UNKNOWN;
	m->nxe = 1;
	m->pse = 1;
	m->gen = 1ull << VMS_TLB_GEN_SHIFT;
	return m;
}

void mmu_free(struct vms_mmu *m)
{
	if (m)
		munmap(m, mmu_bytes());
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
	int i = source_find_range(s, pa, (size_t)len);
	return i >= 0 && s->host[i] ? s->host[i] + (pa - s->ranges[i].gpa) : NULL;
}

static void put(struct vms_target *t, struct vms_tlb_entry *arr, unsigned bits, unsigned wshift, uint64_t key,
                const struct vms_translation *tr, uint64_t code)
{
	uint64_t wsize = 1ull << wshift;
	uint64_t tag = tr->va >> wshift;
	uint64_t wpa = tr->pa & ~(wsize - 1);
	struct vms_tlb_entry *set = &arr[tlb_set(tag, tlb_hash(key), bits)], *e = &set[0];
	/* The newest entry goes first (it is probed first); the one it
	 * displaces moves to the second way, unless it is the same page or
	 * stale (another generation: its key's top bits differ). */
	if (!(set[0].tag == tag && set[0].key == key) && set[0].key >> VMS_TLB_GEN_SHIFT == key >> VMS_TLB_GEN_SHIFT)
		set[1] = set[0];
	e->tag = tag;
	e->key = key;
	e->pa = wpa | (tr->prot & VMS_TLB_PROT_MASK) | code << VMS_TLB_PSZ_SHIFT;
	e->host = host_of(t->src, wpa, wsize);
}

void tlb_insert(struct vms_target *t, struct vms_mmu *m, uint64_t dtb, const struct vms_translation *tr)
{
	if (!m->dtb_mask)
		return;
	uint64_t key = tlb_key(m, dtb);
	switch (tr->page_size) {
	case 1ull << 12: put(t, m->e4k, VMS_TLB_4K_BITS, 12, key, tr, VMS_PSZ_4K); break;
	case 1ull << 21: put(t, m->e2m, VMS_TLB_2M_BITS, 21, key, tr, VMS_PSZ_2M); break;
	case 1ull << 22: put(t, m->e2m, VMS_TLB_2M_BITS, 21, key, tr, VMS_PSZ_4M); break;
	case 1ull << 30: put(t, m->e1g, VMS_TLB_1G_BITS, 30, key, tr, VMS_PSZ_1G); break;
	default: break;
	}
}

void vms_tlb_flush(struct vms_target *t)
{
	if (t->mmu)
		flush_all(t->mmu);
}

static int page_overlaps(const struct vms_tlb_entry *e, unsigned wshift, uint64_t lo, uint64_t hi)
{
	uint64_t psize = tlb_page_size(e);
	uint64_t start = (e->tag << wshift) & ~(psize - 1), end = start + (psize - 1);
	return start <= hi && end >= lo;
}

/* Drops the entries of KEY whose page overlaps [lo, hi]: both windows of a
 * 4 MiB page go when any part of it is in range, as INVLPG drops every TLB
 * entry a page gave rise to. A small range probes only the slots its
 * windows (widened to the largest page the array holds) hash to; a large
 * one scans the array. */
static void drop_range(struct vms_tlb_entry *arr, unsigned bits, unsigned wshift, uint64_t max_page, uint64_t key,
                       uint64_t lo, uint64_t hi)
{
	uint64_t first = (lo & ~(max_page - 1)) >> wshift, last = (hi | (max_page - 1)) >> wshift;
	size_t n = 2u << bits;
	if (last - first >= (1ull << bits)) {
		for (size_t i = 0; i < n; i++)
			if (arr[i].key == key && page_overlaps(&arr[i], wshift, lo, hi))
				arr[i].key = 0;
		return;
	}
	uint64_t h = tlb_hash(key);
	for (uint64_t w = first;; w++) {
		struct vms_tlb_entry *set = &arr[tlb_set(w, h, bits)];
		for (int way = 0; way < 2; way++)
			if (set[way].tag == w && set[way].key == key && page_overlaps(&set[way], wshift, lo, hi))
				set[way].key = 0;
		if (w == last)
			break;
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
	uint64_t key = tlb_key(m, dtb);
	uint64_t last = len - 1 > UINT64_MAX - va ? UINT64_MAX : va + len - 1;
	drop_range(m->e4k, VMS_TLB_4K_BITS, 12, 1ull << 12, key, va, last);
	drop_range(m->e2m, VMS_TLB_2M_BITS, 21, 1ull << 22, key, va, last);
	drop_range(m->e1g, VMS_TLB_1G_BITS, 30, 1ull << 30, key, va, last);
}

void mmu_guest_moved(struct vms_target *t)
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
