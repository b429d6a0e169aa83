/*
 * Hexadecimal digits, as QMP's JSON escapes, GDB's remote protocol and
 * QEMU's monitor text write them.
 */
#ifndef VMS_UTIL_HEX_H
#define VMS_UTIL_HEX_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* The value of hex digit C (either case), or -1. */
static inline int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The N (1 to 16) hex digits at S, no prefix, into *OUT: 0, or -EINVAL. */
static inline int hex_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 16)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = hex_digit((unsigned char)s[i]);
		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

#endif
