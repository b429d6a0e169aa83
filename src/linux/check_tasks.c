/*
 * Hidden processes: the kernel keeps every task in several places, and a
 * rootkit that unlinks a task from one (the task list, which ps and /proc
 * walk) rarely fixes all the others. Three views are taken and compared:
 *
 *   list   init_task.tasks (the processes) and each process's thread list
 *   pids   the PID table: init_pid_ns.idr (an xarray), each struct pid's
 *          task (pid->tasks[PIDTYPE_PID])
 *   cpus   what each CPU's run queue is running (rq->curr)
 *
 * A task in the PID table or on a CPU but not in the list is hidden; a
 * task in the list that the PID table does not know cannot be found by
 * its pid (so not in /proc). On a running guest tasks come and go between
 * the views, so a difference is only reported if a second look at every
 * view shows it again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define TASKS_MAX (1u << 22)
#define CPUS_MAX 8192u

struct tset {
	uint64_t *a;
	size_t n, cap;
};

static int tset_add(struct tset *s, uint64_t v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *a = realloc(s->a, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		s->a = a;
		s->cap = cap;
	}
	s->a[s->n++] = v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void tset_sort(struct tset *s)
{
	if (s->n)
		qsort(s->a, s->n, sizeof(uint64_t), cmp_u64);
}

static int tset_has(const struct tset *s, uint64_t v)
{
	return s->n && bsearch(&v, s->a, s->n, sizeof(uint64_t), cmp_u64) != NULL;
}

struct views {
	struct tset list, pids, cpus;
};

static void views_free(struct views *v)
{
	free(v->list.a);
	free(v->pids.a);
	free(v->cpus.a);
	memset(v, 0, sizeof(*v));
}

/* The task list and every listed process's threads. */
static int list_view(struct check_run *c, struct tset *out)
{
	struct lx_walk *w = &c->w;
	const struct lx_layout *L = w->lay;
	struct lx_list l, tl;
	uint64_t node, tnode;
	int rc;
	lx_list_init(&l, L->init_task + L->task_tasks.off, TASKS_MAX);
	while ((rc = lx_list_next(w, &l, &node)) == 1) {
		uint64_t task = node - L->task_tasks.off, head, off;
		if (tset_add(out, task))
			return lx_fail(w, ENOMEM, "out of memory");
		if (L->task_thread_node.size) {
			uint64_t signal;
			if (lx_read_u64(w, task + L->task_signal.off, &signal) || !lx_kptr(w, signal, 8))
				continue;
			head = signal + L->sig_thread_head.off;
			off = L->task_thread_node.off;
		} else {
			head = task + L->task_thread_group.off;
			off = L->task_thread_group.off;
		}
		lx_list_init(&tl, head, TASKS_MAX);
		int trc;
		while ((trc = lx_list_next(w, &tl, &tnode)) == 1)
			if (tnode - off != task && tset_add(out, tnode - off))
				return lx_fail(w, ENOMEM, "out of memory");
		/* A thread list that fails (a process exiting) leaves its
		 * threads out: the second look settles it. */
	}
	tset_sort(out);
	return rc;
}

struct pid_walk {
	struct check_run *c;
	struct tset *out;
};

static int one_pid(void *ctx, uint64_t index, uint64_t pid)
{
	struct pid_walk *pw = ctx;
	struct lx_walk *w = &pw->c->w;
	const struct lx_layout *L = w->lay;
	uint64_t first;
	(void)index;
	if (!lx_kptr(w, pid, 8) || lx_read_u64(w, pid + L->pid_first.off, &first) || !first || !lx_kptr(w, first, 8))
		return 0; /* a pid no task uses as its own (a process group's) */
	return tset_add(pw->out, first - L->task_pid_links.off) ? lx_fail(w, ENOMEM, "out of memory") : 0;
}

static int pid_view(struct check_run *c, struct tset *out)
{
	const struct lx_layout *L = c->w.lay;
	uint64_t ns;
	if (ck_sym(c, "init_pid_ns", &ns))
		return lx_fail(&c->w, ENOENT, "the kernel has no init_pid_ns");
	if (!L->pidns_idr.size || !L->idr_rt.size || !L->xa_head.size || !L->pid_first.size || !L->task_pid_links.size)
		return lx_fail(&c->w, ENOTSUP, "the kernel's types lack the PID table's layout (pid_namespace.idr)");
	struct pid_walk pw = { c, out };
	int rc = ck_xa_walk(c, ns + L->pidns_idr.off + L->idr_rt.off + L->xa_head.off, TASKS_MAX, one_pid, &pw);
	tset_sort(out);
	return rc;
}

/* Each CPU's current task (not the idle tasks, pid 0, which no list holds). */
static int cpu_view(struct check_run *c, struct tset *out, unsigned *ncpus)
{
	const struct lx_layout *L = c->w.lay;
	uint64_t offs, rqs, nrp;
	uint32_t nr = 0;
	*ncpus = 0;
	if (!L->rq_curr.size || ck_sym(c, "__per_cpu_offset", &offs) || ck_sym(c, "runqueues", &rqs) ||
	    ck_sym(c, "nr_cpu_ids", &nrp) || lx_read(&c->w, nrp, &nr, 4))
		return 0; /* not available: the other views stand */
	if (nr > CPUS_MAX)
		nr = CPUS_MAX;
	for (uint32_t cpu = 0; cpu < nr; cpu++) {
		uint64_t off, curr;
		uint32_t pid;
		if (lx_read_u64(&c->w, offs + 8ull * cpu, &off) ||
		    lx_read_u64(&c->w, off + rqs + L->rq_curr.off, &curr) || !lx_kptr(&c->w, curr, 8) ||
		    lx_read(&c->w, curr + L->task_pid.off, &pid, 4))
			continue;
		(*ncpus)++;
		if (pid && tset_add(out, curr))
			return lx_fail(&c->w, ENOMEM, "out of memory");
	}
	tset_sort(out);
	return 0;
}

static int take_views(struct check_run *c, struct views *v, unsigned *ncpus)
{
	int rc = list_view(c, &v->list);
	if (!rc)
		rc = pid_view(c, &v->pids);
	if (!rc)
		rc = cpu_view(c, &v->cpus, ncpus);
	return rc;
}

enum { MISS_LIST, MISS_PIDS };

struct cand {
	uint64_t task;
	int kind;         /* MISS_* */
	const char *seen; /* where it was seen */
};

static int report_task(struct check_run *c, const struct cand *k)
{
	const struct lx_layout *L = c->w.lay;
	int32_t pid = -1, tgid = -1;
	char comm[17] = "";
	lx_read(&c->w, k->task + L->task_pid.off, &pid, 4);
	lx_read(&c->w, k->task + L->task_tgid.off, &tgid, 4);
	lx_read(&c->w, k->task + L->task_comm.off, comm, 16);
	comm[16] = '\0';
	if (k->kind == MISS_LIST)
		return ck_report(c, "hidden", pid == tgid ? "tasks" : "thread list", pid, comm, k->task, 0, "",
		                 "task %d (%s, process %d) is in the %s but not in the %s", pid, comm, tgid, k->seen,
		                 pid == tgid ? "task list" : "thread list of its process");
	return ck_report(c, "unhashed", "pid table", pid, comm, k->task, 0, "",
	                 "task %d (%s, process %d) is in the task list but the PID table does not know it "
	                 "(not in /proc)",
	                 pid, comm, tgid);
}

static int candidates(const struct views *v, struct cand **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	const struct {
		const struct tset *from, *in;
		int kind;
		const char *seen;
	} cmp[] = {
		{ &v->pids, &v->list, MISS_LIST, "PID table" },
		{ &v->cpus, &v->list, MISS_LIST, "run queue of a CPU" },
		{ &v->list, &v->pids, MISS_PIDS, "task list" },
	};
	for (size_t i = 0; i < sizeof(cmp) / sizeof(cmp[0]); i++)
		for (size_t j = 0; j < cmp[i].from->n; j++) {
			uint64_t t = cmp[i].from->a[j];
			if (tset_has(cmp[i].in, t))
				continue;
			int dup = 0;
			for (size_t x = 0; x < *n; x++)
				dup |= (*out)[x].task == t;
			if (dup)
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				struct cand *p = realloc(*out, cap * sizeof(*p));
				if (!p)
					return -ENOMEM;
				*out = p;
			}
			(*out)[(*n)++] = (struct cand){ t, cmp[i].kind, cmp[i].seen };
		}
	return 0;
}

int check_tasks(struct check_run *c)
{
	struct views a = { 0 }, b = { 0 };
	struct cand *ca = NULL;
	size_t nca = 0;
	unsigned ncpus = 0;
	int rc = take_views(c, &a, &ncpus);
	if (rc)
		goto out;
	c->checked = (unsigned)(a.list.n + a.pids.n + a.cpus.n);
	if ((rc = candidates(&a, &ca, &nca))) {
		rc = lx_fail(&c->w, ENOMEM, "out of memory");
		goto out;
	}
	if (nca) { /* a second look: what came or went in between is not hidden */
		vms_tlb_flush(c->w.t);
		if ((rc = take_views(c, &b, &ncpus)))
			goto out;
		for (size_t i = 0; i < nca && !c->stop; i++) {
			const struct cand *k = &ca[i];
			int still = k->kind == MISS_LIST ? !tset_has(&b.list, k->task) && (tset_has(&b.pids, k->task) ||
			                                                                   tset_has(&b.cpus, k->task))
			                                 : tset_has(&b.list, k->task) && !tset_has(&b.pids, k->task);
			if (still)
				report_task(c, k);
		}
	}
	snprintf(c->what, sizeof(c->what),
	         "%zu tasks in the task and thread lists, %zu in the PID table, the current tasks of %u CPUs", a.list.n,
	         a.pids.n, ncpus);
out:
	free(ca);
	views_free(&a);
	views_free(&b);
	return rc;
}
