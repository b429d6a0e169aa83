/*
 * What the integrity checks (check*.c, vms_check) share: one run's state,
 * the kernel's landmarks (its text, its entry text), who owns an address
 * (the kernel, a module — listed or hidden —, module memory no module
 * owns), naming an address by its symbol, reporting a finding, and the
 * xarray walk the PID table and the BPF program table both need.
 *
 * The checks read guest memory like the views do (views.h): every pointer
 * checked before it is followed, every count clamped, every walk bounded.
 */
#ifndef VMS_LINUX_CHECK_H
#define VMS_LINUX_CHECK_H

#include "views.h"

/* x86-64's module mapping area (MODULES_VADDR .. MODULES_END). */
#define CK_MODULES_VADDR 0xffffffffc0000000ull
#define CK_MODULES_END 0xffffffffff000000ull
#define CK_MODULES_MAX 4096u

/* A piece of memory someone owns: a module's, a BPF program's image, an
 * ftrace trampoline. [start, end). */
struct ck_region {
	uint64_t start, end;
	int32_t module;   /* index into mods, or -1 */
	const char *what; /* for memory that is not a module's */
};

struct ck_module {
	uint64_t addr;
	char name[64];
	int hidden;
};

struct check_run {
	struct lx_walk w;
	vms_finding_fn fn;
	void *ctx;
	int stop; /* FN's non-zero value: stop everything */
	unsigned findings;

	/* the check running */
	const char *check;
	unsigned checked, found;
	char what[256];

	/* the kernel's landmarks */
	uint64_t stext, etext, entry_start, entry_end, sinittext, einittext;
	int sorted; /* the symbol table is in address order (bsearch by address) */

	/* who owns module memory, read on first need */
	int owners_read, owners_rc;
	struct ck_module *mods;
	size_t nmods, capmods;
	struct ck_region *regions;
	size_t nregions, capregions;

	/* addresses of functions already reported as hooked (no twice) */
	uint64_t hooked[64];
	unsigned nhooked;

	char sym[192], owner[112], detail[384];
};

/* Brent's cycle detection for singly linked lists (ftrace_ops, kprobes,
 * notifiers, ftrace pages): one saved node compared per step. */
struct ck_cycle {
	uint64_t mark, power, lam;
};
static inline void ck_cycle_init(struct ck_cycle *y, uint64_t start)
{
	y->mark = start;
	y->power = 1;
	y->lam = 0;
}
/* 1 if NEXT closes a cycle. */
static inline int ck_cycle_step(struct ck_cycle *y, uint64_t next)
{
	if (next == y->mark)
		return 1;
	if (++y->lam == y->power) {
		y->mark = next;
		y->power *= 2;
		y->lam = 0;
	}
	return 0;
}

/* A symbol's address: 0, or -ENOENT. */
int ck_sym(struct check_run *c, const char *name, uint64_t *addr);
/* The kernel symbol containing VA: its name and start (and the next
 * symbol's start in *NEXT when asked); NULL if VA is below every symbol or
 * outside the kernel image. */
const char *ck_sym_at(struct check_run *c, uint64_t va, uint64_t *start, uint64_t *next);
/* 1 if a symbol starting at VA (any of its aliases) satisfies PRED. */
int ck_sym_named(struct check_run *c, uint64_t va, int (*pred)(const char *name, int arg), int arg);
/* VA in the kernel's text (_stext.._etext, or the init text). */
int ck_in_text(const struct check_run *c, uint64_t va);
/* "name+0xOFF" into BUF ("" if no symbol). */
const char *ck_symbolize(struct check_run *c, uint64_t va, char *buf, size_t len);
/* The owner of VA into BUF, with the module index in *MOD (-1 if none):
 * "kernel", a module's name ("NAME (hidden)"), what owns other module
 * memory, "module memory no module owns", or "unknown". */
const char *ck_owner(struct check_run *c, uint64_t va, char *buf, size_t len, int *mod);
/* Read the modules (the list and a scan of module memory) and what they
 * own, once. 0 or -errno. */
int ck_owners(struct check_run *c);
/* Add a region (memory owned by something other than a module). */
int ck_region_add(struct check_run *c, uint64_t start, uint64_t end, int32_t module, const char *what);

/* Report a finding: STATUS of entry NR (-1 none) of TABLE, named NAME, at
 * ADDR, pointing at TARGET (symbol and owner found here unless OWNER is
 * given); the detail as printf. Returns FN's non-zero value, else 0. */
int ck_report(struct check_run *c, const char *status, const char *table, int64_t nr, const char *name, uint64_t addr,
              uint64_t target, const char *owner, const char *fmt, ...) __attribute__((format(printf, 9, 10)));

/* Each entry of the xarray (or IDR radix tree) whose xa_head is at HEAD:
 * FN(ctx, index, entry) for each non-NULL plain entry, in index order;
 * non-zero stops. Nodes are checked (kernel pointers, each node's shift
 * six below its parent's, its parent pointer back), at most MAX entries
 * and 1 Mi nodes. 0, FN's value, or -errno. */
int ck_xa_walk(struct check_run *c, uint64_t head, unsigned max, int (*fn)(void *ctx, uint64_t index, uint64_t entry),
               void *ctx);

/* The trampolines of registered ftrace_ops as regions (check_code.c). */
int ops_regions(struct check_run *c);

/* The checks (check_*.c): 0, FN's value, or -errno with the text set. */
int check_syscalls(struct check_run *c);
int check_idt(struct check_run *c);
int check_modules(struct check_run *c);
int check_tasks(struct check_run *c);
int check_hooks(struct check_run *c);
int check_ftrace(struct check_run *c);
int check_kprobes(struct check_run *c);
int check_bpf(struct check_run *c);
int check_notifiers(struct check_run *c);
int check_net(struct check_run *c);

#endif
