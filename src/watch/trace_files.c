/*
 * vms_trace_files: the guest's file activity from breakpoints on the
 * kernel's VFS entry points, with no agent in the guest.
 *
 *   open    do_sys_openat2(dfd, const char __user *name, struct open_how *how)
 *   read    vfs_read(struct file *, char __user *, size_t count, loff_t *pos)
 *   write   vfs_write(same)
 *   unlink  do_unlinkat(dfd, struct filename *), do_rmdir(dfd, struct filename *)
 *   rename  do_renameat2(olddfd, struct filename *, newdfd, struct filename *, flags)
 *
 * These are the functions every path of the system calls goes through
 * (openat, open, creat, openat2; read, pread64, readv; unlinkat, rmdir,
 * rename*), named by kallsyms; arguments follow the x86-64 calling
 * convention and are decoded with the kernel's BTF (open_how.flags,
 * filename.name). Each call is followed to its return, so an event carries
 * its result, and it is reported then.
 *
 * Paths are full paths. A name the process passed (open, unlink, rename) is
 * read at the entry, while struct filename still lives, and made absolute
 * with the process's working directory or the directory fd; a successful
 * open is named by the struct file it installed (as /proc/PID/fd would),
 * reads and writes by their struct file.
 */
#include "vmsight/vmsight.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linux/views.h"
#include "tracer.h"
#include "util/opts.h"

#define AT_FDCWD (-100)
#define PATH_BYTES 4096
#define INFLIGHT 64 /* calls with names waiting for their return */

struct inflight {
	uint64_t gen;
	uint32_t flags;
	char path[PATH_BYTES], path2[PATH_BYTES];
};

enum { P_OPEN, P_READ, P_WRITE, P_UNLINK, P_RMDIR, P_RENAME, P_COUNT };

struct ftrace;

/* What each probe's callbacks get: which probe they serve. */
struct fprobe {
	struct ftrace *ft;
	int which;
};

struct ftrace {
	struct vms_kernel *k;
	struct vms_target *t;
	vms_trace_fn fn;
	void *ctx;
	uint64_t how_flags, how_mode, filename_name;
	struct fprobe probe[P_COUNT];
	struct inflight slot[INFLIGHT];
	uint64_t gen;
	char path[PATH_BYTES];
	char name[PATH_BYTES];
};

static const struct {
	const char *symbol;
	int kind;
} probes[P_COUNT] = {
	[P_OPEN] = { "do_sys_openat2", VMS_TEV_OPEN }, [P_READ] = { "vfs_read", VMS_TEV_READ },
	[P_WRITE] = { "vfs_write", VMS_TEV_WRITE },    [P_UNLINK] = { "do_unlinkat", VMS_TEV_UNLINK },
	[P_RMDIR] = { "do_rmdir", VMS_TEV_UNLINK },    [P_RENAME] = { "do_renameat2", VMS_TEV_RENAME },
};

static int walk(struct ftrace *ft, struct lx_walk *w)
{
	return lx_walk_begin(w, ft->k, LX_FILES, 1, 1, 0);
}

/* NAME made absolute: relative to the working directory (AT_FDCWD) or to
 * the directory open as DFD in TASK. */
static void absolute(struct lx_walk *w, uint64_t task, int32_t dfd, const char *name, char *out, size_t len)
{
	char *base = out;
	int rc;
	if (name[0] == '/' || !task) {
		snprintf(out, len, "%s", name);
		return;
	}
	if (dfd == AT_FDCWD) {
		rc = lx_task_cwd(w, task, base, len);
	} else {
		uint64_t file;
		rc = lx_task_fd_file(w, task, dfd, &file);
		if (!rc)
			rc = lx_file_path(w, file, base, len);
	}
	if (rc) {
		snprintf(out, len, "%s", name);
		return;
	}
	size_t n = strlen(base);
	snprintf(base + n, len - n, "%s%s", n && base[n - 1] == '/' ? "" : "/", name);
}

/* The name inside a struct filename (kernel memory). */
static int filename_str(struct ftrace *ft, struct lx_walk *w, uint64_t filename, char *buf, size_t len)
{
	uint64_t p;
	if (!lx_kptr(w, filename, 8) || lx_read_u64(w, filename + ft->filename_name, &p) || !lx_kptr(w, p, 1))
		return -EIO;
	int n = lx_read_str(w, p, buf, len);
	return n < 0 && n != -ERANGE ? n : 0;
}

static struct inflight *slot_new(struct ftrace *ft, struct vms_bp_hit *hit)
{
	uint64_t gen = ++ft->gen;
	struct inflight *s = &ft->slot[gen % INFLIGHT];
	s->gen = gen;
	s->flags = 0;
	s->path[0] = s->path2[0] = '\0';
	hit->cookie[3] = gen;
	return s;
}

/* The slot an entry left, unless INFLIGHT later calls took it over. */
static struct inflight *slot_of(struct ftrace *ft, const struct vms_bp_hit *hit)
{
	struct inflight *s = &ft->slot[hit->cookie[3] % INFLIGHT];
	return s->gen == hit->cookie[3] ? s : NULL;
}

static int on_entry(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit)
{
	const struct fprobe *fp = ctx;
	struct ftrace *ft = fp->ft;
	const struct vms_regs *r = hit->regs;
	struct lx_walk w;
	(void)tr;
	if (walk(ft, &w))
		return VMS_PROBE_RETURN;
	struct inflight *s;
	switch (fp->which) {
	case P_OPEN: {
		uint64_t how = r->rdx, v;
		hit->cookie[0] = r->rdi; /* dfd */
		if (lx_kptr(&w, how, 8) && lx_read_u64(&w, how + ft->how_flags, &v) == 0)
			hit->cookie[1] = v;
		if (lx_kptr(&w, how, 8) && lx_read_u64(&w, how + ft->how_mode, &v) == 0)
			hit->cookie[2] = v;
		s = slot_new(ft, hit);
		int n = vms_read_str_va(ft->t, hit->dtb, r->rsi, ft->name, sizeof(ft->name));
		if (n < 0 && n != -ERANGE)
			s->flags |= VMS_TEV_F_NOPATH;
		else
			absolute(&w, hit->task, (int32_t)r->rdi, ft->name, s->path, sizeof(s->path));
		break;
	}
	case P_READ:
	case P_WRITE: {
		int64_t pos = -1;
		hit->cookie[0] = r->rdi; /* struct file * */
		hit->cookie[1] = r->rdx; /* count */
		if (r->rcx && lx_kptr(&w, r->rcx, 8) && lx_read(&w, r->rcx, &pos, 8))
			pos = -1;
		hit->cookie[2] = (uint64_t)pos;
		break;
	}
	case P_UNLINK:
	case P_RMDIR:
	case P_RENAME:
		s = slot_new(ft, hit);
		if (fp->which == P_RMDIR)
			s->flags |= VMS_TEV_F_DIR;
		if (filename_str(ft, &w, r->rsi, ft->name, sizeof(ft->name)))
			s->flags |= VMS_TEV_F_NOPATH;
		else
			absolute(&w, hit->task, (int32_t)r->rdi, ft->name, s->path, sizeof(s->path));
		if (fp->which == P_RENAME) {
			if (filename_str(ft, &w, r->rcx, ft->name, sizeof(ft->name)))
				s->flags |= VMS_TEV_F_NOPATH;
			else
				absolute(&w, hit->task, (int32_t)r->rdx, ft->name, s->path2, sizeof(s->path2));
		}
		break;
	}
	return VMS_PROBE_RETURN;
}

static int on_return(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit)
{
	const struct fprobe *fp = ctx;
	struct ftrace *ft = fp->ft;
	struct lx_walk w;
	(void)tr;
	struct vms_trace_event ev = vms_trace_event_at(probes[fp->which].kind, hit);
	ev.result = (int64_t)hit->regs->rax;
	int have_walk = walk(ft, &w) == 0;
	struct inflight *s = NULL;
	if (fp->which == P_READ || fp->which == P_WRITE) {
		ev.count = hit->cookie[1];
		ev.offset = (int64_t)hit->cookie[2];
		ft->path[0] = '\0';
		if (!have_walk || lx_file_path(&w, hit->cookie[0], ft->path, sizeof(ft->path)))
			ev.flags |= VMS_TEV_F_NOPATH;
		ev.path = ft->path;
	} else {
		if (!(s = slot_of(ft, hit)))
			return 0; /* its names were written over: too many calls in flight */
		ev.flags |= s->flags;
		ev.path = s->path;
		ev.path2 = s->path2;
	}
	if (fp->which == P_OPEN) {
		ev.open_flags = (uint32_t)hit->cookie[1];
		ev.mode = (uint32_t)hit->cookie[2];
		uint64_t file;
		/* Success installed a struct file at the returned fd: its path is
		 * what the process got, whatever name it used. */
		if (ev.result >= 0 && hit->task && have_walk &&
		    lx_task_fd_file(&w, hit->task, (int32_t)ev.result, &file) == 0 &&
		    lx_file_path(&w, file, ft->path, sizeof(ft->path)) == 0) {
			ev.path = ft->path;
			ev.flags &= ~(uint32_t)VMS_TEV_F_NOPATH;
		}
	}
	return ft->fn(ft->ctx, &ev) ? VMS_PROBE_STOP : 0;
}

static int member(struct ftrace *ft, struct vms_tracer *tr, const char *type, const char *path, uint64_t *off)
{
	uint64_t size;
	char msg[160];
	if (vms_btf_member(ft->k, type, path, off, &size) == 0)
		return 0;
	snprintf(msg, sizeof(msg), "the kernel's types have no %s.%s", type, path);
	return tracer_fail(tr, ENOENT, msg);
}

int vms_trace_files(struct vms_tracer *tr, struct vms_kernel *k, const struct vms_trace_opts *opts, vms_trace_fn fn,
                    void *ctx)
{
	struct vms_trace_opts o = { 0 };
	if (VMS_OPTS_COPY(&o, opts)) {
		char why[256];
		snprintf(why, sizeof(why), VMS_OPTS_BAD, "vms_trace_opts", opts->sz, sizeof(o));
		return tracer_fail(tr, EINVAL, why);
	}
	struct ftrace *ft = calloc(1, sizeof(*ft));
	if (!ft)
		return tracer_fail(tr, ENOMEM, "out of memory");
	int rc = tracer_own(tr, ft, free);
	if (rc)
		return rc;
	ft->k = k;
	ft->t = tracer_target(tr);
	ft->fn = fn;
	ft->ctx = ctx;
	struct lx_walk w;
	if ((rc = walk(ft, &w)))
		return tracer_fail(tr, -rc, vms_errmsg(ft->t));
	if ((rc = member(ft, tr, "open_how", "flags", &ft->how_flags)) ||
	    (rc = member(ft, tr, "open_how", "mode", &ft->how_mode)) ||
	    (rc = member(ft, tr, "filename", "name", &ft->filename_name)))
		return rc;
	struct vms_probe_opts po = { .sz = sizeof(po), .pid = o.pid, .dtb = o.dtb, .on_return = on_return };
	for (int i = 0; i < P_COUNT; i++) {
		if (o.kinds && !(o.kinds & (1u << probes[i].kind)))
			continue;
		ft->probe[i] = (struct fprobe){ ft, i };
		rc = vms_tracer_probe(tr, probes[i].symbol, 0, &po, on_entry, &ft->probe[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

const char *vms_tev_kind_name(int kind)
{
	switch (kind) {
	case VMS_TEV_OPEN: return "open";
	case VMS_TEV_READ: return "read";
	case VMS_TEV_WRITE: return "write";
	case VMS_TEV_UNLINK: return "unlink";
	case VMS_TEV_RENAME: return "rename";
	case VMS_TEV_SYSCALL: return "syscall";
	default: return NULL;
	}
}

int vms_tev_kind_parse(const char *name)
{
	for (int k = 1; k <= VMS_TEV_SYSCALL; k++) {
		const char *n = vms_tev_kind_name(k);
		if (n && strcmp(n, name) == 0)
			return k;
	}
	return -1;
}
