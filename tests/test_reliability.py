"""What vmsight must never do to the user: lose a file they had, or leave a
guest in a state other than the one it found it in.

Ground truth: the file system (stat, content) and QEMU's own answer to
query-status on the lab's QMP socket.
"""

import os
import stat

import labvm


def _status(ctx, g):
    with ctx.qmp(g) as q:
        return q.cmd("query-status")["status"]


def test_output_files_are_never_lost(ctx):
    """dump -o, snapshot -o and profile --isf: what is not a regular file (a
    character device, a FIFO, a symbolic link to one) is refused and left as
    it was (as root, `dump -o /dev/full` used to delete /dev/full); an existing
    regular file is replaced only by a complete one, and kept when the command
    fails."""
    g = ctx.guest("small")
    fifo = os.path.join(ctx.tmp, "fifo")
    os.mkfifo(fifo)
    link = os.path.join(ctx.tmp, "link")
    os.symlink("/dev/full", link)
    keep = os.path.join(ctx.tmp, "keep.bin")
    with open(keep, "wb") as f:
        f.write(b"the user's own data\n")
    cases = [("/dev/full", stat.S_ISCHR), (fifo, stat.S_ISFIFO), (link, stat.S_ISLNK)]
    for path, kind in cases:
        before = os.lstat(path)
        for args in (("dump", "-o", path), ("snapshot", "-o", path), ("profile", "--isf", path)):
            rc, out, err = ctx.vmsight("-t", g.target, *args, check=False)
            assert rc == 1 and ("not" in err or "link" in err), (args, rc, err)
            after = os.lstat(path)
            assert kind(after.st_mode) and (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev), \
                (args, path, "changed or removed")
    # A failing command keeps the existing file: a dump of a target that does not exist...
    rc, _, err = ctx.vmsight("-t", "qmp:" + os.path.join(ctx.tmp, "nothing.sock"), "dump", "-o", keep, check=False)
    assert rc == 1, err
    # ...and a raw dump whose write fails half way (a full file system) keeps it too.
    small_fs = os.path.join(ctx.tmp, "smallfs")
    os.mkdir(small_fs)
    mounted = os.system(f"mount -t tmpfs -o size=4m none {small_fs}") == 0
    try:
        if mounted:
            target_file = os.path.join(small_fs, "dump.raw")
            with open(target_file, "wb") as f:
                f.write(b"old content\n")
            rc, _, err = ctx.vmsight("-t", g.target, "dump", "--format", "raw", "-o", target_file, check=False)
            assert rc == 1 and err.strip(), (rc, err)
            assert open(target_file, "rb").read() == b"old content\n"
            assert os.listdir(small_fs) == ["dump.raw"], os.listdir(small_fs)
    finally:
        if mounted:
            os.system(f"umount {small_fs}")
    assert open(keep, "rb").read() == b"the user's own data\n"
    # Success replaces it with the complete new file.
    ctx.vmsight("-t", g.target, "profile", "--isf", keep)
    assert open(keep, "rb").read(1) == b"{"


def test_a_paused_guest_stays_paused(ctx):
    """A guest someone else paused is paused after every command that pauses
    for itself (--pause views, dump --pause, every snapshot mode), and a
    running guest runs again after them."""
    g = ctx.guest("small")
    out = os.path.join(ctx.tmp, "s.elf")
    commands = [
        ("ps", "--pause"), ("lsof", "--pause"), ("maps", "1", "--pause"), ("dmesg", "--pause"),
        ("lsmod", "--pause"), ("dump", "--pause", "-o", out), ("snapshot", "--mode", "pause", "-o", out),
        ("snapshot", "--mode", "background", "-o", out), ("snapshot", "--mode", "live", "-o", out),
    ]
    with ctx.qmp(g) as q:
        q.cmd("stop")
    try:
        for args in commands:
            ctx.vmsight("-t", g.target, *args)
            if os.path.exists(out):
                os.unlink(out)
            assert _status(ctx, g) == "paused", (args, _status(ctx, g))
    finally:
        with ctx.qmp(g) as q:
            q.cmd("cont")
    for args in commands:
        ctx.vmsight("-t", g.target, *args)
        if os.path.exists(out):
            os.unlink(out)
        assert _status(ctx, g) == "running", (args, _status(ctx, g))
    rc, text = labvm.exec(g.dir, "echo alive")
    assert rc == 0 and "alive" in text, text
