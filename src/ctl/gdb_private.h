/*
 * What the files of the GDB client share among themselves and show no one
 * else: hex helpers of the codec (gdb_packet.c) that the client (gdb.c)
 * also uses, and the guardian (gdb_guard.c) the client arms. The rest of
 * vmsight sees only gdb.h.
 */
#ifndef VMS_CTL_GDB_PRIVATE_H
#define VMS_CTL_GDB_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/guard.h"
#include "util/hex.h"

/* Decode N bytes from 2N hex digits; -1 on a non-hex digit. */
int gdb_hex_decode(const char *hex, size_t n, uint8_t *out);

/* Encode N bytes as 2N lower-case hex digits and a NUL. */
void gdb_hex_encode(const void *data, size_t n, char *out);

/* "Exx" or "E.text": the stub's way of saying a request failed. Data
 * replies are even-length hex, so they never look like this. */
int gdb_is_error_reply(const char *r, size_t len);

/* Stop replies: what `?`, `c` and `s` answer, and what QEMU sends unasked
 * when a debugger connects to a running guest. */
int gdb_is_stop_reply(const char *r, size_t len);

/* The guardian of one connection (util/guard.h): it detaches in our place
 * if we die. Arm forks it holding a copy of SOCK (a no-op if GD is armed);
 * 0, or -errno with the reason in ERR. Disarm: we closed properly. */
/* The note is the client's state as bits over a base ('@'): */
#define GDB_GUARD_NOTE 0x40
#define GDB_GUARD_LEAVE_STOPPED 0x01 /* on our death, close without `D` */
#define GDB_GUARD_RESTORE_PHYS 0x02  /* set qemu.PhyMemMode back first ... */
#define GDB_GUARD_PHYS_WAS_ON 0x04   /* ... to 1 (else to 0) */
int gdb_guard_arm(struct guard *gd, int sock, char *err, size_t errlen);
void gdb_guard_disarm(struct guard *gd);

#endif
