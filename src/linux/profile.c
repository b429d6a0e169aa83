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
 *
 * The checksum finds damage, not forgery: whoever can write the directory
 * can write a profile that passes it. So the cache is trusted exactly as
 * far as its directory is (docs/kernel.md): the directory must belong to
 * the effective user and be writable by no one else, or it is not used at
 * all (one warning, and the kernel is found without it). Inside it every
 * file is opened without following symlinks and must be a regular file of
 * the same owner and mode; new files are written under a fresh name made
 * with O_EXCL and renamed into place. File names come only from the
 * characters [A-Za-z0-9._+-]: the release is read from guest memory, and a
 * guest must not choose where the host writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"
#include "util/cachedir.h"

#define PROFILE_MAGIC "VMSPROF1"
#define PROFILE_SUFFIX ".vmsprof"
#define PROFILE_MAX (1ull << 31)
/* Longest a release and a build id may make a file name: with the suffixes
 * and a temporary name's tail it stays well under NAME_MAX. */
#define NAME_RELEASE_MAX 96
#define NAME_BUILD_ID_MAX 64

struct profile_hdr {
	char magic[8];
	uint32_t hdr_size;
	uint32_t pad;
	uint64_t file_size;
	uint64_t checksum; /* of the bytes after the header */
	char banner[512];
	char release[128];
	char build_id[48];
	uint64_t text_va;         /* _text when the profile was made */
	uint64_t text_from_image; /* _text - the first mapped 2 MiB page of the image window */
	uint64_t banner_off;      /* linux_banner - _text */
	uint64_t nsyms, syms_off;
	uint64_t pool_len, pool_off;
	uint64_t hash_bits, hash_off;
	uint64_t btf_size, btf_off;
};

/* ---- names --------------------------------------------------------------------- */

int profile_cache_name(const char *release, const char *build_id, char *out, size_t len)
{
	size_t at = 0;
	if (len == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	int rc = cachedir_name_append(out, len, &at, release && *release ? release : "unknown", NAME_RELEASE_MAX);
	if (!rc)
		rc = cachedir_name_append(out, len, &at, "-", 1);
	if (!rc)
		rc = cachedir_name_append(out, len, &at, build_id && *build_id ? build_id : "nobuildid",
		                          NAME_BUILD_ID_MAX);
	if (!rc)
		rc = cachedir_name_append(out, len, &at, PROFILE_SUFFIX, sizeof(PROFILE_SUFFIX));
	return rc;
}

/* ---- the directory and its files ----------------------------------------------- */

/* Said once per kernel: through the target's log if it has one, else on
 * stderr, since a cache silently not used would hide a misconfiguration. */
static void cache_refuse(struct vms_kernel *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cache_refuse(struct vms_kernel *k, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	if (k->cache_refused)
		return;
	k->cache_refused = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (k->t && k->t->log)
		k->t->log(k->t->log_ctx, msg);
	else
		fprintf(stderr, "vmsight: warning: %s\n", msg);
}

int profile_cache_opendir(struct vms_kernel *k, const char *dir, int create)
{
	if (k->cache_refused)
		return -EPERM;
	char why[600] = "";
	int fd = cachedir_open(dir, create, why, sizeof(why));
	if (fd == -EPERM && why[0])
		cache_refuse(k, "%s", why);
	return fd;
}

/* K's profile split into its directory and its name. */
static int profile_place(const struct vms_kernel *k, const char *suffix, char *dir, size_t dlen, char *name,
                         size_t nlen)
{
	const char *slash = strrchr(k->cache_file, '/');
	if (!k->cache_file[0] || !slash)
		return -ENOENT;
	size_t dl = (size_t)(slash - k->cache_file);
	if (dl >= dlen)
		return -ENAMETOOLONG;
	memcpy(dir, k->cache_file, dl);
	dir[dl] = '\0';
	if (dl == 0)
		snprintf(dir, dlen, "/");
	return snprintf(name, nlen, "%s%s", slash + 1, suffix) < (int)nlen ? 0 : -ENAMETOOLONG;
}

int profile_sibling_read(struct vms_kernel *k, const char *suffix, void *buf, size_t len)
{
	char dir[1024], name[300];
	int rc = profile_place(k, suffix, dir, sizeof(dir), name, sizeof(name));
	if (rc)
		return rc;
	int dfd = profile_cache_opendir(k, dir, 0);
	if (dfd < 0)
		return dfd;
	rc = cachedir_read(dfd, name, buf, len);
	close(dfd);
	return rc;
}

int profile_sibling_write(struct vms_kernel *k, const char *suffix, const void *buf, size_t len)
{
	char dir[1024], name[300];
	int rc = profile_place(k, suffix, dir, sizeof(dir), name, sizeof(name));
	if (rc)
		return rc;
	int dfd = profile_cache_opendir(k, dir, 0);
	if (dfd < 0)
		return dfd;
	rc = cachedir_write(dfd, name, buf, len, NULL, 0);
	close(dfd);
	return rc;
}

/* ---- profiles ------------------------------------------------------------------ */

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

/* A profile we checked in full once, known by what only a write to it or
 * its replacement changes: device, inode, size, mtime and ctime. Kept as
 * NAME.checked beside it, under the directory's rules, so that later
 * attaches map the profile without reading all of it again. */
struct profile_stamp {
	char magic[8];
	uint64_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns, checksum;
};
#define STAMP_MAGIC "VMSCHK01"
#define STAMP_SUFFIX ".checked"

static void stamp_of(const struct stat *st, uint64_t checksum, struct profile_stamp *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->magic, STAMP_MAGIC, 8);
	s->dev = (uint64_t)st->st_dev;
	s->ino = (uint64_t)st->st_ino;
	s->size = (uint64_t)st->st_size;
	s->mtime_s = (uint64_t)st->st_mtim.tv_sec;
	s->mtime_ns = (uint64_t)st->st_mtim.tv_nsec;
	s->ctime_s = (uint64_t)st->st_ctim.tv_sec;
	s->ctime_ns = (uint64_t)st->st_ctim.tv_nsec;
	s->checksum = checksum;
}

static int stamp_name(const char *name, char *out, size_t len)
{
	return snprintf(out, len, "%s%s", name, STAMP_SUFFIX) < (int)len ? 0 : -ENAMETOOLONG;
}

/* Was the profile NAME, as ST shows it now, checked in full before? */
static int stamp_matches(int dirfd, const char *name, const struct stat *st, uint64_t checksum)
{
	char sn[320];
	struct stat sst;
	struct profile_stamp want, have;
	if (stamp_name(name, sn, sizeof(sn)))
		return 0;
	int fd = cachedir_file_open(dirfd, sn, &sst);
	if (fd < 0)
		return 0;
	int ok = sst.st_size == (off_t)sizeof(have) && pread(fd, &have, sizeof(have), 0) == (ssize_t)sizeof(have);
	close(fd);
	stamp_of(st, checksum, &want);
	return ok && memcmp(&want, &have, sizeof(want)) == 0;
}

static void stamp_write(int dirfd, const char *name, const struct stat *st, uint64_t checksum)
{
	char sn[320];
	struct profile_stamp s;
	stamp_of(st, checksum, &s);
	if (stamp_name(name, sn, sizeof(sn)) == 0)
		cachedir_write(dirfd, sn, &s, sizeof(s), NULL, 0); /* best effort */
}

/* Map the profile NAME open at FD (of ST's size) and take its symbols and
 * BTF, if it is whole and consistent: every byte checked, unless its stamp
 * says this very file was (then only the header, read again here). */
static int use_profile(struct vms_kernel *k, int dirfd, const char *name, int fd, const struct stat *st,
                       const struct profile_hdr *want)
{
	if ((uint64_t)st->st_size != want->file_size)
		return -EINVAL;
	int checked = stamp_matches(dirfd, name, st, want->checksum);
	void *m = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	const struct profile_hdr *h = m;
	const uint8_t *base = m;
	size_t size = (size_t)st->st_size;
	uint64_t hash_len = h->hash_bits < 32 ? (4ull << h->hash_bits) : UINT64_MAX;
	int ok = memcmp(h, want, sizeof(*h)) == 0 && h->nsyms > 0 && h->nsyms <= SYMTAB_MAX_SYMS && h->hash_bits >= 4 &&
	         (1ull << h->hash_bits) >= 2 * h->nsyms && section_ok(h, h->syms_off, h->nsyms * sizeof(struct ksym)) &&
	         section_ok(h, h->pool_off, h->pool_len) && section_ok(h, h->hash_off, hash_len) &&
	         section_ok(h, h->btf_off, h->btf_size) && h->pool_len > 0 && h->pool_len <= SYMTAB_MAX_POOL &&
	         base[h->pool_off + h->pool_len - 1] == 0;
	if (ok && !checked) {
		ok = checksum(base + h->hdr_size, size - h->hdr_size) == h->checksum;
		const struct ksym *s = (const struct ksym *)(base + h->syms_off);
		const uint32_t *slots = (const uint32_t *)(base + h->hash_off);
		for (uint64_t i = 0; i < h->nsyms && ok; i++)
			ok = s[i].name < h->pool_len;
		for (uint64_t i = 0; i < (1ull << h->hash_bits) && ok; i++)
			ok = slots[i] <= h->nsyms;
		if (ok)
			stamp_write(dirfd, name, st, h->checksum);
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

/* The header of the profile open at FD, if it could be one. */
static int read_header(int fd, struct profile_hdr *h)
{
	if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h) || memcmp(h->magic, PROFILE_MAGIC, 8) ||
	    h->hdr_size != sizeof(*h) || h->file_size > PROFILE_MAX || h->banner[sizeof(h->banner) - 1] ||
	    h->release[sizeof(h->release) - 1] || h->build_id[sizeof(h->build_id) - 1] ||
	    h->text_from_image >= (1ull << 30) || h->banner_off >= (1ull << 30))
		return -EINVAL;
	return 0;
}

int profile_cache_load(struct vms_kernel *k, const char *dir)
{
	int dfd = profile_cache_opendir(k, dir, 0);
	if (dfd < 0)
		return -ENOENT;
	DIR *dd = fdopendir(dfd);
	if (!dd) {
		close(dfd);
		return -ENOENT;
	}
	struct dirent *e;
	int rc = -ENOENT;
	char path[sizeof(k->cache_file)];
	while (rc && (e = readdir(dd))) {
		size_t nl = strlen(e->d_name);
		if (nl <= strlen(PROFILE_SUFFIX) || strcmp(e->d_name + nl - strlen(PROFILE_SUFFIX), PROFILE_SUFFIX))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		struct profile_hdr h;
		struct stat st;
		int fd = cachedir_file_open(dfd, e->d_name, &st);
		if (fd < 0)
			continue;
		int ok = read_header(fd, &h) == 0 && banner_matches(k, &h, k->image_va + h.text_from_image) &&
		         use_profile(k, dfd, e->d_name, fd, &st, &h) == 0;
		close(fd);
		if (!ok)
			continue;
		uint64_t text = k->image_va + h.text_from_image;
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

int profile_cache_save(struct vms_kernel *k, const char *dir)
{
	if (k->syms.borrowed || !k->syms.hash || k->syms.slide || strcmp(k->symbols_from, "kallsyms") != 0)
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
	char name[256], path[sizeof(k->cache_file)];
	int dfd = -1, rc = profile_cache_name(k->release, k->build_id, name, sizeof(name));
	if (!rc && snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		rc = -ENAMETOOLONG;
	if (!rc && (dfd = profile_cache_opendir(k, dir, 1)) < 0)
		rc = dfd;
	if (rc)
		goto out;
	rc = cachedir_write(dfd, name, &h, sizeof(h), body, (size_t)(h.file_size - sizeof(h)));
	if (!rc) {
		snprintf(k->cache_file, sizeof(k->cache_file), "%s", path);
		/* We made every byte of it: the next attach need not read them all. */
		struct stat st;
		int fd = cachedir_file_open(dfd, name, &st);
		if (fd >= 0) {
			stamp_write(dfd, name, &st, h.checksum);
			close(fd);
		}
	}
	close(dfd);
out:
	free(body);
	return rc;
}
