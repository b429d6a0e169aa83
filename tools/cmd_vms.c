/*
 * vms: the libvirt domains of a host and what vmsight can use on each —
 * the memory source it would pick (by opening it as -t libvirt:NAME does),
 * QMP through libvirt, vmsight-agent's devices, the GDB stub — and, where
 * guest RAM is not shared, what to add to the domain's XML for the
 * zero-copy source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "ctl/libvirt.h"

static const char usage_vms[] =
        "usage: vmsight vms [--uri URI] [--running]\n"
        "\n"
        "List the libvirt domains at URI (default qemu:///system) and what vmsight can\n"
        "use on each: its state, QEMU's pid, memory size, the memory source vmsight picks\n"
        "(shm: guest RAM mapped read-only, zero copy; procmem: read from QEMU's process),\n"
        "QMP through libvirt, vmsight-agent's devices (ivshmem-plain, isa-debugcon) and\n"
        "QEMU's GDB stub (`trace` starts one of its own on a domain without). Domains\n"
        "whose RAM is not shared get the XML that makes it so (a restart applies it).\n"
        "\n"
        "  --uri URI     libvirt connection URI\n"
        "  --running     running domains only\n"
        "\n"
        "JSON, one object per domain: {vm,state,pid,memory_mib,source,qmp,gdb_port,agent,\n"
        "zero_copy,xml_hint} (source null when shut off; gdb_port 0 when none).\n";

static const char hint_xml[] = "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>";

/* The source vmsight picks on a running domain, or the reason it has none. */
static void pick_source(const struct globals *g, const char *name, const char *uri, char *src, size_t len)
{
	char target[600], err[1024] = "";
	struct vms_target *t;
	snprintf(target, sizeof(target), "libvirt:%s@%s", name, uri);
	struct vms_open_opts o = {
		.sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err), .timeout_ms = g->timeout_ms
	};
	if (vms_open(target, &o, &t) == 0) {
		snprintf(src, len, "%s", vms_source_name(t));
		vms_close(t);
	} else {
		snprintf(src, len, "error: %s", err);
	}
}

int cmd_vms(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uri", required_argument, NULL, 'u' },
		{ "running", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *uri = LIBVIRT_DEFAULT_URI;
	int running = 0, c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': uri = optarg; break;
		case 'r': running = 1; break;
		case 'h': fputs(usage_vms, stdout); return 0;
		default: die_usage("vms: bad option");
		}
	}
	if (optind < argc)
		die_usage("vms takes no arguments");
	struct libvirt_domain *d;
	size_t n;
	char err[1024];
	if (libvirt_list(uri, LIBVIRT_LIST_DETAIL | (running ? LIBVIRT_LIST_ACTIVE : 0), &d, &n, err, sizeof(err)))
		return fail("%s", err);
	out_text("%-20s %-8s %8s %7s %-8s %-8s %-6s %-18s\n", "NAME", "STATE", "PID", "MEM", "SOURCE", "QMP", "GDB",
	         "AGENT");
	for (size_t i = 0; i < n; i++) {
		const struct libvirt_domain *e = &d[i];
		char src[1100] = "", agent[32], gdb[16];
		int zero_copy = e->mem_shared && (e->mem_memfd || e->mem_file);
		if (e->active)
			pick_source(g, e->name, uri, src, sizeof(src));
		snprintf(agent, sizeof(agent), "%s%s%s", e->has_ivshmem ? "ivshmem" : "",
		         e->has_ivshmem && e->has_debugcon ? "," : "", e->has_debugcon ? "debugcon" : "");
		if (e->gdb_port > 0)
			snprintf(gdb, sizeof(gdb), "%d", e->gdb_port);
		else
			snprintf(gdb, sizeof(gdb), "%s", e->active ? "none" : "-");
		out_begin();
		out_str("vm", "%-20s ", e->name);
		out_str("state", "%-8s ", !e->active ? "shut off" : e->paused ? "paused" : "running");
		out_int("pid", "%8lld ", e->pid);
		out_uint("memory_mib", "%6lluM ", e->mem_kib >> 10);
		if (e->active && strncmp(src, "error: ", 7) != 0)
			out_str("source", "%-8s ", src);
		else
			out_null("source"), out_text("%-8s ", "-");
		out_str("qmp", "%-8s ", e->active ? "libvirt" : "-");
		out_int("gdb_port", NULL, e->gdb_port > 0 ? e->gdb_port : 0);
		out_text("%-6s ", gdb);
		out_str("agent", "%-18s", agent[0] ? agent : "-");
		out_bool("zero_copy", zero_copy);
		out_str("xml_hint", NULL, zero_copy ? "" : hint_xml);
		if (e->active && strncmp(src, "error: ", 7) == 0)
			out_str("error", "\n    %s", src + 7);
		if (!zero_copy)
			out_text("\n    zero copy: add %s to the domain (virsh edit %s; applies at the next start)",
			         hint_xml, e->name);
		out_end();
	}
	free(d);
	return 0;
}
