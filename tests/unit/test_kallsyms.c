/*
 * Unit tests of the kallsyms finder and decoder on tables built here, the
 * way scripts/kallsyms lays them out, in every layout vmsight supports:
 * addresses before num_syms (4.6 .. 6.3) or after the token index (6.4+);
 * base-relative offsets with and without absolute per-CPU symbols, or
 * absolute addresses; seqs_of_names between markers and tokens (6.2, 6.3)
 * or last (6.4+); 8-byte markers and num_syms of older kernels; two-byte
 * name lengths (6.1+). The tables sit among random bytes and a decoy
 * digits run. Then corruption: truncations and flipped bytes must give a
 * clean error or a decoded table, never a crash (ASan in `make test`).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "linux/kallsyms.h"

struct sym {
	char name[300];
	char type;
	uint64_t addr;
	int abs;
};

enum order { PRE_64, POST_64 };

struct opts {
	enum order order;
	int base_relative;
	int absolute_percpu;
	int seqs;
	int long_markers; /* 8-byte markers and num_syms */
	size_t lead;      /* random bytes before the tables */
};

struct out {
	uint8_t *buf;
	size_t len, cap;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		o->buf = realloc(o->buf, o->cap);
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}
static void put8(struct out *o, uint8_t v)
{
	put(o, &v, 1);
}
static void put16(struct out *o, uint16_t v)
{
	put(o, &v, 2);
}
static void put32(struct out *o, uint32_t v)
{
	put(o, &v, 4);
}
static void put64(struct out *o, uint64_t v)
{
	put(o, &v, 8);
}
static void align(struct out *o)
{
	while (o->len & 7)
		put8(o, 0);
}

/* Tokens: every character that occurs keeps its own code; free codes get
 * multi-character tokens, matched greedily when compressing. */
struct tokens {
	char tok[256][32];
};

static void make_tokens(struct tokens *t, const struct sym *s, size_t n)
{
	static const char *multi[] = { "sys_",  "do_", "init", "__", "_t", "lock", "irq", "read",
		                       "write", "ex",  "ti",   "ce", "ma", "ar",   "st",  "on" };
	int used[256] = { 0 };
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		used[(uint8_t)s[i].type] = 1;
		for (const char *p = s[i].name; *p; p++)
			used[(uint8_t)*p] = 1;
	}
	size_t k = 0;
	for (int c = 0; c < 256; c++) {
		if (used[c])
			t->tok[c][0] = (char)c;
		else if (k < sizeof(multi) / sizeof(multi[0]))
			strcpy(t->tok[c], multi[k++]);
		else
			snprintf(t->tok[c], sizeof(t->tok[c]), "q%dz", c); /* unused but present */
	}
}

static size_t compress(const struct tokens *t, const char *text, uint8_t *out)
{
	size_t n = 0;
	while (*text) {
		int best = -1;
		size_t bestlen = 0;
		for (int c = 0; c < 256; c++) {
			if (t->tok[c][0] != *text)
				continue;
			size_t l = strlen(t->tok[c]);
			if (l > bestlen && strncmp(text, t->tok[c], l) == 0)
				best = c, bestlen = l;
		}
		out[n++] = (uint8_t)best;
		text += bestlen;
	}
	return n;
}

static void put_addrs(struct out *o, const struct sym *s, size_t n, const struct opts *op, uint64_t base)
{
	align(o);
	for (size_t i = 0; i < n; i++) {
		if (!op->base_relative)
			put64(o, s[i].addr);
		else if (!op->absolute_percpu)
			put32(o, (uint32_t)(s[i].addr - base));
		else if (s[i].abs)
			put32(o, (uint32_t)s[i].addr);
		else
			put32(o, (uint32_t)(int32_t) - (int64_t)(s[i].addr - base + 1));
	}
	if (op->base_relative) {
		align(o);
		put64(o, base);
	}
}

static void put_seqs(struct out *o, size_t n)
{
	align(o);
	for (size_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)(n - 1 - i); /* a permutation */
		put8(o, (uint8_t)(v >> 16));
		put8(o, (uint8_t)(v >> 8));
		put8(o, (uint8_t)v);
	}
}

/* Returns the buffer; *LEN its size. */
static uint8_t *build(const struct sym *s, size_t n, const struct opts *op, size_t *len)
{
	struct out o = { 0 };
	struct tokens t;
	make_tokens(&t, s, n);
	srand(7);
	for (size_t i = 0; i < op->lead; i++)
		put8(&o, (uint8_t)rand());
	put(&o, "0\0001\0002\0003\0004\0005\0006\0007\0008\0009\0", 20); /* a decoy */
	uint64_t base = 0;
	for (size_t i = 0; i < n; i++)
		if (!s[i].abs && (!base || s[i].addr < base))
			base = s[i].addr;
	if (op->order == PRE_64)
		put_addrs(&o, s, n, op, base);
	align(&o);
	if (op->long_markers)
		put64(&o, n);
	else
		put32(&o, (uint32_t)n);
	align(&o);
	size_t names = o.len;
	size_t *markers = calloc((n + 255) / 256, sizeof(*markers));
	for (size_t i = 0; i < n; i++) {
		if (i % 256 == 0)
			markers[i / 256] = o.len - names;
		char text[310];
		uint8_t z[310];
		snprintf(text, sizeof(text), "%c%s", s[i].type, s[i].name);
		size_t zl = compress(&t, text, z);
		if (zl > 0x7f) {
			put8(&o, (uint8_t)(0x80 | (zl & 0x7f)));
			put8(&o, (uint8_t)(zl >> 7));
		} else {
			put8(&o, (uint8_t)zl);
		}
		put(&o, z, zl);
	}
	align(&o);
	for (size_t i = 0; i < (n + 255) / 256; i++) {
		if (op->long_markers)
			put64(&o, markers[i]);
		else
			put32(&o, (uint32_t)markers[i]);
	}
	free(markers);
	if (op->seqs && op->order == PRE_64)
		put_seqs(&o, n);
	align(&o);
	uint16_t idx[256];
	size_t tt = o.len;
	for (int c = 0; c < 256; c++) {
		idx[c] = (uint16_t)(o.len - tt);
		put(&o, t.tok[c], strlen(t.tok[c]) + 1);
	}
	align(&o);
	for (int c = 0; c < 256; c++)
		put16(&o, idx[c]);
	if (op->order == POST_64) {
		put_addrs(&o, s, n, op, base);
		if (op->seqs)
			put_seqs(&o, n);
	}
	for (int i = 0; i < 100; i++)
		put8(&o, (uint8_t)rand());
	*len = o.len;
	return o.buf;
}

static struct sym *make_syms(size_t n, int percpu)
{
	static const char *words[] = { "sys", "read", "write", "init", "lock", "irq", "task", "vfs", "mm", "net" };
	static const char types[] = "TtDdRrBbW";
	struct sym *s = calloc(n, sizeof(*s));
	uint64_t a = 0xffffffff81000000ull;
	size_t npcpu = percpu ? 5 : 0;
	for (size_t i = 0; i < n; i++) {
		if (i < npcpu) {
			s[i].abs = 1;
			s[i].addr = i * 0x1000;
			s[i].type = 'A';
			snprintf(s[i].name, sizeof(s[i].name), "percpu_var%zu", i);
			continue;
		}
		a += (uint64_t)(i % 7) * 16;
		s[i].addr = a;
		s[i].type = types[i % 9];
		snprintf(s[i].name, sizeof(s[i].name), "%s_%s_%zu.%s", words[i % 10], words[(i / 10) % 10], i,
		         i % 3 ? "cold" : "isra.0");
	}
	if (n > 300) { /* a "big" symbol: more than 127 tokens, two-byte length */
		memset(s[300].name, 'x', 250);
		s[300].name[250] = 0;
	}
	return s;
}

static int same(const struct symtab *st, const struct sym *s, size_t n)
{
	if (st->n != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (st->syms[i].addr != s[i].addr || st->syms[i].type != s[i].type ||
		    strcmp(symtab_name(st, &st->syms[i]), s[i].name) ||
		    !!(st->syms[i].flags & KSYM_ABS) != (s[i].abs && 1))
			return 0;
	return 1;
}

static void test_layouts(void)
{
	const size_t counts[] = { 20, 255, 256, 257, 1000, 5000 };
	for (int order = 0; order < 2; order++)
		for (int rel = 0; rel < 2; rel++)
			for (int pcpu = 0; pcpu < 2; pcpu++)
				for (int seqs = 0; seqs < 2; seqs++)
					for (int lm = 0; lm < 2; lm++)
						for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
							if (pcpu && !rel)
								continue;
							size_t n = counts[c];
							struct sym *s = make_syms(n, pcpu && n > 5);
							struct opts op = { .order = order,
								           .base_relative = rel,
								           .absolute_percpu = pcpu,
								           .seqs = seqs,
								           .long_markers = lm,
								           .lead = 1000 + c * 3 };
							size_t len;
							uint8_t *b = build(s, n, &op, &len);
							struct ksym_layout lay;
							char err[256] = "";
							int rc = ksym_find(b, len, &lay, err, sizeof(err));
							CHECK(rc == 0);
							if (rc) {
								fprintf(stderr,
								        "order %d rel %d pcpu %d seqs %d lm %d n %zu: %s\n",
								        order, rel, pcpu, seqs, lm, n, err);
							} else {
								struct symtab st;
								symtab_init(&st);
								CHECK(ksym_decode(b, len, &lay, &st, err,
								                  sizeof(err)) == 0);
								CHECK(same(&st, s, n));
								CHECK(lay.num_syms == n);
								CHECK(lay.base_relative == rel);
								CHECK((lay.seqs != KSYM_NONE) == seqs);
								CHECK(strcmp(lay.order,
								             order == PRE_64 ? "pre-6.4" : "6.4+") ==
								              0 ||
								      !rel);
								if (n > 10) {
									const struct ksym *k = symtab_find(
									        &st, s[n / 2].name);
									CHECK(k && k->addr == s[n / 2].addr);
									CHECK(symtab_find(&st, "no_such_symbol") ==
									      NULL);
								}
								symtab_free(&st);
							}
							free(b);
							free(s);
						}
}

/* Truncations anywhere and flipped bytes in the tables: an error or a
 * table, and with ASan, no bad access. */
static void test_corruption(void)
{
	size_t n = 2000;
	struct sym *s = make_syms(n, 1);
	struct opts op = { .order = PRE_64, .base_relative = 1, .absolute_percpu = 1, .seqs = 1, .lead = 64 };
	size_t len;
	uint8_t *b = build(s, n, &op, &len);
	struct ksym_layout lay;
	char err[256];
	CHECK(ksym_find(b, len, &lay, err, sizeof(err)) == 0);
	size_t first = lay.addrs, last = lay.token_index + 512;
	int errors = 0, found = 0;
	for (size_t cut = first; cut < last; cut += 997) {
		uint8_t *c = malloc(cut);
		memcpy(c, b, cut);
		struct ksym_layout l2;
		int rc = ksym_find(c, cut, &l2, err, sizeof(err));
		CHECK(rc == -ENOENT || rc == -EINVAL);
		errors += rc != 0;
		free(c);
	}
	CHECK(errors > 0);
	srand(99);
	uint8_t *c = malloc(len);
	for (int round = 0; round < 400; round++) {
		memcpy(c, b, len);
		for (int k = 0; k < 1 + round % 5; k++)
			c[first + (size_t)rand() % (last - first)] ^= (uint8_t)(1 + rand() % 255);
		struct ksym_layout l2;
		if (ksym_find(c, len, &l2, err, sizeof(err)) == 0) {
			struct symtab st;
			symtab_init(&st);
			found += ksym_decode(c, len, &l2, &st, err, sizeof(err)) == 0;
			symtab_free(&st);
		}
	}
	CHECK(found < 400);
	/* A layout handed in with counts past the buffer. */
	struct ksym_layout bad = lay;
	struct symtab st;
	symtab_init(&st);
	bad.num_syms = 1u << 30;
	CHECK(ksym_decode(b, len, &bad, &st, err, sizeof(err)) == -EINVAL);
	bad = lay;
	bad.names_len = len;
	CHECK(ksym_decode(b, len, &bad, &st, err, sizeof(err)) == -EINVAL);
	bad = lay;
	bad.token_index = len - 10;
	CHECK(ksym_decode(b, len, &bad, &st, err, sizeof(err)) == -EINVAL);
	symtab_free(&st);
	/* Nothing at all. */
	memset(c, 0, len);
	CHECK(ksym_find(c, len, &lay, err, sizeof(err)) == -ENOENT && strstr(err, "no kallsyms"));
	free(c);
	free(b);
	free(s);
}

static void test_symtab(void)
{
	struct symtab st;
	symtab_init(&st);
	CHECK(symtab_add(&st, 0x1000, 'T', 0, "dup", 3) == 0);
	CHECK(symtab_add(&st, 0x2000, 't', 0, "dup", 3) == 0);
	CHECK(symtab_add(&st, 0x10, 'A', KSYM_ABS, "pcpu", 4) == 0);
	CHECK(symtab_index(&st) == 0);
	const struct ksym *k = symtab_find(&st, "dup");
	CHECK(k && k->addr == 0x1000); /* the first in table order */
	symtab_relocate(&st, 0x100);   /* a slide applied on read: the arrays stay as they are */
	CHECK(symtab_addr(&st, symtab_find(&st, "dup")) == 0x1100 &&
	      symtab_addr(&st, symtab_find(&st, "pcpu")) == 0x10);
	CHECK(symtab_find(&st, "dup")->addr == 0x1000);
	symtab_free(&st);
}

int main(void)
{
	test_symtab();
	test_layouts();
	test_corruption();
	return check_report("kallsyms");
}
