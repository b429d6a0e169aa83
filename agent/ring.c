/*
 * Ring producer (see ring.h). Slots of an event are filled first and the
 * first slot's sequence number is stored last, with release order, so the
 * host sees an event whole or not at all. The host's tail is read only
 * when the cached one says the ring is full: one shared load per ring's
 * worth of events in the common case.
 */
#include "ring.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static struct vms_wire_header *hdr(const struct agent_ring *r)
{
	return (struct vms_wire_header *)r->base;
}

static struct vms_wire_slot *slot(const struct agent_ring *r, uint64_t seq)
{
	return (struct vms_wire_slot *)(r->base + VMS_WIRE_HEADER_BYTES + (seq % r->nslots) * VMS_WIRE_SLOT_BYTES);
}

int agent_ring_start(struct agent_ring *r, void *region, size_t size, uint32_t want_slots, int32_t pid,
                     unsigned drain_ms)
{
	if (size < VMS_WIRE_HEADER_BYTES + (size_t)VMS_WIRE_MIN_SLOTS * VMS_WIRE_SLOT_BYTES)
		return -EINVAL;
	size_t cap = (size - VMS_WIRE_HEADER_BYTES) / VMS_WIRE_SLOT_BYTES;
	if (cap > UINT32_MAX)
		cap = UINT32_MAX;
	if (want_slots && want_slots < cap)
		cap = want_slots;
	if (cap < VMS_WIRE_MIN_SLOTS)
		return -EINVAL;
	r->base = region;
	r->nslots = (uint32_t)cap;
	struct vms_wire_header *h = hdr(r);
	int valid = LOAD(&h->magic) == VMS_WIRE_MAGIC && h->version == VMS_WIRE_VERSION &&
	            h->header_bytes == VMS_WIRE_HEADER_BYTES && h->slot_bytes == VMS_WIRE_SLOT_BYTES;
	if (valid) {
		r->head = LOAD(&h->head);
		r->generation = h->generation;
		/* Let a reading host finish the previous run's events first. */
		for (unsigned waited = 0; waited < drain_ms && LOAD(&h->tail) < r->head; waited++)
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	} else {
		r->head = 0;
		r->generation = 0;
		STORE(&h->dropped, 0);
		STORE(&h->overflows, 0);
		STORE(&h->events, 0);
		STORE(&h->tail, 0);
	}
	STORE(&h->magic, 0);
	h->version = VMS_WIRE_VERSION;
	h->header_bytes = VMS_WIRE_HEADER_BYTES;
	h->slot_bytes = VMS_WIRE_SLOT_BYTES;
	h->nslots = r->nslots;
	h->agent_pid = pid;
	h->start_seq = r->head;
	STORE(&h->head, r->head);
	r->generation++;
	if (r->generation == 0)
		r->generation = 1;
	STORE(&h->generation, r->generation);
	STORE(&h->magic, VMS_WIRE_MAGIC);
	r->tail_seen = LOAD(&h->tail);
	return 0;
}

int agent_ring_put(struct agent_ring *r, uint8_t *blob, size_t len)
{
	uint16_t n = (uint16_t)VMS_WIRE_SLOTS_FOR(len);
	if (r->head + n - r->tail_seen > r->nslots) {
		uint64_t t = LOAD(&hdr(r)->tail);
		r->tail_seen = t > r->head ? r->head : t;
		if (r->head + n - r->tail_seen > r->nslots)
			return -ENOSPC;
	}
	memcpy(blob + offsetof(struct vms_wire_event, nslots), &n, sizeof(n));
	for (uint16_t k = n; k-- > 0;) {
		struct vms_wire_slot *s = slot(r, r->head + k);
		size_t off = (size_t)k * VMS_WIRE_SLOT_DATA;
		size_t part = len - off < VMS_WIRE_SLOT_DATA ? len - off : VMS_WIRE_SLOT_DATA;
		memcpy(s->data, blob + off, part);
		STORE(&s->seq, r->head + k + 1);
	}
	r->head += n;
	STORE(&hdr(r)->head, r->head);
	__atomic_fetch_add(&hdr(r)->events, 1, __ATOMIC_RELAXED);
	return 0;
}

void agent_ring_add_dropped(struct agent_ring *r, uint64_t n)
{
	__atomic_fetch_add(&hdr(r)->dropped, n, __ATOMIC_RELEASE);
}

void agent_ring_add_overflows(struct agent_ring *r, uint64_t n)
{
	__atomic_fetch_add(&hdr(r)->overflows, n, __ATOMIC_RELEASE);
}

void agent_ring_heartbeat(struct agent_ring *r, uint64_t now_ns)
{
	STORE(&hdr(r)->heartbeat_ns, now_ns);
}

uint64_t agent_ring_dropped(const struct agent_ring *r)
{
	return LOAD(&hdr(r)->dropped);
}

uint64_t agent_ring_overflows(const struct agent_ring *r)
{
	return LOAD(&hdr(r)->overflows);
}
