/*
 * The machinery shared by dumps and snapshots: the ELF core header (notes
 * and program headers, laid out like QEMU's dump-guest-memory) and the
 * parallel, zero-page-skipping copy of guest RAM into a file.
 */
#ifndef VMS_SNAP_WRITER_H
#define VMS_SNAP_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "vmsight/vmsight.h"

#define SNAP_PAGE 4096u

/* Where each RAM range goes in the output file, and how big the file is. */
struct snap_plan {
	const struct vms_ram_range *ranges;
	size_t nranges;
	uint64_t *file_off; /* per range */
	uint64_t file_size;
	uint64_t ram_bytes;
	uint8_t *header; /* ELF: bytes to write at offset 0 */
	size_t header_len;
	size_t note_desc_off; /* ELF: offset in header of the vmsight note's text, 0 if none */
	size_t note_desc_len;
};

/* Raw plan: file offset = guest-physical address. */
int snap_plan_raw(struct vms_target *t, struct snap_plan *p);

/* ELF plan with one CORE/NT_PRSTATUS and one QEMU note per vCPU in REGS,
 * and, when NOTE_LEN > 0, a "VMSIGHT" note with NOTE_LEN bytes of text
 * reserved (filled later with snap_plan_set_note). */
int snap_plan_elf(struct vms_target *t, const struct vms_regs *regs, int nvcpu, size_t note_len, struct snap_plan *p);
void snap_plan_set_note(struct snap_plan *p, const char *text);
void snap_plan_free(struct snap_plan *p);

/* The registers of every vCPU the target can describe (0 vCPUs if none). */
int snap_capture_regs(struct vms_target *t, struct vms_regs **regs, int *nvcpu);

/* Copy guest RAM into FD at the plan's offsets with THREADS workers
 * (0 = one per online CPU; sources that cannot map RAM use one). Zero pages
 * are skipped (the file must already be sized, so they read back as zero).
 * PROGRESS may cancel (-ECANCELED). Errors are put in the target's message. */
int snap_copy(struct vms_target *t, int fd, const struct snap_plan *p, unsigned threads, vms_progress_fn progress,
              void *progress_ctx, uint64_t *written);

/* Write the header and size the file. */
int snap_write_header(struct vms_target *t, int fd, const struct snap_plan *p);
int snap_size_file(struct vms_target *t, int fd, const struct snap_plan *p);

/* Write or page-copy one page-aligned run: exposed for the migration path. */
int snap_pwrite(struct vms_target *t, int fd, const void *buf, size_t len, uint64_t off);

#endif
