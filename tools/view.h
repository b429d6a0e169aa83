/*
 * What the Linux view commands (ps, lsmod, lsof, maps, dmesg) share: their
 * options (the kernel's, --pause), opening the kernel with the guest
 * paused when asked, and turning a walk's outcome into an exit status.
 */
#ifndef VMSIGHT_TOOLS_VIEW_H
#define VMSIGHT_TOOLS_VIEW_H

#include "cli.h"

struct view_args {
	struct kernel_args k;
	int pause;
};

#define VIEW_OPTIONS                                                            \
	KERNEL_OPTIONS, KERNEL_CR3_OPTION, { "pause", no_argument, NULL, 'P' }, \
	{                                                                       \
		"help", no_argument, NULL, 'h'                                  \
	}

extern const char view_help[];

/* A view's target and kernel, with the guest paused when asked (and only
 * if it was running: a guest paused by someone else stays paused). */
struct view {
	struct vms_target *t;
	struct vms_kernel *k;
	int paused;
};

/* 1 if C was a view option (stored in A). */
int view_opt(struct view_args *a, int c);
/* The options of a view that has only the common ones; 1 when --help was
 * printed (USAGE takes view_help and kernel_help): the command returns 0. */
int view_parse_common(int argc, char **argv, const char *cmd, const char *usage, struct view_args *a);
int view_open(const struct globals *g, const struct view_args *a, struct view *v);
/* The walk's outcome (its error, a signal, a failed output) as an exit
 * status; WHAT names the entries in the message on unreadable ones. */
int view_result(struct view *v, int rc, const char *what, const struct vms_view_stats *st);
/* Close, resuming the guest if the view paused it; RC passed through (1
 * if resuming failed). */
int view_close(struct view *v, int rc);
/* For the row callbacks: stop the walk (a signal, or the output is gone). */
int view_stopped(void);

#endif
