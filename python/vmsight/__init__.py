"""vmsight: virtual machine introspection for QEMU/KVM, from Python.

A thin layer over libvmsight (ctypes, standard library only)::

    import vmsight
    with vmsight.open("qmp:/run/vm/qmp.sock") as t:
        data = t.read_pa(0x1000, 4096)          # bytes
        k = t.kernel()                          # the guest's Linux, no profile needed
        for p in k.ps():                        # the CLI's `ps --json` rows
            print(p["pid"], p["name"])

Errors are ``VmsightError`` (an ``OSError``: ``errno`` is the library's
error, the message its ``vms_errmsg``). Guest strings are ``str`` decoded
with ``surrogateescape``, as the CLI's JSON gives them: the guest's exact
bytes come back with ``s.encode("utf-8", "surrogateescape")``.

Zero-copy views (``Target.map_pa``) are memoryviews of the source's own
mapping of guest RAM (a running guest's memory changes under them). A view
keeps that mapping alive: ``close()`` ends the target for every call at
once, and the library's close (which unmaps) runs when the last view made
from the target is gone, so a view used after close reads valid memory and
never crashes the interpreter.
"""

import collections
import ctypes
import errno as _errno
import os
import threading
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional

from . import _lib

__all__ = ["open", "Target", "Kernel", "VmsightError", "PAGE_PRESENT", "PAGE_WRITE", "PAGE_USER", "PAGE_NX"]

PAGE_PRESENT, PAGE_WRITE, PAGE_USER, PAGE_NX = 1, 2, 4, 8
PAGING = {0: "none", 1: "32-bit", 2: "pae", 3: "4-level", 4: "5-level", 5: "unknown"}
_SNAP_MODES = {"pause": 0, "background": 1, "live": 2}

_lib_handle = None
_lib_lock = threading.Lock()


def lib():
    """The loaded libvmsight (found as _lib.load describes)."""
    global _lib_handle
    with _lib_lock:
        if _lib_handle is None:
            _lib_handle = _lib.load()
        return _lib_handle


class VmsightError(OSError):
    """A libvmsight call failed: errno and the library's message."""

    def __init__(self, err: int, message: str):
        super().__init__(err, message or os.strerror(err))


def _s(b: Optional[bytes]) -> str:
    return b.decode("utf-8", "surrogateescape") if b else ""


def _check(rc: int, msg: Callable[[], str]) -> int:
    if rc < 0:
        raise VmsightError(-rc, msg() or os.strerror(-rc))
    return rc


def open(target: str, source: Optional[str] = None, timeout_ms: int = 0,  # noqa: A001
         cache_dir: Optional[str] = None, no_cache: bool = False) -> "Target":
    """Attach to TARGET ("qmp:PATH", "pid:N", "gdb:HOST:PORT", "dump:FILE").

    What an attach remembers of the VM for the next one (a live QEMU's RAM
    layout, where a dump's kernel lies) lives in CACHE_DIR (default: the
    profiles' directory); NO_CACHE neither reads nor writes it."""
    return Target(target, source=source, timeout_ms=timeout_ms, cache_dir=cache_dir, no_cache=no_cache)


class _Mapped(ctypes.Array):
    """Base of the ctypes arrays behind zero-copy views (weakly referenced)."""
    _type_ = ctypes.c_char
    _length_ = 0


class Target:
    """An attached virtual machine: its physical memory, vCPUs and control."""

    def __init__(self, target: str, source: Optional[str] = None, timeout_ms: int = 0,
                 cache_dir: Optional[str] = None, no_cache: bool = False):
        L = lib()
        self._lib = L
        err = ctypes.create_string_buffer(512)
        o = _lib.opts(_lib.OpenOpts, source=source.encode() if source else None,
                      errbuf=ctypes.cast(err, ctypes.c_void_p), errbuf_len=len(err), timeout_ms=timeout_ms,
                      cache_dir=cache_dir.encode() if cache_dir else None, no_cache=int(no_cache))
        h = ctypes.c_void_p()
        rc = L.vms_open(target.encode(), ctypes.byref(o), ctypes.byref(h))
        if rc < 0:
            raise VmsightError(-rc, f"{target}: {_s(err.value) or os.strerror(-rc)}")
        self._h = h
        self.target = target
        self._views: List[weakref.ref] = []  # the arrays behind zero-copy views
        self._kernels = weakref.WeakSet()
        self._closed = False

    # -- life --------------------------------------------------------------
    def _handle(self) -> ctypes.c_void_p:
        if self._closed:
            raise VmsightError(_errno.EBADF, "the target is closed")
        return self._h

    def _err(self) -> str:
        return _s(self._lib.vms_errmsg(self._h))

    def close(self) -> None:
        """Detach. Every later call raises; kernels opened on it are closed;
        the memory of zero-copy views stays mapped until the last is gone."""
        if self._closed:
            return
        for k in list(self._kernels):
            k.close()
        self._closed = True
        views = [v for v in (r() for r in self._views) if v is not None]
        if not views:
            self._lib.vms_close(self._h)
            return
        # The mapping is released with the last view: each holds a finalizer
        # reference to this shared closer.
        closer = _DeferredClose(self._lib, self._h, len(views))
        for v in views:
            weakref.finalize(v, closer.one_gone)

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- the source --------------------------------------------------------
    @property
    def source(self) -> str:
        """The memory source in use: "shm", "procmem", "dump", "gdb", "qmp"."""
        return _s(self._lib.vms_source_name(self._handle()))

    @property
    def source_detail(self) -> str:
        return _s(self._lib.vms_source_detail(self._handle()))

    def ram_ranges(self) -> List[Dict[str, int]]:
        """Guest RAM as [{"gpa", "len"}], ascending."""
        p = ctypes.POINTER(_lib.RamRange)()
        n = ctypes.c_size_t()
        _check(self._lib.vms_ram_ranges(self._handle(), ctypes.byref(p), ctypes.byref(n)), self._err)
        return [{"gpa": p[i].gpa, "len": p[i].len} for i in range(n.value)]

    # -- physical memory ---------------------------------------------------
    def read_pa(self, pa: int, length: int) -> bytes:
        """LENGTH bytes of guest-physical memory at PA (all of it RAM)."""
        buf = ctypes.create_string_buffer(length)
        _check(self._lib.vms_read_pa(self._handle(), pa, buf, length), self._err)
        return buf.raw

    def map_pa(self, pa: int, length: int) -> Optional[memoryview]:
        """A read-only zero-copy view of LENGTH bytes at PA, or None where the
        source can not map (gdb, procmem, QMP) or the range is not one RAM range."""
        p = self._lib.vms_map_pa(self._handle(), pa, length)
        if not p:
            return None
        arr = type("GuestMemory", (_Mapped,), {"_length_": length}).from_address(p)
        self._views = [r for r in self._views if r() is not None] + [weakref.ref(arr)]
        return memoryview(arr).cast("B").toreadonly()

    # -- vCPUs, paging, translation ----------------------------------------
    def vcpu_count(self) -> int:
        return _check(self._lib.vms_vcpu_count(self._handle()), self._err)

    def regs(self, vcpu: int = 0) -> Dict[str, int]:
        """vCPU VCPU's registers: the fields of struct vms_regs ("valid": VMS_REGS_* bits)."""
        r = _lib.Regs()
        _check(self._lib.vms_vcpu_regs(self._handle(), vcpu, ctypes.byref(r)), self._err)
        return {n: getattr(r, n) for n, _ in _lib.Regs._fields_}

    @property
    def paging(self) -> str:
        """The paging mode translation uses: "4-level", "5-level", ..."""
        return PAGING.get(_check(self._lib.vms_get_paging(self._handle()), self._err), "unknown")

    def translate(self, dtb: int, va: int) -> Dict[str, int]:
        """VA in address space DTB: {"va", "pa", "page_size", "prot"} (PAGE_* bits)."""
        tr = _lib.Translation()
        _check(self._lib.vms_translate(self._handle(), dtb, va, ctypes.byref(tr)), self._err)
        return {"va": tr.va, "pa": tr.pa, "page_size": tr.page_size, "prot": tr.prot}

    def read_va(self, dtb: int, va: int, length: int, partial: bool = False) -> bytes:
        """LENGTH bytes at VA in address space DTB. With PARTIAL, a fault
        returns the bytes before it instead of raising."""
        buf = ctypes.create_string_buffer(length)
        done = ctypes.c_size_t()
        rc = self._lib.vms_read_va(self._handle(), dtb, va, buf, length, ctypes.byref(done))
        if rc < 0 and not (partial and rc == -_errno.EFAULT):
            _check(rc, self._err)
        return buf.raw[:done.value]

    def va_ranges(self, dtb: int) -> List[Dict[str, int]]:
        """Every mapped run of address space DTB: {"va","len","pa","page_size","prot"}."""
        out = []

        def cb(_ctx, r):
            v = r.contents
            out.append({"va": v.va, "len": v.len, "pa": v.pa, "page_size": v.page_size, "prot": v.prot})
            return 0
        _check(self._lib.vms_va_ranges(self._handle(), dtb, _lib.VA_RANGE_FN(cb), None), self._err)
        return out

    def flush_tlb(self) -> None:
        self._lib.vms_tlb_flush(self._handle())

    # -- control -----------------------------------------------------------
    def pause(self) -> None:
        _check(self._lib.vms_pause(self._handle()), self._err)

    def resume(self) -> None:
        _check(self._lib.vms_resume(self._handle()), self._err)

    def is_running(self) -> bool:
        return bool(_check(self._lib.vms_is_running(self._handle()), self._err))

    def snapshot(self, path: str, mode: str = "pause", threads: int = 0) -> Dict[str, Any]:
        """All RAM and vCPU state at one moment, as an ELF core at PATH
        (readable as Target("dump:PATH")). MODE: "pause", "background", "live"."""
        o = _lib.opts(_lib.SnapshotOpts, mode=_SNAP_MODES[mode], threads=threads)
        st = _lib.SnapshotStats()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            rc = self._lib.vms_snapshot(self._handle(), fd, ctypes.byref(o), ctypes.byref(st))
        finally:
            os.close(fd)
        if rc < 0:
            os.unlink(path)
            _check(rc, self._err)
        return {"mode": _s(st.mode), "consistent": bool(st.consistent), "pause_ms": st.pause_ms,
                "total_ms": st.total_ms, "ram_bytes": st.ram_bytes, "data_bytes": st.data_bytes}

    def dump(self, path: str, elf: bool = True) -> None:
        """All guest RAM to PATH: an ELF core (as dump-guest-memory), or raw."""
        o = _lib.opts(_lib.DumpOpts, format=0 if not elf else 1)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            rc = self._lib.vms_dump(self._handle(), fd, ctypes.byref(o))
        finally:
            os.close(fd)
        _check(rc, self._err)

    # -- the kernel and events ---------------------------------------------
    def kernel(self, cache_dir: Optional[str] = None, no_cache: bool = False, cr3: int = 0,
               system_map: Optional[str] = None, isf: Optional[str] = None) -> "Kernel":
        """The guest's Linux kernel, found in memory (docs/kernel.md)."""
        k = Kernel(self, cache_dir=cache_dir, no_cache=no_cache, cr3=cr3, system_map=system_map, isf=isf)
        self._kernels.add(k)
        return k

    def trace(self, what: str = "files", kernel: Optional["Kernel"] = None, pid: int = 0,
              timeout_ms: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """Agentless tracing through QEMU's GDB stub: "files" or "syscalls"
        events (the CLI's `trace --json` objects) as they come, for TIMEOUT_MS
        (None: until the iterator is closed)."""
        return _trace(self, what, kernel or self.kernel(), pid, timeout_ms)


class _DeferredClose:
    def __init__(self, L, h, n):
        self.L, self.h, self.n = L, h, n
        self.lock = threading.Lock()

    def one_gone(self):
        with self.lock:
            self.n -= 1
            if self.n == 0:
                self.L.vms_close(self.h)


def _views_call(fn, cfunc_type, row, *args):
    """Run a view FN with a callback that turns each entry into a dict;
    exceptions in ROW stop the walk and are raised."""
    rows: List[Dict[str, Any]] = []
    failure: List[BaseException] = []

    def cb(_ctx, p):
        try:
            rows.append(row(p.contents))
            return 0
        except BaseException as e:  # raised after the walk
            failure.append(e)
            return 1
    rc = fn(*args, cfunc_type(cb), None)
    if failure:
        raise failure[0]
    return rc, rows


def _cmdline(t) -> str:
    if not t.cmdline_len:
        return ""
    b = ctypes.string_at(t.cmdline, t.cmdline_len)
    if b.endswith(b"\0"):
        b = b[:-1]
    return _s(b.replace(b"\0", b" "))


class Kernel:
    """The guest's Linux kernel: symbols, BTF types and the views."""

    def __init__(self, target: Target, cache_dir=None, no_cache=False, cr3=0, system_map=None, isf=None):
        self.target = target
        self._lib = target._lib
        o = _lib.opts(_lib.KernelOpts, cr3=cr3, no_cache=int(no_cache),
                      cache_dir=cache_dir.encode() if cache_dir else None,
                      system_map=system_map.encode() if system_map else None, isf=isf.encode() if isf else None)
        h = ctypes.c_void_p()
        _check(self._lib.vms_kernel_open(target._handle(), ctypes.byref(o), ctypes.byref(h)), target._err)
        self._h = h

    def _handle(self):
        if self._h is None:
            raise VmsightError(_errno.EBADF, "the kernel is closed")
        self.target._handle()
        return self._h

    def _err(self) -> str:
        return self.target._err()

    def close(self) -> None:
        if self._h is not None:
            self._lib.vms_kernel_close(self._h)
            self._h = None

    def __enter__(self) -> "Kernel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def info(self) -> Dict[str, Any]:
        """What was found: banner, release, KASLR offsets, the kernel's CR3, ..."""
        i = _lib.KernelInfo()
        _check(self._lib.vms_kernel_info(self._handle(), ctypes.byref(i)), self._err)
        d = {n: getattr(i, n) for n, _ in _lib.KernelInfo._fields_}
        for n in ("banner", "release", "build_id", "symbols_from", "types_from", "cache_file"):
            d[n] = _s(d[n])
        d["paging"] = PAGING.get(d["paging"], "unknown")
        return d

    @property
    def dtb(self) -> int:
        """The kernel's page tables (CR3)."""
        return self.info()["cr3"]

    def symbol(self, name: str) -> int:
        """Address of kernel symbol NAME."""
        a = ctypes.c_uint64()
        _check(self._lib.vms_sym_lookup(self._handle(), name.encode(), ctypes.byref(a)), self._err)
        return a.value

    def symbols(self) -> Iterator[Dict[str, Any]]:
        """Every symbol: {"name", "addr", "type"} in kallsyms order."""
        rc, rows = _views_call(self._lib.vms_sym_iter, _lib.SYM_FN,
                               lambda s: {"name": _s(s.name), "addr": s.addr, "type": s.type.decode()},
                               self._handle())
        _check(rc, self._err)
        return iter(rows)

    def btf_field(self, type_name: str, path: str) -> Dict[str, int]:
        """Where member PATH ("tasks.next", "pid_links[1]") of TYPE_NAME lies:
        {"offset", "size", "bit_offset", "bit_size"}."""
        f = _lib.BtfField()
        _check(self._lib.vms_btf_field(self._handle(), type_name.encode(), path.encode(), ctypes.byref(f)),
               self._err)
        return {"offset": f.offset, "size": f.size, "bit_offset": f.bit_offset, "bit_size": f.bit_size}

    def offset(self, type_name: str, path: str) -> int:
        return self.btf_field(type_name, path)["offset"]

    def sizeof(self, type_name: str) -> int:
        s = ctypes.c_uint64()
        _check(self._lib.vms_btf_struct_size(self._handle(), type_name.encode(), ctypes.byref(s)), self._err)
        return s.value

    def read(self, va: int, length: int) -> bytes:
        """LENGTH bytes of kernel virtual memory at VA."""
        buf = ctypes.create_string_buffer(length)
        _check(self._lib.vms_kernel_read(self._handle(), va, buf, length), self._err)
        return buf.raw

    def write_isf(self, path: str) -> None:
        """The profile as a Volatility 3 ISF JSON file."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _check(self._lib.vms_kernel_write_isf(self._handle(), fd), self._err)
        finally:
            os.close(fd)

    # -- views: rows as the CLI's --json writes them -------------------------
    def ps(self, threads: bool = False, pid: int = 0, cmdline: bool = True) -> List[Dict[str, Any]]:
        """Processes (with THREADS every thread), as `vmsight ps --json`."""
        o = _lib.opts(_lib.TasksOpts, threads=int(threads), pid=pid, no_cmdline=int(not cmdline))

        def row(t):
            if t.flags & 1:
                return {"pid": 0, "unreadable": True, "addr": hex(t.addr)}
            r = {("tgid" if threads else "pid"): t.tgid if threads else t.pid,
                 ("pid" if threads else "tgid"): t.pid if threads else t.tgid,
                 "ppid": t.ppid, "uid": t.uid, "gid": t.gid, "euid": t.euid, "egid": t.egid, "suid": t.suid,
                 "sgid": t.sgid, "fsuid": t.fsuid, "fsgid": t.fsgid, "state": _s(t.state),
                 "start_ns": t.start_ns, "threads": t.nthreads, "comm": _s(t.comm), "name": _s(t.name),
                 "cmdline": _cmdline(t), "kthread": bool(t.flags & (1 << 8)), "thread": bool(t.flags & (1 << 9)),
                 "addr": hex(t.addr)}
            if t.flags & 2:
                r["truncated"] = True
            if t.flags & (1 << 10):
                r["cmdline_unreadable"] = True
            return r
        rc, rows = _views_call(self._lib.vms_tasks, _lib.TASK_FN, row, self._handle(), ctypes.byref(o))
        _check(rc, self._err)
        return rows

    def lsmod(self, scan: bool = True) -> List[Dict[str, Any]]:
        """Loaded modules, as `vmsight lsmod --json` (SCAN: look for hidden ones too)."""
        o = _lib.opts(_lib.ModulesOpts, scan=int(scan))

        def row(m):
            hidden = bool(m.flags & (1 << 8))
            if m.flags & 1:
                return {"name": None, "unreadable": True, "hidden": hidden, "addr": hex(m.addr)}
            return {"name": _s(m.name), "base": hex(m.base), "size": m.size, "refcnt": m.refcnt,
                    "state": _s(m.state_name), "taint": _s(m.taint), "used_by": _s(m.used_by), "hidden": hidden,
                    "addr": hex(m.addr)}
        rc, rows = _views_call(self._lib.vms_modules, _lib.MODULE_FN, row, self._handle(), ctypes.byref(o))
        _check(rc, self._err)
        return rows

    def lsof(self, pid: int = 0) -> List[Dict[str, Any]]:
        """Open files, as `vmsight lsof --json`."""
        o = _lib.opts(_lib.FilesOpts, pid=pid)

        def row(f):
            if f.flags & 1:
                return {"pid": f.pid, "comm": _s(f.comm), "fd": f.fd, "path": None, "unreadable": True,
                        "addr": hex(f.addr)}
            r = {"pid": f.pid, "comm": _s(f.comm), "fd": f.fd, "type": _s(f.type), "flags": f.f_flags,
                 "mode": f.mode, "pos": f.pos, "inode": f.ino, "mnt_id": f.mnt_id,
                 "dev": f"{f.dev >> 20}:{f.dev & 0xfffff}", "path": _s(f.path),
                 "deleted": bool(f.flags & (1 << 8)), "addr": hex(f.addr)}
            if f.flags & 2:
                r["truncated"] = True
            return r
        rc, rows = _views_call(self._lib.vms_files, _lib.FILE_FN, row, self._handle(), ctypes.byref(o))
        _check(rc, self._err)
        return rows

    def maps(self, pid: int = 0) -> List[Dict[str, Any]]:
        """Memory maps (of PID, or of every process), as `vmsight maps --json`."""
        o = _lib.opts(_lib.MapsOpts)

        def row(m):
            r = {"pid": m.pid, "start": hex(m.start), "end": hex(m.end), "perms": _s(m.perms), "offset": m.offset,
                 "dev": f"{m.dev >> 20:02x}:{m.dev & 0xfffff:02x}", "inode": m.ino, "path": _s(m.path),
                 "deleted": bool(m.flags & (1 << 8)), "addr": hex(m.addr)}
            if m.flags & 1:
                r["unreadable"] = True
            return r
        rc, rows = _views_call(self._lib.vms_maps, _lib.VMA_FN, row, self._handle(), pid, ctypes.byref(o))
        _check(rc, self._err)
        return rows

    def dmesg(self) -> List[Dict[str, Any]]:
        """The kernel log, as `vmsight dmesg --json`."""
        o = _lib.opts(_lib.DmesgOpts)

        def row(r):
            text = ctypes.string_at(r.text, r.text_len) if r.text_len else b""
            if text.endswith(b"\0"):
                text = text[:-1]
            s, us = divmod(r.ts_ns, 10**9)
            d = {"seq": r.seq, "ts": round(s + (us // 1000) / 1e6, 6), "ts_ns": r.ts_ns, "level": r.level,
                 "facility": r.facility, "text": _s(text)}
            if r.flags & 1:
                d["unreadable"] = True
            return d
        rc, rows = _views_call(self._lib.vms_dmesg, _lib.LOG_FN, row, self._handle(), ctypes.byref(o))
        _check(rc, self._err)
        return rows


def _fev_dict(L, e) -> Dict[str, Any]:
    kind = _s(L.vms_fev_kind_name(e.kind))
    if e.kind >= 32:  # notices about the stream
        d = {"kind": kind, "host_ns": e.host_ns, "generation": e.generation}
        if e.kind == 32:
            d["pid"], d["ts_ns"] = e.pid, e.ts_ns
        if e.kind == 33:
            d["lost"] = e.lost
        d["detail"] = _s(e.path)
        return d
    return {"ts_ns": e.ts_ns, "kind": kind, "host_ns": e.host_ns, "id": e.event_id, "generation": e.generation,
            "pid": e.pid, "tid": e.tid if e.tid >= 0 else None, "uid": e.uid if e.uid >= 0 else None,
            "comm": _s(e.comm), "path": _s(e.path), **({"path2": _s(e.path2)} if e.kind == 8 else {}),
            "dir": bool(e.flags & 1), "merged": bool(e.flags & 16), "result": e.result,
            "ppid": e.ppid if e.ppid >= 0 else None, "cmdline": _s(e.cmdline) if e.cmdline is not None else None}


def watch(target: Optional[str] = None, channel: Optional[str] = None, kernel: Optional[Kernel] = None,
          pid: int = 0, path_glob: Optional[str] = None, timeout_ms: Optional[int] = None,
          shm_path: Optional[str] = None, socket_path: Optional[str] = None) -> Iterator[Dict[str, Any]]:
    """File events from vmsight-agent in the guest (docs/watch.md), as the
    CLI's `watch files --json` objects, for TIMEOUT_MS (None: until closed)."""
    L = lib()
    err = ctypes.create_string_buffer(512)
    o = _lib.opts(_lib.WatchOpts, target=target.encode() if target else None,
                  channel=channel.encode() if channel else None, shm_path=shm_path.encode() if shm_path else None,
                  socket_path=socket_path.encode() if socket_path else None,
                  errbuf=ctypes.cast(err, ctypes.c_void_p), errbuf_len=len(err),
                  kernel=kernel._handle() if kernel else None, pid=pid,
                  path_glob=path_glob.encode() if path_glob else None)
    h = ctypes.c_void_p()
    rc = L.vms_watch_open(ctypes.byref(o), ctypes.byref(h))
    if rc < 0:
        raise VmsightError(-rc, _s(err.value))
    return _watch_iter(L, h, timeout_ms)


def _watch_iter(L, h, timeout_ms):
    import time
    end = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
    ev = _lib.FileEvent()
    try:
        while end is None or time.monotonic() < end:
            wait = 200 if end is None else max(0, min(200, int((end - time.monotonic()) * 1000)))
            rc = L.vms_watch_next(h, ctypes.byref(ev), wait)
            if rc < 0:
                raise VmsightError(-rc, _s(L.vms_watch_errmsg(h)))
            if rc > 0:
                yield _fev_dict(L, ev)
    finally:
        L.vms_watch_close(h)


def _tev_dict(L, e) -> Dict[str, Any]:
    kind = "syscall" if e.kind == 16 else _s(L.vms_tev_kind_name(e.kind))
    d = {"event": kind, "host_ns": e.host_ns, "cpu": e.vcpu, "pid": e.pid, "tid": e.tid, "cr3": hex(e.dtb),
         "comm": _s(e.comm)}
    if e.kind == 16:
        d.update(nr=e.nr, name=_s(e.name), args=list(e.args))
    else:
        d["path"] = _s(e.path)
        if e.kind == 5:
            d["path2"] = _s(e.path2)
        if e.kind == 1:
            d.update(flags=e.open_flags, mode=e.mode)
        if e.kind in (2, 3):
            d.update(count=e.count, offset=e.offset)
        if e.kind == 4:
            d["dir"] = bool(e.flags & 1)
    d["result"] = None if e.flags & 2 else e.result
    return d


def _trace(target, what, kernel, pid, timeout_ms):
    import time
    L = target._lib
    err = ctypes.create_string_buffer(512)
    o = _lib.opts(_lib.TracerOpts, kernel=kernel._handle(), errbuf=ctypes.cast(err, ctypes.c_void_p),
                  errbuf_len=len(err))
    h = ctypes.c_void_p()
    rc = L.vms_tracer_open(target._handle(), ctypes.byref(o), ctypes.byref(h))
    if rc < 0:
        raise VmsightError(-rc, _s(err.value))
    pending: collections.deque = collections.deque()

    def cb(_ctx, e):
        pending.append(_tev_dict(L, e.contents))
        return 0
    fn = _lib.TRACE_FN(cb)
    to = _lib.opts(_lib.TraceOpts, pid=pid)
    add = {"files": L.vms_trace_files, "syscalls": L.vms_trace_syscalls}.get(what)
    try:
        if add is None:
            raise ValueError(f"trace: {what!r}: files or syscalls")
        _check(add(h, kernel._handle(), ctypes.byref(to), fn, None), lambda: _s(L.vms_tracer_errmsg(h)))
        end = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        while end is None or time.monotonic() < end:
            wait = 200 if end is None else max(1, min(200, int((end - time.monotonic()) * 1000)))
            _check(L.vms_tracer_run(h, wait), lambda: _s(L.vms_tracer_errmsg(h)))
            while pending:
                yield pending.popleft()
    finally:
        L.vms_tracer_close(h)
