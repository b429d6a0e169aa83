/*
 * The kernel symbol table (symtab.h): appending while kallsyms is decoded,
 * then one pass to hash the names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "symtab.h"

void symtab_init(struct symtab *s)
{
	memset(s, 0, sizeof(*s));
}

void symtab_free(struct symtab *s)
{
	if (!s->borrowed) {
		free(s->syms);
		free(s->pool);
		free(s->hash);
	}
	symtab_init(s);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : first;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

int symtab_add(struct symtab *s, uint64_t addr, char type, uint8_t flags, const char *name, size_t len)
{
	if (s->borrowed || s->n >= SYMTAB_MAX_SYMS || len >= SYMTAB_MAX_POOL - s->pool_len)
		return -E2BIG;
	if (grow((void **)&s->syms, &s->cap, s->n + 1, sizeof(*s->syms), 1024) ||
	    grow((void **)&s->pool, &s->pool_cap, s->pool_len + len + 1, 1, 1 << 16))
		return -ENOMEM;
	struct ksym *k = &s->syms[s->n++];
	k->addr = addr;
	k->name = (uint32_t)s->pool_len;
	k->type = type;
	k->flags = flags;
	k->pad = 0;
	memcpy(s->pool + s->pool_len, name, len);
	s->pool[s->pool_len + len] = '\0';
	s->pool_len += len + 1;
	return 0;
}

/* FNV-1a: names are short, and this is one multiply per byte. */
uint64_t symtab_hash_name(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

int symtab_index(struct symtab *s)
{
	unsigned bits = 4;
	while ((1ull << bits) < 2 * (uint64_t)s->n + 2)
		bits++;
	uint32_t *h = calloc((size_t)1 << bits, sizeof(*h));
	if (!h)
		return -ENOMEM;
	size_t mask = ((size_t)1 << bits) - 1;
	for (size_t i = 0; i < s->n; i++) {
		size_t slot = (size_t)symtab_hash_name(s->pool + s->syms[i].name) & mask;
		while (h[slot])
			slot = (slot + 1) & mask;
		h[slot] = (uint32_t)i + 1;
	}
	free(s->hash);
	s->hash = h;
	s->hash_bits = bits;
	return 0;
}

/* Linear probing from the name's slot meets symbols of the same name in
 * the order they were added, so the first match is the first in the table. */
const struct ksym *symtab_find(const struct symtab *s, const char *name)
{
	if (!s->hash)
		return NULL;
	size_t mask = ((size_t)1 << s->hash_bits) - 1;
	size_t slot = (size_t)symtab_hash_name(name) & mask;
	for (size_t probes = 0; probes <= mask && s->hash[slot]; probes++) {
		const struct ksym *k = &s->syms[s->hash[slot] - 1];
		if (strcmp(s->pool + k->name, name) == 0)
			return k;
		slot = (slot + 1) & mask;
	}
	return NULL;
}

void symtab_relocate(struct symtab *s, int64_t delta)
{
	s->slide += delta;
}
