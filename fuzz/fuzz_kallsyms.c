/* libFuzzer target: the kallsyms finder and decoder on arbitrary bytes, as
 * a hostile guest could lay them in its kernel image. The input also goes
 * in behind a valid-looking token table, so that the search gets past its
 * first anchor and the later checks see the fuzzer's bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux/kallsyms.h"

static void run(const uint8_t *buf, size_t len)
{
	struct ksym_layout lay;
	char err[256];
	if (ksym_find(buf, len, &lay, err, sizeof(err)) == 0) {
		struct symtab st;
		symtab_init(&st);
		if (ksym_decode(buf, len, &lay, &st, err, sizeof(err)) == 0 && st.n)
			symtab_find(&st, symtab_name(&st, &st.syms[st.n / 2]));
		symtab_free(&st);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size);
	/* data, then tokens "0".."9" and 208 more, then the rest of data as the
	 * index and whatever follows. */
	size_t half = size / 2, len = half + 20 + 208 * 2 + (size - half);
	uint8_t *b = malloc(len ? len : 1);
	if (!b)
		return 0;
	memcpy(b, data, half);
	size_t p = half;
	for (int c = 0; c < 10; c++) {
		b[p++] = (uint8_t)('0' + c);
		b[p++] = 0;
	}
	for (int i = 0; i < 208; i++) {
		b[p++] = (uint8_t)('A' + i % 26);
		b[p++] = 0;
	}
	memcpy(b + p, data + half, size - half);
	run(b, len);
	free(b);
	return 0;
}
