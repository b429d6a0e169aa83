"""Linux views — ps, lsmod, lsof, maps, dmesg — against the guest's own /proc.

Ground truth, never from vmsight:
- DIR/truth/ (printed by the guest on its console at boot): threads.json,
  ps.txt, modules.txt, maps-PID.txt, fd-PID.txt, fdinfo-PID.txt, dmesg.txt
  of the workload processes, which do not change after boot;
- for what does change (kernel workers come and go, `lab/vm exec` itself
  starts processes), a fresh listing of /proc taken in the guest through
  `lab/vm exec` right before and right after vmsight looks at the paused
  guest: a process present in both listings must be in vmsight's with the
  same ids, name, command line and threads; whatever vmsight reports must be
  in one of the listings or be one of the exec machinery's own short-lived
  processes (a descendant of vms-execd) or a kernel worker.

The guests are the harness's: "small" (4-level paging), "big" (5-level,
2 vCPUs) and "generic" (the other Debian kernel flavour, other layouts), all
Debian's 6.1, and "k612" (Debian's 6.12: modules in mem[], kernel threads
and workqueue workers named past the 15 bytes of comm).
"""

import json
import os
import re
import struct

import labvm

# The guest's own view of every process, in the format of truth/threads.txt
# (but newlines in command lines as spaces too) plus each /proc/PID/stat line.
LISTING = r"""
for d in /proc/[0-9]*; do
	[ -r "$d/status" ] || continue
	echo "process ${d#/proc/}"
	while IFS= read -r l; do
		case "$l" in Name:* | Pid:* | PPid:* | Tgid:* | Uid:* | Gid:*) echo "$l" ;; esac
	done < "$d/status"
	c=$(tr '\000\n' '  ' < "$d/cmdline")
	echo "cmdline ${c% }"
	read -r s < "$d/stat" && echo "stat $s"
	for t in "$d"/task/[0-9]*; do
		read -r comm < "$t/comm" && echo "thread ${t##*/} $comm"
	done
	echo end
done 2>/dev/null
"""


def parse_listing(text):
    """LISTING's output (or threads.txt) -> {pid: {name, ppid, tgid, uid, gid, cmdline, threads, start}}."""
    procs, cur = {}, None
    for line in text.splitlines():
        if line.startswith("process "):
            cur = {"pid": int(line.split()[1]), "threads": {}}
        elif cur is None:
            continue
        elif line == "end":
            if "name" in cur and "ppid" in cur:
                procs[cur["pid"]] = cur
            cur = None
        elif line.startswith("cmdline"):
            cur["cmdline"] = line[8:]
        elif line.startswith("stat "):
            rest = line[line.rindex(")") + 2:].split()
            cur["start"] = int(rest[19])
        elif line.startswith("thread "):
            _, tid, comm = (line.split(" ", 2) + [""])[:3]
            cur["threads"][int(tid)] = comm
        elif ":" in line:
            key, val = line.split(":", 1)
            val = val.strip()
            if key == "Name":
                cur["name"] = val
            elif key in ("PPid", "Tgid"):
                cur[key.lower()] = int(val)
            elif key in ("Uid", "Gid"):
                cur[key.lower()] = [int(x) for x in val.split()]
    return procs


def guest_listing(g, timeout=120):
    rc, out = labvm.exec(g.dir, LISTING, timeout=timeout)
    assert rc == 0, out
    return parse_listing(out)


# A pool worker's id, before its latest work ("kworker/u4:1" of "kworker/u4:1-events").
WORKER_ID = re.compile(r"kworker/u?\d+:\d+H?")


def same_name(o, theirs):
    """vmsight's name for task O is the one /proc/PID/status shows (THEIRS),
    but a pool worker's carries its latest work queue ("kworker/0:1-events"),
    which may change between the listing and vmsight's look: then the
    worker's id must be the same."""
    if o["name"] == theirs:
        return True
    m = WORKER_ID.match(o["name"])
    if not o["kthread"] or not m:
        return False
    n = len(m.group(0))
    return theirs[:n] == m.group(0) and theirs[n:n + 1] in ("", "+", "-") and o["name"][n:n + 1] in ("", "+", "-")


def vmsight_ps(ctx, g, *extra):
    rows = ctx.vmsight_json("-t", g.target, "ps", "-T", *extra)
    procs = {}
    for r in rows:
        assert not r.get("unreadable"), r
        assert r["state"] in "RSDTtXZPI", r
        if not r["thread"]:
            assert r["pid"] == r["tgid"] and r["pid"] not in procs, r
            procs[r["pid"]] = dict(r, tasks={r["pid"]: r})
        else:
            assert r["tgid"] in procs, r
            procs[r["tgid"]]["tasks"][r["pid"]] = r
    return procs


def transient(ours, pid):
    """A process the exec machinery started (a descendant of vms-execd, or
    the watchdog half of its busybox `timeout`, which outlives the command by
    up to a second as a child of init), or a kernel worker."""
    p = ours[pid]
    if p["kthread"] and p["comm"].startswith("kworker/"):
        return True
    if p["comm"] == "timeout" and p["cmdline"].startswith("timeout -s KILL "):
        return True
    for _ in range(64):
        if p["comm"] == "vms-execd":
            return True
        if p["ppid"] not in ours:
            return False
        p = ours[p["ppid"]]
    return False


def check_ps(ctx, g, before, ours, after):
    """OURS (vmsight, guest paused) against the guest's listings BEFORE and AFTER."""
    stable = [pid for pid in before if pid in after and before[pid]["ppid"] == after[pid]["ppid"]]
    for pid in stable:
        b = before[pid]
        assert pid in ours, f"{g.dir}: process {pid} ({b['name']}) is missing"
        o = ours[pid]
        assert same_name(o, b["name"]), (pid, o["name"], b["name"])
        assert (o["ppid"], o["tgid"]) == (b["ppid"], b["tgid"]), (pid, o, b)
        assert [o["uid"], o["euid"], o["suid"], o["fsuid"]] == b["uid"], (pid, o, b)
        assert [o["gid"], o["egid"], o["sgid"], o["fsgid"]] == b["gid"], (pid, o, b)
        if o["kthread"]:
            assert b["cmdline"] == "" and o["cmdline"] == "", (pid, o, b)
        else:
            assert o["cmdline"].replace("\n", " ") == b["cmdline"], (pid, o["cmdline"], b["cmdline"])
        if "start" in b:
            assert o["start_ns"] // 10_000_000 == b["start"], (pid, o["start_ns"], b["start"])
        # Threads in both listings are in ours; those that kept their name, by that name.
        for tid, comm in b["threads"].items():
            if tid in after[pid]["threads"]:
                assert tid in o["tasks"], (pid, tid, comm, sorted(o["tasks"]))
                if after[pid]["threads"][tid] == comm:
                    assert same_name(o["tasks"][tid], comm), (pid, tid, comm, o["tasks"][tid])
        for tid in o["tasks"]:
            assert tid in b["threads"] or tid in after[pid]["threads"], (pid, tid)
        assert o["threads"] == len(o["tasks"]), (pid, o["threads"], o["tasks"])
    for pid in ours:
        assert pid in before or pid in after or transient(ours, pid), (pid, ours[pid])
    return len(stable), sum(len(before[p]["threads"]) for p in stable)


def test_ps_equals_proc(ctx):
    """Every process and thread of the guest, as its own /proc lists them
    (pid, ppid, tgid, uids, gids, name, command line, start time, threads),
    on 4- and 5-level paging, both kernel flavours and both kernel series;
    kernel threads by the whole name /proc/PID/status shows (6.12's
    "kworker/R-kvfree_rcu_reclaim", "rcu_tasks_trace_kthread"), not the
    15 bytes of their comm."""
    counts, long_names = [], {}
    for name in ("small", "big", "generic", "k612"):
        g = ctx.guest(name)
        before = guest_listing(g)
        with ctx.paused(g):
            ours = vmsight_ps(ctx, g)
        after = guest_listing(g)
        counts.append(check_ps(ctx, g, before, ours, after))
        # Names longer than comm holds, the same in both listings: whole
        # (a pool worker's latest work may change in between).
        long = [p for p in before if p in after and p in ours and len(before[p]["name"]) > 15
                and before[p]["name"] == after[p]["name"]]
        for p in long:
            assert same_name(ours[p], before[p]["name"]), (name, p, ours[p]["name"], before[p]["name"])
        long_names[name] = len(long)
        if name == "k612":
            rescuers = [p for p in long if before[p]["name"].startswith("kworker/R-")]
            assert len(rescuers) >= 5 and len(long) > len(rescuers), (long, rescuers)
        # The boot-time truth of the workload, which never changes.
        truth = {p["pid"]: p for p in json.load(open(os.path.join(g.truth_dir, "threads.json")))}
        with open(os.path.join(g.truth_dir, "workload.txt")) as f:
            workload = [int(l.split()[0]) for l in f if l.strip()]
        for pid in workload:
            t, o = truth[pid], ours[pid]
            assert (o["comm"], o["cmdline"], o["ppid"]) == (t["name"], t["cmdline"], t["ppid"]), (o, t)
            assert {k: v["name"] for k, v in o["tasks"].items()} == {x["tid"]: x["comm"] for x in t["threads"]}, \
                (o["tasks"], t["threads"])
        # ps.txt: the same pid, ppid and name for every process still there.
        with open(os.path.join(g.truth_dir, "ps.txt")) as f:
            for line in list(f)[1:]:
                pid, ppid, _user, comm = line.split(None, 4)[:4]
                if int(pid) in before and int(pid) in ours:
                    assert ours[int(pid)]["ppid"] == int(ppid), line
                    assert ours[int(pid)]["name"].startswith(comm[:15]) or same_name(ours[int(pid)], comm), line
    assert all(p >= 40 for p, _ in counts), counts
    print(f"     (processes, threads compared: {counts}; names longer than 15 bytes: {long_names})")


SPAWN = """
rm -f /tmp/vms-scale.pids
i=0
while [ $i -lt {procs} ]; do
	vms-sleeper --interval 3600 scale-$i </dev/null >/dev/null 2>&1 3>&- &
	echo $! >> /tmp/vms-scale.pids
	i=$((i + 1))
done
i=0
while [ $i -lt {groups} ]; do
	vms-threads --threads 63 </dev/null >/dev/null 2>&1 3>&- &
	echo $! >> /tmp/vms-scale.pids
	i=$((i + 1))
done
"""

STOP = "kill $(cat /tmp/vms-scale.pids) 2>/dev/null; while [ -n \"$(for p in $(cat /tmp/vms-scale.pids); do [ -d /proc/$p ] && echo $p; done)\" ]; do usleep 100000; done; rm -f /tmp/vms-scale.pids"


def check_ps_at_scale(ctx, name):
    """300 more processes and 32 x 64 more threads in guest NAME: every one
    in vmsight's ps -T (guest paused) as the guest's own /proc lists them
    right before and right after; lsof of the whole guest reads cleanly."""
    g = ctx.guest(name)
    rc, out = labvm.exec(g.dir, SPAWN.format(procs=300, groups=32), timeout=120)
    assert rc == 0, out
    ctx.on_cleanup(lambda: labvm.exec(g.dir, STOP, timeout=120))
    for _ in range(60):  # until every thread has started and named itself
        before = guest_listing(g)
        workers = [c for p in before.values() if p["cmdline"] == "vms-threads --threads 63"
                   for t, c in p["threads"].items() if t != p["pid"]]
        if len(workers) >= 32 * 63 and all(c.startswith("vms-worker-") for c in workers):
            break
    with ctx.paused(g):
        ours = vmsight_ps(ctx, g)
        every = ctx.vmsight_json("-t", g.target, "lsof")
    after = guest_listing(g)
    procs, threads = check_ps(ctx, g, before, ours, after)
    assert procs >= 300 + 32 and threads >= 300 + 32 * 64, (procs, threads)
    assert not [f for f in every if f.get("unreadable")]
    # Each spawned process holds /dev/null as its fds 0, 1 and 2.
    spawned = {p for p, o in ours.items() if o["cmdline"].startswith("vms-sleeper --interval 3600 scale-")}
    assert len(spawned) == 300, len(spawned)
    fds = {}
    for f in every:
        if f["pid"] in spawned:
            fds.setdefault(f["pid"], []).append((f["fd"], f["path"]))
    assert all(fds.get(p) == [(0, "/dev/null"), (1, "/dev/null"), (2, "/dev/null")] for p in spawned), \
        next((p, fds.get(p)) for p in spawned if fds.get(p) != [(0, "/dev/null"), (1, "/dev/null"), (2, "/dev/null")])
    print(f"     ({name}: {procs} processes and {threads} threads compared)")


def test_ps_at_scale_4level(ctx):
    check_ps_at_scale(ctx, "small")


def test_ps_at_scale_5level(ctx):
    check_ps_at_scale(ctx, "big")

def test_ps_modes_and_pause(ctx):
    """Text and --tree output, --pid, and --pause: the guest is paused for
    the walk and running after; a guest someone else paused stays paused."""
    g = ctx.guest("small")
    _, text, _ = ctx.vmsight("-t", g.target, "ps")
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["PID", "PPID", "UID"], lines[0]
    with open(os.path.join(g.truth_dir, "workload.txt")) as f:
        workload = {int(l.split()[0]): l.split()[1] for l in f if l.strip()}
    threads_pid = next(p for p, n in workload.items() if n == "vms-threads")
    row = next(l for l in lines[1:] if l.split()[0] == str(threads_pid))
    assert "vms-threads --threads 4" in row and row.split()[6] == "5", row
    assert any(re.search(r"\s\[kthreadd\]$", l) for l in lines), "kernel threads in brackets"
    # --tree: the workload under init, indented.
    _, tree, _ = ctx.vmsight("-t", g.target, "ps", "--tree")
    assert re.search(rf"^\s+{threads_pid}\s.*\\_ vms-threads --threads 4$", tree, re.M), tree
    # --pid, -T, --pause.
    with ctx.qmp(g) as q:
        assert q.cmd("query-status")["running"]
    rows = ctx.vmsight_json("-t", g.target, "ps", "-T", "--pid", threads_pid, "--pause")
    assert [r["pid"] for r in rows][0] == threads_pid and len(rows) == 5, rows
    assert {r["comm"] for r in rows[1:]} == {f"vms-worker-{i}" for i in range(1, 5)}, rows
    with ctx.qmp(g) as q:
        assert q.cmd("query-status")["running"], "--pause left the guest paused"
    with ctx.paused(g):
        ctx.vmsight("-t", g.target, "ps", "--pause", "--pid", 1)
        with ctx.qmp(g) as q:
            assert not q.cmd("query-status")["running"], "--pause resumed a guest paused by someone else"
    rc, _, err = ctx.vmsight("-t", g.target, "ps", "--pid", 999999, check=False)
    assert rc == 1 and "no process 999999" in err, err


class GuestMemory:
    """Edits a paused guest's kernel memory through its RAM file (the test's
    way to play a rootkit): addresses translate with vmsight, the bytes at
    the physical address are checked against QEMU's own view (pmemsave)
    before anything is written, and every write is undone by restore()."""

    def __init__(self, ctx, g):
        self.ctx, self.g = ctx, g
        self.cr3 = int(ctx.vmsight_json("-t", g.target, "kernel")[0]["cr3"], 16)
        self.low = int(ctx.vmsight_json("-t", g.target, "info")[0]["ram_ranges"][0]["end"], 16) + 1
        self.undo = []

    def pa(self, va):
        t = self.ctx.vmsight_json("-t", self.g.target, "translate", "--cr3", hex(self.cr3), hex(va))[0]
        pa = int(t["pa"], 16)
        assert pa + 8 <= self.low, "outside the first RAM range: file offset != physical address"
        return pa

    def read(self, va, n):
        pa = self.pa(va)
        data = self.ctx.pmemsave(self.g, pa, n)
        with open(self.g.ram_path, "rb") as f:
            f.seek(pa)
            assert f.read(n) == data, "the RAM file does not hold what QEMU reads there"
        return data

    def write(self, va, data):
        old = self.read(va, len(data))
        pa = self.pa(va)
        fd = os.open(self.g.ram_path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, pa)
        finally:
            os.close(fd)
        self.undo.append((va, old))

    def restore(self):
        while self.undo:
            va, old = self.undo.pop()
            fd = os.open(self.g.ram_path, os.O_WRONLY)
            try:
                os.pwrite(fd, old, self.pa(va))
            finally:
                os.close(fd)


def proc_modules_lines(ctx, g):
    """vmsight lsmod as /proc/modules lines (name size refs deps state address)."""
    out = []
    for m in ctx.vmsight_json("-t", g.target, "lsmod"):
        assert not m.get("unreadable") and not m["hidden"], m
        line = f"{m['name']} {m['size']} {m['refcnt']} {m['used_by'] or '-'} {m['state']} {m['base']}"
        out.append(line + (" " + m["taint"] if m["taint"] else ""))
    return out


def test_lsmod_equals_proc_modules(ctx):
    """Every module of /proc/modules with the same name, size, users, state
    and address, in the same order, on both kernel flavours and paging modes,
    and on 6.12 (the size is the sum of the module's mem[] kinds)."""
    counts = []
    for name in ("small", "big", "generic", "k612"):
        g = ctx.guest(name)
        with open(os.path.join(g.truth_dir, "modules.txt")) as f:
            truth = [l.rstrip("\n") for l in f if l.strip()]
        rc, now = labvm.exec(g.dir, "cat /proc/modules")
        assert rc == 0 and now.splitlines() == truth, "modules changed since boot"
        ours = proc_modules_lines(ctx, g)
        assert ours == truth, (name, ours, truth)
        counts.append(len(ours))
    assert counts[2] > counts[0] >= 8 and counts[3] >= 3, counts
    print(f"     (modules compared: {counts})")


def test_lsmod_finds_a_hidden_module(ctx):
    """A module unlinked from the module list (what a rootkit does, done here
    by writing to the paused guest's RAM) is found by the scan and marked
    hidden; a list pointer gone wild ends the walk with an error, not a hang
    or a crash. The guest is restored before it runs again. On 6.1 and 6.12."""
    for name in ("small", "k612"):
        check_hidden_module(ctx, ctx.guest(name))


def check_hidden_module(ctx, g):
    mods = ctx.vmsight_json("-t", g.target, "lsmod")
    dummy = next(m for m in mods if m["name"] == "dummy")
    off = ctx.vmsight_json("-t", g.target, "btf", "module", "list")[1]["offset"]
    node = int(dummy["addr"], 16) + off
    with ctx.paused(g):
        mem = GuestMemory(ctx, g)
        try:
            nxt, prv = struct.unpack("<QQ", mem.read(node, 16))
            mem.write(prv, struct.pack("<Q", nxt))          # prev->next = next
            mem.write(nxt + 8, struct.pack("<Q", prv))      # next->prev = prev
            listed = ctx.vmsight_json("-t", g.target, "lsmod", "--no-scan")
            assert "dummy" not in [m["name"] for m in listed] and len(listed) == len(mods) - 1, listed
            scanned = ctx.vmsight_json("-t", g.target, "lsmod")
            hidden = [m for m in scanned if m["hidden"]]
            assert [m["name"] for m in hidden] == ["dummy"], scanned
            assert {k: hidden[0][k] for k in ("base", "size", "addr")} == \
                {k: dummy[k] for k in ("base", "size", "addr")}, (hidden, dummy)
            _, text, _ = ctx.vmsight("-t", g.target, "lsmod")
            assert re.search(r"^dummy\s.*HIDDEN", text, re.M), text
            # A wild next pointer in the list (in the middle of RAM's direct map).
            first = int(mods[0]["addr"], 16) + off
            mem.write(first, struct.pack("<Q", 0xffff888000123440 if g.paging == 4 else 0xff11000000123440))
            rc, out, err = ctx.vmsight("-t", g.target, "lsmod", "--json", check=False)
            assert rc == 1 and "does not hold" in err, (rc, err)
            assert [json.loads(l)["name"] for l in out.splitlines()][:1] == [mods[0]["name"]], out
        finally:
            mem.restore()
    assert proc_modules_lines(ctx, g) == [l.rstrip("\n") for l in open(os.path.join(g.truth_dir, "modules.txt"))
                                          if l.strip()]


def workload(g):
    with open(os.path.join(g.truth_dir, "workload.txt")) as f:
        return {int(l.split()[0]): l.split()[1] for l in f if l.strip()}


def truth_fds(g, pid):
    """fd-PID.txt (busybox ls -l of /proc/PID/fd) and fdinfo-PID.txt ->
    {fd: {path, pos, flags, mnt_id, ino}}."""
    fds = {}
    with open(os.path.join(g.truth_dir, f"fd-{pid}.txt")) as f:
        for line in f:
            m = re.search(r" (\d+) -> (.*)$", line.rstrip("\n"))
            if m:
                fds[int(m.group(1))] = {"path": m.group(2)}
    cur = None
    with open(os.path.join(g.truth_dir, f"fdinfo-{pid}.txt")) as f:
        for line in f:
            key, _, val = line.rstrip("\n").partition(" " if line.startswith("fd ") else ":")
            if key == "fd":
                cur = fds[int(val)]
            elif key in ("pos", "mnt_id", "ino"):
                cur[key] = int(val.strip())
            elif key == "flags":
                cur[key] = int(val.strip(), 8)
    return fds


def test_lsof_equals_proc_fd(ctx):
    """The open files of the workload processes as their /proc/PID/fd links
    and fdinfo show them: path (across mount points: /data is ext4, /tmp
    tmpfs, /dev devtmpfs; deleted, pipe and socket names), position, flags
    (with O_CLOEXEC), mount id and inode; and lsof of every process holds them."""
    compared = 0
    for name in ("small", "big", "generic", "k612"):
        g = ctx.guest(name)
        every = ctx.vmsight_json("-t", g.target, "lsof")
        assert all(not f.get("unreadable") for f in every), [f for f in every if f.get("unreadable")]
        for pid in workload(g):
            truth = truth_fds(g, pid)
            ours = {f["fd"]: f for f in ctx.vmsight_json("-t", g.target, "lsof", pid)}
            assert sorted(ours) == sorted(truth), (name, pid, sorted(ours), sorted(truth))
            for fd, t in truth.items():
                o = ours[fd]
                assert o["path"] == t["path"], (name, pid, fd, o["path"], t["path"])
                assert (o["pos"], o["flags"], o["mnt_id"], o["inode"]) == \
                    (t["pos"], t["flags"], t["mnt_id"], t["ino"]), (name, pid, fd, o, t)
                assert o["deleted"] == t["path"].endswith(" (deleted)")
                compared += 1
            assert [f for f in every if f["pid"] == pid] == list(ours.values()), pid
        files = next(p for p, n in workload(g).items() if n == "vms-files")
        types = {f["fd"]: f["type"] for f in every if f["pid"] == files}
        assert (types[3], types[6], types[8], types[10]) == ("REG", "FIFO", "SOCK", "CHR"), types
    _, text, _ = ctx.vmsight("-t", g.target, "lsof", files)
    assert re.search(r"^\s*%d\s+vms-files\s+5u\s+REG\s.*/tmp/vms-files.deleted \(deleted\)$" % files, text, re.M), text
    print(f"     (open files compared: {compared})")


def test_maps_equal_proc_maps(ctx):
    """/proc/PID/maps of the workload processes (and of init, fresh), line for
    line: ranges, permissions, offsets, devices, inodes, paths, [heap],
    [stack], [vvar], [vdso] — read from the 6.1 maple tree."""
    compared = 0
    for name in ("small", "big", "generic", "k612"):
        g = ctx.guest(name)
        for pid in workload(g):
            with open(os.path.join(g.truth_dir, f"maps-{pid}.txt")) as f:
                truth = f.read()
            _, ours, _ = ctx.vmsight("-t", g.target, "maps", pid)
            assert ours == truth, (name, pid, ours, truth)
            rows = ctx.vmsight_json("-t", g.target, "maps", pid)
            assert len(rows) == len(truth.splitlines())
            for r, line in zip(rows, truth.splitlines()):
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                assert (int(r["start"], 16), int(r["end"], 16), r["perms"]) == (start, end, line.split()[1])
                assert r["path"] == (line.split(None, 5)[5] if len(line.split()) > 5 else ""), (r, line)
            compared += len(rows)
        rc, init = labvm.exec(g.dir, "cat /proc/1/maps")
        assert rc == 0
        _, ours, _ = ctx.vmsight("-t", g.target, "maps", 1)
        assert ours == init, (ours, init)
        compared += len(init.splitlines())
        # Every process's: the same lines under "PID N" headers.
        _, every, _ = ctx.vmsight("-t", g.target, "maps")
        blocks = dict((int(b.split("\n", 1)[0]), b.split("\n", 1)[1]) for b in every.split("PID ")[1:])
        assert blocks[1] == init and all(blocks[p] == open(os.path.join(g.truth_dir, f"maps-{p}.txt")).read()
                                         for p in workload(g)), sorted(blocks)
        # A kernel thread has no memory map; no such process is an error.
        _, out, _ = ctx.vmsight("-t", g.target, "maps", 2)
        assert out == ""
        rc, _, err = ctx.vmsight("-t", g.target, "maps", 999999, check=False)
        assert rc == 1 and "no process 999999" in err, err
    print(f"     (memory areas compared: {compared})")


def test_dmesg_equals_guest_dmesg(ctx):
    """The kernel log from the printk ring buffer: the guest's own messages
    (dmesg at boot, and a fresh `dmesg -r` with levels and facilities), in
    order, with their timestamps; a message the test writes to /dev/kmsg
    appears at the end."""
    for name in ("small", "big", "generic", "k612"):
        g = ctx.guest(name)
        mark = f"vmsight-dmesg-test-{os.getpid()}-{name}"
        rc, out = labvm.exec(g.dir, f"echo '<5>{mark}' > /dev/kmsg")
        assert rc == 0, out
        with ctx.paused(g):
            _, text, _ = ctx.vmsight("-t", g.target, "dmesg")
            rows = ctx.vmsight_json("-t", g.target, "dmesg")
        rc, raw = labvm.exec(g.dir, "dmesg -r")
        assert rc == 0, raw
        with open(os.path.join(g.truth_dir, "dmesg.txt")) as f:
            boot = f.read().splitlines()
        ours = text.splitlines()
        assert ours[:len(boot)] == boot, next((a, b) for a, b in zip(ours, boot) if a != b)
        # The fresh log (newer messages after) starts with ours, levels included.
        fresh = raw.splitlines()
        want = [re.sub(r"^<\d+>", "", l) for l in fresh[:len(ours)]]
        assert ours == want, next((a, b) for a, b in zip(ours, want) if a != b)
        # Levels: a record of several lines prints each with the record's level.
        levels = [r["facility"] * 8 + r["level"] for r in rows for _ in r["text"].split("\n")]
        lv = [int(re.match(r"^<(\d+)>", l).group(1)) for l in fresh[:len(levels)]]
        assert levels == lv, next((i, a, b) for i, (a, b) in enumerate(zip(levels, lv)) if a != b)
        assert rows[-1]["text"] == mark and rows[-1]["level"] == 5, rows[-1]
        seqs = [r["seq"] for r in rows]
        assert seqs == sorted(seqs), seqs
        print(f"     ({name}: {len(rows)} records, {len(boot)} boot lines compared)")


def test_layout_cache(ctx):
    """The views' layout is kept beside the profile (PROFILE.views) and used by
    the next run; a damaged file is ignored and made again, the answers the same."""
    g = ctx.guest("small")
    cache = os.path.join(ctx.tmp, "cache")
    _, cold, _ = ctx.vmsight("-t", g.target, "lsmod", "--no-scan", "--cache-dir", cache)
    views = [f for f in os.listdir(cache) if f.endswith(".vmsprof.views")]
    assert len(views) == 1, os.listdir(cache)
    path = os.path.join(cache, views[0])
    first = os.stat(path)
    _, warm, _ = ctx.vmsight("-t", g.target, "lsmod", "--no-scan", "--cache-dir", cache)
    assert warm == cold and os.stat(path).st_mtime_ns == first.st_mtime_ns, "the cached layout was not used"
    # Another group (tasks) is added to the same file.
    _, ps1, _ = ctx.vmsight("-t", g.target, "ps", "--pid", 1, "--cache-dir", cache)
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for i in range(64, len(data), 97):
            data[i] ^= 0x5a
        f.seek(0)
        f.write(data)
    _, ps2, _ = ctx.vmsight("-t", g.target, "ps", "--pid", 1, "--cache-dir", cache)
    _, again, _ = ctx.vmsight("-t", g.target, "lsmod", "--no-scan", "--cache-dir", cache)
    assert ps2 == ps1 and again == cold
    with open(path, "rb") as f:
        assert f.read() != bytes(data), "the damaged layout file was not made again"
