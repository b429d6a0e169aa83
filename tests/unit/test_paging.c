/*
 * Unit tests of address translation over a fake memory source whose page
 * tables the tests write by hand: every paging mode and page size,
 * permissions combined across levels, canonical checks, unmapped addresses,
 * hostile tables (reserved bits, tables outside RAM, tables that point at
 * themselves), reads of virtual memory across pages, range enumeration, and
 * what each TLB flush does and does not invalidate.
 *
 * Guest RAM is two ranges: 16 MiB at 0 and 4 MiB at 4 GiB, so that there is
 * a hole to point entries into. Each test runs twice: once with the source
 * mapping RAM (the zero-copy path) and once copying through read().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/paging.h"
#include "check.h"

#define LOW_LEN (16ull << 20)
#define HIGH_PA (4ull << 30)
#define HIGH_LEN (4ull << 20)

#define P 0x1ull
#define RW 0x2ull
#define US 0x4ull
#define PS 0x80ull
#define XD (1ull << 63)
#define UP (P | RW | US) /* a permissive upper-level entry */

static uint8_t *low, *high;
static uint64_t next_table;

struct fake {
	struct vms_source base;
	int with_regs;
	struct vms_regs regs;
};

static uint8_t *host(uint64_t pa)
{
	if (pa < LOW_LEN)
		return low + pa;
	if (pa >= HIGH_PA && pa - HIGH_PA < HIGH_LEN)
		return high + (pa - HIGH_PA);
	abort();
}

static int fake_read(struct vms_source *s, uint64_t pa, void *buf, size_t len)
{
	(void)s;
	memcpy(buf, host(pa), len);
	return 0;
}

static int fake_vcpus(struct vms_source *s)
{
	return ((struct fake *)s)->with_regs ? 1 : 0;
}

static int fake_regs(struct vms_source *s, unsigned vcpu, struct vms_regs *out)
{
	struct fake *f = (struct fake *)s;
	if (!f->with_regs || vcpu)
		return source_fail(s, ENOENT, "no vCPU %u", vcpu);
	*out = f->regs;
	return 0;
}

static void fake_close(struct vms_source *s)
{
	free(s);
}

static const struct vms_source_ops fake_ops = {
	.version = VMS_SOURCE_OPS_VERSION,
	.name = "fake",
	.read = fake_read,
	.vcpus = fake_vcpus,
	.regs = fake_regs,
	.close = fake_close,
};

static int mapped_source = 1;

/* A fresh target over zeroed RAM, in MODE (VMS_PAGING_UNKNOWN: ask vCPU 0). */
static struct vms_target *target(enum vms_paging mode)
{
	memset(low, 0, LOW_LEN);
	memset(high, 0, HIGH_LEN);
	next_table = 0x100000;
	struct fake *f = calloc(1, sizeof(*f));
	f->base.ops = &fake_ops;
	source_add_range(&f->base, 0, LOW_LEN);
	source_add_range(&f->base, HIGH_PA, HIGH_LEN);
	if (mapped_source) {
		f->base.host[0] = low;
		f->base.host[1] = high;
	}
	struct vms_target *t = calloc(1, sizeof(*t));
	t->src = &f->base;
	if (mode != VMS_PAGING_UNKNOWN)
		CHECK(vms_set_paging(t, mode) == 0);
	return t;
}

static uint64_t table_new(void)
{
	uint64_t pa = next_table;
	next_table += 4096;
	memset(host(pa), 0, 4096);
	return pa;
}

static void put64(uint64_t pa, uint64_t v)
{
	memcpy(host(pa), &v, 8);
}
static uint64_t get64(uint64_t pa)
{
	uint64_t v;
	memcpy(&v, host(pa), 8);
	return v;
}
static void put32(uint64_t pa, uint32_t v)
{
	memcpy(host(pa), &v, 4);
}

/* IA-32e (LEVELS 4 or 5) or PAE (LEVELS 3): maps VA to PA with a page of
 * SIZE, leaf flags LEAF, new upper entries UPPER. Returns the leaf's PA. */
static uint64_t map(int levels, uint64_t root, uint64_t va, uint64_t pa, uint64_t size, uint64_t leaf, uint64_t upper)
{
	unsigned leaf_shift = size == 4096 ? 12 : size == (2u << 20) ? 21 : 30;
	unsigned shift = levels == 5 ? 48 : levels == 4 ? 39 : 30;
	uint64_t table = root;
	for (;; shift -= 9) {
		unsigned bits = levels == 3 && shift == 30 ? 2 : 9;
		uint64_t epa = table + ((va >> shift) & ((1u << bits) - 1)) * 8;
		if (shift == leaf_shift) {
			put64(epa, pa | leaf | P | (size > 4096 ? PS : 0));
			return epa;
		}
		uint64_t e = get64(epa);
		if (!(e & P)) {
			e = table_new() | (levels == 3 && shift == 30 ? P : upper);
			put64(epa, e);
		}
		table = e & 0x000ffffffffff000ull;
	}
}

static uint64_t pa_of(struct vms_target *t, uint64_t dtb, uint64_t va, int *rc)
{
	struct vms_translation tr = { 0 };
	*rc = vms_translate(t, dtb, va, &tr);
	return tr.pa;
}

static void test_ia32e(int levels)
{
	struct vms_target *t = target(levels == 5 ? VMS_PAGING_5LEVEL : VMS_PAGING_4LEVEL);
	uint64_t cr3 = table_new();
	uint64_t kva = levels == 5 ? 0xff11223344556000ull : 0xffff888812345000ull;
	map(levels, cr3, 0x400000, 0x200000, 4096, RW | US, UP);
	map(levels, cr3, kva, 0x7ff000, 4096, 0, UP);
	map(levels, cr3, 0x40000000, 0x600000, 2u << 20, RW, UP);
	map(levels, cr3, 0x8000000000ull, 0x40000000, 1u << 30, RW | XD, UP);
	struct vms_translation tr;
	/* PCID bits and bit 63 of CR3 do not name another table. */
	uint64_t dtb = cr3 | 0x5 | (1ull << 63);
	CHECK(vms_translate(t, dtb, 0x400123, &tr) == 0 && tr.pa == 0x200123 && tr.page_size == 4096 &&
	      tr.prot == (VMS_PAGE_PRESENT | VMS_PAGE_WRITE | VMS_PAGE_USER) && tr.va == 0x400123);
	CHECK(vms_translate(t, dtb, kva + 0xabc, &tr) == 0 && tr.pa == 0x7ffabc && tr.prot == VMS_PAGE_PRESENT);
	CHECK(vms_translate(t, dtb, 0x40000000 + 0x1fffff, &tr) == 0 && tr.pa == 0x600000 + 0x1fffff &&
	      tr.page_size == (2u << 20) && tr.prot == (VMS_PAGE_PRESENT | VMS_PAGE_WRITE));
	CHECK(vms_translate(t, dtb, 0x8000000000ull + 0x12345678, &tr) == 0 && tr.pa == 0x40000000 + 0x12345678 &&
	      tr.page_size == (1u << 30) && (tr.prot & VMS_PAGE_NX));
	/* Second time: from the TLB, the same answers. */
	CHECK(vms_translate(t, dtb, 0x8000000000ull + 0x12345678, &tr) == 0 && tr.pa == 0x40000000 + 0x12345678 &&
	      tr.page_size == (1u << 30) && tr.prot == (VMS_PAGE_PRESENT | VMS_PAGE_WRITE | VMS_PAGE_NX));
	CHECK(vms_translate(t, dtb, 0x400fff, &tr) == 0 && tr.pa == 0x200fff);

	struct vms_page_walk w;
	CHECK(vms_page_walk(t, dtb, 0x400123, &w) == 0 && w.nsteps == (unsigned)levels && w.table == cr3 &&
	      w.tr.pa == 0x200123 && w.mode == (levels == 5 ? VMS_PAGING_5LEVEL : VMS_PAGING_4LEVEL));
	CHECK(strcmp(w.step[0].level, levels == 5 ? "PML5E" : "PML4E") == 0 && w.step[0].entry_pa == cr3);
	CHECK(strcmp(w.step[levels - 1].level, "PTE") == 0 && (w.step[levels - 1].entry & ~0xfffull) == 0x200000);
	CHECK(vms_page_walk(t, dtb, 0x40000000, &w) == 0 && w.nsteps == (unsigned)levels - 1 &&
	      strcmp(w.step[w.nsteps - 1].level, "PDE") == 0);

	/* Unmapped at each level: the walk stops there and says where. */
	int rc;
	pa_of(t, dtb, 0x7f0000000000ull, &rc);
	CHECK(rc == -EFAULT && strstr(vms_errmsg(t), "PML4E not present"));
	pa_of(t, dtb, 0x401000, &rc);
	CHECK(rc == -EFAULT && strstr(vms_errmsg(t), "PTE not present"));
	CHECK(vms_page_walk(t, dtb, 0x401000, &w) == -EFAULT && w.nsteps == (unsigned)levels &&
	      w.step[levels - 1].entry == 0);
	pa_of(t, dtb, 0x40200000, &rc);
	CHECK(rc == -EFAULT && strstr(vms_errmsg(t), "PDE not present"));

	/* Canonical addresses. */
	pa_of(t, dtb, 0x8000000000000000ull, &rc);
	CHECK(rc == -EINVAL && strstr(vms_errmsg(t), "canonical"));
	pa_of(t, dtb, 0x0000800000000000ull, &rc);
	CHECK(rc == (levels == 5 ? -EFAULT : -EINVAL));
	pa_of(t, dtb, 0xffff800000000000ull, &rc);
	CHECK(rc == -EFAULT);
	pa_of(t, dtb, 0x0100000000000000ull, &rc);
	CHECK(rc == -EINVAL);
	pa_of(t, dtb, 0xff00000000000000ull, &rc);
	CHECK(rc == (levels == 5 ? -EFAULT : -EINVAL));
	vms_close(t);
}

/* Every combination of R/W, U/S and XD in the PDE and the PTE. */
static void test_permissions(void)
{
	struct vms_target *t = target(VMS_PAGING_4LEVEL);
	uint64_t cr3 = table_new();
	map(4, cr3, 0x0f000000, 0x300000, 4096, 0, UP); /* permissive PML4E and PDPTE */
	for (unsigned upper = 0; upper < 8; upper++) {
		for (unsigned leaf = 0; leaf < 8; leaf++) {
			uint64_t va = 0x10000000ull + (uint64_t)upper * (2u << 20) + leaf * 4096;
			uint64_t fu = (upper & 1 ? RW : 0) | (upper & 2 ? US : 0) | (upper & 4 ? XD : 0);
			uint64_t fl = (leaf & 1 ? RW : 0) | (leaf & 2 ? US : 0) | (leaf & 4 ? XD : 0);
			map(4, cr3, va, 0x300000, 4096, fl, P | fu);
			struct vms_translation tr;
			CHECK(vms_translate(t, cr3, va, &tr) == 0);
			uint32_t want = VMS_PAGE_PRESENT | ((upper & leaf & 1) ? VMS_PAGE_WRITE : 0) |
			                ((upper & leaf & 2) ? VMS_PAGE_USER : 0) |
			                (((upper | leaf) & 4) ? VMS_PAGE_NX : 0);
			CHECK(tr.prot == want);
		}
	}
	/* Without EFER.NXE, XD is a reserved bit. */
	t->mmu->nxe = 0;
	vms_tlb_flush(t);
	struct vms_translation tr;
	CHECK(vms_translate(t, cr3, 0x10000000ull + 4 * 4096, &tr) == -EIO && strstr(vms_errmsg(t), "reserved"));
	CHECK(vms_translate(t, cr3, 0x10000000ull + 3 * 4096, &tr) == 0 && !(tr.prot & VMS_PAGE_NX));
	vms_close(t);
}

static void test_pae(void)
{
	struct vms_target *t = target(VMS_PAGING_PAE);
	uint64_t page = table_new();
	uint64_t cr3 = page + 0x40; /* PAE's CR3 is 32-byte aligned */
	map(3, cr3, 0xc0001000, 0x201000, 4096, RW, UP);
	map(3, cr3, 0x08400000, 0x400000, 2u << 20, US | XD, UP);
	map(3, cr3, 0x40000000, HIGH_PA + 0x1000, 4096, 0, UP);
	struct vms_translation tr;
	CHECK(vms_translate(t, cr3, 0xc0001234, &tr) == 0 && tr.pa == 0x201234 && tr.page_size == 4096 &&
	      tr.prot == (VMS_PAGE_PRESENT | VMS_PAGE_WRITE));
	CHECK(vms_translate(t, cr3, 0x08400000 + 0x12345, &tr) == 0 && tr.pa == 0x412345 &&
	      tr.page_size == (2u << 20) && tr.prot == (VMS_PAGE_PRESENT | VMS_PAGE_USER | VMS_PAGE_NX));
	CHECK(vms_translate(t, cr3, 0x40000008, &tr) == 0 && tr.pa == HIGH_PA + 0x1008);
	CHECK(vms_translate(t, cr3, 0x100000000ull, &tr) == -EINVAL);
	CHECK(vms_translate(t, cr3, 0x80000000, &tr) == -EFAULT && strstr(vms_errmsg(t), "PDPTE"));
	struct vms_page_walk w;
	CHECK(vms_page_walk(t, cr3, 0xc0001234, &w) == 0 && w.nsteps == 3 && w.table == cr3 &&
	      w.step[0].entry_pa == cr3 + 3 * 8);
	/* A PDPTE with R/W set (reserved in PAE PDPTEs). */
	put64(cr3 + 3 * 8, get64(cr3 + 3 * 8) | RW);
	vms_tlb_flush(t);
	CHECK(vms_translate(t, cr3, 0xc0001234, &tr) == -EIO);
	/* A 2 MiB PDE with bit 13 set; bits 62:52 set in a PTE. */
	uint64_t pde = map(3, cr3, 0x08600000, 0x600000, 2u << 20, 0, UP);
	put64(pde, get64(pde) | (1ull << 13));
	CHECK(vms_translate(t, cr3, 0x08600000, &tr) == -EIO);
	uint64_t pte = map(3, cr3, 0x40001000, 0x1000, 4096, 0, UP);
	put64(pte, get64(pte) | (1ull << 55));
	CHECK(vms_translate(t, cr3, 0x40001000, &tr) == -EIO);
	vms_close(t);
}

static void test_32bit(void)
{
	struct vms_target *t = target(VMS_PAGING_32);
	uint64_t cr3 = table_new(), pt = table_new();
	put32(cr3 + (0xc0000000u >> 22) * 4, (uint32_t)(pt | P | RW));
	put32(pt + 5 * 4, 0x00234000u | P | RW | US);
	/* 4 MiB page at 0x08000000 -> 0x12_00400000 (PSE-36: bits 20:13 = 0x12). */
	put32(cr3 + (0x08000000u >> 22) * 4, 0x00400000u | (0x12u << 13) | P | PS | US);
	struct vms_translation tr;
	CHECK(vms_translate(t, cr3, 0xc0005678, &tr) == 0 && tr.pa == 0x234678 && tr.page_size == 4096 &&
	      tr.prot == (VMS_PAGE_PRESENT | VMS_PAGE_WRITE));
	CHECK(vms_translate(t, cr3, 0x08000000 + 0x3fffff, &tr) == 0 && tr.pa == 0x1200400000ull + 0x3fffff &&
	      tr.page_size == (4u << 20) && tr.prot == (VMS_PAGE_PRESENT | VMS_PAGE_USER));
	/* Twice more from the TLB (4 MiB pages are cached as 2 MiB windows). */
	CHECK(vms_translate(t, cr3, 0x08000010, &tr) == 0 && tr.pa == 0x1200400010ull && tr.page_size == (4u << 20));
	CHECK(vms_translate(t, cr3, 0x08200010, &tr) == 0 && tr.pa == 0x1200600010ull && tr.page_size == (4u << 20));
	/* Flushing a byte of one half drops both windows of the 4 MiB page. */
	put32(cr3 + (0x08000000u >> 22) * 4, 0x00c00000u | P | PS | US);
	CHECK(vms_translate(t, cr3, 0x08000010, &tr) == 0 && tr.pa == 0x1200400010ull);
	vms_tlb_flush_range(t, cr3, 0x083fffff, 1);
	CHECK(vms_translate(t, cr3, 0x08000010, &tr) == 0 && tr.pa == 0xc00010);
	CHECK(vms_translate(t, cr3, 0x08200010, &tr) == 0 && tr.pa == 0xe00010);
	CHECK(vms_translate(t, cr3, 0x100000000ull, &tr) == -EINVAL);
	CHECK(vms_translate(t, cr3, 0xc0006000, &tr) == -EFAULT);
	/* Bit 21 of a 4 MiB PDE is reserved. */
	put32(cr3 + (0x08400000u >> 22) * 4, 0x00800000u | (1u << 21) | P | PS);
	CHECK(vms_translate(t, cr3, 0x08400000, &tr) == -EIO);
	/* Without CR4.PSE the PS bit is ignored: the PDE names a page table. */
	t->mmu->pse = 0;
	vms_tlb_flush(t);
	put32(0xc00000 + 4, 0x00777000u | P); /* the PDE's address bits */
	CHECK(vms_translate(t, cr3, 0x08001000, &tr) == 0 && tr.pa == 0x777000 && tr.page_size == 4096);
	vms_close(t);
}

/* Hostile tables: outside RAM, reserved bits, loops. */
static void test_hostile(void)
{
	struct vms_target *t = target(VMS_PAGING_4LEVEL);
	uint64_t cr3 = table_new();
	struct vms_translation tr;
	/* The top table outside RAM, a lower table in the hole. */
	CHECK(vms_translate(t, 0x7ffff000ull, 0x1000, &tr) == -EIO && strstr(vms_errmsg(t), "outside guest RAM"));
	put64(cr3, 0x80000000ull | UP);
	CHECK(vms_translate(t, cr3, 0x1000, &tr) == -EIO && strstr(vms_errmsg(t), "PDPTE"));
	put64(cr3, 0x000ffffffffff000ull | UP);
	CHECK(vms_translate(t, cr3, 0x1000, &tr) == -EIO);
	/* A leaf outside RAM translates (it may be MMIO) but does not read. */
	map(4, cr3, 0x7f0000000000ull, 0xfee00000, 4096, RW, UP);
	CHECK(vms_translate(t, cr3, 0x7f0000000010ull, &tr) == 0 && tr.pa == 0xfee00010);
	uint64_t v;
	size_t done = 99;
	CHECK(vms_read_va(t, cr3, 0x7f0000000010ull, &v, 8, &done) == -EFAULT && done == 0);
	/* PS in a PML4E; reserved bits under a 1 GiB page. */
	put64(cr3 + 8, 0x200000 | UP | PS);
	CHECK(vms_translate(t, cr3, 0x8000000000ull, &tr) == -EIO && strstr(vms_errmsg(t), "reserved"));
	uint64_t pdpte = map(4, cr3, 0x7e0000000000ull, 0x40000000, 1u << 30, 0, UP);
	put64(pdpte, get64(pdpte) | (1ull << 20));
	CHECK(vms_translate(t, cr3, 0x7e0000000000ull, &tr) == -EIO);
	/* Every bit set. */
	put64(cr3 + 16, ~0ull);
	CHECK(vms_translate(t, cr3, 0x10000000000ull, &tr) == -EIO);

	/* A PML4E pointing at its own table (a recursive mapping): a walk
	 * through it four times ends after four steps, at the table itself. */
	put64(cr3 + 0x100 * 8, cr3 | UP);
	uint64_t self = 0xffff000000000000ull | 0x100ull << 39 | 0x100ull << 30 | 0x100ull << 21 | 0x100ull << 12;
	struct vms_page_walk w;
	CHECK(vms_page_walk(t, cr3, self + 8, &w) == 0 && w.nsteps == 4 && w.tr.pa == cr3 + 8);
	/* Enumerating it is bounded (the self-map makes 512^3 views of a table). */
	vms_close(t);

	t = target(VMS_PAGING_5LEVEL);
	cr3 = table_new();
	for (unsigned i = 0; i < 512; i++)
		put64(cr3 + i * 8, cr3 | UP);
	CHECK(vms_translate(t, cr3, 0x123456789abcull, &tr) == 0 && tr.pa == cr3 + 0xabc);
	vms_close(t);
}

struct collected {
	struct vms_va_range r[64];
	int n, stop_at;
};

static int collect(void *ctx, const struct vms_va_range *r)
{
	struct collected *c = ctx;
	if (c->n < 64)
		c->r[c->n] = *r;
	c->n++;
	return c->stop_at && c->n == c->stop_at ? 42 : 0;
}

static void test_ranges(void)
{
	struct vms_target *t = target(VMS_PAGING_4LEVEL);
	uint64_t cr3 = table_new();
	/* Three pages contiguous in VA and PA: one run. A fourth continues in
	 * VA but not PA, a fifth differs in permissions. */
	for (unsigned i = 0; i < 3; i++)
		map(4, cr3, 0x400000 + i * 4096, 0x500000 + i * 4096, 4096, RW | US, UP);
	map(4, cr3, 0x403000, 0x900000, 4096, RW | US, UP);
	map(4, cr3, 0x404000, 0x901000, 4096, US, UP);
	/* Two 2 MiB pages back to back, a 1 GiB page, a kernel page. */
	map(4, cr3, 0x40000000, 0x200000, 2u << 20, RW, UP);
	map(4, cr3, 0x40200000, 0x400000, 2u << 20, RW, UP);
	map(4, cr3, 0x8000000000ull, 0x40000000, 1u << 30, RW, UP);
	map(4, cr3, 0xffffffff81000000ull, 0xa00000, 4096, XD, UP);
	/* Skipped: a 2 MiB PDE with a reserved bit, and a PDPT outside RAM. */
	uint64_t pde = map(4, cr3, 0x40400000, 0x600000, 2u << 20, RW, UP);
	put64(pde, get64(pde) | (1ull << 13));
	put64(cr3 + 5 * 8, 0x90000000ull | UP);

	struct collected c = { 0 };
	CHECK(vms_va_ranges(t, cr3, collect, &c) == 0);
	CHECK(c.n == 6);
	struct vms_va_range want[] = {
		{ 0x400000, 3 * 4096, 0x500000, 4096, VMS_PAGE_PRESENT | VMS_PAGE_WRITE | VMS_PAGE_USER },
		{ 0x403000, 4096, 0x900000, 4096, VMS_PAGE_PRESENT | VMS_PAGE_WRITE | VMS_PAGE_USER },
		{ 0x404000, 4096, 0x901000, 4096, VMS_PAGE_PRESENT | VMS_PAGE_USER },
		{ 0x40000000, 4u << 20, 0x200000, 2u << 20, VMS_PAGE_PRESENT | VMS_PAGE_WRITE },
		{ 0x8000000000ull, 1u << 30, 0x40000000, 1u << 30, VMS_PAGE_PRESENT | VMS_PAGE_WRITE },
		{ 0xffffffff81000000ull, 4096, 0xa00000, 4096, VMS_PAGE_PRESENT | VMS_PAGE_NX },
	};
	for (int i = 0; i < 6 && i < c.n; i++)
		CHECK(c.r[i].va == want[i].va && c.r[i].len == want[i].len && c.r[i].pa == want[i].pa &&
		      c.r[i].page_size == want[i].page_size && c.r[i].prot == want[i].prot);
	/* The callback stops the walk, and its value is returned. */
	struct collected s = { .stop_at = 2 };
	CHECK(vms_va_ranges(t, cr3, collect, &s) == 42 && s.n == 2);
	/* The top table outside RAM is an error. */
	CHECK(vms_va_ranges(t, 0x80000000ull, collect, &s) == -EIO);
	vms_close(t);

	/* Tables that all point at themselves: bounded, -E2BIG, what was
	 * found reported (the table itself, seen as pages, merged by PA). */
	t = target(VMS_PAGING_4LEVEL);
	cr3 = table_new();
	for (unsigned i = 0; i < 512; i++)
		put64(cr3 + i * 8, cr3 | UP);
	struct collected l = { 0 };
	CHECK(va_ranges_bounded(t, cr3, 64, collect, &l) == -E2BIG && l.n > 0 && strstr(vms_errmsg(t), "64"));
	CHECK(l.r[0].va == 0 && l.r[0].pa == cr3 && l.r[0].len == 4096);
	vms_close(t);

	/* Paging off: guest RAM, identity-mapped. */
	t = target(VMS_PAGING_NONE);
	struct collected id = { 0 };
	CHECK(vms_va_ranges(t, 0, collect, &id) == 0 && id.n == 2 && id.r[1].va == HIGH_PA && id.r[1].pa == HIGH_PA);
	struct vms_translation tr;
	CHECK(vms_translate(t, 0, 0x123456, &tr) == 0 && tr.pa == 0x123456);
	vms_close(t);
}

static void test_read_va(void)
{
	struct vms_target *t = target(VMS_PAGING_4LEVEL);
	uint64_t cr3 = table_new();
	/* Two VA-adjacent pages at distant PAs (one above 4 GiB), then a hole. */
	map(4, cr3, 0x10000, 0x800000, 4096, RW, UP);
	map(4, cr3, 0x11000, HIGH_PA + 0x3000, 4096, RW, UP);
	for (unsigned i = 0; i < 4096; i++) {
		host(0x800000)[i] = (uint8_t)i;
		host(HIGH_PA + 0x3000)[i] = (uint8_t)(i * 7);
	}
	uint8_t buf[8192];
	size_t done = 1;
	CHECK(vms_read_va(t, cr3, 0x10ff0, buf, 32, &done) == 0 && done == 32);
	CHECK(buf[0] == 0xf0 && buf[15] == 0xff && buf[16] == 0 && buf[17] == 7);
	CHECK(vms_read_va(t, cr3, 0x10ff0, buf, 32, NULL) == 0 && buf[31] == (uint8_t)(15 * 7));
	CHECK(vms_read_va(t, cr3, 0x10000, buf, 8192, &done) == 0 && done == 8192 && buf[4095] == 0xff);
	/* Into the hole: how far it got. */
	memset(buf, 0xee, sizeof(buf));
	CHECK(vms_read_va(t, cr3, 0x11ff8, buf, 100, &done) == -EFAULT && done == 8 && buf[0] == (uint8_t)(0xff8 * 7));
	CHECK(vms_read_va(t, cr3, 0x12000, buf, 1, &done) == -EFAULT && done == 0);
	/* At the very top of the address space: no wrap to 0. */
	map(4, cr3, 0xfffffffffffff000ull, 0x800000, 4096, RW, UP);
	map(4, cr3, 0, 0x800000, 4096, RW, UP);
	CHECK(vms_read_va(t, cr3, 0xfffffffffffffff8ull, buf, 16, &done) == -EFAULT && done == 8);

	/* Strings: across pages, into the hole, longer than the buffer. */
	char s[64];
	memcpy(host(0x800000) + 4090, "hello ", 6);
	memcpy(host(HIGH_PA + 0x3000), "world", 6);
	CHECK(vms_read_str_va(t, cr3, 0x10000 + 4090, s, sizeof(s)) == 11 && strcmp(s, "hello world") == 0);
	CHECK(vms_read_str_va(t, cr3, 0x10000 + 4090, s, 12) == 11 && strcmp(s, "hello world") == 0);
	CHECK(vms_read_str_va(t, cr3, 0x10000 + 4090, s, 11) == -ERANGE && strcmp(s, "hello worl") == 0);
	CHECK(vms_read_str_va(t, cr3, 0x10000 + 4096 + 5, s, 1) == 0 && s[0] == 0);
	CHECK(vms_read_str_va(t, cr3, 0x10000 + 4090, s, 0) == -EINVAL);
	memset(host(HIGH_PA + 0x3000) + 4000, 'x', 96);
	CHECK(vms_read_str_va(t, cr3, 0x11000 + 4000, s, sizeof(s)) == -ERANGE && strlen(s) == 63);
	char big[200];
	CHECK(vms_read_str_va(t, cr3, 0x11000 + 4000, big, sizeof(big)) == -EFAULT && strlen(big) == 96);
	vms_close(t);
}

/* What each flush invalidates, and that nothing else does: cached
 * translations are stale by design until flushed. */
static void test_tlb(void)
{
	struct vms_target *t = target(VMS_PAGING_4LEVEL);
	uint64_t a = table_new(), b = table_new();
	uint64_t pa_a = map(4, a, 0x400000, 0x200000, 4096, RW, UP);
	uint64_t pa_b = map(4, b, 0x400000, 0x300000, 4096, RW, UP);
	uint64_t big = map(4, a, 0x40000000, 0x600000, 2u << 20, RW, UP);
	uint64_t huge = map(4, a, 0x8000000000ull, 0x40000000, 1u << 30, RW, UP);
	int rc;
	CHECK(pa_of(t, a, 0x400010, &rc) == 0x200010 && pa_of(t, b, 0x400010, &rc) == 0x300010);
	CHECK(pa_of(t, a, 0x40000010, &rc) == 0x600010 && pa_of(t, a, 0x8000000010ull, &rc) == 0x40000010);
	put64(pa_a, 0x210000 | P | RW);
	put64(pa_b, 0x310000 | P | RW);
	put64(big, 0xa00000 | P | RW | PS);
	put64(huge, 0x80000000ull | P | RW | PS);
	/* Stale until flushed. */
	CHECK(pa_of(t, a, 0x400010, &rc) == 0x200010 && pa_of(t, b, 0x400010, &rc) == 0x300010);
	/* A range that misses changes nothing; one that touches a large page
	 * drops all of it. */
	vms_tlb_flush_range(t, a, 0x401000, 0x1000);
	CHECK(pa_of(t, a, 0x400010, &rc) == 0x200010);
	vms_tlb_flush_range(t, b, 0x400000, 1);
	CHECK(pa_of(t, a, 0x400010, &rc) == 0x200010 && pa_of(t, b, 0x400010, &rc) == 0x310010);
	vms_tlb_flush_range(t, a, 0x401fffff, 1);
	CHECK(pa_of(t, a, 0x40000010, &rc) == 0xa00010 && pa_of(t, a, 0x400010, &rc) == 0x200010);
	/* A large page goes when any byte of it is flushed. */
	CHECK(pa_of(t, a, 0x8000000010ull, &rc) == 0x40000010 && pa_of(t, a, 0x8000600010ull, &rc) == 0x40600010);
	vms_tlb_flush_range(t, a, 0x803fffffffull, 1);
	CHECK(pa_of(t, a, 0x8000000010ull, &rc) == 0x80000010 && pa_of(t, a, 0x8000600010ull, &rc) == 0x80600010);
	put64(huge, 0x40000000ull | P | RW | PS);
	/* One address space. */
	put64(pa_b, 0x320000 | P | RW);
	vms_tlb_flush_dtb(t, a | 0x123); /* PCID bits name the same space */
	CHECK(pa_of(t, a, 0x400010, &rc) == 0x210010 && pa_of(t, b, 0x400010, &rc) == 0x310010);
	CHECK(pa_of(t, a, 0x8000000010ull, &rc) == 0x40000010);
	/* Everything, and an unmapped page stays unmapped after a flush. */
	vms_tlb_flush(t);
	CHECK(pa_of(t, b, 0x400010, &rc) == 0x320010);
	put64(pa_b, 0);
	CHECK(pa_of(t, b, 0x400010, &rc) == 0x320010);
	vms_tlb_flush(t);
	pa_of(t, b, 0x400010, &rc);
	CHECK(rc == -EFAULT);
	/* The generation wraps after 4095 flushes: old entries stay dead. */
	put64(pa_b, 0x330000 | P | RW);
	CHECK(pa_of(t, b, 0x400010, &rc) == 0x330010);
	put64(pa_b, 0x340000 | P | RW);
	for (unsigned i = 0; i < 5000; i++) {
		vms_tlb_flush(t);
		if (i == 4094)
			CHECK(pa_of(t, b, 0x400010, &rc) == 0x340010);
	}
	put64(pa_b, 0x350000 | P | RW);
	CHECK(pa_of(t, b, 0x400010, &rc) == 0x350010);
	/* Changing the mode flushes. */
	put64(pa_b, 0x360000 | P | RW);
	CHECK(vms_set_paging(t, VMS_PAGING_4LEVEL) == 0 && pa_of(t, b, 0x400010, &rc) == 0x360010);
	CHECK(vms_set_paging(t, (enum vms_paging)99) == -EINVAL);
	vms_close(t);
}

/* The mode from vCPU 0's registers, and what pause/resume do to it. */
static void test_mode_from_registers(void)
{
	struct vms_target *t = target(VMS_PAGING_UNKNOWN);
	struct vms_translation tr;
	CHECK(vms_translate(t, 0, 0x1000, &tr) == -ENOTSUP && strstr(vms_errmsg(t), "paging mode unknown"));
	CHECK(vms_get_paging(t) == -ENOTSUP);
	struct fake *f = (struct fake *)t->src;
	f->with_regs = 1;
	f->regs.valid = VMS_REGS_CR | VMS_REGS_EFER;
	f->regs.cr0 = 1u << 31;
	f->regs.cr4 = (1u << 5) | (1u << 12);
	f->regs.efer = (1u << 10) | (1u << 8); /* LMA, LME; no NXE */
	CHECK(vms_get_paging(t) == VMS_PAGING_5LEVEL);
	uint64_t cr3 = table_new();
	map(5, cr3, 0x400000, 0x200000, 4096, RW | XD, UP);
	CHECK(vms_translate(t, cr3, 0x400000, &tr) == -EIO); /* XD reserved without NXE */
	/* A fixed mode stays through pause (which fails: no QMP) and resume. */
	CHECK(vms_set_paging(t, VMS_PAGING_4LEVEL) == 0);
	CHECK(vms_pause(t) == -ENOTSUP && vms_get_paging(t) == VMS_PAGING_4LEVEL);
	/* Back to asking vCPU 0: asked again after a pause. */
	CHECK(vms_set_paging(t, VMS_PAGING_UNKNOWN) == 0 && vms_get_paging(t) == VMS_PAGING_5LEVEL);
	f->regs.cr4 = 1u << 5;
	f->regs.efer |= 1u << 11;
	CHECK(vms_get_paging(t) == VMS_PAGING_5LEVEL);
	vms_resume(t);
	CHECK(vms_get_paging(t) == VMS_PAGING_4LEVEL);
	f->regs.cr0 = 0;
	vms_pause(t);
	CHECK(vms_get_paging(t) == VMS_PAGING_NONE && vms_translate(t, 0, 0x1234, &tr) == 0 && tr.pa == 0x1234);
	vms_close(t);
}

int main(void)
{
	low = calloc(1, LOW_LEN);
	high = calloc(1, HIGH_LEN);
	for (mapped_source = 1; mapped_source >= 0; mapped_source--) {
		test_ia32e(4);
		test_ia32e(5);
		test_permissions();
		test_pae();
		test_32bit();
		test_hostile();
		test_ranges();
		test_read_va();
		test_tlb();
		test_mode_from_registers();
	}
	free(low);
	free(high);
	return check_report("paging");
}
