/*
 * libvmsight — virtual machine introspection for QEMU/KVM.
 *
 * The one public header. Objects are opaque, every function returns 0 (or a
 * count) on success and a negative errno on failure, and sets no global
 * state: the text of the last error is kept in the target (vms_errmsg).
 * Option structs carry their own size (sz) so that fields can be added
 * without breaking the ABI; zero-initialise them and set sz = sizeof.
 * A NULL struct or sz 0 means the defaults; a struct larger than this
 * library knows is -EINVAL unless the fields it does not know are zero.
 */
#ifndef VMSIGHT_H
#define VMSIGHT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VMS_API __attribute__((visibility("default")))
#else
#define VMS_API
#endif

#define VMS_VERSION_MAJOR 0
#define VMS_VERSION_MINOR 1

/* File monitoring through vmsight-agent: vms_watch_* (watch.h). */
#include "watch.h"
/* Agentless tracing through QEMU's GDB stub: vms_tracer_*, vms_trace_* (trace.h). */
#include "trace.h"

/* An attached virtual machine: a physical-memory source plus, where the
 * target offers them, a QMP control channel and vCPU state. */
struct vms_target;

/* Log sink for decisions the library takes (which source, and why). */
typedef void (*vms_log_fn)(void *ctx, const char *msg);

struct vms_open_opts {
	size_t sz;          /* sizeof(struct vms_open_opts) */
	const char *source; /* force a backend: "shm", "procmem", "dump", "gdb", "qmp"; NULL = fastest */
	vms_log_fn log;     /* optional: told which source was picked and why */
	void *log_ctx;
	char *errbuf; /* optional: receives the reason vms_open failed */
	size_t errbuf_len;
	unsigned timeout_ms; /* QMP/GDB reply timeout; 0 = 10000 */
	int hold;            /* return the target held (vms_hold): vms_unhold it when the burst is over */
	/* What an attach remembers of a VM for the next (a live QEMU's RAM
	 * layout, where its kernel lies: checked in guest memory before use,
	 * docs/kernel.md) lives in the cache directory: NULL = the profiles'
	 * ($XDG_CACHE_HOME/vmsight or ~/.cache/vmsight); no_cache: none is
	 * read or written. */
	const char *cache_dir;
	int no_cache;
};

/*
 * Attach to a target. TARGET is one of:
 *   qmp:PATH        a QEMU QMP unix socket; finds the RAM file or the QEMU
 *                   process (and the GDB stub) through it
 *   pid:N           a running QEMU process, read through /proc
 *   gdb:HOST:PORT   a QEMU GDB stub (QEMU pauses the guest while attached)
 *   dump:FILE       a raw image, an ELF core (dump-guest-memory) or a LiME file
 */
VMS_API int vms_open(const char *target, const struct vms_open_opts *opts, struct vms_target **out);
VMS_API void vms_close(struct vms_target *t);

/*
 * A burst of calls over one QMP connection. Each call that needs QEMU's
 * monitor (layout, registers, run state) connects for its own moment and
 * disconnects, since QEMU serves one QMP client at a time. Between
 * vms_hold and vms_unhold the connection stays open instead, and the vCPUs'
 * registers are read once, all together (a running guest's as of that
 * moment; vms_pause and vms_resume read them again). For a short burst such
 * as attaching and finding the kernel; do not hold across idle time. Nests.
 */
VMS_API void vms_hold(struct vms_target *t);
VMS_API void vms_unhold(struct vms_target *t);

/* Text of the last error on T (never NULL; "" if none). */
VMS_API const char *vms_errmsg(const struct vms_target *t);

/* Name of the memory source in use ("shm", "procmem", ...) and a one-line
 * description of where its memory comes from (file, pid, socket). */
VMS_API const char *vms_source_name(const struct vms_target *t);
VMS_API const char *vms_source_detail(const struct vms_target *t);

/* Guest RAM as guest-physical ranges, ascending and disjoint. */
struct vms_ram_range {
	uint64_t gpa;
	uint64_t len;
};
VMS_API int vms_ram_ranges(const struct vms_target *t, const struct vms_ram_range **ranges, size_t *count);

/* Copy LEN bytes of guest-physical memory at PA into BUF. The whole range
 * must be guest RAM (-EFAULT otherwise); it may span RAM ranges that touch. */
VMS_API int vms_read_pa(struct vms_target *t, uint64_t pa, void *buf, size_t len);

/* Zero-copy view of LEN bytes at PA, valid until vms_close, or NULL when the
 * source cannot map (then use vms_read_pa) or the range is not one RAM range.
 * Memory of a running guest changes under the pointer. */
VMS_API const void *vms_map_pa(struct vms_target *t, uint64_t pa, size_t len);

/* vCPU state. Fields not provided by the source are zero and their bit in
 * `valid` is clear. */
enum {
	VMS_REGS_GPR = 1u << 0, /* rax..r15, rip, rflags */
	VMS_REGS_CR = 1u << 1,  /* cr0, cr2, cr3, cr4 */
	VMS_REGS_EFER = 1u << 2,
	VMS_REGS_SEG = 1u << 3,     /* selectors, fs_base, gs_base */
	VMS_REGS_KGSBASE = 1u << 4, /* kernel_gs_base */
};

struct vms_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint64_t fs_base, gs_base, kernel_gs_base;
	uint16_t cs, ss, ds, es, fs, gs;
	uint32_t cs_flags; /* descriptor flags of CS (bit 21: L) when known */
	uint32_t valid;    /* VMS_REGS_* */
};

/* Number of vCPUs, and the state of one (0-based). */
VMS_API int vms_vcpu_count(struct vms_target *t);
VMS_API int vms_vcpu_regs(struct vms_target *t, unsigned vcpu, struct vms_regs *out);

/* Paging mode implied by a vCPU's registers. */
enum vms_paging {
	VMS_PAGING_NONE, /* CR0.PG clear */
	VMS_PAGING_32,   /* 32-bit, 4 KiB/4 MiB pages */
	VMS_PAGING_PAE,
	VMS_PAGING_4LEVEL,  /* IA-32e */
	VMS_PAGING_5LEVEL,  /* IA-32e with LA57 */
	VMS_PAGING_UNKNOWN, /* not enough registers */
};
VMS_API enum vms_paging vms_paging_mode(const struct vms_regs *r);
VMS_API const char *vms_paging_name(enum vms_paging m);

/*
 * Virtual addresses. An address space is named by its DTB: the value of CR3
 * for it (PCID and flag bits are ignored). The target translates with one
 * paging mode, by default that of vCPU 0's registers, read when the target
 * opens and after each vms_pause/vms_resume (a translation itself never
 * talks to QEMU); vms_set_paging fixes it (for dumps without registers, or
 * to override).
 * With VMS_PAGING_NONE a virtual address is its physical address.
 *
 * Translations are cached in a software TLB and never re-checked against
 * the guest's page tables: a running guest changes them under us, so a
 * cached translation is only as fresh as the last flush. vms_pause and
 * vms_resume flush everything; callers reading a running guest flush when
 * they start a new consistent look (docs/arch.md). A target and its TLB
 * are used by one thread at a time.
 *
 * Errors: -EFAULT the address is not mapped (an entry is not present),
 * -EINVAL it is not canonical (or above 4 GiB in 32-bit and PAE modes),
 * -EIO the page tables are corrupt (an entry has reserved bits set or a
 * table lies outside guest RAM), -ENOTSUP the paging mode is unknown.
 */
enum {
	VMS_PAGE_PRESENT = 1u << 0, /* set in every successful translation */
	VMS_PAGE_WRITE = 1u << 1,   /* R/W set at every level */
	VMS_PAGE_USER = 1u << 2,    /* U/S set at every level */
	VMS_PAGE_NX = 1u << 3,      /* XD set at some level (with EFER.NXE) */
};

struct vms_translation {
	uint64_t va;
	uint64_t pa;        /* guest-physical address of va (may lie outside RAM: MMIO) */
	uint64_t page_size; /* 4 KiB, 2 MiB, 4 MiB or 1 GiB */
	uint32_t prot;      /* VMS_PAGE_*, combined across levels as the CPU does
				 * (CR0.WP, SMEP, SMAP and protection keys not applied) */
};

/* Translate VA in the address space DTB. */
VMS_API int vms_translate(struct vms_target *t, uint64_t dtb, uint64_t va, struct vms_translation *out);

/* The page walk itself, bypassing the TLB (and not filling it): every
 * entry read, top level first, filled also when the walk fails. */
struct vms_walk_step {
	const char *level; /* "PML5E", "PML4E", "PDPTE", "PDE", "PTE" */
	uint64_t entry_pa; /* guest-physical address of the entry */
	uint64_t entry;    /* its value (4-byte entries in 32-bit mode) */
};
struct vms_page_walk {
	struct vms_translation tr; /* valid when vms_page_walk returns 0 */
	enum vms_paging mode;
	uint64_t table; /* guest-physical address of the top table */
	unsigned nsteps;
	struct vms_walk_step step[5];
};
VMS_API int vms_page_walk(struct vms_target *t, uint64_t dtb, uint64_t va, struct vms_page_walk *out);

/* Copy LEN bytes at virtual address VA into BUF, across pages. On a fault
 * the bytes before the faulting page are in BUF; *DONE (if not NULL) is
 * always set to the number of bytes copied. */
VMS_API int vms_read_va(struct vms_target *t, uint64_t dtb, uint64_t va, void *buf, size_t len, size_t *done);

/* Read the NUL-terminated string at VA into BUF (BUFLEN >= 1), always
 * NUL-terminated. Returns its length, -ERANGE if it does not end within
 * BUFLEN - 1 bytes (BUF holds the truncated string), or -errno on a fault
 * (BUF holds what was read before it). */
VMS_API int vms_read_str_va(struct vms_target *t, uint64_t dtb, uint64_t va, char *buf, size_t buflen);

/* A run of mapped virtual memory: contiguous in both VA and PA, with one
 * page size and one set of permissions. */
struct vms_va_range {
	uint64_t va;
	uint64_t len;
	uint64_t pa;
	uint64_t page_size;
	uint32_t prot; /* VMS_PAGE_* */
};
/* Return non-zero to stop the walk. */
typedef int (*vms_va_range_fn)(void *ctx, const struct vms_va_range *r);

/* Every mapped range of address space DTB, in ascending VA order. Entries
 * with reserved bits set and lower tables outside RAM are skipped (a top
 * table outside RAM is -EIO). At most
 * VMS_VA_RANGES_MAX_TABLES page tables are read (a hostile guest can make
 * its tables loop); past that the walk stops with -E2BIG, the ranges
 * already reported standing. Returns 0, the callback's non-zero value, or
 * -errno. Reads the tables directly: neither uses nor fills the TLB. */
#define VMS_VA_RANGES_MAX_TABLES (1u << 18)
VMS_API int vms_va_ranges(struct vms_target *t, uint64_t dtb, vms_va_range_fn cb, void *ctx);

/* The paging mode used for translation: the one set, else vCPU 0's
 * (read when the target opens, again after vms_pause/vms_resume, and here
 * if still unknown). Returns a VMS_PAGING_* value or -errno (no registers:
 * set the mode). */
VMS_API int vms_get_paging(struct vms_target *t);
/* Fix the paging mode (flushes the TLB). 32-bit mode assumes CR4.PSE,
 * PAE and IA-32e assume EFER.NXE. VMS_PAGING_UNKNOWN returns to asking
 * vCPU 0. */
VMS_API int vms_set_paging(struct vms_target *t, enum vms_paging mode);

/* Invalidate cached translations: all of them; those of one address
 * space; or those of one address space that overlap [va, va + len). */
VMS_API void vms_tlb_flush(struct vms_target *t);
VMS_API void vms_tlb_flush_dtb(struct vms_target *t, uint64_t dtb);
VMS_API void vms_tlb_flush_range(struct vms_target *t, uint64_t dtb, uint64_t va, uint64_t len);

/* Pause and resume the guest (QMP stop/cont). -ENOTSUP without a control
 * channel. vms_pause leaves a guest that is already paused as it is (and
 * returns 0); a guest it paused is resumed by a guardian process if this
 * one dies before vms_resume. vms_is_running returns 1, 0, or a negative
 * errno. */
VMS_API int vms_pause(struct vms_target *t);
VMS_API int vms_resume(struct vms_target *t);
VMS_API int vms_is_running(struct vms_target *t);

/* Write all guest RAM to FD (a regular file at offset 0).
 * VMS_DUMP_RAW: offset = guest-physical address, holes and zero pages sparse.
 * VMS_DUMP_ELF: an ELF core laid out like QEMU's dump-guest-memory: one
 * PT_LOAD per RAM range and per-vCPU NT_PRSTATUS and "QEMU" notes. */
enum vms_dump_format { VMS_DUMP_RAW, VMS_DUMP_ELF };
/* Called after each chunk; a non-zero return cancels the dump (-ECANCELED). */
typedef int (*vms_progress_fn)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
struct vms_dump_opts {
	size_t sz;
	enum vms_dump_format format;
	vms_progress_fn progress;
	void *progress_ctx;
};
VMS_API int vms_dump(struct vms_target *t, int fd, const struct vms_dump_opts *opts);

/*
 * Snapshots: all guest RAM and every vCPU's registers at one moment, written
 * as an ELF core (the vms_dump layout plus a "VMSIGHT" note describing the
 * snapshot), so crash, Volatility and `-t dump:FILE` read it.
 *   VMS_SNAP_PAUSE       stop the guest, copy RAM with one thread per CPU,
 *                        resume: consistent; the guest is paused for the copy.
 *   VMS_SNAP_BACKGROUND  QEMU's background-snapshot migration write-protects
 *                        guest RAM and streams each page out before the guest
 *                        changes it: consistent, the guest pauses only for
 *                        milliseconds. Needs QMP and a userfaultfd-capable host.
 *                        A guest that is already paused is copied as it stands
 *                        (QEMU would resume it at the end of its snapshot).
 *   VMS_SNAP_LIVE        copy while the guest runs: fast, NOT consistent
 *                        (marked so in the file).
 * The guest is resumed on every path if vmsight paused it (not if it was
 * already paused). On failure the caller should remove the partial file.
 */
enum vms_snapshot_mode { VMS_SNAP_PAUSE, VMS_SNAP_BACKGROUND, VMS_SNAP_LIVE };

struct vms_snapshot_opts {
	size_t sz;
	enum vms_snapshot_mode mode;
	unsigned threads;         /* copy threads for pause/live; 0 = one per CPU */
	vms_progress_fn progress; /* may cancel (the guest is resumed) */
	void *progress_ctx;
};

struct vms_snapshot_stats {
	double pause_ms; /* how long the guest was paused (QEMU's STOP..RESUME when known) */
	double total_ms;
	uint64_t ram_bytes;  /* guest RAM captured */
	uint64_t data_bytes; /* bytes written (zero pages are holes) */
	int consistent;
	const char *mode; /* "pause", "background", "live" */
};

VMS_API int vms_snapshot(struct vms_target *t, int fd, const struct vms_snapshot_opts *opts,
                         struct vms_snapshot_stats *stats);

/* Compare two targets' RAM page by page (4 KiB). FN is called for every run
 * of consecutive guest-physical pages that differ, or are RAM in only one of
 * them; it may stop the walk by returning non-zero. Returns the number of
 * differing pages, or -errno. */
typedef int (*vms_diff_fn)(void *ctx, uint64_t gpa, uint64_t pages);
VMS_API long long vms_diff_pages(struct vms_target *a, struct vms_target *b, vms_diff_fn fn, void *ctx);

/*
 * The Linux kernel, found in guest memory with no profile made beforehand
 * (docs/kernel.md): where the kernel image is (KASLR), its page tables, its
 * symbols (decoded from the kernel's own kallsyms tables) and its types (the
 * kernel's BTF, parsed with libbpf). What was found is cached as a profile
 * under $XDG_CACHE_HOME/vmsight (or ~/.cache/vmsight), keyed by the kernel's
 * banner and build id, so that the next attach to the same kernel only
 * locates the image and checks the banner. A vms_kernel borrows its target:
 * close it before the target. Errors: 0 or -errno, text in vms_errmsg(t).
 */
struct vms_kernel;

struct vms_kernel_opts {
	size_t sz;              /* sizeof(struct vms_kernel_opts) */
	uint64_t cr3;           /* an address space to start from; 0 = the vCPUs' CR3s */
	const char *cache_dir;  /* NULL = $XDG_CACHE_HOME/vmsight or ~/.cache/vmsight */
	int no_cache;           /* neither read nor write the profile cache */
	const char *system_map; /* a System.map: symbols for kernels whose kallsyms are not found */
	const char *isf;        /* a Volatility 3 ISF JSON file: symbols and types, for kernels without BTF */
};

VMS_API int vms_kernel_open(struct vms_target *t, const struct vms_kernel_opts *opts, struct vms_kernel **out);
VMS_API void vms_kernel_close(struct vms_kernel *k);

struct vms_kernel_info {
	const char *banner;   /* linux_banner, without the trailing newline */
	const char *release;  /* "6.1.0-56-cloud-amd64" */
	const char *build_id; /* hex GNU build id of vmlinux, "" if none */
	uint64_t text_va;     /* _text */
	uint64_t text_pa;
	int64_t kaslr_virt; /* _text - 0xffffffff81000000 */
	int64_t kaslr_phys; /* pa(_text) - 0x1000000 (CONFIG_PHYSICAL_START's default) */
	uint64_t cr3;       /* the kernel's own page tables, init_top_pgt (PCID bits clear); a
	                     * vCPU's CR3 only if that table is not found */
	int pti;            /* 1: page-table isolation seen (a user CR3 = kernel CR3 | 0x1000) */
	enum vms_paging paging;
	size_t nsyms;
	size_t btf_bytes;         /* size of the kernel's BTF, 0 if none */
	const char *symbols_from; /* "kallsyms", "cache", "system-map" or "isf" */
	const char *types_from;   /* "btf", "cache", "isf" or "none" */
	const char *cache_file;   /* the profile file read or written, "" if none */
	double discovery_ms;      /* time vms_kernel_open took */
	/* Where the search for the kernel started: "registers" (the vCPUs'
	 * CR3), "given" (opts->cr3), "scan" (a search of RAM, for dumps
	 * without vCPU state) or "cache" (where an earlier command found it in
	 * this same QEMU process or dump file, checked in guest memory first:
	 * no registers asked, no scan; docs/kernel.md). */
	const char *location_from;
};
VMS_API int vms_kernel_info(const struct vms_kernel *k, struct vms_kernel_info *out);

/* Address of the first symbol called NAME (kallsyms order). -ENOENT if none. */
VMS_API int vms_sym_lookup(struct vms_kernel *k, const char *name, uint64_t *addr);

struct vms_sym {
	const char *name;
	uint64_t addr;
	char type; /* nm letter as /proc/kallsyms shows it: T t D d R r B b A ... */
};
/* Every symbol in kallsyms order (ascending address). Return non-zero
 * from FN to stop; that value is returned. */
typedef int (*vms_sym_fn)(void *ctx, const struct vms_sym *s);
VMS_API int vms_sym_iter(struct vms_kernel *k, vms_sym_fn fn, void *ctx);

/* Where a member of a struct or union lies: PATH is a dotted member path,
 * through nested and anonymous members ("tasks.next", "pid_links[1]",
 * "__state"). A bitfield has bit_size > 0: it starts bit_offset bits into
 * the struct (offset = bit_offset / 8). */
struct vms_btf_field {
	uint64_t offset;     /* bytes from the start of the struct */
	uint64_t size;       /* bytes (of the storage unit for bitfields) */
	uint32_t bit_offset; /* bits from the start of the struct */
	uint32_t bit_size;   /* 0 unless a bitfield */
};
VMS_API int vms_btf_field(struct vms_kernel *k, const char *type, const char *path, struct vms_btf_field *out);
/* The common case: byte offset and size of TYPE's member PATH. */
VMS_API int vms_btf_member(struct vms_kernel *k, const char *type, const char *path, uint64_t *offset, uint64_t *size);
/* sizeof(struct/union TYPE). */
VMS_API int vms_btf_struct_size(struct vms_kernel *k, const char *type, uint64_t *size);

/* Read LEN bytes of kernel virtual memory at VA (in the kernel's CR3). */
VMS_API int vms_kernel_read(struct vms_kernel *k, uint64_t va, void *buf, size_t len);

/* Write the profile as a Volatility 3 ISF JSON file (symbols and the BTF
 * types: structs, unions, enums, base types) to FD. */
VMS_API int vms_kernel_write_isf(struct vms_kernel *k, int fd);

/*
 * Linux views (docs/views.md): processes and threads, modules, open files,
 * memory maps and the kernel log, read from the kernel's own structures
 * with the layout taken from its types (BTF): no profile made beforehand.
 *
 * Each view walks the guest's structures once and calls FN per entry, in
 * the kernel's order; the entry and the strings it points to are valid only
 * during the call. FN returns non-zero to stop: that value is returned.
 * Otherwise a view returns 0 when its walk ended normally, or -errno (text
 * in vms_errmsg) with the entries reported so far standing: -ELOOP a list
 * that cycles, -E2BIG more entries than max_entries, -EIO a link that does
 * not hold (the guest changed it under us, or it is corrupt), -ENOENT no
 * such process, -ENOTSUP structures this kernel does not have.
 *
 * The guest may be running and may be hostile: every walk is bounded,
 * every pointer is checked before it is followed, every guest-supplied
 * count and length is clamped, and an object that fails its checks (a read
 * torn by the running guest) is read again up to `retries` times, then
 * reported with VMS_ENTRY_UNREADABLE and its address only. For an exact
 * answer, pause the guest around the call (vms_pause / vms_resume).
 */
enum {
	VMS_ENTRY_UNREADABLE = 1u << 0,         /* failed its checks: only the address is valid */
	VMS_ENTRY_TRUNCATED = 1u << 1,          /* a string (cmdline, path, text) was cut short */
	VMS_TASK_KTHREAD = 1u << 8,             /* a kernel thread (PF_KTHREAD) */
	VMS_TASK_THREAD = 1u << 9,              /* not its process's group leader */
	VMS_TASK_CMDLINE_UNREADABLE = 1u << 10, /* the process's memory could not be read */
	VMS_MODULE_HIDDEN = 1u << 8,            /* found by scanning module memory, not in the module list */
	VMS_FILE_DELETED = 1u << 8,             /* unlinked: the path ends in " (deleted)" */
};

/* What a walk met (optional output of every view). */
struct vms_view_stats {
	unsigned entries;    /* reported */
	unsigned unreadable; /* reported with VMS_ENTRY_UNREADABLE */
	unsigned retried;    /* objects read again after failing their checks */
};

/* Processes (thread group leaders), with threads optionally. */
struct vms_task {
	uint64_t addr;    /* the task_struct */
	int32_t pid;      /* the thread's id (a process's: its pid) */
	int32_t tgid;     /* its process's pid */
	int32_t ppid;     /* the parent process's pid (0 for init and kthreadd) */
	int32_t nthreads; /* a process's thread count (signal->nr_threads); 0 for threads */
	uint32_t uid, euid, suid, fsuid;
	uint32_t gid, egid, sgid, fsgid;
	char comm[16];       /* task->comm */
	char name[64];       /* the name /proc shows: comm, a kernel thread's full name, a
				     * kernel worker's with its work queue ("kworker/0:1-events") */
	char state;          /* R S D T t X Z P I, as ps shows it; '?' if unreadable */
	uint32_t kflags;     /* task->flags (PF_*) */
	uint64_t start_ns;   /* start time, ns since boot (start_boottime) */
	uint64_t mm;         /* the mm_struct, 0 for kernel threads */
	uint64_t dtb;        /* the process's page tables (a CR3), when its cmdline was read */
	const char *cmdline; /* /proc/PID/cmdline: arguments each ending in a NUL; processes only */
	size_t cmdline_len;
	uint32_t flags; /* VMS_ENTRY_*, VMS_TASK_* */
};
typedef int (*vms_task_fn)(void *ctx, const struct vms_task *t);

struct vms_tasks_opts {
	size_t sz;
	int threads;          /* every thread: a process, then its other threads */
	int32_t pid;          /* only this process (and with threads, its threads); 0 = all */
	int no_cmdline;       /* do not read command lines */
	size_t cmdline_max;   /* bytes of command line kept (0 = 64 KiB, at most 1 MiB) */
	unsigned max_entries; /* 0 = 4 Mi */
	unsigned retries;     /* 0 = 3 */
	struct vms_view_stats *stats;
};
VMS_API int vms_tasks(struct vms_kernel *k, const struct vms_tasks_opts *opts, vms_task_fn fn, void *ctx);

/* Loaded modules (the module list, and with scan, module memory). */
struct vms_module {
	uint64_t addr; /* the struct module */
	const char *name;
	uint64_t base;          /* the core text, as /proc/modules' address */
	uint64_t size;          /* bytes of core and init memory, as /proc/modules */
	int state;              /* MODULE_STATE_*: 0 live, 1 coming, 2 going, 3 unformed */
	const char *state_name; /* "Live", "Loading", "Unloading", "Unformed" */
	int refcnt;             /* as /proc/modules (-1 unknown) */
	uint64_t taints;        /* TAINT_* bits */
	const char *taint;      /* the taint letters as /proc/modules shows them, "(OE)"; "" */
	const char *used_by;    /* modules using it, as /proc/modules: "a,b,"; "" */
	uint32_t flags;         /* VMS_ENTRY_*, VMS_MODULE_HIDDEN */
};
typedef int (*vms_module_fn)(void *ctx, const struct vms_module *m);

struct vms_modules_opts {
	size_t sz;
	int scan;             /* also look through module memory for modules not in the list */
	unsigned max_entries; /* 0 = 65536 */
	unsigned retries;
	struct vms_view_stats *stats;
};
VMS_API int vms_modules(struct vms_kernel *k, const struct vms_modules_opts *opts, vms_module_fn fn, void *ctx);

/* Open files: each process's file descriptor table. */
struct vms_file {
	int32_t pid;
	char comm[16]; /* the process's */
	int32_t fd;
	uint64_t addr;    /* the struct file */
	const char *path; /* as the /proc/PID/fd/N link: "/a/b", "/a/b (deleted)",
				     * "pipe:[INO]", "socket:[INO]", "anon_inode:NAME" */
	const char *type; /* REG DIR CHR BLK FIFO SOCK LINK a_inode, "unknown" */
	uint32_t mode;    /* the inode's i_mode */
	uint32_t f_flags; /* as fdinfo's flags: open flags, O_CLOEXEC from the fd table */
	uint32_t f_mode;  /* FMODE_* */
	int64_t pos;
	uint64_t ino;
	uint32_t dev; /* the file system's device: major << 20 | minor */
	int32_t mnt_id;
	uint32_t flags; /* VMS_ENTRY_*, VMS_FILE_DELETED */
};
typedef int (*vms_file_fn)(void *ctx, const struct vms_file *f);

struct vms_files_opts {
	size_t sz;
	int32_t pid;          /* one process; 0 = every process */
	unsigned max_entries; /* 0 = 4 Mi */
	unsigned retries;
	struct vms_view_stats *stats;
};
VMS_API int vms_files(struct vms_kernel *k, const struct vms_files_opts *opts, vms_file_fn fn, void *ctx);

/* Sockets: the kernel's socket tables (TCP established and listening, UDP,
 * raw, packet, UNIX) and each process's descriptors, as ss -anp and
 * /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix,packet} show them. A socket
 * held by several descriptors (or processes) is reported once per holder;
 * one no process holds (TIME_WAIT, a connection not yet accepted, an
 * orphan) once, with pid 0. Sockets a process holds that are in none of
 * the tables walked (another network namespace, netlink, an unbound TCP
 * socket) come last. */
struct vms_socket {
	uint64_t addr;                       /* the struct sock (inet_timewait_sock, request_sock) */
	const char *proto;                   /* tcp tcp6 udp udp6 raw raw6 packet unix, else netlink, ... */
	int family;                          /* AF_* */
	int type;                            /* SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, ... */
	int protocol;                        /* IPPROTO_* (ETH_P_* for packet sockets) */
	int state;                           /* TCP_* as the kernel keeps it (also UNIX and UDP sockets) */
	const char *state_name;              /* the kernel's name: LISTEN, ESTABLISHED, TIME_WAIT, CLOSE, ... */
	uint8_t local_ip[16], remote_ip[16]; /* network order: 4 bytes (AF_INET) or 16 */
	int32_t local_port, remote_port;     /* host order; -1 where the family has none */
	uint32_t rx_queue, tx_queue;         /* as /proc/net/tcp (UNIX: backlog, or packets queued) */
	uint64_t ino;                        /* the socket's inode; 0 if it has none (TIME_WAIT) */
	uint64_t peer_ino;                   /* UNIX: the peer's inode, 0 if none */
	const char *path;                    /* UNIX: the bound path ("@name" abstract); "" */
	int32_t ifindex;                     /* packet: the bound interface; 0 */
	int32_t pid;                         /* the holder; 0 if no process holds it */
	int32_t fd;                          /* -1 with pid 0 */
	char comm[16];
	uint32_t flags; /* VMS_ENTRY_* */
};
typedef int (*vms_socket_fn)(void *ctx, const struct vms_socket *s);

struct vms_sockets_opts {
	size_t sz;
	int32_t pid;          /* only the sockets of this process (its descriptors); 0 = every socket */
	int listening;        /* only listening sockets, as ss -l: LISTEN, and datagram sockets not connected */
	unsigned max_entries; /* 0 = 1 Mi */
	unsigned retries;
	struct vms_view_stats *stats;
};
VMS_API int vms_sockets(struct vms_kernel *k, const struct vms_sockets_opts *opts, vms_socket_fn fn, void *ctx);

/* A process's memory map, as /proc/PID/maps. */
struct vms_vma {
	int32_t pid;
	uint64_t addr; /* the vm_area_struct (0 for [vsyscall]) */
	uint64_t start, end;
	uint64_t vm_flags; /* VM_* */
	char perms[5];     /* "r-xp" */
	uint64_t offset;   /* bytes into the file; 0 for anonymous memory */
	uint32_t dev;      /* the file's device: major << 20 | minor; 0 */
	uint64_t ino;      /* the file's inode number; 0 */
	const char *path;  /* file path, [heap], [stack], [vdso], [vvar], [anon:NAME], or "" */
	uint32_t flags;    /* VMS_ENTRY_*, VMS_FILE_DELETED */
};
typedef int (*vms_vma_fn)(void *ctx, const struct vms_vma *v);

struct vms_maps_opts {
	size_t sz;
	unsigned max_entries; /* 0 = 1 Mi */
	unsigned retries;
	struct vms_view_stats *stats;
};
/* The memory map of process PID, or (PID 0) of every process in turn: then
 * a process whose map can not be read is counted unreadable and skipped. */
VMS_API int vms_maps(struct vms_kernel *k, int32_t pid, const struct vms_maps_opts *opts, vms_vma_fn fn, void *ctx);

/* The kernel log: the printk ring buffer (Linux 5.10 and later), oldest first. */
struct vms_log_record {
	uint64_t seq;
	uint64_t ts_ns; /* since boot */
	int level;      /* 0 (emerg) .. 7 (debug) */
	int facility;
	uint32_t caller_id; /* with CONFIG_PRINTK_CALLER, else 0 */
	const char *text;   /* no trailing newline; may hold newlines */
	size_t text_len;
	uint32_t flags; /* VMS_ENTRY_* */
};
typedef int (*vms_log_record_fn)(void *ctx, const struct vms_log_record *r);

struct vms_dmesg_opts {
	size_t sz;
	unsigned max_entries; /* 0 = every record in the ring */
	unsigned retries;
	struct vms_view_stats *stats;
};
VMS_API int vms_dmesg(struct vms_kernel *k, const struct vms_dmesg_opts *opts, vms_log_record_fn fn, void *ctx);

/*
 * Integrity checks (docs/check.md): what a rootkit changes in the kernel,
 * found by comparing the kernel's structures with what they must be.
 *   syscalls   sys_call_table and ia32_sys_call_table: every entry is the
 *              kernel's __x64_sys_* / __ia32_sys_* function (or
 *              sys_ni_syscall); on kernels that dispatch through
 *              x64_sys_call, the direct calls in its code too
 *   idt        idt_table (every vCPU loads it): handlers in the entry text
 *   modules    modules unlinked from the module list, and executable
 *              module memory that no module owns
 *   tasks      the task list against the PID table, the thread lists and
 *              the run queues' current tasks
 *   hooks      the kernel's ftrace call sites and the first instruction of
 *              every kernel function: jumps and calls patched in
 *   ftrace     registered ftrace_ops (ftrace_ops_list)
 *   kprobes    registered kprobes (kprobe_table)
 *   bpf        loaded eBPF programs (prog_idr)
 *   notifiers  keyboard notifiers (keyboard_notifier_list)
 *   net        packet taps (ptype_all) and protocol handlers (ptype_base)
 *              outside the kernel
 * Each check reports findings to FN; a clean kernel reports none.
 */
enum {
	VMS_CHECK_SYSCALLS = 1u << 0,
	VMS_CHECK_IDT = 1u << 1,
	VMS_CHECK_MODULES = 1u << 2,
	VMS_CHECK_TASKS = 1u << 3,
	VMS_CHECK_HOOKS = 1u << 4,
	VMS_CHECK_FTRACE = 1u << 5,
	VMS_CHECK_KPROBES = 1u << 6,
	VMS_CHECK_BPF = 1u << 7,
	VMS_CHECK_NOTIFIERS = 1u << 8,
	VMS_CHECK_NET = 1u << 9,
	VMS_CHECK_ALL = (1u << 10) - 1,
};
/* The bit of a check named NAME ("syscalls", ...), or -EINVAL; the name
 * of a bit (NULL if none). */
VMS_API int vms_check_by_name(const char *name);
VMS_API const char *vms_check_name(unsigned bit);

/* One finding. Strings are valid during the call only; "" when absent. */
struct vms_finding {
	const char *check;      /* "syscalls", "idt", ... */
	const char *status;     /* what is wrong: "hooked", "hidden", "unowned", "patched",
				 * "ftrace", "registered", "missing", ... */
	const char *table;      /* the table or list the entry is in */
	int64_t nr;             /* syscall number, vector, pid, bpf id; -1 if none */
	const char *name;       /* the syscall, function, task (comm), module, program */
	uint64_t addr;          /* the entry, function or object found */
	uint64_t target;        /* where it points (0: nowhere in particular) */
	const char *target_sym; /* the kernel symbol at target, "name+0xOFF" */
	const char *owner;      /* who owns target (or addr): a module's name, "kernel",
				 * "module memory no module owns", "unknown" */
	const char *detail;     /* one line for humans */
};
typedef int (*vms_finding_fn)(void *ctx, const struct vms_finding *f);

/* What one check looked at: told once per check that ran. */
struct vms_check_summary {
	const char *check;
	unsigned checked; /* entries looked at */
	unsigned findings;
	const char *what; /* what was looked at, in words */
	int error;        /* 0, or -errno: the check could not finish */
	const char *error_text;
};
typedef void (*vms_check_summary_fn)(void *ctx, const struct vms_check_summary *s);

struct vms_check_opts {
	size_t sz;
	unsigned checks; /* VMS_CHECK_* bits; 0 = all */
	vms_check_summary_fn summary;
	void *summary_ctx;
};
/* Run the checks. Returns the number of findings, or -errno when a check
 * could not finish (text in vms_errmsg; the other checks still ran and
 * their findings stand), or FN's non-zero value. */
VMS_API int vms_check(struct vms_kernel *k, const struct vms_check_opts *opts, vms_finding_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
