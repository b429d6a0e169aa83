/*
 * vms_read_pa, kept apart so that its fast path is all that is in the hot
 * function: find the RAM range (almost always the first or second), copy,
 * and check the truncation flag the shm source's SIGBUS handler raises.
 */
#include "target.h"

int vms_read_pa(struct vms_target *t, uint64_t pa, void *buf, size_t len)
{
	const struct vms_source *s = t->src;
	for (size_t i = 0; i < s->nranges; i++) {
		uint64_t off = pa - s->ranges[i].gpa;
		if (pa >= s->ranges[i].gpa && off < s->ranges[i].len && len <= s->ranges[i].len - off) {
			if (!s->host[i])
				break;
			memcpy(buf, s->host[i] + off, len);
			if (__builtin_expect(vms_shm_broken(), 0))
				break;
			return 0;
		}
	}
	return vms_read_pa_slow(t, pa, buf, len);
}
