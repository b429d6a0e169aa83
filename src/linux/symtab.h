/*
 * A kernel symbol table: symbols in the kernel's own order (ascending
 * address, as kallsyms keeps them), their names in one pool, and an
 * open-addressing hash of the names for lookups.
 *
 * The three arrays are flat and hold no pointers, so a table can be written
 * to the profile cache as it is and used straight from a mapping of that
 * file (profile.c): a warm attach builds nothing. Names are looked up by
 * hash rather than kept sorted because sorting 100k names costs tens of
 * milliseconds and hashing them one.
 */
#ifndef VMS_LINUX_SYMTAB_H
#define VMS_LINUX_SYMTAB_H

#include <stddef.h>
#include <stdint.h>

enum {
	KSYM_ABS = 1u << 0, /* an absolute value (per-CPU offset), not moved by KASLR */
};

struct ksym {
	uint64_t addr;
	uint32_t name; /* offset of the NUL-terminated name in the pool */
	char type;     /* nm-style letter: T t D d R r B b A ... */
	uint8_t flags; /* KSYM_* */
	uint16_t pad;
};

struct symtab {
	struct ksym *syms;
	size_t n, cap;
	char *pool;
	size_t pool_len, pool_cap;
	uint32_t *hash; /* slots: symbol index + 1, 0 = empty; 2^hash_bits of them */
	unsigned hash_bits;
	int borrowed; /* arrays point into a mapping owned elsewhere: do not free */
	/* Added to every address not marked KSYM_ABS when it is read: another
	 * boot's KASLR, applied without writing (and so copying) the arrays. */
	int64_t slide;
};

#define SYMTAB_MAX_SYMS (1u << 24)
#define SYMTAB_MAX_POOL (1u << 30)

void symtab_init(struct symtab *s);
void symtab_free(struct symtab *s);
/* Append one symbol (NAME of LEN bytes, no NUL needed). -ENOMEM / -E2BIG. */
int symtab_add(struct symtab *s, uint64_t addr, char type, uint8_t flags, const char *name, size_t len);
/* Build the name hash; call once after the last symtab_add. */
int symtab_index(struct symtab *s);
/* The first symbol (in table order) named NAME, or NULL. */
const struct ksym *symtab_find(const struct symtab *s, const char *name);
static inline const char *symtab_name(const struct symtab *s, const struct ksym *k)
{
	return s->pool + k->name;
}
/* The address of symbol K of S, as this boot places it. */
static inline uint64_t symtab_addr(const struct symtab *s, const struct ksym *k)
{
	return k->flags & KSYM_ABS ? k->addr : k->addr + (uint64_t)s->slide;
}
/* Shift every symbol not marked KSYM_ABS by DELTA (another boot's KASLR):
 * O(1), the arrays are not touched (symtab_addr applies it). */
void symtab_relocate(struct symtab *s, int64_t delta);
uint64_t symtab_hash_name(const char *name);

#endif
