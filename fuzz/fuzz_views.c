/* libFuzzer target: the Linux views over a hostile kernel.
 *
 * The fake kernel of tests/unit/fake_kernel.h (tasks, threads, files and
 * mounts, maple trees, modules, a printk ring, socket tables) is built once; each input
 * then overwrites parts of its objects before every view runs over them.
 * Input: one byte of options (threads, module scan, which process's maps,
 * sockets of one process or all, listening ones only),
 * then patches, each a little-endian u32 offset into the kernel's objects
 * and module memory, a length byte and that many bytes. Besides "no crash,
 * no sanitizer report, no hang", the entries must keep their promises
 * (strings terminated and bounded), and a run must stay within a memory
 * bound (run it with -malloc_limit_mb=64: views allocate only fixed-size
 * buffers, whatever the guest claims).
 */
#include <stdio.h>

#include "../tests/unit/fake_kernel.h"

static struct fk *world;
static struct fk_clean clean;

static int on_task(void *ctx, const struct vms_task *t)
{
	(void)ctx;
	if (!memchr(t->comm, 0, sizeof(t->comm)) || !memchr(t->name, 0, sizeof(t->name)) || !t->cmdline ||
	    t->cmdline_len > (1u << 20))
		__builtin_trap();
	return 0;
}

static int on_module(void *ctx, const struct vms_module *m)
{
	(void)ctx;
	if (!m->name || !m->taint || !m->used_by || !m->state_name || strlen(m->used_by) >= 512 ||
	    strlen(m->name) >= 256)
		__builtin_trap();
	return 0;
}

static int on_file(void *ctx, const struct vms_file *f)
{
	(void)ctx;
	if (!f->path || !f->type || strlen(f->path) >= 4096 || !memchr(f->comm, 0, sizeof(f->comm)))
		__builtin_trap();
	return 0;
}

static int on_vma(void *ctx, const struct vms_vma *v)
{
	(void)ctx;
	if (!v->path || strlen(v->perms) != 4 || strlen(v->path) >= 4096)
		__builtin_trap();
	return 0;
}

static int on_socket(void *ctx, const struct vms_socket *s)
{
	(void)ctx;
	if (!s->proto || !s->state_name || !s->path || strlen(s->path) > 108 || !memchr(s->comm, 0, sizeof(s->comm)))
		__builtin_trap();
	return 0;
}

static int on_log(void *ctx, const struct vms_log_record *r)
{
	(void)ctx;
	if (!r->text || r->text_len > 65536 || r->text[r->text_len] != '\0')
		__builtin_trap();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!world) {
		world = fk_build(0);
		fk_net(world);
		fk_clean_take(world, &clean);
	}
	fk_clean_put(&clean);
	if (size < 1)
		return 0;
	uint8_t opt = data[0];
	fk_patch(&clean, data + 1, size - 1);
	struct vms_tasks_opts to = { .sz = sizeof(to), .threads = opt & 1, .pid = opt & 2 ? 42 : 0 };
	struct vms_modules_opts mo = { .sz = sizeof(mo), .scan = (opt & 4) != 0 };
	struct vms_files_opts fo = { .sz = sizeof(fo), .pid = opt & 8 ? 1 : 0 };
	vms_tasks(world->k, &to, on_task, NULL);
	vms_modules(world->k, &mo, on_module, NULL);
	vms_files(world->k, &fo, on_file, NULL);
	vms_maps(world->k, opt & 16 ? 42 : 1, NULL, on_vma, NULL);
	vms_dmesg(world->k, NULL, on_log, NULL);
	struct vms_sockets_opts so = { .sz = sizeof(so), .pid = opt & 32 ? 42 : 0, .listening = (opt & 64) != 0 };
	vms_sockets(world->k, &so, on_socket, NULL);
	return 0;
}
