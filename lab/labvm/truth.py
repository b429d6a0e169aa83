"""Ground truth: the guest's own account of its state, and reading it on the host.

At boot /init prints sections on the serial console between markers
(===VMS-TRUTH-BEGIN name=== ... ===VMS-TRUTH-END name===, then
===VMS-TRUTH-DONE=== or ===VMS-TRUTH-FAIL reason===); wait_truth() follows
the log until the guest is done and save_truth() splits it into
DIR/truth/NAME.txt. The process listing (threads.txt) is also parsed
into threads.json (listing.py). Truth that can not be read stops the run
with a LabError saying what is wrong, never a traceback.
"""

import base64
import gzip
import json
import os
import re
import select
import shutil
import time

from .errors import LabError
from .listing import parse_threads
from .qemu import qemu_pid
from .rundir import tail

MARK_BEGIN = b"===VMS-TRUTH-BEGIN "
MARK_END = b"===VMS-TRUTH-END "
MARK_DONE = b"===VMS-TRUTH-DONE==="
MARK_FAIL_RE = re.compile(rb"===VMS-TRUTH-FAIL (.*?)===")

# Sections every boot must print, besides the per-workload-process ones.
REQUIRED_SECTIONS = ["workload", "ps", "threads", "modules", "kallsyms", "dmesg", "iomem", "uname"]


def wait_truth(p, pid, deadline, timeout):
    """Follow the serial log until the guest prints DONE (or FAIL, or QEMU dies)."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = None
    pos = 0
    tail = b""
    try:
        with open(p["serial"], "rb") as f:
            while True:
                f.seek(pos)
                data = f.read()
                pos += len(data)
                # Keep enough of the previous read that a marker split
                # across two reads is still found.
                window = tail + data
                if MARK_DONE in window:
                    return
                m = MARK_FAIL_RE.search(window)
                if m:
                    raise LabError(f"guest setup failed: {m.group(1).decode(errors='replace')}\n"
                                   f"--- serial log tail ---\n{tail(p['serial'])}")
                tail = window[-256:]
                if qemu_pid(p) is None:
                    raise LabError(f"QEMU exited before the guest was ready "
                                   f"(guest panic or crash?)\n--- serial log tail ---\n"
                                   f"{tail(p['serial'])}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(f"timed out after {timeout:.0f}s waiting for the guest's "
                                   f"ground truth\n--- serial log tail ---\n{tail(p['serial'])}")
                # Poll the log a few times a second; the pidfd wakes us early if QEMU dies.
                if pidfd is not None:
                    select.select([pidfd], [], [], min(0.2, left))
                else:
                    time.sleep(min(0.2, left))
    finally:
        if pidfd is not None:
            os.close(pidfd)



def _sections(log):
    """Yield (name, body) of each truth section in the serial LOG (bytes, CRs removed)."""
    pos = 0
    while True:
        b = log.find(MARK_BEGIN, pos)
        if b < 0:
            return
        eol = log.find(b"===\n", b)
        if eol < 0:
            raise LabError("serial log: truncated truth section header")
        header = log[b + len(MARK_BEGIN):eol].decode(errors="replace").split()
        name, encoding = (header + [None])[:2] if header else ("", None)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or len(header) > 2:
            raise LabError(f"serial log: bad truth section header {header!r}")
        start = eol + 4
        endmark = MARK_END + name.encode() + b"==="
        e = log.find(endmark, start)
        if e < 0:
            raise LabError(f"serial log: truth section {name} has no end marker")
        body = log[start:e]
        if encoding == "gzip+base64":
            try:
                body = gzip.decompress(base64.b64decode(b"".join(body.split()), validate=True))
            except (ValueError, OSError, EOFError) as err:
                raise LabError(f"serial log: truth section {name}: bad gzip+base64: {err}") from None
        elif encoding is not None:
            raise LabError(f"serial log: truth section {name}: unknown encoding {encoding}")
        if body and not body.endswith(b"\n"):
            body += b"\n"
        yield name, body
        pos = e + len(endmark)


def _check_complete(tmp, names):
    need = list(REQUIRED_SECTIONS)
    if "workload" in names:
        with open(os.path.join(tmp, "workload.txt")) as f:
            for line in f:
                if line.strip():
                    pid = line.split()[0]
                    need += [f"maps-{pid}", f"fd-{pid}", f"fdinfo-{pid}"]
    for n in need:
        if n not in names:
            raise LabError(f"serial log: truth section {n} missing")


def save_truth(p):
    """Split the serial log's truth sections into DIR/truth/NAME.txt (CRs removed).

    Also writes threads.json (parse_threads of threads.txt). Returns the section names."""
    with open(p["serial"], "rb") as f:
        log = f.read().replace(b"\r", b"")
    tmp = p["truth"] + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    names = []
    for name, body in _sections(log):
        with open(os.path.join(tmp, f"{name}.txt"), "wb") as out:
            out.write(body)
        names.append(name)
    _check_complete(tmp, names)
    with open(os.path.join(tmp, "threads.json"), "w") as f:
        json.dump(parse_threads(os.path.join(tmp, "threads.txt")), f, indent=1)
        f.write("\n")
    shutil.rmtree(p["truth"], ignore_errors=True)
    os.rename(tmp, p["truth"])
    return names
