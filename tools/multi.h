/*
 * One command over several libvirt domains at once: -t 'libvirt:*' (every
 * running domain) or -t libvirt:a,b[@URI] (see multi.c).
 */
#ifndef VMSIGHT_TOOLS_MULTI_H
#define VMSIGHT_TOOLS_MULTI_H

#include "cli.h"

/* Whether TARGET names more than one domain. */
int multi_target(const char *target);

/* Run FN (the command CMD, with ARGC/ARGV) on every domain TARGET names,
 * in parallel; returns the exit status: 0 all succeeded, 1 one or more
 * failed (each says why), 2 bad usage. */
int multi_run(const struct globals *g, const char *cmd, cmd_fn fn, int argc, char **argv);

#endif
