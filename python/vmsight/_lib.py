"""ctypes declarations of libvmsight's public API (include/vmsight/*.h).

Only what the package uses is declared; the structs mirror the C header
field for field (sized option structs carry their own size, set by
``opts()``). The library is found, in order, at $VMSIGHT_LIB, in a build
directory of the source tree this package sits in (build/, build-dev/),
and by the dynamic linker (an installed libvmsight.so.0).
"""

import ctypes
import ctypes.util
import glob
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int, c_int32, c_int64,
                    c_size_t, c_uint, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

u64, u32, i32, i64 = c_uint64, c_uint32, c_int32, c_int64


def _s(*fields):
    return [(n, t) for n, t in fields]


class OpenOpts(Structure):
    _fields_ = [("sz", c_size_t), ("source", c_char_p), ("log", c_void_p), ("log_ctx", c_void_p),
                ("errbuf", c_void_p), ("errbuf_len", c_size_t), ("timeout_ms", c_uint), ("hold", c_int),
                ("cache_dir", c_char_p), ("no_cache", c_int)]


class RamRange(Structure):
    _fields_ = [("gpa", u64), ("len", u64)]


class Regs(Structure):
    _fields_ = ([(n, u64) for n in ("rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip rflags "
                                    "cr0 cr2 cr3 cr4 efer fs_base gs_base kernel_gs_base").split()]
                + [(n, c_uint16) for n in "cs ss ds es fs gs".split()] + [("cs_flags", u32), ("valid", u32)])


class Translation(Structure):
    _fields_ = [("va", u64), ("pa", u64), ("page_size", u64), ("prot", u32)]


class VaRange(Structure):
    _fields_ = [("va", u64), ("len", u64), ("pa", u64), ("page_size", u64), ("prot", u32)]


VA_RANGE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(VaRange))
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, u64, u64)


class SnapshotOpts(Structure):
    _fields_ = [("sz", c_size_t), ("mode", c_int), ("threads", c_uint), ("progress", c_void_p),
                ("progress_ctx", c_void_p)]


class SnapshotStats(Structure):
    _fields_ = [("pause_ms", c_double), ("total_ms", c_double), ("ram_bytes", u64), ("data_bytes", u64),
                ("consistent", c_int), ("mode", c_char_p)]


class DumpOpts(Structure):
    _fields_ = [("sz", c_size_t), ("format", c_int), ("progress", c_void_p), ("progress_ctx", c_void_p)]


class KernelOpts(Structure):
    _fields_ = [("sz", c_size_t), ("cr3", u64), ("cache_dir", c_char_p), ("no_cache", c_int),
                ("system_map", c_char_p), ("isf", c_char_p)]


class KernelInfo(Structure):
    _fields_ = [("banner", c_char_p), ("release", c_char_p), ("build_id", c_char_p), ("text_va", u64),
                ("text_pa", u64), ("kaslr_virt", i64), ("kaslr_phys", i64), ("cr3", u64), ("pti", c_int),
                ("paging", c_int), ("nsyms", c_size_t), ("btf_bytes", c_size_t), ("symbols_from", c_char_p),
                ("types_from", c_char_p), ("cache_file", c_char_p), ("discovery_ms", c_double)]


class Sym(Structure):
    _fields_ = [("name", c_char_p), ("addr", u64), ("type", c_char)]


SYM_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Sym))


class BtfField(Structure):
    _fields_ = [("offset", u64), ("size", u64), ("bit_offset", u32), ("bit_size", u32)]


class ViewStats(Structure):
    _fields_ = [("entries", c_uint), ("unreadable", c_uint), ("retried", c_uint)]


class Task(Structure):
    _fields_ = [("addr", u64), ("pid", i32), ("tgid", i32), ("ppid", i32), ("nthreads", i32)]
    _fields_ += [(n, u32) for n in "uid euid suid fsuid gid egid sgid fsgid".split()]
    _fields_ += [("comm", c_char * 16), ("name", c_char * 64), ("state", c_char), ("kflags", u32),
                 ("start_ns", u64), ("mm", u64), ("dtb", u64), ("cmdline", c_void_p), ("cmdline_len", c_size_t),
                 ("flags", u32)]


class TasksOpts(Structure):
    _fields_ = [("sz", c_size_t), ("threads", c_int), ("pid", i32), ("no_cmdline", c_int), ("cmdline_max", c_size_t),
                ("max_entries", c_uint), ("retries", c_uint), ("stats", POINTER(ViewStats))]


class Module(Structure):
    _fields_ = [("addr", u64), ("name", c_char_p), ("base", u64), ("size", u64), ("state", c_int),
                ("state_name", c_char_p), ("refcnt", c_int), ("taints", u64), ("taint", c_char_p),
                ("used_by", c_char_p), ("flags", u32)]


class ModulesOpts(Structure):
    _fields_ = [("sz", c_size_t), ("scan", c_int), ("max_entries", c_uint), ("retries", c_uint),
                ("stats", POINTER(ViewStats))]


class File(Structure):
    _fields_ = [("pid", i32), ("comm", c_char * 16), ("fd", i32), ("addr", u64), ("path", c_char_p),
                ("type", c_char_p), ("mode", u32), ("f_flags", u32), ("f_mode", u32), ("pos", i64), ("ino", u64),
                ("dev", u32), ("mnt_id", i32), ("flags", u32)]


class FilesOpts(Structure):
    _fields_ = [("sz", c_size_t), ("pid", i32), ("max_entries", c_uint), ("retries", c_uint),
                ("stats", POINTER(ViewStats))]


class Vma(Structure):
    _fields_ = [("pid", i32), ("addr", u64), ("start", u64), ("end", u64), ("vm_flags", u64), ("perms", c_char * 5),
                ("offset", u64), ("dev", u32), ("ino", u64), ("path", c_char_p), ("flags", u32)]


class MapsOpts(Structure):
    _fields_ = [("sz", c_size_t), ("max_entries", c_uint), ("retries", c_uint), ("stats", POINTER(ViewStats))]


class LogRecord(Structure):
    _fields_ = [("seq", u64), ("ts_ns", u64), ("level", c_int), ("facility", c_int), ("caller_id", u32),
                ("text", c_void_p), ("text_len", c_size_t), ("flags", u32)]


class DmesgOpts(Structure):
    _fields_ = [("sz", c_size_t), ("max_entries", c_uint), ("retries", c_uint), ("stats", POINTER(ViewStats))]


TASK_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Task))
MODULE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Module))
FILE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(File))
VMA_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Vma))
LOG_FN = CFUNCTYPE(c_int, c_void_p, POINTER(LogRecord))


class FileEvent(Structure):
    _fields_ = [("kind", c_int), ("flags", u32), ("ts_ns", u64), ("host_ns", u64), ("event_id", u64),
                ("generation", u32), ("pid", i32), ("tid", i32), ("uid", i64), ("result", i32), ("lost", u64),
                ("comm", c_char_p), ("path", c_char_p), ("path2", c_char_p), ("ppid", i32), ("cmdline", c_char_p)]


class WatchOpts(Structure):
    _fields_ = [("sz", c_size_t), ("target", c_char_p), ("channel", c_char_p), ("shm_path", c_char_p),
                ("socket_path", c_char_p), ("timeout_ms", c_uint), ("silent_ms", c_uint), ("poll_us", c_uint),
                ("idle_sleep_us", c_uint), ("enrich", c_void_p), ("enrich_ctx", c_void_p), ("errbuf", c_void_p),
                ("errbuf_len", c_size_t), ("kernel", c_void_p), ("pid", i32), ("path_glob", c_char_p),
                ("kinds", u32)]


class TracerOpts(Structure):
    _fields_ = [("sz", c_size_t), ("gdb", c_char_p), ("kernel", c_void_p), ("hardware", c_int),
                ("step_remove", c_int), ("timeout_ms", c_uint), ("errbuf", c_void_p), ("errbuf_len", c_size_t)]


class TraceEvent(Structure):
    _fields_ = [("kind", c_int), ("flags", u32), ("host_ns", u64), ("vcpu", c_uint), ("pid", i32), ("tid", i32),
                ("comm", c_char_p), ("dtb", u64), ("path", c_char_p), ("path2", c_char_p), ("result", i64),
                ("open_flags", u32), ("mode", u32), ("count", u64), ("offset", i64), ("nr", c_int),
                ("name", c_char_p), ("args", u64 * 6)]


class TraceOpts(Structure):
    _fields_ = [("sz", c_size_t), ("pid", i32), ("dtb", u64), ("kinds", c_uint)]


TRACE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(TraceEvent))


def opts(cls, **kw):
    """A sized options struct: zeroed, sz set, KW filled in."""
    o = cls()
    o.sz = ctypes.sizeof(cls)
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def _candidates():
    env = os.environ.get("VMSIGHT_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.dirname(os.path.dirname(here))  # python/vmsight -> the source tree
    for build in ("build", "build-dev", "build-*"):
        for d in sorted(glob.glob(os.path.join(tree, build))):
            p = os.path.join(d, "libvmsight.so")
            if os.path.exists(p):
                yield p
    yield "libvmsight.so.0"
    found = ctypes.util.find_library("vmsight")
    if found:
        yield found


def load():
    """Open libvmsight and declare its functions."""
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            errors.append(f"{path}: {e}")
    else:
        raise OSError("libvmsight not found (set VMSIGHT_LIB to its path, or build with make): "
                      + "; ".join(errors))
    P, V = c_void_p, None
    sigs = {
        "vms_open": (c_int, [c_char_p, POINTER(OpenOpts), POINTER(P)]),
        "vms_close": (V, [P]),
        "vms_errmsg": (c_char_p, [P]),
        "vms_source_name": (c_char_p, [P]),
        "vms_source_detail": (c_char_p, [P]),
        "vms_ram_ranges": (c_int, [P, POINTER(POINTER(RamRange)), POINTER(c_size_t)]),
        "vms_read_pa": (c_int, [P, u64, P, c_size_t]),
        "vms_map_pa": (P, [P, u64, c_size_t]),
        "vms_vcpu_count": (c_int, [P]),
        "vms_vcpu_regs": (c_int, [P, c_uint, POINTER(Regs)]),
        "vms_paging_name": (c_char_p, [c_int]),
        "vms_translate": (c_int, [P, u64, u64, POINTER(Translation)]),
        "vms_read_va": (c_int, [P, u64, u64, P, c_size_t, POINTER(c_size_t)]),
        "vms_va_ranges": (c_int, [P, u64, VA_RANGE_FN, P]),
        "vms_get_paging": (c_int, [P]),
        "vms_set_paging": (c_int, [P, c_int]),
        "vms_tlb_flush": (V, [P]),
        "vms_pause": (c_int, [P]),
        "vms_resume": (c_int, [P]),
        "vms_is_running": (c_int, [P]),
        "vms_dump": (c_int, [P, c_int, POINTER(DumpOpts)]),
        "vms_snapshot": (c_int, [P, c_int, POINTER(SnapshotOpts), POINTER(SnapshotStats)]),
        "vms_kernel_open": (c_int, [P, POINTER(KernelOpts), POINTER(P)]),
        "vms_kernel_close": (V, [P]),
        "vms_kernel_info": (c_int, [P, POINTER(KernelInfo)]),
        "vms_sym_lookup": (c_int, [P, c_char_p, POINTER(u64)]),
        "vms_sym_iter": (c_int, [P, SYM_FN, P]),
        "vms_btf_field": (c_int, [P, c_char_p, c_char_p, POINTER(BtfField)]),
        "vms_btf_struct_size": (c_int, [P, c_char_p, POINTER(u64)]),
        "vms_kernel_read": (c_int, [P, u64, P, c_size_t]),
        "vms_kernel_write_isf": (c_int, [P, c_int]),
        "vms_tasks": (c_int, [P, POINTER(TasksOpts), TASK_FN, P]),
        "vms_modules": (c_int, [P, POINTER(ModulesOpts), MODULE_FN, P]),
        "vms_files": (c_int, [P, POINTER(FilesOpts), FILE_FN, P]),
        "vms_maps": (c_int, [P, i32, POINTER(MapsOpts), VMA_FN, P]),
        "vms_dmesg": (c_int, [P, POINTER(DmesgOpts), LOG_FN, P]),
        "vms_watch_open": (c_int, [POINTER(WatchOpts), POINTER(P)]),
        "vms_watch_close": (V, [P]),
        "vms_watch_next": (c_int, [P, POINTER(FileEvent), c_int]),
        "vms_watch_errmsg": (c_char_p, [P]),
        "vms_fev_kind_name": (c_char_p, [c_int]),
        "vms_tracer_open": (c_int, [P, POINTER(TracerOpts), POINTER(P)]),
        "vms_tracer_run": (c_int, [P, c_int]),
        "vms_tracer_stop": (V, [P]),
        "vms_tracer_close": (c_int, [P]),
        "vms_tracer_errmsg": (c_char_p, [P]),
        "vms_trace_files": (c_int, [P, P, POINTER(TraceOpts), TRACE_FN, P]),
        "vms_trace_syscalls": (c_int, [P, P, POINTER(TraceOpts), TRACE_FN, P]),
        "vms_tev_kind_name": (c_char_p, [c_int]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    lib.path = path
    return lib
