/*
 * vmsight — the command-line tool over libvmsight.
 *
 * This file holds main: the global options, then the command table. Each
 * group of commands lives in its own cmd_*.c file, prints through the one
 * output writer (out.c: a human table by default, with --json one JSON
 * object per line, all escaping there) and shares option groups, errors
 * and signals through cli.c. No introspection logic lives in tools/.
 * Exit status: 0 success, 1 the operation failed, 2 bad usage (check: 3
 * when it found something).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "multi.h"

static const char usage_main[] =
        "usage: vmsight [-t TARGET] [--source NAME] [--json] [-v] COMMAND [ARGS]\n"
        "\n"
        "Look inside a running QEMU/KVM virtual machine from the outside.\n"
        "\n"
        "Targets (-t, or the VMSIGHT_TARGET environment variable):\n"
        "  qmp:PATH        QEMU's QMP unix socket; finds the RAM file or process through it\n"
        "  libvirt:NAME    a libvirt domain as it is: QMP through libvirt (NAME@URI; default\n"
        "                  qemu:///system); libvirt:* every running domain, libvirt:a,b a list\n"
        "  pid:N           a running QEMU process, read through /proc (root)\n"
        "  gdb:HOST:PORT   QEMU's GDB stub (QEMU pauses the guest while attached)\n"
        "  dump:FILE       raw image, ELF core (dump-guest-memory, vmsight dump) or LiME\n"
        "\n"
        "Options:\n"
        "  -t, --target TARGET   what to attach to\n"
        "      --source NAME     force a memory source: shm, procmem, gdb, qmp, dump\n"
        "      --json            JSON output, one object per line\n"
        "      --timeout MS      wait at most MS for QEMU's replies (default 10000)\n"
        "  -v, --verbose         say which memory source was picked and why\n"
        "  -h, --help            this text; `vmsight COMMAND --help` for a command\n"
        "      --version         print the version\n"
        "\n"
        "Commands:\n"
        "  info                  memory source, RAM layout, vCPUs and paging mode\n"
        "  read --pa ADDR LEN    read guest-physical memory (hexdump, or --raw)\n"
        "  read --va ADDR LEN    read virtual memory (default: vCPU 0's address space)\n"
        "  translate VA...       virtual to guest-physical address, page size, permissions\n"
        "  va-ranges             the mapped virtual memory of an address space\n"
        "  kernel                find the Linux kernel: KASLR offsets, CR3, symbols, BTF\n"
        "  symbols [GLOB]        the kernel's symbols (address, type, name)\n"
        "  btf TYPE [MEMBER...]  size of a kernel struct and offsets of its members\n"
        "  read --sym NAME LEN   read kernel memory at a symbol\n"
        "  profile --isf FILE    write the kernel's profile as a Volatility 3 ISF file\n"
        "  dump -o FILE          write all guest RAM to FILE (--format raw|elf)\n"
        "  watch files           file events from vmsight-agent in the guest, as they happen\n"
        "  trace files|syscalls  file activity or system calls, agentless (GDB stub breakpoints)\n"
        "  snapshot -o FILE      consistent snapshot (--mode pause|background|live), --diff A B\n"
        "  ps [-T] [--tree]      processes (and threads): ids, state, start, command line\n"
        "  lsmod                 kernel modules: name, base, size, state, taint; hidden ones\n"
        "  lsof [PID]            open files: fd, path, type, flags, position\n"
        "  maps [PID]            memory maps, as /proc/PID/maps\n"
        "  dmesg                 the kernel log, from the printk ring buffer\n"
        "  check [--only LIST]   integrity checks: hooked system calls and IDT, patched\n"
        "                        functions, hidden modules and processes (exit 3: findings)\n"
        "  net [--pid N] [-l]    sockets (TCP, UDP, raw, packet, UNIX) and their processes, as ss -anp\n"
        "  vms                   libvirt domains and what vmsight can use on each\n";

static const struct {
	const char *name;
	cmd_fn run;
} commands[] = {
	{ "info", cmd_info },
	{ "read", cmd_read },
	{ "translate", cmd_translate },
	{ "va-ranges", cmd_va_ranges },
	{ "kernel", cmd_kernel },
	{ "symbols", cmd_symbols },
	{ "btf", cmd_btf },
	{ "profile", cmd_profile },
	{ "dump", cmd_dump },
	{ "watch", cmd_watch },
	{ "trace", cmd_trace },
	{ "snapshot", cmd_snapshot },
	{ "ps", cmd_ps },
	{ "lsmod", cmd_lsmod },
	{ "lsof", cmd_lsof },
	{ "maps", cmd_maps },
	{ "dmesg", cmd_dmesg },
	{ "check", cmd_check },
	{ "net", cmd_net },
	{ "vms", cmd_vms },
};

int main(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	/* clang-format on */
	struct globals g = { .target = getenv("VMSIGHT_TARGET") };
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "+t:vh", opts, NULL)) != -1) {
		switch (c) {
		case 't': g.target = optarg; break;
		case 's': g.source = optarg; break;
		case 'j': g.json = 1; break;
		case 'v': g.verbose = 1; break;
		case 'T':
			if (parse_u64(optarg, &v) || v == 0 || v > 3600000)
				die_usage("--timeout takes milliseconds between 1 and 3600000");
			g.timeout_ms = (unsigned)v;
			break;
		case 'h': fputs(usage_main, stdout); return 0;
		case 'V': printf("vmsight %d.%d\n", VMS_VERSION_MAJOR, VMS_VERSION_MINOR); return 0;
		default: die_usage("bad option");
		}
	}
	if (optind >= argc)
		die_usage("no command given");
	out_init(g.json);
	const char *cmd = argv[optind];
	/* Global options may also follow the command name (vmsight info --json). */
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	int kept = 1;
	for (int i = 1; i < sub_argc; i++) {
		if (strcmp(sub_argv[i], "--json") == 0)
			g.json = 1;
		else if (strcmp(sub_argv[i], "-v") == 0 || strcmp(sub_argv[i], "--verbose") == 0)
			g.verbose = 1;
		else if ((strcmp(sub_argv[i], "-t") == 0 || strcmp(sub_argv[i], "--target") == 0) && i + 1 < sub_argc)
			g.target = sub_argv[++i];
		else if (strcmp(sub_argv[i], "--source") == 0 && i + 1 < sub_argc)
			g.source = sub_argv[++i];
		else
			sub_argv[kept++] = sub_argv[i];
	}
	sub_argc = kept;
	sub_argv[sub_argc] = NULL;
	out_init(g.json);
	int help = 0;
	for (int i = 1; i < sub_argc; i++)
		help |= strcmp(sub_argv[i], "--help") == 0 || strcmp(sub_argv[i], "-h") == 0;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name) != 0)
			continue;
		/* libvirt:* and libvirt:a,b: the command once per domain, at once */
		if (!help && commands[i].run != cmd_vms && multi_target(g.target))
			return multi_run(&g, cmd, commands[i].run, sub_argc, sub_argv);
		return commands[i].run(&g, sub_argc, sub_argv);
	}
	die_usage("unknown command '%s'", cmd);
}
