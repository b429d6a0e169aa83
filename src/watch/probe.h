/* Is the agent on the other channel? (probe.c) */
#ifndef VMS_WATCH_PROBE_H
#define VMS_WATCH_PROBE_H

#include <stdint.h>

#include "wire.h"

struct vms_watch_probe {
	int kind; /* PROBE_* in probe.c; 0: nothing to look at */
	int fd;   /* shm: the region's file; vcpu: the debugcon socket */
	uint64_t start_ns, next_poll_ns;
	struct vms_wire_header first; /* shm: the header as it was at the start */
	int32_t agent_pid;            /* vcpu: of the first record heard */
	int heard;                    /* vcpu: a record came */
	struct vms_framer framer;     /* vcpu */
};

void watch_probe_init(struct vms_watch_probe *p);

/* Start looking at the shm region in PATH (read only: its header), or at
 * the debugcon socket SOCKET_PATH (connected until closed: QEMU serves one
 * client at a time, so close the probe as soon as it is not needed).
 * 0, or -errno (then the probe stays empty). */
int watch_probe_shm(struct vms_watch_probe *p, const char *path, uint64_t now_ns);
int watch_probe_vcpu(struct vms_watch_probe *p, const char *socket_path, uint64_t now_ns);

/* vcpu: read what came (at most every 50 ms), so the socket never fills
 * and QEMU never blocks the guest's vCPU on it; hangs up once heard. */
void watch_probe_poll(struct vms_watch_probe *p, uint64_t now_ns);

/* What the other channel shows: 1 an agent is running there (*PID its pid,
 * -1 unknown), 0 no sign of one in 1.5 s or more, -1 can not tell (no
 * probe, or not looked long enough: the agent's heartbeat is once a second). */
int watch_probe_verdict(struct vms_watch_probe *p, uint64_t now_ns, int32_t *pid);

void watch_probe_close(struct vms_watch_probe *p);

#endif
