/*
 * A guardian: a forked child that undoes what we did to the VM (or the
 * user's files) if we die without undoing it ourselves — SIGKILL, a crash,
 * the OOM killer — when no cleanup of ours can run.
 *
 * The child holds only the descriptors it is given and the read end of a
 * pipe whose write end only we hold. We tell it how things stand with
 * guard_note (one byte each: "the guest is paused by us", "resumed", ...);
 * guard_disarm says we are done and reaps it. EOF without that means we
 * died: the child runs ON_DEATH with the last note and exits. ON_DEATH
 * runs in the child: it sees the memory of the moment of the fork (CTX
 * must say all it needs then) and may open new connections (a QMP socket
 * freed by our death), never the ones it did not keep.
 */
#ifndef VMS_UTIL_GUARD_H
#define VMS_UTIL_GUARD_H

#include <stddef.h>
#include <sys/types.h>

struct guard {
	int fd; /* write end of the pipe; -1: not armed */
	pid_t pid;
};

#define GUARD_INIT                  \
	{                           \
		.fd = -1, .pid = -1 \
	}

typedef void (*guard_fn)(void *ctx, int note);

/* 0, or -errno with ERR set. KEEP: the descriptors the child keeps open. */
int guard_arm(struct guard *g, const int *keep, size_t nkeep, guard_fn on_death, void *ctx, char *err, size_t errlen);
/* Tell the child how things stand (NOTE is passed to ON_DEATH; not 0). */
void guard_note(struct guard *g, int note);
/* We are done: the child exits without doing anything. */
void guard_disarm(struct guard *g);

#endif
