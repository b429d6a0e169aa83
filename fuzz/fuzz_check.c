/* libFuzzer target: the integrity checks over a hostile kernel.
 *
 * Input: one byte of mode, then
 *  - mode bit 0 set: an xarray (the PID table's and the BPF programs' radix
 *    tree, ck_xa_walk): the rest of the input is laid at a kernel address,
 *    its first 8 bytes being xa_head, nodes in the xa_node layout of every
 *    64-bit kernel (shift at 0, parent at 8, slots at 40); pointers into it
 *    are the fuzzer's to find. Every entry reported must lie in the index
 *    order the walk promises, within the bound given.
 *  - otherwise: patches over the fake kernel of tests/unit/fake_kernel.h
 *    (as fuzz_views), then every check (vms_check): findings must keep
 *    their promises (strings present, bounded).
 * Besides no crash and no sanitizer report, nothing may hang: every walk
 * is bounded.
 */
#include <stdio.h>

#include "../tests/unit/fake_kernel.h"
#include "linux/check.h"

#define XA_PA (16ull << 20)
#define XA_MAX 4096u

static struct fk *world;
static struct fk_clean clean;

static int on_finding(void *ctx, const struct vms_finding *f)
{
	(void)ctx;
	if (!f->check || !f->status || !f->table || !f->name || !f->target_sym || !f->owner || !f->detail ||
	    strlen(f->detail) >= 384 || strlen(f->owner) >= 112 || strlen(f->target_sym) >= 192)
		__builtin_trap();
	return 0;
}

struct xa_seen {
	uint64_t last;
	unsigned n;
};

static int on_entry(void *ctx, uint64_t index, uint64_t entry)
{
	struct xa_seen *s = ctx;
	if ((s->n && index <= s->last) || ++s->n > XA_MAX || (entry & 3))
		__builtin_trap();
	s->last = index;
	return 0;
}

static void xarray(const uint8_t *data, size_t size)
{
	if (size > 0x10000)
		size = 0x10000;
	memset(fk_ram + XA_PA, 0, 0x10000 + 8);
	memcpy(fk_ram + XA_PA, data, size);
	struct check_run *c = calloc(1, sizeof(*c));
	if (lx_walk_begin(&c->w, world->k, LX_TASKS | LX_CHECK, 0, 1u << 22, 0)) {
		free(c);
		return;
	}
	struct lx_layout lay = *c->w.lay;
	lay.xa_shift = (struct lx_member){ .off = 0, .size = 1 };
	lay.xa_parent = (struct lx_member){ .off = 8, .size = 8 };
	lay.xa_slots = (struct lx_member){ .off = 40, .size = 512 };
	c->w.lay = &lay;
	struct xa_seen seen = { 0 };
	ck_xa_walk(c, FK_KBASE + XA_PA, XA_MAX, on_entry, &seen);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!world) {
		world = fk_build(0);
		fk_clean_take(world, &clean);
	}
	fk_clean_put(&clean);
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		xarray(data + 1, size - 1);
		return 0;
	}
	fk_patch(&clean, data + 1, size - 1);
	vms_check(world->k, NULL, on_finding, NULL);
	return 0;
}
