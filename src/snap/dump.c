/*
 * Whole-RAM dumps: raw (file offset = guest-physical address) or an ELF core
 * in the layout of QEMU's dump-guest-memory, so that crash, Volatility and
 * vmsight's own dump source read it.
 *
 * Pages that are all zero are not written: the file is sized with ftruncate
 * and they stay holes, which keeps dumps of mostly idle guests small and fast
 * to write while reading back as zeros everywhere.
 */
#include "../core/target.h"
#include "../mem/elfcore.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DUMP_PAGE 4096u
#define DUMP_CHUNK (4u << 20)

struct writer {
	struct vms_target *t;
	int fd;
	uint8_t *buf;
	uint64_t done, total;
	const struct vms_dump_opts *o;
};

static int wfail(struct writer *w, int err, const char *what)
{
	snprintf(w->t->err, sizeof(w->t->err), "writing dump: %s: %s", what, strerror(err));
	return -err;
}

static int page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	uint64_t acc = 0;
	for (unsigned i = 0; i < DUMP_PAGE / 8; i += 8)
		acc |= q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] | q[i + 6] | q[i + 7];
	return acc == 0;
}

static int pwrite_all(struct writer *w, const void *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pwrite(w->fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return wfail(w, errno, "write");
		p = (const uint8_t *)p + r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Writes the non-zero pages of [pa, pa+len) to the file at OFF, coalescing
 * runs of data pages into one write. */
static int write_range(struct writer *w, uint64_t pa, uint64_t len, uint64_t off)
{
	while (len) {
		size_t n = len < DUMP_CHUNK ? (size_t)len : DUMP_CHUNK;
		const uint8_t *src = vms_map_pa(w->t, pa, n);
		if (!src) {
			int rc = vms_read_pa(w->t, pa, w->buf, n);
			if (rc)
				return rc;
			src = w->buf;
		}
		size_t run = 0, run_start = 0;
		for (size_t p = 0; p < n; p += DUMP_PAGE) {
			size_t pl = n - p < DUMP_PAGE ? n - p : DUMP_PAGE;
			int zero = pl == DUMP_PAGE && page_is_zero(src + p);
			if (!zero) {
				if (!run)
					run_start = p;
				run += pl;
				continue;
			}
			int rc = run ? pwrite_all(w, src + run_start, run, off + run_start) : 0;
			if (rc)
				return rc;
			run = 0;
		}
		int rc = run ? pwrite_all(w, src + run_start, run, off + run_start) : 0;
		if (rc)
			return rc;
		if (vms_shm_broken())
			return wfail(w, EIO, "guest RAM file was truncated (QEMU exited?)");
		pa += n;
		off += n;
		len -= n;
		w->done += n;
		if (w->o->progress && w->o->progress(w->o->progress_ctx, w->done, w->total)) {
			snprintf(w->t->err, sizeof(w->t->err), "dump cancelled");
			return -ECANCELED;
		}
	}
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
	memcpy(p + 12 + ((namesz + 3) & ~3u), desc, descsz);
	return p + note_size(namesz, descsz);
}

static void fill_prstatus(uint8_t *desc, unsigned vcpu, const struct vms_regs *r)
{
	memset(desc, 0, PRSTATUS_SIZE);
	uint32_t pid = vcpu + 1;
	memcpy(desc + PRSTATUS_PID_OFF, &pid, 4);
	uint64_t u[UREG_COUNT] = {
		[UREG_R15] = r->r15, [UREG_R14] = r->r14, [UREG_R13] = r->r13, [UREG_R12] = r->r12,
		[UREG_RBP] = r->rbp, [UREG_RBX] = r->rbx, [UREG_R11] = r->r11, [UREG_R10] = r->r10,
		[UREG_R9] = r->r9, [UREG_R8] = r->r8, [UREG_RAX] = r->rax, [UREG_RCX] = r->rcx,
		[UREG_RDX] = r->rdx, [UREG_RSI] = r->rsi, [UREG_RDI] = r->rdi, [UREG_RIP] = r->rip,
		[UREG_CS] = r->cs, [UREG_EFLAGS] = r->rflags, [UREG_RSP] = r->rsp, [UREG_SS] = r->ss,
		[UREG_FS_BASE] = r->fs_base, [UREG_GS_BASE] = r->gs_base, [UREG_DS] = r->ds,
		[UREG_ES] = r->es, [UREG_FS] = r->fs, [UREG_GS] = r->gs,
	};
	memcpy(desc + PRSTATUS_REG_OFF, u, sizeof(u));
}

static void fill_qemu_state(struct qemu_cpu_state *st, const struct vms_regs *r)
{
	memset(st, 0, sizeof(*st));
	st->version = 1;
	st->size = sizeof(*st);
	st->rax = r->rax; st->rbx = r->rbx; st->rcx = r->rcx; st->rdx = r->rdx;
	st->rsi = r->rsi; st->rdi = r->rdi; st->rsp = r->rsp; st->rbp = r->rbp;
	st->r8 = r->r8; st->r9 = r->r9; st->r10 = r->r10; st->r11 = r->r11;
	st->r12 = r->r12; st->r13 = r->r13; st->r14 = r->r14; st->r15 = r->r15;
	st->rip = r->rip; st->rflags = r->rflags;
	st->cs.selector = r->cs; st->cs.flags = r->cs_flags;
	st->ds.selector = r->ds; st->es.selector = r->es; st->ss.selector = r->ss;
	st->fs.selector = r->fs; st->fs.base = r->fs_base;
	st->gs.selector = r->gs; st->gs.base = r->gs_base;
	st->cr[0] = r->cr0; st->cr[2] = r->cr2; st->cr[3] = r->cr3; st->cr[4] = r->cr4;
	st->kernel_gs_base = r->kernel_gs_base;
}

/* Notes for every vCPU whose registers the target can give; a target with
 * no register access (procmem without QMP) yields a core without notes. */
static int build_notes(struct vms_target *t, uint8_t **out, size_t *len)
{
	int n = vms_vcpu_count(t);
	if (n <= 0) {
		*out = NULL;
		*len = 0;
		return 0;
	}
	size_t cap = (size_t)n * (note_size(5, PRSTATUS_SIZE) + note_size(5, sizeof(struct qemu_cpu_state)));
	struct vms_regs *regs = calloc((size_t)n, sizeof(*regs));
	uint8_t *buf = calloc(1, cap);
	if (!regs || !buf) {
		free(regs);
		free(buf);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		int rc = vms_vcpu_regs(t, (unsigned)i, &regs[i]);
		if (rc) {
			free(regs);
			free(buf);
			return rc;
		}
	}
	uint8_t *p = buf, desc[PRSTATUS_SIZE];
	for (int i = 0; i < n; i++) {
		fill_prstatus(desc, (unsigned)i, &regs[i]);
		p = put_note(p, "CORE", NT_PRSTATUS, desc, PRSTATUS_SIZE);
	}
	for (int i = 0; i < n; i++) {
		struct qemu_cpu_state st;
		fill_qemu_state(&st, &regs[i]);
		p = put_note(p, "QEMU", 0, &st, sizeof(st));
	}
	free(regs);
	*out = buf;
	*len = (size_t)(p - buf);
	return 0;
}

static int write_elf(struct writer *w)
{
	const struct vms_ram_range *r;
	size_t nr;
	vms_ram_ranges(w->t, &r, &nr);
	uint8_t *notes;
	size_t notes_len;
	int rc = build_notes(w->t, &notes, &notes_len);
	if (rc)
		return rc;
	size_t nph = 1 + nr;
	size_t hdr_len = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
	uint8_t *hdr = calloc(1, hdr_len + notes_len);
	if (!hdr) {
		free(notes);
		return -ENOMEM;
	}
	Elf64_Ehdr *eh = (Elf64_Ehdr *)hdr;
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
	Elf64_Phdr *ph = (Elf64_Phdr *)(hdr + sizeof(Elf64_Ehdr));
	ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = hdr_len, .p_filesz = notes_len, .p_memsz = notes_len };
	if (notes_len)
		memcpy(hdr + hdr_len, notes, notes_len);
	free(notes);
	uint64_t off = (hdr_len + notes_len + DUMP_PAGE - 1) & ~(uint64_t)(DUMP_PAGE - 1);
	for (size_t i = 0; i < nr; i++) {
		ph[1 + i] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = off, .p_paddr = r[i].gpa,
					  .p_filesz = r[i].len, .p_memsz = r[i].len };
		off = (off + r[i].len + DUMP_PAGE - 1) & ~(uint64_t)(DUMP_PAGE - 1);
	}
	if (ftruncate(w->fd, (off_t)off) != 0) {
		rc = wfail(w, errno, "ftruncate");
		goto out;
	}
	if ((rc = pwrite_all(w, hdr, hdr_len + notes_len, 0)))
		goto out;
	for (size_t i = 0; i < nr && !rc; i++)
		rc = write_range(w, r[i].gpa, r[i].len, ph[1 + i].p_offset);
out:
	free(hdr);
	return rc;
}

static int write_raw(struct writer *w)
{
	const struct vms_ram_range *r;
	size_t nr;
	vms_ram_ranges(w->t, &r, &nr);
	uint64_t end = r[nr - 1].gpa + r[nr - 1].len;
	if (ftruncate(w->fd, (off_t)end) != 0)
		return wfail(w, errno, "ftruncate");
	for (size_t i = 0; i < nr; i++) {
		int rc = write_range(w, r[i].gpa, r[i].len, r[i].gpa);
		if (rc)
			return rc;
	}
	return 0;
}

int vms_dump(struct vms_target *t, int fd, const struct vms_dump_opts *opts)
{
	struct vms_dump_opts o = { .format = VMS_DUMP_ELF };
	if (opts)
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	struct writer w = { .t = t, .fd = fd, .o = &o };
	const struct vms_ram_range *r;
	size_t nr;
	vms_ram_ranges(t, &r, &nr);
	for (size_t i = 0; i < nr; i++)
		w.total += r[i].len;
	w.buf = malloc(DUMP_CHUNK);
	if (!w.buf)
		return -ENOMEM;
	int rc = o.format == VMS_DUMP_RAW ? write_raw(&w) : write_elf(&w);
	free(w.buf);
	if (rc == 0 && fsync(fd) != 0 && errno != EINVAL)
		rc = wfail(&w, errno, "fsync");
	return rc;
}
