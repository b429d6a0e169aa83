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
    for itself (--pause views, dump --pause, every snapshot mode) and after
    the GDB source (QEMU resumes a guest when a debugger detaches); trace
    refuses a paused guest; a running guest runs again after them all."""
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
        for args in commands + [("--source", "gdb", "info"), ("--source", "gdb", "ps")]:
            ctx.vmsight("-t", g.target, *args)
            if os.path.exists(out):
                os.unlink(out)
            assert _status(ctx, g) == "paused", (args, _status(ctx, g))
        # Tracing needs a running guest: it says so and leaves it paused.
        rc, _, err = ctx.vmsight("-t", g.target, "trace", "files", "--duration", "1", check=False)
        assert rc == 1 and "paused" in err, (rc, err)
        assert _status(ctx, g) == "paused"
    finally:
        with ctx.qmp(g) as q:
            q.cmd("cont")
    for args in commands + [("--source", "gdb", "info"), ("--source", "gdb", "ps")]:
        ctx.vmsight("-t", g.target, *args)
        if os.path.exists(out):
            os.unlink(out)
        assert _status(ctx, g) == "running", (args, _status(ctx, g))
    rc, text = labvm.exec(g.dir, "echo alive")
    assert rc == 0 and "alive" in text, text


def _qemu_state(ctx, g):
    with ctx.qmp(g) as q:
        status = q.cmd("query-status")["status"]
        caps = {c["capability"]: c["state"] for c in q.cmd("query-migrate-capabilities")}
        mig = q.cmd("query-migrate").get("status", "none")
    return status, caps.get("background-snapshot"), mig


def test_sigkill_at_any_point_leaves_the_guest_running(ctx):
    """vmsight killed outright (SIGKILL: no handler runs) at random points of
    every snapshot mode and of dump: within seconds the guest runs, the
    background-snapshot capability is off again, no migration is left
    active, and no partial file is left behind or taken for a whole one
    (before: a killed background snapshot froze the guest, a killed pause
    snapshot left it paused, --shm left /dev/shm/NAME)."""
    import random
    import signal
    import subprocess
    import time
    g = ctx.guest("small")
    rnd = random.Random(1234)
    runs = [("snapshot", "--mode", "pause"), ("snapshot", "--mode", "background"), ("dump", "--pause"),
            ("dump", "--format", "raw")]
    for args in runs:
        for attempt in range(3):
            shm = attempt == 2 and args[0] == "snapshot"
            name = f"vmsight-test-kill-{os.getpid()}-{attempt}"
            path = f"/dev/shm/{name}" if shm else os.path.join(ctx.tmp, "killed.out")
            out = ("--shm", name) if shm else ("-o", path)
            p = subprocess.Popen([ctx.vmsight_bin, "-t", g.target, *args, *out],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.05, 1.5))
            if p.poll() is not None:  # it finished first: a whole file, taken as one
                assert p.returncode == 0, (args, p.returncode)
                ctx.vmsight("-t", "dump:" + path, "info")
                os.unlink(path)
                continue
            p.send_signal(signal.SIGKILL)
            p.wait()
            # The guardians act once they see vmsight gone: the guest resumed,
            # the temporary file removed, within a few seconds.
            def leftovers():
                return [f for f in os.listdir(os.path.dirname(path)) if f.startswith(os.path.basename(path))]
            deadline = time.monotonic() + 20
            while True:
                state = _qemu_state(ctx, g)
                ok = state[0] == "running" and state[1] is False and state[2] in ("none", "completed", "failed",
                                                                                   "cancelled")
                if ok and not leftovers() or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert ok, (args, attempt, state)
            if os.path.exists(path):
                # Killed after the file was complete and renamed into place
                # (while resuming the guest or closing): a whole file, taken
                # as one; a partial one never has the name.
                ctx.vmsight("-t", "dump:" + path, "info")
                os.unlink(path)
            assert not leftovers(), (args, attempt, leftovers())
    rc, text = labvm.exec(g.dir, "echo alive; sync")
    assert rc == 0 and "alive" in text, text


def test_maps_under_fork_churn(ctx):
    """maps of every process while the guest forks and exits processes
    without pause: every run ends with status 0, every record is whole (no
    made-up 'unreadable' area, areas of a process ascend without overlap:
    a map torn by the churn is read again, or left out and counted); with
    the guest paused nothing is unreadable at all and a long-lived process's
    map equals the guest's own /proc/PID/maps."""
    import json
    import time
    g = ctx.guest("small")
    churn = "while :; do for i in 1 2 3 4 5 6 7 8; do (sleep 0.0$i; true) & done; wait; done"
    rc, out = labvm.exec(g.dir, f"nohup sh -c '{churn}' >/dev/null 2>&1 & echo $! > /tmp/vms-churn.pid")
    assert rc == 0, out
    ctx.on_cleanup(lambda: labvm.exec(g.dir, "kill $(cat /tmp/vms-churn.pid)"))
    time.sleep(1)

    def check(rows, paused):
        by_pid = {}
        for r in rows:
            assert not r.get("unreadable"), ("a made-up area", r)
            by_pid.setdefault(r["pid"], []).append(r)
        for pid, areas in by_pid.items():
            starts = [int(a["start"], 16) for a in areas if a["path"] != "[vsyscall]"]
            ends = [int(a["end"], 16) for a in areas if a["path"] != "[vsyscall]"]
            assert all(s < e for s, e in zip(starts, ends)), pid
            assert all(ends[i] <= starts[i + 1] for i in range(len(starts) - 1)), ("overlap", pid)
        return by_pid

    for _ in range(15):
        rc, out, err = ctx.vmsight("--json", "-t", g.target, "maps")
        check([json.loads(l) for l in out.splitlines()], False)
    with ctx.paused(g):
        rc, out, err = ctx.vmsight("--json", "-t", g.target, "maps")
        assert "unreadable" not in err, err
        by_pid = check([json.loads(l) for l in out.splitlines()], True)
        _, text, _ = ctx.vmsight("-t", g.target, "maps", "1")
    rc, want = labvm.exec(g.dir, "cat /proc/1/maps")
    assert rc == 0 and text.split() == want.split(), (text, want)
    assert 1 in by_pid
