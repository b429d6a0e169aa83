/*
 * The x86 page walk: from the top table that CR3 names down to the entry
 * that maps an address, in 32-bit (4 KiB and 4 MiB pages), PAE (4 KiB and
 * 2 MiB) and IA-32e paging with four or five levels (4 KiB, 2 MiB, 1 GiB).
 *
 * The guest's page tables are input from an adversary. A walk is a loop
 * over the mode's fixed list of levels, so it reads at most five entries
 * whatever the entries say (a table that points at itself ends the walk like
 * any other); each entry is read through vms_read_pa, which refuses
 * addresses outside guest RAM; and a present entry with reserved bits set is
 * an error, as it is for the CPU. Permissions combine as the CPU combines
 * them: writable and user only if every level says so, no-execute if any
 * level does.
 */
#include <errno.h>

#include "paging.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_XD (1ull << 63)
#define ADDR_PAE 0x000ffffffffff000ull /* bits 51:12: MAXPHYADDR taken as 52 */
#define ADDR_32 0xfffff000ull

/* IA-32e: 4-level paging starts at the second row. PS is reserved in
 * PML5Es and PML4Es; large pages reserve the bits between PAT (12) and
 * the page's address. */
static const struct vms_pt_level lv_ia32e[] = {
	{ "PML5E", 48, 9, 0, 0, PTE_PS, 0 },
	{ "PML4E", 39, 9, 0, 0, PTE_PS, 0 },
	{ "PDPTE", 30, 9, 1, 0, 0, 0x3fffe000ull },
	{ "PDE", 21, 9, 1, 0, 0, 0x1fe000ull },
	{ "PTE", 12, 9, 0, 0, 0, 0 },
};

/* PAE: four PDPTEs (bits 63:52, 8:5 and 2:1 reserved), then bits 62:52
 * reserved in PDEs and PTEs (unlike IA-32e, where they are ignored). */
static const struct vms_pt_level lv_pae[] = {
	{ "PDPTE", 30, 2, 0, 1, 0xfff00000000001e6ull, 0 },
	{ "PDE", 21, 9, 1, 0, 0x7ff0000000000000ull, 0x1fe000ull },
	{ "PTE", 12, 9, 0, 0, 0x7ff0000000000000ull, 0 },
};

/* 32-bit: 4 MiB pages with PSE-36 (bits 20:13 are address bits 39:32). */
static const struct vms_pt_level lv_32[] = {
	{ "PDE", 22, 10, 1, 0, 0, 1ull << 21 },
	{ "PTE", 12, 10, 0, 0, 0, 0 },
};

uint64_t pt_dtb_mask(enum vms_paging mode)
{
	switch (mode) {
	case VMS_PAGING_32: return ADDR_32;
	case VMS_PAGING_PAE: return 0xffffffe0ull;
	case VMS_PAGING_4LEVEL:
	case VMS_PAGING_5LEVEL: return ADDR_PAE;
	default: return 0;
	}
}

const struct vms_pt_level *pt_levels(enum vms_paging mode, unsigned *n, unsigned *esize)
{
	*esize = 8;
	switch (mode) {
	case VMS_PAGING_32: *n = 2, *esize = 4; return lv_32;
	case VMS_PAGING_PAE: *n = 3; return lv_pae;
	case VMS_PAGING_4LEVEL: *n = 4; return lv_ia32e + 1;
	case VMS_PAGING_5LEVEL: *n = 5; return lv_ia32e;
	default: *n = 0; return NULL;
	}
}

int pt_decode(const struct vms_mmu *m, const struct vms_pt_level *l, unsigned esize, int last, uint64_t e,
              uint64_t *addr, uint32_t *prot, uint64_t *bad)
{
	int large = l->maps_page && (e & PTE_PS) && (esize == 8 || m->pse);
	uint64_t rsvd = l->rsvd | (large ? l->rsvd_page : 0);
	if (esize == 8 && !m->nxe && !l->no_perm)
		rsvd |= PTE_XD;
	if ((*bad = e & rsvd))
		return VMS_PT_BAD;
	if (!l->no_perm) {
		if (!(e & PTE_RW))
			*prot &= ~(uint32_t)VMS_PAGE_WRITE;
		if (!(e & PTE_US))
			*prot &= ~(uint32_t)VMS_PAGE_USER;
		if (esize == 8 && m->nxe && (e & PTE_XD))
			*prot |= VMS_PAGE_NX;
	}
	if (!large && !last) {
		*addr = e & (esize == 4 ? ADDR_32 : ADDR_PAE);
		return VMS_PT_TABLE;
	}
	if (esize == 4)
		*addr = large ? (e & 0xffc00000ull) | (((e >> 13) & 0xff) << 32) : e & ADDR_32;
	else
		*addr = e & ADDR_PAE & ~((1ull << l->shift) - 1);
	return VMS_PT_PAGE;
}

/* Is VA an address the mode can translate at all? */
static int check_va(struct vms_target *t, const struct vms_pt_level *lv, unsigned esize, enum vms_paging mode,
                    uint64_t va)
{
	if (esize == 4 || mode == VMS_PAGING_PAE) {
		if (va >> 32)
			return arch_fail(t, EINVAL, "0x%llx is not a 32-bit address (%s paging)",
			                 (unsigned long long)va, vms_paging_name(mode));
		return 0;
	}
	int64_t high = (int64_t)va >> (lv[0].shift + 8); /* bit 47 or 56 and above */
	if (high != 0 && high != -1)
		return arch_fail(t, EINVAL, "0x%llx is not canonical (%s paging)", (unsigned long long)va,
		                 vms_paging_name(mode));
	return 0;
}

int pt_walk(struct vms_target *t, const struct vms_mmu *m, uint64_t dtb, uint64_t va, struct vms_translation *tr,
            struct vms_page_walk *steps)
{
	unsigned n, esize;
	const struct vms_pt_level *lv = pt_levels(m->mode, &n, &esize);
	if (m->mode == VMS_PAGING_NONE) {
		*tr = (struct vms_translation){ va, va, 4096, VMS_PAGE_PRESENT | VMS_PAGE_WRITE | VMS_PAGE_USER };
		if (steps)
			steps->tr = *tr;
		return 0;
	}
	if (!lv)
		return arch_fail(t, ENOTSUP, "paging mode unknown: set it (vms_set_paging, --paging)");
	uint64_t table = dtb & pt_dtb_mask(m->mode);
	if (steps) {
		steps->mode = m->mode;
		steps->table = table;
		steps->nsteps = 0;
	}
	int rc = check_va(t, lv, esize, m->mode, va);
	if (rc)
		return rc;
	uint32_t prot = VMS_PAGE_PRESENT | VMS_PAGE_WRITE | VMS_PAGE_USER;
	for (unsigned i = 0; i < n; i++) {
		const struct vms_pt_level *l = &lv[i];
		uint64_t epa = table + ((va >> l->shift) & ((1ull << l->bits) - 1)) * esize;
		uint64_t e = 0;
		if (esize == 4) {
			uint32_t e32 = 0;
			rc = vms_read_pa(t, epa, &e32, 4);
			e = e32;
		} else {
			rc = vms_read_pa(t, epa, &e, 8);
		}
		if (rc == -EFAULT)
			return arch_fail(t, EIO,
			                 "corrupt page table: the %s for 0x%llx would be at 0x%llx, outside "
			                 "guest RAM",
			                 l->name, (unsigned long long)va, (unsigned long long)epa);
		if (rc)
			return rc; /* the source failed; t->err says how */
		if (steps) {
			steps->step[i] = (struct vms_walk_step){ l->name, epa, e };
			steps->nsteps = i + 1;
		}
		if (!(e & PTE_P))
			return arch_fail(t, EFAULT, "0x%llx is not mapped (%s not present)", (unsigned long long)va,
			                 l->name);
		uint64_t addr, bad;
		switch (pt_decode(m, l, esize, i == n - 1, e, &addr, &prot, &bad)) {
		case VMS_PT_TABLE: table = addr; continue;
		case VMS_PT_PAGE: {
			uint64_t size = 1ull << l->shift;
			*tr = (struct vms_translation){ va, addr + (va & (size - 1)), size, prot };
			if (steps)
				steps->tr = *tr;
			return 0;
		}
		default:
			return arch_fail(t, EIO,
			                 "corrupt page table: %s 0x%llx at 0x%llx (for 0x%llx) has reserved "
			                 "bits 0x%llx set",
			                 l->name, (unsigned long long)e, (unsigned long long)epa,
			                 (unsigned long long)va, (unsigned long long)bad);
		}
	}
	return arch_fail(t, EIO, "page walk for 0x%llx ended without a page", (unsigned long long)va);
}
