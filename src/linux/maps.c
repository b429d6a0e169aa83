/*
 * A process's memory map (vms_maps), as /proc/PID/maps shows it.
 *
 * Where the VMAs are depends on the kernel: up to 6.0 a list sorted by
 * address (mm->mmap, vma->vm_next); from 6.1 a maple tree (mm->mm_mt), a
 * B-tree of 256-byte nodes keyed by address range. The layout says which
 * (mm_struct has mm_mt or it does not).
 *
 * The maple tree is walked depth first from ma_root. A node pointer is
 * "encoded": the node is 256-byte aligned, bits 3..6 hold its type (leaf,
 * range or allocation-range node); in ma_root bit 1 marks it as a node
 * (else the root is the tree's only entry). Each node
 * holds pivots (the last index of each slot's range) and slots; the number
 * of slots in use comes from the last pivot or, when it is 0, from the
 * node's metadata. In a leaf a slot is a VMA, which must cover exactly its
 * slot's range [previous pivot + 1, pivot]: that ties every VMA to the tree
 * that points at it, so a torn or corrupt node is noticed. The walk is
 * bounded by depth, by a node budget, and by the requirement that VMAs
 * ascend without overlapping (which also makes the old list unable to
 * loop).
 *
 * Each VMA shows: range, permissions (VM_READ/WRITE/EXEC, VM_MAYSHARE for
 * s/p), file offset, device and inode, and a name: the file's path, or
 * what a special mapping calls itself ([vdso], [vvar]), [heap] (the VMA
 * holding mm->start_brk..brk), [stack] (the one holding start_stack),
 * [anon:NAME]; and the gate page [vsyscall] last when the kernel maps it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"
#include "util/opts.h"

#define MAPS_MAX_DEFAULT (1u << 20)
#define NODES_MAX (1u << 18)
#define MT_HEIGHT_MAX 31
#define NODE_SIZE 256u
#define PATH_MAX_BYTES 4096

#define VM_READ 0x1ull
#define VM_WRITE 0x2ull
#define VM_EXEC 0x4ull
#define VM_MAYSHARE 0x80ull

enum { MAPLE_DENSE, MAPLE_LEAF_64, MAPLE_RANGE_64, MAPLE_ARANGE_64 };

struct maps_walk {
	struct lx_walk w;
	struct vms_maps_opts o;
	int32_t pid;
	uint64_t mm;
	uint64_t start_brk, brk, start_stack, vdso;
	uint64_t last_end; /* VMAs must ascend */
	unsigned nodes;
	uint8_t *vma; /* vm_area_struct copy */
	char path[PATH_MAX_BYTES];
	/* The file of the last file-backed VMA: a mapped file's VMAs (text,
	 * data, ...) share one struct file, so its path is made once. */
	uint64_t file;
	uint64_t file_ino;
	uint32_t file_dev, file_flags;
	char file_path[PATH_MAX_BYTES];
	vms_vma_fn fn;
	void *ctx;
	/* One process's areas, held until the whole map has been read in one
	 * piece: a torn map is read again, never printed half. */
	struct vms_vma *held;
	size_t *held_path; /* each one's path: an offset into names */
	size_t nheld, capheld;
	char *names;
	size_t nnames, capnames;
};

/* Copy and check the VMA at VA; when the tree says which range it must
 * cover, LO..HI (else HI == 0). */
static int vma_read(struct maps_walk *mw, uint64_t va, uint64_t lo, uint64_t hi, struct vms_vma *out)
{
	struct lx_walk *w = &mw->w;
	const struct lx_layout *L = w->lay;
	uint8_t *o = mw->vma;
	memset(out, 0, sizeof(*out));
	out->pid = mw->pid;
	out->addr = va;
	out->path = "";
	strcpy(out->perms, "----");
	for (unsigned attempt = 0;; attempt++) {
		if (attempt) {
			if (attempt > w->retries)
				break;
			w->retried++;
		}
		if (!lx_kptr(w, va, 8) || lx_read_plan(w, &L->vma_plan, va, o))
			continue;
		uint64_t start = lx_get(o, L->vma_start), end = lx_get(o, L->vma_end);
		if (start >= end || (start | end) & 0xfff || end > L->umax || lx_get(o, L->vma_mm) != mw->mm ||
		    (hi && (start != lo || end - 1 != hi)))
			continue;
		uint64_t flags = lx_get(o, L->vma_flags), file = lx_get(o, L->vma_file);
		if (file && !lx_kptr(w, file, 8))
			continue;
		out->start = start;
		out->end = end;
		out->vm_flags = flags;
		out->perms[0] = flags & VM_READ ? 'r' : '-';
		out->perms[1] = flags & VM_WRITE ? 'w' : '-';
		out->perms[2] = flags & VM_EXEC ? 'x' : '-';
		out->perms[3] = flags & VM_MAYSHARE ? 's' : 'p';
		out->perms[4] = '\0';
		return 0;
	}
	w->unreadable++;
	out->flags |= VMS_ENTRY_UNREADABLE;
	if (hi) {
		out->start = lo;
		out->end = hi + 1;
	}
	return -EIO;
}

/* The name /proc/PID/maps gives the VMA just read (show_map_vma); -EIO if
 * its struct file does not read (a path that does not resolve is only
 * flagged). */
static int vma_name(struct maps_walk *mw, struct vms_vma *v)
{
	struct lx_walk *w = &mw->w;
	const struct lx_layout *L = w->lay;
	const uint8_t *o = mw->vma;
	uint64_t file = lx_get(o, L->vma_file);
	mw->path[0] = '\0';
	if (file) {
		v->offset = lx_get(o, L->vma_pgoff) << 12;
		if (file != mw->file) {
			uint8_t f[LX_OBJ_MAX];
			int trunc = 0;
			mw->file = 0;
			if (L->file_plan.end > sizeof(f) || lx_read_plan(w, &L->file_plan, file, f))
				return -EIO;
			struct lx_inode ino;
			mw->file_ino = mw->file_dev = mw->file_flags = 0;
			if (lx_inode_read(w, lx_get(f, L->file_inode), &ino) == 0) {
				mw->file_ino = ino.ino;
				mw->file_dev = ino.dev;
			}
			int rc = lx_path(w, lx_get(f, L->file_mnt), lx_get(f, L->file_dentry), mw->file_path,
			                 sizeof(mw->file_path), &trunc);
			if (rc < 0)
				mw->file_flags |= VMS_ENTRY_UNREADABLE;
			else if (rc >= 10 && strcmp(mw->file_path + rc - 10, " (deleted)") == 0)
				mw->file_flags |= VMS_FILE_DELETED;
			if (trunc)
				mw->file_flags |= VMS_ENTRY_TRUNCATED;
			mw->file = file;
		}
		v->ino = mw->file_ino;
		v->dev = mw->file_dev;
		v->flags |= mw->file_flags;
		v->path = mw->file_path;
		return 0;
	}
	uint64_t ops = lx_get(o, L->vma_ops), priv = lx_get(o, L->vma_private), name;
	if (ops && ops == L->special_vmops && lx_kptr(w, priv, 8) && lx_read_u64(w, priv, &name) == 0 && name &&
	    lx_read_str(w, name, mw->path, 64) > 0) {
		v->path = mw->path;
		return 0;
	}
	if (v->start <= mw->brk && v->end >= mw->start_brk) {
		v->path = "[heap]";
		return 0;
	}
	if (v->start <= mw->start_stack && v->end >= mw->start_stack) {
		v->path = "[stack]";
		return 0;
	}
	uint64_t anon = lx_get(o, L->vma_anon_name);
	if (anon && L->vma_anon_name.size) {
		/* struct anon_vma_name { struct kref kref; char name[]; } */
		char n[80];
		if (lx_read_str(w, anon + 4, n, sizeof(n)) >= 0) {
			snprintf(mw->path, sizeof(mw->path), "[anon:%s]", n);
			v->path = mw->path;
		}
	}
	return 0;
}

/* Keep V (and a copy of its path) until the process's map is complete. */
static int hold(struct maps_walk *mw, const struct vms_vma *v)
{
	struct lx_walk *w = &mw->w;
	size_t plen = strlen(v->path) + 1;
	if (w->entries + mw->nheld >= w->max)
		return lx_fail(w, E2BIG, "more than %u memory areas", w->max);
	if (mw->nheld == mw->capheld) {
		size_t cap = mw->capheld ? mw->capheld * 2 : 64;
		struct vms_vma *h = realloc(mw->held, cap * sizeof(*h));
		size_t *hp = h ? realloc(mw->held_path, cap * sizeof(*hp)) : NULL;
		if (h)
			mw->held = h;
		if (!h || !hp)
			return lx_fail(w, ENOMEM, "out of memory");
		mw->held_path = hp;
		mw->capheld = cap;
	}
	if (mw->nnames + plen > mw->capnames) {
		size_t cap = (mw->capnames + plen) * 2;
		char *n = realloc(mw->names, cap);
		if (!n)
			return lx_fail(w, ENOMEM, "out of memory");
		mw->names = n;
		mw->capnames = cap;
	}
	memcpy(mw->names + mw->nnames, v->path, plen);
	mw->held_path[mw->nheld] = mw->nnames;
	mw->nnames += plen;
	mw->held[mw->nheld++] = *v;
	return 0;
}

/* Hand the held areas to the caller. */
static int release_held(struct maps_walk *mw)
{
	for (size_t i = 0; i < mw->nheld; i++) {
		mw->held[i].path = mw->names + mw->held_path[i];
		mw->w.entries++;
		int rc = mw->fn(mw->ctx, &mw->held[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int emit(struct maps_walk *mw, struct vms_vma *v)
{
	struct lx_walk *w = &mw->w;
	if (w->entries >= w->max)
		return lx_fail(w, E2BIG, "more than %u memory areas", w->max);
	if (!(v->flags & VMS_ENTRY_UNREADABLE) && v->start < mw->last_end)
		return lx_fail(w, EIO,
		               "memory areas of process %d overlap or go backwards at 0x%llx "
		               "(changed while read, or corrupt)",
		               mw->pid, (unsigned long long)v->start);
	/* An area (or its file) that does not read back whole fails the
	 * process's map, which is then read again: never a made-up record. */
	if ((v->flags & VMS_ENTRY_UNREADABLE) || vma_name(mw, v))
		return lx_fail(w, EIO, "process %d: memory area 0x%llx unreadable (changed while read, or corrupt)",
		               mw->pid, (unsigned long long)v->addr);
	mw->last_end = v->end;
	return hold(mw, v);
}

/* ---- the maple tree ---------------------------------------------------------- */

static int mt_is_node(uint64_t entry)
{
	return (entry & 3) == 2 && entry > 4096;
}

/* The node ENODE covering indices MIN..MAX, at DEPTH. */
static int mt_node(struct maps_walk *mw, uint64_t enode, uint64_t min, uint64_t max, unsigned depth)
{
	struct lx_walk *w = &mw->w;
	const struct lx_layout *L = w->lay;
	uint64_t node = enode & ~(uint64_t)(NODE_SIZE - 1);
	unsigned type = (unsigned)(enode >> 3) & 0xf;
	if (depth > MT_HEIGHT_MAX || ++mw->nodes > NODES_MAX)
		return lx_fail(w, E2BIG, "process %d: the maple tree is deeper than %u or has more than %u nodes",
		               mw->pid, MT_HEIGHT_MAX, NODES_MAX);
	if (!lx_kptr(w, node, NODE_SIZE) || type > MAPLE_ARANGE_64 || type == MAPLE_DENSE)
		return lx_fail(w, EIO, "process %d: maple node 0x%llx is not a node", mw->pid,
		               (unsigned long long)enode);
	uint8_t n[NODE_SIZE];
	uint64_t pivot[16], slot[16];
	unsigned npiv, nslot, end;
	for (unsigned attempt = 0;; attempt++) {
		if (lx_read(w, node, n, sizeof(n)) == 0) {
			uint32_t po, so, mo;
			if (type == MAPLE_ARANGE_64) {
				npiv = 9, nslot = 10, po = L->mt_arange_pivot, so = L->mt_arange_slot,
				mo = L->mt_arange_meta;
			} else {
				npiv = 15, nslot = 16, po = L->mt_range_pivot, so = L->mt_range_slot,
				mo = L->mt_range_meta;
			}
			memcpy(pivot, n + po, npiv * 8);
			memcpy(slot, n + so, nslot * 8);
			/* Slots in use (ma_data_end): the metadata's end when the
			 * last pivot is unused, else up to the node's max. */
			if (type == MAPLE_ARANGE_64 || pivot[npiv - 1] == 0)
				end = n[mo];
			else
				end = pivot[npiv - 1] == max ? npiv - 1 : npiv;
			int ok = end < nslot;
			for (unsigned i = 0; ok && i < end && i < npiv; i++) /* pivots ascend within the node's range */
				ok = pivot[i] >= min && pivot[i] <= max && (i == 0 || pivot[i] > pivot[i - 1]);
			if (ok)
				break;
		}
		if (attempt >= w->retries)
			return lx_fail(w, EIO,
			               "process %d: maple node 0x%llx does not hold together (changed while "
			               "read, or corrupt)",
			               mw->pid, (unsigned long long)node);
		w->retried++;
	}
	uint64_t lo = min;
	for (unsigned i = 0; i <= end; i++) {
		uint64_t hi = i < end ? pivot[i] : max; /* the last slot reaches the node's max */
		uint64_t e = slot[i];
		int rc = 0;
		if (type == MAPLE_LEAF_64) {
			/* Internal entries ((e & 3) == 2, e.g. XA_ZERO_ENTRY) are no
			 * VMAs: the kernel's own walk skips them too. */
			if (e && (e & 3) != 2) {
				struct vms_vma v;
				vma_read(mw, e, lo, hi, &v);
				rc = emit(mw, &v);
			}
		} else if (e) {
			rc = mt_node(mw, e, lo, hi, depth + 1); /* a child: node | type << 3 | flags */
		}
		if (rc)
			return rc;
		if (hi == max)
			break;
		lo = hi + 1;
	}
	return 0;
}

static int walk_maple(struct maps_walk *mw, uint64_t root)
{
	if (!root)
		return 0;
	if (mt_is_node(root))
		return mt_node(mw, root, 0, ~0ull, 0);
	/* A tree of one entry keeps it in the root (index 0 only): no VMA
	 * is that, but check it as one rather than trust it. */
	struct vms_vma v;
	vma_read(mw, root, 0, 0, &v);
	return emit(mw, &v);
}

/* ---- the list (before 6.1) ---------------------------------------------------- */

static int walk_list(struct maps_walk *mw, uint64_t first)
{
	struct lx_walk *w = &mw->w;
	const struct lx_layout *L = w->lay;
	for (uint64_t va = first; va;) {
		struct vms_vma v;
		if (vma_read(mw, va, 0, 0, &v))
			return lx_fail(w, EIO, "process %d: memory area 0x%llx unreadable: the list ends there",
			               mw->pid, (unsigned long long)va);
		uint64_t next = lx_get(mw->vma, L->vma_next); /* before emit reuses the copy */
		int rc = emit(mw, &v);
		if (rc)
			return rc;
		va = next;
	}
	return 0;
}

/* The gate page: /proc/PID/maps shows it last, unless vsyscall=none. */
static int gate(struct maps_walk *mw)
{
	struct lx_walk *w = &mw->w;
	uint32_t mode;
	if (!w->lay->vsyscall_mode || lx_read(w, w->lay->vsyscall_mode, &mode, 4) || mode > 1)
		return 0; /* enum { EMULATE, XONLY, NONE } */
	struct vms_vma v = { .pid = mw->pid,
		             .start = 0xffffffffff600000ull,
		             .end = 0xffffffffff601000ull,
		             .vm_flags = mode == 0 ? VM_READ | VM_EXEC : VM_EXEC,
		             .path = "[vsyscall]" };
	strcpy(v.perms, mode == 0 ? "r-xp" : "--xp");
	return hold(mw, &v);
}

/* The memory map of one process, read once: its mm, then its VMAs. */
static int process_maps_once(struct maps_walk *mw, uint64_t task, int32_t pid)
{
	struct lx_walk *w = &mw->w;
	const struct lx_layout *L = w->lay;
	uint8_t m[LX_OBJ_MAX];
	mw->pid = pid;
	mw->last_end = 0;
	mw->file = 0;
	mw->nheld = mw->nnames = 0;
	mw->nodes = 0;
	if (lx_read_u64(w, task + L->task_mm.off, &mw->mm))
		return lx_fail(w, EIO, "process %d: its task_struct is unreadable", pid);
	if (!mw->mm)
		return 0; /* a kernel thread: no memory map */
	if (!lx_kptr(w, mw->mm, 8) || L->mm_plan.end > sizeof(m) || lx_read_plan(w, &L->mm_plan, mw->mm, m))
		return lx_fail(w, EIO, "process %d: its mm_struct at 0x%llx is unreadable", pid,
		               (unsigned long long)mw->mm);
	mw->start_brk = lx_get(m, L->mm_start_brk);
	mw->brk = lx_get(m, L->mm_brk);
	mw->start_stack = lx_get(m, L->mm_start_stack);
	mw->vdso = lx_get(m, L->mm_vdso);
	int rc = L->maple ? walk_maple(mw, lx_get(m, L->mm_mt_root)) : walk_list(mw, lx_get(m, L->mm_mmap));
	return rc ? rc : gate(mw);
}

/* A process's map, whole or not at all: a map that changed while it was
 * read (a running guest) is read again, a bounded number of times; only
 * a complete one reaches the caller. */
static int process_maps(struct maps_walk *mw, uint64_t task, int32_t pid)
{
	int rc;
	for (unsigned attempt = 0;; attempt++) {
		rc = process_maps_once(mw, task, pid);
		if (rc != -EIO || attempt >= mw->w.retries)
			break;
		mw->w.retried++;
	}
	return rc ? rc : release_held(mw);
}

/* Every process: one that can not be read is counted, and the walk goes on. */
static int each(void *ctx, uint64_t task, int32_t pid)
{
	struct maps_walk *mw = ctx;
	int rc = process_maps(mw, task, pid);
	if (rc < 0 && rc != -E2BIG) {
		mw->w.unreadable++;
		return 0;
	}
	return rc;
}

int vms_maps(struct vms_kernel *k, int32_t pid, const struct vms_maps_opts *opts, vms_vma_fn fn, void *ctx)
{
	struct maps_walk *mw = calloc(1, sizeof(*mw));
	if (!mw)
		return kernel_fail(k, ENOMEM, "out of memory");
	if (VMS_OPTS_COPY(&mw->o, opts)) {
		int rc = kernel_fail(k, EINVAL, VMS_OPTS_BAD, "vms_maps_opts", opts->sz, sizeof(mw->o));
		free(mw);
		return rc;
	}
	int rc = lx_walk_begin(&mw->w, k, LX_MAPS, mw->o.max_entries, MAPS_MAX_DEFAULT, mw->o.retries);
	if (rc)
		goto out;
	mw->fn = fn;
	mw->ctx = ctx;
	if (!(mw->vma = malloc(mw->w.lay->vma_plan.end))) {
		rc = kernel_fail(k, ENOMEM, "out of memory");
		goto out;
	}
	if (pid) {
		uint64_t task;
		if ((rc = lx_find_process(&mw->w, pid, &task)) == 0)
			rc = process_maps(mw, task, pid);
	} else {
		rc = lx_each_process(&mw->w, each, mw);
	}
out:
	lx_walk_stats(&mw->w, mw->o.stats);
	free(mw->held);
	free(mw->held_path);
	free(mw->names);
	free(mw->vma);
	free(mw);
	return rc;
}
