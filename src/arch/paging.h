/*
 * x86 address translation: the page-table walker (walk.c), the software TLB
 * in front of it (tlb.c), and the public functions over both (translate.c,
 * ranges.c). docs/arch.md tells the whole story.
 *
 * The TLB is three two-way set-associative arrays, one per window size:
 * 4 KiB, 2 MiB and 1 GiB. A 4 KiB page lives in the first, a 2 MiB page in
 * the second, a 4 MiB page (32-bit PSE) as two 2 MiB windows in the second,
 * and a 1 GiB page in the third. A lookup probes 2 MiB, 1 GiB, then 4 KiB
 * (the order of a Linux kernel's direct map and text, then vmalloc and user
 * memory); each probe is one cache line (a set of two entries, each compared
 * on two words), so a hit costs a few loads from cache. The 2 MiB array
 * covers 16 GiB of direct map. An entry keeps the host address of its window
 * when the memory source maps RAM, so that a read which hits is one copy
 * from the guest's own pages.
 *
 * Entries carry the generation of the TLB in the top bits of their key:
 * flushing everything is one increment, and a wipe every 4095 flushes.
 */
#ifndef VMS_ARCH_PAGING_H
#define VMS_ARCH_PAGING_H

#include <stdint.h>

#include "core/target.h"

/* Sets per array (log2); each set is two entries, one cache line. */
#define VMS_TLB_4K_BITS 13
#define VMS_TLB_2M_BITS 12
#define VMS_TLB_1G_BITS 5

/* Low 12 bits of vms_tlb_entry.pa: VMS_PAGE_* in bits 0-3, page size code
 * (VMS_PSZ_*) in bits 4-5. The window's address is 4 KiB aligned at least. */
enum { VMS_PSZ_4K, VMS_PSZ_2M, VMS_PSZ_4M, VMS_PSZ_1G };
#define VMS_TLB_PROT_MASK 0xfull
#define VMS_TLB_PSZ_SHIFT 4
#define VMS_TLB_PA_MASK (~0xfffull)
#define VMS_TLB_GEN_SHIFT 52
#define VMS_TLB_GEN_MAX 0xfffull

struct vms_tlb_entry {
	uint64_t tag;        /* va >> window shift */
	uint64_t key;        /* table base | generation << 52; 0 = empty */
	uint64_t pa;         /* window's guest-physical address | flags */
	const uint8_t *host; /* window in the source's mapping, or NULL */
};

struct vms_mmu {
	int mode;          /* enum vms_paging; VMS_PAGING_UNKNOWN until known */
	int mode_fixed;    /* set by vms_set_paging: never asked again */
	int pse;           /* CR4.PSE: 4 MiB pages in 32-bit mode */
	int nxe;           /* EFER.NXE: bit 63 is XD, not reserved */
	uint64_t dtb_mask; /* CR3 bits that address the top table; 0 = no TLB */
	uint64_t gen;      /* current generation << VMS_TLB_GEN_SHIFT */
	struct vms_tlb_entry e4k[2u << VMS_TLB_4K_BITS] __attribute__((aligned(64)));
	struct vms_tlb_entry e2m[2u << VMS_TLB_2M_BITS] __attribute__((aligned(64)));
	struct vms_tlb_entry e1g[2u << VMS_TLB_1G_BITS] __attribute__((aligned(64)));
};

static inline uint64_t tlb_key(const struct vms_mmu *m, uint64_t dtb)
{
	return (dtb & m->dtb_mask) | m->gen;
}

/* The size of the page an entry caches (a window may be part of it). */
static inline uint64_t tlb_page_size(const struct vms_tlb_entry *e)
{
	static const uint64_t sizes[4] = { 1ull << 12, 1ull << 21, 1ull << 22, 1ull << 30 };
	return sizes[(e->pa >> VMS_TLB_PSZ_SHIFT) & 3];
}

/* Spreads address spaces over the sets, so that the same user address in
 * two processes does not evict itself. */
static inline uint64_t tlb_hash(uint64_t key)
{
	return (key * 0x9e3779b97f4a7c15ull) >> 40;
}

/* The first entry of the set TAG belongs to. */
static inline unsigned tlb_set(uint64_t tag, uint64_t hash, unsigned bits)
{
	return (unsigned)((tag ^ hash) & ((1u << bits) - 1)) * 2;
}

static inline const struct vms_tlb_entry *tlb_probe(const struct vms_tlb_entry *set, uint64_t tag, uint64_t key)
{
	if (set[0].tag == tag && set[0].key == key)
		return &set[0];
	if (set[1].tag == tag && set[1].key == key)
		return &set[1];
	return NULL;
}

/* The entry translating VA in the address space KEY, and its window's
 * offset mask; NULL on a miss. */
static inline const struct vms_tlb_entry *tlb_find(const struct vms_mmu *m, uint64_t key, uint64_t va, uint64_t *wmask)
{
	uint64_t h = tlb_hash(key);
	const struct vms_tlb_entry *e = tlb_probe(&m->e2m[tlb_set(va >> 21, h, VMS_TLB_2M_BITS)], va >> 21, key);
	if (__builtin_expect(e != NULL, 1)) {
		*wmask = (1ull << 21) - 1;
		return e;
	}
	if ((e = tlb_probe(&m->e1g[tlb_set(va >> 30, h, VMS_TLB_1G_BITS)], va >> 30, key))) {
		*wmask = (1ull << 30) - 1;
		return e;
	}
	if ((e = tlb_probe(&m->e4k[tlb_set(va >> 12, h, VMS_TLB_4K_BITS)], va >> 12, key))) {
		*wmask = (1ull << 12) - 1;
		return e;
	}
	return NULL;
}

/* tlb.c */
struct vms_mmu *mmu_new(void);
void mmu_free(struct vms_mmu *m);
void tlb_insert(struct vms_target *t, struct vms_mmu *m, uint64_t dtb, const struct vms_translation *tr);
/* Called by vms_pause/vms_resume: flush, and forget the mode unless fixed
 * (the target layer then learns it again). */
void mmu_guest_moved(struct vms_target *t);

/* walk.c: the levels of each mode and the meaning of their entries. */
struct vms_pt_level {
	const char *name;
	uint8_t shift;      /* lowest address bit of this level's index */
	uint8_t bits;       /* width of the index */
	uint8_t maps_page;  /* PS=1 maps a page here */
	uint8_t no_perm;    /* legacy PAE PDPTEs carry no R/W, U/S or XD */
	uint64_t rsvd;      /* must be 0 in a present entry */
	uint64_t rsvd_page; /* ... and these too when it maps a page */
};
/* The levels of MODE, top first, and the size of an entry; NULL for modes
 * without page tables. */
const struct vms_pt_level *pt_levels(enum vms_paging mode, unsigned *n, unsigned *esize);
/* A present entry E at level L (LAST: the bottom level): its reserved bits
 * in *BAD (VMS_PT_BAD), or the next table (VMS_PT_TABLE) or the page's base
 * (VMS_PT_PAGE) in *ADDR, with its permissions folded into *PROT. */
enum { VMS_PT_BAD = -1, VMS_PT_TABLE = 0, VMS_PT_PAGE = 1 };
int pt_decode(const struct vms_mmu *m, const struct vms_pt_level *l, unsigned esize, int last, uint64_t e,
              uint64_t *addr, uint32_t *prot, uint64_t *bad);

/* walk.c: one page walk, bounded by the number of levels. STEPS may be
 * NULL. Sets t->err on failure. */
uint64_t pt_dtb_mask(enum vms_paging mode);
int pt_walk(struct vms_target *t, const struct vms_mmu *m, uint64_t dtb, uint64_t va, struct vms_translation *tr,
            struct vms_page_walk *steps);

/* translate.c: the TLB, ready to translate (mode known), or -errno; an
 * unknown mode is -ENOTSUP with t->paging_why as the reason. */
int mmu_ready(struct vms_target *t, struct vms_mmu **out);
/* translate.c: take the paging mode from vCPU 0's registers R (asked by the
 * target layer: the walker never asks QEMU). A no-op while a mode is fixed;
 * -ENOTSUP if R does not tell the mode, -ENOMEM. */
int mmu_learn(struct vms_target *t, const struct vms_regs *r);
/* translate.c: take MODE as if learnt (not fixed: a pause or resume learns
 * it again), for a mode remembered from an earlier attach whose witness
 * the caller checks (src/core/memo.c). A no-op while a mode is fixed. */
int mmu_assume(struct vms_target *t, enum vms_paging mode);
/* translate.c: fix MODE (VMS_PAGING_UNKNOWN: unfix it, to be learnt again). */
int mmu_set_mode(struct vms_target *t, enum vms_paging mode);
/* Whether the mode was fixed by vms_set_paging. */
static inline int mmu_mode_fixed(const struct vms_target *t)
{
	return t->mmu && t->mmu->mode_fixed;
}
/* Whether a mode is known (fixed or learnt). */
static inline int mmu_mode_known(const struct vms_target *t)
{
	return t->mmu && t->mmu->mode != VMS_PAGING_UNKNOWN;
}
int arch_fail(struct vms_target *t, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ranges.c: vms_va_ranges with a bound of MAX_TABLES page tables. */
int va_ranges_bounded(struct vms_target *t, uint64_t dtb, unsigned max_tables, vms_va_range_fn cb, void *ctx);

#endif
