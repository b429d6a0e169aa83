/*
 * Host side of the agent wire format (include/vmsight/agent_wire.h): the
 * shm ring reader, the vcpu channel's stream framer, and the decoder that
 * turns one blob into checked fields. None of these trust a byte they read:
 * the ring reader works from its own slot count and copies slots out of the
 * shared region before anything looks at them; the decoder checks every
 * length against the blob and the wire limits.
 */
#ifndef VMS_WATCH_WIRE_H
#define VMS_WATCH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "vmsight/agent_wire.h"

/* ---- shm ring reader ----------------------------------------------------- */

struct vms_ring {
	uint8_t *base; /* the whole shared region (header, then slots) */
	size_t size;
	uint32_t capacity;   /* slots that fit the region: the bound on nslots */
	uint32_t nslots;     /* the agent's ring size, once the header was valid */
	uint32_t generation; /* of the header we follow; 0 before the first valid one */
	uint64_t tail;       /* next sequence number to read */
	int waited;          /* the header was not valid when we started */
	uint64_t malformed;  /* records or slots rejected */
	uint64_t lost;       /* slots skipped: resyncs and restarts that left unread events */
	uint8_t blob[VMS_WIRE_MAX_SLOTS * VMS_WIRE_SLOT_DATA];
};

/* Start following the ring in REGION (SIZE bytes, shared, writable: the
 * reader publishes its tail). -EINVAL if the region can not hold a header
 * and VMS_WIRE_MIN_SLOTS slots. Reading starts at the agent's current head
 * (earlier events are not reported), or at the start of the agent's run
 * if the reader was there first, waiting for a valid header. */
int ring_init(struct vms_ring *r, void *region, size_t size);

/* Read the header now: the reading position is fixed at this moment if
 * the agent runs. 1 if the header is valid, else 0 (call again later). */
int ring_attach(struct vms_ring *r);

/* Take the next event: 1 and *BLOB and *LEN (a copy inside R, valid until the
 * next call; LEN is the data of the event's slots, the decoder finds the
 * real length), or 0 when there is none yet (or the header is not valid
 * yet). Never fails: damage is counted in malformed and lost. */
int ring_next(struct vms_ring *r, const uint8_t **blob, size_t *len);

/* The agent's counters from the header (0 while it is not valid). */
struct ring_counters {
	uint64_t dropped, overflows, heartbeat_ns, events, head;
	int32_t agent_pid;
	uint32_t generation;
};
void ring_counters(const struct vms_ring *r, struct ring_counters *out);

/* ---- vcpu stream framer -------------------------------------------------- */

struct vms_framer {
	size_t len;         /* bytes in buf */
	size_t consumed;    /* bytes of the frame returned last, dropped on the next call */
	uint64_t skipped;   /* bytes thrown away while looking for a frame */
	uint64_t malformed; /* frames with an impossible length */
	uint8_t buf[8 + VMS_WIRE_EVENT_MAX_BYTES];
};

void framer_init(struct vms_framer *f);
/* Where to append received bytes, and how many fit (always > 0). */
uint8_t *framer_space(struct vms_framer *f, size_t *room);
void framer_added(struct vms_framer *f, size_t n);
/* Next complete frame's blob: 1 and *BLOB and *LEN (valid until the next
 * call), or 0 when more bytes are needed. */
int framer_next(struct vms_framer *f, const uint8_t **blob, size_t *len);

/* ---- blob decoder -------------------------------------------------------- */

struct vms_wire_decoded {
	struct vms_wire_event ev;        /* flags limited to the known bits */
	const char *comm, *path, *path2; /* inside the blob, NOT NUL-terminated; lengths in ev */
};

/* Check and split one blob. FROM_RING: the blob came from LEN bytes of
 * slots (ev.nslots must match the real length); else LEN is the exact
 * frame length. Returns 0 or -EBADMSG. */
int wire_decode(const uint8_t *blob, size_t len, int from_ring, struct vms_wire_decoded *out);

#endif
