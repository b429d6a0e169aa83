/*
 * GDB target descriptions: which registers a stub's `g` packet holds, and
 * where.
 *
 * The layout of `g` is not fixed by the protocol; it is the stub's target
 * description (qXfer:features:read), an XML document that may pull in
 * others with <xi:include>. This is a small scanner, not an XML parser: it
 * understands what target descriptions use (<reg>, <xi:include>, comments,
 * processing instructions, CDATA and DOCTYPE) and skips every other tag.
 * It is pure: included documents come through a callback, so the client
 * fetches them from the stub while tests and the fuzzer supply them from
 * memory. Register count, include depth and include fan-out are bounded.
 */
#include "gdb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REGS 1024
#define MAX_INCLUDE_DEPTH 4
#define MAX_INCLUDES 32 /* in all: includes could fan out otherwise */

#define XML_MAX_ATTRS 16

struct xml_tag {
	const char *name;
	size_t name_len;
	size_t nattrs;
	struct {
		const char *name, *val;
		size_t name_len, val_len;
	} attrs[XML_MAX_ATTRS];
};

struct xml_ctx {
	vms_gdb_fetch_fn fetch;
	void *fetch_ctx;
	struct vms_gdb_layout *out;
	size_t cap;
	unsigned next_regnum;
	unsigned includes;
	char *err;
	size_t errlen;
};

static int xml_fail(struct xml_ctx *x, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int xml_fail(struct xml_ctx *x, int err, const char *fmt, ...)
{
	if (x->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(x->err, x->errlen, fmt, ap);
		va_end(ap);
	}
	return -err;
}

static int xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int xml_name_char(char c)
{
	return c && !xml_space(c) && c != '=' && c != '/' && c != '>' && c != '<' && c != '"' && c != '\'';
}

/* Parse a start tag from just after its '<'; *END is set past its '>'.
 * Quoted values may contain '>', so the tag is scanned, not searched. */
static int xml_parse_tag(const char *p, const char *e, struct xml_tag *t, const char **end)
{
	t->name = p;
	while (p < e && xml_name_char(*p))
		p++;
	t->name_len = (size_t)(p - t->name);
	t->nattrs = 0;
	if (t->name_len == 0)
		return -EPROTO;
	for (;;) {
		while (p < e && xml_space(*p))
			p++;
		if (p < e && *p == '>') {
			*end = p + 1;
			return 0;
		}
		if (e - p >= 2 && p[0] == '/' && p[1] == '>') {
			*end = p + 2;
			return 0;
		}
		const char *an = p;
		while (p < e && xml_name_char(*p))
			p++;
		size_t an_len = (size_t)(p - an);
		while (p < e && xml_space(*p))
			p++;
		if (an_len == 0 || p >= e || *p != '=')
			return -EPROTO;
		p++;
		while (p < e && xml_space(*p))
			p++;
		if (p >= e || (*p != '"' && *p != '\''))
			return -EPROTO;
		char q = *p++;
		const char *val = p;
		p = memchr(p, q, (size_t)(e - p));
		if (!p)
			return -EPROTO;
		if (t->nattrs < XML_MAX_ATTRS) {
			t->attrs[t->nattrs].name = an;
			t->attrs[t->nattrs].name_len = an_len;
			t->attrs[t->nattrs].val = val;
			t->attrs[t->nattrs].val_len = (size_t)(p - val);
			t->nattrs++;
		}
		p++;
	}
}

static int xml_tag_is(const struct xml_tag *t, const char *name)
{
	return t->name_len == strlen(name) && memcmp(t->name, name, t->name_len) == 0;
}

static int xml_attr(const struct xml_tag *t, const char *name, const char **val, size_t *len)
{
	for (size_t i = 0; i < t->nattrs; i++) {
		if (t->attrs[i].name_len == strlen(name) && memcmp(t->attrs[i].name, name, t->attrs[i].name_len) == 0) {
			*val = t->attrs[i].val;
			*len = t->attrs[i].val_len;
			return 1;
		}
	}
	return 0;
}

/* Decimal attribute value in [0, max]. */
static int xml_uint(const char *s, size_t len, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	if (len == 0 || len > 9)
		return -EPROTO;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -EPROTO;
	*out = (unsigned)v;
	return 0;
}

static int xml_add_reg(struct xml_ctx *x, const struct xml_tag *t)
{
	const char *name, *bits, *num;
	size_t name_len, bits_len, num_len;
	unsigned bitsize, regnum = x->next_regnum;
	if (!xml_attr(t, "name", &name, &name_len) || !xml_attr(t, "bitsize", &bits, &bits_len))
		return xml_fail(x, EPROTO, "target description: <reg> without name or bitsize");
	if (name_len == 0 || name_len >= sizeof(x->out->regs[0].name))
		return xml_fail(x, EPROTO, "target description: bad register name length %zu", name_len);
	if (xml_uint(bits, bits_len, 4096, &bitsize) || bitsize == 0 || bitsize % 8)
		return xml_fail(x, EPROTO, "target description: bad bitsize for register %.*s", (int)name_len, name);
	if (xml_attr(t, "regnum", &num, &num_len) && xml_uint(num, num_len, 65535, &regnum))
		return xml_fail(x, EPROTO, "target description: bad regnum for register %.*s", (int)name_len, name);
	if (x->out->count == MAX_REGS)
		return xml_fail(x, E2BIG, "target description: more than %d registers", MAX_REGS);
	if (x->out->count == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 64;
		struct vms_gdb_reg *n = realloc(x->out->regs, ncap * sizeof(*n));
		if (!n)
			return xml_fail(x, ENOMEM, "out of memory");
		x->out->regs = n;
		x->cap = ncap;
	}
	struct vms_gdb_reg *r = &x->out->regs[x->out->count++];
	memset(r, 0, sizeof(*r));
	memcpy(r->name, name, name_len);
	r->bits = bitsize;
	r->regnum = regnum;
	x->next_regnum = regnum + 1;
	return 0;
}

static int xml_parse_doc(struct xml_ctx *x, const char *p, const char *e, int depth);

/* The href names an annex of qXfer:features:read, so it must not contain
 * the packet's own separators. */
static int xml_include(struct xml_ctx *x, const struct xml_tag *t, int depth)
{
	const char *href;
	size_t href_len;
	char annex[128];
	if (!xml_attr(t, "href", &href, &href_len) || href_len == 0 || href_len >= sizeof(annex))
		return xml_fail(x, EPROTO, "target description: bad <xi:include>");
	for (size_t i = 0; i < href_len; i++)
		if ((unsigned char)href[i] <= ' ' || strchr(":,;#$}*", href[i]))
			return xml_fail(x, EPROTO, "target description: bad include name %.*s", (int)href_len, href);
	if (depth >= MAX_INCLUDE_DEPTH || ++x->includes > MAX_INCLUDES)
		return xml_fail(x, ELOOP, "target description: too many or too deeply nested includes");
	if (!x->fetch)
		return xml_fail(x, ENOTSUP, "target description: cannot follow include %.*s", (int)href_len, href);
	memcpy(annex, href, href_len);
	annex[href_len] = '\0';
	char *text = NULL;
	size_t len = 0;
	int rc = x->fetch(x->fetch_ctx, annex, &text, &len);
	if (rc || !text)
		return xml_fail(x, rc ? -rc : EIO, "target description: cannot read %s", annex);
	rc = xml_parse_doc(x, text, text + len, depth + 1);
	free(text);
	return rc;
}

/* Skip a construct that starts at P ("<!--", "<?", "<!", "</") by finding
 * its terminator; NULL if it is unterminated. */
static const char *xml_skip(const char *p, const char *e)
{
	const char *t;
	if (e - p >= 4 && memcmp(p, "<!--", 4) == 0)
		return (t = memmem(p + 4, (size_t)(e - p - 4), "-->", 3)) ? t + 3 : NULL;
	if (e - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0)
		return (t = memmem(p + 9, (size_t)(e - p - 9), "]]>", 3)) ? t + 3 : NULL;
	if (e - p >= 2 && p[1] == '?')
		return (t = memmem(p + 2, (size_t)(e - p - 2), "?>", 2)) ? t + 2 : NULL;
	return (t = memchr(p, '>', (size_t)(e - p))) ? t + 1 : NULL;
}

static int xml_parse_doc(struct xml_ctx *x, const char *p, const char *e, int depth)
{
	while ((p = memchr(p, '<', (size_t)(e - p))) != NULL) {
		if (e - p >= 2 && (p[1] == '!' || p[1] == '?' || p[1] == '/')) {
			if (!(p = xml_skip(p, e)))
				return xml_fail(x, EPROTO, "target description: unterminated markup");
			continue;
		}
		struct xml_tag t;
		const char *next;
		if (xml_parse_tag(p + 1, e, &t, &next))
			return xml_fail(x, EPROTO, "target description: malformed tag");
		int rc = 0;
		if (xml_tag_is(&t, "reg"))
			rc = xml_add_reg(x, &t);
		else if (xml_tag_is(&t, "xi:include"))
			rc = xml_include(x, &t, depth);
		if (rc)
			return rc;
		p = next;
	}
	return 0;
}

static int reg_cmp(const void *a, const void *b)
{
	const struct vms_gdb_reg *x = a, *y = b;
	return (x->regnum > y->regnum) - (x->regnum < y->regnum);
}

/* The `g` packet holds the registers in regnum order, back to back. */
static int layout_assign_offsets(struct xml_ctx *x)
{
	struct vms_gdb_layout *l = x->out;
	qsort(l->regs, l->count, sizeof(*l->regs), reg_cmp);
	size_t off = 0;
	for (size_t i = 0; i < l->count; i++) {
		if (i > 0 && l->regs[i].regnum == l->regs[i - 1].regnum)
			return xml_fail(x, EPROTO, "target description: registers %s and %s share number %u",
			                l->regs[i - 1].name, l->regs[i].name, l->regs[i].regnum);
		l->regs[i].offset = off;
		off += l->regs[i].bits / 8;
	}
	l->g_bytes = off;
	return 0;
}

int gdb_parse_target_xml(const char *xml, size_t len, vms_gdb_fetch_fn fetch, void *ctx, struct vms_gdb_layout *out,
                         char *err, size_t errlen)
{
	struct xml_ctx x = {
		.fetch = fetch,
		.fetch_ctx = ctx,
		.out = out,
		.err = err,
		.errlen = errlen,
	};
	memset(out, 0, sizeof(*out));
	int rc = xml_parse_doc(&x, xml, xml + len, 0);
	if (!rc && out->count == 0)
		rc = xml_fail(&x, ENOENT, "target description lists no registers");
	if (!rc)
		rc = layout_assign_offsets(&x);
	if (rc)
		gdb_layout_free(out);
	return rc;
}

void gdb_layout_free(struct vms_gdb_layout *l)
{
	free(l->regs);
	memset(l, 0, sizeof(*l));
}

const struct vms_gdb_reg *gdb_layout_find(const struct vms_gdb_layout *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->regs[i].name, name) == 0)
			return &l->regs[i];
	return NULL;
}
