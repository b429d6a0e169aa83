"""libvirt domains as they are (-t libvirt:NAME): a real libvirtd (started
for the run when none runs, stopped after), TCG domains booted from the
lab's kernel and initramfs (tests/libvirt_lab.py), QEMU run by libvirt as
its own user. Ground truth: QEMU through `virsh qemu-monitor-command`
(registers, pmemsave, chardevs, run state) and the guest's own account on
its serial console — never vmsight.

  shared   <memoryBacking> memfd + shared: the shm source
  plain    libvirt's defaults, no GDB stub: procmem, and trace's own stub
  third    for the runs over several domains (destroyed by the last test)
"""

import atexit
import json
import os
import pwd
import re
import signal
import subprocess
import time

import libvirt_lab as lv
from harness import parse_info_registers

_lab = {}


def _close_all():
    for d in _lab.pop("domains", {}).values():
        d.close()
    for d in _lab.pop("extra", []):
        d()
    if "daemons" in _lab:
        _lab.pop("daemons").close()


atexit.register(_close_all)


def _domains():
    """The domains of this module, booted once (all at once: the boots
    overlap): one with shared memory, one with libvirt's defaults, and six
    more (shared memory) for the run over every domain."""
    if "domains" not in _lab:
        _lab["daemons"] = lv.Daemons()
        pid = str(os.getpid())
        doms = {}
        specs = {"shared": True, "plain": False, "third": True}
        specs.update({f"extra{i}": True for i in range(1, 6)})
        for role, shared in specs.items():
            doms[role] = lv.Domain(f"vmsight-test-{role}-{pid}", mem_mib=256, shared=shared, wait=False)
        _lab["domains"] = doms
        for d in doms.values():
            d.wait_truth()
    # A test may have destroyed one (the run over every domain does): the
    # next build's tests get it booted again.
    doms = _lab["domains"]
    for role, d in list(doms.items()):
        if d.state() not in ("running", "paused"):
            d.close()
            doms[role] = lv.Domain(f"{d.name}-again", mem_mib=d.mem_mib, shared=d.shared)
    return doms


def _json(ctx, *args):
    return ctx.vmsight_json(*args)


def test_libvirt_info_registers_and_source(ctx):
    """The source is shm on the shared-memory domain and procmem on the
    default one; every vCPU register equals QEMU's `info registers`."""
    doms = _domains()
    for role, source in (("shared", "shm"), ("plain", "procmem")):
        d = doms[role]
        lv.virsh("suspend", d.name)
        try:
            truth = parse_info_registers(lv.hmp(d.name, "info registers -a"))
            info = _json(ctx, "-t", d.target(), "info")[0]
        finally:
            lv.virsh("resume", d.name)
        assert info["source"] == source, (role, info["source"])
        assert len(info["vcpus"]) == len(truth) == 1
        for v in info["vcpus"]:
            t = truth[v["index"]]
            for reg in ("cr0", "cr2", "cr3", "cr4", "efer", "rip", "rsp"):
                assert int(v[reg], 16) == t[reg.upper()], (role, reg, v[reg], hex(t[reg.upper()]))
            assert int(v["gs_base"], 16) == t["GS_BASE"]
        assert d.state() == "running"


def _pmemsave(d, pa, length):
    """QEMU's own read of guest-physical memory, through libvirt, into a
    file QEMU (libvirt's user) may write."""
    out = os.path.join(d.dir, "pmem")
    os.makedirs(out, exist_ok=True)
    pw = pwd.getpwnam("libvirt-qemu")
    os.chown(out, pw.pw_uid, pw.pw_gid)
    path = os.path.join(out, "pmemsave.bin")
    lv.qmp(d.name, json.dumps({"execute": "pmemsave", "arguments": {"val": pa, "size": length, "filename": path}}))
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    return data


def test_libvirt_read_equals_pmemsave(ctx):
    doms = _domains()
    samples = [(0x1000, 4096), (0x100000, 65536), (0x2345678, 10000), (0xfff0000, 0x10000)]
    for role in ("shared", "plain"):
        d = doms[role]
        lv.virsh("suspend", d.name)
        try:
            for pa, length in samples:
                _, data, _ = ctx.vmsight("-t", d.target(), "read", "--pa", hex(pa), length, "--raw", raw=True)
                assert data == _pmemsave(d, pa, length), (role, hex(pa), length)
        finally:
            lv.virsh("resume", d.name)


def test_libvirt_ps_lsmod_equal_truth(ctx):
    """ps and lsmod against what the guest printed of itself at boot."""
    doms = _domains()
    for role in ("shared", "plain"):
        d = doms[role]
        ours = {p["pid"]: p for p in _json(ctx, "-t", d.target(), "ps")}
        with open(os.path.join(d.truth, "ps.txt")) as f:
            rows = [l.split(None, 4) for l in list(f)[1:] if l.strip()]
        assert len(rows) > 20
        with open(os.path.join(d.truth, "workload.txt")) as f:
            workload = [int(l.split()[0]) for l in f if l.strip()]
        truth = {p["pid"]: p for p in json.load(open(os.path.join(d.truth, "threads.json")))}
        for pid in workload:
            t, o = truth[pid], ours[pid]
            assert (o["comm"], o["cmdline"], o["ppid"]) == (t["name"], t["cmdline"], t["ppid"]), (role, o, t)
        # every process of the boot listing still there, with its parent and
        # name; kernel workers are left out (they come and go, and rename
        # themselves after the work they do)
        compared = 0
        for pid, ppid, _user, comm in (r[:4] for r in rows):
            o = ours.get(int(pid))
            if o is None or comm.startswith("kworker"):
                continue
            assert o["ppid"] == int(ppid), (role, pid, o, ppid)
            assert o["comm"][:15] == comm[:15] or o["name"].startswith(comm), (role, pid, o["comm"], comm)
            compared += 1
        assert compared > 20, compared
        mods = []
        for m in _json(ctx, "-t", d.target(), "lsmod"):
            line = f"{m['name']} {m['size']} {m['refcnt']} {m['used_by'] or '-'} {m['state']} {m['base']}"
            mods.append(line + (" " + m["taint"] if m["taint"] else ""))
        with open(os.path.join(d.truth, "modules.txt")) as f:
            assert mods == [l.rstrip("\n") for l in f if l.strip()], role


def _gdb_chardevs(d):
    """chardevs of QEMU's GDB stub that listen or are connected (HMP info chardev)."""
    return [l for l in lv.hmp(d.name, "info chardev").splitlines() if l.startswith("gdb:")]


def _status(d):
    return json.loads(lv.qmp(d.name, '{"execute":"query-status"}'))["return"]["status"]


def test_libvirt_trace_starts_and_stops_its_own_stub(ctx):
    """The default domain has no GDB stub: trace starts one on loopback,
    reports events, and stops it again — also when killed (its guardians) —
    leaving the guest running with no breakpoint (a planted one would stop
    it at the next system call)."""
    d = _domains()["plain"]
    assert _gdb_chardevs(d) == []
    _, out, err = ctx.vmsight("--json", "-t", d.target(), "trace", "syscalls", "--count", "3", timeout=600)
    events = [json.loads(l) for l in out.splitlines() if l.strip()]
    assert len(events) == 3 and all("nr" in e or "name" in e for e in events), (out, err)
    assert _gdb_chardevs(d) == []
    time.sleep(3)
    assert _status(d) == "running" and d.state() == "running"
    # killed outright while tracing
    p = subprocess.Popen([ctx.vmsight_bin, "-t", d.target(), "trace", "syscalls"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not _gdb_chardevs(d) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _gdb_chardevs(d), "trace never started its stub"
    time.sleep(2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close(), p.stderr.close()
    deadline = time.monotonic() + 60
    while _gdb_chardevs(d) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _gdb_chardevs(d) == [], "the guardian left the stub behind"
    time.sleep(3)
    assert _status(d) == "running" and d.state() == "running"


def test_libvirt_snapshot_leaves_domain_running(ctx):
    d = _domains()["shared"]
    out = os.path.join(ctx.tmp, "snap.elf")
    ctx.vmsight("-t", d.target(), "snapshot", "-o", out, "--mode", "pause")
    assert os.path.getsize(out) > 256 << 20
    assert d.state() == "running" and _status(d) == "running"
    os.unlink(out)
    # background: QEMU streams to vmsight's socket (given to QEMU's user);
    # where the host kernel lacks userfaultfd write-protect QEMU refuses it
    rc, _, err = ctx.vmsight("-t", d.target(), "snapshot", "-o", out, "--mode", "background", check=False)
    assert rc == 0 or "not supported by host kernel" in err, err
    caps = json.loads(lv.qmp(d.name, '{"execute":"query-migrate-capabilities"}'))["return"]
    assert [c["state"] for c in caps if c["capability"] == "background-snapshot"] == [False]
    assert d.state() == "running" and _status(d) == "running"
    print(f"     (background snapshot: {'done' if rc == 0 else err.strip()})")


def test_libvirt_vms_lists_what_vmsight_uses(ctx):
    doms = _domains()
    rows = {r["vm"]: r for r in _json(ctx, "vms")}
    a, b = rows[doms["shared"].name], rows[doms["plain"].name]
    assert a["source"] == "shm" and a["zero_copy"] and a["qmp"] == "libvirt" and a["state"] == "running"
    assert b["source"] == "procmem" and not b["zero_copy"] and "memfd" in b["xml_hint"]
    assert a["pid"] == doms["shared"].pid() and b["gdb_port"] == 0


def test_libvirt_bad_input(ctx):
    _domains()
    rc, _, err = ctx.vmsight("-t", "libvirt:vmsight-no-such-domain", "info", check=False)
    assert rc == 1 and "no libvirt domain 'vmsight-no-such-domain'" in err, err
    # a defined domain that is shut off
    d = _domains()["shared"]
    name = f"vmsight-test-off-{os.getpid()}"
    xml = os.path.join(ctx.tmp, "off.xml")
    with open(xml, "w") as f:
        f.write(re.sub(r"<name>[^<]*</name>", f"<name>{name}</name>", d.xml()))
    lv.virsh("define", xml)
    try:
        rc, _, err = ctx.vmsight("-t", f"libvirt:{name}", "ps", check=False)
        assert rc == 1 and "shut off" in err and "virsh" in err, err
    finally:
        lv.virsh("undefine", name, check=False)
    rc, _, err = ctx.vmsight("-t", "libvirt:@", "info", check=False)
    assert rc == 1 and "bad libvirt target" in err, err
    # libvirtd not running (only the one this run started is stopped)
    daemons = _lab["daemons"]
    if not any(n == "libvirtd" for n, _ in daemons.started):
        print("     (libvirtd was running before the tests: not stopped to test its absence)")
        return
    restart = daemons.stop_libvirtd()
    try:
        rc, _, err = ctx.vmsight("-t", d.target(), "info", check=False)
        assert rc == 1 and "cannot connect to libvirt" in err and "libvirtd running" in err, err
    finally:
        restart()
    assert d.state() == "running"


def test_libvirt_all_domains_in_parallel(ctx):
    """libvirt:* over the eight domains: every record tagged with its
    domain; then one destroyed mid-run: its error, the others' results,
    exit status 1."""
    doms = _domains()
    names = sorted(d.name for d in doms.values())
    _, out, _ = ctx.vmsight("--json", "-t", "libvirt:*", "ps")
    recs = [json.loads(l) for l in out.splitlines()]
    assert all(list(r)[0] == "vm" for r in recs)
    for n in names:
        mine = [r for r in recs if r["vm"] == n]
        assert len(mine) > 20 and any(r["pid"] == 1 for r in mine), n
    _, text, _ = ctx.vmsight("-t", "libvirt:" + ",".join(names), "lsmod")
    for n in names:
        assert any(l.startswith(n + " ") and "virtio" in l for l in text.splitlines()), n
    # one destroyed while tracing them all
    victim = doms["third"]
    p = subprocess.Popen([ctx.vmsight_bin, "--json", "-t", "libvirt:" + ",".join(names), "trace", "syscalls",
                          "--duration", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not _gdb_chardevs(victim) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(5)
    victim.destroy()
    out, err = p.communicate(timeout=600)
    recs = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
    errors = [r for r in recs if "error" in r]
    assert p.returncode == 1, (p.returncode, err)
    assert [e["vm"] for e in errors] == [victim.name], errors
    assert len(names) == 8
    for d in (d for d in doms.values() if d is not victim):
        assert any(r["vm"] == d.name and "error" not in r for r in recs), d.name
        assert _gdb_chardevs(d) == [] and d.state() == "running"
    assert victim.name in err.decode()
