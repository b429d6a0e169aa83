/* libFuzzer target: random page-table memory under the page walker, the
 * TLB, virtual reads and range enumeration, in every paging mode.
 *
 * Input: a 72-byte header (mode and flags, CR3, eight virtual addresses),
 * then guest RAM at physical address 0 (and the same bytes again at 4 GiB,
 * so that entries can point into a second range and into the hole).
 * Besides "no crash, no sanitizer report", the target checks that the
 * three ways to translate agree: a walk, a TLB miss and a TLB hit, and that
 * every range vms_va_ranges reports translates to what it says. */
#include <stdlib.h>
#include <string.h>

#include "arch/paging.h"

#define HEADER 72
#define MAX_RAM (64u << 10)
#define HIGH_PA (4ull << 30)

static uint8_t ram[MAX_RAM];

static int ram_read(struct vms_source *s, uint64_t pa, void *buf, size_t len)
{
	int i = source_find_range(s, pa, len);
	if (i < 0)
		return source_fail(s, 14, "not RAM");
	memcpy(buf, ram + (pa - s->ranges[i].gpa), len);
	return 0;
}

static const struct vms_source_ops ram_ops = {
	.version = VMS_SOURCE_OPS_VERSION,
	.name = "fuzz",
	.read = ram_read,
};

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static int same(const struct vms_translation *a, const struct vms_translation *b)
{
	return a->va == b->va && a->pa == b->pa && a->page_size == b->page_size && a->prot == b->prot;
}

struct check {
	struct vms_target *t;
	uint64_t dtb;
	uint64_t last_end;
	int n;
};

static int check_range(void *ctx, const struct vms_va_range *r)
{
	struct check *c = ctx;
	if (r->len == 0 || r->len % r->page_size || (c->n && r->va < c->last_end))
		__builtin_trap();
	c->last_end = r->va + r->len;
	/* Walk the first and the last page of the first ranges. */
	if (c->n++ < 32) {
		uint64_t probe[2] = { r->va, r->va + r->len - 1 };
		for (int i = 0; i < 2; i++) {
			struct vms_page_walk w;
			if (vms_page_walk(c->t, c->dtb, probe[i], &w) != 0 || w.tr.pa != r->pa + (probe[i] - r->va) ||
			    w.tr.page_size != r->page_size || w.tr.prot != r->prot)
				__builtin_trap();
		}
	}
	return c->n >= 4096;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HEADER)
		return 0;
	size_t len = size - HEADER < MAX_RAM ? size - HEADER : MAX_RAM;
	memset(ram, 0, sizeof(ram));
	memcpy(ram, data + HEADER, len);
	size_t ram_len = (len + 4095) & ~(size_t)4095;
	if (ram_len == 0)
		ram_len = 4096;

	/* One target for every input, as a long-lived user has: each input
	 * starts with vms_set_paging, which flushes the TLB, so nothing of the
	 * previous input can be used (and thousands of flushes in a row wrap
	 * the TLB's generation counter, which is under test too). */
	static struct vms_target *t;
	static struct vms_source *s;
	if (!t) {
		s = calloc(1, sizeof(*s));
		t = calloc(1, sizeof(*t));
		if (!s || !t)
			abort();
		s->ops = &ram_ops;
		t->src = s;
	}
	s->nranges = 0;
	source_add_range(s, 0, ram_len);
	source_add_range(s, HIGH_PA, ram_len);
	s->host[0] = s->host[1] = data[0] & 0x80 ? ram : NULL; /* with and without the zero-copy path */
	t->range_hint = 0;
	static const enum vms_paging modes[] = { VMS_PAGING_NONE, VMS_PAGING_32, VMS_PAGING_PAE, VMS_PAGING_4LEVEL,
		                                 VMS_PAGING_5LEVEL };
	if (vms_set_paging(t, modes[data[0] % 5]) != 0)
		__builtin_trap();
	t->mmu->pse = (data[0] >> 3) & 1;
	t->mmu->nxe = (data[0] >> 4) & 1;
	uint64_t dtb = get64(data) >> 8;
	if (data[1] & 1)
		dtb %= ram_len; /* mostly a table inside RAM */

	for (int i = 0; i < 8; i++) {
		uint64_t va = get64(data + 8 + 8 * i);
		struct vms_page_walk w;
		struct vms_translation miss, hit;
		int rw = vms_page_walk(t, dtb, va, &w);
		int rm = vms_translate(t, dtb, va, &miss);
		int rh = vms_translate(t, dtb, va, &hit);
		if (rw != rm || rm != rh || w.nsteps > 5)
			__builtin_trap();
		if (rw == 0 && (!same(&w.tr, &miss) || !same(&miss, &hit)))
			__builtin_trap();
		uint8_t buf[300];
		size_t done = 0;
		int rr = vms_read_va(t, dtb, va, buf, sizeof(buf), &done);
		if (done > sizeof(buf) || (rr == 0 && done != sizeof(buf)))
			__builtin_trap();
		char str[40];
		int n = vms_read_str_va(t, dtb, va, str, sizeof(str));
		if (n >= (int)sizeof(str) || strlen(str) >= sizeof(str))
			__builtin_trap();
		/* Mostly small ranges (which probe slots); a whole-array scan
		 * now and then, it is slow under coverage instrumentation. */
		uint64_t flen = get64(data + 64);
		if (data[2] & (1u << i))
			vms_tlb_flush_range(t, dtb, va, data[3] == 0xff ? flen : flen & 0xffff);
	}
	if (data[2] & 0x80 && data[3] == 0xfe)
		vms_tlb_flush_dtb(t, dtb);
	struct check c = { .t = t, .dtb = dtb };
	va_ranges_bounded(t, dtb, 64, check_range, &c);
	return 0;
}
