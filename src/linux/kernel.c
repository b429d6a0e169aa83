/*
 * Finding the Linux kernel in guest memory with no profile (docs/kernel.md).
 *
 * 1. The image. x86-64 maps the kernel image at 0xffffffff80000000 + a
 *    2 MiB aligned KASLR offset, and the boot code unmaps the rest of that
 *    1 GiB window: the first mapped 2 MiB page of the window, in a vCPU's
 *    page tables, is the image. Its physical pages are contiguous (the
 *    decompressor places the image in one piece), so from there on the
 *    image is read as physical memory: one zero-copy view where the source
 *    maps RAM, else copies that grow until the tables are found.
 * 2. The symbols. kallsyms.c finds and decodes the compressed tables in
 *    those bytes; _text among them gives the KASLR offsets.
 * 3. The kernel's CR3. A vCPU in user mode with page-table isolation runs
 *    on the user page tables, which map entry code but not the kernel's
 *    data; the kernel's own PGD is the 8 KiB-aligned one below it (bit 12
 *    clear). The CR3 kept is the one that maps linux_banner (.rodata) where
 *    the image says it is.
 * 4. The banner, the build id (the GNU note between __start_notes and
 *    __stop_notes) and the BTF blob (__start_BTF .. __stop_BTF), each
 *    bounded and checked.
 * A profile in the cache (profile.c) short-cuts 2 and 4 after the banner
 * read at the cached place matches the cached banner.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/btf.h>

#include "kernel.h"
#include "core/memo.h"
#include "util/cachedir.h"
#include "views.h"
#include "util/opts.h"

#define IMAGE_MAX (256u << 20) /* how far past _text the tables may lie */
#define IMAGE_STEP (16u << 20) /* copy mode: read this much more per round */
#define BTF_MAX (256u << 20)
#define NOTES_MAX (64u << 10)
#define CHUNK (2ull << 20)
#define PA_MASK 0x000ffffffffff000ull

int kernel_fail(struct vms_kernel *k, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->t->err, sizeof(k->t->err), fmt, ap);
	va_end(ap);
	return -err;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the image as bytes -------------------------------------------------- */

static void image_drop(struct vms_kernel *k)
{
	free(k->image_copy);
	k->image_copy = NULL;
	k->image = NULL;
	k->image_len = 0;
}

/* How many bytes of RAM follow PA in its RAM range, at most IMAGE_MAX. */
static size_t ram_after(struct vms_kernel *k, uint64_t pa)
{
	const struct vms_ram_range *r;
	size_t n;
	if (vms_ram_ranges(k->t, &r, &n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pa >= r[i].gpa && pa - r[i].gpa < r[i].len) {
			uint64_t left = r[i].len - (pa - r[i].gpa);
			return left < IMAGE_MAX ? (size_t)left : IMAGE_MAX;
		}
	return 0;
}

/* Make the first LEN bytes of the image (from image_pa) available: a view
 * of the source's mapping, else a copy grown by reading what is missing. */
static int image_have(struct vms_kernel *k, size_t len)
{
	if (len <= k->image_len)
		return 0;
	if (!k->image_copy) {
		const void *p = vms_map_pa(k->t, k->image_pa, len);
		if (p) {
			k->image = p;
			k->image_len = len;
			return 0;
		}
		k->image = NULL;
		k->image_len = 0;
	}
	uint8_t *c = realloc(k->image_copy, len);
	if (!c)
		return kernel_fail(k, ENOMEM, "out of memory for %zu bytes of kernel image", len);
	k->image_copy = c;
	k->image = c;
	int rc = vms_read_pa(k->t, k->image_pa + k->image_len, c + k->image_len, len - k->image_len);
	if (rc)
		return rc;
	k->image_len = len;
	return 0;
}

/* A pointer to LEN bytes of the image at VA, or NULL if outside it. */
static const uint8_t *image_at(const struct vms_kernel *k, uint64_t va, size_t len)
{
	if (va < k->image_va || va - k->image_va > k->image_len || len > k->image_len - (va - k->image_va))
		return NULL;
	return k->image + (va - k->image_va);
}

/* ---- locating the image -------------------------------------------------- */

/* The first mapped 2 MiB page of the kernel image window in DTB. */
static int first_chunk(struct vms_kernel *k, uint64_t dtb, uint64_t *va, uint64_t *pa)
{
	for (uint64_t v = KERNEL_MAP_START; v < KERNEL_MAP_END; v += CHUNK) {
		struct vms_translation tr;
		if (vms_translate(k->t, dtb, v, &tr) == 0) {
			*va = v;
			*pa = tr.pa;
			return 0;
		}
	}
	return -ENOENT;
}

static int translates_to(struct vms_kernel *k, uint64_t dtb, uint64_t va, uint64_t pa)
{
	struct vms_translation tr;
	return vms_translate(k->t, dtb, va, &tr) == 0 && tr.pa == pa;
}

/* The CR3 values to start from: the one given, else every vCPU's. */
static int start_cr3s(struct vms_kernel *k, uint64_t given, uint64_t *out, int max)
{
	if (given) {
		out[0] = given;
		return 1;
	}
	int nv = vms_vcpu_count(k->t);
	if (nv <= 0)
		return kernel_fail(k, ENOTSUP,
		                   "no vCPU registers to find the kernel's page tables from (%s): give a "
		                   "CR3",
		                   nv < 0 ? k->t->err : "no vCPUs");
	int n = 0;
	for (int i = 0; i < nv && n < max; i++) {
		struct vms_regs r;
		if (vms_vcpu_regs(k->t, (unsigned)i, &r) == 0 && (r.valid & VMS_REGS_CR) && r.cr3) {
			int seen = 0;
			for (int j = 0; j < n; j++)
				seen |= out[j] == r.cr3;
			if (!seen)
				out[n++] = r.cr3;
		}
	}
	/* Registers but no page tables: firmware or a boot loader, no kernel
	 * yet (not a case for the scan of RAM, which is for missing registers). */
	if (n == 0)
		return kernel_fail(k, ESRCH,
		                   "no vCPU has paging on: no kernel is running (yet); give a CR3 if there is one");
	return n;
}

/* ---- symbols --------------------------------------------------------------- */

static int decode_kallsyms(struct vms_kernel *k)
{
	size_t max = ram_after(k, k->image_pa);
	if (max == 0)
		return kernel_fail(k, EFAULT, "kernel image at 0x%llx is not in guest RAM",
		                   (unsigned long long)k->image_pa);
	char err[256];
	size_t len = vms_map_pa(k->t, k->image_pa, max) ? max : (max < 2 * IMAGE_STEP ? max : 2 * IMAGE_STEP);
	int rc;
	for (;;) {
		if ((rc = image_have(k, len)))
			return rc;
		rc = ksym_find(k->image, len, &k->lay, err, sizeof(err));
		if (rc == 0 || len == max)
			break;
		len = max - len < IMAGE_STEP ? max : len + IMAGE_STEP;
	}
	if (rc)
		return kernel_fail(k, -rc, "%s", err);
	symtab_free(&k->syms);
	if ((rc = ksym_decode(k->image, k->image_len, &k->lay, &k->syms, err, sizeof(err))))
		return kernel_fail(k, -rc, "%s", err);
	k->symbols_from = "kallsyms";
	return 0;
}

/* _text, and the image's view rebased on it; the kernel's CR3 among D and
 * D without bit 12: the one that maps linux_banner inside the image. */
static int settle_image(struct vms_kernel *k, uint64_t dtb)
{
	const struct ksym *text = symtab_find(&k->syms, "_text");
	const struct ksym *banner = symtab_find(&k->syms, "linux_banner");
	if (!text || !banner)
		return kernel_fail(k, ENOENT, "kallsyms has no %s", text ? "linux_banner" : "_text");
	uint64_t text_va = symtab_addr(&k->syms, text), banner_va = symtab_addr(&k->syms, banner);
	/* The first mapped page is _text's, or (user page tables under PTI)
	 * one of the entry code's after it. */
	uint64_t gap = text_va > k->image_va ? text_va - k->image_va : k->image_va - text_va;
	if (gap >= IMAGE_MAX || gap > k->image_pa || banner_va < text_va || banner_va - text_va >= IMAGE_MAX)
		return kernel_fail(k, EINVAL, "kallsyms' _text 0x%llx does not fit the image mapped at 0x%llx",
		                   (unsigned long long)text_va, (unsigned long long)k->image_va);
	uint64_t text_pa = text_va > k->image_va ? k->image_pa + gap : k->image_pa - gap;
	uint64_t cands[2] = { dtb & ~0x1000ull, dtb };
	k->dtb = 0;
	for (int i = 0; i < 2 && !k->dtb; i++)
		if (translates_to(k, cands[i], banner_va, text_pa + (banner_va - text_va)) &&
		    translates_to(k, cands[i], text_va, text_pa))
			k->dtb = cands[i];
	if (!k->dtb)
		return kernel_fail(k, EINVAL,
		                   "no page tables from CR3 0x%llx map linux_banner at 0x%llx where the "
		                   "image says",
		                   (unsigned long long)dtb, (unsigned long long)banner_va);
	/* The user half of an isolated pair maps entry code, not .rodata. */
	uint64_t user = k->dtb | 0x1000;
	const struct ksym *entry = symtab_find(&k->syms, "entry_SYSCALL_64");
	uint64_t entry_va = entry ? symtab_addr(&k->syms, entry) : 0;
	k->pti = dtb != k->dtb;
	if (!k->pti && entry && entry_va > text_va) {
		struct vms_translation tr;
		k->pti = translates_to(k, user, entry_va, text_pa + (entry_va - text_va)) &&
		         vms_translate(k->t, user, banner_va, &tr) != 0;
	}
	k->text_va = text_va;
	k->text_pa = text_pa;
	k->banner_va = banner_va;
	if (k->image_va != text_va) {
		image_drop(k);
		k->image_va = text_va;
		k->image_pa = text_pa;
	}
	return 0;
}

/* ---- banner, build id, BTF ------------------------------------------------- */

/* Always through the page tables: the image view may be a copy made at
 * attach, and freed init pages are unmapped though still in the view. */
int vms_kernel_read(struct vms_kernel *k, uint64_t va, void *buf, size_t len)
{
	return vms_read_va(k->t, k->dtb, va, buf, len, NULL);
}

static int read_banner(struct vms_kernel *k)
{
	int rc = vms_read_str_va(k->t, k->dtb, k->banner_va, k->banner, sizeof(k->banner));
	if (rc < 0 && rc != -ERANGE)
		return rc;
	size_t n = strlen(k->banner);
	while (n && (k->banner[n - 1] == '\n' || k->banner[n - 1] == '\r'))
		k->banner[--n] = '\0';
	if (strncmp(k->banner, "Linux version ", 14) != 0)
		return kernel_fail(k, EINVAL, "linux_banner at 0x%llx does not start with \"Linux version \"",
		                   (unsigned long long)k->banner_va);
	const char *r = k->banner + 14;
	size_t rl = strcspn(r, " ");
	if (rl >= sizeof(k->release))
		rl = sizeof(k->release) - 1;
	memcpy(k->release, r, rl);
	k->release[rl] = '\0';
	return 0;
}

/* The GNU build id note, if the notes are there to read. */
static void read_build_id(struct vms_kernel *k)
{
	k->build_id[0] = '\0';
	const struct ksym *a = symtab_find(&k->syms, "__start_notes");
	const struct ksym *b = symtab_find(&k->syms, "__stop_notes");
	uint64_t start = a ? symtab_addr(&k->syms, a) : 0, stop = b ? symtab_addr(&k->syms, b) : 0;
	if (!a || !b || stop <= start || stop - start > NOTES_MAX)
		return;
	size_t len = (size_t)(stop - start);
	uint8_t *n = malloc(len);
	if (!n || vms_kernel_read(k, start, n, len)) {
		free(n);
		return;
	}
	size_t off = 0;
	while (len - off >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, n + off, 4);
		memcpy(&descsz, n + off + 4, 4);
		memcpy(&type, n + off + 8, 4);
		size_t name_pad = ((size_t)namesz + 3) & ~(size_t)3, desc_pad = ((size_t)descsz + 3) & ~(size_t)3;
		if (namesz > len || descsz > len || name_pad + desc_pad > len - off - 12)
			break;
		const uint8_t *name = n + off + 12, *desc = name + name_pad;
		if (type == 3 && namesz == 4 && memcmp(name, "GNU", 4) == 0 && descsz <= 20) {
			for (uint32_t i = 0; i < descsz; i++)
				snprintf(k->build_id + 2 * i, 3, "%02x", desc[i]);
			break;
		}
		off += 12 + name_pad + desc_pad;
	}
	free(n);
}

static int find_btf(struct vms_kernel *k)
{
	const struct ksym *a = symtab_find(&k->syms, "__start_BTF");
	const struct ksym *b = symtab_find(&k->syms, "__stop_BTF");
	uint64_t start = a ? symtab_addr(&k->syms, a) : 0, stop = b ? symtab_addr(&k->syms, b) : 0;
	if (!a || !b || stop <= start)
		return 0; /* a kernel without BTF */
	if (stop - start > BTF_MAX)
		return kernel_fail(k, EINVAL, "BTF of %llu bytes between __start_BTF and __stop_BTF: too large",
		                   (unsigned long long)(stop - start));
	size_t len = (size_t)(stop - start);
	size_t need = (size_t)(stop - k->image_va);
	int rc;
	if (stop > k->image_va && need <= ram_after(k, k->image_pa) && (rc = image_have(k, need)))
		return rc;
	const uint8_t *p = image_at(k, start, len);
	if (p && translates_to(k, k->dtb, start, k->image_pa + (start - k->image_va))) {
		k->btf_data = p;
	} else {
		if (!(k->btf_copy = malloc(len)))
			return kernel_fail(k, ENOMEM, "out of memory for %zu bytes of BTF", len);
		if ((rc = vms_read_va(k->t, k->dtb, start, k->btf_copy, len, NULL)))
			return rc;
		k->btf_data = k->btf_copy;
	}
	k->btf_size = len;
	char err[256];
	if ((rc = kbtf_check_header(k->btf_data, len, err, sizeof(err))))
		return kernel_fail(k, -rc, "kernel BTF at 0x%llx: %s", (unsigned long long)start, err);
	k->types_from = "btf";
	return 0;
}

struct btf *kernel_btf(struct vms_kernel *k, int *rc)
{
	if (k->btf)
		return k->btf;
	if (!k->btf_data) {
		*rc = kernel_fail(k, ENOENT, "no kernel types: this kernel has no BTF%s",
		                  k->isf ? "" : " (give an ISF file: --isf-in)");
		return NULL;
	}
	char err[256];
	k->btf = kbtf_parse(k->btf_data, k->btf_size, err, sizeof(err));
	if (!k->btf)
		*rc = kernel_fail(k, EINVAL, "kernel BTF: %s", err);
	return k->btf;
}

/* ---- no registers: the kernel found in physical memory ------------------- */

#define SCAN_WINDOW (64u << 20)
#define SCAN_STEP (48u << 20) /* windows overlap by more than the tables' size */

/* The kernel's own top page table (init_mm's), by symbol, for the image
 * at IMAGE_PA: it must map _text to IMAGE_PA in the mode tried. */
static int pgd_for(struct vms_kernel *k, const struct symtab *st, uint64_t image_pa, uint64_t *pgd)
{
	const struct ksym *text = symtab_find(st, "_text");
	const struct ksym *top = symtab_find(st, "init_top_pgt");
	if (!top)
		top = symtab_find(st, "init_level4_pgt");
	if (!text || !top)
		return -ENOENT;
	uint64_t text_va = symtab_addr(st, text), top_va = symtab_addr(st, top);
	if (top_va < text_va || top_va - text_va >= IMAGE_MAX)
		return -ENOENT;
	*pgd = image_pa + (top_va - text_va);
	return translates_to(k, *pgd, text_va, image_pa) ? 0 : -ENOENT;
}

/* Tables decoded from physical memory at TABLE_PA: the image starts at a
 * 2 MiB boundary below them; the candidate whose init_top_pgt maps _text
 * there (in 4- or 5-level paging, unless the mode is set) is the kernel. */
static int place_image(struct vms_kernel *k, const struct symtab *st, uint64_t table_pa, int mode_known, uint64_t *pgd)
{
	static const enum vms_paging modes[] = { VMS_PAGING_4LEVEL, VMS_PAGING_5LEVEL };
	for (unsigned m = 0; m < (mode_known ? 1u : 2u); m++) {
		if (!mode_known && vms_set_paging(k->t, modes[m]))
			return -ENOTSUP;
		for (uint64_t back = 0; back < IMAGE_MAX && back <= table_pa; back += CHUNK)
			if (pgd_for(k, st, (table_pa - back) & ~(CHUNK - 1), pgd) == 0)
				return 0;
	}
	if (!mode_known)
		vms_set_paging(k->t, VMS_PAGING_UNKNOWN);
	return -ENOENT;
}

/* For targets without vCPU state (raw dumps, LiME, a QEMU without QMP):
 * look for kallsyms in all of RAM, window by window. */
static int find_cr3_physical(struct vms_kernel *k, uint64_t *cr3)
{
	const struct vms_ram_range *r;
	size_t nr;
	int rc = vms_ram_ranges(k->t, &r, &nr);
	if (rc)
		return rc;
	int mode_known = vms_get_paging(k->t) >= 0;
	uint8_t *copy = NULL;
	char err[256];
	rc = -ENOENT;
	for (size_t i = 0; i < nr && rc; i++)
		for (uint64_t off = 0; off < r[i].len && rc; off += SCAN_STEP) {
			size_t len = r[i].len - off < SCAN_WINDOW ? (size_t)(r[i].len - off) : SCAN_WINDOW;
			const uint8_t *p = vms_map_pa(k->t, r[i].gpa + off, len);
			if (!p) {
				if (!copy && !(copy = malloc(SCAN_WINDOW))) {
					rc = -ENOMEM;
					break;
				}
				if (vms_read_pa(k->t, r[i].gpa + off, copy, len))
					continue;
				p = copy;
			}
			struct ksym_layout lay;
			struct symtab st;
			if (ksym_find(p, len, &lay, err, sizeof(err)))
				continue;
			symtab_init(&st);
			if (ksym_decode(p, len, &lay, &st, err, sizeof(err)) == 0)
				rc = place_image(k, &st, r[i].gpa + off + lay.token_table, mode_known, cr3);
			symtab_free(&st);
		}
	free(copy);
	if (rc == -ENOMEM)
		return kernel_fail(k, ENOMEM, "out of memory");
	if (rc)
		return kernel_fail(k, ENOENT,
		                   "no vCPU registers, and no kernel whose kallsyms and page tables agree "
		                   "in guest RAM (give --cr3 and --paging)");
	return 0;
}

/* ---- the location, remembered (src/core/memo.c) ---------------------------- */

/* The kernel's own top page table (init_top_pgt; init_level4_pgt before
 * 4.13): its virtual and physical address, if it maps itself. A vCPU's CR3
 * may be a process's, whose tables go when it exits; this one lives as
 * long as the kernel, and is what the next command can be told to start
 * from (src/core/memo.c). */
static int own_pgd(struct vms_kernel *k, uint64_t *va, uint64_t *pa)
{
	struct vms_translation tr;
	if (vms_sym_lookup(k, "init_top_pgt", va) && vms_sym_lookup(k, "init_level4_pgt", va))
		return -ENOENT;
	if (vms_translate(k->t, k->dtb, *va, &tr) || !translates_to(k, tr.pa, *va, tr.pa))
		return -ENOENT;
	*pa = tr.pa;
	return 0;
}

/* The CR3s to start from and where they came from: the one given, the
 * vCPUs', or for a target without registers the place an earlier command
 * found (its witness checked at open: src/core/memo.c), else a scan of RAM. */
static int locate(struct vms_kernel *k, uint64_t given, int remembered, uint64_t *cr3s, int max)
{
	int n = start_cr3s(k, given, cr3s, max);
	k->location_from = given ? "given" : "registers";
	if (n >= 0 || n == -ENOMEM || n == -ESRCH || given)
		return n;
	if (remembered && target_memo_cr3(k->t, cr3s) == 0) {
		k->location_from = "cache";
		target_log(k->t, "kernel location from the cache: CR3 0x%llx (no scan of RAM)",
		           (unsigned long long)cr3s[0]);
		return 1;
	}
	if (find_cr3_physical(k, cr3s) == 0) {
		k->location_from = "scan";
		return 1;
	}
	return n;
}

/* ---- open ------------------------------------------------------------------ */

/* Forget what a failed discovery found, keeping the target and its error. */
static void kernel_reset(struct vms_kernel *k)
{
	btf__free(k->btf);
	k->btf = NULL;
	free(k->btf_copy);
	k->btf_copy = NULL;
	profile_cache_close(k);
	k->btf_data = NULL;
	k->btf_size = 0;
	profile_isf_free(k->isf);
	k->isf = NULL;
	symtab_free(&k->syms);
	image_drop(k);
	k->types_from = "none";
	k->symbols_from = NULL;
	k->cache_file[0] = '\0';
	k->pti = 0;
}

/* Everything from one starting CR3: image, symbols, CR3, banner. */
static int discover(struct vms_kernel *k, uint64_t cr3, const char *cache_dir, const struct vms_kernel_opts *o)
{
	uint64_t d = cr3 & PA_MASK;
	uint64_t va, pa;
	int rc = first_chunk(k, d, &va, &pa);
	if (rc && (d & 0x1000))
		rc = first_chunk(k, d &= ~0x1000ull, &va, &pa);
	if (rc)
		return kernel_fail(k, ENOENT, "CR3 0x%llx maps nothing in the kernel image window 0x%llx-0x%llx",
		                   (unsigned long long)cr3, KERNEL_MAP_START, KERNEL_MAP_END - 1);
	k->image_va = va;
	k->image_pa = pa;
	k->dtb = d;
	/* A profile whose banner the guest shows where the profile says. */
	if (cache_dir && profile_cache_load(k, cache_dir) == 0) {
		if (settle_image(k, d) == 0 && read_banner(k) == 0)
			return 0;
		profile_cache_close(k);
		k->cache_file[0] = '\0';
		k->types_from = "none";
		k->image_va = va;
		k->image_pa = pa;
		image_drop(k);
	}
	rc = decode_kallsyms(k);
	if (rc && (o->system_map || o->isf))
		rc = o->system_map ? profile_read_system_map(k, o->system_map) : profile_read_isf(k, o->isf);
	if (rc)
		return rc;
	if ((rc = settle_image(k, d)) || (rc = read_banner(k)))
		return rc;
	read_build_id(k);
	if ((rc = find_btf(k)))
		return rc;
	if (!k->btf_data && o->isf && !k->isf && (rc = profile_read_isf(k, o->isf)))
		return rc;
	if (cache_dir)
		profile_cache_save(k, cache_dir); /* best effort: a read-only home is no error */
	return 0;
}

static int kernel_find(struct vms_kernel *k, const struct vms_kernel_opts *o);

int vms_kernel_open(struct vms_target *t, const struct vms_kernel_opts *opts, struct vms_kernel **out)
{
	double t0 = now_ms();
	struct vms_kernel_opts o = { 0 };
	if (VMS_OPTS_COPY(&o, opts)) {
		snprintf(t->err, sizeof(t->err), VMS_OPTS_BAD, "vms_kernel_opts", opts->sz, sizeof(o));
		return -EINVAL;
	}
	*out = NULL;
	struct vms_kernel *k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(t->err, sizeof(t->err), "out of memory");
		return -ENOMEM;
	}
	k->t = t;
	k->types_from = "none";
	symtab_init(&k->syms);
	int in_rc = profile_check_inputs(k, o.system_map, o.isf);
	if (in_rc) {
		vms_kernel_close(k);
		return in_rc;
	}
	vms_hold(t); /* every vCPU's CR3 (and the paging mode) over one connection, in one reply */
	int rc = kernel_find(k, &o);
	vms_unhold(t);
	if (rc) {
		vms_kernel_close(k);
		return rc;
	}
	k->discovery_ms = now_ms() - t0;
	*out = k;
	return 0;
}

/* Discovery from each of N starting CR3s until one works. */
static int try_cr3s(struct vms_kernel *k, const struct vms_kernel_opts *o, const char *cache_dir, const uint64_t *cr3s,
                    int n)
{
	struct vms_target *t = k->t;
	int paging = vms_get_paging(t);
	int rc = n < 0 ? n : paging < 0 && !o->cr3 ? paging : -ENOENT;
	/* A CR3 given for a target without registers: the mode that works. */
	static const enum vms_paging modes[] = { VMS_PAGING_4LEVEL, VMS_PAGING_5LEVEL };
	for (unsigned m = 0; m < (paging < 0 ? 2u : 1u) && rc == -ENOENT && n > 0; m++) {
		if (paging < 0 && vms_set_paging(t, modes[m]) == 0)
			k->paging = modes[m];
		else
			k->paging = paging;
		for (int i = 0; i < n && rc; i++) {
			rc = discover(k, cr3s[i], cache_dir, o);
			if (rc)
				kernel_reset(k);
		}
	}
	if (rc && paging < 0 && o->cr3)
		vms_set_paging(t, VMS_PAGING_UNKNOWN);
	return rc;
}

/* vms_kernel_open's search, the target held. */
static int kernel_find(struct vms_kernel *k, const struct vms_kernel_opts *o)
{
	char dir[400];
	const char *cache_dir = NULL;
	if (!o->no_cache && cachedir_path(o->cache_dir, dir, sizeof(dir)) == 0)
		cache_dir = dir;
	uint64_t cr3s[64];
	int n = locate(k, o->cr3, !o->no_cache, cr3s, 64);
	int rc = try_cr3s(k, o, cache_dir, cr3s, n);
	if (rc && strcmp(k->location_from, "cache") == 0) {
		/* The witness held but the kernel is not found from there: as
		 * if nothing had been remembered. */
		target_log(k->t, "the kernel location from the cache did not lead to the kernel (%s): searching RAM",
		           k->t->err);
		n = locate(k, o->cr3, 0, cr3s, 64);
		rc = try_cr3s(k, o, cache_dir, cr3s, n);
	}
	uint64_t top_va, top_pa;
	if (rc == 0 && own_pgd(k, &top_va, &top_pa) == 0) {
		k->dtb = top_pa;
		if (!o->no_cache && strcmp(k->location_from, "cache") != 0)
			target_memo_save(k->t, top_pa, top_va, k->banner_va, k->banner);
	}
	return rc;
}

void vms_kernel_close(struct vms_kernel *k)
{
	if (!k)
		return;
	linux_views_free(k->views); /* the views' layout (layout.c): keep, or LSan reports a leak */
	btf__free(k->btf);
	free(k->btf_copy);
	profile_isf_free(k->isf);
	symtab_free(&k->syms);
	profile_cache_close(k);
	image_drop(k);
	free(k);
}

int vms_kernel_info(const struct vms_kernel *k, struct vms_kernel_info *out)
{
	memset(out, 0, sizeof(*out));
	out->banner = k->banner;
	out->release = k->release;
	out->build_id = k->build_id;
	out->text_va = k->text_va;
	out->text_pa = k->text_pa;
	out->kaslr_virt = (int64_t)(k->text_va - KERNEL_TEXT_DEFAULT);
	out->kaslr_phys = (int64_t)(k->text_pa - KERNEL_PHYS_DEFAULT);
	out->cr3 = k->dtb;
	out->pti = k->pti;
	out->paging = (enum vms_paging)k->paging;
	out->nsyms = k->syms.n;
	out->btf_bytes = k->btf_size;
	out->symbols_from = k->symbols_from;
	out->types_from = k->types_from;
	out->cache_file = k->cache_file;
	out->discovery_ms = k->discovery_ms;
	out->location_from = k->location_from;
	return 0;
}

int vms_sym_lookup(struct vms_kernel *k, const char *name, uint64_t *addr)
{
	const struct ksym *s = symtab_find(&k->syms, name);
	if (!s)
		return kernel_fail(k, ENOENT, "no kernel symbol '%s'", name);
	*addr = symtab_addr(&k->syms, s);
	return 0;
}

int vms_sym_iter(struct vms_kernel *k, vms_sym_fn fn, void *ctx)
{
	for (size_t i = 0; i < k->syms.n; i++) {
		const struct ksym *s = &k->syms.syms[i];
		struct vms_sym v = { .name = symtab_name(&k->syms, s),
			             .addr = symtab_addr(&k->syms, s),
			             .type = s->type };
		int rc = fn(ctx, &v);
		if (rc)
			return rc;
	}
	return 0;
}

int vms_btf_field(struct vms_kernel *k, const char *type, const char *path, struct vms_btf_field *out)
{
	char err[300];
	int rc;
	memset(out, 0, sizeof(*out));
	if (!k->btf_data && k->isf)
		rc = isf_field(k->isf, type, path, &out->offset, &out->size, &out->bit_offset, &out->bit_size, err,
		               sizeof(err));
	else {
		struct btf *b = kernel_btf(k, &rc);
		if (!b)
			return rc;
		rc = kbtf_field(b, type, path, &out->offset, &out->size, &out->bit_offset, &out->bit_size, err,
		                sizeof(err));
	}
	return rc ? kernel_fail(k, -rc, "%s", err) : 0;
}

int vms_btf_member(struct vms_kernel *k, const char *type, const char *path, uint64_t *offset, uint64_t *size)
{
	struct vms_btf_field f;
	int rc = vms_btf_field(k, type, path, &f);
	if (rc)
		return rc;
	*offset = f.offset;
	if (size)
		*size = f.size;
	return 0;
}

int vms_btf_struct_size(struct vms_kernel *k, const char *type, uint64_t *size)
{
	char err[300];
	int rc;
	if (!k->btf_data && k->isf) {
		rc = isf_struct_size(k->isf, type, size);
		return rc ? kernel_fail(k, -rc, "no struct or union '%s' in the ISF types", type) : 0;
	}
	struct btf *b = kernel_btf(k, &rc);
	if (!b)
		return rc;
	rc = kbtf_struct_size(b, type, size, err, sizeof(err));
	return rc ? kernel_fail(k, -rc, "%s", err) : 0;
}
