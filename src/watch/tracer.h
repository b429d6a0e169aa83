/*
 * What the tracers (trace_files.c, trace_syscalls.c) need from the engine
 * beyond the public vms_tracer_* API.
 */
#ifndef VMS_WATCH_TRACER_H
#define VMS_WATCH_TRACER_H

struct vms_tracer;
struct vms_target;

/* Free P with FREE_FN when the tracer closes (also on failure, at once). */
int tracer_own(struct vms_tracer *tr, void *p, void (*free_fn)(void *));
/* Set the tracer's error text; returns -ERR. */
int tracer_fail(struct vms_tracer *tr, int err, const char *msg);
struct vms_target *tracer_target(struct vms_tracer *tr);

#endif
