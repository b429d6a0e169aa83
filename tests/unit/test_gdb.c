/*
 * Unit test of the GDB remote-protocol client and the gdb memory source,
 * against a fake stub: a thread serving one loopback TCP connection with
 * canned replies. The fake speaks like QEMU (unasked stop reply on connect,
 * PhyMemMode, qRcmd output in `O` packets, CRLF monitor text) and can
 * misbehave on request: run-length encoded and escaped replies, E01, bad
 * checksums, a reply larger than the client's limit, a run-length bomb,
 * garbage, silence, and a listener that never accepts (a busy stub).
 *
 * The pure parsers (packet decoder, target description, flat view) are
 * checked directly as well. The last line is "N passed, M failed".
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl/gdb.h"
#include "mem/source.h"

static int passed, failed;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (cond) {                                                                \
			passed++;                                                          \
		} else {                                                                   \
			failed++;                                                          \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                          \
	} while (0)

/* ------------------------------------------------------------------------
 * The fake stub
 */

#define FAKE_MEM_SIZE (1u << 20)
#define ADDR_E01 0x5000u     /* [0x5000, 0x5100) answers E01 */
#define ADDR_BADSUM 0x6000u  /* first reply has a wrong checksum */
#define ADDR_HUGE 0x7000u    /* a 3 MiB reply */
#define ADDR_BOMB 0x8000u    /* a small frame that decodes past 1 MiB */
#define ADDR_SILENT 0x9000u  /* no reply */
#define ADDR_GARBAGE 0xa000u /* not a packet at all */
#define ADDR_SHORT 0xb000u   /* only half of what was asked */

struct fake {
	int lfd, fd, port;
	pthread_t thread;
	/* behaviour */
	unsigned psize;
	int offer_noack, no_phys, rle, escape, silent, never_accept, send_stop_on_connect;
	/* protocol state */
	int ack_mode, qs_state, badsum_done;
	long cur_thread;
	char *last; /* last frame, for '-' */
	size_t last_len;
	/* observations */
	int acks, naks, acked_replies, detached, phys;
	int running, bps, interrupts;
	size_t max_m_len;
	int m_unaligned, m_oversized;
	uint8_t mem[FAKE_MEM_SIZE];
};

static void fake_write(struct fake *f, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(f->fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* the client gave up on us: fine */
		c += w;
		n -= (size_t)w;
	}
}

/* Frame DATA, optionally run-length encoding and escaping it. */
static void fake_reply_n(struct fake *f, const char *data, size_t len, int badsum)
{
	size_t cap = 2 * len + 8, k = 0;
	char *b = malloc(cap);
	b[k++] = '$';
	for (size_t i = 0; i < len;) {
		char c = data[i];
		size_t run = 1;
		while (i + run < len && data[i + run] == c)
			run++;
		int special = c == '#' || c == '$' || c == '}' || c == '*';
		if (special || (f->escape && c == '3')) {
			b[k++] = '}';
			b[k++] = (char)(c ^ 0x20);
		} else {
			b[k++] = c;
		}
		i++;
		if (f->rle && run >= 4) {
			size_t rep = run - 1 > 97 ? 97 : run - 1;
			if (rep == 6 || rep == 7) /* counts '#' and '$' are not allowed */
				rep = 5;
			b[k++] = '*';
			b[k++] = (char)(rep + 29);
			i += rep;
		}
	}
	uint8_t sum = 0;
	for (size_t i = 1; i < k; i++)
		sum = (uint8_t)(sum + (uint8_t)b[i]);
	/* A corrupted frame goes out, the good one is kept for the NAK. */
	snprintf(b + k, 4, "#%02x", (uint8_t)(badsum ? sum ^ 0x55 : sum));
	fake_write(f, b, k + 3);
	snprintf(b + k, 4, "#%02x", sum);
	free(f->last);
	f->last = b;
	f->last_len = k + 3;
	f->acked_replies += f->ack_mode;
}

static void fake_reply(struct fake *f, const char *data)
{
	fake_reply_n(f, data, strlen(data), 0);
}

static void fake_replyf(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fake_replyf(struct fake *f, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fake_reply(f, buf);
}

static char *to_hex(const void *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	char *h = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++) {
		h[2 * i] = d[((const uint8_t *)p)[i] >> 4];
		h[2 * i + 1] = d[((const uint8_t *)p)[i] & 15];
	}
	h[2 * n] = '\0';
	return h;
}

/* Target description, split over three documents. sys.xml comes first in
 * document order but carries higher regnums, so the client must sort. */
static const char target_xml[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
        "<target><architecture>i386:x86-64</architecture>\n"
        "<xi:include href=\"sys.xml\"/>\n<xi:include href='core.xml' />\n</target>\n";
static const char core_xml[] =
        "<?xml version=\"1.0\"?>\n<!-- chars to escape: # $ * } -->\n"
        "<feature name=\"org.gnu.gdb.i386.core\">\n"
        "<flags id=\"x64_eflags\" size=\"4\"><field name=\"CF\" start=\"0\" end=\"0\"/></flags>\n"
        "<reg name=\"rax\" bitsize=\"64\" type=\"int64\" regnum=\"0\"/>\n"
        "<reg name=\"rbx\" bitsize=\"64\"/><reg name=\"rcx\" bitsize=\"64\"/><reg name=\"rdx\" bitsize=\"64\"/>\n"
        "<reg name=\"rsi\" bitsize=\"64\"/><reg name=\"rdi\" bitsize=\"64\"/><reg name=\"rbp\" bitsize=\"64\"/>\n"
        "<reg name=\"rsp\" bitsize=\"64\"/>\n<!--reg name=\"bogus\" bitsize=\"64\"/>\n"
        "<reg name=\"bogus2\" bitsize=\"64\"/-->\n"
        "<reg name=\"r8\" bitsize=\"64\"/><reg name=\"r9\" bitsize=\"64\"/><reg name=\"r10\" bitsize=\"64\"/>\n"
        "<reg name=\"r11\" bitsize=\"64\"/><reg name=\"r12\" bitsize=\"64\"/><reg name=\"r13\" bitsize=\"64\"/>\n"
        "<reg name=\"r14\" bitsize=\"64\"/><reg\tname=\"r15\"\nbitsize=\"64\"/>\n"
        "<reg type=\"code_ptr\" name=\"rip\" bitsize=\"64\"/><reg name=\"eflags\" bitsize=\"32\" type=\"a>b\"/>\n"
        "<reg name=\"cs\" bitsize=\"32\"/><reg name=\"ss\" bitsize=\"32\"/><reg name=\"ds\" bitsize=\"32\"/>\n"
        "<reg name=\"es\" bitsize=\"32\"/><reg name=\"fs\" bitsize=\"32\"/><reg name=\"gs\" bitsize=\"32\"/>\n"
        "<reg name=\"st0\" bitsize=\"80\"/>\n</feature>\n";
static const char sys_xml[] =
        "<feature name=\"org.gnu.gdb.i386.sys\">\n"
        "<reg name=\"fs_base\" bitsize=\"64\" regnum=\"30\"/><reg name=\"gs_base\" bitsize=\"64\"/>\n"
        "<reg name=\"k_gs_base\" bitsize=\"64\"/><reg name=\"cr0\" bitsize=\"64\"/>\n"
        "<reg name=\"cr2\" bitsize=\"64\"/><reg name=\"cr3\" bitsize=\"64\"/><reg name=\"cr4\" bitsize=\"64\"/>\n"
        "<reg name=\"cr8\" bitsize=\"64\"/><reg name=\"efer\" bitsize=\"64\"/>\n</feature>\n";

/* The `g` packet in regnum order: sizes in bytes. */
static const struct {
	const char *name;
	unsigned bytes;
} g_regs[] = {
	{ "rax", 8 },  { "rbx", 8 },     { "rcx", 8 },     { "rdx", 8 },       { "rsi", 8 }, { "rdi", 8 },
	{ "rbp", 8 },  { "rsp", 8 },     { "r8", 8 },      { "r9", 8 },        { "r10", 8 }, { "r11", 8 },
	{ "r12", 8 },  { "r13", 8 },     { "r14", 8 },     { "r15", 8 },       { "rip", 8 }, { "eflags", 4 },
	{ "cs", 4 },   { "ss", 4 },      { "ds", 4 },      { "es", 4 },        { "fs", 4 },  { "gs", 4 },
	{ "st0", 10 }, { "fs_base", 8 }, { "gs_base", 8 }, { "k_gs_base", 8 }, { "cr0", 8 }, { "cr2", 8 },
	{ "cr3", 8 },  { "cr4", 8 },     { "cr8", 8 },     { "efer", 8 },
};
#define N_GREGS (sizeof(g_regs) / sizeof(g_regs[0]))

static uint64_t reg_val(size_t k, long thread)
{
	return (uint64_t)thread << 56 | 0x0000123400000000ull | (0x1000u + k);
}

/* Thread 1: everything. Thread 2: k_gs_base unavailable ("xx").
 * Thread 3: the reply stops before efer. */
static void fake_send_g(struct fake *f)
{
	char hex[2 * 256 + 1] = "";
	size_t k = 0;
	for (size_t i = 0; i < N_GREGS; i++) {
		uint64_t v = reg_val(i, f->cur_thread);
		int unavailable = f->cur_thread == 2 && strcmp(g_regs[i].name, "k_gs_base") == 0;
		if (f->cur_thread == 3 && strcmp(g_regs[i].name, "efer") == 0)
			break;
		for (unsigned b = 0; b < g_regs[i].bytes; b++) {
			uint8_t byte = b < 8 ? (uint8_t)(v >> (8 * b)) : 0;
			k += (size_t)sprintf(hex + k, unavailable ? "xx" : "%02x", byte);
		}
	}
	fake_reply(f, hex);
}

static void fake_send_xfer(struct fake *f, const char *args)
{
	char annex[64];
	unsigned long off, len;
	if (sscanf(args, "%63[^:]:%lx,%lx", annex, &off, &len) != 3) {
		fake_reply(f, "E00");
		return;
	}
	const char *doc = strcmp(annex, "target.xml") == 0 ? target_xml
	                  : strcmp(annex, "core.xml") == 0 ? core_xml
	                  : strcmp(annex, "sys.xml") == 0  ? sys_xml
	                                                   : NULL;
	if (!doc) {
		fake_reply(f, "E00");
		return;
	}
	size_t dl = strlen(doc);
	if (len > 100)
		len = 100; /* small parts: the client must loop */
	if (off > dl)
		off = dl;
	size_t n = dl - off < len ? dl - off : len;
	char *buf = malloc(n + 2);
	buf[0] = off + n == dl ? 'l' : 'm';
	memcpy(buf + 1, doc + off, n);
	fake_reply_n(f, buf, n + 1, 0);
	free(buf);
}

static const char flatview_text[] =
        "FlatView #0\r\n AS \"I/O\", root: io\r\n Root memory region: io\r\n"
        "  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\r\n\r\n"
        "FlatView #1\r\n AS \"memory\", root: system\r\n AS \"cpu-memory-0\", root: system\r\n"
        " Root memory region: system\r\n"
        "  0000000000000000-000000000009ffff (prio 0, ram): ram\r\n"
        "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\r\n"
        "  00000000000c0000-00000000000cafff (prio 0, rom): ram @00000000000c0000\r\n"
        "  00000000000cb000-00000000000fffff (prio 0, ram): ram @00000000000cb000 KVM\r\n"
        "  00000000fd000000-00000000fdffffff (prio 1, ram): vga.vram\r\n"
        "  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\r\n\r\n";

static void fake_send_monitor(struct fake *f, const char *hexcmd)
{
	char cmd[128] = "";
	size_t n = strlen(hexcmd) / 2;
	for (size_t i = 0; i < n && i < sizeof(cmd) - 1; i++) {
		unsigned v;
		sscanf(hexcmd + 2 * i, "%2x", &v);
		cmd[i] = (char)v;
		cmd[i + 1] = '\0';
	}
	if (strcmp(cmd, "info mtree -f") != 0) {
		fake_reply(f, "E01");
		return;
	}
	/* In pieces, as QEMU does for long output. */
	size_t tl = strlen(flatview_text);
	for (size_t off = 0; off < tl; off += 200) {
		size_t part = tl - off < 200 ? tl - off : 200;
		char *h = to_hex(flatview_text + off, part);
		char *pkt = malloc(strlen(h) + 2);
		pkt[0] = 'O';
		strcpy(pkt + 1, h);
		fake_reply(f, pkt);
		free(pkt);
		free(h);
	}
	fake_reply(f, "OK");
}

static void fake_send_huge(struct fake *f)
{
	size_t n = 3u << 20;
	char *b = malloc(n);
	memset(b, 'a', n);
	b[0] = '$';
	fake_write(f, b, n);
	fake_write(f, "#00", 3);
	free(b);
}

/* 12000 x ("0" then 97 more) = 1.18 MB decoded from 36 KB on the wire. */
static void fake_send_bomb(struct fake *f)
{
	size_t reps = 12000, k = 0;
	char *b = malloc(reps * 3 + 8);
	uint8_t sum = 0;
	b[k++] = '$';
	for (size_t i = 0; i < reps; i++) {
		b[k++] = '0';
		b[k++] = '*';
		b[k++] = (char)(97 + 29);
	}
	for (size_t i = 1; i < k; i++)
		sum = (uint8_t)(sum + (uint8_t)b[i]);
	k += (size_t)snprintf(b + k, 4, "#%02x", sum);
	fake_write(f, b, k);
	free(b);
}

static void fake_send_mem(struct fake *f, const char *args)
{
	unsigned long long addr;
	unsigned long len;
	if (sscanf(args, "%llx,%lx", &addr, &len) != 2) {
		fake_reply(f, "E00");
		return;
	}
	if (len > f->max_m_len)
		f->max_m_len = len;
	if (len * 2 > f->psize) {
		f->m_oversized++;
		fake_reply(f, "E22");
		return;
	}
	if (addr == ADDR_SILENT)
		return;
	if (addr == ADDR_HUGE) {
		fake_send_huge(f);
		return;
	}
	if (addr == ADDR_BOMB) {
		fake_send_bomb(f);
		return;
	}
	if (addr == ADDR_GARBAGE) {
		fake_write(f, "HTTP/1.0 400 Bad Request\r\n", 26);
		return;
	}
	if (addr >= ADDR_E01 && addr < ADDR_E01 + 0x100) {
		fake_reply(f, "E01");
		return;
	}
	if (addr >= FAKE_MEM_SIZE || len > FAKE_MEM_SIZE - addr) {
		fake_reply(f, "E14");
		return;
	}
	if (addr == ADDR_SHORT && len > 1)
		len /= 2;
	if ((addr + len) % 128 != 0 && len == 128)
		f->m_unaligned++;
	char *h = to_hex(f->mem + addr, len);
	int bad = addr == ADDR_BADSUM && !f->badsum_done;
	f->badsum_done |= bad;
	fake_reply_n(f, h, strlen(h), bad);
	free(h);
}

static void fake_handle(struct fake *f, const char *cmd)
{
	if (f->silent)
		return;
	if (strncmp(cmd, "qSupported", 10) == 0) {
		fake_replyf(f, "PacketSize=%x;qXfer:features:read+;vContSupported+%s", f->psize,
		            f->offer_noack ? ";QStartNoAckMode+" : "");
	} else if (strcmp(cmd, "QStartNoAckMode") == 0) {
		fake_reply(f, f->offer_noack ? "OK" : "");
		f->ack_mode = !f->offer_noack;
	} else if (strcmp(cmd, "?") == 0) {
		fake_reply(f, "T05thread:01;");
	} else if (strcmp(cmd, "qqemu.Supported") == 0) {
		fake_reply(f, f->no_phys ? "sstepbits;sstep" : "sstepbits;sstep;PhyMemMode");
	} else if (strncmp(cmd, "Qqemu.PhyMemMode:", 17) == 0) {
		f->phys = cmd[17] == '1';
		fake_reply(f, f->no_phys ? "" : "OK");
	} else if (strcmp(cmd, "qfThreadInfo") == 0) {
		f->qs_state = 0;
		fake_reply(f, "m1,2");
	} else if (strcmp(cmd, "qsThreadInfo") == 0) {
		fake_reply(f, f->qs_state++ == 0 ? "m3" : "l");
	} else if (strncmp(cmd, "qXfer:features:read:", 20) == 0) {
		fake_send_xfer(f, cmd + 20);
	} else if (strncmp(cmd, "Hg", 2) == 0) {
		long t = strtol(cmd + 2, NULL, 16);
		if (t >= 0 && t <= 3)
			f->cur_thread = t ? t : 1;
		fake_reply(f, t >= 0 && t <= 3 ? "OK" : "E22");
	} else if (strcmp(cmd, "g") == 0) {
		fake_send_g(f);
	} else if (cmd[0] == 'm') {
		fake_send_mem(f, cmd + 1);
	} else if (strncmp(cmd, "qRcmd,", 6) == 0) {
		fake_send_monitor(f, cmd + 6);
	} else if (strcmp(cmd, "D") == 0) {
		f->detached++;
		fake_reply(f, "OK");
	} else if (strcmp(cmd, "c") == 0) {
		f->running = 1; /* the stop reply comes with the next 0x03 */
	} else if (strncmp(cmd, "vCont;s:", 8) == 0) {
		fake_replyf(f, "T05thread:%02lx;", strtol(cmd + 8, NULL, 16));
	} else if (strncmp(cmd, "Z0,", 3) == 0 || strncmp(cmd, "z0,", 3) == 0) {
		f->bps += cmd[0] == 'Z' ? 1 : -1;
		fake_reply(f, "OK");
	} else {
		fake_reply(f, "");
	}
}

/* Read one byte with a generous timeout; -1 on EOF or timeout. */
static int fake_getc(struct fake *f, char *buf, size_t *pos, size_t *len)
{
	if (*pos == *len) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		if (poll(&p, 1, 10000) <= 0)
			return -1;
		ssize_t n = recv(f->fd, buf, 4096, 0);
		if (n <= 0)
			return -1;
		*pos = 0;
		*len = (size_t)n;
	}
	return (unsigned char)buf[(*pos)++];
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	if (f->never_accept)
		return NULL;
	f->fd = accept(f->lfd, NULL, NULL);
	if (f->fd < 0)
		return NULL;
	int one = 1; /* like QEMU's nodelay=on: '+' and the reply go out at once */
	setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (f->send_stop_on_connect)
		fake_reply(f, "T02thread:01;");
	char buf[4096], cmd[4096];
	size_t pos = 0, len = 0;
	for (;;) {
		int c = fake_getc(f, buf, &pos, &len);
		if (c < 0)
			break;
		if (c == '+') {
			f->acks++;
			continue;
		}
		if (c == 0x03 && f->running) {
			f->running = 0;
			f->interrupts++;
			fake_reply(f, "T02thread:01;");
			continue;
		}
		if (c == '-') {
			f->naks++;
			if (f->last)
				fake_write(f, f->last, f->last_len);
			continue;
		}
		if (c != '$')
			continue;
		size_t k = 0;
		uint8_t sum = 0;
		while ((c = fake_getc(f, buf, &pos, &len)) >= 0 && c != '#' && k < sizeof(cmd) - 1) {
			sum = (uint8_t)(sum + c);
			cmd[k++] = (char)c;
		}
		int h1 = fake_getc(f, buf, &pos, &len), h2 = fake_getc(f, buf, &pos, &len);
		if (c != '#' || h1 < 0 || h2 < 0)
			break;
		char cs[3] = { (char)h1, (char)h2, 0 };
		if (strtoul(cs, NULL, 16) != sum) {
			fake_write(f, "-", 1);
			continue;
		}
		if (f->ack_mode)
			fake_write(f, "+", 1);
		cmd[k] = '\0';
		fake_handle(f, cmd);
	}
	return NULL;
}

static struct fake *fake_start(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	f->psize = 0x100;
	f->ack_mode = 1;
	f->fd = -1;
	f->cur_thread = 1;
	f->send_stop_on_connect = 1;
	for (size_t i = 0; i < FAKE_MEM_SIZE; i++)
		f->mem[i] = (i / 256) % 3 == 0 ? 0 : (uint8_t)(i * 7 + i / 4096);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f->lfd, 4) < 0 ||
	    getsockname(f->lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("fake stub");
		exit(2);
	}
	f->port = ntohs(sa.sin_port);
	return f;
}

static void fake_run(struct fake *f)
{
	pthread_create(&f->thread, NULL, fake_main, f);
}

/* Wait for the fake to see the client hang up; its counters are final. */
static void fake_join(struct fake *f)
{
	pthread_join(f->thread, NULL);
}

static void fake_free(struct fake *f)
{
	if (f->fd >= 0)
		close(f->fd);
	close(f->lfd);
	free(f->last);
	free(f);
}

static void fake_stop(struct fake *f)
{
	fake_join(f);
	fake_free(f);
}

static struct vms_gdb *connect_fake(struct fake *f, unsigned timeout_ms)
{
	struct vms_gdb *g = NULL;
	char err[512] = "";
	fake_run(f);
	int rc = gdb_connect("127.0.0.1", f->port, timeout_ms, &g, err, sizeof(err));
	if (rc)
		fprintf(stderr, "connect: %s\n", err);
	CHECK(rc == 0);
	return rc ? NULL : g;
}

/* ------------------------------------------------------------------------
 * Pure parsers
 */

/* Decode the frame "$DATA#cs" built with a correct checksum (or with
 * SUM_DELTA added to it). */
static int decode_data(const char *data, int sum_delta, char *out, size_t cap, size_t *n)
{
	char frame[256];
	uint8_t sum = 0;
	for (const char *p = data; *p; p++)
		sum = (uint8_t)(sum + (uint8_t)*p);
	int len = snprintf(frame, sizeof(frame), "$%s#%02x", data, (uint8_t)(sum + sum_delta));
	int rc = gdb_decode_packet((const uint8_t *)frame, (size_t)len, (uint8_t *)out, cap, n);
	if (rc == 0 && *n < cap)
		out[*n] = '\0';
	return rc;
}

static int decode_frame(const char *frame, size_t *n)
{
	uint8_t out[64];
	return gdb_decode_packet((const uint8_t *)frame, strlen(frame), out, sizeof(out), n);
}

static void test_decode(void)
{
	char out[256];
	size_t n;
	CHECK(decode_frame("$OK#9a", &n) == 0 && n == 2);
	CHECK(decode_frame("$OK#9A", &n) == 0); /* upper-case checksum digits */
	CHECK(decode_frame("$#00", &n) == 0 && n == 0);
	CHECK(decode_frame("$OK#9b", &n) == -EBADMSG);
	CHECK(decode_frame("$OK#zz", &n) == -EPROTO);
	CHECK(decode_frame("OK#9a", &n) == -EPROTO);
	CHECK(decode_frame("$OK", &n) == -EPROTO);
	CHECK(decode_data("OK", 1, out, sizeof(out), &n) == -EBADMSG);
	/* "0* " is '0' and (' ' - 29) = 3 more. */
	CHECK(decode_data("0* ", 0, out, sizeof(out), &n) == 0 && strcmp(out, "0000") == 0);
	CHECK(decode_data("x0*!y", 0, out, sizeof(out), &n) == 0 && strcmp(out, "x00000y") == 0);
	/* "}]" is '}' ^ 0x20 ^ 0x20; "}\x03" is '#'. */
	CHECK(decode_data("a}]b", 0, out, sizeof(out), &n) == 0 && strcmp(out, "a}b") == 0);
	CHECK(decode_data("}\x03", 0, out, sizeof(out), &n) == 0 && strcmp(out, "#") == 0);
	CHECK(decode_data("}\x0a", 0, out, sizeof(out), &n) == 0 && strcmp(out, "*") == 0);
	/* An escaped byte can be repeated. */
	CHECK(decode_data("}\x03* ", 0, out, sizeof(out), &n) == 0 && strcmp(out, "####") == 0);
	CHECK(decode_data("* ", 0, out, sizeof(out), &n) == -EPROTO);     /* nothing to repeat */
	CHECK(decode_data("0*", 0, out, sizeof(out), &n) == -EPROTO);     /* count missing */
	CHECK(decode_data("0*\x1d", 0, out, sizeof(out), &n) == -EPROTO); /* count 0 */
	CHECK(decode_data("0*$", 0, out, sizeof(out), &n) == -EPROTO);    /* '$' as a count */
	CHECK(decode_data("a}", 0, out, sizeof(out), &n) == -EPROTO);     /* dangling escape */
	CHECK(decode_data("a$b", 0, out, sizeof(out), &n) == -EPROTO);
	CHECK(decode_data("a#b", 0, out, sizeof(out), &n) == -EPROTO);
	CHECK(decode_data("0*~", 0, out, 50, &n) == -E2BIG);
	CHECK(decode_data("0*~", 0, out, 98, &n) == 0 && n == 98);
	CHECK(decode_data("abc", 0, out, 2, &n) == -E2BIG);
}

struct doc {
	const char *name, *text;
};

static int fetch_docs(void *ctx, const char *annex, char **text, size_t *len)
{
	for (const struct doc *d = ctx; d->name; d++) {
		if (strcmp(d->name, annex) == 0) {
			*len = strlen(d->text);
			*text = malloc(*len + 1);
			memcpy(*text, d->text, *len + 1);
			return 0;
		}
	}
	return -ENOENT;
}

static int parse_xml(const char *xml, const struct doc *docs, struct vms_gdb_layout *l)
{
	char err[256];
	return gdb_parse_target_xml(xml, strlen(xml), docs ? fetch_docs : NULL, (void *)docs, l, err, sizeof(err));
}

static void test_target_xml(void)
{
	static const struct doc docs[] = {
		{ "core.xml", core_xml },
		{ "sys.xml", sys_xml },
		{ "self.xml", "<xi:include href=\"self.xml\"/>" },
		{ NULL, NULL },
	};
	struct vms_gdb_layout l;
	CHECK(parse_xml(target_xml, docs, &l) == 0);
	CHECK(l.count == N_GREGS);
	int order_ok = l.count == N_GREGS;
	for (size_t i = 0; order_ok && i < N_GREGS; i++)
		order_ok = strcmp(l.regs[i].name, g_regs[i].name) == 0 && l.regs[i].bits == g_regs[i].bytes * 8;
	CHECK(order_ok);
	const struct vms_gdb_reg *r = gdb_layout_find(&l, "fs_base");
	CHECK(r && r->regnum == 30 && r->offset == 16 * 8 + 8 + 4 + 6 * 4 + 10);
	CHECK(gdb_layout_find(&l, "efer") && gdb_layout_find(&l, "efer")->regnum == 38);
	CHECK(gdb_layout_find(&l, "bogus") == NULL && gdb_layout_find(&l, "bogus2") == NULL);
	CHECK(l.g_bytes == 16 * 8 + 8 + 4 + 6 * 4 + 10 + 9 * 8);
	gdb_layout_free(&l);

	CHECK(parse_xml("<target><xi:include href=\"self.xml\"/></target>", docs, &l) == -ELOOP);
	CHECK(parse_xml("<target><xi:include href=\"none.xml\"/></target>", docs, &l) == -ENOENT);
	CHECK(parse_xml("<xi:include href=\"core.xml\"/>", NULL, &l) == -ENOTSUP);
	CHECK(parse_xml("<xi:include href=\"a:b\"/>", docs, &l) == -EPROTO);
	CHECK(parse_xml("<target></target>", NULL, &l) == -ENOENT);
	CHECK(parse_xml("<reg name=\"a\" bitsize=\"12\"/>", NULL, &l) == -EPROTO);
	CHECK(parse_xml("<reg name=\"a\" bitsize=\"0\"/>", NULL, &l) == -EPROTO);
	CHECK(parse_xml("<reg name=\"a\"/>", NULL, &l) == -EPROTO);
	CHECK(parse_xml("<reg name=\"a\" bitsize=\"64\" regnum=\"x\"/>", NULL, &l) == -EPROTO);
	CHECK(parse_xml("<reg name=\"a\" bitsize=\"64\" regnum=\"1\"/><reg name=\"b\" bitsize=\"64\" regnum=\"1\"/>",
	                NULL, &l) == -EPROTO);
	CHECK(parse_xml("<reg name=\"a\" bitsize=\"64\"", NULL, &l) == -EPROTO);
	CHECK(parse_xml("<!-- <reg name=\"a\" bitsize=\"64\"/>", NULL, &l) == -EPROTO);
	CHECK(parse_xml("<reg name=\"a\" bitsize='64'/><reg name=\"b\" bitsize=\"32\" regnum=\"5\"/>"
	                "<reg name=\"c\" bitsize=\"8\" regnum=\"2\"/>",
	                NULL, &l) == 0);
	CHECK(l.count == 3 && strcmp(l.regs[1].name, "c") == 0 && l.regs[2].offset == 9 && l.g_bytes == 13);
	gdb_layout_free(&l);
}

static void test_flatview(void)
{
	struct vms_ram_range r[4];
	int n = gdb_parse_flatview(flatview_text, strlen(flatview_text), r, 4);
	CHECK(n == 2);
	CHECK(n == 2 && r[0].gpa == 0 && r[0].len == 0xa0000 && r[1].gpa == 0xc0000 && r[1].len == 0x40000);
	CHECK(gdb_parse_flatview(flatview_text, strlen(flatview_text), r, 1) == -E2BIG);
	static const char no_mem[] =
	        "FlatView #0\n AS \"I/O\", root: io\n Root memory region: io\n"
	        "  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\n";
	CHECK(gdb_parse_flatview(no_mem, strlen(no_mem), r, 4) == -ENOENT);
	static const char bad[] =
	        "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n"
	        "  0000000000000000-000000000009ffff (prio x, ram): ram\n";
	CHECK(gdb_parse_flatview(bad, strlen(bad), r, 4) == -EPROTO);
	static const char high[] =
	        "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n"
	        "  0000000000000000-000000007fffffff (prio 0, ram): pc.ram\n"
	        "  0000000080000000-00000000ffffffff (prio -1, i/o): pci\n"
	        "  0000000100000000-000000017fffffff (prio 0, ram): pc.ram @0000000080000000\n";
	n = gdb_parse_flatview(high, strlen(high), r, 4);
	CHECK(n == 2 && r[1].gpa == 1ull << 32 && r[1].len == 1ull << 31);
}

/* ------------------------------------------------------------------------
 * Client against the fake
 */

static void test_session(int noack, int rle, int escape)
{
	struct fake *f = fake_start();
	f->offer_noack = noack;
	f->rle = rle;
	f->escape = escape;
	struct vms_gdb *g = connect_fake(f, 5000);
	if (!g) {
		fake_stop(f);
		return;
	}
	CHECK(gdb_packet_size(g) == 0x100);

	/* A read spanning many chunks, starting unaligned. */
	size_t len = 20000;
	uint8_t *buf = malloc(len);
	CHECK(gdb_read_mem(g, 0x10003, buf, len) == 0);
	CHECK(memcmp(buf, f->mem + 0x10003, len) == 0);
	CHECK(gdb_read_mem(g, ADDR_SHORT, buf, 64) == 0 && memcmp(buf, f->mem + ADDR_SHORT, 64) == 0);
	/* The same across a short reply while requests are pipelined. */
	memset(buf, 0xee, len);
	CHECK(gdb_read_mem(g, ADDR_SHORT - 1000, buf, 3000) == 0);
	CHECK(memcmp(buf, f->mem + ADDR_SHORT - 1000, 3000) == 0);
	/* One request at a time gives the same bytes. */
	CHECK(gdb_set_pipeline(g, 1) == 1);
	memset(buf, 0xee, len);
	CHECK(gdb_read_mem(g, 0x10003, buf, len) == 0 && memcmp(buf, f->mem + 0x10003, len) == 0);
	CHECK(gdb_set_pipeline(g, 99) == 16);
	CHECK(gdb_read_mem(g, 0, buf, 0) == 0);
	CHECK(f->max_m_len == 128 && f->m_oversized == 0 && f->m_unaligned == 0);

	CHECK(gdb_read_mem(g, ADDR_E01, buf, 16) == -EFAULT);
	CHECK(strstr(gdb_err(g), "E01") != NULL);
	CHECK(gdb_read_mem(g, UINT64_MAX - 4, buf, 16) == -EINVAL);
	/* An error in the middle of a pipelined read: the rest is drained. */
	CHECK(gdb_read_mem(g, ADDR_E01 - 1000, buf, 3000) == -EFAULT);
	CHECK(gdb_read_mem(g, ADDR_E01, buf, len) == -EFAULT);

	/* The connection survives an error reply. */
	CHECK(gdb_read_mem(g, 0x100, buf, 16) == 0 && memcmp(buf, f->mem + 0x100, 16) == 0);

	/* In ack mode a bad checksum is NAKed and resent; without acks it is fatal. */
	int rc = gdb_read_mem(g, ADDR_BADSUM, buf, 16);
	if (noack) {
		CHECK(rc == -EBADMSG);
		CHECK(gdb_read_mem(g, 0, buf, 16) == -EPIPE);
	} else {
		CHECK(rc == 0 && memcmp(buf, f->mem + ADDR_BADSUM, 16) == 0);
	}

	char reply[64];
	if (!noack) {
		CHECK(gdb_command(g, "qfThreadInfo", reply, sizeof(reply)) == 4 && strcmp(reply, "m1,2") == 0);
		CHECK(gdb_command(g, "qfThreadInfo", reply, 3) == -E2BIG);
		CHECK(gdb_command(g, "vMustReplyEmpty", reply, sizeof(reply)) == 0 && reply[0] == '\0');
	}
	gdb_client_close(g);
	fake_stop(f);
	free(buf);
}

static void test_ack_accounting(void)
{
	struct fake *f = fake_start();
	struct vms_gdb *g = connect_fake(f, 5000);
	uint8_t buf[3000];
	if (g) {
		CHECK(gdb_read_mem(g, 0x2000, buf, sizeof(buf)) == 0);
		CHECK(gdb_read_mem(g, 0x3000, buf, sizeof(buf)) == 0);
		CHECK(gdb_read_mem(g, ADDR_BADSUM, buf, 8) == 0);
		char *text = NULL;
		CHECK(gdb_monitor(g, "info mtree -f", &text) == 0); /* many replies */
		free(text);
		gdb_client_close(g);
	}
	fake_join(f);
	/* Every good reply (the unasked stop reply included) was acked exactly
	 * once, and the bad checksum was NAKed once. */
	if (f->acks != f->acked_replies)
		fprintf(stderr, "acks %d, acked replies %d\n", f->acks, f->acked_replies);
	CHECK(f->acks == f->acked_replies);
	CHECK(f->naks == 1);
	CHECK(f->detached == 1);
	fake_free(f);
}

static void test_registers(void)
{
	struct fake *f = fake_start();
	struct vms_gdb *g = connect_fake(f, 5000);
	if (!g) {
		fake_stop(f);
		return;
	}
	long ids[8];
	CHECK(gdb_thread_ids(g, ids, 8) == 3 && ids[0] == 1 && ids[1] == 2 && ids[2] == 3);
	CHECK(gdb_thread_ids(g, ids, 1) == 3);

	struct vms_regs r;
	CHECK(gdb_read_regs(g, 1, &r) == 0);
	CHECK(r.valid == (VMS_REGS_GPR | VMS_REGS_CR | VMS_REGS_EFER | VMS_REGS_SEG | VMS_REGS_KGSBASE));
	CHECK(r.rax == reg_val(0, 1) && r.rsp == reg_val(7, 1) && r.r15 == reg_val(15, 1));
	CHECK(r.rip == reg_val(16, 1) && r.rflags == (uint32_t)reg_val(17, 1));
	CHECK(r.cs == (uint16_t)reg_val(18, 1) && r.gs == (uint16_t)reg_val(23, 1));
	CHECK(r.fs_base == reg_val(25, 1) && r.gs_base == reg_val(26, 1) && r.kernel_gs_base == reg_val(27, 1));
	CHECK(r.cr0 == reg_val(28, 1) && r.cr3 == reg_val(30, 1) && r.cr4 == reg_val(31, 1));
	CHECK(r.efer == reg_val(33, 1));

	CHECK(gdb_read_regs(g, 2, &r) == 0);
	CHECK(r.valid == (VMS_REGS_GPR | VMS_REGS_CR | VMS_REGS_EFER | VMS_REGS_SEG));
	CHECK(r.kernel_gs_base == 0 && r.rax == reg_val(0, 2));

	CHECK(gdb_read_regs(g, 3, &r) == 0);
	CHECK(r.valid == (VMS_REGS_GPR | VMS_REGS_CR | VMS_REGS_SEG | VMS_REGS_KGSBASE) && r.efer == 0);

	CHECK(gdb_read_regs(g, 1, &r) == 0 && r.rax == reg_val(0, 1)); /* switched back */
	CHECK(gdb_read_regs(g, 9, &r) == -ESRCH);
	CHECK(gdb_read_regs(g, -1, &r) == -EINVAL);

	char *out = NULL;
	CHECK(gdb_monitor(g, "info mtree -f", &out) == 0);
	CHECK(out && strcmp(out,
	                    "FlatView #0\n AS \"I/O\", root: io\n Root memory region: io\n"
	                    "  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\n\n"
	                    "FlatView #1\n AS \"memory\", root: system\n AS \"cpu-memory-0\", root: system\n"
	                    " Root memory region: system\n"
	                    "  0000000000000000-000000000009ffff (prio 0, ram): ram\n"
	                    "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
	                    "  00000000000c0000-00000000000cafff (prio 0, rom): ram @00000000000c0000\n"
	                    "  00000000000cb000-00000000000fffff (prio 0, ram): ram @00000000000cb000 KVM\n"
	                    "  00000000fd000000-00000000fdffffff (prio 1, ram): vga.vram\n"
	                    "  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n\n") == 0);
	free(out);
	CHECK(gdb_monitor(g, "info nothing", &out) == -EREMOTEIO);

	CHECK(gdb_set_phys(g, 1) == 0 && f->phys == 1);
	CHECK(gdb_set_phys(g, 0) == 0 && f->phys == 0);
	CHECK(gdb_detach(g) == 0);
	CHECK(gdb_read_mem(g, 0, &r, 8) == -ENOTCONN);
	gdb_client_close(g);
	fake_stop(f);
}

/* A reply that breaks the stream must fail that call and every later one. */
static void test_broken(uint64_t addr, int want)
{
	struct fake *f = fake_start();
	struct vms_gdb *g = connect_fake(f, 1000);
	if (!g) {
		fake_stop(f);
		return;
	}
	uint8_t buf[16];
	int rc = gdb_read_mem(g, addr, buf, sizeof(buf));
	if (rc != want)
		fprintf(stderr, "addr %#" PRIx64 ": got %d (%s), want %d\n", addr, rc, gdb_err(g), want);
	CHECK(rc == want);
	CHECK(gdb_read_mem(g, 0, buf, sizeof(buf)) == -EPIPE);
	gdb_client_close(g);
	fake_stop(f);
}

static void test_connect_errors(void)
{
	char err[512];
	struct vms_gdb *g = NULL;

	/* Refused: a port that was just free. */
	struct fake *f = fake_start();
	int port = f->port;
	f->never_accept = 1;
	fake_run(f);
	fake_stop(f);
	CHECK(gdb_connect("127.0.0.1", port, 1000, &g, err, sizeof(err)) == -ECONNREFUSED);
	CHECK(strstr(err, "no GDB stub at 127.0.0.1:") != NULL);

	/* Busy: the kernel accepts the connection, nobody answers. */
	f = fake_start();
	f->never_accept = 1;
	fake_run(f);
	CHECK(gdb_connect("127.0.0.1", f->port, 300, &g, err, sizeof(err)) == -ETIMEDOUT);
	CHECK(strstr(err, "GDB stub busy: another debugger attached?") != NULL);
	fake_stop(f);

	/* Accepted but silent. */
	f = fake_start();
	f->silent = 1;
	fake_run(f);
	CHECK(gdb_connect("127.0.0.1", f->port, 300, &g, err, sizeof(err)) == -ETIMEDOUT);
	fake_stop(f);

	/* A stub that is not QEMU: no physical memory mode. */
	f = fake_start();
	f->no_phys = 1;
	g = connect_fake(f, 1000);
	if (g) {
		CHECK(gdb_set_phys(g, 1) == -ENOTSUP);
		CHECK(strstr(gdb_err(g), "PhyMemMode") != NULL);
		gdb_client_close(g);
	}
	fake_stop(f);

	CHECK(gdb_connect("127.0.0.1", 0, 300, &g, err, sizeof(err)) == -EINVAL);
}

/* ------------------------------------------------------------------------
 * The memory source
 */

static void test_source(void)
{
	struct fake *f = fake_start();
	struct vms_source *s = NULL;
	char err[512] = "";
	fake_run(f);
	int rc = mem_gdb_open("127.0.0.1", f->port, 5000, &s, err, sizeof(err));
	if (rc)
		fprintf(stderr, "gdbmem_open: %s\n", err);
	CHECK(rc == 0);
	if (rc) {
		fake_stop(f);
		return;
	}
	CHECK(strcmp(s->ops->name, "gdb") == 0 && s->ops->version == VMS_SOURCE_OPS_VERSION);
	char want[64];
	snprintf(want, sizeof(want), "GDB stub at 127.0.0.1:%d", f->port);
	CHECK(strcmp(s->detail, want) == 0);
	CHECK(f->phys == 1);
	CHECK(s->nranges == 2 && s->ranges[0].gpa == 0 && s->ranges[0].len == 0xa0000 && s->ranges[1].gpa == 0xc0000 &&
	      s->ranges[1].len == 0x40000);
	CHECK(s->host[0] == NULL && s->host[1] == NULL);

	uint8_t buf[5000];
	CHECK(s->ops->read(s, 0xc1000, buf, sizeof(buf)) == 0 && memcmp(buf, f->mem + 0xc1000, sizeof(buf)) == 0);
	CHECK(s->ops->read(s, ADDR_E01, buf, 8) == -EFAULT && strstr(s->err, "E01") != NULL);
	CHECK(s->ops->vcpus(s) == 3);
	struct vms_regs r;
	CHECK(s->ops->regs(s, 1, &r) == 0 && r.rax == reg_val(0, 2));
	CHECK(s->ops->regs(s, 0, &r) == 0 && r.rax == reg_val(0, 1));
	CHECK(s->ops->regs(s, 3, &r) == -EINVAL);
	s->ops->close(s);
	fake_stop(f);

	/* No PhyMemMode: open fails with the reason. */
	f = fake_start();
	f->no_phys = 1;
	fake_run(f);
	CHECK(mem_gdb_open("127.0.0.1", f->port, 5000, &s, err, sizeof(err)) == -ENOTSUP);
	CHECK(strstr(err, "PhyMemMode") != NULL);
	fake_stop(f);

	CHECK(mem_gdb_open("127.0.0.1", 1, 300, &s, err, sizeof(err)) == -ECONNREFUSED);
}

static long long ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* TEST_TIMES=1 shows what each test costs (the timeouts dominate). */
#define RUN(t)                                                           \
	do {                                                             \
		long long t0 = ms();                                     \
		t;                                                       \
		if (getenv("TEST_TIMES"))                                \
			fprintf(stderr, "%5lld ms %s\n", ms() - t0, #t); \
	} while (0)

static void test_stop_parse(void)
{
	struct vms_gdb_stop st;
	CHECK(gdb_parse_stop("T05thread:01;", 13, &st) == 0 && st.signal == 5 && st.thread == 1 && !st.watch);
	CHECK(gdb_parse_stop("T05thread:p01.0a;", 17, &st) == 0 && st.thread == 10);
	CHECK(gdb_parse_stop("T02thread:02;", 13, &st) == 0 && st.signal == 2 && st.thread == 2);
	CHECK(gdb_parse_stop("T05thread:01;watch:ffff8000;", 28, &st) == 0 && st.watch && st.watch_addr == 0xffff8000u);
	CHECK(gdb_parse_stop("T0506:0*,;07:1234;thread:03;", 28, &st) == 0 && st.thread == 3);
	CHECK(gdb_parse_stop("S05", 3, &st) == 0 && st.signal == 5 && st.thread == -1);
	CHECK(gdb_parse_stop("T05", 3, &st) == 0 && st.thread == -1);
	CHECK(gdb_parse_stop("W00", 3, &st) == -ESRCH);
	CHECK(gdb_parse_stop("X09", 3, &st) == -ESRCH);
	CHECK(gdb_parse_stop("OK", 2, &st) == -EPROTO);
	CHECK(gdb_parse_stop("T5", 2, &st) == -EPROTO);
	CHECK(gdb_parse_stop("S05x", 4, &st) == -EPROTO);
	CHECK(gdb_parse_stop("T05thread", 9, &st) == -EPROTO);
	CHECK(gdb_parse_stop("T05thread:;", 11, &st) == -EPROTO);
	CHECK(gdb_parse_stop("T05thread:p01;", 14, &st) == -EPROTO);
	CHECK(gdb_parse_stop("T05thread:1234567890abcdef0;", 28, &st) == -EPROTO);
	CHECK(gdb_parse_stop("T05thread:zz;", 13, &st) == -EPROTO);
	CHECK(gdb_parse_stop("T05thread:01", 12, &st) == 0 && st.thread == 1);
}

static void test_hostport(void)
{
	char host[16];
	int port = 0;
	CHECK(gdb_parse_hostport("127.0.0.1:1234", host, sizeof(host), &port) == 0 && port == 1234 &&
	      strcmp(host, "127.0.0.1") == 0);
	CHECK(gdb_parse_hostport("::1:99", host, sizeof(host), &port) == 0 && port == 99 && strcmp(host, "::1") == 0);
	CHECK(gdb_parse_hostport("host:0", host, sizeof(host), &port) == -EINVAL);
	CHECK(gdb_parse_hostport("host:65536", host, sizeof(host), &port) == -EINVAL);
	CHECK(gdb_parse_hostport("host:12x", host, sizeof(host), &port) == -EINVAL);
	CHECK(gdb_parse_hostport(":1234", host, sizeof(host), &port) == -EINVAL);
	CHECK(gdb_parse_hostport("nonsense", host, sizeof(host), &port) == -EINVAL);
	CHECK(gdb_parse_hostport("a-very-long-host-name:1", host, sizeof(host), &port) == -EINVAL);
}

/* Resume, quiet waits, interrupt, step, breakpoints: the calls the tracer
 * makes, against the fake's all-stop behaviour. */
static void test_running(void)
{
	struct fake *f = fake_start();
	struct vms_gdb *g = connect_fake(f, 2000);
	struct vms_gdb_stop st;
	const char *r;
	CHECK(g != NULL);
	if (!g) {
		fake_stop(f);
		return;
	}
	CHECK(gdb_breakpoint(g, 1, 0, 0xffffffff81000000ull, 1) == 0 && f->bps == 1);
	CHECK(gdb_breakpoint(g, 1, 1, 0xffffffff81000000ull, 1) == -ENOTSUP);
	CHECK(gdb_breakpoint(g, 1, 7, 0xffffffff81000000ull, 1) == -EINVAL);
	CHECK(gdb_wait_stop(g, 10, &st) == -EINVAL); /* not resumed */
	CHECK(gdb_resume(g, "c") == 0);
	CHECK(gdb_wait_stop(g, 50, &st) == 0); /* quiet: still running */
	CHECK(gdb_wait_stop(g, 0, &st) == 0);
	CHECK(gdb_transact(g, "g", 1, &r) == -EBUSY); /* no requests while it runs */
	CHECK(gdb_interrupt(g) == 0);
	CHECK(gdb_wait_stop(g, 2000, &st) == 1 && st.signal == 2 && st.thread == 1);
	CHECK(f->interrupts == 1);
	CHECK(gdb_interrupt(g) == 0); /* stopped: a no-op */
	CHECK(gdb_resume(g, "vCont;s:2") == 0);
	CHECK(gdb_wait_stop(g, 2000, &st) == 1 && st.signal == 5 && st.thread == 2);
	CHECK(gdb_breakpoint(g, 0, 0, 0xffffffff81000000ull, 1) == 0 && f->bps == 0);
	/* closing a running guest stops it before the detach */
	CHECK(gdb_resume(g, "c") == 0);
	gdb_client_close(g);
	fake_join(f);
	CHECK(f->interrupts == 2 && f->detached == 1 && !f->running);
	fake_free(f);
}

int main(void)
{
	RUN(test_decode());
	RUN(test_target_xml());
	RUN(test_flatview());
	RUN(test_session(0, 0, 0));
	RUN(test_session(0, 1, 1));
	RUN(test_session(1, 1, 0));
	RUN(test_ack_accounting());
	RUN(test_registers());
	RUN(test_broken(ADDR_HUGE, -E2BIG));
	RUN(test_broken(ADDR_BOMB, -E2BIG));
	RUN(test_broken(ADDR_GARBAGE, -EPROTO));
	RUN(test_broken(ADDR_SILENT, -ETIMEDOUT));
	RUN(test_connect_errors());
	RUN(test_source());
	RUN(test_stop_parse());
	RUN(test_hostport());
	RUN(test_running());
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
