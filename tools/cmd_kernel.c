/*
 * Commands about the Linux kernel found in guest memory: where it is
 * (kernel), its symbols and types (symbols, btf, read --sym), and its
 * profile as a Volatility 3 ISF file (profile).
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmds.h"

#define READ_MAX (1ull << 30)

/* ---- kernel ---- */

static const char usage_kernel[] =
        "usage: vmsight -t TARGET kernel [--cr3 X] [--paging MODE] [options]\n"
        "\n"
        "Find the Linux kernel in guest memory, with no profile: the KASLR offsets\n"
        "(virtual and physical), the kernel's own page tables (cr3: init_top_pgt;\n"
        "page-table isolation noticed), the paging mode, the banner and build id, the\n"
        "symbols (decoded from kallsyms in guest memory) and the size of the kernel's\n"
        "BTF, and how long it took. What is found is cached as a profile, so the next\n"
        "attach to the same kernel is fast; a live QEMU's RAM layout is remembered per\n"
        "QEMU process. --cr3 X starts from that address space instead of the vCPUs'.\n"
        "A dump without vCPU state is searched for the kernel once; where it lies is\n"
        "remembered by the file's identity and checked, so later commands on the same\n"
        "file do not search again (location_from: registers, given, scan or cache).\n"
        "\n"
        "%s"
        "\n"
        "JSON: {banner,release,build_id,text_va,text_pa,kaslr_virt,kaslr_phys,cr3,pti,location_from,\n"
        "paging,symbols,symbols_from,btf_bytes,types_from,cache_file,ms}.\n";

static void format_offset(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "-0x%" PRIx64, (uint64_t)-v);
	else
		snprintf(buf, len, "0x%" PRIx64, (uint64_t)v);
}

int cmd_kernel(const struct globals *g, int argc, char **argv)
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
	format_offset(kv, sizeof(kv), i.kaslr_virt);
	format_offset(kp, sizeof(kp), i.kaslr_phys);
	out_begin();
	out_guest("banner", "banner    %s\n", i.banner);
	out_guest("release", "release   %s\n", i.release);
	out_guest(NULL, "build id  %s\n", i.build_id[0] ? i.build_id : "-");
	out_guest("build_id", NULL, i.build_id);
	out_str("kaslr_virt", "kaslr     virtual %s", kv);
	out_hex("text_va", " (_text at 0x%016llx)", i.text_va);
	out_str("kaslr_phys", ", physical %s", kp);
	out_hex("text_pa", " (_text at 0x%llx)\n", i.text_pa);
	out_hex("cr3", "cr3       0x%llx", i.cr3);
	out_str(NULL, " (page-table isolation: %s;", i.pti ? "yes" : "no");
	out_str("location_from", " found from %s)\n", i.location_from);
	out_bool("pti", i.pti);
	out_str("paging", "paging    %s\n", vms_paging_name(i.paging));
	out_uint("symbols", "symbols   %llu", i.nsyms);
	out_str("symbols_from", " (from %s)\n", i.symbols_from);
	out_uint("btf_bytes", i.btf_bytes ? "btf       %llu bytes" : NULL, i.btf_bytes);
	if (!i.btf_bytes)
		out_text("btf       none");
	out_str("types_from", " (types from %s)\n", i.types_from);
	out_str(NULL, "profile   %s\n", i.cache_file[0] ? i.cache_file : "not cached");
	out_str("cache_file", NULL, i.cache_file);
	out_double("ms", "time      %.1f ms\n", 3, i.discovery_ms);
	out_end();
	close_kernel(t, k);
	return 0;
}

/* ---- symbols ---- */

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
	size_t n;
};

static int print_sym(void *ctx, const struct vms_sym *s)
{
	struct sym_print *p = ctx;
	if (p->glob && fnmatch(p->glob, s->name, 0) != 0)
		return 0;
	p->n++;
	char type[2] = { s->type, 0 };
	out_begin();
	out_hex("address", "%016llx", s->addr);
	out_guest("type", " %s", type);
	out_guest("name", " %s", s->name);
	out_end();
	return 0;
}

int cmd_symbols(const struct globals *g, int argc, char **argv)
{
	struct kernel_args a = { 0 };
	int i = kernel_getopt("symbols", argc, argv, &a, usage_symbols);
	if (argc - i > 1)
		die_usage("symbols: give at most one GLOB");
	struct sym_print p = { .glob = i < argc ? argv[i] : NULL };
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

/* ---- btf ---- */

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

int cmd_btf(const struct globals *g, int argc, char **argv)
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
	out_begin();
	out_guest("type", "%s: ", type);
	out_uint("size", "%llu bytes", size);
	out_end();
	for (; i < argc; i++) {
		struct vms_btf_field f;
		if (vms_btf_field(k, type, argv[i], &f)) {
			rc = fail("%s", vms_errmsg(t));
			continue;
		}
		out_begin();
		out_guest("type", NULL, type);
		out_guest("member", "  %-30s", argv[i]);
		out_uint("offset", " offset %llu", f.offset);
		if (f.bit_size) {
			out_uint("bit_offset", " (bit %llu)", f.bit_offset);
			out_uint("bit_size", ", %llu bits", f.bit_size);
			out_uint("size", NULL, f.size);
		} else {
			out_uint("size", ", %llu bytes", f.size);
			out_uint("bit_offset", NULL, f.bit_offset);
			out_uint("bit_size", NULL, f.bit_size);
		}
		out_end();
	}
	close_kernel(t, k);
	return rc;
}

/* ---- profile ---- */

static const char usage_profile[] =
        "usage: vmsight -t TARGET profile --isf FILE [options]\n"
        "\n"
        "Write the kernel's profile as a Volatility 3 ISF JSON file: every symbol\n"
        "(link-time addresses: the KASLR offset taken off) and every struct, union,\n"
        "enum and base type of the kernel's BTF. Symbols carry their types where they\n"
        "are known (per-CPU variables from BTF, the globals Volatility 3 and LibVMI\n"
        "look up, functions), and phys_startup_64 is added for LibVMI, so both load\n"
        "the file as it is. An existing FILE is replaced only when the new one is\n"
        "complete; what is not a regular file is refused.\n"
        "\n"
        "%s"
        "\n"
        "JSON: {file,symbols,bytes}.\n";

int cmd_profile(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { KERNEL_OPTIONS,
		                              KERNEL_CR3_OPTION,
		                              { "isf", required_argument, NULL, 'o' },
		                              { "help", no_argument, NULL, 'h' },
		                              { 0 } };
	struct kernel_args a = { 0 };
	const char *path = NULL;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (kernel_opt(&a, c))
			continue;
		switch (c) {
		case 'o': path = optarg; break;
		case 'h': printf(usage_profile, kernel_help); return 0;
		default: die_usage("profile: bad option");
		}
	}
	if (!path)
		die_usage("profile: give the output file with --isf FILE");
	if (optind != argc)
		die_usage("profile: unexpected argument '%s'", argv[optind]);
	struct vms_target *t;
	struct vms_kernel *k;
	if (open_kernel(g, &a, &t, &k))
		return 1;
	struct out_file f;
	int rc = out_file_create(&f, path, 0, 0644);
	if (rc) {
		close_kernel(t, k);
		return rc;
	}
	if (vms_kernel_write_isf(k, f.fd))
		rc = fail("%s", vms_errmsg(t));
	struct stat st;
	int have_size = !rc && fstat(f.fd, &st) == 0;
	if (out_file_finish(&f, !rc))
		rc = 1;
	if (!rc && have_size) {
		struct vms_kernel_info i;
		vms_kernel_info(k, &i);
		out_begin();
		out_str("file", "wrote %s", path);
		out_uint("symbols", ": %llu symbols", i.nsyms);
		out_int("bytes", ", %lld bytes", (long long)st.st_size);
		out_end();
	}
	close_kernel(t, k);
	return rc;
}

/* ---- read --sym NAME LEN: kernel memory at a symbol, through the kernel's CR3 ---- */

int cmd_read_sym(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { KERNEL_OPTIONS,
		                              { "sym", required_argument, NULL, 'S' },
		                              { "raw", no_argument, NULL, 'r' },
		                              { "help", no_argument, NULL, 'h' },
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
	if (a.paging)
		die_usage("read: --sym takes no --pa, --va, --cr3, --vcpu or --paging");
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
	if (!rc)
		rc = print_bytes("va", name, addr, buf, len, raw);
	free(buf);
	close_kernel(t, k);
	return rc;
}
