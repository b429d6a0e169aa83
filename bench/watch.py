#!/usr/bin/env python3
"""File monitoring in a real guest: what it costs the guest, what the host sees.

    bench/watch.py [BUILD_DIR] [--files N] [--requests N] [--rounds N] [--dir DIR]

Boots a lab guest with the agent (512 MiB, 1 vCPU, TCG), then for each
workload and each mode - no monitoring (agent stopped), agent + shm, agent +
vcpu, and agent + shm asking only for create, delete, rename, exec and
close_write (`--events`, no per-read/write events) - runs the workload in
the guest `--rounds` times (each round goes through all modes) and prints medians:

  tar   busybox tar xzf of an archive of N small files (in 30 directories)
        onto /data (ext4)
  http  busybox httpd in the guest serving a 4 KiB page, a busybox wget loop
        of N requests in the guest against 127.0.0.1

Guest figures come from the guest itself: duration (/proc/uptime, 10 ms
steps), CPU busy share (/proc/stat: all but idle and iowait), memory used
(MemTotal - MemAvailable, after the run) and the agent's RSS. Host figures:
events received and lost (vmsight watch's totals), events/s over the run,
CPU of `vmsight watch` and of QEMU (/proc/PID/stat: on a host whose cores
are shared, QEMU's CPU seconds measure the guest's work better than the
guest's wall time, which also counts the time QEMU waited for a core), and
latency from the
agent's guest timestamp to vmsight receiving the event. Guest
CLOCK_MONOTONIC and host CLOCK_MONOTONIC differ by an unknown offset, taken
as the smallest (host - guest) difference in the run: latencies are above
that fastest event's (which itself took at least the agent's wake-up and a
host poll, a few tens of microseconds). Under TCG the guest's clock is
driven by the host's, so the offset does not drift within a run. Finally
the cost of one vCPU trap: the agent's --trap-bench (OUT to the debugcon
port) with vmsight connected.
"""

import argparse
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import labvm  # noqa: E402
from test_watch import agent_restart  # noqa: E402


def gexec(d, cmd, timeout=600):
    rc, out = labvm.exec(d, cmd, timeout=timeout)
    if rc != 0:
        raise RuntimeError(f"guest: {cmd[:80]}... exited {rc}: {out[-500:]}")
    return out


def make_archive(nfiles):
    rnd = random.Random(1)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as t:
        for i in range(nfiles):
            data = ("".join(rnd.choice("abcdefghij \n") for _ in range(200))).encode()
            info = tarfile.TarInfo(f"tree/d{i % 30:02d}/f{i:05d}.txt")
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload(d, data, path):
    import base64
    b = base64.b64encode(data).decode()
    gexec(d, f"rm -f {path}.b64")
    for i in range(0, len(b), 60000):
        gexec(d, f"printf '%s' '{b[i:i + 60000]}' >> {path}.b64")
    gexec(d, f"base64 -d {path}.b64 > {path} && rm {path}.b64")


GUEST_RUN = r"""
s0=$(head -1 /proc/stat); u0=$(cut -d' ' -f1 /proc/uptime)
{work}
u1=$(cut -d' ' -f1 /proc/uptime); s1=$(head -1 /proc/stat)
m=$(awk '/^MemTotal/{{t=$2}} /^MemAvailable/{{a=$2}} END{{print t-a}}' /proc/meminfo)
a=$(pidof vmsight-agent); r=0
[ -n "$a" ] && r=$(awk '/^VmRSS/{{print $2}}' /proc/$a/status 2>/dev/null)
echo "RESULT $u0 $u1 $m ${{r:-0}}"
echo "STAT0 $s0"
echo "STAT1 $s1"
"""

def work_cmd(name, args):
    if name == "tar":
        return "tar xzf /data/bench.tgz -C /data/bx"
    return (f"i=0; while [ $i -lt {args.requests} ]; do "
            f"wget -q -O /dev/null http://127.0.0.1:8080/index.html || exit 9; i=$((i + 1)); done")


def prepare_cmd(name):
    if name == "tar":
        return "rm -rf /data/bx; mkdir /data/bx; sync"
    return ":"


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def parse_guest(out):
    res = s0 = s1 = None
    for line in out.splitlines():
        if line.startswith("RESULT "):
            res = line.split()[1:]
        elif line.startswith("STAT0 "):
            s0 = [int(x) for x in line.split()[2:]]
        elif line.startswith("STAT1 "):
            s1 = [int(x) for x in line.split()[2:]]
    d = [b - a for a, b in zip(s0, s1)]
    total = sum(d[:8])
    busy = total - d[3] - d[4]
    return {"secs": float(res[1]) - float(res[0]), "busy_pct": 100.0 * busy / max(1, total),
            "mem_kib": int(res[2]), "agent_rss_kib": int(res[3])}


MODES = [("none", None, None), ("shm", "shm", None), ("vcpu", "vcpu", None),
         ("shm-lite", "shm", "create,delete,rename,exec,close_write")]


def one_run(args, g, workload, mode):
    d = g.dir
    gexec(d, prepare_cmd(workload))
    watcher = out_path = None
    if mode != "none":
        out_path = os.path.join(args.dir, f"watch-{workload}-{mode}.jsonl")
        channel = dict((m, c) for m, c, _ in MODES)[mode]
        watcher = subprocess.Popen([args.vmsight, "-t", g.target, "watch", "files", "--json", "--channel", channel],
                                   stdout=open(out_path, "wb"), stderr=subprocess.PIPE)
        time.sleep(0.5)
        w0 = cpu_ticks(watcher.pid)
    q0 = cpu_ticks(g.pid)
    t0 = time.monotonic()
    out = gexec(d, GUEST_RUN.format(work=work_cmd(workload, args)))
    wall = time.monotonic() - t0
    q1 = cpu_ticks(g.pid)
    r = parse_guest(out)
    r["qemu_cpu_s"] = (q1 - q0) / os.sysconf("SC_CLK_TCK")
    r["qemu_cpu_pct"] = r["qemu_cpu_s"] / wall * 100
    if watcher:
        # let the host drain, then stop it and read what it saw
        settle = 3.0 if mode == "vcpu" else 1.0
        time.sleep(settle)
        w1 = cpu_ticks(watcher.pid)
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(60)
        r["watch_cpu_pct"] = (w1 - w0) / os.sysconf("SC_CLK_TCK") / (wall + settle) * 100
        evs = []
        totals = {}
        with open(out_path) as f:
            for line in f:
                e = json.loads(line)
                if e["kind"] == "totals":
                    totals = e
                elif "ts_ns" in e and e["kind"] not in ("agent_start",):
                    evs.append(e)
        diffs = [e["host_ns"] - e["ts_ns"] for e in evs]
        lo = min(diffs) if diffs else 0
        lat = sorted(x - lo for x in diffs)
        r.update(events=len(evs), lost=totals.get("lost", 0), dropped=totals.get("agent_dropped", 0),
                 overflows=totals.get("agent_overflows", 0),
                 ev_per_s=len(evs) / max(r["secs"], 0.01),
                 p50_us=lat[len(lat) // 2] / 1e3 if lat else 0,
                 p99_us=lat[len(lat) * 99 // 100] / 1e3 if lat else 0)
    return r


def median_of(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", help="lab run directory (default: a temporary one)")
    args = ap.parse_args()
    args.vmsight = os.path.join(ROOT, args.build, "vmsight")
    tmp = None
    if not args.dir:
        tmp = args.dir = tempfile.mkdtemp(prefix="vmsight-bench-watch-")
    g = labvm.start(args.dir, mem="512M", smp=1, paging=4, agent="shm")
    try:
        print(f"guest: {g.kernel_release}, {g.mem_mib} MiB, {g.smp} vCPU, {g.accel}; host: {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f} at start")
        upload(g.dir, make_archive(args.files), "/data/bench.tgz")
        gexec(g.dir, "ip link set lo up; mkdir -p /tmp/www; "
                     "dd if=/dev/zero bs=4096 count=1 2>/dev/null | tr '\\0' x > /tmp/www/index.html; "
                     "setsid httpd -p 127.0.0.1:8080 -h /tmp/www </dev/null >/dev/null 2>&1")
        results = {}
        for workload in ("tar", "http"):
            # Rounds go through every mode in turn, so a change in the host's
            # load over the run weighs on all modes alike.
            for _ in range(args.rounds):
                for mode, channel, events in MODES:
                    if mode == "none":
                        gexec(g.dir, "p=$(cat /run/vmsight-agent.pid 2>/dev/null); [ -n \"$p\" ] && kill $p; "
                                     "while [ -n \"$p\" ] && kill -0 $p 2>/dev/null; do usleep 10000; done; "
                                     "rm -f /run/vmsight-agent.pid; :")
                    else:
                        agent_restart(g, channel=channel, events=events)
                    results.setdefault((workload, mode), []).append(one_run(args, g, workload, mode))
            for mode, _, _ in MODES:
                runs = results[(workload, mode)]
                m = {k: median_of(runs, k) for k in runs[0]}
                line = (f"{workload:4} {mode:8}: {m['secs']:6.2f} s, guest busy {m['busy_pct']:5.1f} %, "
                        f"guest mem used {m['mem_kib'] / 1024:6.1f} MiB (agent RSS {m['agent_rss_kib'] / 1024:.1f} MiB), "
                        f"QEMU CPU {m['qemu_cpu_s']:5.2f} s ({m['qemu_cpu_pct']:3.0f} %)")
                if mode != "none":
                    line += (f"; {m['events']:.0f} events ({m['ev_per_s']:.0f}/s), lost {m['lost']:.0f}, "
                             f"dropped {m['dropped']:.0f}, overflows {m['overflows']:.0f}; latency p50 "
                             f"{m['p50_us']:.0f} us p99 {m['p99_us']:.0f} us; vmsight watch CPU "
                             f"{m['watch_cpu_pct']:.1f} %")
                print(line, flush=True)
        for workload in ("tar", "http"):
            base = median_of(results[(workload, "none")], "secs")
            for mode in ("shm", "vcpu", "shm-lite"):
                s = median_of(results[(workload, mode)], "secs")
                c = median_of(results[(workload, mode)], "qemu_cpu_s")
                cb = median_of(results[(workload, "none")], "qemu_cpu_s")
                print(f"{workload} {mode}: duration {100 * (s - base) / base:+.1f} %, QEMU CPU time "
                      f"{100 * (c - cb) / cb:+.1f} % vs no monitoring")
        agent_restart(g, channel="vcpu")
        w = subprocess.Popen([args.vmsight, "-t", g.target, "watch", "files", "--channel", "vcpu", "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        connected = gexec(g.dir, "vmsight-agent --trap-bench 200000").strip()
        w.send_signal(signal.SIGTERM)
        w.wait(30)
        alone = gexec(g.dir, "vmsight-agent --trap-bench 200000").strip()
        print(f"vcpu trap (OUT to isa-debugcon): {connected} with vmsight connected; {alone} with nobody "
              f"connected (QEMU discards)")
        print(f"host load average at end {os.getloadavg()[0]:.1f}")
    finally:
        labvm.stop(args.dir)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
