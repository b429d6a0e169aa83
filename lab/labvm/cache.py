"""The build cache (lab/cache/, or $VMSIGHT_LAB_CACHE) and its lock.

Everything slow to build (kernel extraction, workload and agent binaries,
initramfs) is kept here under a name derived from a hash of its inputs, so a
second start only pays for booting. Builders check for their output, then
take the lock and check again: concurrent lab processes (parallel test runs,
several people on one machine) never build the same thing twice or see a
half-written file, because every output is written under a temporary name
and renamed into place."""

import fcntl
import hashlib
import os

LAB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUEST_SRC = os.path.join(LAB, "guest")
CACHE = os.environ.get("VMSIGHT_LAB_CACHE", os.path.join(LAB, "cache"))

# Bump when the layout of cached artefacts changes.
CACHE_FORMAT = "1"


class CacheLock:
    """Serialises cache builds between concurrent lab processes."""

    def __enter__(self):
        os.makedirs(CACHE, exist_ok=True)
        self.f = open(os.path.join(CACHE, ".lock"), "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.f.close()


def mkdir(path):
    os.makedirs(path, exist_ok=True)
    return path


def sha256_file(path):
    """Hex digest of a file: what cache keys are made of."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
