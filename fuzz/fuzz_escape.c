/*
 * The escapers (src/util/escape.c) on arbitrary bytes: any input gives
 * text with no control byte and JSON that is valid UTF-8, at the length
 * the sizing call announced, and a cut buffer holds a prefix of the whole.
 * (The round trip back to the bytes is checked in tests/unit/test_escape.c.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"

static void check(size_t (*escape)(char *, size_t, const char *, size_t, unsigned), const uint8_t *data, size_t size,
                  unsigned flags, int json)
{
	size_t need = escape(NULL, 0, (const char *)data, size, flags);
	char *full = malloc(need + 1);
	if (!full)
		return;
	if (escape(full, need + 1, (const char *)data, size, flags) != need || strlen(full) != need)
		abort();
	const unsigned char *p = (const unsigned char *)full;
	for (size_t i = 0; i < need;) {
		size_t n = utf8_valid_len(p + i, need - i);
		if (!n)
			abort(); /* both forms are valid UTF-8 */
		if (!json && n == 1 && (p[i] < 0x20 || p[i] == 0x7f) && !(flags & ESC_LOG_TEXT && p[i] == '\t'))
			abort(); /* a raw control byte in text */
		if (!json && n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)
			abort(); /* a raw C1 control in text */
		i += n;
	}
	char cut[64];
	size_t cap = size % sizeof(cut) + 1;
	escape(cut, cap, (const char *)data, size, flags);
	if (strlen(cut) >= cap || strncmp(cut, full, strlen(cut)) != 0)
		abort();
	free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags = size ? data[0] & 3 : 0;
	check(esc_text, data, size, flags, 0);
	check(esc_json, data, size, flags & ESC_NUL_AS_SPACE, 1);
	return 0;
}
