/* libFuzzer target: the BTF loader (header checks, then libbpf's btf__new)
 * and member lookups on arbitrary bytes, as a hostile guest could put
 * between __start_BTF and __stop_BTF. */
#include <stdint.h>
#include <stdlib.h>

#include <bpf/btf.h>

#include "linux/kernel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct btf *b = kbtf_parse(data, size, err, sizeof(err));
	if (!b)
		return 0;
	static const char *paths[] = { "a", "a.b", "a[1]", "a.b[0].c", "x.y.z", "" };
	uint32_t n = btf__type_cnt(b);
	for (uint32_t id = 1; id < n && id < 64; id++) {
		const struct btf_type *t = btf__type_by_id(b, id);
		const char *name = btf__name_by_offset(b, t->name_off);
		if (!name || !btf_is_composite(t))
			continue;
		uint64_t off, sz;
		uint32_t bo, bs;
		kbtf_struct_size(b, name, &sz, err, sizeof(err));
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			kbtf_field(b, name, paths[i], &off, &sz, &bo, &bs, err, sizeof(err));
		for (uint16_t i = 0; i < btf_vlen(t); i++) {
			const char *mn = btf__name_by_offset(b, btf_members(t)[i].name_off);
			if (mn && *mn)
				kbtf_field(b, name, mn, &off, &sz, &bo, &bs, err, sizeof(err));
		}
	}
	btf__free(b);
	return 0;
}
