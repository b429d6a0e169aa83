/*
 * ps: the guest's processes (and threads) from the kernel's task list,
 * as a table, a tree under their parents, or JSON.
 *
 * --tree needs every task before the first line, so the rows are copied
 * out of the walk's callback (the library's strings live only for the
 * call); the flat listing prints as the walk goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util/escape.h"
#include "view.h"

static const char usage_ps[] =
        "usage: vmsight -t TARGET ps [-T] [--tree] [--pid N] [--pause] [options]\n"
        "\n"
        "List the guest's processes from the kernel's task list: pid, parent, user and\n"
        "group ids, state (R S D T t X Z P I), start time (seconds since boot), name and\n"
        "the full command line, read from each process's own memory. Kernel threads\n"
        "show their name in brackets. -T lists every thread (TID) under its process;\n"
        "--tree orders processes under their parents; --pid N shows one process.\n"
        "Names and command lines are the guest's bytes: in text, control bytes and\n"
        "invalid UTF-8 are shown escaped (\\x1b, \\n, \\\\); in JSON they round-trip.\n"
        "\n"
        "%s"
        "%s"
        "\n"
        "JSON, one object per process (per thread with -T): {pid,ppid,tgid,uid,gid,euid,\n"
        "egid,suid,sgid,fsuid,fsgid,state,comm,name,cmdline,start_ns,threads,kthread,thread,\n"
        "addr} (name: as /proc shows it, a kernel thread's full name); with -T pid is the\n"
        "thread's id and tgid its process's. \"unreadable\":true marks a task that kept\n"
        "changing while read (only pid 0 and addr are then meaningful).\n";

/* A task kept for --tree: copied out of the callback. */
struct ps_row {
	struct vms_task t;
	char *cmdline;
};

struct ps_out {
	int threads, tree;
	struct ps_row *rows;
	size_t n, cap;
	int oom;
};

static void ps_header(const struct ps_out *o)
{
	if (o->threads)
		out_text("%7s %7s %7s %5s %5s %s %9s %-16s %s\n", "PID", "TID", "PPID", "UID", "GID", "S", "START",
		         "COMM", "COMMAND");
	else
		out_text("%7s %7s %5s %5s %s %9s %4s %-16s %s\n", "PID", "PPID", "UID", "GID", "S", "START", "THR",
		         "COMM", "COMMAND");
}

static void ps_print(const struct ps_out *o, const struct vms_task *t, int depth)
{
	out_begin();
	if (t->flags & VMS_ENTRY_UNREADABLE) {
		out_int("pid", NULL, 0);
		out_bool("unreadable", 1);
		out_hex("addr", NULL, t->addr);
		out_text("%7s (task_struct at 0x%llx unreadable)", "?", (unsigned long long)t->addr);
		out_end();
		return;
	}
	/* -T: the process's id first, then the thread's */
	out_int(o->threads ? "tgid" : "pid", "%7lld ", o->threads ? t->tgid : t->pid);
	out_int(o->threads ? "pid" : "tgid", o->threads ? "%7lld " : NULL, o->threads ? t->pid : t->tgid);
	out_int("ppid", "%7lld ", t->ppid);
	out_uint("uid", "%5llu ", t->uid);
	out_uint("gid", "%5llu ", t->gid);
	out_uint("euid", NULL, t->euid);
	out_uint("egid", NULL, t->egid);
	out_uint("suid", NULL, t->suid);
	out_uint("sgid", NULL, t->sgid);
	out_uint("fsuid", NULL, t->fsuid);
	out_uint("fsgid", NULL, t->fsgid);
	char state[2] = { t->state, 0 };
	out_guest("state", "%s ", state);
	out_uint("start_ns", NULL, t->start_ns);
	out_double(NULL, "%9.2f ", 2, (double)t->start_ns / 1e9);
	out_int("threads", o->threads ? NULL : "%4lld ", t->nthreads);
	out_guest("comm", "%-16s ", t->comm);
	out_guest("name", NULL, t->name);
	for (int i = 0; i < depth; i++)
		out_text("%s", i + 1 == depth ? " \\_ " : "    ");
	size_t len = t->cmdline_len;
	if (len && t->cmdline[len - 1] == '\0')
		len--;
	out_guest_n("cmdline", t->cmdline_len ? "%s" : NULL, t->cmdline, len, ESC_NUL_AS_SPACE);
	if (!t->cmdline_len)
		out_guest(NULL, t->flags & VMS_TASK_KTHREAD ? "[%s]" : "{%s}", t->name);
	out_bool("kthread", t->flags & VMS_TASK_KTHREAD);
	out_bool("thread", t->flags & VMS_TASK_THREAD);
	out_hex("addr", NULL, t->addr);
	if (t->flags & VMS_ENTRY_TRUNCATED)
		out_bool("truncated", 1);
	if (t->flags & VMS_TASK_CMDLINE_UNREADABLE)
		out_bool("cmdline_unreadable", 1);
	out_end();
}

static int ps_keep(struct ps_out *o, const struct vms_task *t)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;
		struct ps_row *r = realloc(o->rows, cap * sizeof(*r));
		if (!r)
			return -1;
		o->rows = r;
		o->cap = cap;
	}
	struct ps_row *r = &o->rows[o->n];
	r->t = *t;
	r->cmdline = t->cmdline_len ? malloc(t->cmdline_len) : NULL;
	if (t->cmdline_len && !r->cmdline)
		return -1;
	if (r->cmdline)
		memcpy(r->cmdline, t->cmdline, t->cmdline_len);
	r->t.cmdline = r->cmdline ? r->cmdline : "";
	o->n++;
	return 0;
}

static int ps_row(void *ctx, const struct vms_task *t)
{
	struct ps_out *o = ctx;
	if (view_stopped())
		return 1;
	if (!o->tree) {
		ps_print(o, t, 0);
		return 0;
	}
	if (ps_keep(o, t)) {
		o->oom = 1;
		return 1;
	}
	return 0;
}

static int is_process(const struct ps_row *r)
{
	return !(r->t.flags & VMS_TASK_THREAD);
}

/* --tree: each process under its parent (threads right after their
 * process), depth first; processes whose parent is not listed are roots. */
static void ps_tree(struct ps_out *o)
{
	size_t n = o->n;
	int *depth = calloc(n ? n : 1, sizeof(int));
	size_t *stack = malloc((n ? n : 1) * sizeof(size_t));
	char *done = calloc(n ? n : 1, 1);
	if (!depth || !stack || !done)
		n = 0; /* out of memory: print them flat, below */
	for (size_t root = 0; root < n; root++) {
		const struct vms_task *rt = &o->rows[root].t;
		if (done[root] || !is_process(&o->rows[root]))
			continue;
		int has_parent = 0;
		for (size_t j = 0; j < n && rt->ppid; j++)
			has_parent |= is_process(&o->rows[j]) && o->rows[j].t.pid == rt->ppid && j != root;
		if (has_parent)
			continue;
		size_t sp = 0;
		stack[sp++] = root;
		depth[root] = 0;
		while (sp) {
			size_t i = stack[--sp];
			if (done[i])
				continue;
			done[i] = 1;
			ps_print(o, &o->rows[i].t, depth[i]);
			/* Its threads, then its children pushed in reverse so they print in order. */
			for (size_t j = i + 1; j < n && !is_process(&o->rows[j]); j++) {
				done[j] = 1;
				ps_print(o, &o->rows[j].t, depth[i] + 1);
			}
			for (size_t j = n; j-- > 0;)
				if (!done[j] && is_process(&o->rows[j]) && o->rows[j].t.ppid == o->rows[i].t.pid &&
				    o->rows[i].t.pid) {
					depth[j] = depth[i] + 1;
					stack[sp++] = j;
				}
		}
	}
	for (size_t i = 0; i < o->n; i++) /* anything left (a parent loop in a hostile guest) */
		if (!n || !done[i])
			ps_print(o, &o->rows[i].t, 0);
	free(depth);
	free(stack);
	free(done);
}

int cmd_ps(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { VIEW_OPTIONS,
		                              { "threads", no_argument, NULL, 'T' },
		                              { "tree", no_argument, NULL, 'R' },
		                              { "pid", required_argument, NULL, 'p' },
		                              { 0 } };
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_tasks_opts to = { .sz = sizeof(to), .stats = &st };
	struct ps_out o = { 0 };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "hT", opts, NULL)) != -1) {
		if (view_opt(&a, c))
			continue;
		switch (c) {
		case 'T': to.threads = o.threads = 1; break;
		case 'R': o.tree = 1; break;
		case 'p': to.pid = parse_pid("ps", optarg); break;
		case 'h': printf(usage_ps, view_help, kernel_help); return 0;
		default: die_usage("ps: bad option");
		}
	}
	if (optind != argc)
		die_usage("ps: unexpected argument '%s'", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	ps_header(&o);
	int rc = vms_tasks(v.k, &to, ps_row, &o);
	if (o.tree && !o.oom)
		ps_tree(&o);
	for (size_t i = 0; i < o.n; i++)
		free(o.rows[i].cmdline);
	free(o.rows);
	rc = o.oom ? fail("out of memory") : view_result(&v, rc, "tasks", &st);
	return view_close(&v, rc);
}
