"""The guest's initramfs: busybox as the whole userland, plus the lab's programs.

One gzip'd cpio archive holds busybox and its applet links, the guest
scripts from lab/guest (/init, the exec server, the truth listings), the
compiled workload and tools, and the kernel modules in insmod order. It is
keyed on every one of those inputs, so any change to a guest script or a
module list builds a new one and an unchanged tree reuses the cached one.
"""

import gzip
import hashlib
import json
import os
import re

from .cache import CACHE, CACHE_FORMAT, GUEST_SRC, CacheLock, mkdir, sha256_file
from .cpio import Cpio
from .host import log, run
from .modules import module_bytes
from .programs import WORKLOAD_NAMES

BUSYBOX = "/bin/busybox"

# Shell scripts from lab/guest: their path in the initramfs -> their file.
# vms-truth-threads is the process listing /init prints as ground truth, and
# the one tests run again through `lab/vm exec` (labvm.collect_threads).
GUEST_SCRIPTS = {
    "init": "init",
    "bin/vms-execd": "execd",
    "bin/vms-truth-threads": "truth-threads",
}

BASE_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "data", "root", "etc/vms")


def _key(kernel, modules, workload, tools):
    inputs = {
        "format": CACHE_FORMAT,
        "scripts": {name: sha256_file(os.path.join(GUEST_SRC, src)) for name, src in GUEST_SCRIPTS.items()},
        "busybox": sha256_file(BUSYBOX),
        "workload": sha256_file(workload),
        "tools": {k: sha256_file(v) for k, v in sorted(tools.items())},
        "workload_names": WORKLOAD_NAMES,
        "kernel": [kernel.package, kernel.version, kernel.release],
        "modules": modules,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _add_busybox(c):
    c.file("bin/busybox", _read(BUSYBOX), 0o755)
    applets = run([BUSYBOX, "--list-full"], "busybox --list-full").split()
    for a in applets:
        if a != "bin/busybox":
            c.symlink(a, "/bin/busybox")
    if "bin/sh" not in applets:
        c.symlink("bin/sh", "/bin/busybox")


def _add_modules(c, kernel, modules):
    """The modules, decompressed, and /etc/vms/modules listing them in insmod order."""
    listing = []
    for rel in modules:
        plain = re.sub(r"\.(xz|gz|zst)$", "", rel)
        c.file(f"lib/modules/{kernel.release}/{plain}", module_bytes(kernel, rel))
        listing.append(f"{kernel.release}/{plain}\n")
    c.file("etc/vms/modules", "".join(listing).encode())


def _archive(kernel, modules, workload, tools):
    c = Cpio()
    for d in BASE_DIRS:
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)
    _add_busybox(c)
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    c.file("etc/group", b"root:x:0:\n")
    for name, src in GUEST_SCRIPTS.items():
        c.file(name, _read(os.path.join(GUEST_SRC, src)), 0o755)
    for name, path in sorted(tools.items()):
        c.file(name, _read(path), 0o755)
    c.hardlinks([f"bin/{n}" for n in WORKLOAD_NAMES], _read(workload))
    _add_modules(c, kernel, modules)
    return c.finish()


def build_initramfs(kernel, modules, workload, tools=None):
    """The initramfs for KERNEL with MODULES (paths from resolve_modules), cached; returns its path."""
    tools = tools or {}
    out = os.path.join(CACHE, "initramfs", f"initramfs-{_key(kernel, modules, workload, tools)}.cpio.gz")
    if os.path.exists(out):
        return out
    with CacheLock():
        if os.path.exists(out):
            return out
        mkdir(os.path.dirname(out))
        log("building initramfs")
        data = _archive(kernel, modules, workload, tools)
        tmp = out + ".tmp"
        with open(tmp, "wb") as f:
            # mtime=0 keeps the archive reproducible.
            with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6, mtime=0) as z:
                z.write(data)
        os.rename(tmp, out)
    return out
