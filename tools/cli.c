/*
 * What the CLI's commands share (see cli.h): errors, numbers, opening a
 * target or a kernel with the option groups that say how, signals, and
 * output files that never cost the user what they had.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#include "util/escape.h"

/* ---- errors ---- */

void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fflush(stdout);
	fputs("vmsight: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see vmsight --help)\n", stderr);
	exit(2);
}

/* An error message may carry guest text (a library error quoting a name
 * or a banner read from guest memory): it reaches the terminal escaped,
 * as every guest string does (util/escape.h; backslashes and tabs as they
 * are, for paths). */
int fail(const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	fflush(stdout);
	if (n < 0) {
		fputs("vmsight: out of memory\n", stderr);
		return 1;
	}
	size_t cap = (size_t)n * 4 + 1;
	char *esc = malloc(cap);
	if (esc)
		esc_text(esc, cap, msg, (size_t)n, ESC_LOG_TEXT);
	fprintf(stderr, "vmsight: %s\n", esc ? esc : "out of memory");
	free(esc);
	free(msg);
	return 1;
}

/* ---- numbers ---- */

int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1ull << 10, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1ull << 20, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1ull << 30, end++;
	if (*end || (v && mul > UINT64_MAX / v))
		return -1;
	*out = v * mul;
	return 0;
}

int parse_pid(const char *cmd, const char *s)
{
	uint64_t pid;
	if (parse_u64(s, &pid) || pid == 0 || pid > INT32_MAX)
		die_usage("%s: bad pid '%s'", cmd, s);
	return (int)pid;
}

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void format_size(char *buf, size_t len, uint64_t n)
{
	if (n >= (1ull << 30) && n % (1ull << 30) == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", n >> 30);
	else if (n >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
	else
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
}

/* ---- targets ---- */

uint64_t ram_total(struct vms_target *t)
{
	const struct vms_ram_range *r;
	size_t nr;
	uint64_t total = 0;
	vms_ram_ranges(t, &r, &nr);
	for (size_t i = 0; i < nr; i++)
		total += r[i].len;
	return total;
}

static void log_stderr(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmsight: %s\n", msg);
}

static int open_target_opts(const struct globals *g, struct vms_target **t, int hold, const struct kernel_args *a)
{
	if (!g->target)
		die_usage("no target: give -t TARGET or set VMSIGHT_TARGET");
	char err[1024] = "";
	struct vms_open_opts o = {
		.sz = sizeof(o),
		.source = g->source,
		.errbuf = err,
		.errbuf_len = sizeof(err),
		.log = g->verbose ? log_stderr : NULL,
		.timeout_ms = g->timeout_ms,
		.hold = hold,
		.cache_dir = a ? a->cache_dir : NULL,
		.no_cache = a ? a->no_cache : 0,
	};
	int rc = vms_open(g->target, &o, t);
	if (rc)
		return fail("%s", err[0] ? err : strerror(-rc));
	return 0;
}

int open_target(const struct globals *g, struct vms_target **t)
{
	return open_target_opts(g, t, 0, NULL);
}

int open_target_held(const struct globals *g, struct vms_target **t, const struct kernel_args *a)
{
	return open_target_opts(g, t, 1, a);
}

enum vms_paging parse_paging(const char *s)
{
	static const struct {
		const char *name;
		enum vms_paging mode;
	} names[] = { { "none", VMS_PAGING_NONE },      { "32", VMS_PAGING_32 },    { "32-bit", VMS_PAGING_32 },
		      { "pae", VMS_PAGING_PAE },        { "PAE", VMS_PAGING_PAE },  { "4", VMS_PAGING_4LEVEL },
		      { "4-level", VMS_PAGING_4LEVEL }, { "5", VMS_PAGING_5LEVEL }, { "5-level", VMS_PAGING_5LEVEL } };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].mode;
	return VMS_PAGING_UNKNOWN;
}

const char kernel_help[] =
        "  --system-map FILE  symbols from this System.map if kallsyms is not found\n"
        "  --isf-in FILE      symbols and types from a Volatility 3 ISF file (kernels\n"
        "                     without kallsyms or BTF)\n"
        "  --cache-dir DIR    profiles and what an attach remembers of a VM (default\n"
        "                     $XDG_CACHE_HOME/vmsight, ~/.cache/vmsight)\n"
        "  --no-cache         neither read nor write that cache\n"
        "  --cr3 X            find the kernel from this address space (a dump without registers)\n"
        "  --paging MODE      4 or 5 (also none, 32, pae): the paging mode, for such dumps\n";

int kernel_opt(struct kernel_args *a, int c)
{
	switch (c) {
	case 'M': a->system_map = optarg; return 1;
	case 'I': a->isf = optarg; return 1;
	case 'D': a->cache_dir = optarg; return 1;
	case 'N': a->no_cache = 1; return 1;
	case 'C': a->cr3 = optarg; return 1;
	case 'G': a->paging = optarg; return 1;
	default: return 0;
	}
}

int kernel_attach(const struct kernel_args *a, struct vms_target *t, struct vms_kernel **k)
{
	uint64_t cr3 = 0;
	enum vms_paging mode = VMS_PAGING_UNKNOWN;
	if (a->cr3 && (parse_u64(a->cr3, &cr3) || cr3 == 0))
		die_usage("bad CR3 '%s'", a->cr3);
	if (a->paging && (mode = parse_paging(a->paging)) == VMS_PAGING_UNKNOWN)
		die_usage("paging mode must be none, 32, pae, 4 or 5, not '%s'", a->paging);
	if (mode != VMS_PAGING_UNKNOWN && vms_set_paging(t, mode))
		return fail("%s", vms_errmsg(t));
	struct vms_kernel_opts o = { .sz = sizeof(o),
		                     .cr3 = cr3,
		                     .cache_dir = a->cache_dir,
		                     .no_cache = a->no_cache,
		                     .system_map = a->system_map,
		                     .isf = a->isf };
	if (vms_kernel_open(t, &o, k))
		return fail("cannot find the kernel: %s", interrupted ? "interrupted" : vms_errmsg(t));
	return 0;
}

int open_kernel(const struct globals *g, const struct kernel_args *a, struct vms_target **t, struct vms_kernel **k)
{
	/* Attaching and finding the kernel over one QMP connection, released
	 * before the command's own work. */
	if (open_target_held(g, t, a))
		return 1;
	int rc = kernel_attach(a, *t, k);
	vms_unhold(*t);
	if (rc) {
		vms_close(*t);
		return 1;
	}
	return 0;
}

void close_kernel(struct vms_target *t, struct vms_kernel *k)
{
	vms_kernel_close(k);
	vms_close(t);
}

int kernel_getopt(const char *cmd, int argc, char **argv, struct kernel_args *a, const char *usage)
{
	static const struct option opts[] = {
		KERNEL_OPTIONS, KERNEL_CR3_OPTION, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (kernel_opt(a, c))
			continue;
		if (c == 'h') {
			printf(usage, kernel_help);
			exit(0);
		}
		die_usage("%s: bad option", cmd);
	}
	return optind;
}

/* ---- address spaces ---- */

const char aspace_help[] =
        "  --cr3 X        the address space whose CR3 (page-table base) is X\n"
        "  --vcpu N       the address space vCPU N is in (default: vCPU 0), in its paging mode\n"
        "  --paging MODE  none, 32, pae, 4 or 5: for dumps without registers (default: from\n"
        "                 vCPU 0's registers)\n";

int aspace_opt(struct aspace_args *a, int c)
{
	switch (c) {
	case 'C': a->cr3 = optarg; return 1;
	case 'U': a->vcpu = optarg; return 1;
	case 'G': a->paging = optarg; return 1;
	default: return 0;
	}
}

void aspace_check(const char *cmd, const struct aspace_args *a, uint64_t *cr3, unsigned *vcpu, enum vms_paging *mode)
{
	uint64_t v = 0;
	*mode = VMS_PAGING_UNKNOWN;
	*vcpu = 0;
	if (a->cr3 && a->vcpu)
		die_usage("%s: give --cr3 or --vcpu, not both", cmd);
	if (a->cr3 && parse_u64(a->cr3, cr3))
		die_usage("%s: bad CR3 '%s'", cmd, a->cr3);
	if (a->vcpu) {
		if (parse_u64(a->vcpu, &v) || v > 4095)
			die_usage("%s: bad vCPU number '%s'", cmd, a->vcpu);
		*vcpu = (unsigned)v;
	}
	if (a->paging && (*mode = parse_paging(a->paging)) == VMS_PAGING_UNKNOWN)
		die_usage("%s: paging mode must be none, 32, pae, 4 or 5, not '%s'", cmd, a->paging);
}

int aspace_open(struct vms_target *t, const struct aspace_args *a, uint64_t *dtb)
{
	uint64_t cr3 = 0;
	unsigned vcpu;
	enum vms_paging mode;
	aspace_check("", a, &cr3, &vcpu, &mode);
	if (mode != VMS_PAGING_UNKNOWN && vms_set_paging(t, mode))
		return fail("%s", vms_errmsg(t));
	if (a->cr3) {
		*dtb = cr3;
		return 0;
	}
	struct vms_regs r;
	if (vms_vcpu_regs(t, vcpu, &r))
		return fail("no address space given and no registers of vCPU %u (%s): give --cr3", vcpu, vms_errmsg(t));
	if (!(r.valid & VMS_REGS_CR))
		return fail("vCPU %u has no CR3 in this target: give --cr3", vcpu);
	*dtb = r.cr3;
	enum vms_paging own = vms_paging_mode(&r);
	if (a->vcpu && mode == VMS_PAGING_UNKNOWN && own != VMS_PAGING_UNKNOWN && vms_set_paging(t, own))
		return fail("%s", vms_errmsg(t));
	return 0;
}

/* ---- streams ---- */

int stream_opt(const char *cmd, int c, uint64_t *count, double *duration)
{
	char *end;
	switch (c) {
	case 'n':
		if (parse_u64(optarg, count) || *count == 0)
			die_usage("%s: --count takes a positive number", cmd);
		return 1;
	case 'd':
		*duration = strtod(optarg, &end);
		if (*end || !(*duration > 0))
			die_usage("%s: --duration takes seconds > 0", cmd);
		return 1;
	default: return 0;
	}
}

int wait_slice_ms(double t_end, int slice_ms)
{
	if (!t_end)
		return slice_ms;
	double left = t_end - now_s();
	if (left <= 0)
		return -1;
	return left * 1000 < slice_ms ? (int)(left * 1000) + 1 : slice_ms;
}

int parse_kinds(const char *list, int (*parse)(const char *), int lo, int hi, uint32_t *mask)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	*mask = 0;
	for (char *save = NULL, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		int v = parse(k);
		if (v < lo || v > hi)
			return -1;
		*mask |= 1u << v;
	}
	return *mask ? 0 : -1;
}

/* ---- signals ---- */

volatile sig_atomic_t interrupted;
static void (*signal_hook)(void);

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	if (signal_hook)
		signal_hook();
}

void catch_signals(void (*hook)(void))
{
	struct sigaction sa = { .sa_handler = on_signal };
	signal_hook = hook;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ---- output files ---- */

struct out_file_guard {
	char tmp[4096];
};

/* In the guardian, once vmsight was killed: remove the temporary file it
 * was writing (its name holds our pid; the user's path is not touched
 * before the content is complete). */
static void out_file_undo(void *ctx, int note)
{
	const struct out_file_guard *g = ctx;
	struct stat st;
	(void)note;
	if (lstat(g->tmp, &st) == 0 && S_ISREG(st.st_mode))
		unlink(g->tmp);
}

int out_file_create(struct out_file *f, const char *path, int flags, mode_t mode)
{
	struct stat st;
	int acc = (flags & O_RDWR) ? O_RDWR : O_WRONLY;
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->guard = (struct guard)GUARD_INIT;
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return fail("%s is a symbolic link: give the file it points to", path);
		if (!S_ISREG(st.st_mode))
			return fail("%s exists and is not a regular file: not writing to it", path);
		f->existed = 1;
	} else if (errno != ENOENT) {
		return fail("%s: %s", path, strerror(errno));
	}
	/* Written beside PATH under a name of ours, renamed over it only when
	 * complete; a guardian armed before the file exists removes it if we
	 * are killed, so nothing partial is ever left at PATH. */
	struct out_file_guard g;
	size_t n = strlen(path) + 32;
	if (n > sizeof(g.tmp))
		return fail("%s: path too long", path);
	f->tmp = malloc(n);
	f->path = strdup(path);
	if (!f->tmp || !f->path) {
		out_file_finish(f, 0);
		return fail("out of memory");
	}
	int e = EEXIST;
	char err[256];
	for (int i = 0; i < 100 && f->fd < 0 && e == EEXIST; i++) {
		snprintf(f->tmp, n, "%s.%d.%d.tmp", path, (int)getpid(), i);
		snprintf(g.tmp, sizeof(g.tmp), "%s", f->tmp);
		if (guard_arm(&f->guard, NULL, 0, out_file_undo, &g, err, sizeof(err))) {
			out_file_finish(f, 0);
			return fail("%s", err);
		}
		f->fd = open(f->tmp, acc | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		e = f->fd < 0 ? errno : 0;
		if (f->fd < 0)
			guard_disarm(&f->guard); /* not ours: the next name gets its own guardian */
	}
	if (f->fd < 0) {
		free(f->tmp);
		f->tmp = NULL;
		out_file_finish(f, 0);
		return fail("cannot create a file beside %s: %s", path, strerror(e));
	}
	return 0;
}

/* Remove NAME only if it is still the file open as FD (nobody replaced it
 * meanwhile). */
static void remove_own(const char *name, int fd)
{
	struct stat a, b;
	if (fd >= 0 && fstat(fd, &a) == 0 && lstat(name, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		unlink(name);
}

/* The complete file to its name: over the file that was there, or to a
 * name that did not exist, without clobbering one that appeared since. */
static int put_in_place(struct out_file *f)
{
	if (f->existed)
		return rename(f->tmp, f->path);
	int rc = renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->path, RENAME_NOREPLACE);
	if (rc && (errno == EINVAL || errno == ENOSYS)) { /* a file system without it */
		if ((rc = link(f->tmp, f->path)) == 0)
			unlink(f->tmp);
	}
	return rc;
}

int out_file_finish(struct out_file *f, int ok)
{
	int rc = 0;
	const char *written = f->tmp ? f->tmp : f->path;
	if (f->fd >= 0 && !ok)
		remove_own(written, f->fd);
	if (f->fd >= 0 && close(f->fd) && ok) {
		rc = fail("writing %s: %s", f->path, strerror(errno));
		unlink(written); /* closed: it was ours a moment ago */
		ok = 0;
	}
	if (ok && f->tmp && put_in_place(f)) {
		rc = fail("cannot create %s: %s", f->path, strerror(errno));
		unlink(f->tmp);
	}
	guard_disarm(&f->guard); /* after the rename: the guardian only knows the temporary name */
	free(f->tmp);
	free(f->path);
	f->tmp = f->path = NULL;
	f->fd = -1;
	return rc;
}

int progress_bar(void *ctx, uint64_t done, uint64_t total)
{
	int show = *(int *)ctx;
	if (show) {
		int pct = total ? (int)(done * 100 / total) : 100;
		int bar = pct / 4;
		fprintf(stderr, "\r[%.*s%*s] %3d%%  %" PRIu64 "/%" PRIu64 " MiB", bar, "#########################",
		        25 - bar, "", pct, done >> 20, total >> 20);
		if (done == total)
			fputc('\n', stderr);
	}
	return interrupted;
}
