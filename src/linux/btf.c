/*
 * The kernel's BTF: the header checked by hand (the blob comes from guest
 * memory), the rest parsed by libbpf (btf__new validates every type and
 * string reference), and member lookups by dotted path over libbpf's types.
 *
 * A path walks named members, descending into anonymous structs and unions
 * as C does ("__state" in task_struct may sit in an anonymous union), and
 * takes "[N]" after an array member. Typedefs and qualifiers are looked
 * through at every step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/btf.h>

#include "kernel.h"

int kbtf_check_header(const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct btf_header h;
	if (len < sizeof(h))
		return ksym_fail(err, errlen, -EINVAL, "%zu bytes: shorter than a BTF header", len);
	memcpy(&h, data, sizeof(h));
	if (h.magic != BTF_MAGIC)
		return ksym_fail(err, errlen, -EINVAL, "bad magic 0x%04x (want 0x%04x)", h.magic, BTF_MAGIC);
	if (h.version != BTF_VERSION)
		return ksym_fail(err, errlen, -EINVAL, "unknown version %u", h.version);
	if (h.hdr_len < sizeof(h) || h.hdr_len > len || (h.hdr_len & 3))
		return ksym_fail(err, errlen, -EINVAL, "header length %u out of bounds or unaligned", h.hdr_len);
	size_t body = len - h.hdr_len;
	if (h.type_off > body || h.type_len > body - h.type_off || (h.type_off & 3))
		return ksym_fail(err, errlen, -EINVAL, "type section %u+%u outside the %zu bytes after the header",
			    h.type_off, h.type_len, body);
	if (h.str_off > body || h.str_len > body - h.str_off || h.str_len == 0)
		return ksym_fail(err, errlen, -EINVAL, "string section %u+%u outside the %zu bytes after the header",
			    h.str_off, h.str_len, body);
	if (len > UINT32_MAX)
		return ksym_fail(err, errlen, -EINVAL, "%zu bytes: too large", len);
	return 0;
}

struct btf *kbtf_parse(const uint8_t *data, size_t len, char *err, size_t errlen)
{
	if (kbtf_check_header(data, len, err, errlen))
		return NULL;
	struct btf *b = btf__new(data, (uint32_t)len);
	long e = libbpf_get_error(b);
	if (e || !b) {
		ksym_fail(err, errlen, 0, "libbpf rejects it: %s", strerror(e ? (int)-e : EINVAL));
		return NULL;
	}
	return b;
}

/* TYPE without typedefs and qualifiers. */
static const struct btf_type *resolve(const struct btf *b, uint32_t *id)
{
	for (int depth = 0; depth < 64; depth++) {
		const struct btf_type *t = btf__type_by_id(b, *id);
		if (!t)
			return NULL;
		if (!btf_is_typedef(t) && !btf_is_mod(t))
			return t;
		*id = t->type;
	}
	return NULL;
}

static int find_composite(const struct btf *b, const char *name, uint32_t *id)
{
	int s = btf__find_by_name_kind(b, name, BTF_KIND_STRUCT);
	if (s <= 0)
		s = btf__find_by_name_kind(b, name, BTF_KIND_UNION);
	if (s <= 0) {
		/* A typedef of a struct ("atomic_t"). */
		int td = btf__find_by_name_kind(b, name, BTF_KIND_TYPEDEF);
		if (td > 0) {
			uint32_t r = (uint32_t)td;
			const struct btf_type *t = resolve(b, &r);
			if (t && btf_is_composite(t)) {
				*id = r;
				return 0;
			}
		}
		return -ENOENT;
	}
	*id = (uint32_t)s;
	return 0;
}

/* Members looked at per lookup, at most: hostile BTF can nest anonymous
 * members in each other, in a loop and many to a level. */
#define MEMBER_BUDGET (1u << 16)

/* The member NAME of composite ID, searched through anonymous members.
 * Adds its bit offset to *BITS; its type in *MID, bitfield size in *BSZ. */
static int find_member(const struct btf *b, uint32_t id, const char *name, size_t nlen, uint64_t *bits,
		       uint32_t *mid, uint32_t *bsz, int depth, unsigned *budget)
{
	const struct btf_type *t = resolve(b, &id);
	if (!t || !btf_is_composite(t) || depth > 32)
		return -ENOENT;
	const struct btf_member *m = btf_members(t);
	for (uint16_t i = 0; i < btf_vlen(t); i++) {
		if (*budget == 0)
			return -ENOENT;
		(*budget)--;
		const char *mn = btf__name_by_offset(b, m[i].name_off);
		uint64_t off = btf_member_bit_offset(t, i);
		if (mn && mn[0]) {
			if (strlen(mn) == nlen && memcmp(mn, name, nlen) == 0) {
				*bits += off;
				*mid = m[i].type;
				*bsz = btf_member_bitfield_size(t, i);
				return 0;
			}
		} else {
			uint64_t sub = 0;
			if (find_member(b, m[i].type, name, nlen, &sub, mid, bsz, depth + 1, budget) == 0) {
				*bits += off + sub;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int kbtf_field(const struct btf *b, const char *type, const char *path, uint64_t *offset, uint64_t *size,
	       uint32_t *bit_offset, uint32_t *bit_size, char *err, size_t errlen)
{
	uint32_t id;
	if (find_composite(b, type, &id))
		return ksym_fail(err, errlen, -ENOENT, "no struct or union '%s' in the kernel's BTF", type);
	uint64_t bits = 0;
	uint32_t bsz = 0;
	const char *p = path;
	if (!*p)
		return ksym_fail(err, errlen, -EINVAL, "empty member path");
	while (*p) {
		size_t nlen = strcspn(p, ".[");
		if (nlen == 0)
			return ksym_fail(err, errlen, -EINVAL, "bad member path '%s'", path);
		uint32_t mid;
		unsigned budget = MEMBER_BUDGET;
		if (find_member(b, id, p, nlen, &bits, &mid, &bsz, 0, &budget))
			return ksym_fail(err, errlen, -ENOENT, "%s has no member '%.*s' (in '%s')", type, (int)nlen, p,
				    path);
		p += nlen;
		id = mid;
		while (*p == '[') {
			char *end;
			unsigned long long idx = strtoull(p + 1, &end, 10);
			uint32_t aid = id;
			const struct btf_type *t = resolve(b, &aid);
			if (end == p + 1 || *end != ']' || !t || !btf_is_array(t))
				return ksym_fail(err, errlen, -EINVAL, "'%s': index on a member that is not an array", path);
			const struct btf_array *a = btf_array(t);
			long long esz = btf__resolve_size(b, a->type);
			if (esz < 0 || idx >= a->nelems)
				return ksym_fail(err, errlen, -ERANGE, "'%s': index %llu out of %u", path, idx, a->nelems);
			bits += idx * (uint64_t)esz * 8;
			id = a->type;
			bsz = 0;
			p = end + 1;
		}
		if (*p == '.')
			p++;
		else if (*p)
			return ksym_fail(err, errlen, -EINVAL, "bad member path '%s'", path);
	}
	long long sz = btf__resolve_size(b, id);
	if (sz < 0)
		return ksym_fail(err, errlen, -EINVAL, "'%s.%s': size of its type is unknown", type, path);
	*offset = bits / 8;
	*size = (uint64_t)sz;
	*bit_offset = (uint32_t)bits;
	*bit_size = bsz;
	return 0;
}

int kbtf_struct_size(const struct btf *b, const char *type, uint64_t *size, char *err, size_t errlen)
{
	uint32_t id;
	if (find_composite(b, type, &id))
		return ksym_fail(err, errlen, -ENOENT, "no struct or union '%s' in the kernel's BTF", type);
	long long sz = btf__resolve_size(b, id);
	if (sz < 0)
		return ksym_fail(err, errlen, -EINVAL, "size of '%s' is unknown", type);
	*size = (uint64_t)sz;
	return 0;
}
