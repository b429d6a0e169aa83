"""A Debian kernel package, unpacked once into the cache (never installed).

The guest boots the package's vmlinuz and loads modules from its
lib/modules tree; tests read its System.map and config. Debian generates
modules.dep at install time (depmod in postinst), so an unpacked package
usually has none and it is generated here with `depmod -b`."""

import os
import re
import shutil
import tempfile

from .apt import download_deb, resolve_kernel
from .cache import CACHE, CacheLock, mkdir
from .errors import LabError
from .host import log, run

DEFAULT_KERNEL = "linux-image-cloud-amd64"


class Kernel:
    """An unpacked kernel package: vmlinuz, System.map, config and modules."""

    def __init__(self, root, package, version):
        self.root = root
        self.package = package
        self.version = version
        mods = None
        for base in ("lib/modules", "usr/lib/modules"):
            d = os.path.join(root, base)
            if os.path.isdir(d):
                rel = sorted(os.listdir(d))
                if rel:
                    mods, self.release = d, rel[0]
                    break
        if mods is None:
            raise LabError(f"{package}: no lib/modules in the package")
        self.moddir = os.path.join(mods, self.release)
        self.vmlinuz = os.path.join(root, "boot", f"vmlinuz-{self.release}")
        self.system_map = os.path.join(root, "boot", f"System.map-{self.release}")
        self.config = os.path.join(root, "boot", f"config-{self.release}")
        if not os.path.isfile(self.vmlinuz):
            raise LabError(f"{package}: no boot/vmlinuz-{self.release} in the package")


def fetch_kernel(package=DEFAULT_KERNEL):
    """The Kernel for PACKAGE (a metapackage is resolved), unpacked into the cache."""
    real, version = resolve_kernel(package)
    safe_ver = re.sub(r"[^A-Za-z0-9.+~-]", "_", version)
    root = os.path.join(CACHE, "kernel", f"{real}_{safe_ver}")
    if os.path.exists(os.path.join(root, ".complete")):
        return Kernel(root, real, version)
    with CacheLock():
        if os.path.exists(os.path.join(root, ".complete")):
            return Kernel(root, real, version)
        deb = download_deb(real, version, mkdir(os.path.join(CACHE, "debs")))
        log(f"unpacking {os.path.basename(deb)}")
        tmp = tempfile.mkdtemp(prefix=".unpack-", dir=mkdir(os.path.dirname(root)))
        try:
            run(["dpkg-deb", "-x", deb, tmp], "dpkg-deb -x")
            k = Kernel(tmp, real, version)
            if not os.path.exists(os.path.join(k.moddir, "modules.dep")):
                base = os.path.dirname(os.path.dirname(os.path.dirname(k.moddir)))
                run(["depmod", "-b", base, k.release], "depmod")
            open(os.path.join(tmp, ".complete"), "w").close()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if os.path.exists(root):
            shutil.rmtree(root)
        os.rename(tmp, root)
    return Kernel(root, real, version)
