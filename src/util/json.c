/*
 * Strict recursive-descent JSON parser into a flat node array (see json.h).
 * Two bounds keep hostile input harmless: nesting depth (recursion) and the
 * size of the input (which bounds the node array and the string buffer).
 */
#include "json.h"

#include "escape.h"
#include "hex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64
#define JSON_MAX_INPUT (64u << 20)

struct parser {
	const char *p, *end;
	struct json_doc *d;
	int cap;
	size_t strs_len;
};

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int new_node(struct parser *ps, enum json_type type)
{
	struct json_doc *d = ps->d;
	if (d->count == ps->cap)
		return -E2BIG;
	struct json_node *n = &d->nodes[d->count];
	*n = (struct json_node){ .type = type, .next = -1, .child = -1, .key = -1, .str = -1 };
	return d->count++;
}

static int read_hex4(struct parser *ps, unsigned *out)
{
	if (ps->end - ps->p < 4)
		return -EINVAL;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hex_digit((unsigned char)ps->p[i]);
		if (h < 0)
			return -EINVAL;
		v = v << 4 | (unsigned)h;
	}
	ps->p += 4;
	*out = v;
	return 0;
}

static void put_utf8(struct parser *ps, unsigned cp)
{
	char *o = ps->d->strs + ps->strs_len;
	if (cp < 0x80) {
		o[0] = (char)cp;
		ps->strs_len += 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		ps->strs_len += 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		ps->strs_len += 3;
	} else {
		o[0] = (char)(0xf0 | cp >> 18);
		o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		ps->strs_len += 4;
	}
}

/* Decodes a string literal into strs. Escapes never grow the text (a \uXXXX
 * of 6 bytes yields at most 3, a surrogate pair of 12 yields 4), so strs
 * sized like the input always has room. Returns the offset, or -errno. */
static int parse_string(struct parser *ps, size_t *len_out)
{
	if (ps->p >= ps->end || *ps->p != '"')
		return -EINVAL;
	ps->p++;
	size_t start = ps->strs_len;
	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p++;
		if (c == '"') {
			*len_out = ps->strs_len - start;
			ps->d->strs[ps->strs_len++] = '\0';
			return (int)start;
		}
		if (c < 0x20)
			return -EINVAL;
		if (c != '\\') {
			ps->d->strs[ps->strs_len++] = (char)c;
			continue;
		}
		if (ps->p >= ps->end)
			return -EINVAL;
		char e = *ps->p++;
		unsigned cp;
		switch (e) {
		case '"':
		case '\\':
		case '/': ps->d->strs[ps->strs_len++] = e; break;
		case 'b': ps->d->strs[ps->strs_len++] = '\b'; break;
		case 'f': ps->d->strs[ps->strs_len++] = '\f'; break;
		case 'n': ps->d->strs[ps->strs_len++] = '\n'; break;
		case 'r': ps->d->strs[ps->strs_len++] = '\r'; break;
		case 't': ps->d->strs[ps->strs_len++] = '\t'; break;
		case 'u':
			if (read_hex4(ps, &cp))
				return -EINVAL;
			if (cp >= 0xd800 && cp < 0xdc00) {
				unsigned lo;
				if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
					return -EINVAL;
				ps->p += 2;
				if (read_hex4(ps, &lo) || lo < 0xdc00 || lo >= 0xe000)
					return -EINVAL;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return -EINVAL;
			}
			if (cp == 0)
				return -EINVAL; /* would truncate the C string */
			put_utf8(ps, cp);
			break;
		default: return -EINVAL;
		}
	}
	return -EINVAL;
}

static int parse_value(struct parser *ps, int depth);

static int parse_number(struct parser *ps)
{
	const char *s = ps->p;
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return -EINVAL;
	if (*ps->p == '0')
		ps->p++;
	else
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return -EINVAL;
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return -EINVAL;
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	int n = new_node(ps, JSON_NUMBER);
	if (n < 0)
		return n;
	size_t len = (size_t)(ps->p - s);
	memcpy(ps->d->strs + ps->strs_len, s, len);
	ps->d->nodes[n].str = (int)ps->strs_len;
	ps->d->nodes[n].str_len = len;
	ps->strs_len += len;
	ps->d->strs[ps->strs_len++] = '\0';
	return n;
}

static int parse_literal(struct parser *ps, const char *word, enum json_type type)
{
	size_t n = strlen(word);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return -EINVAL;
	ps->p += n;
	return new_node(ps, type);
}

static int parse_container(struct parser *ps, int depth, int is_object)
{
	int self = new_node(ps, is_object ? JSON_OBJECT : JSON_ARRAY);
	if (self < 0)
		return self;
	ps->p++;
	skip_ws(ps);
	char close = is_object ? '}' : ']';
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return self;
	}
	int prev = -1;
	for (;;) {
		int key = -1;
		if (is_object) {
			size_t klen;
			skip_ws(ps);
			key = parse_string(ps, &klen);
			if (key < 0)
				return key;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return -EINVAL;
			ps->p++;
		}
		int v = parse_value(ps, depth + 1);
		if (v < 0)
			return v;
		ps->d->nodes[v].key = key;
		if (prev < 0)
			ps->d->nodes[self].child = v;
		else
			ps->d->nodes[prev].next = v;
		prev = v;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return -EINVAL;
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			return self;
		}
		return -EINVAL;
	}
}

static int parse_value(struct parser *ps, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return -E2BIG;
	skip_ws(ps);
	if (ps->p >= ps->end)
		return -EINVAL;
	switch (*ps->p) {
	case '{': return parse_container(ps, depth, 1);
	case '[': return parse_container(ps, depth, 0);
	case '"': {
		int n = new_node(ps, JSON_STRING);
		if (n < 0)
			return n;
		size_t len;
		int off = parse_string(ps, &len);
		if (off < 0)
			return off;
		ps->d->nodes[n].str = off;
		ps->d->nodes[n].str_len = len;
		return n;
	}
	case 't': return parse_literal(ps, "true", JSON_TRUE);
	case 'f': return parse_literal(ps, "false", JSON_FALSE);
	case 'n': return parse_literal(ps, "null", JSON_NULL);
	default: return parse_number(ps);
	}
}

int json_parse(const char *text, size_t len, struct json_doc *doc)
{
	memset(doc, 0, sizeof(*doc));
	if (len > JSON_MAX_INPUT)
		return -E2BIG;
	/* Every node consumes at least one input byte, except that a value
	 * needs one; the string buffer never outgrows the input plus NULs. */
	int cap = (int)len + 1;
	doc->nodes = calloc((size_t)cap, sizeof(*doc->nodes));
	doc->strs = malloc(2 * len + 2);
	if (!doc->nodes || !doc->strs) {
		json_free(doc);
		return -ENOMEM;
	}
	struct parser ps = { .p = text, .end = text + len, .d = doc, .cap = cap };
	int root = parse_value(&ps, 0);
	if (root >= 0) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			root = -EINVAL;
	}
	if (root < 0) {
		json_free(doc);
		return root;
	}
	return 0;
}

void json_free(struct json_doc *doc)
{
	free(doc->nodes);
	free(doc->strs);
	memset(doc, 0, sizeof(*doc));
}

int json_get(const struct json_doc *d, int obj, const char *key)
{
	if (obj < 0 || obj >= d->count || d->nodes[obj].type != JSON_OBJECT)
		return -1;
	for (int c = d->nodes[obj].child; c >= 0; c = d->nodes[c].next)
		if (strcmp(d->strs + d->nodes[c].key, key) == 0)
			return c;
	return -1;
}

int json_at(const struct json_doc *d, int arr, int index)
{
	if (arr < 0 || arr >= d->count || d->nodes[arr].type != JSON_ARRAY || index < 0)
		return -1;
	int c = d->nodes[arr].child;
	while (c >= 0 && index-- > 0)
		c = d->nodes[c].next;
	return c;
}

int json_len(const struct json_doc *d, int node)
{
	if (node < 0 || node >= d->count)
		return -1;
	int n = 0;
	for (int c = d->nodes[node].child; c >= 0; c = d->nodes[c].next)
		n++;
	return n;
}

const char *json_str(const struct json_doc *d, int node)
{
	if (node < 0 || node >= d->count || d->nodes[node].type != JSON_STRING)
		return NULL;
	return d->strs + d->nodes[node].str;
}

static int parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned dgt = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return -ERANGE;
		v = v * 10 + dgt;
	}
	*out = v;
	return 0;
}

int json_u64(const struct json_doc *d, int node, uint64_t *out)
{
	if (node < 0 || node >= d->count || d->nodes[node].type != JSON_NUMBER)
		return -EINVAL;
	return parse_uint(d->strs + d->nodes[node].str, out);
}

int json_i64(const struct json_doc *d, int node, int64_t *out)
{
	if (node < 0 || node >= d->count || d->nodes[node].type != JSON_NUMBER)
		return -EINVAL;
	const char *s = d->strs + d->nodes[node].str;
	int neg = *s == '-';
	uint64_t v;
	int rc = parse_uint(s + neg, &v);
	if (rc)
		return rc;
	if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int json_bool(const struct json_doc *d, int node)
{
	if (node < 0 || node >= d->count)
		return -1;
	if (d->nodes[node].type == JSON_TRUE)
		return 1;
	if (d->nodes[node].type == JSON_FALSE)
		return 0;
	return -1;
}

int json_quote(char *out, size_t cap, size_t len, const char *s)
{
	/* the body by the one escaper (util/escape.c), between quotes */
	if (len + 2 >= cap)
		return -E2BIG;
	out[len++] = '"';
	size_t n = esc_json(out + len, cap - len - 1, s, strlen(s), 0);
	if (n >= cap - len - 1)
		return -E2BIG;
	len += n;
	out[len++] = '"';
	out[len] = '\0';
	return (int)len;
}
