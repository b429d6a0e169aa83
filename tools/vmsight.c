/*
 * vmsight — the command-line tool over libvmsight.
 *
 * It parses arguments, calls the library and prints; no introspection logic
 * lives here. Every command prints a human table by default and, with
 * --json, one JSON object per line (one per item for lists). Exit status:
 * 0 success, 1 the operation failed, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmsight/vmsight.h"

struct globals {
	const char *target;
	const char *source;
	int verbose;
	int json;
	unsigned timeout_ms;
};

static const char usage_main[] =
	"usage: vmsight [-t TARGET] [--source NAME] [--json] [-v] COMMAND [ARGS]\n"
	"\n"
	"Look inside a running QEMU/KVM virtual machine from the outside.\n"
	"\n"
	"Targets (-t, or the VMSIGHT_TARGET environment variable):\n"
	"  qmp:PATH        QEMU's QMP unix socket; finds the RAM file or process through it\n"
	"  pid:N           a running QEMU process, read through /proc (root)\n"
	"  gdb:HOST:PORT   QEMU's GDB stub (QEMU pauses the guest while attached)\n"
	"  dump:FILE       raw image, ELF core (dump-guest-memory, vmsight dump) or LiME\n"
	"\n"
	"Options:\n"
	"  -t, --target TARGET   what to attach to\n"
	"      --source NAME     force a memory source: shm, procmem, gdb, qmp, dump\n"
	"      --json            JSON output, one object per line\n"
	"      --timeout MS      wait at most MS for QEMU's replies (default 10000)\n"
	"  -v, --verbose         say which memory source was picked and why\n"
	"  -h, --help            this text; `vmsight COMMAND --help` for a command\n"
	"      --version         print the version\n"
	"\n"
	"Commands:\n"
	"  info                  memory source, RAM layout, vCPUs and paging mode\n"
	"  read --pa ADDR LEN    read guest-physical memory (hexdump, or --raw)\n"
	"  read --va ADDR LEN    read virtual memory (default: vCPU 0's address space)\n"
	"  translate VA...       virtual to guest-physical address, page size, permissions\n"
	"  va-ranges             the mapped virtual memory of an address space\n"
	"  kernel                find the Linux kernel: KASLR offsets, CR3, symbols, BTF\n"
	"  symbols [GLOB]        the kernel's symbols (address, type, name)\n"
	"  btf TYPE [MEMBER...]  size of a kernel struct and offsets of its members\n"
	"  read --sym NAME LEN   read kernel memory at a symbol\n"
	"  profile --isf FILE    write the kernel's profile as a Volatility 3 ISF file\n"
	"  dump -o FILE          write all guest RAM to FILE (--format raw|elf)\n"
	"  watch files           file events from vmsight-agent in the guest, as they happen\n"
	"  trace files|syscalls  file activity or system calls, agentless (GDB stub breakpoints)\n"
	"  snapshot -o FILE      consistent snapshot (--mode pause|background|live), --diff A B\n"
	"  ps [-T] [--tree]      processes (and threads): ids, state, start, command line\n"
	"  lsmod                 kernel modules: name, base, size, state, taint; hidden ones\n"
	"  lsof [PID]            open files: fd, path, type, flags, position\n"
	"  maps [PID]            memory maps, as /proc/PID/maps\n"
	"  dmesg                 the kernel log, from the printk ring buffer\n";

static void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("vmsight: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see vmsight --help)\n", stderr);
	exit(2);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("vmsight: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static void log_stderr(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmsight: %s\n", msg);
}

static int open_target(const struct globals *g, struct vms_target **t)
{
	if (!g->target)
		die_usage("no target: give -t TARGET or set VMSIGHT_TARGET");
	char err[1024] = "";
	struct vms_open_opts o = {
		.sz = sizeof(o), .source = g->source, .errbuf = err, .errbuf_len = sizeof(err),
		.log = g->verbose ? log_stderr : NULL, .timeout_ms = g->timeout_ms,
	};
	int rc = vms_open(g->target, &o, t);
	if (rc)
		return fail("%s", err[0] ? err : strerror(-rc));
	return 0;
}

/* Accepts decimal, 0x hex, and K/M/G suffixes (binary) for lengths. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1ull << 10, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1ull << 20, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1ull << 30, end++;
	if (*end || (v && mul > UINT64_MAX / v))
		return -1;
	*out = v * mul;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- info ---------------------------------------------------------------- */

static const char usage_info[] =
	"usage: vmsight -t TARGET info [--json]\n"
	"\n"
	"Show the memory source in use, the guest-physical RAM ranges, and every\n"
	"vCPU's control registers and paging mode.\n"
	"JSON fields: target, source, source_detail, ram_bytes, ram_ranges[{start,end,size}],\n"
	"vcpus[{index,paging,rip,rsp,rflags,cr0,cr2,cr3,cr4,efer,fs_base,gs_base,kernel_gs_base}], paging.\n"
	"Addresses and registers are \"0x...\" strings, sizes are numbers.\n";

static void print_size(char *buf, size_t len, uint64_t n)
{
	if (n >= (1ull << 30) && n % (1ull << 30) == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", n >> 30);
	else if (n >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
	else
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
}

static int cmd_info(const struct globals *g, int argc, char **argv)
{
	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			fputs(usage_info, stdout);
			return 0;
		}
		die_usage("info: unexpected argument '%s'", argv[1]);
	}
	struct vms_target *t;
	if (open_target(g, &t))
		return 1;
	const struct vms_ram_range *r;
	size_t nr;
	uint64_t total = 0;
	vms_ram_ranges(t, &r, &nr);
	for (size_t i = 0; i < nr; i++)
		total += r[i].len;
	int nv = vms_vcpu_count(t);
	struct vms_regs *regs = nv > 0 ? calloc((size_t)nv, sizeof(*regs)) : NULL;
	int regs_rc = nv < 0 ? nv : 0;
	char regs_err[1024] = "";
	if (nv < 0)
		snprintf(regs_err, sizeof(regs_err), "%s", vms_errmsg(t));
	for (int i = 0; i < nv && !regs_rc; i++)
		if ((regs_rc = vms_vcpu_regs(t, (unsigned)i, &regs[i])))
			snprintf(regs_err, sizeof(regs_err), "%s", vms_errmsg(t));
	const char *paging = nv > 0 && !regs_rc ? vms_paging_name(vms_paging_mode(&regs[0])) : "unknown";

	if (g->json) {
		printf("{\"target\":\"%s\",\"source\":\"%s\",\"source_detail\":\"", g->target, vms_source_name(t));
		for (const char *p = vms_source_detail(t); *p; p++)
			printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
		printf("\",\"ram_bytes\":%" PRIu64 ",\"ram_ranges\":[", total);
		for (size_t i = 0; i < nr; i++)
			printf("%s{\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\",\"size\":%" PRIu64 "}",
			       i ? "," : "", r[i].gpa, r[i].gpa + r[i].len - 1, r[i].len);
		printf("],\"vcpus\":[");
		for (int i = 0; i < nv && !regs_rc; i++) {
			const struct vms_regs *x = &regs[i];
			printf("%s{\"index\":%d,\"paging\":\"%s\",\"rip\":\"0x%" PRIx64 "\",\"rsp\":\"0x%" PRIx64
			       "\",\"rflags\":\"0x%" PRIx64 "\",\"cr0\":\"0x%" PRIx64 "\",\"cr2\":\"0x%" PRIx64
			       "\",\"cr3\":\"0x%" PRIx64 "\",\"cr4\":\"0x%" PRIx64 "\"",
			       i ? "," : "", i, vms_paging_name(vms_paging_mode(x)), x->rip, x->rsp, x->rflags, x->cr0,
			       x->cr2, x->cr3, x->cr4);
			if (x->valid & VMS_REGS_EFER)
				printf(",\"efer\":\"0x%" PRIx64 "\"", x->efer);
			if (x->valid & VMS_REGS_SEG)
				printf(",\"fs_base\":\"0x%" PRIx64 "\",\"gs_base\":\"0x%" PRIx64 "\"", x->fs_base,
				       x->gs_base);
			if (x->valid & VMS_REGS_KGSBASE)
				printf(",\"kernel_gs_base\":\"0x%" PRIx64 "\"", x->kernel_gs_base);
			printf("}");
		}
		printf("],\"paging\":\"%s\"}\n", paging);
	} else {
		char sz[32];
		print_size(sz, sizeof(sz), total);
		printf("target   %s\nsource   %s: %s\nram      %s in %zu range%s\n", g->target, vms_source_name(t),
		       vms_source_detail(t), sz, nr, nr == 1 ? "" : "s");
		for (size_t i = 0; i < nr; i++) {
			print_size(sz, sizeof(sz), r[i].len);
			printf("         0x%016" PRIx64 "-0x%016" PRIx64 "  %s\n", r[i].gpa, r[i].gpa + r[i].len - 1, sz);
		}
		if (regs_rc)
			printf("vcpus    unavailable: %s\n", regs_err);
		else
			printf("vcpus    %d\npaging   %s\n", nv, paging);
		for (int i = 0; i < nv && !regs_rc; i++) {
			const struct vms_regs *x = &regs[i];
			printf("  cpu%-3d rip=0x%016" PRIx64 " rsp=0x%016" PRIx64 " %s\n", i, x->rip, x->rsp,
			       vms_paging_name(vms_paging_mode(x)));
			printf("         cr0=0x%08" PRIx64 " cr2=0x%016" PRIx64 " cr3=0x%016" PRIx64 " cr4=0x%08" PRIx64 "\n",
			       x->cr0, x->cr2, x->cr3, x->cr4);
			if (x->valid & VMS_REGS_EFER)
				printf("         efer=0x%" PRIx64 "", x->efer);
			else
				printf("         efer=?");
			if (x->valid & VMS_REGS_SEG)
				printf(" fs_base=0x%" PRIx64 " gs_base=0x%" PRIx64, x->fs_base, x->gs_base);
			if (x->valid & VMS_REGS_KGSBASE)
				printf(" kernel_gs_base=0x%" PRIx64, x->kernel_gs_base);
			printf("\n");
		}
	}
	free(regs);
	vms_close(t);
	return 0;
}

/* ---- address spaces ------------------------------------------------------ */

/* --cr3, --vcpu and --paging, shared by the commands that take virtual
 * addresses. */
struct aspace_args {
	const char *cr3, *vcpu, *paging;
};

#define ASPACE_OPTIONS \
	{ "cr3", required_argument, NULL, 'C' }, { "vcpu", required_argument, NULL, 'U' }, \
	{ "paging", required_argument, NULL, 'G' }

static int aspace_opt(struct aspace_args *a, int c)
{
	switch (c) {
	case 'C': a->cr3 = optarg; return 1;
	case 'U': a->vcpu = optarg; return 1;
	case 'G': a->paging = optarg; return 1;
	default: return 0;
	}
}

static const char aspace_help[] =
	"  --cr3 X        the address space whose CR3 (page-table base) is X\n"
	"  --vcpu N       the address space vCPU N is in (default: vCPU 0), in its paging mode\n"
	"  --paging MODE  none, 32, pae, 4 or 5: for dumps without registers (default: from\n"
	"                 vCPU 0's registers)\n";

static void aspace_check(const char *cmd, const struct aspace_args *a, uint64_t *cr3, unsigned *vcpu,
			 enum vms_paging *mode)
{
	uint64_t v = 0;
	*mode = VMS_PAGING_UNKNOWN;
	*vcpu = 0;
	if (a->cr3 && a->vcpu)
		die_usage("%s: give --cr3 or --vcpu, not both", cmd);
	if (a->cr3 && parse_u64(a->cr3, cr3))
		die_usage("%s: bad CR3 '%s'", cmd, a->cr3);
	if (a->vcpu) {
		if (parse_u64(a->vcpu, &v) || v > 4095)
			die_usage("%s: bad vCPU number '%s'", cmd, a->vcpu);
		*vcpu = (unsigned)v;
	}
	if (a->paging) {
		static const struct {
			const char *name;
			enum vms_paging mode;
		} names[] = { { "none", VMS_PAGING_NONE }, { "32", VMS_PAGING_32 }, { "32-bit", VMS_PAGING_32 },
			      { "pae", VMS_PAGING_PAE }, { "PAE", VMS_PAGING_PAE }, { "4", VMS_PAGING_4LEVEL },
			      { "4-level", VMS_PAGING_4LEVEL }, { "5", VMS_PAGING_5LEVEL }, { "5-level", VMS_PAGING_5LEVEL } };
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && *mode == VMS_PAGING_UNKNOWN; i++)
			if (strcmp(a->paging, names[i].name) == 0)
				*mode = names[i].mode;
		if (*mode == VMS_PAGING_UNKNOWN)
			die_usage("%s: paging mode must be none, 32, pae, 4 or 5, not '%s'", cmd, a->paging);
	}
}

/* The DTB to use, and the paging mode set on T when it is known better
 * than the library's default. */
static int aspace_open(struct vms_target *t, const struct aspace_args *a, uint64_t *dtb)
{
	uint64_t cr3 = 0;
	unsigned vcpu;
	enum vms_paging mode;
	aspace_check("", a, &cr3, &vcpu, &mode);
	if (mode != VMS_PAGING_UNKNOWN && vms_set_paging(t, mode))
		return fail("%s", vms_errmsg(t));
	if (a->cr3) {
		*dtb = cr3;
		return 0;
	}
	struct vms_regs r;
	if (vms_vcpu_regs(t, vcpu, &r))
		return fail("no address space given and no registers of vCPU %u (%s): give --cr3", vcpu, vms_errmsg(t));
	if (!(r.valid & VMS_REGS_CR))
		return fail("vCPU %u has no CR3 in this target: give --cr3", vcpu);
	*dtb = r.cr3;
	enum vms_paging own = vms_paging_mode(&r);
	if (a->vcpu && mode == VMS_PAGING_UNKNOWN && own != VMS_PAGING_UNKNOWN && vms_set_paging(t, own))
		return fail("%s", vms_errmsg(t));
	return 0;
}

static void perms_text(char *buf, size_t len, uint32_t prot)
{
	snprintf(buf, len, "r%c%c %s", prot & VMS_PAGE_WRITE ? 'w' : '-', prot & VMS_PAGE_NX ? '-' : 'x',
		 prot & VMS_PAGE_USER ? "user" : "kernel");
}

static const char *page_text(uint64_t size)
{
	switch (size) {
	case 1ull << 12: return "4K";
	case 1ull << 21: return "2M";
	case 1ull << 22: return "4M";
	case 1ull << 30: return "1G";
	default: return "?";
	}
}

/* ---- translate ----------------------------------------------------------- */

static const char usage_translate[] =
	"usage: vmsight -t TARGET translate VA... [--cr3 X | --vcpu N] [--paging MODE] [-v]\n"
	"\n"
	"Translate each virtual address VA to its guest-physical address by walking\n"
	"the guest's page tables. Prints the physical address, page size and the\n"
	"permissions combined over all levels (r, w, x; user or kernel); -v also\n"
	"prints each page-table entry read (also for addresses that do not translate).\n"
	"\n"
	"Address space:\n"
	"%s"
	"\n"
	"JSON, one object per VA: {\"va\",\"pa\",\"page_size\",\"writable\",\"user\",\"nx\"} (with -v\n"
	"\"walk\":[{\"level\",\"entry_pa\",\"entry\"}]), or {\"va\",\"error\",\"errno\"} for a VA that\n"
	"does not translate (errno 14: not mapped, 22: not canonical, 5: corrupt tables).\n"
	"Exit status 1 if any VA did not translate.\n";

static void print_walk_json(const struct vms_page_walk *w)
{
	printf(",\"walk\":[");
	for (unsigned i = 0; i < w->nsteps; i++)
		printf("%s{\"level\":\"%s\",\"entry_pa\":\"0x%" PRIx64 "\",\"entry\":\"0x%" PRIx64 "\"}", i ? "," : "",
		       w->step[i].level, w->step[i].entry_pa, w->step[i].entry);
	printf("]");
}

static void print_walk_text(const struct vms_page_walk *w)
{
	printf("    %s paging, top table at 0x%" PRIx64 "\n", vms_paging_name(w->mode), w->table);
	for (unsigned i = 0; i < w->nsteps; i++)
		printf("    %-6s at 0x%012" PRIx64 " = 0x%016" PRIx64 "\n", w->step[i].level, w->step[i].entry_pa,
		       w->step[i].entry);
}

static int translate_one(const struct globals *g, struct vms_target *t, uint64_t dtb, uint64_t va)
{
	struct vms_page_walk w;
	int rc = g->verbose ? vms_page_walk(t, dtb, va, &w) : vms_translate(t, dtb, va, &w.tr);
	if (rc) {
		if (g->json) {
			printf("{\"va\":\"0x%" PRIx64 "\",\"error\":\"", va);
			for (const char *p = vms_errmsg(t); *p; p++)
				printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
			printf("\",\"errno\":%d", -rc);
			if (g->verbose)
				print_walk_json(&w);
			printf("}\n");
		} else {
			fprintf(stderr, "vmsight: %s\n", vms_errmsg(t));
			if (g->verbose) {
				printf("0x%016" PRIx64 " -> (no translation)\n", va);
				print_walk_text(&w);
			}
		}
		return 1;
	}
	const struct vms_translation *tr = &w.tr;
	if (g->json) {
		printf("{\"va\":\"0x%" PRIx64 "\",\"pa\":\"0x%" PRIx64 "\",\"page_size\":%" PRIu64
		       ",\"writable\":%s,\"user\":%s,\"nx\":%s", va, tr->pa, tr->page_size,
		       tr->prot & VMS_PAGE_WRITE ? "true" : "false", tr->prot & VMS_PAGE_USER ? "true" : "false",
		       tr->prot & VMS_PAGE_NX ? "true" : "false");
		if (g->verbose)
			print_walk_json(&w);
		printf("}\n");
	} else {
		char perms[32];
		perms_text(perms, sizeof(perms), tr->prot);
		printf("0x%016" PRIx64 " -> 0x%012" PRIx64 "  %s page  %s\n", va, tr->pa, page_text(tr->page_size),
		       perms);
		if (g->verbose)
			print_walk_text(&w);
	}
	return 0;
}

static int cmd_translate(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { ASPACE_OPTIONS, { "help", no_argument, NULL, 'h' }, { 0 } };
	struct aspace_args as = { 0 };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (aspace_opt(&as, c))
			continue;
		if (c == 'h') {
			printf(usage_translate, aspace_help);
			return 0;
		}
		die_usage("translate: bad option");
	}
	if (optind >= argc)
		die_usage("translate: give at least one virtual address");
	uint64_t *vas = calloc((size_t)(argc - optind), sizeof(*vas));
	if (!vas)
		return fail("out of memory");
	size_t n = 0;
	for (int i = optind; i < argc; i++)
		if (parse_u64(argv[i], &vas[n++]))
			die_usage("translate: bad address '%s'", argv[i]);
	uint64_t cr3;
	unsigned vcpu;
	enum vms_paging mode;
	aspace_check("translate", &as, &cr3, &vcpu, &mode);
	struct vms_target *t;
	uint64_t dtb;
	if (open_target(g, &t)) {
		free(vas);
		return 1;
	}
	if (aspace_open(t, &as, &dtb)) {
		vms_close(t);
		free(vas);
		return 1;
	}
	size_t failed = 0;
	for (size_t i = 0; i < n; i++)
		failed += (size_t)translate_one(g, t, dtb, vas[i]);
	if (failed && n > 1)
		fprintf(stderr, "vmsight: %zu of %zu addresses did not translate\n", failed, n);
	vms_close(t);
	free(vas);
	return failed ? 1 : 0;
}

/* ---- va-ranges ----------------------------------------------------------- */

static const char usage_va_ranges[] =
	"usage: vmsight -t TARGET va-ranges [--cr3 X | --vcpu N] [--paging MODE] [--user | --kernel]\n"
	"\n"
	"List the mapped virtual memory of an address space, from its page tables: runs\n"
	"of pages contiguous in virtual and physical memory with one page size and one\n"
	"set of permissions. --user or --kernel keeps only user or kernel pages.\n"
	"\n"
	"Address space:\n"
	"%s"
	"\n"
	"JSON, one object per run: {\"va\",\"end\",\"len\",\"pa\",\"page_size\",\"writable\",\"user\",\"nx\"}\n"
	"(end is the last byte).\n";

struct ranges_out {
	const struct globals *g;
	int only; /* 0 all, 1 user, 2 kernel */
};

static int print_range(void *ctx, const struct vms_va_range *r)
{
	const struct ranges_out *o = ctx;
	int user = (r->prot & VMS_PAGE_USER) != 0;
	if ((o->only == 1 && !user) || (o->only == 2 && user))
		return 0;
	if (o->g->json) {
		printf("{\"va\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 ",\"pa\":\"0x%" PRIx64
		       "\",\"page_size\":%" PRIu64 ",\"writable\":%s,\"user\":%s,\"nx\":%s}\n", r->va, r->va + r->len - 1,
		       r->len, r->pa, r->page_size, r->prot & VMS_PAGE_WRITE ? "true" : "false", user ? "true" : "false",
		       r->prot & VMS_PAGE_NX ? "true" : "false");
	} else {
		char perms[32], sz[32];
		perms_text(perms, sizeof(perms), r->prot);
		print_size(sz, sizeof(sz), r->len);
		printf("0x%016" PRIx64 "-0x%016" PRIx64 "  0x%012" PRIx64 "  %10s  %s  %s\n", r->va, r->va + r->len - 1,
		       r->pa, sz, page_text(r->page_size), perms);
	}
	return 0;
}

static int cmd_va_ranges(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		ASPACE_OPTIONS,
		{ "user", no_argument, NULL, 'u' },
		{ "kernel", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct aspace_args as = { 0 };
	struct ranges_out o = { .g = g };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (aspace_opt(&as, c))
			continue;
		switch (c) {
		case 'u': o.only = 1; break;
		case 'k': o.only = 2; break;
		case 'h': printf(usage_va_ranges, aspace_help); return 0;
		default: die_usage("va-ranges: bad option");
		}
	}
	if (optind != argc)
		die_usage("va-ranges: unexpected argument '%s'", argv[optind]);
	uint64_t cr3, dtb;
	unsigned vcpu;
	enum vms_paging mode;
	aspace_check("va-ranges", &as, &cr3, &vcpu, &mode);
	struct vms_target *t;
	if (open_target(g, &t))
		return 1;
	int rc = aspace_open(t, &as, &dtb);
	if (!rc && (rc = vms_va_ranges(t, dtb, print_range, &o)))
		rc = fail("%s", vms_errmsg(t));
	vms_close(t);
	return rc ? 1 : 0;
}

/* ---- kernel ---------------------------------------------------------------- */

/* Options of the commands that find the kernel. */
struct kernel_args {
	const char *system_map, *isf, *cache_dir, *cr3;
	int no_cache;
};

#define KERNEL_OPTIONS \
	{ "system-map", required_argument, NULL, 'M' }, { "isf-in", required_argument, NULL, 'I' }, \
	{ "cache-dir", required_argument, NULL, 'D' }, { "no-cache", no_argument, NULL, 'N' }

static int kernel_opt(struct kernel_args *a, int c)
{
	switch (c) {
	case 'M': a->system_map = optarg; return 1;
	case 'I': a->isf = optarg; return 1;
	case 'D': a->cache_dir = optarg; return 1;
	case 'N': a->no_cache = 1; return 1;
	default: return 0;
	}
}

static const char kernel_help[] =
	"  --system-map FILE  symbols from this System.map if kallsyms is not found\n"
	"  --isf-in FILE      symbols and types from a Volatility 3 ISF file (kernels\n"
	"                     without kallsyms or BTF)\n"
	"  --cache-dir DIR    profile cache (default $XDG_CACHE_HOME/vmsight, ~/.cache/vmsight)\n"
	"  --no-cache         neither read nor write the profile cache\n";

static int open_kernel(const struct globals *g, const struct kernel_args *a, struct vms_target **t,
		       struct vms_kernel **k)
{
	uint64_t cr3 = 0;
	if (a->cr3 && parse_u64(a->cr3, &cr3))
		die_usage("bad CR3 '%s'", a->cr3);
	if (open_target(g, t))
		return 1;
	struct vms_kernel_opts o = { .sz = sizeof(o), .cr3 = cr3, .cache_dir = a->cache_dir, .no_cache = a->no_cache,
				     .system_map = a->system_map, .isf = a->isf };
	if (vms_kernel_open(*t, &o, k)) {
		fail("cannot find the kernel: %s", vms_errmsg(*t));
		vms_close(*t);
		return 1;
	}
	return 0;
}

static void close_kernel(struct vms_target *t, struct vms_kernel *k)
{
	vms_kernel_close(k);
	vms_close(t);
}

/* The kernel commands take no positional arguments beyond what each names. */
static int kernel_getopt(const char *cmd, int argc, char **argv, struct kernel_args *a, const char *usage)
{
	static const struct option opts[] = { KERNEL_OPTIONS, { "cr3", required_argument, NULL, 'C' },
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (kernel_opt(a, c))
			continue;
		if (c == 'C') {
			a->cr3 = optarg;
			continue;
		}
		if (c == 'h') {
			printf(usage, kernel_help);
			exit(0);
		}
		die_usage("%s: bad option", cmd);
	}
	return optind;
}

static void print_offset(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "-0x%" PRIx64, (uint64_t)-v);
	else
		snprintf(buf, len, "0x%" PRIx64, (uint64_t)v);
}

static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static const char usage_kernel[] =
	"usage: vmsight -t TARGET kernel [--cr3 X] [options]\n"
	"\n"
	"Find the Linux kernel in guest memory, with no profile: the KASLR offsets\n"
	"(virtual and physical), the kernel's CR3 (page-table isolation noticed), the\n"
	"paging mode, the banner and build id, the symbols (decoded from kallsyms in\n"
	"guest memory) and the size of the kernel's BTF, and how long it took. What is\n"
	"found is cached as a profile, so the next attach to the same kernel is fast.\n"
	"--cr3 X starts from that address space instead of the vCPUs'.\n"
	"\n"
	"%s"
	"\n"
	"JSON: {banner,release,build_id,text_va,text_pa,kaslr_virt,kaslr_phys,cr3,pti,paging,\n"
	"symbols,symbols_from,btf_bytes,types_from,cache_file,ms}.\n";

static int cmd_kernel(const struct globals *g, int argc, char **argv)
{
	struct kernel_args a = { 0 };
	if (kernel_getopt("kernel", argc, argv, &a, usage_kernel) != argc)
		die_usage("kernel: unexpected argument '%s'", argv[optind]);
	struct vms_target *t;
	struct vms_kernel *k;
	if (open_kernel(g, &a, &t, &k))
		return 1;
	struct vms_kernel_info i;
	vms_kernel_info(k, &i);
	char kv[32], kp[32];
	print_offset(kv, sizeof(kv), i.kaslr_virt);
	print_offset(kp, sizeof(kp), i.kaslr_phys);
	if (g->json) {
		printf("{\"banner\":");
		json_string(i.banner);
		printf(",\"release\":");
		json_string(i.release);
		printf(",\"build_id\":\"%s\",\"text_va\":\"0x%" PRIx64 "\",\"text_pa\":\"0x%" PRIx64
		       "\",\"kaslr_virt\":\"%s\",\"kaslr_phys\":\"%s\",\"cr3\":\"0x%" PRIx64
		       "\",\"pti\":%s,\"paging\":\"%s\",\"symbols\":%zu,\"symbols_from\":\"%s\",\"btf_bytes\":%zu,"
		       "\"types_from\":\"%s\",\"cache_file\":",
		       i.build_id, i.text_va, i.text_pa, kv, kp, i.cr3, i.pti ? "true" : "false",
		       vms_paging_name(i.paging), i.nsyms, i.symbols_from, i.btf_bytes, i.types_from);
		json_string(i.cache_file);
		printf(",\"ms\":%.3f}\n", i.discovery_ms);
	} else {
		printf("banner    %s\nrelease   %s\nbuild id  %s\n", i.banner, i.release, i.build_id[0] ? i.build_id : "-");
		printf("kaslr     virtual %s (_text at 0x%016" PRIx64 "), physical %s (_text at 0x%" PRIx64 ")\n", kv,
		       i.text_va, kp, i.text_pa);
		printf("cr3       0x%" PRIx64 " (page-table isolation: %s)\npaging    %s\n", i.cr3, i.pti ? "yes" : "no",
		       vms_paging_name(i.paging));
		printf("symbols   %zu (from %s)\n", i.nsyms, i.symbols_from);
		if (i.btf_bytes)
			printf("btf       %zu bytes (types from %s)\n", i.btf_bytes, i.types_from);
		else
			printf("btf       none (types from %s)\n", i.types_from);
		printf("profile   %s\ntime      %.1f ms\n", i.cache_file[0] ? i.cache_file : "not cached", i.discovery_ms);
	}
	close_kernel(t, k);
	return 0;
}

/* ---- symbols --------------------------------------------------------------- */

static const char usage_symbols[] =
	"usage: vmsight -t TARGET symbols [GLOB] [options]\n"
	"\n"
	"List the kernel's symbols as /proc/kallsyms does (address, type, name), in\n"
	"address order; GLOB (fnmatch, e.g. 'sys_*') keeps the matching names.\n"
	"\n"
	"%s"
	"\n"
	"JSON, one object per symbol: {name,address,type}.\n";

struct sym_print {
	const char *glob;
	int json;
	size_t n;
};

static int print_sym(void *ctx, const struct vms_sym *s)
{
	struct sym_print *p = ctx;
	if (p->glob && fnmatch(p->glob, s->name, 0) != 0)
		return 0;
	p->n++;
	if (p->json) {
		printf("{\"name\":");
		json_string(s->name);
		printf(",\"address\":\"0x%" PRIx64 "\",\"type\":\"%c\"}\n", s->addr, s->type);
	} else {
		printf("%016" PRIx64 " %c %s\n", s->addr, s->type, s->name);
	}
	return 0;
}

static int cmd_symbols(const struct globals *g, int argc, char **argv)
{
	struct kernel_args a = { 0 };
	int i = kernel_getopt("symbols", argc, argv, &a, usage_symbols);
	if (argc - i > 1)
		die_usage("symbols: give at most one GLOB");
	struct sym_print p = { .glob = i < argc ? argv[i] : NULL, .json = g->json };
	struct vms_target *t;
	struct vms_kernel *k;
	if (open_kernel(g, &a, &t, &k))
		return 1;
	vms_sym_iter(k, print_sym, &p);
	close_kernel(t, k);
	if (p.glob && p.n == 0)
		return fail("no symbol matches '%s'", p.glob);
	return 0;
}

/* ---- btf ------------------------------------------------------------------- */

static const char usage_btf[] =
	"usage: vmsight -t TARGET btf TYPE [MEMBER...] [options]\n"
	"\n"
	"The size of struct or union TYPE, and where each MEMBER lies in it, from the\n"
	"kernel's BTF (or the ISF given with --isf-in). A MEMBER is a path through\n"
	"nested and anonymous members, with [N] for array elements: tasks.next,\n"
	"pid_links[1], __state. Bitfields show their bit offset and width.\n"
	"\n"
	"%s"
	"\n"
	"JSON: {type,size}, then per MEMBER {type,member,offset,size,bit_offset,bit_size}.\n";

static int cmd_btf(const struct globals *g, int argc, char **argv)
{
	struct kernel_args a = { 0 };
	int i = kernel_getopt("btf", argc, argv, &a, usage_btf);
	if (i >= argc)
		die_usage("btf: give a struct or union name");
	struct vms_target *t;
	struct vms_kernel *k;
	if (open_kernel(g, &a, &t, &k))
		return 1;
	const char *type = argv[i++];
	uint64_t size;
	int rc = 0;
	if (vms_btf_struct_size(k, type, &size)) {
		rc = fail("%s", vms_errmsg(t));
		close_kernel(t, k);
		return rc;
	}
	if (g->json) {
		printf("{\"type\":");
		json_string(type);
		printf(",\"size\":%" PRIu64 "}\n", size);
	} else {
		printf("%s: %" PRIu64 " bytes\n", type, size);
	}
	for (; i < argc; i++) {
		struct vms_btf_field f;
		if (vms_btf_field(k, type, argv[i], &f)) {
			rc = fail("%s", vms_errmsg(t));
			continue;
		}
		if (g->json) {
			printf("{\"type\":");
			json_string(type);
			printf(",\"member\":");
			json_string(argv[i]);
			printf(",\"offset\":%" PRIu64 ",\"size\":%" PRIu64 ",\"bit_offset\":%u,\"bit_size\":%u}\n", f.offset,
			       f.size, f.bit_offset, f.bit_size);
		} else if (f.bit_size) {
			printf("  %-30s offset %" PRIu64 " (bit %u), %u bits\n", argv[i], f.offset, f.bit_offset, f.bit_size);
		} else {
			printf("  %-30s offset %" PRIu64 ", %" PRIu64 " bytes\n", argv[i], f.offset, f.size);
		}
	}
	close_kernel(t, k);
	return rc;
}

/* ---- profile --------------------------------------------------------------- */

static const char usage_profile[] =
	"usage: vmsight -t TARGET profile --isf FILE [options]\n"
	"\n"
	"Write the kernel's profile as a Volatility 3 ISF JSON file: every symbol\n"
	"(link-time addresses: the KASLR offset taken off) and every struct, union,\n"
	"enum and base type of the kernel's BTF.\n"
	"\n"
	"%s"
	"\n"
	"JSON: {file,symbols,bytes}.\n";

static int cmd_profile(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { KERNEL_OPTIONS, { "isf", required_argument, NULL, 'o' },
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	struct kernel_args a = { 0 };
	const char *out = NULL;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (kernel_opt(&a, c))
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': printf(usage_profile, kernel_help); return 0;
		default: die_usage("profile: bad option");
		}
	}
	if (!out)
		die_usage("profile: give the output file with --isf FILE");
	if (optind != argc)
		die_usage("profile: unexpected argument '%s'", argv[optind]);
	struct vms_target *t;
	struct vms_kernel *k;
	if (open_kernel(g, &a, &t, &k))
		return 1;
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = 0;
	if (fd < 0)
		rc = fail("cannot create %s: %s", out, strerror(errno));
	else if (vms_kernel_write_isf(k, fd))
		rc = fail("%s", vms_errmsg(t));
	if (fd >= 0 && close(fd) && !rc)
		rc = fail("writing %s: %s", out, strerror(errno));
	if (rc && fd >= 0)
		unlink(out);
	struct stat st;
	if (!rc && stat(out, &st) == 0) {
		struct vms_kernel_info i;
		vms_kernel_info(k, &i);
		if (g->json) {
			printf("{\"file\":");
			json_string(out);
			printf(",\"symbols\":%zu,\"bytes\":%lld}\n", i.nsyms, (long long)st.st_size);
		} else {
			printf("wrote %s: %zu symbols, %lld bytes\n", out, i.nsyms, (long long)st.st_size);
		}
	}
	close_kernel(t, k);
	return rc;
}

/* ---- read ---------------------------------------------------------------- */

static const char usage_read[] =
	"usage: vmsight -t TARGET read (--pa ADDR | --va ADDR [--cr3 X | --vcpu N] | --sym NAME) LEN [--raw]\n"
	"\n"
	"Read LEN bytes of guest memory at ADDR (decimal or 0x hex; LEN may end in K, M\n"
	"or G): guest-physical with --pa, virtual with --va (through the guest's page\n"
	"tables, across pages). Prints a hexdump, or with --raw the bytes themselves.\n"
	"JSON: {\"pa\" or \"va\":\"0x...\",\"len\":N,\"hex\":\"...\"}. Reading outside guest RAM or\n"
	"an unmapped virtual address is an error (the message says how far it got).\n"
	"--sym NAME reads kernel memory at the kernel symbol NAME, through the kernel's\n"
	"page tables (see `vmsight kernel`); JSON then has \"sym\" and \"va\".\n"
	"\n"
	"Address space (with --va):\n"
	"%s";

#define READ_MAX (1ull << 30)

static void hexdump(uint64_t base, const uint8_t *p, size_t n)
{
	for (size_t off = 0; off < n; off += 16) {
		printf("%016" PRIx64 "  ", base + off);
		for (size_t i = 0; i < 16; i++) {
			if (off + i < n)
				printf("%02x ", p[off + i]);
			else
				printf("   ");
			if (i == 7)
				putchar(' ');
		}
		printf(" |");
		for (size_t i = 0; i < 16 && off + i < n; i++)
			putchar(p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.');
		printf("|\n");
	}
}

/* read --sym NAME LEN: kernel memory at a symbol, through the kernel's CR3. */
static int cmd_read_sym(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { KERNEL_OPTIONS, { "sym", required_argument, NULL, 'S' },
					      { "raw", no_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
					      { 0 } };
	struct kernel_args a = { 0 };
	const char *name = NULL;
	int raw = 0, c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (kernel_opt(&a, c))
			continue;
		switch (c) {
		case 'S': name = optarg; break;
		case 'r': raw = 1; break;
		case 'h': printf(usage_read, aspace_help); return 0;
		default: die_usage("read: --sym takes no --pa, --va, --cr3, --vcpu or --paging");
		}
	}
	uint64_t len;
	if (optind + 1 != argc)
		die_usage("read: give exactly one LEN");
	if (parse_u64(argv[optind], &len) || len == 0 || len > READ_MAX)
		die_usage("read: LEN must be between 1 and 1G, not '%s'", argv[optind]);
	struct vms_target *t;
	struct vms_kernel *k;
	if (open_kernel(g, &a, &t, &k))
		return 1;
	uint64_t addr;
	uint8_t *buf = NULL;
	int rc = 0;
	if (vms_sym_lookup(k, name, &addr))
		rc = fail("%s", vms_errmsg(t));
	else if (!(buf = malloc(len)))
		rc = fail("out of memory");
	else if (vms_kernel_read(k, addr, buf, len))
		rc = fail("reading %s at 0x%" PRIx64 ": %s", name, addr, vms_errmsg(t));
	if (!rc && raw) {
		if (fwrite(buf, 1, len, stdout) != len)
			rc = fail("writing output: %s", strerror(errno));
	} else if (!rc && g->json) {
		printf("{\"sym\":");
		json_string(name);
		printf(",\"va\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 ",\"hex\":\"", addr, len);
		for (uint64_t i = 0; i < len; i++)
			printf("%02x", buf[i]);
		printf("\"}\n");
	} else if (!rc) {
		hexdump(addr, buf, len);
	}
	free(buf);
	close_kernel(t, k);
	return rc;
}

static int cmd_read(const struct globals *g, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--sym") == 0 || strncmp(argv[i], "--sym=", 6) == 0)
			return cmd_read_sym(g, argc, argv);
	static const struct option opts[] = {
		{ "pa", required_argument, NULL, 'p' },
		{ "va", required_argument, NULL, 'a' },
		ASPACE_OPTIONS,
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pa_s = NULL, *va_s = NULL;
	struct aspace_args as = { 0 };
	int raw = 0, c;
	optind = 0; /* full reset: main() already ran getopt */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (aspace_opt(&as, c))
			continue;
		switch (c) {
		case 'p': pa_s = optarg; break;
		case 'a': va_s = optarg; break;
		case 'r': raw = 1; break;
		case 'h': printf(usage_read, aspace_help); return 0;
		default: die_usage("read: bad option");
		}
	}
	uint64_t addr, len, cr3;
	unsigned vcpu;
	enum vms_paging mode;
	if (!pa_s == !va_s)
		die_usage("read: give the address with --pa ADDR or --va ADDR");
	if (parse_u64(pa_s ? pa_s : va_s, &addr))
		die_usage("read: bad address '%s'", pa_s ? pa_s : va_s);
	if (pa_s && (as.cr3 || as.vcpu || as.paging))
		die_usage("read: --cr3, --vcpu and --paging go with --va");
	aspace_check("read", &as, &cr3, &vcpu, &mode);
	if (optind + 1 != argc)
		die_usage("read: give exactly one LEN");
	if (parse_u64(argv[optind], &len) || len == 0 || len > READ_MAX)
		die_usage("read: LEN must be between 1 and 1G, not '%s'", argv[optind]);
	struct vms_target *t;
	if (open_target(g, &t))
		return 1;
	uint64_t dtb = 0;
	if (va_s && aspace_open(t, &as, &dtb)) {
		vms_close(t);
		return 1;
	}
	uint8_t *buf = malloc(len);
	if (!buf) {
		vms_close(t);
		return fail("out of memory");
	}
	size_t done = 0;
	int rc = va_s ? vms_read_va(t, dtb, addr, buf, len, &done) : vms_read_pa(t, addr, buf, len);
	if (rc) {
		int r = va_s ? fail("read %zu of %" PRIu64 " bytes: %s", done, len, vms_errmsg(t))
			     : fail("%s", vms_errmsg(t));
		free(buf);
		vms_close(t);
		return r;
	}
	if (raw) {
		if (fwrite(buf, 1, len, stdout) != len)
			rc = fail("writing output: %s", strerror(errno));
	} else if (g->json) {
		printf("{\"%s\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 ",\"hex\":\"", va_s ? "va" : "pa", addr, len);
		for (uint64_t i = 0; i < len; i++)
			printf("%02x", buf[i]);
		printf("\"}\n");
	} else {
		hexdump(addr, buf, len);
	}
	free(buf);
	vms_close(t);
	return rc ? 1 : 0;
}

/* ---- dump ---------------------------------------------------------------- */

static const char usage_dump[] =
	"usage: vmsight -t TARGET dump -o FILE [--format raw|elf] [--pause]\n"
	"\n"
	"Write all guest RAM to FILE. elf (default): an ELF core laid out like QEMU's\n"
	"dump-guest-memory (PT_LOAD per RAM range, vCPU register notes), readable by\n"
	"crash, Volatility and `vmsight -t dump:FILE`. raw: file offset = guest-physical\n"
	"address. Zero pages are left as holes. --pause stops the guest for the copy\n"
	"(consistent image) and always resumes it, also on error or Ctrl-C.\n"
	"A progress bar is shown when stderr is a terminal.\n"
	"JSON: {\"file\",\"format\",\"bytes\",\"seconds\",\"gbps\",\"paused\"}.\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int progress_bar(void *ctx, uint64_t done, uint64_t total)
{
	int show = *(int *)ctx;
	if (show) {
		int pct = total ? (int)(done * 100 / total) : 100;
		int bar = pct / 4;
		fprintf(stderr, "\r[%.*s%*s] %3d%%  %" PRIu64 "/%" PRIu64 " MiB", bar,
			"#########################", 25 - bar, "", pct, done >> 20, total >> 20);
		if (done == total)
			fputc('\n', stderr);
	}
	return interrupted;
}

static int cmd_dump(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "pause", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL, *fmt = "elf";
	int pause = 0, c;
	optind = 0; /* full reset: main() already ran getopt */
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'f': fmt = optarg; break;
		case 'P': pause = 1; break;
		case 'h': fputs(usage_dump, stdout); return 0;
		default: die_usage("dump: bad option");
		}
	}
	if (!out)
		die_usage("dump: give the output file with -o FILE");
	if (optind != argc)
		die_usage("dump: unexpected argument '%s'", argv[optind]);
	struct vms_dump_opts dopts = { .sz = sizeof(dopts) };
	if (strcmp(fmt, "elf") == 0)
		dopts.format = VMS_DUMP_ELF;
	else if (strcmp(fmt, "raw") == 0)
		dopts.format = VMS_DUMP_RAW;
	else
		die_usage("dump: format must be raw or elf, not '%s'", fmt);
	struct vms_target *t;
	if (open_target(g, &t))
		return 1;
	int show = isatty(STDERR_FILENO) && !g->json;
	dopts.progress = progress_bar;
	dopts.progress_ctx = &show;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		vms_close(t);
		return fail("cannot create %s: %s", out, strerror(errno));
	}
	int rc = 0, paused = 0;
	char err[1100] = "";
	if (pause) {
		rc = vms_pause(t);
		if (rc)
			snprintf(err, sizeof(err), "cannot pause the guest: %s", vms_errmsg(t));
		paused = rc == 0;
	}
	double t0 = now_s();
	if (!rc && (rc = vms_dump(t, fd, &dopts)))
		snprintf(err, sizeof(err), "%s", vms_errmsg(t));
	double secs = now_s() - t0;
	if (paused && vms_resume(t)) {
		fprintf(stderr, "vmsight: cannot resume the guest: %s\n", vms_errmsg(t));
		rc = rc ? rc : -EIO;
	}
	if (close(fd) != 0 && !rc) {
		rc = -errno;
		snprintf(err, sizeof(err), "closing %s: %s", out, strerror(errno));
	}
	if (rc) {
		unlink(out);
		vms_close(t);
		if (show)
			fputc('\n', stderr);
		return fail("%s", err[0] ? err : strerror(-rc));
	}
	const struct vms_ram_range *r;
	size_t nr;
	uint64_t total = 0;
	vms_ram_ranges(t, &r, &nr);
	for (size_t i = 0; i < nr; i++)
		total += r[i].len;
	double gbps = secs > 0 ? (double)total / secs / 1e9 : 0;
	if (g->json)
		printf("{\"file\":\"%s\",\"format\":\"%s\",\"bytes\":%" PRIu64 ",\"seconds\":%.3f,\"gbps\":%.2f,"
		       "\"paused\":%s}\n", out, fmt, total, secs, gbps, paused ? "true" : "false");
	else
		printf("wrote %" PRIu64 " bytes of guest RAM to %s (%s) in %.3f s, %.2f GB/s%s\n", total, out, fmt,
		       secs, gbps, paused ? ", guest paused for the copy" : "");
	vms_close(t);
	return 0;
}

/* ---- snapshot ------------------------------------------------------------ */

static const char usage_snapshot[] =
	"usage: vmsight -t TARGET snapshot -o FILE [--mode pause|background|live] [--threads N]\n"
	"       vmsight -t TARGET snapshot --shm NAME [--mode ...]\n"
	"       vmsight snapshot --diff A B\n"
	"\n"
	"Save all guest RAM and every vCPU's registers at one moment, as an ELF core\n"
	"(the layout of QEMU's dump-guest-memory plus a VMSIGHT note with the mode and\n"
	"pause time). `vmsight -t dump:FILE ...` then serves every command on it.\n"
	"  pause       stop the guest, copy RAM with one thread per CPU, resume (default)\n"
	"  background  QEMU's background-snapshot migration: the guest pauses for\n"
	"              milliseconds while QEMU write-protects RAM and streams it out\n"
	"              (needs QMP; an ivshmem device must be master=on)\n"
	"  live        copy while the guest runs: fast but NOT consistent\n"
	"--shm NAME keeps the snapshot in memory as /dev/shm/NAME.\n"
	"--diff A B lists the guest-physical page runs that differ between two snapshots.\n"
	"The guest is always resumed if vmsight paused it, also on error or Ctrl-C; a\n"
	"failed snapshot's partial file is removed.\n"
	"JSON: {file,mode,consistent,pause_ms,total_ms,ram_bytes,data_bytes,gbps};\n"
	"--diff: one {start,end,pages} per run, then {\"changed_pages\":N}.\n";

struct diff_print {
	int json;
};

static int print_diff_run(void *ctx, uint64_t gpa, uint64_t pages)
{
	const struct diff_print *d = ctx;
	uint64_t end = gpa + pages * 4096 - 1;
	if (d->json)
		printf("{\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\",\"pages\":%" PRIu64 "}\n", gpa, end,
		       pages);
	else
		printf("0x%016" PRIx64 "-0x%016" PRIx64 "  %" PRIu64 " page%s\n", gpa, end, pages, pages == 1 ? "" : "s");
	return 0;
}

static int cmd_snapshot_diff(const struct globals *g, const char *a_path, const char *b_path)
{
	char target[4200], err[1024];
	struct vms_target *a, *b;
	struct vms_open_opts o = { .sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err) };
	snprintf(target, sizeof(target), "dump:%s", a_path);
	if (vms_open(target, &o, &a))
		return fail("%s", err);
	snprintf(target, sizeof(target), "dump:%s", b_path);
	if (vms_open(target, &o, &b)) {
		vms_close(a);
		return fail("%s", err);
	}
	struct diff_print d = { g->json };
	long long n = vms_diff_pages(a, b, print_diff_run, &d);
	int rc = 0;
	if (n < 0)
		rc = fail("%s%s", vms_errmsg(a), vms_errmsg(b));
	else if (g->json)
		printf("{\"changed_pages\":%lld}\n", n);
	else
		printf("%lld page%s differ\n", n, n == 1 ? "" : "s");
	vms_close(a);
	vms_close(b);
	return rc;
}

static int cmd_snapshot(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "mode", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 'T' },
		{ "shm", required_argument, NULL, 's' },
		{ "diff", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL, *mode = "pause", *shm = NULL;
	int diff = 0, c;
	uint64_t threads = 0;
	optind = 0; /* full reset: main() already ran getopt */
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'm': mode = optarg; break;
		case 's': shm = optarg; break;
		case 'd': diff = 1; break;
		case 'T':
			if (parse_u64(optarg, &threads) || threads > 64)
				die_usage("snapshot: --threads takes 0 to 64");
			break;
		case 'h': fputs(usage_snapshot, stdout); return 0;
		default: die_usage("snapshot: bad option");
		}
	}
	if (diff) {
		if (optind + 2 != argc)
			die_usage("snapshot --diff takes two snapshot files");
		return cmd_snapshot_diff(g, argv[optind], argv[optind + 1]);
	}
	if (optind != argc)
		die_usage("snapshot: unexpected argument '%s'", argv[optind]);
	char shm_path[300];
	if (shm) {
		if (out)
			die_usage("snapshot: give -o FILE or --shm NAME, not both");
		if (!shm[0] || strchr(shm, '/') || strlen(shm) > 200)
			die_usage("snapshot: --shm takes a plain name, not a path");
		snprintf(shm_path, sizeof(shm_path), "/dev/shm/%s", shm);
		out = shm_path;
	}
	if (!out)
		die_usage("snapshot: give the output file with -o FILE (or --shm NAME)");
	struct vms_snapshot_opts so = { .sz = sizeof(so), .threads = (unsigned)threads };
	if (strcmp(mode, "pause") == 0)
		so.mode = VMS_SNAP_PAUSE;
	else if (strcmp(mode, "background") == 0)
		so.mode = VMS_SNAP_BACKGROUND;
	else if (strcmp(mode, "live") == 0)
		so.mode = VMS_SNAP_LIVE;
	else
		die_usage("snapshot: mode must be pause, background or live, not '%s'", mode);
	struct vms_target *t;
	if (open_target(g, &t))
		return 1;
	int show = isatty(STDERR_FILENO) && !g->json;
	so.progress = progress_bar;
	so.progress_ctx = &show;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		vms_close(t);
		return fail("cannot create %s: %s", out, strerror(errno));
	}
	struct vms_snapshot_stats st;
	int rc = vms_snapshot(t, fd, &so, &st);
	char err[1100];
	snprintf(err, sizeof(err), "%s", vms_errmsg(t));
	if (close(fd) != 0 && !rc) {
		rc = -errno;
		snprintf(err, sizeof(err), "closing %s: %s", out, strerror(errno));
	}
	vms_close(t);
	if (rc) {
		unlink(out);
		if (show)
			fputc('\n', stderr);
		return fail("snapshot failed: %s", err[0] ? err : strerror(-rc));
	}
	double gbps = st.total_ms > 0 ? (double)st.ram_bytes / (st.total_ms * 1e6) : 0;
	if (g->json)
		printf("{\"file\":\"%s\",\"mode\":\"%s\",\"consistent\":%s,\"pause_ms\":%.3f,\"total_ms\":%.3f,"
		       "\"ram_bytes\":%" PRIu64 ",\"data_bytes\":%" PRIu64 ",\"gbps\":%.2f}\n", out, st.mode,
		       st.consistent ? "true" : "false", st.pause_ms, st.total_ms, st.ram_bytes, st.data_bytes, gbps);
	else
		printf("snapshot %s: mode %s, %s; guest paused %.1f ms; total %.1f ms; %" PRIu64 " MiB RAM "
		       "(%" PRIu64 " MiB data), %.2f GB/s\n", out, st.mode,
		       st.consistent ? "consistent" : "NOT consistent (live copy)", st.pause_ms, st.total_ms,
		       st.ram_bytes >> 20, st.data_bytes >> 20, gbps);
	if (shm && !g->json)
		printf("read it with: vmsight -t dump:%s ...\n", out);
	return 0;
}

/* ---- watch ----------------------------------------------------------------- */

static const char usage_watch[] =
	"usage: vmsight -t TARGET watch files [--channel shm|vcpu] [--shm FILE | --socket PATH]\n"
	"                                    [--pid N] [--path GLOB] [--event KINDS]\n"
	"                                    [--count N] [--duration SECONDS] [--enrich] [--json]\n"
	"\n"
	"Print the guest's file activity as vmsight-agent reports it (docs/watch.md):\n"
	"one line per event - guest time, kind, process, uid, name, path (old -> new for\n"
	"renames) - and notices about the stream itself: agent started or restarted,\n"
	"events lost (and where), agent silent. The guest is never paused.\n"
	"\n"
	"  --channel shm|vcpu  the ivshmem ring (default when the VM has one) or the\n"
	"                      I/O-port channel (isa-debugcon socket)\n"
	"  --shm FILE          the ivshmem region's file, instead of finding it through QMP\n"
	"  --socket PATH       the isa-debugcon chardev's unix socket, likewise\n"
	"  --pid N             only events of process N\n"
	"  --path GLOB         only events whose path (or rename target) matches GLOB\n"
	"  --event KINDS       only these kinds, comma-separated: open, read, write,\n"
	"                      close_write, exec, create, delete, rename\n"
	"  --count N           stop after N events printed\n"
	"  --duration SECONDS  stop after this long (also: Ctrl-C, SIGTERM)\n"
	"  --enrich            add each process's parent and command line, read from the\n"
	"                      guest kernel's task list by introspection (not from the\n"
	"                      agent); needs -t and finds the kernel first\n"
	"\n"
	"On exit it prints totals on stderr: events received, lost (gaps in the agent's\n"
	"numbering, restarts) and the agent's own counters (drops when its channel was\n"
	"full, kernel queue overflows). JSON: one object per event {\"kind\",\"ts_ns\",\n"
	"\"host_ns\",\"id\",\"generation\",\"pid\",\"tid\",\"uid\",\"comm\",\"path\",\"path2\",\"dir\",\n"
	"\"merged\",\"result\",\"ppid\",\"cmdline\"}; notices {\"kind\":\"agent_start\"|\"lost\"|\"agent_silent\",...}; last,\n"
	"{\"kind\":\"totals\",...} on stdout. tid, uid, ppid and cmdline are null when unknown.\n"
	"Exit status 1 if the channel can not be opened or goes away.\n";

/* Text from the guest: escape what could steer a terminal. */
static void put_text(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else if (*p == '\\')
			fputs("\\\\", stdout);
		else
			putchar(*p);
	}
}

static void print_file_event(const struct globals *g, const struct vms_file_event *e)
{
	const char *kind = vms_fev_kind_name(e->kind);
	if (g->json) {
		printf("{\"kind\":\"%s\",\"ts_ns\":%" PRIu64 ",\"host_ns\":%" PRIu64 ",\"id\":%" PRIu64
		       ",\"generation\":%u,\"pid\":%d,", kind, e->ts_ns, e->host_ns, e->event_id, e->generation, e->pid);
		if (e->tid >= 0)
			printf("\"tid\":%d,", e->tid);
		else
			printf("\"tid\":null,");
		if (e->uid >= 0)
			printf("\"uid\":%" PRId64 ",", e->uid);
		else
			printf("\"uid\":null,");
		printf("\"comm\":");
		json_string(e->comm);
		printf(",\"path\":");
		json_string(e->path);
		if (e->kind == VMS_FEV_RENAME) {
			printf(",\"path2\":");
			json_string(e->path2);
		}
		printf(",\"dir\":%s,\"merged\":%s,\"result\":%d,", e->flags & VMS_FEV_F_DIR ? "true" : "false",
		       e->flags & VMS_FEV_F_MERGED ? "true" : "false", e->result);
		if (e->ppid >= 0)
			printf("\"ppid\":%d,", e->ppid);
		else
			printf("\"ppid\":null,");
		printf("\"cmdline\":");
		if (e->cmdline)
			json_string(e->cmdline);
		else
			printf("null");
		printf("}\n");
		return;
	}
	printf("%6" PRIu64 ".%06" PRIu64 " %-11s pid %-6d uid %-5" PRId64 " %-16s ", (uint64_t)(e->ts_ns / 1000000000u),
	       (uint64_t)(e->ts_ns / 1000u % 1000000u), kind, e->pid, e->uid, e->comm);
	put_text(e->path);
	if (e->kind == VMS_FEV_RENAME) {
		fputs(" -> ", stdout);
		put_text(e->path2);
	}
	if (e->flags & VMS_FEV_F_DIR)
		fputs(" (dir)", stdout);
	if (e->flags & VMS_FEV_F_MERGED)
		fputs(" (merged)", stdout);
	if (e->ppid >= 0) {
		printf("  [ppid %d", e->ppid);
		if (e->cmdline) {
			fputs(": ", stdout);
			put_text(e->cmdline);
		}
		putchar(']');
	}
	putchar('\n');
}

static void print_notice(const struct globals *g, const struct vms_file_event *e)
{
	if (g->json) {
		printf("{\"kind\":\"%s\",\"host_ns\":%" PRIu64 ",\"generation\":%u", vms_fev_kind_name(e->kind),
		       e->host_ns, e->generation);
		if (e->kind == VMS_FEV_AGENT_START)
			printf(",\"pid\":%d,\"ts_ns\":%" PRIu64, e->pid, e->ts_ns);
		if (e->kind == VMS_FEV_LOST)
			printf(",\"lost\":%" PRIu64, e->lost);
		printf(",\"detail\":");
		json_string(e->path);
		printf("}\n");
		return;
	}
	if (e->kind == VMS_FEV_AGENT_START)
		printf("-- agent started: pid %d, run %u: ", e->pid, e->generation);
	else if (e->kind == VMS_FEV_LOST && e->lost)
		printf("-- LOST %" PRIu64 " event%s: ", e->lost, e->lost == 1 ? "" : "s");
	else if (e->kind == VMS_FEV_LOST)
		printf("-- LOST events: ");
	else
		printf("-- ");
	put_text(e->path);
	putchar('\n');
}

/* --count N and --duration SECONDS, as watch and trace take them: 1 if C
 * was one of them. */
static int stream_opt(const char *cmd, int c, uint64_t *count, double *duration)
{
	char *end;
	switch (c) {
	case 'n':
		if (parse_u64(optarg, count) || *count == 0)
			die_usage("%s: --count takes a positive number", cmd);
		return 1;
	case 'd':
		*duration = strtod(optarg, &end);
		if (*end || !(*duration > 0))
			die_usage("%s: --duration takes seconds > 0", cmd);
		return 1;
	default:
		return 0;
	}
}

/* A comma-separated list of event kinds into a bit mask (1 << kind), each
 * named by PARSE and within [LO, HI]. */
static int parse_kinds(const char *list, int (*parse)(const char *), int lo, int hi, uint32_t *mask)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	*mask = 0;
	for (char *save = NULL, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		int v = parse(k);
		if (v < lo || v > hi)
			return -1;
		*mask |= 1u << v;
	}
	return *mask ? 0 : -1;
}

static int cmd_watch(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "channel", required_argument, NULL, 'c' }, { "shm", required_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 'k' },  { "pid", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },    { "event", required_argument, NULL, 'e' },
		{ "count", required_argument, NULL, 'n' },   { "duration", required_argument, NULL, 'd' },
		{ "enrich", no_argument, NULL, 'E' },        { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vms_watch_opts wo = { .sz = sizeof(wo), .timeout_ms = g->timeout_ms };
	int enrich = 0;
	uint64_t pid = 0, count = 0;
	int c;
	double duration = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (stream_opt("watch", c, &count, &duration))
			continue;
		switch (c) {
		case 'c': wo.channel = optarg; break;
		case 'm': wo.shm_path = optarg; break;
		case 'k': wo.socket_path = optarg; break;
		case 'p':
			if (parse_u64(optarg, &pid) || pid == 0 || pid > INT32_MAX)
				die_usage("watch: bad pid '%s'", optarg);
			wo.pid = (int32_t)pid;
			break;
		case 'P': wo.path_glob = optarg; break;
		case 'e':
			if (parse_kinds(optarg, vms_fev_kind_parse, VMS_FEV_OPEN, VMS_FEV_RENAME, &wo.kinds))
				die_usage("watch: bad --event list '%s'", optarg);
			break;
		case 'E': enrich = 1; break;
		case 'h': fputs(usage_watch, stdout); return 0;
		default: die_usage("watch: bad option");
		}
	}
	if (optind + 1 != argc || strcmp(argv[optind], "files") != 0)
		die_usage("watch: say what to watch: `watch files`");
	if (wo.channel && strcmp(wo.channel, "shm") != 0 && strcmp(wo.channel, "vcpu") != 0)
		die_usage("watch: --channel is shm or vcpu, not '%s'", wo.channel);
	if (wo.shm_path && wo.socket_path)
		die_usage("watch: give --shm or --socket, not both");
	if (!wo.shm_path && !wo.socket_path && !g->target)
		die_usage("watch: no target: give -t qmp:PATH, --shm FILE or --socket PATH");
	if (wo.shm_path && !wo.channel)
		wo.channel = "shm";
	if (wo.socket_path && !wo.channel)
		wo.channel = "vcpu";
	wo.target = g->target;
	struct vms_target *t = NULL;
	struct vms_kernel *k = NULL;
	if (enrich) {
		struct kernel_args ka = { 0 };
		if (!g->target)
			die_usage("watch: --enrich needs -t TARGET");
		if (open_kernel(g, &ka, &t, &k))
			return 1;
		wo.kernel = k;
	}
	char err[1024] = "";
	wo.errbuf = err;
	wo.errbuf_len = sizeof(err);
	struct vms_watch *w;
	if (vms_watch_open(&wo, &w)) {
		if (k)
			close_kernel(t, k);
		return fail("%s", err);
	}
	if (g->verbose)
		fprintf(stderr, "vmsight: watching channel %s: %s\n", vms_watch_channel(w), vms_watch_detail(w));
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	double t_end = duration > 0 ? now_s() + duration : 0;
	uint64_t printed = 0;
	int rc = 0;
	while (!interrupted && (!count || printed < count)) {
		struct vms_file_event e;
		int r = vms_watch_next(w, &e, 0);
		if (r == 0) {
			/* Nothing waiting: show what we have, then wait a little. */
			fflush(stdout);
			int wait_ms = 200;
			if (t_end) {
				double left = t_end - now_s();
				if (left <= 0)
					break;
				if (left * 1000 < wait_ms)
					wait_ms = (int)(left * 1000) + 1;
			}
			r = vms_watch_next(w, &e, wait_ms);
		}
		if (r < 0) {
			rc = fail("%s", vms_watch_errmsg(w));
			break;
		}
		if (r == 0)
			continue;
		if (e.kind > VMS_FEV_RENAME) {
			print_notice(g, &e);
			continue;
		}
		print_file_event(g, &e);
		printed++;
		if (t_end && now_s() >= t_end)
			break;
	}
	struct vms_watch_stats st;
	vms_watch_stats(w, &st);
	if (g->json)
		printf("{\"kind\":\"totals\",\"channel\":\"%s\",\"received\":%" PRIu64 ",\"printed\":%" PRIu64
		       ",\"filtered\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"agent_dropped\":%" PRIu64
		       ",\"agent_dropped_total\":%" PRIu64 ",\"agent_overflows\":%" PRIu64 ",\"malformed\":%" PRIu64
		       ",\"agent_starts\":%" PRIu64 "}\n",
		       vms_watch_channel(w), st.received, printed, st.filtered, st.lost, st.agent_dropped,
		       st.agent_dropped_total, st.agent_overflows, st.malformed, st.agent_starts);
	fflush(stdout);
	fprintf(stderr, "vmsight: watch: %" PRIu64 " events received (%" PRIu64 " printed, %" PRIu64
		" filtered out), %" PRIu64 " lost; agent counters since start of watch: %" PRIu64 " dropped (channel full; %" PRIu64
		" in all), %" PRIu64 " kernel queue overflows; %" PRIu64 " malformed; %" PRIu64 " agent run%s seen\n",
		st.received, printed, st.filtered, st.lost, st.agent_dropped, st.agent_dropped_total, st.agent_overflows,
		st.malformed, st.agent_starts, st.agent_starts == 1 ? "" : "s");
	vms_watch_close(w);
	if (k)
		close_kernel(t, k);
	return rc;
}

/* ---- trace: agentless, through the GDB stub --------------------------------- */

static const char usage_trace[] =
	"usage: vmsight -t TARGET trace files|syscalls|calls SYMBOL... [--pid N] [--cr3 ADDR]\n"
	"                                     [--event KINDS] [--count N]\n"
	"                                     [--duration SECONDS] [--gdb HOST:PORT] [--hw]\n"
	"                                     [--step-remove|--step-keep] [--json]\n"
	"\n"
	"Trace the guest with breakpoints through QEMU's GDB stub: nothing runs in the\n"
	"guest (docs/trace.md). The kernel is found first (symbols and types); every\n"
	"hit stops the guest briefly while vmsight reads it, so the guest runs slower\n"
	"while traced. On exit (also Ctrl-C, SIGTERM, errors) every breakpoint is\n"
	"removed and the guest runs on.\n"
	"\n"
	"  files     opens (flags, fd or error), reads and writes (count, offset,\n"
	"            bytes), unlinks and rmdirs, renames; full paths; pid, tid, comm\n"
	"  syscalls  x86-64 system calls: number, name, six raw arguments, result\n"
	"            (--list: the guest kernel's table, number and name, and exit)\n"
	"  calls SYMBOL...  calls of these kernel functions: the six argument registers\n"
	"            at the entry, the return value (RAX) at the return\n"
	"\n"
	"  --pid N             only process N (filtered on the host at each hit)\n"
	"  --cr3 ADDR          only calls in this address space (a CR3 value, as \"cr3\"\n"
	"                      in the JSON output)\n"
	"  --event KINDS       files: only these kinds, comma-separated: open, read,\n"
	"                      write, unlink, rename (fewer breakpoints, fewer stops)\n"
	"  --count N           stop after N events\n"
	"  --duration SECONDS  stop after this long\n"
	"  --gdb HOST:PORT     the GDB stub (default: found through the target's QMP)\n"
	"  --hw                hardware breakpoints only (KVM: at most 4)\n"
	"  --step-remove       remove a breakpoint to step over it (needed under KVM)\n"
	"  --step-keep         step over it in place (TCG); default: chosen from QEMU's\n"
	"                      accelerator, through QMP\n"
	"\n"
	"Output: one line per call, when it returns: host time, vCPU, pid, tid, comm,\n"
	"kind, details, result (-errno names the error). JSON: {\"event\",\"host_ns\",\"cpu\",\n"
	"\"pid\",\"tid\",\"cr3\",\"comm\", then files: \"path\",\"path2\",\"flags\",\"mode\",\"count\",\n"
	"\"offset\",\"dir\"; syscalls: \"nr\",\"name\",\"args\"; calls: \"function\",\"args\";\n"
	"and \"result\" (null if unknown)}.\n"
	"Totals (stops, hits, filtered, returns, per-stop cost) on stderr at the end.\n"
	"Exit status 1 if the stub is missing or busy, or the kernel can not be found.\n";

struct trace_out {
	const struct globals *g;
	uint64_t printed, count;
};

static int print_trace_event(void *ctx, const struct vms_trace_event *e)
{
	struct trace_out *o = ctx;
	int known = !(e->flags & VMS_TEV_F_NORESULT);
	const char *kind = e->kind == VMS_TEV_SYSCALL ? (e->nr < 0 ? "call" : "syscall") : vms_tev_kind_name(e->kind);
	if (o->g->json) {
		printf("{\"event\":\"%s\",\"host_ns\":%" PRIu64 ",\"cpu\":%u,\"pid\":%d,\"tid\":%d,\"cr3\":\"0x%" PRIx64
		       "\",\"comm\":", kind, e->host_ns, e->vcpu, e->pid, e->tid, e->dtb);
		json_string(e->comm);
		if (e->kind == VMS_TEV_SYSCALL && e->nr < 0) {
			printf(",\"function\":");
			json_string(e->name);
			printf(",\"args\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", e->args[0], e->args[1],
			       e->args[2], e->args[3]);
		} else if (e->kind == VMS_TEV_SYSCALL) {
			printf(",\"nr\":%d,\"name\":", e->nr);
			json_string(e->name);
			printf(",\"args\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
			       e->args[0], e->args[1], e->args[2], e->args[3], e->args[4], e->args[5]);
		} else {
			printf(",\"path\":");
			json_string(e->path);
			if (e->kind == VMS_TEV_RENAME) {
				printf(",\"path2\":");
				json_string(e->path2);
			}
			if (e->kind == VMS_TEV_OPEN)
				printf(",\"flags\":%u,\"mode\":%u", e->open_flags, e->mode);
			if (e->kind == VMS_TEV_READ || e->kind == VMS_TEV_WRITE)
				printf(",\"count\":%" PRIu64 ",\"offset\":%" PRId64, e->count, e->offset);
			if (e->kind == VMS_TEV_UNLINK)
				printf(",\"dir\":%s", e->flags & VMS_TEV_F_DIR ? "true" : "false");
		}
		if (known)
			printf(",\"result\":%" PRId64 "}\n", e->result);
		else
			printf(",\"result\":null}\n");
	} else {
		printf("%" PRIu64 ".%06" PRIu64 " cpu%u %6d %6d %-16s ", e->host_ns / 1000000000u,
		       e->host_ns / 1000u % 1000000u, e->vcpu, e->pid, e->tid, e->comm);
		if (e->kind == VMS_TEV_SYSCALL) {
			if (e->name[0])
				printf("%s(", e->name);
			else
				printf("syscall_%d(", e->nr);
			for (int i = 0; i < (e->nr < 0 ? 4 : 6); i++)
				printf("%s0x%" PRIx64, i ? ", " : "", e->args[i]);
			putchar(')');
		} else {
			printf("%-6s ", kind);
			put_text(e->path);
			if (e->kind == VMS_TEV_RENAME) {
				fputs(" -> ", stdout);
				put_text(e->path2);
			}
			if (e->kind == VMS_TEV_OPEN)
				printf(" flags 0%o", e->open_flags);
			if (e->kind == VMS_TEV_READ || e->kind == VMS_TEV_WRITE)
				printf(" count %" PRIu64 " offset %" PRId64, e->count, e->offset);
			if (e->flags & VMS_TEV_F_DIR)
				fputs(" (dir)", stdout);
		}
		if (!known)
			fputs(" = ?\n", stdout);
		else if (e->result < 0 && e->result >= -4095)
			printf(" = -1 %s\n", strerror((int)-e->result));
		else
			printf(" = %" PRId64 "\n", e->result);
	}
	o->printed++;
	return o->count && o->printed >= o->count;
}

/* `trace calls`: each probed function's arguments at entry, its value at return. */
struct call_probe {
	struct trace_out *out;
	const char *name;
};

static int call_entry(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit)
{
	const struct vms_regs *r = hit->regs;
	(void)ctx;
	(void)tr;
	/* what the return needs, besides the registers then: the entry's
	 * argument registers do not survive the call */
	hit->cookie[0] = r->rdi;
	hit->cookie[1] = r->rsi;
	hit->cookie[2] = r->rdx;
	hit->cookie[3] = r->rcx;
	return VMS_PROBE_RETURN;
}

static int call_return(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit)
{
	const struct call_probe *cp = ctx;
	struct vms_trace_event e = { .kind = VMS_TEV_SYSCALL, .host_ns = hit->host_ns, .vcpu = hit->vcpu,
				     .pid = hit->pid, .tid = hit->tid, .comm = hit->comm, .dtb = hit->dtb, .path = "", .path2 = "",
				     .nr = -1, .name = cp->name, .result = (int64_t)hit->regs->rax };
	(void)tr;
	memcpy(e.args, hit->cookie, sizeof(hit->cookie));
	return print_trace_event(cp->out, &e) ? VMS_PROBE_STOP : 0;
}

static int print_syscall_name(void *ctx, int nr, const char *name)
{
	const struct globals *g = ctx;
	if (g->json) {
		printf("{\"nr\":%d,\"name\":", nr);
		json_string(name);
		printf("}\n");
	} else {
		printf("%4d %s\n", nr, name);
	}
	return 0;
}

static double per_stop(uint64_t ns, uint64_t stops)
{
	return stops ? (double)ns / 1000.0 / (double)stops : 0.0;
}

static struct vms_tracer *trace_tracer;

static void trace_signal(int sig)
{
	interrupted = 1;
	if (trace_tracer)
		vms_tracer_stop(trace_tracer);
	(void)sig;
}

static int cmd_trace(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		KERNEL_OPTIONS,
		{ "pid", required_argument, NULL, 'p' },      { "event", required_argument, NULL, 'e' },
		{ "count", required_argument, NULL, 'n' },    { "duration", required_argument, NULL, 'd' },
		{ "gdb", required_argument, NULL, 'g' },      { "hw", no_argument, NULL, 'H' },
		{ "step-remove", no_argument, NULL, 'R' },    { "step-keep", no_argument, NULL, 'K' },
		{ "list", no_argument, NULL, 'L' },           { "cr3", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct kernel_args ka = { 0 };
	struct vms_tracer_opts to = { .sz = sizeof(to), .timeout_ms = g->timeout_ms };
	struct vms_trace_opts tro = { .sz = sizeof(tro) };
	struct trace_out out = { .g = g };
	uint64_t v;
	double duration = 0;
	int c, list = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (kernel_opt(&ka, c) || stream_opt("trace", c, &out.count, &duration))
			continue;
		switch (c) {
		case 'L': list = 1; break;
		case 'C':
			if (parse_u64(optarg, &tro.dtb) || tro.dtb == 0)
				die_usage("trace: bad --cr3 '%s'", optarg);
			break;
		case 'p':
			if (parse_u64(optarg, &v) || v == 0 || v > INT32_MAX)
				die_usage("trace: bad pid '%s'", optarg);
			tro.pid = (int32_t)v;
			break;
		case 'e':
			if (parse_kinds(optarg, vms_tev_kind_parse, VMS_TEV_OPEN, VMS_TEV_RENAME, &tro.kinds))
				die_usage("trace: bad --event list '%s'", optarg);
			break;
		case 'g': to.gdb = optarg; break;
		case 'H': to.hardware = 1; break;
		case 'R': to.step_remove = 1; break;
		case 'K': to.step_remove = -1; break;
		case 'h': fputs(usage_trace, stdout); return 0;
		default: die_usage("trace: bad option");
		}
	}
	int calls = optind < argc && strcmp(argv[optind], "calls") == 0;
	if (calls ? optind + 1 >= argc
		  : optind + 1 != argc || (strcmp(argv[optind], "files") && strcmp(argv[optind], "syscalls")))
		die_usage("trace: say what to trace: `trace files`, `trace syscalls` or `trace calls SYMBOL...`");
	int syscalls = strcmp(argv[optind], "syscalls") == 0;
	if (!strcmp(argv[optind], "files") ? 0 : tro.kinds)
		die_usage("trace: --event is for `trace files`");
	if (calls && argc - optind - 1 > 64)
		die_usage("trace: at most 64 functions");
	if (list && !syscalls)
		die_usage("trace: --list is for `trace syscalls`");
	struct vms_target *t;
	struct vms_kernel *k;
	if (open_kernel(g, &ka, &t, &k))
		return 1;
	if (list) {
		int lrc = vms_syscall_names(k, print_syscall_name, (void *)g);
		if (lrc)
			lrc = fail("%s", vms_errmsg(t));
		close_kernel(t, k);
		return lrc ? 1 : 0;
	}
	char err[1024] = "";
	to.kernel = k;
	to.errbuf = err;
	to.errbuf_len = sizeof(err);
	struct vms_tracer *tr;
	if (vms_tracer_open(t, &to, &tr)) {
		close_kernel(t, k);
		return fail("%s", err);
	}
	struct call_probe cps[64];
	int rc = 0;
	if (calls) {
		struct vms_probe_opts po = { .sz = sizeof(po), .pid = tro.pid, .dtb = tro.dtb, .on_return = call_return };
		for (int i = optind + 1; i < argc && rc >= 0; i++) {
			cps[i - optind - 1] = (struct call_probe){ &out, argv[i] };
			rc = vms_tracer_probe(tr, argv[i], 0, &po, call_entry, &cps[i - optind - 1]);
		}
	} else {
		rc = syscalls ? vms_trace_syscalls(tr, k, &tro, print_trace_event, &out)
			      : vms_trace_files(tr, k, &tro, print_trace_event, &out);
	}
	if (rc < 0) {
		rc = fail("%s", vms_tracer_errmsg(tr));
	} else {
		trace_tracer = tr;
		struct sigaction sa = { .sa_handler = trace_signal };
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		if (g->verbose)
			fprintf(stderr, "vmsight: tracing %s; the guest runs\n", argv[optind]);
		double t_end = duration > 0 ? now_s() + duration : 0;
		for (;;) {
			int slice = 200;
			if (t_end) {
				double left = t_end - now_s();
				if (left <= 0)
					break;
				if (left * 1000 < slice)
					slice = (int)(left * 1000) + 1;
			}
			rc = vms_tracer_run(tr, slice);
			fflush(stdout);
			if (rc < 0) {
				rc = fail("%s", vms_tracer_errmsg(tr));
				break;
			}
			if ((out.count && out.printed >= out.count) || ferror(stdout) || interrupted)
				break;
		}
	}
	struct vms_tracer_stats st;
	vms_tracer_stats(tr, &st);
	int crc = vms_tracer_close(tr);
	trace_tracer = NULL;
	if (crc < 0 && rc == 0)
		rc = fail("detaching: some breakpoints may remain until QEMU drops them");
	fprintf(stderr, "vmsight: trace: %" PRIu64 " events printed; %" PRIu64 " stops, %" PRIu64 " hits, %" PRIu64
		" filtered, %" PRIu64 " returns (%" PRIu64 " unmatched, %" PRIu64 " calls not followed), %" PRIu64
		" foreign stops; %.1f us per stop handled (registers %.1f, step %.1f); %s breakpoints, %s\n",
		out.printed, st.stops, st.hits, st.filtered, st.returns, st.stray_returns, st.lost_returns, st.foreign,
		per_stop(st.handled_ns, st.stops), per_stop(st.regs_ns, st.stops), per_stop(st.step_ns, st.stops),
		st.hardware ? "hardware" : "software",
		st.step_remove ? "removed to step" : "stepped in place");
	close_kernel(t, k);
	return rc ? 1 : 0;
}

/* ---- Linux views: ps, lsmod, lsof, maps, dmesg ----------------------------- */

/* Options every view takes: the kernel's, and --pause. */
struct view_args {
	struct kernel_args k;
	int pause;
};

#define VIEW_OPTIONS KERNEL_OPTIONS, { "pause", no_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' }

static const char view_help[] =
	"  --pause            pause the guest for the view (a consistent look) and resume it\n"
	"                     after, also on error or Ctrl-C\n";

/* A view's target and kernel, with the guest paused when asked (and only
 * if it was running: a guest paused by someone else stays paused). */
struct view {
	struct vms_target *t;
	struct vms_kernel *k;
	int paused;
};

static volatile sig_atomic_t view_stop;

static void view_signal(int sig)
{
	(void)sig;
	view_stop = 1;
}

/* The callbacks stop the walk on a signal, or when the output is gone
 * (SIGPIPE is ignored while the guest is paused). */
static int view_stopped(void)
{
	return view_stop || ferror(stdout);
}

static int view_open(const struct globals *g, const struct view_args *a, struct view *v)
{
	memset(v, 0, sizeof(*v));
	if (a->pause) {
		/* Ctrl-C, a kill or a closed pipe stop the walk; the guest is resumed. */
		struct sigaction sa = { .sa_handler = view_signal };
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		if (open_target(g, &v->t))
			return 1;
		int running = vms_is_running(v->t);
		if (running == -ENOTSUP)
			running = 0; /* a dump: nothing runs, nothing to pause */
		if (running < 0 || (running == 1 && vms_pause(v->t))) {
			fail("cannot pause the guest: %s", vms_errmsg(v->t));
			vms_close(v->t);
			return 1;
		}
		v->paused = running == 1;
		struct vms_kernel_opts o = { .sz = sizeof(o), .cache_dir = a->k.cache_dir,
					     .no_cache = a->k.no_cache, .system_map = a->k.system_map, .isf = a->k.isf };
		if (!view_stop && vms_kernel_open(v->t, &o, &v->k) == 0)
			return 0;
		fail("cannot find the kernel: %s", view_stop ? "interrupted" : vms_errmsg(v->t));
		if (v->paused && vms_resume(v->t))
			fail("cannot resume the guest: %s", vms_errmsg(v->t));
		vms_close(v->t);
		return 1;
	}
	return open_kernel(g, &a->k, &v->t, &v->k);
}

/* Closes the view, resuming the guest if it paused it; RC passed through
 * (1 if resuming failed). */
static int view_close(struct view *v, int rc)
{
	vms_kernel_close(v->k);
	if (v->paused && vms_resume(v->t))
		rc = fail("cannot resume the guest: %s", vms_errmsg(v->t));
	vms_close(v->t);
	return rc;
}

/* The walk's outcome: its error, or a stop by signal; the stats of entries
 * read again or unreadable go to stderr, so a torn look is not silent. */
static int view_result(struct view *v, int rc, const char *what, const struct vms_view_stats *st)
{
	if (st->unreadable)
		fprintf(stderr, "vmsight: %u %s unreadable (changed while read, or corrupt)\n", st->unreadable, what);
	if (view_stop)
		return fail("interrupted");
	if (fflush(stdout) || ferror(stdout))
		return fail("writing the output failed");
	if (rc < 0)
		return fail("%s", vms_errmsg(v->t));
	return 0;
}

static int view_opt(struct view_args *a, int c)
{
	if (kernel_opt(&a->k, c))
		return 1;
	if (c == 'P') {
		a->pause = 1;
		return 1;
	}
	return 0;
}

/* Options of a view command that has only the common ones (kernel, --pause,
 * --help). Returns 1 when --help was printed: the command then returns 0. */
static int view_parse_common(int argc, char **argv, const char *cmd, const char *usage, struct view_args *a)
{
	static const struct option opts[] = { VIEW_OPTIONS, { 0 } };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (view_opt(a, c))
			continue;
		if (c == 'h') {
			printf(usage, view_help, kernel_help);
			return 1;
		}
		die_usage("%s: bad option", cmd);
	}
	return 0;
}

static int parse_pid(const char *cmd, const char *s)
{
	uint64_t pid;
	if (parse_u64(s, &pid) || pid == 0 || pid > INT32_MAX)
		die_usage("%s: bad pid '%s'", cmd, s);
	return (int)pid;
}

/* Guest bytes of a given length (a command line) as text: NULs as spaces,
 * a trailing one dropped, the rest as put_text prints strings. */
static void put_guest_text(const char *p, size_t len)
{
	if (len && p[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == 0)
			putchar(' ');
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else if (c == '\\')
			fputs("\\\\", stdout);
		else
			putchar(c);
	}
}

/* The same as a JSON string: valid UTF-8 passes, other bytes >= 0x80 are
 * written as the code point of the same value, so the output is always
 * valid JSON whatever the guest holds. */
static void put_guest_json(const char *p, size_t len)
{
	if (len && p[len - 1] == '\0')
		len--;
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
		if (c >= 0x80 && n > 1 && i + n <= len) {
			size_t j = 1;
			while (j < n && ((unsigned char)p[i + j] & 0xc0) == 0x80)
				j++;
			if (j == n) {
				fwrite(p + i, 1, n, stdout);
				i += n - 1;
				continue;
			}
		}
		if (c == 0)
			putchar(' ');
		else if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void put_guest_str_json(const char *s)
{
	put_guest_json(s, strlen(s));
}

/* ---- ps ---- */

static const char usage_ps[] =
	"usage: vmsight -t TARGET ps [-T] [--tree] [--pid N] [--pause] [options]\n"
	"\n"
	"List the guest's processes from the kernel's task list: pid, parent, user and\n"
	"group ids, state (R S D T t X Z P I), start time (seconds since boot), name and\n"
	"the full command line, read from each process's own memory. Kernel threads\n"
	"show their name in brackets. -T lists every thread (TID) under its process;\n"
	"--tree orders processes under their parents; --pid N shows one process.\n"
	"\n"
	"%s"
	"%s"
	"\n"
	"JSON, one object per process (per thread with -T): {pid,ppid,tgid,uid,gid,euid,\n"
	"egid,suid,sgid,fsuid,fsgid,state,comm,name,cmdline,start_ns,threads,kthread,thread,\n"
	"addr} (name: as /proc shows it, a kernel thread's full name); with -T pid is the\n"
	"thread's id and tgid its process's. \"unreadable\":true marks a task that kept\n"
	"changing while read (only pid 0 and addr are then meaningful).\n";

/* A task kept for --tree: copied out of the callback. */
struct ps_row {
	struct vms_task t;
	char *cmdline;
};

struct ps_out {
	const struct globals *g;
	int threads, tree;
	struct ps_row *rows;
	size_t n, cap;
	int oom;
};

static void ps_header(const struct ps_out *o)
{
	if (o->threads)
		printf("%7s %7s %7s %5s %5s %s %9s %-16s %s\n", "PID", "TID", "PPID", "UID", "GID", "S", "START",
		       "COMM", "COMMAND");
	else
		printf("%7s %7s %5s %5s %s %9s %4s %-16s %s\n", "PID", "PPID", "UID", "GID", "S", "START", "THR",
		       "COMM", "COMMAND");
}

static void ps_print(const struct ps_out *o, const struct vms_task *t, int depth)
{
	const struct globals *g = o->g;
	int bad = (t->flags & VMS_ENTRY_UNREADABLE) != 0;
	if (g->json) {
		if (bad) {
			printf("{\"pid\":0,\"unreadable\":true,\"addr\":\"0x%" PRIx64 "\"}\n", t->addr);
			return;
		}
		printf("{\"pid\":%d,\"ppid\":%d,\"tgid\":%d,\"uid\":%u,\"gid\":%u,\"euid\":%u,\"egid\":%u,\"suid\":%u,"
		       "\"sgid\":%u,\"fsuid\":%u,\"fsgid\":%u,\"state\":\"%c\",\"comm\":",
		       t->pid, t->ppid, t->tgid, t->uid, t->gid, t->euid, t->egid, t->suid, t->sgid, t->fsuid, t->fsgid,
		       t->state);
		put_guest_str_json(t->comm);
		printf(",\"name\":");
		put_guest_str_json(t->name);
		printf(",\"cmdline\":");
		put_guest_json(t->cmdline, t->cmdline_len);
		printf(",\"start_ns\":%" PRIu64 ",\"threads\":%d,\"kthread\":%s,\"thread\":%s,\"addr\":\"0x%" PRIx64 "\"",
		       t->start_ns, t->nthreads, t->flags & VMS_TASK_KTHREAD ? "true" : "false",
		       t->flags & VMS_TASK_THREAD ? "true" : "false", t->addr);
		if (t->flags & VMS_ENTRY_TRUNCATED)
			printf(",\"truncated\":true");
		if (t->flags & VMS_TASK_CMDLINE_UNREADABLE)
			printf(",\"cmdline_unreadable\":true");
		printf("}\n");
		return;
	}
	if (bad) {
		printf("%7s (task_struct at 0x%" PRIx64 " unreadable)\n", "?", t->addr);
		return;
	}
	char start[32];
	snprintf(start, sizeof(start), "%.2f", (double)t->start_ns / 1e9);
	if (o->threads)
		printf("%7d %7d %7d %5u %5u %c %9s %-16s ", t->tgid, t->pid, t->ppid, t->uid, t->gid, t->state, start,
		       t->comm);
	else
		printf("%7d %7d %5u %5u %c %9s %4d %-16s ", t->pid, t->ppid, t->uid, t->gid, t->state, start,
		       t->nthreads, t->comm);
	for (int i = 0; i < depth; i++)
		fputs(i + 1 == depth ? " \\_ " : "    ", stdout);
	if (t->cmdline_len)
		put_guest_text(t->cmdline, t->cmdline_len);
	else if (t->flags & VMS_TASK_KTHREAD)
		printf("[%s]", t->name);
	else
		printf("{%s}", t->name);
	putchar('\n');
}

static int ps_row(void *ctx, const struct vms_task *t)
{
	struct ps_out *o = ctx;
	if (view_stopped())
		return 1;
	if (!o->tree) {
		ps_print(o, t, 0);
		return 0;
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;
		struct ps_row *r = realloc(o->rows, cap * sizeof(*r));
		if (!r) {
			o->oom = 1;
			return 1;
		}
		o->rows = r;
		o->cap = cap;
	}
	struct ps_row *r = &o->rows[o->n];
	r->t = *t;
	r->cmdline = t->cmdline_len ? malloc(t->cmdline_len) : NULL;
	if (t->cmdline_len && !r->cmdline) {
		o->oom = 1;
		return 1;
	}
	if (r->cmdline)
		memcpy(r->cmdline, t->cmdline, t->cmdline_len);
	r->t.cmdline = r->cmdline ? r->cmdline : "";
	o->n++;
	return 0;
}

/* --tree: each process under its parent (threads right after their
 * process), depth first; processes whose parent is not listed are roots. */
static void ps_tree(struct ps_out *o)
{
	size_t n = o->n;
	int *depth = calloc(n ? n : 1, sizeof(int));
	size_t *stack = malloc((n ? n : 1) * sizeof(size_t));
	char *done = calloc(n ? n : 1, 1);
	if (!depth || !stack || !done) {
		free(depth);
		free(stack);
		free(done);
		for (size_t i = 0; i < n; i++)
			ps_print(o, &o->rows[i].t, 0);
		return;
	}
	for (size_t root = 0; root < n; root++) {
		const struct vms_task *rt = &o->rows[root].t;
		if (done[root] || (rt->flags & VMS_TASK_THREAD))
			continue;
		int has_parent = 0;
		for (size_t j = 0; j < n && rt->ppid; j++)
			has_parent |= !(o->rows[j].t.flags & VMS_TASK_THREAD) && o->rows[j].t.pid == rt->ppid && j != root;
		if (has_parent)
			continue;
		size_t sp = 0;
		stack[sp++] = root;
		depth[root] = 0;
		while (sp) {
			size_t i = stack[--sp];
			if (done[i])
				continue;
			done[i] = 1;
			ps_print(o, &o->rows[i].t, depth[i]);
			/* Its threads, then its children pushed in reverse so they print in order. */
			for (size_t j = i + 1; j < n && (o->rows[j].t.flags & VMS_TASK_THREAD); j++) {
				done[j] = 1;
				ps_print(o, &o->rows[j].t, depth[i] + 1);
			}
			for (size_t j = n; j-- > 0;)
				if (!done[j] && !(o->rows[j].t.flags & VMS_TASK_THREAD) && o->rows[j].t.ppid == o->rows[i].t.pid &&
				    o->rows[i].t.pid) {
					depth[j] = depth[i] + 1;
					stack[sp++] = j;
				}
		}
	}
	for (size_t i = 0; i < n; i++) /* anything left (a parent loop in a hostile guest) */
		if (!done[i])
			ps_print(o, &o->rows[i].t, 0);
	free(depth);
	free(stack);
	free(done);
}

static int cmd_ps(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { VIEW_OPTIONS, { "threads", no_argument, NULL, 'T' },
					      { "tree", no_argument, NULL, 'R' }, { "pid", required_argument, NULL, 'p' },
					      { 0 } };
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_tasks_opts to = { .sz = sizeof(to), .stats = &st };
	struct ps_out o = { .g = g };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "hT", opts, NULL)) != -1) {
		if (view_opt(&a, c))
			continue;
		switch (c) {
		case 'T': to.threads = o.threads = 1; break;
		case 'R': o.tree = 1; break;
		case 'p': to.pid = parse_pid("ps", optarg); break;
		case 'h': printf(usage_ps, view_help, kernel_help); return 0;
		default: die_usage("ps: bad option");
		}
	}
	if (optind != argc)
		die_usage("ps: unexpected argument '%s'", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	if (!g->json)
		ps_header(&o);
	int rc = vms_tasks(v.k, &to, ps_row, &o);
	if (o.tree && !o.oom)
		ps_tree(&o);
	for (size_t i = 0; i < o.n; i++)
		free(o.rows[i].cmdline);
	free(o.rows);
	rc = o.oom ? fail("out of memory") : view_result(&v, rc, "tasks", &st);
	return view_close(&v, rc);
}

/* ---- lsmod ---- */

static const char usage_lsmod[] =
	"usage: vmsight -t TARGET lsmod [--no-scan] [--pause] [options]\n"
	"\n"
	"List the loaded kernel modules from the kernel's module list, as /proc/modules\n"
	"does: name, base address (the core text), size (core and init memory), use\n"
	"count, the modules using it, state and taint flags. Then module memory is\n"
	"scanned for modules the list does not hold (unlinked by a rootkit): those are\n"
	"marked HIDDEN. --no-scan skips the scan.\n"
	"\n"
	"%s"
	"%s"
	"\n"
	"JSON, one object per module: {name,base,size,refcnt,state,taint,used_by,hidden,\n"
	"addr}; addresses as \"0x...\" strings.\n";

static int lsmod_row(void *ctx, const struct vms_module *m)
{
	const struct globals *g = ctx;
	if (view_stopped())
		return 1;
	int hidden = (m->flags & VMS_MODULE_HIDDEN) != 0;
	if (m->flags & VMS_ENTRY_UNREADABLE) {
		if (g->json)
			printf("{\"name\":null,\"unreadable\":true,\"hidden\":%s,\"addr\":\"0x%" PRIx64 "\"}\n",
			       hidden ? "true" : "false", m->addr);
		else
			printf("%-24s (struct module at 0x%" PRIx64 " unreadable)\n", "?", m->addr);
		return 0;
	}
	if (g->json) {
		printf("{\"name\":");
		put_guest_str_json(m->name);
		printf(",\"base\":\"0x%" PRIx64 "\",\"size\":%" PRIu64 ",\"refcnt\":%d,\"state\":\"%s\",\"taint\":\"%s\","
		       "\"used_by\":", m->base, m->size, m->refcnt, m->state_name, m->taint);
		put_guest_str_json(m->used_by);
		printf(",\"hidden\":%s,\"addr\":\"0x%" PRIx64 "\"}\n", hidden ? "true" : "false", m->addr);
		return 0;
	}
	printf("%-24s 0x%016" PRIx64 " %8" PRIu64 " %4d %-9s %-6s ", m->name, m->base, m->size, m->refcnt,
	       m->state_name, m->taint[0] ? m->taint : "-");
	put_text(m->used_by[0] ? m->used_by : "-");
	if (hidden)
		fputs("  HIDDEN (not in the module list)", stdout);
	putchar('\n');
	return 0;
}

static int cmd_lsmod(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { VIEW_OPTIONS, { "no-scan", no_argument, NULL, 'n' }, { 0 } };
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_modules_opts mo = { .sz = sizeof(mo), .scan = 1, .stats = &st };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (view_opt(&a, c))
			continue;
		switch (c) {
		case 'n': mo.scan = 0; break;
		case 'h': printf(usage_lsmod, view_help, kernel_help); return 0;
		default: die_usage("lsmod: bad option");
		}
	}
	if (optind != argc)
		die_usage("lsmod: unexpected argument '%s'", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	if (!g->json)
		printf("%-24s %-18s %8s %4s %-9s %-6s %s\n", "NAME", "BASE", "SIZE", "REFS", "STATE", "TAINT", "USED BY");
	int rc = vms_modules(v.k, &mo, lsmod_row, (void *)g);
	return view_close(&v, view_result(&v, rc, "modules", &st));
}

/* ---- lsof ---- */

static const char usage_lsof[] =
	"usage: vmsight -t TARGET lsof [PID] [--pause] [options]\n"
	"\n"
	"List the open files of every process (or of PID) from their file descriptor\n"
	"tables, as /proc/PID/fd and fdinfo show them: fd with its access (r, w, u),\n"
	"type (REG DIR CHR BLK FIFO SOCK LINK a_inode), open flags (octal, O_CLOEXEC\n"
	"included), position, inode and the full path across mount points; unlinked\n"
	"files end in \" (deleted)\", pipes and sockets show as pipe:[INODE] and\n"
	"socket:[INODE], anonymous inodes as anon_inode:NAME.\n"
	"\n"
	"%s"
	"%s"
	"\n"
	"JSON, one object per open file: {pid,comm,fd,path,type,flags,mode,pos,inode,\n"
	"mnt_id,dev,deleted,addr}; flags and mode are numbers (fdinfo prints flags in\n"
	"octal).\n";

static int lsof_row(void *ctx, const struct vms_file *f)
{
	const struct globals *g = ctx;
	if (view_stopped())
		return 1;
	if (f->flags & VMS_ENTRY_UNREADABLE) {
		if (g->json)
			printf("{\"pid\":%d,\"fd\":%d,\"path\":null,\"unreadable\":true,\"addr\":\"0x%" PRIx64 "\"}\n",
			       f->pid, f->fd, f->addr);
		else
			printf("%7d %-16s %5d (struct file at 0x%" PRIx64 " unreadable)\n", f->pid, f->comm, f->fd, f->addr);
		return 0;
	}
	if (g->json) {
		printf("{\"pid\":%d,\"comm\":", f->pid);
		put_guest_str_json(f->comm);
		printf(",\"fd\":%d,\"path\":", f->fd);
		put_guest_str_json(f->path);
		printf(",\"type\":\"%s\",\"flags\":%u,\"mode\":%u,\"pos\":%" PRId64 ",\"inode\":%" PRIu64
		       ",\"mnt_id\":%d,\"dev\":\"%x:%x\",\"deleted\":%s,\"addr\":\"0x%" PRIx64 "\"",
		       f->type, f->f_flags, f->mode, f->pos, f->ino, f->mnt_id, f->dev >> 20, f->dev & 0xfffff,
		       f->flags & VMS_FILE_DELETED ? "true" : "false", f->addr);
		if (f->flags & VMS_ENTRY_TRUNCATED)
			printf(",\"truncated\":true");
		printf("}\n");
		return 0;
	}
	char fd[16];
	snprintf(fd, sizeof(fd), "%d%c", f->fd, (f->f_mode & 3) == 3 ? 'u' : (f->f_mode & 2) ? 'w' : 'r');
	printf("%7d %-16s %5s %-7s %9o %10" PRId64 " %10" PRIu64 " ", f->pid, f->comm, fd, f->type, f->f_flags, f->pos,
	       f->ino);
	put_text(f->path);
	putchar('\n');
	return 0;
}

static int cmd_lsof(const struct globals *g, int argc, char **argv)
{
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_files_opts fo = { .sz = sizeof(fo), .stats = &st };
	if (view_parse_common(argc, argv, "lsof", usage_lsof, &a))
		return 0;
	if (argc - optind > 1)
		die_usage("lsof: give at most one PID");
	if (optind < argc)
		fo.pid = parse_pid("lsof", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	if (!g->json)
		printf("%7s %-16s %5s %-7s %9s %10s %10s %s\n", "PID", "COMMAND", "FD", "TYPE", "FLAGS", "POS", "INODE",
		       "NAME");
	int rc = vms_files(v.k, &fo, lsof_row, (void *)g);
	return view_close(&v, view_result(&v, rc, "open files", &st));
}

/* ---- maps ---- */

static const char usage_maps[] =
	"usage: vmsight -t TARGET maps [PID] [--pause] [options]\n"
	"\n"
	"Print the memory map of process PID as /proc/PID/maps does: address range,\n"
	"permissions (r w x, s shared or p private), file offset, device, inode, and\n"
	"the file's path or [heap], [stack], [vdso], [vvar]. Read from the kernel's\n"
	"memory areas (a maple tree from Linux 6.1, a list before). Without PID, the\n"
	"maps of every process, each after a line \"PID N\".\n"
	"\n"
	"%s"
	"%s"
	"\n"
	"JSON, one object per area: {pid,start,end,perms,offset,dev,inode,path,deleted,\n"
	"addr}; start and end as \"0x...\" strings.\n";

struct maps_out {
	const struct globals *g;
	int all;
	int32_t last_pid;
};

static int maps_row(void *ctx, const struct vms_vma *m)
{
	struct maps_out *o = ctx;
	const struct globals *g = o->g;
	if (view_stopped())
		return 1;
	if (o->all && !g->json && m->pid != o->last_pid)
		printf("PID %d\n", m->pid);
	o->last_pid = m->pid;
	int bad = (m->flags & VMS_ENTRY_UNREADABLE) != 0;
	if (g->json) {
		printf("{\"pid\":%d,\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\",\"perms\":\"%s\",\"offset\":%" PRIu64
		       ",\"dev\":\"%02x:%02x\",\"inode\":%" PRIu64 ",\"path\":", m->pid, m->start, m->end, m->perms,
		       m->offset, m->dev >> 20, m->dev & 0xfffff, m->ino);
		put_guest_str_json(m->path);
		printf(",\"deleted\":%s,\"addr\":\"0x%" PRIx64 "\"%s}\n", m->flags & VMS_FILE_DELETED ? "true" : "false",
		       m->addr, bad ? ",\"unreadable\":true" : "");
		return 0;
	}
	/* /proc/PID/maps: the name starts in column 74 (show_map_vma). */
	int n = printf("%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64 " %02x:%02x %" PRIu64 " ", m->start, m->end, m->perms,
		       m->offset, m->dev >> 20, m->dev & 0xfffff, m->ino);
	if (bad) {
		printf("%*s (vm_area_struct at 0x%" PRIx64 " unreadable)", n < 73 ? 73 - n : 0, "", m->addr);
	} else if (m->path[0]) {
		printf("%*s", n < 73 ? 73 - n : 0, "");
		put_text(m->path);
	}
	putchar('\n');
	return 0;
}

static int cmd_maps(const struct globals *g, int argc, char **argv)
{
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_maps_opts mo = { .sz = sizeof(mo), .stats = &st };
	if (view_parse_common(argc, argv, "maps", usage_maps, &a))
		return 0;
	if (argc - optind > 1)
		die_usage("maps: give at most one PID");
	int pid = optind < argc ? parse_pid("maps", argv[optind]) : 0;
	struct maps_out o = { .g = g, .all = pid == 0 };
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	int rc = vms_maps(v.k, pid, &mo, maps_row, &o);
	return view_close(&v, view_result(&v, rc, "memory areas", &st));
}

/* ---- dmesg ---- */

static const char usage_dmesg[] =
	"usage: vmsight -t TARGET dmesg [--pause] [options]\n"
	"\n"
	"Print the kernel log from the printk ring buffer (Linux 5.10 and later), oldest\n"
	"first, as dmesg does: [seconds.microseconds] text.\n"
	"\n"
	"%s"
	"%s"
	"\n"
	"JSON, one object per record: {seq,ts,ts_ns,level,facility,text}; ts in seconds.\n";

static int dmesg_row(void *ctx, const struct vms_log_record *r)
{
	const struct globals *g = ctx;
	if (view_stopped())
		return 1;
	uint64_t s = r->ts_ns / 1000000000u, us = r->ts_ns % 1000000000u / 1000;
	if (g->json) {
		printf("{\"seq\":%" PRIu64 ",\"ts\":%" PRIu64 ".%06" PRIu64 ",\"ts_ns\":%" PRIu64 ",\"level\":%d,"
		       "\"facility\":%d,\"text\":", r->seq, s, us, r->ts_ns, r->level, r->facility);
		put_guest_json(r->text, r->text_len);
		printf("%s}\n", r->flags & VMS_ENTRY_UNREADABLE ? ",\"unreadable\":true" : "");
		return 0;
	}
	if (r->flags & VMS_ENTRY_UNREADABLE) {
		printf("[%5" PRIu64 ".%06" PRIu64 "] (record unreadable: overwritten while read)\n", s, us);
		return 0;
	}
	/* Each line of a record gets the record's timestamp, as the kernel prints it. */
	const char *p = r->text, *end = r->text + r->text_len;
	do {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		printf("[%5" PRIu64 ".%06" PRIu64 "] ", s, us);
		for (const char *q = p; q < stop; q++) {
			unsigned char c = (unsigned char)*q;
			if (c < 0x20 && c != '\t')
				printf("\\x%02x", c);
			else
				putchar(c);
		}
		putchar('\n');
		p = nl ? nl + 1 : end;
	} while (p < end);
	return 0;
}

static int cmd_dmesg(const struct globals *g, int argc, char **argv)
{
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_dmesg_opts dopt = { .sz = sizeof(dopt), .stats = &st };
	if (view_parse_common(argc, argv, "dmesg", usage_dmesg, &a))
		return 0;
	if (optind != argc)
		die_usage("dmesg: unexpected argument '%s'", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	int rc = vms_dmesg(v.k, &dopt, dmesg_row, (void *)g);
	return view_close(&v, view_result(&v, rc, "log records", &st));
}

/* ---- main ---------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*run)(const struct globals *g, int argc, char **argv);
} commands[] = {
	{ "info", cmd_info },
	{ "read", cmd_read },
	{ "translate", cmd_translate },
	{ "va-ranges", cmd_va_ranges },
	{ "kernel", cmd_kernel },
	{ "symbols", cmd_symbols },
	{ "btf", cmd_btf },
	{ "profile", cmd_profile },
	{ "dump", cmd_dump },
	{ "watch", cmd_watch },
	{ "trace", cmd_trace },
	{ "snapshot", cmd_snapshot },
	{ "ps", cmd_ps },
	{ "lsmod", cmd_lsmod },
	{ "lsof", cmd_lsof },
	{ "maps", cmd_maps },
	{ "dmesg", cmd_dmesg },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct globals g = { .target = getenv("VMSIGHT_TARGET") };
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "+t:vh", opts, NULL)) != -1) {
		switch (c) {
		case 't': g.target = optarg; break;
		case 's': g.source = optarg; break;
		case 'j': g.json = 1; break;
		case 'v': g.verbose = 1; break;
		case 'T':
			if (parse_u64(optarg, &v) || v == 0 || v > 3600000)
				die_usage("--timeout takes milliseconds between 1 and 3600000");
			g.timeout_ms = (unsigned)v;
			break;
		case 'h': fputs(usage_main, stdout); return 0;
		case 'V': printf("vmsight %d.%d\n", VMS_VERSION_MAJOR, VMS_VERSION_MINOR); return 0;
		default: die_usage("bad option");
		}
	}
	if (optind >= argc)
		die_usage("no command given");
	const char *cmd = argv[optind];
	/* Global options may also follow the command name (vmsight info --json). */
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	int kept = 1;
	for (int i = 1; i < sub_argc; i++) {
		if (strcmp(sub_argv[i], "--json") == 0)
			g.json = 1;
		else if (strcmp(sub_argv[i], "-v") == 0 || strcmp(sub_argv[i], "--verbose") == 0)
			g.verbose = 1;
		else if ((strcmp(sub_argv[i], "-t") == 0 || strcmp(sub_argv[i], "--target") == 0) && i + 1 < sub_argc)
			g.target = sub_argv[++i];
		else if (strcmp(sub_argv[i], "--source") == 0 && i + 1 < sub_argc)
			g.source = sub_argv[++i];
		else
			sub_argv[kept++] = sub_argv[i];
	}
	sub_argc = kept;
	sub_argv[sub_argc] = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(&g, sub_argc, sub_argv);
	die_usage("unknown command '%s'", cmd);
}
