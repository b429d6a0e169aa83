/*
 * ELF core layout and the parallel RAM copy behind `vmsight dump` and
 * `vmsight snapshot`.
 *
 * The copy is split into 4 MiB chunks handed out to worker threads through
 * one atomic counter; each worker writes the non-zero pages of its chunk
 * straight from the source's mapping of guest RAM into the file (one pwrite
 * per run of non-zero pages), so the only copy is the kernel's into the page
 * cache. All-zero pages are skipped and stay holes of the pre-sized file.
 */
#include "writer.h"

#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/target.h"
#include "../mem/elfcore.h"

#define CHUNK (4u << 20)
#define MAX_THREADS 64

static int wfail(struct vms_target *t, int err, const char *what)
{
	snprintf(t->err, sizeof(t->err), "writing %s: %s", what, strerror(err));
	return -err;
}

int snap_pwrite(struct vms_target *t, int fd, const void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t r = pwrite(fd, buf, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return wfail(t, errno, "the output file");
		buf = (const uint8_t *)buf + r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	uint64_t acc = 0;
	for (unsigned i = 0; i < SNAP_PAGE / 8; i += 8)
		acc |= q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] | q[i + 6] | q[i + 7];
	return acc == 0;
}

/* ---- layout ---------------------------------------------------------------- */

int snap_plan_raw(struct vms_target *t, struct snap_plan *p)
{
	memset(p, 0, sizeof(*p));
	vms_ram_ranges(t, &p->ranges, &p->nranges);
	p->file_off = calloc(p->nranges, sizeof(*p->file_off));
	if (!p->file_off)
		return -ENOMEM;
	for (size_t i = 0; i < p->nranges; i++) {
		p->file_off[i] = p->ranges[i].gpa;
		p->ram_bytes += p->ranges[i].len;
	}
	p->file_size = p->ranges[p->nranges - 1].gpa + p->ranges[p->nranges - 1].len;
	return 0;
}

static size_t note_size(size_t namesz, size_t descsz)
{
	return 12 + ((namesz + 3) & ~(size_t)3) + ((descsz + 3) & ~(size_t)3);
}

static uint8_t *put_note(uint8_t *p, const char *name, uint32_t type, const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	memset(p + 12, 0, ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u));
	memcpy(p + 12, name, namesz);
	if (desc)
		memcpy(p + 12 + ((namesz + 3) & ~3u), desc, descsz);
	return p + note_size(namesz, descsz);
}

static void fill_prstatus(uint8_t *desc, unsigned vcpu, const struct vms_regs *r)
{
	memset(desc, 0, PRSTATUS_SIZE);
	uint32_t pid = vcpu + 1;
	memcpy(desc + PRSTATUS_PID_OFF, &pid, 4);
	uint64_t u[UREG_COUNT] = {
		[UREG_R15] = r->r15,         [UREG_R14] = r->r14,         [UREG_R13] = r->r13, [UREG_R12] = r->r12,
		[UREG_RBP] = r->rbp,         [UREG_RBX] = r->rbx,         [UREG_R11] = r->r11, [UREG_R10] = r->r10,
		[UREG_R9] = r->r9,           [UREG_R8] = r->r8,           [UREG_RAX] = r->rax, [UREG_RCX] = r->rcx,
		[UREG_RDX] = r->rdx,         [UREG_RSI] = r->rsi,         [UREG_RDI] = r->rdi, [UREG_RIP] = r->rip,
		[UREG_CS] = r->cs,           [UREG_EFLAGS] = r->rflags,   [UREG_RSP] = r->rsp, [UREG_SS] = r->ss,
		[UREG_FS_BASE] = r->fs_base, [UREG_GS_BASE] = r->gs_base, [UREG_DS] = r->ds,   [UREG_ES] = r->es,
		[UREG_FS] = r->fs,           [UREG_GS] = r->gs,
	};
	memcpy(desc + PRSTATUS_REG_OFF, u, sizeof(u));
}

static void fill_qemu_state(struct qemu_cpu_state *st, const struct vms_regs *r)
{
	memset(st, 0, sizeof(*st));
	st->version = 1;
	st->size = sizeof(*st);
	st->rax = r->rax;
	st->rbx = r->rbx;
	st->rcx = r->rcx;
	st->rdx = r->rdx;
	st->rsi = r->rsi;
	st->rdi = r->rdi;
	st->rsp = r->rsp;
	st->rbp = r->rbp;
	st->r8 = r->r8;
	st->r9 = r->r9;
	st->r10 = r->r10;
	st->r11 = r->r11;
	st->r12 = r->r12;
	st->r13 = r->r13;
	st->r14 = r->r14;
	st->r15 = r->r15;
	st->rip = r->rip;
	st->rflags = r->rflags;
	st->cs.selector = r->cs;
	st->cs.flags = r->cs_flags;
	st->ds.selector = r->ds;
	st->es.selector = r->es;
	st->ss.selector = r->ss;
	st->fs.selector = r->fs;
	st->fs.base = r->fs_base;
	st->gs.selector = r->gs;
	st->gs.base = r->gs_base;
	st->cr[0] = r->cr0;
	st->cr[2] = r->cr2;
	st->cr[3] = r->cr3;
	st->cr[4] = r->cr4;
	st->kernel_gs_base = r->kernel_gs_base;
}

int snap_plan_elf(struct vms_target *t, const struct vms_regs *regs, int nvcpu, size_t note_len, struct snap_plan *p)
{
	memset(p, 0, sizeof(*p));
	vms_ram_ranges(t, &p->ranges, &p->nranges);
	size_t notes_len = (size_t)nvcpu * (note_size(5, PRSTATUS_SIZE) + note_size(5, sizeof(struct qemu_cpu_state)));
	if (note_len)
		notes_len += note_size(8, note_len);
	size_t nph = 1 + p->nranges;
	size_t phdr_len = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
	p->header_len = phdr_len + notes_len;
	p->header = calloc(1, p->header_len);
	p->file_off = calloc(p->nranges, sizeof(*p->file_off));
	if (!p->header || !p->file_off) {
		snap_plan_free(p);
		return -ENOMEM;
	}
	Elf64_Ehdr *eh = (Elf64_Ehdr *)p->header;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (uint16_t)nph;
	Elf64_Phdr *ph = (Elf64_Phdr *)(p->header + sizeof(Elf64_Ehdr));
	ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = phdr_len, .p_filesz = notes_len, .p_memsz = notes_len };
	uint8_t *n = p->header + phdr_len, desc[PRSTATUS_SIZE];
	for (int i = 0; i < nvcpu; i++) {
		fill_prstatus(desc, (unsigned)i, &regs[i]);
		n = put_note(n, "CORE", NT_PRSTATUS, desc, PRSTATUS_SIZE);
	}
	for (int i = 0; i < nvcpu; i++) {
		struct qemu_cpu_state st;
		fill_qemu_state(&st, &regs[i]);
		n = put_note(n, "QEMU", 0, &st, sizeof(st));
	}
	if (note_len) {
		p->note_desc_off = (size_t)(n - p->header) + 12 + 8;
		p->note_desc_len = note_len;
		n = put_note(n, "VMSIGHT", 0x564d5301, NULL, (uint32_t)note_len);
		memset(p->header + p->note_desc_off, ' ', note_len);
	}
	uint64_t off = (p->header_len + SNAP_PAGE - 1) & ~(uint64_t)(SNAP_PAGE - 1);
	for (size_t i = 0; i < p->nranges; i++) {
		ph[1 + i] = (Elf64_Phdr){ .p_type = PT_LOAD,
			                  .p_offset = off,
			                  .p_paddr = p->ranges[i].gpa,
			                  .p_filesz = p->ranges[i].len,
			                  .p_memsz = p->ranges[i].len };
		p->file_off[i] = off;
		p->ram_bytes += p->ranges[i].len;
		off = (off + p->ranges[i].len + SNAP_PAGE - 1) & ~(uint64_t)(SNAP_PAGE - 1);
	}
	p->file_size = off;
	return 0;
}

void snap_plan_set_note(struct snap_plan *p, const char *text)
{
	if (!p->note_desc_off)
		return;
	size_t n = strlen(text);
	if (n > p->note_desc_len)
		n = p->note_desc_len;
	memset(p->header + p->note_desc_off, ' ', p->note_desc_len);
	memcpy(p->header + p->note_desc_off, text, n);
}

void snap_plan_free(struct snap_plan *p)
{
	free(p->file_off);
	free(p->header);
	memset(p, 0, sizeof(*p));
}

int snap_capture_regs(struct vms_target *t, struct vms_regs **regs, int *nvcpu)
{
	*regs = NULL;
	*nvcpu = 0;
	int n = vms_vcpu_count(t);
	if (n <= 0)
		return 0; /* a source without vCPU state: the core has no notes */
	struct vms_regs *r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		int rc = vms_vcpu_regs(t, (unsigned)i, &r[i]);
		if (rc) {
			free(r);
			return rc;
		}
	}
	*regs = r;
	*nvcpu = n;
	return 0;
}

int snap_write_header(struct vms_target *t, int fd, const struct snap_plan *p)
{
	return p->header_len ? snap_pwrite(t, fd, p->header, p->header_len, 0) : 0;
}

int snap_size_file(struct vms_target *t, int fd, const struct snap_plan *p)
{
	if (ftruncate(fd, (off_t)p->file_size) != 0)
		return wfail(t, errno, "the output file (sizing)");
	return 0;
}

/* ---- parallel copy ----------------------------------------------------------- */

struct copy_job {
	struct vms_target *t;
	int fd;
	const struct snap_plan *p;
	uint64_t *chunk_start; /* prefix sums: first chunk index of each range */
	uint64_t nchunks;
	atomic_uint_fast64_t next;
	atomic_uint_fast64_t done_bytes, written;
	atomic_int stop;
	atomic_int err;
	int use_map;
	vms_progress_fn progress;
	void *progress_ctx;
};

static int copy_chunk(struct copy_job *j, uint64_t c, uint8_t *buf)
{
	size_t r = 0;
	while (r + 1 < j->p->nranges && j->chunk_start[r + 1] <= c)
		r++;
	uint64_t in_range = (c - j->chunk_start[r]) * CHUNK;
	uint64_t left = j->p->ranges[r].len - in_range;
	size_t n = left < CHUNK ? (size_t)left : CHUNK;
	uint64_t pa = j->p->ranges[r].gpa + in_range, off = j->p->file_off[r] + in_range;
	const uint8_t *src = j->use_map ? vms_map_pa(j->t, pa, n) : NULL;
	if (!src) {
		int rc = vms_read_pa(j->t, pa, buf, n);
		if (rc)
			return rc;
		src = buf;
	}
	size_t run = 0, run_start = 0;
	uint64_t written = 0;
	for (size_t q = 0; q <= n; q += SNAP_PAGE) {
		size_t pl = q < n ? (n - q < SNAP_PAGE ? n - q : SNAP_PAGE) : 0;
		int data = pl && !(pl == SNAP_PAGE && page_is_zero(src + q));
		if (data) {
			if (!run)
				run_start = q;
			run += pl;
			continue;
		}
		if (run) {
			int rc = snap_pwrite(j->t, j->fd, src + run_start, run, off + run_start);
			if (rc)
				return rc;
			written += run;
			run = 0;
		}
	}
	if (shm_broken()) {
		snprintf(j->t->err, sizeof(j->t->err), "guest RAM file was truncated (QEMU exited?)");
		return -EIO;
	}
	atomic_fetch_add(&j->written, written);
	atomic_fetch_add(&j->done_bytes, n);
	return 0;
}

static void *copy_worker(void *arg)
{
	struct copy_job *j = arg;
	uint8_t *buf = j->use_map ? NULL : malloc(CHUNK);
	if (!j->use_map && !buf) {
		atomic_store(&j->err, -ENOMEM);
		atomic_store(&j->stop, 1);
		return NULL;
	}
	for (;;) {
		if (atomic_load(&j->stop))
			break;
		uint64_t c = atomic_fetch_add(&j->next, 1);
		if (c >= j->nchunks)
			break;
		int rc = copy_chunk(j, c, buf);
		if (rc) {
			int expected = 0;
			atomic_compare_exchange_strong(&j->err, &expected, rc);
			atomic_store(&j->stop, 1);
			break;
		}
	}
	free(buf);
	return NULL;
}

int snap_copy(struct vms_target *t, int fd, const struct snap_plan *p, unsigned threads, vms_progress_fn progress,
              void *progress_ctx, uint64_t *written)
{
	struct copy_job j = { .t = t, .fd = fd, .p = p, .progress = progress, .progress_ctx = progress_ctx };
	j.chunk_start = calloc(p->nranges + 1, sizeof(*j.chunk_start));
	if (!j.chunk_start)
		return -ENOMEM;
	for (size_t i = 0; i < p->nranges; i++)
		j.chunk_start[i + 1] = j.chunk_start[i] + (p->ranges[i].len + CHUNK - 1) / CHUNK;
	j.nchunks = j.chunk_start[p->nranges];
	j.use_map = p->nranges && vms_map_pa(t, p->ranges[0].gpa, 1) != NULL;
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	if (!j.use_map)
		threads = 1; /* sources that talk to QEMU per read serialise anyway */
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	pthread_t tid[MAX_THREADS];
	unsigned started = 0;
	for (unsigned i = 1; i < threads; i++)
		if (pthread_create(&tid[started], NULL, copy_worker, &j) == 0)
			started++;
	/* This thread works too, and reports progress between its chunks. */
	uint8_t *buf = j.use_map ? NULL : malloc(CHUNK);
	if (!j.use_map && !buf) {
		atomic_store(&j.err, -ENOMEM);
		atomic_store(&j.stop, 1);
	}
	while (!atomic_load(&j.stop)) {
		uint64_t c = atomic_fetch_add(&j.next, 1);
		if (c >= j.nchunks)
			break;
		int rc = copy_chunk(&j, c, buf);
		if (rc) {
			int expected = 0;
			atomic_compare_exchange_strong(&j.err, &expected, rc);
			atomic_store(&j.stop, 1);
			break;
		}
		if (progress && progress(progress_ctx, atomic_load(&j.done_bytes), p->ram_bytes)) {
			int expected = 0;
			atomic_compare_exchange_strong(&j.err, &expected, -ECANCELED);
			atomic_store(&j.stop, 1);
		}
	}
	free(buf);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	int rc = atomic_load(&j.err);
	if (rc == -ECANCELED)
		snprintf(t->err, sizeof(t->err), "cancelled");
	else if (rc == -ENOMEM)
		snprintf(t->err, sizeof(t->err), "out of memory");
	if (!rc && progress)
		progress(progress_ctx, p->ram_bytes, p->ram_bytes);
	if (written)
		*written = atomic_load(&j.written);
	free(j.chunk_start);
	return rc;
}
