/*
 * The agent's end of the shm channel: the single producer of the ring in
 * the ivshmem region (format: include/vmsight/agent_wire.h). Also linked
 * into the host's unit tests, which check the host reader against it.
 */
#ifndef VMS_AGENT_RING_H
#define VMS_AGENT_RING_H

#include <stddef.h>
#include <stdint.h>

#include "vmsight/agent_wire.h"

struct agent_ring {
	uint8_t *base;
	uint32_t nslots;
	uint32_t generation;
	uint64_t head;
	uint64_t tail_seen; /* last tail read from the host, to avoid reloading it per event */
};

/* Take over the region: continue the previous run's sequence numbers and
 * counters if its header is valid (waiting up to DRAIN_MS for the host to
 * read what is left), then publish a new generation. WANT_SLOTS 0 = as
 * many as fit. Returns 0 or -EINVAL (region too small). */
int agent_ring_start(struct agent_ring *r, void *region, size_t size, uint32_t want_slots, int32_t pid,
                     unsigned drain_ms);

/* Publish one blob (LEN >= 64 bytes; its nslots field is filled in here).
 * -ENOSPC when the unread part of the ring leaves no room: the caller
 * counts a drop (agent_ring_add_dropped). */
int agent_ring_put(struct agent_ring *r, uint8_t *blob, size_t len);

void agent_ring_add_dropped(struct agent_ring *r, uint64_t n);
void agent_ring_add_overflows(struct agent_ring *r, uint64_t n);
void agent_ring_heartbeat(struct agent_ring *r, uint64_t now_ns);
uint64_t agent_ring_dropped(const struct agent_ring *r);
uint64_t agent_ring_overflows(const struct agent_ring *r);

#endif
