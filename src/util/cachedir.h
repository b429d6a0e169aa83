/*
 * vmsight's cache directory ($XDG_CACHE_HOME/vmsight, ~/.cache/vmsight, or
 * --cache-dir): kernel profiles (src/linux/profile.c) and what an attach
 * remembers of a VM (src/core/memo.c) live there, under one set of rules.
 *
 * The directory is trusted exactly as far as its permissions make it
 * ours: it must belong to the effective user and be writable by no one
 * else. Inside it every file is opened without following symlinks and
 * must be a regular file of the same owner and mode; new files are
 * written under a fresh name made with O_EXCL and renamed into place.
 * Names come only from the characters [A-Za-z0-9._+-] (cachedir_name_append):
 * parts of them are read from guest memory, and a guest must not choose
 * where the host writes.
 */
#ifndef VMS_UTIL_CACHEDIR_H
#define VMS_UTIL_CACHEDIR_H

#include <stddef.h>
#include <sys/stat.h>

/* The directory: OPT if given, else $XDG_CACHE_HOME/vmsight, else
 * $HOME/.cache/vmsight. 0, -ENOENT (no home), or -ENAMETOOLONG. */
int cachedir_path(const char *opt, char *out, size_t len);

/* S appended to OUT at *AT: the characters [A-Za-z0-9._+-] as they are,
 * every other byte (and a '.' that would begin the name) as %XX. At most
 * MAX bytes of it: a longer S is cut at a whole character. 0 or
 * -ENAMETOOLONG. */
int cachedir_name_append(char *out, size_t len, size_t *at, const char *s, size_t max);

/* DIR (made 0700 first if CREATE) as an open fd, if it belongs to the
 * effective user and no one else may write it; else -EPERM with why in WHY
 * (what to do included), or -errno if it is missing. */
int cachedir_open(const char *dir, int create, char *why, size_t whylen);

/* NAME in the open cache directory DIRFD, for reading: opened without
 * following a symlink, a regular file of the effective user that no one
 * else may write, or -EPERM. ST receives its fstat. */
int cachedir_file_open(int dirfd, const char *name, struct stat *st);

/* NAME in DIRFD replaced by A then B: written to a new file (O_EXCL,
 * O_NOFOLLOW, mode 0600, a random name) and renamed over NAME. */
int cachedir_write(int dirfd, const char *name, const void *a, size_t alen, const void *b, size_t blen);

/* NAME in DIRFD read whole: exactly LEN bytes, else -EINVAL (or -errno). */
int cachedir_read(int dirfd, const char *name, void *buf, size_t len);

#endif
