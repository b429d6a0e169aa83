/*
 * What the CLI's commands share: the global options, errors and exit
 * statuses, number parsing, the option groups several commands take
 * (address space, kernel, view, stream), signals, and output files.
 *
 * Exit status: 0 success, 1 the operation failed, 2 bad usage; commands
 * that report findings may add their own (documented in their --help).
 */
#ifndef VMSIGHT_TOOLS_CLI_H
#define VMSIGHT_TOOLS_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmsight/vmsight.h"
#include "out.h"
#include "util/guard.h"

struct globals {
	const char *target;
	const char *source;
	int verbose;
	int json;
	unsigned timeout_ms;
};

/* A command: argv[0] is its name; returns the exit status. */
typedef int (*cmd_fn)(const struct globals *g, int argc, char **argv);

/* ---- errors ---- */

/* Bad usage: the message and a hint on stderr, exit 2. */
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* An operation failed: the message on stderr; returns 1 (the exit status). */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* --help: print USAGE (a format taking the option-group texts) and exit 0. */

/* ---- numbers ---- */

/* Decimal or 0x hex, with K, M or G (binary) for lengths; -1 if bad. */
int parse_u64(const char *s, uint64_t *out);
/* A pid (1 .. INT32_MAX) or die with usage. */
int parse_pid(const char *cmd, const char *s);
double now_s(void);
/* A byte count as "1 GiB", "12.5 MiB", "3.0 KiB". */
void format_size(char *buf, size_t len, uint64_t n);

/* ---- targets ---- */

int open_target(const struct globals *g, struct vms_target **t);
/* The same, the target returned held (vms_hold): for a burst of setup calls
 * over one QMP connection; the caller vms_unholds it. A's --cache-dir and
 * --no-cache (A may be NULL) also say where the attach's memo lives. */
struct kernel_args;
int open_target_held(const struct globals *g, struct vms_target **t, const struct kernel_args *a);
/* Bytes of guest RAM. */
uint64_t ram_total(struct vms_target *t);

/* Options of the commands that find the kernel. */
struct kernel_args {
	const char *system_map, *isf, *cache_dir, *cr3, *paging;
	int no_cache;
};

#define KERNEL_OPTIONS                                                                                 \
	{ "system-map", required_argument, NULL, 'M' }, { "isf-in", required_argument, NULL, 'I' },    \
	        { "cache-dir", required_argument, NULL, 'D' }, { "no-cache", no_argument, NULL, 'N' }, \
	{                                                                                              \
		"paging", required_argument, NULL, 'G'                                                 \
	}
/* --cr3 of the kernel commands (trace's --cr3 is a filter instead). */
#define KERNEL_CR3_OPTION                           \
	{                                           \
		"cr3", required_argument, NULL, 'C' \
	}

extern const char kernel_help[];
/* 1 if C was one of KERNEL_OPTIONS or KERNEL_CR3_OPTION (stored in A). */
int kernel_opt(struct kernel_args *a, int c);
/* Find the kernel on an open target as A says; 1 after a message. */
int kernel_attach(const struct kernel_args *a, struct vms_target *t, struct vms_kernel **k);
int open_kernel(const struct globals *g, const struct kernel_args *a, struct vms_target **t, struct vms_kernel **k);
void close_kernel(struct vms_target *t, struct vms_kernel *k);
/* Parse a kernel command's options (KERNEL_OPTIONS and --help, which
 * prints USAGE with kernel_help and exits); returns optind. */
int kernel_getopt(const char *cmd, int argc, char **argv, struct kernel_args *a, const char *usage);

/* --cr3, --vcpu and --paging of the commands that take virtual addresses. */
struct aspace_args {
	const char *cr3, *vcpu, *paging;
};

#define ASPACE_OPTIONS                                                                     \
	{ "cr3", required_argument, NULL, 'C' }, { "vcpu", required_argument, NULL, 'U' }, \
	{                                                                                  \
		"paging", required_argument, NULL, 'G'                                     \
	}

extern const char aspace_help[];
int aspace_opt(struct aspace_args *a, int c);
/* Check the values (dies with usage on bad ones). */
void aspace_check(const char *cmd, const struct aspace_args *a, uint64_t *cr3, unsigned *vcpu, enum vms_paging *mode);
/* The DTB to use; sets T's paging mode when it is known better than the
 * library's default. 1 (after a message) on failure. */
int aspace_open(struct vms_target *t, const struct aspace_args *a, uint64_t *dtb);
/* "none", "32", "pae", "4", "5" (and long forms) to a mode; UNKNOWN if not one. */
enum vms_paging parse_paging(const char *s);

/* --count N and --duration SECONDS of the streaming commands. */
#define STREAM_OPTIONS                                   \
	{ "count", required_argument, NULL, 'n' },       \
	{                                                \
		"duration", required_argument, NULL, 'd' \
	}
int stream_opt(const char *cmd, int c, uint64_t *count, double *duration);
/* How long to wait for the next event: SLICE_MS, less near the end time
 * T_END (now_s() clock, 0 = none), -1 once it has passed. */
int wait_slice_ms(double t_end, int slice_ms);
/* A comma-separated list of event kinds into a mask (1 << kind), each
 * named by PARSE and within [LO, HI]; -1 if a name is unknown. */
int parse_kinds(const char *list, int (*parse)(const char *), int lo, int hi, uint32_t *mask);

/* ---- signals ---- */

/* Set by SIGINT, SIGTERM or SIGHUP once catch_signals ran. */
extern volatile sig_atomic_t interrupted;
/* The one way commands that hold guest state (paused, breakpoints, a
 * stream) stop cleanly: SIGINT, SIGTERM and SIGHUP set `interrupted` and
 * call HOOK (async-signal-safe; may be NULL); SIGPIPE is ignored, so a
 * closed output is seen as a write error and the command still undoes
 * what it did. Commands that hold nothing keep the default actions. */
void catch_signals(void (*hook)(void));

/* ---- output files ---- */

/*
 * A file a command writes (-o, --isf): never replaces or removes what the
 * user had unless the command succeeds. It is written to a temporary file
 * beside PATH (created exclusively, removed by a guardian if vmsight is
 * killed) and renamed to PATH only when complete — over an existing
 * regular file, or to a new name it does not clobber. Anything else at
 * PATH (a directory, device, FIFO, socket, or a symbolic link) is refused.
 */
struct out_file {
	int fd;
	char *path, *tmp;   /* tmp: the temporary file renamed to path at the end, or NULL */
	struct guard guard; /* removes what we created if we are killed */
	int existed;        /* path was a regular file before: replaced at the end */
};

/* 0, or 1 after a message. FLAGS: O_RDWR if the command reads back. A
 * guardian removes the file this run created if vmsight is killed. */
int out_file_create(struct out_file *f, const char *path, int flags, mode_t mode);
/* Close it: kept (renamed into place) when OK, else removed (only what
 * this run created). 0, or 1 after a message if closing or renaming failed. */
int out_file_finish(struct out_file *f, int ok);

/* A progress bar on stderr (when CTX points at a nonzero int); returns
 * `interrupted`, so the library stops. */
int progress_bar(void *ctx, uint64_t done, uint64_t total);

#endif
