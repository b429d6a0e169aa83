/*
 * Reader of QEMU's migration stream, as far as guest RAM goes.
 *
 * vmsight's background snapshots let QEMU's own `background-snapshot`
 * migration write-protect guest RAM and stream every page out before the
 * guest changes it; this parser turns that stream into (RAM block, offset,
 * page) callbacks. It understands the stream header, the configuration
 * section and the iterative "ram" sections (page, zero-page, block-list and
 * end-of-section records, section footers), and stops once the "ram" END
 * section has been read, or when device state begins once every page of
 * every RAM block has arrived (a background snapshot sends each page once
 * and puts device state after them): device state is not needed and has no
 * length prefix to skip by.
 * Everything in the stream is checked against what it declared before.
 */
#ifndef VMS_SNAP_MIGSTREAM_H
#define VMS_SNAP_MIGSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define MS_PAGE 4096u
#define MS_MAX_BLOCKS 256
#define MS_MAX_RAM (1ull << 40) /* per block: bounds the page bitmap at 32 MiB */

struct ms_callbacks {
	/* Read exactly N bytes; 0, or -errno (-EPIPE at end of stream). */
	int (*read)(void *ctx, void *buf, size_t n);
	/* A RAM block announced in the setup section. */
	int (*block)(void *ctx, const char *name, uint64_t len);
	/* One page of block NAME at OFFSET: DATA (MS_PAGE bytes), or, when
	 * DATA is NULL, a page filled with FILL. */
	int (*page)(void *ctx, const char *name, uint64_t offset, const uint8_t *data, uint8_t fill);
	void *ctx;
};

struct ms_stats {
	uint64_t pages, zero_pages, sections;
};

/* Parse until the RAM END section. Returns 0, or -EPROTO (malformed, with a
 * message in ERR), -EPIPE (truncated), or a callback's error. */
int ms_parse(const struct ms_callbacks *cb, struct ms_stats *st, char *err, size_t errlen);

#endif
