/*
 * trace: agentless tracing through QEMU's GDB stub — file activity,
 * system calls, or calls of any kernel function — printed per call.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const char usage_trace[] =
        "usage: vmsight -t TARGET trace files|syscalls|calls SYMBOL... [--pid N] [--cr3 ADDR]\n"
        "                                     [--event KINDS] [--count N]\n"
        "                                     [--duration SECONDS] [--gdb HOST:PORT] [--hw]\n"
        "                                     [--step-remove|--step-keep] [--json]\n"
        "\n"
        "Trace the guest with breakpoints through QEMU's GDB stub: nothing runs in the\n"
        "guest (docs/trace.md). The kernel is found first (symbols and types); every\n"
        "hit stops the guest briefly while vmsight reads it, so the guest runs slower\n"
        "while traced. vmsight carries out the instruction under each breakpoint in the\n"
        "guest's place: its registers and, for a push, the stack slot it writes (the\n"
        "only writes to the guest vmsight makes). On exit (also Ctrl-C, SIGTERM,\n"
        "errors) every breakpoint is removed and the guest runs on.\n"
        "\n"
        "  files     opens (flags, fd or error), reads and writes (count, offset,\n"
        "            bytes), unlinks and rmdirs, renames; full paths; pid, tid, comm\n"
        "  syscalls  x86-64 system calls: number, name, six raw arguments, result\n"
        "            (--list: the guest kernel's table, number and name, and exit)\n"
        "  calls SYMBOL...  calls of these kernel functions: the six argument registers\n"
        "            at the entry, the return value (RAX) at the return\n"
        "\n"
        "  --pid N             only process N (filtered on the host at each hit)\n"
        "  --cr3 ADDR          only calls in this address space (a CR3 value, as \"cr3\"\n"
        "                      in the JSON output)\n"
        "  --event KINDS       files: only these kinds, comma-separated: open, read,\n"
        "                      write, unlink, rename (fewer breakpoints, fewer stops)\n"
        "  --count N           stop after N events\n"
        "  --duration SECONDS  stop after this long\n"
        "  --gdb HOST:PORT     the GDB stub (default: found through the target's QMP)\n"
        "  --hw                hardware breakpoints only (KVM: at most 4)\n"
        "  --step-remove       where an instruction under a breakpoint is not emulated and\n"
        "                      gets a single step: remove the breakpoint for it (KVM)\n"
        "  --step-keep         step in place (TCG); default: chosen from QEMU's\n"
        "                      accelerator, through QMP\n"
        "\n"
        "Output: one line per call, when it returns: host time, vCPU, pid, tid, comm,\n"
        "kind, details, result (-errno names the error). JSON: {\"event\",\"host_ns\",\"cpu\",\n"
        "\"pid\",\"tid\",\"cr3\",\"comm\", then files: \"path\",\"path2\",\"flags\",\"mode\",\"count\",\n"
        "\"offset\",\"dir\"; syscalls: \"nr\",\"name\",\"args\"; calls: \"function\",\"args\";\n"
        "and \"result\" (null if unknown)}. Names and paths are the guest's bytes, escaped\n"
        "as ps shows them.\n"
        "Totals (stops, hits, filtered, returns, per-stop cost) on stderr at the end.\n"
        "Exit status 1 if the stub is missing or busy, or the kernel can not be found.\n";

struct trace_out {
	uint64_t printed, count;
};

static void print_args(const uint64_t *args, int n)
{
	out_arr("args");
	for (int i = 0; i < n; i++) {
		out_uint("", NULL, args[i]);
		out_text("%s0x%" PRIx64, i ? ", " : "", args[i]);
	}
	out_arr_end();
}

static void print_file_details(const struct vms_trace_event *e, const char *kind)
{
	out_text("%-6s ", kind);
	out_guest("path", "%s", e->path);
	if (e->kind == VMS_TEV_RENAME)
		out_guest("path2", " -> %s", e->path2);
	if (e->kind == VMS_TEV_OPEN) {
		out_uint("flags", " flags 0%llo", e->open_flags);
		out_uint("mode", NULL, e->mode);
	}
	if (e->kind == VMS_TEV_READ || e->kind == VMS_TEV_WRITE) {
		out_uint("count", " count %llu", e->count);
		out_int("offset", " offset %lld", e->offset);
	}
	if (e->kind == VMS_TEV_UNLINK)
		out_bool("dir", e->flags & VMS_TEV_F_DIR);
	if (e->flags & VMS_TEV_F_DIR)
		out_text(" (dir)");
}

static int print_trace_event(void *ctx, const struct vms_trace_event *e)
{
	struct trace_out *o = ctx;
	int is_call = e->kind == VMS_TEV_SYSCALL && e->nr < 0;
	const char *kind = e->kind == VMS_TEV_SYSCALL ? (is_call ? "call" : "syscall") : vms_tev_kind_name(e->kind);
	out_begin();
	out_str("event", NULL, kind);
	out_uint("host_ns", NULL, e->host_ns);
	out_text("%" PRIu64 ".%06" PRIu64 " ", e->host_ns / 1000000000u, e->host_ns / 1000u % 1000000u);
	out_uint("cpu", "cpu%llu ", e->vcpu);
	out_int("pid", "%6lld ", e->pid);
	out_int("tid", "%6lld ", e->tid);
	out_hex("cr3", NULL, e->dtb);
	out_guest("comm", "%-16s ", e->comm);
	if (is_call) {
		out_guest("function", "%s(", e->name);
		print_args(e->args, 4);
		out_text(")");
	} else if (e->kind == VMS_TEV_SYSCALL) {
		out_int("nr", e->name[0] ? NULL : "syscall_%lld(", e->nr);
		out_guest("name", e->name[0] ? "%s(" : NULL, e->name);
		print_args(e->args, 6);
		out_text(")");
	} else {
		print_file_details(e, kind);
	}
	if (e->flags & VMS_TEV_F_NORESULT) {
		out_null("result");
		out_text(" = ?");
	} else if (e->result < 0 && e->result >= -4095) {
		out_int("result", NULL, e->result);
		out_text(" = -1 %s", strerror((int)-e->result));
	} else {
		out_int("result", " = %lld", e->result);
	}
	out_end();
	o->printed++;
	return o->count && o->printed >= o->count;
}

/* `trace calls`: each probed function's arguments at entry, its value at return. */
struct call_probe {
	struct trace_out *out;
	const char *name;
};

static int call_entry(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit)
{
	const struct vms_regs *r = hit->regs;
	(void)ctx;
	(void)tr;
	/* what the return needs, besides the registers then: the entry's
	 * argument registers do not survive the call */
	hit->cookie[0] = r->rdi;
	hit->cookie[1] = r->rsi;
	hit->cookie[2] = r->rdx;
	hit->cookie[3] = r->rcx;
	return VMS_PROBE_RETURN;
}

static int call_return(void *ctx, struct vms_tracer *tr, struct vms_bp_hit *hit)
{
	const struct call_probe *cp = ctx;
	struct vms_trace_event e = vms_trace_event_at(VMS_TEV_SYSCALL, hit);
	(void)tr;
	e.name = cp->name; /* a call: nr -1 */
	e.result = (int64_t)hit->regs->rax;
	memcpy(e.args, hit->cookie, sizeof(hit->cookie));
	return print_trace_event(cp->out, &e) ? VMS_PROBE_STOP : 0;
}

static int print_syscall_name(void *ctx, int nr, const char *name)
{
	(void)ctx;
	out_begin();
	out_int("nr", "%4lld ", nr);
	out_guest("name", "%s", name);
	out_end();
	return 0;
}

static double per_stop(uint64_t ns, uint64_t stops)
{
	return stops ? (double)ns / 1000.0 / (double)stops : 0.0;
}

static struct vms_tracer *trace_tracer;

static void stop_tracer(void)
{
	if (trace_tracer)
		vms_tracer_stop(trace_tracer);
}

/* Run until the count, the duration, a signal, an error or a closed output. */
static int trace_loop(const struct globals *g, struct vms_tracer *tr, struct trace_out *out, double duration,
                      const char *what)
{
	trace_tracer = tr;
	catch_signals(stop_tracer);
	if (g->verbose)
		fprintf(stderr, "vmsight: tracing %s; the guest runs\n", what);
	double t_end = duration > 0 ? now_s() + duration : 0;
	int rc = 0;
	for (int slice; (slice = wait_slice_ms(t_end, 200)) >= 0;) {
		rc = vms_tracer_run(tr, slice);
		fflush(stdout);
		if (rc < 0)
			return fail("%s", vms_tracer_errmsg(tr));
		if ((out->count && out->printed >= out->count) || ferror(stdout) || interrupted)
			break;
	}
	return 0;
}

static void print_trace_totals(struct vms_tracer *tr, uint64_t printed)
{
	struct vms_tracer_stats st;
	vms_tracer_stats(tr, &st);
	fprintf(stderr,
	        "vmsight: trace: %" PRIu64 " events printed; %" PRIu64 " stops, %" PRIu64 " hits, %" PRIu64
	        " filtered, %" PRIu64 " returns (%" PRIu64 " unmatched, %" PRIu64 " calls not followed), %" PRIu64
	        " foreign stops; %.1f us per stop handled (registers %.1f, passing %.1f); %" PRIu64
	        " passed by emulation, %" PRIu64
	        " by a single step (%s); %s breakpoints, %u on return instructions, %u"
	        " functions followed to their return address\n",
	        printed, st.stops, st.hits, st.filtered, st.returns, st.stray_returns, st.lost_returns, st.foreign,
	        per_stop(st.handled_ns, st.stops), per_stop(st.regs_ns, st.stops), per_stop(st.step_ns, st.stops),
	        st.emulated, st.steps, st.step_remove ? "breakpoint removed for it" : "in place",
	        st.hardware ? "hardware" : "software", st.return_sites, st.returns_by_address);
}

int cmd_trace(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		KERNEL_OPTIONS,
		{ "pid", required_argument, NULL, 'p' },
		{ "event", required_argument, NULL, 'e' },
		STREAM_OPTIONS,
		{ "gdb", required_argument, NULL, 'g' },
		{ "hw", no_argument, NULL, 'H' },
		{ "step-remove", no_argument, NULL, 'R' },
		{ "step-keep", no_argument, NULL, 'K' },
		{ "list", no_argument, NULL, 'L' },
		{ "cr3", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct kernel_args ka = { 0 };
	struct vms_tracer_opts to = { .sz = sizeof(to), .timeout_ms = g->timeout_ms };
	struct vms_trace_opts tro = { .sz = sizeof(tro) };
	struct trace_out out = { 0 };
	uint64_t v;
	double duration = 0;
	int c, list = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'C') { /* a filter here, not the kernel's address space */
			if (parse_u64(optarg, &tro.dtb) || tro.dtb == 0)
				die_usage("trace: bad --cr3 '%s'", optarg);
			continue;
		}
		if (kernel_opt(&ka, c) || stream_opt("trace", c, &out.count, &duration))
			continue;
		switch (c) {
		case 'L': list = 1; break;
		case 'p':
			if (parse_u64(optarg, &v) || v == 0 || v > INT32_MAX)
				die_usage("trace: bad pid '%s'", optarg);
			tro.pid = (int32_t)v;
			break;
		case 'e':
			if (parse_kinds(optarg, vms_tev_kind_parse, VMS_TEV_OPEN, VMS_TEV_RENAME, &tro.kinds))
				die_usage("trace: bad --event list '%s'", optarg);
			break;
		case 'g': to.gdb = optarg; break;
		case 'H': to.hardware = 1; break;
		case 'R': to.step_remove = 1; break;
		case 'K': to.step_remove = -1; break;
		case 'h': fputs(usage_trace, stdout); return 0;
		default: die_usage("trace: bad option");
		}
	}
	int calls = optind < argc && strcmp(argv[optind], "calls") == 0;
	if (calls ? optind + 1 >= argc
	          : optind + 1 != argc || (strcmp(argv[optind], "files") && strcmp(argv[optind], "syscalls")))
		die_usage("trace: say what to trace: `trace files`, `trace syscalls` or `trace calls SYMBOL...`");
	int syscalls = strcmp(argv[optind], "syscalls") == 0;
	if (strcmp(argv[optind], "files") && tro.kinds)
		die_usage("trace: --event is for `trace files`");
	if (calls && argc - optind - 1 > 64)
		die_usage("trace: at most 64 functions");
	if (list && !syscalls)
		die_usage("trace: --list is for `trace syscalls`");
	struct vms_target *t;
	struct vms_kernel *k;
	if (open_kernel(g, &ka, &t, &k))
		return 1;
	if (list) {
		int lrc = vms_syscall_names(k, print_syscall_name, NULL);
		if (lrc)
			lrc = fail("%s", vms_errmsg(t));
		close_kernel(t, k);
		return lrc;
	}
	char err[1024] = "";
	to.kernel = k;
	to.errbuf = err;
	to.errbuf_len = sizeof(err);
	struct vms_tracer *tr;
	if (vms_tracer_open(t, &to, &tr)) {
		close_kernel(t, k);
		return fail("%s", err);
	}
	struct call_probe cps[64];
	int rc = 0;
	if (calls) {
		struct vms_probe_opts po = {
			.sz = sizeof(po), .pid = tro.pid, .dtb = tro.dtb, .on_return = call_return
		};
		for (int i = optind + 1; i < argc && rc >= 0; i++) {
			cps[i - optind - 1] = (struct call_probe){ &out, argv[i] };
			rc = vms_tracer_probe(tr, argv[i], 0, &po, call_entry, &cps[i - optind - 1]);
		}
	} else {
		rc = syscalls ? vms_trace_syscalls(tr, k, &tro, print_trace_event, &out)
		              : vms_trace_files(tr, k, &tro, print_trace_event, &out);
	}
	rc = rc < 0 ? fail("%s", vms_tracer_errmsg(tr)) : trace_loop(g, tr, &out, duration, argv[optind]);
	print_trace_totals(tr, out.printed);
	int crc = vms_tracer_close(tr);
	trace_tracer = NULL;
	if (crc < 0 && rc == 0)
		rc = fail("detaching: some breakpoints may remain until QEMU drops them");
	close_kernel(t, k);
	return rc;
}
