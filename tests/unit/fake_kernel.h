/*
 * A small Linux kernel made by hand, for the views' unit tests and their
 * fuzz target: fake guest RAM with x86-64 page tables, a symbol table, and
 * kernel types given as BTF written with libbpf's BTF writer. The structs
 * hold only the members the views read, at offsets chosen here (not a real
 * kernel's), so the views are seen to take every offset from the types.
 *
 * Memory: 40 MiB of RAM at physical 0. Page tables map the kernel's direct
 * map (0xffff888000000000 -> 0, a 1 GiB page), user space (VA = PA, a
 * 1 GiB user page) and 2 MiB of the module area (0xffffffffc0000000 ->
 * 32 MiB). Kernel objects are allocated from 1 MiB on; fk_put writes a
 * member by name, looked up in the same BTF the views use.
 *
 * The world (fk_build): init_task and four processes — init (pid 1, files
 * and a one-leaf maple tree), kthreadd (a kernel thread with a full name),
 * a kernel worker, and pid 42 (uid 1000, three threads, a rewritten
 * command line, a two-level maple tree of 20 adjacent VMAs); three mount points; two listed
 * modules and one hidden; a printk ring with a wrapped record.
 *
 * Two eras of types: 6.1's (module core_layout and init_layout, a 24-byte
 * worker desc), or with FK_612 those of 6.10 and later (module mem[] of
 * struct module_memory, a 32-byte desc, worker ids and rescuers).
 */
#ifndef VMS_TEST_FAKE_KERNEL_H
#define VMS_TEST_FAKE_KERNEL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "linux/kernel.h"
#include "linux/views.h"

#define FK_RAM (40ull << 20)
#define FK_KBASE 0xffff888000000000ull
#define FK_MODVA 0xffffffffc0000000ull
#define FK_MODPA (32ull << 20)
#define FK_OBJ_PA (1ull << 20)
#define FK_OBJ_END (4ull << 20)
#define FK_USER_PA (8ull << 20)
#define FK_PML4 0x1000ull

static uint8_t *fk_ram;
static int fk_mapped = 1;

/* A hostile guest changing memory under us: reads that cover FLIP_PA see
 * flip_val[0] and flip_val[1] in turn (through read(): unmapped sources). */
static uint64_t fk_flip_pa, fk_flip_val[2];
static unsigned fk_flip_reads;

static int fk_read(struct vms_source *s, uint64_t pa, void *buf, size_t len)
{
	(void)s;
	memcpy(buf, fk_ram + pa, len);
	if (fk_flip_pa && pa <= fk_flip_pa && fk_flip_pa + 8 <= pa + len)
		memcpy((uint8_t *)buf + (fk_flip_pa - pa), &fk_flip_val[fk_flip_reads++ & 1], 8);
	return 0;
}

static void fk_close(struct vms_source *s)
{
	free(s);
}

static const struct vms_source_ops fk_ops = {
	.version = VMS_SOURCE_OPS_VERSION,
	.name = "fake-kernel",
	.read = fk_read,
	.close = fk_close,
};

/* ---- types ---------------------------------------------------------------- */

struct fk_field {
	const char *name, *type;
	uint32_t off;
	uint8_t bits, bit_off;
	uint8_t era; /* 0: every kernel; 1: 6.1's types only; 2: FK_612's only */
};
struct fk_struct {
	const char *name;
	uint32_t size;
	struct fk_field f[20];
};

/* Base types, in the order they are added: ids 1.. */
static const char *const fk_base[] = { "u8",       "u16",      "u32",      "u64",      "ptr",
	                               "char[16]", "char[24]", "char[56]", "char[32]", "module_memory[7]" };
#define FK_NBASE 10

/* fk_build's flags */
#define FK_VMA_LIST 1 /* VMAs in a list (before 6.1), not a maple tree */
#define FK_612 2      /* the types of 6.10 and later */

#define F(name, type, off)               \
	{                                \
		name, type, off, 0, 0, 0 \
	}
#define F61(name, type, off)             \
	{                                \
		name, type, off, 0, 0, 1 \
	}
#define F612(name, type, off)            \
	{                                \
		name, type, off, 0, 0, 2 \
	}
static const struct fk_struct fk_structs[] = {
	{ "list_head", 16, { F("next", "ptr", 0), F("prev", "ptr", 8) } },
	{ "hlist_bl_node", 16, { F("next", "ptr", 0), F("pprev", "ptr", 8) } },
	{ "cred",
	  48,
	  { F("uid", "u32", 4), F("gid", "u32", 8), F("suid", "u32", 12), F("sgid", "u32", 16), F("euid", "u32", 20),
	    F("egid", "u32", 24), F("fsuid", "u32", 28), F("fsgid", "u32", 32) } },
	{ "task_struct",
	  512,
	  { F("__state", "u32", 0), F("flags", "u32", 4), F("tasks", "list_head", 16), F("mm", "ptr", 32),
	    F("exit_state", "u32", 40), F("pid", "u32", 44), F("tgid", "u32", 48), F("real_parent", "ptr", 56),
	    F("group_leader", "ptr", 64), F("thread_node", "list_head", 72), F("start_boottime", "u64", 88),
	    F("real_cred", "ptr", 96), F("comm", "char[16]", 104), F("files", "ptr", 120), F("signal", "ptr", 128),
	    F("worker_private", "ptr", 136) } },
	{ "signal_struct", 64, { F("nr_threads", "u32", 8), F("thread_head", "list_head", 16) } },
	{ "kthread", 112, { F("data", "ptr", 24), F("full_name", "ptr", 104) } },
	{ "worker",
	  160,
	  { F("current_work", "ptr", 16), F("pool", "ptr", 72), F612("id", "u32", 112), F61("desc", "char[24]", 116),
	    F612("desc", "char[32]", 116), F612("rescue_wq", "ptr", 152) } },
	{ "worker_pool", 64, { F("cpu", "u32", 4), F("id", "u32", 12), F("attrs", "ptr", 40) } },
	{ "workqueue_attrs", 16, { F("nice", "u32", 0) } },
	{ "workqueue_struct", 128, { F("name", "char[32]", 64) } },
	{ "maple_tree", 24, { F("ma_root", "ptr", 8), F("ma_flags", "u32", 16) } },
	{ "mm_context", 16, { F("vdso", "ptr", 8) } },
	/* mm_mt or mmap: fk_build drops the one not asked for. */
	{ "mm_struct",
	  256,
	  { F("mm_mt", "maple_tree", 0), F("pgd", "ptr", 32), F("map_count", "u32", 40), F("start_brk", "u64", 48),
	    F("brk", "u64", 56), F("start_stack", "u64", 64), F("arg_start", "u64", 72), F("arg_end", "u64", 80),
	    F("env_start", "u64", 88), F("env_end", "u64", 96), F("context", "mm_context", 104),
	    F("mmap", "ptr", 120) } },
	{ "vm_area_struct",
	  128,
	  { F("vm_start", "u64", 0), F("vm_end", "u64", 8), F("vm_next", "ptr", 16), F("vm_mm", "ptr", 24),
	    F("vm_flags", "u64", 32), F("vm_pgoff", "u64", 40), F("vm_file", "ptr", 48), F("vm_ops", "ptr", 56),
	    F("vm_private_data", "ptr", 64) } },
	{ "files_struct", 64, { F("fdt", "ptr", 32) } },
	{ "fdtable", 48, { F("max_fds", "u32", 0), F("fd", "ptr", 8), F("close_on_exec", "ptr", 16) } },
	{ "path", 16, { F("mnt", "ptr", 0), F("dentry", "ptr", 8) } },
	{ "file",
	  256,
	  { F("f_path", "path", 16), F("f_inode", "ptr", 32), F("f_flags", "u32", 40), F("f_mode", "u32", 44),
	    F("f_op", "ptr", 56), F("f_pos", "u64", 64), F("private_data", "ptr", 72) } },
	{ "qstr", 16, { F("len", "u32", 4), F("name", "ptr", 8) } },
	{ "dentry",
	  192,
	  { F("d_hash", "hlist_bl_node", 8), F("d_parent", "ptr", 24), F("d_name", "qstr", 32), F("d_inode", "ptr", 48),
	    F("d_op", "ptr", 96), F("d_sb", "ptr", 104), F("d_fsdata", "ptr", 112) } },
	{ "dentry_operations", 128, { F("d_dname", "ptr", 80) } },
	{ "inode", 128, { F("i_mode", "u16", 0), F("i_sb", "ptr", 40), F("i_ino", "u64", 64) } },
	{ "super_block", 64, { F("s_dev", "u32", 16) } },
	{ "vfsmount", 16, { F("mnt_root", "ptr", 0), F("mnt_sb", "ptr", 8) } },
	{ "mount",
	  128,
	  { F("mnt_parent", "ptr", 16), F("mnt_mountpoint", "ptr", 24), F("mnt", "vfsmount", 32),
	    F("mnt_id", "u32", 64) } },
	{ "module_kobject", 16, { F("mod", "ptr", 8) } },
	{ "module_layout", 16, { F("base", "ptr", 0), F("size", "u32", 8) } },
	{ "module_memory", 40, { F("base", "ptr", 0), F("size", "u32", 8) } },
	{ "module",
	  512,
	  { F("state", "u32", 0), F("list", "list_head", 8), F("name", "char[56]", 24),
	    F("mkobj", "module_kobject", 80), F61("core_layout", "module_layout", 96),
	    F61("init_layout", "module_layout", 112), F("taints", "u64", 128), F("refcnt", "u32", 136),
	    F("source_list", "list_head", 144), F612("mem", "module_memory[7]", 192) } },
	{ "module_use",
	  48,
	  { F("source_list", "list_head", 0), F("target_list", "list_head", 16), F("source", "ptr", 32),
	    F("target", "ptr", 40) } },
	{ "prb_desc_ring",
	  48,
	  { F("count_bits", "u32", 0), F("descs", "ptr", 8), F("infos", "ptr", 16), F("head_id", "u64", 24),
	    F("tail_id", "u64", 32) } },
	{ "prb_data_ring",
	  32,
	  { F("size_bits", "u32", 0), F("data", "ptr", 8), F("head_lpos", "u64", 16), F("tail_lpos", "u64", 24) } },
	{ "printk_ringbuffer", 88, { F("desc_ring", "prb_desc_ring", 0), F("text_data_ring", "prb_data_ring", 48) } },
	{ "prb_data_blk_lpos", 16, { F("begin", "u64", 0), F("next", "u64", 8) } },
	{ "prb_desc", 24, { F("state_var", "u64", 0), F("text_blk_lpos", "prb_data_blk_lpos", 8) } },
	{ "printk_info",
	  88,
	  { F("seq", "u64", 0),
	    F("ts_nsec", "u64", 8),
	    F("text_len", "u16", 16),
	    F("facility", "u8", 18),
	    { "level", "u8", 19, 3, 5, 0 },
	    F("caller_id", "u32", 20) } },
	/* Sockets (fk_net). */
	{ "hlist_node", 16, { F("next", "ptr", 0), F("pprev", "ptr", 8) } },
	{ "sock_common",
	  96,
	  { F("skc_daddr", "u32", 0), F("skc_rcv_saddr", "u32", 4), F("skc_dport", "u16", 12), F("skc_num", "u16", 14),
	    F("skc_family", "u16", 16), F("skc_state", "u8", 18), F("skc_node", "hlist_node", 24),
	    F("skc_v6_daddr", "char[16]", 48), F("skc_v6_rcv_saddr", "char[16]", 64) } },
	{ "sock",
	  512,
	  { F("__sk_common", "sock_common", 0), F("sk_type", "u16", 200), F("sk_protocol", "u16", 202),
	    F("sk_socket", "ptr", 208), F("sk_ack_backlog", "u32", 216), F("sk_max_ack_backlog", "u32", 220),
	    F("sk_wmem_alloc", "u32", 224) } },
	{ "inet_timewait_sock", 128, { F("__tw_common", "sock_common", 0), F("tw_substate", "u8", 100) } },
	{ "tcp_sock",
	  1024,
	  { F("rcv_nxt", "u32", 600), F("copied_seq", "u32", 604), F("write_seq", "u32", 700),
	    F("snd_una", "u32", 704) } },
	{ "socket", 64, { F("file", "ptr", 16), F("sk", "ptr", 24) } },
	{ "socket_alloc", 192, { F("socket", "socket", 0), F("vfs_inode", "inode", 64) } },
	{ "inet_ehash_bucket", 8, { F("chain", "ptr", 0) } },
	{ "inet_listen_hashbucket", 16, { F("nulls_head", "ptr", 8) } },
	{ "inet_hashinfo",
	  80,
	  { F("ehash", "ptr", 0), F("ehash_mask", "u32", 16), F("lhash2_mask", "u32", 60), F("lhash2", "ptr", 64) } },
	{ "udp_hslot", 16, { F("head", "ptr", 0), F("count", "u32", 8) } },
	{ "udp_table", 24, { F("hash", "ptr", 0), F("mask", "u32", 16) } },
};
#undef F
#undef F61
#undef F612
#define FK_NSTRUCTS (sizeof(fk_structs) / sizeof(fk_structs[0]))

static int fk_type_id(const char *name)
{
	for (int i = 0; i < FK_NBASE; i++)
		if (strcmp(name, fk_base[i]) == 0)
			return i + 1;
	for (size_t i = 0; i < FK_NSTRUCTS; i++)
		if (strcmp(name, fk_structs[i].name) == 0)
			return FK_NBASE + 1 + (int)i;
	abort();
}

/* The BTF of the fake kernel (FLAGS: FK_*). */
static struct btf *fk_btf(int flags)
{
	int list = flags & FK_VMA_LIST, era = flags & FK_612 ? 2 : 1;
	struct btf *b = btf__new_empty();
	int u8 = btf__add_int(b, "u8", 1, 0);
	btf__add_int(b, "u16", 2, 0);
	btf__add_int(b, "u32", 4, 0);
	btf__add_int(b, "u64", 8, 0);
	btf__add_ptr(b, 0);
	btf__add_array(b, fk_type_id("u32"), u8, 16);
	btf__add_array(b, fk_type_id("u32"), u8, 24);
	btf__add_array(b, fk_type_id("u32"), u8, 56);
	btf__add_array(b, fk_type_id("u32"), u8, 32);
	btf__add_array(b, fk_type_id("u32"), fk_type_id("module_memory"), 7);
	for (size_t i = 0; i < FK_NSTRUCTS; i++) {
		const struct fk_struct *s = &fk_structs[i];
		btf__add_struct(b, s->name, s->size);
		for (const struct fk_field *f = s->f; f->name; f++) {
			if (f->era && f->era != era)
				continue;
			if (strcmp(s->name, "mm_struct") == 0 && strcmp(f->name, list ? "mm_mt" : "mmap") == 0)
				continue;
			if (strcmp(s->name, "vm_area_struct") == 0 && !list && strcmp(f->name, "vm_next") == 0)
				continue;
			btf__add_field(b, f->name, fk_type_id(f->type), f->off * 8 + f->bit_off, f->bits);
		}
	}
	return b;
}

/* ---- memory ------------------------------------------------------------------- */

static uint8_t *fk_host(uint64_t va)
{
	if (va >= FK_KBASE && va - FK_KBASE < FK_RAM)
		return fk_ram + (va - FK_KBASE);
	if (va >= FK_MODVA && va - FK_MODVA < (2u << 20))
		return fk_ram + FK_MODPA + (va - FK_MODVA);
	if (va < FK_RAM)
		return fk_ram + va;
	abort();
}

static void fk_put64(uint64_t va, uint64_t v)
{
	memcpy(fk_host(va), &v, 8);
}
static uint64_t fk_get64(uint64_t va)
{
	uint64_t v;
	memcpy(&v, fk_host(va), 8);
	return v;
}

struct fk {
	struct vms_target *t;
	struct vms_kernel *k;
	uint64_t next_obj, next_mod, next_user;
	int flags;
	/* What the world holds, for the tests to check against. */
	uint64_t init_task, init, kthreadd, kworker, p42, t43, t44;
	uint64_t mm1, mm42, files1, alpha, beta, gamma, prb;
	uint64_t dentry_x, root_mnt, dev_mnt, data_mnt;
	uint64_t pipefs_dname, sockfs_dname, anon_dname, simple_dname;
	/* fk_net */
	uint64_t ehash, lhash2, udph, listener, est, tw, udp, nl;
};

static uint64_t fk_alloc(struct fk *f, size_t size, size_t align)
{
	f->next_obj = (f->next_obj + align - 1) & ~(uint64_t)(align - 1);
	uint64_t pa = f->next_obj;
	f->next_obj += size;
	if (f->next_obj > FK_OBJ_END)
		abort();
	memset(fk_ram + pa, 0, size);
	return FK_KBASE + pa;
}

static uint64_t fk_str(struct fk *f, const char *s)
{
	size_t n = strlen(s) + 1;
	uint64_t va = fk_alloc(f, n, 8);
	memcpy(fk_host(va), s, n);
	return va;
}

/* Member PATH of TYPE at the object OBJ := V (its size; a bitfield in place). */
static void fk_put(struct fk *f, uint64_t obj, const char *type, const char *path, uint64_t v)
{
	struct vms_btf_field m;
	if (vms_btf_field(f->k, type, path, &m))
		abort();
	uint8_t *p = fk_host(obj + m.offset);
	if (m.bit_size) {
		unsigned sh = m.bit_offset % 8;
		uint8_t mask = (uint8_t)(((1u << m.bit_size) - 1) << sh);
		*p = (uint8_t)((*p & ~mask) | ((v << sh) & mask));
		return;
	}
	memcpy(p, &v, m.size < 8 ? m.size : 8);
}

static void fk_put_str(struct fk *f, uint64_t obj, const char *type, const char *path, const char *s)
{
	uint64_t off, size;
	if (vms_btf_member(f->k, type, path, &off, &size) || strlen(s) >= size)
		abort();
	memcpy(fk_host(obj + off), s, strlen(s) + 1);
}

static uint64_t fk_off(struct fk *f, const char *type, const char *path)
{
	uint64_t off;
	if (vms_btf_member(f->k, type, path, &off, NULL))
		abort();
	return off;
}

static uint64_t fk_obj(struct fk *f, const char *type)
{
	uint64_t size;
	if (vms_btf_struct_size(f->k, type, &size))
		abort();
	return fk_alloc(f, size, 64);
}

/* list_head at NODE appended to the list at HEAD. */
static void fk_list_add(uint64_t head, uint64_t node)
{
	uint64_t last = fk_get64(head + 8);
	fk_put64(node, head);
	fk_put64(node + 8, last);
	fk_put64(last, node);
	fk_put64(head + 8, node);
}

static void fk_list_init(uint64_t head)
{
	fk_put64(head, head);
	fk_put64(head + 8, head);
}

static void fk_sym(struct fk *f, const char *name, uint64_t addr)
{
	symtab_add(&f->k->syms, addr, 'D', 0, name, strlen(name));
}

/* ---- the world ------------------------------------------------------------------ */

static uint64_t fk_task(struct fk *f, int pid, int tgid, const char *comm, uint64_t parent, uint32_t uid)
{
	uint64_t t = fk_obj(f, "task_struct"), c = fk_obj(f, "cred");
	fk_put(f, t, "task_struct", "pid", (uint64_t)pid);
	fk_put(f, t, "task_struct", "tgid", (uint64_t)tgid);
	fk_put_str(f, t, "task_struct", "comm", comm);
	fk_put(f, t, "task_struct", "real_parent", parent ? parent : t);
	fk_put(f, t, "task_struct", "group_leader", t);
	fk_put(f, t, "task_struct", "real_cred", c);
	fk_put(f, t, "task_struct", "start_boottime", 1000000000ull * (uint64_t)pid + 5);
	fk_put(f, t, "task_struct", "__state", 1); /* S */
	const char *ids[] = { "uid", "euid", "suid", "fsuid" };
	const char *gids[] = { "gid", "egid", "sgid", "fsgid" };
	for (int i = 0; i < 4; i++) {
		fk_put(f, c, "cred", ids[i], uid + (uint32_t)i);
		fk_put(f, c, "cred", gids[i], uid + 100 + (uint32_t)i);
	}
	uint64_t s = fk_obj(f, "signal_struct");
	fk_put(f, t, "task_struct", "signal", s);
	fk_put(f, s, "signal_struct", "nr_threads", 1);
	fk_list_init(s + fk_off(f, "signal_struct", "thread_head"));
	fk_list_add(s + fk_off(f, "signal_struct", "thread_head"), t + fk_off(f, "task_struct", "thread_node"));
	if (f->init_task)
		fk_list_add(f->init_task + fk_off(f, "task_struct", "tasks"), t + fk_off(f, "task_struct", "tasks"));
	return t;
}

static uint64_t fk_thread(struct fk *f, uint64_t leader, int tid, const char *comm)
{
	uint64_t t = fk_obj(f, "task_struct");
	memcpy(fk_host(t), fk_host(leader), 512);
	fk_put(f, t, "task_struct", "pid", (uint64_t)tid);
	fk_put_str(f, t, "task_struct", "comm", comm);
	fk_put(f, t, "task_struct", "group_leader", leader);
	uint64_t s = fk_get64(leader + fk_off(f, "task_struct", "signal"));
	fk_list_add(s + fk_off(f, "signal_struct", "thread_head"), t + fk_off(f, "task_struct", "thread_node"));
	uint64_t n = fk_get64(s + fk_off(f, "signal_struct", "nr_threads")) & 0xffffffff;
	fk_put(f, s, "signal_struct", "nr_threads", n + 1);
	return t;
}

/* A workqueue worker: kernel thread PID named COMM, in POOL (0: none),
 * with worker id ID, rescuing workqueue WQ (0: none), its latest work DESC
 * (running it if BUSY). Returns the task. */
static uint64_t fk_worker(struct fk *f, int pid, const char *comm, uint64_t pool, uint64_t wq, int id, const char *desc,
                          int busy)
{
	uint64_t t = fk_task(f, pid, pid, comm, f->kthreadd ? f->kthreadd : f->init_task, 0);
	fk_put(f, t, "task_struct", "flags", 0x00200000 | 0x20); /* PF_KTHREAD | PF_WQ_WORKER */
	fk_put(f, t, "task_struct", "__state", 0x402);           /* idle: I */
	uint64_t kt = fk_obj(f, "kthread"), wk = fk_obj(f, "worker");
	fk_put(f, kt, "kthread", "data", wk);
	fk_put(f, wk, "worker", "current_work", busy ? FK_KBASE + 0x20000 : 0);
	fk_put(f, wk, "worker", "pool", pool);
	fk_put_str(f, wk, "worker", "desc", desc);
	if (f->flags & FK_612) {
		fk_put(f, wk, "worker", "id", (uint64_t)id);
		fk_put(f, wk, "worker", "rescue_wq", wq);
	}
	fk_put(f, t, "task_struct", "worker_private", kt);
	return t;
}

/* A worker pool: bound to CPU (-1: unbound), id ID, workers of NICE. */
static uint64_t fk_pool(struct fk *f, int cpu, int id, int nice)
{
	uint64_t p = fk_obj(f, "worker_pool"), a = fk_obj(f, "workqueue_attrs");
	fk_put(f, p, "worker_pool", "cpu", (uint32_t)cpu);
	fk_put(f, p, "worker_pool", "id", (uint32_t)id);
	fk_put(f, p, "worker_pool", "attrs", a);
	fk_put(f, a, "workqueue_attrs", "nice", (uint32_t)nice);
	return p;
}

/* User memory (VA = PA) holding BYTES. */
static uint64_t fk_user(struct fk *f, const void *bytes, size_t len)
{
	uint64_t va = f->next_user;
	memcpy(fk_ram + va, bytes, len);
	f->next_user = (va + len + 15) & ~15ull;
	return va;
}

static uint64_t fk_mm(struct fk *f, const void *args, size_t len, int title)
{
	uint64_t mm = fk_obj(f, "mm_struct");
	uint64_t a = fk_user(f, args, len);
	fk_put(f, mm, "mm_struct", "pgd", FK_KBASE + FK_PML4);
	fk_put(f, mm, "mm_struct", "arg_start", a);
	fk_put(f, mm, "mm_struct", "arg_end", a + len);
	fk_put(f, mm, "mm_struct", "env_start", a + len);
	fk_put(f, mm, "mm_struct", "env_end", a + len + (title ? 16 : 0));
	fk_put(f, mm, "mm_struct", "start_brk", 0x600000);
	fk_put(f, mm, "mm_struct", "brk", 0x620000);
	fk_put(f, mm, "mm_struct", "start_stack", 0x7ff000100000ull);
	return mm;
}

static uint64_t fk_vma(struct fk *f, uint64_t mm, uint64_t start, uint64_t end, uint64_t flags, uint64_t file,
                       uint64_t pgoff)
{
	uint64_t v = fk_obj(f, "vm_area_struct");
	fk_put(f, v, "vm_area_struct", "vm_start", start);
	fk_put(f, v, "vm_area_struct", "vm_end", end);
	fk_put(f, v, "vm_area_struct", "vm_mm", mm);
	fk_put(f, v, "vm_area_struct", "vm_flags", flags);
	fk_put(f, v, "vm_area_struct", "vm_file", file);
	fk_put(f, v, "vm_area_struct", "vm_pgoff", pgoff);
	return v;
}

/* A maple node of TYPE (1 leaf, 3 arange) with N slots and their pivots
 * (the last slot's range ends at the node's max, so N-1 pivots matter). */
static uint64_t fk_maple_node(struct fk *f, unsigned type, const uint64_t *slot, const uint64_t *pivot, unsigned n)
{
	uint64_t node = fk_alloc(f, 256, 256);
	unsigned po = 8, so = type == 3 ? 80 : 128, mo = type == 3 ? 240 : 248;
	for (unsigned i = 0; i < n; i++) {
		fk_put64(node + so + 8 * i, slot[i]);
		if (i + 1 < n || type == 3)
			fk_put64(node + po + 8 * i, pivot[i]);
	}
	fk_host(node + mo)[0] = (uint8_t)(n - 1);
	return node | (uint64_t)type << 3 | 4;
}

/* One maple leaf over VMAs V[A..B), the range starting at AT: a slot per
 * VMA, an empty one before each gap, and (LAST) an empty one to the end of
 * the address space. Returns the encoded node. */
static uint64_t fk_maple_leaf(struct fk *f, const uint64_t *v, unsigned a, unsigned b, uint64_t at, int last)
{
	uint64_t slot[32], pivot[32];
	unsigned k = 0;
	for (unsigned i = a; i < b; i++) {
		uint64_t s = fk_get64(v[i]), e = fk_get64(v[i] + 8);
		if (s > at) {
			slot[k] = 0;
			pivot[k++] = s - 1;
		}
		slot[k] = v[i];
		pivot[k++] = e - 1;
		at = e;
	}
	if (last) {
		slot[k] = 0;
		pivot[k++] = ~0ull;
	}
	return fk_maple_node(f, 1, slot, pivot, k);
}

/* The VMAs of one process in a maple tree: a leaf, or (LEVELS 2) an
 * allocation-range root over two leaves. VMAs V[0..N) ascend. */
static void fk_maple(struct fk *f, uint64_t mm, const uint64_t *v, unsigned n, int levels)
{
	if (levels == 1) {
		uint64_t root = fk_maple_leaf(f, v, 0, n, 0, 1);
		fk_put(f, mm, "mm_struct", "mm_mt.ma_root", (root & ~7ull) | 2 | (1ull << 3));
		return;
	}
	/* Two leaves: VMAs [0, n/2) and [n/2, n), split after the first half. */
	uint64_t half_end = fk_get64(v[n / 2 - 1] + 8) - 1;
	uint64_t rs[2], rp[2] = { half_end, ~0ull };
	rs[0] = fk_maple_leaf(f, v, 0, n / 2, 0, 0);
	rs[1] = fk_maple_leaf(f, v, n / 2, n, half_end + 1, 1);
	uint64_t root = fk_maple_node(f, 3, rs, rp, 2);
	fk_put(f, mm, "mm_struct", "mm_mt.ma_root", (root & ~7ull) | 2);
}

static void fk_vma_list(struct fk *f, uint64_t mm, const uint64_t *v, unsigned n)
{
	fk_put(f, mm, "mm_struct", "mmap", v[0]);
	for (unsigned i = 0; i + 1 < n; i++)
		fk_put(f, v[i], "vm_area_struct", "vm_next", v[i + 1]);
}

static uint64_t fk_dentry(struct fk *f, uint64_t parent, const char *name, uint64_t inode, int hashed)
{
	uint64_t d = fk_obj(f, "dentry");
	fk_put(f, d, "dentry", "d_parent", parent ? parent : d);
	fk_put(f, d, "dentry", "d_name.len", strlen(name));
	fk_put(f, d, "dentry", "d_name.name", fk_str(f, name));
	fk_put(f, d, "dentry", "d_inode", inode);
	if (hashed)
		fk_put(f, d, "dentry", "d_hash.pprev", d); /* any non-NULL */
	return d;
}

static uint64_t fk_inode(struct fk *f, uint32_t mode, uint64_t ino, uint32_t dev)
{
	uint64_t i = fk_obj(f, "inode"), sb = fk_obj(f, "super_block");
	fk_put(f, i, "inode", "i_mode", mode);
	fk_put(f, i, "inode", "i_ino", ino);
	fk_put(f, i, "inode", "i_sb", sb);
	fk_put(f, sb, "super_block", "s_dev", dev);
	return i;
}

static uint64_t fk_mount(struct fk *f, uint64_t parent, uint64_t mountpoint, uint64_t root, int id)
{
	uint64_t m = fk_obj(f, "mount");
	fk_put(f, m, "mount", "mnt_parent", parent ? parent : m);
	fk_put(f, m, "mount", "mnt_mountpoint", mountpoint ? mountpoint : root);
	fk_put(f, m, "mount", "mnt.mnt_root", root);
	fk_put(f, m, "mount", "mnt_id", (uint64_t)id);
	return m + fk_off(f, "mount", "mnt"); /* the vfsmount */
}

static uint64_t fk_file(struct fk *f, uint64_t vfsmnt, uint64_t dentry, uint32_t flags, uint32_t fmode, uint64_t pos)
{
	uint64_t file = fk_obj(f, "file");
	fk_put(f, file, "file", "f_path.mnt", vfsmnt);
	fk_put(f, file, "file", "f_path.dentry", dentry);
	fk_put(f, file, "file", "f_inode", fk_get64(dentry + fk_off(f, "dentry", "d_inode")));
	fk_put(f, file, "file", "f_flags", flags);
	fk_put(f, file, "file", "f_mode", fmode);
	fk_put(f, file, "file", "f_pos", pos);
	return file;
}

static uint64_t fk_module(struct fk *f, const char *name, uint64_t base, uint32_t size)
{
	uint64_t m = FK_MODVA + f->next_mod;
	f->next_mod += 1024;
	memset(fk_host(m), 0, 512);
	fk_put_str(f, m, "module", "name", name);
	fk_put(f, m, "module", "mkobj.mod", m);
	if (f->flags & FK_612) {
		/* Text, data and rodata share the size; the init kinds are
		 * freed. Every base is set: only the sizes add up. */
		static const unsigned share[7] = { 2, 1, 1, 0, 0, 0, 0 };
		for (int i = 0; i < 7; i++) {
			char path[32];
			snprintf(path, sizeof(path), "mem[%d].base", i);
			fk_put(f, m, "module", path, base + (uint64_t)i * 0x10000);
			snprintf(path, sizeof(path), "mem[%d].size", i);
			fk_put(f, m, "module", path, size / 4 * share[i]);
		}
	} else {
		fk_put(f, m, "module", "core_layout.base", base);
		fk_put(f, m, "module", "core_layout.size", size);
		fk_put(f, m, "module", "init_layout.size", 0);
	}
	fk_put(f, m, "module", "refcnt", 1);
	fk_list_init(m + fk_off(f, "module", "source_list"));
	return m;
}

/* One printk record: id ID in a ring of 16 descriptors and 1 KiB of text,
 * its text at data position BEGIN (wrapping when it does not fit). */
static void fk_record(struct fk *f, uint64_t descs, uint64_t infos, uint64_t data, uint64_t id, uint64_t begin,
                      const char *text, int level)
{
	size_t tl = strlen(text);
	uint64_t need = (8 + tl + 7) & ~7ull, idx = id & 15, blk, next;
	if ((begin & 1023) + need > 1024) { /* wraps: the block goes at the ring's start */
		next = (begin | 1023) + 1 + need;
		blk = data;
	} else {
		next = begin + need;
		blk = data + (begin & 1023);
	}
	fk_put64(blk, id);
	memcpy(fk_host(blk + 8), text, tl);
	uint64_t d = descs + idx * 24, i = infos + idx * 88;
	fk_put(f, d, "prb_desc", "state_var", 2ull << 62 | id);
	fk_put(f, d, "prb_desc", "text_blk_lpos.begin", begin);
	fk_put(f, d, "prb_desc", "text_blk_lpos.next", next);
	fk_put(f, i, "printk_info", "seq", id - 100);
	fk_put(f, i, "printk_info", "ts_nsec", 1500000000ull * (id - 99));
	fk_put(f, i, "printk_info", "text_len", tl);
	fk_put(f, i, "printk_info", "level", (uint64_t)level);
	fk_put(f, i, "printk_info", "facility", 0);
}

/* Build it all: target, kernel, world. FLAGS: FK_VMA_LIST, FK_612. */
static struct fk *fk_build(int flags)
{
	struct fk *f = calloc(1, sizeof(*f));
	int list = flags & FK_VMA_LIST;
	f->flags = flags;
	if (!fk_ram)
		fk_ram = malloc(FK_RAM);
	memset(fk_ram, 0, FK_RAM);
	f->next_obj = FK_OBJ_PA;
	f->next_user = FK_USER_PA;
	f->next_mod = 0x1000;
	/* Page tables. */
	uint64_t P = 1, RW = 2, US = 4, PS = 0x80;
	memcpy(fk_ram + FK_PML4 + 8 * 273, &(uint64_t){ 0x2000 | P | RW }, 8);
	memcpy(fk_ram + 0x2000, &(uint64_t){ 0 | PS | P | RW }, 8);
	memcpy(fk_ram + FK_PML4, &(uint64_t){ 0x3000 | P | RW | US }, 8);
	memcpy(fk_ram + 0x3000, &(uint64_t){ 0 | PS | P | RW | US }, 8);
	memcpy(fk_ram + FK_PML4 + 8 * 511, &(uint64_t){ 0x4000 | P | RW }, 8);
	memcpy(fk_ram + 0x4000 + 8 * 511, &(uint64_t){ 0x5000 | P | RW }, 8);
	memcpy(fk_ram + 0x5000, &(uint64_t){ FK_MODPA | PS | P | RW }, 8);
	struct vms_source *s = calloc(1, sizeof(*s));
	s->ops = &fk_ops;
	source_add_range(s, 0, FK_RAM);
	if (fk_mapped)
		s->host[0] = fk_ram;
	f->t = calloc(1, sizeof(*f->t));
	f->t->src = s;
	vms_set_paging(f->t, VMS_PAGING_4LEVEL);
	struct vms_kernel *k = f->k = calloc(1, sizeof(*k));
	k->t = f->t;
	k->dtb = FK_PML4;
	k->paging = VMS_PAGING_4LEVEL;
	k->types_from = "btf";
	symtab_init(&k->syms);
	k->btf = fk_btf(flags); /* parsed already: vms_btf_field uses it as it is */

	/* Functions the pseudo file systems name their files with. */
	f->pipefs_dname = FK_KBASE + 0x10000;
	f->sockfs_dname = FK_KBASE + 0x10010;
	f->anon_dname = FK_KBASE + 0x10020;
	f->simple_dname = FK_KBASE + 0x10030;

	/* Tasks. */
	f->init_task = fk_task(f, 0, 0, "swapper/0", 0, 0);
	fk_list_init(f->init_task + fk_off(f, "task_struct", "tasks"));
	f->init = fk_task(f, 1, 1, "init", f->init_task, 0);
	f->kthreadd = fk_task(f, 2, 2, "kthreadd", f->init_task, 0);
	fk_put(f, f->kthreadd, "task_struct", "flags", 0x00200000);
	uint64_t kt = fk_obj(f, "kthread");
	fk_put(f, kt, "kthread", "full_name", fk_str(f, "kthreadd-with-a-long-name"));
	fk_put(f, f->kthreadd, "task_struct", "worker_private", kt);
	f->kworker = fk_worker(f, 7, "kworker/0:1", fk_pool(f, 0, 0, 0), 0, 1, "events", 1);
	f->p42 = fk_task(f, 42, 42, "worker-proc", f->init, 1000);
	f->t43 = fk_thread(f, f->p42, 43, "w1");
	f->t44 = fk_thread(f, f->p42, 44, "w2");
	static const char args1[] = "/sbin/init\0splash";
	f->mm1 = fk_mm(f, args1, sizeof(args1), 0);
	fk_put(f, f->init, "task_struct", "mm", f->mm1);
	/* pid 42 rewrote its arguments: no NUL at arg_end, the title runs on. */
	static const char args42[] = "title: busy\0rest";
	f->mm42 = fk_mm(f, args42, sizeof(args42) - 1, 1);
	fk_put(f, f->p42, "task_struct", "mm", f->mm42);
	fk_put(f, f->t43, "task_struct", "mm", f->mm42);
	fk_put(f, f->t44, "task_struct", "mm", f->mm42);
	fk_sym(f, "init_task", f->init_task);

	/* Mounts: / (id 1), /dev (id 24, devtmpfs), /data (id 27, deleted file). */
	uint64_t root = fk_dentry(f, 0, "/", fk_inode(f, 040755, 1, 2), 1);
	uint64_t dev = fk_dentry(f, root, "dev", fk_inode(f, 040755, 5, 2), 1);
	uint64_t data = fk_dentry(f, root, "data", fk_inode(f, 040755, 6, 2), 1);
	f->root_mnt = fk_mount(f, 0, 0, root, 1);
	uint64_t devroot = fk_dentry(f, 0, "/", fk_inode(f, 040755, 1, 5), 1);
	f->dev_mnt = fk_mount(f, f->root_mnt - fk_off(f, "mount", "mnt"), dev, devroot, 24);
	uint64_t dataroot = fk_dentry(f, 0, "/", fk_inode(f, 040755, 2, 254u << 20), 1);
	f->data_mnt = fk_mount(f, f->root_mnt - fk_off(f, "mount", "mnt"), data, dataroot, 27);
	uint64_t null = fk_dentry(f, devroot, "null", fk_inode(f, 020666, 4, 5), 1);
	uint64_t sub = fk_dentry(f, dataroot, "sub", fk_inode(f, 040755, 12, 254u << 20), 1);
	f->dentry_x = fk_dentry(f, sub, "x.txt", fk_inode(f, 0100644, 13, 254u << 20), 0);
	uint64_t bin = fk_dentry(f, root, "sbin", fk_inode(f, 040755, 7, 2), 1);
	uint64_t initbin = fk_dentry(f, bin, "init", fk_inode(f, 0100755, 8, 2), 1);
	/* A pipe: pipefs names it by its d_dname. */
	uint64_t pipeops = fk_obj(f, "dentry_operations");
	fk_put(f, pipeops, "dentry_operations", "d_dname", f->pipefs_dname);
	uint64_t pipe = fk_dentry(f, 0, "", fk_inode(f, 010600, 10575, 0xd), 0);
	fk_put(f, pipe, "dentry", "d_op", pipeops);
	uint64_t pipemnt = fk_mount(f, 0, 0, fk_dentry(f, 0, "pipe:", 0, 1), 14);
	fk_sym(f, "pipefs_dname", f->pipefs_dname);
	fk_sym(f, "sockfs_dname", f->sockfs_dname);
	fk_sym(f, "anon_inodefs_dname", f->anon_dname);
	fk_sym(f, "simple_dname", f->simple_dname);

	/* init's files: 0 /dev/null, 1 the pipe, 3 /data/sub/x.txt (deleted), close-on-exec. */
	f->files1 = fk_obj(f, "files_struct");
	uint64_t fdt = fk_obj(f, "fdtable"), fds = fk_alloc(f, 64 * 8, 8), cloexec = fk_alloc(f, 8, 8);
	fk_put(f, f->files1, "files_struct", "fdt", fdt);
	fk_put(f, fdt, "fdtable", "max_fds", 64);
	fk_put(f, fdt, "fdtable", "fd", fds);
	fk_put(f, fdt, "fdtable", "close_on_exec", cloexec);
	fk_put64(fds, fk_file(f, f->dev_mnt, null, 0100000, 1, 0));
	fk_put64(fds + 8, fk_file(f, pipemnt, pipe, 01, 2, 0));
	fk_put64(fds + 24, fk_file(f, f->data_mnt, f->dentry_x, 0100002, 3, 1234));
	fk_put64(cloexec, 1u << 3);
	fk_put(f, f->init, "task_struct", "files", f->files1);

	/* Memory maps: init's in one leaf; pid 42's in a two-level tree. */
	uint64_t binfile = fk_file(f, f->root_mnt, initbin, 0100000, 1, 0);
	uint64_t v1[3] = { fk_vma(f, f->mm1, 0x400000, 0x401000, 0x5, binfile, 0),
		           fk_vma(f, f->mm1, 0x600000, 0x621000, 0x3, 0, 0),
		           fk_vma(f, f->mm1, 0x7ff000000000ull, 0x7ff000121000ull, 0x3, 0, 0) };
	uint64_t v42[20];
	for (unsigned i = 0; i < 20; i++)
		v42[i] = fk_vma(f, f->mm42, 0x10000000ull + i * 0x10000, 0x10000000ull + (i + 1) * 0x10000,
		                i % 2 ? 0x1 : 0x8b, i % 3 ? 0 : binfile, i);
	if (list) {
		fk_vma_list(f, f->mm1, v1, 3);
		fk_vma_list(f, f->mm42, v42, 20);
	} else {
		fk_maple(f, f->mm1, v1, 3, 1);
		fk_maple(f, f->mm42, v42, 20, 2);
	}

	/* Modules: alpha and beta listed (beta used by alpha), gamma hidden. */
	uint64_t modules = fk_alloc(f, 16, 8);
	fk_list_init(modules);
	fk_sym(f, "modules", modules);
	f->alpha = fk_module(f, "alpha", FK_MODVA + 0x40000, 8192);
	f->beta = fk_module(f, "beta", FK_MODVA + 0x50000, 12288);
	f->gamma = fk_module(f, "gamma", FK_MODVA + 0x60000, 4096);
	fk_list_add(modules, f->alpha + fk_off(f, "module", "list"));
	fk_list_add(modules, f->beta + fk_off(f, "module", "list"));
	fk_put(f, f->gamma, "module", "taints", 1u << 12 | 1u << 13); /* (OE) */
	uint64_t use = fk_obj(f, "module_use");
	fk_put(f, use, "module_use", "source", f->alpha);
	fk_put(f, use, "module_use", "target", f->beta);
	fk_list_add(f->beta + fk_off(f, "module", "source_list"), use + fk_off(f, "module_use", "source_list"));
	fk_put(f, f->beta, "module", "refcnt", 2);

	/* printk: records 100..104, the last wrapping round the data ring. */
	f->prb = fk_obj(f, "printk_ringbuffer");
	uint64_t descs = fk_alloc(f, 16 * 24, 8), infos = fk_alloc(f, 16 * 88, 8), text = fk_alloc(f, 1024, 8);
	uint64_t prb = fk_alloc(f, 8, 8);
	fk_put64(prb, f->prb);
	fk_sym(f, "prb", prb);
	fk_put(f, f->prb, "printk_ringbuffer", "desc_ring.count_bits", 4);
	fk_put(f, f->prb, "printk_ringbuffer", "desc_ring.descs", descs);
	fk_put(f, f->prb, "printk_ringbuffer", "desc_ring.infos", infos);
	fk_put(f, f->prb, "printk_ringbuffer", "desc_ring.tail_id", 100);
	fk_put(f, f->prb, "printk_ringbuffer", "desc_ring.head_id", 104);
	fk_put(f, f->prb, "printk_ringbuffer", "text_data_ring.size_bits", 10);
	fk_put(f, f->prb, "printk_ringbuffer", "text_data_ring.data", text);
	fk_record(f, descs, infos, text, 100, 2048 + 600, "Linux version 6.1.0-fake", 5);
	fk_record(f, descs, infos, text, 101, 2048 + 640, "second line", 6);
	fk_record(f, descs, infos, text, 102, 2048 + 664, "multi\nline record", 4);
	fk_record(f, descs, infos, text, 103, 2048 + 696, "a long record to reach the end of the data ring", 6);
	fk_record(f, descs, infos, text, 104, 2048 + 1000, "wrapped round", 3);
	symtab_index(&k->syms);
	return f;
}

/* ---- sockets (fk_net) ------------------------------------------------------------ */

#define FK_SOCKET_FOPS (FK_KBASE + 0x10040)

/* A sock of FAMILY/TYPE/PROTO in STATE with its struct socket and inode INO
 * (0: a TIME_WAIT mini socket, no socket). */
static inline uint64_t fk_sock(struct fk *f, const char *type, int family, int stype, int proto, int state,
                               uint64_t ino)
{
	uint64_t sk = fk_obj(f, type);
	fk_put(f, sk, "sock", "__sk_common.skc_family", (uint64_t)family);
	fk_put(f, sk, "sock", "__sk_common.skc_state", (uint64_t)state);
	if (!ino)
		return sk;
	fk_put(f, sk, "sock", "sk_type", (uint64_t)stype);
	fk_put(f, sk, "sock", "sk_protocol", (uint64_t)proto);
	fk_put(f, sk, "sock", "sk_wmem_alloc", 1);
	uint64_t sa = fk_obj(f, "socket_alloc");
	fk_put(f, sa, "socket_alloc", "vfs_inode.i_ino", ino);
	fk_put(f, sa, "socket_alloc", "vfs_inode.i_mode", 0140777);
	fk_put(f, sa, "socket", "sk", sk);
	fk_put(f, sk, "sock", "sk_socket", sa);
	return sk;
}

/* An open file for SK's socket at fd FD of the table FDS. */
static inline void fk_sock_fd(struct fk *f, uint64_t fds, int fd, uint64_t sk)
{
	uint64_t sa = fk_get64(sk + fk_off(f, "sock", "sk_socket"));
	uint64_t file = fk_get64(sa + fk_off(f, "socket", "file")); /* shared by dup and fork */
	if (file) {
		fk_put64(fds + 8 * (uint64_t)fd, file);
		return;
	}
	file = fk_obj(f, "file");
	fk_put(f, file, "file", "f_op", FK_SOCKET_FOPS);
	fk_put(f, file, "file", "private_data", sa);
	fk_put(f, file, "file", "f_inode", sa + fk_off(f, "socket_alloc", "vfs_inode"));
	fk_put(f, sa, "socket", "file", file);
	fk_put64(fds + 8 * (uint64_t)fd, file);
}

/* SK's skc_node at the head of the chain at HEAD (a nulls end: NULLS). */
static inline void fk_hash_add(struct fk *f, uint64_t head, uint64_t sk)
{
	uint64_t node = sk + fk_off(f, "sock", "__sk_common.skc_node");
	uint64_t first = fk_get64(head);
	fk_put64(node, first);
	fk_put64(node + 8, head);
	if (first && !(first & 1))
		fk_put64(first + 8, node);
	fk_put64(head, node);
}

/* Sockets: TCP's hashes (8 established buckets, 4 listening) and UDP's (4).
 * A listener 0.0.0.0:80 (init fd 5); [::1]:4000 -> [::1]:80 established,
 * held by init fd 6 and pid 42 fd 3, and a TIME_WAIT 127.0.0.1:80 ->
 * 127.0.0.1:5555 after it in ehash bucket 3; a UDP socket on port 53 no
 * one holds; a netlink socket pid 42 holds at fd 4, in no table. */
static inline void fk_net(struct fk *f)
{
	fk_sym(f, "socket_file_ops", FK_SOCKET_FOPS);
	uint64_t hi = fk_obj(f, "inet_hashinfo"), ut = fk_obj(f, "udp_table");
	fk_sym(f, "tcp_hashinfo", hi);
	fk_sym(f, "udp_table", ut);
	symtab_index(&f->k->syms);
	f->ehash = fk_alloc(f, 8 * 8, 8);
	f->lhash2 = fk_alloc(f, 4 * 16, 8);
	f->udph = fk_alloc(f, 4 * 16, 8);
	for (uint64_t i = 0; i < 8; i++)
		fk_put64(f->ehash + 8 * i, i << 1 | 1);
	for (uint64_t i = 0; i < 4; i++)
		fk_put64(f->lhash2 + 16 * i + 8, (i + (1u << 29)) << 1 | 1);
	fk_put(f, hi, "inet_hashinfo", "ehash", f->ehash);
	fk_put(f, hi, "inet_hashinfo", "ehash_mask", 7);
	fk_put(f, hi, "inet_hashinfo", "lhash2", f->lhash2);
	fk_put(f, hi, "inet_hashinfo", "lhash2_mask", 3);
	fk_put(f, ut, "udp_table", "hash", f->udph);
	fk_put(f, ut, "udp_table", "mask", 3);

	f->listener = fk_sock(f, "tcp_sock", 2, 1, 6, 10, 9001);
	fk_put(f, f->listener, "sock", "__sk_common.skc_num", 80);
	fk_put(f, f->listener, "sock", "sk_ack_backlog", 2);
	fk_hash_add(f, f->lhash2 + 16 + 8, f->listener);

	f->est = fk_sock(f, "tcp_sock", 10, 1, 6, 1, 9002);
	fk_put(f, f->est, "sock", "__sk_common.skc_num", 4000);
	fk_put(f, f->est, "sock", "__sk_common.skc_dport", 80 << 8); /* network order */
	fk_host(f->est + fk_off(f, "sock", "__sk_common.skc_v6_daddr"))[15] = 1;
	fk_host(f->est + fk_off(f, "sock", "__sk_common.skc_v6_rcv_saddr"))[15] = 1;
	fk_put(f, f->est, "tcp_sock", "rcv_nxt", 1010);
	fk_put(f, f->est, "tcp_sock", "copied_seq", 1000);
	fk_put(f, f->est, "tcp_sock", "write_seq", 5007);
	fk_put(f, f->est, "tcp_sock", "snd_una", 5000);
	f->tw = fk_sock(f, "inet_timewait_sock", 2, 0, 0, 6, 0);
	fk_put(f, f->tw, "inet_timewait_sock", "tw_substate", 6);
	fk_put(f, f->tw, "sock", "__sk_common.skc_num", 80);
	fk_put(f, f->tw, "sock", "__sk_common.skc_dport", 0xb315); /* 5555 */
	fk_put(f, f->tw, "sock", "__sk_common.skc_rcv_saddr", 0x0100007f);
	fk_put(f, f->tw, "sock", "__sk_common.skc_daddr", 0x0100007f);
	fk_hash_add(f, f->ehash + 8 * 3, f->tw);
	fk_hash_add(f, f->ehash + 8 * 3, f->est); /* est first, then tw */

	f->udp = fk_sock(f, "sock", 2, 2, 17, 7, 9003);
	fk_put(f, f->udp, "sock", "__sk_common.skc_num", 53);
	fk_hash_add(f, f->udph + 16 * 1, f->udp);
	f->nl = fk_sock(f, "sock", 16, 3, 0, 7, 9004);

	/* init's descriptors 5 and 6 (its table has 64 slots). */
	uint64_t fdt1 = fk_get64(f->files1 + fk_off(f, "files_struct", "fdt"));
	uint64_t fds1 = fk_get64(fdt1 + fk_off(f, "fdtable", "fd"));
	fk_sock_fd(f, fds1, 5, f->listener);
	fk_sock_fd(f, fds1, 6, f->est);
	/* pid 42's table: 3 the established socket, 4 the netlink one. */
	uint64_t files = fk_obj(f, "files_struct"), fdt = fk_obj(f, "fdtable"), fds = fk_alloc(f, 8 * 8, 8);
	fk_put(f, files, "files_struct", "fdt", fdt);
	fk_put(f, fdt, "fdtable", "max_fds", 8);
	fk_put(f, fdt, "fdtable", "fd", fds);
	fk_put(f, fdt, "fdtable", "close_on_exec", fk_alloc(f, 8, 8));
	fk_put(f, f->p42, "task_struct", "files", files);
	fk_sock_fd(f, fds, 3, f->est);
	fk_sock_fd(f, fds, 4, f->nl);
}

/* ---- fuzz input as patches (fuzz_views, fuzz_check) ---------------------------- */

#define FK_MOD_PATCH 0x10000u /* the part of the module area inputs may patch */

/* The fake kernel's objects and module area as fk_build left them, put
 * back before each input. */
struct fk_clean {
	uint8_t *bytes;
	size_t obj_len; /* from FK_OBJ_PA to the last object; FK_MOD_PATCH bytes of modules follow */
};

static inline void fk_clean_take(struct fk *f, struct fk_clean *c)
{
	c->obj_len = f->next_obj - FK_OBJ_PA;
	c->bytes = malloc(c->obj_len + FK_MOD_PATCH);
	memcpy(c->bytes, fk_ram + FK_OBJ_PA, c->obj_len);
	memcpy(c->bytes + c->obj_len, fk_ram + FK_MODPA, FK_MOD_PATCH);
}

static inline void fk_clean_put(const struct fk_clean *c)
{
	memcpy(fk_ram + FK_OBJ_PA, c->bytes, c->obj_len);
	memcpy(fk_ram + FK_MODPA, c->bytes + c->obj_len, FK_MOD_PATCH);
}

/* DATA as patches over the clean objects and modules: records of a 4-byte
 * offset (taken modulo their size), a length byte and that many bytes. */
static inline void fk_patch(const struct fk_clean *c, const uint8_t *data, size_t size)
{
	size_t i = 0;
	while (i + 5 <= size) {
		uint32_t off;
		memcpy(&off, data + i, 4);
		size_t len = data[i + 4];
		i += 5;
		if (len > size - i)
			len = size - i;
		off %= (uint32_t)(c->obj_len + FK_MOD_PATCH);
		for (size_t j = 0; j < len; j++, off++) {
			if (off < c->obj_len)
				fk_ram[FK_OBJ_PA + off] = data[i + j];
			else if (off < c->obj_len + FK_MOD_PATCH)
				fk_ram[FK_MODPA + (off - c->obj_len)] = data[i + j];
		}
		i += len;
	}
}

static void fk_free(struct fk *f)
{
	vms_kernel_close(f->k);
	vms_close(f->t);
	free(f);
}

#endif
