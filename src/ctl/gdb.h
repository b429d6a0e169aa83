/*
 * GDB remote serial protocol client over TCP, aimed at QEMU's gdbstub.
 *
 * The protocol is request/reply: gdb_transact() sends one packet and
 * returns the decoded reply, and the helpers below (memory, registers,
 * threads, monitor commands) are thin wrappers over it, so breakpoints and
 * single-stepping can be added later in the same way.
 *
 * What attaching does to a QEMU guest:
 *  - QEMU stops the VM when a debugger connects and keeps it stopped for as
 *    long as the connection lives; `D` (detach) resumes it. The resume is
 *    unconditional: a guest that was paused before we attached runs after
 *    gdb_client_close(). Closing the socket without `D` leaves it stopped, so
 *    gdb_client_close() always detaches first.
 *  - QEMU leaves the guest stopped (and breakpoints planted) when a
 *    connection closes without `D`. So every connection gets a guardian:
 *    a child process that sends the `D` if this process dies without
 *    gdb_client_close (SIGKILL, a crash).
 *  - QEMU serves one debugger at a time. A second connection is accepted by
 *    the kernel but nobody answers it: that is reported as "busy". QEMU
 *    takes such a connection up once the first debugger leaves, and then
 *    stops the guest for it even though we gave up long before; so a
 *    connection that got no answer queues a `D` before it is closed.
 *  - QEMU 7.2 does not offer QStartNoAckMode (it answers it with an empty
 *    reply), so every reply is acked. The client acks by prefixing '+' to
 *    its next packet rather than sending a segment of its own: QEMU's
 *    system-mode stub never waits for acks. For the same reason bulk reads
 *    keep several `m` requests in flight (gdb_set_pipeline), which hides
 *    the round trip and is worth about 3x.
 *  - In Qqemu.PhyMemMode:1 `m` reads guest-physical memory and never fails:
 *    unassigned addresses read as zeros, the VGA window as 0xff, and MMIO
 *    reads are forwarded to the device (with whatever side effects a read
 *    has there). Which addresses are RAM must therefore come from QEMU's
 *    memory map (gdb_ram_layout), never from probing.
 *
 * Registers are decoded as little-endian (x86). Every call returns 0 or a
 * count on success and a negative errno on failure, with the reason in
 * gdb_err().
 */
#ifndef VMS_CTL_GDB_H
#define VMS_CTL_GDB_H

#include <stddef.h>
#include <stdint.h>

#include "vmsight/vmsight.h"

struct vms_gdb;

/* Largest decoded reply accepted; a bigger one is a protocol error. */
#define VMS_GDB_MAX_PACKET ((1u << 20) + 4096u)

/* Connect to HOST:PORT and handshake: qSupported (PacketSize, advertises
 * xmlRegisters=i386), QStartNoAckMode when offered, and `?`. Every wait is
 * bounded by TIMEOUT_MS (0 = 10000); it stays the per-reply timeout. */
int gdb_connect(const char *host, int port, unsigned timeout_ms, struct vms_gdb **out, char *err, size_t errlen);

/* Detach (the guest resumes) unless already detached, then free. NULL is ok. */
void gdb_client_close(struct vms_gdb *g);

/* Send `D` and wait for its reply. Afterwards only gdb_client_close is useful. */
/* The guest was stopped before we attached (someone paused it): close
 * without `D`, which QEMU answers by resuming it; the guardian likewise.
 * Only for connections that plant no breakpoints. */
void gdb_leave_stopped(struct vms_gdb *g);
int gdb_detach(struct vms_gdb *g);

const char *gdb_err(const struct vms_gdb *g);
void gdb_set_timeout(struct vms_gdb *g, unsigned timeout_ms);

/* The stub's PacketSize (bytes of packet data it accepts). */
size_t gdb_packet_size(const struct vms_gdb *g);

/* Send packet data PKT (escaped as needed) and wait for the reply; on
 * success *REPLY points at the decoded reply (NUL-terminated, valid until
 * the next call on G) and its length is returned. A timeout or a framing
 * error leaves the stream out of step, so the connection is unusable
 * afterwards (every later call fails). The thread selected for the
 * register helpers is forgotten, since PKT may select another. */
int gdb_transact(struct vms_gdb *g, const void *pkt, size_t len, const char **reply);

/* String form of gdb_transact: the reply is copied into REPLY (CAP
 * bytes, NUL-terminated); -E2BIG if it does not fit. Returns its length. */
int gdb_command(struct vms_gdb *g, const char *packet, char *reply, size_t cap);

/* Run a monitor command (qRcmd); its text output (CRs removed) is malloc'd
 * into *OUT. */
int gdb_monitor(struct vms_gdb *g, const char *command, char **out);

/* QEMU only: make `m` read guest-physical (ON) or virtual addresses. */
int gdb_set_phys(struct vms_gdb *g, int on);

/* Read LEN bytes at ADDR with `m` packets sized to the stub's PacketSize.
 * -EFAULT if the stub refuses an address. */
int gdb_read_mem(struct vms_gdb *g, uint64_t addr, void *buf, size_t len);

/* How many `m` requests gdb_read_mem keeps in flight (1..16); returns
 * the depth set. Default: 16 for QEMU system emulation (its stub reads
 * ahead and never waits for acks) and for stubs in no-ack mode, else 1. */
unsigned gdb_set_pipeline(struct vms_gdb *g, unsigned depth);

/* Thread ids (qfThreadInfo/qsThreadInfo); for QEMU one per vCPU, vCPU index
 * + 1. Fills up to CAP ids and returns how many there are. */
int gdb_thread_ids(struct vms_gdb *g, long *ids, size_t cap);

/* Registers of THREAD (an id from gdb_thread_ids; 0 = any) from one `g`
 * packet laid out by the stub's target description. Bits of out->valid are
 * set only for groups the stub sent in full. */
int gdb_read_regs(struct vms_gdb *g, long thread, struct vms_regs *out);

/* The stub's number of register NAME ("rip", "cr3") and its width in
 * bytes, from the target description. -ENOENT if it has none; -ENOTSUP for
 * a register wider than 8 bytes (the helpers below carry uint64_t). */
int gdb_reg_number(struct vms_gdb *g, const char *name, unsigned *regnum, unsigned *bytes);

/* One write of gdb_write_batch: a register (`P`, WHERE = its number) or
 * guest memory at virtual address WHERE as THREAD's vCPU maps it (`M`;
 * not in physical mode). VALUE's low BYTES bytes, little-endian. Under KVM
 * QEMU writes back only registers a `g` fetched since the stop: read first. */
struct gdb_write {
	int mem;
	uint64_t where;
	uint64_t value;
	unsigned bytes; /* 1..8 */
};

/* Make the writes W[0..N) to THREAD in order, in one round trip where the
 * stub reads ahead (QEMU), else one by one; every one must be answered OK. */
int gdb_write_batch(struct vms_gdb *g, long thread, const struct gdb_write *w, size_t n);

/* Guest RAM as guest-physical ranges, from QEMU's own memory map (monitor
 * `info mtree -f` through qRcmd): the RAM block at address 0, including its
 * PAM parts mapped read-only ("rom"), without the VGA window or device
 * RAM such as vga.vram. Returns the count; -E2BIG if more than CAP. */
int gdb_ram_layout(struct vms_gdb *g, struct vms_ram_range *ranges, size_t cap);

/*
 * Running the guest under the stub (QEMU: all-stop, every vCPU stops when
 * one reports). While it runs only gdb_interrupt, gdb_wait_stop
 * and gdb_client_close may be used; other requests fail with -EBUSY.
 */

/* Insert (INSERT != 0) or remove a breakpoint: TYPE 0 software, 1
 * hardware, 2-4 write/read/access watchpoints; KIND is its length (x86: 1).
 * -ENOTSUP if the stub has no such type (empty reply), -EREMOTEIO if it
 * refuses. */
int gdb_breakpoint(struct vms_gdb *g, int insert, int type, uint64_t addr, int kind);

/* What a stop reply says. */
struct vms_gdb_stop {
	int signal;  /* 5 SIGTRAP: breakpoint or step; 2 SIGINT: interrupted */
	long thread; /* thread that stopped, -1 if the reply names none */
	int watch;   /* a watchpoint fired, at watch_addr */
	uint64_t watch_addr;
};

/* Send PKT ("c", "s", "vCont;s:TID", ...) whose answer is a stop reply
 * that comes when the guest stops again, and do not wait for it. */
int gdb_resume(struct vms_gdb *g, const char *pkt);

/* Wait up to TIMEOUT_MS (-1: for ever) for the stop reply after a resume:
 * 1 with *STOP filled, 0 on timeout (the guest still runs), or -errno. */
int gdb_wait_stop(struct vms_gdb *g, int timeout_ms, struct vms_gdb_stop *stop);

/* Ask a running guest to stop (the 0x03 byte); its stop reply comes
 * through gdb_wait_stop. A no-op when it is not running. */
int gdb_interrupt(struct vms_gdb *g);

/* The socket, to poll alongside other descriptors. */
int gdb_fd(const struct vms_gdb *g);

/*
 * Pure parsers, exposed for tests and fuzzing.
 */

/* "HOST:PORT" (the last colon splits, so an IPv6 host may contain colons):
 * HOST into HOST (HOSTLEN bytes with its NUL), PORT 1..65535. 0 or -EINVAL. */
int gdb_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* A stop reply ("T05thread:p01.02;...", "S05"): 0, -ESRCH for an exit
 * ("W"/"X"), -EPROTO if malformed. */
int gdb_parse_stop(const char *r, size_t len, struct vms_gdb_stop *out);

/* Most thread ids accepted from one stub. */
#define VMS_GDB_MAX_THREADS 4096

/* One qfThreadInfo/qsThreadInfo reply without its 'm': "id,id,..." (ids may
 * be "pPID.TID"). Appends to IDS (CAP entries) and counts every id in
 * *COUNT, including those that did not fit. 0, -EPROTO if malformed, -E2BIG
 * past VMS_GDB_MAX_THREADS in all. */
int gdb_parse_thread_list(const char *p, long *ids, size_t cap, size_t *count);

/* Decode one received frame "$data#cs" (IN, exactly INLEN bytes): checks the
 * checksum, undoes `}` escapes and `*` run-length encoding. The result (not
 * NUL-terminated) goes to OUT. Returns 0, -EBADMSG (checksum), -EPROTO
 * (malformed) or -E2BIG (more than OUTCAP bytes). */
int gdb_decode_packet(const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen);

/* One register of the `g` packet. */
struct vms_gdb_reg {
	char name[32];
	unsigned bits;
	unsigned regnum;
	size_t offset; /* bytes into the decoded `g` packet */
};

struct vms_gdb_layout {
	struct vms_gdb_reg *regs; /* sorted by regnum = order in `g` */
	size_t count;
	size_t g_bytes; /* sum of the register sizes */
};

/* Supplies the text of an included document (malloc'd, *LEN bytes). */
typedef int (*vms_gdb_fetch_fn)(void *ctx, const char *annex, char **text, size_t *len);

/* Build the `g` layout from a target description: <reg> elements in document
 * order, numbered by regnum (or one past the previous), with <xi:include>
 * documents read through FETCH (may be NULL: includes are then an error). */
int gdb_parse_target_xml(const char *xml, size_t len, vms_gdb_fetch_fn fetch, void *ctx, struct vms_gdb_layout *out,
                         char *err, size_t errlen);
void gdb_layout_free(struct vms_gdb_layout *l);

/* Register NAME in L, or NULL. */
const struct vms_gdb_reg *gdb_layout_find(const struct vms_gdb_layout *l, const char *name);

/* Fill OUT from the hex `g` reply HEX (HEXLEN digits) laid out by L: the
 * x86 registers vms_regs holds, little-endian; a group's bit in out->valid
 * is set only if all its registers came ("xx" = unavailable). 0 or -EPROTO. */
int gdb_decode_regs(const struct vms_gdb_layout *l, const char *hex, size_t hexlen, struct vms_regs *out);

/* From `info mtree -f` text: the ranges of the RAM block mapped at address 0
 * in address space "memory" (its ram and rom-mode parts), adjacent ones
 * merged. Returns the count, -E2BIG if there are more than CAP, -EPROTO on
 * a malformed region line, -ENOENT if there is no such view or block. */
int gdb_parse_flatview(const char *text, size_t len, struct vms_ram_range *ranges, size_t cap);

#endif
