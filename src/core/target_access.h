/*
 * What the rooms above the target (the tracer, snapshots) may ask of it
 * without knowing how struct vms_target is laid out: its control channel
 * and which memory source it reads through. Its error text is public
 * (vms_errmsg). Kept apart from target.h so a user of these needs nothing
 * but a pointer to the target.
 */
#ifndef VMS_CORE_TARGET_ACCESS_H
#define VMS_CORE_TARGET_ACCESS_H

struct vms_target;
struct vms_qmp;

/* The QMP connection for one operation (connects if needed), and its release
 * (closes it unless KEEP was set; target_qmp_keep(t, 1) holds it across
 * operations, e.g. for a migration). */
int target_qmp(struct vms_target *t, struct vms_qmp **out);
void target_qmp_release(struct vms_target *t);
void target_qmp_keep(struct vms_target *t, int keep);

/* Whether the target has a QMP socket (a qmp: target, or a pid: target
 * whose QEMU names one). */
int target_has_qmp(const struct vms_target *t);

/* Whether the target reads memory through the source named NAME ("gdb",
 * "shm", ...). */
int target_source_is(const struct vms_target *t, const char *name);

#endif
