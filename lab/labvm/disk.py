"""The guest's data disk: a small ext4 image mounted at /data.

Rebuilt on every start, because the guest writes to it. It gives the file
views a real block-device file system (the initramfs is tmpfs) and holds
mapped.bin, whose 4 KiB pages each start with their own index, so a test
reading a page of a mapping can tell which page it got.
"""

import os
import tempfile

from .host import run

DATA_DISK_MIB = 64


def build_data_disk(path):
    """A fresh ext4 image for /data (per run: the guest writes to it)."""
    with tempfile.TemporaryDirectory(prefix="vmsight-data-") as src:
        with open(os.path.join(src, "README"), "w") as f:
            f.write("vmsight lab data disk (ext4 on virtio-blk, mounted at /data)\n")
        # Every 4 KiB page starts with its own index, so a test reading a
        # page of the mapping can tell which page it got.
        with open(os.path.join(src, "mapped.bin"), "wb") as f:
            for page in range(16):
                head = b"vmsight-mapped-page-%02d\n" % page
                f.write(head + bytes((page + i) & 0xFF for i in range(4096 - len(head))))
        if os.path.exists(path):
            os.unlink(path)
        with open(path, "wb") as f:
            f.truncate(DATA_DISK_MIB << 20)
        run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "vmsdata", "-E", "root_owner=0:0",
             "-d", src, path], "mke2fs")
