/*
 * What vmsight learns about a live QEMU through QMP: where guest RAM lives
 * (backend object, file, guest-physical layout), its vCPUs and their
 * registers, the GDB stub, and run state.
 */
#ifndef VMS_CTL_QEMU_H
#define VMS_CTL_QEMU_H

#include "../mem/source.h"
#include "qmp.h"

/* Fill RAM from the machine's memory backend and the flat view of the
 * "memory" address space (HMP `info mtree -f`, parsed strictly). */
int vms_qemu_discover_ram(struct vms_qmp *q, struct vms_qemu_ram *ram);

/* Parse the flat view text (exposed for tests and fuzzing): collects the
 * regions of the RAM block named NAME in the view of address space "memory"
 * (NAME NULL: the block the guest sees at address 0). */
int vms_qemu_parse_flatview(const char *text, const char *name, struct vms_qemu_ram *ram);

/* Loopback TCP port of the GDB stub (query-chardev label "gdb"), 0 if none. */
int vms_qemu_gdb_port(struct vms_qmp *q);

int vms_qemu_vcpu_count(struct vms_qmp *q);
int vms_qemu_regs(struct vms_qmp *q, unsigned vcpu, struct vms_regs *out);

/* Parse one CPU's block of HMP `info registers` (exposed for tests). */
int vms_qemu_parse_regs(const char *text, struct vms_regs *out);

int vms_qemu_running(struct vms_qmp *q);   /* 1, 0 or -errno */
int vms_qemu_stop(struct vms_qmp *q);
int vms_qemu_cont(struct vms_qmp *q);

#endif
