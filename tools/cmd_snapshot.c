/*
 * Commands that take all of guest RAM: dump (a copy, optionally paused)
 * and snapshot (consistent copies by pause, background migration or live
 * copy; page diffs between two).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"

/* ---- dump ---- */

static const char usage_dump[] =
        "usage: vmsight -t TARGET dump -o FILE [--format raw|elf] [--pause]\n"
        "\n"
        "Write all guest RAM to FILE. elf (default): an ELF core laid out like QEMU's\n"
        "dump-guest-memory (PT_LOAD per RAM range, vCPU register notes), readable by\n"
        "crash, Volatility and `vmsight -t dump:FILE`. raw: file offset = guest-physical\n"
        "address. Zero pages are left as holes. --pause stops the guest for the copy\n"
        "(consistent image) and resumes it after, also on error or Ctrl-C; a guest that\n"
        "was already paused stays paused. An existing FILE is replaced only when the\n"
        "dump is complete; what is not a regular file is refused.\n"
        "A progress bar is shown when stderr is a terminal.\n"
        "JSON: {\"file\",\"format\",\"bytes\",\"seconds\",\"gbps\",\"paused\"}.\n";

/* Pause T if it runs: 0 and *PAUSED set when we paused it, 0 when it
 * was not running (paused by someone else, or a dump), else 1 after a
 * message. */
static int pause_if_running(struct vms_target *t, int *paused)
{
	int running = vms_is_running(t);
	*paused = 0;
	if (running == -ENOTSUP || running == 0)
		return 0;
	if (running < 0 || vms_pause(t))
		return fail("cannot pause the guest: %s", vms_errmsg(t));
	*paused = 1;
	return 0;
}

int cmd_dump(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "pause", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *fmt = "elf";
	int pause = 0, c;
	optind = 0; /* full reset: main() already ran getopt */
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': path = optarg; break;
		case 'f': fmt = optarg; break;
		case 'P': pause = 1; break;
		case 'h': fputs(usage_dump, stdout); return 0;
		default: die_usage("dump: bad option");
		}
	}
	if (!path)
		die_usage("dump: give the output file with -o FILE");
	if (optind != argc)
		die_usage("dump: unexpected argument '%s'", argv[optind]);
	struct vms_dump_opts dopts = { .sz = sizeof(dopts) };
	if (strcmp(fmt, "elf") == 0)
		dopts.format = VMS_DUMP_ELF;
	else if (strcmp(fmt, "raw") == 0)
		dopts.format = VMS_DUMP_RAW;
	else
		die_usage("dump: format must be raw or elf, not '%s'", fmt);
	struct vms_target *t;
	if (open_target(g, &t))
		return 1;
	int show = isatty(STDERR_FILENO) && !g->json;
	dopts.progress = progress_bar;
	dopts.progress_ctx = &show;
	catch_signals(NULL);
	struct out_file f;
	if (out_file_create(&f, path, 0, 0600)) {
		vms_close(t);
		return 1;
	}
	int rc = 0, paused = 0;
	if (pause)
		rc = pause_if_running(t, &paused);
	double t0 = now_s();
	if (!rc && vms_dump(t, f.fd, &dopts))
		rc = fail("%s", interrupted ? "interrupted" : vms_errmsg(t));
	double secs = now_s() - t0;
	if (show && rc)
		fputc('\n', stderr);
	if (paused && vms_resume(t))
		rc = fail("cannot resume the guest: %s", vms_errmsg(t));
	if (out_file_finish(&f, !rc))
		rc = 1;
	if (!rc) {
		uint64_t total = ram_total(t);
		out_begin();
		out_uint("bytes", "wrote %llu bytes of guest RAM", total);
		out_str("file", " to %s", path);
		out_str("format", " (%s)", fmt);
		out_double("seconds", " in %.3f s", 3, secs);
		out_double("gbps", ", %.2f GB/s", 2, secs > 0 ? (double)total / secs / 1e9 : 0);
		out_bool("paused", paused);
		if (paused)
			out_text(", guest paused for the copy");
		out_end();
	}
	vms_close(t);
	return rc;
}

/* ---- snapshot ---- */

static const char usage_snapshot[] =
        "usage: vmsight -t TARGET snapshot -o FILE [--mode pause|background|live] [--threads N]\n"
        "       vmsight -t TARGET snapshot --shm NAME [--mode ...]\n"
        "       vmsight snapshot --diff A B\n"
        "\n"
        "Save all guest RAM and every vCPU's registers at one moment, as an ELF core\n"
        "(the layout of QEMU's dump-guest-memory plus a VMSIGHT note with the mode and\n"
        "pause time). `vmsight -t dump:FILE ...` then serves every command on it.\n"
        "  pause       stop the guest, copy RAM with one thread per CPU, resume (default)\n"
        "  background  QEMU's background-snapshot migration: the guest pauses for\n"
        "              milliseconds while QEMU write-protects RAM and streams it out\n"
        "              (needs QMP; an ivshmem device must be master=on)\n"
        "  live        copy while the guest runs: fast but NOT consistent\n"
        "--shm NAME keeps the snapshot in memory as /dev/shm/NAME.\n"
        "--diff A B lists the guest-physical page runs that differ between two snapshots.\n"
        "The guest is always resumed if vmsight paused it, also on error or Ctrl-C; a\n"
        "failed snapshot's partial file is removed, and an existing FILE is replaced\n"
        "only by a complete snapshot. Ctrl-C during a background snapshot lets QEMU\n"
        "finish its stream first (cancelling it could leave the guest frozen), then\n"
        "the snapshot is discarded.\n"
        "JSON: {file,mode,consistent,pause_ms,total_ms,ram_bytes,data_bytes,gbps};\n"
        "--diff: one {start,end,pages} per run, then {\"changed_pages\":N}.\n";

static int print_diff_run(void *ctx, uint64_t gpa, uint64_t pages)
{
	(void)ctx;
	out_begin();
	out_hex("start", "0x%016llx", gpa);
	out_hex("end", "-0x%016llx", gpa + pages * 4096 - 1);
	out_uint("pages", "  %llu page", pages);
	out_text("%s", pages == 1 ? "" : "s");
	out_end();
	return 0;
}

static int cmd_snapshot_diff(const char *a_path, const char *b_path)
{
	char target[4200], err[1024];
	struct vms_target *a, *b;
	struct vms_open_opts o = { .sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err) };
	snprintf(target, sizeof(target), "dump:%s", a_path);
	if (vms_open(target, &o, &a))
		return fail("%s", err);
	snprintf(target, sizeof(target), "dump:%s", b_path);
	if (vms_open(target, &o, &b)) {
		vms_close(a);
		return fail("%s", err);
	}
	long long n = vms_diff_pages(a, b, print_diff_run, NULL);
	int rc = 0;
	if (n < 0) {
		rc = fail("%s%s", vms_errmsg(a), vms_errmsg(b));
	} else {
		out_begin();
		out_int("changed_pages", "%lld page", n);
		out_text("%s differ", n == 1 ? "" : "s");
		out_end();
	}
	vms_close(a);
	vms_close(b);
	return rc;
}

static void print_snapshot(const char *path, const struct vms_snapshot_stats *st)
{
	out_begin();
	out_str("file", "snapshot %s", path);
	out_str("mode", ": mode %s", st->mode);
	out_bool("consistent", st->consistent);
	out_text(", %s", st->consistent ? "consistent" : "NOT consistent (live copy)");
	out_double("pause_ms", "; guest paused %.1f ms", 3, st->pause_ms);
	out_double("total_ms", "; total %.1f ms", 3, st->total_ms);
	out_uint("ram_bytes", NULL, st->ram_bytes);
	out_uint("data_bytes", NULL, st->data_bytes);
	out_text("; %" PRIu64 " MiB RAM (%" PRIu64 " MiB data)", st->ram_bytes >> 20, st->data_bytes >> 20);
	out_double("gbps", ", %.2f GB/s", 2, st->total_ms > 0 ? (double)st->ram_bytes / (st->total_ms * 1e6) : 0);
	out_end();
}

/* Ctrl-C during a background snapshot: say why nothing stops at once. */
static void background_interrupted(void)
{
	static const char msg[] =
	        "\nvmsight: interrupted: QEMU finishes its background snapshot first (cancelling "
	        "it could leave the guest frozen); the snapshot is then discarded\n";
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		return;
}

int cmd_snapshot(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "mode", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 'T' },
		{ "shm", required_argument, NULL, 's' },
		{ "diff", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *mode = "pause", *shm = NULL;
	int diff = 0, c;
	uint64_t threads = 0;
	optind = 0; /* full reset: main() already ran getopt */
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': path = optarg; break;
		case 'm': mode = optarg; break;
		case 's': shm = optarg; break;
		case 'd': diff = 1; break;
		case 'T':
			if (parse_u64(optarg, &threads) || threads > 64)
				die_usage("snapshot: --threads takes 0 to 64");
			break;
		case 'h': fputs(usage_snapshot, stdout); return 0;
		default: die_usage("snapshot: bad option");
		}
	}
	if (diff) {
		if (optind + 2 != argc)
			die_usage("snapshot --diff takes two snapshot files");
		return cmd_snapshot_diff(argv[optind], argv[optind + 1]);
	}
	if (optind != argc)
		die_usage("snapshot: unexpected argument '%s'", argv[optind]);
	char shm_path[300];
	if (shm) {
		if (path)
			die_usage("snapshot: give -o FILE or --shm NAME, not both");
		if (!shm[0] || strchr(shm, '/') || strlen(shm) > 200 || strcmp(shm, ".") == 0 || strcmp(shm, "..") == 0)
			die_usage("snapshot: --shm takes a plain name, not a path");
		snprintf(shm_path, sizeof(shm_path), "/dev/shm/%s", shm);
		path = shm_path;
	}
	if (!path)
		die_usage("snapshot: give the output file with -o FILE (or --shm NAME)");
	struct vms_snapshot_opts so = { .sz = sizeof(so), .threads = (unsigned)threads };
	if (strcmp(mode, "pause") == 0)
		so.mode = VMS_SNAP_PAUSE;
	else if (strcmp(mode, "background") == 0)
		so.mode = VMS_SNAP_BACKGROUND;
	else if (strcmp(mode, "live") == 0)
		so.mode = VMS_SNAP_LIVE;
	else
		die_usage("snapshot: mode must be pause, background or live, not '%s'", mode);
	struct vms_target *t;
	if (open_target(g, &t))
		return 1;
	int show = isatty(STDERR_FILENO) && !g->json;
	so.progress = progress_bar;
	so.progress_ctx = &show;
	catch_signals(so.mode == VMS_SNAP_BACKGROUND ? background_interrupted : NULL);
	struct out_file f;
	if (out_file_create(&f, path, O_RDWR, 0600)) {
		vms_close(t);
		return 1;
	}
	struct vms_snapshot_stats st;
	int rc = 0;
	if (vms_snapshot(t, f.fd, &so, &st)) {
		if (show)
			fputc('\n', stderr);
		rc = fail("snapshot failed: %s", interrupted && !vms_errmsg(t)[0] ? "interrupted" : vms_errmsg(t));
	} else if (interrupted) {
		rc = fail("interrupted: the snapshot is discarded");
	}
	vms_close(t);
	if (out_file_finish(&f, !rc))
		rc = 1;
	if (rc)
		return rc;
	print_snapshot(path, &st);
	if (shm && !g->json)
		printf("read it with: vmsight -t dump:%s ...\n", path);
	return 0;
}
