/*
 * Filters of a watch: by process, by path and by kind.
 *
 * They live in the library, not in the caller, so that an event nobody
 * wants is dropped before anything costly is done for it: enrichment walks
 * the guest's task list, which costs far more than the event. Cheap tests
 * come first (pid, kind), the glob last. A rename passes the path filter
 * if either of its names matches: moving a file into or out of a watched
 * tree is news about that tree.
 */
#include "filter.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kinds a filter may name: the file events, not the notices. */
#define FILE_KINDS                                                                                    \
	(VMS_FEV_BIT(VMS_FEV_OPEN) | VMS_FEV_BIT(VMS_FEV_READ) | VMS_FEV_BIT(VMS_FEV_WRITE) |         \
	 VMS_FEV_BIT(VMS_FEV_CLOSE_WRITE) | VMS_FEV_BIT(VMS_FEV_EXEC) | VMS_FEV_BIT(VMS_FEV_CREATE) | \
	 VMS_FEV_BIT(VMS_FEV_DELETE) | VMS_FEV_BIT(VMS_FEV_RENAME))

int watch_filter_init(struct vms_watch_filter *f, int32_t pid, const char *glob, uint32_t kinds, char *err,
                      size_t errlen)
{
	memset(f, 0, sizeof(*f));
	if (pid < 0) {
		snprintf(err, errlen, "filter: pid %d: a process id is positive (0 = any)", pid);
		return -EINVAL;
	}
	if (kinds & ~FILE_KINDS) {
		snprintf(err, errlen, "filter: kinds 0x%x: only file event kinds can be chosen (notices always pass)",
		         kinds);
		return -EINVAL;
	}
	if (glob && !(f->glob = strdup(glob))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f->pid = pid;
	f->kinds = kinds;
	return 0;
}

void watch_filter_free(struct vms_watch_filter *f)
{
	free(f->glob);
	f->glob = NULL;
}

int watch_filter_pass(const struct vms_watch_filter *f, const struct vms_file_event *ev)
{
	if (f->pid && ev->pid != f->pid)
		return 0;
	if (f->kinds && (ev->kind < 0 || ev->kind > 31 || !(f->kinds & VMS_FEV_BIT(ev->kind))))
		return 0;
	if (!f->glob || fnmatch(f->glob, ev->path, 0) == 0)
		return 1;
	return ev->kind == VMS_FEV_RENAME && ev->path2[0] && fnmatch(f->glob, ev->path2, 0) == 0;
}
