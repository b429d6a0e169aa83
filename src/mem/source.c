/*
 * Helpers shared by every memory source: error text and the RAM layout.
 */
#include "source.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int source_fail(struct vms_source *s, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return -err;
}

int source_add_range(struct vms_source *s, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa + len < gpa || s->nranges == VMS_MAX_RANGES)
		return -EINVAL;
	if (s->nranges) {
		const struct vms_ram_range *last = &s->ranges[s->nranges - 1];
		if (gpa < last->gpa + last->len)
			return -EINVAL;
	}
	s->ranges[s->nranges++] = (struct vms_ram_range){ gpa, len };
	return 0;
}

int source_find_range(const struct vms_source *s, uint64_t pa, size_t len)
{
	for (size_t i = 0; i < s->nranges; i++) {
		const struct vms_ram_range *r = &s->ranges[i];
		if (pa >= r->gpa && pa - r->gpa < r->len)
			return len <= r->len - (pa - r->gpa) ? (int)i : -1;
	}
	return -1;
}
