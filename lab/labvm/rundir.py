"""The run directory of one lab guest (DIR): the names of its files and guest.json.

Everything about a running guest lives in DIR (sockets, pid file, logs,
truth/, guest.json) or in /dev/shm files that DIR names, so any process,
the tests, `lab/vm` and vmsight alike, finds the guest from DIR alone.
lab/README.md lists the files.
"""

import json
import os

SHM_PREFIX = "/dev/shm/vmsight-lab-"


class Guest:
    """What start() returns: paths and facts about a running lab guest (guest.json's keys)."""

    def __init__(self, d):
        self.__dict__.update(d)

    def __repr__(self):
        return f"Guest({self.__dict__!r})"


def paths(dir):
    """{role: absolute path} of the files of run directory DIR."""
    dir = os.path.abspath(dir)

    def j(n):
        return os.path.join(dir, n)

    return {
        "dir": dir, "qmp": j("qmp.sock"), "labqmp": j("lab-qmp.sock"), "exec": j("exec.sock"),
        "pid": j("qemu.pid"), "serial": j("serial.log"), "truth": j("truth"),
        "ram": j("ram.path"), "target": j("target"), "gdb": j("gdb.port"),
        "stderr": j("qemu.stderr"), "data": j("data.img"), "info": j("guest.json"),
        "lock": j("exec.lock"),
        "agent_shm": j("agent-shm.path"), "agent_sock": j("agent-vcpu.sock"),
    }


def info(dir):
    """The guest.json that start() wrote for DIR."""
    with open(paths(dir)["info"]) as f:
        return json.load(f)


def remove_shm(record):
    """Remove the /dev/shm file named in RECORD (the guest RAM, the agent's
    region), then RECORD itself."""
    try:
        with open(record) as f:
            shm = f.read().strip()
        # Only ever delete files that look like ours.
        if shm.startswith(SHM_PREFIX) and "/" not in shm[len("/dev/shm/"):]:
            try:
                os.unlink(shm)
            except FileNotFoundError:
                pass
        os.unlink(record)
    except FileNotFoundError:
        pass


def tail(path, lines=40):
    """The last LINES lines of a log (the serial console), for error messages."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            data = f.read().replace(b"\r", b"")
    except OSError:
        return "(no serial log)"
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])
