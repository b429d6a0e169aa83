/*
 * bench_views — the Linux views (ps, lsof, maps) on a guest, beside what the
 * machine itself needs for the same work, measured in the same run.
 *
 *   bench_views TARGET VMSIGHT [ROUNDS]    (default 20 rounds; best and median)
 *
 * Library: one walk of each view with the kernel already open and its
 * layout resolved — vms_tasks with threads (every task of the guest),
 * vms_files of every process, vms_maps of every process. Each walk starts
 * as every walk does, with the TLB flushed. The limit is plain loads of the
 * same memory: every guest read the walk made is recorded once (the views'
 * trace hook), translated beforehand to a pointer into the guest's RAM
 * mapping, and the timed limit copies exactly those bytes with memcpy, in
 * the same order — the walk without translation, checks or decoding.
 *
 * Whole process: the CLI (VMSIGHT) run as a user runs it, stdout to
 * /dev/null, with the profile cached (warm) and without (--no-cache: the
 * kernel found from scratch). Beside them, what any such process pays on
 * this machine: `vmsight --version` (exec and exit) and `vmsight info`
 * (attach to the target over QMP, RAM layout, registers).
 * Pause the guest first (bench/run does).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#include "linux/views.h"
#include "vmsight/vmsight.h"

extern char **environ;

#define MAXR 64

struct figures {
	double v[MAXR];
	int n;
};

static void add(struct figures *f, double ms)
{
	if (f->n < MAXR)
		f->v[f->n++] = ms;
}

static double best(struct figures *f)
{
	qsort(f->v, (size_t)f->n, sizeof(double), bench_cmp_double);
	return f->v[0];
}

static void row(const char *name, struct figures *f, double limit)
{
	double b = best(f), median = f->v[f->n / 2];
	printf("%-46s %9.3f %9.3f", name, b, median);
	if (limit > 0)
		printf(" %9.3f %8.1fx", limit, b / limit);
	printf("\n");
}

/* ---- the trace of a walk, and its replay --------------------------------------- */

struct piece {
	const uint8_t *host;
	size_t len;
};

struct trace {
	struct vms_target *t;
	struct piece *p;
	size_t n, cap;
	size_t bytes, reads, unmapped;
};

/* One read of the walk: split at pages, each page's bytes located in the
 * guest's RAM mapping now (not timed). */
static void on_read(void *ctx, uint64_t dtb, uint64_t va, size_t len)
{
	struct trace *tr = ctx;
	tr->reads++;
	while (len) {
		size_t n = 4096 - (va & 4095);
		n = n < len ? n : len;
		struct vms_translation x;
		const void *h = NULL;
		if (vms_translate(tr->t, dtb, va, &x) == 0)
			h = vms_map_pa(tr->t, x.pa, n);
		if (!h) {
			tr->unmapped++;
			return;
		}
		if (tr->n == tr->cap) {
			tr->cap = tr->cap ? tr->cap * 2 : 4096;
			tr->p = realloc(tr->p, tr->cap * sizeof(*tr->p));
			if (!tr->p)
				abort();
		}
		tr->p[tr->n++] = (struct piece){ h, n };
		tr->bytes += n;
		va += n;
		len -= n;
	}
}

static uint8_t sink[1 << 16];

static double replay(const struct trace *tr)
{
	double t0 = bench_now_ms();
	for (size_t i = 0; i < tr->n; i++)
		memcpy(sink + (i & 7) * 4096, tr->p[i].host, tr->p[i].len);
	double dt = bench_now_ms() - t0;
	__asm__ volatile("" : : "r"(sink) : "memory");
	return dt;
}

/* ---- the walks -------------------------------------------------------------------- */

struct count {
	size_t n;
	int32_t pids[1 << 16];
	size_t npids;
};

static int on_task(void *ctx, const struct vms_task *t)
{
	struct count *c = ctx;
	c->n++;
	if (!(t->flags & (VMS_TASK_THREAD | VMS_TASK_KTHREAD)) && c->npids < sizeof(c->pids) / sizeof(c->pids[0]))
		c->pids[c->npids++] = t->pid;
	return 0;
}

static int on_file(void *ctx, const struct vms_file *f)
{
	(void)f;
	((struct count *)ctx)->n++;
	return 0;
}

static int on_vma(void *ctx, const struct vms_vma *v)
{
	(void)v;
	((struct count *)ctx)->n++;
	return 0;
}

enum { W_TASKS, W_FILES, W_MAPS, W_CHECK };

static void on_summary(void *ctx, const struct vms_check_summary *s)
{
	((struct count *)ctx)->n += s->checked;
}

static int walk(struct vms_kernel *k, int which, struct count *c, const struct count *procs)
{
	c->n = 0;
	if (which == W_TASKS) {
		c->npids = 0;
		struct vms_tasks_opts o = { .sz = sizeof(o), .threads = 1 };
		return vms_tasks(k, &o, on_task, c);
	}
	if (which == W_FILES)
		return vms_files(k, NULL, on_file, c);
	if (which == W_CHECK) { /* every check; a clean guest has no findings */
		struct vms_check_opts o = { .sz = sizeof(o), .summary = on_summary, .summary_ctx = c };
		return vms_check(k, &o, NULL, NULL);
	}
	(void)procs;
	return vms_maps(k, 0, NULL, on_vma, c);
}

/* ---- whole processes -------------------------------------------------------------- */

static double run_cli(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	double t0 = bench_now_ms();
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)) {
		perror("bench_views: spawn");
		exit(1);
	}
	int st;
	waitpid(pid, &st, 0);
	double dt = bench_now_ms() - t0;
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "bench_views: %s %s failed\n", argv[0], argv[1]);
		exit(1);
	}
	return dt;
}

static double cli_row(const char *name, char *const argv[], int rounds, double limit)
{
	struct figures f = { 0 };
	run_cli(argv); /* warm the page cache and the profile */
	for (int r = 0; r < rounds; r++)
		add(&f, run_cli(argv));
	row(name, &f, limit);
	return best(&f);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_views TARGET VMSIGHT [ROUNDS]\n");
		return 2;
	}
	const char *target = argv[1];
	char *cli = argv[2];
	int rounds = argc > 3 ? atoi(argv[3]) : 20;
	if (rounds < 1 || rounds > MAXR)
		rounds = 20;
	char cache[] = "/tmp/vmsight-bench-views-XXXXXX";
	if (!mkdtemp(cache)) {
		perror("bench_views: mkdtemp");
		return 1;
	}
	struct vms_target *t;
	char err[1024] = "";
	struct vms_open_opts oo = { .sz = sizeof(oo), .errbuf = err, .errbuf_len = sizeof(err) };
	if (vms_open(target, &oo, &t)) {
		fprintf(stderr, "bench_views: %s\n", err);
		return 1;
	}
	struct vms_kernel_opts ko = { .sz = sizeof(ko), .cache_dir = cache };
	struct vms_kernel *k;
	if (vms_kernel_open(t, &ko, &k)) {
		fprintf(stderr, "bench_views: %s\n", vms_errmsg(t));
		return 1;
	}
	static struct count procs, c;
	static const char *const names[] = { "library: ps -T (every task)", "library: lsof (every process)",
		                             "library: maps (every process)", "library: check (every check)" };
	const char *what[] = { "tasks", "open files", "memory areas", "entries checked" };
	printf("%-46s %9s %9s %9s %9s\n", "", "best ms", "median", "limit ms", "vs limit");
	for (int which = W_TASKS; which <= W_CHECK; which++) {
		int rc = walk(k, which, which == W_TASKS ? &procs : &c, &procs); /* layout, host caches */
		if (rc) {
			fprintf(stderr, "bench_views: %s\n", vms_errmsg(t));
			return 1;
		}
		struct trace tr = { .t = t };
		k->views->trace = on_read;
		k->views->trace_ctx = &tr;
		walk(k, which, &c, &procs);
		k->views->trace = NULL;
		size_t n = c.n;
		struct figures f = { 0 }, lim = { 0 };
		for (int r = 0; r < rounds; r++) {
			double t0 = bench_now_ms();
			walk(k, which, &c, &procs);
			add(&f, bench_now_ms() - t0);
			add(&lim, replay(&tr));
		}
		char name[96];
		snprintf(name, sizeof(name), "%s", names[which]);
		row(name, &f, best(&lim));
		printf("    %zu %s; %zu reads, %zu bytes (%zu not in RAM)\n", n, what[which], tr.reads, tr.bytes,
		       tr.unmapped);
		free(tr.p);
	}
	int32_t init_pid = procs.npids ? procs.pids[0] : 1;
	vms_kernel_close(k);
	vms_close(t);

	char pid[16];
	snprintf(pid, sizeof(pid), "%d", init_pid);
	char *version[] = { cli, "--version", NULL };
	char *info[] = { cli, "-t", (char *)target, "info", NULL };
	printf("\n%-46s %9s %9s %9s %9s\n", "whole process (stdout to /dev/null)", "best ms", "median", "limit ms",
	       "vs limit");
	cli_row("limit: vmsight --version (exec, exit)", version, rounds, 0);
	double attach_ms = cli_row("limit: vmsight info (attach over QMP)", info, rounds, 0);
	char *cmds[][8] = {
		{ cli, "-t", (char *)target, "ps", "--cache-dir", cache, NULL },
		{ cli, "-t", (char *)target, "check", "--cache-dir", cache, NULL },
		{ cli, "-t", (char *)target, "ps", "-T", "--cache-dir", cache, NULL },
		{ cli, "-t", (char *)target, "lsof", "--cache-dir", cache, NULL },
		{ cli, "-t", (char *)target, "maps", pid, "--cache-dir", cache, NULL },
		{ cli, "-t", (char *)target, "net", "--cache-dir", cache, NULL },
		{ cli, "-t", (char *)target, "ps", "--no-cache", NULL },
		{ cli, "-t", (char *)target, "ps", "-T", "--no-cache", NULL },
	};
	const char *labels[] = { "vmsight ps, profile cached",        "vmsight check (all checks), profile cached",
		                 "vmsight ps -T, profile cached",     "vmsight lsof, profile cached",
		                 "vmsight maps INIT, profile cached", "vmsight net, profile cached",
		                 "vmsight ps, no profile (cold)",     "vmsight ps -T, no profile (cold)" };
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		cli_row(labels[i], cmds[i], rounds, attach_ms);
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf %s", cache);
	if (system(rm) != 0)
		fprintf(stderr, "bench_views: could not remove %s\n", cache);
	return 0;
}
