/*
 * The public face of address translation: the paging mode a target uses,
 * vms_translate and vms_page_walk, and reads of virtual memory.
 *
 * Translation only reads guest memory. The paging mode comes from vCPU 0's
 * registers, but asking for them may mean a round trip to QEMU, so the
 * target layer (core/target.c) asks, at the moments it chooses, and hands
 * the registers to mmu_learn; a walk never talks to QEMU.
 *
 * vms_translate and vms_read_va are the hot paths of every view: a hit in
 * the TLB and, for a read inside one page the source maps, one memcpy from
 * the guest's pages. Everything else (the walk, reads across pages, sources
 * that copy) is in the *_slow functions.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "paging.h"

int arch_fail(struct vms_target *t, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return -err;
}

/* Puts "WHAT: " before the error text already in t->err. */
static int prefix_err(struct vms_target *t, int rc, const char *what, uint64_t va)
{
	char prev[sizeof(t->err)];
	memcpy(prev, t->err, sizeof(prev));
	arch_fail(t, -rc, "%s 0x%llx: %s", what, (unsigned long long)va, prev);
	return rc;
}

static void set_mode(struct vms_target *t, struct vms_mmu *m, enum vms_paging mode)
{
	m->mode = mode;
	m->dtb_mask = pt_dtb_mask(mode);
	vms_tlb_flush(t);
}

static struct vms_mmu *mmu_get(struct vms_target *t)
{
	return t->mmu ? t->mmu : (t->mmu = mmu_new());
}

int mmu_ready(struct vms_target *t, struct vms_mmu **out)
{
	struct vms_mmu *m = *out = mmu_get(t);
	if (!m)
		return arch_fail(t, ENOMEM, "out of memory for the TLB");
	if (m->mode == VMS_PAGING_UNKNOWN)
		return arch_fail(t, ENOTSUP, "paging mode unknown: %s",
		                 t->paging_why[0]
		                         ? t->paging_why
		                         : "vCPU 0's registers were not read; set the mode (vms_set_paging, --paging)");
	return 0;
}

int mmu_learn(struct vms_target *t, const struct vms_regs *r)
{
	struct vms_mmu *m = mmu_get(t);
	if (!m)
		return arch_fail(t, ENOMEM, "out of memory for the TLB");
	if (m->mode_fixed)
		return 0;
	enum vms_paging mode = vms_paging_mode(r);
	if (mode == VMS_PAGING_UNKNOWN)
		return -ENOTSUP;
	m->pse = (r->cr4 & (1u << 4)) != 0;
	m->nxe = !(r->valid & VMS_REGS_EFER) || (r->efer & (1u << 11));
	set_mode(t, m, mode);
	return 0;
}

/* MODE without registers to refine it: large pages and NX as a 64-bit
 * kernel has them (long mode honours large pages whatever CR4.PSE says).
 * FIX: 1 fix it, 0 unfix it, -1 leave a fixed mode alone. */
static int mode_given(struct vms_target *t, enum vms_paging mode, int fix)
{
	if ((unsigned)mode > VMS_PAGING_UNKNOWN)
		return arch_fail(t, EINVAL, "no paging mode %d", (int)mode);
	struct vms_mmu *m = mmu_get(t);
	if (!m)
		return arch_fail(t, ENOMEM, "out of memory for the TLB");
	if (fix < 0 && m->mode_fixed)
		return 0;
	if (fix >= 0)
		m->mode_fixed = fix && mode != VMS_PAGING_UNKNOWN;
	m->pse = 1;
	m->nxe = 1;
	set_mode(t, m, mode);
	return 0;
}

int mmu_assume(struct vms_target *t, enum vms_paging mode)
{
	return mode_given(t, mode, -1);
}

int mmu_set_mode(struct vms_target *t, enum vms_paging mode)
{
	return mode_given(t, mode, 1);
}

static __attribute__((noinline)) int translate_slow(struct vms_target *t, uint64_t dtb, uint64_t va,
                                                    struct vms_translation *out)
{
	struct vms_mmu *m;
	int rc = mmu_ready(t, &m);
	if (rc)
		return rc;
	rc = pt_walk(t, m, dtb, va, out, NULL);
	if (rc == 0)
		tlb_insert(t, m, dtb, out);
	return rc;
}

int vms_translate(struct vms_target *t, uint64_t dtb, uint64_t va, struct vms_translation *out)
{
	const struct vms_mmu *m = t->mmu;
	if (__builtin_expect(m != NULL, 1)) {
		uint64_t wmask;
		const struct vms_tlb_entry *e = tlb_find(m, tlb_key(m, dtb), va, &wmask);
		if (e) {
			out->va = va;
			out->pa = (e->pa & VMS_TLB_PA_MASK) | (va & wmask);
			out->page_size = tlb_page_size(e);
			out->prot = (uint32_t)(e->pa & VMS_TLB_PROT_MASK);
			return 0;
		}
	}
	return translate_slow(t, dtb, va, out);
}

int vms_page_walk(struct vms_target *t, uint64_t dtb, uint64_t va, struct vms_page_walk *out)
{
	memset(out, 0, sizeof(*out));
	struct vms_mmu *m;
	int rc = mmu_ready(t, &m);
	return rc ? rc : pt_walk(t, m, dtb, va, &out->tr, out);
}

/* Page by page, each through the TLB and vms_read_pa. */
static __attribute__((noinline)) int read_va_slow(struct vms_target *t, uint64_t dtb, uint64_t va, uint8_t *buf,
                                                  size_t len, size_t *done)
{
	size_t got = 0;
	int rc = 0;
	while (got < len) {
		uint64_t cur = va + got;
		if (cur < va) {
			rc = arch_fail(t, EFAULT, "read at 0x%llx runs past the end of the address space",
			               (unsigned long long)va);
			break;
		}
		struct vms_translation tr;
		if ((rc = vms_translate(t, dtb, cur, &tr)))
			break;
		uint64_t left = tr.page_size - (cur & (tr.page_size - 1));
		size_t n = len - got < left ? len - got : (size_t)left;
		if ((rc = vms_read_pa(t, tr.pa, buf + got, n))) {
			prefix_err(t, rc, "reading virtual", cur);
			break;
		}
		got += n;
	}
	if (done)
		*done = got;
	return rc;
}

int vms_read_va(struct vms_target *t, uint64_t dtb, uint64_t va, void *buf, size_t len, size_t *done)
{
	const struct vms_mmu *m = t->mmu;
	if (__builtin_expect(m != NULL, 1)) {
		uint64_t wmask;
		const struct vms_tlb_entry *e = tlb_find(m, tlb_key(m, dtb), va, &wmask);
		uint64_t off = va & wmask;
		if (e && e->host && len <= wmask + 1 - off) {
			copy_small(buf, e->host + off, len);
			if (__builtin_expect(!shm_broken(), 1)) {
				if (done)
					*done = len;
				return 0;
			}
		}
	}
	return read_va_slow(t, dtb, va, buf, len, done);
}

int vms_read_str_va(struct vms_target *t, uint64_t dtb, uint64_t va, char *buf, size_t buflen)
{
	if (buflen == 0)
		return arch_fail(t, EINVAL, "no room for a string");
	if (buflen > INT_MAX)
		buflen = INT_MAX;
	size_t got = 0;
	int rc = 0;
	while (got < buflen) {
		/* Up to the end of the page (or the buffer), then look for the NUL:
		 * the next page may not be mapped. */
		uint64_t cur = va + got;
		struct vms_translation tr;
		if (cur < va) {
			rc = arch_fail(t, EFAULT, "string at 0x%llx runs past the end of the address space",
			               (unsigned long long)va);
			break;
		}
		if ((rc = vms_translate(t, dtb, cur, &tr)))
			break;
		uint64_t left = tr.page_size - (cur & (tr.page_size - 1));
		size_t n = buflen - got < left ? buflen - got : (size_t)left;
		if ((rc = vms_read_pa(t, tr.pa, buf + got, n))) {
			prefix_err(t, rc, "reading virtual", cur);
			break;
		}
		const char *nul = memchr(buf + got, 0, n);
		if (nul)
			return (int)(nul - buf);
		got += n;
	}
	buf[got < buflen ? got : buflen - 1] = '\0';
	if (rc)
		return rc;
	return arch_fail(t, ERANGE, "string at 0x%llx is longer than %zu bytes", (unsigned long long)va, buflen - 1);
}
