"""Foundation: physical memory and vCPU state of a real guest, through every
memory source, checked against QEMU's own pmemsave, dump-guest-memory and
`info registers`, and the guest's own /proc/iomem."""

import hashlib
import json
import os
import random
import socket
import subprocess
import threading
import time

from harness import iomem_system_ram, output_files, parse_info_registers

import labvm

SOURCES = ["shm", "procmem", "qmp", "gdb"]


def _ranges(ctx, target, *extra):
    info = ctx.vmsight_json("-t", target, *extra, "info")[0]
    return [(int(r["start"], 16), int(r["end"], 16)) for r in info["ram_ranges"]], info


def _samples(ranges, n, seed):
    """Random (pa, len) inside RAM: page-crossing ones, ones above 4 GiB, range ends."""
    rnd = random.Random(seed)
    out = []
    for lo, hi in ranges:
        out.append((lo, 64))
        out.append((hi + 1 - 100, 100))
    while len(out) < n:
        lo, hi = rnd.choice(ranges)
        length = rnd.choice([1, 8, 100, 4096, 5000, 70000])
        pa = rnd.randrange(lo, hi + 1 - length)
        if rnd.random() < 0.4:
            pa = (pa | 0xfff) - rnd.randrange(0, 16)   # straddle a page boundary
            pa = min(pa, hi + 1 - length)
        out.append((pa, length))
    return out


def test_info_layout_and_registers(ctx):
    for name in ("big", "small"):
        _check_info(ctx, ctx.guest(name))


def _check_info(ctx, g):
    ranges, info = _ranges(ctx, g.target)
    assert info["source"] == "shm", info
    # Every byte the guest kernel calls System RAM is in vmsight's layout.
    for lo, hi in iomem_system_ram(g.truth_dir):
        assert any(a <= lo and hi <= b for a, b in ranges), f"System RAM {lo:#x}-{hi:#x} not in {ranges}"
    if g.mem_mib > 4096:
        assert any(a >= 1 << 32 for a, _ in ranges), "no RAM above 4 GiB on a 5 GiB guest"
    assert sum(b - a + 1 for a, b in ranges) <= g.mem_mib << 20
    with ctx.paused(g):
        with ctx.qmp(g) as q:
            truth = parse_info_registers(q.hmp("info registers -a"))
        info = ctx.vmsight_json("-t", g.target, "info")[0]
    assert len(info["vcpus"]) == g.smp == len(truth)
    for v in info["vcpus"]:
        t = truth[v["index"]]
        for reg in ("cr0", "cr2", "cr3", "cr4", "efer", "rip", "rsp"):
            assert int(v[reg], 16) == t[reg.upper()], (v["index"], reg, v[reg], hex(t[reg.upper()]))
        assert int(v["gs_base"], 16) == t["GS_BASE"]
        want = "5-level" if t["CR4"] & (1 << 12) else "4-level"
        assert v["paging"] == want
    assert info["paging"] == ("5-level" if g.paging == 5 else "4-level")


def _check_source(ctx, g, source, samples):
    target = g.target
    with ctx.paused(g):
        for pa, length in samples:
            _, data, err = ctx.vmsight("-t", target, "--source", source, "read", "--pa", hex(pa), length, "--raw",
                                       raw=True)
            want = ctx.pmemsave(g, pa, length)
            assert data == want, f"{source}: {length} bytes at {pa:#x} differ from pmemsave"


def test_read_every_source_equals_pmemsave(ctx):
    g = ctx.guest()
    ranges, _ = _ranges(ctx, g.target)
    for source in SOURCES:
        n = 40 if source in ("shm", "procmem") else 12
        samples = _samples(ranges, n, seed=hash(source) & 0xffff)
        if source in ("qmp", "gdb"):
            samples = [(pa, min(length, 5000)) for pa, length in samples]
        _check_source(ctx, g, source, samples)


def test_gdb_source_registers_and_resume(ctx):
    g = ctx.guest()
    with ctx.qmp(g) as q:
        assert q.cmd("query-status")["running"]
    info = ctx.vmsight_json("-t", g.target, "--source", "gdb", "info")[0]
    assert info["source"] == "gdb" and len(info["vcpus"]) == g.smp
    with ctx.qmp(g) as q:
        # The GDB stub pauses the guest while attached; vmsight must leave it running.
        assert q.cmd("query-status")["running"], "guest left paused after the gdb source detached"
    with ctx.paused(g):
        with ctx.qmp(g) as q:
            truth = parse_info_registers(q.hmp("info registers -a"))
        info = ctx.vmsight_json("-t", g.target, "--source", "gdb", "info")[0]
        for v in info["vcpus"]:
            for reg in ("cr0", "cr3", "cr4", "rip"):
                assert int(v[reg], 16) == truth[v["index"]][reg.upper()], (reg, v)


def _stream_hash(ctx, target, lo, hi):
    h = hashlib.sha256()
    chunk = 256 << 20
    pa = lo
    while pa <= hi:
        n = min(chunk, hi + 1 - pa)
        _, data, _ = ctx.vmsight("-t", target, "read", "--pa", hex(pa), n, "--raw", raw=True)
        assert len(data) == n
        h.update(data)
        pa += n
    return h.hexdigest()


def test_dump_equals_qemu_dump_guest_memory(ctx):
    g = ctx.guest("small")
    ours = os.path.join(ctx.tmp, "vmsight.elf")
    raw = os.path.join(ctx.tmp, "vmsight.raw")
    theirs = os.path.join(ctx.tmp, "qemu.elf")
    with ctx.paused(g):
        ctx.vmsight("-t", g.target, "dump", "-o", ours)
        ctx.vmsight("-t", g.target, "dump", "-o", raw, "--format", "raw")
        with ctx.qmp(g) as q:
            q.cmd("dump-guest-memory", paging=False, protocol="file:" + theirs)
            truth = parse_info_registers(q.hmp("info registers -a"))
    ranges, _ = _ranges(ctx, g.target)
    for lo, hi in ranges:
        a = _stream_hash(ctx, "dump:" + ours, lo, hi)
        b = _stream_hash(ctx, "dump:" + theirs, lo, hi)
        c = _stream_hash(ctx, "dump:" + raw, lo, hi)
        assert a == b == c, f"range {lo:#x}-{hi:#x}: vmsight ELF, QEMU ELF and raw dumps differ"
    # vCPU notes: QEMU's and ours both carry the registers of the paused moment.
    for path in (ours, theirs):
        info = ctx.vmsight_json("-t", "dump:" + path, "info")[0]
        assert info["source"] == "dump" and len(info["vcpus"]) == g.smp
        for v in info["vcpus"]:
            for reg in ("cr0", "cr3", "cr4", "rip", "rsp"):
                assert int(v[reg], 16) == truth[v["index"]][reg.upper()], (path, reg, v)
        assert info["paging"] == ("5-level" if g.paging == 5 else "4-level")


def test_bad_targets_fail_cleanly(ctx):
    g = ctx.guest()
    rc, _, err = ctx.vmsight("-t", "qmp:/nonexistent/qmp.sock", "info", check=False)
    assert rc == 1 and "cannot connect" in err, err
    rc, _, err = ctx.vmsight("-t", "nonsense", "info", check=False)
    assert rc == 1 and "unknown target" in err, err
    rc, _, err = ctx.vmsight("info", check=False)
    assert rc == 2, err
    rc, _, err = ctx.vmsight("-t", g.target, "--source", "bogus", "info", check=False)
    assert rc == 1 and "unknown source" in err, err
    rc, _, err = ctx.vmsight("-t", "gdb:127.0.0.1:1", "info", check=False)
    assert rc == 1 and err.strip(), err
    rc, _, err = ctx.vmsight("-t", "pid:1", "info", check=False)
    assert rc == 1 and "not a QEMU" in err, err

    # A unix socket that talks, but not QMP; and one that never answers.
    for behaviour, expect in (("garbage", "QMP"), ("silent", "no reply")):
        path = os.path.join(ctx.tmp, behaviour + ".sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(1)
        stop = threading.Event()

        def serve(srv=srv, behaviour=behaviour):
            c, _ = srv.accept()
            if behaviour == "garbage":
                c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            stop.wait(10)
            c.close()

        th = threading.Thread(target=serve, daemon=True)
        th.start()
        rc, _, err = ctx.vmsight("-t", "qmp:" + path, "--timeout", "500", "info", check=False)
        stop.set()
        th.join(5)
        srv.close()
        assert rc == 1 and expect in err, (behaviour, err)


def test_reads_outside_ram_fail_cleanly(ctx):
    g = ctx.guest()
    ranges, _ = _ranges(ctx, g.target)
    end = ranges[-1][1] + 1
    hole = ranges[0][1] + 1          # the PCI hole below 4 GiB
    for source in ("shm", "procmem", "qmp"):
        for pa, n in ((hole, 16), (hole - 8, 16), (end - 8, 16), (end + 4096, 8), (0xfffffffffffff000, 16)):
            rc, out, err = ctx.vmsight("-t", g.target, "--source", source, "read", "--pa", hex(pa), n,
                                       check=False)
            assert rc == 1 and "not" in err and "RAM" in err, (source, hex(pa), err)
            assert out == ""
    rc, _, err = ctx.vmsight("-t", g.target, "read", "--pa", "zz", 8, check=False)
    assert rc == 2


def test_corrupt_dumps_fail_cleanly(ctx):
    g = ctx.guest()
    good = os.path.join(ctx.tmp, "good.elf")
    ctx.vmsight("-t", g.target, "dump", "-o", good)
    with open(good, "rb") as f:
        head = f.read(1 << 16)
    size = os.path.getsize(good)
    cases = {}
    # Truncated in the middle of RAM data, in the headers, and just past the ELF header.
    for name, keep in (("half", size // 2), ("headers", 100), ("ehdr", 64)):
        p = os.path.join(ctx.tmp, name + ".elf")
        with open(good, "rb") as src, open(p, "wb") as dst:
            dst.write(src.read(keep) if keep < (1 << 20) else b"")
            if keep >= (1 << 20):
                dst.truncate(keep)
                dst.seek(0)
                dst.write(head)
        cases[name] = p
    # Corrupt: program header table pointing past the end; a LiME header with end < start.
    bad = bytearray(head)
    bad[32:40] = (1 << 40).to_bytes(8, "little")  # e_phoff
    p = os.path.join(ctx.tmp, "phoff.elf")
    open(p, "wb").write(bytes(bad))
    cases["phoff"] = p
    p = os.path.join(ctx.tmp, "bad.lime")
    open(p, "wb").write((0x4C694D45).to_bytes(4, "little") + (1).to_bytes(4, "little") +
                        (0x2000).to_bytes(8, "little") + (0x1000).to_bytes(8, "little") + bytes(8) + bytes(64))
    cases["lime"] = p
    cases["missing"] = os.path.join(ctx.tmp, "does-not-exist")
    cases["directory"] = ctx.tmp
    # Not RAM at all: a text file, and a 10 GiB sparse file of holes only
    # (once read in full, 29 s and 10 GB mapped).
    cases["text"] = "/etc/passwd"
    p = os.path.join(ctx.tmp, "sparse.raw")
    with open(p, "wb") as f:
        f.truncate(10 << 30)
    cases["sparse"] = p
    for name, p in cases.items():
        t0 = time.monotonic()
        rc, _, err = ctx.vmsight("-t", "dump:" + p, "read", "--pa", "0x100000", 16, check=False)
        assert rc == 1 and err.strip(), (name, rc, err)
        rc, _, err = ctx.vmsight("-t", "dump:" + p, "ps", check=False)
        assert rc == 1 and err.strip() and time.monotonic() - t0 < 10, (name, rc, err)
    assert "not a memory dump" in err or "does-not-exist" in err or "regular file" in err, err
    os.unlink(cases["sparse"])


def _plain_qemu(ctx, *extra, mem="1G"):
    """A second QEMU of our own, firmware only: no guest kernel needed to read RAM."""
    n = len(ctx.cleanups)
    pidfile = os.path.join(ctx.tmp, f"plain{n}.pid")
    qmp = os.path.join(ctx.tmp, f"plain{n}-qmp.sock")
    cmd = ["qemu-system-x86_64", "-machine", "q35", "-m", mem, "-accel", "tcg", "-display", "none",
           "-nodefaults", "-qmp", f"unix:{qmp},server=on,wait=off", "-daemonize", "-pidfile", pidfile, *extra]
    subprocess.run(cmd, check=True)
    pid = int(open(pidfile).read())

    def kill():
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    ctx.on_cleanup(kill)
    return pid, qmp


def test_procmem_on_qemu_without_special_flags(ctx):
    pid, qmp = _plain_qemu(ctx)
    # Give SeaBIOS a moment of its own to write tables into RAM (not needed for correctness).
    with labvm.QMP(qmp) as q:
        q.cmd("stop")
    info = ctx.vmsight_json("-t", f"pid:{pid}", "-v", "info")[0]
    assert info["source"] == "procmem", info
    ranges = [(int(r["start"], 16), int(r["end"], 16)) for r in info["ram_ranges"]]
    for pa, n in _samples(ranges, 20, seed=7):
        _, data, _ = ctx.vmsight("-t", f"pid:{pid}", "read", "--pa", hex(pa), n, "--raw", raw=True)
        path = os.path.join(ctx.tmp, "p.bin")
        with labvm.QMP(qmp) as q:
            q.cmd("pmemsave", val=pa, size=n, filename=path)
        assert data == open(path, "rb").read(), f"pid source differs at {pa:#x}+{n}"


def _wait_for(cond, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def test_qemu_exit_and_shrinking_ram_file(ctx):
    """QEMU dies while vmsight reads: the RAM file is truncated under the
    mapping (shm) or the process vanishes (procmem): a clear error, no crash."""
    for source in ("shm", "procmem"):
        ram = f"/dev/shm/vmsight-test-{os.getpid()}-{source}"
        ctx.on_cleanup(lambda ram=ram: os.path.exists(ram) and os.unlink(ram))
        pid, qmp = _plain_qemu(ctx, "-object", f"memory-backend-file,id=mem,size=4G,mem-path={ram},share=on",
                               "-machine", "memory-backend=mem", mem="4G")
        out = os.path.join(ctx.tmp, f"d-{source}.raw")
        p = subprocess.Popen([ctx.vmsight_bin, "-t", "qmp:" + qmp, "--source", source, "dump", "-o", out,
                              "--format", "raw"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Pull the rug once vmsight is copying: it has created its output file
        # (under a temporary name until the dump is complete).
        assert _wait_for(lambda: output_files(out) or p.poll() is not None)
        if source == "shm":
            os.truncate(ram, 0)
        else:
            os.kill(pid, 9)
        o, e = p.communicate(timeout=120)
        e = e.decode()
        assert p.returncode in (0, 1), f"{source}: vmsight died with status {p.returncode}: {e}"
        if p.returncode == 1:
            assert ("truncated" in e) if source == "shm" else ("gone" in e), e
            assert not output_files(out), "partial dump left behind"


def _compare_with_pmemsave(ctx, target, qmp, n=16):
    info = ctx.vmsight_json("-t", target, "info")[0]
    ranges = [(int(r["start"], 16), int(r["end"], 16)) for r in info["ram_ranges"]]
    for pa, length in _samples(ranges, n, seed=11):
        _, data, _ = ctx.vmsight("-t", target, "read", "--pa", hex(pa), length, "--raw", raw=True)
        path = os.path.join(ctx.tmp, "p.bin")
        with labvm.QMP(qmp) as q:
            q.cmd("pmemsave", val=pa, size=length, filename=path)
        assert data == open(path, "rb").read(), f"{target}: differs at {pa:#x}+{length}"
    return info


def test_shm_memfd_and_unlinked_ram_files(ctx):
    """The shm source reaches RAM that has no path: a memfd backend, and a
    file backend whose file was unlinked (both through /proc/PID/fd)."""
    pid, qmp = _plain_qemu(ctx, "-object", "memory-backend-memfd,id=mem,size=1G,share=on",
                           "-machine", "memory-backend=mem")
    with labvm.QMP(qmp) as q:
        q.cmd("stop")
    info = _compare_with_pmemsave(ctx, "qmp:" + qmp, qmp)
    assert info["source"] == "shm" and "memfd" in info["source_detail"], info

    ram = f"/dev/shm/vmsight-test-{os.getpid()}-unlinked"
    pid, qmp = _plain_qemu(ctx, "-object", f"memory-backend-file,id=mem,size=1G,mem-path={ram},share=on",
                           "-machine", "memory-backend=mem")
    os.unlink(ram)
    with labvm.QMP(qmp) as q:
        q.cmd("stop")
    info = _compare_with_pmemsave(ctx, "qmp:" + qmp, qmp)
    assert info["source"] == "shm" and "deleted" in info["source_detail"], info

    # share=off: the file does not see the guest's writes, so shm must refuse it.
    ram2 = f"/dev/shm/vmsight-test-{os.getpid()}-private"
    ctx.on_cleanup(lambda: os.path.exists(ram2) and os.unlink(ram2))
    pid, qmp = _plain_qemu(ctx, "-object", f"memory-backend-file,id=mem,size=256M,mem-path={ram2},share=off",
                           "-machine", "memory-backend=mem", mem="256M")
    rc, _, err = ctx.vmsight("-t", "qmp:" + qmp, "--source", "shm", "info", check=False)
    assert rc == 1 and "share" in err, err
    info = ctx.vmsight_json("-t", "qmp:" + qmp, "info")[0]
    assert info["source"] == "procmem", info
