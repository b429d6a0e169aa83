/* Finding the agent's channels in a running QEMU through QMP (find.c). */
#ifndef VMS_WATCH_FIND_H
#define VMS_WATCH_FIND_H

#include <stddef.h>

struct vms_watch_found {
	char shm_path[512];     /* "" if no ivshmem-plain device with a file backend */
	char shm_device[512];   /* its QOM path */
	char shm_problem[1024]; /* why an ivshmem device was passed over */
	char socket_path[512];  /* "" if no isa-debugcon on a unix socket chardev */
	char socket_device[512];
	unsigned port; /* the debugcon's iobase */
	int qemu_pid;  /* QMP's peer: QEMU itself (0 unknown) */
};

/* Look through QEMU's devices. 0 (whatever was found), or -errno when QMP
 * itself fails (ERR says why). */
int watch_find(const char *qmp_path, unsigned timeout_ms, struct vms_watch_found *out, char *err, size_t errlen);

#endif
