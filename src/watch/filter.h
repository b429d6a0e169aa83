/* Which file events a watch hands out (filter.c). */
#ifndef VMS_WATCH_FILTER_H
#define VMS_WATCH_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "vmsight/vmsight.h"

struct vms_watch_filter {
	int32_t pid;    /* 0: any */
	uint32_t kinds; /* VMS_FEV_BIT mask; 0: all */
	char *glob;     /* owned copy; NULL: any */
};

/* Check and take the filters of vms_watch_opts. 0, or -EINVAL (a kind bit
 * that is not a file kind, a negative pid) or -ENOMEM, with ERR saying why. */
int watch_filter_init(struct vms_watch_filter *f, int32_t pid, const char *glob, uint32_t kinds, char *err,
                      size_t errlen);
void watch_filter_free(struct vms_watch_filter *f);

/* 1 if the file event EV passes every filter, else 0. Only for file kinds:
 * notices are never filtered. */
int watch_filter_pass(const struct vms_watch_filter *f, const struct vms_file_event *ev);

#endif
