/*
 * Profiles given by the user, for kernels whose kallsyms or BTF vmsight
 * cannot use: a System.map (symbols) and a Volatility 3 ISF JSON file
 * (symbols and types). Both carry link-time addresses; they are moved by
 * the KASLR offset the page tables showed (the image's first mapped 2 MiB
 * page is _text), except absolute symbols below the kernel's map.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/json.h"
#include "kernel.h"

struct isf_types {
	struct json_doc doc;
	int user_types, base_types, enums;
};

static int slide_symbols(struct vms_kernel *k, const char *what)
{
	const struct ksym *text = symtab_find(&k->syms, "_text");
	if (!text)
		return kernel_fail(k, EINVAL, "%s has no _text symbol to place it by", what);
	int64_t delta = (int64_t)(k->image_va - symtab_addr(&k->syms, text));
	for (size_t i = 0; i < k->syms.n; i++)
		if (symtab_addr(&k->syms, &k->syms.syms[i]) < KERNEL_MAP_START)
			k->syms.syms[i].flags |= KSYM_ABS;
	symtab_relocate(&k->syms, delta);
	return 0;
}

int profile_read_system_map(struct vms_kernel *k, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return kernel_fail(k, errno, "cannot open System.map %s: %s", path, strerror(errno));
	symtab_free(&k->syms);
	char line[1024];
	unsigned long lineno = 0;
	int rc = 0;
	while (!rc && fgets(line, sizeof(line), f)) {
		lineno++;
		char *end;
		unsigned long long addr = strtoull(line, &end, 16);
		if (end == line || *end != ' ' || !end[1] || end[2] != ' ') {
			rc = kernel_fail(k, EINVAL, "%s:%lu: not a System.map line", path, lineno);
			break;
		}
		char type = end[1];
		char *name = end + 3;
		size_t nl = strcspn(name, " \t\r\n");
		if (nl == 0)
			rc = kernel_fail(k, EINVAL, "%s:%lu: no symbol name", path, lineno);
		else if (symtab_add(&k->syms, addr, type, 0, name, nl))
			rc = kernel_fail(k, ENOMEM, "%s: too many symbols", path);
	}
	fclose(f);
	if (!rc && k->syms.n < 2)
		rc = kernel_fail(k, EINVAL, "%s: no symbols (Debian's stub System.map?)", path);
	if (!rc && symtab_index(&k->syms))
		rc = kernel_fail(k, ENOMEM, "out of memory");
	if (!rc)
		rc = slide_symbols(k, path);
	if (!rc)
		k->symbols_from = "system-map";
	return rc;
}

void profile_isf_free(struct isf_types *isf)
{
	if (isf) {
		json_free(&isf->doc);
		free(isf);
	}
}

static char *read_file(const char *path, size_t *len, int *err)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	if (!f || fstat(fileno(f), &st) || st.st_size > (64 << 20)) {
		*err = f ? EFBIG : errno;
		if (f)
			fclose(f);
		return NULL;
	}
	char *b = malloc((size_t)st.st_size + 1);
	if (b && fread(b, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*err = b ? 0 : EIO;
	*len = (size_t)st.st_size;
	return b;
}

int profile_read_isf(struct vms_kernel *k, const char *path)
{
	size_t len;
	int err;
	char *text = read_file(path, &len, &err);
	if (!text)
		return kernel_fail(k, err, "cannot read ISF file %s: %s", path, strerror(err));
	struct isf_types *isf = calloc(1, sizeof(*isf));
	int rc = isf ? json_parse(text, len, &isf->doc) : -ENOMEM;
	free(text);
	if (rc) {
		free(isf);
		return kernel_fail(k, -rc, "ISF file %s is not valid JSON (or too large)", path);
	}
	struct json_doc *d = &isf->doc;
	int syms = json_get(d, 0, "symbols");
	isf->user_types = json_get(d, 0, "user_types");
	isf->base_types = json_get(d, 0, "base_types");
	isf->enums = json_get(d, 0, "enums");
	if (syms < 0 || isf->user_types < 0 || isf->base_types < 0 || d->nodes[syms].type != JSON_OBJECT) {
		profile_isf_free(isf);
		return kernel_fail(k, EINVAL, "%s is not an ISF file (no symbols, user_types or base_types)", path);
	}
	if (!k->syms.n || strcmp(k->symbols_from ? k->symbols_from : "", "kallsyms") != 0) {
		symtab_free(&k->syms);
		for (int s = d->nodes[syms].child; s >= 0 && !rc; s = d->nodes[s].next) {
			uint64_t addr;
			const char *name = d->strs + d->nodes[s].key;
			if (json_u64(d, json_get(d, s, "address"), &addr))
				continue;
			if (symtab_add(&k->syms, addr, '?', 0, name, strlen(name)))
				rc = kernel_fail(k, ENOMEM, "%s: too many symbols", path);
		}
		if (!rc && symtab_index(&k->syms))
			rc = kernel_fail(k, ENOMEM, "out of memory");
		if (!rc)
			rc = slide_symbols(k, path);
		if (!rc)
			k->symbols_from = "isf";
	}
	if (rc) {
		profile_isf_free(isf);
		return rc;
	}
	profile_isf_free(k->isf);
	k->isf = isf;
	if (!k->btf_data)
		k->types_from = "isf";
	return 0;
}

int profile_check_inputs(struct vms_kernel *k, const char *system_map, const char *isf_path)
{
	if (system_map) {
		FILE *f = fopen(system_map, "re");
		char line[1024];
		if (!f)
			return kernel_fail(k, errno, "cannot open System.map %s: %s", system_map, strerror(errno));
		int ok = fgets(line, sizeof(line), f) != NULL;
		char *end = NULL;
		if (ok)
			strtoull(line, &end, 16);
		fclose(f);
		if (!ok || end == line || *end != ' ' || !end[1] || end[2] != ' ')
			return kernel_fail(k, EINVAL,
			                   "%s is not a System.map (its first line is no \"ADDRESS TYPE NAME\")",
			                   system_map);
	}
	if (isf_path) {
		size_t len;
		int err;
		char *text = read_file(isf_path, &len, &err);
		if (!text)
			return kernel_fail(k, err, "cannot read ISF file %s: %s", isf_path, strerror(err));
		struct json_doc d;
		int rc = json_parse(text, len, &d);
		free(text);
		if (rc)
			return kernel_fail(k, -rc, "ISF file %s is not valid JSON (or too large)", isf_path);
		int syms = json_get(&d, 0, "symbols");
		int ok = syms >= 0 && d.nodes[syms].type == JSON_OBJECT && json_get(&d, 0, "user_types") >= 0 &&
		         json_get(&d, 0, "base_types") >= 0;
		json_free(&d);
		if (!ok)
			return kernel_fail(k, EINVAL, "%s is not an ISF file (no symbols, user_types or base_types)",
			                   isf_path);
	}
	return 0;
}

/* Size of the type a descriptor names. */
static int isf_type_size(const struct isf_types *isf, int desc, uint64_t *size, int depth)
{
	const struct json_doc *d = &isf->doc;
	const char *kind = json_str(d, json_get(d, desc, "kind"));
	const char *name = json_str(d, json_get(d, desc, "name"));
	if (!kind || depth > 32)
		return -EINVAL;
	if (strcmp(kind, "pointer") == 0 || strcmp(kind, "function") == 0) {
		*size = 8;
		return 0;
	}
	if (strcmp(kind, "array") == 0) {
		uint64_t n, es;
		if (json_u64(d, json_get(d, desc, "count"), &n) ||
		    isf_type_size(isf, json_get(d, desc, "subtype"), &es, depth + 1))
			return -EINVAL;
		*size = n * es;
		return 0;
	}
	if (strcmp(kind, "bitfield") == 0)
		return isf_type_size(isf, json_get(d, desc, "type"), size, depth + 1);
	int table = strcmp(kind, "base") == 0   ? isf->base_types
	            : strcmp(kind, "enum") == 0 ? isf->enums
	                                        : isf->user_types;
	if (!name)
		return -EINVAL;
	return json_u64(d, json_get(d, json_get(d, table, name), "size"), size) ? -EINVAL : 0;
}

/* Field NAME of user type UT, through anonymous members. */
static int isf_find(const struct isf_types *isf, int ut, const char *name, size_t nlen, uint64_t *off, int *type,
                    int depth)
{
	const struct json_doc *d = &isf->doc;
	int fields = json_get(d, ut, "fields");
	if (fields < 0 || depth > 32)
		return -ENOENT;
	for (int f = d->nodes[fields].child; f >= 0; f = d->nodes[f].next) {
		const char *fn = d->strs + d->nodes[f].key;
		uint64_t o;
		if (json_u64(d, json_get(d, f, "offset"), &o))
			continue;
		int t = json_get(d, f, "type");
		if (strlen(fn) == nlen && memcmp(fn, name, nlen) == 0) {
			*off += o;
			*type = t;
			return 0;
		}
		if (json_bool(d, json_get(d, f, "anonymous")) == 1) {
			const char *sub = json_str(d, json_get(d, t, "name"));
			uint64_t so = 0;
			if (sub &&
			    isf_find(isf, json_get(d, isf->user_types, sub), name, nlen, &so, type, depth + 1) == 0) {
				*off += o + so;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int isf_field(const struct isf_types *isf, const char *type, const char *path, uint64_t *offset, uint64_t *size,
              uint32_t *bit_offset, uint32_t *bit_size, char *err, size_t errlen)
{
	const struct json_doc *d = &isf->doc;
	int ut = json_get(d, isf->user_types, type);
	if (ut < 0) {
		snprintf(err, errlen, "no struct or union '%s' in the ISF types", type);
		return -ENOENT;
	}
	uint64_t off = 0;
	int desc = -1;
	const char *p = path;
	while (*p) {
		size_t nlen = strcspn(p, ".");
		if (nlen == 0 || ut < 0 || isf_find(isf, ut, p, nlen, &off, &desc, 0)) {
			snprintf(err, errlen, "%s has no member path '%s' in the ISF types", type, path);
			return -ENOENT;
		}
		p += nlen + (p[nlen] == '.');
		const char *sub = json_str(d, json_get(d, desc, "name"));
		ut = sub ? json_get(d, isf->user_types, sub) : -1;
	}
	if (desc < 0 || isf_type_size(isf, desc, size, 0)) {
		snprintf(err, errlen, "'%s.%s': no size in the ISF types", type, path);
		return -EINVAL;
	}
	*offset = off;
	*bit_offset = (uint32_t)(off * 8);
	*bit_size = 0;
	const char *kind = json_str(d, json_get(d, desc, "kind"));
	uint64_t bp, bl;
	if (kind && strcmp(kind, "bitfield") == 0 && !json_u64(d, json_get(d, desc, "bit_position"), &bp) &&
	    !json_u64(d, json_get(d, desc, "bit_length"), &bl)) {
		*bit_offset += (uint32_t)bp;
		*bit_size = (uint32_t)bl;
	}
	return 0;
}

int isf_struct_size(const struct isf_types *isf, const char *type, uint64_t *size)
{
	const struct json_doc *d = &isf->doc;
	return json_u64(d, json_get(d, json_get(d, isf->user_types, type), "size"), size) ? -ENOENT : 0;
}
