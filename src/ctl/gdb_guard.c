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
 * It speaks raw bytes on the socket it kept and knows nothing of the
 * client's state; the client (gdb.c) arms it right after connecting and
 * disarms it once it has detached properly.
 */
#include "gdb_private.h"

#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void guard_run(int sock)
{
	ssize_t n;
	uint8_t buf[4096];
	struct pollfd p = { .fd = sock, .events = POLLIN };
	if (send(sock, "+\x03", 2, MSG_NOSIGNAL) != 2)
		_exit(1);
	for (int i = 0; i < 20 && poll(&p, 1, 100) > 0;)
		if (recv(sock, buf, sizeof(buf), 0) <= 0)
			_exit(1);
		else
			i = 20; /* whatever it was (a stop reply), the ack rides on the D */
	for (int tries = 0; tries < 4; tries++) {
		if (send(sock, "+$D#44", 6, MSG_NOSIGNAL) != 6)
			_exit(1);
		for (int w = 0; w < 30 && poll(&p, 1, 100) > 0; w++) {
			n = recv(sock, buf, sizeof(buf) - 1, 0);
			if (n <= 0)
				_exit(1);
			buf[n] = 0;
			if (memmem(buf, (size_t)n, "OK", 2))
				_exit(0);
			if (memchr(buf, '-', (size_t)n))
				break;
		}
	}
	_exit(1);
}

struct gdb_guard_ctx {
	int sock;
};

static void gdb_guard_undo(void *ctx, int note)
{
	if (note == GDB_GUARD_LEAVE_STOPPED)
		return; /* the socket closes with us: QEMU keeps the guest stopped */
	guard_run(((const struct gdb_guard_ctx *)ctx)->sock);
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
