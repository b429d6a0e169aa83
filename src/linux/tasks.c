/*
 * Processes and threads (vms_tasks): the kernel's own lists, walked from
 * init_task.
 *
 * init_task.tasks links every thread group leader (a process); each
 * process's threads hang off its signal_struct (signal->thread_head, linked
 * through task->thread_node, 6.1 and later until 6.6 have both) or, in
 * older kernels, are a ring through task->thread_group. What ps shows is
 * read from each task_struct (pid, tgid, comm, state, flags, start time),
 * its real_parent (the parent's tgid is the ppid, as /proc says), its
 * objective credentials (real_cred), and the command line from the
 * process's own memory: mm->arg_start .. arg_end read through the process's
 * page tables (mm->pgd), with /proc/PID/cmdline's rule for processes that
 * rewrote their arguments (setproctitle).
 *
 * A task_struct is copied by plan (a few small copies of the members
 * used) and checked: pid and tgid in range, a group leader's tgid equal to
 * its pid, kernel pointers where pointers are. A copy that fails is made
 * again (the task may have been changing), then the task is reported as
 * unreadable; the walk goes on along the list, whose links are checked on
 * their own (vread.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"
#include "util/opts.h"

#define PID_MAX_LIMIT (4u << 20) /* the kernel's upper bound on pids */
#define PF_WQ_WORKER 0x00000020u
#define PF_KTHREAD 0x00200000u
#define TASKS_MAX_DEFAULT (1u << 22)
#define CMDLINE_DEFAULT (64u << 10)
#define CMDLINE_MAX (1u << 20)
#define PAGE 4096u

struct task_walk {
	struct lx_walk w;
	struct vms_tasks_opts o;
	uint8_t *obj;    /* task_struct copy (task_plan) */
	char *cmdline;   /* cmdline_max bytes */
	uint64_t signal; /* of the task read last */
	vms_task_fn fn;
	void *ctx;
};

/* What /proc/PID/stat shows as the state letter (fs/proc/array.c):
 * the state and exit state bits, an idle kernel thread as I. */
static char state_letter(uint64_t state, uint64_t exit_state)
{
	static const char letters[] = "RSDTtXZPI";
	unsigned s = (unsigned)(state | exit_state) & 0x7f;
	if ((state & 0x402) == 0x402)
		s = 0x80;
	if (state == 0x1000)
		s = 0x2;
	unsigned idx = 0;
	while (s) {
		idx++;
		s >>= 1;
	}
	return idx < sizeof(letters) - 1 ? letters[idx] : '?';
}

/* The process's page tables: mm->pgd is their kernel address. */
static int mm_dtb(struct lx_walk *w, uint64_t pgd, uint64_t *dtb)
{
	struct vms_translation tr;
	if (!lx_kptr(w, pgd, PAGE))
		return -EFAULT;
	int rc = vms_translate(w->t, w->dtb, pgd, &tr);
	if (rc)
		return rc;
	*dtb = tr.pa;
	return 0;
}

/* /proc/PID/cmdline: [arg_start, arg_end); if the last byte is not a NUL
 * the process rewrote its arguments, and up to a page from arg_start, cut
 * after the first NUL, is shown instead (get_mm_proctitle). */
static void read_cmdline(struct task_walk *tw, uint64_t mm, struct vms_task *out)
{
	struct lx_walk *w = &tw->w;
	const struct lx_layout *L = w->lay;
	uint8_t m[LX_OBJ_MAX];
	if (!lx_kptr(w, mm, 8) || L->mm_plan.end > sizeof(m) || lx_read_plan(w, &L->mm_plan, mm, m)) {
		out->flags |= VMS_TASK_CMDLINE_UNREADABLE;
		return;
	}
	uint64_t as = lx_get(m, L->mm_arg_start), ae = lx_get(m, L->mm_arg_end);
	uint64_t es = lx_get(m, L->mm_env_start), ee = lx_get(m, L->mm_env_end);
	out->mm = mm;
	if (mm_dtb(w, lx_get(m, L->mm_pgd), &out->dtb)) {
		out->flags |= VMS_TASK_CMDLINE_UNREADABLE;
		return;
	}
	if (as >= ae || ae > L->umax)
		return;
	if (es != ae || ee < es)
		es = ee = ae;
	uint8_t last;
	size_t len, done = 0;
	int title = lx_read_dtb(w, out->dtb, ae - 1, &last, 1, NULL) == 0 && last != 0;
	if (title)
		len = ee - as < PAGE ? (size_t)(ee - as) : PAGE;
	else
		len = ae - as > SIZE_MAX ? SIZE_MAX : (size_t)(ae - as);
	if (len > tw->o.cmdline_max) {
		len = tw->o.cmdline_max;
		out->flags |= VMS_ENTRY_TRUNCATED;
	}
	if (lx_read_dtb(w, out->dtb, as, tw->cmdline, len, &done)) {
		out->flags |= done ? VMS_ENTRY_TRUNCATED : VMS_TASK_CMDLINE_UNREADABLE;
		len = done;
	}
	if (title) {
		const char *nul = memchr(tw->cmdline, 0, len);
		if (nul)
			len = (size_t)(nul - tw->cmdline) + 1;
	}
	out->cmdline_len = len;
}

/* What a workqueue worker's name starts with (wq_worker_comm): its comm up
 * to 6.9; from 6.10 the id made again from the worker as format_worker_id
 * makes it, whole ("kworker/R-" and the workqueue's name for a rescuer).
 * Its length in BUF, or -EIO if the pool or workqueue it names is not
 * readable. */
static int worker_id(struct lx_walk *w, const uint8_t *wk, uint64_t pool, const char *comm, char *buf, size_t len)
{
	const struct lx_layout *L = w->lay;
	uint64_t wq = lx_get(wk, L->worker_rescue_wq), attrs;
	int32_t cpu, id = (int32_t)lx_get_s32(wk, L->worker_id), pool_id, nice;
	char name[65];
	int n;
	if (!L->worker_full_id) {
		n = snprintf(buf, len, "%s", comm);
	} else if (wq) {
		if (!lx_kptr(w, wq, 8) || lx_read(w, wq + L->wq_name.off, name, L->wq_name.size))
			return -EIO;
		name[L->wq_name.size] = '\0';
		n = snprintf(buf, len, "kworker/R-%s", name);
	} else if (!pool) {
		n = snprintf(buf, len, "kworker/dying");
	} else if (!lx_kptr(w, pool, 8) || lx_read(w, pool + L->pool_cpu.off, &cpu, 4)) {
		return -EIO;
	} else if (cpu >= 0) {
		if (lx_read_u64(w, pool + L->pool_attrs.off, &attrs) || !lx_kptr(w, attrs, 4) ||
		    lx_read(w, attrs + L->attrs_nice.off, &nice, 4))
			return -EIO;
		n = snprintf(buf, len, "kworker/%d:%d%s", cpu, id, nice < 0 ? "H" : "");
	} else {
		if (lx_read(w, pool + L->pool_id.off, &pool_id, 4))
			return -EIO;
		n = snprintf(buf, len, "kworker/u%d:%d", pool_id, id);
	}
	if (n < 0)
		return -EIO;
	return (size_t)n < len ? n : (int)len - 1;
}

/* A workqueue worker's name: its id, then "+desc" while it runs a work
 * item or "-desc" after one, if it is in a pool. Left as the comm if the
 * worker is not readable. */
static void worker_name(struct lx_walk *w, uint64_t kthread, struct vms_task *out)
{
	const struct lx_layout *L = w->lay;
	uint8_t wk[LX_WORKER_MAX];
	char name[sizeof(out->name)], desc[65];
	uint64_t p;
	if (!L->worker_plan.end || lx_read_u64(w, kthread + L->kthread_data.off, &p) || !lx_kptr(w, p, 8) ||
	    lx_read_plan(w, &L->worker_plan, p, wk))
		return;
	uint64_t pool = lx_get(wk, L->worker_pool);
	int n = worker_id(w, wk, pool, out->comm, name, sizeof(name));
	if (n < 0)
		return;
	memcpy(desc, wk + L->worker_desc.off, L->worker_desc.size);
	desc[L->worker_desc.size] = '\0';
	if (pool && desc[0] && (size_t)n + 1 < sizeof(name)) { /* cut as the kernel's 64-byte buffer */
		name[n++] = lx_get(wk, L->worker_current_work) ? '+' : '-';
		size_t dl = strnlen(desc, sizeof(name) - 1 - (size_t)n);
		memcpy(name + n, desc, dl);
		name[(size_t)n + dl] = '\0';
	}
	memcpy(out->name, name, sizeof(name));
}

/* The name /proc/PID/status shows for a kernel thread (proc_task_name):
 * a workqueue worker's as above, another kernel thread's full name (its
 * comm is cut at 15 bytes; kthread->full_name, 6.0+), cut at 63 bytes. */
static void kthread_name(struct lx_walk *w, uint64_t kthread, struct vms_task *out)
{
	const struct lx_layout *L = w->lay;
	uint64_t p;
	if (!lx_kptr(w, kthread, 8))
		return;
	if (out->kflags & PF_WQ_WORKER) {
		worker_name(w, kthread, out);
		return;
	}
	if (L->kthread_full_name.size && lx_read_u64(w, kthread + L->kthread_full_name.off, &p) == 0 && p &&
	    lx_read_str(w, p, out->name, sizeof(out->name)) < 0)
		memcpy(out->name, out->comm, sizeof(out->comm));
}

/* Copy and check one task_struct; fill OUT (not the command line). A
 * thread of a known process must carry its tgid (EXPECT_TGID, else 0). */
static int task_read(struct task_walk *tw, uint64_t task, int32_t expect_tgid, struct vms_task *out)
{
	struct lx_walk *w = &tw->w;
	const struct lx_layout *L = w->lay;
	uint8_t *o = tw->obj;
	memset(out, 0, sizeof(*out));
	out->addr = task;
	out->cmdline = "";
	out->state = '?';
	tw->signal = 0;
	for (unsigned attempt = 0;; attempt++) {
		if (attempt) {
			if (attempt > w->retries)
				break;
			w->retried++;
		}
		if (lx_read_plan(w, &L->task_plan, task, o))
			continue;
		uint64_t pid = lx_get(o, L->task_pid), tgid = lx_get(o, L->task_tgid);
		uint64_t parent = lx_get(o, L->task_real_parent), cred = lx_get(o, L->task_real_cred);
		uint64_t leader = lx_get(o, L->task_group_leader), mm = lx_get(o, L->task_mm);
		uint64_t signal = lx_get(o, L->task_signal);
		if (pid > PID_MAX_LIMIT || tgid > PID_MAX_LIMIT || !lx_kptr(w, parent, 8) || !lx_kptr(w, cred, 8) ||
		    !lx_kptr(w, leader, 8) || (mm && !lx_kptr(w, mm, 8)) || !lx_kptr(w, signal, 8) ||
		    (leader == task && pid != tgid) || (expect_tgid && (int32_t)tgid != expect_tgid))
			continue;
		uint8_t c[LX_OBJ_MAX];
		if (L->cred_plan.end > sizeof(c) || lx_read_plan(w, &L->cred_plan, cred, c))
			continue;
		uint32_t ppid = 0;
		if (lx_read(w, parent + L->task_tgid.off, &ppid, 4) || ppid > PID_MAX_LIMIT)
			continue;
		int32_t nthreads = 0;
		if (L->sig_nr_threads.size == 4 && lx_read(w, signal + L->sig_nr_threads.off, &nthreads, 4))
			continue;
		out->pid = (int32_t)pid;
		out->tgid = (int32_t)tgid;
		out->ppid = (int32_t)ppid;
		uint32_t *ids[8] = { &out->uid,  &out->gid,  &out->suid,  &out->sgid,
			             &out->euid, &out->egid, &out->fsuid, &out->fsgid };
		for (int i = 0; i < 8; i++)
			*ids[i] = (uint32_t)lx_get(c, L->cred_id[i]);
		size_t cl = L->task_comm.size < sizeof(out->comm) - 1 ? L->task_comm.size : sizeof(out->comm) - 1;
		memcpy(out->comm, o + L->task_comm.off, cl);
		out->comm[cl] = '\0';
		memcpy(out->name, out->comm, sizeof(out->comm));
		out->kflags = (uint32_t)lx_get(o, L->task_flags);
		out->state = state_letter(lx_get(o, L->task_state), lx_get(o, L->task_exit_state));
		out->start_ns = lx_get(o, L->task_start);
		out->nthreads = leader == task ? nthreads : 0;
		out->mm = mm;
		tw->signal = signal;
		if (out->kflags & PF_KTHREAD) {
			out->flags |= VMS_TASK_KTHREAD;
			kthread_name(w, lx_get(o, L->task_kthread), out);
		}
		if (leader != task)
			out->flags |= VMS_TASK_THREAD;
		return 0;
	}
	w->unreadable++;
	out->flags |= VMS_ENTRY_UNREADABLE;
	return -EIO;
}

static int report(struct task_walk *tw, uint64_t task, int32_t expect_tgid, struct vms_task *t)
{
	int want_cmdline = !expect_tgid;
	if (task_read(tw, task, expect_tgid, t) == 0 && want_cmdline && t->mm && !tw->o.no_cmdline &&
	    !(t->flags & VMS_TASK_KTHREAD)) {
		read_cmdline(tw, t->mm, t);
		t->cmdline = tw->cmdline;
	}
	tw->w.entries++;
	return tw->fn(tw->ctx, t);
}

/* The threads of the process LEADER other than itself. */
static int threads(struct task_walk *tw, uint64_t leader, int32_t tgid, uint64_t signal)
{
	struct lx_walk *w = &tw->w;
	const struct lx_layout *L = w->lay;
	struct lx_list l;
	uint64_t node, off;
	if (L->task_thread_node.size) {
		lx_list_init(&l, signal + L->sig_thread_head.off, w->max);
		off = L->task_thread_node.off;
	} else {
		lx_list_init(&l, leader + L->task_thread_group.off, w->max);
		off = L->task_thread_group.off;
	}
	int rc;
	while ((rc = lx_list_next(w, &l, &node)) == 1) {
		uint64_t task = node - off;
		if (task == leader)
			continue;
		struct vms_task t;
		if (w->entries >= w->max)
			return lx_fail(w, E2BIG, "more than %u tasks", w->max);
		if ((rc = report(tw, task, tgid, &t)))
			return rc;
	}
	return rc;
}

/* Walk init_task.tasks: FN(ctx, task, first) per process; non-zero stops. */
static int each_process(struct lx_walk *w, int (*fn)(void *ctx, uint64_t task), void *ctx)
{
	const struct lx_layout *L = w->lay;
	struct lx_list l;
	uint64_t node;
	int rc;
	lx_list_init(&l, L->init_task + L->task_tasks.off, w->max);
	while ((rc = lx_list_next(w, &l, &node)) == 1)
		if ((rc = fn(ctx, node - L->task_tasks.off)))
			return rc;
	return rc;
}

static int one_process(void *ctx, uint64_t task)
{
	struct task_walk *tw = ctx;
	struct lx_walk *w = &tw->w;
	if (tw->o.pid) {
		uint32_t pid;
		if (lx_read(w, task + w->lay->task_pid.off, &pid, 4) || (int32_t)pid != tw->o.pid)
			return 0;
	}
	if (w->entries >= w->max)
		return lx_fail(w, E2BIG, "more than %u tasks", w->max);
	struct vms_task t;
	int rc = report(tw, task, 0, &t);
	if (rc)
		return rc;
	if (tw->o.threads && !(t.flags & VMS_ENTRY_UNREADABLE) && (rc = threads(tw, task, t.pid, tw->signal)))
		return rc;
	return tw->o.pid ? 1 : 0; /* found: stop */
}

int vms_tasks(struct vms_kernel *k, const struct vms_tasks_opts *opts, vms_task_fn fn, void *ctx)
{
	struct task_walk tw;
	memset(&tw, 0, sizeof(tw));
	if (VMS_OPTS_COPY(&tw.o, opts))
		return kernel_fail(k, EINVAL, VMS_OPTS_BAD, "vms_tasks_opts", opts->sz, sizeof(tw.o));
	if (!tw.o.cmdline_max)
		tw.o.cmdline_max = CMDLINE_DEFAULT;
	if (tw.o.cmdline_max > CMDLINE_MAX)
		tw.o.cmdline_max = CMDLINE_MAX;
	int rc = lx_walk_begin(&tw.w, k, LX_TASKS, tw.o.max_entries, TASKS_MAX_DEFAULT, tw.o.retries);
	if (rc)
		return rc;
	tw.fn = fn;
	tw.ctx = ctx;
	tw.obj = malloc(tw.w.lay->task_plan.end);
	tw.cmdline = malloc(tw.o.cmdline_max + 1);
	if (!tw.obj || !tw.cmdline) {
		rc = kernel_fail(k, ENOMEM, "out of memory");
		goto out;
	}
	rc = each_process(&tw.w, one_process, &tw);
	if (tw.o.pid && rc == 1)
		rc = 0;
	else if (tw.o.pid && rc == 0)
		rc = kernel_fail(k, ENOENT, "no process %d", tw.o.pid);
out:
	lx_walk_stats(&tw.w, tw.o.stats);
	free(tw.obj);
	free(tw.cmdline);
	return rc;
}

/* ---- for the per-process views ---------------------------------------------- */

struct find {
	struct lx_walk *w;
	int32_t pid;
	uint64_t task;
	int (*fn)(void *ctx, uint64_t task, int32_t pid);
	void *ctx;
};

static int find_one(void *ctx, uint64_t task)
{
	struct find *f = ctx;
	uint32_t pid;
	if (lx_read(f->w, task + f->w->lay->task_pid.off, &pid, 4) || pid > PID_MAX_LIMIT)
		return 0;
	if (f->fn)
		return f->fn(f->ctx, task, (int32_t)pid);
	if ((int32_t)pid != f->pid)
		return 0;
	f->task = task;
	return 1;
}

int lx_find_process(struct lx_walk *w, int32_t pid, uint64_t *task)
{
	struct find f = { .w = w, .pid = pid };
	int rc = each_process(w, find_one, &f);
	if (rc == 1) {
		*task = f.task;
		return 0;
	}
	return rc ? rc : lx_fail(w, ENOENT, "no process %d", pid);
}

int lx_each_process(struct lx_walk *w, int (*fn)(void *ctx, uint64_t task, int32_t pid), void *ctx)
{
	struct find f = { .w = w, .fn = fn, .ctx = ctx };
	return each_process(w, find_one, &f);
}
