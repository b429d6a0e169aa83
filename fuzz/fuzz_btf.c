/* libFuzzer target: the BTF loader (header checks, then libbpf's btf__new)
 * and member lookups on arbitrary bytes, as a hostile guest could put
 * between __start_BTF and __stop_BTF. The input is tried as it is, and as
 * the type and string sections behind a header that holds (so that libbpf
 * and the lookups see the fuzzer's types, not only the header check). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/btf.h>

#include <bpf/btf.h>

#include "linux/kernel.h"

static void run(const uint8_t *data, size_t size)
{
	char err[256];
	struct btf *b = kbtf_parse(data, size, err, sizeof(err));
	if (!b)
		return;
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size);
	if (size < 2)
		return 0;
	/* First byte: where the types end (in 4-byte units, of the rest). */
	size_t types = ((size_t)data[0] * 4) % (size - 1);
	types &= ~(size_t)3;
	struct btf_header h = { .magic = BTF_MAGIC,
		                .version = BTF_VERSION,
		                .hdr_len = sizeof(h),
		                .type_off = 0,
		                .type_len = (uint32_t)types,
		                .str_off = (uint32_t)types,
		                .str_len = (uint32_t)(size - 1 - types + 1) };
	uint8_t *b = malloc(sizeof(h) + size + 1);
	if (!b)
		return 0;
	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), data + 1, types);
	b[sizeof(h) + types] = 0; /* the string section starts with "" */
	memcpy(b + sizeof(h) + types + 1, data + 1 + types, size - 1 - types);
	run(b, sizeof(h) + size);
	free(b);
	return 0;
}
