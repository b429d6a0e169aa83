/*
 * watch files: the guest's file activity as vmsight-agent reports it over
 * its shared-memory ring or the vCPU channel, printed as it happens.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const char usage_watch[] =
        "usage: vmsight -t TARGET watch files [--channel shm|vcpu] [--shm FILE | --socket PATH]\n"
        "                                    [--pid N] [--path GLOB] [--event KINDS]\n"
        "                                    [--count N] [--duration SECONDS] [--enrich] [--json]\n"
        "\n"
        "Print the guest's file activity as vmsight-agent reports it (docs/watch.md):\n"
        "one line per event - guest time, kind, process, uid, name, path (old -> new for\n"
        "renames) - and notices about the stream itself: agent started or restarted,\n"
        "events lost (and where), agent silent. The guest is never paused.\n"
        "\n"
        "  --channel shm|vcpu  the ivshmem ring (default when the VM has one) or the\n"
        "                      I/O-port channel (isa-debugcon socket)\n"
        "  --shm FILE          the ivshmem region's file, instead of finding it through QMP\n"
        "  --socket PATH       the isa-debugcon chardev's unix socket, likewise\n"
        "  --pid N             only events of process N\n"
        "  --path GLOB         only events whose path (or rename target) matches GLOB\n"
        "                      (fnmatch: * also matches /)\n"
        "  --event KINDS       only these kinds, comma-separated: open, read, write,\n"
        "                      close_write, exec, create, delete, rename\n"
        "  --count N           stop after N events printed\n"
        "  --duration SECONDS  stop after this long (also: Ctrl-C, SIGTERM)\n"
        "  --enrich            add each process's parent and command line, read from the\n"
        "                      guest kernel's task list by introspection (not from the\n"
        "                      agent); needs -t and finds the kernel first\n"
        "\n"
        "On exit it prints totals on stderr: events received, lost (gaps in the agent's\n"
        "numbering, restarts) and the agent's own counters (drops when its channel was\n"
        "full, kernel queue overflows). JSON: one object per event {\"kind\",\"ts_ns\",\n"
        "\"host_ns\",\"id\",\"generation\",\"pid\",\"tid\",\"uid\",\"comm\",\"path\",\"path2\",\"dir\",\n"
        "\"merged\",\"result\",\"ppid\",\"cmdline\"}; notices {\"kind\":\"agent_start\"|\"lost\"|\"agent_silent\",...}; last,\n"
        "{\"kind\":\"totals\",...,\"filtered\",...} on stdout. The filters apply in the library,\n"
        "before enrichment. tid, uid, ppid and cmdline are null when unknown.\n"
        "Names and paths are the guest's bytes, escaped as ps shows them.\n"
        "Exit status 1 if the channel can not be opened or goes away.\n";

static void print_file_event(const struct vms_file_event *e)
{
	out_begin();
	out_uint("ts_ns", NULL, e->ts_ns);
	out_text("%6" PRIu64 ".%06" PRIu64 " ", (uint64_t)(e->ts_ns / 1000000000u),
	         (uint64_t)(e->ts_ns / 1000u % 1000000u));
	out_str("kind", "%-11s ", vms_fev_kind_name(e->kind));
	out_uint("host_ns", NULL, e->host_ns);
	out_uint("id", NULL, e->event_id);
	out_uint("generation", NULL, e->generation);
	out_int("pid", "pid %-6lld ", e->pid);
	if (e->tid >= 0)
		out_int("tid", NULL, e->tid);
	else
		out_null("tid");
	if (e->uid >= 0)
		out_int("uid", "uid %-5lld ", e->uid);
	else
		out_null("uid");
	if (e->uid < 0)
		out_text("uid %-5lld ", (long long)e->uid);
	out_guest("comm", "%-16s ", e->comm);
	out_guest("path", "%s", e->path);
	if (e->kind == VMS_FEV_RENAME)
		out_guest("path2", " -> %s", e->path2);
	out_bool("dir", e->flags & VMS_FEV_F_DIR);
	if (e->flags & VMS_FEV_F_DIR)
		out_text(" (dir)");
	out_bool("merged", e->flags & VMS_FEV_F_MERGED);
	if (e->flags & VMS_FEV_F_MERGED)
		out_text(" (merged)");
	out_int("result", NULL, e->result);
	if (e->ppid >= 0)
		out_int("ppid", "  [ppid %lld", e->ppid);
	else
		out_null("ppid");
	if (e->cmdline)
		out_guest("cmdline", e->ppid >= 0 ? ": %s" : NULL, e->cmdline);
	else
		out_null("cmdline");
	if (e->ppid >= 0)
		out_text("]");
	out_end();
}

static void print_notice(const struct vms_file_event *e)
{
	out_begin();
	out_str("kind", NULL, vms_fev_kind_name(e->kind));
	out_uint("host_ns", NULL, e->host_ns);
	out_uint("generation", NULL, e->generation);
	if (e->kind == VMS_FEV_AGENT_START) {
		out_int("pid", "-- agent started: pid %lld", e->pid);
		out_uint(NULL, ", run %llu: ", e->generation);
		out_uint("ts_ns", NULL, e->ts_ns);
	} else if (e->kind == VMS_FEV_LOST) {
		out_uint("lost", e->lost ? "-- LOST %llu event" : "-- LOST events: ", e->lost);
		if (e->lost)
			out_text("%s: ", e->lost == 1 ? "" : "s");
	} else {
		out_text("-- ");
	}
	out_guest("detail", "%s", e->path);
	out_end();
}

static void print_totals(struct vms_watch *w, uint64_t printed)
{
	struct vms_watch_stats st;
	vms_watch_stats(w, &st);
	if (out_is_json()) {
		out_begin();
		out_str("kind", NULL, "totals");
		out_str("channel", NULL, vms_watch_channel(w));
		out_uint("received", NULL, st.received);
		out_uint("printed", NULL, printed);
		out_uint("filtered", NULL, st.filtered);
		out_uint("lost", NULL, st.lost);
		out_uint("agent_dropped", NULL, st.agent_dropped);
		out_uint("agent_dropped_total", NULL, st.agent_dropped_total);
		out_uint("agent_overflows", NULL, st.agent_overflows);
		out_uint("malformed", NULL, st.malformed);
		out_uint("agent_starts", NULL, st.agent_starts);
		out_end();
	}
	fflush(stdout);
	fprintf(stderr,
	        "vmsight: watch: %" PRIu64 " events received (%" PRIu64 " printed, %" PRIu64 " filtered out), %" PRIu64
	        " lost; agent counters since start of watch: %" PRIu64 " dropped (channel full; %" PRIu64
	        " in all), %" PRIu64 " kernel queue overflows; %" PRIu64 " malformed; %" PRIu64 " agent run%s seen\n",
	        st.received, printed, st.filtered, st.lost, st.agent_dropped, st.agent_dropped_total,
	        st.agent_overflows, st.malformed, st.agent_starts, st.agent_starts == 1 ? "" : "s");
}

int cmd_watch(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "channel", required_argument, NULL, 'c' },
		{ "shm", required_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 'k' },
		{ "pid", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "event", required_argument, NULL, 'e' },
		STREAM_OPTIONS,
		{ "enrich", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vms_watch_opts wo = { .sz = sizeof(wo), .timeout_ms = g->timeout_ms };
	int enrich = 0;
	uint64_t pid = 0, count = 0;
	int c;
	double duration = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (stream_opt("watch", c, &count, &duration))
			continue;
		switch (c) {
		case 'c': wo.channel = optarg; break;
		case 'm': wo.shm_path = optarg; break;
		case 'k': wo.socket_path = optarg; break;
		case 'p':
			if (parse_u64(optarg, &pid) || pid == 0 || pid > INT32_MAX)
				die_usage("watch: bad pid '%s'", optarg);
			wo.pid = (int32_t)pid;
			break;
		case 'P': wo.path_glob = optarg; break;
		case 'e':
			if (parse_kinds(optarg, vms_fev_kind_parse, VMS_FEV_OPEN, VMS_FEV_RENAME, &wo.kinds))
				die_usage("watch: bad --event list '%s'", optarg);
			break;
		case 'E': enrich = 1; break;
		case 'h': fputs(usage_watch, stdout); return 0;
		default: die_usage("watch: bad option");
		}
	}
	if (optind + 1 != argc || strcmp(argv[optind], "files") != 0)
		die_usage("watch: say what to watch: `watch files`");
	if (wo.channel && strcmp(wo.channel, "shm") != 0 && strcmp(wo.channel, "vcpu") != 0)
		die_usage("watch: --channel is shm or vcpu, not '%s'", wo.channel);
	if (wo.shm_path && wo.socket_path)
		die_usage("watch: give --shm or --socket, not both");
	if (!wo.shm_path && !wo.socket_path && !g->target)
		die_usage("watch: no target: give -t qmp:PATH, --shm FILE or --socket PATH");
	if (wo.shm_path && !wo.channel)
		wo.channel = "shm";
	if (wo.socket_path && !wo.channel)
		wo.channel = "vcpu";
	wo.target = g->target;
	struct vms_target *t = NULL;
	struct vms_kernel *k = NULL;
	if (enrich) {
		struct kernel_args ka = { 0 };
		if (!g->target)
			die_usage("watch: --enrich needs -t TARGET");
		if (open_kernel(g, &ka, &t, &k))
			return 1;
		wo.kernel = k;
	}
	char err[1024] = "";
	wo.errbuf = err;
	wo.errbuf_len = sizeof(err);
	struct vms_watch *w;
	if (vms_watch_open(&wo, &w)) {
		if (k)
			close_kernel(t, k);
		return fail("%s", err);
	}
	if (g->verbose)
		fprintf(stderr, "vmsight: watching channel %s: %s\n", vms_watch_channel(w), vms_watch_detail(w));
	catch_signals(NULL);
	double t_end = duration > 0 ? now_s() + duration : 0;
	uint64_t printed = 0;
	int rc = 0;
	while (!interrupted && (!count || printed < count) && !ferror(stdout)) {
		struct vms_file_event e;
		int r = vms_watch_next(w, &e, 0);
		if (r == 0) {
			/* Nothing waiting: show what we have, then wait a little. */
			fflush(stdout);
			int wait_ms = wait_slice_ms(t_end, 200);
			if (wait_ms < 0)
				break;
			r = vms_watch_next(w, &e, wait_ms);
		}
		if (r < 0) {
			rc = fail("%s", vms_watch_errmsg(w));
			break;
		}
		if (r == 0)
			continue;
		if (e.kind > VMS_FEV_RENAME) {
			print_notice(&e);
			continue;
		}
		print_file_event(&e);
		printed++;
		if (t_end && now_s() >= t_end)
			break;
	}
	print_totals(w, printed);
	vms_watch_close(w);
	if (k)
		close_kernel(t, k);
	return rc;
}
