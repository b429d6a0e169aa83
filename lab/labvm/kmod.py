"""The lab's own test kernel module (lab/guest/rootkit), built on the host.

Tests of vmsight's integrity checks need a kernel module that does what a
rootkit does. It is built from source for the exact lab kernel with
Debian's linux-headers package of that kernel (same release, same package
version) and gcc-12, the compiler Debian built the kernel with; never
shipped as a binary. The headers packages (linux-headers-RELEASE, the
-common one it depends on, and linux-kbuild) are downloaded and unpacked
into the cache, not installed: their Makefile names /usr/src by absolute
path, which is pointed at the unpacked tree. The module is keyed on its
sources, the kernel package and the compiler, and stripped of debug info
(it is copied into the guest over the serial line).
"""

import hashlib
import json
import os
import re
import shutil
import tempfile

from .apt import download_deb
from .cache import CACHE, CACHE_FORMAT, GUEST_SRC, CacheLock, mkdir, sha256_file
from .errors import LabError
from .host import log, run

ROOTKIT_SRC = os.path.join(GUEST_SRC, "rootkit")
ROOTKIT_FILES = ["Kbuild", "vmsrk.c"]
MODULE_CC = "gcc-12"


def _deb_depends(deb):
    return run(["dpkg-deb", "-f", deb, "Depends"], "dpkg-deb -f")


def fetch_headers(kernel):
    """Debian's headers for KERNEL unpacked into the cache; returns the build directory."""
    pkg = f"linux-headers-{kernel.release}"
    safe_ver = re.sub(r"[^A-Za-z0-9.+~-]", "_", kernel.version)
    root = os.path.join(CACHE, "headers", f"{pkg}_{safe_ver}")
    build = os.path.join(root, "usr", "src", pkg)
    if os.path.exists(os.path.join(root, ".complete")):
        return build
    with CacheLock():
        if os.path.exists(os.path.join(root, ".complete")):
            return build
        debs = mkdir(os.path.join(CACHE, "debs"))
        main = download_deb(pkg, kernel.version, debs)
        wanted = [main]
        # linux-headers-RELEASE-common (= VERSION) and linux-kbuild-X.Y (>= VERSION):
        # both at the kernel's own version.
        for dep in _deb_depends(main).split(","):
            name = dep.strip().split()[0] if dep.strip() else ""
            if name.startswith("linux-headers-") or name.startswith("linux-kbuild-"):
                wanted.append(download_deb(name, kernel.version, debs))
        tmp = tempfile.mkdtemp(prefix=".unpack-", dir=mkdir(os.path.dirname(root)))
        try:
            for deb in wanted:
                log(f"unpacking {os.path.basename(deb)}")
                run(["dpkg-deb", "-x", deb, tmp], "dpkg-deb -x")
            mk = os.path.join(tmp, "usr", "src", pkg, "Makefile")
            if not os.path.isfile(mk):
                raise LabError(f"{pkg}: no usr/src/{pkg}/Makefile in the package")
            with open(mk) as f:
                text = f.read()
            with open(mk, "w") as f:
                f.write(text.replace("/usr/src/", os.path.join(root, "usr", "src") + "/"))
            open(os.path.join(tmp, ".complete"), "w").close()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if os.path.exists(root):
            shutil.rmtree(root)
        os.rename(tmp, root)
    return build


def build_test_module(kernel):
    """vmsrk.ko for KERNEL (a labvm Kernel), built once per source and kernel; its path."""
    if shutil.which(MODULE_CC) is None:
        raise LabError(f"{MODULE_CC} not found (run scripts/deps)")
    cc = run([MODULE_CC, "--version"], f"{MODULE_CC} --version").splitlines()[0]
    sums = [sha256_file(os.path.join(ROOTKIT_SRC, f)) for f in ROOTKIT_FILES]
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, sums, cc, kernel.package, kernel.version,
                                     kernel.release]).encode()).hexdigest()[:16]
    out = os.path.join(CACHE, "kmod", f"vmsrk-{key}.ko")
    if os.path.exists(out):
        return out
    build = fetch_headers(kernel)
    with CacheLock():
        if os.path.exists(out):
            return out
        mkdir(os.path.dirname(out))
        work = tempfile.mkdtemp(prefix=".kmod-", dir=os.path.dirname(out))
        try:
            for f in ROOTKIT_FILES:
                shutil.copy(os.path.join(ROOTKIT_SRC, f), work)
            log(f"building the test module for {kernel.release}")
            run(["make", "-C", build, f"M={work}", f"CC={MODULE_CC}", "modules"], "make (test module)")
            tmp = out + ".tmp"
            run(["strip", "--strip-debug", "-o", tmp, os.path.join(work, "vmsrk.ko")], "strip vmsrk.ko")
            os.rename(tmp, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out
