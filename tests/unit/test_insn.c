/* The tracer's instruction classes (src/watch/insn.c) on the byte
 * sequences kernels put where it plants breakpoints. */
#include <string.h>

#include "check.h"
#include "watch/insn.h"

static struct insn dec(struct insn_decoder *d, const char *bytes, size_t n, uint64_t addr)
{
	struct insn in;
	memset(&in, 0xa5, sizeof(in));
	CHECK(insn_decode(d, (const uint8_t *)bytes, n, addr, &in) == 0);
	return in;
}

int main(void)
{
	struct insn_decoder *d;
	struct insn in;
	char err[300];
	CHECK(insn_decoder_open(&d, err, sizeof(err)) == 0);
	const uint64_t at = 0xffffffff81000000ull;
	in = dec(d, "\x0f\x1f\x44\x00\x00", 5, at); /* ftrace's nop at a function entry */
	CHECK(in.kind == INSN_NOP && in.len == 5);
	in = dec(d, "\xf3\x0f\x1e\xfa", 4, at); /* endbr64 */
	CHECK(in.kind == INSN_NOP && in.len == 4);
	in = dec(d, "\x66\x90", 2, at);
	CHECK(in.kind == INSN_NOP && in.len == 2);
	in = dec(d, "\x55", 1, at); /* push %rbp */
	CHECK(in.kind == INSN_PUSH && in.reg == 6 && in.len == 1);
	in = dec(d, "\x41\x57", 2, at); /* push %r15 */
	CHECK(in.kind == INSN_PUSH && in.reg == 15 && in.len == 2);
	in = dec(d, "\x54", 1, at); /* push %rsp: not emulated */
	CHECK(in.kind == INSN_OTHER);
	in = dec(d, "\x66\x55", 2, at); /* push %bp (16-bit): not emulated */
	CHECK(in.kind == INSN_OTHER);
	in = dec(d, "\xc3\xcc", 2, at);
	CHECK(in.kind == INSN_RET && in.pop == 0 && in.len == 1);
	in = dec(d, "\xc2\x10\x00", 3, at);
	CHECK(in.kind == INSN_RET && in.pop == 16 && in.len == 3);
	/* jmp __x86_return_thunk: e9 rel32, the target from the next instruction */
	in = dec(d, "\xe9\xfb\x0f\x00\x00", 5, at);
	CHECK(in.kind == INSN_JMP && in.target == at + 5 + 0xffb && in.len == 5);
	in = dec(d, "\xeb\xfe", 2, at);
	CHECK(in.kind == INSN_JMP && in.target == at);
	in = dec(d, "\xff\xe0", 2, at); /* jmp *%rax */
	CHECK(in.kind == INSN_JMP_INDIRECT);
	in = dec(d, "\xe8\x00\x00\x00\x00", 5, at);
	CHECK(in.kind == INSN_CALL);
	in = dec(d, "\x48\x81\xec\x90\x00\x00\x00", 7, at); /* sub $0x90,%rsp */
	CHECK(in.kind == INSN_OTHER && in.len == 7);
	/* not an instruction, or cut short */
	CHECK(insn_decode(d, (const uint8_t *)"\x0f\x1f\x44", 3, at, &in) != 0);
	CHECK(insn_decode(d, (const uint8_t *)"\x06", 1, at, &in) != 0); /* push %es: invalid in 64-bit */
	CHECK(insn_decode(d, (const uint8_t *)"", 0, at, &in) != 0);
	insn_decoder_close(d);
	return check_report("insn");
}
