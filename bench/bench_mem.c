/*
 * bench_mem — physical memory read speed of every memory source, beside the
 * machine's own limit measured in the same run on the same memory.
 *
 *   bench_mem TARGET [SOURCE...]        (default sources: shm procmem gdb qmp)
 *
 * The limit is plain loads and memcpy from the shm source's mapping of the
 * very same guest RAM at the very same addresses (so page-table warmth and
 * cache behaviour are equal). Per source: random 8-byte reads (ns each),
 * random 4 KiB reads (ns each), sequential bulk reads in 1 MiB chunks (GB/s).
 * The guest should be idle or paused; nothing here writes to it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#include "vmsight/vmsight.h"

#define RANDOM_READS 2000000u
#define BULK_BYTES (512ull << 20)
#define CHUNK (1u << 20)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* The sampled span: the first SPAN_MAX bytes of the largest RAM range. */
#define SPAN_MAX (1ull << 30)

static struct vms_ram_range sample_span(struct vms_target *t)
{
	const struct vms_ram_range *r;
	size_t nr;
	vms_ram_ranges(t, &r, &nr);
	size_t best = 0;
	for (size_t i = 1; i < nr; i++)
		if (r[i].len > r[best].len)
			best = i;
	return (struct vms_ram_range){ r[best].gpa, r[best].len < SPAN_MAX ? r[best].len : SPAN_MAX };
}

/* N addresses spread over SPAN, aligned to ALIGN. */
static uint64_t *make_addrs(struct vms_ram_range span, unsigned n, uint64_t align)
{
	uint64_t *a = malloc(n * sizeof(*a));
	for (unsigned i = 0; i < n; i++)
		a[i] = span.gpa + (bench_xorshift(&rng_state) % (span.len - align)) / align * align;
	return a;
}

static volatile uint64_t sink;

struct figures {
	double rand8_ns, rand4k_ns, bulk_gbps;
};

static int measure_source(struct vms_target *t, const uint64_t *a8, unsigned n8, const uint64_t *a4k, unsigned n4k,
                          uint64_t bulk_base, uint64_t bulk_len, struct figures *f)
{
	uint64_t v, acc = 0;
	static uint8_t page[4096];
	double t0 = bench_now_ns();
	for (unsigned i = 0; i < n8; i++) {
		if (vms_read_pa(t, a8[i], &v, 8))
			return -1;
		acc += v;
	}
	f->rand8_ns = (bench_now_ns() - t0) / n8;
	t0 = bench_now_ns();
	for (unsigned i = 0; i < n4k; i++) {
		if (vms_read_pa(t, a4k[i], page, sizeof(page)))
			return -1;
		acc += page[i & 4095];
	}
	f->rand4k_ns = (bench_now_ns() - t0) / n4k;
	uint8_t *buf = malloc(CHUNK);
	memset(buf, 1, CHUNK);
	t0 = bench_now_ns();
	for (uint64_t off = 0; off < bulk_len; off += CHUNK) {
		if (vms_read_pa(t, bulk_base + off, buf, CHUNK)) {
			free(buf);
			return -1;
		}
		acc += buf[off & (CHUNK - 1)];
	}
	f->bulk_gbps = (double)bulk_len / (bench_now_ns() - t0);
	free(buf);
	sink = acc;
	return 0;
}

static void measure_limit(const uint8_t *map, uint64_t map_base, const uint64_t *a8, unsigned n8, const uint64_t *a4k,
                          unsigned n4k, uint64_t bulk_base, uint64_t bulk_len, struct figures *f)
{
	uint64_t acc = 0, v;
	static uint8_t page[4096];
	double t0 = bench_now_ns();
	for (unsigned i = 0; i < n8; i++) {
		memcpy(&v, map + (a8[i] - map_base), 8);
		acc += v;
	}
	f->rand8_ns = (bench_now_ns() - t0) / n8;
	t0 = bench_now_ns();
	for (unsigned i = 0; i < n4k; i++) {
		memcpy(page, map + (a4k[i] - map_base), sizeof(page));
		acc += page[i & 4095];
	}
	f->rand4k_ns = (bench_now_ns() - t0) / n4k;
	uint8_t *buf = malloc(CHUNK);
	memset(buf, 1, CHUNK);
	t0 = bench_now_ns();
	for (uint64_t off = 0; off < bulk_len; off += CHUNK) {
		memcpy(buf, map + (bulk_base - map_base) + off, CHUNK);
		acc += buf[off & (CHUNK - 1)];
	}
	f->bulk_gbps = (double)bulk_len / (bench_now_ns() - t0);
	free(buf);
	sink = acc;
}

static void best_of(struct figures *best, const struct figures *f)
{
	if (f->rand8_ns < best->rand8_ns)
		best->rand8_ns = f->rand8_ns;
	if (f->rand4k_ns < best->rand4k_ns)
		best->rand4k_ns = f->rand4k_ns;
	if (f->bulk_gbps > best->bulk_gbps)
		best->bulk_gbps = f->bulk_gbps;
}

static void print_row(const char *name, const struct figures *f, const struct figures *lim, unsigned n8)
{
	printf("%-22s %12.1f %8.2fx %12.1f %8.2fx %10.2f %7.0f%%   (%u random reads)\n", name, f->rand8_ns,
	       f->rand8_ns / lim->rand8_ns, f->rand4k_ns, f->rand4k_ns / lim->rand4k_ns, f->bulk_gbps,
	       100.0 * f->bulk_gbps / lim->bulk_gbps, n8);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_mem TARGET [SOURCE...]\n");
		return 2;
	}
	const char *def[] = { "shm", "procmem", "gdb", "qmp" };
	const char **sources = argc > 2 ? (const char **)argv + 2 : def;
	int nsources = argc > 2 ? argc - 2 : 4;

	char err[1024];
	struct vms_open_opts o = { .sz = sizeof(o), .source = "shm", .errbuf = err, .errbuf_len = sizeof(err) };
	struct vms_target *shm;
	if (vms_open(argv[1], &o, &shm)) {
		fprintf(stderr, "bench_mem: the limit needs the shm source: %s\n", err);
		return 1;
	}
	struct vms_ram_range sample = sample_span(shm);
	uint64_t base = sample.gpa, span = sample.len;
	uint64_t *a8 = make_addrs(sample, RANDOM_READS, 8);
	uint64_t *a4k = make_addrs(sample, RANDOM_READS / 8, 4096);
	const uint8_t *map = vms_map_pa(shm, base, span);
	uint64_t bulk_len = span < BULK_BYTES ? span & ~(uint64_t)(CHUNK - 1) : BULK_BYTES;
	/* Warm the mapping's page tables over the sampled span, for both sides. */
	uint64_t acc = 0;
	for (uint64_t off = 0; off < span; off += 4096)
		acc += map[off];
	sink = acc;

	/* Best of three for the fast paths: the first round also warms caches. */
	struct figures lim = { 1e30, 1e30, 0 };
	for (int rep = 0; rep < 3; rep++) {
		struct figures f;
		measure_limit(map, base, a8, RANDOM_READS, a4k, RANDOM_READS / 8, base, bulk_len, &f);
		best_of(&lim, &f);
	}
	printf("guest RAM sample: %llu MiB at 0x%llx; bulk %llu MiB in 1 MiB reads\n\n",
	       (unsigned long long)(span >> 20), (unsigned long long)base, (unsigned long long)(bulk_len >> 20));
	printf("%-22s %12s %9s %12s %9s %10s %8s\n", "", "rand 8B ns", "vs limit", "rand 4K ns", "vs limit",
	       "bulk GB/s", "of limit");
	print_row("limit (loads/memcpy)", &lim, &lim, RANDOM_READS);
	for (int i = 0; i < nsources; i++) {
		/* shm is measured on the very mapping the limit used. */
		int same = strcmp(sources[i], "shm") == 0;
		struct vms_target *t = shm;
		o.source = sources[i];
		if (!same && vms_open(argv[1], &o, &t)) {
			printf("%-22s unavailable: %s\n", sources[i], err);
			continue;
		}
		int slow = strcmp(sources[i], "gdb") == 0 || strcmp(sources[i], "qmp") == 0;
		unsigned n8 = slow ? 2000 : RANDOM_READS, n4k = slow ? 500 : RANDOM_READS / 8;
		uint64_t bl = slow ? (32ull << 20) : bulk_len;
		struct figures best = { 1e30, 1e30, 0 }, f = { 0 };
		int rc = 0;
		for (int rep = 0; rep < (slow ? 1 : 3) && !rc; rep++) {
			rc = measure_source(t, a8, n8, a4k, n4k, base, bl, &f);
			best_of(&best, &f);
		}
		if (rc)
			printf("%-22s failed: %s\n", sources[i], vms_errmsg(t));
		else
			print_row(sources[i], &best, &lim, n8);
		if (!same)
			vms_close(t);
	}
	free(a8);
	free(a4k);
	vms_close(shm);
	return 0;
}
