/*
 * What vmsight learns about a live QEMU through QMP: where guest RAM lives
 * (backend object, file, guest-physical layout), its vCPUs and their
 * registers, the GDB stub, and run state.
 */
#ifndef VMS_CTL_QEMU_H
#define VMS_CTL_QEMU_H

#include "../mem/source.h"
#include "qmp.h"

/* Description of a QEMU's RAM, as learnt from QMP or its command line. */
struct vms_qemu_ram {
	int pid;                                     /* QEMU process, 0 if unknown */
	char backend_type[64];                       /* memory-backend-file, -memfd, -ram, or "" */
	char mem_path[4096];                         /* for memory-backend-file */
	char block_name[256];                        /* the RAM block's name in QEMU (backend id) */
	int shared;                                  /* share=on: the file sees the guest's writes */
	uint64_t size;                               /* total RAM bytes */
	struct vms_ram_range ranges[VMS_MAX_RANGES]; /* guest-physical */
	uint64_t offsets[VMS_MAX_RANGES];            /* offset of each range in the RAM block */
	size_t nranges;
};

/* Where RAM lies on the host, in the terms of the memory sources. */
void qemu_ram_map(const struct vms_qemu_ram *ram, struct vms_ram_map *out);

/* Whether the RAM block's file sees the guest's writes, as the shm source
 * needs: a memory-backend-file or -memfd with share=on. 0, or -ENOTSUP with
 * the reason in ERR. */
int qemu_ram_shareable(const struct vms_qemu_ram *ram, char *err, size_t errlen);

/* Fill RAM from the machine's memory backend and the flat view of the
 * "memory" address space (HMP `info mtree -f`, parsed strictly). */
int qemu_discover_ram(struct vms_qmp *q, struct vms_qemu_ram *ram);

/* Parse the flat view text (exposed for tests and fuzzing): collects the
 * regions of the RAM block named NAME in the view of address space "memory"
 * (NAME NULL: the block the guest sees at address 0). */
int qemu_parse_flatview(const char *text, const char *name, struct vms_qemu_ram *ram);

/* Loopback TCP port of the GDB stub (query-chardev label "gdb"), 0 if none. */
int qemu_gdb_port(struct vms_qmp *q);

int qemu_vcpu_count(struct vms_qmp *q);
int qemu_regs(struct vms_qmp *q, unsigned vcpu, struct vms_regs *out);
/* Every vCPU's registers from one `info registers -a`: a malloc'd array of
 * *COUNT (the highest CPU# + 1, at most QEMU_MAX_VCPUS); a vCPU whose
 * section is missing or unreadable has valid == 0. */
#define QEMU_MAX_VCPUS 4096
int qemu_regs_all(struct vms_qmp *q, struct vms_regs **out, unsigned *count);
/* The same in two halves, so the question can be on its way while the
 * caller does other work (nothing else may be sent in between). */
int qemu_regs_all_send(struct vms_qmp *q);
int qemu_regs_all_recv(struct vms_qmp *q, struct vms_regs **out, unsigned *count);

/* Parse one CPU's block of HMP `info registers` (exposed for tests). */
int qemu_parse_regs(const char *text, struct vms_regs *out);

int qemu_running(struct vms_qmp *q); /* 1, 0 or -errno */
int qemu_stop(struct vms_qmp *q);
int qemu_cont(struct vms_qmp *q);

#endif
