/*
 * The kernel's BTF: the header checked by hand (the blob comes from guest
 * memory), the rest parsed by libbpf (btf__new validates every type and
 * string reference), and member lookups by dotted path over libbpf's types.
 *
 * A path walks named members, descending into anonymous structs and unions
 * as C does ("__state" in task_struct may sit in an anonymous union), and
 * takes "[N]" after an array member. Typedefs and qualifiers are looked
 * through at every step. The path comes from the command line (or a
 * caller's string), so every step is checked and refused with a message
 * that says why: a member of something that is not a struct, an index of
 * something that is not an array, a negative, malformed or out-of-range
 * index (arrays are bounded by their length in the BTF).
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

/* NAME's struct or union (or a typedef of one). Never an anonymous one:
 * libbpf matches an empty name against the first type without a name. */
static int find_composite(const struct btf *b, const char *name, uint32_t *id)
{
	if (!*name)
		return -EINVAL;
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
static int find_member(const struct btf *b, uint32_t id, const char *name, size_t nlen, uint64_t *bits, uint32_t *mid,
                       uint32_t *bsz, int depth, unsigned *budget)
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

/* What T is, for messages. */
static const char *kind_name(const struct btf_type *t)
{
	switch (t ? btf_kind(t) : BTF_KIND_UNKN) {
	case BTF_KIND_INT: return "an integer";
	case BTF_KIND_PTR: return "a pointer";
	case BTF_KIND_ARRAY: return "an array";
	case BTF_KIND_STRUCT: return "a struct";
	case BTF_KIND_UNION: return "a union";
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64: return "an enum";
	case BTF_KIND_FWD: return "a declared but undefined struct";
	case BTF_KIND_FUNC_PROTO: return "a function type";
	case BTF_KIND_FLOAT: return "a floating-point number";
	default: return "not a struct or union";
	}
}

/* The decimal index at P (just after '['), up to its ']' (*END). Only
 * digits: no sign, no space, no hex; at most UINT32_MAX, the largest
 * number of elements BTF can give an array. */
static int parse_index(const char *p, const char **end, uint64_t *idx)
{
	uint64_t v = 0;
	const char *q = p;
	for (; *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (uint64_t)(*q - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	if (q == p || *q != ']')
		return -EINVAL;
	*end = q + 1;
	*idx = v;
	return 0;
}

/* "[N]" at *P after the member SEG (of type *ID): the element's type in
 * *ID, its place added to *BITS, *P moved past the ']'. */
static int take_index(const struct btf *b, const char *path, const char *seg, int slen, const char **p, uint32_t *id,
                      uint64_t *bits, char *err, size_t errlen)
{
	uint32_t aid = *id;
	const struct btf_type *t = resolve(b, &aid);
	if (!t || !btf_is_array(t))
		return ksym_fail(err, errlen, -EINVAL, "'%.*s' is %s, not an array: it cannot be indexed (in '%s')",
		                 slen, seg, kind_name(t), path);
	const struct btf_array *a = btf_array(t);
	const char *end;
	uint64_t idx;
	int rc = parse_index(*p + 1, &end, &idx);
	if ((*p)[1] == '-')
		return ksym_fail(err, errlen, -ERANGE, "'%s': an index cannot be negative ('%.*s' has %u elements)",
		                 path, slen, seg, a->nelems);
	if (rc == -ERANGE)
		return ksym_fail(err, errlen, -ERANGE, "'%s': index out of range ('%.*s' has %u elements)", path, slen,
		                 seg, a->nelems);
	if (rc)
		return ksym_fail(err, errlen, -EINVAL, "'%s': an index is a decimal number in brackets, as '%.*s[1]'",
		                 path, slen, seg);
	if (a->nelems == 0)
		return ksym_fail(err, errlen, -ERANGE, "'%s': '%.*s' is an array of unknown length: no index is in it",
		                 path, slen, seg);
	if (idx >= a->nelems)
		return ksym_fail(err, errlen, -ERANGE,
		                 "'%s': index %llu is out of range: '%.*s' has %u elements (0 to %u)", path,
		                 (unsigned long long)idx, slen, seg, a->nelems, a->nelems - 1);
	long long esz = btf__resolve_size(b, a->type);
	if (esz < 0)
		return ksym_fail(err, errlen, -EINVAL, "'%s': the size of an element of '%.*s' is unknown", path, slen,
		                 seg);
	/* idx < 2^32 and esz < 2^32 (libbpf's bound): no overflow. */
	*bits += idx * (uint64_t)esz * 8;
	*id = a->type;
	*p = end;
	return 0;
}

int kbtf_field(const struct btf *b, const char *type, const char *path, uint64_t *offset, uint64_t *size,
               uint32_t *bit_offset, uint32_t *bit_size, char *err, size_t errlen)
{
	uint32_t id;
	if (!type || !*type)
		return ksym_fail(err, errlen, -EINVAL, "empty type name");
	if (find_composite(b, type, &id))
		return ksym_fail(err, errlen, -ENOENT, "no struct or union '%s' in the kernel's BTF", type);
	uint64_t bits = 0;
	uint32_t bsz = 0;
	const char *p = path, *seg = type;
	int slen = (int)strlen(type);
	if (!p || !*p)
		return ksym_fail(err, errlen, -EINVAL, "empty member path");
	while (*p) {
		size_t nlen = strcspn(p, ".[");
		if (nlen == 0)
			return ksym_fail(err, errlen, -EINVAL, "bad member path '%s': a member name is missing", path);
		/* Only a struct or union has members; say what it is instead. */
		uint32_t cid = id;
		const struct btf_type *ct = resolve(b, &cid);
		if (!ct || !btf_is_composite(ct))
			return ksym_fail(err, errlen, -EINVAL,
			                 "'%.*s' is %s, not a struct or union: '.%.*s' cannot follow it "
			                 "(in '%s')",
			                 slen, seg, kind_name(ct), (int)nlen, p, path);
		uint32_t mid;
		unsigned budget = MEMBER_BUDGET;
		if (find_member(b, id, p, nlen, &bits, &mid, &bsz, 0, &budget)) {
			if (seg == type)
				return ksym_fail(err, errlen, -ENOENT, "%s has no member '%.*s' (in '%s')", type,
				                 (int)nlen, p, path);
			return ksym_fail(err, errlen, -ENOENT, "'%.*s' has no member '%.*s' (in '%s')", slen, seg,
			                 (int)nlen, p, path);
		}
		seg = p;
		slen = (int)nlen;
		p += nlen;
		id = mid;
		while (*p == '[') {
			int rc = take_index(b, path, seg, slen, &p, &id, &bits, err, errlen);
			if (rc)
				return rc;
			bsz = 0;
		}
		if (*p == '.' && p[1])
			p++;
		else if (*p)
			return ksym_fail(err, errlen, -EINVAL,
			                 "bad member path '%s': it ends in '.' or has text after ']'", path);
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
	if (!type || !*type)
		return ksym_fail(err, errlen, -EINVAL, "empty type name");
	if (find_composite(b, type, &id))
		return ksym_fail(err, errlen, -ENOENT, "no struct or union '%s' in the kernel's BTF", type);
	long long sz = btf__resolve_size(b, id);
	if (sz < 0)
		return ksym_fail(err, errlen, -EINVAL, "size of '%s' is unknown", type);
	*size = (uint64_t)sz;
	return 0;
}
