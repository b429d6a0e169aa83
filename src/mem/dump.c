/*
 * dump: guest memory saved in a file — an ELF core (QEMU's dump-guest-memory
 * or vmsight's own), a LiME image, or a raw image where file offset equals
 * guest-physical address.
 *
 * The file is mapped read-only and served in place like a live RAM file. Its
 * structure is untrusted: every header, segment and note is checked against
 * the file size before use, so a truncated or corrupt file is an error at
 * open time, never a bad read later.
 */
#include "elfcore.h"
#include "source.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DUMP_MAX_VCPUS 1024

struct dump_source {
	struct vms_source base;
	const uint8_t *map;
	size_t size;
	struct vms_regs *vcpu;
	unsigned nvcpu;
	const char *format;
};

#define RAW_MIN_BYTES (1u << 20)

static int dump_read(struct vms_source *s, uint64_t pa, void *buf, size_t len)
{
	int i = source_find_range(s, pa, len);
	if (i < 0)
		return source_fail(s, EFAULT, "0x%llx+%zu is not in the dump", (unsigned long long)pa, len);
	memcpy(buf, s->host[i] + (pa - s->ranges[i].gpa), len);
	return 0;
}

static const void *dump_map(struct vms_source *s, uint64_t pa, size_t len)
{
	int i = source_find_range(s, pa, len);
	return i < 0 ? NULL : s->host[i] + (pa - s->ranges[i].gpa);
}

static int dump_vcpus(struct vms_source *s)
{
	return (int)((struct dump_source *)s)->nvcpu;
}

static int dump_regs(struct vms_source *s, unsigned vcpu, struct vms_regs *out)
{
	struct dump_source *d = (struct dump_source *)s;
	if (vcpu >= d->nvcpu)
		return source_fail(s, ENOENT, "the dump holds no state for vCPU %u", vcpu);
	*out = d->vcpu[vcpu];
	return 0;
}

static void dump_close(struct vms_source *s)
{
	struct dump_source *d = (struct dump_source *)s;
	if (d->map)
		munmap((void *)d->map, d->size);
	free(d->vcpu);
	free(d);
}

static const struct vms_source_ops dump_ops = {
	.version = VMS_SOURCE_OPS_VERSION,
	.name = "dump",
	.read = dump_read,
	.map = dump_map,
	.vcpus = dump_vcpus,
	.regs = dump_regs,
	.close = dump_close,
};

/* Adds [gpa, gpa+len) at file offset OFF, merging with the previous range
 * when both the addresses and the file offsets continue. */
static int add_segment(struct dump_source *d, uint64_t gpa, uint64_t off, uint64_t len)
{
	struct vms_source *s = &d->base;
	if (len == 0)
		return 0;
	if (off > d->size || len > d->size - off)
		return source_fail(s, EINVAL, "truncated dump: data at 0x%llx+0x%llx ends past the file's %zu bytes",
		                   (unsigned long long)off, (unsigned long long)len, d->size);
	size_t n = s->nranges;
	if (n && s->ranges[n - 1].gpa + s->ranges[n - 1].len == gpa &&
	    s->host[n - 1] + s->ranges[n - 1].len == d->map + off) {
		s->ranges[n - 1].len += len;
		return 0;
	}
	if (source_add_range(s, gpa, len))
		return source_fail(s, EINVAL,
		                   "corrupt dump: memory segment at 0x%llx overlaps, is out of order, "
		                   "or there are more than %d",
		                   (unsigned long long)gpa, VMS_MAX_RANGES);
	s->host[n] = d->map + off;
	return 0;
}

static struct vms_regs *vcpu_slot(struct dump_source *d, unsigned idx)
{
	if (idx >= DUMP_MAX_VCPUS)
		return NULL;
	if (idx >= d->nvcpu) {
		struct vms_regs *v = realloc(d->vcpu, (idx + 1) * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + d->nvcpu, 0, (idx + 1 - d->nvcpu) * sizeof(*v));
		d->vcpu = v;
		d->nvcpu = idx + 1;
	}
	return &d->vcpu[idx];
}

static void regs_from_prstatus(struct vms_regs *r, const uint8_t *desc)
{
	uint64_t u[UREG_COUNT];
	memcpy(u, desc + PRSTATUS_REG_OFF, sizeof(u));
	r->r15 = u[UREG_R15];
	r->r14 = u[UREG_R14];
	r->r13 = u[UREG_R13];
	r->r12 = u[UREG_R12];
	r->rbp = u[UREG_RBP];
	r->rbx = u[UREG_RBX];
	r->r11 = u[UREG_R11];
	r->r10 = u[UREG_R10];
	r->r9 = u[UREG_R9];
	r->r8 = u[UREG_R8];
	r->rax = u[UREG_RAX];
	r->rcx = u[UREG_RCX];
	r->rdx = u[UREG_RDX];
	r->rsi = u[UREG_RSI];
	r->rdi = u[UREG_RDI];
	r->rip = u[UREG_RIP];
	r->rflags = u[UREG_EFLAGS];
	r->rsp = u[UREG_RSP];
	r->cs = (uint16_t)u[UREG_CS];
	r->ss = (uint16_t)u[UREG_SS];
	r->ds = (uint16_t)u[UREG_DS];
	r->es = (uint16_t)u[UREG_ES];
	r->fs = (uint16_t)u[UREG_FS];
	r->gs = (uint16_t)u[UREG_GS];
	r->fs_base = u[UREG_FS_BASE];
	r->gs_base = u[UREG_GS_BASE];
	r->valid |= VMS_REGS_GPR | VMS_REGS_SEG;
}

static void regs_from_qemu(struct vms_regs *r, const uint8_t *desc, uint32_t descsz)
{
	struct qemu_cpu_state st = { 0 };
	memcpy(&st, desc, descsz < sizeof(st) ? descsz : sizeof(st));
	r->rax = st.rax;
	r->rbx = st.rbx;
	r->rcx = st.rcx;
	r->rdx = st.rdx;
	r->rsi = st.rsi;
	r->rdi = st.rdi;
	r->rsp = st.rsp;
	r->rbp = st.rbp;
	r->r8 = st.r8;
	r->r9 = st.r9;
	r->r10 = st.r10;
	r->r11 = st.r11;
	r->r12 = st.r12;
	r->r13 = st.r13;
	r->r14 = st.r14;
	r->r15 = st.r15;
	r->rip = st.rip;
	r->rflags = st.rflags;
	r->cs = (uint16_t)st.cs.selector;
	r->ds = (uint16_t)st.ds.selector;
	r->es = (uint16_t)st.es.selector;
	r->fs = (uint16_t)st.fs.selector;
	r->gs = (uint16_t)st.gs.selector;
	r->ss = (uint16_t)st.ss.selector;
	r->cs_flags = st.cs.flags;
	r->fs_base = st.fs.base;
	r->gs_base = st.gs.base;
	r->cr0 = st.cr[0];
	r->cr2 = st.cr[2];
	r->cr3 = st.cr[3];
	r->cr4 = st.cr[4];
	r->valid |= VMS_REGS_GPR | VMS_REGS_SEG | VMS_REGS_CR;
	if (descsz >= sizeof(st)) {
		r->kernel_gs_base = st.kernel_gs_base;
		r->valid |= VMS_REGS_KGSBASE;
	}
}

static int parse_notes(struct dump_source *d, uint64_t off, uint64_t len)
{
	unsigned nprs = 0, nqemu = 0;
	const uint8_t *p = d->map + off, *end = p + len;
	while (end - p >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, p, 4);
		memcpy(&descsz, p + 4, 4);
		memcpy(&type, p + 8, 4);
		uint64_t name_pad = ((uint64_t)namesz + 3) & ~3ull, desc_pad = ((uint64_t)descsz + 3) & ~3ull;
		if (name_pad + desc_pad > (uint64_t)(end - p - 12))
			return source_fail(&d->base, EINVAL, "corrupt dump: ELF note overruns its segment");
		const char *name = (const char *)p + 12;
		const uint8_t *desc = p + 12 + name_pad;
		if (namesz == 5 && memcmp(name, "CORE", 5) == 0 && type == NT_PRSTATUS && descsz >= PRSTATUS_SIZE) {
			struct vms_regs *r = vcpu_slot(d, nprs++);
			if (!r)
				return source_fail(&d->base, E2BIG, "dump has too many vCPU notes");
			regs_from_prstatus(r, desc);
		} else if (namesz == 5 && memcmp(name, "QEMU", 5) == 0 && type == 0 && descsz >= 432) {
			struct vms_regs *r = vcpu_slot(d, nqemu++);
			if (!r)
				return source_fail(&d->base, E2BIG, "dump has too many vCPU notes");
			regs_from_qemu(r, desc, descsz);
		}
		p += 12 + name_pad + desc_pad;
	}
	return 0;
}

static int open_elf(struct dump_source *d)
{
	struct vms_source *s = &d->base;
	if (d->size < sizeof(Elf64_Ehdr))
		return source_fail(s, EINVAL, "truncated ELF header");
	Elf64_Ehdr eh;
	memcpy(&eh, d->map, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return source_fail(s, ENOTSUP, "only little-endian ELF64 cores are supported");
	if (eh.e_type != ET_CORE)
		return source_fail(s, EINVAL, "ELF file is not a core dump (e_type %u)", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > d->size ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > d->size - eh.e_phoff)
		return source_fail(s, EINVAL, "corrupt or truncated ELF program headers");
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, d->map + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		int rc = 0;
		if (ph.p_type == PT_LOAD) {
			if (ph.p_filesz > ph.p_memsz)
				return source_fail(s, EINVAL, "corrupt ELF: PT_LOAD %u has filesz > memsz", i);
			rc = add_segment(d, ph.p_paddr, ph.p_offset, ph.p_filesz);
		} else if (ph.p_type == PT_NOTE) {
			if (ph.p_offset > d->size || ph.p_filesz > d->size - ph.p_offset)
				return source_fail(s, EINVAL, "truncated dump: notes end past the end of the file");
			rc = parse_notes(d, ph.p_offset, ph.p_filesz);
		}
		if (rc)
			return rc;
	}
	d->format = "ELF core";
	return 0;
}

static int open_lime(struct dump_source *d)
{
	uint64_t off = 0;
	while (off < d->size) {
		if (d->size - off < 32)
			return source_fail(&d->base, EINVAL, "truncated LiME header at offset %llu",
			                   (unsigned long long)off);
		uint32_t magic, version;
		uint64_t start, end;
		memcpy(&magic, d->map + off, 4);
		memcpy(&version, d->map + off + 4, 4);
		memcpy(&start, d->map + off + 8, 8);
		memcpy(&end, d->map + off + 16, 8);
		if (magic != LIME_MAGIC || version != 1 || end < start || end - start == UINT64_MAX)
			return source_fail(&d->base, EINVAL, "corrupt LiME header at offset %llu",
			                   (unsigned long long)off);
		int rc = add_segment(d, start, off + 32, end - start + 1);
		if (rc)
			return rc;
		off += 32 + (end - start + 1);
	}
	d->format = "LiME";
	return 0;
}

/* Whether a raw image has data at all: a sparse file of holes only reads
 * as zeros and is no guest's RAM. */
static int raw_has_data(int fd, size_t size)
{
	off_t data = lseek(fd, 0, SEEK_DATA);
	if (data < 0)
		return errno != ENXIO; /* ENXIO: no data before the end */
	return (size_t)data < size;
}

int mem_dump_open(const char *path, struct vms_source **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open dump %s: %s", path, strerror(errno));
		return -errno;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		snprintf(err, errlen, "%s is not a non-empty regular file", path);
		return -EINVAL;
	}
	struct dump_source *d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->base.ops = &dump_ops;
	d->size = (size_t)st.st_size;
	void *m = mmap(NULL, d->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "cannot map dump %s: %s", path, strerror(errno));
		close(fd);
		free(d);
		return -ENOMEM;
	}
	d->map = m;
	int rc;
	uint32_t magic = 0;
	if (d->size >= 4)
		memcpy(&magic, d->map, 4);
	if (d->size >= 4 && memcmp(d->map, ELFMAG, SELFMAG) == 0) {
		rc = open_elf(d);
	} else if (magic == LIME_MAGIC) {
		rc = open_lime(d);
	} else if (d->size < RAW_MIN_BYTES || d->size % 4096) {
		/* A raw image is guest RAM from address 0: whole pages, and at
		 * least the first MiB every PC has. Anything else (a text file, a
		 * truncated copy) is not one. */
		rc = source_fail(&d->base, EINVAL,
		                 "not a memory dump: no ELF or LiME header, and %zu bytes is not a raw RAM image "
		                 "(whole 4 KiB pages, at least 1 MiB)",
		                 d->size);
	} else {
		rc = raw_has_data(fd, d->size) ? add_segment(d, 0, 0, d->size)
		                               : source_fail(&d->base, EINVAL,
		                                             "not a memory dump: the raw image "
		                                             "holds no data (all holes)");
		d->format = "raw";
	}
	close(fd);
	if (rc == 0 && d->base.nranges == 0)
		rc = source_fail(&d->base, EINVAL, "the dump holds no memory");
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, d->base.err);
		dump_close(&d->base);
		return rc;
	}
	snprintf(d->base.detail, sizeof(d->base.detail), "%.400s (%s)", path, d->format);
	/* The file's identity: a rewritten or replaced dump is another one. */
	snprintf(d->base.ident, sizeof(d->base.ident), "%llx-%llx-%llx-%llx.%lx", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino, (unsigned long long)st.st_size, (unsigned long long)st.st_mtim.tv_sec,
	         (unsigned long)st.st_mtim.tv_nsec);
	*out = &d->base;
	return 0;
}
