/*
 * What an attach remembers of a VM between commands.
 *
 * Attaching to a live QEMU costs round trips to its monitor, and QEMU 7.2
 * answers about one command a millisecond. The RAM layout alone took six
 * (the machine's memory backend, its type, size, file and sharing, and the
 * flat view of guest memory): more than a third of a warm `vmsight ps`.
 * The layout is fixed for the life of a QEMU process, so the first attach
 * writes it down (in the cache directory, util/cachedir.h, as
 * memo-NAME.vmsmemo) and later ones read it instead of asking. What the
 * flat view can change at run time are windows over the same RAM (ROM
 * shadowing below 1 MiB, SMRAM), opened and closed by firmware: RAM never
 * moves to other offsets of its block, so a remembered layout can at worst
 * let vmsight read bytes of the block the guest cannot see at that moment,
 * never show wrong ones. Memory hot-plugged later lives in other backends,
 * which the layout does not cover either way.
 *
 * The vCPUs' registers are still asked: they are the only cheap witness of
 * which kernel runs now. A reset keeps RAM as it was, so after a reboot
 * the old kernel's page tables and banner are still there, intact, beside
 * the new kernel: memory alone cannot tell a live kernel from its remains
 * (the lab test that reboots a guest found exactly that).
 *
 * Targets without registers (a raw dump, LiME, a QEMU without QMP) are
 * where the kernel's place is worth remembering: finding it means
 * searching all of RAM. For them the memo also holds where the kernel was
 * found, as a witness checked before use: in the remembered paging mode
 * the table at the remembered physical address must map its own virtual
 * address (init_top_pgt) to itself and linux_banner's to the banner. A
 * dump does not change under a name that includes its inode and mtime.
 *
 * The VM is named by its QEMU process: pid and start time (a new QEMU that
 * got a recycled pid is another VM), or, for a dump, by the file's identity
 * (device, inode, size, mtime: a rewritten file is another dump).
 */
#include "memo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../arch/paging.h"
#include "target.h"
#include "util/cachedir.h"

#define MEMO_MAGIC "VMSMEMO1"
#define MEMO_SUFFIX ".vmsmemo"

struct target_memo {
	char magic[8];
	uint32_t size; /* sizeof(struct target_memo): another build's layout is another file */
	uint32_t has_ram;
	char ident[96];
	struct vms_qemu_ram ram; /* has_ram: a live QEMU's RAM layout */
	/* Where the kernel was found, for targets without registers: in PAGING
	 * mode, the table at CR3 maps TOP_VA to CR3 and BANNER_VA to BANNER. */
	int32_t paging; /* enum vms_paging */
	uint32_t pad;
	uint64_t cr3, top_va, banner_va;
	char banner[512];
};

void memo_setup(struct vms_target *t, const char *cache_dir, int no_cache)
{
	t->memo_dir[0] = '\0';
	if (!no_cache && cachedir_path(cache_dir, t->memo_dir, sizeof(t->memo_dir)))
		t->memo_dir[0] = '\0';
}

static int memo_file_name(const char *ident, char *out, size_t len)
{
	size_t at = 0;
	int rc = cachedir_name_append(out, len, &at, "memo-", 5);
	if (!rc)
		rc = cachedir_name_append(out, len, &at, ident, 96);
	if (!rc)
		rc = cachedir_name_append(out, len, &at, MEMO_SUFFIX, sizeof(MEMO_SUFFIX));
	return rc;
}

/* The cache directory, or -errno; a directory that is not ours alone is
 * said once (the profiles say it too, in the same words). */
static int memo_dir_open(struct vms_target *t, int create)
{
	if (!t->memo_dir[0] || t->memo_refused)
		return -ENOENT;
	char why[600] = "";
	int fd = cachedir_open(t->memo_dir, create, why, sizeof(why));
	if (fd == -EPERM) {
		t->memo_refused = 1;
		target_log(t, "%s", why);
	}
	return fd;
}

static void memo_load(struct vms_target *t)
{
	char name[256];
	memo_free(t);
	if (!t->memo_ident[0] || memo_file_name(t->memo_ident, name, sizeof(name)))
		return;
	int dfd = memo_dir_open(t, 0);
	if (dfd < 0)
		return;
	struct target_memo *m = malloc(sizeof(*m));
	int rc = m ? cachedir_read(dfd, name, m, sizeof(*m)) : -ENOMEM;
	close(dfd);
	if (rc == 0 && (memcmp(m->magic, MEMO_MAGIC, 8) || m->size != sizeof(*m) ||
	                memchr(m->ident, 0, sizeof(m->ident)) == NULL || strcmp(m->ident, t->memo_ident) ||
	                memchr(m->banner, 0, sizeof(m->banner)) == NULL ||
	                (m->paging != VMS_PAGING_4LEVEL && m->paging != VMS_PAGING_5LEVEL)))
		rc = -EINVAL;
	/* A layout from the file is bounded as one from QEMU is. */
	if (rc == 0 && m->has_ram) {
		struct vms_qemu_ram *r = &m->ram;
		if (r->nranges == 0 || r->nranges > VMS_MAX_RANGES || !memchr(r->mem_path, 0, sizeof(r->mem_path)) ||
		    !memchr(r->backend_type, 0, sizeof(r->backend_type)) ||
		    !memchr(r->block_name, 0, sizeof(r->block_name)))
			rc = -EINVAL;
		for (size_t i = 0; rc == 0 && i < r->nranges; i++)
			if (r->offsets[i] > r->size || r->ranges[i].len > r->size - r->offsets[i] || !r->ranges[i].len)
				rc = -EINVAL;
	}
	if (rc) {
		free(m);
		return;
	}
	t->memo = m;
}

/* A process's start time (clock ticks after boot, /proc/PID/stat field
 * 22): with the pid, it names one process for the life of the host. */
static int start_time(int pid, unsigned long long *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	if (!p)
		return -EPROTO;
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EPROTO;
	}
	char *end;
	*out = strtoull(p + 1, &end, 10);
	return end == p + 1 ? -EPROTO : 0;
}

void memo_name_qemu(struct vms_target *t, int pid)
{
	unsigned long long st;
	t->memo_ident[0] = '\0';
	if (pid > 0 && start_time(pid, &st) == 0)
		snprintf(t->memo_ident, sizeof(t->memo_ident), "qemu-%d-%llu", pid, st);
	memo_load(t);
}

void memo_name_source(struct vms_target *t)
{
	if (t->memo_ident[0] || !t->src || !t->src->ident[0])
		return;
	snprintf(t->memo_ident, sizeof(t->memo_ident), "%s", t->src->ident);
	memo_load(t);
}

int memo_layout(struct vms_target *t, struct vms_qemu_ram *ram)
{
	if (!t->memo || !t->memo->has_ram)
		return -ENOENT;
	*ram = t->memo->ram;
	return 0;
}

static int witness_holds(struct vms_target *t, const struct target_memo *m)
{
	struct vms_translation tr;
	if (vms_translate(t, m->cr3, m->top_va, &tr) || tr.pa != m->cr3)
		return 0;
	char b[sizeof(m->banner)];
	int n = vms_read_str_va(t, m->cr3, m->banner_va, b, sizeof(b));
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		b[--n] = '\0';
	return n > 0 && strcmp(b, m->banner) == 0;
}

int memo_settle(struct vms_target *t)
{
	struct target_memo *m = t->memo;
	if (!m)
		return -ENOENT;
	mmu_assume(t, (enum vms_paging)m->paging);
	if (!witness_holds(t, m)) {
		mmu_assume(t, VMS_PAGING_UNKNOWN);
		target_log(t, "the kernel location cached for %s does not hold its banner: searching again",
		           t->memo_ident);
		return -ESTALE;
	}
	t->memo_held = 1;
	target_log(t, "%s paging and the kernel's page tables at 0x%llx as an earlier command found them (checked)",
	           vms_paging_name((enum vms_paging)m->paging), (unsigned long long)m->cr3);
	return 0;
}

int target_memo_cr3(struct vms_target *t, uint64_t *cr3)
{
	if (!t->memo || !t->memo_held || vms_get_paging(t) != t->memo->paging)
		return -ENOENT;
	*cr3 = t->memo->cr3;
	return 0;
}

/* Memos of QEMU processes that are gone: a new QEMU never has their name,
 * so they would only pile up (one per VM ever attached). Swept when a new
 * memo is written, i.e. at a VM's first attach. */
static void sweep_gone(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int pid;
		unsigned long long start, now;
		int end = 0;
		if (sscanf(e->d_name, "memo-qemu-%d-%llu" MEMO_SUFFIX "%n", &pid, &start, &end) != 2 ||
		    e->d_name[end] != '\0' || pid <= 0)
			continue;
		if (start_time(pid, &now) || now != start)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

void target_memo_save(struct vms_target *t, uint64_t cr3, uint64_t top_va, uint64_t banner_va, const char *banner)
{
	int mode = vms_get_paging(t);
	if (!t->memo_ident[0] || (mode != VMS_PAGING_4LEVEL && mode != VMS_PAGING_5LEVEL))
		return;
	struct target_memo *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	memcpy(m->magic, MEMO_MAGIC, 8);
	m->size = sizeof(*m);
	snprintf(m->ident, sizeof(m->ident), "%s", t->memo_ident);
	if (t->has_ram) {
		m->has_ram = 1;
		m->ram = t->ram;
	}
	m->paging = mode;
	m->cr3 = cr3;
	m->top_va = top_va;
	m->banner_va = banner_va;
	snprintf(m->banner, sizeof(m->banner), "%s", banner);
	char name[256];
	int same = t->memo && memcmp(t->memo, m, sizeof(*m)) == 0; /* nothing new to write */
	if (!same && witness_holds(t, m) && memo_file_name(m->ident, name, sizeof(name)) == 0) {
		int dfd = memo_dir_open(t, 1);
		if (dfd >= 0) {
			if (!t->memo && m->has_ram)
				sweep_gone(dfd);
			cachedir_write(dfd, name, m, sizeof(*m), NULL, 0);
			close(dfd);
		}
	}
	free(m);
}

void memo_free(struct vms_target *t)
{
	free(t->memo);
	t->memo = NULL;
	t->memo_held = 0;
}
