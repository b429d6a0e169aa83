/*
 * Memory source over QEMU's GDB stub: the slowest source, but one that
 * needs nothing from the host except the stub's TCP port (no access to the
 * QEMU process, its RAM file or its QMP socket).
 *
 * Memory comes from `m` packets in QEMU's physical-memory mode. That mode
 * never reports an error: unassigned addresses read as zeros and MMIO
 * addresses are handed to the device model, where a read can have side
 * effects. So the RAM layout is not probed; it is taken from QEMU's own
 * memory map (`info mtree -f`, asked through the stub's monitor passthrough)
 * and the library never sends a read outside it.
 *
 * vCPUs are the stub's threads (QEMU: thread id = vCPU index + 1), listed
 * once at open; the guest stays stopped while we are attached, and close
 * detaches so that it runs again.
 */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl/gdb.h"

struct gdb_source {
	struct vms_source base; /* first: the library casts */
	struct vms_gdb *gdb;
	long *threads; /* vCPU index -> thread id */
	int nthreads;
};

static struct gdb_source *to_gdb(struct vms_source *s)
{
	return (struct gdb_source *)s;
}

static int gdb_read(struct vms_source *s, uint64_t pa, void *buf, size_t len)
{
	struct gdb_source *gs = to_gdb(s);
	int rc = gdb_read_mem(gs->gdb, pa, buf, len);
	return rc ? source_fail(s, -rc, "%s", gdb_err(gs->gdb)) : 0;
}

static int gdb_vcpus(struct vms_source *s)
{
	return to_gdb(s)->nthreads;
}

static int gdb_regs(struct vms_source *s, unsigned vcpu, struct vms_regs *out)
{
	struct gdb_source *gs = to_gdb(s);
	if (vcpu >= (unsigned)gs->nthreads)
		return source_fail(s, EINVAL, "no vCPU %u (the GDB stub lists %d)", vcpu, gs->nthreads);
	int rc = gdb_read_regs(gs->gdb, gs->threads[vcpu], out);
	return rc ? source_fail(s, -rc, "%s", gdb_err(gs->gdb)) : 0;
}

static void gdb_close(struct vms_source *s)
{
	struct gdb_source *gs = to_gdb(s);
	if (!gs)
		return;
	gdb_client_close(gs->gdb); /* detaches: the guest resumes */
	free(gs->threads);
	free(gs);
}

static const struct vms_source_ops gdb_ops = {
	.version = VMS_SOURCE_OPS_VERSION,
	.name = "gdb",
	.read = gdb_read,
	.vcpus = gdb_vcpus,
	.regs = gdb_regs,
	.close = gdb_close,
};

/* List the stub's threads once; QEMU's never change while it is stopped. */
static int load_threads(struct gdb_source *gs)
{
	int n = gdb_thread_ids(gs->gdb, NULL, 0);
	if (n < 0)
		return n;
	if (n == 0)
		return -ENOENT;
	gs->threads = calloc((size_t)n, sizeof(*gs->threads));
	if (!gs->threads)
		return -ENOMEM;
	int again = gdb_thread_ids(gs->gdb, gs->threads, (size_t)n);
	if (again < 0)
		return again;
	gs->nthreads = again < n ? again : n;
	return 0;
}

static int load_layout(struct gdb_source *gs)
{
	struct vms_ram_range r[VMS_MAX_RANGES];
	int n = gdb_ram_layout(gs->gdb, r, VMS_MAX_RANGES);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		int rc = source_add_range(&gs->base, r[i].gpa, r[i].len);
		if (rc)
			return rc;
	}
	return 0;
}

int mem_gdb_open(const char *host, int port, unsigned timeout_ms, struct vms_source **out, char *err, size_t errlen)
{
	int rc;
	struct gdb_source *gs = calloc(1, sizeof(*gs));
	if (!gs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	gs->base.ops = &gdb_ops;
	snprintf(gs->base.detail, sizeof(gs->base.detail), "GDB stub at %s:%d", host, port);
	rc = gdb_connect(host, port, timeout_ms, &gs->gdb, err, errlen);
	if (rc)
		goto fail_free;
	if ((rc = gdb_set_phys(gs->gdb, 1))) {
		snprintf(err, errlen, "%s", gdb_err(gs->gdb));
		goto fail_close;
	}
	if ((rc = load_threads(gs))) {
		snprintf(err, errlen, "%s",
		         rc == -ENOENT   ? "the GDB stub lists no vCPUs"
		         : rc == -ENOMEM ? "out of memory"
		                         : gdb_err(gs->gdb));
		goto fail_close;
	}
	if ((rc = load_layout(gs))) {
		snprintf(err, errlen, "%s",
		         rc == -EINVAL ? "QEMU's RAM ranges are not ascending and disjoint" : gdb_err(gs->gdb));
		goto fail_close;
	}
	*out = &gs->base;
	return 0;
fail_close:
	gdb_client_close(gs->gdb);
	free(gs->threads);
fail_free:
	free(gs);
	return rc;
}
