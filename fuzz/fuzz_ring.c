/*
 * libFuzzer target: the agent channels' host side on hostile bytes.
 *
 * First byte even: the input is an ivshmem region (header + slots; short
 * inputs are zero-padded) followed by writes the "agent" makes while the
 * host reads: 3-byte records (16-bit offset, value) applied one between
 * each poll, so the ring changes under the reader as a racing, lying
 * producer would make it. Every blob taken is decoded. First byte odd: the
 * input is the vcpu channel's byte stream, fed to the framer in pieces
 * whose sizes come from the input itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "watch/wire.h"

#define REGION_BYTES (VMS_WIRE_HEADER_BYTES + (VMS_WIRE_MIN_SLOTS + 64) * VMS_WIRE_SLOT_BYTES)

static void use(const uint8_t *blob, size_t len, int from_ring)
{
	struct vms_wire_decoded d;
	if (wire_decode(blob, len, from_ring, &d) == 0) {
		/* touch every byte the decoder vouched for */
		volatile unsigned sum = 0;
		for (size_t i = 0; i < d.ev.comm_len; i++)
			sum += (unsigned char)d.comm[i];
		for (size_t i = 0; i < d.ev.path_len; i++)
			sum += (unsigned char)d.path[i];
		for (size_t i = 0; i < d.ev.path2_len; i++)
			sum += (unsigned char)d.path2[i];
		(void)sum;
	}
}

static void fuzz_ring(const uint8_t *data, size_t size)
{
	static struct vms_ring r;
	/* malloc'd exactly, so ASan catches a read one byte outside */
	uint8_t *region = calloc(1, REGION_BYTES);
	size_t init = size < REGION_BYTES ? size : REGION_BYTES;
	memcpy(region, data, init);
	const uint8_t *writes = data + init;
	size_t nwrites = (size - init) / 3;
	if (ring_init(&r, region, REGION_BYTES) == 0) {
		for (size_t i = 0; i < 2000; i++) {
			const uint8_t *blob;
			size_t len;
			if (ring_next(&r, &blob, &len) == 1)
				use(blob, len, 1);
			if (i < nwrites) {
				size_t off = ((size_t)writes[3 * i] | (size_t)writes[3 * i + 1] << 8) % REGION_BYTES;
				region[off] = writes[3 * i + 2];
			} else if (i > nwrites + 64) {
				break;
			}
		}
		struct ring_counters c;
		ring_counters(&r, &c);
	}
	free(region);
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
	static struct vms_framer f;
	framer_init(&f);
	size_t pos = 0;
	while (pos < size) {
		size_t want = 1 + data[pos] % 64, room;
		uint8_t *dst = framer_space(&f, &room);
		if (want > room)
			want = room;
		if (want > size - pos)
			want = size - pos;
		memcpy(dst, data + pos, want);
		framer_added(&f, want);
		pos += want;
		const uint8_t *blob;
		size_t len;
		while (framer_next(&f, &blob, &len) == 1)
			use(blob, len, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_stream(data + 1, size - 1);
	else
		fuzz_ring(data + 1, size - 1);
	return 0;
}
