/*
 * The migration stream parser on streams built here in QEMU's format: a
 * good stream, every truncation of it, and corruptions of each field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "snap/migstream.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}
static void put32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	put(b, x, 4);
}
static void put64(struct buf *b, uint64_t v)
{
	put32(b, (uint32_t)(v >> 32));
	put32(b, (uint32_t)v);
}
static void putname(struct buf *b, const char *s)
{
	put8(b, (uint8_t)strlen(s));
	put(b, s, strlen(s));
}

/* A stream of a 4-page "ram" block and a 1-page "pc.rom": pages 0 and 2 of
 * ram with data, 1 and 3 zero, rom zero; footers after each section;
 * device state (a FULL section) after all RAM, as background snapshots do. */
static struct buf make_stream(int with_end)
{
	struct buf b = { 0 };
	uint8_t page[MS_PAGE];
	put32(&b, 0x5145564d);
	put32(&b, 3);
	put8(&b, 0x07);
	put32(&b, 10);
	put(&b, "pc-q35-7.2", 10);
	put8(&b, 0x01);
	put32(&b, 2);
	putname(&b, "ram");
	put32(&b, 0);
	put32(&b, 4);
	put64(&b, (5 * MS_PAGE) | 0x04);
	putname(&b, "ram");
	put64(&b, 4 * MS_PAGE);
	putname(&b, "pc.rom");
	put64(&b, MS_PAGE);
	put64(&b, 0x10);
	put8(&b, 0x7e);
	put32(&b, 2);
	put8(&b, 0x02);
	put32(&b, 2);
	memset(page, 0xa0, sizeof(page));
	put64(&b, 0 | 0x08);
	putname(&b, "ram");
	put(&b, page, MS_PAGE);
	put64(&b, MS_PAGE | 0x02 | 0x20);
	put8(&b, 0);
	memset(page, 0xa2, sizeof(page));
	put64(&b, 2 * MS_PAGE | 0x08 | 0x20);
	put(&b, page, MS_PAGE);
	put64(&b, 3 * MS_PAGE | 0x02 | 0x20);
	put8(&b, 0);
	put64(&b, 0 | 0x02);
	putname(&b, "pc.rom");
	put8(&b, 0);
	put64(&b, 0x10);
	put8(&b, 0x7e);
	put32(&b, 2);
	if (with_end) {
		put8(&b, 0x03);
		put32(&b, 2);
		put64(&b, 0x10);
		put8(&b, 0x7e);
		put32(&b, 2);
	}
	put8(&b, 0x04);
	put32(&b, 3);
	putname(&b, "timer");
	put32(&b, 0);
	put32(&b, 2);
	put(&b, "\x01\x02\x03", 3);
	return b;
}

struct reader {
	const uint8_t *p;
	size_t len, pos;
	int pages, zero, blocks;
	uint8_t first[4];
};

static int rd(void *ctx, void *buf, size_t n)
{
	struct reader *r = ctx;
	if (n > r->len - r->pos)
		return -EPIPE;
	memcpy(buf, r->p + r->pos, n);
	r->pos += n;
	return 0;
}

static int blk(void *ctx, const char *name, uint64_t len)
{
	(void)name;
	(void)len;
	((struct reader *)ctx)->blocks++;
	return 0;
}

static int pg(void *ctx, const char *name, uint64_t off, const uint8_t *data, uint8_t fill)
{
	struct reader *r = ctx;
	if (data) {
		r->pages++;
		if (strcmp(name, "ram") == 0 && off / MS_PAGE < 4)
			r->first[off / MS_PAGE] = data[0];
	} else {
		r->zero++;
		(void)fill;
	}
	return 0;
}

static int run(const uint8_t *p, size_t len, struct reader *r, char *err)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->len = len;
	struct ms_callbacks cb = { .read = rd, .block = blk, .page = pg, .ctx = r };
	struct ms_stats st;
	return ms_parse(&cb, &st, err, 256);
}

int main(void)
{
	char err[256];
	struct reader r;
	for (int with_end = 0; with_end < 2; with_end++) {
		struct buf b = make_stream(with_end);
		CHECK(run(b.p, b.len, &r, err) == 0);
		CHECK(r.blocks == 2 && r.pages == 2 && r.zero == 3);
		CHECK(r.first[0] == 0xa0 && r.first[2] == 0xa2);
		/* Every truncation before RAM is complete is an error, never a
		 * crash or a success: RAM is complete after the END section, or,
		 * without one, once the device-state section's header is read. */
		size_t full_section = 1 + 4 + 6 + 4 + 4 + 3;
		size_t complete = b.len - full_section + (with_end ? 0 : full_section - 3);
		int ok = 1;
		for (size_t cut = 0; cut < complete; cut++)
			if (run(b.p, cut, &r, err) == 0)
				ok = 0;
		CHECK(ok);
		CHECK(run(b.p, complete, &r, err) == 0);
		free(b.p);
	}
	struct buf b = make_stream(0);
	/* Corruptions: magic, a flag bit nobody knows, a page beyond its block,
	 * a block name never announced, a block list larger than declared. */
	size_t flags_at = 8 + 1 + 4 + 10 + 1 + 4 + 4 + 4 + 4 + 8 + 4 + 8 + 7 + 8 + 8 + 5 + 5;
	struct {
		size_t at;
		uint8_t val;
	} bad[] = {
		{ 0, 0x00 },                                      /* magic */
		{ flags_at + 7, 0x48 },                           /* page record with an unknown flag */
		{ flags_at + 5, 0x10 },                           /* page offset 4 pages: beyond "ram" */
		{ flags_at + 9, 'x' },                            /* block name "xam" */
		{ 8 + 1 + 4 + 10 + 1 + 4 + 4 + 4 + 4 + 6, 0x40 }, /* MEM_SIZE total smaller than the blocks */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t saved = b.p[bad[i].at];
		b.p[bad[i].at] = bad[i].val;
		int rc = run(b.p, b.len, &r, err);
		CHECK(rc == -EPROTO && err[0]);
		if (rc != -EPROTO)
			fprintf(stderr, "corruption %zu: rc %d\n", i, rc);
		b.p[bad[i].at] = saved;
	}
	/* Device state before all of RAM was sent: not a stream we can read. */
	struct buf c = { 0 };
	put(&c, b.p, 8 + 1 + 4 + 10);
	put8(&c, 0x04);
	put32(&c, 3);
	putname(&c, "timer");
	put32(&c, 0);
	put32(&c, 2);
	CHECK(run(c.p, c.len, &r, err) == -EPROTO);
	free(c.p);
	free(b.p);
	return check_report("test_migstream");
}
