"""Asking apt about Debian packages: which real package a name means, and the .deb.

The lab runs stock Debian kernels. A name like linux-image-cloud-amd64 is a
metapackage; `apt-cache depends` leads to the real one
(linux-image-6.1.0-NN-cloud-amd64) and `apt-cache show` to its version.
apt-cache takes about a second, so answers are remembered in the cache until
the apt lists change. Fresh containers have empty lists: the first query
that finds nothing runs `apt-get update` once."""

import json
import os
import re
import subprocess

from .cache import CACHE, mkdir
from .errors import LabError
from .host import log, run

APT_LISTS = "/var/lib/apt/lists"

_apt_updated = False


def apt_cache(args):
    """apt-cache ARGS; refreshes empty apt lists once (fresh containers have none)."""
    global _apt_updated
    while True:
        r = subprocess.run(["apt-cache"] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout
        if _apt_updated:
            raise LabError(f"apt-cache {' '.join(args)} failed:\n{r.stderr.strip()}")
        log("apt lists look empty; running apt-get update -qq")
        run(["apt-get", "update", "-qq"], "apt-get update")
        _apt_updated = True


def resolve_kernel(package):
    """Follow metapackages (linux-image-cloud-amd64 -> linux-image-6.1.0-NN-cloud-amd64).

    Returns (real package name, candidate version). apt-cache takes about a
    second here, so answers are remembered until the apt lists change."""
    try:
        lists = os.stat(APT_LISTS).st_mtime_ns
    except OSError:
        lists = 0
    memo_path = os.path.join(CACHE, "resolved.json")
    try:
        with open(memo_path) as f:
            memo = json.load(f)
    except (OSError, ValueError):
        memo = {}
    hit = memo.get(package)
    if hit and hit.get("lists") == lists and lists:
        return hit["package"], hit["version"]
    real, version = _resolve_kernel_apt(package)
    memo[package] = {"package": real, "version": version, "lists": lists}
    mkdir(CACHE)
    tmp = f"{memo_path}.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(memo, f, indent=1)
    os.replace(tmp, memo_path)
    return real, version


def _resolve_kernel_apt(package):
    pkg = package
    for _ in range(5):
        out = apt_cache(["depends", "--no-recommends", "--no-suggests",
                         "--no-conflicts", "--no-breaks", "--no-replaces",
                         "--no-enhances", pkg])
        nxt = None
        for line in out.splitlines():
            m = re.match(r"\s*\|?Depends:\s*(linux-image-\S+)", line)
            if m and m.group(1) != pkg and not m.group(1).startswith("<"):
                nxt = m.group(1)
                break
        if nxt is None:
            break
        pkg = nxt
    else:
        raise LabError(f"cannot resolve kernel package {package}: dependency loop")
    show = apt_cache(["show", "--no-all-versions", pkg])
    m = re.search(r"^Version:\s*(\S+)", show, re.M)
    if not m:
        raise LabError(f"apt-cache show {pkg}: no Version field")
    return pkg, m.group(1)


def download_deb(package, version, debs):
    """The .deb of PACKAGE=VERSION in directory DEBS, downloaded unless already there."""
    # apt-get download names files PKG_VERSION_ARCH.deb, epoch colon as %3a.
    prefix = f"{package}_{version.replace(':', '%3a')}_"

    def present():
        return [f for f in os.listdir(debs) if f.startswith(prefix) and f.endswith(".deb")]

    deb = present()
    if not deb:
        log(f"downloading {package} {version}")
        run(["apt-get", "download", f"{package}={version}"], "apt-get download", cwd=debs)
        deb = present()
        if not deb:
            raise LabError(f"apt-get download {package}={version}: no {prefix}*.deb in {debs}")
    return os.path.join(debs, deb[0])
