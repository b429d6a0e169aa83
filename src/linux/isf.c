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
static int first_of_name(const struct btf *b, uint32_t id, const struct btf_type *t, char *name, size_t len)
{
	type_name(b, id, name, len);
	if (!t->name_off)
		return 1;
	int want = btf__find_by_name_kind(b, name, btf_kind(t));
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

static void put_types(FILE *f, const struct btf *b)
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
		if (!first_of_name(b, id, t, name, sizeof(name)))
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
	/* enums */
	fprintf(f, "},\n\"enums\":{");
	first = 1;
	for (uint32_t id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(b, id);
		if (!btf_is_any_enum(t))
			continue;
		if (!first_of_name(b, id, t, name, sizeof(name)))
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

int vms_kernel_write_isf(struct vms_kernel *k, int fd)
{
	int rc = 0;
	struct btf *b = k->btf_data ? kernel_btf(k, &rc) : NULL;
	if (k->btf_data && !b)
		return rc;
	int dfd = dup(fd);
	FILE *f = dfd >= 0 ? fdopen(dfd, "w") : NULL;
	if (!f) {
		if (dfd >= 0)
			close(dfd);
		return kernel_fail(k, errno, "cannot write the ISF file: %s", strerror(errno));
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
		put_types(f, b);
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
		fputc('}', f);
	}
	fprintf(f, "}}\n");
	if (fclose(f))
		return kernel_fail(k, errno, "writing the ISF file: %s", strerror(errno));
	return 0;
}
