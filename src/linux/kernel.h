/*
 * The kernel object behind vms_kernel_*: what discovery found (kernel.c),
 * the symbols (kallsyms.c, or a System.map / ISF file: profile_in.c), the
 * types (btf.c), and the profile cache (profile.c).
 */
#ifndef VMS_LINUX_KERNEL_H
#define VMS_LINUX_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/target.h"
#include "kallsyms.h"
#include "symtab.h"

/* x86-64: the kernel image's mapping, and where an unrandomised _text lies. */
#define KERNEL_MAP_START 0xffffffff80000000ull
#define KERNEL_MAP_END 0xffffffffc0000000ull
#define KERNEL_TEXT_DEFAULT 0xffffffff81000000ull
#define KERNEL_PHYS_DEFAULT 0x1000000ull

struct btf;
struct isf_types;
struct linux_views;
struct stat;

struct vms_kernel {
	struct vms_target *t;
	uint64_t dtb; /* the kernel's CR3 */
	int pti;
	int paging;
	uint64_t text_va, text_pa;
	char banner[512];
	char release[128];
	char build_id[48];
	uint64_t banner_va;

	/* Kernel image bytes from image_va on (physically contiguous from
	 * image_pa): a view of the source's mapping or a copy (image_copy). */
	const uint8_t *image;
	size_t image_len;
	uint64_t image_va, image_pa;
	uint8_t *image_copy;

	struct symtab syms;
	struct ksym_layout lay;
	const char *symbols_from;

	/* BTF: the raw blob (in the image, a copy or the cache mapping), and
	 * libbpf's parse of it, made on first use. */
	const uint8_t *btf_data;
	size_t btf_size;
	uint8_t *btf_copy;
	struct btf *btf;
	const char *types_from;
	struct isf_types *isf; /* types from an ISF file */

	void *cache_map; /* the profile cache file, mapped */
	size_t cache_map_len;
	char cache_file[1024];
	int cache_refused; /* the cache directory was not ours alone: said once, not used */
	double discovery_ms;
	/* Where the starting CR3 came from: "registers", "given" (a CR3 passed
	 * in), "cache" (a dump's location file) or "scan" (RAM searched). */
	const char *location_from;

	struct linux_views *views; /* layout the views resolved (views.h), on first use */
};

/* kernel.c: sets t->err, returns -ERR. */
int kernel_fail(struct vms_kernel *k, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* btf.c */
int kbtf_check_header(const uint8_t *data, size_t len, char *err, size_t errlen);
struct btf *kbtf_parse(const uint8_t *data, size_t len, char *err, size_t errlen);
int kbtf_field(const struct btf *btf, const char *type, const char *path, uint64_t *offset, uint64_t *size,
               uint32_t *bit_offset, uint32_t *bit_size, char *err, size_t errlen);
int kbtf_struct_size(const struct btf *btf, const char *type, uint64_t *size, char *err, size_t errlen);
/* The parsed BTF of K (parsing it on first use), or NULL with t->err set. */
struct btf *kernel_btf(struct vms_kernel *k, int *rc);

/* profile.c: the cache. load returns 0 when K got symbols (and BTF) from
 * it, -ENOENT when there is no valid profile for this kernel. */
int profile_cache_load(struct vms_kernel *k, const char *dir);
int profile_cache_save(struct vms_kernel *k, const char *dir);
void profile_cache_close(struct vms_kernel *k);
/* The profile's file name for RELEASE and BUILD_ID (either may be empty):
 * only [A-Za-z0-9._+-], any other byte and a leading '.' as %XX, so that
 * no guest-chosen release can name a path. 0 or -ENAMETOOLONG. */
int profile_cache_name(const char *release, const char *build_id, char *out, size_t len);
/* The cache directory DIR (util/cachedir.h's cachedir_open), its refusal
 * said once, on the target's log or stderr. */
int profile_cache_opendir(struct vms_kernel *k, const char *dir, int create);
/* The file beside K's profile named as it plus SUFFIX (layout.c's
 * ".views"), with the same checks: read whole (exactly LEN bytes), or
 * replaced. -ENOENT when K has no profile file. */
int profile_sibling_read(struct vms_kernel *k, const char *suffix, void *buf, size_t len);
int profile_sibling_write(struct vms_kernel *k, const char *suffix, const void *buf, size_t len);

/* profile_in.c: symbols from a System.map, symbols and types from ISF. */
int profile_read_system_map(struct vms_kernel *k, const char *path);
int profile_read_isf(struct vms_kernel *k, const char *path);
/* The System.map and ISF files given are readable and of their kind, so a
 * wrong one is an error at once, not ignored while kallsyms and BTF serve. */
int profile_check_inputs(struct vms_kernel *k, const char *system_map, const char *isf_path);
void profile_isf_free(struct isf_types *isf);
int isf_field(const struct isf_types *isf, const char *type, const char *path, uint64_t *offset, uint64_t *size,
              uint32_t *bit_offset, uint32_t *bit_size, char *err, size_t errlen);
int isf_struct_size(const struct isf_types *isf, const char *type, uint64_t *size);

#endif
