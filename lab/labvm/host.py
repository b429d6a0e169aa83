"""Running host tools (gcc, apt-get, mke2fs, ...) and reporting progress.

The lab shells out to a handful of Debian tools. A tool that is missing or
fails becomes a LabError carrying the tool's own output, so the reason is
visible in the test log without re-running anything by hand."""

import subprocess
import sys

from .errors import LabError


def log(msg):
    """Progress for humans on stderr (stdout belongs to `lab/vm exec`)."""
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def run(cmd, what, **kw):
    """Run a helper tool; on failure raise with its output so the reason is visible."""
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, **kw)
    except FileNotFoundError:
        raise LabError(f"{what}: {cmd[0]} not found (run scripts/deps)") from None
    if r.returncode != 0:
        out = (r.stderr or b"").decode(errors="replace").strip() or \
              (r.stdout or b"").decode(errors="replace").strip()
        raise LabError(f"{what} failed (exit {r.returncode}): {' '.join(cmd)}\n{out}")
    return r.stdout.decode(errors="replace")
