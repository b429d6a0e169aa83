"""The lab's own ground truth: the process listing stays right while processes come and go.

The guest lists its processes (lab/guest/truth-threads) while other
processes start and end, at boot and every time a test takes a fresh
listing through `lab/vm exec`. A process or thread that vanishes between
the directory listing and the read of its files must be left out, never
printed in part (a process that exited while its task/ was globbed once
left `thread [0-9]* ...` behind and failed `make demo`), and the host's
parser must accept whatever a vanished entry can leave while refusing
malformed text with a LabError, never a traceback.

Checked three ways: the guest script itself on a made-up /proc tree run by
the host's busybox (each way an entry can vanish, deterministically); the
parser on such traces and on malformed listings; and a real guest
listed again and again under a storm of short-lived processes and threads,
its long-lived processes compared with the guest's own /proc read directly.
"""

import os
import shutil
import subprocess
import tempfile

import labvm

SCRIPT = os.path.join(labvm.GUEST_SRC, "truth-threads")

STATUS = "Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t1\n" \
         "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThreads:\t1\n"


def _fake_proc(root, pid, name=None, cmdline=None, tasks=()):
    """A /proc/PID the way it looks at some instant: files only where given."""
    d = os.path.join(root, str(pid))
    os.makedirs(d)
    if name is not None:
        with open(os.path.join(d, "status"), "w") as f:
            f.write(STATUS.format(name=name, pid=pid))
    if cmdline is not None:
        with open(os.path.join(d, "cmdline"), "wb") as f:
            f.write(cmdline)
    for tid, comm in tasks:
        os.makedirs(os.path.join(d, "task", str(tid)))
        if comm is not None:
            with open(os.path.join(d, "task", str(tid), "comm"), "w") as f:
                f.write(comm + "\n")


def test_lab_truth_script_skips_vanished(ctx):
    """vms-truth-threads on a made-up tree holding every half-gone state: only whole entries come out."""
    root = tempfile.mkdtemp(dir=ctx.tmp)
    _fake_proc(root, 1, "init", b"/bin/sh\0/init\0", [(1, "init")])
    _fake_proc(root, 20)                                             # gone before its status was read
    _fake_proc(root, 21, "gone", b"")                                # task/ gone: the glob stays literal
    _fake_proc(root, 22, "gone", b"", [(22, None)])                  # its only thread gone
    _fake_proc(root, 30, "multi", b"multi\0line\none\0", [(30, "multi"), (31, None), (32, "worker")])
    r = subprocess.run([labvm.BUSYBOX, "sh", SCRIPT, root], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", (r.returncode, r.stderr)
    assert "[0-9]" not in r.stdout, r.stdout
    procs = labvm.parse_threads_text(r.stdout, "fake")
    assert [p["pid"] for p in procs] == [1, 30], r.stdout
    assert procs[0] == {"pid": 1, "ppid": 1, "tgid": 1, "name": "init", "uid": [0] * 4, "gid": [0] * 4,
                        "cmdline": "/bin/sh /init", "threads": [{"tid": 1, "comm": "init"}]}, procs[0]
    # A newline in argv must not start a line of its own in the listing.
    assert procs[1]["cmdline"] == "multi line one", procs[1]
    assert procs[1]["threads"] == [{"tid": 30, "comm": "multi"}, {"tid": 32, "comm": "worker"}], procs[1]
    shutil.rmtree(root)


GOOD = "process 7\nName:\tsh\nTgid:\t7\nPid:\t7\nPPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n" \
       "cmdline sh -c x\nthread 7 sh\nend\n"


def test_lab_truth_parser_vanished_and_malformed(ctx):
    """The parser drops what an earlier listing left of vanished processes and names the line of real damage."""
    # What the listing printed before it skipped vanished entries: the literal
    # glob of a vanished task/ (the `make demo` failure), a block without status.
    gone_task = GOOD.replace("7", "8").replace("thread 8 sh", "thread [0-9]* sh")
    no_status = "process 9\ncmdline \nend\n"
    procs = labvm.parse_threads_text(GOOD + gone_task + no_status + GOOD.replace("7", "10"), "old")
    assert [p["pid"] for p in procs] == [7, 10], procs
    malformed = {
        "Pid is not a number": GOOD.replace("Pid:\t7", "Pid:\tx"),
        "thread id is not a number": GOOD.replace("thread 7", "thread 7a"),
        "line outside a process block": "garbage\n" + GOOD,
        "truncated": GOOD[:-4],
        "has no end line": GOOD[:-4] + GOOD,
        "listed twice": GOOD + GOOD,
        "status lines missing: uid": GOOD.replace("Uid:\t0\t0\t0\t0\n", ""),
        "needs 4 ids": GOOD.replace("Gid:\t0\t0\t0\t0", "Gid:\t0\t0"),
        "unexpected status line": GOOD.replace("cmdline sh -c x", "State:\tR"),
        "process 7: status says Pid 6": GOOD.replace("Pid:\t7", "Pid:\t6"),
    }
    for why, text in malformed.items():
        try:
            labvm.parse_threads_text(text, "bad.txt")
        except labvm.LabError as e:
            assert str(e).startswith("bad.txt:") and why in str(e), (why, str(e))
        else:
            raise AssertionError(f"accepted a listing that is malformed ({why}):\n{text}")


# Short-lived processes and threads, until /tmp/vms-churn.stop appears (at
# most 10 minutes): sleepers living 0-3 s, so some die while the listing is
# at them, forked subshells, and a 3-thread vms-threads killed after 0-0.3 s,
# so whole thread groups vanish as well. On one vCPU this made the listing
# /init used to print leave a literal `thread [0-9]*` about once in six.
CHURN = r"""
rm -f /tmp/vms-churn.stop
(
	end=$(( $(date +%s) + 600 ))
	while [ ! -e /tmp/vms-churn.stop ] && [ "$(date +%s)" -lt $end ]; do
		for i in 1 2 3 4 5 6 7 8; do usleep $((RANDOM * 100)) & done
		for i in 1 2 3 4; do true & done
		vms-threads --threads 3 & t=$!
		usleep $((RANDOM * 10))
		kill $t
		usleep 100000
	done
) </dev/null >/dev/null 2>&1 &
echo $!
"""

CHURN_STOP = "touch /tmp/vms-churn.stop; while [ -d /proc/{pid} ]; do usleep 50000; done; rm -f /tmp/vms-churn.stop"

# The guest's /proc for given pids, read directly (not through the listing script).
PROC_DIRECT = r"""
for p in {pids}; do
	echo "== $p"
	cat /proc/$p/status
	echo "== cmdline"
	tr '\000' '\n' < /proc/$p/cmdline
	for t in /proc/$p/task/*; do echo "== task ${{t##*/}} $(cat $t/comm)"; done
done
"""


def _proc_direct(g, pids):
    """{pid: {name, ppid, uid, gid, cmdline, threads}} from PROC_DIRECT's output."""
    rc, out = labvm.exec(g.dir, PROC_DIRECT.format(pids=" ".join(map(str, pids))), timeout=60)
    assert rc == 0, out
    procs, cur, part = {}, None, None
    for line in out.splitlines():
        if line.startswith("== task "):
            _, _, tid, comm = line.split(" ", 3)
            cur["threads"].append({"tid": int(tid), "comm": comm})
        elif line == "== cmdline":
            part = "cmdline"
        elif line.startswith("== "):
            cur = procs.setdefault(int(line[3:]), {"args": [], "threads": []})
            part = "status"
        elif part == "cmdline":
            cur["args"].append(line)
        else:
            key, _, val = line.partition(":")
            if key in ("Name", "PPid", "Uid", "Gid"):
                cur[key.lower()] = val.strip() if key == "Name" else \
                    int(val) if key == "PPid" else [int(x) for x in val.split()]
    return {pid: {"name": p["name"], "ppid": p["ppid"], "uid": p["uid"], "gid": p["gid"],
                  "cmdline": " ".join(p["args"]), "threads": sorted(p["threads"], key=lambda t: t["tid"])}
            for pid, p in procs.items()}


def test_lab_truth_under_process_churn(ctx):
    """Fresh listings taken while processes and threads start and end all the time parse, and show
    every long-lived process exactly as the guest's /proc does."""
    g = ctx.guest("small")
    with open(os.path.join(g.truth_dir, "workload.txt")) as f:
        workload = [int(line.split()[0]) for line in f if line.strip()]
    rc, out = labvm.exec(g.dir, CHURN, timeout=30)
    assert rc == 0 and out.strip().isdigit(), out
    churn = int(out.strip())
    ctx.on_cleanup(lambda: labvm.exec(g.dir, CHURN_STOP.format(pid=churn), timeout=60))

    long_lived = [1, 2] + workload
    direct = _proc_direct(g, long_lived)
    boot = {p["pid"]: p for p in labvm.parse_threads(os.path.join(g.truth_dir, "threads.txt"))}
    newest, created = None, []
    rounds = 8
    for i in range(rounds):
        procs = labvm.collect_threads(g.dir)
        by_pid = {p["pid"]: p for p in procs}
        assert churn in by_pid, f"round {i}: the churn loop {churn} is not listed"
        for pid in long_lived:
            assert pid in by_pid, f"round {i}: long-lived process {pid} missing"
            p = by_pid[pid]
            mine = {k: p[k] for k in ("name", "ppid", "uid", "gid", "cmdline")}
            mine["threads"] = sorted(p["threads"], key=lambda t: t["tid"])
            assert mine == direct[pid], (i, pid, mine, direct[pid])
            if pid in workload:
                assert p == boot[pid], (i, pid, p, boot[pid])
        if newest is not None and max(by_pid) > newest:  # (unless pids wrapped around)
            created.append(max(by_pid) - newest)
        newest = max(by_pid)
    # The listings did run while processes came and went: dozens were
    # created between (and so during) consecutive listings.
    assert created and min(created) >= 30, created
    print(f"     ({rounds} listings under churn; pids created between them: {created})")
