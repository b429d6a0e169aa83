/*
 * fanotify for the whole guest: which file systems are marked, and how an
 * event becomes a path and a process.
 *
 * Two groups. File systems that can report file handles (ext4, xfs, btrfs:
 * those with export operations and a file system id) are marked whole
 * (FAN_MARK_FILESYSTEM) in a FID group with FAN_REPORT_DFID_NAME: it sees
 * open, read, write, close-after-write, exec and also create, delete and
 * rename, and names the directory by handle plus the entry's name. The
 * others (tmpfs and the initramfs on 6.1, which report no fsid) go to a
 * classic group that reports an open fd per event: no create, delete or
 * rename there. Pseudo file systems (proc, sysfs, devtmpfs, ...) are not
 * marked: the device and proc traffic of every shell would drown the rest.
 *
 * Directory handles are turned into paths with open_by_handle_at and
 * /proc/self/fd, and cached (a directory renamed or deleted empties the
 * cache). fanotify reports the thread group id; the process name and uid
 * are read from /proc/PID when the agent handles the event, cached per pid
 * for a short while, and not kept while an exec may still be renaming it. Everything has a fixed size: the
 * agent's memory does not grow with the event rate.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define FID_MASK                                                                                                       \
	(FAN_OPEN | FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_OPEN_EXEC | FAN_CREATE | FAN_DELETE | FAN_RENAME | \
	 FAN_ONDIR)
#define FD_MASK (FAN_OPEN | FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_OPEN_EXEC)

#define MAX_FS 64
struct fs_entry {
	unsigned long dev;
	int mount_fd; /* for open_by_handle_at (FID group only) */
	fsid_t fsid;
};
static struct fs_entry fs_table[MAX_FS];
static int nfs;
static int fid_group = -1, fd_group = -1;
static pid_t self_pid;

static const struct {
	uint64_t bit;
	uint16_t kind;
} kinds[] = {
	/* the order a merged mask is reported in: the life of a file */
	{ FAN_CREATE, VMS_WIRE_EV_CREATE },  { FAN_OPEN, VMS_WIRE_EV_OPEN },
	{ FAN_OPEN_EXEC, VMS_WIRE_EV_EXEC }, { FAN_ACCESS, VMS_WIRE_EV_ACCESS },
	{ FAN_MODIFY, VMS_WIRE_EV_MODIFY },  { FAN_CLOSE_WRITE, VMS_WIRE_EV_CLOSE_WRITE },
	{ FAN_RENAME, VMS_WIRE_EV_RENAME },  { FAN_DELETE, VMS_WIRE_EV_DELETE },
};

/* ---- marks ---------------------------------------------------------------- */

static int pseudo_fs(const char *type)
{
	static const char *const skip[] = { "proc",        "sysfs",   "devtmpfs",  "devpts",  "securityfs",
		                            "cgroup",      "cgroup2", "pstore",    "debugfs", "tracefs",
		                            "bpf",         "mqueue",  "hugetlbfs", "fusectl", "configfs",
		                            "binfmt_misc", "autofs",  "efivarfs",  "nsfs",    "rpc_pipefs",
		                            NULL };
	for (int i = 0; skip[i]; i++)
		if (strcmp(type, skip[i]) == 0)
			return 1;
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

static void add_desc(char *desc, size_t desclen, const char *mnt, const char *type)
{
	size_t used = strlen(desc);
	/* A summary cut short is fine; say so with the return value used. */
	if (used < desclen && snprintf(desc + used, desclen - used, " %s(%s)", mnt, type) >= (int)(desclen - used))
		desc[desclen - 1] = 0;
}

/* The fanotify bits of the kinds in SEL (1 << VMS_WIRE_EV_*), within ALLOWED. */
static uint64_t mask_of(uint32_t sel, uint64_t allowed)
{
	uint64_t m = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (sel & (1u << kinds[i].kind))
			m |= kinds[i].bit;
	return m & allowed;
}

int agent_fan_setup(int fds[2], uint32_t sel, char *desc, size_t desclen)
{
	/* Only what was asked for: the kernel's work in every read and write
	 * system call is the larger part of the cost (docs/benchmarks.md). */
	uint64_t fid_mask = mask_of(sel, FID_MASK), fd_mask = mask_of(sel, FD_MASK);
	if (fid_mask)
		fid_mask |= FAN_ONDIR;
	self_pid = getpid();
	fid_group = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
	                          O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	fd_group = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fd_group < 0)
		return -errno;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char fid_desc[1024] = "", fd_desc[1024] = "";
	char line[4096];
	while (fgets(line, sizeof(line), f) && nfs < MAX_FS) {
		unsigned maj, min;
		char mnt[1024], type[64];
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*u %*u %u:%u %*s %1023s", &maj, &min, mnt) != 3 ||
		    sscanf(sep + 3, "%63s", type) != 1)
			continue;
		unescape(mnt);
		unsigned long dev = (unsigned long)maj << 20 | min;
		int seen = 0;
		for (int i = 0; i < nfs; i++)
			seen |= fs_table[i].dev == dev;
		if (seen || pseudo_fs(type))
			continue;
		struct fs_entry *e = &fs_table[nfs];
		e->dev = dev;
		e->mount_fd = -1;
		if (fid_group >= 0 &&
		    fanotify_mark(fid_group, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, fid_mask, AT_FDCWD, mnt) == 0) {
			struct statfs sf;
			e->mount_fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (e->mount_fd >= 0 && fstatfs(e->mount_fd, &sf) == 0)
				e->fsid = sf.f_fsid;
			add_desc(fid_desc, sizeof(fid_desc), mnt, type);
			nfs++;
		} else if (fd_mask &&
		           fanotify_mark(fd_group, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, fd_mask, AT_FDCWD, mnt) == 0) {
			add_desc(fd_desc, sizeof(fd_desc), mnt, type);
			nfs++;
		}
	}
	fclose(f);
	snprintf(desc, desclen, "fid:%s fd:%s", fid_desc[0] ? fid_desc : " none", fd_desc[0] ? fd_desc : " none");
	int n = 0;
	fds[n++] = fd_group;
	if (fid_group >= 0)
		fds[n++] = fid_group;
	return n;
}

/* ---- processes -------------------------------------------------------------- */

#define PCACHE 256
#define PCACHE_TTL_NS 200000000ull
/* How long an exec may take to replace the name (the kernel reads the
 * binary, which we see as events, before it sets the new name). */
#define EXEC_SETTLE_NS 50000000ull
struct proc_entry {
	int32_t pid;
	uint32_t uid;
	uint64_t at_ns;   /* when read; 0 = never */
	uint64_t exec_ns; /* when we saw it exec; names read soon after are not kept */
	uint8_t comm_len;
	char comm[VMS_WIRE_COMM_MAX];
};
static struct proc_entry pcache[PCACHE];

/* Name and uid of PID, from the cache or /proc. 0, or -1 if unknown. */
static int proc_info(int32_t pid, const struct proc_entry **out)
{
	struct proc_entry *e = &pcache[(uint32_t)pid % PCACHE];
	uint64_t now = agent_now_ns();
	if (e->pid == pid && e->at_ns && now - e->at_ns < PCACHE_TTL_NS && e->at_ns > e->exec_ns + EXEC_SETTLE_NS) {
		*out = e;
		return 0;
	}
	char path[64], comm[64];
	struct stat st;
	/* Every /proc/PID file is owned by the task's effective uid. */
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;
	if (fd >= 0) {
		if (fstat(fd, &st) == 0)
			n = read(fd, comm, sizeof(comm));
		close(fd);
	}
	if (n <= 0) {
		/* Gone: what we knew of it is still its name. */
		if (e->pid == pid) {
			*out = e;
			return 0;
		}
		return -1;
	}
	if (comm[n - 1] == '\n')
		n--;
	if (n > (ssize_t)VMS_WIRE_COMM_MAX)
		n = VMS_WIRE_COMM_MAX;
	for (ssize_t i = 0; i < n; i++)
		if (comm[i] == 0)
			comm[i] = '?';
	if (e->pid != pid)
		e->exec_ns = 0;
	e->pid = pid;
	e->uid = st.st_uid;
	e->at_ns = now;
	e->comm_len = (uint8_t)n;
	memcpy(e->comm, comm, (size_t)n);
	*out = e;
	return 0;
}

/* ---- directory handles to paths ------------------------------------------- */

#define DCACHE 64
struct dir_entry {
	uint32_t key_len;
	uint8_t key[8 + 8 + MAX_HANDLE_SZ];
	uint32_t path_len;
	char path[VMS_WIRE_PATH_MAX];
};
static struct dir_entry dcache[DCACHE];

static uint32_t hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void dcache_flush(void)
{
	for (int i = 0; i < DCACHE; i++)
		dcache[i].key_len = 0;
}

static struct fs_entry *fs_by_fsid(const fsid_t *id)
{
	for (int i = 0; i < nfs; i++)
		if (fs_table[i].mount_fd >= 0 && memcmp(&fs_table[i].fsid, id, sizeof(*id)) == 0)
			return &fs_table[i];
	return NULL;
}

/* Path of the directory named by INFO's fsid and handle; its length, or -1. */
static int dir_path(const struct fanotify_event_info_fid *info, size_t avail, const char **path)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} h;
	if (avail < sizeof(*info) + sizeof(struct file_handle))
		return -1;
	memcpy(&h.fh, info->handle, sizeof(struct file_handle));
	if (h.fh.handle_bytes > MAX_HANDLE_SZ || avail < sizeof(*info) + sizeof(struct file_handle) + h.fh.handle_bytes)
		return -1;
	memcpy(h.bytes, info->handle + sizeof(struct file_handle), h.fh.handle_bytes);
	uint8_t key[sizeof(dcache[0].key)];
	size_t klen = 0;
	memcpy(key, &info->fsid, 8);
	memcpy(key + 8, &h.fh.handle_type, 4);
	memcpy(key + 12, &h.fh.handle_bytes, 4);
	memcpy(key + 16, h.bytes, h.fh.handle_bytes);
	klen = 16 + h.fh.handle_bytes;
	struct dir_entry *d = &dcache[hash(key, klen) % DCACHE];
	if (d->key_len == klen && memcmp(d->key, key, klen) == 0) {
		*path = d->path;
		return (int)d->path_len;
	}
	fsid_t id;
	memcpy(&id, &info->fsid, sizeof(id));
	struct fs_entry *fs = fs_by_fsid(&id);
	if (!fs)
		return -1;
	int fd = open_by_handle_at(fs->mount_fd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, d->path, sizeof(d->path));
	close(fd);
	if (n <= 0 || n >= (ssize_t)sizeof(d->path)) {
		d->key_len = 0;
		return -1;
	}
	d->path_len = (uint32_t)n;
	d->key_len = (uint32_t)klen;
	memcpy(d->key, key, klen);
	*path = d->path;
	return (int)n;
}

/* DIR + "/" + NAME into OUT (VMS_WIRE_PATH_MAX); sets *TRUNC if cut. */
static size_t join(char *out, const char *dir, size_t dlen, const char *name, int *trunc)
{
	size_t n = 0, cap = VMS_WIRE_PATH_MAX;
	size_t nlen = strlen(name);
	if (strcmp(name, ".") == 0)
		nlen = 0;
	if (dlen > cap)
		dlen = cap, *trunc = 1;
	memcpy(out, dir, dlen);
	n = dlen;
	if (nlen) {
		if (!(n == 1 && out[0] == '/') && n < cap)
			out[n++] = '/';
		if (nlen > cap - n)
			nlen = cap - n, *trunc = 1;
		memcpy(out + n, name, nlen);
		n += nlen;
	}
	return n;
}

/* ---- events ----------------------------------------------------------------- */

/* One record per kind in the mask. The kernel merges events on one object
 * by one process that wait in its queue: then the kinds are known but not
 * how often or in which order they happened; records say so (MERGED) and
 * come in the order a file's life has them. */
static void emit_mask(uint64_t mask, struct agent_event *e)
{
	int n = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		n += (mask & kinds[i].bit) != 0;
	if (n > 1)
		e->flags |= VMS_WIRE_F_MERGED;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!(mask & kinds[i].bit))
			continue;
		e->kind = kinds[i].kind;
		size_t keep2 = e->path2_len;
		if (e->kind != VMS_WIRE_EV_RENAME)
			e->path2_len = 0;
		agent_emit(e);
		e->path2_len = keep2;
	}
}

static void fill_proc(struct agent_event *e, int32_t pid)
{
	const struct proc_entry *p;
	e->pid = pid;
	e->tid = -1; /* fanotify reports the thread group, not the thread */
	if (proc_info(pid, &p) == 0) {
		e->uid = p->uid;
		e->comm = p->comm;
		e->comm_len = p->comm_len;
	} else {
		e->uid = UINT32_MAX;
		e->comm = "";
		e->comm_len = 0;
		e->flags |= VMS_WIRE_F_NOPROC;
	}
}

static void handle_fid(const struct fanotify_event_metadata *m)
{
	static char path[VMS_WIRE_PATH_MAX], path2[VMS_WIRE_PATH_MAX];
	struct agent_event e = { .flags = VMS_WIRE_F_FID };
	int have1 = 0, have2 = 0, trunc = 0;
	size_t off = m->metadata_len;
	while (off + sizeof(struct fanotify_event_info_header) <= m->event_len) {
		const struct fanotify_event_info_header *ih = (const void *)((const char *)m + off);
		if (ih->len < sizeof(*ih) || off + ih->len > m->event_len)
			break;
		int t = ih->info_type;
		if (t == FAN_EVENT_INFO_TYPE_DFID_NAME || t == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
		    t == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME || t == FAN_EVENT_INFO_TYPE_DFID) {
			const struct fanotify_event_info_fid *fi = (const void *)ih;
			const char *dir;
			int dlen = dir_path(fi, ih->len, &dir);
			const char *name = ".";
			if (t != FAN_EVENT_INFO_TYPE_DFID) {
				struct file_handle fh;
				memcpy(&fh, fi->handle, sizeof(fh));
				size_t at = sizeof(*fi) + sizeof(fh) + fh.handle_bytes;
				if (at < ih->len && memchr((const char *)fi + at, 0, ih->len - at))
					name = (const char *)fi + at;
			}
			int second = t == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME;
			char *dst = second ? path2 : path;
			size_t n = 0;
			if (dlen >= 0)
				n = join(dst, dir, (size_t)dlen, name, &trunc);
			else
				e.flags |= VMS_WIRE_F_NOPATH, n = join(dst, "?", 1, name, &trunc);
			if (second)
				e.path2_len = n, have2 = 1;
			else
				e.path_len = n, have1 = 1;
		}
		off += ih->len;
	}
	if (!have1 && !have2)
		e.flags |= VMS_WIRE_F_NOPATH;
	if (trunc)
		e.flags |= VMS_WIRE_F_TRUNC;
	if (m->mask & FAN_ONDIR)
		e.flags |= VMS_WIRE_F_DIR;
	e.path = path;
	e.path2 = path2;
	fill_proc(&e, m->pid);
	emit_mask(m->mask, &e);
	if ((m->mask & FAN_ONDIR) && (m->mask & (FAN_RENAME | FAN_DELETE)))
		dcache_flush();
}

static void handle_fd(const struct fanotify_event_metadata *m)
{
	static char path[VMS_WIRE_PATH_MAX + 1];
	struct agent_event e = { 0 };
	char link[64];
	ssize_t n = -1;
	if (m->fd >= 0) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", m->fd);
		n = readlink(link, path, sizeof(path));
		close(m->fd);
	}
	if (n < 0) {
		n = 0;
		e.flags |= VMS_WIRE_F_NOPATH;
	} else if (n > (ssize_t)VMS_WIRE_PATH_MAX) {
		n = VMS_WIRE_PATH_MAX;
		e.flags |= VMS_WIRE_F_TRUNC;
	}
	e.path = path;
	e.path_len = (size_t)n;
	e.path2 = "";
	fill_proc(&e, m->pid);
	emit_mask(m->mask, &e);
}

void agent_fan_read(int fd)
{
	static union {
		struct fanotify_event_metadata m;
		char bytes[64 * 1024];
	} buf;
	for (;;) {
		ssize_t len = read(fd, buf.bytes, sizeof(buf.bytes));
		if (len <= 0)
			return; /* EAGAIN: drained */
		const struct fanotify_event_metadata *m = &buf.m;
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			if (m->vers != FANOTIFY_METADATA_VERSION)
				continue;
			if (m->mask & FAN_Q_OVERFLOW) {
				agent_overflow();
				continue;
			}
			if (m->pid == self_pid) {
				if (m->fd >= 0)
					close(m->fd);
				continue;
			}
			if (fd == fid_group)
				handle_fid(m);
			else
				handle_fd(m);
			if (m->mask & FAN_OPEN_EXEC) {
				struct proc_entry *e = &pcache[(uint32_t)m->pid % PCACHE];
				if (e->pid != m->pid)
					e->pid = m->pid, e->at_ns = 0;
				e->exec_ns = agent_now_ns();
			}
		}
	}
}
