/*
 * Commands about the target itself: what it is (info), its physical and
 * virtual memory (read), and its address spaces (translate, va-ranges).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"

#define READ_MAX (1ull << 30)

/* ---- info ---- */

static const char usage_info[] =
        "usage: vmsight -t TARGET info [--json]\n"
        "\n"
        "Show the memory source in use, the guest-physical RAM ranges, and every\n"
        "vCPU's control registers and paging mode.\n"
        "JSON fields: target, source, source_detail, ram_bytes, ram_ranges[{start,end,size}],\n"
        "vcpus[{index,paging,rip,rsp,rflags,cr0,cr2,cr3,cr4,efer,fs_base,gs_base,kernel_gs_base}], paging.\n"
        "Addresses and registers are \"0x...\" strings, sizes are numbers.\n";

static void info_vcpu(int i, const struct vms_regs *x)
{
	out_obj("");
	out_int("index", "  cpu%-3lld", i);
	out_hex("rip", " rip=0x%016llx", x->rip);
	out_hex("rsp", " rsp=0x%016llx", x->rsp);
	out_str("paging", " %s\n", vms_paging_name(vms_paging_mode(x)));
	out_hex("rflags", NULL, x->rflags);
	out_hex("cr0", "         cr0=0x%08llx", x->cr0);
	out_hex("cr2", " cr2=0x%016llx", x->cr2);
	out_hex("cr3", " cr3=0x%016llx", x->cr3);
	out_hex("cr4", " cr4=0x%08llx\n", x->cr4);
	if (x->valid & VMS_REGS_EFER)
		out_hex("efer", "         efer=0x%llx", x->efer);
	else
		out_text("         efer=?");
	if (x->valid & VMS_REGS_SEG) {
		out_hex("fs_base", " fs_base=0x%llx", x->fs_base);
		out_hex("gs_base", " gs_base=0x%llx", x->gs_base);
	}
	if (x->valid & VMS_REGS_KGSBASE)
		out_hex("kernel_gs_base", " kernel_gs_base=0x%llx", x->kernel_gs_base);
	out_text("\n");
	out_obj_end();
}

int cmd_info(const struct globals *g, int argc, char **argv)
{
	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			fputs(usage_info, stdout);
			return 0;
		}
		die_usage("info: unexpected argument '%s'", argv[1]);
	}
	struct vms_target *t;
	if (open_target_held(g, &t, NULL)) /* the layout and every vCPU's registers over one connection */
		return 1;
	const struct vms_ram_range *r;
	size_t nr;
	uint64_t total = ram_total(t);
	vms_ram_ranges(t, &r, &nr);
	int nv = vms_vcpu_count(t);
	struct vms_regs *regs = nv > 0 ? calloc((size_t)nv, sizeof(*regs)) : NULL;
	int regs_rc = nv < 0 ? nv : nv > 0 && !regs ? -ENOMEM : 0;
	char regs_err[1024] = "";
	if (nv < 0)
		snprintf(regs_err, sizeof(regs_err), "%s", vms_errmsg(t));
	for (int i = 0; i < nv && !regs_rc; i++)
		if ((regs_rc = vms_vcpu_regs(t, (unsigned)i, &regs[i])))
			snprintf(regs_err, sizeof(regs_err), "%s", vms_errmsg(t));
	const char *paging = nv > 0 && !regs_rc ? vms_paging_name(vms_paging_mode(&regs[0])) : "unknown";
	vms_unhold(t);

	char sz[32];
	format_size(sz, sizeof(sz), total);
	out_begin();
	out_str("target", "target   %s\n", g->target);
	out_str("source", "source   %s: ", vms_source_name(t));
	out_str("source_detail", "%s\n", vms_source_detail(t));
	out_uint("ram_bytes", NULL, total);
	out_text("ram      %s in %zu range%s\n", sz, nr, nr == 1 ? "" : "s");
	out_arr("ram_ranges");
	for (size_t i = 0; i < nr; i++) {
		format_size(sz, sizeof(sz), r[i].len);
		out_obj("");
		out_hex("start", "         0x%016llx", r[i].gpa);
		out_hex("end", "-0x%016llx", r[i].gpa + r[i].len - 1);
		out_uint("size", NULL, r[i].len);
		out_text("  %s\n", sz);
		out_obj_end();
	}
	out_arr_end();
	if (regs_rc)
		out_text("vcpus    unavailable: %s\n", regs_err);
	else
		out_text("vcpus    %d\npaging   %s\n", nv, paging);
	out_arr("vcpus");
	for (int i = 0; i < nv && !regs_rc; i++)
		info_vcpu(i, &regs[i]);
	out_arr_end();
	out_str("paging", NULL, paging);
	out_end();
	free(regs);
	vms_close(t);
	return 0;
}

/* ---- translate ---- */

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

static void print_walk(const struct vms_page_walk *w)
{
	out_text("    %s paging, top table at 0x%" PRIx64 "\n", vms_paging_name(w->mode), w->table);
	out_arr("walk");
	for (unsigned i = 0; i < w->nsteps; i++) {
		out_obj("");
		out_str("level", "    %-6s", w->step[i].level);
		out_hex("entry_pa", " at 0x%012llx", w->step[i].entry_pa);
		out_hex("entry", " = 0x%016llx\n", w->step[i].entry);
		out_obj_end();
	}
	out_arr_end();
}

static int translate_one(const struct globals *g, struct vms_target *t, uint64_t dtb, uint64_t va)
{
	struct vms_page_walk w;
	int rc = g->verbose ? vms_page_walk(t, dtb, va, &w) : vms_translate(t, dtb, va, &w.tr);
	if (rc && !g->json && !g->verbose) {
		fail("%s", vms_errmsg(t));
		return 1;
	}
	if (rc && !g->json)
		fail("%s", vms_errmsg(t));
	out_begin();
	out_hex("va", "0x%016llx -> ", va);
	if (rc) {
		out_str("error", NULL, vms_errmsg(t));
		out_int("errno", NULL, -rc);
		out_text("(no translation)\n");
	} else {
		char perms[32];
		const struct vms_translation *tr = &w.tr;
		perms_text(perms, sizeof(perms), tr->prot);
		out_hex("pa", "0x%012llx", tr->pa);
		out_uint("page_size", NULL, tr->page_size);
		out_text("  %s page  %s\n", page_text(tr->page_size), perms);
		out_bool("writable", tr->prot & VMS_PAGE_WRITE);
		out_bool("user", tr->prot & VMS_PAGE_USER);
		out_bool("nx", tr->prot & VMS_PAGE_NX);
	}
	if (g->verbose)
		print_walk(&w);
	out_end();
	return rc ? 1 : 0;
}

int cmd_translate(const struct globals *g, int argc, char **argv)
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
		fail("%zu of %zu addresses did not translate", failed, n);
	vms_close(t);
	free(vas);
	return failed ? 1 : 0;
}

/* ---- va-ranges ---- */

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

static int print_range(void *ctx, const struct vms_va_range *r)
{
	const int *only = ctx; /* 0 all, 1 user, 2 kernel */
	int user = (r->prot & VMS_PAGE_USER) != 0;
	if ((*only == 1 && !user) || (*only == 2 && user))
		return 0;
	char perms[32], sz[32];
	perms_text(perms, sizeof(perms), r->prot);
	format_size(sz, sizeof(sz), r->len);
	out_begin();
	out_hex("va", "0x%016llx", r->va);
	out_hex("end", "-0x%016llx", r->va + r->len - 1);
	out_uint("len", NULL, r->len);
	out_hex("pa", "  0x%012llx", r->pa);
	out_uint("page_size", NULL, r->page_size);
	out_text("  %10s  %s  %s", sz, page_text(r->page_size), perms);
	out_bool("writable", r->prot & VMS_PAGE_WRITE);
	out_bool("user", user);
	out_bool("nx", r->prot & VMS_PAGE_NX);
	out_end();
	return 0;
}

int cmd_va_ranges(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		ASPACE_OPTIONS,
		{ "user", no_argument, NULL, 'u' },
		{ "kernel", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct aspace_args as = { 0 };
	int only = 0, c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (aspace_opt(&as, c))
			continue;
		switch (c) {
		case 'u': only = 1; break;
		case 'k': only = 2; break;
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
	if (!rc && (rc = vms_va_ranges(t, dtb, print_range, &only)))
		rc = fail("%s", vms_errmsg(t));
	vms_close(t);
	return rc ? 1 : 0;
}

/* ---- read ---- */

const char usage_read[] =
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

int print_bytes(const char *addr_key, const char *sym, uint64_t addr, const uint8_t *buf, uint64_t len, int raw)
{
	if (raw) {
		if (fwrite(buf, 1, len, stdout) != len)
			return fail("writing output: %s", strerror(errno));
		return 0;
	}
	if (out_is_json()) {
		out_begin();
		if (sym)
			out_str("sym", NULL, sym);
		out_hex(addr_key, NULL, addr);
		out_uint("len", NULL, len);
		char *hex = malloc(len * 2 + 1);
		if (!hex)
			return fail("out of memory");
		for (uint64_t i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", buf[i]);
		out_str("hex", NULL, hex);
		free(hex);
		out_end();
		return 0;
	}
	for (size_t off = 0; off < len; off += 16) {
		printf("%016" PRIx64 "  ", addr + off);
		for (size_t i = 0; i < 16; i++) {
			if (off + i < len)
				printf("%02x ", buf[off + i]);
			else
				printf("   ");
			if (i == 7)
				putchar(' ');
		}
		printf(" |");
		for (size_t i = 0; i < 16 && off + i < len; i++)
			putchar(buf[off + i] >= 0x20 && buf[off + i] < 0x7f ? buf[off + i] : '.');
		printf("|\n");
	}
	return 0;
}

int cmd_read(const struct globals *g, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--sym") == 0 || strncmp(argv[i], "--sym=", 6) == 0)
			return cmd_read_sym(g, argc, argv);
	/* clang-format off */
	static const struct option opts[] = {
		{ "pa", required_argument, NULL, 'p' },
		{ "va", required_argument, NULL, 'a' },
		ASPACE_OPTIONS,
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
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
	if (rc)
		rc = va_s ? fail("read %zu of %" PRIu64 " bytes: %s", done, len, vms_errmsg(t))
		          : fail("%s", vms_errmsg(t));
	else
		rc = print_bytes(va_s ? "va" : "pa", NULL, addr, buf, len, raw);
	free(buf);
	vms_close(t);
	return rc;
}
