/*
 * Open files (vms_files): each process's file descriptor table, as
 * /proc/PID/fd and /proc/PID/fdinfo show it.
 *
 * task->files is the process's files_struct; its fdt points at the table
 * in use: max_fds slots of struct file pointers (fd) and the close-on-exec
 * bitmap. The slots are read a page's worth at a time and the bitmap with
 * them; max_fds is clamped (a hostile table can claim billions). For each
 * open file: the path (dpath.c), the inode's type and number, the position,
 * the open flags (with O_CLOEXEC from the bitmap, as fdinfo adds it) and
 * the mount's id.
 *
 * Threads share their process's table, so only processes are walked. A
 * process whose table can not be read (exiting, or corrupt) is counted as
 * unreadable and the walk goes on with the next.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"
#include "util/opts.h"

#define FILES_MAX_DEFAULT (1u << 22)
#define FD_CHUNK 512
#define PATH_BYTES 4096
#define O_CLOEXEC_BIT 02000000u

struct files_walk {
	struct lx_walk w;
	struct vms_files_opts o;
	vms_file_fn fn;
	void *ctx;
	char path[PATH_BYTES];
};

static const char *type_name(uint32_t mode, const char *path)
{
	switch (mode & 0170000) {
	case 0140000: return "SOCK";
	case 0120000: return "LINK";
	case 0100000: return "REG";
	case 0060000: return "BLK";
	case 0040000: return "DIR";
	case 0020000: return "CHR";
	case 0010000: return "FIFO";
	default: return strncmp(path, "anon_inode:", 11) == 0 ? "a_inode" : "unknown";
	}
}

/* One open file: copied, checked, described. */
static int file_read(struct files_walk *fw, uint64_t file, struct vms_file *out)
{
	struct lx_walk *w = &fw->w;
	const struct lx_layout *L = w->lay;
	uint8_t f[LX_OBJ_MAX];
	for (unsigned attempt = 0;; attempt++) {
		if (attempt) {
			if (attempt > w->retries)
				break;
			w->retried++;
		}
		if (!lx_kptr(w, file, 8) || L->file_plan.end > sizeof(f) || lx_read_plan(w, &L->file_plan, file, f))
			continue;
		uint64_t mnt = lx_get(f, L->file_mnt), dentry = lx_get(f, L->file_dentry);
		uint64_t inode = lx_get(f, L->file_inode);
		struct lx_inode ino;
		int trunc = 0;
		if (!lx_kptr(w, mnt, 8) || !lx_kptr(w, dentry, 8) || lx_inode_read(w, inode, &ino))
			continue;
		int n = lx_path(w, mnt, dentry, fw->path, sizeof(fw->path), &trunc);
		if (n < 0)
			continue;
		out->path = fw->path;
		if (trunc)
			out->flags |= VMS_ENTRY_TRUNCATED;
		if (n >= 10 && strcmp(fw->path + n - 10, " (deleted)") == 0)
			out->flags |= VMS_FILE_DELETED;
		out->mode = ino.mode;
		out->ino = ino.ino;
		out->dev = ino.dev;
		out->type = type_name(ino.mode, fw->path);
		out->pos = (int64_t)lx_get(f, L->file_pos);
		out->f_flags |= (uint32_t)lx_get(f, L->file_flags);
		out->f_mode = (uint32_t)lx_get(f, L->file_mode);
		out->mnt_id = lx_mount_id(w, mnt);
		return 0;
	}
	w->unreadable++;
	out->flags |= VMS_ENTRY_UNREADABLE;
	return -EIO;
}

int lx_task_fdtable(struct lx_walk *w, uint64_t task, struct lx_fdtable *out)
{
	const struct lx_layout *L = w->lay;
	uint64_t files, fdt;
	if (lx_read_u64(w, task + L->task_files.off, &files))
		return -EIO;
	if (!files)
		return 0; /* a kernel thread, or a process on its way out */
	if (!lx_kptr(w, files, 8) || lx_read_u64(w, files + L->files_fdt.off, &fdt) || !lx_kptr(w, fdt, 8) ||
	    lx_read(w, fdt + L->fdt_max_fds.off, &out->max_fds, 4) || lx_read_u64(w, fdt + L->fdt_fd.off, &out->fd) ||
	    lx_read_u64(w, fdt + L->fdt_cloexec.off, &out->cloexec) || !lx_kptr(w, out->fd, 8) ||
	    !lx_kptr(w, out->cloexec, 8))
		return -EIO;
	return 1;
}

int lx_task_each_fd(struct lx_walk *w, uint64_t task, int32_t pid, int strict, char comm[16], lx_fd_fn fn, void *ctx)
{
	struct lx_fdtable fdt;
	memset(comm, 0, 16);
	if (lx_read(w, task + w->lay->task_comm.off, comm, 15))
		goto bad;
	int rc = lx_task_fdtable(w, task, &fdt);
	if (rc < 0)
		goto bad;
	if (rc == 0)
		return 0;
	uint32_t max_fds = fdt.max_fds > LX_FDS_MAX ? LX_FDS_MAX : fdt.max_fds;
	for (uint32_t base = 0; base < max_fds; base += FD_CHUNK) {
		uint64_t ptr[FD_CHUNK], bits[FD_CHUNK / 64];
		uint32_t n = max_fds - base < FD_CHUNK ? max_fds - base : FD_CHUNK;
		if (lx_read(w, fdt.fd + (uint64_t)base * 8, ptr, (size_t)n * 8) ||
		    lx_read(w, fdt.cloexec + base / 8, bits, ((size_t)n + 63) / 64 * 8))
			goto bad;
		for (uint32_t i = 0; i < n; i++)
			if (ptr[i] &&
			    (rc = fn(ctx, (int32_t)(base + i), ptr[i], !!(bits[i / 64] & (1ull << (i % 64))))))
				return rc;
	}
	return 0;
bad:
	w->unreadable++;
	return strict ? lx_fail(w, EIO, "process %d: its file table is unreadable", pid) : 0;
}

struct fd_visit {
	struct files_walk *fw;
	int32_t pid;
	const char *comm;
};

static int one_file(void *ctx, int32_t fd, uint64_t file, int cloexec)
{
	const struct fd_visit *v = ctx;
	struct files_walk *fw = v->fw;
	struct vms_file f = { .pid = v->pid, .fd = fd, .addr = file, .path = "", .type = "unknown", .mnt_id = -1 };
	memcpy(f.comm, v->comm, sizeof(f.comm));
	if (cloexec)
		f.f_flags = O_CLOEXEC_BIT;
	file_read(fw, file, &f);
	if (fw->w.entries >= fw->w.max)
		return lx_fail(&fw->w, E2BIG, "more than %u open files", fw->w.max);
	fw->w.entries++;
	return fw->fn(fw->ctx, &f);
}

static int process_files(struct files_walk *fw, uint64_t task, int32_t pid)
{
	char comm[16];
	struct fd_visit v = { .fw = fw, .pid = pid, .comm = comm };
	return lx_task_each_fd(&fw->w, task, pid, fw->o.pid != 0, comm, one_file, &v);
}

static int each(void *ctx, uint64_t task, int32_t pid)
{
	return process_files(ctx, task, pid);
}

int vms_files(struct vms_kernel *k, const struct vms_files_opts *opts, vms_file_fn fn, void *ctx)
{
	struct files_walk *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return kernel_fail(k, ENOMEM, "out of memory");
	if (VMS_OPTS_COPY(&fw->o, opts)) {
		int rc = kernel_fail(k, EINVAL, VMS_OPTS_BAD, "vms_files_opts", opts->sz, sizeof(fw->o));
		free(fw);
		return rc;
	}
	int rc = lx_walk_begin(&fw->w, k, LX_FILES, fw->o.max_entries, FILES_MAX_DEFAULT, fw->o.retries);
	if (rc)
		goto out;
	fw->fn = fn;
	fw->ctx = ctx;
	if (fw->o.pid) {
		uint64_t task;
		if ((rc = lx_find_process(&fw->w, fw->o.pid, &task)) == 0)
			rc = process_files(fw, task, fw->o.pid);
	} else {
		rc = lx_each_process(&fw->w, each, fw);
	}
out:
	lx_walk_stats(&fw->w, fw->o.stats);
	free(fw);
	return rc;
}
