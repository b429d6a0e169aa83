"""Shared machinery of the lab tests: guests booted once per run, a way to
run vmsight, and QEMU ground truth through the lab's own QMP socket.

QEMU serves one client per QMP socket, so the lab guest has two: vmsight
uses `qmp.sock`, the tests use `lab-qmp.sock`. Ground truth never comes from
vmsight: it is QEMU's answer (pmemsave, dump-guest-memory, info registers)
or what the guest itself printed on its console.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import labvm


class Lab:
    """Guests by name, booted on first use and shared by every test and build."""

    CONFIGS = {
        # 5 GiB: RAM above the 4 GiB PCI hole; two vCPUs; 5-level paging.
        "big": dict(mem="5G", smp=2, paging=5),
        # 1 GiB, one vCPU, 4-level paging: the other paging mode, and small
        # enough to compare whole-RAM dumps byte for byte quickly.
        "small": dict(mem="1G", smp=1, paging=4),
        # The generic amd64 kernel flavour: another config, other structure
        # layouts than the cloud kernel of the other two.
        "generic": dict(mem="1G", smp=1, paging=4, kernel="linux-image-amd64"),
        # The second kernel series: Debian's 6.12 backport (cloud flavour),
        # the 6.4+ module layout (mem[]) and 6.10+ workqueue worker names.
        "k612": dict(mem="1G", smp=1, paging=4, kernel="linux-image-6.12-cloud-amd64"),
        # vmsight-agent on the shm channel (both channels wired): file
        # monitoring tests (tests/test_watch.py).
        "agent": dict(mem="512M", smp=1, paging=4, agent="shm"),
    }

    def __init__(self, work):
        self.work = work
        self.guests = {}
        self.adopted = set()
        self.failed = {}

    def guest(self, name="big"):
        if name in self.failed:
            raise RuntimeError(f"lab guest '{name}' failed to boot earlier: {self.failed[name]}")
        if name not in self.guests:
            d = os.path.join(self.work, "guest-" + name)
            try:
                g = labvm.start(d, **self.CONFIGS[name])
            except Exception as e:
                self.failed[name] = e
                raise
            print(f"     (booted lab guest '{name}' in {g.seconds_total}s)", flush=True)
            self.guests[name] = g
        return self.guests[name]

    def adopt(self, name, d):
        self.guests[name] = labvm.Guest(labvm.info(d))
        self.adopted.add(name)

    def stop_all(self):
        for name, g in self.guests.items():
            if name not in self.adopted:
                labvm.stop(g.dir)


class Context:
    """What a test gets: the lab, the vmsight binary under test, a scratch dir."""

    def __init__(self, lab, vmsight, scratch):
        self.lab = lab
        self.vmsight_bin = vmsight
        os.makedirs(scratch, exist_ok=True)
        self.tmp = tempfile.mkdtemp(dir=scratch)
        self.cleanups = []

    def guest(self, name="big"):
        return self.lab.guest(name)

    def vmsight(self, *args, check=True, timeout=300, raw=False):
        """Run vmsight; return (rc, stdout, stderr). check=True asserts rc == 0."""
        r = subprocess.run([self.vmsight_bin, *map(str, args)], capture_output=True, timeout=timeout)
        out = r.stdout if raw else r.stdout.decode(errors="replace")
        err = r.stderr.decode(errors="replace")
        if check:
            assert r.returncode == 0, f"vmsight {' '.join(map(str, args))} exited {r.returncode}: {err}"
        assert r.returncode in (0, 1, 2), f"vmsight died with status {r.returncode} (signal?): {err}"
        assert "AddressSanitizer" not in err and "runtime error" not in err, err
        return r.returncode, out, err

    def vmsight_json(self, *args):
        _, out, _ = self.vmsight("--json", *args)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def qmp(self, guest):
        """The test's own QMP connection (the lab socket), as a context manager."""
        return labvm.QMP(guest.lab_qmp)

    def pmemsave(self, guest, pa, length):
        path = os.path.join(self.tmp, "pmemsave.bin")
        with self.qmp(guest) as q:
            q.cmd("pmemsave", val=pa, size=length, filename=path)
        with open(path, "rb") as f:
            data = f.read()
        os.unlink(path)
        return data

    def paused(self, guest):
        return _Paused(self, guest)

    def on_cleanup(self, fn):
        self.cleanups.append(fn)

    def cleanup(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


class _Paused:
    def __init__(self, ctx, guest):
        self.ctx, self.guest = ctx, guest

    def __enter__(self):
        with self.ctx.qmp(self.guest) as q:
            q.cmd("stop")

    def __exit__(self, *exc):
        with self.ctx.qmp(self.guest) as q:
            q.cmd("cont")


def output_files(path):
    """PATH and the temporary files vmsight writes it under until it is
    complete (PATH.PID.N.tmp beside it, renamed into place at the end)."""
    d, base = os.path.split(path)
    pat = re.compile(re.escape(base) + r"\.\d+\.\d+\.tmp$")
    try:
        names = os.listdir(d or ".")
    except FileNotFoundError:
        return []
    return [os.path.join(d, n) for n in names if n == base or pat.match(n)]


def parse_info_registers(text):
    """HMP `info registers -a` → {cpu: {NAME: int}} (independent of vmsight's parser)."""
    cpus = {}
    cur = None
    for line in text.replace("\r", "").splitlines():
        m = re.match(r"CPU#(\d+)", line)
        if m:
            cur = cpus.setdefault(int(m.group(1)), {})
            continue
        if cur is None:
            continue
        m = re.match(r"(ES|CS|SS|DS|FS|GS) =([0-9a-f]{4}) ([0-9a-f]+)", line)
        if m:
            cur[m.group(1)] = int(m.group(2), 16)
            cur[m.group(1) + "_BASE"] = int(m.group(3), 16)
            continue
        for name, val in re.findall(r"([A-Z][A-Z0-9]*) ?=([0-9a-f]+)\b", line):
            cur[name] = int(val, 16)
    return cpus


def iomem_system_ram(truth_dir):
    """The guest's own /proc/iomem 'System RAM' ranges: [(start, end_inclusive)]."""
    out = []
    with open(os.path.join(truth_dir, "iomem.txt")) as f:
        for line in f:
            m = re.match(r"\s*([0-9a-f]+)-([0-9a-f]+) : System RAM", line)
            if m:
                out.append((int(m.group(1), 16), int(m.group(2), 16)))
    return out
