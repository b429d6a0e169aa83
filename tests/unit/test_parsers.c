/*
 * Unit tests of the parsers that face QEMU and files: JSON, the flat view of
 * `info mtree -f`, `info registers`, QEMU command lines, and dump files
 * (valid, truncated and corrupt). The texts are samples of what QEMU 7.2
 * prints; the live comparisons against QEMU are in the lab tests.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ctl/cmdline.h"
#include "util/json.h"
#include "ctl/qemu.h"
#include "mem/elfcore.h"
#include "mem/source.h"

static void test_json(void)
{
	struct json_doc d;
	const char *ok =
	        "{\"return\": {\"a\": [1, -2, 3.5e1, true, false, null], \"s\": \"x\\u00e9\\n\\ud83d\\ude00\"}}";
	CHECK(json_parse(ok, strlen(ok), &d) == 0);
	int r = json_get(&d, 0, "return");
	int a = json_get(&d, r, "a");
	CHECK(json_len(&d, a) == 6);
	uint64_t u;
	int64_t i;
	CHECK(json_u64(&d, json_at(&d, a, 0), &u) == 0 && u == 1);
	CHECK(json_i64(&d, json_at(&d, a, 1), &i) == 0 && i == -2);
	CHECK(json_u64(&d, json_at(&d, a, 1), &u) != 0);
	CHECK(json_u64(&d, json_at(&d, a, 2), &u) != 0);
	CHECK(json_bool(&d, json_at(&d, a, 3)) == 1 && json_bool(&d, json_at(&d, a, 4)) == 0);
	CHECK(strcmp(json_str(&d, json_get(&d, r, "s")), "x\xc3\xa9\n\xf0\x9f\x98\x80") == 0);
	CHECK(json_get(&d, r, "missing") == -1 && json_at(&d, a, 6) == -1);
	json_free(&d);

	const char *bad[] = { "",           "{",           "[1,]",     "{\"a\" 1}",   "\"\\x\"", "01", "1.",   "tru",
		              "{\"a\":1}x", "\"\\ud800\"", "\"a\nb\"", "\"\\u0000\"", "[1 2]",   "-",  "{1:2}" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		CHECK(json_parse(bad[k], strlen(bad[k]), &d) != 0);

	/* Nesting beyond the bound is refused, not a stack overflow. */
	char deep[400];
	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	CHECK(json_parse(deep, sizeof(deep), &d) == -E2BIG);
	CHECK(json_parse("18446744073709551616", 20, &d) == 0);
	CHECK(json_u64(&d, 0, &u) == -ERANGE);
	json_free(&d);

	char q[64];
	CHECK(json_quote(q, sizeof(q), 0, "a\"b\\c\n") > 0 && strcmp(q, "\"a\\\"b\\\\c\\n\"") == 0);
	CHECK(json_quote(q, 4, 0, "abcdef") == -E2BIG);
}

static const char flatview[] =
        "FlatView #0\n"
        " AS \"mch\", root: bus master container\n"
        " Root memory region: (none)\n"
        "  No rendered FlatView\n"
        "\n"
        "FlatView #1\n"
        " AS \"memory\", root: system\n"
        " AS \"cpu-memory-0\", root: system\n"
        " Root memory region: system\n"
        "  0000000000000000-000000000009ffff (prio 0, ram): ram\n"
        "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
        "  00000000000c0000-00000000000cafff (prio 0, rom): ram @00000000000c0000\n"
        "  00000000000cb000-00000000000cdfff (prio 0, ram): ram @00000000000cb000 KVM\n"
        "  00000000000ce000-00000000000fffff (prio 0, rom): ram @00000000000ce000\n"
        "  0000000000100000-000000007fffffff (prio 0, ram): ram @0000000000100000\n"
        "  00000000febd4400-00000000febd441f (prio 0, i/o): vga ioports remapped\n"
        "  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
        "  0000000100000000-00000001bfffffff (prio 0, ram): ram @0000000080000000\n"
        "\n"
        "FlatView #2\n"
        " AS \"cpu-smm-0\", root: memory\n"
        " Root memory region: memory\n"
        "  0000000000000000-00000000000bffff (prio 0, ram): ram\n";

static void test_flatview(void)
{
	struct vms_qemu_ram ram;
	CHECK(qemu_parse_flatview(flatview, "ram", &ram) == 0);
	CHECK(ram.nranges == 3);
	CHECK(ram.ranges[0].gpa == 0 && ram.ranges[0].len == 0xa0000 && ram.offsets[0] == 0);
	CHECK(ram.ranges[1].gpa == 0xc0000 && ram.ranges[1].len == 0x80000000 - 0xc0000 && ram.offsets[1] == 0xc0000);
	CHECK(ram.ranges[2].gpa == 0x100000000 && ram.ranges[2].len == 0xc0000000 && ram.offsets[2] == 0x80000000);
	CHECK(qemu_parse_flatview(flatview, "nosuch", &ram) == -ENOENT);

	/* A short last line in the memory view: no read past its end (fuzz finding). */
	char *shortline = strdup(
	        "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n  No rendered FlatVi");
	CHECK(qemu_parse_flatview(shortline, "ram", &ram) == -EPROTO);
	CHECK(qemu_parse_flatview(shortline, NULL, &ram) == -EPROTO);
	free(shortline);

	char *broken = strdup(flatview);
	char *p = strstr(broken, "(prio 0, ram): ram @0000000000100000");
	memcpy(p, "(pri0", 5);
	CHECK(qemu_parse_flatview(broken, "ram", &ram) == -EPROTO);
	free(broken);
}

static const char regs_text[] =
        "RAX=0000000000000000 RBX=ffffffff82a0c940 RCX=0000000000000001 RDX=0000000000000000\n"
        "RSI=0000000000000087 RDI=0000000000000000 RBP=0000000000000000 RSP=ffffffff82a03e90\n"
        "R8 =0000000000000001 R9 =0000000000000000 R10=0000000000000001 R11=0000000000000000\n"
        "R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000\n"
        "RIP=ffffffff81e2a78b RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n"
        "ES =0000 0000000000000000 00000000 00000000\n"
        "CS =0010 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]\n"
        "SS =0018 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n"
        "DS =0000 0000000000000000 00000000 00000000\n"
        "FS =0000 0000000000000000 00000000 00000000\n"
        "GS =0000 ffff88801f200000 00000000 00000000\n"
        "LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT\n"
        "TR =0040 fffffe0000003000 00004087 00008900 DPL=0 TSS64-avl\n"
        "GDT=     fffffe0000001000 0000007f\n"
        "IDT=     fffffe0000000000 00000fff\n"
        "CR0=80050033 CR2=00007f3d6a1b3000 CR3=0000000002a0e000 CR4=00350ef0\n"
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \n"
        "EFER=0000000000000d01\n";

static void test_regs(void)
{
	struct vms_regs r;
	CHECK(qemu_parse_regs(regs_text, &r) == 0);
	CHECK(r.rbx == 0xffffffff82a0c940ull && r.rip == 0xffffffff81e2a78bull && r.rflags == 0x246);
	CHECK(r.r8 == 1 && r.rsp == 0xffffffff82a03e90ull);
	CHECK(r.cr0 == 0x80050033 && r.cr2 == 0x7f3d6a1b3000ull && r.cr3 == 0x2a0e000 && r.cr4 == 0x350ef0);
	CHECK(r.efer == 0xd01 && r.gs_base == 0xffff88801f200000ull && r.cs == 0x10 && r.cs_flags == 0xaf9b00);
	CHECK((r.valid & (VMS_REGS_GPR | VMS_REGS_CR | VMS_REGS_EFER | VMS_REGS_SEG)) ==
	      (VMS_REGS_GPR | VMS_REGS_CR | VMS_REGS_EFER | VMS_REGS_SEG));
	CHECK(vms_paging_mode(&r) == VMS_PAGING_4LEVEL);
	r.cr4 |= 1u << 12;
	CHECK(vms_paging_mode(&r) == VMS_PAGING_5LEVEL);
	CHECK(qemu_parse_regs("CR0=zz CR3=1\n", &r) == -EPROTO);
	CHECK(qemu_parse_regs("nothing here\n", &r) == -EPROTO);
}

static void test_cmdline(void)
{
	char qmp[108];
	char err[256];
	struct vms_qemu_ram ram;
	char *a1[] = { "qemu-system-x86_64",
		       "-machine",
		       "q35,memory-backend=mem",
		       "-object",
		       "memory-backend-file,id=mem,size=5G,mem-path=/dev/shm/x,share=on",
		       "-qmp",
		       "unix:/tmp/q.sock,server=on,wait=off",
		       NULL };
	CHECK(cmdline_parse(7, a1, qmp, sizeof(qmp), &ram, err, sizeof(err)) == 0);
	CHECK(strcmp(qmp, "/tmp/q.sock") == 0 && ram.size == 5ull << 30 && ram.shared);
	CHECK(strcmp(ram.mem_path, "/dev/shm/x") == 0 && strcmp(ram.backend_type, "memory-backend-file") == 0);
	CHECK(ram.nranges == 3 && ram.ranges[2].gpa == 1ull << 32 && ram.ranges[2].len == 3ull << 30 &&
	      ram.offsets[2] == 2ull << 30);
	char *a2[] = { "qemu-system-x86_64",
		       "-m",
		       "512",
		       "-chardev",
		       "socket,id=mon0,path=/run/m.sock,server=on",
		       "-mon",
		       "chardev=mon0,mode=control",
		       NULL };
	CHECK(cmdline_parse(7, a2, qmp, sizeof(qmp), &ram, err, sizeof(err)) == 0);
	CHECK(strcmp(qmp, "/run/m.sock") == 0 && ram.size == 512ull << 20 && !ram.shared);
	CHECK(ram.nranges == 2 && ram.ranges[1].gpa + ram.ranges[1].len == 512ull << 20);
	char *a3[] = { "qemu-system-x86_64", "-m", "lots", NULL };
	CHECK(cmdline_parse(3, a3, qmp, sizeof(qmp), &ram, err, sizeof(err)) == -EINVAL);
}

/* Writes BYTES to a temporary file and tries to open it as a dump. */
static int try_dump(const void *bytes, size_t len, struct vms_source **s, char *err, size_t errlen)
{
	char path[] = "/tmp/vmsight-unit-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (write(fd, bytes, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return -EIO;
	}
	close(fd);
	int rc = mem_dump_open(path, s, err, errlen);
	unlink(path);
	return rc;
}

static void test_dump_files(void)
{
	char err[512];
	struct vms_source *s;
	/* A small valid ELF core: one PT_LOAD of 4 KiB at 0x1000 and a QEMU note. */
	size_t note_len = 12 + 8 + sizeof(struct qemu_cpu_state);
	size_t hdr = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
	size_t data_off = 4096, len = data_off + 4096;
	uint8_t *f = calloc(1, len);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)f;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;
	Elf64_Phdr *ph = (Elf64_Phdr *)(f + sizeof(*eh));
	ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = hdr, .p_filesz = note_len };
	ph[1] = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_offset = data_off, .p_paddr = 0x1000, .p_filesz = 4096, .p_memsz = 4096
	};
	uint32_t nh[3] = { 5, sizeof(struct qemu_cpu_state), 0 };
	memcpy(f + hdr, nh, 12);
	memcpy(f + hdr + 12, "QEMU", 5);
	struct qemu_cpu_state st = { .version = 1,
		                     .size = sizeof(st),
		                     .rip = 0xffffffff81000000ull,
		                     .cr = { 0x80050033, 0, 0, 0x1234000, 0x1000 } };
	memcpy(f + hdr + 20, &st, sizeof(st));
	memset(f + data_off, 0xab, 4096);
	CHECK(try_dump(f, len, &s, err, sizeof(err)) == 0);
	if (s) {
		uint8_t b[8];
		struct vms_regs r;
		CHECK(s->nranges == 1 && s->ranges[0].gpa == 0x1000 && s->ranges[0].len == 4096);
		CHECK(s->ops->read(s, 0x1ff8, b, 8) == 0 && b[7] == 0xab);
		CHECK(s->ops->read(s, 0x1ff8, b, 9) == -EFAULT);
		CHECK(s->ops->vcpus(s) == 1 && s->ops->regs(s, 0, &r) == 0 && r.cr3 == 0x1234000 &&
		      r.rip == 0xffffffff81000000ull);
		s->ops->close(s);
	}
	/* Truncated: the PT_LOAD runs past the end of the file. */
	CHECK(try_dump(f, len - 1, &s, err, sizeof(err)) == -EINVAL && strstr(err, "truncated"));
	/* Truncated inside the program headers. */
	CHECK(try_dump(f, sizeof(Elf64_Ehdr) + 10, &s, err, sizeof(err)) == -EINVAL);
	/* A note whose size overruns its segment. */
	nh[1] = 0x7fffffff;
	memcpy(f + hdr, nh, 12);
	CHECK(try_dump(f, len, &s, err, sizeof(err)) == -EINVAL && strstr(err, "note"));
	nh[1] = sizeof(struct qemu_cpu_state);
	memcpy(f + hdr, nh, 12);
	/* Overlapping PT_LOADs. */
	eh->e_phnum = 3;
	ph = (Elf64_Phdr *)(f + sizeof(*eh));
	memmove(f + hdr + sizeof(Elf64_Phdr), f + hdr, note_len);
	ph[0].p_offset += sizeof(Elf64_Phdr);
	ph[2] = ph[1];
	CHECK(try_dump(f, len, &s, err, sizeof(err)) == -EINVAL);
	free(f);

	/* LiME: one range, then a corrupt header. */
	uint8_t lime[32 + 4096 + 32] = { 0 };
	uint32_t lh[2] = { LIME_MAGIC, 1 };
	uint64_t se[2] = { 0x100000, 0x100fff };
	memcpy(lime, lh, 8);
	memcpy(lime + 8, se, 16);
	lime[32 + 5] = 0x5a;
	CHECK(try_dump(lime, 32 + 4096, &s, err, sizeof(err)) == 0);
	if (s) {
		uint8_t b;
		CHECK(s->ops->read(s, 0x100005, &b, 1) == 0 && b == 0x5a);
		s->ops->close(s);
	}
	CHECK(try_dump(lime, sizeof(lime), &s, err, sizeof(err)) == -EINVAL && strstr(err, "LiME"));
	se[1] = 0x200000;
	memcpy(lime + 8, se, 16);
	CHECK(try_dump(lime, 32 + 4096, &s, err, sizeof(err)) == -EINVAL);
	CHECK(try_dump("", 0, &s, err, sizeof(err)) == -EINVAL);
}

int main(void)
{
	test_json();
	test_flatview();
	test_regs();
	test_cmdline();
	test_dump_files();
	return check_report("test_parsers");
}
