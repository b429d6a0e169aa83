/*
 * The guardian child (see guard.h). Notes are single bytes on the pipe;
 * the byte GUARD_DONE ends it quietly.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/guard.h"

#define GUARD_DONE 0

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every descriptor above stderr that is not kept. */
static void close_others(const int *keep, size_t nkeep, int pipe_rd)
{
	int fds[16];
	size_t n = 0;
	for (size_t i = 0; i < nkeep && n < 15; i++)
		if (keep[i] > 2)
			fds[n++] = keep[i];
	fds[n++] = pipe_rd;
	qsort(fds, n, sizeof(int), cmp_int);
	unsigned lo = 3;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)fds[i] > lo)
			close_range(lo, (unsigned)fds[i] - 1, 0);
		lo = (unsigned)fds[i] + 1;
	}
	close_range(lo, ~0u, 0);
}

static void guard_child(int pipe_rd, guard_fn on_death, void *ctx)
{
	int note = -1;
	for (;;) {
		unsigned char c;
		ssize_t n = read(pipe_rd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 1 && c == GUARD_DONE)
			_exit(0);
		if (n == 1) {
			note = c;
			continue;
		}
		break; /* EOF (or an error): the parent is gone */
	}
	on_death(ctx, note);
	_exit(0);
}

int guard_arm(struct guard *g, const int *keep, size_t nkeep, guard_fn on_death, void *ctx, char *err, size_t errlen)
{
	int pfd[2];
	if (g->fd >= 0)
		return 0;
	if (pipe2(pfd, O_CLOEXEC)) {
		int e = errno;
		snprintf(err, errlen, "pipe: %s", strerror(e));
		return -e;
	}
	fflush(NULL); /* nothing buffered is written twice */
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		snprintf(err, errlen, "fork: %s", strerror(e));
		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (pid == 0) {
		/* Ctrl-C reaches the whole process group: the child must outlive
		 * its parent's handling of it. */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		close(pfd[1]);
		close_others(keep, nkeep, pfd[0]);
		guard_child(pfd[0], on_death, ctx);
	}
	close(pfd[0]);
	g->fd = pfd[1];
	g->pid = pid;
	return 0;
}

void guard_note(struct guard *g, int note)
{
	unsigned char c = (unsigned char)note;
	if (g->fd >= 0 && note > 0 && note < 256 && write(g->fd, &c, 1) != 1)
		return; /* the child is gone: nothing will be undone for us */
}

void guard_disarm(struct guard *g)
{
	unsigned char c = GUARD_DONE;
	if (g->fd < 0)
		return;
	if (write(g->fd, &c, 1) != 1) {
		/* the child died already */
	}
	close(g->fd);
	g->fd = -1;
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	g->pid = -1;
}
