/*
 * The profile as a Volatility 3 Intermediate Symbol Format file (format
 * 6.2.0; /work/shared/isf has the schema it is checked against).
 *
 * Symbols are written with link-time addresses (the KASLR offset taken
 * off, absolute per-CPU ones as they are), as Volatility expects of a
 * profile and finds the shift itself. Types come from the kernel's BTF:
 * every struct and union (anonymous ones named unnamed_<BTF id>, their
 * members flagged anonymous), enum and base type, with typedefs and
 * qualifiers looked through as the schema has no kind for them. Bitfields
 * are placed in a storage unit of their declared type's size. ISF has no
 * way to name BTF or kallsyms as a source (its source kinds are dwarf,
 * symtab and system-map), so the metadata lists them by name only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "kernel.h"
#include "util/escape.h"

static void put_str(FILE *f, const char *s)
{
	esc_json_fput(f, s);
}

static void put_base64(FILE *f, const uint8_t *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	fputc('"', f);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
		             (i + 2 < n ? p[i + 2] : 0);
		fputc(tab[v >> 18], f);
		fputc(tab[(v >> 12) & 63], f);
		fputc(i + 1 < n ? tab[(v >> 6) & 63] : '=', f);
		fputc(i + 2 < n ? tab[v & 63] : '=', f);
	}
	fputc('"', f);
}

/*
 * libbpf finds a type by name with a scan of every type: called per symbol
 * (80k) and per type (100k) that is minutes. The file is written with one
 * sorted index of the named types instead.
 */
struct name_ent {
	const char *name;
	uint32_t id;
	uint32_t kind;
};
struct name_ix {
	struct name_ent *e;
	size_t n;
};

static int name_ent_cmp(const void *pa, const void *pb)
{
	const struct name_ent *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int name_ix_build(struct name_ix *ix, const struct btf *b)
{
	uint32_t n = btf__type_cnt(b);
	ix->n = 0;
	ix->e = calloc(n, sizeof(*ix->e));
	if (!ix->e)
		return -ENOMEM;
	for (uint32_t id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(b, id);
		const char *nm = btf__name_by_offset(b, t->name_off);
		if (nm && *nm)
			ix->e[ix->n++] = (struct name_ent){ nm, id, btf_kind(t) };
	}
	qsort(ix->e, ix->n, sizeof(*ix->e), name_ent_cmp);
	return 0;
}

/* The first type (lowest id) of KIND called NAME, or -ENOENT. */
static int name_ix_find(const struct name_ix *ix, const char *name, uint32_t kind)
{
	size_t lo = 0, hi = ix->n;
	struct name_ent key = { name, 0, kind };
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (name_ent_cmp(&ix->e[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ix->n && ix->e[lo].kind == kind && !strcmp(ix->e[lo].name, name))
		return (int)ix->e[lo].id;
	return -ENOENT;
}

/* The name a struct, union or enum has in the file. */
static void type_name(const struct btf *b, uint32_t id, char *out, size_t len)
{
	const struct btf_type *t = btf__type_by_id(b, id);
	const char *n = t ? btf__name_by_offset(b, t->name_off) : NULL;
	if (n && *n)
		snprintf(out, len, "%s", n);
	else
		snprintf(out, len, "unnamed_%u", id);
}

static void put_desc(FILE *f, const struct btf *b, uint32_t id, int depth)
{
	char name[256];
	const struct btf_type *t = NULL;
	for (int i = 0; i < 64; i++) {
		t = id ? btf__type_by_id(b, id) : NULL;
		if (!t || !(btf_is_typedef(t) || btf_is_mod(t) || btf_is_type_tag(t)))
			break;
		id = t->type;
	}
	if (!t || depth > 16) {
		fprintf(f, "{\"kind\":\"base\",\"name\":\"void\"}");
		return;
	}
	switch (btf_kind(t)) {
	case BTF_KIND_INT:
	case BTF_KIND_FLOAT:
		fprintf(f, "{\"kind\":\"base\",\"name\":");
		put_str(f, btf__name_by_offset(b, t->name_off));
		fputc('}', f);
		break;
	case BTF_KIND_PTR:
		fprintf(f, "{\"kind\":\"pointer\",\"subtype\":");
		put_desc(f, b, t->type, depth + 1);
		fputc('}', f);
		break;
	case BTF_KIND_ARRAY:
		fprintf(f, "{\"kind\":\"array\",\"count\":%u,\"subtype\":", btf_array(t)->nelems);
		put_desc(f, b, btf_array(t)->type, depth + 1);
		fputc('}', f);
		break;
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_FWD:
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		type_name(b, id, name, sizeof(name));
		fprintf(f, "{\"kind\":\"%s\",\"name\":",
		        btf_is_any_enum(t)                                   ? "enum"
		        : btf_is_union(t) || (btf_is_fwd(t) && btf_kflag(t)) ? "union"
		                                                             : "struct");
		put_str(f, name);
		fputc('}', f);
		break;
	case BTF_KIND_FUNC_PROTO: fprintf(f, "{\"kind\":\"function\"}"); break;
	default: fprintf(f, "{\"kind\":\"base\",\"name\":\"void\"}");
	}
}

/* Names TYPE ID into NAME; 0 when an earlier type of the same kind has that
 * name (ISF keys types by name: the first one stands for all). */
static int first_of_name(const struct btf *b, const struct name_ix *ix, uint32_t id, const struct btf_type *t,
                         char *name, size_t len)
{
	type_name(b, id, name, len);
	if (!t->name_off)
		return 1;
	int want = name_ix_find(ix, name, btf_kind(t));
	return !(want > 0 && (uint32_t)want != id);
}

static void put_member(FILE *f, const struct btf *b, const struct btf_type *t, uint16_t i)
{
	const struct btf_member *m = btf_members(t) + i;
	uint32_t bits = btf_member_bit_offset(t, i), bsz = btf_member_bitfield_size(t, i);
	if (!bsz) {
		fprintf(f, "{\"offset\":%u,\"type\":", bits / 8);
		put_desc(f, b, m->type, 0);
	} else {
		long long unit = btf__resolve_size(b, m->type);
		if (unit <= 0 || unit > 8)
			unit = 1;
		uint32_t ubits = (uint32_t)unit * 8, start = bits / ubits * ubits;
		if (bits - start + bsz > ubits)
			start = bits / 8 * 8;
		fprintf(f,
		        "{\"offset\":%u,\"type\":{\"kind\":\"bitfield\",\"bit_position\":%u,\"bit_length\":%u,\"type\":",
		        start / 8, bits - start, bsz);
		put_desc(f, b, m->type, 0);
		fputc('}', f);
	}
	const char *n = btf__name_by_offset(b, m->name_off);
	if (!n || !*n)
		fprintf(f, ",\"anonymous\":true");
	fputc('}', f);
}

static void put_types(FILE *f, const struct btf *b, const struct name_ix *ix)
{
	uint32_t n = btf__type_cnt(b);
	char name[256];
	/* base_types */
	fprintf(f,
	        "\"base_types\":{\"pointer\":{\"size\":8,\"signed\":false,\"kind\":\"int\",\"endian\":\"little\"},"
	        "\"void\":{\"size\":0,\"signed\":false,\"kind\":\"void\",\"endian\":\"little\"}");
	for (uint32_t id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(b, id);
		if (!btf_is_int(t) && !btf_is_float(t))
			continue;
		const char *nm = btf__name_by_offset(b, t->name_off);
		if (!nm || !*nm || strcmp(nm, "void") == 0 || strcmp(nm, "pointer") == 0)
			continue;
		const char *kind = btf_is_float(t)                                              ? "float"
		                   : (btf_int_encoding(t) & BTF_INT_BOOL)                       ? "bool"
		                   : (btf_int_encoding(t) & BTF_INT_CHAR) || strstr(nm, "char") ? "char"
		                                                                                : "int";
		fputc(',', f);
		put_str(f, nm);
		fprintf(f, ":{\"size\":%u,\"signed\":%s,\"kind\":\"%s\",\"endian\":\"little\"}", t->size,
		        btf_is_int(t) && (btf_int_encoding(t) & BTF_INT_SIGNED) ? "true" : "false", kind);
	}
	/* user_types: the first of each name */
	fprintf(f, "},\n\"user_types\":{");
	int first = 1;
	for (uint32_t id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(b, id);
		if (!btf_is_composite(t))
			continue;
		if (!first_of_name(b, ix, id, t, name, sizeof(name)))
			continue;
		fprintf(f, "%s\n", first ? "" : ",");
		first = 0;
		put_str(f, name);
		fprintf(f, ":{\"kind\":\"%s\",\"size\":%u,\"fields\":{", btf_is_union(t) ? "union" : "struct", t->size);
		for (uint16_t i = 0; i < btf_vlen(t); i++) {
			const char *mn = btf__name_by_offset(b, btf_members(t)[i].name_off);
			char anon[32];
			if (!mn || !*mn) {
				snprintf(anon, sizeof(anon), "unnamed_field_%u", i);
				mn = anon;
			}
			fprintf(f, "%s", i ? "," : "");
			put_str(f, mn);
			fputc(':', f);
			put_member(f, b, t, i);
		}
		fprintf(f, "}}");
	}
	/* structs and unions only declared (BTF_KIND_FWD): Volatility needs every
	 * name a descriptor gives, so each is an empty type of size 0 */
	for (uint32_t id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(b, id);
		if (!btf_is_fwd(t) || !first_of_name(b, ix, id, t, name, sizeof(name)))
			continue;
		if (name_ix_find(ix, name, BTF_KIND_STRUCT) > 0 || name_ix_find(ix, name, BTF_KIND_UNION) > 0)
			continue;
		fprintf(f, "%s\n", first ? "" : ",");
		first = 0;
		put_str(f, name);
		fprintf(f, ":{\"kind\":\"%s\",\"size\":0,\"fields\":{}}", btf_kflag(t) ? "union" : "struct");
	}
	/* enums */
	fprintf(f, "},\n\"enums\":{");
	first = 1;
	for (uint32_t id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(b, id);
		if (!btf_is_any_enum(t))
			continue;
		if (!first_of_name(b, ix, id, t, name, sizeof(name)))
			continue;
		fprintf(f, "%s\n", first ? "" : ",");
		first = 0;
		put_str(f, name);
		int sgn = btf_kflag(t);
		fprintf(f, ":{\"size\":%u,\"base\":\"%s\",\"constants\":{", t->size,
		        t->size == 8 ? (sgn ? "long long int" : "long long unsigned int")
		                     : (sgn ? "int" : "unsigned int"));
		for (uint16_t i = 0; i < btf_vlen(t); i++) {
			const char *cn;
			long long v;
			if (btf_is_enum(t)) {
				cn = btf__name_by_offset(b, btf_enum(t)[i].name_off);
				v = sgn ? (long long)btf_enum(t)[i].val : (long long)(uint32_t)btf_enum(t)[i].val;
			} else {
				cn = btf__name_by_offset(b, btf_enum64(t)[i].name_off);
				v = (long long)btf_enum64_value(btf_enum64(t) + i);
			}
			fprintf(f, "%s", i ? "," : "");
			put_str(f, cn ? cn : "");
			fprintf(f, ":%lld", v);
		}
		fprintf(f, "}}");
	}
	fprintf(f, "},\n");
}

/*
 * Symbols whose type the kernel's BTF does not give (the BTF of 6.1 kernels
 * has VAR entries for per-CPU variables only): the globals that Volatility
 * 3's Linux plugins and framework and LibVMI's Linux code look up, with the
 * type the kernel declares them with (docs/kernel.md says how the list was
 * made). TYPE is a BTF name (struct, union, typedef or base type, in BTF's
 * spelling: "long unsigned int"), PTRS the pointer levels over it, COUNT an
 * array's length: ISF_NEXT_SYM for "up to the next symbol" (how Volatility
 * sizes sys_call_table itself), ISF_STRLEN for linux_banner's text.
 * Symbols this kernel does not have are skipped.
 */
enum { ISF_NEXT_SYM = -1, ISF_STRLEN = -2 };
static const struct isf_known {
	const char *sym, *type;
	unsigned ptrs;
	int count;
} isf_known[] = {
	{ "init_task", "task_struct", 0, 0 },
	{ "init_files", "files_struct", 0, 0 },
	{ "init_fs", "fs_struct", 0, 0 },
	{ "init_mm", "mm_struct", 0, 0 },
	{ "init_pid_ns", "pid_namespace", 0, 0 },
	{ "init_net", "net", 0, 0 },
	{ "init_nsproxy", "nsproxy", 0, 0 },
	{ "init_cred", "cred", 0, 0 },
	{ "init_top_pgt", "pgd_t", 0, 512 },
	{ "init_level4_pgt", "pgd_t", 0, 512 },
	{ "swapper_pg_dir", "pgd_t", 0, 512 },
	{ "modules", "list_head", 0, 0 },
	{ "module_kset", "kset", 1, 0 },
	{ "prb", "printk_ringbuffer", 1, 0 },
	{ "log_buf", "char", 1, 0 },
	{ "log_buf_len", "u32", 0, 0 },
	{ "log_first_idx", "u32", 0, 0 },
	{ "log_next_idx", "u32", 0, 0 },
	{ "log_end", "unsigned int", 0, 0 },
	{ "linux_banner", "char", 0, ISF_STRLEN },
	{ "cap_last_cap", "int", 0, 0 },
	{ "iomem_resource", "resource", 0, 0 },
	{ "ioport_resource", "resource", 0, 0 },
	{ "keyboard_notifier_list", "atomic_notifier_head", 0, 0 },
	{ "mem_section", "mem_section", 2, 0 },
	{ "mem_map", "page", 1, 0 },
	{ "vmemmap_base", "long unsigned int", 0, 0 },
	{ "page_offset_base", "long unsigned int", 0, 0 },
	{ "vmalloc_base", "long unsigned int", 0, 0 },
	{ "phys_base", "long unsigned int", 0, 0 },
	{ "node_data", "pglist_data", 1, ISF_NEXT_SYM },
	{ "net_namespace_list", "list_head", 0, 0 },
	{ "nf_hooks", "list_head", 0, ISF_NEXT_SYM },
	{ "prog_idr", "idr", 0, 0 },
	{ "socket_file_ops", "file_operations", 0, 0 },
	{ "sockfs_dentry_operations", "dentry_operations", 0, 0 },
	{ "pipefifo_fops", "file_operations", 0, 0 },
	{ "sys_call_table", "sys_call_ptr_t", 0, ISF_NEXT_SYM },
	{ "ia32_sys_call_table", "sys_call_ptr_t", 0, ISF_NEXT_SYM },
	{ "x32_sys_call_table", "sys_call_ptr_t", 0, ISF_NEXT_SYM },
	{ "idt_table", "gate_struct", 0, 256 },
	{ "tty_drivers", "list_head", 0, 0 },
	{ "tcp4_seq_afinfo", "tcp_seq_afinfo", 0, 0 },
	{ "tcp6_seq_afinfo", "tcp_seq_afinfo", 0, 0 },
	{ "udp4_seq_afinfo", "udp_seq_afinfo", 0, 0 },
	{ "udp6_seq_afinfo", "udp_seq_afinfo", 0, 0 },
	{ "udplite4_seq_afinfo", "udp_seq_afinfo", 0, 0 },
	{ "udplite6_seq_afinfo", "udp_seq_afinfo", 0, 0 },
	{ "mount_hashtable", "hlist_head", 1, 0 },
	{ "mountpoint_hashtable", "hlist_head", 1, 0 },
	{ "pid_hash", "hlist_head", 1, 0 },
	{ "pidhash_shift", "unsigned int", 0, 0 },
	{ "jiffies", "long unsigned int", 0, 0 },
	{ "jiffies_64", "u64", 0, 0 },
	{ "nr_threads", "int", 0, 0 },
	{ "total_forks", "long unsigned int", 0, 0 },
	{ "super_blocks", "list_head", 0, 0 },
	{ "file_systems", "file_system_type", 1, 0 },
	{ "inet_protos", "net_protocol", 1, 256 },
	{ "_text", "char", 0, 0 },
	{ "_etext", "char", 0, 0 },
	{ "_stext", "char", 0, 0 },
	{ "_sdata", "char", 0, 0 },
	{ "_edata", "char", 0, 0 },
	{ "_end", "char", 0, 0 },
};

/* A named type to describe: struct, union, typedef, then the other kinds. */
static int find_named(const struct name_ix *ix, const char *name)
{
	static const int kinds[] = { BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_TYPEDEF,
		                     BTF_KIND_INT,    BTF_KIND_ENUM,  BTF_KIND_FLOAT };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int id = name_ix_find(ix, name, (uint32_t)kinds[i]);
		if (id > 0)
			return id;
	}
	return -ENOENT;
}

/* Elements from SYM up to the next symbol at a higher address, each of
 * ELEM bytes (0 when there is none within reach). */
static unsigned count_to_next(const struct symtab *st, size_t i, long long elem)
{
	const struct ksym *s = &st->syms[i];
	for (size_t j = i + 1; j < st->n && j < i + 4096; j++) {
		const struct ksym *n = &st->syms[j];
		if ((n->flags & KSYM_ABS) != (s->flags & KSYM_ABS) || n->addr <= s->addr)
			continue;
		uint64_t span = n->addr - s->addr;
		return elem > 0 && span / (uint64_t)elem <= 1u << 20 ? (unsigned)(span / (uint64_t)elem) : 0;
	}
	return 0;
}

/* The type of the known symbol E (symbol index I), or 0 when this kernel's
 * BTF does not have its type or its length can not be known. */
static int put_known_type(FILE *f, const struct btf *b, const struct name_ix *ix, const struct vms_kernel *k, size_t i,
                          const struct isf_known *e)
{
	int id = find_named(ix, e->type);
	if (id < 0)
		return 0;
	long long elem = e->ptrs ? 8 : btf__resolve_size(b, (uint32_t)id);
	long long count = e->count;
	if (count == ISF_STRLEN)
		count = (long long)strlen(k->banner) + 2; /* the text, its newline and NUL */
	else if (count == ISF_NEXT_SYM)
		count = count_to_next(&k->syms, i, elem);
	if (e->count && count <= 0)
		return 0;
	fprintf(f, ",\"type\":");
	if (e->count)
		fprintf(f, "{\"kind\":\"array\",\"count\":%lld,\"subtype\":", count);
	for (unsigned p = 0; p < e->ptrs; p++)
		fprintf(f, "{\"kind\":\"pointer\",\"subtype\":");
	put_desc(f, b, (uint32_t)id, 0);
	for (unsigned p = 0; p < e->ptrs; p++)
		fputc('}', f);
	if (e->count)
		fputc('}', f);
	return 1;
}

/* Per-CPU variables: the kernel's BTF has a VAR for each (in the
 * .data..percpu DATASEC), and later kernels' for other globals too. */
static void put_sym_type(FILE *f, const struct btf *b, const struct name_ix *ix, const struct vms_kernel *k, size_t i,
                         const char *name)
{
	for (size_t j = 0; j < sizeof(isf_known) / sizeof(isf_known[0]); j++)
		if (!strcmp(isf_known[j].sym, name)) {
			if (put_known_type(f, b, ix, k, i, &isf_known[j]))
				return;
			break;
		}
	int id = name_ix_find(ix, name, BTF_KIND_VAR);
	if (id > 0) {
		fprintf(f, ",\"type\":");
		put_desc(f, b, btf__type_by_id(b, (uint32_t)id)->type, 0);
		return;
	}
	char c = k->syms.syms[i].type;
	if (c == 'T' || c == 't' || name_ix_find(ix, name, BTF_KIND_FUNC) > 0)
		fprintf(f, ",\"type\":{\"kind\":\"function\"}");
}

/*
 * LibVMI finds the kernel's physical base from phys_startup_64 (an absolute
 * symbol of the link: startup_64's physical load address) and startup_64.
 * kallsyms does not carry absolute symbols of the link, so it is written
 * from what was found: where startup_64 lies physically in this boot, the
 * link-time value moved by the physical KASLR offset, as LibVMI needs it to
 * turn the kernel's link-time virtual addresses into physical ones.
 */
static void put_phys_startup(FILE *f, const struct vms_kernel *k, int first)
{
	const struct ksym *s = symtab_find(&k->syms, "startup_64");
	if (symtab_find(&k->syms, "phys_startup_64") || !s || !k->text_pa)
		return;
	/* This boot's address (a cached profile's symbols are slid), as text_va. */
	uint64_t va = symtab_addr(&k->syms, s);
	if (va < k->text_va || va - k->text_va >= (1ull << 30))
		return;
	fprintf(f, "%s\n\"phys_startup_64\":{\"address\":%llu}", first ? "" : ",",
	        (unsigned long long)(k->text_pa + (va - k->text_va)));
}

int vms_kernel_write_isf(struct vms_kernel *k, int fd)
{
	int rc = 0;
	struct btf *b = k->btf_data ? kernel_btf(k, &rc) : NULL;
	if (k->btf_data && !b)
		return rc;
	struct name_ix ix = { 0 };
	if (b && name_ix_build(&ix, b))
		return kernel_fail(k, ENOMEM, "out of memory indexing the BTF's type names");
	int dfd = dup(fd);
	FILE *f = dfd >= 0 ? fdopen(dfd, "w") : NULL;
	if (!f) {
		rc = kernel_fail(k, errno, "cannot write the ISF file: %s", strerror(errno));
		if (dfd >= 0)
			close(dfd);
		free(ix.e);
		return rc;
	}
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	fprintf(f,
	        "{\"metadata\":{\"format\":\"6.2.0\",\"producer\":{\"name\":\"vmsight\",\"version\":\"%d.%d.0\","
	        "\"datetime\":\"%s\"},\"linux\":{\"symbols\":[{\"name\":",
	        VMS_VERSION_MAJOR, VMS_VERSION_MINOR, when);
	put_str(f, !strcmp(k->symbols_from, "system-map") ? "System.map (given)"
	           : !strcmp(k->symbols_from, "isf")      ? "ISF file (given)"
	                                                  : "kallsyms in guest memory");
	fprintf(f, "}],\"types\":[{\"name\":");
	put_str(f, b ? "BTF in guest memory (.BTF of vmlinux)" : "none");
	fprintf(f, "}]}},\n");
	if (b)
		put_types(f, b, &ix);
	else
		fprintf(f, "\"base_types\":{},\"user_types\":{},\"enums\":{},\n");
	fprintf(f, "\"symbols\":{");
	int64_t slide = (int64_t)(k->text_va - KERNEL_TEXT_DEFAULT);
	int first = 1;
	for (size_t i = 0; i < k->syms.n; i++) {
		const struct ksym *s = &k->syms.syms[i];
		const char *name = symtab_name(&k->syms, s);
		if (symtab_find(&k->syms, name) != s)
			continue; /* ISF keys are unique: the first of each name */
		fprintf(f, "%s\n", first ? "" : ",");
		first = 0;
		put_str(f, name);
		uint64_t addr = s->flags & KSYM_ABS ? s->addr : symtab_addr(&k->syms, s) - (uint64_t)slide;
		fprintf(f, ":{\"address\":%llu", (unsigned long long)addr);
		if (strcmp(name, "linux_banner") == 0) {
			char text[sizeof(k->banner) + 2];
			int n = snprintf(text, sizeof(text), "%s\n", k->banner);
			fprintf(f, ",\"constant_data\":");
			put_base64(f, (const uint8_t *)text, (size_t)n + 1);
		}
		if (b)
			put_sym_type(f, b, &ix, k, i, name);
		fputc('}', f);
	}
	put_phys_startup(f, k, first);
	fprintf(f, "}}\n");
	free(ix.e);
	if (fclose(f))
		return kernel_fail(k, errno, "writing the ISF file: %s", strerror(errno));
	return 0;
}
