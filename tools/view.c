/*
 * The Linux views' shared options and lifecycle (see view.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "view.h"

const char view_help[] =
        "  --pause            pause the guest for the view (a consistent look) and resume it\n"
        "                     after, also on error or Ctrl-C (a guest already paused stays so)\n";

int view_opt(struct view_args *a, int c)
{
	if (kernel_opt(&a->k, c))
		return 1;
	if (c == 'P') {
		a->pause = 1;
		return 1;
	}
	return 0;
}

int view_parse_common(int argc, char **argv, const char *cmd, const char *usage, struct view_args *a)
{
	static const struct option opts[] = { VIEW_OPTIONS, { 0 } };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (view_opt(a, c))
			continue;
		if (c == 'h') {
			printf(usage, view_help, kernel_help);
			return 1;
		}
		die_usage("%s: bad option", cmd);
	}
	return 0;
}

int view_stopped(void)
{
	return interrupted || ferror(stdout);
}

int view_open(const struct globals *g, const struct view_args *a, struct view *v)
{
	memset(v, 0, sizeof(*v));
	if (!a->pause)
		return open_kernel(g, &a->k, &v->t, &v->k);
	/* Ctrl-C, a kill or a closed pipe stop the walk; the guest is resumed. */
	catch_signals(NULL);
	if (open_target_held(g, &v->t, &a->k))
		return 1;
	int running = vms_is_running(v->t);
	if (running == -ENOTSUP)
		running = 0; /* a dump: nothing runs, nothing to pause */
	if (running < 0 || (running == 1 && vms_pause(v->t))) {
		fail("cannot pause the guest: %s", vms_errmsg(v->t));
		vms_close(v->t);
		return 1;
	}
	v->paused = running == 1;
	int rc = interrupted ? fail("interrupted") : kernel_attach(&a->k, v->t, &v->k);
	vms_unhold(v->t);
	if (rc == 0)
		return 0;
	if (v->paused && vms_resume(v->t))
		fail("cannot resume the guest: %s", vms_errmsg(v->t));
	vms_close(v->t);
	return 1;
}

int view_close(struct view *v, int rc)
{
	vms_kernel_close(v->k);
	if (v->paused && vms_resume(v->t))
		rc = fail("cannot resume the guest: %s", vms_errmsg(v->t));
	vms_close(v->t);
	return rc;
}

int view_result(struct view *v, int rc, const char *what, const struct vms_view_stats *st)
{
	if (st->unreadable)
		fprintf(stderr, "vmsight: %u %s unreadable (changed while read, or corrupt)\n", st->unreadable, what);
	if (interrupted)
		return fail("interrupted");
	if (fflush(stdout) || ferror(stdout))
		return fail("writing the output failed");
	if (rc < 0)
		return fail("%s", vms_errmsg(v->t));
	return 0;
}
