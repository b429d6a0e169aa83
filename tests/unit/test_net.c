/* vms_sockets over the fake kernel (fake_kernel.h, fk_net): the tables and
 * the holders joined, and hostile tables — a cycle, a wild pointer, a
 * back link that does not hold, an absurd table size — met with clean
 * errors, in bounded time, the other sockets still reported. */
#include <stdio.h>

#include "check.h"
#include "fake_kernel.h"

struct row {
	uint64_t addr;
	char proto[8], state[16];
	int32_t lport, rport, pid, fd;
	uint32_t rx, tx;
	uint64_t ino;
	uint8_t lip[16];
	char comm[16];
	uint32_t flags;
};

struct rows {
	unsigned n;
	struct row r[64];
};

static int on_socket(void *ctx, const struct vms_socket *s)
{
	struct rows *c = ctx;
	if (c->n >= 64)
		return 1;
	struct row *r = &c->r[c->n++];
	r->addr = s->addr;
	snprintf(r->proto, sizeof(r->proto), "%s", s->proto);
	snprintf(r->state, sizeof(r->state), "%s", s->state_name);
	r->lport = s->local_port;
	r->rport = s->remote_port;
	r->pid = s->pid;
	r->fd = s->fd;
	r->rx = s->rx_queue;
	r->tx = s->tx_queue;
	r->ino = s->ino;
	memcpy(r->lip, s->local_ip, 16);
	memcpy(r->comm, s->comm, 16);
	r->flags = s->flags;
	return 0;
}

static const struct row *find(const struct rows *c, uint64_t addr, int32_t pid)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->r[i].addr == addr && c->r[i].pid == pid)
			return &c->r[i];
	return NULL;
}

static int count(const struct rows *c, uint64_t addr)
{
	int n = 0;
	for (unsigned i = 0; i < c->n; i++)
		n += c->r[i].addr == addr;
	return n;
}

static void test_sockets(void)
{
	struct fk *f = fk_build(0);
	fk_net(f);
	struct rows c = { 0 };
	struct vms_view_stats st;
	struct vms_sockets_opts o = { .sz = sizeof(o), .stats = &st };
	CHECK(vms_sockets(f->k, &o, on_socket, &c) == 0);
	/* listener, est (twice: two holders), tw, udp, then the netlink one. */
	CHECK(c.n == 6 && st.entries == 6 && st.unreadable == 0);
	const struct row *r = find(&c, f->listener, 1);
	CHECK(r && !strcmp(r->proto, "tcp") && !strcmp(r->state, "LISTEN") && r->lport == 80 && r->fd == 5 &&
	      r->ino == 9001 && r->rx == 2 && !strcmp(r->comm, "init"));
	CHECK(c.r[0].addr == f->listener); /* the listening hash comes first, as /proc/net/tcp */
	r = find(&c, f->est, 1);
	CHECK(r && !strcmp(r->proto, "tcp6") && !strcmp(r->state, "ESTABLISHED") && r->lport == 4000 &&
	      r->rport == 80 && r->fd == 6 && r->ino == 9002 && r->rx == 10 && r->tx == 7 && r->lip[15] == 1);
	r = find(&c, f->est, 42);
	CHECK(r && r->fd == 3 && !strcmp(r->comm, "worker-proc"));
	r = find(&c, f->tw, 0);
	CHECK(r && !strcmp(r->proto, "tcp") && !strcmp(r->state, "TIME_WAIT") && r->ino == 0 && r->fd == -1 &&
	      r->rport == 5555 && r->lip[0] == 127 && r->lip[3] == 1);
	r = find(&c, f->udp, 0);
	CHECK(r && !strcmp(r->proto, "udp") && !strcmp(r->state, "CLOSE") && r->lport == 53 && r->ino == 9003);
	CHECK(c.r[5].addr == f->nl && !strcmp(c.r[5].proto, "netlink") && c.r[5].pid == 42 && c.r[5].fd == 4);

	/* --pid: that process's descriptors only. */
	memset(&c, 0, sizeof(c));
	o.pid = 42;
	CHECK(vms_sockets(f->k, &o, on_socket, &c) == 0 && c.n == 2 && find(&c, f->est, 42) && find(&c, f->nl, 42));
	/* --listening: the listener and the unconnected datagram socket. */
	memset(&c, 0, sizeof(c));
	o.pid = 0;
	o.listening = 1;
	CHECK(vms_sockets(f->k, &o, on_socket, &c) == 0 && c.n == 3 && find(&c, f->listener, 1) &&
	      find(&c, f->udp, 0) && find(&c, f->nl, 42));
	/* max_entries bounds what is reported. */
	memset(&c, 0, sizeof(c));
	struct vms_sockets_opts m = { .sz = sizeof(m), .max_entries = 5 };
	CHECK(vms_sockets(f->k, &m, on_socket, &c) == -E2BIG && c.n == 5);
	fk_free(f);
}

/* Hostile tables: each run must end with an error, every socket outside
 * the broken chain still reported. */
static void test_hostile(void)
{
	struct fk *f = fk_build(0);
	fk_net(f);
	uint64_t node = fk_off(f, "sock", "__sk_common.skc_node");
	struct rows c;

	/* A cycle: tw's next back to est (est's pprev is the bucket: the back
	 * link fails on the second visit). */
	uint64_t tw_next = fk_get64(f->tw + node);
	fk_put64(f->tw + node, f->est + node);
	memset(&c, 0, sizeof(c));
	int rc = vms_sockets(f->k, NULL, on_socket, &c);
	CHECK(rc == -EIO || rc == -ELOOP);
	CHECK(count(&c, f->est) == 2 && count(&c, f->tw) == 1 && find(&c, f->listener, 1) && find(&c, f->udp, 0) &&
	      find(&c, f->nl, 42));
	CHECK(strstr(vms_errmsg(f->t), "tcp established hash") != NULL);

	/* A self loop with a back link that agrees: Brent's check ends it. */
	fk_put64(f->tw + node, f->tw + node);
	fk_put64(f->tw + node + 8, f->tw + node);
	fk_put64(f->est + node, f->tw + node);
	memset(&c, 0, sizeof(c));
	rc = vms_sockets(f->k, NULL, on_socket, &c);
	CHECK(rc == -EIO || rc == -ELOOP);
	CHECK(find(&c, f->udp, 0) && find(&c, f->listener, 1));
	fk_put64(f->est + node, f->tw + node);
	fk_put64(f->tw + node + 8, f->est + node);
	fk_put64(f->tw + node, tw_next);

	/* A wild pointer in the listening hash: the listener is not in a
	 * table any more, but its holder still reports it (last). */
	uint64_t lfirst = fk_get64(f->lhash2 + 16 + 8);
	fk_put64(f->lhash2 + 16 + 8, 0x1234);
	memset(&c, 0, sizeof(c));
	rc = vms_sockets(f->k, NULL, on_socket, &c);
	CHECK(rc == -EIO && find(&c, f->listener, 1) && c.r[c.n - 2].addr == f->listener);
	CHECK(find(&c, f->tw, 0) && find(&c, f->udp, 0));
	fk_put64(f->lhash2 + 16 + 8, 0xffff888000000000ull + 0x7fff0); /* kernel, but not a node */
	memset(&c, 0, sizeof(c));
	CHECK(vms_sockets(f->k, NULL, on_socket, &c) == -EIO && find(&c, f->listener, 1));
	fk_put64(f->lhash2 + 16 + 8, lfirst);

	/* An absurd table: ehash_mask 2^32-1 is refused, not walked. */
	uint64_t hi;
	CHECK(vms_sym_lookup(f->k, "tcp_hashinfo", &hi) == 0);
	fk_put(f, hi, "inet_hashinfo", "ehash_mask", 0xffffffffu);
	memset(&c, 0, sizeof(c));
	CHECK(vms_sockets(f->k, NULL, on_socket, &c) == -EIO && find(&c, f->listener, 1) && find(&c, f->udp, 0));
	CHECK(strstr(vms_errmsg(f->t), "not plausible") != NULL);
	fk_put(f, hi, "inet_hashinfo", "ehash_mask", 7);

	/* A socket file whose struct socket does not point back: not a socket. */
	memset(&c, 0, sizeof(c));
	uint64_t sa = fk_get64(f->nl + fk_off(f, "sock", "sk_socket"));
	fk_put(f, sa, "socket", "file", 0);
	CHECK(vms_sockets(f->k, NULL, on_socket, &c) == 0 && count(&c, f->nl) == 0 && c.n == 5);

	/* A sock that can not be read, held by a process: reported unreadable. */
	uint64_t files42 = fk_get64(f->p42 + fk_off(f, "task_struct", "files"));
	uint64_t fdt42 = fk_get64(files42 + fk_off(f, "files_struct", "fdt"));
	uint64_t file4 = fk_get64(fk_get64(fdt42 + fk_off(f, "fdtable", "fd")) + 8 * 4);
	fk_put(f, sa, "socket", "file", file4);
	fk_put(f, f->nl, "sock", "__sk_common.skc_family", 10); /* AF_INET6 as a mini socket: not one */
	fk_put(f, sa, "socket", "sk", 0xffff888000000000ull + (100ull << 20) + 4000); /* past RAM */
	memset(&c, 0, sizeof(c));
	CHECK(vms_sockets(f->k, NULL, on_socket, &c) == 0 && c.n == 6 && (c.r[5].flags & VMS_ENTRY_UNREADABLE) &&
	      c.r[5].pid == 42 && c.r[5].fd == 4);
	fk_free(f);
}

int main(void)
{
	test_sockets();
	test_hostile();
	return check_report("net");
}
