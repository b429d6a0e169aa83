/*
 * A GDB stub of vmsight's own, for a QEMU that has none: started with HMP
 * `gdbserver tcp:127.0.0.1:PORT` on a free loopback port and stopped with
 * `gdbserver none` when done — also if vmsight is killed, by a guardian
 * that first waits for the GDB guardian to detach (QEMU keeps breakpoints
 * while a debugger is connected). Used for libvirt domains, which rarely
 * have a stub and cannot be given one without a restart otherwise.
 */
#ifndef VMS_CTL_STUB_H
#define VMS_CTL_STUB_H

#include <stddef.h>

#include "qmp.h"
#include "util/guard.h"

struct qemu_stub {
	int port; /* 0: not started */
	char qmp_path[108];
	unsigned timeout_ms;
	struct guard guard;
};

/* Start a stub through Q (QEMU must have none); its port in S->port. */
int stub_start(struct vms_qmp *q, struct qemu_stub *s, char *err, size_t errlen);
/* Stop it (after the debugger detached); 0 or -errno. Safe on a stub that
 * was never started. */
int stub_stop(struct qemu_stub *s, char *err, size_t errlen);

#endif
