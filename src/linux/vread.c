/*
 * Careful reads of kernel memory for the views: kernel pointers checked
 * before they are followed, objects copied by plan, strings bounded, and
 * list_head lists walked with every link checked.
 *
 * The list walk is the one place a hostile or running guest could make a
 * view loop, so it is bounded three ways: a maximum number of steps, each
 * next pointer's prev pointing back (a wild pointer rarely does), and
 * Brent's cycle detection for loops that never return to the head (one
 * saved node compared per step: no memory, no second pass). A node that
 * was unlinked while we stood on it (a task exiting) keeps its next pointer
 * (RCU) but the node after it no longer points back: the walk then steps
 * from the node before it, whose next pointer now skips it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "views.h"

int lx_fail(struct lx_walk *w, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->t->err, sizeof(w->t->err), fmt, ap);
	va_end(ap);
	return -err;
}

int lx_walk_begin(struct lx_walk *w, struct vms_kernel *k, unsigned need, unsigned max, unsigned max_default,
                  unsigned retries)
{
	memset(w, 0, sizeof(*w));
	w->k = k;
	w->t = k->t;
	w->dtb = k->dtb;
	w->max = max ? max : max_default;
	w->retries = retries ? (retries > 100 ? 100 : retries) : 3;
	int rc = lx_layout_need(k, need, &w->lay);
	if (rc)
		return rc;
	/* A new look at a guest that may be running: translations cached by
	 * an earlier walk may be stale (docs/arch.md). */
	vms_tlb_flush(k->t);
	w->trace = k->views->trace;
	w->trace_ctx = k->views->trace_ctx;
	return 0;
}

void lx_walk_stats(const struct lx_walk *w, struct vms_view_stats *stats)
{
	if (!stats)
		return;
	stats->entries = w->entries;
	stats->unreadable = w->unreadable;
	stats->retried = w->retried;
}

int lx_read_dtb(struct lx_walk *w, uint64_t dtb, uint64_t va, void *buf, size_t len, size_t *done)
{
	if (__builtin_expect(w->trace != NULL, 0))
		w->trace(w->trace_ctx, dtb, va, len);
	return vms_read_va(w->t, dtb, va, buf, len, done);
}

int lx_read(struct lx_walk *w, uint64_t va, void *buf, size_t len)
{
	return lx_read_dtb(w, w->dtb, va, buf, len, NULL);
}

int lx_read_u64(struct lx_walk *w, uint64_t va, uint64_t *out)
{
	return lx_read_dtb(w, w->dtb, va, out, 8, NULL);
}

int lx_read_plan(struct lx_walk *w, const struct lx_plan *plan, uint64_t va, uint8_t *buf)
{
	if (va + plan->end < va)
		return lx_fail(w, EFAULT, "object at 0x%llx wraps the address space", (unsigned long long)va);
	for (unsigned i = 0; i < plan->n; i++) {
		int rc = lx_read(w, va + plan->run[i].off, buf + plan->run[i].off, plan->run[i].len);
		if (rc)
			return rc;
	}
	return 0;
}

int lx_read_str(struct lx_walk *w, uint64_t va, char *buf, size_t len)
{
	if (!lx_kptr(w, va, 1)) {
		buf[0] = '\0';
		return lx_fail(w, EFAULT, "string pointer 0x%llx is not a kernel address", (unsigned long long)va);
	}
	int rc = vms_read_str_va(w->t, w->dtb, va, buf, len);
	if (rc == -ERANGE)
		rc = (int)strlen(buf);
	if (__builtin_expect(w->trace != NULL, 0) && rc >= 0)
		w->trace(w->trace_ctx, w->dtb, va, (size_t)rc + 1);
	return rc;
}

uint64_t lx_get(const uint8_t *obj, struct lx_member m)
{
	uint64_t v = 0;
	if (!m.size)
		return 0;
	memcpy(&v, obj + m.off, m.size < 8 ? m.size : 8);
	if (m.bits)
		v = (v >> m.bit_off) & (m.bits >= 64 ? ~0ull : (1ull << m.bits) - 1);
	return v;
}

void lx_list_init(struct lx_list *l, uint64_t head, unsigned max)
{
	memset(l, 0, sizeof(*l));
	l->head = l->cur = l->mark = head;
	l->power = 1;
	l->max = max;
}

/* cur->next, if it is a kernel pointer whose prev points back at cur. */
static int link_ok(struct lx_walk *w, uint64_t cur, uint64_t head, uint64_t *next)
{
	uint64_t back;
	if (lx_read_u64(w, cur, next) || !lx_kptr(w, *next, 8))
		return 0;
	if (*next == head && cur == head)
		return 1; /* an empty list */
	return lx_read_u64(w, *next + 8, &back) == 0 && back == cur;
}

int lx_list_next(struct lx_walk *w, struct lx_list *l, uint64_t *node)
{
	uint64_t next = 0;
	unsigned attempt = 0;
	*node = 0;
	while (!link_ok(w, l->cur, l->head, &next)) {
		if (attempt++ < w->retries) {
			w->retried++;
			continue;
		}
		/* Unlinked under us? Its predecessor no longer points at it. */
		uint64_t pn;
		if (l->prev && lx_read_u64(w, l->prev, &pn) == 0 && pn != l->cur && lx_kptr(w, pn, 8)) {
			l->cur = l->prev;
			l->prev = 0;
			attempt = 0;
			continue;
		}
		return lx_fail(w, EIO,
		               "list at 0x%llx: the link after 0x%llx does not hold (next 0x%llx does not "
		               "point back: changed while read, or corrupt)",
		               (unsigned long long)l->head, (unsigned long long)l->cur, (unsigned long long)next);
	}
	if (next == l->head)
		return 0;
	if (++l->steps > l->max)
		return lx_fail(w, E2BIG, "list at 0x%llx: more than %u entries", (unsigned long long)l->head, l->max);
	if (next == l->mark)
		return lx_fail(w, ELOOP, "list at 0x%llx: a cycle through 0x%llx that does not return to the head",
		               (unsigned long long)l->head, (unsigned long long)next);
	if (++l->lam == l->power) {
		l->mark = next;
		l->power *= 2;
		l->lam = 0;
	}
	l->prev = l->cur;
	l->cur = next;
	*node = next;
	return 1;
}
