/*
 * Reading a running QEMU's own command line (/proc/PID/cmdline): where its
 * QMP socket is, and, when it has none, enough of its memory configuration
 * to lay out guest RAM the way QEMU's PC machines do.
 */
#ifndef VMS_CTL_CMDLINE_H
#define VMS_CTL_CMDLINE_H

#include <stddef.h>

#include "qemu.h"

/* Parse ARGV (ARGC strings). Fills QMP_PATH ("" if no unix QMP socket) and,
 * from -m / -machine / -object memory-backend-*, RAM (size, backend, mem-path
 * and the PC layout rule: q35 splits at 2 GiB once RAM reaches 2.75 GiB,
 * i440fx at 3 GiB once it reaches 3.5 GiB; the VGA window is left out).
 * Returns 0, or -errno with a message in ERR. */
int cmdline_parse(int argc, char **argv, char *qmp_path, size_t qmp_len, struct vms_qemu_ram *ram, char *err,
                  size_t errlen);

/* Read /proc/PID/cmdline and parse it. */
int cmdline_read(int pid, char *qmp_path, size_t qmp_len, struct vms_qemu_ram *ram, char *err, size_t errlen);

#endif
