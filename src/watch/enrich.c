/*
 * Enrichment by introspection: the process behind a file event, looked up
 * in the guest kernel's own task list (vms_tasks, src/linux) instead of
 * being taken from the agent: its parent and its command line, read from
 * guest memory. The agent can say what it likes about a process; the task
 * list is the kernel's.
 *
 * A walk of the task list costs far more than an event, so answers are
 * cached per pid for two seconds. The host sees an exec event while the
 * exec is still under way in the guest (its argument pages not yet set
 * up), so an answer without a command line, or got within 50 ms of an
 * exec, is kept for 20 ms only. A process already gone when we look stays
 * unknown (ppid -1, no command line).
 */
#include "enrich.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENRICH_SLOTS 256
#define ENRICH_TTL_NS 2000000000ull
#define ENRICH_SHORT_TTL_NS 20000000ull
#define ENRICH_EXEC_SETTLE_NS 50000000ull
#define ENRICH_CMDLINE_MAX 1024

struct enrich_entry {
	int32_t pid;
	int32_t ppid; /* -1: not found */
	uint64_t at_ns;
	uint64_t exec_ns; /* when it was last seen to exec */
	int short_lived;  /* answer kept for ENRICH_SHORT_TTL_NS only */
	int exec_pending; /* read at an exec event: the old image's */
	int have_cmdline;
	char cmdline[ENRICH_CMDLINE_MAX];
};

struct vms_watch_enricher {
	struct vms_kernel *k;
	struct enrich_entry e[ENRICH_SLOTS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct vms_watch_enricher *watch_enricher_new(struct vms_kernel *k)
{
	struct vms_watch_enricher *en = calloc(1, sizeof(*en));
	if (en)
		en->k = k;
	return en;
}

void watch_enricher_free(struct vms_watch_enricher *en)
{
	free(en);
}

/* The process's task: its parent, and its arguments joined by spaces as ps
 * shows them. */
static int take_task(void *ctx, const struct vms_task *t)
{
	struct enrich_entry *e = ctx;
	if (t->pid != e->pid)
		return 0;
	e->ppid = t->ppid;
	e->have_cmdline = t->cmdline && t->cmdline_len && !(t->flags & VMS_TASK_CMDLINE_UNREADABLE);
	size_t n = e->have_cmdline ? t->cmdline_len : 0;
	if (n >= sizeof(e->cmdline))
		n = sizeof(e->cmdline) - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->cmdline[i];
		e->cmdline[i] = c == 0 ? ' ' : (char)c;
	}
	while (n && e->cmdline[n - 1] == ' ')
		n--;
	e->cmdline[n] = 0;
	return 1;
}

void watch_enrich(struct vms_watch_enricher *en, struct vms_file_event *ev)
{
	if (ev->pid <= 0)
		return;
	struct enrich_entry *e = &en->e[(uint32_t)ev->pid % ENRICH_SLOTS];
	uint64_t now = now_ns();
	if (e->pid != ev->pid)
		e->exec_ns = 0;
	if (ev->kind == VMS_FEV_EXEC)
		e->exec_ns = now;
	uint64_t ttl = e->short_lived ? ENRICH_SHORT_TTL_NS : ENRICH_TTL_NS;
	/* An exec event is reported before the new program replaces the old one,
	 * so what was read for it describes the old image: the process's next
	 * event looks again, however soon the host sees it. */
	int after_exec = e->pid == ev->pid && e->exec_pending && ev->kind != VMS_FEV_EXEC;
	if (e->pid != ev->pid || now - e->at_ns >= ttl || ev->kind == VMS_FEV_EXEC || after_exec) {
		e->pid = ev->pid;
		e->ppid = -1;
		e->have_cmdline = 0;
		e->cmdline[0] = 0;
		e->at_ns = now;
		struct vms_tasks_opts o = { .sz = sizeof(o), .pid = ev->pid, .cmdline_max = ENRICH_CMDLINE_MAX };
		if (vms_tasks(en->k, &o, take_task, e) < 0)
			e->ppid = -1;
		e->short_lived = !e->have_cmdline || now - e->exec_ns < ENRICH_EXEC_SETTLE_NS;
		e->exec_pending = ev->kind == VMS_FEV_EXEC;
	}
	if (e->ppid >= 0) {
		ev->ppid = e->ppid;
		ev->cmdline = e->have_cmdline ? e->cmdline : NULL;
	}
}
