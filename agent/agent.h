/*
 * vmsight-agent: the in-guest half of file monitoring. Its parts:
 *   main.c      options, the channel, the event loop, the records it sends
 *   fanotify.c  fanotify groups and marks, events to paths and processes
 *   ring.c      the shm channel (ring producer in the ivshmem region)
 *   vcpu.c      the vcpu channel (bytes through an I/O port)
 * Only include/vmsight/agent_wire.h is shared with the host.
 */
#ifndef VMS_AGENT_H
#define VMS_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "vmsight/agent_wire.h"

/* One event, before it becomes a blob. Strings are not NUL-terminated. */
struct agent_event {
	uint16_t kind;
	uint16_t flags;
	int32_t pid, tid;
	uint32_t uid;
	const char *comm, *path, *path2;
	size_t comm_len, path_len, path2_len;
};

/* main.c: send one event on the channel (counts a drop when it is full). */
void agent_emit(const struct agent_event *e);
/* main.c: the kernel lost events (fanotify queue overflow). */
void agent_overflow(void);
uint64_t agent_now_ns(void);

/* fanotify.c: mark every file system that holds files for the kinds in
 * SEL (bit 1 << VMS_WIRE_EV_* per kind); DESC receives a summary
 * ("fid: /data(ext4) fd: /(rootfs) /tmp(tmpfs)"). Returns the number of fds
 * written to FDS (1 or 2) or -errno. */
int agent_fan_setup(int fds[2], uint32_t sel, char *desc, size_t desclen);
/* Read and emit everything queued on FD (nonblocking). */
void agent_fan_read(int fd);

/* vcpu.c */
int agent_vcpu_open(uint16_t port);
void agent_vcpu_send(const uint8_t *blob, size_t len);
/* N OUTs of a zero byte; returns the mean ns per OUT (bench/watch.py). */
uint64_t agent_vcpu_trap_bench(unsigned long n);

#endif
