/*
 * shm: guest RAM read in place from QEMU's own RAM file.
 *
 * A guest started with a shared file or memfd memory backend
 * (memory-backend-file,share=on / memory-backend-memfd) keeps its RAM in a
 * file we can map read-only: every read is a load from the very pages the
 * vCPUs write, with no copy and no call into QEMU. The file is reached by its
 * path, or, when it was unlinked or is a memfd, through the QEMU process's
 * open descriptors in /proc/PID/fd.
 *
 * If QEMU exits and the file is truncated under us, touching the mapping
 * would raise SIGBUS. A process-wide handler replaces the faulting page with
 * a zero page (mmap is async-signal-safe) and raises a flag; reads check the
 * flag after copying and report the source as gone. This keeps the hot path
 * at one memcpy and one flag load, with no setjmp per read.
 */
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct shm_source {
	struct vms_source base;
	uint8_t *map;
	size_t map_len;
};

atomic_int vms_mem_truncated;
static struct sigaction shm_old_sigbus;

/* Mappings the handler may repair; anything else is not ours to hide. */
#define SHM_MAX_MAPS 16
static _Atomic(uintptr_t) shm_maps_start[SHM_MAX_MAPS];
static _Atomic(size_t) shm_maps_len[SHM_MAX_MAPS];

static int shm_owns(uintptr_t a)
{
	for (int i = 0; i < SHM_MAX_MAPS; i++) {
		uintptr_t s = atomic_load(&shm_maps_start[i]);
		if (s && a >= s && a - s < atomic_load(&shm_maps_len[i]))
			return 1;
	}
	return 0;
}

static void shm_register(void *p, size_t len, int add)
{
	for (int i = 0; i < SHM_MAX_MAPS; i++) {
		uintptr_t want = add ? 0 : (uintptr_t)p;
		if (atomic_load(&shm_maps_start[i]) == want) {
			atomic_store(&shm_maps_len[i], add ? len : 0);
			atomic_store(&shm_maps_start[i], add ? (uintptr_t)p : 0);
			return;
		}
	}
}

static void shm_sigbus(int sig, siginfo_t *si, void *uctx)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *page = (void *)((uintptr_t)si->si_addr & ~(uintptr_t)(pg - 1));
	if (si->si_code == BUS_ADRERR && shm_owns((uintptr_t)si->si_addr) &&
	    mmap(page, (size_t)pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
		atomic_store(&vms_mem_truncated, 1);
		return;
	}
	/* Not ours: behave as if we were never installed. */
	sigaction(SIGBUS, &shm_old_sigbus, NULL);
	(void)sig;
	(void)uctx;
}

static void shm_install_sigbus(void)
{
	static atomic_int installed;
	if (atomic_exchange(&installed, 1))
		return;
	struct sigaction sa = { .sa_sigaction = shm_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &shm_old_sigbus);
}

static int shm_read(struct vms_source *s, uint64_t pa, void *buf, size_t len)
{
	/* Only reached when the fast path in the target did not apply. */
	int i = source_find_range(s, pa, len);
	if (i < 0)
		return source_fail(s, EFAULT, "0x%llx+%zu is not guest RAM", (unsigned long long)pa, len);
	memcpy(buf, s->host[i] + (pa - s->ranges[i].gpa), len);
	if (atomic_load_explicit(&vms_mem_truncated, memory_order_relaxed))
		return source_fail(s, EIO, "guest RAM file was truncated (QEMU exited?)");
	return 0;
}

static const void *shm_map(struct vms_source *s, uint64_t pa, size_t len)
{
	int i = source_find_range(s, pa, len);
	return i < 0 ? NULL : s->host[i] + (pa - s->ranges[i].gpa);
}

static void shm_close(struct vms_source *s)
{
	struct shm_source *m = (struct shm_source *)s;
	if (m->map) {
		shm_register(m->map, m->map_len, 0);
		munmap(m->map, m->map_len);
	}
	free(m);
}

static const struct vms_source_ops shm_ops = {
	.version = VMS_SOURCE_OPS_VERSION,
	.name = "shm",
	.read = shm_read,
	.map = shm_map,
	.close = shm_close,
};

/* The fd table of QEMU: a RAM file that was unlinked reads as
 * "PATH (deleted)", a memfd as "/memfd:NAME (deleted)". Pick the entry of the
 * right size that names our backend. */
static int open_via_proc(const struct vms_ram_map *ram, char *how, size_t howlen)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", ram->pid);
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int fd = -ENOENT;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && fd < 0) {
		char path[320], target[4200];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		int match;
		if (ram->path[0])
			match = strncmp(target, ram->path, strlen(ram->path)) == 0;
		else
			match = strncmp(target, "/memfd:", 7) == 0;
		if (!match)
			continue;
		int cand = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (cand >= 0 && fstat(cand, &st) == 0 && (uint64_t)st.st_size == ram->size) {
			fd = cand;
			snprintf(how, howlen, "%s via %s", target, path);
		} else if (cand >= 0) {
			close(cand);
		}
	}
	closedir(d);
	return fd;
}

int mem_shm_open(const struct vms_ram_map *ram, struct vms_source **out, char *err, size_t errlen)
{
	char how[4800] = "";
	int fd = -1;
	struct stat st;
	if (ram->path[0]) {
		fd = open(ram->path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != ram->size)) {
			close(fd); /* a different file now stands at that path */
			fd = -1;
		}
		if (fd >= 0)
			snprintf(how, sizeof(how), "%s", ram->path);
	}
	if (fd < 0 && ram->pid > 0)
		fd = open_via_proc(ram, how, sizeof(how));
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the guest RAM file %s%s (need root to reach it through /proc/%d/fd)",
		         ram->path[0] ? ram->path : "(memfd)", ram->path[0] ? " nor" : ":", ram->pid);
		return -ENOENT;
	}
	struct shm_source *m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->base.ops = &shm_ops;
	m->map_len = ram->size;
	m->map = mmap(NULL, m->map_len, PROT_READ, MAP_SHARED, fd, 0);
	int saved = errno;
	close(fd);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		snprintf(err, errlen, "mmap of guest RAM (%llu bytes) failed: %s", (unsigned long long)ram->size,
		         strerror(saved));
		free(m);
		return -saved;
	}
	shm_install_sigbus();
	shm_register(m->map, m->map_len, 1);
	for (size_t i = 0; i < ram->nranges; i++) {
		if (source_add_range(&m->base, ram->ranges[i].gpa, ram->ranges[i].len)) {
			snprintf(err, errlen, "bad RAM layout from QEMU");
			shm_close(&m->base);
			return -EPROTO;
		}
		m->base.host[i] = m->map + ram->offsets[i];
	}
	snprintf(m->base.detail, sizeof(m->base.detail), "%.500s", how);
	*out = &m->base;
	return 0;
}
