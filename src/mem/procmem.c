/*
 * procmem: guest RAM of any running QEMU, read through process_vm_readv.
 *
 * No special QEMU flags are needed: the RAM block is a mapping in QEMU's
 * address space, found in /proc/PID/maps by its size (and its file, when it
 * has one). Each read is one system call that copies straight from QEMU's
 * pages; it needs root or CAP_SYS_PTRACE over the QEMU process.
 */
#include "source.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

struct procmem_source {
	struct vms_source base;
	int pid;
	uint64_t hva[VMS_MAX_RANGES]; /* QEMU address of each range's first byte */
};

static int procmem_read(struct vms_source *s, uint64_t pa, void *buf, size_t len)
{
	struct procmem_source *p = (struct procmem_source *)s;
	int i = source_find_range(s, pa, len);
	if (i < 0)
		return source_fail(s, EFAULT, "0x%llx+%zu is not guest RAM", (unsigned long long)pa, len);
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)(p->hva[i] + (pa - s->ranges[i].gpa)), len };
	ssize_t n = process_vm_readv(p->pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && errno == ESRCH)
		return source_fail(s, ESRCH, "QEMU process %d is gone", p->pid);
	if (n < 0)
		return source_fail(s, errno, "process_vm_readv of QEMU %d: %s", p->pid, strerror(errno));
	return source_fail(s, EIO, "short read from QEMU %d (%zd of %zu bytes)", p->pid, n, len);
}

int procmem_touch_all(struct vms_source *s)
{
	struct procmem_source *p = (struct procmem_source *)s;
	enum { BATCH = 1024 };
	struct iovec local[BATCH], remote[BATCH];
	uint8_t sink[BATCH];
	for (size_t i = 0; i < s->nranges; i++) {
		uint64_t pages = s->ranges[i].len / 4096;
		for (uint64_t pg = 0; pg < pages; pg += BATCH) {
			size_t n = pages - pg < BATCH ? (size_t)(pages - pg) : BATCH;
			for (size_t k = 0; k < n; k++) {
				local[k] = (struct iovec){ &sink[k], 1 };
				remote[k] = (struct iovec){ (void *)(uintptr_t)(p->hva[i] + (pg + k) * 4096), 1 };
			}
			if (process_vm_readv(p->pid, local, n, remote, n, 0) != (ssize_t)n)
				return source_fail(s, errno ? errno : EIO, "touching QEMU %d's RAM: %s", p->pid,
				                   strerror(errno));
		}
	}
	return 0;
}

static void procmem_close(struct vms_source *s)
{
	free(s);
}

static const struct vms_source_ops procmem_ops = {
	.version = VMS_SOURCE_OPS_VERSION,
	.name = "procmem",
	.read = procmem_read,
	.close = procmem_close,
};

/* Finds the mapping of exactly RAM->size bytes that holds the RAM block:
 * the backend file's mapping when there is a file, else an anonymous
 * (or memfd) read-write mapping. Two candidates are an ambiguity we report
 * rather than guess at. */
static int find_block(const struct vms_ram_map *ram, uint64_t *hva, char *err, size_t errlen)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", ram->pid);
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	char line[4608];
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, off;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s%n", &lo, &hi, perms, &off, &name_at) != 4)
			continue;
		if (hi - lo != ram->size || perms[0] != 'r' || off != 0)
			continue;
		char *name = line + name_at;
		while (*name == ' ')
			name++;
		name[strcspn(name, "\n")] = '\0';
		int match;
		if (ram->path[0])
			match = strncmp(name, ram->path, strlen(ram->path)) == 0;
		else
			match = name[0] == '\0' || strncmp(name, "/memfd:", 7) == 0;
		if (!match)
			continue;
		found++;
		*hva = lo;
	}
	fclose(f);
	if (found == 1)
		return 0;
	if (found)
		snprintf(err, errlen, "QEMU %d has %d mappings of %llu bytes that could be guest RAM", ram->pid, found,
		         (unsigned long long)ram->size);
	else
		snprintf(err, errlen, "no mapping of %llu bytes in QEMU %d looks like guest RAM",
		         (unsigned long long)ram->size, ram->pid);
	return found ? -EEXIST : -ENOENT;
}

int mem_procmem_open(const struct vms_ram_map *ram, struct vms_source **out, char *err, size_t errlen)
{
	if (ram->pid <= 0) {
		snprintf(err, errlen, "procmem needs the QEMU process id");
		return -EINVAL;
	}
	uint64_t base;
	int rc = find_block(ram, &base, err, errlen);
	if (rc)
		return rc;
	struct procmem_source *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->base.ops = &procmem_ops;
	p->pid = ram->pid;
	for (size_t i = 0; i < ram->nranges; i++) {
		if (source_add_range(&p->base, ram->ranges[i].gpa, ram->ranges[i].len)) {
			snprintf(err, errlen, "bad RAM layout");
			free(p);
			return -EPROTO;
		}
		p->hva[i] = base + ram->offsets[i];
	}
	/* Probe once so a missing privilege shows at open, not at first read. */
	uint8_t probe;
	rc = procmem_read(&p->base, p->base.ranges[0].gpa, &probe, 1);
	if (rc) {
		snprintf(err, errlen, "%s%s", p->base.err, rc == -EPERM ? " (needs root or CAP_SYS_PTRACE)" : "");
		free(p);
		return rc;
	}
	snprintf(p->base.detail, sizeof(p->base.detail), "QEMU pid %d, RAM at 0x%llx in its address space", ram->pid,
	         (unsigned long long)base);
	*out = &p->base;
	return 0;
}
