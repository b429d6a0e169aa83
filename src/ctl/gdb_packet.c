/*
 * GDB remote protocol codec: the pure half of the GDB client (gdb.c).
 *
 * Everything here turns bytes into values without a socket: hex digits,
 * the "$data#cs" frame (checksum, `}` escapes, `*` run-length encoding),
 * the replies the client parses (stop replies, thread lists, the `g`
 * register packet laid out by the target description), QEMU's flat memory
 * view, and the HOST:PORT a stub is named by. Kept apart from the client so
 * each parser can be unit-tested and fuzzed on its own, and so that the
 * client reads as the conversation with the stub, not as string handling.
 * Every guest- or stub-supplied length is checked before it is used.
 */
#include "gdb.h"
#include "gdb_private.h"
#include "qemu.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Hex digits and reply kinds
 */

int gdb_hex_decode(const char *hex, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit((unsigned char)hex[2 * i]), lo = hex_digit((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void gdb_hex_encode(const void *data, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int gdb_is_error_reply(const char *r, size_t len)
{
	if (len < 3 || r[0] != 'E')
		return 0;
	return r[1] == '.' || (len == 3 && hex_digit((unsigned char)r[1]) >= 0 && hex_digit((unsigned char)r[2]) >= 0);
}

int gdb_is_stop_reply(const char *r, size_t len)
{
	return len >= 3 && (r[0] == 'T' || r[0] == 'S') && hex_digit((unsigned char)r[1]) >= 0 &&
	       hex_digit((unsigned char)r[2]) >= 0;
}

/* ------------------------------------------------------------------------
 * Packet decoding (pure)
 */

int gdb_decode_packet(const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen)
{
	if (inlen < 4 || in[0] != '$' || in[inlen - 3] != '#')
		return -EPROTO;
	size_t end = inlen - 3;
	int hi = hex_digit(in[inlen - 2]), lo = hex_digit(in[inlen - 1]);
	if (hi < 0 || lo < 0)
		return -EPROTO;
	uint8_t sum = 0;
	for (size_t i = 1; i < end; i++)
		sum = (uint8_t)(sum + in[i]);
	if (sum != (hi << 4 | lo))
		return -EBADMSG;

	size_t n = 0;
	for (size_t i = 1; i < end; i++) {
		uint8_t c = in[i];
		if (c == '$' || c == '#')
			return -EPROTO; /* must have been escaped */
		if (c == '*') {
			/* Repeat the previous byte (count char - 29) more times;
			 * '#' and '$' are not valid counts. */
			if (n == 0 || ++i == end || in[i] < 30 || in[i] > 126 || in[i] == '#' || in[i] == '$')
				return -EPROTO;
			size_t rep = (size_t)in[i] - 29;
			if (rep > outcap - n)
				return -E2BIG;
			memset(out + n, out[n - 1], rep);
			n += rep;
			continue;
		}
		if (c == '}') {
			if (++i == end)
				return -EPROTO;
			c = in[i] ^ 0x20;
		}
		if (n == outcap)
			return -E2BIG;
		out[n++] = c;
	}
	*outlen = n;
	return 0;
}

/* ------------------------------------------------------------------------
 * QEMU's flat memory view (pure)
 */

/* The flat view is parsed by the QMP side's parser (ctl/qemu.c), asked for
 * the block at address 0; the stub reads by guest-physical address, so
 * ranges that touch are one range here. */
int gdb_parse_flatview(const char *text, size_t len, struct vms_ram_range *ranges, size_t cap)
{
	char *copy = strndup(text, len);
	struct vms_qemu_ram *ram = malloc(sizeof(*ram));
	int rc = copy && ram ? qemu_parse_flatview(copy, NULL, ram) : -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; rc == 0 && i < ram->nranges; i++) {
		if (n && ranges[n - 1].gpa + ranges[n - 1].len == ram->ranges[i].gpa)
			ranges[n - 1].len += ram->ranges[i].len;
		else if (n == cap)
			rc = -E2BIG;
		else
			ranges[n++] = ram->ranges[i];
	}
	free(copy);
	free(ram);
	return rc ? rc : (int)n;
}

/* ------------------------------------------------------------------------
 * Replies: stop replies, thread lists, registers; naming a stub
 */

int gdb_parse_stop(const char *r, size_t len, struct vms_gdb_stop *out)
{
	memset(out, 0, sizeof(*out));
	out->thread = -1;
	if (len >= 3 && (r[0] == 'W' || r[0] == 'X'))
		return -ESRCH;
	if (!gdb_is_stop_reply(r, len))
		return -EPROTO;
	out->signal = hex_digit((unsigned char)r[1]) << 4 | hex_digit((unsigned char)r[2]);
	if (r[0] == 'S')
		return len == 3 ? 0 : -EPROTO;
	/* T: "n:r;" pairs; we want thread (plain or "pPID.TID") and the
	 * watchpoint kinds; registers and unknown keys are skipped. */
	for (size_t i = 3; i < len;) {
		const char *kv = r + i, *end = memchr(kv, ';', len - i);
		size_t n = end ? (size_t)(end - kv) : len - i;
		const char *colon = memchr(kv, ':', n);
		if (!colon)
			return -EPROTO;
		size_t kl = (size_t)(colon - kv), vl = n - kl - 1;
		const char *v = colon + 1;
		uint64_t x;
		if (kl == 6 && memcmp(kv, "thread", 6) == 0) {
			if (vl > 0 && v[0] == 'p') {
				const char *dot = memchr(v, '.', vl);
				if (!dot)
					return -EPROTO;
				vl -= (size_t)(dot + 1 - v);
				v = dot + 1;
			}
			if (vl == 0 || vl > 15 || hex_u64(v, vl, &x))
				return -EPROTO;
			out->thread = (long)x;
		} else if ((kl == 5 && memcmp(kv, "watch", 5) == 0) || (kl == 6 && memcmp(kv, "rwatch", 6) == 0) ||
		           (kl == 6 && memcmp(kv, "awatch", 6) == 0)) {
			if (vl == 0 || vl > 16 || hex_u64(v, vl, &x))
				return -EPROTO;
			out->watch = 1;
			out->watch_addr = x;
		}
		i += n + (end != NULL);
	}
	return 0;
}

int gdb_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *h = s, *colon;
	size_t hl;
	if (*s == '[') {
		/* [IPv6]:PORT: the address may hold colons of its own */
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		hl = colon ? (size_t)(colon - s) : 0;
	}
	char *end;
	long p = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || hl == 0 || hl >= hostlen || *end || colon[1] == '\0' || p <= 0 || p > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

/* Parse "id,id,..." (after the 'm'); ids may be "pPID.TID" with multiprocess. */
int gdb_parse_thread_list(const char *p, long *ids, size_t cap, size_t *count)
{
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *dot = memchr(p, '.', n);
		const char *id = (p[0] == 'p' && dot) ? dot + 1 : p;
		size_t idlen = n - (size_t)(id - p);
		uint64_t v;
		if (idlen == 0 || idlen > 15 || hex_u64(id, idlen, &v))
			return -EPROTO;
		if (*count == VMS_GDB_MAX_THREADS)
			return -E2BIG;
		if (*count < cap)
			ids[*count] = (long)v;
		(*count)++;
		p += n + (p[n] == ',');
	}
	return 0;
}

#define REG_FIELD(f) offsetof(struct vms_regs, f), sizeof(((struct vms_regs *)0)->f)

static const struct {
	const char *name;
	size_t off, size;
	uint32_t group;
} reg_map[] = {
	{ "rax", REG_FIELD(rax), VMS_REGS_GPR },
	{ "rbx", REG_FIELD(rbx), VMS_REGS_GPR },
	{ "rcx", REG_FIELD(rcx), VMS_REGS_GPR },
	{ "rdx", REG_FIELD(rdx), VMS_REGS_GPR },
	{ "rsi", REG_FIELD(rsi), VMS_REGS_GPR },
	{ "rdi", REG_FIELD(rdi), VMS_REGS_GPR },
	{ "rbp", REG_FIELD(rbp), VMS_REGS_GPR },
	{ "rsp", REG_FIELD(rsp), VMS_REGS_GPR },
	{ "r8", REG_FIELD(r8), VMS_REGS_GPR },
	{ "r9", REG_FIELD(r9), VMS_REGS_GPR },
	{ "r10", REG_FIELD(r10), VMS_REGS_GPR },
	{ "r11", REG_FIELD(r11), VMS_REGS_GPR },
	{ "r12", REG_FIELD(r12), VMS_REGS_GPR },
	{ "r13", REG_FIELD(r13), VMS_REGS_GPR },
	{ "r14", REG_FIELD(r14), VMS_REGS_GPR },
	{ "r15", REG_FIELD(r15), VMS_REGS_GPR },
	{ "rip", REG_FIELD(rip), VMS_REGS_GPR },
	{ "eflags", REG_FIELD(rflags), VMS_REGS_GPR },
	{ "cs", REG_FIELD(cs), VMS_REGS_SEG },
	{ "ss", REG_FIELD(ss), VMS_REGS_SEG },
	{ "ds", REG_FIELD(ds), VMS_REGS_SEG },
	{ "es", REG_FIELD(es), VMS_REGS_SEG },
	{ "fs", REG_FIELD(fs), VMS_REGS_SEG },
	{ "gs", REG_FIELD(gs), VMS_REGS_SEG },
	{ "fs_base", REG_FIELD(fs_base), VMS_REGS_SEG },
	{ "gs_base", REG_FIELD(gs_base), VMS_REGS_SEG },
	{ "k_gs_base", REG_FIELD(kernel_gs_base), VMS_REGS_KGSBASE },
	{ "cr0", REG_FIELD(cr0), VMS_REGS_CR },
	{ "cr2", REG_FIELD(cr2), VMS_REGS_CR },
	{ "cr3", REG_FIELD(cr3), VMS_REGS_CR },
	{ "cr4", REG_FIELD(cr4), VMS_REGS_CR },
	{ "efer", REG_FIELD(efer), VMS_REGS_EFER },
};

/* Value of register R from the hex `g` reply (HEXLEN digits), little-endian,
 * low 64 bits. 1 = unavailable (missing or "xx"), -1 = malformed. */
static int reg_value(const struct vms_gdb_reg *r, const char *hex, size_t hexlen, uint64_t *v)
{
	size_t nbytes = r->bits / 8;
	if ((r->offset + nbytes) * 2 > hexlen)
		return 1;
	const char *p = hex + 2 * r->offset;
	*v = 0;
	for (size_t i = 0; i < nbytes; i++) {
		if (p[2 * i] == 'x' || p[2 * i + 1] == 'x')
			return 1;
		int hi = hex_digit((unsigned char)p[2 * i]), lo = hex_digit((unsigned char)p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		if (i < 8)
			*v |= (uint64_t)(hi << 4 | lo) << (8 * i);
	}
	return 0;
}

static void store_field(struct vms_regs *out, size_t off, size_t size, uint64_t v)
{
	uint8_t *f = (uint8_t *)out + off;
	if (size == sizeof(uint64_t)) {
		memcpy(f, &v, sizeof(v));
	} else {
		uint16_t s = (uint16_t)v;
		memcpy(f, &s, sizeof(s));
	}
}

int gdb_decode_regs(const struct vms_gdb_layout *l, const char *hex, size_t hexlen, struct vms_regs *out)
{
	uint32_t have = 0, lack = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(reg_map) / sizeof(reg_map[0]); i++) {
		const struct vms_gdb_reg *r = gdb_layout_find(l, reg_map[i].name);
		uint64_t v = 0;
		int rc = r ? reg_value(r, hex, hexlen, &v) : 1;
		if (rc < 0)
			return -EPROTO;
		if (rc > 0) {
			lack |= reg_map[i].group;
			continue;
		}
		have |= reg_map[i].group;
		store_field(out, reg_map[i].off, reg_map[i].size, v);
	}
	out->valid = have & ~lack;
	return 0;
}
