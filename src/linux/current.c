/*
 * Who runs on a vCPU, and what it holds: the small questions a tracer asks
 * at every breakpoint hit.
 *
 * `current` on x86-64 is a per-CPU variable (current_task up to 6.1,
 * pcpu_hot.current_task from 6.2) read through GS; in kernel mode the GS
 * base is the CPU's per-CPU area, so the task is at GS base + the
 * variable's offset (kallsyms lists per-CPU symbols at their offsets). The
 * GS base comes from the vCPU that hit the breakpoint and the task pointer
 * from guest memory: both are checked like any other guest pointer.
 *
 * The rest reuses what the views read: a task's identity (tasks layout), a
 * descriptor's struct file (the fd table, as files.c walks it), and paths
 * (dpath.c).
 */
#include <errno.h>
#include <string.h>

#include "views.h"

int lx_current_offset(struct vms_kernel *k, uint64_t *off)
{
	uint64_t base, member, size;
	if (vms_sym_lookup(k, "current_task", off) == 0)
		return 0;
	if (vms_sym_lookup(k, "pcpu_hot", &base) == 0 &&
	    vms_btf_member(k, "pcpu_hot", "current_task", &member, &size) == 0 && size == 8) {
		*off = base + member;
		return 0;
	}
	return kernel_fail(k, ENOENT, "the kernel has neither current_task nor pcpu_hot.current_task");
}

int lx_current_task(struct lx_walk *w, uint64_t percpu_off, uint64_t gs_base, uint64_t *task)
{
	/* In user mode GS holds the user's base: no per-CPU area to read. */
	if (!lx_kptr(w, gs_base, 8))
		return lx_fail(w, EINVAL, "GS base 0x%llx is not a kernel address (the vCPU is in user mode?)",
		               (unsigned long long)gs_base);
	if (lx_read_u64(w, gs_base + percpu_off, task) || !lx_kptr(w, *task, 8))
		return lx_fail(w, EIO, "no readable current task at GS base 0x%llx", (unsigned long long)gs_base);
	return 0;
}

int lx_task_who(struct lx_walk *w, uint64_t task, struct lx_who *out)
{
	const struct lx_layout *L = w->lay;
	memset(out, 0, sizeof(*out));
	if (!lx_kptr(w, task, 8) || lx_read(w, task + L->task_pid.off, &out->pid, 4) ||
	    lx_read(w, task + L->task_tgid.off, &out->tgid, 4) ||
	    lx_read(w, task + L->task_comm.off, out->comm, sizeof(out->comm) - 1))
		return lx_fail(w, EIO, "task 0x%llx is unreadable", (unsigned long long)task);
	out->comm[sizeof(out->comm) - 1] = '\0';
	return 0;
}

int lx_task_fd_file(struct lx_walk *w, uint64_t task, int32_t fd, uint64_t *file)
{
	struct lx_fdtable fdt;
	*file = 0;
	if (fd < 0 || (uint32_t)fd >= LX_FDS_MAX)
		return -EBADF;
	if (lx_task_fdtable(w, task, &fdt) <= 0)
		return -EIO;
	if ((uint32_t)fd >= fdt.max_fds)
		return -EBADF;
	if (lx_read_u64(w, fdt.fd + (uint64_t)fd * 8, file))
		return -EIO;
	if (*file == 0)
		return -EBADF;
	return lx_kptr(w, *file, 8) ? 0 : -EIO;
}

/* The path of (MNT, DENTRY) read from struct fields at PTR + the offsets. */
static int path_at(struct lx_walk *w, uint64_t ptr, uint32_t mnt_off, uint32_t dentry_off, char *buf, size_t len)
{
	uint64_t mnt, dentry;
	int trunc = 0;
	if (lx_read_u64(w, ptr + mnt_off, &mnt) || lx_read_u64(w, ptr + dentry_off, &dentry) || !lx_kptr(w, mnt, 8) ||
	    !lx_kptr(w, dentry, 8))
		return -EIO;
	int n = lx_path(w, mnt, dentry, buf, len, &trunc);
	return n < 0 ? n : 0;
}

int lx_file_path(struct lx_walk *w, uint64_t file, char *buf, size_t len)
{
	if (!lx_kptr(w, file, 8))
		return -EIO;
	return path_at(w, file, w->lay->file_mnt.off, w->lay->file_dentry.off, buf, len);
}

int lx_task_cwd(struct lx_walk *w, uint64_t task, char *buf, size_t len)
{
	const struct lx_layout *L = w->lay;
	uint64_t fs;
	if (!L->task_fs.size || !L->fs_pwd_mnt.size || !L->fs_pwd_dentry.size)
		return -ENOTSUP;
	if (lx_read_u64(w, task + L->task_fs.off, &fs) || !lx_kptr(w, fs, 8))
		return -EIO;
	return path_at(w, fs, L->fs_pwd_mnt.off, L->fs_pwd_dentry.off, buf, len);
}
