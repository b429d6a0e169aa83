/*
 * The checks of who owns memory and who registered what: hidden modules
 * and executable module memory no module owns, loaded eBPF programs,
 * keyboard notifiers, and network packet handlers.
 *
 * Module memory is executable for three kinds of owners: modules, BPF
 * programs (JIT images and their packs) and ftrace trampolines. Each is
 * read from the kernel's own records and becomes a region; an executable
 * page of the module area outside every region was put there by no one the
 * kernel knows about.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define BPF_PROGS_MAX 65536u
#define BPF_PACK_SIZE (2ull << 20) /* BPF_PROG_PACK_SIZE on x86-64 (one node) */
#define BPF_PACKS_MAX 4096u
#define NOTIFIERS_MAX 1024u
#define PTYPE_MAX 4096u
#define PAGE 4096ull

/* ---- BPF ---------------------------------------------------------------------- */

struct bpf_walk {
	struct check_run *c;
	int report;
	uint64_t jited_len_off;
	int have_len;
};

static int bpf_prog(void *ctx, uint64_t id, uint64_t prog)
{
	struct bpf_walk *bw = ctx;
	struct check_run *c = bw->c;
	const struct lx_layout *L = c->w.lay;
	uint64_t func = 0, aux = 0, attach = 0;
	uint32_t type = 0, len = 0, aid = (uint32_t)id;
	char name[24] = "", target[128] = "";
	if (!lx_kptr(&c->w, prog, 8))
		return 0;
	lx_read(&c->w, prog + L->prog_type.off, &type, 4);
	if (L->prog_func.size == 8)
		lx_read_u64(&c->w, prog + L->prog_func.off, &func);
	if (bw->have_len)
		lx_read(&c->w, prog + bw->jited_len_off, &len, 4);
	if (func >= CK_MODULES_VADDR && func < CK_MODULES_END)
		ck_region_add(c, func & ~(PAGE - 1), (func + (len ? len : 1) + PAGE - 1) & ~(PAGE - 1), -1,
		              "BPF program");
	if (!bw->report)
		return 0;
	if (L->prog_aux.size == 8 && lx_read_u64(&c->w, prog + L->prog_aux.off, &aux) == 0 && lx_kptr(&c->w, aux, 8)) {
		if (L->aux_id.size == 4)
			lx_read(&c->w, aux + L->aux_id.off, &aid, 4);
		if (L->aux_name.size && lx_read(&c->w, aux + L->aux_name.off, name, 16) == 0)
			name[16] = '\0';
		if (L->aux_attach_name.size == 8 && lx_read_u64(&c->w, aux + L->aux_attach_name.off, &attach) == 0 &&
		    attach)
			lx_read_str(&c->w, attach, target, sizeof(target));
	}
	c->checked++;
	return ck_report(c, "loaded", "prog_idr", aid, name, prog, func, "BPF program",
	                 "BPF program %u (type %u)%s%s, JIT image 0x%llx", aid, type, target[0] ? " attached to " : "",
	                 target, (unsigned long long)func);
}

static int bpf_walk(struct check_run *c, int report)
{
	const struct lx_layout *L = c->w.lay;
	struct bpf_walk bw = { .c = c, .report = report };
	uint64_t idr, packs, node, sz;
	if (ck_sym(c, "prog_idr", &idr))
		return report ? lx_fail(&c->w, ENOENT, "the kernel has no prog_idr (no BPF)") : 0;
	if (!L->idr_rt.size || !L->xa_head.size || !L->prog_type.size)
		return report ? lx_fail(&c->w, ENOTSUP, "the kernel's types have no idr/bpf_prog layout") : 0;
	/* The JIT image's length: read only when there are programs (a type
	 * lookup may need the kernel's BTF parsed). */
	uint64_t root = 0;
	if (lx_read_u64(&c->w, idr + L->idr_rt.off + L->xa_head.off, &root) == 0 && root &&
	    vms_btf_member(c->w.k, "bpf_prog", "jited_len", &bw.jited_len_off, &sz) == 0 && sz == 4)
		bw.have_len = 1;
	int rc = ck_xa_walk(c, idr + L->idr_rt.off + L->xa_head.off, BPF_PROGS_MAX, bpf_prog, &bw);
	/* Small programs share 2 MiB packs of executable memory (pack_list). */
	if (rc == 0 && ck_sym(c, "pack_list", &packs) == 0) {
		struct lx_list l;
		lx_list_init(&l, packs, BPF_PACKS_MAX);
		while (lx_list_next(&c->w, &l, &node) == 1) {
			uint64_t ptr;
			if (lx_read_u64(&c->w, node + 16, &ptr) == 0 && ptr >= CK_MODULES_VADDR && ptr < CK_MODULES_END)
				ck_region_add(c, ptr, ptr + BPF_PACK_SIZE, -1, "BPF program pack");
		}
	}
	return rc;
}

int check_bpf(struct check_run *c)
{
	snprintf(c->what, sizeof(c->what), "prog_idr");
	return bpf_walk(c, 1);
}

/* ---- modules ------------------------------------------------------------------ */

#define TRAMP_CMP 32

struct unowned {
	struct check_run *c;
	uint64_t start, end; /* the run of unowned pages being grown */
	unsigned pages;
	uint8_t tramp[2][TRAMP_CMP]; /* the code ftrace copies into its trampolines */
	unsigned ntramp;
};

/* ftrace makes a trampoline by copying ftrace_caller or ftrace_regs_caller
 * into module memory; one whose ops was unregistered (and not freed: ops
 * that are not dynamic keep theirs) is still ftrace's. */
static void tramp_code(struct unowned *u)
{
	static const char *const names[] = { "ftrace_regs_caller", "ftrace_caller" };
	for (size_t i = 0; i < 2; i++) {
		uint64_t a;
		if (ck_sym(u->c, names[i], &a) == 0 && lx_read(&u->c->w, a, u->tramp[u->ntramp], TRAMP_CMP) == 0)
			u->ntramp++;
	}
}

static int is_tramp(struct unowned *u, uint64_t va)
{
	uint8_t b[TRAMP_CMP];
	if (!u->ntramp || lx_read(&u->c->w, va, b, sizeof(b)))
		return 0;
	for (unsigned i = 0; i < u->ntramp; i++)
		if (!memcmp(b, u->tramp[i], TRAMP_CMP))
			return 1;
	return 0;
}

static int owned(const struct check_run *c, uint64_t va)
{
	for (size_t i = 0; i < c->nregions; i++) {
		uint64_t end = (c->regions[i].end + PAGE - 1) & ~(PAGE - 1);
		if (va >= (c->regions[i].start & ~(PAGE - 1)) && va < end)
			return 1;
	}
	return 0;
}

static int unowned_flush(struct unowned *u)
{
	struct check_run *c = u->c;
	if (u->end <= u->start)
		return 0;
	uint64_t s = u->start, e = u->end;
	u->start = u->end = 0;
	return ck_report(c, "unowned", "module area", -1, "", s, 0, "module memory no module owns",
	                 "%llu KiB of executable memory at 0x%llx-0x%llx that no module, BPF program or ftrace "
	                 "trampoline owns",
	                 (unsigned long long)((e - s) >> 10), (unsigned long long)s, (unsigned long long)e);
}

static int unowned_range(void *ctx, const struct vms_va_range *r)
{
	struct unowned *u = ctx;
	if (r->va + r->len <= CK_MODULES_VADDR)
		return 0;
	if (r->va >= CK_MODULES_END)
		return 1;
	if (r->prot & VMS_PAGE_NX)
		return 0;
	uint64_t lo = r->va < CK_MODULES_VADDR ? CK_MODULES_VADDR : r->va;
	uint64_t hi = r->va + r->len > CK_MODULES_END ? CK_MODULES_END : r->va + r->len;
	for (uint64_t va = lo; va < hi; va += PAGE) {
		u->pages++;
		if (owned(u->c, va) || is_tramp(u, va))
			continue;
		if (u->end != va && unowned_flush(u))
			return 1;
		if (u->end != va)
			u->start = va;
		u->end = va + PAGE;
	}
	return u->c->stop ? 1 : 0;
}

int check_modules(struct check_run *c)
{
	int rc = ck_owners(c);
	if (rc)
		return rc;
	for (size_t i = 0; i < c->nmods && !c->stop; i++) {
		const struct ck_module *m = &c->mods[i];
		c->checked++;
		if (!m->hidden)
			continue;
		uint64_t base = 0;
		for (size_t j = 0; j < c->nregions; j++)
			if (c->regions[j].module == (int32_t)i) {
				base = c->regions[j].start;
				break;
			}
		char owner[80];
		snprintf(owner, sizeof(owner), "%s (hidden)", m->name);
		ck_report(c, "hidden", "modules", -1, m->name, m->addr, base, owner,
		          "module %s (struct module at 0x%llx, memory at 0x%llx) is not in the module list", m->name,
		          (unsigned long long)m->addr, (unsigned long long)base);
	}
	/* Executable memory of the module area that none of its owners holds. */
	if ((rc = ops_regions(c)) || (rc = bpf_walk(c, 0)))
		return rc;
	struct unowned u = { .c = c };
	tramp_code(&u);
	rc = vms_va_ranges(c->w.t, c->w.dtb, unowned_range, &u);
	if (rc >= 0 && !c->stop)
		unowned_flush(&u);
	snprintf(c->what, sizeof(c->what),
	         "the module list and a scan of module memory (%zu modules), %u executable pages of the module area",
	         c->nmods, u.pages);
	return rc < 0 ? rc : 0;
}

/* ---- notifiers ---------------------------------------------------------------- */

int check_notifiers(struct check_run *c)
{
	const struct lx_layout *L = c->w.lay;
	uint64_t head, nb;
	if (ck_sym(c, "keyboard_notifier_list", &head))
		return lx_fail(&c->w, ENOENT, "the kernel has no keyboard_notifier_list");
	if (!L->nb_call.size || !L->nb_next.size || !L->nh_head.size)
		return lx_fail(&c->w, ENOTSUP, "the kernel's types have no notifier_block");
	if (lx_read_u64(&c->w, head + L->nh_head.off, &nb))
		return lx_fail(&c->w, EIO, "keyboard_notifier_list is unreadable");
	struct ck_cycle cy;
	ck_cycle_init(&cy, nb);
	for (unsigned n = 0; nb && !c->stop; n++) {
		uint64_t call, next;
		if (n >= NOTIFIERS_MAX)
			return lx_fail(&c->w, E2BIG, "keyboard_notifier_list: more than %u entries (a cycle?)",
			               NOTIFIERS_MAX);
		if (!lx_kptr(&c->w, nb, 8) || lx_read_u64(&c->w, nb + L->nb_call.off, &call) ||
		    lx_read_u64(&c->w, nb + L->nb_next.off, &next))
			return lx_fail(&c->w, EIO, "keyboard notifier 0x%llx is unreadable", (unsigned long long)nb);
		char sym[160];
		c->checked++;
		ck_symbolize(c, call, sym, sizeof(sym));
		ck_report(c, "registered", "keyboard_notifier_list", -1, sym, nb, call, NULL,
		          "a keyboard notifier (every key press) calls 0x%llx%s%s", (unsigned long long)call,
		          sym[0] ? " " : "", sym);
		if (next && ck_cycle_step(&cy, next))
			return lx_fail(&c->w, ELOOP, "keyboard_notifier_list: a cycle through 0x%llx",
			               (unsigned long long)next);
		nb = next;
	}
	snprintf(c->what, sizeof(c->what), "keyboard_notifier_list");
	return 0;
}

/* ---- net ---------------------------------------------------------------------- */

/* A packet handler is the kernel's or a listed module's; anything else
 * (a hidden module, memory no module owns) is a finding. */
static int ptype_list(struct check_run *c, uint64_t head, const char *table, unsigned *total)
{
	const struct lx_layout *L = c->w.lay;
	struct lx_list l;
	uint64_t node;
	int rc;
	lx_list_init(&l, head, PTYPE_MAX);
	while ((rc = lx_list_next(&c->w, &l, &node)) == 1 && !c->stop) {
		uint64_t pt = node - L->pt_list.off, func = 0;
		uint16_t type = 0;
		if (++*total > PTYPE_MAX)
			return lx_fail(&c->w, E2BIG, "more than %u packet handlers", PTYPE_MAX);
		lx_read(&c->w, pt + L->pt_type.off, &type, 2);
		if (lx_read_u64(&c->w, pt + L->pt_func.off, &func))
			continue;
		c->checked++;
		int mod;
		char owner[112];
		ck_owner(c, func, owner, sizeof(owner), &mod);
		if (!strcmp(owner, "kernel") || (mod >= 0 && !c->mods[mod].hidden))
			continue;
		char sym[160];
		ck_symbolize(c, func, sym, sizeof(sym));
		ck_report(c, "hooked", table, (uint16_t)(type >> 8 | type << 8), sym, pt, func, NULL,
		          "packet handler for protocol 0x%04x calls 0x%llx, owned by %s",
		          (unsigned)(uint16_t)(type >> 8 | type << 8), (unsigned long long)func, owner);
	}
	return rc < 0 ? rc : 0;
}

int check_net(struct check_run *c)
{
	const struct lx_layout *L = c->w.lay;
	uint64_t all, base;
	unsigned total = 0;
	/* From 6.10 ptype_all is a member of net_hotdata. */
	if (ck_sym(c, "ptype_all", &all) &&
	    (!L->hotdata_ptype_all.size || ck_sym(c, "net_hotdata", &all) || !(all += L->hotdata_ptype_all.off)))
		return lx_fail(&c->w, ENOENT, "the kernel has neither ptype_all nor net_hotdata.ptype_all");
	if (ck_sym(c, "ptype_base", &base))
		return lx_fail(&c->w, ENOENT, "the kernel has no ptype_base");
	if (!L->pt_func.size || !L->pt_list.size)
		return lx_fail(&c->w, ENOTSUP, "the kernel's types have no packet_type");
	int rc = ck_owners(c);
	if (rc)
		return rc;
	if ((rc = ptype_list(c, all, "ptype_all", &total)))
		return rc;
	for (unsigned i = 0; i < 16 && !c->stop; i++) /* PTYPE_HASH_SIZE */
		if ((rc = ptype_list(c, base + 16ull * i, "ptype_base", &total)))
			return rc;
	snprintf(c->what, sizeof(c->what), "ptype_all and ptype_base (%u handlers)", total);
	return 0;
}
