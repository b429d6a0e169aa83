/*
 * The Linux views other than ps: modules (lsmod), open files (lsof),
 * memory maps (maps) and the kernel log (dmesg). Each is a walk in the
 * library whose rows are printed as they come.
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "util/escape.h"
#include "view.h"

/* ---- lsmod ---- */

static const char usage_lsmod[] =
        "usage: vmsight -t TARGET lsmod [--no-scan] [--pause] [options]\n"
        "\n"
        "List the loaded kernel modules from the kernel's module list, as /proc/modules\n"
        "does: name, base address (the core text), size (core and init memory), use\n"
        "count, the modules using it, state and taint flags. Then module memory is\n"
        "scanned for modules the list does not hold (unlinked by a rootkit): those are\n"
        "marked HIDDEN. --no-scan skips the scan.\n"
        "\n"
        "%s"
        "%s"
        "\n"
        "JSON, one object per module: {name,base,size,refcnt,state,taint,used_by,hidden,\n"
        "addr}; addresses as \"0x...\" strings.\n";

static int lsmod_row(void *ctx, const struct vms_module *m)
{
	(void)ctx;
	if (view_stopped())
		return 1;
	int hidden = (m->flags & VMS_MODULE_HIDDEN) != 0;
	out_begin();
	if (m->flags & VMS_ENTRY_UNREADABLE) {
		out_null("name");
		out_bool("unreadable", 1);
		out_bool("hidden", hidden);
		out_hex("addr", NULL, m->addr);
		out_text("%-24s (struct module at 0x%llx unreadable)", "?", (unsigned long long)m->addr);
		out_end();
		return 0;
	}
	out_guest("name", "%-24s ", m->name);
	out_hex("base", "0x%016llx ", m->base);
	out_uint("size", "%8llu ", m->size);
	out_int("refcnt", "%4lld ", m->refcnt);
	out_str("state", "%-9s ", m->state_name);
	out_guest("taint", NULL, m->taint);
	out_guest(NULL, "%-6s ", m->taint[0] ? m->taint : "-");
	out_guest("used_by", NULL, m->used_by);
	out_guest(NULL, "%s", m->used_by[0] ? m->used_by : "-");
	out_bool("hidden", hidden);
	if (hidden)
		out_text("  HIDDEN (not in the module list)");
	out_hex("addr", NULL, m->addr);
	out_end();
	return 0;
}

int cmd_lsmod(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = { VIEW_OPTIONS, { "no-scan", no_argument, NULL, 'n' }, { 0 } };
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_modules_opts mo = { .sz = sizeof(mo), .scan = 1, .stats = &st };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (view_opt(&a, c))
			continue;
		switch (c) {
		case 'n': mo.scan = 0; break;
		case 'h': printf(usage_lsmod, view_help, kernel_help); return 0;
		default: die_usage("lsmod: bad option");
		}
	}
	if (optind != argc)
		die_usage("lsmod: unexpected argument '%s'", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	out_text("%-24s %-18s %8s %4s %-9s %-6s %s\n", "NAME", "BASE", "SIZE", "REFS", "STATE", "TAINT", "USED BY");
	int rc = vms_modules(v.k, &mo, lsmod_row, NULL);
	return view_close(&v, view_result(&v, rc, "modules", &st));
}

/* ---- lsof ---- */

static const char usage_lsof[] =
        "usage: vmsight -t TARGET lsof [PID] [--pause] [options]\n"
        "\n"
        "List the open files of every process (or of PID) from their file descriptor\n"
        "tables, as /proc/PID/fd and fdinfo show them: fd with its access (r, w, u),\n"
        "type (REG DIR CHR BLK FIFO SOCK LINK a_inode), open flags (octal, O_CLOEXEC\n"
        "included), position, inode and the full path across mount points; unlinked\n"
        "files end in \" (deleted)\", pipes and sockets show as pipe:[INODE] and\n"
        "socket:[INODE], anonymous inodes as anon_inode:NAME.\n"
        "\n"
        "%s"
        "%s"
        "\n"
        "JSON, one object per open file: {pid,comm,fd,path,type,flags,mode,pos,inode,\n"
        "mnt_id,dev,deleted,addr}; flags and mode are numbers (fdinfo prints flags in\n"
        "octal); dev is \"MAJOR:MINOR\" in decimal, as /proc/PID/mountinfo writes it.\n";

static int lsof_row(void *ctx, const struct vms_file *f)
{
	(void)ctx;
	if (view_stopped())
		return 1;
	out_begin();
	out_int("pid", "%7lld ", f->pid);
	out_guest("comm", "%-16s ", f->comm);
	if (f->flags & VMS_ENTRY_UNREADABLE) {
		out_int("fd", "%5lld ", f->fd);
		out_null("path");
		out_bool("unreadable", 1);
		out_hex("addr", "(struct file at 0x%llx unreadable)", f->addr);
		out_end();
		return 0;
	}
	char fd[16], dev[32];
	snprintf(fd, sizeof(fd), "%d%c", f->fd, (f->f_mode & 3) == 3 ? 'u' : (f->f_mode & 2) ? 'w' : 'r');
	snprintf(dev, sizeof(dev), "%u:%u", f->dev >> 20, f->dev & 0xfffff);
	out_int("fd", NULL, f->fd);
	out_str(NULL, "%5s ", fd);
	out_str("type", "%-7s ", f->type);
	out_uint("flags", "%9llo ", f->f_flags);
	out_uint("mode", NULL, f->mode);
	out_int("pos", "%10lld ", f->pos);
	out_uint("inode", "%10llu ", f->ino);
	out_int("mnt_id", NULL, f->mnt_id);
	out_str("dev", NULL, dev);
	out_guest("path", "%s", f->path);
	out_bool("deleted", f->flags & VMS_FILE_DELETED);
	out_hex("addr", NULL, f->addr);
	if (f->flags & VMS_ENTRY_TRUNCATED)
		out_bool("truncated", 1);
	out_end();
	return 0;
}

int cmd_lsof(const struct globals *g, int argc, char **argv)
{
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_files_opts fo = { .sz = sizeof(fo), .stats = &st };
	if (view_parse_common(argc, argv, "lsof", usage_lsof, &a))
		return 0;
	if (argc - optind > 1)
		die_usage("lsof: give at most one PID");
	if (optind < argc)
		fo.pid = parse_pid("lsof", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	out_text("%7s %-16s %5s %-7s %9s %10s %10s %s\n", "PID", "COMMAND", "FD", "TYPE", "FLAGS", "POS", "INODE",
	         "NAME");
	int rc = vms_files(v.k, &fo, lsof_row, NULL);
	return view_close(&v, view_result(&v, rc, "open files", &st));
}

/* ---- maps ---- */

static const char usage_maps[] =
        "usage: vmsight -t TARGET maps [PID] [--pause] [options]\n"
        "\n"
        "Print the memory map of process PID as /proc/PID/maps does: address range,\n"
        "permissions (r w x, s shared or p private), file offset, device, inode, and\n"
        "the file's path or [heap], [stack], [vdso], [vvar]. Read from the kernel's\n"
        "memory areas (a maple tree from Linux 6.1, a list before). Without PID, the\n"
        "maps of every process, each after a line \"PID N\".\n"
        "\n"
        "%s"
        "%s"
        "\n"
        "JSON, one object per area: {pid,start,end,perms,offset,dev,inode,path,deleted,\n"
        "addr}; start and end as \"0x...\" strings.\n";

struct maps_out {
	int all;
	int32_t last_pid;
};

static int maps_row(void *ctx, const struct vms_vma *m)
{
	struct maps_out *o = ctx;
	if (view_stopped())
		return 1;
	if (o->all && m->pid != o->last_pid)
		out_text("PID %d\n", m->pid);
	o->last_pid = m->pid;
	/* /proc/PID/maps: the name starts in column 74 (show_map_vma). */
	char head[160], dev[32];
	snprintf(dev, sizeof(dev), "%02x:%02x", m->dev >> 20, m->dev & 0xfffff);
	int n = snprintf(head, sizeof(head), "%08llx-%08llx %s %08llx %s %llu ", (unsigned long long)m->start,
	                 (unsigned long long)m->end, m->perms, (unsigned long long)m->offset, dev,
	                 (unsigned long long)m->ino);
	int pad = n < 73 ? 73 - n : 0;
	out_begin();
	out_int("pid", NULL, m->pid);
	out_hex("start", NULL, m->start);
	out_hex("end", NULL, m->end);
	out_str("perms", NULL, m->perms);
	out_uint("offset", NULL, m->offset);
	out_str("dev", NULL, dev);
	out_uint("inode", NULL, m->ino);
	out_text("%s", head);
	out_guest("path", NULL, m->path);
	if (m->flags & VMS_ENTRY_UNREADABLE)
		out_text("%*s (vm_area_struct at 0x%llx unreadable)", pad, "", (unsigned long long)m->addr);
	else if (m->path[0])
		out_text("%*s", pad, "");
	if (!(m->flags & VMS_ENTRY_UNREADABLE))
		out_guest(NULL, "%s", m->path);
	out_bool("deleted", m->flags & VMS_FILE_DELETED);
	out_hex("addr", NULL, m->addr);
	if (m->flags & VMS_ENTRY_UNREADABLE)
		out_bool("unreadable", 1);
	out_end();
	return 0;
}

int cmd_maps(const struct globals *g, int argc, char **argv)
{
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_maps_opts mo = { .sz = sizeof(mo), .stats = &st };
	if (view_parse_common(argc, argv, "maps", usage_maps, &a))
		return 0;
	if (argc - optind > 1)
		die_usage("maps: give at most one PID");
	int pid = optind < argc ? parse_pid("maps", argv[optind]) : 0;
	struct maps_out o = { .all = pid == 0 };
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	int rc = vms_maps(v.k, pid, &mo, maps_row, &o);
	return view_close(&v, view_result(&v, rc, "memory areas", &st));
}

/* ---- dmesg ---- */

static const char usage_dmesg[] =
        "usage: vmsight -t TARGET dmesg [--pause] [options]\n"
        "\n"
        "Print the kernel log from the printk ring buffer (Linux 5.10 and later), oldest\n"
        "first, as dmesg does: [seconds.microseconds] text. A record of several lines\n"
        "gives a line each, with the record's time; control bytes are shown escaped.\n"
        "\n"
        "%s"
        "%s"
        "\n"
        "JSON, one object per record: {seq,ts,ts_ns,level,facility,text}; ts in seconds.\n";

static int dmesg_row(void *ctx, const struct vms_log_record *r)
{
	(void)ctx;
	if (view_stopped())
		return 1;
	uint64_t s = r->ts_ns / 1000000000u, us = r->ts_ns % 1000000000u / 1000;
	char stamp[48];
	snprintf(stamp, sizeof(stamp), "[%5llu.%06llu] ", (unsigned long long)s, (unsigned long long)us);
	if (out_is_json()) {
		out_begin();
		out_uint("seq", NULL, r->seq);
		out_double("ts", NULL, 6, (double)s + (double)us / 1e6);
		out_uint("ts_ns", NULL, r->ts_ns);
		out_int("level", NULL, r->level);
		out_int("facility", NULL, r->facility);
		size_t len = r->text_len && r->text[r->text_len - 1] == '\0' ? r->text_len - 1 : r->text_len;
		out_guest_n("text", NULL, r->text, len, 0);
		if (r->flags & VMS_ENTRY_UNREADABLE)
			out_bool("unreadable", 1);
		out_end();
		return 0;
	}
	if (r->flags & VMS_ENTRY_UNREADABLE) {
		out_begin();
		out_text("%s(record unreadable: overwritten while read)", stamp);
		out_end();
		return 0;
	}
	/* Each line of a record gets the record's timestamp, as the kernel prints it. */
	const char *p = r->text, *end = r->text + r->text_len;
	do {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		out_begin();
		out_text("%s", stamp);
		out_guest_n(NULL, "%s", p, (size_t)(stop - p), ESC_LOG_TEXT);
		out_end();
		p = nl ? nl + 1 : end;
	} while (p < end);
	return 0;
}

int cmd_dmesg(const struct globals *g, int argc, char **argv)
{
	struct view_args a = { 0 };
	struct vms_view_stats st = { 0 };
	struct vms_dmesg_opts dopt = { .sz = sizeof(dopt), .stats = &st };
	if (view_parse_common(argc, argv, "dmesg", usage_dmesg, &a))
		return 0;
	if (optind != argc)
		die_usage("dmesg: unexpected argument '%s'", argv[optind]);
	struct view v;
	if (view_open(g, &a, &v))
		return 1;
	int rc = vms_dmesg(v.k, &dopt, dmesg_row, NULL);
	return view_close(&v, view_result(&v, rc, "log records", &st));
}
