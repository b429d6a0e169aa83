"""Paging: a real guest's virtual addresses translated by vmsight, checked
against QEMU's own page walker — HMP `gva2gpa` (one address), `info tlb`
(every mapping of a vCPU's CR3) and QMP `memsave` (virtual reads) — on the
5-level, 2-vCPU guest and the 4-level one, each vCPU in the address space it
was in when paused.

Addresses come from the guest's own kallsyms (kernel text, data, modules),
from every kind of mapping `info tlb` lists (direct map, vmalloc, vmemmap,
fixmap, the user pages of whatever process a vCPU is in; 4 KiB, 2 MiB and
1 GiB pages), and from unmapped and non-canonical space. HMP commands go
through `human-monitor-command` with `cpu-index` (a `cpu N` command does not
outlive its own temporary monitor), many on one QMP connection."""

import bisect
import json
import os
import random
import re

from harness import parse_info_registers

GUESTS = ("big", "small")


def _hmp(q, text, cpu):
    return q.execute("human-monitor-command", {"command-line": text, "cpu-index": cpu}).replace("\r\n", "\n")


def _info_tlb(text):
    """HMP `info tlb` -> [(va, pa, flags)], flags like 'XG-DA---W' (X = NX,
    P = large page, U = user, W = writable: the leaf entry's bits)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"([0-9a-f]+): ([0-9a-f]+) ([-XGPDACTUW]{9})$", line.strip())
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
    assert out, f"no mappings in `info tlb`: {text[:300]!r}"
    return out


def _canonical(va, paging):
    top = 56 if paging == 5 else 47
    high = va >> top
    return high == 0 or high == (1 << (64 - top)) - 1


def _state(ctx, g):
    """While paused: per vCPU, its registers, QEMU's mappings and vmsight's
    ranges. Returns {cpu: (regs, truth_pages, our_ranges)}."""
    out = {}
    with ctx.qmp(g) as q:
        regs = parse_info_registers(q.hmp("info registers -a"))
        for cpu in sorted(regs):
            truth = _info_tlb(_hmp(q, "info tlb", cpu))
            ours = ctx.vmsight_json("-t", g.target, "va-ranges", "--vcpu", cpu)
            out[cpu] = (regs[cpu], truth, ours)
    return out


def _expand(ranges):
    """vmsight's runs as QEMU lists them: one (va, pa, large) per page."""
    pages = []
    for r in ranges:
        va, pa, size = int(r["va"], 16), int(r["pa"], 16), r["page_size"]
        assert r["len"] % size == 0 and va % size == 0 and pa % size == 0, r
        for off in range(0, r["len"], size):
            pages.append((va + off, pa + off, size > 4096))
    return pages


def test_va_ranges_equal_info_tlb(ctx):
    for name in GUESTS:
        g = ctx.guest(name)
        with ctx.paused(g):
            state = _state(ctx, g)
        assert len(state) == g.smp
        for cpu, (regs, truth, ours) in state.items():
            pages = _expand(ours)
            want = [(va, pa, "P" in f) for va, pa, f in truth]
            assert len(pages) == len(want), (name, cpu, len(pages), len(want))
            for a, b in zip(pages, want):
                assert a == b, f"{name} cpu{cpu}: vmsight page {a[0]:#x}->{a[1]:#x} large={a[2]}, QEMU {b}"
            # Permissions: Linux keeps upper levels permissive, so the leaf's
            # bits (all `info tlb` shows) are the effective ones.
            flags = {va: f for va, _, f in truth}
            for r in ours:
                f = flags[int(r["va"], 16)]
                assert (r["writable"], r["user"], r["nx"]) == ("W" in f, "U" in f, "X" in f), (name, cpu, r, f)
            sizes = {r["page_size"] for r in ours}
            assert 4096 in sizes and 2 << 20 in sizes, (name, sizes)


def _samples(ctx, g, truth, ours, rnd):
    """Virtual addresses to compare: about 1500 per vCPU."""
    vas = []
    # The guest's own symbols: kernel text and data, module code and data.
    syms = []
    with open(os.path.join(g.truth_dir, "kallsyms.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in "TtDdBbRr":
                syms.append(int(parts[0], 16))
    vas += rnd.sample(syms, 400)
    # Every kind of mapping: random pages, random offsets.
    small = [(va, 4096) for va, _, f in truth if "P" not in f]
    large = [(va, None) for va, _, f in truth if "P" in f]
    ranges = [(int(r["va"], 16), r["len"], r["page_size"]) for r in ours]
    for va, _ in rnd.sample(small, min(400, len(small))):
        vas.append(va + rnd.randrange(4096))
    for va, _ in rnd.sample(large, min(200, len(large))):
        size = next(s for a, n, s in ranges if a <= va < a + n)
        vas.append(va + rnd.randrange(size))
        vas.append(va + size - 1)
    # Both ends of runs, and just past them (often unmapped).
    for va, n, _ in rnd.sample(ranges, min(150, len(ranges))):
        vas += [va, va + n - 1, (va + n) & (2**64 - 1)]
    # Unmapped: anywhere canonical, and non-canonical.
    bits = 57 if g.paging == 5 else 48
    for _ in range(200):
        va = rnd.getrandbits(bits)
        vas.append(va | (~0 << bits) & (2**64 - 1) if va >> (bits - 1) else va)
    vas += [rnd.getrandbits(64) for _ in range(40)]
    vas += [1 << (bits - 1), (1 << 64) - (1 << (bits - 1)) - 1, 0, 2**64 - 1]
    return vas


def test_translate_equals_gva2gpa(ctx):
    rnd = random.Random(1234)
    total = 0
    for name in GUESTS:
        g = ctx.guest(name)
        with ctx.paused(g):
            state = _state(ctx, g)
            for cpu, (regs, truth, ours) in state.items():
                vas = _samples(ctx, g, truth, ours, rnd)
                _, out, _ = ctx.vmsight("--json", "-t", g.target, "translate", "--vcpu", cpu,
                                        *map(hex, vas), check=False)
                got = [json.loads(line) for line in out.splitlines()]
                with ctx.qmp(g) as q:
                    want = [_hmp(q, f"gva2gpa {va:#x}", cpu).strip() for va in vas]
                # The same address space named by its CR3 gives the same answers.
                _, out2, _ = ctx.vmsight("--json", "-t", g.target, "translate", "--cr3", hex(regs["CR3"]),
                                         *map(hex, vas[:300]), check=False)
                assert out2.splitlines() == out.splitlines()[:300]
                _check_translations(name, cpu, g.paging, vas, got, want, truth)
                total += len(vas)
    assert total > 4000, total


def _check_translations(name, cpu, paging, vas, got, want, truth):
    starts = sorted(truth)
    assert len(got) == len(vas)
    mapped = 0
    for va, ours, theirs in zip(vas, got, want):
        assert int(ours["va"], 16) == va
        where = f"{name} cpu{cpu} {va:#x}: vmsight {ours}, QEMU {theirs!r}"
        if theirs == "Unmapped":
            assert "error" in ours, where
            assert ours["errno"] == (14 if _canonical(va, paging) else 22), where
            continue
        m = re.match(r"gpa: (0x[0-9a-f]+|0)$", theirs)
        assert m, where
        assert "error" not in ours and int(ours["pa"], 16) == int(m.group(1), 0), where
        mapped += 1
        # Page size and permissions from the `info tlb` entry holding VA.
        tva, tpa, f = starts[bisect.bisect_right(starts, (va, 2**64)) - 1]
        size = ours["page_size"]
        if "P" in f:
            assert size in (2 << 20, 1 << 30) and tva % size == 0 and va - tva < size, where
        else:
            assert size == 4096 and va - tva < 4096, where
        assert (ours["writable"], ours["user"], ours["nx"]) == ("W" in f, "U" in f, "X" in f), (where, f)
    assert mapped > len(vas) // 2, (name, cpu, mapped, len(vas))


def _in_ram(ours, ram):
    """The runs backed by RAM (not MMIO)."""
    return [r for r in ours if any(lo <= int(r["pa"], 16) and int(r["pa"], 16) + r["len"] - 1 <= hi
                                   for lo, hi in ram)]


def _read_samples(runs, rnd, n):
    """(va, len): across the boundary of two VA-adjacent runs (different
    physical pages), and inside runs."""
    out = []
    runs = [(int(r["va"], 16), r["len"], r["page_size"]) for r in runs]
    joins = [(b, nb) for (a, n, _), (b, nb, _) in zip(runs, runs[1:]) if a + n == b]
    for b, nb in rnd.sample(joins, min(n // 2, len(joins))):
        back = rnd.randrange(1, 3000)
        # Stay inside the second run: it may be a single page.
        out.append((b - back, min(rnd.choice([8, 3000, 6000]), back + nb)))
    for va, length, size in rnd.sample(runs, min(n - len(out), len(runs))):
        off = rnd.randrange(length)
        out.append((va + off, min(rnd.choice([1, 8, 100, 5000]), length - off)))
    return out


def test_read_va_equals_memsave(ctx):
    rnd = random.Random(99)
    for name in GUESTS:
        g = ctx.guest(name)
        info = ctx.vmsight_json("-t", g.target, "info")[0]
        ram = [(int(r["start"], 16), int(r["end"], 16)) for r in info["ram_ranges"]]
        with ctx.paused(g):
            state = _state(ctx, g)
            path = os.path.join(ctx.tmp, "memsave.bin")
            for cpu, (regs, truth, ours) in state.items():
                runs = _in_ram(ours, ram)
                for va, n in _read_samples(runs, rnd, 16):
                    _, data, err = ctx.vmsight("-t", g.target, "read", "--va", hex(va), n, "--vcpu", cpu, "--raw",
                                               raw=True)
                    with ctx.qmp(g) as q:
                        q.cmd("memsave", val=va - (va >> 63 << 64), size=n, filename=path, cpu_index=cpu)  # int64
                    with open(path, "rb") as f:
                        assert data == f.read(), f"{name} cpu{cpu}: {n} bytes at {va:#x} differ from memsave"
                # A read running off the end of a run into unmapped space
                # fails and says how far it got.
                ends = [int(r["va"], 16) + r["len"] for r in runs]
                unmapped = [e for e in ends if all(not (int(r["va"], 16) <= e < int(r["va"], 16) + r["len"])
                                                    for r in ours)]
                end = rnd.choice(unmapped)
                rc, out, err = ctx.vmsight("-t", g.target, "read", "--va", hex(end - 100), 300, "--vcpu", cpu,
                                           check=False)
                assert rc == 1 and out == "" and "read 100 of 300 bytes" in err and "not mapped" in err, err
        # The kernel's banner, found through kallsyms, is the guest's own uname.
        with open(os.path.join(g.truth_dir, "kallsyms.txt")) as f:
            banner = next(int(line.split()[0], 16) for line in f if line.split()[2:3] == ["linux_banner"])
        _, data, _ = ctx.vmsight("-t", g.target, "read", "--va", hex(banner), 64, "--raw", raw=True)
        with open(os.path.join(g.truth_dir, "uname.txt")) as f:
            release = f.read().split()[2]
        assert data.startswith(b"Linux version " + release.encode()), data


def test_dumps_translate_like_the_live_guest(ctx):
    """An ELF dump carries the registers (mode and CR3 come from its notes);
    a raw dump does not: --paging and --cr3 stand in."""
    g = ctx.guest("small")
    elf = os.path.join(ctx.tmp, "small.elf")
    raw = os.path.join(ctx.tmp, "small.raw")
    rnd = random.Random(5)
    with ctx.paused(g):
        ctx.vmsight("-t", g.target, "dump", "-o", elf)
        ctx.vmsight("-t", g.target, "dump", "-o", raw, "--format", "raw")
        state = _state(ctx, g)
        regs, truth, ours = state[0]
        vas = _samples(ctx, g, truth, ours, rnd)[:600]
        _, live, _ = ctx.vmsight("--json", "-t", g.target, "translate", *map(hex, vas), check=False)
    _, from_elf, _ = ctx.vmsight("--json", "-t", "dump:" + elf, "translate", *map(hex, vas), check=False)
    _, from_raw, _ = ctx.vmsight("--json", "-t", "dump:" + raw, "translate", "--paging", "4", "--cr3",
                                 hex(regs["CR3"]), *map(hex, vas), check=False)
    assert live.splitlines() == from_elf.splitlines() == from_raw.splitlines()
    rc, _, err = ctx.vmsight("-t", "dump:" + raw, "translate", hex(vas[0]), check=False)
    assert rc == 1 and "give --cr3" in err, err
    rc, _, err = ctx.vmsight("-t", "dump:" + raw, "translate", hex(vas[0]), "--cr3", hex(regs["CR3"]), check=False)
    assert rc == 1 and "paging mode unknown" in err, err


def test_hostile_address_spaces_fail_cleanly(ctx):
    """CR3 values that name no page table, or a page of something else
    (kernel text, zeroes, random data read as a table): errors, never a crash."""
    g = ctx.guest("big")
    rnd = random.Random(7)
    ranges = ctx.vmsight_json("-t", g.target, "info")[0]["ram_ranges"]
    lo, hi = int(ranges[0]["start"], 16), int(ranges[0]["end"], 16)
    end = int(ranges[-1]["end"], 16) + 1
    rc, _, err = ctx.vmsight("-t", g.target, "translate", "0xffffffff81000000", "--cr3", hex(end + (1 << 30)),
                             check=False)
    assert rc == 1 and "outside guest RAM" in err, err
    rc, out, err = ctx.vmsight("-t", g.target, "va-ranges", "--cr3", hex(end + (1 << 30)), check=False)
    assert rc == 1 and out == "" and "outside guest RAM" in err, (out, err)
    for _ in range(12):
        cr3 = rnd.randrange(lo, hi) & ~0xfff
        vas = [hex(rnd.getrandbits(64)) for _ in range(50)] + ["0xffffffff81000000", "0x400000"]
        rc, out, err = ctx.vmsight("--json", "-t", g.target, "translate", "--cr3", hex(cr3), *vas, check=False)
        assert rc in (0, 1) and len(out.splitlines()) == len(vas), err
        for paging in ("4", "5", "pae", "32"):
            rc, out, err = ctx.vmsight("-t", g.target, "va-ranges", "--cr3", hex(cr3), "--paging", paging,
                                       check=False, timeout=60)
            assert rc in (0, 1), err
    # Bad usage.
    for args in (("translate",), ("translate", "0x1000", "--cr3", "1", "--vcpu", "0"),
                 ("translate", "zz"), ("translate", "0x1000", "--paging", "6"),
                 ("read", "--va", "0x1000", "--pa", "0x1000", "8"), ("read", "--pa", "0x1000", "8", "--cr3", "1"),
                 ("va-ranges", "extra")):
        rc, _, err = ctx.vmsight("-t", g.target, *args, check=False)
        assert rc == 2, (args, err)
