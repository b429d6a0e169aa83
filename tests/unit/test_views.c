/*
 * Unit tests of the Linux views over the fake kernel of fake_kernel.h:
 * what each view reports for a known world (through a mapping and through
 * read(), with VMAs in a maple tree and in a list), then hostile worlds:
 * a list that cycles while the guest changes a back link under the walk,
 * wild pointers, huge counts and lengths, a maple tree that points at
 * itself, a d_parent loop, a torn task read again and a task that stays
 * broken, bounds on entries, a callback that stops; last, rounds of random
 * corruption of every kernel object, which must end cleanly every time.
 */
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "fake_kernel.h"

/* ---- collecting entries ---------------------------------------------------------- */

#define ROWS 64

struct tasks {
	struct vms_task t[ROWS];
	char cmd[ROWS][64];
	int n;
	int stop_after;
};

static int on_task(void *ctx, const struct vms_task *t)
{
	struct tasks *c = ctx;
	if (c->n < ROWS) {
		c->t[c->n] = *t;
		size_t l = t->cmdline_len < 64 ? t->cmdline_len : 64;
		memcpy(c->cmd[c->n], t->cmdline, l);
		c->t[c->n].cmdline = c->cmd[c->n];
	}
	c->n++;
	return c->stop_after && c->n == c->stop_after ? 7 : 0;
}

struct mods {
	struct vms_module m[ROWS];
	char name[ROWS][64], taint[ROWS][16], used[ROWS][64];
	int n;
};

static int on_module(void *ctx, const struct vms_module *m)
{
	struct mods *c = ctx;
	if (c->n < ROWS) {
		c->m[c->n] = *m;
		snprintf(c->name[c->n], 64, "%s", m->name);
		snprintf(c->taint[c->n], 16, "%s", m->taint);
		snprintf(c->used[c->n], 64, "%s", m->used_by);
	}
	c->n++;
	return 0;
}

struct files {
	struct vms_file f[ROWS];
	char path[ROWS][128];
	int n;
};

static int on_file(void *ctx, const struct vms_file *f)
{
	struct files *c = ctx;
	if (c->n < ROWS) {
		c->f[c->n] = *f;
		snprintf(c->path[c->n], 128, "%s", f->path);
	}
	c->n++;
	return 0;
}

struct vmas {
	struct vms_vma v[ROWS];
	char path[ROWS][64];
	int n;
};

static int on_vma(void *ctx, const struct vms_vma *v)
{
	struct vmas *c = ctx;
	if (c->n < ROWS) {
		c->v[c->n] = *v;
		snprintf(c->path[c->n], 64, "%s", v->path);
	}
	c->n++;
	return 0;
}

struct logs {
	struct vms_log_record r[ROWS];
	char text[ROWS][64];
	int n;
};

static int on_log(void *ctx, const struct vms_log_record *r)
{
	struct logs *c = ctx;
	if (c->n < ROWS) {
		c->r[c->n] = *r;
		snprintf(c->text[c->n], 64, "%.*s", (int)r->text_len, r->text);
	}
	c->n++;
	return 0;
}

/* A callback that only checks what every entry promises. */
static int any_task(void *ctx, const struct vms_task *t)
{
	(void)ctx;
	CHECK(memchr(t->comm, 0, sizeof(t->comm)) && memchr(t->name, 0, sizeof(t->name)));
	CHECK(t->cmdline != NULL);
	return 0;
}
static int any_module(void *ctx, const struct vms_module *m)
{
	(void)ctx;
	CHECK(m->name && m->taint && m->used_by && m->state_name && strlen(m->used_by) < 512);
	return 0;
}
static int any_file(void *ctx, const struct vms_file *f)
{
	(void)ctx;
	CHECK(f->path && f->type && strlen(f->path) < 4096);
	return 0;
}
static int any_vma(void *ctx, const struct vms_vma *v)
{
	(void)ctx;
	CHECK(v->path && strlen(v->perms) == 4);
	return 0;
}
static int any_log(void *ctx, const struct vms_log_record *r)
{
	(void)ctx;
	CHECK(r->text && r->text_len <= 65536 && r->text[r->text_len] == '\0');
	return 0;
}

/* ---- the known world ---------------------------------------------------------------- */

static void test_tasks(struct fk *f)
{
	struct tasks c = { 0 };
	struct vms_view_stats st;
	struct vms_tasks_opts o = { .sz = sizeof(o), .stats = &st };
	CHECK(vms_tasks(f->k, &o, on_task, &c) == 0);
	CHECK(c.n == 4 && st.entries == 4 && st.unreadable == 0);
	CHECK(c.t[0].pid == 1 && c.t[1].pid == 2 && c.t[2].pid == 7 && c.t[3].pid == 42);
	const struct vms_task *init = &c.t[0], *kt = &c.t[1], *kw = &c.t[2], *p = &c.t[3];
	CHECK(init->ppid == 0 && init->tgid == 1 && strcmp(init->comm, "init") == 0 && init->state == 'S');
	CHECK(init->cmdline_len == 18 && memcmp(init->cmdline, "/sbin/init\0splash\0", 18) == 0);
	CHECK(init->start_ns == 1000000005ull && init->nthreads == 1 && !(init->flags & VMS_TASK_KTHREAD));
	CHECK(init->addr == f->init && init->mm == f->mm1 && init->dtb == FK_PML4);
	CHECK((kt->flags & VMS_TASK_KTHREAD) && kt->cmdline_len == 0 && kt->mm == 0);
	CHECK(strcmp(kt->comm, "kthreadd") == 0 && strcmp(kt->name, "kthreadd-with-a-long-name") == 0);
	CHECK(strcmp(kw->name, "kworker/0:1+events") == 0 && kw->state == 'I' && kw->ppid == 2);
	CHECK(p->ppid == 1 && p->uid == 1000 && p->euid == 1001 && p->suid == 1002 && p->fsuid == 1003);
	CHECK(p->gid == 1100 && p->egid == 1101 && p->sgid == 1102 && p->fsgid == 1103 && p->nthreads == 3);
	/* A rewritten command line: a page from arg_start up to the first NUL. */
	CHECK(p->cmdline_len == 12 && memcmp(p->cmdline, "title: busy\0", 12) == 0);

	struct tasks th = { 0 };
	struct vms_tasks_opts ot = { .sz = sizeof(ot), .threads = 1 };
	CHECK(vms_tasks(f->k, &ot, on_task, &th) == 0 && th.n == 6);
	CHECK(th.t[3].pid == 42 && th.t[4].pid == 43 && th.t[5].pid == 44);
	CHECK(th.t[4].tgid == 42 && (th.t[4].flags & VMS_TASK_THREAD) && strcmp(th.t[4].comm, "w1") == 0);
	CHECK(th.t[4].cmdline_len == 0 && th.t[4].ppid == 1 && !(th.t[3].flags & VMS_TASK_THREAD));

	struct tasks one = { 0 };
	struct vms_tasks_opts op = { .sz = sizeof(op), .threads = 1, .pid = 42 };
	CHECK(vms_tasks(f->k, &op, on_task, &one) == 0 && one.n == 3 && one.t[2].pid == 44);
	op.pid = 999;
	CHECK(vms_tasks(f->k, &op, on_task, &one) == -ENOENT && strstr(vms_errmsg(f->t), "no process 999"));

	/* Bounds: max_entries, and a callback that stops. */
	struct tasks few = { 0 };
	struct vms_tasks_opts om = { .sz = sizeof(om), .max_entries = 2 };
	CHECK(vms_tasks(f->k, &om, on_task, &few) == -E2BIG && few.n == 2);
	struct tasks stop = { .stop_after = 3 };
	CHECK(vms_tasks(f->k, NULL, on_task, &stop) == 7 && stop.n == 3);
	/* An older opts struct (sz smaller) still works. */
	struct vms_tasks_opts old = { .sz = offsetof(struct vms_tasks_opts, pid) };
	struct tasks oc = { 0 };
	CHECK(vms_tasks(f->k, &old, on_task, &oc) == 0 && oc.n == 4);
}

static void test_modules(struct fk *f)
{
	struct mods c = { 0 };
	struct vms_modules_opts o = { .sz = sizeof(o) };
	CHECK(vms_modules(f->k, &o, on_module, &c) == 0 && c.n == 2);
	CHECK(strcmp(c.name[0], "alpha") == 0 && strcmp(c.name[1], "beta") == 0);
	CHECK(c.m[0].base == FK_MODVA + 0x40000 && c.m[0].size == 8192 && c.m[0].refcnt == 0);
	CHECK(c.m[1].refcnt == 1 && strcmp(c.used[1], "alpha,") == 0 && strcmp(c.used[0], "") == 0);
	CHECK(strcmp(c.m[0].state_name, "Live") == 0 && c.taint[0][0] == '\0');
	struct mods s = { 0 };
	o.scan = 1;
	CHECK(vms_modules(f->k, &o, on_module, &s) == 0 && s.n == 3);
	CHECK(strcmp(s.name[2], "gamma") == 0 && (s.m[2].flags & VMS_MODULE_HIDDEN) && s.m[2].addr == f->gamma);
	CHECK(strcmp(s.taint[2], "(OE)") == 0 && !(s.m[0].flags & VMS_MODULE_HIDDEN));
}

static void test_files(struct fk *f)
{
	struct files c = { 0 };
	struct vms_files_opts o = { .sz = sizeof(o), .pid = 1 };
	CHECK(vms_files(f->k, &o, on_file, &c) == 0 && c.n == 3);
	CHECK(c.f[0].fd == 0 && strcmp(c.path[0], "/dev/null") == 0 && strcmp(c.f[0].type, "CHR") == 0);
	CHECK(c.f[0].f_flags == 0100000 && c.f[0].mnt_id == 24 && c.f[0].ino == 4 && strcmp(c.f[0].comm, "init") == 0);
	CHECK(c.f[1].fd == 1 && strcmp(c.path[1], "pipe:[10575]") == 0 && strcmp(c.f[1].type, "FIFO") == 0);
	CHECK(c.f[2].fd == 3 && strcmp(c.path[2], "/data/sub/x.txt (deleted)") == 0);
	CHECK((c.f[2].flags & VMS_FILE_DELETED) && c.f[2].pos == 1234 && c.f[2].f_flags == (0100002 | 02000000));
	CHECK(c.f[2].mnt_id == 27 && c.f[2].ino == 13 && c.f[2].dev == 254u << 20 && c.f[2].f_mode == 3);
	struct files all = { 0 };
	o.pid = 0;
	CHECK(vms_files(f->k, &o, on_file, &all) == 0 && all.n == 3 && all.f[2].pid == 1);
}

static void test_maps(struct fk *f)
{
	struct vmas c = { 0 };
	CHECK(vms_maps(f->k, 1, NULL, on_vma, &c) == 0 && c.n == 3);
	CHECK(c.v[0].start == 0x400000 && c.v[0].end == 0x401000 && strcmp(c.v[0].perms, "r-xp") == 0);
	CHECK(strcmp(c.path[0], "/sbin/init") == 0 && c.v[0].ino == 8 && c.v[0].offset == 0);
	CHECK(strcmp(c.path[1], "[heap]") == 0 && strcmp(c.v[1].perms, "rw-p") == 0);
	CHECK(strcmp(c.path[2], "[stack]") == 0 && c.v[2].end == 0x7ff000121000ull);
	struct vmas p = { 0 };
	CHECK(vms_maps(f->k, 42, NULL, on_vma, &p) == 0 && p.n == 20);
	int ok = 1;
	for (int i = 0; i < 20 && i < p.n; i++) {
		ok &= p.v[i].start == 0x10000000ull + (uint64_t)i * 0x10000 && p.v[i].end == p.v[i].start + 0x10000;
		ok &= strcmp(p.v[i].perms, i % 2 ? "r--p" : "rw-s") == 0;
		ok &= strcmp(p.path[i], i % 3 ? "" : "/sbin/init") == 0;
		ok &= p.v[i].offset == (i % 3 ? 0 : (uint64_t)i << 12);
	}
	CHECK(ok);
	struct vmas all = { 0 };
	CHECK(vms_maps(f->k, 0, NULL, on_vma, &all) == 0 && all.n == 23 && all.v[0].pid == 1 && all.v[3].pid == 42);
	struct vmas none = { 0 };
	CHECK(vms_maps(f->k, 2, NULL, on_vma, &none) == 0 && none.n == 0); /* a kernel thread */
	CHECK(vms_maps(f->k, 5, NULL, on_vma, &none) == -ENOENT);
}

static void test_dmesg(struct fk *f)
{
	struct logs c = { 0 };
	CHECK(vms_dmesg(f->k, NULL, on_log, &c) == 0 && c.n == 5);
	CHECK(strcmp(c.text[0], "Linux version 6.1.0-fake") == 0 && c.r[0].level == 5 && c.r[0].seq == 0);
	CHECK(strcmp(c.text[2], "multi\nline record") == 0 && c.r[2].level == 4);
	CHECK(strcmp(c.text[4], "wrapped round") == 0 && c.r[4].level == 3 && c.r[4].ts_ns == 7500000000ull);
}

/* Workqueue workers as /proc/PID/status names them: up to 6.9 the comm
 * and the latest work; from 6.10 (FK_612) the id made from the worker,
 * whole. Each case: comm, pool, rescued workqueue, id, desc, busy, and the
 * name wanted in either era. */
static void test_worker_names(struct fk *f)
{
	int new = f->flags &FK_612;
	uint64_t wq = fk_obj(f, "workqueue_struct"), wq31 = fk_obj(f, "workqueue_struct");
	fk_put_str(f, wq, "workqueue_struct", "name", "ext4-rsv-conversion");
	fk_put_str(f, wq31, "workqueue_struct", "name", "a_workqueue_name_of_31_bytes_xy");
	uint64_t bound = fk_pool(f, 0, 0, 0), high = fk_pool(f, 1, 3, -20), unbound = fk_pool(f, -1, 12, 0);
	uint64_t wild = FK_KBASE + FK_RAM + 0x1000; /* past RAM: not readable */
	static const char long_desc[] = "a_description_of_31_bytes_xyzwv";
	const struct {
		const char *comm;
		uint64_t pool, wq;
		int id;
		const char *desc;
		int busy;
		const char *old, *now;
	} w[] = {
		{ "kworker/R-ext4-", 0, wq, 0, "", 0, "kworker/R-ext4-", "kworker/R-ext4-rsv-conversion" },
		{ "kworker/0:2", bound, 0, 2, "events", 0, "kworker/0:2-events", "kworker/0:2-events" },
		{ "kworker/1:5H", high, 0, 5, "kblockd", 1, "kworker/1:5H+kblockd", "kworker/1:5H+kblockd" },
		{ "kworker/u12:345", unbound, 0, 345, "events_unbound", 0, "kworker/u12:345-events_unbound",
		  "kworker/u12:345-events_unbound" },
		{ "kworker/0:3", 0, 0, 3, "events", 0, "kworker/0:3", "kworker/dying" },
		{ "kworker/0:4", bound, 0, 4, "", 1, "kworker/0:4", "kworker/0:4" },
		/* A pool that can not be read: the comm (6.1 never reads the pool). */
		{ "kworker/1:1", wild, 0, 1, "x", 0, "kworker/1:1-x", "kworker/1:1" },
		/* 10 + 31 + 1 + 31 bytes: cut at 63, as in the kernel's 64-byte buffer. */
		{ "kworker/R-a_wor", bound, wq31, 0, long_desc, 1, "kworker/R-a_wor+events",
		  "kworker/R-a_workqueue_name_of_31_bytes_xy+a_description_of_31_b" },
	};
	size_t n = sizeof(w) / sizeof(w[0]);
	for (size_t i = 0; i < n; i++) /* 6.1's desc holds 23 bytes */
		fk_worker(f, 100 + (int)i, w[i].comm, w[i].pool, w[i].wq, w[i].id,
		          !new &&strlen(w[i].desc) > 23 ? "events" : w[i].desc, w[i].busy);
	struct tasks c = { 0 };
	CHECK(vms_tasks(f->k, NULL, on_task, &c) == 0 && c.n == 4 + (int)n);
	for (size_t i = 0; i < n && 4 + i < ROWS; i++) {
		const struct vms_task *t = &c.t[4 + i];
		const char *want = new ? w[i].now : w[i].old;
		CHECK(t->pid == 100 + (int)i && strcmp(t->comm, w[i].comm) == 0 && (t->flags & VMS_TASK_KTHREAD));
		if (strcmp(t->name, want) != 0)
			printf("worker %zu: name '%s', want '%s'\n", i, t->name, want);
		CHECK(strcmp(t->name, want) == 0);
	}
}

static void test_world(int flags, int mapped)
{
	fk_mapped = mapped;
	struct fk *f = fk_build(flags);
	test_tasks(f);
	test_modules(f);
	test_files(f);
	test_maps(f);
	test_dmesg(f);
	test_worker_names(f);
	fk_free(f);
	fk_mapped = 1;
}

/* ---- hostile worlds ------------------------------------------------------------------- */

static uint64_t pa_of(uint64_t va)
{
	return (uint64_t)(fk_host(va) - fk_ram);
}

/* The guest flips init's tasks.prev between init_task and pid 42 while
 * we walk, and pid 42 links back to init: every link checks at the moment
 * it is read, yet the walk goes round; Brent's check ends it. */
static void test_cycle_under_the_walk(void)
{
	fk_mapped = 0;
	struct fk *f = fk_build(0);
	uint64_t off = fk_off(f, "task_struct", "tasks");
	fk_put64(f->p42 + off, f->init + off);
	fk_flip_pa = pa_of(f->init + off + 8);
	fk_flip_val[0] = f->init_task + off;
	fk_flip_val[1] = f->p42 + off;
	struct tasks c = { 0 };
	int rc = vms_tasks(f->k, NULL, on_task, &c);
	CHECK(rc == -ELOOP && c.n < 32);
	fk_flip_pa = 0;
	fk_free(f);
	fk_mapped = 1;
}

static void test_wild_and_huge(void)
{
	struct fk *f = fk_build(0);
	/* A wild next pointer in the module list: alpha, then an error. */
	uint64_t node = f->alpha + fk_off(f, "module", "list");
	uint64_t keep = fk_get64(node);
	fk_put64(node, FK_KBASE + 0x3ff000);
	struct mods m = { 0 };
	CHECK(vms_modules(f->k, NULL, on_module, &m) == -EIO && m.n == 1);
	fk_put64(node, 0x1234); /* not even a kernel address */
	CHECK(vms_modules(f->k, NULL, any_module, NULL) == -EIO);
	fk_put64(node, keep);

	/* A file table claiming 4 G descriptors: clamped to NR_OPEN; past the
	 * real array, what looks like a file is reported (or is unreadable). */
	uint64_t fdt = fk_get64(f->files1 + fk_off(f, "files_struct", "fdt"));
	fk_put(f, fdt, "fdtable", "max_fds", 0xffffffffu);
	struct files fc = { 0 };
	struct vms_view_stats st;
	struct vms_files_opts fo = { .sz = sizeof(fo), .stats = &st };
	CHECK(vms_files(f->k, &fo, on_file, &fc) == 0 && fc.n >= 3 && fc.f[2].fd == 3 && fc.f[3].fd >= 64);
	/* A descriptor array that runs out of RAM: that process's table is
	 * unreadable, the walk goes on (one process asked for: an error). */
	uint64_t fds = fk_get64(fdt + fk_off(f, "fdtable", "fd"));
	fk_put(f, fdt, "fdtable", "fd", FK_KBASE + FK_RAM - 2048);
	fk_put(f, fdt, "fdtable", "max_fds", 4096);
	CHECK(vms_files(f->k, &fo, any_file, NULL) == 0 && st.unreadable == 1);
	fo.pid = 1;
	CHECK(vms_files(f->k, &fo, any_file, NULL) == -EIO);
	fk_put(f, fdt, "fdtable", "fd", fds);
	fk_put(f, fdt, "fdtable", "max_fds", 64);

	/* A command line of a terabyte: cut at the bound, marked. */
	uint64_t as = fk_get64(f->mm1 + fk_off(f, "mm_struct", "arg_start"));
	fk_put(f, f->mm1, "mm_struct", "arg_end", as + (1ull << 40));
	fk_put(f, f->mm1, "mm_struct", "env_end", as + (1ull << 40));
	struct tasks c = { 0 };
	struct vms_tasks_opts to = { .sz = sizeof(to), .pid = 1, .cmdline_max = 4096 };
	CHECK(vms_tasks(f->k, &to, on_task, &c) == 0 && c.n == 1 && (c.t[0].flags & VMS_ENTRY_TRUNCATED));
	CHECK(c.t[0].cmdline_len <= 4096);
	fk_put(f, f->mm1, "mm_struct", "pgd", 0xdead000); /* no page tables: unreadable, not fatal */
	c.n = 0;
	CHECK(vms_tasks(f->k, &to, on_task, &c) == 0 && (c.t[0].flags & VMS_TASK_CMDLINE_UNREADABLE));

	/* A maple tree whose root is its own first child: depth-bounded. */
	uint64_t root = fk_get64(f->mm42 + fk_off(f, "mm_struct", "mm_mt.ma_root"));
	uint64_t rnode = root & ~0xffull;
	fk_put64(rnode + 80, (root & ~3ull) | 4);
	CHECK(vms_maps(f->k, 42, NULL, any_vma, NULL) == -E2BIG);

	/* A d_parent loop: the path is cut at its bound, marked truncated. */
	uint64_t sub = fk_get64(f->dentry_x + fk_off(f, "dentry", "d_parent"));
	fk_put(f, sub, "dentry", "d_parent", f->dentry_x);
	struct files fl = { 0 };
	struct vms_files_opts f1 = { .sz = sizeof(f1), .pid = 1 };
	CHECK(vms_files(f->k, &f1, on_file, &fl) == 0 && fl.n == 3 && (fl.f[2].flags & VMS_ENTRY_TRUNCATED));

	/* printk: absurd sizes are refused; a far head is clamped to a ring. */
	fk_put(f, f->prb, "printk_ringbuffer", "desc_ring.count_bits", 63);
	CHECK(vms_dmesg(f->k, NULL, any_log, NULL) == -EIO);
	fk_put(f, f->prb, "printk_ringbuffer", "desc_ring.count_bits", 4);
	fk_put(f, f->prb, "printk_ringbuffer", "desc_ring.head_id", 1ull << 40);
	struct logs lg = { 0 };
	CHECK(vms_dmesg(f->k, NULL, on_log, &lg) == 0 && lg.n == 0); /* no slot holds those ids */
	fk_free(f);
}

/* A task read torn once is read again; one that stays broken is reported
 * unreadable and the walk goes on. */
static void test_torn_reads(void)
{
	fk_mapped = 0;
	struct fk *f = fk_build(0);
	uint64_t pid_off = fk_off(f, "task_struct", "pid");
	fk_flip_pa = pa_of(f->p42 + pid_off);
	fk_flip_val[0] = (uint64_t)5000000 | (uint64_t)42 << 32; /* pid out of range, tgid 42 */
	fk_flip_val[1] = (uint64_t)42 | (uint64_t)42 << 32;
	fk_flip_reads = 0;
	struct tasks c = { 0 };
	struct vms_view_stats st;
	struct vms_tasks_opts o = { .sz = sizeof(o), .stats = &st };
	CHECK(vms_tasks(f->k, &o, on_task, &c) == 0 && c.n == 4 && c.t[3].pid == 42 && st.retried >= 1);
	CHECK(st.unreadable == 0);
	fk_flip_pa = 0;
	fk_put(f, f->kworker, "task_struct", "pid", 5000000);
	c.n = 0;
	CHECK(vms_tasks(f->k, &o, on_task, &c) == 0 && c.n == 4 && st.unreadable == 1);
	CHECK((c.t[2].flags & VMS_ENTRY_UNREADABLE) && c.t[2].addr == f->kworker && c.t[3].pid == 42);
	fk_free(f);
	fk_mapped = 1;
}

/* Rounds of random bytes written over the kernel's objects: every view
 * must return, whatever it reports. */
static void test_random_corruption(int flags, int rounds)
{
	struct fk *f = fk_build(flags);
	size_t len = f->next_obj - FK_OBJ_PA;
	uint8_t *clean = malloc(len), *mods = malloc(0x10000);
	memcpy(clean, fk_ram + FK_OBJ_PA, len);
	memcpy(mods, fk_ram + FK_MODPA, 0x10000);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	double t0 = (double)clock() / CLOCKS_PER_SEC;
	for (int round = 0; round < rounds; round++) {
		memcpy(fk_ram + FK_OBJ_PA, clean, len);
		memcpy(fk_ram + FK_MODPA, mods, 0x10000);
		for (int i = 0; i < 1 + round % 16; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t at = (seed >> 16) % (len + 0x10000);
			uint8_t *p = at < len ? fk_ram + FK_OBJ_PA + at : fk_ram + FK_MODPA + (at - len);
			uint64_t kind = seed >> 60;
			if (kind < 4) { /* a pointer to somewhere in the objects */
				uint64_t v = FK_KBASE + FK_OBJ_PA + ((seed >> 20) % len & ~7ull);
				if (at + 8 <= len)
					memcpy(p, &v, 8);
			} else if (kind < 6) { /* a huge count */
				uint32_t v = 0xffffffffu >> (seed & 7);
				if (at + 4 <= len)
					memcpy(p, &v, 4);
			} else {
				*p = (uint8_t)(seed >> 24);
			}
		}
		struct vms_tasks_opts to = { .sz = sizeof(to), .threads = 1 };
		struct vms_modules_opts mo = { .sz = sizeof(mo), .scan = 1 };
		vms_tasks(f->k, &to, any_task, NULL);
		vms_modules(f->k, &mo, any_module, NULL);
		vms_files(f->k, NULL, any_file, NULL);
		vms_maps(f->k, 1, NULL, any_vma, NULL);
		vms_maps(f->k, 42, NULL, any_vma, NULL);
		vms_dmesg(f->k, NULL, any_log, NULL);
	}
	double secs = (double)clock() / CLOCKS_PER_SEC - t0;
	printf("%d rounds of random corruption in %.2f s%s\n", rounds, secs, flags & FK_612 ? " (6.10+ types)" : "");
	CHECK(secs < 60);
	free(clean);
	free(mods);
	fk_free(f);
}

int main(void)
{
	test_world(0, 1);
	test_world(0, 0);
	test_world(FK_VMA_LIST, 1);
	test_world(FK_612, 1);
	test_world(FK_612, 0);
	test_cycle_under_the_walk();
	test_wild_and_huge();
	test_torn_reads();
	test_random_corruption(0, 4000);
	test_random_corruption(FK_612, 2000);
	free(fk_ram);
	return check_report("views");
}
