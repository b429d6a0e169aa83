/*
 * vmsight-agent: reports the guest's file activity to the host.
 *
 *   vmsight-agent [--channel shm|vcpu] [--device PCI-ADDR] [--port N]
 *                 [--slots N] [--events KINDS] [--pidfile FILE]
 *                 [--sched batch|normal] [--quiet]
 *   vmsight-agent --trap-bench N [--port N]   time N OUTs to the port
 *
 * fanotify (fanotify.c) says what happened; each event becomes one blob
 * (include/vmsight/agent_wire.h) sent on one channel:
 *   shm   the ring in the BAR2 memory of an ivshmem-plain device (vendor
 *         1af4, device 1110), mapped through sysfs. Never blocks: a full
 *         ring drops the event and counts it in the shared header.
 *   vcpu  OUT instructions to an isa-debugcon port (vcpu.c).
 * The first record of a run is HELLO (what is marked, which channel); a
 * STATUS record carries the counters about once a second, also when idle,
 * so the host can tell a live agent from a dead one. The agent's own file
 * activity is never reported. SIGTERM/SIGINT end it cleanly.
 */
#include "agent.h"
#include "ring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum channel { CH_SHM, CH_VCPU };

static enum channel channel = CH_SHM;
static struct agent_ring ring;
static uint32_t generation = 1;
static uint64_t next_id, sent, dropped_here, overflows_vcpu;
static volatile sig_atomic_t stopping;

uint64_t agent_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t dropped_total(void)
{
	return channel == CH_SHM ? agent_ring_dropped(&ring) : 0;
}

static uint64_t overflows_total(void)
{
	return channel == CH_SHM ? agent_ring_overflows(&ring) : overflows_vcpu;
}

void agent_overflow(void)
{
	if (channel == CH_SHM)
		agent_ring_add_overflows(&ring, 1);
	else
		overflows_vcpu++;
}

void agent_emit(const struct agent_event *e)
{
	static uint8_t blob[VMS_WIRE_EVENT_MAX_BYTES];
	struct vms_wire_event w = {
		.kind = e->kind,
		.flags = e->flags,
		.generation = generation,
		.pid = e->pid,
		.tid = e->tid,
		.uid = e->uid,
		.result = 0,
		.ts_ns = agent_now_ns(),
		.event_id = ++next_id,
		.dropped = dropped_total(),
		.overflows = overflows_total(),
	};
	size_t cl = e->comm_len > VMS_WIRE_COMM_MAX ? VMS_WIRE_COMM_MAX : e->comm_len;
	size_t pl = e->path_len > VMS_WIRE_PATH_MAX ? VMS_WIRE_PATH_MAX : e->path_len;
	size_t p2 = e->path2_len > VMS_WIRE_PATH_MAX ? VMS_WIRE_PATH_MAX : e->path2_len;
	w.comm_len = (uint16_t)cl;
	w.path_len = (uint16_t)pl;
	w.path2_len = (uint16_t)p2;
	if (e->kind == VMS_WIRE_EV_HELLO || e->kind == VMS_WIRE_EV_STATUS)
		w.result = INT32_MIN;
	memcpy(blob, &w, sizeof(w));
	size_t off = sizeof(w);
	memcpy(blob + off, e->comm, cl);
	off += cl;
	memcpy(blob + off, e->path, pl);
	off += pl;
	memcpy(blob + off, e->path2, p2);
	off += p2;
	if (channel == CH_VCPU) {
		agent_vcpu_send(blob, off);
		sent++;
	} else if (agent_ring_put(&ring, blob, off) == 0) {
		sent++;
	} else {
		agent_ring_add_dropped(&ring, 1);
		dropped_here++;
	}
}

static void emit_notice(uint16_t kind, const char *text)
{
	struct agent_event e = {
		.kind = kind,
		.pid = getpid(),
		.tid = getpid(),
		.uid = geteuid(),
		.comm = "vmsight-agent",
		.comm_len = 13,
		.path = text,
		.path_len = strlen(text),
		.path2 = "",
	};
	agent_emit(&e);
}

/* ---- the shm channel: find the ivshmem device, map its BAR2 ---------------- */

static int read_hex(const char *dir, const char *name, unsigned *out)
{
	char path[512], buf[32];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	*out = (unsigned)strtoul(buf, NULL, 16);
	return 0;
}

static int find_ivshmem(const char *want, char *out, size_t outlen)
{
	const char *base = "/sys/bus/pci/devices";
	DIR *d = opendir(base);
	if (!d)
		return -errno;
	struct dirent *de;
	int found = -ENODEV;
	while ((de = readdir(d))) {
		char dir[512];
		unsigned vendor, device;
		if (de->d_name[0] == '.' || (want && strcmp(want, de->d_name) != 0))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, de->d_name);
		if (read_hex(dir, "vendor", &vendor) || read_hex(dir, "device", &device) || vendor != 0x1af4 ||
		    device != 0x1110)
			continue;
		snprintf(out, outlen, "%s", dir);
		found = 0;
		break;
	}
	closedir(d);
	return found;
}

static int open_shm(const char *want, uint32_t slots, char *where, size_t wlen)
{
	char dir[512], path[600];
	int rc = find_ivshmem(want, dir, sizeof(dir));
	if (rc) {
		fprintf(stderr, "vmsight-agent: no ivshmem-plain device (PCI 1af4:1110)%s%s\n", want ? " at " : "",
		        want ? want : "");
		return rc;
	}
	/* Memory decoding may be off while no driver owns the device. */
	snprintf(path, sizeof(path), "%s/enable", dir);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) {
			/* already enabled, or not allowed: the mmap below tells */
		}
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/resource2", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		fprintf(stderr, "vmsight-agent: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "vmsight-agent: mmap %s: %s\n", path, strerror(errno));
		return -errno;
	}
	rc = agent_ring_start(&ring, p, (size_t)st.st_size, slots, getpid(), 1000);
	if (rc) {
		fprintf(stderr, "vmsight-agent: %s: region of %lld bytes is too small\n", path, (long long)st.st_size);
		return rc;
	}
	generation = ring.generation;
	snprintf(where, wlen, "shm %s %u slots", strrchr(dir, '/') + 1, ring.nslots);
	return 0;
}

/* ---- main ----------------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* "open,write,..." (the host's names) into bits 1 << VMS_WIRE_EV_*. */
static int parse_events(const char *list, uint32_t *sel)
{
	static const char *const names[] = {
		[VMS_WIRE_EV_OPEN] = "open",     [VMS_WIRE_EV_ACCESS] = "read",
		[VMS_WIRE_EV_MODIFY] = "write",  [VMS_WIRE_EV_CLOSE_WRITE] = "close_write",
		[VMS_WIRE_EV_EXEC] = "exec",     [VMS_WIRE_EV_CREATE] = "create",
		[VMS_WIRE_EV_DELETE] = "delete", [VMS_WIRE_EV_RENAME] = "rename",
	};
	*sel = 0;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		int found = 0;
		for (unsigned k = VMS_WIRE_EV_OPEN; k <= VMS_WIRE_EV_FILE_LAST; k++)
			if (strlen(names[k]) == n && strncmp(p, names[k], n) == 0)
				*sel |= 1u << k, found = 1;
		if (!found)
			return -1;
		p += n + (p[n] == ',');
	}
	return *sel ? 0 : -1;
}

static void usage(FILE *f)
{
	fputs("usage: vmsight-agent [--channel shm|vcpu] [--device PCI-ADDR] [--port N] [--slots N]\n"
	      "                     [--events KINDS] [--pidfile FILE] [--sched batch|normal] [--quiet]\n"
	      "       vmsight-agent --trap-bench N [--port N]\n"
	      "Reports file activity (fanotify) to the vmsight host over an ivshmem ring (shm)\n"
	      "or I/O port writes (vcpu). KINDS: comma-separated open, read, write, close_write,\n"
	      "exec, create, delete, rename (default all). See docs/watch.md.\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "channel", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "slots", required_argument, NULL, 's' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "trap-bench", required_argument, NULL, 'T' },
		{ "sched", required_argument, NULL, 'S' },
		{ "events", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *device = NULL, *pidfile = NULL;
	unsigned long port = VMS_WIRE_DEFAULT_PORT, slots = 0, trap_bench = 0;
	int quiet = 0, c, policy = SCHED_BATCH;
	uint32_t sel = ~0u;
	char events[256] = "all";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (strcmp(optarg, "shm") == 0)
				channel = CH_SHM;
			else if (strcmp(optarg, "vcpu") == 0)
				channel = CH_VCPU;
			else
				return usage(stderr), 2;
			break;
		case 'd': device = optarg; break;
		case 'p': port = strtoul(optarg, NULL, 0); break;
		case 's': slots = strtoul(optarg, NULL, 0); break;
		case 'P': pidfile = optarg; break;
		case 'q': quiet = 1; break;
		case 'T': trap_bench = strtoul(optarg, NULL, 0); break;
		case 'e':
			if (parse_events(optarg, &sel))
				return usage(stderr), 2;
			snprintf(events, sizeof(events), "%s", optarg);
			break;
		case 'S':
			if (strcmp(optarg, "batch") == 0)
				policy = SCHED_BATCH;
			else if (strcmp(optarg, "normal") == 0)
				policy = SCHED_OTHER;
			else
				return usage(stderr), 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || port > 0xffff || slots > UINT32_MAX)
		return usage(stderr), 2;

	if (trap_bench) {
		int rc = agent_vcpu_open((uint16_t)port);
		if (rc) {
			fprintf(stderr, "vmsight-agent: ioperm(0x%lx): %s\n", port, strerror(-rc));
			return 1;
		}
		printf("%llu ns per OUT (%lu OUTs to port 0x%lx)\n",
		       (unsigned long long)agent_vcpu_trap_bench(trap_bench), trap_bench, port);
		return 0;
	}
	char where[256];
	if (channel == CH_SHM) {
		if (open_shm(device, (uint32_t)slots, where, sizeof(where)))
			return 1;
	} else {
		int rc = agent_vcpu_open((uint16_t)port);
		if (rc) {
			fprintf(stderr, "vmsight-agent: ioperm(0x%lx): %s\n", port, strerror(-rc));
			return 1;
		}
		snprintf(where, sizeof(where), "vcpu port 0x%lx", port);
	}
	int fds[2];
	char marks[2048];
	int nfd = agent_fan_setup(fds, sel, marks, sizeof(marks));
	if (nfd < 0) {
		fprintf(stderr, "vmsight-agent: fanotify: %s\n", strerror(-nfd));
		return 1;
	}
	/* SCHED_BATCH: a woken agent does not preempt the process that made
	 * the event, so on a busy vCPU events are read in batches at the end
	 * of its time slice instead of one context switch each; an idle vCPU
	 * still runs the agent at once (docs/watch.md has the trade-off). */
	if (sched_setscheduler(0, policy, &(struct sched_param){ 0 }) != 0)
		fprintf(stderr, "vmsight-agent: sched_setscheduler: %s\n", strerror(errno));
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (pidfile) {
		FILE *f = fopen(pidfile, "we");
		if (f) {
			fprintf(f, "%d\n", getpid());
			fclose(f);
		}
	}
	char hello[2400];
	snprintf(hello, sizeof(hello), "vmsight-agent wire %u; %s; events %s; %s", VMS_WIRE_VERSION, where, events,
	         marks);
	emit_notice(VMS_WIRE_EV_HELLO, hello);
	if (!quiet)
		fprintf(stderr, "vmsight-agent: pid %d, %s\n", getpid(), hello);

	struct pollfd pfd[2];
	for (int i = 0; i < nfd; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	uint64_t last_status = agent_now_ns();
	while (!stopping) {
		uint64_t now = agent_now_ns();
		if (now - last_status >= 1000000000ull) {
			emit_notice(VMS_WIRE_EV_STATUS, "");
			if (channel == CH_SHM)
				agent_ring_heartbeat(&ring, now);
			last_status = now;
		}
		int timeout = (int)((last_status + 1000000000ull - now) / 1000000) + 1;
		if (poll(pfd, (nfds_t)nfd, timeout) < 0)
			continue; /* EINTR: the loop condition decides */
		for (int i = 0; i < nfd; i++)
			if (pfd[i].revents & POLLIN)
				agent_fan_read(pfd[i].fd);
	}
	if (pidfile)
		unlink(pidfile);
	if (!quiet)
		fprintf(stderr,
		        "vmsight-agent: exiting: %llu records sent, %llu dropped (channel full), %llu "
		        "kernel queue overflows\n",
		        (unsigned long long)sent, (unsigned long long)dropped_here,
		        (unsigned long long)overflows_total());
	return 0;
}
