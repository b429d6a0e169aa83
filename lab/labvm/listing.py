"""The guest's process listing (truth/threads.txt), parsed; and a fresh one on demand.

The guest script lab/guest/truth-threads (bin/vms-truth-threads in the
guest) prints one block per process: status lines, cmdline, one line per
thread. /init prints it at boot as the truth section "threads";
collect_threads() runs it again through exec whenever a test needs the
guest's view of now.

Processes come and go while the guest lists them. The script leaves out
what vanished mid-listing; the parser still accepts the traces an older
listing left of such a process (a block with no status lines or no thread,
the literal glob `[0-9]*` as a thread id) and drops that process, but
anything else out of place is a LabError naming the line.
"""

import re

from .errors import LabError
from .exec_client import exec as _exec
from .rundir import paths

# The guest script behind the "threads" section (lab/guest/truth-threads).
THREADS_SCRIPT = "vms-truth-threads"


_STATUS_INT = {"Pid": "pid", "PPid": "ppid", "Tgid": "tgid"}
_STATUS_IDS = {"Uid": "uid", "Gid": "gid"}
_STATUS_KEYS = ["name", "pid", "ppid", "tgid", "uid", "gid"]
# What sh leaves of `for t in $d/task/[0-9]*` when task/ vanished first.
_UNEXPANDED_GLOB = "[0-9]*"


class _Malformed(Exception):
    pass


def _int(text, what):
    if not re.fullmatch(r"[0-9]+", text):
        raise _Malformed(f"{what} is not a number: {text!r}")
    return int(text)


def _block_line(cur, line):
    """Add one line inside a process block to CUR."""
    if line.startswith("cmdline ") or line == "cmdline":
        if "cmdline" in cur:
            raise _Malformed("second cmdline line")
        cur["cmdline"] = line[8:]
    elif line.startswith("thread "):
        _, tid, comm = (line.split(" ", 2) + [""])[:3]
        if tid == _UNEXPANDED_GLOB:
            cur["vanished"] = True
            return
        tid = _int(tid, "thread id")
        if any(t["tid"] == tid for t in cur["threads"]):
            raise _Malformed(f"thread {tid} listed twice")
        cur["threads"].append({"tid": tid, "comm": comm})
    elif ":" in line:
        key, val = line.split(":", 1)
        val = val.strip()
        if key == "Name":
            field, value = "name", val
        elif key in _STATUS_INT:
            field, value = _STATUS_INT[key], _int(val, key)
        elif key in _STATUS_IDS:
            field, value = _STATUS_IDS[key], [_int(x, key) for x in val.split()]
            if len(value) != 4:
                raise _Malformed(f"{key} needs 4 ids (real, effective, saved, fs): {val!r}")
        else:
            raise _Malformed(f"unexpected status line {key}:")
        if field in cur:
            raise _Malformed(f"second {key}: line")
        cur[field] = value
    else:
        raise _Malformed(f"unexpected line {line!r}")


def _block_end(cur):
    """The finished process dict of block CUR, or None if the process vanished mid-listing."""
    pid = cur.pop("dir")
    have = [k for k in _STATUS_KEYS if k in cur]
    if not have or not cur["threads"] or cur.pop("vanished", False):
        return None
    if len(have) != len(_STATUS_KEYS):
        missing = [k for k in _STATUS_KEYS if k not in cur]
        raise _Malformed(f"process {pid}: status lines missing: {', '.join(missing)}")
    if "cmdline" not in cur:
        raise _Malformed(f"process {pid}: no cmdline line")
    # /proc lists thread-group leaders only, under their own pid.
    if cur["pid"] != pid or cur["tgid"] != pid:
        raise _Malformed(f"process {pid}: status says Pid {cur['pid']}, Tgid {cur['tgid']}")
    return {k: cur[k] for k in ("pid", "ppid", "tgid", "name", "uid", "gid", "cmdline", "threads")}


def parse_threads_text(text, source="threads.txt"):
    """Parse a process listing (threads.txt format, see lab/README.md) into process dicts.

    [{"pid", "ppid", "tgid", "name", "uid": [r, e, s, fs], "gid": [...], "cmdline",
      "threads": [{"tid", "comm"}]}], in listing order. A process that vanished
    while it was listed is left out; malformed text raises LabError naming SOURCE
    and the line."""
    procs, seen = [], set()
    cur, lineno = None, 0
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line
    try:
        for lineno, line in enumerate(lines, 1):
            if line.startswith("process "):
                if cur is not None:
                    raise _Malformed(f"process {cur['dir']} has no end line")
                cur = {"dir": _int(line[8:], "process id"), "threads": []}
                block_start = lineno
            elif cur is None:
                if line.strip():
                    raise _Malformed(f"line outside a process block: {line!r}")
            elif line == "end":
                proc = _block_end(cur)
                if proc is not None:
                    if proc["pid"] in seen:
                        raise _Malformed(f"process {proc['pid']} listed twice")
                    seen.add(proc["pid"])
                    procs.append(proc)
                cur = None
            else:
                _block_line(cur, line)
        if cur is not None:
            lineno = block_start
            raise _Malformed(f"process {cur['dir']}: listing ends inside its block (truncated)")
    except _Malformed as e:
        raise LabError(f"{source}:{lineno}: malformed process listing: {e}") from None
    return procs


def parse_threads(path):
    """Parse truth/threads.txt into a list of process dicts (see parse_threads_text)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_threads_text(f.read(), path)


def collect_threads(dir, timeout=120):
    """A fresh process listing of the guest in DIR, taken now, parsed like threads.txt."""
    rc, out = _exec(dir, THREADS_SCRIPT, timeout=timeout)
    if rc != 0:
        raise LabError(f"{paths(dir)['dir']}: {THREADS_SCRIPT} exited {rc}: {out[-2000:]}")
    return parse_threads_text(out, f"{THREADS_SCRIPT} in {paths(dir)['dir']}")
