/*
 * Sockets (vms_sockets): what ss -anp and /proc/net/{tcp,udp,raw,unix,
 * packet} show, read from the kernel's own tables and each process's
 * descriptors.
 *
 * Two passes. First every process's file descriptor table: a descriptor
 * whose struct file has the socket file operations (or a socket inode)
 * leads through file->private_data to its struct socket and its sock; the
 * holders are kept, sorted by sock. Then the kernel's tables, in the order
 * /proc/net shows them: TCP's established hash (tcp_hashinfo.ehash, which
 * also holds TIME_WAIT and SYN_RECV mini sockets) and listening hash
 * (lhash2), UDP's hash by port (udp_table.hash), the raw sockets
 * (raw_v4/v6_hashinfo.ht), init_net's packet sockets (packet.sklist) and
 * UNIX sockets (unx.table.buckets). Each sock found is reported with its
 * holders, or with pid 0 when it has none. Sockets a process holds that no
 * table walked contains (another namespace, netlink, not yet bound) follow.
 * With a pid only that process's descriptors are read: no table at all.
 *
 * The tables' chains are hlist (NULL-terminated) or hlist_nulls (ending in
 * an odd "nulls" value) lists, both linked through sock_common.skc_node.
 * Every link is checked like lx_list_next does a list_head's: the next
 * node a kernel pointer whose pprev points back at the link we came from,
 * Brent's cycle detection, a bound per chain and one over the whole walk.
 * A chain that fails is left (its error kept, the first one returned at
 * the end) and the walk goes on with the next bucket: one corrupt bucket
 * does not hide the others. Table sizes come from the guest and are
 * clamped; only UNIX_HASH_SIZE (512 buckets since Linux 6.0) is not in the
 * kernel's types.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"
#include "util/opts.h"

#define SOCKETS_MAX_DEFAULT (1u << 20)
#define BUCKET_CHUNK 4096      /* bytes of bucket array read at once */
#define BUCKETS_MAX (1u << 26) /* more than any kernel sizes a socket hash */
#define CHAIN_MAX (1u << 16)   /* sockets in one bucket */
#define UNIX_HASH_SIZE 512     /* include/net/af_unix.h, 6.0 and later */

/* The guest's constants (Linux's, whatever the host). */
enum { G_AF_UNIX = 1, G_AF_INET = 2, G_AF_INET6 = 10, G_AF_NETLINK = 16, G_AF_PACKET = 17 };
enum { G_SOCK_STREAM = 1, G_SOCK_DGRAM = 2, G_SOCK_RAW = 3, G_SOCK_SEQPACKET = 5 };
enum { G_TCP_SYN_RECV = 3, G_TCP_TIME_WAIT = 6, G_TCP_CLOSE = 7, G_TCP_LISTEN = 10, G_TCP_NEW_SYN_RECV = 12 };
enum { G_IPPROTO_ICMP = 1, G_IPPROTO_TCP = 6, G_IPPROTO_UDP = 17, G_IPPROTO_ICMPV6 = 58, G_IPPROTO_UDPLITE = 136 };

struct holder {
	uint64_t sk;
	int32_t pid, fd;
	char comm[16];
	int seen;
};

struct net_walk {
	struct lx_walk w;
	struct vms_sockets_opts o;
	vms_socket_fn fn;
	void *ctx;
	struct holder *h; /* in the order found */
	size_t nh, cap;
	struct key {
		uint64_t sk;
		uint32_t i; /* into h */
	} * by_sk;          /* sorted by sk, then i */
	unsigned visited;   /* chain nodes, over the whole walk */
	int first_err;
	char first_msg[1024];
	char path[112];
	uint8_t com[LX_OBJ_MAX], sk[LX_OBJ_MAX], proto[LX_OBJ_MAX];
};

static const char *const tcp_state_names[] = {
	"UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",    "TIME_WAIT",
	"CLOSE",   "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV", "BOUND_INACTIVE",
};

static const char *state_name(int state)
{
	if (state > 0 && state < (int)(sizeof(tcp_state_names) / sizeof(tcp_state_names[0])))
		return tcp_state_names[state];
	return "UNKNOWN";
}

/* Keep the first error of the walk; later ones only count. */
static int keep_err(struct net_walk *nw, int rc)
{
	if (rc < 0 && !nw->first_err) {
		nw->first_err = rc;
		snprintf(nw->first_msg, sizeof(nw->first_msg), "%s", nw->w.t->err);
	}
	return rc;
}

/* ---- one socket ----------------------------------------------------------------- */

static uint16_t be16(uint64_t v)
{
	return (uint16_t)(((v & 0xff) << 8) | ((v >> 8) & 0xff));
}

static int32_t s32(const uint8_t *obj, struct lx_member m)
{
	return (int32_t)lx_get_s32(obj, m);
}

static void inet_part(struct net_walk *nw, struct vms_socket *s, int v6)
{
	const struct lx_layout *L = nw->w.lay;
	if (v6 && L->sk_v6_daddr.size) {
		memcpy(s->local_ip, nw->com + L->sk_v6_rcv_saddr.off, 16);
		memcpy(s->remote_ip, nw->com + L->sk_v6_daddr.off, 16);
	} else if (!v6) {
		memcpy(s->local_ip, nw->com + L->sk_rcv_saddr.off, 4);
		memcpy(s->remote_ip, nw->com + L->sk_daddr.off, 4);
	}
	s->local_port = (int32_t)lx_get(nw->com, L->sk_num);
	s->remote_port = be16(lx_get(nw->com, L->sk_dport));
}

/* The inode of the struct socket at SOCK (0 if none or unreadable). */
static uint64_t socket_ino(struct net_walk *nw, uint64_t sock)
{
	uint64_t ino = 0;
	if (!lx_kptr(&nw->w, sock, 8) || lx_read_u64(&nw->w, sock + nw->w.lay->socket_ino.off, &ino))
		return 0;
	return ino;
}

static void unix_part(struct net_walk *nw, uint64_t sk, struct vms_socket *s)
{
	struct lx_walk *w = &nw->w;
	const struct lx_layout *L = w->lay;
	s->proto = "unix";
	if (!L->unix_addr.size || lx_read_plan(w, &L->unix_plan, sk, nw->proto))
		return;
	uint64_t addr = lx_get(nw->proto, L->unix_addr), peer = lx_get(nw->proto, L->unix_peer);
	int32_t len;
	if (lx_kptr(w, addr, 4) && lx_read(w, addr + L->unix_addr_len.off, &len, 4) == 0 && len > 2) {
		/* len counts sun_family (2 bytes) and, for a path, maybe its NUL. */
		size_t n = (size_t)len - 2, max = L->unix_addr_path.size;
		char raw[108];
		if (n > max)
			n = max;
		if (n > sizeof(raw))
			n = sizeof(raw);
		if (lx_read(w, addr + L->unix_addr_path.off, raw, n) == 0) {
			if (raw[0] == '\0') { /* abstract: shown as /proc/net/unix does, '@' for each NUL */
				for (size_t i = 0; i < n; i++)
					nw->path[i] = raw[i] ? raw[i] : '@';
				nw->path[n] = '\0';
			} else {
				size_t l = strnlen(raw, n);
				memcpy(nw->path, raw, l);
				nw->path[l] = '\0';
			}
			s->path = nw->path;
		}
	}
	uint64_t psock;
	if (lx_kptr(w, peer, 8) && lx_read_u64(w, peer + L->sk_socket.off, &psock) == 0)
		s->peer_ino = socket_ino(nw, psock);
	if (s->state == G_TCP_LISTEN) {
		s->rx_queue = (uint32_t)lx_get(nw->sk, L->sk_ack_backlog);
		s->tx_queue = (uint32_t)lx_get(nw->sk, L->sk_max_ack_backlog);
	} else {
		s->rx_queue = (uint32_t)lx_get(nw->sk, L->sk_rcv_qlen);
		int32_t wmem = s32(nw->sk, L->sk_wmem_alloc);
		s->tx_queue = wmem > 1 ? (uint32_t)(wmem - 1) : 0;
	}
}

/* The datagram queues, as /proc/net/udp and raw print them. */
static void dgram_queues(struct net_walk *nw, uint64_t sk, struct vms_socket *s, int udp)
{
	const struct lx_layout *L = nw->w.lay;
	int32_t rmem = s32(nw->sk, L->sk_rmem_alloc), wmem = s32(nw->sk, L->sk_wmem_alloc), deficit = 0;
	if (udp && L->udp_forward_deficit.size == 4)
		lx_read(&nw->w, sk + L->udp_forward_deficit.off, &deficit, 4);
	rmem -= deficit;
	s->rx_queue = rmem > 0 ? (uint32_t)rmem : 0;
	s->tx_queue = wmem > 1 ? (uint32_t)(wmem - 1) : 0;
}

static int inet_full(struct net_walk *nw, uint64_t sk, struct vms_socket *s)
{
	const struct lx_layout *L = nw->w.lay;
	int v6 = s->family == G_AF_INET6;
	inet_part(nw, s, v6);
	if (s->type == G_SOCK_STREAM && s->protocol == G_IPPROTO_TCP) {
		s->proto = v6 ? "tcp6" : "tcp";
		if (s->state == G_TCP_LISTEN) {
			s->rx_queue = (uint32_t)lx_get(nw->sk, L->sk_ack_backlog);
		} else if (L->tcp_plan.n && lx_read_plan(&nw->w, &L->tcp_plan, sk, nw->proto) == 0) {
			int32_t rx = (int32_t)(uint32_t)(lx_get(nw->proto, L->tcp_rcv_nxt) -
			                                 lx_get(nw->proto, L->tcp_copied_seq));
			s->rx_queue = rx > 0 ? (uint32_t)rx : 0;
			s->tx_queue = (uint32_t)(lx_get(nw->proto, L->tcp_write_seq) -
			                         lx_get(nw->proto, L->tcp_snd_una));
		}
	} else if (s->type == G_SOCK_DGRAM && (s->protocol == G_IPPROTO_UDP || s->protocol == G_IPPROTO_UDPLITE)) {
		s->proto = v6 ? "udp6" : "udp";
		dgram_queues(nw, sk, s, 1);
	} else if (s->type == G_SOCK_RAW) {
		s->proto = v6 ? "raw6" : "raw";
		dgram_queues(nw, sk, s, 0);
	} else if (s->type == G_SOCK_DGRAM && (s->protocol == G_IPPROTO_ICMP || s->protocol == G_IPPROTO_ICMPV6)) {
		s->proto = v6 ? "icmp6" : "icmp";
		dgram_queues(nw, sk, s, 0);
	} else {
		s->proto = v6 ? "inet6" : "inet";
	}
	return 0;
}

/* The sock at SK into S (whose owner fields are the caller's). MINI: it
 * may be a TIME_WAIT or request mini socket (found in TCP's ehash), which
 * has nothing past its sock_common. */
static int sock_read(struct net_walk *nw, uint64_t sk, int mini, struct vms_socket *s)
{
	struct lx_walk *w = &nw->w;
	const struct lx_layout *L = w->lay;
	for (unsigned attempt = 0;; attempt++) {
		if (attempt) {
			if (attempt > w->retries)
				break;
			w->retried++;
		}
		s->proto = "unknown";
		s->state_name = "UNKNOWN";
		s->path = "";
		s->local_port = s->remote_port = -1;
		memset(s->local_ip, 0, 16);
		memset(s->remote_ip, 0, 16);
		s->rx_queue = s->tx_queue = 0;
		s->ino = s->peer_ino = 0;
		s->ifindex = 0;
		if (!lx_kptr(w, sk, 8) || lx_read_plan(w, &L->sk_common_plan, sk, nw->com))
			continue;
		s->family = (int)lx_get(nw->com, L->sk_family);
		s->state = (int)lx_get(nw->com, L->sk_state);
		if (mini && (s->state == G_TCP_TIME_WAIT || s->state == G_TCP_NEW_SYN_RECV)) {
			if (s->family != G_AF_INET && s->family != G_AF_INET6)
				continue;
			int v6 = s->family == G_AF_INET6;
			s->type = G_SOCK_STREAM;
			s->protocol = G_IPPROTO_TCP;
			s->proto = v6 ? "tcp6" : "tcp";
			inet_part(nw, s, v6);
			/* /proc/net/tcp: a request is SYN_RECV, a TIME_WAIT
			 * socket its substate (TIME_WAIT, or FIN_WAIT2). */
			if (s->state == G_TCP_NEW_SYN_RECV)
				s->state = G_TCP_SYN_RECV;
			else if (L->tw_substate.size)
				s->state = (int)lx_get(nw->com, L->tw_substate);
			s->state_name = state_name(s->state);
			return 0;
		}
		if (lx_read_plan(w, &L->sk_plan, sk, nw->sk))
			continue;
		s->type = (int)lx_get(nw->sk, L->sk_type);
		s->protocol = (int)lx_get(nw->sk, L->sk_protocol);
		s->state_name = state_name(s->state);
		s->ino = socket_ino(nw, lx_get(nw->sk, L->sk_socket));
		switch (s->family) {
		case G_AF_INET:
		case G_AF_INET6: inet_full(nw, sk, s); break;
		case G_AF_UNIX: unix_part(nw, sk, s); break;
		case G_AF_PACKET: {
			uint16_t num = 0;
			s->proto = "packet";
			if (L->packet_num.size == 2 && lx_read(w, sk + L->packet_num.off, &num, 2) == 0)
				s->protocol = be16(num);
			if (L->packet_ifindex.size == 4)
				lx_read(w, sk + L->packet_ifindex.off, &s->ifindex, 4);
			dgram_queues(nw, sk, s, 0);
			break;
		}
		case G_AF_NETLINK: s->proto = "netlink"; break;
		default: s->proto = "other"; break;
		}
		return 0;
	}
	w->unreadable++;
	s->flags |= VMS_ENTRY_UNREADABLE;
	return -EIO;
}

/* ---- reporting ---------------------------------------------------------------- */

static int wanted(const struct net_walk *nw, const struct vms_socket *s)
{
	if (!nw->o.listening)
		return 1;
	if (s->flags & VMS_ENTRY_UNREADABLE)
		return 0;
	if (s->state == G_TCP_LISTEN)
		return 1;
	/* ss -l: datagram sockets that are not connected listen too. */
	return s->state == G_TCP_CLOSE && s->type != G_SOCK_STREAM && s->type != G_SOCK_SEQPACKET;
}

static int report(struct net_walk *nw, struct vms_socket *s, const struct holder *h)
{
	struct lx_walk *w = &nw->w;
	s->pid = h ? h->pid : 0;
	s->fd = h ? h->fd : -1;
	memset(s->comm, 0, sizeof(s->comm));
	if (h)
		memcpy(s->comm, h->comm, sizeof(s->comm));
	if (w->entries >= w->max)
		return lx_fail(w, E2BIG, "more than %u sockets", w->max);
	w->entries++;
	return nw->fn(nw->ctx, s);
}

/* The first holder of SK in by_sk, or nh. */
static size_t holder_find(const struct net_walk *nw, uint64_t sk)
{
	size_t lo = 0, hi = nw->nh;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (nw->by_sk[mid].sk < sk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A sock found in a table: reported once per holder, or once alone. */
static int table_sock(struct net_walk *nw, uint64_t sk, int mini)
{
	struct vms_socket s = { .addr = sk };
	sock_read(nw, sk, mini, &s);
	size_t i = holder_find(nw, sk);
	int held = 0, rc;
	for (; i < nw->nh && nw->by_sk[i].sk == sk; i++) {
		struct holder *h = &nw->h[nw->by_sk[i].i];
		if (h->seen)
			continue; /* the same sock linked twice: a corrupt table */
		h->seen = held = 1;
		if (wanted(nw, &s) && (rc = report(nw, &s, h)))
			return rc;
	}
	if (!held && wanted(nw, &s) && (rc = report(nw, &s, NULL)))
		return rc;
	return 0;
}

/* ---- the tables ---------------------------------------------------------------- */

static int chain_end(uint64_t node)
{
	return node == 0 || (node & 1); /* hlist NULL, or an hlist_nulls end marker */
}

/* One bucket's chain from its head at HEAD (holding FIRST): each node is
 * the skc_node (or NODE_OFF) of a sock. */
static int walk_chain(struct net_walk *nw, const char *what, uint64_t head, uint64_t first, uint32_t node_off, int mini)
{
	struct lx_walk *w = &nw->w;
	uint64_t node = first, link = head, mark = 0, power = 1, lam = 0;
	unsigned steps = 0;
	while (!chain_end(node)) {
		uint64_t nl[2];
		unsigned attempt = 0;
		for (;;) {
			if (!lx_kptr(w, node, 8) || node < node_off)
				return lx_fail(w, EIO, "%s: bucket at 0x%llx leads to 0x%llx, not a kernel address",
				               what, (unsigned long long)head, (unsigned long long)node);
			if (lx_read(w, node, nl, sizeof(nl)) == 0 && nl[1] == link)
				break;
			if (attempt++ >= w->retries)
				return lx_fail(w, EIO,
				               "%s: bucket at 0x%llx: the link after 0x%llx does not hold (0x%llx does "
				               "not point back: changed while read, or corrupt)",
				               what, (unsigned long long)head, (unsigned long long)link,
				               (unsigned long long)node);
			w->retried++;
		}
		if (node == mark)
			return lx_fail(w, ELOOP, "%s: bucket at 0x%llx: a cycle through 0x%llx", what,
			               (unsigned long long)head, (unsigned long long)node);
		if (++lam == power) {
			mark = node;
			power *= 2;
			lam = 0;
		}
		if (++steps > CHAIN_MAX)
			return lx_fail(w, E2BIG, "%s: bucket at 0x%llx holds more than %u sockets", what,
			               (unsigned long long)head, CHAIN_MAX);
		if (++nw->visited > w->max)
			return lx_fail(w, E2BIG, "more than %u sockets in the kernel's tables", w->max);
		int rc = table_sock(nw, node - node_off, mini);
		if (rc)
			return rc;
		link = node;
		node = nl[0];
	}
	return 0;
}

/* A chain error is kept and the walk goes on; E2BIG over the whole walk,
 * or the caller's stop, ends it. */
static int chain_done(struct net_walk *nw, int rc)
{
	if (rc == 0)
		return 0;
	if (rc > 0 || (rc == -E2BIG && nw->visited > nw->w.max) || (rc == -E2BIG && nw->w.entries >= nw->w.max))
		return rc;
	keep_err(nw, rc);
	nw->w.unreadable++;
	return 0;
}

/* An array of COUNT buckets of STRIDE bytes at BASE, each with its chain
 * head at HEAD_OFF. */
static int walk_buckets(struct net_walk *nw, const char *what, uint64_t base, uint64_t count, uint64_t stride,
                        uint32_t head_off, uint32_t node_off, int mini)
{
	struct lx_walk *w = &nw->w;
	uint8_t chunk[BUCKET_CHUNK];
	if (!count)
		return 0;
	if (count > BUCKETS_MAX || !lx_kptr(w, base, 8) || base + count * stride < base) {
		keep_err(nw, lx_fail(w, EIO, "%s: a table of %llu buckets at 0x%llx is not plausible", what,
		                     (unsigned long long)count, (unsigned long long)base));
		return 0;
	}
	uint64_t per = BUCKET_CHUNK / stride;
	for (uint64_t i = 0; i < count; i += per) {
		uint64_t n = count - i < per ? count - i : per;
		uint64_t at = base + i * stride;
		if (lx_read(w, at, chunk, (size_t)(n * stride))) {
			keep_err(nw,
			         lx_fail(w, EIO, "%s: buckets at 0x%llx are unreadable", what, (unsigned long long)at));
			w->unreadable++;
			continue;
		}
		for (uint64_t j = 0; j < n; j++) {
			uint64_t first;
			memcpy(&first, chunk + j * stride + head_off, 8);
			if (chain_end(first))
				continue;
			int rc = chain_done(nw,
			                    walk_chain(nw, what, at + j * stride + head_off, first, node_off, mini));
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* A hash table described by a struct in the kernel: its bucket array
 * pointer at PTR_M and its mask (buckets - 1) at MASK_M. */
static int walk_hash(struct net_walk *nw, const char *what, uint64_t table, struct lx_member ptr_m,
                     struct lx_member mask_m, uint64_t stride, uint32_t head_off, uint32_t node_off, int mini)
{
	struct lx_walk *w = &nw->w;
	uint64_t base;
	uint32_t mask;
	if (!table || !ptr_m.size || !mask_m.size)
		return 0;
	if (lx_read_u64(w, table + ptr_m.off, &base) || lx_read(w, table + mask_m.off, &mask, 4)) {
		keep_err(nw, lx_fail(w, EIO, "%s: the table at 0x%llx is unreadable", what, (unsigned long long)table));
		return 0;
	}
	return walk_buckets(nw, what, base, (uint64_t)mask + 1, stride, head_off, node_off, mini);
}

static int walk_tables(struct net_walk *nw)
{
	const struct lx_layout *L = nw->w.lay;
	uint32_t node = L->sk_node.off;
	int rc;
	if ((rc = walk_hash(nw, "tcp listening hash", L->tcp_hashinfo, L->hi_lhash2, L->hi_lhash2_mask, L->ilb_size,
	                    L->ilb_head.off, L->listen_node.off, 0)))
		return rc;
	if ((rc = walk_hash(nw, "tcp established hash", L->tcp_hashinfo, L->hi_ehash, L->hi_ehash_mask, L->ehb_size,
	                    L->ehb_chain.off, node, 1)))
		return rc;
	if ((rc = walk_hash(nw, "udp hash", L->udp_table, L->udpt_hash, L->udpt_mask, L->hslot_size, L->hslot_head.off,
	                    node, 0)))
		return rc;
	if (L->raw_ht.size) {
		if (L->raw_v4 &&
		    (rc = walk_buckets(nw, "raw hash", L->raw_v4 + L->raw_ht.off, L->raw_ht.size / 8, 8, 0, node, 0)))
			return rc;
		if (L->raw_v6 &&
		    (rc = walk_buckets(nw, "raw6 hash", L->raw_v6 + L->raw_ht.off, L->raw_ht.size / 8, 8, 0, node, 0)))
			return rc;
	}
	if (L->init_net && L->net_packet_list.size &&
	    (rc = walk_buckets(nw, "packet sockets", L->init_net + L->net_packet_list.off, 1, 8, 0, node, 0)))
		return rc;
	if (L->init_net && L->net_unix_buckets.size) {
		uint64_t buckets;
		if (lx_read_u64(&nw->w, L->init_net + L->net_unix_buckets.off, &buckets))
			keep_err(nw, lx_fail(&nw->w, EIO, "unix hash: init_net is unreadable"));
		else if ((rc = walk_buckets(nw, "unix hash", buckets, UNIX_HASH_SIZE, 8, 0, node, 0)))
			return rc;
	}
	return 0;
}

/* ---- the holders ---------------------------------------------------------------- */

/* The sock behind the open file FILE, or 0 if it is not a socket. */
static uint64_t file_sock(struct net_walk *nw, uint64_t file)
{
	struct lx_walk *w = &nw->w;
	const struct lx_layout *L = w->lay;
	uint64_t v, sock, sk, back;
	if (!lx_kptr(w, file, 8))
		return 0;
	if (L->socket_fops) {
		if (lx_read_u64(w, file + L->file_op.off, &v) || v != L->socket_fops)
			return 0;
	} else {
		uint16_t mode;
		if (lx_read_u64(w, file + L->file_inode.off, &v) || !lx_kptr(w, v, 8) ||
		    lx_read(w, v + L->i_mode.off, &mode, 2) || (mode & 0170000) != 0140000)
			return 0;
	}
	if (lx_read_u64(w, file + L->file_private.off, &sock) || !lx_kptr(w, sock, 8) ||
	    lx_read_u64(w, sock + L->socket_sk.off, &sk) || lx_read_u64(w, sock + L->socket_file.off, &back) ||
	    back != file || !lx_kptr(w, sk, 8))
		return 0;
	return sk;
}

static int holder_add(struct net_walk *nw, uint64_t sk, int32_t pid, int32_t fd, const char *comm)
{
	if (nw->nh >= nw->w.max)
		return lx_fail(&nw->w, E2BIG, "more than %u sockets held by processes", nw->w.max);
	if (nw->nh == nw->cap) {
		size_t cap = nw->cap ? nw->cap * 2 : 256;
		struct holder *h = realloc(nw->h, cap * sizeof(*h));
		if (!h)
			return lx_fail(&nw->w, ENOMEM, "out of memory");
		nw->h = h;
		nw->cap = cap;
	}
	struct holder *h = &nw->h[nw->nh++];
	memset(h, 0, sizeof(*h));
	h->sk = sk;
	h->pid = pid;
	h->fd = fd;
	memcpy(h->comm, comm, sizeof(h->comm));
	return 0;
}

struct fd_visit {
	struct net_walk *nw;
	int32_t pid;
	const char *comm;
};

static int one_fd(void *ctx, int32_t fd, uint64_t file, int cloexec)
{
	(void)cloexec;
	const struct fd_visit *v = ctx;
	uint64_t sk = file_sock(v->nw, file);
	return sk ? holder_add(v->nw, sk, v->pid, fd, v->comm) : 0;
}

static int process_sockets(struct net_walk *nw, uint64_t task, int32_t pid)
{
	char comm[16];
	struct fd_visit v = { .nw = nw, .pid = pid, .comm = comm };
	return lx_task_each_fd(&nw->w, task, pid, nw->o.pid != 0, comm, one_fd, &v);
}

static int each(void *ctx, uint64_t task, int32_t pid)
{
	return process_sockets(ctx, task, pid);
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	if (x->sk != y->sk)
		return x->sk < y->sk ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int holders_index(struct net_walk *nw)
{
	if (!nw->nh)
		return 0;
	if (!(nw->by_sk = malloc(nw->nh * sizeof(*nw->by_sk))))
		return lx_fail(&nw->w, ENOMEM, "out of memory");
	for (size_t i = 0; i < nw->nh; i++) {
		nw->by_sk[i].sk = nw->h[i].sk;
		nw->by_sk[i].i = (uint32_t)i;
	}
	qsort(nw->by_sk, nw->nh, sizeof(*nw->by_sk), key_cmp);
	return 0;
}

/* Held sockets no table showed, in the order found. */
static int report_unseen(struct net_walk *nw)
{
	for (size_t i = 0; i < nw->nh; i++) {
		struct holder *h = &nw->h[i];
		if (h->seen)
			continue;
		struct vms_socket s = { .addr = h->sk };
		sock_read(nw, h->sk, 0, &s);
		int rc;
		if (wanted(nw, &s) && (rc = report(nw, &s, h)))
			return rc;
	}
	return 0;
}

static int sockets_walk(struct net_walk *nw)
{
	int rc;
	if (nw->o.pid) {
		uint64_t task;
		if ((rc = lx_find_process(&nw->w, nw->o.pid, &task)) || (rc = process_sockets(nw, task, nw->o.pid)))
			return rc;
		return report_unseen(nw);
	}
	if ((rc = lx_each_process(&nw->w, each, nw)) || (rc = holders_index(nw)) || (rc = walk_tables(nw)))
		return rc;
	return report_unseen(nw);
}

int vms_sockets(struct vms_kernel *k, const struct vms_sockets_opts *opts, vms_socket_fn fn, void *ctx)
{
	struct net_walk *nw = calloc(1, sizeof(*nw));
	if (!nw)
		return kernel_fail(k, ENOMEM, "out of memory");
	if (VMS_OPTS_COPY(&nw->o, opts)) {
		int rc = kernel_fail(k, EINVAL, VMS_OPTS_BAD, "vms_sockets_opts", opts->sz, sizeof(nw->o));
		free(nw);
		return rc;
	}
	int rc = lx_walk_begin(&nw->w, k, LX_NET, nw->o.max_entries, SOCKETS_MAX_DEFAULT, nw->o.retries);
	if (rc)
		goto out;
	nw->fn = fn;
	nw->ctx = ctx;
	rc = sockets_walk(nw);
	if (rc == 0 && nw->first_err) {
		rc = nw->first_err;
		snprintf(nw->w.t->err, sizeof(nw->w.t->err), "%s", nw->first_msg);
	}
out:
	lx_walk_stats(&nw->w, nw->o.stats);
	free(nw->h);
	free(nw->by_sk);
	free(nw);
	return rc;
}
