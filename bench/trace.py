#!/usr/bin/env python3
"""Agentless tracing in a real guest: what a breakpoint costs the guest.

    bench/trace.py [BUILD_DIR] [--files N] [--rounds N] [--loop N] [--packets N]
                   [--dir DIR] [--paging 4|5] [--timeout SECONDS]

Boots a lab guest without the agent (512 MiB, 1 vCPU, TCG) and runs the
workload of bench/watch.py - busybox `tar xzf` of an archive of N small
files (200 bytes, 30 directories) onto /data (ext4) - `--rounds` times in
each mode, every round going through all modes in turn, and prints medians:

  none           nothing attached
  files          `vmsight trace files` (open, read, write, unlink, rename)
  files-open     `vmsight trace files --event open` (fewer breakpoints)
  syscalls       `vmsight trace syscalls` (every system call)

Each tracer is started before the workload and the workload waits until it
says "the guest runs"; afterwards it gets SIGINT and must exit 0 (its
totals line gives stops and the host time per stop it handled). Events
are counted from its --json output: all of them, and the workload's own
(by process name); the rest come from the lab's exec plumbing (the
guest's execd relaying the command over ttyS1, the shell timing it).

Two clocks: the guest's duration (/proc/uptime, as watch.py) and the host's
wall time of the same run. A breakpoint hit stops the whole VM and under
TCG the guest's clocks stop with it, so the guest's figure leaves out the
time spent stopped; the host's does not. QEMU's own CPU seconds
(/proc/PID/stat) count both the guest's work and the stub's. TB flushes
are QEMU's count (HMP `info jit`): under TCG a full flush of the
translated code throws away every translation, and the guest pays to
translate it again.

Then the per-event cost in a tight loop: the guest's busybox sh making
`--loop` directories in /tmp, one `mkdir` process each, untraced and under
`vmsight trace calls do_mkdirat` (a stop at the entry and one at the
return per call); and `--shfiles` files opened, written and read by shell
builtins (no process per file) and unlinked by one rm, under `trace files`. And the floor for a stop: the round trip of one GDB
remote packet (`g`, read the registers) with the guest stopped, from a
bare client on the stub's TCP port; a stop takes at least one such
exchange to report it and one to resume.
"""

import argparse
import base64
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))

import labvm  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

MODES = [
    ("none", None),
    ("files", ["files"]),
    ("files-open", ["files", "--event", "open"]),
    ("syscalls", ["syscalls"]),
]

# Runs in the guest around a workload; times come from the guest's uptime.
GUEST_TIMED = r"""
u0=$(cut -d' ' -f1 /proc/uptime)
{work}
rc=$?
u1=$(cut -d' ' -f1 /proc/uptime)
echo "TIMED $rc $u0 $u1"
"""

TOTALS_RE = re.compile(r"vmsight: trace: (\d+) events printed; (\d+) stops, (\d+) hits, (\d+) filtered, "
                       r"(\d+) returns .*?(\d+) foreign stops; ([\d.]+) us per stop handled")


def gexec(d, cmd, timeout=600):
    rc, out = labvm.exec(d, cmd, timeout=timeout)
    if rc != 0:
        raise RuntimeError(f"guest: {cmd[:80]!r} exited {rc}: {out[-500:]}")
    return out


def build_archive(nfiles):
    """The archive bench/watch.py extracts: the same seed, names and sizes."""
    rnd = random.Random(1)
    alphabet = "abcdefghij \n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for i in range(nfiles):
            body = "".join(rnd.choice(alphabet) for _ in range(200)).encode()
            member = tarfile.TarInfo(f"tree/d{i % 30:02d}/f{i:05d}.txt")
            member.size = len(body)
            member.mtime = 0
            tar.addfile(member, io.BytesIO(body))
    return buf.getvalue()


def put_file(d, data, path):
    """Copy DATA to PATH in the guest through exec, in base64 pieces the
    guest's command line takes."""
    text = base64.b64encode(data).decode()
    gexec(d, f": > {path}.b64")
    piece = 60000
    for off in range(0, len(text), piece):
        gexec(d, f"printf '%s' '{text[off:off + piece]}' >> {path}.b64")
    gexec(d, f"base64 -d {path}.b64 > {path} && rm {path}.b64")


def cpu_seconds(pid):
    """User + system CPU seconds of PID so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tb_flushes(g):
    """QEMU's count of full translation-cache flushes (TCG)."""
    with labvm.QMP(g.lab_qmp) as q:
        m = re.search(r"TB flush count\s+(\d+)", q.hmp("info jit"))
    return int(m.group(1)) if m else 0


class Tracer:
    """`vmsight -v trace ... --json` as a child, stdout to a file.

    stop() ends it the way a user would (SIGINT) so it removes its
    breakpoints; it is killed outright only if it has not exited 60 s
    later, since a killed tracer leaves breakpoints in the guest."""

    def __init__(self, vmsight, g, args, out_path, own_comm, ready_timeout=180):
        self.out_path = out_path
        self.own_comm = own_comm
        self.err = []
        self.ready = threading.Event()
        cmd = [vmsight, "-t", g.target, "-v", "trace", *args, "--json"]
        with open(out_path, "wb") as out:
            self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read_err, daemon=True)
        self.reader.start()
        if not self.ready.wait(ready_timeout) or self.p.poll() is not None:
            self.stop(check=False)
            raise RuntimeError(f"vmsight trace {' '.join(args)} did not start: {''.join(self.err)[-800:]}")
        self.cpu0 = cpu_seconds(self.p.pid)

    def _read_err(self):
        for raw in self.p.stderr:
            line = raw.decode(errors="replace")
            self.err.append(line)
            if "the guest runs" in line:
                self.ready.set()
        self.ready.set()

    def stop(self, check=True):
        """SIGINT, wait for the exit; returns the parsed totals."""
        cpu = None
        if self.p.poll() is None:
            try:
                cpu = cpu_seconds(self.p.pid) - getattr(self, "cpu0", 0.0)
            except OSError:
                pass
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                self.err.append("bench: vmsight did not exit 60 s after SIGINT; killed it\n")
        self.reader.join(10)
        err = "".join(self.err)
        if check and self.p.returncode != 0:
            raise RuntimeError(f"vmsight trace exited {self.p.returncode}: {err[-800:]}")
        with open(self.out_path, "rb") as f:
            lines = f.read().splitlines()
        # Every line must be an event, or the bench counts the wrong thing.
        # The lab's own exec plumbing (the guest's execd on ttyS1, the shell
        # timing the run) makes events too; the workload's are told by name.
        own = sum(1 for line in lines if json.loads(line).get("comm") == self.own_comm)
        m = TOTALS_RE.search(err)
        if check and not m:
            raise RuntimeError(f"no totals line from vmsight: {err[-800:]}")
        t = {"events": len(lines), "own_events": own, "vmsight_cpu_s": cpu if cpu is not None else float("nan")}
        if m:
            t.update(printed=int(m.group(1)), stops=int(m.group(2)), hits=int(m.group(3)),
                     returns=int(m.group(5)), foreign=int(m.group(6)), us_per_stop=float(m.group(7)))
        return t


def timed_run(args, g, work, comm, trace_args, tag):
    """WORK (whose processes are named COMM) in the guest, traced with
    TRACE_ARGS (None: untraced)."""
    tracer = None
    if trace_args:
        tracer = Tracer(args.vmsight, g, trace_args, os.path.join(args.dir, f"trace-{tag}.jsonl"), comm)
        args.live = tracer
    try:
        f0, q0 = tb_flushes(g), cpu_seconds(g.pid)
        t0 = time.monotonic()
        out = gexec(g.dir, GUEST_TIMED.format(work=work), timeout=args.timeout)
        wall = time.monotonic() - t0
        q1, f1 = cpu_seconds(g.pid), tb_flushes(g)
    finally:
        totals = tracer.stop(check=False) if tracer else {}
        args.live = None
    m = re.search(r"^TIMED (\d+) ([\d.]+) ([\d.]+)", out, re.M)
    if not m:
        raise RuntimeError(f"guest: no timing in {out[-300:]!r}")
    if m.group(1) != "0":
        raise RuntimeError(f"guest workload ({tag}) exited {m.group(1)}: {out[-500:]}")
    if tracer and tracer.p.returncode != 0:
        raise RuntimeError(f"vmsight trace ({tag}) exited {tracer.p.returncode}: {''.join(tracer.err)[-800:]}")
    r = {"guest_s": float(m.group(3)) - float(m.group(2)), "wall_s": wall, "qemu_cpu_s": q1 - q0,
         "tb_flushes": f1 - f0}
    if tracer:
        if "stops" not in totals:
            raise RuntimeError(f"no totals line from vmsight ({tag}): {''.join(tracer.err)[-800:]}")
        r.update(totals)
        r["ev_per_s"] = r["events"] / max(wall, 1e-3)
    return r


def median(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else float("nan")


# ---- the floor: one GDB remote packet, guest stopped ------------------------

def _gdb_packet(body):
    return b"$%s#%02x" % (body, sum(body) & 0xFF)


class _GdbReader:
    """Replies from the stub, one packet at a time; acks ('+') skipped."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def packet(self):
        while True:
            start = self.buf.find(b"$")
            if start >= 0:
                end = self.buf.find(b"#", start)
                if end >= 0 and len(self.buf) >= end + 3:
                    body = self.buf[start + 1:end]
                    self.buf = self.buf[end + 3:]
                    return body
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("GDB stub closed the connection")
            self.buf += chunk


def gdb_round_trip(g, packets):
    """Microseconds per `g` request and reply (with its ack), guest stopped.

    Connecting stops the VM; detaching (`D`) lets it run again, and the
    guest is checked and resumed through QMP should the detach not arrive."""
    times = []
    sock = socket.create_connection(("127.0.0.1", int(g.gdb_port)), timeout=10)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rd = _GdbReader(sock)
        # The stub reports the stop that connecting caused on its own, and
        # then answers `?`: drain both before timing anything.
        sock.sendall(_gdb_packet(b"?"))
        sock.settimeout(0.5)
        try:
            while True:
                rd.packet()
        except socket.timeout:
            pass
        sock.settimeout(10)
        request = b"+" + _gdb_packet(b"g")  # ack the last reply, ask again: one write
        for _ in range(packets):
            t0 = time.perf_counter()
            sock.sendall(request)
            regs = rd.packet()
            times.append(time.perf_counter() - t0)
        sock.sendall(b"+" + _gdb_packet(b"D"))
        detach = rd.packet()
        sock.sendall(b"+")
    finally:
        sock.close()
        with labvm.QMP(g.lab_qmp) as q:
            if q.cmd("query-status")["status"] != "running":
                q.cmd("cont")
    if detach != b"OK":
        raise RuntimeError(f"GDB stub answered {detach!r} to the detach")
    times.sort()
    return {"p50_us": times[len(times) // 2] * 1e6, "mean_us": statistics.mean(times) * 1e6,
            "p99_us": times[len(times) * 99 // 100] * 1e6, "reply_bytes": len(regs)}


# ---- report -----------------------------------------------------------------

def fmt(v, spec):
    return "" if v is None or v != v else format(v, spec)


def pct(v, base):
    return f"{100 * (v - base) / base:+.0f} %" if base and base == base and v == v else ""


def main():
    ap = argparse.ArgumentParser(description="agentless tracing: cost to a lab guest")
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--files", type=int, default=1000, help="files in the tar archive (default 1000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loop", type=int, default=500, help="mkdirs in the per-event loop (default 500)")
    ap.add_argument("--shfiles", type=int, default=300, help="files in the shell-builtin loop (default 300)")
    ap.add_argument("--packets", type=int, default=2000, help="GDB packets timed for the floor")
    ap.add_argument("--paging", type=int, default=4, help="guest paging levels (4, as bench/watch.py)")
    ap.add_argument("--timeout", type=float, default=1800, help="one workload run, guest seconds")
    ap.add_argument("--dir", help="lab run directory (default: a temporary one)")
    args = ap.parse_args()
    args.vmsight = os.path.join(ROOT, args.build, "vmsight")
    args.live = None
    if not os.access(args.vmsight, os.X_OK):
        sys.exit(f"bench: {args.vmsight}: not built (ninja -C {args.build})")
    # SIGTERM as an exception, so the guest is stopped and its files removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = None
    if not args.dir:
        tmp = args.dir = tempfile.mkdtemp(prefix="vmsight-bench-trace-")
    try:
        run(args)
    finally:
        if args.live:
            args.live.stop(check=False)
        labvm.stop(args.dir)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args):
    t_start = time.monotonic()
    g = labvm.start(args.dir, mem="512M", smp=1, paging=args.paging)
    load0 = os.getloadavg()[0]
    print(f"guest: {g.kernel_release}, {g.mem_mib} MiB, {g.smp} vCPU, {g.paging}-level paging, {g.accel}; "
          f"host: {os.cpu_count()} cores, load average {load0:.1f} at start", flush=True)
    put_file(g.dir, build_archive(args.files), "/data/bench.tgz")

    results = {}
    tar = "tar xzf /data/bench.tgz -C /data/bx"
    for rnd in range(args.rounds):
        # Every round goes through every mode, so a change in the host's load
        # weighs on all of them alike.
        for mode, trace_args in MODES:
            gexec(g.dir, "rm -rf /data/bx; mkdir /data/bx; sync")
            r = timed_run(args, g, tar, "tar", trace_args, f"tar-{mode}-{rnd}")
            results.setdefault(mode, []).append(r)
            line = (f"round {rnd + 1} tar {mode:10}: guest {r['guest_s']:7.2f} s, wall {r['wall_s']:7.2f} s, "
                    f"QEMU CPU {r['qemu_cpu_s']:7.2f} s, TB flushes {r['tb_flushes']}")
            if trace_args:
                line += (f"; {r['events']} events ({r['own_events']} by tar), {r['stops']} stops, {r['us_per_stop']:.1f} us/stop, "
                         f"vmsight CPU {r['vmsight_cpu_s']:.2f} s")
            print(line, flush=True)

    loop = f"i=0; while [ $i -lt {args.loop} ]; do mkdir /tmp/b$i || exit 9; i=$((i + 1)); done"
    # shell builtins only: one process opening, writing, reading each file,
    # then one rm unlinking them all
    files = (f"i=0; while [ $i -lt {args.shfiles} ]; do echo data > /tmp/bf$i; read l < /tmp/bf$i; "
             f"i=$((i + 1)); done; rm -f /tmp/bf*")
    micro = {}
    for rnd in range(args.rounds):
        for mode, work, comm, trace_args in (("loop", loop, "mkdir", None),
                                             ("loop-traced", loop, "mkdir", ["calls", "do_mkdirat"]),
                                             ("shfiles", files, "sh", None),
                                             ("shfiles-traced", files, "sh", ["files"])):
            gexec(g.dir, "rm -rf /tmp/b*")
            r = timed_run(args, g, work, comm, trace_args, f"{mode}-{rnd}")
            micro.setdefault(mode, []).append(r)
            print(f"round {rnd + 1} {mode:11}: guest {r['guest_s']:7.2f} s, wall {r['wall_s']:7.2f} s, "
                  f"QEMU CPU {r['qemu_cpu_s']:7.2f} s, TB flushes {r['tb_flushes']}"
                  + (f"; {r['events']} events, {r['stops']} stops, {r['us_per_stop']:.1f} us/stop"
                     if trace_args else ""), flush=True)
    gexec(g.dir, "rm -rf /tmp/b*")
    floor = gdb_round_trip(g, args.packets)
    gexec(g.dir, "echo alive")  # the guest runs again after the detach

    report(args, g, results, micro, floor)
    print(f"host load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end; "
          f"bench took {time.monotonic() - t_start:.0f} s")


def report(args, g, results, micro, floor):
    print()
    print(f"Tar of {args.files} files onto /data (medians of {args.rounds} rounds; slowdown vs no tracing):")
    print()
    print("| mode | guest time | host wall | QEMU CPU | slowdown guest / wall / CPU | events | events/s (wall) "
          "| stops | µs per stop (vmsight) | TB flushes | vmsight CPU |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    base = {k: median(results["none"], k) for k in ("guest_s", "wall_s", "qemu_cpu_s")}
    names = {"none": "no tracing", "files": "trace files", "files-open": "trace files --event open",
             "syscalls": "trace syscalls"}
    for mode, trace_args in MODES:
        runs = results[mode]
        m = {k: median(runs, k) for k in runs[0]}
        events = f"{m['events']:.0f} ({m['own_events']:.0f} by tar)" if trace_args else ""
        slow = "" if not trace_args else " / ".join(
            pct(m[k], base[k]) for k in ("guest_s", "wall_s", "qemu_cpu_s"))
        print(f"| {names[mode]} | {m['guest_s']:.2f} s | {m['wall_s']:.2f} s | {m['qemu_cpu_s']:.2f} s | {slow} "
              f"| {events} | {fmt(m.get('ev_per_s'), '.0f')} | {fmt(m.get('stops'), '.0f')} "
              f"| {fmt(m.get('us_per_stop'), '.0f')} | {m['tb_flushes']:.0f} "
              f"| {fmt(m.get('vmsight_cpu_s'), '.2f')}{' s' if trace_args else ''} |")

    plain = {k: median(micro["loop"], k) for k in micro["loop"][0]}
    traced = {k: median(micro["loop-traced"], k) for k in micro["loop-traced"][0]}
    ev = max(traced["events"], 1)
    print()
    print(f"Per event: {args.loop} x `mkdir /tmp/bN` from busybox sh, `vmsight trace calls do_mkdirat` "
          f"(medians of {args.rounds}):")
    print()
    print("| | untraced | traced | per event |")
    print("|---|---:|---:|---:|")
    print(f"| guest time | {plain['guest_s']:.2f} s | {traced['guest_s']:.2f} s "
          f"| +{(traced['guest_s'] - plain['guest_s']) / ev * 1e6:.0f} µs |")
    print(f"| host wall | {plain['wall_s']:.2f} s | {traced['wall_s']:.2f} s | {traced['wall_s'] / ev * 1e6:.0f} µs "
          f"(+{(traced['wall_s'] - plain['wall_s']) / ev * 1e6:.0f} µs) |")
    print(f"| QEMU CPU | {plain['qemu_cpu_s']:.2f} s | {traced['qemu_cpu_s']:.2f} s "
          f"| +{(traced['qemu_cpu_s'] - plain['qemu_cpu_s']) / ev * 1e6:.0f} µs |")
    print(f"| events (by mkdir) / stops | | {traced['events']:.0f} ({traced['own_events']:.0f}) / {traced['stops']:.0f} "
          f"| {traced['stops'] / ev:.1f} stops |")
    print(f"| vmsight: host time per stop handled | | {traced['us_per_stop']:.0f} µs "
          f"| {traced['us_per_stop'] * traced['stops'] / ev:.0f} µs |")
    print(f"| TB flushes (QEMU `info jit`) | {plain['tb_flushes']:.0f} | {traced['tb_flushes']:.0f} "
          f"| {(traced['tb_flushes'] - plain['tb_flushes']) / ev:.1f} |")
    print(f"| TB flushes per stop | | {(traced['tb_flushes'] - plain['tb_flushes']) / max(traced['stops'], 1):.2f} | |")
    sp = {k: median(micro["shfiles"], k) for k in micro["shfiles"][0]}
    st = {k: median(micro["shfiles-traced"], k) for k in micro["shfiles-traced"][0]}
    sev = max(st["events"], 1)
    print(f"| shell-builtin files ({args.shfiles} x open/write/read, one rm), `trace files`: wall "
          f"| {sp['wall_s']:.2f} s | {st['wall_s']:.2f} s ({st['wall_s'] / max(sp['wall_s'], 1e-3):.1f}x) "
          f"| {(st['wall_s'] - sp['wall_s']) / sev * 1e6:.0f} µs, {st['events']:.0f} events, "
          f"{st['events'] / max(st['wall_s'], 1e-3):.0f}/s, {(st['tb_flushes'] - sp['tb_flushes']) / sev:.1f} "
          f"flushes, {st['us_per_stop']:.0f} µs per stop (vmsight) |")
    print(f"| floor: one GDB packet round trip (`g`, guest stopped, {args.packets} x) | | "
          f"p50 {floor['p50_us']:.0f} µs, mean {floor['mean_us']:.0f} µs, p99 {floor['p99_us']:.0f} µs | |")


if __name__ == "__main__":
    main()
