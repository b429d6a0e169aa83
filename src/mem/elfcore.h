/*
 * The ELF core layout QEMU's dump-guest-memory writes for x86_64 guests, and
 * vmsight writes too: PT_NOTE with, per vCPU, a "CORE" NT_PRSTATUS note and a
 * "QEMU" note holding QEMU's CPU state (control registers included), then one
 * PT_LOAD per guest RAM range with p_paddr = guest-physical address.
 * Only the format lives here; the reader is src/mem/dump.c, the writer
 * src/snap/dump.c.
 */
#ifndef VMS_MEM_ELFCORE_H
#define VMS_MEM_ELFCORE_H

#include <stdint.h>

/* struct elf_prstatus for x86_64 (Linux ABI): 336 bytes, pr_reg at 112 in
 * user_regs_struct order. */
#define PRSTATUS_SIZE 336
#define PRSTATUS_PID_OFF 32
#define PRSTATUS_REG_OFF 112
enum {
	UREG_R15,
	UREG_R14,
	UREG_R13,
	UREG_R12,
	UREG_RBP,
	UREG_RBX,
	UREG_R11,
	UREG_R10,
	UREG_R9,
	UREG_R8,
	UREG_RAX,
	UREG_RCX,
	UREG_RDX,
	UREG_RSI,
	UREG_RDI,
	UREG_ORIG_RAX,
	UREG_RIP,
	UREG_CS,
	UREG_EFLAGS,
	UREG_RSP,
	UREG_SS,
	UREG_FS_BASE,
	UREG_GS_BASE,
	UREG_DS,
	UREG_ES,
	UREG_FS,
	UREG_GS,
	UREG_COUNT
};

struct qemu_cpu_segment {
	uint32_t selector, limit, flags, pad;
	uint64_t base;
};

/* QEMU's "QEMU" note, type 0 (version 1). */
struct qemu_cpu_state {
	uint32_t version, size;
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	struct qemu_cpu_segment cs, ds, es, fs, gs, ss;
	struct qemu_cpu_segment ldt, tr, gdt, idt;
	uint64_t cr[5];
	uint64_t kernel_gs_base;
};
_Static_assert(sizeof(struct qemu_cpu_state) == 440, "QEMU CPU note layout");

#define LIME_MAGIC 0x4C694D45u

#endif
