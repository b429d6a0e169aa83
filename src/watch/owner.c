/*
 * The QEMU process behind a watch's channel.
 *
 * The vcpu channel is a socket: when QEMU dies, it closes. The shm channel
 * is a file that outlives QEMU, and a ring nobody writes to looks the same
 * as an idle agent, so the watch follows QEMU's process itself: the peer of
 * the QMP socket it found the channel through (SO_PEERCRED), or, given only
 * the file, the process that holds it open (QEMU keeps its memory backend's
 * file open; vmsight itself closes it once mapped). A pidfd names that
 * process for good, so a recycled pid can not pass for a live QEMU; where
 * the kernel has no pidfd_open, kill(pid, 0) is the fallback.
 */
#include "owner.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHECK_EVERY_NS 200000000ull

void watch_owner_init(struct vms_watch_owner *o)
{
	memset(o, 0, sizeof(*o));
	o->pidfd = -1;
}

static void read_comm(int32_t pid, char *out, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	out[0] = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = 0;
	fclose(f);
}

int watch_owner_pid(struct vms_watch_owner *o, int32_t pid)
{
	if (pid <= 0)
		return -EINVAL;
#ifdef SYS_pidfd_open
	o->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0u); /* close-on-exec by default */
	if (o->pidfd < 0 && errno == ESRCH)
		return -ESRCH;
#endif
	if (o->pidfd < 0 && kill(pid, 0) != 0 && errno == ESRCH)
		return -ESRCH;
	o->pid = pid;
	read_comm(pid, o->comm, sizeof(o->comm));
	return 0;
}

/* Does process PID hold the file WANT open? */
static int holds(int32_t pid, const struct stat *want)
{
	char dir[64], path[64 + sizeof(((struct dirent *)0)->d_name)];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return 0; /* not ours to look at, or gone */
	int found = 0;
	struct dirent *e;
	struct stat st;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		found = stat(path, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino;
	}
	closedir(d);
	return found;
}

int watch_owner_of_file(struct vms_watch_owner *o, const char *path)
{
	struct stat want;
	if (stat(path, &want) != 0)
		return -errno;
	DIR *proc = opendir("/proc");
	if (!proc)
		return -errno;
	int32_t self = (int32_t)getpid(), found = 0;
	struct dirent *e;
	while ((e = readdir(proc))) {
		char *end, comm[32];
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid > INT32_MAX || pid == self || !holds((int32_t)pid, &want))
			continue;
		read_comm((int32_t)pid, comm, sizeof(comm));
		int qemu = strncmp(comm, "qemu", 4) == 0;
		if (!found || qemu)
			found = (int32_t)pid;
		if (qemu)
			break;
	}
	closedir(proc);
	return found ? watch_owner_pid(o, found) : 0;
}

int watch_owner_gone(struct vms_watch_owner *o, uint64_t now_ns)
{
	if (!o->pid || now_ns < o->next_check_ns)
		return 0;
	o->next_check_ns = now_ns + CHECK_EVERY_NS;
	if (o->pidfd >= 0) {
		struct pollfd p = { .fd = o->pidfd, .events = POLLIN };
		return poll(&p, 1, 0) == 1;
	}
	return kill(o->pid, 0) != 0 && errno == ESRCH;
}

void watch_owner_close(struct vms_watch_owner *o)
{
	if (o->pidfd >= 0)
		close(o->pidfd);
	watch_owner_init(o);
}
