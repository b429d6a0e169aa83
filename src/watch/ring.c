/*
 * The host end of the shm channel: a single-consumer reader of the agent's
 * ring of fixed-size slots in an ivshmem region (format: agent_wire.h).
 *
 * The region is written by the guest, so it is hostile. The reader never
 * uses a value from it as a size or an index without bounding it by its own
 * numbers first: the slot count is checked against what the region holds,
 * every slot index is a sequence number modulo that count, an event's slot
 * count is checked against VMS_WIRE_MAX_SLOTS, and slots are copied out
 * before they are parsed, so a producer rewriting them under us can only
 * produce a record that fails the checks, never a read outside the region.
 *
 * The reader polls: the host never stops the guest and the guest never waits
 * for the host (the caller decides how to wait between empty polls).
 */
#include "wire.h"

#include <errno.h>
#include <string.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static struct vms_wire_header *hdr(const struct vms_ring *r)
{
	return (struct vms_wire_header *)r->base;
}

static struct vms_wire_slot *slot(const struct vms_ring *r, uint64_t seq)
{
	return (struct vms_wire_slot *)(r->base + VMS_WIRE_HEADER_BYTES + (seq % r->nslots) * VMS_WIRE_SLOT_BYTES);
}

int ring_init(struct vms_ring *r, void *region, size_t size)
{
	memset(r, 0, offsetof(struct vms_ring, blob));
	if (!region || size < VMS_WIRE_HEADER_BYTES + (size_t)VMS_WIRE_MIN_SLOTS * VMS_WIRE_SLOT_BYTES)
		return -EINVAL;
	size_t cap = (size - VMS_WIRE_HEADER_BYTES) / VMS_WIRE_SLOT_BYTES;
	r->base = region;
	r->size = size;
	r->capacity = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
	return 0;
}

/* Follow a new agent run when the header's generation moved. Returns 1 when
 * the header is valid, 0 when it is not (yet). */
static int refresh_header(struct vms_ring *r)
{
	struct vms_wire_header *h = hdr(r);
	uint32_t gen = LOAD(&h->generation);
	if (r->generation && gen == r->generation)
		return 1;
	uint32_t magic = LOAD(&h->magic);
	uint16_t version = LOAD(&h->version), header_bytes = LOAD(&h->header_bytes);
	uint32_t slot_bytes = LOAD(&h->slot_bytes), nslots = LOAD(&h->nslots);
	uint64_t start = LOAD(&h->start_seq), head = LOAD(&h->head);
	/* The agent clears magic while it rewrites the header: a generation
	 * that moved under us, or a clear magic, is a header being written. */
	if (magic != VMS_WIRE_MAGIC || LOAD(&h->generation) != gen || gen == 0 || version != VMS_WIRE_VERSION ||
	    header_bytes != VMS_WIRE_HEADER_BYTES || slot_bytes != VMS_WIRE_SLOT_BYTES || nslots < VMS_WIRE_MIN_SLOTS ||
	    nslots > r->capacity) {
		r->waited |= !r->generation;
		return 0;
	}
	if (!r->generation) {
		/* First sight: from the agent's present on, or from the start
		 * of its run if we were there waiting for it. */
		r->tail = r->waited ? start : head;
	} else if (r->tail < start) {
		/* The new run started past what we had read: the rest of the old
		 * run is gone (the agent waits for us to drain before restarting,
		 * so this means we were far behind). */
		r->lost += start - r->tail;
		r->tail = start;
	} else if (nslots != r->nslots) {
		/* Slots map to new places: anything we read past start was
		 * read at the wrong place; restart at the run's beginning. */
		r->tail = start;
	}
	r->nslots = nslots;
	r->generation = gen;
	STORE(&h->tail, r->tail);
	return 1;
}

int ring_attach(struct vms_ring *r)
{
	return r->base ? refresh_header(r) : 0;
}

static void skip(struct vms_ring *r, uint64_t n)
{
	r->malformed++;
	r->tail += n;
	STORE(&hdr(r)->tail, r->tail);
}

int ring_next(struct vms_ring *r, const uint8_t **blob, size_t *len)
{
	if (!r->base || !refresh_header(r))
		return 0;
	struct vms_wire_slot *first = slot(r, r->tail);
	uint64_t seq = LOAD(&first->seq);
	if (seq != r->tail + 1) {
		if (seq == 0 || seq <= r->tail)
			return 0; /* not written yet (or a slot of an earlier lap) */
		/* A slot from the future: the producer overran us or lies. Jump
		 * to its published head and count what we skipped. */
		uint64_t head = LOAD(&hdr(r)->head);
		r->malformed++;
		if (head > r->tail) {
			r->lost += head - r->tail;
			r->tail = head;
		} else {
			r->tail++;
		}
		STORE(&hdr(r)->tail, r->tail);
		return 0;
	}
	memcpy(r->blob, first->data, VMS_WIRE_SLOT_DATA);
	uint16_t n;
	memcpy(&n, r->blob + offsetof(struct vms_wire_event, nslots), sizeof(n));
	if (n < 1 || n > VMS_WIRE_MAX_SLOTS || n > r->nslots) {
		skip(r, 1);
		return 0;
	}
	for (uint16_t k = 1; k < n; k++) {
		struct vms_wire_slot *s = slot(r, r->tail + k);
		if (LOAD(&s->seq) != r->tail + k + 1) {
			skip(r, n);
			return 0;
		}
		memcpy(r->blob + (size_t)k * VMS_WIRE_SLOT_DATA, s->data, VMS_WIRE_SLOT_DATA);
	}
	/* Rewritten while we copied? Only a misbehaving producer does that. */
	if (LOAD(&first->seq) != r->tail + 1) {
		skip(r, n);
		return 0;
	}
	r->tail += n;
	STORE(&hdr(r)->tail, r->tail);
	*blob = r->blob;
	*len = (size_t)n * VMS_WIRE_SLOT_DATA;
	return 1;
}

void ring_counters(const struct vms_ring *r, struct ring_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (!r->base || !r->generation)
		return;
	const struct vms_wire_header *h = hdr(r);
	out->dropped = LOAD(&h->dropped);
	out->overflows = LOAD(&h->overflows);
	out->heartbeat_ns = LOAD(&h->heartbeat_ns);
	out->events = LOAD(&h->events);
	out->head = LOAD(&h->head);
	out->agent_pid = LOAD(&h->agent_pid);
	out->generation = LOAD(&h->generation);
}
