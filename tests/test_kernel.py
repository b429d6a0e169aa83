"""Kernel discovery with no profile: KASLR, the kernel's CR3, kallsyms, BTF,
the profile cache and the ISF writer, on the lab's Debian 6.1 kernels — the
cloud flavour (5-level 2-vCPU "big" guest and 4-level "small" one) and the
generic flavour ("generic": other config, other structure layouts) — and on
Debian's 6.12 cloud kernel ("k612", the second kernel series).

Ground truth, never from vmsight:
- the guest's own /proc/kallsyms (truth/kallsyms.txt, as root, KASLR on):
  every line without a [module] tag — vmlinux's own symbols; module, BPF and
  ftrace-trampoline symbols live outside vmlinux's kallsyms tables — must
  come out of `vmsight symbols` in the same order with the same address,
  type letter and name;
- the guest's /proc/iomem ("Kernel code" = physical _text), dmesg's first
  line (the banner), uname -r, and QEMU's vCPU registers (CR3);
- pahole (Debian's dwarves) reading the BTF of the vmlinux unpacked here
  from the kernel package's own vmlinuz, for struct sizes and the offset,
  size and bit position of every member it prints (nested anonymous ones
  included);
- the Volatility 3 ISF JSON schema (python3-jsonschema).
"""

import hashlib
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import time

from harness import parse_info_registers

import labvm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_TEXT_DEFAULT = 0xffffffff81000000
KERNEL_PHYS_DEFAULT = 0x1000000

STRUCTS = ["task_struct", "mm_struct", "vm_area_struct", "file", "dentry", "mount", "files_struct", "fdtable",
           "module", "list_head", "inode", "super_block", "cred", "pid", "signal_struct", "path", "qstr",
           "vfsmount", "nsproxy", "fs_struct", "kobject", "hlist_node", "maple_tree", "upid"]


def _truth_kallsyms(g):
    with open(os.path.join(g.truth_dir, "kallsyms.txt")) as f:
        return [line.rstrip("\n") for line in f if "[" not in line]


def _truth_symbol(g, name):
    for line in _truth_kallsyms(g):
        a, t, n = line.split()
        if n == name:
            return int(a, 16)
    raise AssertionError(f"{name} not in the guest's kallsyms")


def _kernel(ctx, g, *extra):
    return ctx.vmsight_json("-t", g.target, "kernel", *extra)[0]


def test_kernel_location_and_kaslr(ctx):
    """KASLR offsets, CR3, paging mode and banner against the guest's own view."""
    for name in ("big", "small", "generic", "k612"):
        g = ctx.guest(name)
        cache = os.path.join(ctx.tmp, "cache-" + name)
        with ctx.paused(g):
            with ctx.qmp(g) as q:
                regs = parse_info_registers(q.hmp("info registers -a"))
            k = _kernel(ctx, g, "--cache-dir", cache)
            # The same through the cache, at the same paused moment (a running
            # guest's CR3 is whichever process's runs then).
            warm = _kernel(ctx, g, "--cache-dir", cache)
        text = _truth_symbol(g, "_text")
        with open(os.path.join(g.truth_dir, "iomem.txt")) as f:
            code = [int(m.group(1), 16) for m in (re.match(r"\s*([0-9a-f]+)-[0-9a-f]+ : Kernel code", l) for l in f)
                    if m]
        assert int(k["text_va"], 16) == text, (name, k["text_va"], hex(text))
        assert int(k["text_pa"], 16) == code[0], (name, k["text_pa"], hex(code[0]))
        assert int(k["kaslr_virt"], 16) == text - KERNEL_TEXT_DEFAULT
        assert int(k["kaslr_phys"], 16) == code[0] - KERNEL_PHYS_DEFAULT
        # The kernel's own PGD, init_top_pgt (not whichever process a vCPU
        # ran), where the guest's kallsyms and iomem put it.
        top = code[0] + _truth_symbol(g, "init_top_pgt") - text
        assert int(k["cr3"], 16) == top, (k["cr3"], hex(top))
        # the vCPUs' CR3s share its kernel half: the search started from one
        assert k["location_from"] == "registers" and regs, k
        assert k["paging"] == ("5-level" if g.paging == 5 else "4-level")
        with open(os.path.join(g.truth_dir, "dmesg.txt")) as f:
            first = f.readline()
        assert first.split("] ", 1)[1].rstrip("\n") == k["banner"], (first, k["banner"])
        with open(os.path.join(g.truth_dir, "uname.txt")) as f:
            assert f.read().split()[2] == k["release"] == g.kernel_release
        assert k["symbols_from"] == "kallsyms" and k["types_from"] == "btf" and k["btf_bytes"] > 1 << 20
        assert len(k["build_id"]) == 40 and k["cache_file"].startswith(cache)
        assert warm["symbols_from"] == "cache" and warm["types_from"] == "cache"
        for key in ("text_va", "text_pa", "cr3", "banner", "build_id", "symbols", "btf_bytes"):
            assert warm[key] == k[key], (key, warm[key], k[key])
        # Sources that copy instead of mapping read the image in growing pieces.
        # (The guest runs here: the CR3, whichever process's, may differ.)
        if name == "small":
            for source in ("procmem", "qmp", "gdb"):
                c = ctx.vmsight_json("-t", g.target, "--source", source, "kernel", "--no-cache")[0]
                for key in ("text_va", "text_pa", "banner", "build_id", "symbols", "btf_bytes"):
                    assert c[key] == k[key], (source, key, c[key], k[key])
        # read --sym: the banner's bytes where kallsyms says linux_banner is.
        r = ctx.vmsight_json("-t", g.target, "read", "--sym", "linux_banner", 14, "--cache-dir", cache)[0]
        assert bytes.fromhex(r["hex"]) == b"Linux version " and int(r["va"], 16) == _truth_symbol(g, "linux_banner")


def test_symbols_equal_proc_kallsyms(ctx):
    """Every vmlinux symbol of the guest's /proc/kallsyms, in order, from
    kallsyms decoded in guest memory, cold and from the cache."""
    total = 0
    for name in ("small", "generic", "big", "k612"):
        g = ctx.guest(name)
        truth = _truth_kallsyms(g)
        cache = os.path.join(ctx.tmp, "cache-" + name)
        for run in ("cold", "warm"):
            _, out, _ = ctx.vmsight("-t", g.target, "symbols", "--cache-dir", cache)
            ours = out.splitlines()
            assert len(ours) == len(truth), (name, run, len(ours), len(truth))
            for i, (a, b) in enumerate(zip(ours, truth)):
                assert a == b, f"{name} ({run}) symbol {i}: vmsight '{a}', /proc/kallsyms '{b}'"
        total += len(truth)
        # JSON and GLOB.
        got = ctx.vmsight_json("-t", g.target, "symbols", "__x64_sys_read*", "--cache-dir", cache)
        want = [l.split() for l in truth if l.split()[2].startswith("__x64_sys_read")]
        assert [(s["address"][2:].zfill(16), s["type"], s["name"]) for s in got] == [tuple(w) for w in want]
    assert total > 200000, total


def _vmlinux(ctx, g):
    """vmlinux unpacked from the package's vmlinuz (bzImage payload), cached per kernel."""
    out = os.path.join(ctx.lab.work, f"vmlinux-{g.kernel_release}")
    if os.path.exists(out):
        return out
    with open(g.vmlinuz, "rb") as f:
        d = f.read()
    setup_sects = d[0x1f1] or 4
    off, length = struct.unpack_from("<II", d, 0x248)   # payload_offset, payload_length
    start = (setup_sects + 1) * 512 + off
    payload = d[start:start + length]
    if payload[:6] == b"\xfd7zXZ\x00":
        data = lzma.LZMADecompressor().decompress(payload)
    elif payload[:4] == b"\x02\x21\x4c\x18":
        # lz4 reads the legacy frame, then stops at the size the kernel appends.
        data = subprocess.run(["lz4", "-dc"], input=payload, capture_output=True).stdout
    elif payload[:4] == b"\x28\xb5\x2f\xfd":
        data = subprocess.run(["zstd", "-dc"], input=payload, capture_output=True).stdout
    else:
        raise AssertionError(f"unknown bzImage payload {payload[:8].hex()}")
    assert data[:4] == b"\x7fELF", f"{g.vmlinuz}: payload does not unpack to an ELF"
    with open(out + ".tmp", "wb") as f:
        f.write(data)
    os.rename(out + ".tmp", out)
    return out


# A member line: "<decl>; /* OFFSET[:BIT] SIZE */"; the name is the last
# identifier of the declarator ("(*name)(...)" for function pointers).
MEMBER = re.compile(r"^(\s+.*?);\s*/\*\s*(\d+)(?::\s*(\d+))?\s+(\d+)\s*\*/")
DECL_NAME = re.compile(r"(?:\(\*(\w+)\)\(.*\)|(\w+)(?:\[\d*\])*(?::(\d+))?)$")


def _pahole(vmlinux, name):
    """pahole's view of struct NAME: (size, {member path: (offset, size, bit)}).
    pahole prints inline struct and union types expanded, with offsets from
    the start of NAME: members of an anonymous one are NAME's own, those of a
    named one ("struct { ... } lru_gen;") are reached as "lru_gen.member"."""
    out = subprocess.run(["pahole", "-F", "btf", "-C", name, vmlinux], capture_output=True, text=True,
                         check=True).stdout
    size = int(re.search(r"/\* size: (\d+),", out).group(1))
    stack = [{}]
    for line in out.splitlines()[1:]:
        if line.rstrip().endswith("{"):
            stack.append({})
            continue
        # "} name;" closes a named member; "} __attribute__((...));" (6.12's
        # cache-aligned groups in mm_struct) an anonymous one.
        close = re.match(r"\s*}\s*(?!__attribute__)(\w*)", line)
        if close and len(stack) > 1:
            inner = stack.pop()
            prefix = close.group(1) + "." if close.group(1) else ""
            m = MEMBER.match(line)
            if prefix and m:
                stack[-1].setdefault(close.group(1), (int(m.group(2)), int(m.group(4)), None))
            for k, v in inner.items():
                stack[-1].setdefault(prefix + k, v)
            continue
        m = MEMBER.match(line)
        if not m:
            continue
        decl = re.sub(r"\s*__attribute__\(\(.*\)\)$", "", m.group(1).rstrip())
        d = DECL_NAME.search(decl)
        if not d:
            continue
        field = d.group(1) or d.group(2)
        off, bit, sz = int(m.group(2)), m.group(3), int(m.group(4))
        stack[-1].setdefault(field, (off, sz, None if bit is None else (int(bit), int(d.group(3)))))
    members = stack[0]
    assert members, out[:500]
    return size, members


def test_btf_offsets_equal_pahole(ctx):
    if not shutil.which("pahole"):
        raise AssertionError("pahole missing: run scripts/deps")
    compared = 0
    for name in ("small", "generic", "k612"):
        g = ctx.guest(name)
        vmlinux = _vmlinux(ctx, g)
        cache = os.path.join(ctx.tmp, "cache-" + name)
        ctx.vmsight("-t", g.target, "kernel", "--cache-dir", cache)
        # 6.4+ keeps a module's memory in struct module_memory (lsmod's sizes).
        for st in STRUCTS + (["module_memory"] if name == "k612" else []):
            size, members = _pahole(vmlinux, st)
            got = ctx.vmsight_json("-t", g.target, "btf", st, *members, "--cache-dir", cache)
            assert got[0]["size"] == size, (name, st, got[0], size)
            for r in got[1:]:
                off, sz, bit = members[r["member"]]
                if bit is None:
                    assert (r["offset"], r["size"], r["bit_size"]) == (off, sz, 0), (name, st, r, off, sz)
                else:
                    assert (r["bit_offset"], r["bit_size"]) == (off * 8 + bit[0], bit[1]), (name, st, r, off, bit)
                compared += 1
        # Nested paths: where pahole puts the nested struct, plus its own offset.
        _, ts = _pahole(vmlinux, "task_struct")
        _, lh = _pahole(vmlinux, "list_head")
        got = ctx.vmsight_json("-t", g.target, "btf", "task_struct", "tasks.next", "tasks.prev",
                               "--cache-dir", cache)
        assert got[1]["offset"] == ts["tasks"][0] + lh["next"][0]
        assert got[2]["offset"] == ts["tasks"][0] + lh["prev"][0]
    assert compared > 1000, compared


def _schema():
    for base in (os.path.join(ROOT, "..", "shared"), "/work/shared"):
        p = os.path.join(base, "isf", "volatility3-schema-6.3.0.json")
        if os.path.exists(p):
            return p
    raise AssertionError("the Volatility ISF schema (shared/isf) is missing")


def test_isf_profile_validates(ctx):
    import jsonschema
    g = ctx.guest("small")
    path = os.path.join(ctx.tmp, "profile.json")
    r = ctx.vmsight_json("-t", g.target, "profile", "--isf", path, "--no-cache")[0]
    with open(path) as f:
        text = f.read()
    isf = json.loads(text)
    # Validating 80k symbols and 10k types takes jsonschema about 20 s: the
    # same bytes (but for the time stamp) from another build were validated
    # already in this run, so they are not again.
    stamp = isf["metadata"]["producer"]["datetime"]
    digest = hashlib.sha256(text.replace(stamp, "").encode()).hexdigest()
    done = ctx.lab.__dict__.setdefault("isf_validated", set())
    if digest not in done:
        with open(_schema()) as f:
            schema = json.load(f)
        jsonschema.validate(isf, schema)
        done.add(digest)
    assert isf["metadata"]["producer"]["name"] == "vmsight"
    # Link-time addresses: the guest's, less its KASLR offset.
    slide = _truth_symbol(g, "_text") - KERNEL_TEXT_DEFAULT
    for sym in ("_text", "init_task", "linux_banner", "init_top_pgt"):
        assert isf["symbols"][sym]["address"] == _truth_symbol(g, sym) - slide, sym
    assert r["symbols"] == len(_truth_kallsyms(g))
    ts = isf["user_types"]["task_struct"]
    size, members = _pahole(_vmlinux(ctx, g), "task_struct")
    assert ts["size"] == size and ts["fields"]["tasks"]["offset"] == members["tasks"][0]
    # vmsight reads its own ISF back for a kernel "without BTF".
    got = ctx.vmsight_json("-t", g.target, "btf", "task_struct", "tasks", "pid", "--isf-in", path, "--no-cache")
    assert got[0]["size"] == size and got[1]["offset"] == members["tasks"][0] and got[2]["offset"] == members["pid"][0]


def _elf_offset(path, pa):
    """File offset of guest-physical PA in an ELF core."""
    with open(path, "rb") as f:
        h = f.read(64)
        phoff, = struct.unpack_from("<Q", h, 32)
        phnum, = struct.unpack_from("<H", h, 56)
        f.seek(phoff)
        ph = f.read(56 * phnum)
    for i in range(phnum):
        typ, _, off, _, paddr, filesz = struct.unpack_from("<IIQQQQ", ph, 56 * i)
        if typ == 1 and paddr <= pa < paddr + filesz:
            return off + pa - paddr
    raise AssertionError(f"{pa:#x} not in {path}")


def _boot_own_guest(ctx, g, append="pti=on", reboot=False):
    """A QEMU of our own on the lab guest's kernel and initramfs, with APPEND
    on the kernel's command line (pti=on: the TCG CPU is not affected by
    Meltdown, so PTI is off by default), a reset rebooting the guest if
    REBOOT; returns (target, lab QMP socket, serial log path) once the guest
    has printed its ground truth (so it runs user processes)."""
    d = ctx.tmp
    ram = f"/dev/shm/vmsight-own-{os.getpid()}-{os.path.basename(d)}"
    ctx.on_cleanup(lambda: os.path.exists(ram) and os.unlink(ram))
    cmd = g.qemu_command
    initrd = cmd[cmd.index("-initrd") + 1]
    disk = os.path.join(d, "data.img")
    shutil.copyfile(os.path.join(g.dir, "data.img"), disk)
    serial = os.path.join(d, "serial.log")
    pidfile = os.path.join(d, "qemu.pid")
    qemu = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-machine", "q35,memory-backend=ram",
            "-object", f"memory-backend-file,id=ram,size=512M,mem-path={ram},share=on", "-m", "512M",
            "-smp", "1", "-accel", "tcg", "-cpu", "max,la57=off", "-kernel", g.vmlinuz, "-initrd", initrd,
            "-append", "console=ttyS0,115200 panic=-1 oops=panic " + append,
            "-drive", f"file={disk},if=none,id=data,format=raw", "-device", "virtio-blk-pci,drive=data",
            "-nic", "none", "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
            "-qmp", f"unix:{d}/lab.sock,server=on,wait=off", "-serial", f"file:{serial}",
            "-chardev", f"socket,id=exec,path={d}/exec.sock,server=on,wait=off", "-serial", "chardev:exec",
            "-display", "none", "-daemonize", "-pidfile", pidfile] + ([] if reboot else ["-no-reboot"])
    subprocess.run(qemu, check=True)
    pid = int(open(pidfile).read())

    def kill():
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    ctx.on_cleanup(kill)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(serial, errors="replace") as f:
            log = f.read()
        if "===VMS-TRUTH-DONE===" in log:
            return f"qmp:{d}/qmp.sock", f"{d}/lab.sock", serial
        assert os.path.exists(f"/proc/{pid}"), "our guest's QEMU died: " + log[-2000:]
        time.sleep(0.5)
    raise AssertionError("our guest did not finish booting: " + log[-2000:])


def test_kernel_cr3_with_pti(ctx):
    """Page-table isolation on a real kernel: from the kernel's CR3 and from
    the user half of the pair, vmsight finds the kernel PGD (bit 12 clear)."""
    g = ctx.guest("small")
    target, lab, serial = _boot_own_guest(ctx, g)
    with open(serial, errors="replace") as f:
        log = f.read()
    assert "page tables isolation: enabled" in log, "pti=on did not enable PTI"
    with labvm.QMP(lab) as q:
        q.cmd("stop")
        regs = parse_info_registers(q.hmp("info registers -a"))
    ref = _kernel(ctx, g, "--no-cache")
    k = ctx.vmsight_json("-t", target, "kernel", "--no-cache")[0]
    assert k["pti"] is True, k
    kcr3 = int(k["cr3"], 16)
    assert (kcr3 & 0x1fff) == 0, k["cr3"]
    # init_top_pgt, where QEMU itself translates it (the vCPU's CR3 was a
    # process's: its own tables, the same kernel half)
    with labvm.QMP(lab) as q:
        top_va = int(k["text_va"], 16) + _truth_symbol(g, "init_top_pgt") - _truth_symbol(g, "_text")
        out = q.hmp(f"gva2gpa {top_va:#x}")
    assert kcr3 == int(out.split()[-1], 16), (k["cr3"], out, hex(regs[0]["CR3"]))
    for key in ("banner", "build_id", "symbols", "btf_bytes"):
        assert k[key] == ref[key], (key, k[key], ref[key])
    # Starting from the user half (as when a vCPU is stopped in user mode).
    u = ctx.vmsight_json("-t", target, "kernel", "--no-cache", "--cr3", hex(kcr3 | 0x1000))[0]
    assert u["pti"] is True and u["cr3"] == k["cr3"] and u["text_va"] == k["text_va"], u
    r = ctx.vmsight_json("-t", target, "read", "--sym", "linux_banner", 14, "--no-cache")[0]
    assert bytes.fromhex(r["hex"]) == b"Linux version "


def test_attach_remembered_then_reboot(ctx):
    """A second command on the same QEMU does not ask it for the RAM layout:
    the first wrote it down (memo-qemu-PID-START.vmsmemo). The kernel is
    still found from the vCPUs' registers, the one witness of which kernel
    runs now: after a reboot, which leaves the old kernel's page tables and
    banner intact in RAM, the new kernel is found. Every location is
    checked against QEMU's own gva2gpa."""
    g = ctx.guest("small")
    target, lab, serial = _boot_own_guest(ctx, g, append="", reboot=True)
    cache = os.path.join(ctx.tmp, "cache-memo")
    text, top = _truth_symbol(g, "_text"), _truth_symbol(g, "init_top_pgt")

    def check_against_qemu(k, err=""):
        text_va = int(k["text_va"], 16)
        with labvm.QMP(lab) as q:
            for va, pa in ((text_va, int(k["text_pa"], 16)), (text_va + top - text, int(k["cr3"], 16))):
                out = q.hmp(f"gva2gpa {va:#x}")
                assert out.startswith("gpa:") and int(out.split()[-1], 16) == pa, (hex(va), out, k, err)

    def kernel_v():
        rc, out, err = ctx.vmsight("-v", "--json", "-t", target, "kernel", "--cache-dir", cache)
        return json.loads(out.splitlines()[0]), err

    # A memo of a QEMU that is gone (no such pid) is swept at a first attach.
    os.makedirs(cache, mode=0o700)
    gone = os.path.join(cache, "memo-qemu-999999999-1.vmsmemo")
    with open(gone, "wb") as f:
        f.write(b"x")
    k1, err1 = kernel_v()
    assert k1["location_from"] == "registers" and "earlier attach" not in err1, (k1, err1)
    memos = [f for f in os.listdir(cache) if f.startswith("memo-qemu-") and f.endswith(".vmsmemo")]
    assert len(memos) == 1 and not os.path.exists(gone), os.listdir(cache)
    check_against_qemu(k1, err1)  # the kernel's own init_top_pgt, whatever the vCPU ran
    k2, err2 = kernel_v()
    assert "RAM layout of QEMU pid" in err2 and "earlier attach" in err2, err2
    assert k2["location_from"] == "registers", k2
    for key in ("text_va", "text_pa", "cr3", "banner", "build_id", "paging"):
        assert k2[key] == k1[key], (key, k1, k2)
    r = ctx.vmsight_json("-t", target, "read", "--sym", "linux_banner", 14, "--cache-dir", cache)[0]
    assert bytes.fromhex(r["hex"]) == b"Linux version "

    with labvm.QMP(lab) as q:
        q.cmd("system_reset")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with open(serial, errors="replace") as f:
            if f.read().count("===VMS-TRUTH-DONE===") >= 2:
                break
        time.sleep(0.5)
    else:
        raise AssertionError("the guest did not boot again after system_reset")
    k3, err3 = kernel_v()
    assert "earlier attach" in err3 and k3["location_from"] == "registers", (k3, err3)
    check_against_qemu(k3, err3)
    r = ctx.vmsight_json("-t", target, "read", "--sym", "linux_banner", 14, "--cache-dir", cache)[0]
    assert bytes.fromhex(r["hex"]) == b"Linux version "
    print(f"     (KASLR: _text {k1['text_va']} -> {k3['text_va']} across the reboot)")


def test_raw_dump_without_registers(ctx):
    """A raw dump has no vCPU state: the kernel is found by its kallsyms in
    physical memory, placed by its own init_top_pgt mapping _text."""
    g = ctx.guest("small")
    raw = os.path.join(ctx.tmp, "k.raw")
    with ctx.paused(g):
        live = _kernel(ctx, g, "--no-cache")
        ctx.vmsight("-t", g.target, "dump", "-o", raw, "--format", "raw")
    k = ctx.vmsight_json("-t", "dump:" + raw, "kernel", "--no-cache")[0]
    for key in ("text_va", "text_pa", "kaslr_virt", "kaslr_phys", "banner", "build_id", "symbols", "btf_bytes",
                "paging"):
        assert k[key] == live[key], (key, k[key], live[key])
    top = int(live["text_pa"], 16) + _truth_symbol(g, "init_top_pgt") - _truth_symbol(g, "_text")
    assert int(k["cr3"], 16) == top, (k["cr3"], hex(top))
    # A CR3 given instead: no scan; the paging mode is the one that works.
    c = ctx.vmsight_json("-t", "dump:" + raw, "kernel", "--no-cache", "--cr3", live["cr3"])[0]
    assert (c["cr3"], c["paging"], c["text_va"], c["symbols"]) == (live["cr3"], live["paging"], live["text_va"],
                                                                   live["symbols"]), c
    rc, _, err = ctx.vmsight("-t", "dump:" + raw, "kernel", "--no-cache", "--cr3", "0x1000", check=False)
    assert rc == 1 and "maps nothing" in err, err


def test_corrupt_kernel_fails_cleanly(ctx):
    """Corrupted kallsyms tables and BTF in a dump, and a corrupted profile
    cache: clean errors or a rebuilt profile, never a crash."""
    g = ctx.guest("small")
    dump = os.path.join(ctx.tmp, "k.elf")
    with ctx.paused(g):
        ctx.vmsight("-t", g.target, "dump", "-o", dump)
    k = ctx.vmsight_json("-t", "dump:" + dump, "kernel", "--no-cache")[0]
    text_pa = int(k["text_pa"], 16)
    base = _elf_offset(dump, text_pa)

    def patch(off, data):
        with open(dump, "r+b") as f:
            f.seek(off)
            old = f.read(len(data))
            f.seek(off)
            f.write(data)
        return old

    # BTF: bad magic, then a type section past the blob's end.
    btf = base + _truth_symbol(g, "__start_BTF") - _truth_symbol(g, "_text")
    old = patch(btf, b"\x00\x00")
    rc, _, err = ctx.vmsight("-t", "dump:" + dump, "btf", "task_struct", "--no-cache", check=False)
    assert rc == 1 and "BTF" in err and "magic" in err, err
    patch(btf, old)
    old = patch(btf + 12, struct.pack("<I", 0x7fffffff))   # type_len
    rc, _, err = ctx.vmsight("-t", "dump:" + dump, "kernel", "--no-cache", check=False)
    assert rc == 1 and "BTF" in err, err
    patch(btf + 12, old)
    # kallsyms: the token index (after the digit tokens) scrambled.
    with open(dump, "rb") as f:
        f.seek(base)
        image = f.read(64 << 20)
    digits = b"0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00"
    hits = [m.start() for m in re.finditer(re.escape(digits), image)]
    assert hits, "no token table in the dump's kernel image"

    def scramble(on):
        for at in hits:
            patch(base + at, b"\xff" * 20 if on else digits)

    scramble(True)
    rc, _, err = ctx.vmsight("-t", "dump:" + dump, "kernel", "--no-cache", check=False)
    assert rc == 1 and "kallsyms" in err, err
    scramble(False)
    restored = ctx.vmsight_json("-t", "dump:" + dump, "kernel", "--no-cache")[0]
    assert restored["symbols"] == k["symbols"], restored

    # A corrupted or truncated profile is ignored and rebuilt.
    cache = os.path.join(ctx.tmp, "cache")
    first = _kernel(ctx, g, "--cache-dir", cache)
    prof = first["cache_file"]
    size = os.path.getsize(prof)
    with open(prof, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\xa5" * 64)
    again = _kernel(ctx, g, "--cache-dir", cache)
    assert first["symbols_from"] == "kallsyms", first
    assert again["symbols_from"] == "kallsyms" and again["symbols"] == first["symbols"], again
    for damage in ("none", "truncate", "garbage"):
        if damage == "truncate":
            os.truncate(prof, size // 3)
        elif damage == "garbage":
            with open(prof, "wb") as f:
                f.write(b"VMSPROF1" + os.urandom(5000))
        k2 = _kernel(ctx, g, "--cache-dir", cache)
        assert k2["symbols_from"] == ("cache" if damage == "none" else "kallsyms"), (damage, k2)
    # Without kallsyms: a System.map (made here from the guest's truth, at
    # link-time addresses) stands in; one that is not a System.map is an error.
    scramble(True)
    good, bad = os.path.join(ctx.tmp, "System.map"), os.path.join(ctx.tmp, "bad.map")
    slide = _truth_symbol(g, "_text") - KERNEL_TEXT_DEFAULT
    with open(good, "w") as f:
        for line in _truth_kallsyms(g):
            a, t, n = line.split()
            a = int(a, 16)
            f.write(f"{a - slide if a >= 0xffffffff80000000 else a:016x} {t} {n}\n")
    with open(bad, "w") as f:
        f.write("this is not a System.map\n")
    sm = ctx.vmsight_json("-t", "dump:" + dump, "kernel", "--no-cache", "--system-map", good)[0]
    assert sm["symbols_from"] == "system-map" and sm["text_va"] == k["text_va"] and sm["banner"] == k["banner"]
    rc, _, err = ctx.vmsight("-t", "dump:" + dump, "kernel", "--no-cache", "--system-map", bad, check=False)
    assert rc == 1 and "System.map" in err, err
    scramble(False)
    rc, _, err = ctx.vmsight("-t", "dump:" + dump, "btf", "task_struct", "no_such_member", "--no-cache",
                             check=False)
    assert rc == 1 and "no_such_member" in err
    rc, _, err = ctx.vmsight("-t", g.target, "symbols", "no_such_symbol_*", "--no-cache", check=False)
    assert rc == 1 and "no symbol" in err
    # A QEMU in its firmware: registers, but paging off: no kernel, said at once.
    qmp, pidfile = os.path.join(ctx.tmp, "fw.sock"), os.path.join(ctx.tmp, "fw.pid")
    subprocess.run(["qemu-system-x86_64", "-machine", "q35", "-m", "256M", "-accel", "tcg", "-display", "none",
                    "-nodefaults", "-qmp", f"unix:{qmp},server=on,wait=off", "-daemonize", "-pidfile", pidfile],
                   check=True)
    pid = int(open(pidfile).read())
    ctx.on_cleanup(lambda: os.kill(pid, 9))
    rc, _, err = ctx.vmsight("-t", "qmp:" + qmp, "kernel", "--no-cache", check=False)
    assert rc == 1 and "no kernel is running" in err, err
