/*
 * The checks of code and of the tables that point into it: the system-call
 * tables (and x64_sys_call's direct calls), the IDT, ftrace's call sites
 * and every kernel function's first instruction, and the registrations
 * that legitimately redirect code: ftrace_ops and kprobes.
 *
 * A hook must put a pointer or a jump somewhere; the checks read each
 * place where the kernel keeps one and judge it by where it points. What
 * each can and cannot see is in docs/check.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define SYSCALLS_MAX 1024u
#define SYSCALL_CODE_MAX (64u << 10)
#define FTRACE_PAGES_MAX (1u << 16)
#define FTRACE_RECS_MAX (1u << 17) /* records of one page */
#define OPS_MAX 1024u
#define KPROBES_MAX 4096u

static const uint8_t NOP5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const uint8_t ENDBR64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

static int32_t rel32(const uint8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* The names the kernel's own system-call functions have in a table. */
static int syscall_fn_ok(const char *name, int compat)
{
	if (!strcmp(name, "sys_ni_syscall"))
		return 1;
	if (compat)
		return has_prefix(name, "__ia32_sys_") || has_prefix(name, "__ia32_compat_sys_") ||
		       has_prefix(name, "compat_sys_") || has_prefix(name, "sys_");
	return has_prefix(name, "__x64_sys_") || has_prefix(name, "sys_") || has_prefix(name, "stub_") ||
	       has_prefix(name, "ptregs_");
}

/* The executable mapping of VA in the kernel's address space. */
static int executable(struct check_run *c, uint64_t va)
{
	struct vms_translation tr;
	return vms_translate(c->w.t, c->w.dtb, va, &tr) == 0 && !(tr.prot & VMS_PAGE_NX);
}

/* ---- system calls ------------------------------------------------------------- */

/* syscalls_metadata[NR]->name ("sys_read"): the kernel's own name for each
 * 64-bit system call (CONFIG_FTRACE_SYSCALLS), set at boot. */
static int syscall_name(struct check_run *c, uint64_t meta, unsigned nr, unsigned n, char *buf, size_t len)
{
	uint64_t m, name;
	buf[0] = '\0';
	if (!meta || nr >= n || !c->w.lay->sysmeta_name.size || lx_read_u64(&c->w, meta + 8ull * nr, &m) ||
	    !lx_kptr(&c->w, m, 8) || lx_read_u64(&c->w, m + c->w.lay->sysmeta_name.off, &name) ||
	    lx_read_str(&c->w, name, buf, len) < 0)
		return -ENOENT;
	if (has_prefix(buf, "sys_"))
		memmove(buf, buf + 4, strlen(buf + 4) + 1);
	return 0;
}

static int one_table(struct check_run *c, const char *table, int compat)
{
	uint64_t va, next, meta = 0;
	const char *sym;
	if (ck_sym(c, table, &va))
		return 0; /* no such table (no IA32 emulation) */
	if (!(sym = ck_sym_at(c, va, NULL, &next)) || next <= va)
		next = va + 8 * 512;
	unsigned n = (unsigned)((next - va) / 8);
	if (n > SYSCALLS_MAX)
		n = SYSCALLS_MAX;
	uint64_t *e = calloc(n, 8);
	if (!e)
		return lx_fail(&c->w, ENOMEM, "out of memory");
	int rc = lx_read(&c->w, va, e, 8ull * n);
	if (rc) {
		free(e);
		return lx_fail(&c->w, EIO, "%s at 0x%llx is unreadable", table, (unsigned long long)va);
	}
	while (n && !e[n - 1]) /* alignment after the table */
		n--;
	if (!compat && ck_sym(c, "syscalls_metadata", &meta) == 0 && lx_read_u64(&c->w, meta, &meta))
		meta = 0;
	char name[64], got[160];
	for (unsigned nr = 0; nr < n && !c->stop; nr++) {
		uint64_t target = e[nr];
		c->checked++;
		if (ck_in_text(c, target) && ck_sym_named(c, target, syscall_fn_ok, compat))
			continue;
		if (compat || syscall_name(c, meta, nr, SYSCALLS_MAX, name, sizeof(name)))
			name[0] = '\0';
		ck_symbolize(c, target, got, sizeof(got));
		char what[96];
		snprintf(what, sizeof(what), name[0] ? " (%s)" : "%s", name);
		ck_report(c, "hooked", table, nr, name, va + 8ull * nr, target, NULL,
		          "%s[%u]%s points to 0x%llx%s%s, not to a kernel system-call function", table, nr, what,
		          (unsigned long long)target, got[0] ? " " : "", got);
	}
	free(e);
	snprintf(c->what + strlen(c->what), sizeof(c->what) - strlen(c->what), "%s%s (%u entries)",
	         c->what[0] ? ", " : "", table, n);
	return 0;
}

/* From 6.9 (and 6.1.85, 6.6.26 stable) system calls are dispatched by a
 * switch in x64_sys_call (ia32_sys_call, x32_sys_call), not through the
 * table: check the direct calls and jumps in that code. Every rel32
 * call or jump whose target is the start of a system-call function is
 * counted; one that leaves the kernel's text for executable memory is a
 * hook. (Bytes are not decoded into instructions: an e8/e9 byte inside
 * another instruction makes a false target, which is almost never an
 * executable address outside the kernel.) */
static int dispatch_code(struct check_run *c, const char *fn, int compat)
{
	uint64_t va, next;
	if (ck_sym(c, fn, &va) || !ck_sym_at(c, va, NULL, &next) || next <= va)
		return 0;
	size_t len = next - va > SYSCALL_CODE_MAX ? SYSCALL_CODE_MAX : (size_t)(next - va);
	uint8_t *b = malloc(len + 5);
	if (!b)
		return lx_fail(&c->w, ENOMEM, "out of memory");
	if (lx_read(&c->w, va, b, len + 5)) {
		free(b);
		return lx_fail(&c->w, EIO, "%s at 0x%llx is unreadable", fn, (unsigned long long)va);
	}
	unsigned direct = 0;
	for (size_t i = 0; i < len && !c->stop; i++) {
		if (b[i] != 0xe8 && b[i] != 0xe9)
			continue;
		uint64_t target = va + i + 5 + (int64_t)rel32(b + i + 1);
		if (ck_in_text(c, target) && ck_sym_named(c, target, syscall_fn_ok, compat)) {
			direct++;
			i += 4;
			continue;
		}
		if (ck_in_text(c, target) || !executable(c, target))
			continue;
		c->checked++;
		ck_report(c, "hooked", fn, -1, "", va + i, target, NULL,
		          "%s+0x%zx: a %s to 0x%llx, outside the kernel's text", fn, i, b[i] == 0xe8 ? "call" : "jmp",
		          (unsigned long long)target);
		i += 4;
	}
	free(b);
	c->checked += direct;
	snprintf(c->what + strlen(c->what), sizeof(c->what) - strlen(c->what), "%s%s (%u direct calls)",
	         c->what[0] ? ", " : "", fn, direct);
	return 0;
}

int check_syscalls(struct check_run *c)
{
	int rc;
	if ((rc = one_table(c, "sys_call_table", 0)) || (rc = one_table(c, "ia32_sys_call_table", 1)) ||
	    (rc = dispatch_code(c, "x64_sys_call", 0)) || (rc = dispatch_code(c, "ia32_sys_call", 1)))
		return rc;
	if (!c->checked)
		return lx_fail(&c->w, ENOENT, "the kernel has no sys_call_table");
	return 0;
}

/* ---- IDT ---------------------------------------------------------------------- */

#define CEA_RO_IDT 0xfffffe0000000000ull /* CPU_ENTRY_AREA_RO_IDT */

int check_idt(struct check_run *c)
{
	uint64_t idt;
	uint8_t g[256 * 16];
	if (ck_sym(c, "idt_table", &idt))
		return lx_fail(&c->w, ENOENT, "the kernel has no idt_table");
	if (!c->entry_end)
		return lx_fail(&c->w, ENOENT, "the kernel has no __entry_text_start/__entry_text_end");
	if (lx_read(&c->w, idt, g, sizeof(g)))
		return lx_fail(&c->w, EIO, "idt_table at 0x%llx is unreadable", (unsigned long long)idt);
	/* Vectors Linux never sets up (reserved, or machine check without MCE)
	 * keep the boot's early handlers (head_64.S, not entry text). */
	uint64_t early = 0, early_end = 0;
	if (ck_sym(c, "early_idt_handler_array", &early) == 0 && !ck_sym_at(c, early, NULL, &early_end))
		early = early_end = 0;
	for (unsigned v = 0; v < 256 && !c->stop; v++) {
		const uint8_t *d = g + 16 * v;
		if (!(d[5] & 0x80))
			continue; /* not present */
		uint64_t h =
		        (uint64_t)(d[0] | d[1] << 8) | (uint64_t)(d[6] | d[7] << 8) << 16 |
		        (uint64_t)((uint32_t)d[8] | (uint32_t)d[9] << 8 | (uint32_t)d[10] << 16 | (uint32_t)d[11] << 24)
		                << 32;
		c->checked++;
		if ((h >= c->entry_start && h < c->entry_end) || (h >= early && h < early_end))
			continue;
		char sym[160];
		ck_symbolize(c, h, sym, sizeof(sym));
		ck_report(c, ck_in_text(c, h) ? "outside-entry-text" : "hooked", "idt_table", v, sym, idt + 16 * v, h,
		          NULL, "vector %u: handler 0x%llx%s%s is outside the kernel's entry text", v,
		          (unsigned long long)h, sym[0] ? " " : "", sym);
	}
	/* Every CPU loads the read-only alias of idt_table in the CPU entry
	 * area (idt_descr says where): it must map idt_table's own page. */
	uint64_t descr, base = 0;
	uint8_t dp[10];
	if (ck_sym(c, "idt_descr", &descr) == 0 && lx_read(&c->w, descr, dp, sizeof(dp)) == 0) {
		memcpy(&base, dp + 2, 8);
		struct vms_translation a, b;
		c->checked++;
		if (base != idt && (vms_translate(c->w.t, c->w.dtb, base, &a) ||
		                    vms_translate(c->w.t, c->w.dtb, idt, &b) || a.pa != b.pa))
			ck_report(c, "remapped", "idt_descr", -1, "", descr, base, NULL,
			          "the IDT every CPU loads (0x%llx) is not idt_table (0x%llx)",
			          (unsigned long long)base, (unsigned long long)idt);
	}
	snprintf(c->what, sizeof(c->what), "idt_table (256 vectors) and the IDT address the CPUs load (0x%llx)",
	         (unsigned long long)(base ? base : CEA_RO_IDT));
	return 0;
}

/* ---- ftrace_ops --------------------------------------------------------------- */

/* Walk ftrace_ops_list: with REPORT, each ops is a finding; always, its
 * trampoline becomes a region (executable module memory ftrace owns). */
static int ops_walk(struct check_run *c, int report)
{
	const struct lx_layout *L = c->w.lay;
	uint64_t head, end, p;
	if (ck_sym(c, "ftrace_ops_list", &head) || ck_sym(c, "ftrace_list_end", &end))
		return report ? lx_fail(&c->w, ENOENT, "the kernel has no ftrace_ops_list") : 0;
	if (!L->fops_next.size || !L->fops_func.size)
		return report ? lx_fail(&c->w, ENOTSUP, "the kernel's types have no ftrace_ops.func/next") : 0;
	if (lx_read_u64(&c->w, head, &p))
		return lx_fail(&c->w, EIO, "ftrace_ops_list is unreadable");
	struct ck_cycle cy;
	ck_cycle_init(&cy, p);
	for (unsigned n = 0; p != end; n++) {
		uint64_t func = 0, next = 0, flags = 0, tramp = 0, tsize = 0;
		if (n >= OPS_MAX)
			return lx_fail(&c->w, E2BIG, "ftrace_ops_list: more than %u entries (a cycle?)", OPS_MAX);
		if (!lx_kptr(&c->w, p, 8) || lx_read_u64(&c->w, p + L->fops_func.off, &func) ||
		    lx_read_u64(&c->w, p + L->fops_next.off, &next))
			return lx_fail(&c->w, EIO, "ftrace_ops_list: entry 0x%llx is unreadable",
			               (unsigned long long)p);
		if (L->fops_flags.size >= 4)
			lx_read(&c->w, p + L->fops_flags.off, &flags, 4);
		if (L->fops_tramp.size == 8)
			lx_read_u64(&c->w, p + L->fops_tramp.off, &tramp);
		if (L->fops_tramp_size.size)
			lx_read(&c->w, p + L->fops_tramp_size.off, &tsize,
			        L->fops_tramp_size.size > 8 ? 8 : L->fops_tramp_size.size);
		if (tramp && tsize && tsize < (1u << 20) &&
		    ck_region_add(c, tramp, tramp + tsize, -1, "ftrace trampoline"))
			return lx_fail(&c->w, ENOMEM, "out of memory");
		if (report) {
			char sym[160];
			c->checked++;
			ck_symbolize(c, func, sym, sizeof(sym));
			if (ck_report(c, "registered", "ftrace_ops_list", -1, sym, p, func, NULL,
			              "ftrace_ops 0x%llx calls 0x%llx%s%s (flags 0x%llx, trampoline 0x%llx)",
			              (unsigned long long)p, (unsigned long long)func, sym[0] ? " " : "", sym,
			              (unsigned long long)flags, (unsigned long long)tramp))
				return 0;
		}
		if (next != end && ck_cycle_step(&cy, next))
			return lx_fail(&c->w, ELOOP, "ftrace_ops_list: a cycle through 0x%llx",
			               (unsigned long long)next);
		p = next;
	}
	return 0;
}

int ops_regions(struct check_run *c)
{
	return ops_walk(c, 0);
}

int check_ftrace(struct check_run *c)
{
	int rc = ops_walk(c, 1);
	snprintf(c->what, sizeof(c->what), "ftrace_ops_list");
	return rc;
}

/* ---- kprobes ------------------------------------------------------------------ */

int check_kprobes(struct check_run *c)
{
	const struct lx_layout *L = c->w.lay;
	uint64_t table;
	if (ck_sym(c, "kprobe_table", &table))
		return lx_fail(&c->w, ENOENT, "the kernel has no kprobe_table (CONFIG_KPROBES off)");
	if (!L->kp_hlist.size || !L->kp_addr.size)
		return lx_fail(&c->w, ENOTSUP, "the kernel's types have no kprobe.hlist/addr");
	uint64_t heads[64];
	if (lx_read(&c->w, table, heads, sizeof(heads)))
		return lx_fail(&c->w, EIO, "kprobe_table is unreadable");
	unsigned total = 0;
	for (unsigned b = 0; b < 64 && !c->stop; b++) {
		struct ck_cycle cy;
		ck_cycle_init(&cy, heads[b]);
		for (uint64_t node = heads[b]; node && !c->stop;) {
			uint64_t kp = node - L->kp_hlist.off, addr = 0, symp = 0, pre = 0, post = 0, next;
			char name[128] = "";
			if (++total > KPROBES_MAX)
				return lx_fail(&c->w, E2BIG, "kprobe_table: more than %u kprobes (a cycle?)",
				               KPROBES_MAX);
			if (!lx_kptr(&c->w, node, 8) || lx_read_u64(&c->w, node, &next) ||
			    lx_read_u64(&c->w, kp + L->kp_addr.off, &addr))
				return lx_fail(&c->w, EIO, "kprobe_table[%u]: entry 0x%llx is unreadable", b,
				               (unsigned long long)node);
			if (L->kp_pre.size == 8)
				lx_read_u64(&c->w, kp + L->kp_pre.off, &pre);
			if (L->kp_post.size == 8)
				lx_read_u64(&c->w, kp + L->kp_post.off, &post);
			if (L->kp_sym.size == 8 && lx_read_u64(&c->w, kp + L->kp_sym.off, &symp) == 0 && symp)
				lx_read_str(&c->w, symp, name, sizeof(name));
			if (!name[0])
				ck_symbolize(c, addr, name, sizeof(name));
			c->checked++;
			ck_report(c, "registered", "kprobe_table", -1, name, addr, pre ? pre : post, NULL,
			          "kprobe on 0x%llx%s%s, handler 0x%llx", (unsigned long long)addr, name[0] ? " " : "",
			          name, (unsigned long long)(pre ? pre : post));
			if (next && ck_cycle_step(&cy, next))
				return lx_fail(&c->w, ELOOP, "kprobe_table[%u]: a cycle through 0x%llx", b,
				               (unsigned long long)next);
			node = next;
		}
	}
	snprintf(c->what, sizeof(c->what), "kprobe_table (64 buckets)");
	return 0;
}

/* ---- hooks -------------------------------------------------------------------- */

static int hooked_before(struct check_run *c, uint64_t va)
{
	for (unsigned i = 0; i < c->nhooked; i++)
		if (c->hooked[i] == va)
			return 1;
	return 0;
}

static void remember_hook(struct check_run *c, uint64_t va)
{
	if (c->nhooked < sizeof(c->hooked) / sizeof(c->hooked[0]))
		c->hooked[c->nhooked++] = va;
}

/* Is TARGET ftrace's: its callers, or a trampoline of a registered ops. */
static int ftrace_target(struct check_run *c, uint64_t target)
{
	static const char *const names[] = { "ftrace_caller", "ftrace_regs_caller", "ftrace_stub" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t a;
		if (ck_sym(c, names[i], &a) == 0 && a == target)
			return 1;
	}
	for (size_t i = 0; i < c->nregions; i++)
		if (c->regions[i].module < 0 && c->regions[i].what &&
		    !strcmp(c->regions[i].what, "ftrace trampoline") && target >= c->regions[i].start &&
		    target < c->regions[i].end)
			return 1;
	return 0;
}

/* One ftrace call site (a function's `call __fentry__`, made a 5-byte nop
 * at boot): a nop, or ftrace's call when tracing is on. */
static int fentry_site(struct check_run *c, uint64_t ip)
{
	uint8_t b[5];
	char fn[160] = "";
	c->checked++;
	if (lx_read(&c->w, ip, b, 5))
		return 0; /* freed init text, a module going away */
	if (!memcmp(b, NOP5, 5))
		return 0;
	const char *f = ck_sym_at(c, ip, NULL, NULL); /* the function (the site may follow an endbr64) */
	if (f && ck_in_text(c, ip))
		snprintf(fn, sizeof(fn), "%s", f);
	if (b[0] == 0xe8 || b[0] == 0xe9) {
		uint64_t target = ip + 5 + (int64_t)rel32(b + 1);
		if (b[0] == 0xe8 && ftrace_target(c, target))
			return ck_report(c, "ftrace", "ftrace call sites", -1, fn, ip, target, NULL,
			                 "%s is traced: ftrace's call at its entry", fn[0] ? fn : "a function");
		remember_hook(c, ip);
		return ck_report(c, "hooked", "ftrace call sites", -1, fn, ip, target, NULL,
		                 "%s: a %s to 0x%llx where its 5-byte nop should be", fn[0] ? fn : "function",
		                 b[0] == 0xe8 ? "call" : "jmp", (unsigned long long)target);
	}
	remember_hook(c, ip);
	return ck_report(c, b[0] == 0xcc ? "breakpoint" : "patched", "ftrace call sites", -1, fn, ip, 0, NULL,
	                 "%s: %02x %02x %02x %02x %02x where its 5-byte nop should be%s", fn[0] ? fn : "function", b[0],
	                 b[1], b[2], b[3], b[4], b[0] == 0xcc ? " (an int3: a kprobe, or a patch under way)" : "");
}

/* Every record of ftrace's table of call sites (ftrace_pages_start). */
static int fentry_sites(struct check_run *c, unsigned *nsites)
{
	const struct lx_layout *L = c->w.lay;
	uint64_t page;
	*nsites = 0;
	if (ck_sym(c, "ftrace_pages_start", &page))
		return 0;
	if (!L->fpage_next.size || !L->fpage_records.size || !L->fpage_index.size || !L->dyn_ip.size || !L->dyn_size)
		return lx_fail(&c->w, ENOTSUP, "the kernel's types have no ftrace_page/dyn_ftrace");
	if (lx_read_u64(&c->w, page, &page))
		return lx_fail(&c->w, EIO, "ftrace_pages_start is unreadable");
	uint8_t *recs = NULL;
	size_t cap = 0;
	int rc = 0;
	struct ck_cycle cy;
	ck_cycle_init(&cy, page);
	for (unsigned n = 0; page && !c->stop; n++) {
		uint64_t next, records;
		int32_t index;
		if (n >= FTRACE_PAGES_MAX) {
			rc = lx_fail(&c->w, E2BIG, "ftrace pages: more than %u (a cycle?)", FTRACE_PAGES_MAX);
			break;
		}
		if (!lx_kptr(&c->w, page, 8) || lx_read_u64(&c->w, page + L->fpage_next.off, &next) ||
		    lx_read_u64(&c->w, page + L->fpage_records.off, &records) ||
		    lx_read(&c->w, page + L->fpage_index.off, &index, 4) || !lx_kptr(&c->w, records, 8) || index < 0 ||
		    (uint32_t)index > FTRACE_RECS_MAX) {
			rc = lx_fail(&c->w, EIO, "ftrace page 0x%llx is unreadable or corrupt",
			             (unsigned long long)page);
			break;
		}
		size_t len = (size_t)index * L->dyn_size;
		if (len > cap) {
			uint8_t *r = realloc(recs, len);
			if (!r) {
				rc = lx_fail(&c->w, ENOMEM, "out of memory");
				break;
			}
			recs = r;
			cap = len;
		}
		if (len && lx_read(&c->w, records, recs, len)) {
			rc = lx_fail(&c->w, EIO, "ftrace records at 0x%llx are unreadable",
			             (unsigned long long)records);
			break;
		}
		for (int32_t i = 0; i < index && !c->stop; i++) {
			uint64_t ip = lx_get(recs + (size_t)i * L->dyn_size, L->dyn_ip);
			if (!lx_kptr(&c->w, ip, 1))
				continue;
			(*nsites)++;
			fentry_site(c, ip);
		}
		if (next && ck_cycle_step(&cy, next)) {
			rc = lx_fail(&c->w, ELOOP, "ftrace pages: a cycle through 0x%llx", (unsigned long long)next);
			break;
		}
		page = next;
	}
	free(recs);
	return rc;
}

/* Where the first instruction of a function at VA (bytes B) sends
 * execution if it is a jump or call: 1 with *TARGET, else 0. */
static int entry_branch(struct check_run *c, uint64_t va, const uint8_t *b, uint64_t *target, int *call)
{
	*call = 0;
	if (b[0] == 0xe9 || b[0] == 0xe8) {
		*call = b[0] == 0xe8;
		*target = va + 5 + (int64_t)rel32(b + 1);
		return 1;
	}
	if (b[0] == 0xff && b[1] == 0x25) { /* jmp *disp32(%rip) */
		return lx_read_u64(&c->w, va + 6 + (int64_t)rel32(b + 2), target) == 0;
	}
	if (b[0] == 0x48 && b[1] == 0xb8 && b[10] == 0xff && b[11] == 0xe0) { /* movabs $x, %rax; jmp *%rax */
		memcpy(target, b + 2, 8);
		return 1;
	}
	if (b[0] == 0x49 && b[1] == 0xbb && b[10] == 0x41 && b[11] == 0xff && b[12] == 0xe3) { /* ... %r11 */
		memcpy(target, b + 2, 8);
		return 1;
	}
	if (b[0] == 0x68 && b[5] == 0xc3) { /* push $x; ret */
		*target = (uint64_t)(int64_t)rel32(b + 1);
		return 1;
	}
	return 0;
}

/* The first instruction of every function of the kernel's text (after an
 * endbr64): a branch that leaves the kernel's text is a hook. Static-call
 * trampolines (__SCT__*) are jumps by design and are skipped. */
static int prologues(struct check_run *c, unsigned *nfn)
{
	const struct symtab *s = &c->w.k->syms;
	*nfn = 0;
	if (!c->etext)
		return lx_fail(&c->w, ENOENT, "the kernel has no _etext");
	for (size_t i = 0; i < s->n && !c->stop; i++) {
		const struct ksym *y = &s->syms[i];
		uint64_t fa = symtab_addr(s, y);
		if ((y->type != 'T' && y->type != 't') || fa < c->stext || fa >= c->etext)
			continue;
		const char *name = symtab_name(s, y);
		if (has_prefix(name, "__SCT__") || has_prefix(name, "__pfx_") || has_prefix(name, "__cfi_"))
			continue;
		uint8_t b[16 + 4];
		if (lx_read(&c->w, fa, b, 16))
			continue;
		(*nfn)++;
		unsigned off = memcmp(b, ENDBR64, 4) ? 0 : 4;
		uint64_t target;
		int call;
		if (!entry_branch(c, fa + off, b + off, &target, &call) || ck_in_text(c, target))
			continue;
		if (hooked_before(c, fa + off) || (call && ftrace_target(c, target)))
			continue;
		remember_hook(c, fa + off);
		ck_report(c, "hooked", "function entries", -1, name, fa + off, target, NULL,
		          "%s: its first instruction %s 0x%llx, outside the kernel's text", name,
		          call ? "calls" : "jumps to", (unsigned long long)target);
	}
	return 0;
}

int check_hooks(struct check_run *c)
{
	unsigned sites = 0, fns = 0;
	int rc = ops_walk(c, 0); /* ftrace's trampolines are ftrace's calls */
	if (!rc)
		rc = fentry_sites(c, &sites);
	int rc2 = prologues(c, &fns);
	snprintf(c->what, sizeof(c->what), "%u ftrace call sites, the first instruction of %u kernel functions", sites,
	         fns);
	return rc ? rc : rc2;
}
