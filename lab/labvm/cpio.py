"""A writer for the "newc" cpio format the kernel unpacks as its initramfs.

Written by hand so the archive needs no staging tree and no root-owned
device nodes on the host, and is byte-for-byte reproducible (every mtime
is 0, inode numbers are handed out in order), which keeps cache keys honest.
"""

import os
import stat


class Cpio:
    """Collects entries in memory; finish() returns the whole archive."""

    def __init__(self):
        self.parts = []
        self.ino = 1000
        self.seen_dirs = set()

    def _entry(self, name, mode, data=b"", nlink=1, ino=None, rdev=(0, 0)):
        if ino is None:
            self.ino += 1
            ino = self.ino
        namez = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(namez), 0]
        hdr = b"070701" + b"".join(b"%08X" % v for v in fields)
        self.parts.append(hdr + namez + b"\0" * (-(len(hdr) + len(namez)) % 4))
        self.parts.append(data + b"\0" * (-len(data) % 4))

    def dir(self, name):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.seen_dirs:
                self.seen_dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name, data, mode=0o644):
        self.dir(os.path.dirname(name))
        self._entry(name, stat.S_IFREG | mode, data)

    def hardlinks(self, names, data, mode=0o755):
        # The kernel links later entries with the same inode to the first
        # one, so the data goes with the first entry only.
        self.ino += 1
        for i, name in enumerate(names):
            self.dir(os.path.dirname(name))
            self._entry(name, stat.S_IFREG | mode, data if i == 0 else b"",
                        nlink=len(names), ino=self.ino)

    def symlink(self, name, target):
        self.dir(os.path.dirname(name))
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self.dir(os.path.dirname(name))
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0, nlink=1, ino=0)
        return b"".join(self.parts)
