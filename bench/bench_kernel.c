/*
 * bench_kernel — finding the kernel with no profile (cold attach) and with
 * the cached profile (warm attach), beside what the machine itself needs
 * for the same work, measured in the same run.
 *
 *   bench_kernel TARGET [ROUNDS]      (default 5 rounds; best and median)
 *
 * cold: vms_kernel_open with no cache (page walks to the image, the kallsyms
 *       scan and decode, banner, build id, BTF located), then the first type
 *       lookup, which has libbpf parse the BTF.
 * warm: vms_kernel_open with the profile cached by a cold run, then the
 *       first type lookup (the cached BTF parsed).
 * The limits: for cold, one memcpy over the kernel image's bytes up to the
 * end of its BTF (the least any scan of them costs); for warm, what any
 * attach must pay: one vCPU register query (QEMU's monitor) plus reading
 * the profile file once.
 * The target is opened once (vms_open is not timed). Pause the guest first.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#include "vmsight/vmsight.h"

struct figures {
	double v[32];
	int n;
};

static void add(struct figures *f, double ms)
{
	if (f->n < 32)
		f->v[f->n++] = ms;
}

static void row(const char *name, struct figures *f, double limit)
{
	qsort(f->v, (size_t)f->n, sizeof(double), bench_cmp_double);
	double best = f->v[0], median = f->v[f->n / 2];
	printf("%-44s %9.2f %9.2f", name, best, median);
	if (limit > 0)
		printf(" %9.2f %8.1fx", limit, best / limit);
	printf("\n");
}

/* One attach and one type lookup; returns 0 and the two times. */
static int attach(struct vms_target *t, const char *cache, double *open_ms, double *type_ms, size_t *nsyms,
                  uint64_t *btf_end, const char **from)
{
	struct vms_kernel_opts o = { .sz = sizeof(o), .cache_dir = cache, .no_cache = cache == NULL };
	struct vms_kernel *k;
	double t0 = bench_now_ms();
	if (vms_kernel_open(t, &o, &k)) {
		fprintf(stderr, "bench_kernel: %s\n", vms_errmsg(t));
		return -1;
	}
	double t1 = bench_now_ms();
	uint64_t size;
	if (vms_btf_struct_size(k, "task_struct", &size)) {
		fprintf(stderr, "bench_kernel: %s\n", vms_errmsg(t));
		vms_kernel_close(k);
		return -1;
	}
	double t2 = bench_now_ms();
	struct vms_kernel_info i;
	vms_kernel_info(k, &i);
	uint64_t stop;
	*open_ms = t1 - t0;
	*type_ms = t2 - t1;
	*nsyms = i.nsyms;
	*from = i.symbols_from;
	*btf_end = vms_sym_lookup(k, "__stop_BTF", &stop) == 0 && stop > i.text_va ? i.text_pa + (stop - i.text_va) : 0;
	vms_kernel_close(k);
	return 0;
}

static volatile uint8_t sink;

static double memcpy_limit(struct vms_target *t, uint64_t pa_from, uint64_t pa_to)
{
	size_t len = (size_t)(pa_to - pa_from);
	const void *p = vms_map_pa(t, pa_from, len);
	void *dst = malloc(len);
	double best = 1e9;
	if (!p || !dst) {
		free(dst);
		return 0;
	}
	for (int r = 0; r < 5; r++) {
		double t0 = bench_now_ms();
		memcpy(dst, p, len);
		sink = ((volatile uint8_t *)dst)[len / 2];
		double dt = bench_now_ms() - t0;
		best = dt < best ? dt : best;
	}
	free(dst);
	return best;
}

static double warm_limit(struct vms_target *t, const char *file)
{
	double best = 1e9;
	char *buf = malloc(1 << 20);
	for (int r = 0; r < 5 && buf; r++) {
		struct vms_regs regs;
		double t0 = bench_now_ms();
		vms_vcpu_regs(t, 0, &regs);
		int fd = open(file, O_RDONLY);
		while (fd >= 0 && read(fd, buf, 1 << 20) > 0)
			;
		if (fd >= 0)
			close(fd);
		double dt = bench_now_ms() - t0;
		best = dt < best ? dt : best;
	}
	free(buf);
	return best;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_kernel TARGET [ROUNDS]\n");
		return 2;
	}
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	if (rounds < 1 || rounds > 32)
		rounds = 5;
	char err[1024] = "";
	struct vms_open_opts oo = { .sz = sizeof(oo), .errbuf = err, .errbuf_len = sizeof(err) };
	struct vms_target *t;
	if (vms_open(argv[1], &oo, &t)) {
		fprintf(stderr, "bench_kernel: %s\n", err);
		return 1;
	}
	char cache[] = "/tmp/bench-kernel-XXXXXX";
	if (!mkdtemp(cache)) {
		perror("mkdtemp");
		return 1;
	}
	const struct vms_ram_range *rr;
	size_t nr;
	uint64_t ram = 0;
	vms_ram_ranges(t, &rr, &nr);
	for (size_t i = 0; i < nr; i++)
		ram += rr[i].len;
	struct figures cold_open = { 0 }, cold_type = { 0 }, cold_all = { 0 };
	struct figures warm_open = { 0 }, warm_type = { 0 }, warm_all = { 0 };
	size_t nsyms = 0;
	uint64_t btf_end = 0;
	const char *from = "";
	double o, ty;
	/* One cold attach that writes the profile, then the measured rounds. */
	if (attach(t, cache, &o, &ty, &nsyms, &btf_end, &from))
		return 1;
	for (int r = 0; r < rounds; r++) {
		if (attach(t, NULL, &o, &ty, &nsyms, &btf_end, &from))
			return 1;
		add(&cold_open, o);
		add(&cold_type, ty);
		add(&cold_all, o + ty);
		if (attach(t, cache, &o, &ty, &nsyms, &btf_end, &from))
			return 1;
		if (strcmp(from, "cache") != 0) {
			fprintf(stderr, "bench_kernel: the warm attach did not use the profile (%s)\n", from);
			return 1;
		}
		add(&warm_open, o);
		add(&warm_type, ty);
		add(&warm_all, o + ty);
	}
	struct vms_kernel_opts ko = { .sz = sizeof(ko), .no_cache = 1 };
	struct vms_kernel *k;
	struct vms_kernel_info info;
	if (vms_kernel_open(t, &ko, &k))
		return 1;
	vms_kernel_info(k, &info);
	double lim_cold = memcpy_limit(t, info.text_pa, btf_end);
	char file[1200];
	snprintf(file, sizeof(file), "%s", "");
	struct vms_kernel_opts wo = { .sz = sizeof(wo), .cache_dir = cache };
	struct vms_kernel *kw;
	if (vms_kernel_open(t, &wo, &kw) == 0) {
		struct vms_kernel_info wi;
		vms_kernel_info(kw, &wi);
		snprintf(file, sizeof(file), "%s", wi.cache_file);
		vms_kernel_close(kw);
	}
	double lim_warm = warm_limit(t, file);
	printf("kernel %s, guest RAM %" PRIu64 " MiB, source %s, %s paging\n", info.release, ram >> 20,
	       vms_source_name(t), vms_paging_name(info.paging));
	printf("%zu symbols, BTF %zu bytes; image _text..__stop_BTF %.1f MiB; best of %d rounds\n\n", nsyms,
	       info.btf_bytes, (double)(btf_end - info.text_pa) / (1 << 20), rounds);
	printf("%-44s %9s %9s %9s %9s\n", "", "best ms", "median", "limit ms", "vs limit");
	row("cold: vms_kernel_open (scan + decode)", &cold_open, 0);
	row("cold: first type lookup (BTF parse)", &cold_type, 0);
	row("cold attach total (limit: memcpy of image)", &cold_all, lim_cold);
	row("warm: vms_kernel_open (cached profile)", &warm_open, 0);
	row("warm: first type lookup (cached BTF parse)", &warm_type, 0);
	row("warm attach total (limit: regs + read file)", &warm_all, lim_warm);
	row("warm attach, open only (same limit)", &warm_open, lim_warm);
	vms_kernel_close(k);
	vms_close(t);
	char cmd[1300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cache);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_kernel: could not remove %s\n", cache);
	return 0;
}
