/*
 * vmsight net: every socket with its holders, as ss -anp shows them. The
 * walk is vms_sockets (src/linux/net.c); this file formats its rows: the
 * addresses as text, a socket no process holds with pid null.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "view.h"

static const char usage_net[] =
        "usage: vmsight -t TARGET net [--pid N] [--listening] [--pause] [options]\n"
        "\n"
        "List every socket as ss -anp and /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix,\n"
        "packet} show them, from the kernel's own tables (TCP's established and\n"
        "listening hashes, UDP's, the raw and packet socket lists, the UNIX socket hash)\n"
        "and each process's file descriptors: protocol, state (the kernel's names:\n"
        "LISTEN, ESTABLISHED, SYN_SENT, TIME_WAIT, CLOSE, ...), receive and send queue,\n"
        "local and remote address and port, inode, and the process holding it (pid/fd\n"
        "and command). A socket held by several descriptors has a line for each; one no\n"
        "process holds (TIME_WAIT, not yet accepted, orphaned) shows \"-\". UNIX sockets\n"
        "show their path (\"@name\" abstract) and their peer's inode. Sockets held by\n"
        "processes but in no table (another network namespace, netlink, unbound) come\n"
        "last.\n"
        "\n"
        "  --pid N           only the sockets process N holds\n"
        "  -l, --listening   only listening sockets (as ss -l: LISTEN, and datagram\n"
        "                    sockets that are not connected)\n"
        "%s"
        "%s"
        "\n"
        "JSON, one object per socket and holder: {proto,state,local_addr,local_port,\n"
        "remote_addr,remote_port,rx_queue,tx_queue,inode,pid,fd,comm,type,protocol,\n"
        "addr}, UNIX sockets with path and peer_inode, packet sockets with ifindex;\n"
        "pid, fd and comm are null for a socket no process holds, ports null where the\n"
        "protocol has none (UNIX, packet, netlink); addresses are text (\"127.0.0.1\",\n"
        "\"::1\"); a raw socket's local_port is its IP protocol, as /proc/net/raw.\n";

static const char *type_name(int type)
{
	switch (type) {
	case 1: return "stream";
	case 2: return "dgram";
	case 3: return "raw";
	case 4: return "rdm";
	case 5: return "seqpacket";
	case 10: return "packet";
	default: return "unknown";
	}
}

static int has_ports(const struct vms_socket *s)
{
	return s->family == 2 || s->family == 10;
}

/* ADDR:PORT as ss prints it: [v6]:port, "*" for an unset port. */
static void endpoint(char *buf, size_t len, const char *addr, int32_t port, int v6)
{
	char p[16];
	if (port > 0)
		snprintf(p, sizeof(p), "%d", port);
	else
		snprintf(p, sizeof(p), "*");
	snprintf(buf, len, v6 ? "[%s]:%s" : "%s:%s", addr, p);
}

static int net_row(void *ctx, const struct vms_socket *s)
{
	(void)ctx;
	if (view_stopped())
		return 1;
	char local[INET6_ADDRSTRLEN] = "", remote[INET6_ADDRSTRLEN] = "", holder[48] = "-";
	int v6 = s->family == 10;
	out_begin();
	out_str("proto", "%-7s ", s->proto);
	if (s->flags & VMS_ENTRY_UNREADABLE) {
		out_null("state");
		out_bool("unreadable", 1);
		out_text("(struct sock at 0x%llx unreadable) ", (unsigned long long)s->addr);
	} else {
		out_str("state", "%-12s ", s->state_name);
		out_uint("rx_queue", "%6llu ", s->rx_queue);
		out_uint("tx_queue", "%6llu ", s->tx_queue);
	}
	if (has_ports(s)) {
		char l[80], r[80];
		inet_ntop(v6 ? AF_INET6 : AF_INET, s->local_ip, local, sizeof(local));
		inet_ntop(v6 ? AF_INET6 : AF_INET, s->remote_ip, remote, sizeof(remote));
		out_str("local_addr", NULL, local);
		out_int("local_port", NULL, s->local_port);
		out_str("remote_addr", NULL, remote);
		out_int("remote_port", NULL, s->remote_port);
		endpoint(l, sizeof(l), local, s->local_port, v6);
		endpoint(r, sizeof(r), remote, s->remote_port, v6);
		out_text("%-40s %-40s ", l, r);
	} else if (s->family == 1) {
		out_guest("local_addr", NULL, s->path);
		out_null("local_port");
		out_null("remote_addr");
		out_null("remote_port");
		out_guest("path", NULL, s->path);
		out_uint("peer_inode", NULL, s->peer_ino);
		out_guest(NULL, "%-40s ", s->path[0] ? s->path : "*");
		if (s->peer_ino)
			out_text("* %-38llu ", (unsigned long long)s->peer_ino);
		else
			out_text("%-40s ", "*");
	} else {
		out_null("local_addr");
		out_null("local_port");
		out_null("remote_addr");
		out_null("remote_port");
		if (s->family == 17) {
			out_int("ifindex", NULL, s->ifindex);
			snprintf(local, sizeof(local), "proto 0x%04x if %d", (unsigned)s->protocol, s->ifindex);
		} else {
			snprintf(local, sizeof(local), "family %d proto %d", s->family, s->protocol);
		}
		out_text("%-40s %-40s ", local, "*");
	}
	out_uint("inode", "%8llu ", s->ino);
	if (s->pid) {
		out_int("pid", NULL, s->pid);
		out_int("fd", NULL, s->fd);
		out_guest("comm", NULL, s->comm);
		snprintf(holder, sizeof(holder), "%d/%d", s->pid, s->fd);
		out_text("%-12s ", holder);
		out_guest(NULL, "%s", s->comm);
	} else {
		out_null("pid");
		out_null("fd");
		out_null("comm");
		out_text("%-12s -", holder);
	}
	out_str("type", NULL, type_name(s->type));
	out_int("protocol", NULL, s->protocol);
	out_hex("addr", NULL, s->addr);
	out_end();
	return 0;
}

int cmd_net(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		VIEW_OPTIONS, { "pid", required_argument, NULL, 'p' }, { "listening", no_argument, NULL, 'l' }, { 0 }
	};
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_sockets_opts so = { .sz = sizeof(so), .stats = &st };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "hl", opts, NULL)) != -1) {
		if (view_opt(&a, c))
			continue;
		switch (c) {
		case 'p': so.pid = parse_pid("net", optarg); break;
		case 'l': so.listening = 1; break;
		case 'h': printf(usage_net, view_help, kernel_help); return 0;
		default: die_usage("net: bad option");
		}
	}
	if (optind != argc)
		die_usage("net: unexpected argument '%s'", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	out_text("%-7s %-12s %6s %6s %-40s %-40s %8s %-12s %s\n", "PROTO", "STATE", "RECV-Q", "SEND-Q", "LOCAL", "PEER",
	         "INODE", "PID/FD", "COMMAND");
	int rc = vms_sockets(v.k, &so, net_row, NULL);
	return view_close(&v, view_result(&v, rc, "sockets", &st));
}
