/*
 * What an attach remembers of a VM between commands (memo.c): QEMU's RAM
 * layout, and where the kernel lies. Internal to the library.
 */
#ifndef VMS_CORE_MEMO_H
#define VMS_CORE_MEMO_H

#include <stdint.h>

#include "vmsight/vmsight.h"

struct vms_target;
struct vms_qemu_ram;

/* The memo kept for the VM: where the cache directory is (from the open
 * options; NO_CACHE: nothing read or written). */
void memo_setup(struct vms_target *t, const char *cache_dir, int no_cache);

/* Name the VM: a live QEMU by its process (pid and start time, so a new
 * QEMU with a recycled pid is another VM), a dump by its file's identity.
 * Loads the memo of that name if there is a well-formed one. */
void memo_name_qemu(struct vms_target *t, int pid);
void memo_name_source(struct vms_target *t);

/* QEMU's RAM layout as remembered: 0 and *RAM, or -ENOENT. */
int memo_layout(struct vms_target *t, struct vms_qemu_ram *ram);

/* For a target without registers, once the source is open: does the
 * kernel still lie where the memo says? 0: yes, and the paging mode is
 * taken from the memo; -ESTALE: no; -ENOENT: no memo. */
int memo_settle(struct vms_target *t);

/* For the kernel layer: the kernel's top page table, if the memo's witness
 * held at open (a target without registers) and the paging mode is still
 * the memo's. */
int target_memo_cr3(struct vms_target *t, uint64_t *cr3);

/* For the kernel layer, once the kernel is found: remember it (and, for a
 * live QEMU, the RAM layout). CR3 must be the kernel's own top table
 * (init_top_pgt), mapping TOP_VA to itself and BANNER_VA to BANNER. Best
 * effort: a cache that cannot be written is no error. */
void target_memo_save(struct vms_target *t, uint64_t cr3, uint64_t top_va, uint64_t banner_va, const char *banner);

void memo_free(struct vms_target *t);

#endif
