/* The QEMU process behind a watch's channel, and whether it still runs (owner.c). */
#ifndef VMS_WATCH_OWNER_H
#define VMS_WATCH_OWNER_H

#include <stdint.h>

struct vms_watch_owner {
	int32_t pid; /* 0: unknown (nothing is checked) */
	int pidfd;   /* -1: none (kernel without pidfd_open): kill(pid, 0) instead */
	uint64_t next_check_ns;
	char comm[32]; /* its name, for messages */
};

/* Nobody to follow yet. */
void watch_owner_init(struct vms_watch_owner *o);

/* Follow process PID (QMP's peer). 0, or -errno when it is already gone. */
int watch_owner_pid(struct vms_watch_owner *o, int32_t pid);

/* Follow the process, other than this one, that holds PATH open: one named
 * qemu* if there are several, else the first found. 0 (maybe nobody found:
 * pid stays 0), or -errno when PATH can not be looked at. */
int watch_owner_of_file(struct vms_watch_owner *o, const char *path);

/* 1 when the process has exited, else 0 (also when unknown). Looks at most
 * every 200 ms; NOW_NS is CLOCK_MONOTONIC. */
int watch_owner_gone(struct vms_watch_owner *o, uint64_t now_ns);

void watch_owner_close(struct vms_watch_owner *o);

#endif
