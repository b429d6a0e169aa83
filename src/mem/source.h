/*
 * A physical memory source: the whole of "where do guest bytes come from"
 * behind one short ops table, in the manner of SQLite's sqlite3_io_methods.
 *
 * A backend fills read() and close(); map() where it can hand out pointers
 * into guest RAM without copying; regs()/vcpus() where the source itself
 * carries vCPU state (ELF notes, a GDB stub). Pause/resume and registers of
 * live QEMUs belong to the control channel (src/ctl/qmp), not to sources.
 * The layout (guest-physical RAM ranges) is filled in by the backend's open
 * function and never changes afterwards.
 */
#ifndef VMS_MEM_SOURCE_H
#define VMS_MEM_SOURCE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "vmsight/vmsight.h"

#define VMS_SOURCE_OPS_VERSION 1
#define VMS_MAX_RANGES 64

struct vms_source;

struct vms_source_ops {
	int version; /* VMS_SOURCE_OPS_VERSION */
	const char *name;
	/* Copy LEN bytes at PA; the caller has checked that [PA, PA+LEN) lies
	 * in one RAM range. Returns 0 or -errno (with vms_source_err set). */
	int (*read)(struct vms_source *s, uint64_t pa, void *buf, size_t len);
	/* Optional: pointer to LEN bytes at PA in the same checked range. */
	const void *(*map)(struct vms_source *s, uint64_t pa, size_t len);
	/* Optional: vCPUs carried by the source itself. */
	int (*vcpus)(struct vms_source *s);
	int (*regs)(struct vms_source *s, unsigned vcpu, struct vms_regs *out);
	void (*close)(struct vms_source *s);
};

struct vms_source {
	const struct vms_source_ops *ops;
	struct vms_ram_range ranges[VMS_MAX_RANGES];
	size_t nranges;
	char detail[512]; /* where the memory comes from, for humans */
	/* For memory that never changes (a dump file): what names these exact
	 * bytes — [0-9a-f.-] only — so that what was found in them may be kept
	 * and trusted again (the kernel's location, src/linux/kernel.c). ""
	 * for live memory. */
	char ident[96];
	char err[512]; /* last error of this source */
	/* Fast path for sources whose RAM is one host mapping per range:
	 * host[i] points at ranges[i].gpa (NULL when not mapped). */
	const uint8_t *host[VMS_MAX_RANGES];
};

/* printf into s->err; returns -ERR so callers can `return source_fail(...)`. */
int source_fail(struct vms_source *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Add a RAM range (ascending, disjoint); -EINVAL if it breaks the order. */
int source_add_range(struct vms_source *s, uint64_t gpa, uint64_t len);

/* Index of the range holding [pa, pa+len), or -1. */
int source_find_range(const struct vms_source *s, uint64_t pa, size_t len);

/* Where guest RAM lies on this host, for the backends that reach it there:
 * one RAM block of SIZE bytes, mapped by process PID and, when it is a file,
 * found at PATH (or among PID's open files); each guest-physical range sits
 * at its offset in the block. Whoever knows the hypervisor fills it in
 * (ctl/qemu.h for QEMU); a backend only follows it. */
struct vms_ram_map {
	int pid;                                     /* process mapping the block, 0 if unknown */
	char path[4096];                             /* file holding the block, "" if none or a memfd */
	uint64_t size;                               /* bytes in the block */
	struct vms_ram_range ranges[VMS_MAX_RANGES]; /* guest-physical */
	uint64_t offsets[VMS_MAX_RANGES];            /* offset of each range in the block */
	size_t nranges;
};

/* Set once a mapped RAM file was truncated under us (see shm.c); reads
 * that copied from a mapping check it afterwards. */
extern atomic_int vms_mem_truncated;
static inline int shm_broken(void)
{
	return atomic_load_explicit(&vms_mem_truncated, memory_order_relaxed);
}

/* Backends. Each returns 0 and a source in *out, or -errno with a message in ERR.
 * shm needs a block whose file sees the guest's writes (a shared file or a
 * memfd); the caller, which knows the hypervisor, checks that first. */
int mem_shm_open(const struct vms_ram_map *ram, struct vms_source **out, char *err, size_t errlen);
int mem_procmem_open(const struct vms_ram_map *ram, struct vms_source **out, char *err, size_t errlen);
/* Fault every page of guest RAM into QEMU's own page tables (one byte read
 * per page, batched): QEMU then finds them present, e.g. when it prepares
 * RAM for write-protection with the guest stopped. */
int procmem_touch_all(struct vms_source *s);
int mem_dump_open(const char *path, struct vms_source **out, char *err, size_t errlen);
int mem_gdb_open(const char *host, int port, unsigned timeout_ms, struct vms_source **out, char *err, size_t errlen);
/* The guest was paused before the source attached: leave it so at close. */
void mem_gdb_leave_stopped(struct vms_source *s);
struct vms_qmp;
int mem_qmp_open(struct vms_qmp *qmp, const struct vms_ram_map *ram, struct vms_source **out, char *err, size_t errlen);

#endif
