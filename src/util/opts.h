/*
 * Option structs that carry their own size (struct vms_*_opts { size_t sz;
 * ... }), read by libbpf's rules so that the ABI can grow both ways:
 *  - no options (NULL) or sz == 0: the defaults;
 *  - an older caller's smaller struct: its fields, and the fields it does
 *    not know keep their defaults (zero for all but vms_dump_opts.format:
 *    libbpf's zero-extension);
 *  - a newer caller's larger struct: accepted only if every byte beyond
 *    what we know is zero, i.e. it asks for nothing we cannot do; else
 *    -EINVAL, as is an sz too small to hold the sz field itself.
 * Every public function taking options reads them through VMS_OPTS_COPY.
 */
#ifndef VMS_UTIL_OPTS_H
#define VMS_UTIL_OPTS_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* Copy the caller's options OPTS (NULL: none), USER_SZ bytes by its own
 * account, into OUT (OUT_SZ bytes, holding the defaults). 0 or -EINVAL; on
 * -EINVAL for unknown fields OUT still holds the part we know (its error
 * buffer, say), else it is untouched. */
static inline int opts_copy(void *out, size_t out_sz, const void *opts, size_t user_sz)
{
	const unsigned char *p = opts;
	if (!opts || user_sz == 0)
		return 0;
	if (user_sz < sizeof(size_t))
		return -EINVAL;
	memcpy(out, opts, user_sz < out_sz ? user_sz : out_sz);
	for (size_t i = out_sz; i < user_sz; i++)
		if (p[i])
			return -EINVAL;
	return 0;
}

/* OUT points at our struct of defaults, OPTS at the caller's (or NULL). */
#define VMS_OPTS_COPY(out, opts) opts_copy((out), sizeof(*(out)), (opts), (opts) ? (opts)->sz : 0)

/* printf format for the refusal: struct name, caller's sz, our size. */
#define VMS_OPTS_BAD \
	"struct %s of %zu bytes is too small or sets fields this vmsight does not know (it knows %zu bytes)"

#endif
