/*
 * QEMU discovery over QMP.
 *
 * Guest RAM: the machine's `memory-backend` link names the backend object;
 * its QOM type, size, mem-path and share flag come from qom-get and
 * query-memdev (structured). The guest-physical placement of that block is
 * not available as structured data: q35 and i440fx expose only the sizes
 * below and above 4 GiB, while the real view also has holes for legacy VGA
 * and ROM shadowing that change at run time (PAM). So the layout is read
 * from the flat view of the "memory" address space (`info mtree -f`), the
 * exact map QEMU itself uses to route guest accesses, and parsed strictly:
 * a region line that does not have the documented shape is an error, not
 * something to skip.
 */
#include "qemu.h"

#include "util/hex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One region line: "  START-END (prio P, KIND): NAME[ @OFFSET][ KVM]".
 * Names may contain spaces, so the optional tails are taken from the end. */
struct fv_region {
	uint64_t start, end, offset;
	char kind[16];
	const char *name;
	size_t name_len;
};

static int parse_region_line(const char *line, size_t len, struct fv_region *r)
{
	const char *p = line, *e = line + len;
	while (p < e && *p == ' ')
		p++;
	if (e - p < 35 || p[16] != '-' || p[33] != ' ')
		return -EINVAL;
	if (hex_u64(p, 16, &r->start) || hex_u64(p + 17, 16, &r->end) || r->end < r->start)
		return -EINVAL;
	p += 34;
	if (e - p < 7 || memcmp(p, "(prio ", 6) != 0)
		return -EINVAL;
	p += 6;
	const char *comma = p + (p < e && *p == '-');
	while (comma < e && *comma >= '0' && *comma <= '9')
		comma++;
	if (comma == p || comma[-1] == '-' || comma >= e || *comma != ',')
		return -EINVAL;
	p = comma + 1;
	if (p >= e || *p != ' ')
		return -EINVAL;
	p++;
	const char *close = memchr(p, ')', (size_t)(e - p));
	if (!close || close - p == 0 || (size_t)(close - p) >= sizeof(r->kind) || close + 3 > e || close[1] != ':' ||
	    close[2] != ' ')
		return -EINVAL;
	memcpy(r->kind, p, (size_t)(close - p));
	r->kind[close - p] = '\0';
	p = close + 3;
	if (e - p >= 4 && memcmp(e - 4, " KVM", 4) == 0)
		e -= 4;
	r->offset = 0;
	if (e - p >= 18 && e[-18] == ' ' && e[-17] == '@') {
		if (hex_u64(e - 16, 16, &r->offset))
			return -EINVAL;
		e -= 18;
	}
	if (e <= p)
		return -EINVAL;
	r->name = p;
	r->name_len = (size_t)(e - p);
	return 0;
}

int qemu_parse_flatview(const char *text, const char *name, struct vms_qemu_ram *ram)
{
	enum { OUTSIDE, HEADER, REGIONS } state = OUTSIDE;
	int is_memory = 0, found_view = 0;
	const char *block = name;
	size_t block_len = name ? strlen(name) : 0;
	ram->nranges = 0;
	const char *line = text;
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (len && line[len - 1] == '\r')
			len--;
		if (len >= 9 && memcmp(line, "FlatView ", 9) == 0) {
			if (found_view)
				break;
			state = HEADER;
			is_memory = 0;
		} else if (state == HEADER && len >= 4 && memcmp(line, " AS ", 4) == 0) {
			if (len >= 14 && memcmp(line, " AS \"memory\",", 13) == 0)
				is_memory = 1;
		} else if (state == HEADER && len >= 21 && memcmp(line, " Root memory region: ", 21) == 0) {
			state = REGIONS;
			found_view = is_memory;
		} else if (state == REGIONS && len == 0) {
			state = OUTSIDE;
		} else if (state == REGIONS && is_memory) {
			if (len >= 22 && memcmp(line, "  No rendered FlatView", 22) == 0)
				return -EINVAL;
			struct fv_region r;
			if (parse_region_line(line, len, &r))
				return -EPROTO;
			int ramlike = strcmp(r.kind, "ram") == 0 || strcmp(r.kind, "rom") == 0;
			if (!block) {
				/* No name given: the RAM block the guest sees at address 0. */
				if (r.start != 0 || strcmp(r.kind, "ram") != 0)
					return -ENOENT;
				block = r.name;
				block_len = r.name_len;
			}
			if (ramlike && r.name_len == block_len && memcmp(r.name, block, block_len) == 0) {
				uint64_t size = r.end - r.start + 1;
				size_t n = ram->nranges;
				if (size == 0)
					return -EPROTO; /* the whole 64-bit space */
				if (n > 0 && ram->ranges[n - 1].gpa + ram->ranges[n - 1].len == r.start &&
				    ram->offsets[n - 1] + ram->ranges[n - 1].len == r.offset) {
					ram->ranges[n - 1].len += size;
				} else {
					if (n == VMS_MAX_RANGES)
						return -E2BIG;
					if (n > 0 && r.start < ram->ranges[n - 1].gpa + ram->ranges[n - 1].len)
						return -EPROTO;
					ram->ranges[n] = (struct vms_ram_range){ r.start, size };
					ram->offsets[n] = r.offset;
					ram->nranges++;
				}
			}
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	if (!found_view)
		return -ENOENT;
	return ram->nranges ? 0 : -ENOENT;
}

static int memdev_share_recv(struct vms_qmp *q, const char *id, int *share)
{
	struct json_doc doc;
	int ret = qmp_recv(q, "query-memdev", &doc);
	if (ret < 0)
		return ret;
	int rc = -ENOENT;
	for (int i = 0, m; (m = json_at(&doc, ret, i)) >= 0; i++) {
		const char *mid = json_str(&doc, json_get(&doc, m, "id"));
		if (mid && strcmp(mid, id) == 0) {
			*share = json_bool(&doc, json_get(&doc, m, "share")) == 1;
			rc = 0;
		}
	}
	json_free(&doc);
	return rc;
}

int qemu_discover_ram(struct vms_qmp *q, struct vms_qemu_ram *ram)
{
	char link[256], *hmp = NULL;
	memset(ram, 0, sizeof(*ram));
	ram->pid = qmp_pid(q);
	int rc = qmp_qom_str(q, "/machine", "memory-backend", link, sizeof(link));
	if (rc)
		return rc;
	if (!link[0])
		return -ENOENT;
	const char *id = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	/* The rest in one round trip: sent together, answered in order. The
	 * mem-path is asked of any backend; only a file's must answer. */
	if ((rc = qmp_qom_send(q, link, "type")) || (rc = qmp_qom_send(q, link, "size")) ||
	    (rc = qmp_qom_send(q, link, "mem-path")) || (rc = qmp_send(q, "query-memdev", NULL)) ||
	    (rc = qmp_hmp_send(q, "info mtree -f")))
		return rc; /* the connection is unusable: nothing more is read from it */
	int rc_type = qmp_qom_str_recv(q, link, "type", ram->backend_type, sizeof(ram->backend_type));
	int rc_size = qmp_qom_u64_recv(q, link, "size", &ram->size);
	int rc_path = qmp_qom_str_recv(q, link, "mem-path", ram->mem_path, sizeof(ram->mem_path));
	int rc_share = memdev_share_recv(q, id, &ram->shared);
	int rc_mtree = qmp_hmp_recv(q, &hmp);
	if ((rc = rc_type) || (rc = rc_size))
		goto out;
	if (strcmp(ram->backend_type, "memory-backend-file") == 0) {
		if ((rc = rc_path))
			goto out;
	} else {
		ram->mem_path[0] = '\0';
	}
	if (rc_share)
		ram->shared = 0;
	snprintf(ram->block_name, sizeof(ram->block_name), "%s", id);
	if ((rc = rc_mtree))
		goto out;
	if ((rc = qemu_parse_flatview(hmp, id, ram)))
		goto out;
	for (size_t i = 0; i < ram->nranges; i++)
		if (ram->offsets[i] > ram->size || ram->ranges[i].len > ram->size - ram->offsets[i])
			rc = -EPROTO;
out:
	free(hmp);
	return rc;
}

int qemu_gdb_port(struct vms_qmp *q)
{
	struct json_doc doc;
	int ret = qmp_cmd(q, "query-chardev", NULL, &doc);
	if (ret < 0)
		return ret;
	int port = 0;
	for (int i = 0, c; (c = json_at(&doc, ret, i)) >= 0; i++) {
		const char *label = json_str(&doc, json_get(&doc, c, "label"));
		const char *fn = json_str(&doc, json_get(&doc, c, "filename"));
		if (!label || !fn || strcmp(label, "gdb") != 0)
			continue;
		if (strncmp(fn, "disconnected:", 13) == 0)
			fn += 13;
		/* "tcp:HOST:PORT,server=on" (or "tcp:HOST:PORT<->PEER:PORT" when connected) */
		const char *colon;
		if (strncmp(fn, "tcp:", 4) == 0 && (colon = strchr(fn + 4, ':')) != NULL) {
			int p = atoi(colon + 1);
			if (p > 0 && p < 65536)
				port = p;
		}
	}
	json_free(&doc);
	return port;
}

int qemu_vcpu_count(struct vms_qmp *q)
{
	struct json_doc doc;
	int ret = qmp_cmd(q, "query-cpus-fast", NULL, &doc);
	if (ret < 0)
		return ret;
	int n = json_len(&doc, ret);
	json_free(&doc);
	return n > 0 ? n : -EPROTO;
}

/* Registers in `info registers` come as NAME=HEX tokens; the segment lines
 * are "FS =SEL BASE LIMIT FLAGS". 32-bit guests print EAX.. instead of RAX. */
static const struct {
	const char *name;
	size_t off;
	uint32_t group;
} reg_names[] = {
#define R(n, f, g)                                 \
	{                                          \
		n, offsetof(struct vms_regs, f), g \
	}
	R("RAX", rax, VMS_REGS_GPR),    R("RBX", rbx, VMS_REGS_GPR), R("RCX", rcx, VMS_REGS_GPR),
	R("RDX", rdx, VMS_REGS_GPR),    R("RSI", rsi, VMS_REGS_GPR), R("RDI", rdi, VMS_REGS_GPR),
	R("RBP", rbp, VMS_REGS_GPR),    R("RSP", rsp, VMS_REGS_GPR), R("R8", r8, VMS_REGS_GPR),
	R("R9", r9, VMS_REGS_GPR),      R("R10", r10, VMS_REGS_GPR), R("R11", r11, VMS_REGS_GPR),
	R("R12", r12, VMS_REGS_GPR),    R("R13", r13, VMS_REGS_GPR), R("R14", r14, VMS_REGS_GPR),
	R("R15", r15, VMS_REGS_GPR),    R("RIP", rip, VMS_REGS_GPR), R("RFL", rflags, VMS_REGS_GPR),
	R("EAX", rax, VMS_REGS_GPR),    R("EBX", rbx, VMS_REGS_GPR), R("ECX", rcx, VMS_REGS_GPR),
	R("EDX", rdx, VMS_REGS_GPR),    R("ESI", rsi, VMS_REGS_GPR), R("EDI", rdi, VMS_REGS_GPR),
	R("EBP", rbp, VMS_REGS_GPR),    R("ESP", rsp, VMS_REGS_GPR), R("EIP", rip, VMS_REGS_GPR),
	R("EFL", rflags, VMS_REGS_GPR), R("CR0", cr0, VMS_REGS_CR),  R("CR2", cr2, VMS_REGS_CR),
	R("CR3", cr3, VMS_REGS_CR),     R("CR4", cr4, VMS_REGS_CR),  R("EFER", efer, VMS_REGS_EFER),
#undef R
};

static int parse_seg(const char *v, uint16_t *sel, uint64_t *base, uint32_t *flags)
{
	unsigned s;
	unsigned long long b;
	unsigned lim, fl;
	if (sscanf(v, "%4x %llx %x %x", &s, &b, &lim, &fl) != 4)
		return -EINVAL;
	*sel = (uint16_t)s;
	if (base)
		*base = b;
	if (flags)
		*flags = fl;
	return 0;
}

int qemu_parse_regs(const char *text, struct vms_regs *out)
{
	memset(out, 0, sizeof(*out));
	uint32_t seen = 0;
	unsigned nseg = 0;
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[512];
		if (len >= sizeof(buf))
			continue;
		memcpy(buf, line, len);
		buf[len] = '\0';
		/* Segment lines: two-letter name padded to three, then '='. */
		static const char *segs[] = { "ES =", "CS =", "SS =", "DS =", "FS =", "GS =" };
		int si = -1;
		for (int i = 0; i < 6; i++)
			if (strncmp(buf, segs[i], 4) == 0)
				si = i;
		if (si >= 0) {
			uint16_t sel;
			uint64_t base;
			uint32_t fl;
			if (parse_seg(buf + 4, &sel, &base, &fl))
				return -EPROTO;
			switch (si) {
			case 0: out->es = sel; break;
			case 1:
				out->cs = sel;
				out->cs_flags = fl;
				break;
			case 2: out->ss = sel; break;
			case 3: out->ds = sel; break;
			case 4:
				out->fs = sel;
				out->fs_base = base;
				break;
			case 5:
				out->gs = sel;
				out->gs_base = base;
				break;
			}
			nseg++;
			continue;
		}
		/* "R8 =..." pads short names: join them to their value. */
		for (char *sp; (sp = strstr(buf, " =")) != NULL;)
			memmove(sp, sp + 1, strlen(sp));
		for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
			char *eq = strchr(tok, '=');
			if (!eq)
				continue;
			*eq = '\0';
			for (size_t i = 0; i < sizeof(reg_names) / sizeof(reg_names[0]); i++) {
				if (strcmp(tok, reg_names[i].name) != 0)
					continue;
				uint64_t v;
				size_t n = strlen(eq + 1);
				if (hex_u64(eq + 1, n, &v))
					return -EPROTO;
				*(uint64_t *)((char *)out + reg_names[i].off) = v;
				seen |= reg_names[i].group;
			}
		}
	}
	if (nseg == 6)
		seen |= VMS_REGS_SEG;
	if (!(seen & VMS_REGS_CR))
		return -EPROTO;
	out->valid = seen;
	return 0;
}

int qemu_regs(struct vms_qmp *q, unsigned vcpu, struct vms_regs *out)
{
	char *text;
	int rc = qmp_hmp(q, "info registers -a", &text);
	if (rc)
		return rc;
	char hdr[32];
	snprintf(hdr, sizeof(hdr), "CPU#%u\n", vcpu);
	char *start = strstr(text, hdr);
	if (!start) {
		free(text);
		return -ENOENT;
	}
	start += strlen(hdr);
	char *next = strstr(start, "\nCPU#");
	if (next)
		next[1] = '\0';
	rc = qemu_parse_regs(start, out);
	free(text);
	return rc;
}

int qemu_regs_all_send(struct vms_qmp *q)
{
	return qmp_hmp_send(q, "info registers -a");
}

int qemu_regs_all(struct vms_qmp *q, struct vms_regs **out, unsigned *count)
{
	int rc = qemu_regs_all_send(q);
	return rc ? rc : qemu_regs_all_recv(q, out, count);
}

int qemu_regs_all_recv(struct vms_qmp *q, struct vms_regs **out, unsigned *count)
{
	char *text;
	int rc = qmp_hmp_recv(q, &text);
	if (rc)
		return rc;
	/* Sections "\nCPU#N\n" in order; N bounded, missing ones left invalid. */
	unsigned n = 0;
	for (const char *p = text; (p = strstr(p, "CPU#")) != NULL; p += 4) {
		char *end;
		unsigned long idx = strtoul(p + 4, &end, 10);
		if (end != p + 4 && *end == '\n' && idx < QEMU_MAX_VCPUS && idx + 1 > n)
			n = (unsigned)idx + 1;
	}
	struct vms_regs *regs = n ? calloc(n, sizeof(*regs)) : NULL;
	if (!regs) {
		free(text);
		return n ? -ENOMEM : -EPROTO;
	}
	for (char *p = text; (p = strstr(p, "CPU#")) != NULL;) {
		char *end;
		unsigned long idx = strtoul(p + 4, &end, 10);
		if (end == p + 4 || *end != '\n' || idx >= n) {
			p += 4;
			continue;
		}
		char *start = end + 1, *next = strstr(start, "\nCPU#");
		if (next)
			next[1] = '\0';
		if (qemu_parse_regs(start, &regs[idx]))
			memset(&regs[idx], 0, sizeof(regs[idx])); /* valid = 0: unreadable */
		if (!next)
			break;
		next[1] = 'C';
		p = next + 1;
	}
	free(text);
	*out = regs;
	*count = n;
	return 0;
}

int qemu_running(struct vms_qmp *q)
{
	struct json_doc doc;
	int ret = qmp_cmd(q, "query-status", NULL, &doc);
	if (ret < 0)
		return ret;
	int r = json_bool(&doc, json_get(&doc, ret, "running"));
	json_free(&doc);
	return r < 0 ? -EPROTO : r;
}

static int simple(struct vms_qmp *q, const char *cmd)
{
	struct json_doc doc;
	int ret = qmp_cmd(q, cmd, NULL, &doc);
	if (ret < 0)
		return ret;
	json_free(&doc);
	return 0;
}

int qemu_stop(struct vms_qmp *q)
{
	return simple(q, "stop");
}
int qemu_cont(struct vms_qmp *q)
{
	return simple(q, "cont");
}

/* ------------------------------------------------------------------------
 * Handing the RAM to a memory source
 */

void qemu_ram_map(const struct vms_qemu_ram *ram, struct vms_ram_map *out)
{
	memset(out, 0, sizeof(*out));
	out->pid = ram->pid;
	snprintf(out->path, sizeof(out->path), "%s", ram->mem_path);
	out->size = ram->size;
	out->nranges = ram->nranges;
	memcpy(out->ranges, ram->ranges, sizeof(out->ranges));
	memcpy(out->offsets, ram->offsets, sizeof(out->offsets));
}

int qemu_ram_shareable(const struct vms_qemu_ram *ram, char *err, size_t errlen)
{
	if (!ram->shared) {
		snprintf(err, errlen, "RAM backend is not shared (share=on): its file does not see the guest's writes");
		return -ENOTSUP;
	}
	if (strcmp(ram->backend_type, "memory-backend-file") != 0 &&
	    strcmp(ram->backend_type, "memory-backend-memfd") != 0) {
		snprintf(err, errlen, "RAM backend is %s, not a file or memfd", ram->backend_type);
		return -ENOTSUP;
	}
	return 0;
}
