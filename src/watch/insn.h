/*
 * The few x86-64 instructions the tracer needs to know (insn.c): how long
 * the one under a breakpoint is, whether the host can carry it out in the
 * vCPU's place, and, sweeping a function, where it returns.
 */
#ifndef VMS_WATCH_INSN_H
#define VMS_WATCH_INSN_H

#include <stddef.h>
#include <stdint.h>

enum insn_kind {
	INSN_OTHER,        /* anything else: not emulated */
	INSN_NOP,          /* nop of any length, endbr64: RIP += len */
	INSN_PUSH,         /* push %reg (64-bit): [RSP - 8] = reg, RSP -= 8, RIP += len */
	INSN_RET,          /* ret [imm16]: RIP = [RSP], RSP += 8 + pop */
	INSN_JMP,          /* jmp rel8/rel32 to target */
	INSN_JMP_INDIRECT, /* jmp through a register or memory: target unknown */
	INSN_CALL,         /* call (any form) */
};

struct insn {
	uint8_t len;
	uint8_t kind;    /* enum insn_kind */
	uint8_t reg;     /* INSN_PUSH: the GPR in struct vms_regs / GDB order (0 rax, 1 rbx, 2 rcx,
			  * 3 rdx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8..15 r8..r15) */
	uint16_t pop;    /* INSN_RET: bytes released beyond the return address */
	uint64_t target; /* INSN_JMP */
};

struct insn_decoder;

/* 0, or -errno with why in ERR (Capstone missing, out of memory). */
int insn_decoder_open(struct insn_decoder **out, char *err, size_t errlen);
void insn_decoder_close(struct insn_decoder *d);

/* Decode the instruction at the start of CODE (LEN bytes, the instruction
 * being at guest address ADDR). 0, or -EILSEQ if the bytes are no valid
 * instruction. */
int insn_decode(struct insn_decoder *d, const uint8_t *code, size_t len, uint64_t addr, struct insn *out);

#endif
