#!/usr/bin/env python3
"""vmsight over libvirt domains, whole processes:

  - `vmsight -t 'libvirt:*' ps` over N idle TCG domains (256 MiB, shared
    memfd RAM), beside `-t libvirt:ONE ps` on one of them, in the same run;
  - `-t libvirt:ONE ps` beside `-t qmp:SOCK ps` on a lab guest of the same
    size (256 MiB, shm), alternated so both see the same load.

The machine's own floor is printed beside: a process start of vmsight
(`--version`), and one QMP command through libvirt (virsh
qemu-monitor-command, a process start included). Load averages before and
after go with the figures (docs/benchmarks.md).

    bench/libvirt.py BUILD_DIR [N ...]      (default N: 8)
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import labvm  # noqa: E402
import libvirt_lab as lv  # noqa: E402

REPS = 7


def timed(cmd):
    t = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.decode(errors='replace')}")
    return dt


def med(xs):
    return f"median {statistics.median(xs) * 1000:7.1f} ms, min {min(xs) * 1000:7.1f} ms"


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    ns = [int(x) for x in sys.argv[2:]] or [8]
    vms = os.path.join(build, "vmsight")
    daemons = lv.Daemons()
    doms = []
    labdir = tempfile.mkdtemp(prefix="vmsight-bench-libvirt-")
    try:
        g = labvm.start(labdir, mem="256M", smp=1, paging=4)
        for n in ns:
            while len(doms) < n:
                doms.append(lv.Domain(f"vmsight-bench-{os.getpid()}-{len(doms)}", mem_mib=256, shared=True,
                                      wait=False))
            for d in doms:
                if not os.path.isdir(d.truth):
                    d.wait_truth()
            time.sleep(10)  # let the boots' work settle: idle guests
            one = doms[0].target()
            timed([vms, "-t", one, "ps"])  # the kernel profile cache, warm
            load0 = os.getloadavg()
            floor_exec = [timed([vms, "--version"]) for _ in range(REPS)]
            floor_rpc = [timed(["virsh", "-c", lv.URI, "qemu-monitor-command", doms[0].name,
                                '{"execute":"query-status"}']) for _ in range(REPS)]
            all_, single, qmp = [], [], []
            for _ in range(REPS):
                all_.append(timed([vms, "-t", "libvirt:*", "ps"]))
                single.append(timed([vms, "-t", one, "ps"]))
                qmp.append(timed([vms, "-t", g.target, "ps"]))
            load1 = os.getloadavg()
            print(f"== {n} idle TCG domains (256 MiB, memfd shared), {os.cpu_count()} host cores, "
                  f"load {load0[0]:.1f} -> {load1[0]:.1f}")
            print(f"  libvirt:* ps ({n} domains)   {med(all_)}")
            print(f"  libvirt:ONE ps               {med(single)}")
            print(f"  qmp: ps (lab guest, 256 MiB) {med(qmp)}")
            print(f"  ratio libvirt:ONE / qmp:     {statistics.median(single) / statistics.median(qmp):.2f}")
            print(f"  floor: vmsight --version     {med(floor_exec)}")
            print(f"  floor: virsh qemu-monitor-command (one QMP command via libvirt, incl. exec) {med(floor_rpc)}")
    finally:
        for d in doms:
            d.close()
        labvm.stop(labdir)
        shutil.rmtree(labdir, ignore_errors=True)
        daemons.close()


if __name__ == "__main__":
    main()
