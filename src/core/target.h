/*
 * The target object behind the public API, and the inline fast path of
 * physical reads: one range check and one memcpy when the source maps RAM.
 */
#ifndef VMS_CORE_TARGET_H
#define VMS_CORE_TARGET_H

#include <string.h>

#include "../ctl/qemu.h"
#include "../mem/source.h"
#include "target_access.h"
#include "util/guard.h"

struct vms_qmp;
struct vms_mmu;

struct vms_target {
	struct vms_source *src;
	char qmp_path[108];  /* "" when the target has no QMP */
	struct vms_qmp *qmp; /* open only during an operation, unless qmp_keep or held */
	int qmp_keep;
	unsigned hold;              /* vms_hold depth: the connection and the registers kept */
	struct vms_regs *held_regs; /* every vCPU's, read once while held (NULL: not yet) */
	unsigned held_nregs;
	int regs_asked; /* `info registers -a` sent while held, its reply not yet read */
	int pid;        /* from pid:N, else 0 */
	unsigned timeout_ms;
	vms_log_fn log;
	void *log_ctx;
	char err[1024];
	struct vms_mmu *mmu;     /* paging mode and TLB (src/arch/paging.h); NULL until first use */
	size_t range_hint;       /* RAM range of the last fast read (src->ranges index) */
	char paging_why[1100];   /* why vCPU 0's paging mode is unknown, "" if it is not */
	struct vms_qemu_ram ram; /* live QEMU's RAM block and its placement, when has_ram */
	int has_ram;
	struct guard pause_guard; /* resumes the guest we paused if we are killed (vms_pause) */
	/* What an attach remembers of this VM (memo.c) */
	char memo_dir[512];       /* the cache directory, "" for none */
	char memo_ident[96];      /* the VM's name in it, "" if it has none */
	struct target_memo *memo; /* as loaded, NULL if none (or dropped) */
	int memo_held;            /* its kernel witness held at open (targets without registers) */
	int memo_refused;         /* the directory was not ours alone: said once */
};

int read_pa_slow(struct vms_target *t, uint64_t pa, void *buf, size_t len);

/* A line on the target's log (vms_open_opts.log), if it has one. */
void target_log(struct vms_target *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fixed-size copies become single loads: the 1/2/4/8-byte reads views make
 * then cost what the load costs. */
static inline void copy_small(void *dst, const uint8_t *src, size_t len)
{
	switch (len) {
	case 8: memcpy(dst, src, 8); break;
	case 4: memcpy(dst, src, 4); break;
	case 2: memcpy(dst, src, 2); break;
	case 1: memcpy(dst, src, 1); break;
	default: memcpy(dst, src, len); break;
	}
}

#endif
