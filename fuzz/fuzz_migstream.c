/* libFuzzer target: QEMU migration streams (the background-snapshot path). */
#include <errno.h>
#include <string.h>

#include "snap/migstream.h"

struct rd {
	const uint8_t *p;
	size_t len, pos;
};

static int rd(void *ctx, void *buf, size_t n)
{
	struct rd *r = ctx;
	if (n > r->len - r->pos)
		return -EPIPE;
	memcpy(buf, r->p + r->pos, n);
	r->pos += n;
	return 0;
}

static int pg(void *ctx, const char *name, uint64_t off, const uint8_t *data, uint8_t fill)
{
	(void)ctx;
	(void)name;
	(void)off;
	(void)fill;
	return data && data[0] == 0xff ? -EIO : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size, 0 };
	struct ms_callbacks cb = { .read = rd, .page = pg, .ctx = &r };
	struct ms_stats st;
	char err[256];
	ms_parse(&cb, &st, err, sizeof(err));
	return 0;
}
