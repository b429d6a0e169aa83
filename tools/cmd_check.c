/*
 * vmsight check: the kernel's integrity checks (vms_check), each finding
 * one row. Exit status: 0 nothing found, 3 something found, 1 a check
 * could not run (its findings and the other checks' still printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "view.h"

static const char usage_check[] =
        "usage: vmsight -t TARGET check [--only CHECK,...] [--pause] [options]\n"
        "\n"
        "Look for what rootkits change in the kernel; a clean kernel shows nothing.\n"
        "Checks (all by default; --only takes a comma-separated list):\n"
        "  syscalls   sys_call_table and ia32_sys_call_table entries that are not the\n"
        "             kernel's system-call functions; x64_sys_call's calls (6.9+ dispatch)\n"
        "  idt        interrupt handlers outside the kernel's entry text\n"
        "  modules    modules unlinked from the module list; executable module memory\n"
        "             no module owns\n"
        "  tasks      tasks missing from the task list that the PID table or a run queue\n"
        "             holds (hidden processes), and the other way round\n"
        "  hooks      jumps and calls patched over ftrace's call sites and over the first\n"
        "             instruction of kernel functions (ftrace's own calls: status ftrace)\n"
        "  ftrace     registered ftrace_ops\n"
        "  kprobes    registered kprobes\n"
        "  bpf        loaded eBPF programs\n"
        "  notifiers  keyboard notifiers (keyloggers)\n"
        "  net        packet handlers owned by no listed module\n"
        "Text: one line per finding, then one line per check saying what it looked at.\n"
        "\n"
        "%s"
        "%s"
        "\n"
        "JSON, one object per finding: {check,status,table,nr,name,addr,handler,\n"
        "handler_sym,owner,detail}; nr is the system-call number, vector, pid or BPF id\n"
        "(null if none); handler is where the entry points (null if nowhere).\n"
        "Exit status: 0 nothing found, 3 findings, 1 a check failed, 2 bad usage.\n";

static int check_row(void *ctx, const struct vms_finding *f)
{
	(void)ctx;
	if (view_stopped())
		return 1;
	out_begin();
	out_str("check", "%-9s ", f->check);
	out_str("status", "%-10s ", f->status);
	out_str("table", NULL, f->table);
	if (f->nr >= 0)
		out_int("nr", NULL, f->nr);
	else
		out_null("nr");
	out_guest("name", NULL, f->name);
	out_hex("addr", NULL, f->addr);
	if (f->target)
		out_hex("handler", NULL, f->target);
	else
		out_null("handler");
	out_guest("handler_sym", NULL, f->target_sym);
	out_guest("owner", NULL, f->owner);
	out_guest("detail", "%s", f->detail);
	if (f->owner[0])
		out_guest(NULL, " [owner: %s]", f->owner);
	out_end();
	return 0;
}

struct summary {
	char lines[16][384];
	unsigned n;
	int failed;
};

static void check_summary(void *ctx, const struct vms_check_summary *s)
{
	struct summary *sm = ctx;
	if (s->error) {
		fprintf(stderr, "vmsight: check %s: %s\n", s->check, s->error_text);
		sm->failed = 1;
	}
	if (sm->n < 16)
		snprintf(sm->lines[sm->n++], sizeof(sm->lines[0]), "%-9s %s: %u findings (%s)", s->check,
		         s->error ? "FAILED" : "checked", s->findings,
		         s->error ? "incomplete: see the error" : s->what);
}

int cmd_check(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { VIEW_OPTIONS, { "only", required_argument, NULL, 'o' }, { 0 } };
	struct view_args a = { 0 };
	struct summary sm = { .n = 0 };
	struct vms_check_opts co = { .sz = sizeof(co), .summary = check_summary, .summary_ctx = &sm };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (view_opt(&a, c))
			continue;
		switch (c) {
		case 'o': {
			char buf[256];
			snprintf(buf, sizeof(buf), "%s", optarg);
			for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				int bit = vms_check_by_name(tok);
				if (bit < 0)
					die_usage("check: unknown check '%s' (see vmsight check --help)", tok);
				co.checks |= (unsigned)bit;
			}
			if (!co.checks)
				die_usage("check: --only needs at least one check");
			break;
		}
		case 'h': printf(usage_check, view_help, kernel_help); return 0;
		default: die_usage("check: bad option");
		}
	}
	if (optind != argc)
		die_usage("check: unexpected argument '%s'", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	int rc = vms_check(v.k, &co, check_row, NULL);
	if (!out_is_json())
		for (unsigned i = 0; i < sm.n; i++)
			out_text("%s\n", sm.lines[i]);
	struct vms_view_stats st = { 0 };
	/* A check that failed has said why (check_summary): no second message. */
	int status = view_result(&v, rc < 0 && !sm.failed ? rc : 0, "entries", &st);
	if (status == 0 && rc < 0)
		status = 1;
	else if (status == 0 && rc > 0)
		status = 3;
	return view_close(&v, status);
}
