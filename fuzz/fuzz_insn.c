/* Guest text through the tracer's decoder: any bytes, at any address. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch/insn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct insn_decoder *d;
	char err[300];
	if (!d && insn_decoder_open(&d, err, sizeof(err))) {
		fprintf(stderr, "fuzz_insn: %s\n", err); /* a fuzzer that decodes nothing proves nothing */
		abort();
	}
	uint64_t addr = 0xffffffff81000000ull;
	if (size >= 8) {
		memcpy(&addr, data, 8);
		data += 8;
		size -= 8;
	}
	for (size_t off = 0; off < size;) {
		struct insn in;
		if (insn_decode(d, data + off, size - off, addr + off, &in)) {
			off++;
			continue;
		}
		if (in.len == 0 || in.len > 15 || in.len > size - off)
			__builtin_trap();
		off += in.len;
	}
	return 0;
}
