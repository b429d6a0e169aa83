/*
 * The kernel log (vms_dmesg): the lockless printk ring buffer of Linux
 * 5.10 and later (kernel/printk/printk_ringbuffer.c).
 *
 * `prb` points at a struct printk_ringbuffer: a descriptor ring (2^count
 * descriptors, each with a state word and the position of its text; and a
 * parallel array of struct printk_info: sequence number, timestamp, text
 * length, level) and a data ring of 2^size bytes holding the texts, each
 * block starting with the id of the descriptor that owns it. Records are
 * read from tail_id to head_id. A descriptor's state word carries its id
 * and state in its top two bits: only committed and finalized records are
 * read, and only while the id is the one expected for that slot (a slot is
 * reused once the ring wraps).
 *
 * Against a running kernel a record can be overwritten while it is copied.
 * As the kernel's own readers do, the state word is read again after the
 * text has been copied: if it changed, the copy is thrown away and made
 * again, a few times, then the record is reported unreadable. Text
 * positions are checked (alignment, wrap, size) before anything is read,
 * and the ring sizes are clamped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"
#include "util/opts.h"

#define COUNT_BITS_MAX 24
#define SIZE_BITS_MAX 30
#define TEXT_MAX (64u << 10) /* text_len is a u16 */
#define SV_STATE(sv) ((unsigned)((sv) >> 62))
#define SV_ID(sv) ((sv) & ~(3ull << 62))
enum { DESC_RESERVED, DESC_COMMITTED, DESC_FINALIZED, DESC_REUSABLE };

struct ring {
	uint64_t descs, infos, data;
	uint64_t count, size; /* descriptors, data bytes: powers of two */
	uint64_t head, tail;
};

static int ring_read(struct lx_walk *w, struct ring *r)
{
	const struct lx_layout *L = w->lay;
	uint64_t rb;
	uint8_t b[LX_OBJ_MAX];
	struct lx_plan p = { 0 };
	if (lx_read_u64(w, L->prb, &rb) || !lx_kptr(w, rb, 8))
		return lx_fail(w, EIO, "prb (at 0x%llx) does not point at a ring buffer", (unsigned long long)L->prb);
	uint32_t end = 0;
	const struct lx_member *m[] = { &L->rb_count_bits, &L->rb_descs,     &L->rb_infos, &L->rb_head_id,
		                        &L->rb_tail_id,    &L->rb_size_bits, &L->rb_data };
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (m[i]->off + m[i]->size > end)
			end = m[i]->off + m[i]->size;
	if (end > sizeof(b))
		return lx_fail(w, EINVAL, "printk_ringbuffer of %u bytes", end);
	p.n = 1;
	p.run[0].len = p.end = end;
	if (lx_read_plan(w, &p, rb, b))
		return lx_fail(w, EIO, "the printk ring buffer at 0x%llx is unreadable", (unsigned long long)rb);
	uint64_t cb = lx_get(b, L->rb_count_bits), sb = lx_get(b, L->rb_size_bits);
	r->descs = lx_get(b, L->rb_descs);
	r->infos = lx_get(b, L->rb_infos);
	r->data = lx_get(b, L->rb_data);
	r->head = SV_ID(lx_get(b, L->rb_head_id));
	r->tail = SV_ID(lx_get(b, L->rb_tail_id));
	if (cb > COUNT_BITS_MAX || sb > SIZE_BITS_MAX || sb < 3 || !lx_kptr(w, r->descs, 8) ||
	    !lx_kptr(w, r->infos, 8) || !lx_kptr(w, r->data, 8))
		return lx_fail(w, EIO, "the printk ring buffer at 0x%llx does not look like one",
		               (unsigned long long)rb);
	r->count = 1ull << cb;
	r->size = 1ull << sb;
	/* At most one ring's worth of records lies between tail and head. */
	if (SV_ID(r->head - r->tail) >= r->count)
		r->tail = SV_ID(r->head - r->count + 1);
	return 0;
}

/* Where the text of a block lies in the data ring (get_data()): offset
 * and length after the block's id, or -1 for a position that can not be. */
static int text_pos(const struct ring *r, uint64_t begin, uint64_t next, uint64_t *off, uint64_t *len)
{
	unsigned bits = (unsigned)__builtin_ctzll(r->size);
	uint64_t size;
	if ((begin & 1) && (next & 1)) { /* no data (failed or empty record) */
		*off = *len = 0;
		return 0;
	}
	if (((begin >> bits) == (next >> bits) && begin < next) ||
	    ((next & (r->size - 1)) == 0 && (begin >> bits) + 1 == (next >> bits))) {
		/* In one wrap, or ending exactly at the ring's end. */
		*off = begin & (r->size - 1);
		size = next - begin;
	} else if (((begin + r->size) >> bits) == (next >> bits)) {
		*off = 0; /* wrapped: the text starts at the beginning of the ring */
		size = next & (r->size - 1);
	} else {
		return -1;
	}
	if ((begin & 7) || (next & 7) || size < 8 || size > r->size)
		return -1;
	*len = size - 8;
	return 0;
}

int vms_dmesg(struct vms_kernel *k, const struct vms_dmesg_opts *opts, vms_log_record_fn fn, void *ctx)
{
	struct vms_dmesg_opts o = { 0 };
	struct lx_walk w;
	struct ring r;
	char *text = NULL;
	if (VMS_OPTS_COPY(&o, opts))
		return kernel_fail(k, EINVAL, VMS_OPTS_BAD, "vms_dmesg_opts", opts->sz, sizeof(o));
	int rc = lx_walk_begin(&w, k, LX_PRINTK, o.max_entries, 1u << COUNT_BITS_MAX, o.retries);
	if (rc)
		goto out;
	const struct lx_layout *L = w.lay;
	if ((rc = ring_read(&w, &r)))
		goto out;
	if (!(text = malloc(TEXT_MAX + 1))) {
		rc = kernel_fail(k, ENOMEM, "out of memory");
		goto out;
	}
	uint8_t desc[256], info[1024];
	for (uint64_t id = r.tail;; id = SV_ID(id + 1)) {
		uint64_t idx = id & (r.count - 1);
		struct vms_log_record rec = { .text = "" };
		int ok = 0, skip = 0;
		for (unsigned attempt = 0; attempt <= w.retries && !ok && !skip; attempt++) {
			if (attempt)
				w.retried++;
			if (lx_read(&w, r.descs + idx * L->desc_size, desc, L->desc_size))
				continue;
			uint64_t sv = lx_get(desc, L->desc_state);
			if (SV_ID(sv) != id || (SV_STATE(sv) != DESC_COMMITTED && SV_STATE(sv) != DESC_FINALIZED)) {
				skip = 1; /* being written, or already reused: not in the log now */
				break;
			}
			uint64_t off, len;
			if (text_pos(&r, lx_get(desc, L->desc_begin), lx_get(desc, L->desc_next), &off, &len) ||
			    lx_read(&w, r.infos + idx * L->info_size, info, L->info_size))
				continue;
			uint64_t tl = lx_get(info, L->info_len);
			if (tl > len)
				tl = len;
			if (tl) {
				uint64_t blk_id;
				if (lx_read_u64(&w, r.data + off, &blk_id) || SV_ID(blk_id) != id ||
				    lx_read(&w, r.data + off + 8, text, tl))
					continue;
			}
			uint64_t sv2;
			if (lx_read_u64(&w, r.descs + idx * L->desc_size + L->desc_state.off, &sv2) || sv2 != sv)
				continue; /* changed while copied */
			text[tl] = '\0';
			rec.seq = lx_get(info, L->info_seq);
			rec.ts_ns = lx_get(info, L->info_ts);
			rec.level = (int)lx_get(info, L->info_level);
			rec.facility = (int)lx_get(info, L->info_facility);
			rec.caller_id = (uint32_t)lx_get(info, L->info_caller);
			rec.text = text;
			rec.text_len = tl;
			ok = 1;
		}
		if (!skip) {
			if (!ok) {
				w.unreadable++;
				rec.flags |= VMS_ENTRY_UNREADABLE;
			}
			if (w.entries >= w.max) {
				rc = lx_fail(&w, E2BIG, "more than %u log records", w.max);
				break;
			}
			w.entries++;
			if ((rc = fn(ctx, &rec)))
				break;
		}
		if (id == r.head)
			break;
	}
out:
	lx_walk_stats(&w, o.stats);
	free(text);
	return rc;
}
