/*
 * The paging mode of a vCPU, from the architectural control bits:
 * CR0.PG turns paging on, CR4.PAE selects PAE, EFER.LMA (or, where a dump
 * carries no EFER, a 64-bit code segment) selects IA-32e, and CR4.LA57 the
 * fifth level.
 */
#include "vmsight/vmsight.h"

#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define SEG_L (1u << 21)

enum vms_paging vms_paging_mode(const struct vms_regs *r)
{
	if (!(r->valid & VMS_REGS_CR))
		return VMS_PAGING_UNKNOWN;
	if (!(r->cr0 & CR0_PG))
		return VMS_PAGING_NONE;
	if (!(r->cr4 & CR4_PAE))
		return VMS_PAGING_32;
	int lma;
	if (r->valid & VMS_REGS_EFER)
		lma = (r->efer & EFER_LMA) != 0;
	else if (r->valid & VMS_REGS_SEG && r->cs_flags)
		lma = (r->cs_flags & SEG_L) != 0;
	else
		return VMS_PAGING_UNKNOWN;
	if (!lma)
		return VMS_PAGING_PAE;
	return (r->cr4 & CR4_LA57) ? VMS_PAGING_5LEVEL : VMS_PAGING_4LEVEL;
}

const char *vms_paging_name(enum vms_paging m)
{
	switch (m) {
	case VMS_PAGING_NONE: return "none";
	case VMS_PAGING_32: return "32-bit";
	case VMS_PAGING_PAE: return "PAE";
	case VMS_PAGING_4LEVEL: return "4-level";
	case VMS_PAGING_5LEVEL: return "5-level";
	default: return "unknown";
	}
}
