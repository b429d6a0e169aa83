/*
 * Decoding agent blobs and framing the vcpu channel's byte stream.
 *
 * A blob is hostile: every length is checked against the wire limits and
 * against the bytes actually there, the strings must not contain NUL (the
 * host hands them out as C strings), and unknown kinds are refused rather
 * than guessed at. The framer resynchronises on the frame magic after
 * garbage, so a host that connects in the middle of a frame, or an agent
 * that writes junk, costs some events but never the stream.
 */
#include "wire.h"

#include <errno.h>
#include <string.h>

static int kind_known(unsigned k)
{
	return (k >= VMS_WIRE_EV_OPEN && k <= VMS_WIRE_EV_FILE_LAST) || k == VMS_WIRE_EV_HELLO ||
	       k == VMS_WIRE_EV_STATUS;
}

int wire_decode(const uint8_t *blob, size_t len, int from_ring, struct vms_wire_decoded *out)
{
	if (len < sizeof(struct vms_wire_event))
		return -EBADMSG;
	memcpy(&out->ev, blob, sizeof(out->ev));
	const struct vms_wire_event *e = &out->ev;
	if (!kind_known(e->kind) || e->comm_len > VMS_WIRE_COMM_MAX || e->path_len > VMS_WIRE_PATH_MAX ||
	    e->path2_len > VMS_WIRE_PATH_MAX)
		return -EBADMSG;
	size_t need = sizeof(*e) + (size_t)e->comm_len + e->path_len + e->path2_len;
	if (need > len)
		return -EBADMSG;
	if (from_ring ? e->nslots != VMS_WIRE_SLOTS_FOR(need) : need != len)
		return -EBADMSG;
	if (e->path2_len && e->kind != VMS_WIRE_EV_RENAME)
		return -EBADMSG;
	const char *s = (const char *)blob + sizeof(*e);
	if (memchr(s, 0, need - sizeof(*e)))
		return -EBADMSG;
	out->ev.flags &= VMS_WIRE_F_DIR | VMS_WIRE_F_TRUNC | VMS_WIRE_F_NOPATH | VMS_WIRE_F_NOPROC | VMS_WIRE_F_FID |
	                 VMS_WIRE_F_MERGED;
	out->comm = s;
	out->path = s + e->comm_len;
	out->path2 = out->path + e->path_len;
	return 0;
}

void framer_init(struct vms_framer *f)
{
	f->len = f->consumed = 0;
	f->skipped = f->malformed = 0;
}

static void drop_front(struct vms_framer *f, size_t n)
{
	memmove(f->buf, f->buf + n, f->len - n);
	f->len -= n;
}

uint8_t *framer_space(struct vms_framer *f, size_t *room)
{
	if (f->consumed) {
		drop_front(f, f->consumed);
		f->consumed = 0;
	}
	/* Never full: a full buffer holds a complete frame or is junk that
	 * framer_next throws away. */
	if (f->len == sizeof(f->buf)) {
		f->skipped += 1;
		drop_front(f, 1);
	}
	*room = sizeof(f->buf) - f->len;
	return f->buf + f->len;
}

void framer_added(struct vms_framer *f, size_t n)
{
	f->len += n;
}

int framer_next(struct vms_framer *f, const uint8_t **blob, size_t *len)
{
	static const uint8_t magic[4] = { 0x56, 0x4d, 0x53, 0x46 }; /* VMS_WIRE_FRAME_MAGIC, little-endian */
	if (f->consumed) {
		drop_front(f, f->consumed);
		f->consumed = 0;
	}
	while (f->len >= 4) {
		if (memcmp(f->buf, magic, 4) != 0) {
			const uint8_t *m = memmem(f->buf + 1, f->len - 1, magic, 4);
			size_t junk = m ? (size_t)(m - f->buf) : f->len - 3;
			f->skipped += junk;
			drop_front(f, junk);
			continue;
		}
		if (f->len < 8)
			return 0;
		uint32_t blen;
		memcpy(&blen, f->buf + 4, 4);
		if (blen < sizeof(struct vms_wire_event) || blen > VMS_WIRE_EVENT_MAX_BYTES) {
			f->malformed++;
			f->skipped += 1;
			drop_front(f, 1);
			continue;
		}
		size_t total = 8 + (size_t)blen;
		if (f->len < total)
			return 0;
		*blob = f->buf + 8;
		*len = blen;
		f->consumed = total;
		return 1;
	}
	return 0;
}
