/*
 * libFuzzer target for what the GDB client parses from the stub: received
 * packet frames, target-description XML (with includes) and QEMU's flat
 * memory view. A stub is a peer we do not control, so none of these may
 * read out of bounds, loop, or allocate without a bound on any input.
 *
 * The first byte picks the parser:
 *   0  a raw frame, as received
 *   1  packet data, framed here with a correct checksum so that the
 *      escape and run-length decoding is reached
 *   2  XML: main document, then after the first NUL the document every
 *      <xi:include> resolves to
 *   3  `info mtree -f` text
 *   4  a stop reply (what the tracer acts on after every resume)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/gdb.h"

static uint8_t out[VMS_GDB_MAX_PACKET];

static void fuzz_frame(const uint8_t *data, size_t size)
{
	size_t n;
	gdb_decode_packet(data, size, out, sizeof(out), &n);
	/* A tiny output buffer exercises the size checks. */
	gdb_decode_packet(data, size, out, 7, &n);
}

static void fuzz_framed(const uint8_t *data, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t *f = malloc(size + 4);
	uint8_t sum = 0;
	if (!f)
		return;
	f[0] = '$';
	memcpy(f + 1, data, size);
	for (size_t i = 0; i < size; i++)
		sum = (uint8_t)(sum + data[i]);
	f[size + 1] = '#';
	f[size + 2] = (uint8_t)digits[sum >> 4];
	f[size + 3] = (uint8_t)digits[sum & 15];
	fuzz_frame(f, size + 4);
	free(f);
}

struct include_doc {
	const char *text;
	size_t len;
};

static int fetch_include(void *ctx, const char *annex, char **text, size_t *len)
{
	const struct include_doc *d = ctx;
	(void)annex;
	if (!d->text)
		return -2; /* -ENOENT */
	*text = malloc(d->len ? d->len : 1);
	if (!*text)
		return -12; /* -ENOMEM */
	memcpy(*text, d->text, d->len);
	*len = d->len;
	return 0;
}

static void fuzz_xml(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	size_t main_len = nul ? (size_t)(nul - text) : size;
	struct include_doc inc = { NULL, 0 };
	if (nul) {
		inc.text = nul + 1;
		inc.len = size - main_len - 1;
	}
	struct vms_gdb_layout l;
	char err[128];
	if (gdb_parse_target_xml(text, main_len, fetch_include, &inc, &l, err, sizeof(err)) == 0) {
		/* Offsets must be consistent with the sizes. */
		size_t off = 0;
		for (size_t i = 0; i < l.count; i++) {
			if (l.regs[i].offset != off || (i && l.regs[i].regnum <= l.regs[i - 1].regnum))
				abort();
			off += l.regs[i].bits / 8;
			gdb_layout_find(&l, l.regs[i].name);
		}
		if (off != l.g_bytes)
			abort();
		gdb_layout_free(&l);
	}
}

static void fuzz_flatview(const uint8_t *data, size_t size)
{
	struct vms_ram_range r[4];
	int n = gdb_parse_flatview((const char *)data, size, r, 4);
	for (int i = 1; i < n; i++)
		if (r[i].gpa < r[i - 1].gpa + r[i - 1].len)
			abort();
}

static void fuzz_stop(const uint8_t *data, size_t size)
{
	struct vms_gdb_stop st;
	/* a copy without a NUL after it: the parser must respect SIZE */
	char *copy = malloc(size ? size : 1);
	if (!copy)
		return;
	memcpy(copy, data, size);
	if (gdb_parse_stop(copy, size, &st) == 0 && (st.signal < 0 || st.signal > 255 || st.thread < -1))
		abort();
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0: fuzz_frame(data + 1, size - 1); break;
	case 1: fuzz_framed(data + 1, size - 1); break;
	case 2: fuzz_xml(data + 1, size - 1); break;
	case 3: fuzz_flatview(data + 1, size - 1); break;
	default: fuzz_stop(data + 1, size - 1); break;
	}
	return 0;
}
