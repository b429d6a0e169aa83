/*
 * x86-64 instruction classes for the tracer, from Capstone.
 *
 * The tracer steps over a breakpoint without single-stepping by doing the
 * instruction under it on the host and writing the vCPU's registers back
 * (tracer.c). That is safe only for instructions whose whole effect is
 * known: nops (the 5-byte nop ftrace leaves at each function entry,
 * endbr64), push of a register, and ret. Everything else is INSN_OTHER and
 * gets a real single step. Jumps and calls are told apart so a sweep of a
 * function's text can find where it returns (ret, a jump to the return
 * thunk) and where it leaves by a tail call.
 *
 * Decoding is Capstone's; this file only sorts its answer. The bytes come
 * from guest memory, so they are treated like any guest data: Capstone is
 * handed a bounded buffer, and an instruction it cannot decode is refused.
 *
 * Capstone is loaded when a decoder is first opened, not linked: its
 * library carries some 78 000 relocations whose pages every vmsight
 * command would otherwise fault in at start-up (about 4 ms here, more than
 * a warm `vmsight ps` spends on its own work). Only `trace` decodes.
 */
#include "insn.h"

#include <capstone/capstone.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* The library the headers describe: another major version lays cs_insn
 * and cs_x86 out differently. */
#define CS_STR2(x) #x
#define CS_STR(x) CS_STR2(x)
#define CS_SONAME "libcapstone.so." CS_STR(CS_API_MAJOR)

#define CS_API(X)         \
	X(cs_close)       \
	X(cs_disasm_iter) \
	X(cs_free)        \
	X(cs_malloc)      \
	X(cs_open)        \
	X(cs_option)

static struct {
#define CS_FIELD(f) __typeof__(f) *f;
	CS_API(CS_FIELD)
#undef CS_FIELD
} cs;

static int cs_loaded;
static char cs_why[256];

static void cs_load(void)
{
	void *h = dlopen(CS_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(cs_why, sizeof(cs_why), "cannot load Capstone (%s): apt-get install libcapstone4", dlerror());
		return;
	}
#define CS_FIND(f)                                                                                                  \
	if (!(cs.f = (__typeof__(f) *)dlsym(h, #f))) {                                                              \
		snprintf(cs_why, sizeof(cs_why), "%s has no %s: not the Capstone vmsight was built for", CS_SONAME, \
		         #f);                                                                                       \
		dlclose(h);                                                                                         \
		return;                                                                                             \
	}
	CS_API(CS_FIND)
#undef CS_FIND
	cs_loaded = 1;
}

struct insn_decoder {
	csh h;
	cs_insn *ci;
};

int insn_decoder_open(struct insn_decoder **out, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, cs_load);
	if (!cs_loaded) {
		snprintf(err, errlen, "%s", cs_why);
		return -ENOTSUP;
	}
	struct insn_decoder *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (cs.cs_open(CS_ARCH_X86, CS_MODE_64, &d->h) != CS_ERR_OK) {
		free(d);
		snprintf(err, errlen, "Capstone has no x86-64 decoder");
		return -ENOTSUP;
	}
	cs.cs_option(d->h, CS_OPT_DETAIL, CS_OPT_ON);
	d->ci = cs.cs_malloc(d->h);
	if (!d->ci) {
		cs.cs_close(&d->h);
		free(d);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = d;
	return 0;
}

void insn_decoder_close(struct insn_decoder *d)
{
	if (!d)
		return;
	cs.cs_free(d->ci, 1);
	cs.cs_close(&d->h);
	free(d);
}

/* Capstone's 64-bit GPR as an index in GDB's (and struct vms_regs') order. */
static int gpr_index(unsigned reg)
{
	static const unsigned order[16] = { X86_REG_RAX, X86_REG_RBX, X86_REG_RCX, X86_REG_RDX,
		                            X86_REG_RSI, X86_REG_RDI, X86_REG_RBP, X86_REG_RSP,
		                            X86_REG_R8,  X86_REG_R9,  X86_REG_R10, X86_REG_R11,
		                            X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15 };
	for (int i = 0; i < 16; i++)
		if (order[i] == reg)
			return i;
	return -1;
}

int insn_decode(struct insn_decoder *d, const uint8_t *code, size_t len, uint64_t addr, struct insn *out)
{
	const uint8_t *p = code;
	size_t n = len > 15 ? 15 : len; /* no x86 instruction is longer */
	uint64_t a = addr;
	*out = (struct insn){ 0 };
	if (!n || !cs.cs_disasm_iter(d->h, &p, &n, &a, d->ci))
		return -EILSEQ;
	const cs_insn *ci = d->ci;
	const cs_x86 *x = &ci->detail->x86;
	out->len = (uint8_t)ci->size;
	out->kind = INSN_OTHER;
	switch (ci->id) {
	case X86_INS_NOP:
	case X86_INS_ENDBR64: out->kind = INSN_NOP; break;
	case X86_INS_PUSH:
		if (x->op_count == 1 && x->operands[0].type == X86_OP_REG && x->operands[0].size == 8) {
			int r = gpr_index(x->operands[0].reg);
			if (r >= 0 && r != 7) { /* push %rsp stores the value before the decrement: not worth it */
				out->kind = INSN_PUSH;
				out->reg = (uint8_t)r;
			}
		}
		break;
	case X86_INS_RET:
		out->kind = INSN_RET;
		if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM)
			out->pop = (uint16_t)x->operands[0].imm;
		break;
	case X86_INS_JMP:
		if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
			out->kind = INSN_JMP;
			out->target = (uint64_t)x->operands[0].imm;
		} else {
			out->kind = INSN_JMP_INDIRECT;
		}
		break;
	case X86_INS_CALL: out->kind = INSN_CALL; break;
	default: break;
	}
	/* A prefix Capstone keeps but we do not model (lock, rep, segment)
	 * makes the instruction something else. */
	if (out->kind == INSN_PUSH || out->kind == INSN_RET) {
		for (int i = 0; i < 4; i++)
			if (x->prefix[i] && !(out->kind == INSN_RET && x->prefix[i] == 0xf2)) /* bnd ret */
				out->kind = INSN_OTHER;
	}
	return 0;
}
