"""The ISF that `vmsight profile --isf` writes, as Volatility 3 and LibVMI
load it: symbols with types, no undefined type names, phys_startup_64.

Ground truth, never from vmsight:
- the Volatility 3 ISF JSON schema (python3-jsonschema);
- the list of symbols documented in docs/kernel.md (taken from Volatility 3's
  and LibVMI's lookups) and the guest's /proc/kallsyms for which of them the
  kernel has;
- the vmlinux unpacked from the kernel package's vmlinuz (its ELF entry point
  is the link's phys_startup_64: arch/x86/kernel/vmlinux.lds.S) and the
  guest's /proc/iomem "Kernel code" (the physical KASLR offset).
"""

import json
import os
import re
import struct

from test_kernel import KERNEL_PHYS_DEFAULT, ROOT, _schema, _truth_kallsyms, _truth_symbol, _vmlinux


def _documented():
    with open(os.path.join(ROOT, "docs", "kernel.md")) as f:
        text = f.read()
    block = re.search(r"<!-- isf-known.*?-->(.*?)<!-- /isf-known -->", text, re.S).group(1)
    names = re.findall(r"`([A-Za-z0-9_]+)`", block)
    assert len(names) > 40, names
    return names


def _undefined(isf):
    base, user, enums = isf["base_types"], isf["user_types"], isf["enums"]
    bad = []

    def walk(t, where):
        k = t["kind"]
        if k == "base" and t["name"] not in base:
            bad.append((where, t))
        elif k in ("struct", "union", "class") and t["name"] not in user:
            bad.append((where, t))
        elif k == "enum" and t["name"] not in enums:
            bad.append((where, t))
        elif k in ("pointer", "array"):
            walk(t["subtype"], where)
        elif k == "bitfield":
            walk(t["type"], where)
    for n, u in user.items():
        for f, v in u["fields"].items():
            walk(v["type"], f"{n}.{f}")
    for n, e in enums.items():
        if e["base"] not in base:
            bad.append((n, e["base"]))
    for n, s in isf["symbols"].items():
        if "type" in s:
            walk(s["type"], n)
    return bad


def _isf(ctx, g, *cache):
    path = os.path.join(ctx.tmp, f"isf-{g.kernel_release}.json")
    ctx.vmsight("-t", g.target, "profile", "--isf", path, *(cache or ("--no-cache",)))
    with open(path) as f:
        return json.load(f)


def test_isf_symbols_typed(ctx):
    import jsonschema
    with open(_schema()) as f:
        schema = json.load(f)
    for name in ("small", "generic"):
        g = ctx.guest(name)
        isf = _isf(ctx, g)
        if name == "small":
            jsonschema.validate(isf, schema)
        assert _undefined(isf) == [], _undefined(isf)[:10]
        syms = isf["symbols"]
        have = {line.split()[2] for line in _truth_kallsyms(g)}
        typed = [n for n in _documented() if n in have]
        assert len(typed) > 30, typed
        for n in typed:
            assert "type" in syms[n], (name, n, syms[n])
        # the types Volatility's plugins read them as
        assert syms["init_task"]["type"] == {"kind": "struct", "name": "task_struct"}
        assert syms["prb"]["type"] == {"kind": "pointer", "subtype": {"kind": "struct", "name": "printk_ringbuffer"}}
        idt = syms["idt_table"]["type"]
        assert idt["kind"] == "array" and idt["count"] == 256 and idt["subtype"]["name"] == "gate_struct"
        sc = syms["sys_call_table"]["type"]
        assert sc["kind"] == "array" and sc["subtype"] == {"kind": "pointer", "subtype": {"kind": "function"}}
        assert 300 < sc["count"] < 1000, sc["count"]
        # per-CPU variables, from the BTF's VARs
        assert syms["runqueues"]["type"] == {"kind": "struct", "name": "rq"}
        assert syms["current_task"]["type"] == {"kind": "pointer",
                                                "subtype": {"kind": "struct", "name": "task_struct"}}
        assert syms["schedule"]["type"] == {"kind": "function"}
        assert sum("type" in s for s in syms.values()) > len(syms) / 2


def test_isf_phys_startup_64(ctx):
    # Written from a scan (--no-cache) and from the profile cache: "small"
    # fills the cache, "big" (the same kernel, another KASLR) reads small's
    # profile with its symbols slid to this boot.
    cache = os.path.join(ctx.tmp, "isf-cache")
    for name in ("small", "big"):
        g = ctx.guest(name)
        with open(_vmlinux(ctx, g), "rb") as f:
            entry, = struct.unpack_from("<Q", f.read(64), 24)
        assert entry == KERNEL_PHYS_DEFAULT, hex(entry)  # ENTRY(phys_startup_64) of the link
        with open(os.path.join(g.truth_dir, "iomem.txt")) as f:
            code = [int(m.group(1), 16) for m in (re.match(r"\s*([0-9a-f]+)-[0-9a-f]+ : Kernel code", l) for l in f)
                    if m][0]
        with ctx.qmp(g) as q:
            out = q.hmp(f"gva2gpa {_truth_symbol(g, 'init_top_pgt'):#x}")
        for how in (("--no-cache",), ("--cache-dir", cache)):
            isf = _isf(ctx, g, *how)
            phys = isf["symbols"]["phys_startup_64"]["address"]
            assert phys == entry + (code - KERNEL_PHYS_DEFAULT), (name, how, hex(phys), hex(code))
            # LibVMI's arithmetic gives the kernel's page tables' physical
            # address, as QEMU translates the guest's init_top_pgt
            boundary = isf["symbols"]["startup_64"]["address"] - phys
            pgt = isf["symbols"]["init_top_pgt"]["address"] - boundary
            assert pgt == int(out.split("gpa:")[1].split()[0], 16), (name, how, hex(pgt), out)
