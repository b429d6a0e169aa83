/*
 * QEMU migration stream parser (RAM only); see migstream.h.
 *
 * Format (QEMU 7.2, big-endian): "QEVM" magic, version 3; an optional
 * configuration section (0x07: machine name, then vmstate subsections);
 * then sections: START (0x01: id, name, instance, version), PART (0x02) and
 * END (0x03: id), each followed by an optional footer (0x7e, id). The "ram"
 * section's payload is a run of records, each a be64 holding a page-aligned
 * offset and flag bits in the low bits, up to an EOS record.
 */
#include "migstream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_VM_FILE_MAGIC 0x5145564du
#define QEMU_VM_FILE_VERSION 3u

enum {
	SEC_START = 0x01,
	SEC_PART = 0x02,
	SEC_END = 0x03,
	SEC_FULL = 0x04,
	SEC_EOF = 0x05,
	SEC_CONFIGURATION = 0x07,
	SEC_FOOTER = 0x7e,
	VMSTATE_SUBSECTION = 0x05,
};

enum {
	RAM_ZERO = 0x02,
	RAM_MEM_SIZE = 0x04,
	RAM_PAGE = 0x08,
	RAM_EOS = 0x10,
	RAM_CONTINUE = 0x20,
	RAM_KNOWN = RAM_ZERO | RAM_MEM_SIZE | RAM_PAGE | RAM_EOS | RAM_CONTINUE,
};

struct ms {
	const struct ms_callbacks *cb;
	struct ms_stats *st;
	char *err;
	size_t errlen;
	int have_peek;
	uint8_t peek;
	uint32_t ram_section;
	int ram_started;
	struct {
		char name[256];
		uint64_t len;
		uint64_t *seen;   /* bitmap of pages received */
		uint64_t missing; /* pages not received yet */
	} blocks[MS_MAX_BLOCKS];
	unsigned nblocks;
	int cur; /* block of the last page record, for CONTINUE */
	uint8_t page[MS_PAGE];
};

static int fail(struct ms *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ms *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->err, m->errlen, fmt, ap);
	va_end(ap);
	return -EPROTO;
}

static int rd(struct ms *m, void *buf, size_t n)
{
	if (n == 0)
		return 0;
	uint8_t *b = buf;
	if (m->have_peek) {
		b[0] = m->peek;
		m->have_peek = 0;
		b++;
		n--;
		if (n == 0)
			return 0;
	}
	int rc = m->cb->read(m->cb->ctx, b, n);
	if (rc == -EPIPE)
		snprintf(m->err, m->errlen, "migration stream ends early (truncated)");
	return rc;
}

static int rd8(struct ms *m, uint8_t *v)
{
	return rd(m, v, 1);
}

static int rd32(struct ms *m, uint32_t *v)
{
	uint8_t b[4];
	int rc = rd(m, b, 4);
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return rc;
}

static int rd64(struct ms *m, uint64_t *v)
{
	uint32_t hi = 0, lo = 0;
	int rc = rd32(m, &hi);
	if (!rc)
		rc = rd32(m, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return rc;
}

static int peek8(struct ms *m, uint8_t *v)
{
	if (!m->have_peek) {
		int rc = m->cb->read(m->cb->ctx, &m->peek, 1);
		if (rc)
			return rc;
		m->have_peek = 1;
	}
	*v = m->peek;
	return 0;
}

/* A length-prefixed (u8) name into OUT (256 bytes). */
static int rd_name(struct ms *m, char *out)
{
	uint8_t len;
	int rc = rd8(m, &len);
	if (!rc)
		rc = rd(m, out, len);
	out[rc ? 0 : len] = '\0';
	if (!rc && strlen(out) != len)
		return fail(m, "NUL byte inside a name in the migration stream");
	return rc;
}

static int parse_configuration(struct ms *m)
{
	uint32_t len;
	int rc = rd32(m, &len);
	if (rc)
		return rc;
	if (len > 256)
		return fail(m, "machine name of %u bytes in the configuration section", len);
	char name[257];
	if ((rc = rd(m, name, len)))
		return rc;
	for (int guard = 0;; guard++) {
		uint8_t b;
		if ((rc = peek8(m, &b)))
			return rc;
		if (b != VMSTATE_SUBSECTION)
			return 0;
		if (guard == 8)
			return fail(m, "too many configuration subsections");
		m->have_peek = 0;
		char sub[256];
		uint32_t version;
		if ((rc = rd_name(m, sub)) || (rc = rd32(m, &version)))
			return rc;
		if (strcmp(sub, "configuration/target-page-bits") == 0) {
			uint32_t bits;
			if ((rc = rd32(m, &bits)))
				return rc;
			if (bits != 12)
				return fail(m, "target page bits %u (only 4 KiB pages are supported)", bits);
		} else if (strcmp(sub, "configuration/capabilities") == 0) {
			uint32_t n;
			if ((rc = rd32(m, &n)))
				return rc;
			if (n > 64)
				return fail(m, "%u capabilities in the configuration section", n);
			for (uint32_t i = 0; i < n; i++)
				if ((rc = rd_name(m, sub)))
					return rc;
		} else {
			return fail(m, "unknown configuration subsection '%s'", sub);
		}
	}
}

static int find_block(struct ms *m, const char *name)
{
	for (unsigned i = 0; i < m->nblocks; i++)
		if (strcmp(m->blocks[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int parse_block_list(struct ms *m, uint64_t total)
{
	if (m->nblocks)
		return fail(m, "second RAM block list in the stream");
	uint64_t sum = 0;
	while (sum < total) {
		if (m->nblocks == MS_MAX_BLOCKS)
			return fail(m, "more than %d RAM blocks", MS_MAX_BLOCKS);
		int rc = rd_name(m, m->blocks[m->nblocks].name);
		uint64_t len;
		if (rc || (rc = rd64(m, &len)))
			return rc;
		if (len == 0 || len > MS_MAX_RAM || len > total - sum || len % MS_PAGE)
			return fail(m, "RAM block '%s' of %llu bytes does not fit the declared %llu",
			            m->blocks[m->nblocks].name, (unsigned long long)len, (unsigned long long)total);
		if (find_block(m, m->blocks[m->nblocks].name) >= 0)
			return fail(m, "RAM block '%s' listed twice", m->blocks[m->nblocks].name);
		m->blocks[m->nblocks].len = len;
		m->blocks[m->nblocks].missing = len / MS_PAGE;
		m->blocks[m->nblocks].seen = calloc((len / MS_PAGE + 63) / 64, 8);
		if (!m->blocks[m->nblocks].seen)
			return -ENOMEM;
		if (m->cb->block && (rc = m->cb->block(m->cb->ctx, m->blocks[m->nblocks].name, len)))
			return rc;
		m->nblocks++;
		sum += len;
	}
	return 0;
}

/* Records of one "ram" section, up to and including EOS. */
static int parse_ram_payload(struct ms *m)
{
	for (;;) {
		uint64_t word;
		int rc = rd64(m, &word);
		if (rc)
			return rc;
		uint64_t flags = word & (MS_PAGE - 1), addr = word & ~(uint64_t)(MS_PAGE - 1);
		if (flags & ~(uint64_t)RAM_KNOWN)
			return fail(m, "unsupported RAM record flags 0x%llx (compression, xbzrle or RDMA?)",
			            (unsigned long long)flags);
		if (flags & RAM_MEM_SIZE) {
			if ((rc = parse_block_list(m, word & ~(uint64_t)RAM_MEM_SIZE)))
				return rc;
			continue;
		}
		if (flags == RAM_EOS)
			return 0;
		if (!(flags & (RAM_ZERO | RAM_PAGE)) || (flags & RAM_ZERO && flags & RAM_PAGE))
			return fail(m, "RAM record with flags 0x%llx", (unsigned long long)flags);
		if (!(flags & RAM_CONTINUE)) {
			char name[256];
			if ((rc = rd_name(m, name)))
				return rc;
			m->cur = find_block(m, name);
			if (m->cur < 0)
				return fail(m, "page of RAM block '%s' that was never announced", name);
		} else if (m->cur < 0) {
			return fail(m, "RAM record continues a block before any was named");
		}
		if (addr >= m->blocks[m->cur].len)
			return fail(m, "page at 0x%llx beyond the end of RAM block '%s'", (unsigned long long)addr,
			            m->blocks[m->cur].name);
		uint64_t pg = addr / MS_PAGE, bit = 1ull << (pg % 64);
		if (!(m->blocks[m->cur].seen[pg / 64] & bit)) {
			m->blocks[m->cur].seen[pg / 64] |= bit;
			m->blocks[m->cur].missing--;
		}
		uint8_t fill = 0;
		const uint8_t *data = NULL;
		if (flags & RAM_ZERO) {
			if ((rc = rd8(m, &fill)))
				return rc;
			m->st->zero_pages++;
		} else {
			if ((rc = rd(m, m->page, MS_PAGE)))
				return rc;
			data = m->page;
			m->st->pages++;
		}
		if ((rc = m->cb->page(m->cb->ctx, m->blocks[m->cur].name, addr, data, fill)))
			return rc;
	}
}

static int read_footer(struct ms *m, uint32_t id)
{
	uint8_t b;
	int rc = peek8(m, &b);
	if (rc || b != SEC_FOOTER)
		return rc;
	m->have_peek = 0;
	uint32_t fid;
	if ((rc = rd32(m, &fid)))
		return rc;
	return fid == id ? 0 : fail(m, "section footer for section %u closes section %u", fid, id);
}

/* Every page of every announced block has been received. */
static int ram_complete(const struct ms *m)
{
	if (!m->nblocks)
		return 0;
	for (unsigned i = 0; i < m->nblocks; i++)
		if (m->blocks[i].missing)
			return 0;
	return 1;
}

int ms_parse(const struct ms_callbacks *cb, struct ms_stats *st, char *err, size_t errlen)
{
	struct ms *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cb = cb;
	m->st = st;
	m->err = err;
	m->errlen = errlen;
	m->cur = -1;
	memset(st, 0, sizeof(*st));
	uint32_t magic, version;
	int rc = rd32(m, &magic);
	if (!rc)
		rc = rd32(m, &version);
	if (!rc && (magic != QEMU_VM_FILE_MAGIC || version != QEMU_VM_FILE_VERSION))
		rc = fail(m, "not a QEMU migration stream (magic 0x%08x, version %u)", magic, version);
	while (!rc) {
		uint8_t type;
		uint32_t id;
		if ((rc = rd8(m, &type)))
			break;
		st->sections++;
		if (type == SEC_CONFIGURATION) {
			rc = parse_configuration(m);
		} else if (type == SEC_START || type == SEC_FULL) {
			char name[256];
			uint32_t instance, ver;
			if ((rc = rd32(m, &id)) || (rc = rd_name(m, name)) || (rc = rd32(m, &instance)) ||
			    (rc = rd32(m, &ver)))
				break;
			if (type == SEC_FULL && ram_complete(m))
				break; /* a background snapshot's device state follows all of RAM */
			if (type == SEC_FULL || strcmp(name, "ram") != 0)
				rc = fail(m, "section '%s' before the end of RAM: not a stream vmsight can read", name);
			else if (m->ram_started)
				rc = fail(m, "second RAM START section");
			else {
				m->ram_started = 1;
				m->ram_section = id;
				if (!(rc = parse_ram_payload(m)))
					rc = read_footer(m, id);
			}
		} else if (type == SEC_PART || type == SEC_END) {
			if ((rc = rd32(m, &id)))
				break;
			if (!m->ram_started || id != m->ram_section)
				rc = fail(m, "section %u continues before RAM started or is not RAM", id);
			else if (!(rc = parse_ram_payload(m)) && !(rc = read_footer(m, id)) && type == SEC_END)
				break; /* all of RAM has been read */
		} else if (type == SEC_EOF) {
			if (!ram_complete(m))
				rc = fail(m, "stream ended before all of RAM was sent");
			break;
		} else {
			rc = fail(m, "unknown section type 0x%02x", type);
		}
	}
	for (unsigned i = 0; i < m->nblocks; i++)
		free(m->blocks[i].seen);
	free(m);
	return rc;
}
