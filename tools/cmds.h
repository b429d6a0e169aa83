/*
 * The commands, one group of them per cmd_*.c file; vmsight.c's table
 * names each once.
 */
#ifndef VMSIGHT_TOOLS_CMDS_H
#define VMSIGHT_TOOLS_CMDS_H

#include "cli.h"

/* cmd_target.c: the target itself, physical memory and address spaces */
int cmd_info(const struct globals *g, int argc, char **argv);
int cmd_read(const struct globals *g, int argc, char **argv);
int cmd_translate(const struct globals *g, int argc, char **argv);
int cmd_va_ranges(const struct globals *g, int argc, char **argv);
extern const char usage_read[];
/* LEN bytes read at ADDR: a hexdump, raw bytes, or JSON {ADDR_KEY,len,hex}
 * (with "sym" first when SYM is given). */
int print_bytes(const char *addr_key, const char *sym, uint64_t addr, const uint8_t *buf, uint64_t len, int raw);

/* cmd_kernel.c: the kernel found in guest memory */
int cmd_kernel(const struct globals *g, int argc, char **argv);
int cmd_symbols(const struct globals *g, int argc, char **argv);
int cmd_btf(const struct globals *g, int argc, char **argv);
int cmd_profile(const struct globals *g, int argc, char **argv);
int cmd_read_sym(const struct globals *g, int argc, char **argv);

/* cmd_snapshot.c: all of guest RAM to a file */
int cmd_dump(const struct globals *g, int argc, char **argv);
int cmd_snapshot(const struct globals *g, int argc, char **argv);

/* cmd_views.c, cmd_ps.c: the Linux views */
int cmd_ps(const struct globals *g, int argc, char **argv);
int cmd_lsmod(const struct globals *g, int argc, char **argv);
int cmd_lsof(const struct globals *g, int argc, char **argv);
int cmd_maps(const struct globals *g, int argc, char **argv);
int cmd_dmesg(const struct globals *g, int argc, char **argv);
/* cmd_net.c: sockets */
int cmd_net(const struct globals *g, int argc, char **argv);

/* cmd_check.c: the kernel's integrity checks (exit 3: findings) */
int cmd_check(const struct globals *g, int argc, char **argv);

/* cmd_watch.c, cmd_trace.c: events as they happen */
int cmd_watch(const struct globals *g, int argc, char **argv);
int cmd_trace(const struct globals *g, int argc, char **argv);

/* cmd_vms.c: the libvirt domains of a host */
int cmd_vms(const struct globals *g, int argc, char **argv);

#endif
