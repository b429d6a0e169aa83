/*
 * QEMU command-line reader (see cmdline.h). Only options that decide where
 * guest RAM is and how to reach the monitor are understood; everything else
 * is ignored. QEMU's option values are comma-separated key=value lists with
 * an optional implied first key.
 */
#include "cmdline.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 4096

/* Value of KEY in a "a=b,c=d" option string, copied into OUT. */
static int opt_value(const char *opts, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = opts;
	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = len - klen - 1;
			if (vlen >= outlen)
				return -E2BIG;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

/* QEMU sizes: a number with an optional K/M/G/T suffix; plain -m is MiB. */
static int parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	uint64_t unit = default_unit;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		unit = 1ull << 10;
		end++;
		break;
	case 'M':
		unit = 1ull << 20;
		end++;
		break;
	case 'G':
		unit = 1ull << 30;
		end++;
		break;
	case 'T':
		unit = 1ull << 40;
		end++;
		break;
	case 'B':
		unit = 1;
		end++;
		break;
	default: break;
	}
	if (*end != '\0' || (v && unit > UINT64_MAX / v))
		return -EINVAL;
	*out = v * unit;
	return 0;
}

static int pc_layout(struct vms_qemu_ram *ram, int q35)
{
	uint64_t low = ram->size, high = 0;
	if (q35 && ram->size >= 0xb0000000ull)
		low = 0x80000000ull;
	else if (!q35 && ram->size >= 0xe0000000ull)
		low = 0xc0000000ull;
	high = ram->size - low;
	size_t n = 0;
	uint64_t vga_lo = 0xa0000, vga_hi = 0xc0000;
	ram->ranges[n] = (struct vms_ram_range){ 0, low < vga_lo ? low : vga_lo };
	ram->offsets[n++] = 0;
	if (low > vga_hi) {
		ram->ranges[n] = (struct vms_ram_range){ vga_hi, low - vga_hi };
		ram->offsets[n++] = vga_hi;
	}
	if (high) {
		ram->ranges[n] = (struct vms_ram_range){ 1ull << 32, high };
		ram->offsets[n++] = low;
	}
	ram->nranges = n;
	return 0;
}

int cmdline_parse(int argc, char **argv, char *qmp_path, size_t qmp_len, struct vms_qemu_ram *ram, char *err,
                  size_t errlen)
{
	const char *machine = "", *mem_backend_id = NULL, *mon_chardev = NULL;
	char idbuf[128] = "";
	uint64_t m_size = 128ull << 20; /* QEMU's default */
	qmp_path[0] = '\0';
	memset(ram, 0, sizeof(*ram));
	for (int i = 1; i + 1 < argc; i++) {
		const char *o = argv[i], *v = argv[i + 1];
		if (o[0] == '-' && o[1] == '-')
			o++;
		if (strcmp(o, "-m") == 0) {
			char sz[64];
			const char *s = v;
			if (opt_value(v, "size", sz, sizeof(sz)) == 0)
				s = sz;
			else if (strchr(v, ','))
				s = strndupa(v, strcspn(v, ","));
			if (parse_size(s, 1ull << 20, &m_size)) {
				snprintf(err, errlen, "cannot parse QEMU option -m %s", v);
				return -EINVAL;
			}
			i++;
		} else if (strcmp(o, "-machine") == 0 || strcmp(o, "-M") == 0) {
			machine = v;
			if (opt_value(v, "memory-backend", idbuf, sizeof(idbuf)) == 0)
				mem_backend_id = idbuf;
			i++;
		} else if (strcmp(o, "-qmp") == 0 && strncmp(v, "unix:", 5) == 0) {
			size_t len = strcspn(v + 5, ",");
			if (len < qmp_len) {
				memcpy(qmp_path, v + 5, len);
				qmp_path[len] = '\0';
			}
			i++;
		} else if (strcmp(o, "-mon") == 0) {
			char mode[32], chr[128];
			if (opt_value(v, "mode", mode, sizeof(mode)) == 0 && strcmp(mode, "control") == 0 &&
			    opt_value(v, "chardev", chr, sizeof(chr)) == 0)
				mon_chardev = strdupa(chr);
			i++;
		}
	}
	/* Second pass: options that refer to ids found in the first. */
	for (int i = 1; i + 1 < argc; i++) {
		const char *o = argv[i], *v = argv[i + 1];
		if (o[0] == '-' && o[1] == '-')
			o++;
		char id[128];
		if (strcmp(o, "-chardev") == 0 && mon_chardev && !qmp_path[0] && strncmp(v, "socket,", 7) == 0 &&
		    opt_value(v, "id", id, sizeof(id)) == 0 && strcmp(id, mon_chardev) == 0)
			opt_value(v, "path", qmp_path, qmp_len);
		if (strcmp(o, "-object") == 0 && strncmp(v, "memory-backend-", 15) == 0 && mem_backend_id &&
		    opt_value(v, "id", id, sizeof(id)) == 0 && strcmp(id, mem_backend_id) == 0) {
			size_t tlen = strcspn(v, ",");
			if (tlen < sizeof(ram->backend_type)) {
				memcpy(ram->backend_type, v, tlen);
				ram->backend_type[tlen] = '\0';
			}
			char sz[64], share[8];
			if (opt_value(v, "size", sz, sizeof(sz)) == 0 && parse_size(sz, 1, &m_size)) {
				snprintf(err, errlen, "cannot parse memory backend size %s", sz);
				return -EINVAL;
			}
			opt_value(v, "mem-path", ram->mem_path, sizeof(ram->mem_path));
			ram->shared = opt_value(v, "share", share, sizeof(share)) == 0 &&
			              (strcmp(share, "on") == 0 || strcmp(share, "yes") == 0);
			snprintf(ram->block_name, sizeof(ram->block_name), "%s", id);
		}
	}
	if (!ram->backend_type[0])
		snprintf(ram->backend_type, sizeof(ram->backend_type), "memory-backend-ram");
	ram->size = m_size;
	int q35 = strncmp(machine, "q35", 3) == 0 || strstr(machine, "type=q35") || strstr(machine, "pc-q35");
	return pc_layout(ram, q35);
}

int cmdline_read(int pid, char *qmp_path, size_t qmp_len, struct vms_qemu_ram *ram, char *err, size_t errlen)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "no process %d (%s)", pid, strerror(errno));
		return -ESRCH;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	char **argv = calloc(MAX_ARGS, sizeof(*argv));
	int rc = -ENOMEM;
	if (!buf || !argv)
		goto out;
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == cap) {
			char *nb = cap < (1u << 24) ? realloc(buf, cap * 2 + 1) : NULL;
			if (!nb)
				goto out;
			buf = nb;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	int argc = 0;
	for (size_t off = 0; off < len && argc < MAX_ARGS; off += strlen(buf + off) + 1)
		argv[argc++] = buf + off;
	const char *exe = argc ? strrchr(argv[0], '/') : NULL;
	exe = exe ? exe + 1 : (argc ? argv[0] : "");
	if (strncmp(exe, "qemu-system-", 12) != 0 && strncmp(exe, "qemu-kvm", 8) != 0 && strcmp(exe, "kvm") != 0) {
		snprintf(err, errlen, "process %d (%s) is not a QEMU system emulator", pid, exe);
		rc = -EINVAL;
		goto out;
	}
	rc = cmdline_parse(argc, argv, qmp_path, qmp_len, ram, err, errlen);
	ram->pid = pid;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	close(fd);
	free(argv);
	free(buf);
	return rc;
}
