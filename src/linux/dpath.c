/*
 * A file's path as the kernel's d_path prints it (fs/d_path.c), rebuilt
 * from the guest's dentries and mounts.
 *
 * From the file's dentry up through d_parent, each name is put in front
 * of the path; at the root dentry of a mount the walk continues from the
 * dentry the mount sits on (mnt_mountpoint) in the parent mount, and it
 * ends at a mount that is its own parent: the root of its namespace (the
 * path is then absolute as the processes in that namespace see it). A
 * dentry that is unhashed and not a root was unlinked: " (deleted)".
 *
 * Files of pseudo file systems have no path: the kernel asks their
 * dentry's d_op->d_dname for a name. vmsight recognises the common ones by
 * address (kallsyms): pipes "pipe:[INO]", sockets "socket:[INO]", anonymous
 * inodes "anon_inode:NAME" (eventfd, epoll, ...), namespaces "NAME:[INO]",
 * and files made by alloc_file_pseudo (memfd, shared anonymous memory)
 * "/NAME (deleted)".
 *
 * Every step is bounded: a name is at most 255 bytes, a path at most the
 * buffer, the walk at most 4096 dentries and mounts (a hostile guest's
 * d_parent may loop without ever reaching a root).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "views.h"

#define PATH_BUF 4096
#define WALK_MAX 4096
#define NAME_MAX_BYTES 255

struct dentry_info {
	uint64_t parent, name, inode, op, sb, fsdata;
	uint32_t len;
	int hashed;
};

static int dentry_read(struct lx_walk *w, uint64_t d, struct dentry_info *out)
{
	const struct lx_layout *L = w->lay;
	uint8_t b[LX_OBJ_MAX];
	if (!lx_kptr(w, d, 8) || L->dentry_plan.end > sizeof(b) || lx_read_plan(w, &L->dentry_plan, d, b))
		return -EFAULT;
	out->parent = lx_get(b, L->d_parent);
	out->name = lx_get(b, L->d_name_ptr);
	out->len = (uint32_t)lx_get(b, L->d_name_len);
	out->inode = lx_get(b, L->d_inode);
	out->op = lx_get(b, L->d_op);
	out->sb = lx_get(b, L->d_sb);
	out->fsdata = lx_get(b, L->d_fsdata);
	out->hashed = lx_get(b, L->d_hash_pprev) != 0;
	return lx_kptr(w, out->parent, 8) ? 0 : -EFAULT;
}

struct mount_info {
	uint64_t parent, mountpoint, root;
	int32_t id;
};

static int mount_read(struct lx_walk *w, uint64_t mnt, struct mount_info *out)
{
	const struct lx_layout *L = w->lay;
	uint8_t b[LX_OBJ_MAX];
	if (!lx_kptr(w, mnt, 8) || L->mount_plan.end > sizeof(b) || lx_read_plan(w, &L->mount_plan, mnt, b))
		return -EFAULT;
	out->parent = lx_get(b, L->mnt_parent);
	out->mountpoint = lx_get(b, L->mnt_mountpoint);
	out->root = lx_get(b, L->mnt_root);
	out->id = lx_get_s32(b, L->mnt_id);
	return 0;
}

int lx_inode_read(struct lx_walk *w, uint64_t inode, struct lx_inode *out)
{
	const struct lx_layout *L = w->lay;
	uint8_t b[LX_OBJ_MAX];
	memset(out, 0, sizeof(*out));
	if (!lx_kptr(w, inode, 8) || L->inode_plan.end > sizeof(b) || lx_read_plan(w, &L->inode_plan, inode, b))
		return -EFAULT;
	out->addr = inode;
	out->mode = (uint32_t)lx_get(b, L->i_mode);
	out->ino = lx_get(b, L->i_ino);
	out->sb = lx_get(b, L->i_sb);
	uint32_t dev = 0;
	if (lx_kptr(w, out->sb, 8) && lx_read(w, out->sb + L->sb_dev.off, &dev, 4) == 0)
		out->dev = dev;
	return 0;
}

int lx_mount_id(struct lx_walk *w, uint64_t vfsmount)
{
	struct mount_info m;
	if (vfsmount < w->lay->mount_mnt || mount_read(w, vfsmount - w->lay->mount_mnt, &m))
		return -1;
	return m.id;
}

/* Building a path from its end: text goes in front of what is there. */
struct back {
	char buf[PATH_BUF];
	size_t pos; /* the path is buf[pos .. PATH_BUF - 1) */
	int full;
};

static void put_front(struct back *b, const char *s, size_t n)
{
	if (b->full || n > b->pos - 1) {
		b->full = 1;
		return;
	}
	b->pos -= n;
	memcpy(b->buf + b->pos, s, n);
}

/* "/NAME" in front, the name read from the guest. */
static int put_name(struct lx_walk *w, struct back *b, const struct dentry_info *d)
{
	char name[NAME_MAX_BYTES + 1];
	uint32_t len = d->len;
	if (len > NAME_MAX_BYTES) {
		len = NAME_MAX_BYTES;
		b->full = 1;
	}
	if (len && (!lx_kptr(w, d->name, 1) || lx_read(w, d->name, name, len)))
		return -EFAULT;
	put_front(b, name, len);
	put_front(b, "/", 1);
	return 0;
}

/* The name of a pseudo file system's file, from its d_dname function;
 * 0 if none applies (the path is then walked as any other). */
static int pseudo_name(struct lx_walk *w, const struct dentry_info *d, char *out, size_t len)
{
	const struct lx_layout *L = w->lay;
	uint64_t fn;
	if (!d->op || !lx_kptr(w, d->op, 8) || lx_read_u64(w, d->op + L->dops_dname.off, &fn) || !fn)
		return 0;
	int kind = -1;
	for (int i = 0; i < LX_DNAME_KINDS; i++)
		if (L->dname_fn[i] && L->dname_fn[i] == fn)
			kind = i;
	if (kind < 0)
		return 0;
	struct lx_inode ino = { 0 };
	char name[NAME_MAX_BYTES + 1] = "";
	uint32_t nl = d->len > NAME_MAX_BYTES ? NAME_MAX_BYTES : d->len;
	if (nl && lx_kptr(w, d->name, 1) && lx_read(w, d->name, name, nl) == 0)
		name[nl] = '\0';
	else
		name[0] = '\0';
	if (kind != LX_DNAME_ANON && kind != LX_DNAME_SIMPLE && lx_inode_read(w, d->inode, &ino))
		return -EFAULT;
	switch (kind) {
	case LX_DNAME_PIPE: return snprintf(out, len, "pipe:[%llu]", (unsigned long long)ino.ino);
	case LX_DNAME_SOCKET: return snprintf(out, len, "socket:[%llu]", (unsigned long long)ino.ino);
	case LX_DNAME_ANON: return snprintf(out, len, "anon_inode:%s", name);
	case LX_DNAME_SIMPLE: return snprintf(out, len, "/%s (deleted)", name);
	default: break;
	}
	/* ns_dname: the namespace type's name (proc_ns_operations.name, its
	 * first member) hangs off the dentry's d_fsdata. */
	uint64_t nm;
	char ns[32];
	if (!lx_kptr(w, d->fsdata, 8) || lx_read_u64(w, d->fsdata, &nm) || lx_read_str(w, nm, ns, sizeof(ns)) <= 0)
		return 0;
	return snprintf(out, len, "%s:[%llu]", ns, (unsigned long long)ino.ino);
}

int lx_path(struct lx_walk *w, uint64_t vfsmount, uint64_t dentry, char *out, size_t len, int *trunc)
{
	const struct lx_layout *L = w->lay;
	struct dentry_info d;
	struct mount_info m;
	struct back b;
	*trunc = 0;
	if (len == 0)
		return -EINVAL;
	out[0] = '\0';
	if (dentry_read(w, dentry, &d) || vfsmount < L->mount_mnt)
		return -EFAULT;
	int n = pseudo_name(w, &d, out, len);
	if (n != 0) {
		if (n > 0 && (size_t)n >= len)
			*trunc = 1;
		return n < 0 ? n : (int)strlen(out);
	}
	uint64_t mnt = vfsmount - L->mount_mnt;
	if (mount_read(w, mnt, &m))
		return -EFAULT;
	b.pos = PATH_BUF - 1;
	b.buf[b.pos] = '\0';
	b.full = 0;
	if (!d.hashed && d.parent != dentry)
		put_front(&b, " (deleted)", 10);
	size_t suffix = PATH_BUF - 1 - b.pos;
	for (unsigned steps = 0;; steps++) {
		if (steps >= WALK_MAX) {
			*trunc = 1;
			break;
		}
		if (dentry == m.root) {
			if (m.parent == mnt || !lx_kptr(w, m.parent, 8))
				break; /* the root of its namespace (or of a detached tree) */
			dentry = m.mountpoint;
			mnt = m.parent;
			if (mount_read(w, mnt, &m) || dentry_read(w, dentry, &d))
				return -EFAULT;
			continue;
		}
		if (d.parent == dentry) {
			/* A root that is not its mount's: the kernel drops what it
			 * built ("escaped") and shows "/" only. */
			b.pos = PATH_BUF - 1 - suffix;
			break;
		}
		if (put_name(w, &b, &d))
			return -EFAULT;
		if (b.full)
			break;
		dentry = d.parent;
		if (dentry_read(w, dentry, &d))
			return -EFAULT;
	}
	if (PATH_BUF - 1 - b.pos == suffix)
		put_front(&b, "/", 1);
	if (b.full)
		*trunc = 1;
	size_t plen = PATH_BUF - 1 - b.pos;
	if (plen >= len) {
		plen = len - 1;
		*trunc = 1;
	}
	memcpy(out, b.buf + b.pos, plen);
	out[plen] = '\0';
	return (int)plen;
}
