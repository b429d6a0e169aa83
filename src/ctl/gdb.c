/*
 * GDB remote serial protocol client (see gdb.h for what it does to QEMU):
 * connecting, the request/reply transaction, memory, monitor commands,
 * threads, registers, breakpoints and running the guest. Its neighbours
 * hold what needs no socket: gdb_packet.c the codec and reply parsers,
 * gdb_xml.c target descriptions, gdb_guard.c the child that detaches if
 * we die.
 *
 * Framing: packets are "$data#cs" with a modulo-256 checksum; replies may
 * carry `}`-escaped bytes and `*` run-length encoding. Received bytes go to
 * one buffer, complete frames are cut out of it and decoded by the pure
 * gdb_decode_packet(), so the decoder can be fuzzed on its own. Sizes
 * are bounded everywhere: a reply larger than VMS_GDB_MAX_PACKET decoded
 * bytes, or a frame that keeps growing without its '#', is an error rather
 * than an allocation.
 *
 * Acks: while ack mode is on (QEMU 7.2 cannot turn it off), the '+' for a
 * reply is owed until the next packet goes out and is sent in front of it,
 * so a request costs one send(); before waiting for a second packet to the
 * same request (monitor output) the owed acks go out on their own, since a
 * stub may wait for them.
 *
 * Timeouts: each reply must arrive within timeout_ms of its request. A
 * reply that times out or cannot be framed leaves the byte stream out of
 * step with our requests, so the connection is marked dead and later calls
 * fail fast instead of pairing requests with the wrong replies.
 *
 * Registers: the layout of the `g` packet is not fixed by the protocol; it
 * is the stub's target description (qXfer:features:read), fetched here and
 * parsed by gdb_xml.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gdb.h"
#include "gdb_private.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Raw frames may be twice the decoded size (every byte escaped). */
#define RAW_MAX (2u * VMS_GDB_MAX_PACKET + 8u)
#define RX_INITIAL (64u << 10)
#define MEM_CHUNK_MAX (64u << 10)
#define DEFAULT_PACKET_SIZE 400u /* GDB's own assumption without qSupported */
#define MAX_RETRIES 3            /* NAKs tolerated per reply */
#define PIPE_MAX 16              /* 16 x 4 KiB replies stay within socket buffers */
#define MAX_XML_BYTES (1u << 20)
#define MAX_MONITOR_BYTES (16u << 20)

struct vms_gdb {
	int fd;
	unsigned timeout_ms;
	int ack_mode;       /* until QStartNoAckMode is accepted */
	unsigned acks_owed; /* replies not yet acked: the '+'s ride on the next packet */
	int qemu_system;    /* QEMU system emulation: reads ahead, never waits for acks */
	unsigned pipeline;  /* `m` requests kept in flight by gdb_read_mem */
	int dead;           /* stream out of step; refuse further requests */
	int detached;
	int leave_stopped;   /* close without `D`: the guest was stopped before we came */
	int phys, phys_orig; /* qemu.PhyMemMode now, and as we found it (QEMU system only) */
	int running;         /* resumed; the stop reply is still to come */
	struct guard guard;  /* detaches if we die (gdb_guard.c) */
	int connected;       /* TCP is up: close must detach */
	long cur_thread;     /* thread selected with Hg, -1 if unknown */
	size_t packet_size;
	size_t mem_chunk;
	int xml_offered;
	uint8_t *rx; /* received; rx[rx_off, rx_len) not yet consumed */
	size_t rx_off, rx_len, rx_cap;
	uint8_t *tx; /* owed acks, then the frames of the last batch */
	size_t tx_len, tx_cap;
	size_t nak_off, nak_len; /* the frame a NAK asks for; 0 = ambiguous */
	unsigned tx_frames;
	char *reply; /* decoded reply, NUL-terminated */
	struct vms_gdb_layout layout;
	int have_layout;
	char where[320]; /* "HOST:PORT" */
	char err[512];
};

static int gfail(struct vms_gdb *g, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int gfail(struct vms_gdb *g, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->err, sizeof(g->err), fmt, ap);
	va_end(ap);
	return -err;
}

/* A failure after which replies can no longer be matched to requests. */
static int gdead(struct vms_gdb *g, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int gdead(struct vms_gdb *g, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->err, sizeof(g->err), fmt, ap);
	va_end(ap);
	g->dead = 1;
	return -err;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * Socket I/O
 */

static int send_all(struct vms_gdb *g, const uint8_t *p, size_t n, long long deadline)
{
	while (n) {
		ssize_t w = send(g->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w >= 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return gdead(g, errno, "writing to GDB stub at %s: %s", g->where, strerror(errno));
		long long left = deadline - now_ms();
		struct pollfd pfd = { .fd = g->fd, .events = POLLOUT };
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return gdead(g, ETIMEDOUT, "GDB stub at %s does not take our data (timeout %u ms)", g->where,
			             g->timeout_ms);
	}
	return 0;
}

static int tx_reserve(struct vms_gdb *g, size_t more)
{
	if (g->tx_len + more <= g->tx_cap)
		return 0;
	size_t ncap = g->tx_cap ? g->tx_cap : 256;
	while (ncap < g->tx_len + more)
		ncap *= 2;
	uint8_t *n = realloc(g->tx, ncap);
	if (!n)
		return gfail(g, ENOMEM, "out of memory");
	g->tx = n;
	g->tx_cap = ncap;
	return 0;
}

/* Start a batch in g->tx, led by the acks we owe for earlier replies. */
static int tx_begin(struct vms_gdb *g)
{
	g->tx_len = 0;
	g->tx_frames = 0;
	g->nak_len = 0;
	if (tx_reserve(g, g->acks_owed + 64))
		return -ENOMEM;
	memset(g->tx, '+', g->acks_owed);
	g->tx_len = g->acks_owed;
	g->acks_owed = 0;
	return 0;
}

/* Append the frame of PKT, escaping the bytes that framing reserves. */
static int tx_add(struct vms_gdb *g, const void *pkt, size_t len)
{
	const uint8_t *p = pkt;
	if (tx_reserve(g, 2 * len + 4))
		return -ENOMEM;
	uint8_t *f = g->tx + g->tx_len, sum = 0;
	size_t k = 0;
	f[k++] = '$';
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (c == '$' || c == '#' || c == '}' || c == '*') {
			f[k++] = '}';
			sum = (uint8_t)(sum + '}');
			c ^= 0x20;
		}
		f[k++] = c;
		sum = (uint8_t)(sum + c);
	}
	if (k - 1 > g->packet_size)
		return gfail(g, EMSGSIZE, "packet of %zu bytes exceeds the stub's PacketSize %zu", k - 1,
		             g->packet_size);
	static const char digits[] = "0123456789abcdef";
	f[k++] = '#';
	f[k++] = (uint8_t)digits[sum >> 4];
	f[k++] = (uint8_t)digits[sum & 15];
	/* With several frames in flight a NAK does not say which one it means. */
	g->nak_off = g->tx_len;
	g->nak_len = g->tx_frames++ ? 0 : k;
	g->tx_len += k;
	return 0;
}

static int tx_flush(struct vms_gdb *g, long long deadline)
{
	return send_all(g, g->tx, g->tx_len, deadline);
}

static int send_packet(struct vms_gdb *g, const void *pkt, size_t len, long long deadline)
{
	int rc;
	if ((rc = tx_begin(g)) || (rc = tx_add(g, pkt, len)))
		return rc;
	return tx_flush(g, deadline);
}

/* Send the acks we owe now, before waiting for a further packet: a stub
 * may wait for them before it sends more. */
static int flush_acks(struct vms_gdb *g, long long deadline)
{
	static const uint8_t pluses[16] = "++++++++++++++++";
	while (g->acks_owed) {
		unsigned n = g->acks_owed < sizeof(pluses) ? g->acks_owed : (unsigned)sizeof(pluses);
		int rc = send_all(g, pluses, n, deadline);
		if (rc)
			return rc;
		g->acks_owed -= n;
	}
	return 0;
}

/* Read more bytes into g->rx, waiting until DEADLINE. Consumed bytes are
 * dropped only here, so a batch of replies is not moved once per frame. */
static int fill_rx(struct vms_gdb *g, long long deadline)
{
	if (g->rx_len == g->rx_cap && g->rx_off) {
		memmove(g->rx, g->rx + g->rx_off, g->rx_len - g->rx_off);
		g->rx_len -= g->rx_off;
		g->rx_off = 0;
	}
	if (g->rx_len == g->rx_cap) {
		size_t ncap = g->rx_cap * 2 > RAW_MAX ? RAW_MAX : g->rx_cap * 2;
		uint8_t *n = realloc(g->rx, ncap);
		if (!n)
			return gdead(g, ENOMEM, "out of memory");
		g->rx = n;
		g->rx_cap = ncap;
	}
	for (;;) {
		ssize_t r = recv(g->fd, g->rx + g->rx_len, g->rx_cap - g->rx_len, MSG_DONTWAIT);
		if (r > 0) {
			g->rx_len += (size_t)r;
			return 0;
		}
		if (r == 0)
			return gdead(g, ECONNRESET, "GDB stub at %s closed the connection", g->where);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return gdead(g, errno, "reading from GDB stub at %s: %s", g->where, strerror(errno));
		long long left = deadline - now_ms();
		struct pollfd pfd = { .fd = g->fd, .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return gdead(g, ETIMEDOUT, "no reply from GDB stub at %s within %u ms", g->where,
			             g->timeout_ms);
	}
}

static void rx_consume(struct vms_gdb *g, size_t n)
{
	g->rx_off += n;
	if (g->rx_off == g->rx_len)
		g->rx_off = g->rx_len = 0;
}

/* Drop leading acks; a NAK asks for our last frame again. */
static int rx_skip_acks(struct vms_gdb *g, long long deadline, int *naks)
{
	const uint8_t *b = g->rx + g->rx_off;
	size_t i = 0, avail = g->rx_len - g->rx_off;
	int rc = 0;
	for (; i < avail && (b[i] == '+' || b[i] == '-'); i++) {
		if (b[i] == '+')
			continue;
		if (++*naks > MAX_RETRIES || g->nak_len == 0) {
			rc = gdead(g, EIO, "GDB stub at %s rejects our packets", g->where);
			break;
		}
		if ((rc = send_all(g, g->tx + g->nak_off, g->nak_len, deadline)))
			break;
	}
	rx_consume(g, i);
	return rc;
}

/* Find a complete frame at the start of the unconsumed bytes; 0 with
 * *FLEN set, 1 if more bytes are needed. */
static int rx_frame(struct vms_gdb *g, size_t *flen)
{
	const uint8_t *b = g->rx + g->rx_off;
	size_t avail = g->rx_len - g->rx_off;
	if (avail == 0)
		return 1;
	if (b[0] != '$' && b[0] != '%')
		return gdead(g, EPROTO, "malformed data from GDB stub at %s (byte 0x%02x where a packet should start)",
		             g->where, b[0]);
	const uint8_t *hash = memchr(b + 1, '#', avail - 1);
	if (!hash || (size_t)(hash - b) + 3 > avail) {
		if (avail >= RAW_MAX)
			return gdead(g, E2BIG, "reply from GDB stub at %s larger than %u bytes", g->where, RAW_MAX);
		return 1;
	}
	*flen = (size_t)(hash - b) + 3;
	return 0;
}

/* Receive the next reply into g->reply; returns its length. PIPELINED:
 * more requests are in flight, so acks wait for the next batch and a bad
 * checksum cannot be NAKed (the stub would resend its latest reply, not
 * the damaged one). */
static int recv_reply(struct vms_gdb *g, long long deadline, int pipelined)
{
	int naks = 0, bad = 0, rc;
	/* A second packet for one request (monitor output, an unasked stop
	 * reply) may wait for the ack of the first. */
	if (!pipelined && (rc = flush_acks(g, deadline)))
		return rc;
	for (;;) {
		size_t flen = 0, n = 0;
		if ((rc = rx_skip_acks(g, deadline, &naks)))
			return rc;
		rc = rx_frame(g, &flen);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			if ((rc = fill_rx(g, deadline)))
				return rc;
			continue;
		}
		const uint8_t *frame = g->rx + g->rx_off;
		if (frame[0] == '%') { /* non-stop notification; we never ask for them */
			rx_consume(g, flen);
			continue;
		}
		rc = gdb_decode_packet(frame, flen, (uint8_t *)g->reply, VMS_GDB_MAX_PACKET, &n);
		rx_consume(g, flen);
		if (rc == -EBADMSG && g->ack_mode && !pipelined && ++bad <= MAX_RETRIES) {
			if ((rc = send_all(g, (const uint8_t *)"-", 1, deadline)))
				return rc;
			continue;
		}
		if (rc == -EBADMSG)
			return gdead(g, EBADMSG, "bad checksum in reply from GDB stub at %s", g->where);
		if (rc == -E2BIG)
			return gdead(g, E2BIG, "reply from GDB stub at %s larger than %u bytes", g->where,
			             VMS_GDB_MAX_PACKET);
		if (rc)
			return gdead(g, EPROTO, "malformed packet from GDB stub at %s", g->where);
		g->reply[n] = '\0';
		g->acks_owed += (unsigned)g->ack_mode;
		return (int)n;
	}
}

/* ------------------------------------------------------------------------
 * Requests
 */

static int check_usable(struct vms_gdb *g)
{
	if (g->detached)
		return gfail(g, ENOTCONN, "already detached from GDB stub at %s", g->where);
	if (g->dead)
		return -EPIPE; /* g->err still says why */
	if (g->running)
		return gfail(g, EBUSY, "the guest is running under GDB stub at %s: stop it first", g->where);
	return 0;
}

static int transact(struct vms_gdb *g, const void *pkt, size_t len, const char **reply)
{
	*reply = g->reply;
	int rc = check_usable(g);
	if (rc)
		return rc;
	long long deadline = now_ms() + g->timeout_ms;
	if ((rc = send_packet(g, pkt, len, deadline)))
		return rc;
	return recv_reply(g, deadline, 0);
}

int gdb_transact(struct vms_gdb *g, const void *pkt, size_t len, const char **reply)
{
	/* A raw request may move the stub's notion of the current thread. */
	g->cur_thread = -1;
	return transact(g, pkt, len, reply);
}

int gdb_command(struct vms_gdb *g, const char *packet, char *reply, size_t cap)
{
	const char *r;
	int n = gdb_transact(g, packet, strlen(packet), &r);
	if (n < 0)
		return n;
	if ((size_t)n >= cap)
		return gfail(g, E2BIG, "reply to %.16s (%d bytes) does not fit the buffer", packet, n);
	memcpy(reply, r, (size_t)n + 1);
	return n;
}

/* A request whose only good answer is "OK". */
static int command_ok(struct vms_gdb *g, const char *packet)
{
	const char *r;
	int n = transact(g, packet, strlen(packet), &r);
	if (n < 0)
		return n;
	if (n == 0)
		return gfail(g, ENOTSUP, "GDB stub at %s does not support %s", g->where, packet);
	if (strcmp(r, "OK") != 0)
		return gfail(g, EREMOTEIO, "GDB stub at %s answered %s with %.32s", g->where, packet, r);
	return 0;
}

/* ------------------------------------------------------------------------
 * Connecting
 */

static int try_connect(const struct addrinfo *ai, long long deadline, int *fd_out)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return errno;
	int err = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			long long left = deadline - now_ms();
			socklen_t el = sizeof(err);
			if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
				err = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
				err = errno;
		}
	}
	if (err) {
		close(fd);
		return err;
	}
	int one = 1; /* small request packets must not wait for Nagle */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd_out = fd;
	return 0;
}

static int tcp_connect(struct vms_gdb *g, const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	int gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai)
		return gfail(g, EHOSTUNREACH, "cannot resolve %s: %s", host, gai_strerror(gai));
	long long deadline = now_ms() + g->timeout_ms;
	int err = ENOENT;
	for (ai = res; ai; ai = ai->ai_next) {
		int e = try_connect(ai, deadline, &g->fd);
		if (e == 0)
			break;
		if (err != ECONNREFUSED) /* "refused" is the most telling reason */
			err = e;
	}
	freeaddrinfo(res);
	if (g->fd >= 0) {
		g->connected = 1;
		return 0;
	}
	if (err == ECONNREFUSED)
		return gfail(g, err, "no GDB stub at %s (connection refused)", g->where);
	return gfail(g, err, "cannot connect to GDB stub at %s: %s", g->where, strerror(err));
}

static int feature_is(const char *f, size_t n, const char *name)
{
	return n == strlen(name) && memcmp(f, name, n) == 0;
}

/* One feature of a qSupported reply: "name=value", "name+", "name-". */
static void parse_feature(struct vms_gdb *g, const char *f, size_t n, int *noack)
{
	static const char psize[] = "PacketSize=";
	const size_t pl = sizeof(psize) - 1;
	if (n > pl && memcmp(f, psize, pl) == 0) {
		uint64_t v;
		if (n - pl <= 8 && hex_u64(f + pl, n - pl, &v) == 0 && v >= 16)
			g->packet_size = v > VMS_GDB_MAX_PACKET ? VMS_GDB_MAX_PACKET : (size_t)v;
	} else if (feature_is(f, n, "QStartNoAckMode+")) {
		*noack = 1;
	} else if (feature_is(f, n, "qXfer:features:read+")) {
		g->xml_offered = 1;
	}
}

static int features_has(const char *list, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ";");
		if (n == nl && memcmp(p, name, n) == 0)
			return 1;
		p += n + (p[n] == ';');
	}
	return 0;
}

/* qSupported, skipping the stop reply QEMU sends unasked when it halts a
 * running guest for us. Silence here means someone else holds the stub. */
static int handshake_supported(struct vms_gdb *g, int *noack)
{
	static const char q[] = "qSupported:xmlRegisters=i386";
	long long deadline = now_ms() + g->timeout_ms;
	int n = send_packet(g, q, sizeof(q) - 1, deadline);
	for (int i = 0; n >= 0 && i < 4; i++) {
		n = recv_reply(g, deadline, 0);
		if (n >= 0 && !gdb_is_stop_reply(g->reply, (size_t)n))
			break;
	}
	if (n == -ETIMEDOUT)
		return gfail(g, ETIMEDOUT, "GDB stub busy: another debugger attached? (no answer from %s within %u ms)",
		             g->where, g->timeout_ms);
	if (n < 0)
		return n;
	if (gdb_is_stop_reply(g->reply, (size_t)n))
		return gdead(g, EPROTO, "GDB stub at %s does not answer qSupported", g->where);
	for (const char *p = g->reply; *p;) {
		size_t len = strcspn(p, ";");
		parse_feature(g, p, len, noack);
		p += len + (p[len] == ';');
	}
	return 0;
}

/* What the guardian must undo if we die now (gdb_guard.c). */
static void note_guard(struct vms_gdb *g)
{
	int note = GDB_GUARD_NOTE;
	if (g->leave_stopped)
		note |= GDB_GUARD_LEAVE_STOPPED;
	if (g->phys != g->phys_orig)
		note |= GDB_GUARD_RESTORE_PHYS | (g->phys_orig ? GDB_GUARD_PHYS_WAS_ON : 0);
	guard_note(&g->guard, note);
}

static int handshake(struct vms_gdb *g)
{
	int noack = 0, rc;
	if ((rc = handshake_supported(g, &noack)))
		return rc;
	size_t chunk = g->packet_size / 2;
	/* PacketSize counts packet data without "$#cs" (GDB reads PacketSize/2
	 * bytes per `m` too); whole multiples of 16 keep page reads aligned. */
	if (chunk > MEM_CHUNK_MAX)
		chunk = MEM_CHUNK_MAX;
	g->mem_chunk = chunk >= 32 ? chunk & ~(size_t)15 : chunk;
	if (noack) {
		if ((rc = command_ok(g, "QStartNoAckMode")))
			return rc;
		g->ack_mode = 0;
	}
	/* Other stubs answer an unknown query with an empty reply. */
	const char *r;
	int n = transact(g, "qqemu.Supported", 15, &r);
	if (n < 0)
		return n;
	g->qemu_system = features_has(r, "PhyMemMode");
	g->pipeline = g->qemu_system || !g->ack_mode ? PIPE_MAX : 1;
	if (g->qemu_system) {
		/* The mode is the stub's, not the connection's: a debugger before
		 * us may have left it physical. We work in virtual mode unless a
		 * caller asks otherwise, and put back what we found. */
		n = transact(g, "qqemu.PhyMemMode", 16, &r);
		if (n < 0)
			return n;
		g->phys = g->phys_orig = n == 1 && r[0] == '1';
		if (g->phys && (rc = gdb_set_phys(g, 0)))
			return rc;
	}
	n = transact(g, "?", 1, &r);
	if (n < 0)
		return n;
	if (n > 0 && (r[0] == 'W' || r[0] == 'X'))
		return gfail(g, ESRCH, "target behind GDB stub at %s has exited", g->where);
	if (!gdb_is_stop_reply(r, (size_t)n))
		return gfail(g, EPROTO, "GDB stub at %s: unexpected answer to '?': %.32s", g->where, r);
	return 0;
}

int gdb_connect(const char *host, int port, unsigned timeout_ms, struct vms_gdb **out, char *err, size_t errlen)
{
	int rc;
	struct vms_gdb *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->fd = -1;
	g->guard = (struct guard)GUARD_INIT;
	g->timeout_ms = timeout_ms ? timeout_ms : 10000;
	g->ack_mode = 1;
	g->cur_thread = -1;
	g->packet_size = DEFAULT_PACKET_SIZE;
	snprintf(g->where, sizeof(g->where), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	if (port <= 0 || port > 65535) {
		rc = gfail(g, EINVAL, "bad GDB port %d", port);
		goto fail;
	}
	g->rx_cap = RX_INITIAL;
	g->rx = malloc(g->rx_cap);
	g->reply = malloc(VMS_GDB_MAX_PACKET + 1);
	if (!g->rx || !g->reply) {
		rc = gfail(g, ENOMEM, "out of memory");
		goto fail;
	}
	/* The guardian first: from the moment QEMU takes this connection up it
	 * stops the guest for us, even if we are killed before the handshake. */
	if ((rc = tcp_connect(g, host, port)) || (rc = gdb_guard_arm(&g->guard, g->fd, g->err, sizeof(g->err))) ||
	    (rc = handshake(g)))
		goto fail;
	*out = g;
	return 0;
fail:
	snprintf(err, errlen, "%s", g->err);
	gdb_client_close(g);
	return rc;
}

/* ------------------------------------------------------------------------
 * Detaching
 */

void gdb_leave_stopped(struct vms_gdb *g)
{
	g->leave_stopped = 1;
	note_guard(g);
}

/* Put qemu.PhyMemMode back as we found it (the guest stopped). */
static int restore_phys(struct vms_gdb *g)
{
	if (!g->qemu_system || g->phys == g->phys_orig || g->dead)
		return 0;
	return gdb_set_phys(g, g->phys_orig);
}

int gdb_detach(struct vms_gdb *g)
{
	if (g->leave_stopped && !g->running) {
		restore_phys(g);
		g->detached = 1; /* closing without `D` keeps the guest stopped */
		return 0;
	}
	const char *r;
	int rc = check_usable(g);
	if (rc)
		return rc;
	restore_phys(g);
	int n = transact(g, "D", 1, &r);
	g->detached = 1;
	if (n < 0)
		return n;
	if (strcmp(r, "OK") != 0)
		return gfail(g, EREMOTEIO, "GDB stub at %s refused to detach: %.32s", g->where, r);
	return 0;
}

void gdb_client_close(struct vms_gdb *g)
{
	if (!g)
		return;
	if (g->connected && !g->detached && g->running && !g->dead) {
		/* QEMU takes any byte from us as "stop" while the guest runs, so
		 * the `D` must wait for the stop reply. */
		struct vms_gdb_stop st;
		if (gdb_interrupt(g) == 0 && gdb_wait_stop(g, (int)g->timeout_ms, &st) != 1)
			g->dead = 1;
	}
	if (g->connected && !g->detached && g->leave_stopped && !g->running) {
		/* QEMU keeps the guest stopped when a connection closes without
		 * `D`, as it was before we attached (we planted nothing). */
		restore_phys(g);
		g->detached = 1;
	}
	if (g->connected && !g->detached) {
		if (!g->dead) {
			gdb_detach(g);
		} else {
			/* Out of step (or never answered: a busy stub may still
			 * accept this connection later and would halt the guest
			 * for it). Queue a `D` without waiting for its reply. */
			g->dead = 0;
			g->acks_owed = 0;
			send_packet(g, "D", 1, now_ms() + 100);
		}
	}
	gdb_guard_disarm(&g->guard);
	if (g->fd >= 0) {
		/* Ack the last reply, for stubs that wait for it. */
		if (g->acks_owed && !g->dead)
			flush_acks(g, now_ms() + 100);
		close(g->fd);
	}
	gdb_layout_free(&g->layout);
	free(g->rx);
	free(g->tx);
	free(g->reply);
	free(g);
}

/* ------------------------------------------------------------------------
 * Accessors
 */

const char *gdb_err(const struct vms_gdb *g)
{
	return g->err;
}
void gdb_set_timeout(struct vms_gdb *g, unsigned timeout_ms)
{
	g->timeout_ms = timeout_ms ? timeout_ms : 10000;
}
size_t gdb_packet_size(const struct vms_gdb *g)
{
	return g->packet_size;
}

/* ------------------------------------------------------------------------
 * Memory
 */

int gdb_set_phys(struct vms_gdb *g, int on)
{
	if (!g->qemu_system)
		return gfail(g, ENOTSUP, "GDB stub at %s cannot read physical memory (no qemu.PhyMemMode; not QEMU?)",
		             g->where);
	/* the guardian learns first: killed in between, it restores a mode
	 * that is already right, which costs nothing */
	g->phys = !!on;
	note_guard(g);
	return command_ok(g, on ? "Qqemu.PhyMemMode:1" : "Qqemu.PhyMemMode:0");
}

/* Decode the reply R (RL bytes) to `m` for N bytes at ADDR into DST;
 * returns how many bytes it held. */
static int mem_reply(struct vms_gdb *g, uint64_t addr, uint8_t *dst, size_t n, const char *r, int rl)
{
	if (rl == 0)
		return gfail(g, ENOTSUP, "GDB stub at %s does not support memory reads", g->where);
	if (gdb_is_error_reply(r, (size_t)rl))
		return gfail(g, EFAULT, "GDB stub at %s cannot read %zu bytes at 0x%" PRIx64 " (%s)", g->where, n, addr,
		             r);
	if (rl % 2 || (size_t)rl / 2 > n || gdb_hex_decode(r, (size_t)rl / 2, dst))
		return gfail(g, EPROTO, "malformed memory reply from GDB stub at %s", g->where);
	return rl / 2;
}

static int mem_request(char *pkt, size_t cap, uint64_t addr, size_t n)
{
	return snprintf(pkt, cap, "m%" PRIx64 ",%zx", addr, n);
}

/* Chunks end on multiples of mem_chunk, so page reads stay aligned. */
static size_t chunk_len(const struct vms_gdb *g, uint64_t addr, size_t len)
{
	size_t n = g->mem_chunk - (size_t)(addr % g->mem_chunk);
	return n < len ? n : len;
}

static int read_mem_serial(struct vms_gdb *g, uint64_t addr, uint8_t *dst, size_t len)
{
	while (len) {
		char pkt[48];
		const char *r;
		size_t n = chunk_len(g, addr, len);
		int pl = mem_request(pkt, sizeof(pkt), addr, n);
		int rl = transact(g, pkt, (size_t)pl, &r);
		int got = rl < 0 ? rl : mem_reply(g, addr, dst, n, r, rl);
		if (got < 0)
			return got;
		if (got == 0)
			return gfail(g, EPROTO, "GDB stub at %s returned no bytes at 0x%" PRIx64, g->where, addr);
		addr += (uint64_t)got;
		dst += got;
		len -= (size_t)got;
	}
	return 0;
}

struct mem_req {
	uint64_t addr;
	size_t n;
};

/* Queue requests until DEPTH are in flight, in one send. */
static int pipe_refill(struct vms_gdb *g, struct mem_req *q, size_t head, size_t *count, uint64_t *next, uint64_t end)
{
	int rc = tx_begin(g);
	while (!rc && *next < end && *count < g->pipeline) {
		char pkt[48];
		size_t n = chunk_len(g, *next, (size_t)(end - *next));
		int pl = mem_request(pkt, sizeof(pkt), *next, n);
		q[(head + *count) % PIPE_MAX] = (struct mem_req){ *next, n };
		rc = tx_add(g, pkt, (size_t)pl);
		*next += n;
		(*count)++;
	}
	return rc ? rc : tx_flush(g, now_ms() + g->timeout_ms);
}

/* Keep several `m` requests in flight so the round trip is paid once per
 * batch; QEMU's system-mode stub reads ahead and answers in order. Every
 * reply is consumed even after an error, so the stream stays in step. A
 * short reply leaves a hole, read serially at the end. */
static int read_mem_pipelined(struct vms_gdb *g, uint64_t addr, uint8_t *dst, size_t len)
{
	struct mem_req q[PIPE_MAX] = { { 0, 0 } };
	size_t head = 0, count = 0;
	uint64_t next = addr, end = addr + len, hole = end;
	int err = 0;
	/* After an error nothing new is sent: only what is in flight is read. */
	while (count || (!err && next < end)) {
		int rc;
		if (!err && next < end && count <= g->pipeline / 2 &&
		    (rc = pipe_refill(g, q, head, &count, &next, end)))
			return rc;
		int rl = recv_reply(g, now_ms() + g->timeout_ms, 1);
		if (rl < 0)
			return rl;
		struct mem_req r = q[head];
		head = (head + 1) % PIPE_MAX;
		count--;
		int got = mem_reply(g, r.addr, dst + (r.addr - addr), r.n, g->reply, rl);
		if (got < 0 && !err)
			err = got;
		else if (got >= 0 && (size_t)got < r.n && r.addr + (uint64_t)got < hole)
			hole = r.addr + (uint64_t)got;
	}
	if (err)
		return err;
	return hole < end ? read_mem_serial(g, hole, dst + (hole - addr), (size_t)(end - hole)) : 0;
}

int gdb_read_mem(struct vms_gdb *g, uint64_t addr, void *buf, size_t len)
{
	int rc = check_usable(g);
	if (rc)
		return rc;
	if (len && addr + (len - 1) < addr)
		return gfail(g, EINVAL, "read of %zu bytes at 0x%" PRIx64 " wraps around", len, addr);
	if (len == 0)
		return 0;
	/* Memory reads to the end of the address space cannot be split with
	 * END = addr + len; they are rare enough to go one by one. */
	if (g->pipeline > 1 && len > g->mem_chunk && addr + len > addr)
		return read_mem_pipelined(g, addr, buf, len);
	return read_mem_serial(g, addr, buf, len);
}

unsigned gdb_set_pipeline(struct vms_gdb *g, unsigned depth)
{
	g->pipeline = depth < 1 ? 1 : depth > PIPE_MAX ? PIPE_MAX : depth;
	return g->pipeline;
}

/* ------------------------------------------------------------------------
 * Monitor commands
 */

struct textbuf {
	char *p;
	size_t len, cap;
};

static int textbuf_add(struct textbuf *t, size_t n)
{
	if (t->len + n + 1 <= t->cap)
		return 0;
	size_t ncap = t->cap ? t->cap : 4096;
	while (ncap < t->len + n + 1)
		ncap *= 2;
	char *p = realloc(t->p, ncap);
	if (!p)
		return -ENOMEM;
	t->p = p;
	t->cap = ncap;
	return 0;
}

/* Append the hex-encoded text of an `O` packet. */
static int monitor_output(struct vms_gdb *g, struct textbuf *t, const char *hex, size_t hexlen)
{
	if (hexlen % 2 || t->len + hexlen / 2 > MAX_MONITOR_BYTES)
		return gdead(g, EPROTO, "malformed or oversized monitor output from GDB stub at %s", g->where);
	if (textbuf_add(t, hexlen / 2)) /* the rest of the output is still coming */
		return gdead(g, ENOMEM, "out of memory");
	char *dst = t->p + t->len;
	if (gdb_hex_decode(hex, hexlen / 2, (uint8_t *)dst))
		return gdead(g, EPROTO, "malformed monitor output from GDB stub at %s", g->where);
	/* The monitor writes CRLF line ends for terminals; keep plain LF. */
	size_t k = 0;
	for (size_t i = 0; i < hexlen / 2; i++)
		if (dst[i] != '\r')
			dst[k++] = dst[i];
	t->len += k;
	t->p[t->len] = '\0';
	return 0;
}

int gdb_monitor(struct vms_gdb *g, const char *command, char **out)
{
	size_t cl = strlen(command);
	struct textbuf t = { 0 };
	char *pkt = malloc(6 + 2 * cl + 1);
	int rc;
	if (!pkt)
		return gfail(g, ENOMEM, "out of memory");
	memcpy(pkt, "qRcmd,", 6);
	gdb_hex_encode(command, cl, pkt + 6);
	const char *r;
	int n = transact(g, pkt, 6 + 2 * cl, &r);
	free(pkt);
	while (n > 0 && r[0] == 'O' && strcmp(r, "OK") != 0) {
		if ((rc = monitor_output(g, &t, r + 1, (size_t)n - 1)))
			goto fail;
		n = recv_reply(g, now_ms() + g->timeout_ms, 0);
		r = g->reply;
	}
	if ((rc = n) < 0)
		goto fail;
	if (n == 0 || strcmp(r, "OK") != 0) {
		rc = gfail(g, n ? EREMOTEIO : ENOTSUP, "GDB stub at %s cannot run monitor command '%s'%s%.32s",
		           g->where, command, n ? ": " : "", r);
		goto fail;
	}
	if (textbuf_add(&t, 0)) {
		rc = gfail(g, ENOMEM, "out of memory");
		goto fail;
	}
	t.p[t.len] = '\0';
	*out = t.p;
	return 0;
fail:
	free(t.p);
	return rc;
}

int gdb_ram_layout(struct vms_gdb *g, struct vms_ram_range *ranges, size_t cap)
{
	char *text = NULL;
	int rc = gdb_monitor(g, "info mtree -f", &text);
	if (rc)
		return rc;
	rc = gdb_parse_flatview(text, strlen(text), ranges, cap);
	free(text);
	if (rc == -ENOENT)
		return gfail(g, ENOENT, "QEMU behind %s shows no RAM at guest-physical 0 in its memory map", g->where);
	if (rc == -E2BIG)
		return gfail(g, E2BIG, "QEMU behind %s maps RAM in more than %zu ranges", g->where, cap);
	if (rc < 0)
		return gfail(g, -rc, "cannot parse QEMU's memory map (info mtree -f) from %s", g->where);
	return rc;
}

/* ------------------------------------------------------------------------
 * Threads
 */

int gdb_thread_ids(struct vms_gdb *g, long *ids, size_t cap)
{
	size_t count = 0;
	const char *q = "qfThreadInfo";
	for (;;) {
		const char *r;
		int n = transact(g, q, strlen(q), &r);
		if (n < 0)
			return n;
		if (n == 1 && r[0] == 'l')
			break;
		if (n < 2 || r[0] != 'm')
			return gfail(g, n ? EPROTO : ENOTSUP, "GDB stub at %s does not list threads", g->where);
		int rc = gdb_parse_thread_list(r + 1, ids, cap, &count);
		if (rc == -E2BIG)
			return gfail(g, E2BIG, "GDB stub at %s lists more than %d threads", g->where,
			             VMS_GDB_MAX_THREADS);
		if (rc)
			return gfail(g, EPROTO, "malformed thread list from GDB stub at %s", g->where);
		q = "qsThreadInfo";
	}
	return (int)count;
}

/* ------------------------------------------------------------------------
 * Registers
 */

struct fetch_ctx {
	struct vms_gdb *g;
};

/* Read a whole qXfer:features:read annex, chunk by chunk until 'l'. */
static int fetch_annex(void *ctx, const char *annex, char **text, size_t *len)
{
	struct vms_gdb *g = ((struct fetch_ctx *)ctx)->g;
	struct textbuf t = { 0 };
	size_t want = g->packet_size > 64 ? (g->packet_size - 5) / 2 : 32;
	char pkt[256];
	int rc;
	for (;;) {
		const char *r;
		int pl = snprintf(pkt, sizeof(pkt), "qXfer:features:read:%s:%zx,%zx", annex, t.len, want);
		int n = transact(g, pkt, (size_t)pl, &r);
		if ((rc = n) < 0)
			goto fail;
		if (n == 0 || (r[0] != 'm' && r[0] != 'l')) {
			rc = gfail(g, n ? EREMOTEIO : ENOTSUP, "GDB stub at %s gives no target description %s%s%.16s",
			           g->where, annex, n ? ": " : "", r);
			goto fail;
		}
		if (t.len + (size_t)n - 1 > MAX_XML_BYTES) {
			rc = gfail(g, E2BIG, "target description %s larger than %u bytes", annex, MAX_XML_BYTES);
			goto fail;
		}
		if (textbuf_add(&t, (size_t)n - 1)) {
			rc = gfail(g, ENOMEM, "out of memory");
			goto fail;
		}
		memcpy(t.p + t.len, r + 1, (size_t)n - 1);
		t.len += (size_t)n - 1;
		if (r[0] == 'l')
			break;
		if (n == 1) { /* 'm' with no data would loop forever */
			rc = gfail(g, EPROTO, "GDB stub at %s sent an empty part of %s", g->where, annex);
			goto fail;
		}
	}
	*text = t.p;
	*len = t.len;
	return 0;
fail:
	free(t.p);
	return rc;
}

static int load_layout(struct vms_gdb *g)
{
	if (g->have_layout)
		return 0;
	if (!g->xml_offered)
		return gfail(g, ENOTSUP, "GDB stub at %s offers no target description (qXfer:features:read)", g->where);
	struct fetch_ctx fc = { g };
	char *xml = NULL;
	size_t len = 0;
	int rc = fetch_annex(&fc, "target.xml", &xml, &len);
	if (rc)
		return rc;
	char perr[256] = "";
	rc = gdb_parse_target_xml(xml, len, fetch_annex, &fc, &g->layout, perr, sizeof(perr));
	free(xml);
	if (rc) {
		/* A failed fetch already explained itself in g->err. */
		if (strncmp(perr, "target description: cannot read", 31) != 0)
			gfail(g, -rc, "GDB stub at %s: %s", g->where, perr);
		return rc;
	}
	g->have_layout = 1;
	return 0;
}

static int select_thread(struct vms_gdb *g, long thread)
{
	char pkt[32];
	if (thread == g->cur_thread)
		return 0;
	snprintf(pkt, sizeof(pkt), "Hg%lx", thread);
	int rc = command_ok(g, pkt);
	if (rc == -EREMOTEIO)
		return gfail(g, ESRCH, "GDB stub at %s has no thread %ld", g->where, thread);
	if (rc == 0)
		g->cur_thread = thread;
	return rc;
}

int gdb_read_regs(struct vms_gdb *g, long thread, struct vms_regs *out)
{
	const char *r;
	if (thread < 0)
		return gfail(g, EINVAL, "bad thread id %ld", thread);
	int rc = check_usable(g);
	if (rc || (rc = load_layout(g)) || (rc = select_thread(g, thread)))
		return rc;
	int n = transact(g, "g", 1, &r);
	if (n < 0)
		return n;
	if (n == 0 || gdb_is_error_reply(r, (size_t)n))
		return gfail(g, EREMOTEIO, "GDB stub at %s cannot read registers of thread %ld%s%s", g->where, thread,
		             n ? ": " : "", r);
	if (n % 2)
		return gfail(g, EPROTO, "malformed register reply from GDB stub at %s", g->where);
	if (gdb_decode_regs(&g->layout, r, (size_t)n, out))
		return gfail(g, EPROTO, "malformed register reply from GDB stub at %s", g->where);
	return 0;
}

int gdb_reg_number(struct vms_gdb *g, const char *name, unsigned *regnum, unsigned *bytes)
{
	int rc = check_usable(g);
	if (rc || (rc = load_layout(g)))
		return rc;
	const struct vms_gdb_reg *r = gdb_layout_find(&g->layout, name);
	if (!r)
		return gfail(g, ENOENT, "GDB stub at %s has no register %s", g->where, name);
	if (r->bits == 0 || r->bits > 64 || r->bits % 8)
		return gfail(g, ENOTSUP, "register %s is %u bits wide", name, r->bits);
	*regnum = r->regnum;
	*bytes = r->bits / 8;
	return 0;
}

#define BATCH_MAX 32

static void le_hex_encode(uint64_t v, unsigned bytes, char *out)
{
	uint8_t b[8];
	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	gdb_hex_encode(b, bytes, out);
}

/* Send PKTS[0..N) and read their replies into the handler; with a stub
 * that reads ahead all go in one send, else one at a time. Every reply is
 * read even after a bad one, so the stream stays in step. */
static int batch(struct vms_gdb *g, char (*pkts)[64], size_t n, int (*reply)(struct vms_gdb *, size_t, int, void *),
                 void *ctx)
{
	int rc = 0, err = 0;
	long long deadline = now_ms() + g->timeout_ms;
	if (g->pipeline > 1) {
		if ((rc = tx_begin(g)))
			return rc;
		for (size_t i = 0; i < n && !rc; i++)
			rc = tx_add(g, pkts[i], strlen(pkts[i]));
		if (rc || (rc = tx_flush(g, deadline)))
			return rc;
		for (size_t i = 0; i < n; i++) {
			int rl = recv_reply(g, deadline, 1);
			if (rl < 0)
				return rl;
			if ((rc = reply(g, i, rl, ctx)) && !err)
				err = rc;
		}
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		const char *r;
		int rl = transact(g, pkts[i], strlen(pkts[i]), &r);
		if (rl < 0)
			return rl;
		if ((rc = reply(g, i, rl, ctx)))
			return rc;
	}
	return 0;
}

static int ok_reply(struct vms_gdb *g, size_t i, int rl, void *ctx)
{
	(void)ctx;
	if (rl == 2 && strcmp(g->reply, "OK") == 0)
		return 0;
	if (rl == 0)
		return gfail(g, ENOTSUP, "GDB stub at %s does not support writes (request %zu of a batch)", g->where,
		             i);
	return gfail(g, EREMOTEIO, "GDB stub at %s refused a write: %.32s", g->where, g->reply);
}

int gdb_write_batch(struct vms_gdb *g, long thread, const struct gdb_write *w, size_t n)
{
	char pkts[BATCH_MAX][64];
	if (thread < 0 || n > BATCH_MAX)
		return gfail(g, EINVAL, "bad write request (thread %ld, %zu writes)", thread, n);
	int rc = check_usable(g);
	if (rc || (rc = select_thread(g, thread)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		char hex[17];
		if (w[i].bytes < 1 || w[i].bytes > 8)
			return gfail(g, EINVAL, "a write of %u bytes", w[i].bytes);
		le_hex_encode(w[i].value, w[i].bytes, hex);
		if (w[i].mem)
			snprintf(pkts[i], sizeof(pkts[i]), "M%" PRIx64 ",%x:%s", w[i].where, w[i].bytes, hex);
		else
			snprintf(pkts[i], sizeof(pkts[i]), "P%" PRIx64 "=%s", w[i].where, hex);
	}
	return batch(g, pkts, n, ok_reply, NULL);
}

/* ------------------------------------------------------------------------
 * Running: breakpoints, resuming, stop replies
 */

int gdb_breakpoint(struct vms_gdb *g, int insert, int type, uint64_t addr, int kind)
{
	char pkt[64];
	if (type < 0 || type > 4)
		return gfail(g, EINVAL, "bad breakpoint type %d", type);
	snprintf(pkt, sizeof(pkt), "%c%d,%" PRIx64 ",%x", insert ? 'Z' : 'z', type, addr, kind);
	return command_ok(g, pkt);
}

int gdb_resume(struct vms_gdb *g, const char *pkt)
{
	int rc = check_usable(g);
	if (rc)
		return rc;
	if ((rc = send_packet(g, pkt, strlen(pkt), now_ms() + g->timeout_ms)))
		return rc;
	g->running = 1;
	g->cur_thread = -1;
	return 0;
}

int gdb_interrupt(struct vms_gdb *g)
{
	static const uint8_t ctrl_c = 0x03;
	if (g->dead || g->detached)
		return -EPIPE;
	if (!g->running)
		return 0;
	return send_all(g, &ctrl_c, 1, now_ms() + g->timeout_ms);
}

int gdb_wait_stop(struct vms_gdb *g, int timeout_ms, struct vms_gdb_stop *stop)
{
	if (g->dead || g->detached)
		return -EPIPE;
	if (!g->running)
		return gfail(g, EINVAL, "waiting for a stop, but the guest was not resumed");
	/* Wait for the stop reply's first byte ourselves: a quiet stub is a
	 * running guest, not a broken stream. The stub's acks of our resume
	 * packet come first and are dropped here. Once a frame has begun, the
	 * rest must come within the usual reply timeout. */
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	for (;;) {
		size_t i = g->rx_off;
		while (i < g->rx_len && g->rx[i] == '+')
			i++;
		rx_consume(g, i - g->rx_off);
		if (g->rx_len > g->rx_off)
			break;
		long long left = deadline < 0 ? -1 : deadline - now_ms();
		if (deadline >= 0 && left < 0)
			left = 0;
		struct pollfd pfd = { .fd = g->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return gdead(g, errno, "waiting for GDB stub at %s: %s", g->where, strerror(errno));
		if (pr == 0)
			return 0;
		int rc = fill_rx(g, now_ms() + g->timeout_ms);
		if (rc)
			return rc;
	}
	int n = recv_reply(g, now_ms() + g->timeout_ms, 1);
	if (n < 0)
		return n;
	g->running = 0;
	int rc = gdb_parse_stop(g->reply, (size_t)n, stop);
	if (rc == -ESRCH)
		return gdead(g, ESRCH, "target behind GDB stub at %s has exited", g->where);
	if (rc)
		return gdead(g, EPROTO, "GDB stub at %s sent %.32s where a stop reply was due", g->where, g->reply);
	/* QEMU makes the vCPU that reports a debug stop (breakpoint, step) the
	 * one `g` reads; an interrupt (SIGINT) leaves the selection alone. */
	if (g->qemu_system && stop->signal == 5 && stop->thread > 0)
		g->cur_thread = stop->thread;
	return 1;
}

int gdb_fd(const struct vms_gdb *g)
{
	return g->fd;
}
