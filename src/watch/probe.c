/*
 * A look at the channel a watch does not follow, to say why nothing comes:
 * an agent started with --channel vcpu writes nothing to the shm ring, and
 * the reverse, and "no sign of life" alone sends the user looking in the
 * wrong place.
 *
 * Both channels carry a heartbeat about once a second. shm: the ring
 * header's heartbeat_ns (also head, events and generation) moves while an
 * agent runs; a header that stays as it was is an earlier run's. Reading it
 * costs nothing and disturbs nobody, so it is read with pread, twice: at
 * the start and when asked. vcpu: the agent's STATUS records come through
 * the debugcon socket, but only to a connected client, and QEMU serves one
 * at a time; the probe connects, drains, hangs up at the first record, and
 * the watch closes it as soon as its own channel shows life. The agent's
 * bytes are read through the same framer and decoder as the real channel:
 * they are no more trusted here.
 */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { PROBE_NONE, PROBE_SHM, PROBE_VCPU };

#define PROBE_POLL_NS 50000000ull
#define PROBE_LONG_ENOUGH_NS 1500000000ull /* heartbeats are once a second */

void watch_probe_init(struct vms_watch_probe *p)
{
	p->kind = PROBE_NONE;
	p->fd = -1;
	p->heard = 0;
	p->agent_pid = -1;
}

static int read_header(int fd, struct vms_wire_header *h)
{
	return pread(fd, h, sizeof(*h), 0) == (ssize_t)sizeof(*h) ? 0 : -EIO;
}

int watch_probe_shm(struct vms_watch_probe *p, const char *path, uint64_t now_ns)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (read_header(fd, &p->first)) {
		close(fd);
		return -EIO;
	}
	p->kind = PROBE_SHM;
	p->fd = fd;
	p->start_ns = now_ns;
	return 0;
}

int watch_probe_vcpu(struct vms_watch_probe *p, const char *socket_path, uint64_t now_ns)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	framer_init(&p->framer);
	p->kind = PROBE_VCPU;
	p->fd = fd;
	p->start_ns = now_ns;
	p->next_poll_ns = now_ns;
	return 0;
}

/* Hang up, keeping what was learnt. */
static void hang_up(struct vms_watch_probe *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* Decode whatever frames are complete; a valid record is a sign of life. */
static void take_frames(struct vms_watch_probe *p)
{
	const uint8_t *blob;
	size_t len;
	struct vms_wire_decoded d;
	while (!p->heard && framer_next(&p->framer, &blob, &len) == 1) {
		if (wire_decode(blob, len, 0, &d) == 0) {
			p->heard = 1;
			p->agent_pid = d.ev.pid > 0 ? d.ev.pid : -1;
		}
	}
}

void watch_probe_poll(struct vms_watch_probe *p, uint64_t now_ns)
{
	if (p->kind != PROBE_VCPU || p->fd < 0 || now_ns < p->next_poll_ns)
		return;
	p->next_poll_ns = now_ns + PROBE_POLL_NS;
	while (!p->heard) {
		size_t room;
		uint8_t *dst = framer_space(&p->framer, &room);
		ssize_t n = recv(p->fd, dst, room, 0);
		if (n > 0) {
			framer_added(&p->framer, (size_t)n);
			take_frames(p);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			hang_up(p); /* QEMU went away, or the socket broke: nothing more to learn */
		break;
	}
	if (p->heard)
		hang_up(p);
}

static int shm_verdict(struct vms_watch_probe *p, int long_enough, int32_t *pid)
{
	struct vms_wire_header now;
	if (read_header(p->fd, &now))
		return -1;
	const struct vms_wire_header *was = &p->first;
	int valid = now.magic == VMS_WIRE_MAGIC && now.version == VMS_WIRE_VERSION;
	int moved = was->magic != now.magic || was->generation != now.generation || was->head != now.head ||
	            was->events != now.events || was->heartbeat_ns != now.heartbeat_ns;
	if (valid && moved) {
		*pid = now.agent_pid > 0 ? now.agent_pid : -1;
		return 1;
	}
	return long_enough ? 0 : -1;
}

int watch_probe_verdict(struct vms_watch_probe *p, uint64_t now_ns, int32_t *pid)
{
	int long_enough = now_ns - p->start_ns >= PROBE_LONG_ENOUGH_NS;
	*pid = -1;
	switch (p->kind) {
	case PROBE_SHM: return shm_verdict(p, long_enough, pid);
	case PROBE_VCPU:
		p->next_poll_ns = 0;
		watch_probe_poll(p, now_ns);
		if (p->heard) {
			*pid = p->agent_pid;
			return 1;
		}
		return long_enough ? 0 : -1;
	default: return -1;
	}
}

void watch_probe_close(struct vms_watch_probe *p)
{
	hang_up(p);
	p->kind = PROBE_NONE;
}
