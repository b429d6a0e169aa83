"""The static guest programs compiled on the host into the cache.

The workload (guest/workload.c: vms-sleeper, vms-threads, vms-files,
vms-pagegen as hard links to one binary), vmsight-agent from agent/ and
vms-fileops. They are built here, not by Meson, so the lab does not depend
on which build directory was used; each binary is keyed on its sources,
the gcc version and the flags.
"""

import hashlib
import json
import os

from .cache import CACHE, CACHE_FORMAT, GUEST_SRC, LAB, CacheLock, mkdir, sha256_file
from .host import log, run

WORKLOAD_NAMES = ["vms-sleeper", "vms-threads", "vms-files", "vms-pagegen"]
CFLAGS = ["-static", "-O2", "-pthread", "-Wall", "-Wextra"]

def build_workload():
    """The workload binary (guest/workload.c), compiled once per source, gcc and flags."""
    src = os.path.join(GUEST_SRC, "workload.c")
    gcc = run(["gcc", "--version"], "gcc --version").splitlines()[0]
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, sha256_file(src), gcc, CFLAGS]).encode()).hexdigest()[:16]
    out = os.path.join(CACHE, "workload", f"workload-{key}")
    if os.path.exists(out):
        return out
    with CacheLock():
        if os.path.exists(out):
            return out
        mkdir(os.path.dirname(out))
        tmp = out + ".tmp"
        log("compiling guest/workload.c")
        run(["gcc"] + CFLAGS + ["-o", tmp, src], "gcc workload.c")
        os.rename(tmp, out)
    return out


# vmsight-agent (agent/, docs/watch.md).
AGENT_SOURCES = ["agent/main.c", "agent/ring.c", "agent/fanotify.c", "agent/vcpu.c"]
AGENT_HEADERS = ["agent/agent.h", "agent/ring.h", "include/vmsight/agent_wire.h"]
AGENT_CFLAGS = ["-static", "-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra"]


def _build_tool(name, sources, headers, cflags):
    """Compile a static guest program from the repository into the cache."""
    root = os.path.dirname(LAB)
    gcc = run(["gcc", "--version"], "gcc --version").splitlines()[0]
    sums = [sha256_file(os.path.join(root, f)) for f in sources + headers]
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, sums, gcc, cflags]).encode()).hexdigest()[:16]
    out = os.path.join(CACHE, "tools", f"{name}-{key}")
    if os.path.exists(out):
        return out
    with CacheLock():
        if os.path.exists(out):
            return out
        mkdir(os.path.dirname(out))
        tmp = out + ".tmp"
        log(f"compiling {name}")
        run(["gcc"] + cflags + ["-I", os.path.join(root, "include"), "-o", tmp] +
            [os.path.join(root, f) for f in sources], f"gcc {name}")
        os.rename(tmp, out)
    return out


def build_guest_tools():
    """The agent and the file-monitoring test workload: {initramfs path: binary}."""
    return {
        "bin/vmsight-agent": _build_tool("vmsight-agent", AGENT_SOURCES, AGENT_HEADERS, AGENT_CFLAGS),
        "bin/vms-fileops": _build_tool("vms-fileops", ["lab/guest/fileops.c"], [], CFLAGS),
    }
