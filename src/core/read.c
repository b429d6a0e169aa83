/*
 * vms_read_pa, kept apart so that its fast path is all that is in the hot
 * function: find the RAM range (almost always the first or second), copy,
 * and check the truncation flag the shm source's SIGBUS handler raises.
 * Small power-of-two reads (the pointers and counters views read) are
 * copied with fixed-size moves the compiler turns into single loads, so a
 * read costs little more than the load itself.
 */
#include "target.h"

int vms_read_pa(struct vms_target *t, uint64_t pa, void *buf, size_t len)
{
	const struct vms_source *s = t->src;
	/* Most reads land in the range of the previous read: try it first. */
	size_t h = t->range_hint;
	uint64_t hoff = pa - s->ranges[h].gpa;
	if (hoff < s->ranges[h].len && len <= s->ranges[h].len - hoff && s->host[h]) {
		copy_small(buf, s->host[h] + hoff, len);
		if (__builtin_expect(!shm_broken(), 1))
			return 0;
		return read_pa_slow(t, pa, buf, len);
	}
	for (size_t i = 0; i < s->nranges; i++) {
		uint64_t off = pa - s->ranges[i].gpa;
		if (off < s->ranges[i].len) {
			if (len > s->ranges[i].len - off || !s->host[i])
				break;
			copy_small(buf, s->host[i] + off, len);
			if (__builtin_expect(shm_broken(), 0))
				break;
			t->range_hint = i;
			return 0;
		}
	}
	return read_pa_slow(t, pa, buf, len);
}
