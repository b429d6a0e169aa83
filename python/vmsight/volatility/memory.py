"""What the Volatility layers need of vmsight, without Volatility: reads of
guest RAM that pad or refuse outside it, validity over RAM ranges, and a
translation that says how far a fault reaches (so scans skip a whole
missing table, not page by page). ``layer.py`` wraps these in Volatility's
interfaces; the lab tests check this contract directly (CI has no
Volatility 3).
"""

import ctypes
import errno
from typing import List, Optional, Tuple

import vmsight


class Fault(Exception):
    """A translation failed: ``bits`` is the span (log2 bytes) the missing
    entry covers, ``invalid`` whether the address can never be mapped."""

    def __init__(self, va: int, bits: int, message: str, invalid: bool = False):
        super().__init__(message)
        self.va, self.bits, self.invalid = va, bits, invalid


class Memory:
    """Guest-physical memory and translation of one vmsight target."""

    def __init__(self, target: "vmsight.Target"):
        self.t = target
        self.ranges: List[Tuple[int, int]] = [(r["gpa"], r["gpa"] + r["len"]) for r in target.ram_ranges()]
        self.levels = 5 if target.paging == "5-level" else 4

    @property
    def maximum_address(self) -> int:
        return self.ranges[-1][1] - 1 if self.ranges else 0

    def is_valid(self, pa: int, length: int = 1) -> bool:
        """Whether [PA, PA+LENGTH) is all guest RAM (touching ranges count as one)."""
        end = pa + max(length, 1)
        for lo, hi in self.ranges:
            if lo <= pa < hi:
                if end <= hi:
                    return True
                pa = hi
        return False

    def read(self, pa: int, length: int, pad: bool = False) -> bytes:
        """LENGTH bytes at PA; outside RAM a ValueError, or zeros with PAD."""
        if length <= 0:
            return b""
        if self.is_valid(pa, length):
            return self.t.read_pa(pa, length)
        if not pad:
            raise ValueError(f"{pa:#x}+{length:#x} is not guest RAM")
        out = bytearray(length)
        for lo, hi in self.ranges:
            a, b = max(lo, pa), min(hi, pa + length)
            if a < b:
                out[a - pa:b - pa] = self.t.read_pa(a, b - a)
        return bytes(out)

    def translate(self, dtb: int, va: int) -> Tuple[int, int]:
        """(pa, page_size) of VA in address space DTB, or Fault."""
        try:
            tr = self.t.translate(dtb, va)
        except vmsight.VmsightError as e:
            if e.errno != errno.EFAULT:
                raise Fault(va, 12, str(e), invalid=True)
            n = self.walk_steps(dtb, va)
            bits = 12 + 9 * (self.levels - n + 1) if 1 <= n <= self.levels else 12
            raise Fault(va, bits, f"page fault at {va:#x}: {e.strerror}")
        return tr["pa"], tr["page_size"]

    def mapping(self, dtb: int, va: int, length: int) -> List[Tuple[int, int, int]]:
        """The mapped runs of [VA, VA+LENGTH): (va, pa, length), contiguous
        runs merged, holes skipped."""
        out: List[Tuple[int, int, int]] = []
        end = va + length
        while va < end:
            try:
                pa, size = self.translate(dtb, va)
            except Fault as f:
                va = (va | ((1 << f.bits) - 1)) + 1
                continue
            n = min(size - (pa % size), end - va)
            if out and out[-1][0] + out[-1][2] == va and out[-1][1] + out[-1][2] == pa:
                out[-1] = (out[-1][0], out[-1][1], out[-1][2] + n)
            else:
                out.append((va, pa, n))
            va += n
        return out

    def walk_steps(self, dtb: int, va: int) -> int:
        """How many page-table entries the walk of VA read (the last failed)."""
        w = _Walk()
        f = self.t._lib.vms_page_walk
        f.restype, f.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64,
                                               ctypes.POINTER(_Walk)]
        f(self.t._handle(), dtb, va, ctypes.byref(w))
        return w.nsteps


class _Step(ctypes.Structure):
    _fields_ = [("level", ctypes.c_char_p), ("entry_pa", ctypes.c_uint64), ("entry", ctypes.c_uint64)]


class _Walk(ctypes.Structure):
    _fields_ = [("va", ctypes.c_uint64), ("pa", ctypes.c_uint64), ("page_size", ctypes.c_uint64),
                ("prot", ctypes.c_uint32), ("mode", ctypes.c_int), ("table", ctypes.c_uint64),
                ("nsteps", ctypes.c_uint), ("step", _Step * 5)]


def open_memory(target: str) -> Optional[Memory]:
    return Memory(vmsight.open(target))
