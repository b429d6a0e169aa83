/*
 * The guardian of a GDB connection: a forked child that detaches from the
 * stub if vmsight dies while attached.
 *
 * QEMU keeps the guest stopped, and breakpoints planted, when a debugger's
 * connection merely closes: a stopped guest stays stopped, and a running
 * one stops at the next hit with nobody to resume it.
 * A process killed outright (SIGKILL, a crash) cannot detach, so a small
 * child holds a copy of the socket and waits on a pipe whose write end
 * only we hold: EOF without our "done" byte means we died, and the child
 * detaches in our place: '+' (acks a reply the stub may wait on, or stops
 * a running guest), the stop reply if one comes, then `D` (resent on a
 * NAK, as a half-written packet of ours may precede it).
 *
 * The child speaks raw bytes on the socket it inherited and knows nothing
 * of the client's state; the client (gdb.c) arms it right after connecting
 * and disarms it once it has detached properly.
 */
#include "gdb_private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void guard_run(int sock, int pipe_rd)
{
	char c;
	ssize_t n;
	do
		n = read(pipe_rd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0); /* closed properly */
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

/* The failed call's errno, explained in ERR. */
static int guard_fail(char *err, size_t errlen, const char *call)
{
	int e = errno;
	snprintf(err, errlen, "%s: %s", call, strerror(e));
	return -e;
}

int gdb_guard_arm(struct vms_gdb_guard *gd, int sock, char *err, size_t errlen)
{
	int pfd[2];
	if (gd->fd >= 0)
		return 0;
	if (pipe2(pfd, O_CLOEXEC))
		return guard_fail(err, errlen, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int rc = guard_fail(err, errlen, "fork");
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid == 0) {
		/* Ctrl-C reaches the whole process group: the child must outlive
		 * its parent's handling of it. */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		close(pfd[1]);
		/* Hold nothing else of the parent's: a QMP connection kept open
		 * here would keep QEMU's monitor from taking the next one. */
		int lo = sock < pfd[0] ? sock : pfd[0], hi = sock < pfd[0] ? pfd[0] : sock;
		if (lo > 3)
			close_range(3, (unsigned)lo - 1, 0);
		if (hi > lo + 1)
			close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
		close_range((unsigned)hi + 1, ~0u, 0);
		guard_run(sock, pfd[0]);
	}
	close(pfd[0]);
	gd->fd = pfd[1];
	gd->pid = pid;
	return 0;
}

void gdb_guard_disarm(struct vms_gdb_guard *gd)
{
	if (gd->fd < 0)
		return;
	ssize_t n = write(gd->fd, "x", 1);
	(void)n;
	close(gd->fd);
	gd->fd = -1;
	while (waitpid(gd->pid, NULL, 0) < 0 && errno == EINTR)
		;
}
