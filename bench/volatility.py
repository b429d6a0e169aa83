#!/usr/bin/env python3
"""Volatility 3's linux.pslist through vmsight, live and on a dump, beside
the floors: vmsight's own `ps` (the same walk in C) and Volatility's start
alone (its plugin imports and an empty run: `vol -h`).

usage: bench/volatility.py BUILD VOLATILITY3_DIR TARGET [TARGET...]   (e.g. qmp:..., dump:...)
Best of three wall-clock runs each; the ISF is cached before timing.
"""

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best(cmd, env, n=3):
    times = []
    for _ in range(n):
        t = time.monotonic()
        r = subprocess.run(cmd, env=env, capture_output=True)
        times.append(time.monotonic() - t)
        if r.returncode:
            sys.exit(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
    return min(times)


def main():
    build, vol, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python") + ":" + vol,
               VMSIGHT_LIB=os.path.join(build, "libvmsight.so"))
    py = [sys.executable, "-m", "vmsight.volatility"]
    start = best([sys.executable, "-c", "import sys; sys.argv=['vol','-h']; from volatility3 import cli\n"
                  "try: cli.main()\nexcept SystemExit: pass"], env)
    print(f"{'':28} {'vol pslist (s)':>14} {'vmsight ps (s)':>14} {'vol start (s)':>14}")
    for t in targets:
        subprocess.run(py + ["-t", t, "-q", "linux.pslist"], env=env, capture_output=True)  # the ISF cached
        vol_s = best(py + ["-t", t, "-q", "-r", "json", "linux.pslist"], env)
        ps_s = best([os.path.join(build, "vmsight"), "-t", t, "--json", "ps"], env)
        print(f"{t[:28]:28} {vol_s:14.2f} {ps_s:14.3f} {start:14.2f}")


if __name__ == "__main__":
    main()
