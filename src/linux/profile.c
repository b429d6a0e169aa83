/*
 * The profile cache: what discovery learnt about one kernel build — its
 * symbols (as the flat arrays of symtab.h) and its BTF blob — in one file
 * under $XDG_CACHE_HOME/vmsight (or ~/.cache/vmsight), named by release and
 * build id.
 *
 * A second attach locates the image (a few page walks), then, for each
 * profile in the directory, reads the guest's banner where that profile
 * says linux_banner lies and compares it with the banner the profile was
 * made from. A match maps the file and uses its arrays in place: nothing is
 * decoded, sorted or hashed again, only moved by the new KASLR offset.
 * The file carries a checksum over everything after its header, and every
 * size in the header is checked against the file: a truncated or corrupt
 * profile is ignored (and rewritten by the cold path), never trusted.
 * Profiles are written to a temporary file and renamed into place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel.h"

#define PROFILE_MAGIC "VMSPROF1"
#define PROFILE_SUFFIX ".vmsprof"
#define PROFILE_MAX (1ull << 31)

struct profile_hdr {
	char magic[8];
	uint32_t hdr_size;
	uint32_t pad;
	uint64_t file_size;
	uint64_t checksum;          /* of the bytes after the header */
	char banner[512];
	char release[128];
	char build_id[48];
	uint64_t text_va;           /* _text when the profile was made */
	uint64_t text_from_image;   /* _text - the first mapped 2 MiB page of the image window */
	uint64_t banner_off;        /* linux_banner - _text */
	uint64_t nsyms, syms_off;
	uint64_t pool_len, pool_off;
	uint64_t hash_bits, hash_off;
	uint64_t btf_size, btf_off;
};

int profile_cache_dir(const char *opt, char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;
	if (opt && *opt)
		n = snprintf(out, len, "%s", opt);
	else if (xdg && *xdg)
		n = snprintf(out, len, "%s/vmsight", xdg);
	else if (home && *home)
		n = snprintf(out, len, "%s/.cache/vmsight", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* 8 bytes at a time: checking a profile must cost well under a millisecond
 * a megabyte. */
static uint64_t checksum(const uint8_t *p, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

void profile_cache_close(struct vms_kernel *k)
{
	if (k->cache_map) {
		if (k->syms.borrowed)
			symtab_init(&k->syms);
		if (k->btf_data >= (const uint8_t *)k->cache_map &&
		    k->btf_data < (const uint8_t *)k->cache_map + k->cache_map_len) {
			k->btf_data = NULL;
			k->btf_size = 0;
		}
		munmap(k->cache_map, k->cache_map_len);
		k->cache_map = NULL;
	}
}

static int section_ok(const struct profile_hdr *h, uint64_t off, uint64_t len)
{
	return off >= h->hdr_size && off <= h->file_size && len <= h->file_size - off && (off & 7) == 0;
}

/* Map PATH and take its symbols and BTF, if it is whole and consistent. */
static int use_profile(struct vms_kernel *k, const char *path, const struct profile_hdr *want)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) || (uint64_t)st.st_size != want->file_size) {
		close(fd);
		return -EINVAL;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	const struct profile_hdr *h = m;
	const uint8_t *base = m;
	size_t size = (size_t)st.st_size;
	uint64_t hash_len = h->hash_bits < 32 ? (4ull << h->hash_bits) : UINT64_MAX;
	int ok = memcmp(h, want, sizeof(*h)) == 0 && h->nsyms > 0 && h->nsyms <= SYMTAB_MAX_SYMS &&
		 h->hash_bits >= 4 && (1ull << h->hash_bits) >= 2 * h->nsyms &&
		 section_ok(h, h->syms_off, h->nsyms * sizeof(struct ksym)) && section_ok(h, h->pool_off, h->pool_len) &&
		 section_ok(h, h->hash_off, hash_len) && section_ok(h, h->btf_off, h->btf_size) && h->pool_len > 0 &&
		 h->pool_len <= SYMTAB_MAX_POOL && base[h->pool_off + h->pool_len - 1] == 0 &&
		 checksum(base + h->hdr_size, size - h->hdr_size) == h->checksum;
	if (ok) {
		const struct ksym *s = (const struct ksym *)(base + h->syms_off);
		const uint32_t *slots = (const uint32_t *)(base + h->hash_off);
		for (uint64_t i = 0; i < h->nsyms && ok; i++)
			ok = s[i].name < h->pool_len;
		for (uint64_t i = 0; i < (1ull << h->hash_bits) && ok; i++)
			ok = slots[i] <= h->nsyms;
	}
	if (!ok) {
		munmap(m, size);
		return -EINVAL;
	}
	symtab_free(&k->syms);
	k->syms.syms = (struct ksym *)(base + h->syms_off);
	k->syms.n = k->syms.cap = (size_t)h->nsyms;
	k->syms.pool = (char *)(base + h->pool_off);
	k->syms.pool_len = k->syms.pool_cap = (size_t)h->pool_len;
	k->syms.hash = (uint32_t *)(base + h->hash_off);
	k->syms.hash_bits = (unsigned)h->hash_bits;
	k->syms.borrowed = 1;
	k->cache_map = m;
	k->cache_map_len = size;
	if (h->btf_size) {
		k->btf_data = base + h->btf_off;
		k->btf_size = (size_t)h->btf_size;
		k->types_from = "cache";
	}
	k->symbols_from = "cache";
	return 0;
}

/* Does the guest hold H's banner where H says, with _text at TEXT? */
static int banner_matches(struct vms_kernel *k, const struct profile_hdr *h, uint64_t text)
{
	char b[sizeof(h->banner)];
	uint64_t d[2] = { k->dtb & ~0x1000ull, k->dtb };
	for (int i = 0; i < 2; i++) {
		int n = vms_read_str_va(k->t, d[i], text + h->banner_off, b, sizeof(b));
		if (n < 0)
			continue;
		while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
			b[--n] = '\0';
		if (strcmp(b, h->banner) == 0)
			return 1;
	}
	return 0;
}

int profile_cache_load(struct vms_kernel *k, const char *dir)
{
	DIR *dd = opendir(dir);
	if (!dd)
		return -ENOENT;
	struct dirent *e;
	int rc = -ENOENT;
	char path[1024];
	while (rc && (e = readdir(dd))) {
		size_t nl = strlen(e->d_name);
		if (nl <= strlen(PROFILE_SUFFIX) || strcmp(e->d_name + nl - strlen(PROFILE_SUFFIX), PROFILE_SUFFIX))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		struct profile_hdr h;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t got = pread(fd, &h, sizeof(h), 0);
		close(fd);
		if (got != (ssize_t)sizeof(h) || memcmp(h.magic, PROFILE_MAGIC, 8) || h.hdr_size != sizeof(h) ||
		    h.file_size > PROFILE_MAX || h.banner[sizeof(h.banner) - 1] || h.release[sizeof(h.release) - 1] ||
		    h.build_id[sizeof(h.build_id) - 1] || h.text_from_image >= (1ull << 30) ||
		    h.banner_off >= (1ull << 30))
			continue;
		uint64_t text = k->image_va + h.text_from_image;
		if (!banner_matches(k, &h, text) || use_profile(k, path, &h))
			continue;
		symtab_relocate(&k->syms, (int64_t)(text - h.text_va));
		snprintf(k->banner, sizeof(k->banner), "%s", h.banner);
		snprintf(k->release, sizeof(k->release), "%s", h.release);
		snprintf(k->build_id, sizeof(k->build_id), "%s", h.build_id);
		snprintf(k->cache_file, sizeof(k->cache_file), "%s", path);
		rc = 0;
	}
	closedir(dd);
	return rc;
}

static int mkdirs(const char *dir)
{
	char p[512];
	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0700) && errno != EEXIST)
				return -errno;
			*s = '/';
		}
	return mkdir(p, 0700) && errno != EEXIST ? -errno : 0;
}

static int write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int profile_cache_save(struct vms_kernel *k, const char *dir)
{
	if (k->syms.borrowed || !k->syms.hash || strcmp(k->symbols_from, "kallsyms") != 0)
		return 0; /* only what was decoded from the guest itself */
	struct profile_hdr h;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, PROFILE_MAGIC, 8);
	h.hdr_size = sizeof(h);
	snprintf(h.banner, sizeof(h.banner), "%s", k->banner);
	snprintf(h.release, sizeof(h.release), "%s", k->release);
	snprintf(h.build_id, sizeof(h.build_id), "%s", k->build_id);
	h.text_va = k->text_va;
	h.banner_off = k->banner_va - k->text_va;
	/* The image window's first page, as the next attach will find it. */
	uint64_t first = k->text_va & ~((2ull << 20) - 1);
	h.text_from_image = k->text_va - first;
	size_t syms_len = k->syms.n * sizeof(struct ksym), hash_len = (size_t)4 << k->syms.hash_bits;
	h.nsyms = k->syms.n;
	h.syms_off = sizeof(h);
	h.pool_len = k->syms.pool_len;
	h.pool_off = h.syms_off + syms_len;
	h.hash_bits = k->syms.hash_bits;
	h.hash_off = (h.pool_off + h.pool_len + 7) & ~7ull;
	h.btf_size = k->btf_data ? k->btf_size : 0;
	h.btf_off = (h.hash_off + hash_len + 7) & ~7ull;
	h.file_size = h.btf_off + h.btf_size;
	uint8_t *body = calloc(1, (size_t)(h.file_size - sizeof(h)));
	if (!body)
		return -ENOMEM;
	memcpy(body + h.syms_off - sizeof(h), k->syms.syms, syms_len);
	memcpy(body + h.pool_off - sizeof(h), k->syms.pool, k->syms.pool_len);
	memcpy(body + h.hash_off - sizeof(h), k->syms.hash, hash_len);
	if (h.btf_size)
		memcpy(body + h.btf_off - sizeof(h), k->btf_data, k->btf_size);
	h.checksum = checksum(body, (size_t)(h.file_size - sizeof(h)));
	char path[1024], tmp[1100];
	int rc = mkdirs(dir);
	if (!rc && snprintf(path, sizeof(path), "%s/%s-%s%s", dir, k->release, k->build_id[0] ? k->build_id : "nobuildid",
			    PROFILE_SUFFIX) >= (int)sizeof(path))
		rc = -ENAMETOOLONG;
	int fd = -1;
	if (!rc) {
		snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			rc = -errno;
	}
	if (!rc && !(rc = write_all(fd, &h, sizeof(h))))
		rc = write_all(fd, body, (size_t)(h.file_size - sizeof(h)));
	if (fd >= 0 && close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc && fd >= 0)
		unlink(tmp);
	if (!rc)
		snprintf(k->cache_file, sizeof(k->cache_file), "%s", path);
	free(body);
	return rc;
}
