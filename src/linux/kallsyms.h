/*
 * The kernel's compressed symbol tables (kallsyms), found and decoded in a
 * byte buffer that holds the kernel image. Nothing here reads guest memory:
 * kernel.c hands over the image's bytes, the tests hand over tables they
 * built, the fuzzer anything.
 */
#ifndef VMS_LINUX_KALLSYMS_H
#define VMS_LINUX_KALLSYMS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "symtab.h"

/* Puts the reason in ERR (ERRLEN bytes) and returns RC: the parsers of
 * guest tables (kallsyms.c, btf.c) report this way, not through a target. */
static inline int ksym_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static inline int ksym_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

#define KSYM_NONE SIZE_MAX

/* Where the tables lie: offsets into the buffer (KSYM_NONE if absent). */
struct ksym_layout {
	uint64_t num_syms;
	size_t num_syms_at;
	size_t names, names_len;
	size_t markers, nmarkers;
	unsigned marker_size; /* 4, or 8 (unsigned long markers of older kernels) */
	size_t token_table, token_table_len;
	size_t token_index;
	size_t addrs; /* kallsyms_offsets (base-relative) or kallsyms_addresses */
	int base_relative;
	int absolute_percpu; /* offsets >= 0 are absolute values, < 0 relative to base - 1 */
	size_t relative_base;
	uint64_t relative_base_value;
	size_t seqs;       /* kallsyms_seqs_of_names (6.2+) */
	const char *order; /* "pre-6.4" (addresses before num_syms) or "6.4+" (after token_index) */
};

/* Find the tables in BUF. Returns 0, -ENOENT (none found) or -EINVAL (a
 * table that looks right but is inconsistent); ERR gets the reason. */
int ksym_find(const uint8_t *buf, size_t len, struct ksym_layout *lay, char *err, size_t errlen);

/* Decode every symbol into OUT (appended, then indexed). Every count,
 * offset and length in the tables is checked against LEN and each other. */
int ksym_decode(const uint8_t *buf, size_t len, const struct ksym_layout *lay, struct symtab *out, char *err,
                size_t errlen);

/* The longest expanded name accepted (the kernel's KSYM_NAME_LEN is 512). */
#define KSYM_NAME_MAX 1024

#endif
