/*
 * Whole-RAM dumps: raw (file offset = guest-physical address) or an ELF core
 * in the layout of QEMU's dump-guest-memory, so that crash, Volatility and
 * vmsight's own dump source read it. Zero pages stay holes (writer.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/target.h"
#include "writer.h"
#include "util/opts.h"

int vms_dump(struct vms_target *t, int fd, const struct vms_dump_opts *opts)
{
	struct vms_dump_opts o = { .format = VMS_DUMP_ELF };
	if (VMS_OPTS_COPY(&o, opts)) {
		snprintf(t->err, sizeof(t->err), VMS_OPTS_BAD, "vms_dump_opts", opts->sz, sizeof(o));
		return -EINVAL;
	}
	struct snap_plan p;
	struct vms_regs *regs = NULL;
	int nvcpu = 0, rc;
	if (o.format == VMS_DUMP_RAW) {
		rc = snap_plan_raw(t, &p);
	} else {
		rc = snap_capture_regs(t, &regs, &nvcpu);
		if (rc)
			return rc;
		rc = snap_plan_elf(t, regs, nvcpu, 0, &p);
		free(regs);
	}
	if (rc)
		return rc;
	/* The header last: a dump cut short (vmsight killed, the disk full)
	 * has none, and no reader takes it for a whole one. */
	if (!(rc = snap_size_file(t, fd, &p)) && !(rc = snap_copy(t, fd, &p, 0, o.progress, o.progress_ctx, NULL)))
		rc = snap_write_header(t, fd, &p);
	snap_plan_free(&p);
	if (rc == 0 && fsync(fd) != 0 && errno != EINVAL) {
		rc = -errno;
		snprintf(t->err, sizeof(t->err), "writing the output file: %s", strerror(errno));
	}
	return rc;
}
