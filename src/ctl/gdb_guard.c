/*
 * The guardian of a GDB connection: what the child (util/guard.c) does if
 * vmsight dies while attached.
 *
 * QEMU keeps the guest stopped, and breakpoints planted, when a debugger's
 * connection merely closes: a stopped guest stays stopped, and a running
 * one stops at the next hit with nobody to resume it. A process killed
 * outright (SIGKILL, a crash) cannot detach, so the guardian holds a copy
 * of the socket and detaches in our place: '+' (acks a reply the stub may
 * wait on, or stops a running guest), the stop reply if one comes, then
 * `D` (resent on a NAK, as a half-written packet of ours may precede it).
 *
 * Before that, QEMU's memory mode is put back if the client changed it:
 * `Qqemu.PhyMemMode` is global to the stub and outlives the connection, so
 * a GDB source killed in physical mode would leave the next debugger (a
 * user's gdb, or a tracer writing a stack) reading and writing physical
 * addresses where it means virtual ones.
 *
 * It speaks raw bytes on the socket it kept and knows of the client's
 * state only what the client notes (gdb.c: note_guard); the client arms it
 * right after connecting and disarms it once it has detached properly.
 */
#include "gdb_private.h"

#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Send the packet with payload DATA (an ack before it) until the stub
 * answers OK, a few times over on a NAK (a half-written packet of ours may
 * precede it). 1 if it did. */
static int until_ok(int sock, const char *data)
{
	uint8_t buf[4096];
	char pkt[64];
	unsigned sum = 0;
	struct pollfd p = { .fd = sock, .events = POLLIN };
	for (const char *c = data; *c; c++)
		sum += (unsigned char)*c;
	int len = snprintf(pkt, sizeof(pkt), "+$%s#%02x", data, sum & 0xff);
	for (int tries = 0; tries < 4; tries++) {
		if (send(sock, pkt, (size_t)len, MSG_NOSIGNAL) != len)
			_exit(1);
		for (int w = 0; w < 30 && poll(&p, 1, 100) > 0; w++) {
			ssize_t n = recv(sock, buf, sizeof(buf) - 1, 0);
			if (n <= 0)
				_exit(1);
			if (memmem(buf, (size_t)n, "OK", 2))
				return 1;
			if (memchr(buf, '-', (size_t)n))
				break;
		}
	}
	return 0;
}

static void guard_run(int sock, int note)
{
	uint8_t buf[4096];
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int leave_stopped = note > 0 && (note & GDB_GUARD_LEAVE_STOPPED);
	if (!leave_stopped) {
		if (send(sock, "+\x03", 2, MSG_NOSIGNAL) != 2)
			_exit(1);
		for (int i = 0; i < 20 && poll(&p, 1, 100) > 0;)
			if (recv(sock, buf, sizeof(buf), 0) <= 0)
				_exit(1);
			else
				i = 20; /* whatever it was (a stop reply), the ack rides on the next packet */
	}
	if (note > 0 && (note & GDB_GUARD_RESTORE_PHYS))
		until_ok(sock, note & GDB_GUARD_PHYS_WAS_ON ? "Qqemu.PhyMemMode:1" : "Qqemu.PhyMemMode:0");
	if (leave_stopped)
		_exit(0); /* the socket closes with us: QEMU keeps the guest stopped */
	_exit(until_ok(sock, "D") ? 0 : 1);
}

struct gdb_guard_ctx {
	int sock;
};

static void gdb_guard_undo(void *ctx, int note)
{
	guard_run(((const struct gdb_guard_ctx *)ctx)->sock, note);
}

int gdb_guard_arm(struct guard *gd, int sock, char *err, size_t errlen)
{
	struct gdb_guard_ctx ctx = { .sock = sock };
	return guard_arm(gd, &sock, 1, gdb_guard_undo, &ctx, err, errlen);
}

void gdb_guard_disarm(struct guard *gd)
{
	guard_disarm(gd);
}
