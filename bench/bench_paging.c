/*
 * bench_paging — address translation and virtual reads, beside the
 * machine's own limit measured in the same run on the same memory.
 *
 *   bench_paging TARGET            (the shm source; the guest should be paused)
 *
 * Addresses are random 8-byte-aligned kernel virtual addresses backed by
 * RAM, in vCPU 0's address space, weighted by the size of each mapping (so
 * mostly the direct map), and a second set from 4 KiB-page mappings only
 * (vmalloc, modules: where a TLB misses most). Figures:
 *   hot translate     the same 64 addresses over and over (TLB hits), beside
 *                     an L1-resident 8-byte load
 *   cold translate    after a TLB flush each time (a full walk), beside a bare
 *                     walk: the same entries loaded through the mapping with
 *                     no checks at all
 *   random 8B read    vms_read_va, beside a plain load of the same guest
 *                     physical memory through the shm mapping
 * Best of five rounds for each (the limit and vmsight back to back in each).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#include "vmsight/vmsight.h"

#define NREAD 2000000u
#define NCOLD 200000u
#define NHOT 64u
#define HOT_ROUNDS 200000u

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static volatile uint64_t sink;

struct run {
	uint64_t va, len;
};

struct runs {
	struct run *r;
	size_t n, cap;
	uint64_t total;
	int small_only;
	struct vms_target *t;
};

static int keep_kernel_ram(void *ctx, const struct vms_va_range *r)
{
	struct runs *k = ctx;
	if ((r->prot & VMS_PAGE_USER) || (k->small_only && r->page_size != 4096))
		return 0;
	if (!vms_map_pa(k->t, r->pa, r->len)) /* MMIO, or across RAM ranges */
		return 0;
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 1024;
		struct run *n = realloc(k->r, k->cap * sizeof(*n));
		if (!n)
			return -1;
		k->r = n;
	}
	k->r[k->n++] = (struct run){ r->va, r->len };
	k->total += r->len;
	return 0;
}

/* N addresses, uniform over the bytes of the runs; their host pointers. */
static int sample(struct vms_target *t, uint64_t dtb, const struct runs *k, unsigned n, uint64_t *va,
                  const uint64_t **host, uint64_t *pa)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t x = bench_xorshift(&rng_state) % k->total;
		size_t j = 0;
		while (x >= k->r[j].len)
			x -= k->r[j++].len;
		va[i] = (k->r[j].va + x) & ~7ull;
		struct vms_translation tr;
		if (vms_translate(t, dtb, va[i], &tr))
			return -1;
		pa[i] = tr.pa;
		host[i] = vms_map_pa(t, tr.pa, 8);
		if (!host[i])
			return -1;
	}
	return 0;
}

static double min2(double a, double b)
{
	return a < b ? a : b;
}

static double time_loads(const uint64_t *const *host, unsigned n)
{
	uint64_t acc = 0;
	double t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++)
		acc += *host[i];
	double ns = (bench_now_ns() - t0) / n;
	sink = acc;
	return ns;
}

static double time_reads(struct vms_target *t, uint64_t dtb, const uint64_t *va, unsigned n)
{
	uint64_t acc = 0, v;
	double t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++) {
		if (vms_read_va(t, dtb, va[i], &v, 8, NULL))
			return -1;
		acc += v;
	}
	double ns = (bench_now_ns() - t0) / n;
	sink = acc;
	return ns;
}

static double time_pa_reads(struct vms_target *t, const uint64_t *pa, unsigned n)
{
	uint64_t acc = 0, v;
	double t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++) {
		if (vms_read_pa(t, pa[i], &v, 8))
			return -1;
		acc += v;
	}
	double ns = (bench_now_ns() - t0) / n;
	sink = acc;
	return ns;
}

static double time_hot(struct vms_target *t, uint64_t dtb, const uint64_t *va)
{
	struct vms_translation tr;
	uint64_t acc = 0;
	double t0 = bench_now_ns();
	for (unsigned r = 0; r < HOT_ROUNDS; r++)
		for (unsigned i = 0; i < NHOT; i++) {
			if (vms_translate(t, dtb, va[i], &tr))
				return -1;
			acc += tr.pa;
		}
	double ns = (bench_now_ns() - t0) / ((double)HOT_ROUNDS * NHOT);
	sink = acc;
	return ns;
}

static double time_l1(const uint64_t *const *host)
{
	uint64_t acc = 0;
	double t0 = bench_now_ns();
	for (unsigned r = 0; r < HOT_ROUNDS; r++)
		for (unsigned i = 0; i < NHOT; i++)
			acc += *(const volatile uint64_t *)host[i];
	double ns = (bench_now_ns() - t0) / ((double)HOT_ROUNDS * NHOT);
	sink = acc;
	return ns;
}

static double time_cold(struct vms_target *t, uint64_t dtb, const uint64_t *va, unsigned n)
{
	struct vms_translation tr;
	uint64_t acc = 0;
	double t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++) {
		vms_tlb_flush(t);
		if (vms_translate(t, dtb, va[i], &tr))
			return -1;
		acc += tr.pa;
	}
	double ns = (bench_now_ns() - t0) / n;
	sink = acc;
	return ns;
}

/* The least a walk can cost: IA-32e entries loaded through the mapping,
 * following each to the next with no checks. */
struct ram_map {
	const struct vms_ram_range *r;
	const uint8_t *host[64];
	size_t n;
};

static inline uint64_t load_pa(const struct ram_map *m, uint64_t pa)
{
	for (size_t i = 0; i < m->n; i++)
		if (pa - m->r[i].gpa < m->r[i].len)
			return *(const uint64_t *)(m->host[i] + (pa - m->r[i].gpa));
	return 0;
}

static double time_bare_walk(const struct ram_map *m, uint64_t dtb, int levels, const uint64_t *va, unsigned n)
{
	uint64_t acc = 0;
	double t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++) {
		uint64_t table = dtb & 0x000ffffffffff000ull, e = 0;
		for (int shift = levels == 5 ? 48 : 39; shift >= 12; shift -= 9) {
			e = load_pa(m, table + ((va[i] >> shift) & 511) * 8);
			if (e & 0x80)
				break;
			table = e & 0x000ffffffffff000ull;
		}
		acc += e;
	}
	double ns = (bench_now_ns() - t0) / n;
	sink = acc;
	return ns;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bench_paging TARGET\n");
		return 2;
	}
	char err[1024];
	struct vms_open_opts o = { .sz = sizeof(o), .source = "shm", .errbuf = err, .errbuf_len = sizeof(err) };
	struct vms_target *t;
	if (vms_open(argv[1], &o, &t)) {
		fprintf(stderr, "bench_paging: the limit needs the shm source: %s\n", err);
		return 1;
	}
	struct vms_regs regs;
	int mode = vms_get_paging(t);
	if (vms_vcpu_regs(t, 0, &regs) || mode < 0) {
		fprintf(stderr, "bench_paging: %s\n", vms_errmsg(t));
		vms_close(t);
		return 1;
	}
	uint64_t dtb = regs.cr3;
	struct runs all = { .t = t }, small = { .t = t, .small_only = 1 };
	if (vms_va_ranges(t, dtb, keep_kernel_ram, &all) || vms_va_ranges(t, dtb, keep_kernel_ram, &small) ||
	    !all.total || !small.total) {
		fprintf(stderr, "bench_paging: no kernel mappings: %s\n", vms_errmsg(t));
		vms_close(t);
		return 1;
	}
	struct ram_map m;
	vms_ram_ranges(t, &m.r, &m.n);
	for (size_t i = 0; i < m.n && i < 64; i++)
		m.host[i] = vms_map_pa(t, m.r[i].gpa, m.r[i].len);

	uint64_t *va = malloc(NREAD * sizeof(*va)), *va4k = malloc(NREAD * sizeof(*va4k));
	uint64_t *pa = malloc(NREAD * sizeof(*pa)), *pa4k = malloc(NREAD * sizeof(*pa4k));
	const uint64_t **host = malloc(NREAD * sizeof(*host)), **host4k = malloc(NREAD * sizeof(*host4k));
	if (!va || !va4k || !pa || !pa4k || !host || !host4k || sample(t, dtb, &all, NREAD, va, host, pa) ||
	    sample(t, dtb, &small, NREAD, va4k, host4k, pa4k)) {
		fprintf(stderr, "bench_paging: sampling failed: %s\n", vms_errmsg(t));
		return 1;
	}

	double l1 = 1e30, hot = 1e30, bare = 1e30, cold = 1e30, load = 1e30, rd = 1e30, load4k = 1e30, rd4k = 1e30;
	double rpa = 1e30, rpa4k = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		l1 = min2(l1, time_l1(host));
		hot = min2(hot, time_hot(t, dtb, va));
		bare = min2(bare, time_bare_walk(&m, dtb, mode == VMS_PAGING_5LEVEL ? 5 : 4, va, NCOLD));
		cold = min2(cold, time_cold(t, dtb, va, NCOLD));
		vms_tlb_flush(t);
		load = min2(load, time_loads(host, NREAD));
		rd = min2(rd, time_reads(t, dtb, va, NREAD));
		load4k = min2(load4k, time_loads(host4k, NREAD));
		rd4k = min2(rd4k, time_reads(t, dtb, va4k, NREAD));
		rpa = min2(rpa, time_pa_reads(t, pa, NREAD));
		rpa4k = min2(rpa4k, time_pa_reads(t, pa4k, NREAD));
	}
	if (hot < 0 || cold < 0 || rd < 0 || rd4k < 0) {
		fprintf(stderr, "bench_paging: %s\n", vms_errmsg(t));
		return 1;
	}
	printf("%s paging, CR3 0x%" PRIx64 "; kernel mappings backed by RAM: %" PRIu64
	       " MiB in %zu runs, of which "
	       "%" PRIu64 " MiB in 4 KiB pages (%zu runs)\n\n",
	       vms_paging_name((enum vms_paging)mode), dtb, all.total >> 20, all.n, small.total >> 20, small.n);
	printf("%-44s %10s %10s %9s\n", "", "limit ns", "vmsight ns", "vs limit");
	printf("%-44s %10.1f %10.1f %8.2fx\n", "hot translate (TLB hit) | L1 load", l1, hot, hot / l1);
	printf("%-44s %10.1f %10.1f %8.2fx\n", "cold translate (flushed) | bare walk", bare, cold, cold / bare);
	printf("%-44s %10.1f %10.1f %8.2fx   (%u reads)\n", "random 8B read, kernel VA | plain load", load, rd,
	       rd / load, NREAD);
	printf("%-44s %10.1f %10.1f %8.2fx   (%u reads)\n", "random 8B read, 4K-page kernel VA | load", load4k, rd4k,
	       rd4k / load4k, NREAD);
	printf("\nfor reference, vms_read_pa of the same physical addresses: %.1f ns (%.2fx), 4K-page set %.1f ns "
	       "(%.2fx)\n",
	       rpa, rpa / load, rpa4k, rpa4k / load4k);
	free(va);
	free(va4k);
	free(pa);
	free(pa4k);
	free(host);
	free(host4k);
	free(all.r);
	free(small.r);
	vms_close(t);
	return 0;
}
