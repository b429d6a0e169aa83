/* libFuzzer target: the QMP JSON reader on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc d;
	if (json_parse((const char *)data, size, &d) == 0) {
		for (int i = 0; i < d.count; i++) {
			uint64_t u;
			json_u64(&d, i, &u);
			json_str(&d, i);
			json_len(&d, i);
		}
		json_get(&d, 0, "return");
		json_free(&d);
	}
	return 0;
}
