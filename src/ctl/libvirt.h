/*
 * libvirt domains as targets: QMP and HMP through libvirt's monitor
 * passthrough (virDomainQemuMonitorCommand, as `virsh qemu-monitor-command`),
 * so vmsight needs no second monitor socket, no change to the domain and no
 * restart. Built only when libvirt was found at build time (meson option
 * `libvirt`); without it every entry point says how to get it.
 *
 * A target names a domain as NAME or NAME@URI (default qemu:///system).
 */
#ifndef VMS_CTL_LIBVIRT_H
#define VMS_CTL_LIBVIRT_H

#include <stddef.h>

#include "qmp.h"

#define LIBVIRT_PREFIX "libvirt:"
#define LIBVIRT_DEFAULT_URI "qemu:///system"

/* Whether this build has libvirt. */
int libvirt_available(void);

/* Split NAME[@URI] (URI defaulted). 0, or -EINVAL/-ENAMETOOLONG. */
int libvirt_parse(const char *spec, char *name, size_t namelen, char *uri, size_t urilen);

/* The QMP connection of domain SPEC (NAME[@URI]) through libvirt; its pid
 * is QEMU's (from libvirt's pid file, checked against the process). */
int libvirt_qmp_connect(const char *spec, unsigned timeout_ms, struct vms_qmp **out, char *err, size_t errlen);

/* One domain as `vmsight vms` shows it. */
struct libvirt_domain {
	char name[256];
	int active; /* running or paused: QEMU is up */
	int paused;
	int pid;                       /* QEMU's, 0 when shut off or unknown */
	int mem_memfd, mem_file;       /* <memoryBacking><source type=...> */
	int mem_shared;                /* <access mode='shared'/> */
	int has_ivshmem, has_debugcon; /* vmsight-agent channels in the XML */
	int has_gdb_arg;               /* -gdb/-s in <qemu:commandline> */
	int gdb_port;                  /* QEMU's GDB stub now (query-chardev), 0 none, -errno unknown */
	unsigned long long mem_kib;    /* current memory */
};

/* What libvirt_list tells of each domain. */
enum {
	LIBVIRT_LIST_ACTIVE = 1, /* running (or paused) domains only */
	LIBVIRT_LIST_DETAIL = 2, /* state, memory, XML facts, pid, GDB stub (a few calls per domain) */
};

/* The domains at URI (NULL: the default), names only unless
 * LIBVIRT_LIST_DETAIL. *OUT is malloc'd, sorted by name. 0, or -errno with
 * ERR set. */
int libvirt_list(const char *uri, unsigned flags, struct libvirt_domain **out, size_t *count, char *err, size_t errlen);

#endif
