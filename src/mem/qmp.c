/*
 * qmp: guest RAM through QEMU's monitor, the path of last resort.
 *
 * Each read asks QEMU to `pmemsave` the range into a private file in
 * /dev/shm, then reads and removes it: a round trip through the monitor and
 * the file system per read. It works on any QEMU with a QMP socket and is
 * the baseline (the way LibVMI's legacy KVM driver worked) that the fast
 * sources are measured against.
 */
#include "../ctl/qmp.h"
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct qmp_source {
	struct vms_source base;
	struct vms_qmp *qmp; /* borrowed from the target */
	char path[64];
};

static int qmpmem_read(struct vms_source *s, uint64_t pa, void *buf, size_t len)
{
	struct qmp_source *q = (struct qmp_source *)s;
	char args[256];
	int n = snprintf(args, sizeof(args), "{\"val\":%llu,\"size\":%zu,\"filename\":", (unsigned long long)pa, len);
	n = json_quote(args, sizeof(args), (size_t)n, q->path);
	if (n < 0 || (size_t)n + 2 > sizeof(args))
		return source_fail(s, E2BIG, "pmemsave arguments too long");
	strcpy(args + n, "}");
	struct json_doc doc;
	int ret = qmp_cmd(q->qmp, "pmemsave", args, &doc);
	if (ret < 0) {
		unlink(q->path);
		return source_fail(s, -ret, "%s", qmp_err(q->qmp));
	}
	json_free(&doc);
	int fd = open(q->path, O_RDONLY | O_CLOEXEC);
	unlink(q->path);
	if (fd < 0)
		return source_fail(s, errno, "pmemsave wrote no file: %s", strerror(errno));
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != len)
		return source_fail(s, EIO, "pmemsave returned %zu of %zu bytes", got, len);
	return 0;
}

static void qmpmem_close(struct vms_source *s)
{
	free(s);
}

static const struct vms_source_ops qmpmem_ops = {
	.version = VMS_SOURCE_OPS_VERSION,
	.name = "qmp",
	.read = qmpmem_read,
	.close = qmpmem_close,
};

int mem_qmp_open(struct vms_qmp *qmp, const struct vms_ram_map *ram, struct vms_source **out, char *err, size_t errlen)
{
	struct qmp_source *q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	q->base.ops = &qmpmem_ops;
	q->qmp = qmp;
	snprintf(q->path, sizeof(q->path), "/dev/shm/vmsight-pmemsave-%d-%p", (int)getpid(), (void *)q);
	for (size_t i = 0; i < ram->nranges; i++) {
		if (source_add_range(&q->base, ram->ranges[i].gpa, ram->ranges[i].len)) {
			snprintf(err, errlen, "bad RAM layout");
			free(q);
			return -EPROTO;
		}
	}
	snprintf(q->base.detail, sizeof(q->base.detail), "pmemsave through QMP %.400s", qmp_socket_path(qmp));
	*out = &q->base;
	return 0;
}
