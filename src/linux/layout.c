/*
 * The kernel's structure layout as the views need it, from the kernel's own
 * types (BTF, or an ISF file) through vms_btf_field: no offsets are built
 * in, so one binary reads every kernel whose types it can see.
 *
 * Members are looked up once per kernel, in groups (tasks, files, maps,
 * modules, printk) as the views first need them; a member that differs
 * between kernel versions is named by its alternatives ("__state|state").
 * For each struct a view copies per object, a plan groups the members that
 * lie close together into a few copies (struct lx_plan).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"

void linux_views_free(struct linux_views *v)
{
	free(v);
}

/* TYPE's member at the first of the '|'-separated PATHS the kernel has. */
static int member(struct vms_kernel *k, const char *type, const char *paths, struct lx_member *out)
{
	char path[96];
	memset(out, 0, sizeof(*out));
	for (const char *p = paths; *p;) {
		size_t n = strcspn(p, "|");
		if (n < sizeof(path)) {
			memcpy(path, p, n);
			path[n] = '\0';
			struct vms_btf_field f;
			if (vms_btf_field(k, type, path, &f) == 0 && f.offset < LX_OBJ_MAX * 4 && f.size) {
				out->off = (uint32_t)f.offset;
				if (f.bit_size) {
					out->bit_off = (uint8_t)(f.bit_offset % 8);
					out->bits = (uint8_t)(f.bit_size > 64 ? 64 : f.bit_size);
					out->size = (uint32_t)((out->bit_off + out->bits + 7) / 8);
				} else {
					out->size = (uint32_t)f.size;
				}
				return 0;
			}
		}
		p += n;
		if (*p == '|')
			p++;
	}
	return -ENOENT;
}

struct want {
	const char *type, *paths;
	struct lx_member *m;
	int optional;
};

static int resolve(struct vms_kernel *k, struct linux_views *v, const struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (member(k, w[i].type, w[i].paths, w[i].m) == 0 || w[i].optional)
			continue;
		snprintf(v->err, sizeof(v->err), "the kernel's types have no %s.%s", w[i].type, w[i].paths);
		return -ENOENT;
	}
	return 0;
}

static int symbol(struct vms_kernel *k, struct linux_views *v, const char *name, uint64_t *addr, int optional)
{
	*addr = 0;
	if (vms_sym_lookup(k, name, addr) == 0 || optional)
		return 0;
	snprintf(v->err, sizeof(v->err), "the kernel has no symbol '%s'", name);
	return -ENOENT;
}

static int struct_size(struct vms_kernel *k, struct linux_views *v, const char *type, uint64_t *size)
{
	if (vms_btf_struct_size(k, type, size) == 0 && *size > 0 && *size <= LX_OBJ_MAX * 4)
		return 0;
	snprintf(v->err, sizeof(v->err), "the kernel's types have no struct %s", type);
	return -ENOENT;
}

/* The plan for the members M[0..N): sorted by offset, runs merged over
 * gaps shorter than LX_PLAN_GAP. Fails if the object is too large. */
static int plan(struct linux_views *v, const char *what, struct lx_plan *p, const struct lx_member *const *m, size_t n)
{
	struct {
		uint32_t off, end;
	} s[64];
	size_t ns = 0;
	for (size_t i = 0; i < n && ns < 64; i++)
		if (m[i]->size) {
			s[ns].off = m[i]->off;
			s[ns].end = m[i]->off + m[i]->size;
			ns++;
		}
	for (size_t i = 1; i < ns; i++) /* insertion sort: a few dozen members */
		for (size_t j = i; j > 0 && s[j - 1].off > s[j].off; j--) {
			uint32_t o = s[j].off, e = s[j].end;
			s[j] = s[j - 1];
			s[j - 1].off = o;
			s[j - 1].end = e;
		}
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < ns; i++) {
		if (p->n && s[i].off <= p->run[p->n - 1].off + p->run[p->n - 1].len + LX_PLAN_GAP) {
			uint32_t end = p->run[p->n - 1].off + p->run[p->n - 1].len;
			if (s[i].end > end)
				p->run[p->n - 1].len = s[i].end - p->run[p->n - 1].off;
			continue;
		}
		if (p->n == LX_PLAN_RUNS) {
			snprintf(v->err, sizeof(v->err), "%s: too many separate members", what);
			return -E2BIG;
		}
		p->run[p->n].off = s[i].off;
		p->run[p->n].len = s[i].end - s[i].off;
		p->n++;
	}
	for (unsigned i = 0; i < p->n; i++)
		if (p->run[i].off + p->run[i].len > p->end)
			p->end = p->run[i].off + p->run[i].len;
	if (p->end > LX_OBJ_MAX) {
		snprintf(v->err, sizeof(v->err), "%s: members lie %u bytes apart (more than %u)", what, p->end,
		         LX_OBJ_MAX);
		return -E2BIG;
	}
	return 0;
}

#define PLAN(v, what, p, ...)                                              \
	plan(v, what, p, (const struct lx_member *const[]){ __VA_ARGS__ }, \
	     sizeof((const struct lx_member *const[]){ __VA_ARGS__ }) / sizeof(struct lx_member *))

static int need_tasks(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	const struct want w[] = {
		{ "task_struct", "__state|state", &L->task_state, 0 },
		{ "task_struct", "flags", &L->task_flags, 0 },
		{ "task_struct", "tasks", &L->task_tasks, 0 },
		{ "task_struct", "mm", &L->task_mm, 0 },
		{ "task_struct", "exit_state", &L->task_exit_state, 0 },
		{ "task_struct", "pid", &L->task_pid, 0 },
		{ "task_struct", "tgid", &L->task_tgid, 0 },
		{ "task_struct", "real_parent", &L->task_real_parent, 0 },
		{ "task_struct", "group_leader", &L->task_group_leader, 0 },
		{ "task_struct", "thread_node", &L->task_thread_node, 1 },
		{ "task_struct", "thread_group", &L->task_thread_group, 1 },
		{ "task_struct", "start_boottime|real_start_time|start_time", &L->task_start, 0 },
		{ "task_struct", "real_cred", &L->task_real_cred, 0 },
		{ "task_struct", "comm", &L->task_comm, 0 },
		{ "task_struct", "files", &L->task_files, 0 },
		{ "task_struct", "signal", &L->task_signal, 0 },
		{ "task_struct", "fs", &L->task_fs, 1 },
		{ "task_struct", "worker_private|set_child_tid", &L->task_kthread, 1 },
		{ "kthread", "data", &L->kthread_data, 1 },
		{ "kthread", "full_name", &L->kthread_full_name, 1 },
		{ "worker", "current_work", &L->worker_current_work, 1 },
		{ "worker", "pool", &L->worker_pool, 1 },
		{ "worker", "desc", &L->worker_desc, 1 },
		{ "worker", "id", &L->worker_id, 1 },
		{ "worker", "rescue_wq", &L->worker_rescue_wq, 1 },
		{ "worker_pool", "cpu", &L->pool_cpu, 1 },
		{ "worker_pool", "id", &L->pool_id, 1 },
		{ "worker_pool", "attrs", &L->pool_attrs, 1 },
		{ "workqueue_attrs", "nice", &L->attrs_nice, 1 },
		{ "workqueue_struct", "name", &L->wq_name, 1 },
		{ "signal_struct", "thread_head", &L->sig_thread_head, 1 },
		{ "signal_struct", "nr_threads", &L->sig_nr_threads, 0 },
		{ "cred", "uid", &L->cred_id[0], 0 },
		{ "cred", "gid", &L->cred_id[1], 0 },
		{ "cred", "suid", &L->cred_id[2], 0 },
		{ "cred", "sgid", &L->cred_id[3], 0 },
		{ "cred", "euid", &L->cred_id[4], 0 },
		{ "cred", "egid", &L->cred_id[5], 0 },
		{ "cred", "fsuid", &L->cred_id[6], 0 },
		{ "cred", "fsgid", &L->cred_id[7], 0 },
		{ "mm_struct", "pgd", &L->mm_pgd, 0 },
		{ "mm_struct", "arg_start", &L->mm_arg_start, 0 },
		{ "mm_struct", "arg_end", &L->mm_arg_end, 0 },
		{ "mm_struct", "env_start", &L->mm_env_start, 0 },
		{ "mm_struct", "env_end", &L->mm_env_end, 0 },
		{ "mm_struct", "start_brk", &L->mm_start_brk, 0 },
		{ "mm_struct", "brk", &L->mm_brk, 0 },
		{ "mm_struct", "start_stack", &L->mm_start_stack, 0 },
		{ "mm_struct", "mm_mt.ma_root", &L->mm_mt_root, 1 },
		{ "mm_struct", "mmap", &L->mm_mmap, 1 },
		{ "mm_struct", "map_count", &L->mm_map_count, 1 },
		{ "mm_struct", "context.vdso", &L->mm_vdso, 1 },
	};
	return resolve(k, v, w, sizeof(w) / sizeof(w[0]));
}

/*
 * Workqueue workers: /proc names one by its comm and, while it is in a
 * pool, "+desc" or "-desc" (its latest work). Since 6.10 the first part is
 * no longer the comm but made again from the worker each time
 * (format_worker_id: "kworker/R-" and the workqueue's whole name for a
 * rescuer, "kworker/CPU:ID[H]" or "kworker/uPOOL:ID" else), which the
 * kernel's types show only by the change that came with it: desc grew
 * from 24 to 32 bytes (WORKER_DESC_LEN). Members of odd sizes turn the
 * worker's part of the name off, not the view.
 */
static int finish_workers(struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	memset(&L->worker_plan, 0, sizeof(L->worker_plan));
	L->worker_full_id = 0;
	if (!L->kthread_data.size || L->worker_current_work.size != 8 || L->worker_pool.size != 8 ||
	    L->worker_desc.size < 2 || L->worker_desc.size > 64)
		return 0;
	L->worker_full_id = L->worker_desc.size >= 32 && L->worker_id.size == 4 && L->worker_rescue_wq.size == 8 &&
	                    L->pool_cpu.size == 4 && L->pool_id.size == 4 && L->pool_attrs.size == 8 &&
	                    L->attrs_nice.size == 4 && L->wq_name.size >= 2 && L->wq_name.size <= 64;
	int rc = PLAN(v, "worker", &L->worker_plan, &L->worker_current_work, &L->worker_pool, &L->worker_desc,
	              &L->worker_id, &L->worker_rescue_wq);
	if (rc == 0 && L->worker_plan.end <= LX_WORKER_MAX)
		return 0;
	memset(&L->worker_plan, 0, sizeof(L->worker_plan));
	L->worker_full_id = 0;
	return 0;
}

/* What every group does after its members are known, whether from the
 * kernel's types or from the layout cache: symbols (they move with KASLR),
 * the checks that keep the views' buffers safe, and the plans. */
static int finish_tasks(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	int rc = symbol(k, v, "init_task", &L->init_task, 0);
	if (rc)
		return rc;
	if (!L->task_thread_node.size && !L->task_thread_group.size) {
		snprintf(v->err, sizeof(v->err), "the kernel's task_struct has neither thread_node nor thread_group");
		return -ENOENT;
	}
	if (L->task_thread_node.size && !L->sig_thread_head.size)
		L->task_thread_node.size = 0;
	if (L->task_comm.size > 64 || L->task_comm.size < 2)
		L->task_comm.size = 16;
	if ((rc = PLAN(v, "task_struct", &L->task_plan, &L->task_state, &L->task_flags, &L->task_tasks, &L->task_mm,
	               &L->task_exit_state, &L->task_pid, &L->task_tgid, &L->task_real_parent, &L->task_group_leader,
	               &L->task_start, &L->task_real_cred, &L->task_comm, &L->task_files, &L->task_signal,
	               &L->task_kthread)))
		return rc;
	if ((rc = finish_workers(v)))
		return rc;
	if ((rc = PLAN(v, "mm_struct", &L->mm_plan, &L->mm_pgd, &L->mm_arg_start, &L->mm_arg_end, &L->mm_env_start,
	               &L->mm_env_end, &L->mm_start_brk, &L->mm_brk, &L->mm_start_stack, &L->mm_mt_root, &L->mm_mmap,
	               &L->mm_map_count, &L->mm_vdso)))
		return rc;
	return PLAN(v, "cred", &L->cred_plan, &L->cred_id[0], &L->cred_id[1], &L->cred_id[2], &L->cred_id[3],
	            &L->cred_id[4], &L->cred_id[5], &L->cred_id[6], &L->cred_id[7]);
}

static int need_files(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	struct lx_member mount_mnt, mnt_root;
	const struct want w[] = {
		{ "files_struct", "fdt", &L->files_fdt, 0 },
		{ "fdtable", "max_fds", &L->fdt_max_fds, 0 },
		{ "fdtable", "fd", &L->fdt_fd, 0 },
		{ "fdtable", "close_on_exec", &L->fdt_cloexec, 0 },
		{ "fs_struct", "pwd.mnt", &L->fs_pwd_mnt, 1 },
		{ "fs_struct", "pwd.dentry", &L->fs_pwd_dentry, 1 },
		{ "file", "f_path.mnt", &L->file_mnt, 0 },
		{ "file", "f_path.dentry", &L->file_dentry, 0 },
		{ "file", "f_inode", &L->file_inode, 0 },
		{ "file", "f_pos", &L->file_pos, 0 },
		{ "file", "f_flags", &L->file_flags, 0 },
		{ "file", "f_mode", &L->file_mode, 0 },
		{ "dentry", "d_parent", &L->d_parent, 0 },
		{ "dentry", "d_name.len", &L->d_name_len, 0 },
		{ "dentry", "d_name.name", &L->d_name_ptr, 0 },
		{ "dentry", "d_hash.pprev", &L->d_hash_pprev, 0 },
		{ "dentry", "d_sb", &L->d_sb, 0 },
		{ "dentry", "d_inode", &L->d_inode, 0 },
		{ "dentry", "d_op", &L->d_op, 0 },
		{ "dentry", "d_fsdata", &L->d_fsdata, 1 },
		{ "dentry_operations", "d_dname", &L->dops_dname, 0 },
		{ "inode", "i_mode", &L->i_mode, 0 },
		{ "inode", "i_ino", &L->i_ino, 0 },
		{ "inode", "i_sb", &L->i_sb, 0 },
		{ "super_block", "s_dev", &L->sb_dev, 0 },
		{ "mount", "mnt", &mount_mnt, 0 },
		{ "mount", "mnt_parent", &L->mnt_parent, 0 },
		{ "mount", "mnt_mountpoint", &L->mnt_mountpoint, 0 },
		{ "mount", "mnt_id", &L->mnt_id, 0 },
		{ "vfsmount", "mnt_root", &mnt_root, 0 },
	};
	int rc = resolve(k, v, w, sizeof(w) / sizeof(w[0]));
	if (rc)
		return rc;
	L->mount_mnt = mount_mnt.off;
	L->mnt_root = mnt_root;
	L->mnt_root.off += mount_mnt.off;
	return 0;
}

static int finish_files(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	int rc;
	static const char *const dname[LX_DNAME_KINDS] = { "pipefs_dname", "sockfs_dname", "anon_inodefs_dname",
		                                           "simple_dname", "ns_dname" };
	for (int i = 0; i < LX_DNAME_KINDS; i++)
		symbol(k, v, dname[i], &L->dname_fn[i], 1);
	if ((rc = PLAN(v, "file", &L->file_plan, &L->file_mnt, &L->file_dentry, &L->file_inode, &L->file_pos,
	               &L->file_flags, &L->file_mode)))
		return rc;
	if ((rc = PLAN(v, "dentry", &L->dentry_plan, &L->d_parent, &L->d_name_len, &L->d_name_ptr, &L->d_hash_pprev,
	               &L->d_sb, &L->d_inode, &L->d_op, &L->d_fsdata)))
		return rc;
	if ((rc = PLAN(v, "inode", &L->inode_plan, &L->i_mode, &L->i_ino, &L->i_sb)))
		return rc;
	return PLAN(v, "mount", &L->mount_plan, &L->mnt_parent, &L->mnt_mountpoint, &L->mnt_id, &L->mnt_root);
}

static int need_maps(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	const struct want w[] = {
		{ "vm_area_struct", "vm_start", &L->vma_start, 0 },
		{ "vm_area_struct", "vm_end", &L->vma_end, 0 },
		{ "vm_area_struct", "vm_next", &L->vma_next, 1 },
		{ "vm_area_struct", "vm_mm", &L->vma_mm, 0 },
		{ "vm_area_struct", "vm_flags", &L->vma_flags, 0 },
		{ "vm_area_struct", "vm_pgoff", &L->vma_pgoff, 0 },
		{ "vm_area_struct", "vm_file", &L->vma_file, 0 },
		{ "vm_area_struct", "vm_ops", &L->vma_ops, 0 },
		{ "vm_area_struct", "vm_private_data", &L->vma_private, 0 },
		{ "vm_area_struct", "anon_name", &L->vma_anon_name, 1 },
	};
	int rc = resolve(k, v, w, sizeof(w) / sizeof(w[0]));
	if (rc)
		return rc;
	L->maple = L->mm_mt_root.size != 0;
	if (L->maple) {
		/* The maple tree's node layouts (lib/maple_tree.c); the
		 * constants are those of every kernel since 6.1, used when the
		 * kernel's BTF does not describe the nodes. */
		struct lx_member m;
		L->mt_range_pivot = member(k, "maple_range_64", "pivot", &m) == 0 ? m.off : 8;
		L->mt_range_slot = member(k, "maple_range_64", "slot", &m) == 0 ? m.off : 128;
		L->mt_range_meta = member(k, "maple_range_64", "meta", &m) == 0 ? m.off : 248;
		L->mt_arange_pivot = member(k, "maple_arange_64", "pivot", &m) == 0 ? m.off : 8;
		L->mt_arange_slot = member(k, "maple_arange_64", "slot", &m) == 0 ? m.off : 80;
		L->mt_arange_meta = member(k, "maple_arange_64", "meta", &m) == 0 ? m.off : 240;
	}
	return 0;
}

static int finish_maps(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	if (!L->maple && (!L->mm_mmap.size || !L->vma_next.size)) {
		snprintf(v->err, sizeof(v->err), "the kernel's mm_struct has neither mm_mt nor an mmap list");
		return -ENOENT;
	}
	if (L->maple) {
		if (L->mt_range_slot + 16 * 8 > 256 || L->mt_range_meta >= 256 || L->mt_arange_slot + 10 * 8 > 256 ||
		    L->mt_arange_meta >= 256 || L->mt_range_pivot + 15 * 8 > 256 || L->mt_arange_pivot + 9 * 8 > 256) {
			snprintf(v->err, sizeof(v->err), "the kernel's maple tree nodes are not 256 bytes");
			return -EINVAL;
		}
	}
	symbol(k, v, "special_mapping_vmops", &L->special_vmops, 1);
	symbol(k, v, "vsyscall_mode", &L->vsyscall_mode, 1);
	return PLAN(v, "vm_area_struct", &L->vma_plan, &L->vma_start, &L->vma_end, &L->vma_next, &L->vma_mm,
	            &L->vma_flags, &L->vma_pgoff, &L->vma_file, &L->vma_ops, &L->vma_private, &L->vma_anon_name);
}

/* 6.4+: mem[] of struct module_memory, each kind found from the array's
 * place and the element's size (ISF types have no indexed paths). */
static void module_memory(struct vms_kernel *k, struct lx_layout *L)
{
	struct lx_member mem, base, size;
	uint64_t esz;
	if (member(k, "module", "mem", &mem) || member(k, "module_memory", "base", &base) ||
	    member(k, "module_memory", "size", &size) || vms_btf_struct_size(k, "module_memory", &esz) ||
	    esz < base.off + base.size || esz < size.off + size.size || esz > 1024)
		return;
	L->mod_base = base;
	L->mod_base.off += mem.off;
	for (uint32_t i = 0; i < LX_MOD_MEM_MAX && (i + 1) * esz <= mem.size; i++) {
		L->mod_mem_size[i] = size;
		L->mod_mem_size[i].off += mem.off + i * (uint32_t)esz;
		L->mod_mem_count = i + 1;
	}
}

static int need_modules(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	/* clang-format off */
	const struct want w[] = {
		{ "module", "list", &L->mod_list, 0 },
		{ "module", "name", &L->mod_name, 0 },
		{ "module", "state", &L->mod_state, 0 },
		{ "module", "taints", &L->mod_taints, 0 },
		{ "module", "refcnt", &L->mod_refcnt, 1 },
		{ "module", "source_list", &L->mod_source_list, 1 },
		{ "module", "mkobj.mod", &L->mod_kobj_mod, 1 },
		{ "module_use", "source_list", &L->use_source_list, 1 },
		{ "module_use", "source", &L->use_source, 1 },
	};
	/* clang-format on */
	int rc = resolve(k, v, w, sizeof(w) / sizeof(w[0]));
	if (rc || (rc = struct_size(k, v, "module", &L->mod_size)))
		return rc;
	/* /proc/modules shows the base of the core text and the sum of the
	 * module's memory sizes: core_layout and init_layout up to 6.3 (and
	 * data_layout where the architecture has it), from 6.4 every
	 * mem[MOD_TEXT .. MOD_INIT_RODATA] (the init kinds are 0 once the
	 * module has initialised), shown from mem[MOD_TEXT]. */
	if (member(k, "module", "core_layout.base", &L->mod_base) == 0) {
		static const char *const sizes[] = { "core_layout.size", "init_layout.size", "data_layout.size" };
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			if (member(k, "module", sizes[i], &L->mod_mem_size[L->mod_mem_count]) == 0)
				L->mod_mem_count++;
	} else {
		module_memory(k, L);
	}
	return 0;
}

static int finish_modules(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	int rc = symbol(k, v, "modules", &L->modules_head, 0);
	if (rc)
		return rc;
	if (!L->mod_base.size || !L->mod_mem_count) {
		snprintf(v->err, sizeof(v->err), "the kernel's struct module has neither core_layout nor mem[]");
		return -ENOENT;
	}
	if (L->mod_size > LX_OBJ_MAX * 4 || L->mod_mem_count > LX_MOD_MEM_MAX ||
	    (L->mod_kobj_mod.size && L->mod_kobj_mod.off + 8 > L->mod_size)) {
		snprintf(v->err, sizeof(v->err), "the kernel's struct module has an unexpected layout");
		return -EINVAL;
	}
	if (L->mod_name.size < 2 || L->mod_name.size > 256) {
		snprintf(v->err, sizeof(v->err), "module.name of %u bytes", L->mod_name.size);
		return -EINVAL;
	}
	/* Every size is copied (not only the first and last: the plan
	 * leaves what lies between its runs unread). */
	const struct lx_member *m[8 + LX_MOD_MEM_MAX] = { &L->mod_list,        &L->mod_name,    &L->mod_state,
		                                          &L->mod_base,        &L->mod_taints,  &L->mod_refcnt,
		                                          &L->mod_source_list, &L->mod_kobj_mod };
	for (uint32_t i = 0; i < L->mod_mem_count; i++)
		m[8 + i] = &L->mod_mem_size[i];
	return plan(v, "module", &L->mod_plan, m, 8 + L->mod_mem_count);
}

static int need_printk(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	const struct want w[] = {
		{ "printk_ringbuffer", "desc_ring.count_bits", &L->rb_count_bits, 0 },
		{ "printk_ringbuffer", "desc_ring.descs", &L->rb_descs, 0 },
		{ "printk_ringbuffer", "desc_ring.infos", &L->rb_infos, 0 },
		{ "printk_ringbuffer", "desc_ring.head_id", &L->rb_head_id, 0 },
		{ "printk_ringbuffer", "desc_ring.tail_id", &L->rb_tail_id, 0 },
		{ "printk_ringbuffer", "text_data_ring.size_bits", &L->rb_size_bits, 0 },
		{ "printk_ringbuffer", "text_data_ring.data", &L->rb_data, 0 },
		{ "prb_desc", "state_var", &L->desc_state, 0 },
		{ "prb_desc", "text_blk_lpos.begin", &L->desc_begin, 0 },
		{ "prb_desc", "text_blk_lpos.next", &L->desc_next, 0 },
		{ "printk_info", "seq", &L->info_seq, 0 },
		{ "printk_info", "ts_nsec", &L->info_ts, 0 },
		{ "printk_info", "text_len", &L->info_len, 0 },
		{ "printk_info", "facility", &L->info_facility, 1 },
		{ "printk_info", "level", &L->info_level, 1 },
		{ "printk_info", "caller_id", &L->info_caller, 1 },
	};
	int rc = resolve(k, v, w, sizeof(w) / sizeof(w[0]));
	if (rc || (rc = struct_size(k, v, "prb_desc", &L->desc_size)) ||
	    (rc = struct_size(k, v, "printk_info", &L->info_size)))
		return rc;
	return 0;
}

static int finish_printk(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	if (vms_sym_lookup(k, "prb", &L->prb)) {
		snprintf(v->err, sizeof(v->err),
		         "the kernel has no printk ring buffer ('prb'): kernels before 5.10 "
		         "keep their log in another format, which vmsight does not read");
		return -ENOTSUP;
	}
	if (L->desc_size > 256 || L->info_size > 1024 || L->desc_state.off + 8 > L->desc_size ||
	    L->desc_next.off + 8 > L->desc_size || L->desc_begin.off + 8 > L->desc_size ||
	    L->info_len.off + 2 > L->info_size || L->info_seq.off + 8 > L->info_size ||
	    L->info_ts.off + 8 > L->info_size || L->info_facility.off + L->info_facility.size > L->info_size ||
	    L->info_level.off + L->info_level.size > L->info_size ||
	    L->info_caller.off + L->info_caller.size > L->info_size) {
		snprintf(v->err, sizeof(v->err), "the kernel's printk records have an unexpected layout");
		return -EINVAL;
	}
	return 0;
}

static int need_net(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	struct lx_member sock_common, tw_common, alloc_socket, alloc_inode, i_ino, sun_path;
	/* clang-format off */
	const struct want w[] = {
		{ "sock", "__sk_common", &sock_common, 0 },
		{ "sock", "__sk_common.skc_daddr", &L->sk_daddr, 0 },
		{ "sock", "__sk_common.skc_rcv_saddr", &L->sk_rcv_saddr, 0 },
		{ "sock", "__sk_common.skc_dport", &L->sk_dport, 0 },
		{ "sock", "__sk_common.skc_num", &L->sk_num, 0 },
		{ "sock", "__sk_common.skc_family", &L->sk_family, 0 },
		{ "sock", "__sk_common.skc_state", &L->sk_state, 0 },
		{ "sock", "__sk_common.skc_node", &L->sk_node, 0 },
		{ "sock", "__sk_common.skc_v6_daddr", &L->sk_v6_daddr, 1 },
		{ "sock", "__sk_common.skc_v6_rcv_saddr", &L->sk_v6_rcv_saddr, 1 },
		{ "inet_timewait_sock", "__tw_common", &tw_common, 0 },
		{ "inet_timewait_sock", "tw_substate", &L->tw_substate, 1 },
		{ "sock", "sk_type", &L->sk_type, 0 },
		{ "sock", "sk_protocol", &L->sk_protocol, 0 },
		{ "sock", "sk_socket", &L->sk_socket, 0 },
		{ "sock", "sk_ack_backlog", &L->sk_ack_backlog, 1 },
		{ "sock", "sk_max_ack_backlog", &L->sk_max_ack_backlog, 1 },
		{ "sock", "sk_backlog.rmem_alloc", &L->sk_rmem_alloc, 1 },
		{ "sock", "sk_wmem_alloc", &L->sk_wmem_alloc, 1 },
		{ "sock", "sk_receive_queue.qlen", &L->sk_rcv_qlen, 1 },
		{ "tcp_sock", "rcv_nxt", &L->tcp_rcv_nxt, 1 },
		{ "tcp_sock", "copied_seq", &L->tcp_copied_seq, 1 },
		{ "tcp_sock", "write_seq", &L->tcp_write_seq, 1 },
		{ "tcp_sock", "snd_una", &L->tcp_snd_una, 1 },
		{ "udp_sock", "forward_deficit", &L->udp_forward_deficit, 1 },
		{ "unix_sock", "addr", &L->unix_addr, 1 },
		{ "unix_sock", "peer", &L->unix_peer, 1 },
		{ "unix_address", "len", &L->unix_addr_len, 1 },
		{ "sockaddr_un", "sun_path", &sun_path, 1 },
		{ "packet_sock", "num", &L->packet_num, 1 },
		{ "packet_sock", "ifindex", &L->packet_ifindex, 1 },
		{ "socket", "sk", &L->socket_sk, 0 },
		{ "socket", "file", &L->socket_file, 0 },
		{ "socket_alloc", "socket", &alloc_socket, 0 },
		{ "socket_alloc", "vfs_inode", &alloc_inode, 0 },
		{ "inode", "i_ino", &i_ino, 0 },
		{ "file", "private_data", &L->file_private, 0 },
		{ "file", "f_op", &L->file_op, 0 },
		{ "inet_hashinfo", "ehash", &L->hi_ehash, 0 },
		{ "inet_hashinfo", "ehash_mask", &L->hi_ehash_mask, 0 },
		{ "inet_hashinfo", "lhash2", &L->hi_lhash2, 1 },
		{ "inet_hashinfo", "lhash2_mask", &L->hi_lhash2_mask, 1 },
		{ "inet_ehash_bucket", "chain", &L->ehb_chain, 0 },
		{ "inet_listen_hashbucket", "nulls_head|head", &L->ilb_head, 1 },
		{ "inet_connection_sock", "icsk_listen_portaddr_node", &L->listen_node, 1 },
		{ "udp_table", "hash", &L->udpt_hash, 1 },
		{ "udp_table", "mask", &L->udpt_mask, 1 },
		{ "udp_hslot", "head", &L->hslot_head, 1 },
		{ "raw_hashinfo", "ht", &L->raw_ht, 1 },
		{ "net", "packet.sklist", &L->net_packet_list, 1 },
		{ "net", "unx.table.buckets", &L->net_unix_buckets, 1 },
	};
	/* clang-format on */
	int rc = resolve(k, v, w, sizeof(w) / sizeof(w[0]));
	if (rc || (rc = struct_size(k, v, "inet_ehash_bucket", &L->ehb_size)))
		return rc;
	if (sock_common.off || tw_common.off) {
		snprintf(v->err, sizeof(v->err), "the kernel's sockets do not start with their sock_common");
		return -ENOTSUP;
	}
	if (!L->listen_node.size)
		L->listen_node = L->sk_node;
	if (L->hi_lhash2.size && struct_size(k, v, "inet_listen_hashbucket", &L->ilb_size))
		L->hi_lhash2.size = 0;
	if (L->udpt_hash.size && struct_size(k, v, "udp_hslot", &L->hslot_size))
		L->udpt_hash.size = 0;
	/* The inode of a socket lies beside it, in its struct socket_alloc. */
	L->socket_ino = i_ino;
	L->socket_ino.off = alloc_inode.off + i_ino.off - alloc_socket.off;
	/* unix_address.name is a flexible array (no size): its offset only. */
	uint64_t name_off;
	if (L->unix_addr.size && sun_path.size && vms_btf_member(k, "unix_address", "name", &name_off, NULL) == 0 &&
	    name_off < 64) {
		L->unix_addr_path = sun_path;
		L->unix_addr_path.off += (uint32_t)name_off;
	} else {
		L->unix_addr.size = 0;
	}
	return 0;
}

static int finish_net(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	int rc = symbol(k, v, "tcp_hashinfo", &L->tcp_hashinfo, 1);
	symbol(k, v, "udp_table", &L->udp_table, 1);
	symbol(k, v, "raw_v4_hashinfo", &L->raw_v4, 1);
	symbol(k, v, "raw_v6_hashinfo", &L->raw_v6, 1);
	symbol(k, v, "init_net", &L->init_net, 1);
	symbol(k, v, "socket_file_ops", &L->socket_fops, 1);
	if (rc)
		return rc;
	/* Bounds the walk relies on: one bucket of each table fits a chunk,
	 * a hash head is a pointer, addresses are what they claim. */
	if (L->ehb_size < 8 || L->ehb_size > 64 || L->ehb_chain.off + 8 > L->ehb_size ||
	    (L->hi_lhash2.size && (L->ilb_size < 8 || L->ilb_size > 64 || L->ilb_head.off + 8 > L->ilb_size)) ||
	    (L->udpt_hash.size && (L->hslot_size < 8 || L->hslot_size > 64 || L->hslot_head.off + 8 > L->hslot_size)) ||
	    L->sk_daddr.size != 4 || L->sk_rcv_saddr.size != 4 || L->sk_dport.size != 2 || L->sk_num.size != 2 ||
	    (L->sk_v6_daddr.size && L->sk_v6_daddr.size != 16) ||
	    (L->sk_v6_rcv_saddr.size && L->sk_v6_rcv_saddr.size != 16) || L->socket_ino.off > LX_OBJ_MAX ||
	    L->socket_ino.size != 8 || L->unix_addr_path.size > 108 || L->unix_addr_path.off > 64 ||
	    L->raw_ht.size % 8 || L->raw_ht.size > 65536) {
		snprintf(v->err, sizeof(v->err), "the kernel's socket tables have an unexpected layout");
		return -EINVAL;
	}
	if ((rc = PLAN(v, "sock_common", &L->sk_common_plan, &L->sk_daddr, &L->sk_rcv_saddr, &L->sk_dport, &L->sk_num,
	               &L->sk_family, &L->sk_state, &L->sk_node, &L->sk_v6_daddr, &L->sk_v6_rcv_saddr,
	               &L->tw_substate)))
		return rc;
	if ((rc = PLAN(v, "sock", &L->sk_plan, &L->sk_type, &L->sk_protocol, &L->sk_socket, &L->sk_ack_backlog,
	               &L->sk_max_ack_backlog, &L->sk_rmem_alloc, &L->sk_wmem_alloc, &L->sk_rcv_qlen)))
		return rc;
	if ((rc = PLAN(v, "tcp_sock", &L->tcp_plan, &L->tcp_rcv_nxt, &L->tcp_copied_seq, &L->tcp_write_seq,
	               &L->tcp_snd_una)))
		return rc;
	return PLAN(v, "unix_sock", &L->unix_plan, &L->unix_addr, &L->unix_peer);
}

static int need_check(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	/* clang-format off */
	const struct want w[] = {
		{ "module", "init_layout.base", &L->mod_init_base, 1 },
		{ "xarray", "xa_head", &L->xa_head, 1 },
		{ "xa_node", "shift", &L->xa_shift, 1 },
		{ "xa_node", "slots", &L->xa_slots, 1 },
		{ "xa_node", "parent", &L->xa_parent, 1 },
		{ "idr", "idr_rt", &L->idr_rt, 1 },
		{ "pid_namespace", "idr", &L->pidns_idr, 1 },
		{ "pid", "numbers[0].nr", &L->pid_nr, 1 },
		{ "pid", "tasks[0].first", &L->pid_first, 1 },
		{ "task_struct", "pid_links[0]", &L->task_pid_links, 1 },
		{ "rq", "curr", &L->rq_curr, 1 },
		{ "kprobe", "hlist", &L->kp_hlist, 1 },
		{ "kprobe", "addr", &L->kp_addr, 1 },
		{ "kprobe", "symbol_name", &L->kp_sym, 1 },
		{ "kprobe", "pre_handler", &L->kp_pre, 1 },
		{ "kprobe", "post_handler", &L->kp_post, 1 },
		{ "ftrace_ops", "func", &L->fops_func, 1 },
		{ "ftrace_ops", "next", &L->fops_next, 1 },
		{ "ftrace_ops", "flags", &L->fops_flags, 1 },
		{ "ftrace_ops", "trampoline", &L->fops_tramp, 1 },
		{ "ftrace_ops", "trampoline_size", &L->fops_tramp_size, 1 },
		{ "ftrace_page", "next", &L->fpage_next, 1 },
		{ "ftrace_page", "records", &L->fpage_records, 1 },
		{ "ftrace_page", "index", &L->fpage_index, 1 },
		{ "dyn_ftrace", "ip", &L->dyn_ip, 1 },
		{ "dyn_ftrace", "flags", &L->dyn_flags, 1 },
		{ "notifier_block", "notifier_call", &L->nb_call, 1 },
		{ "notifier_block", "next", &L->nb_next, 1 },
		{ "atomic_notifier_head", "head", &L->nh_head, 1 },
		{ "packet_type", "type", &L->pt_type, 1 },
		{ "packet_type", "func", &L->pt_func, 1 },
		{ "packet_type", "list", &L->pt_list, 1 },
		{ "net_hotdata", "ptype_all", &L->hotdata_ptype_all, 1 },
		{ "syscall_metadata", "name", &L->sysmeta_name, 1 },
		{ "bpf_prog", "type", &L->prog_type, 1 },
		{ "bpf_prog", "bpf_func", &L->prog_func, 1 },
		{ "bpf_prog", "aux", &L->prog_aux, 1 },
		{ "bpf_prog_aux", "id", &L->aux_id, 1 },
		{ "bpf_prog_aux", "name", &L->aux_name, 1 },
		{ "bpf_prog_aux", "attach_func_name", &L->aux_attach_name, 1 },
	};
	/* clang-format on */
	int rc = resolve(k, v, w, sizeof(w) / sizeof(w[0]));
	if (rc)
		return rc;
	if (vms_btf_struct_size(k, "dyn_ftrace", &L->dyn_size))
		L->dyn_size = 0;
	if (vms_btf_struct_size(k, "kprobe", &L->kprobe_size))
		L->kprobe_size = 0;
	return 0;
}

/* The checks read single members, never by plan: only sizes to keep sane. */
static int finish_check(struct vms_kernel *k, struct linux_views *v)
{
	struct lx_layout *L = &v->lay;
	(void)k;
	if (L->dyn_size > 256 || L->kprobe_size > LX_OBJ_MAX || L->xa_shift.size != 1 ||
	    L->xa_slots.off + 64 * 8 > LX_OBJ_MAX) {
		L->dyn_size = 0;
		L->xa_slots.size = 0;
	}
	return 0;
}

/* clang-format off */
static const struct group {
	unsigned bit;
	int (*resolve)(struct vms_kernel *, struct linux_views *);
	int (*finish)(struct vms_kernel *, struct linux_views *);
} groups[] = {
	{ LX_TASKS, need_tasks, finish_tasks },
	{ LX_FILES, need_files, finish_files },
	{ LX_MAPS, need_maps, finish_maps },
	{ LX_MODULES, need_modules, finish_modules },
	{ LX_PRINTK, need_printk, finish_printk },
	{ LX_NET, need_net, finish_net },
	{ LX_CHECK, need_check, finish_check },
};
/* clang-format on */
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

/* ---- the layout cache ------------------------------------------------------------ */

/*
 * Resolving members needs the kernel's types parsed (libbpf's btf__new:
 * milliseconds for a distribution kernel), which a warm attach otherwise
 * never needs. So the members found are kept beside the profile, in
 * PROFILE.views, and a later attach to the same kernel takes them from
 * there. Only member offsets and sizes are kept; symbols, checks and plans
 * are made again (finish_*), so a damaged file can not widen any buffer.
 * The checksum catches damage, not a forged file: the file is read and
 * written only through profile.c's checks (a directory and a file of our
 * own that no one else may write), which are what the offsets are trusted
 * on.
 */
#define LAYOUT_SUFFIX ".views"
#define LAYOUT_MAGIC "VMSVIEWS"
#define LAYOUT_VERSION 3

struct layout_file {
	char magic[8];
	uint32_t version;
	uint32_t size;     /* sizeof(struct lx_layout) */
	uint64_t btf_size; /* of the types they came from */
	uint64_t checksum;
	struct lx_layout lay;
};

static uint64_t layout_sum(const struct lx_layout *l)
{
	const uint8_t *p = (const uint8_t *)l;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < sizeof(*l); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Only for types that came from the kernel's BTF (the blob the profile
 * holds): ISF types may differ from one run to the next. */
static int layout_cacheable(const struct vms_kernel *k)
{
	return k->cache_file[0] && k->types_from && (!strcmp(k->types_from, "btf") || !strcmp(k->types_from, "cache"));
}

static void layout_load(struct vms_kernel *k, struct linux_views *v)
{
	struct layout_file *f = malloc(sizeof(*f));
	if (!f || !layout_cacheable(k) || profile_sibling_read(k, LAYOUT_SUFFIX, f, sizeof(*f))) {
		free(f);
		return;
	}
	if (memcmp(f->magic, LAYOUT_MAGIC, 8) == 0 && f->version == LAYOUT_VERSION &&
	    f->size == sizeof(struct lx_layout) && f->btf_size == k->btf_size && f->checksum == layout_sum(&f->lay)) {
		f->lay.kmin = v->lay.kmin;
		f->lay.umax = v->lay.umax;
		v->lay = f->lay;
		v->cached = v->lay.resolved; /* finished (symbols, checks) only when needed */
		v->lay.resolved = 0;
	}
	free(f);
}

static void layout_save(struct vms_kernel *k, const struct linux_views *v)
{
	struct layout_file *f = calloc(1, sizeof(*f));
	if (!f || !layout_cacheable(k)) {
		free(f);
		return;
	}
	memcpy(f->magic, LAYOUT_MAGIC, 8);
	f->version = LAYOUT_VERSION;
	f->size = sizeof(struct lx_layout);
	f->btf_size = k->btf_size;
	f->lay = v->lay;
	f->lay.resolved |= v->cached; /* read from the file, not needed yet: kept */
	f->checksum = layout_sum(&f->lay);
	profile_sibling_write(k, LAYOUT_SUFFIX, f, sizeof(*f)); /* best effort, as the profile */
	free(f);
}

int lx_layout_need(struct vms_kernel *k, unsigned need, const struct lx_layout **out)
{
	struct linux_views *v = k->views;
	if (!v) {
		if (!(v = k->views = calloc(1, sizeof(*v))))
			return kernel_fail(k, ENOMEM, "out of memory");
		v->lay.kmin = k->paging == VMS_PAGING_5LEVEL ? 0xff00000000000000ull : 0xffff800000000000ull;
		v->lay.umax = k->paging == VMS_PAGING_5LEVEL ? 1ull << 56 : 1ull << 47;
		layout_load(k, v);
	}
	*out = &v->lay;
	/* Files come with tasks (per-process views), maps with both. */
	if (need & (LX_FILES | LX_MAPS))
		need |= LX_TASKS;
	if (need & (LX_MAPS | LX_NET))
		need |= LX_FILES | LX_TASKS;
	int added = 0;
	for (size_t i = 0; i < NGROUPS; i++) {
		unsigned bit = groups[i].bit;
		if (!(need & bit) || (v->lay.resolved & bit))
			continue;
		if (v->failed & bit)
			return kernel_fail(k, ENOENT, "%s", v->err);
		if (v->cached & bit) {
			v->cached &= ~bit;
			if (groups[i].finish(k, v) == 0) {
				v->lay.resolved |= bit;
				continue;
			}
		}
		int rc = groups[i].resolve(k, v);
		if (!rc)
			rc = groups[i].finish(k, v);
		if (rc) {
			v->failed |= bit;
			return kernel_fail(k, -rc, "%s", v->err);
		}
		v->lay.resolved |= bit;
		added = 1;
	}
	if (added)
		layout_save(k, v);
	return 0;
}
