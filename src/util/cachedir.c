/*
 * The cache directory and its files (cachedir.h has the rules).
 */
#include "cachedir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int cachedir_path(const char *opt, char *out, size_t len)
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

static int name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '+' || c == '-';
}

int cachedir_name_append(char *out, size_t len, size_t *at, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t used = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = name_char_ok(c) && !(c == '.' && *at == 0);
		size_t need = plain ? 1 : 3;
		if (used + need > max)
			break;
		if (*at + need >= len)
			return -ENAMETOOLONG;
		if (plain) {
			out[(*at)++] = (char)c;
		} else {
			out[(*at)++] = '%';
			out[(*at)++] = hex[c >> 4];
			out[(*at)++] = hex[c & 15];
		}
		used += need;
	}
	out[*at] = '\0';
	return 0;
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

int cachedir_open(const char *dir, int create, char *why, size_t whylen)
{
	int rc = create ? mkdirs(dir) : 0;
	if (rc)
		return rc;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto fail;
	}
	uid_t me = geteuid();
	if (st.st_uid != me) {
		snprintf(why, whylen,
		         "not using the cache directory %s: it belongs to uid %u, not to uid %u (this user); "
		         "give another --cache-dir, or --no-cache",
		         dir, (unsigned)st.st_uid, (unsigned)me);
		rc = -EPERM;
		goto fail;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, whylen,
		         "not using the cache directory %s: others may write to it (mode %03o); "
		         "chmod go-w it, give another --cache-dir, or --no-cache",
		         dir, (unsigned)(st.st_mode & 0777));
		rc = -EPERM;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

int cachedir_file_open(int dirfd, const char *name, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) || !S_ISREG(st->st_mode) || st->st_uid != geteuid() || (st->st_mode & (S_IWGRP | S_IWOTH))) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

int cachedir_read(int dirfd, const char *name, void *buf, size_t len)
{
	struct stat st;
	int fd = cachedir_file_open(dirfd, name, &st);
	if (fd < 0)
		return fd;
	int rc = (uint64_t)st.st_size == len && pread(fd, buf, len, 0) == (ssize_t)len ? 0 : -EINVAL;
	close(fd);
	return rc;
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

/* A temporary name's random part: getrandom, or the clock if that fails. */
static uint64_t tmp_tag(void)
{
	uint64_t r;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
}

int cachedir_write(int dirfd, const char *name, const void *a, size_t alen, const void *b, size_t blen)
{
	char tmp[320];
	int fd = -1, rc = -EEXIST;
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		if (snprintf(tmp, sizeof(tmp), "%s.%016llx.tmp", name, (unsigned long long)tmp_tag()) >=
		    (int)sizeof(tmp))
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return rc;
	rc = write_all(fd, a, alen);
	if (!rc && blen)
		rc = write_all(fd, b, blen);
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && renameat(dirfd, tmp, dirfd, name))
		rc = -errno;
	if (rc)
		unlinkat(dirfd, tmp, 0);
	return rc;
}
