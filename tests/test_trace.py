"""Agentless tracing: breakpoints through QEMU's GDB stub, on a real guest.

Ground truth, never from vmsight:
- the scripted workload itself (`vms-fileops`, lab/guest/fileops.c, the one
  the agent tests use): one process doing known file operations in order; it
  prints its pid, its name is the one the kernel takes at exec;
- the guest's own /proc/kallsyms (truth/kallsyms.txt) for where kernel text
  lies, and QEMU's own `gva2gpa` + `pmemsave` for its bytes before and after
  a trace: they must be identical, and the guest must run on;
- the host's Linux UAPI header (asm/unistd_64.h) for system call numbers and
  names, which vmsight reads from the guest kernel's sys_call_table.

The guests are the harness's: "small" (1 vCPU, 4-level paging) and "big"
(2 vCPUs, 5-level paging), both Debian's 6.1, and "k612" (Debian's 6.12).
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time

import labvm
from harness import output_files


def _exec(g, cmd, timeout=120):
    rc, out = labvm.exec(g.dir, cmd, timeout=timeout)
    assert rc == 0, f"guest command failed ({rc}): {cmd}\n{out}"
    return out


class Trace:
    """`vmsight trace ... --json` running while the guest works."""

    def __init__(self, ctx, g, *args):
        cmd = [ctx.vmsight_bin, "-t", g.target, "-v", "trace", *map(str, args), "--json"]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events, self.err = [], []
        self.ready = threading.Event()
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()
        assert self.ready.wait(180), f"vmsight trace did not start: {''.join(self.err)}"
        ctx.on_cleanup(self.kill)

    def _read_out(self):
        for line in self.p.stdout:
            self.events.append(json.loads(line))

    def _read_err(self):
        for line in self.p.stderr:
            line = line.decode(errors="replace")
            self.err.append(line)
            if "the guest runs" in line:
                self.ready.set()
        self.ready.set()

    def wait_for(self, pred, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.events):
                if pred(e):
                    return e
            assert self.p.poll() is None, f"vmsight trace exited early: {''.join(self.err)}"
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for an event; last: {self.events[-5:]}\n{''.join(self.err)}")

    def stop(self, sig=signal.SIGINT):
        self.p.send_signal(sig)
        self.p.wait(timeout=60)
        self.t_out.join(10)
        self.t_err.join(10)
        err = "".join(self.err)
        assert self.p.returncode == 0, f"vmsight trace exited {self.p.returncode}: {err}"
        assert "AddressSanitizer" not in err and "runtime error" not in err, err
        return err

    def kill(self):
        # SIGTERM first: a tracer killed outright cannot remove its
        # breakpoints, and the guest would stop at the next hit
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def _kernel_text(ctx, g):
    """The guest kernel's text (_stext.._etext) as QEMU reads it, by physical address."""
    syms = {}
    with open(os.path.join(g.truth_dir, "kallsyms.txt")) as f:
        for line in f:
            a, _, name = line.split()[:3]
            if name in ("_stext", "_etext"):
                syms[name] = int(a, 16)
    start, end = syms["_stext"], syms["_etext"]
    with ctx.qmp(g) as q:
        out = q.hmp(f"gva2gpa 0x{start:x}")
    m = re.search(r"gpa: (0x[0-9a-f]+)", out)
    assert m, out
    return ctx.pmemsave(g, int(m.group(1), 16), end - start)


def _running(ctx, g):
    with ctx.qmp(g) as q:
        return q.cmd("query-status")["status"] == "running"


def _after_detach(ctx, g, text_before):
    """The guest runs on, its kernel text byte-identical, the stub free again."""
    assert _running(ctx, g)
    out = _exec(g, "echo alive", timeout=60)
    assert "alive" in out
    assert _kernel_text(ctx, g) == text_before, "kernel text changed by tracing"


def _file_ops(d, exe):
    """The scripted workload in D and the file events it must produce, in order:
    (event, path, path2, extra) for the traced kinds."""
    f, r = f"{d}/file", f"{d}/renamed"
    argv = ["vms-fileops", "mkdir", d, "create", f, "write", f, "hello\n", "read", f, "rename", f, r,
            "exec", exe, "read", r, "delete", r, "rmdir", d]
    creat = os.O_CREAT | os.O_TRUNC | os.O_WRONLY
    exp = [("open", f, None, {"acc": creat}), ("open", f, None, {"acc": os.O_WRONLY | os.O_APPEND}),
           ("write", f, None, {"count": 6, "result": 6}), ("open", f, None, {"acc": os.O_RDONLY}),
           ("read", f, None, {"result": 6}), ("read", f, None, {"result": 0}),
           ("rename", f, r, {}), ("open", r, None, {"acc": os.O_RDONLY}), ("read", r, None, {"result": 6}),
           ("read", r, None, {"result": 0}), ("unlink", r, None, {"dir": False}),
           ("unlink", d, None, {"dir": True})]
    return argv, exp


def _check_file_ops(events, pid, d, exe, expected):
    mine = [e for e in events if e["pid"] == pid and (e["path"].startswith(d + "/") or e["path"] == d)]
    got = [(e["event"], e["path"], e.get("path2")) for e in mine]
    want = [(k, p, p2) for k, p, p2, _ in expected]
    assert got == want, f"events of pid {pid} under {d}:\n got  {got}\n want {want}"
    rename_at = [k for k, _, _, _ in expected].index("rename")
    for i, (e, (kind, _, _, extra)) in enumerate(zip(mine, expected)):
        assert e["tid"] == pid, e          # one thread: the tid is the pid
        # the kernel keeps 15 bytes of the name it takes at exec
        assert e["comm"] == ("vms-fileops" if i <= rename_at else os.path.basename(exe)[:15]), e
        if kind == "open":
            assert e["result"] >= 0, e
            acc = extra["acc"]
            assert e["flags"] & (os.O_ACCMODE | os.O_CREAT | os.O_TRUNC | os.O_APPEND) == acc, (e, acc)
        elif "result" in extra:
            assert e["result"] == extra["result"], e
        else:
            assert e["result"] == 0, e
        if "count" in extra:
            assert e["count"] == extra["count"], e
        if "dir" in extra:
            assert e["dir"] == extra["dir"], e


def _scenario_files(ctx, gname):
    g = ctx.guest(gname)
    tag = secrets.token_hex(3)
    exe = f"/data/vms-trexe-{tag}"
    _exec(g, ["cp", "/bin/vms-fileops", exe])
    ctx.on_cleanup(lambda: labvm.exec(g.dir, ["rm", "-f", exe]))
    text = _kernel_text(ctx, g)
    t = Trace(ctx, g, "files")
    runs = []
    for base in ("/data", "/tmp"):
        d = f"{base}/vms-trace-{tag}"
        argv, expected = _file_ops(d, exe)
        pid = int(_exec(g, argv).split()[1])
        runs.append((pid, d, expected))
    # a failed open by a relative name: the path is made absolute with the
    # process's working directory
    _exec(g, f"cd /data && cat nothere-{tag} 2>/dev/null; true")
    t.wait_for(lambda e: e["event"] == "open" and e["path"] == f"/data/nothere-{tag}")
    err = t.stop()
    for pid, d, expected in runs:
        _check_file_ops(t.events, pid, d, exe, expected)
    miss = [e for e in t.events if e["path"] == f"/data/nothere-{tag}"]
    assert len(miss) == 1 and miss[0]["result"] == -2 and miss[0]["comm"] == "cat", miss
    assert "0 foreign stops" in err, err
    _after_detach(ctx, g, text)


def test_trace_files_small(ctx):
    _scenario_files(ctx, "small")


def test_trace_files_big_smp_5level(ctx):
    _scenario_files(ctx, "big")


def test_trace_files_k612(ctx):
    _scenario_files(ctx, "k612")


def _unistd():
    """Syscall numbers and names from the host's UAPI header."""
    names = {}
    for path in ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"):
        if os.path.exists(path):
            with open(path) as f:
                for m in re.finditer(r"#define __NR_(\w+) (\d+)", f.read()):
                    names[int(m.group(2))] = m.group(1)
            return names
    raise AssertionError("no asm/unistd_64.h on the host (linux-libc-dev)")


# Where the kernel's function names differ from the UAPI's syscall names.
KERNEL_ALIASES = {"sendfile64": "sendfile", "umount": "umount2"}


def _same_syscall(kernel_name, uapi_name):
    if kernel_name in KERNEL_ALIASES:
        return KERNEL_ALIASES[kernel_name] == uapi_name
    return kernel_name == uapi_name or kernel_name == "new" + uapi_name


def test_trace_syscall_table(ctx):
    """Every name in the guest kernel's sys_call_table against the UAPI header."""
    unistd = _unistd()
    for gname in ("small", "big", "k612"):
        g = ctx.guest(gname)
        rows = ctx.vmsight_json("-t", g.target, "trace", "syscalls", "--list")
        assert len(rows) >= 300, rows[-3:]
        # A kernel newer than the host's header (6.12 on a 6.1 host) has calls
        # the header does not number: those must be calls the guest has.
        newer = [r for r in rows if r["nr"] not in unistd]
        with open(os.path.join(g.truth_dir, "kallsyms.txt")) as f:
            entries = {line.split()[2] for line in f if "__x64_sys_" in line}
        assert all("__x64_sys_" + r["name"] in entries for r in newer), newer
        assert len(newer) <= 32 and (gname == "k612" or not newer), newer
        bad = [(r["nr"], r["name"], unistd.get(r["nr"])) for r in rows
               if r["nr"] in unistd and not _same_syscall(r["name"], unistd[r["nr"]])]
        assert not bad, bad
        got = {r["nr"] for r in rows}
        for nr, name in ((0, "read"), (1, "write"), (2, "open"), (59, "execve"), (257, "openat"), (231, "exit_group")):
            assert nr in got and unistd[nr] == name, nr


def test_trace_syscalls(ctx):
    g = ctx.guest("big")
    tag = secrets.token_hex(3)
    path = f"/tmp/vms-sc-{tag}"
    text = _kernel_text(ctx, g)
    t = Trace(ctx, g, "syscalls")
    pid = int(_exec(g, ["vms-fileops", "create", path, "write", path, "abc\n", "delete", path]).split()[1])
    t.wait_for(lambda e: e["pid"] == pid and e["name"] == "exit_group")
    t.stop()
    unistd = _unistd()
    named = [e for e in t.events if e["name"]]
    assert len(named) > 20, t.events[-5:]
    for e in named:
        assert _same_syscall(e["name"], unistd.get(e["nr"], "?")), e
    mine = [e for e in t.events if e["pid"] == pid]
    calls = [e["name"] for e in mine]
    # create: openat + close; write: openat, write, close; delete: unlink(at)
    opens = [e for e in mine if e["name"] in ("openat", "open")]
    assert len(opens) == 2 and all(e["result"] >= 0 for e in opens), mine
    writes = [e for e in mine if e["name"] == "write" and e["args"][2] == 4]
    assert len(writes) == 1 and writes[0]["result"] == 4 and writes[0]["args"][0] == opens[1]["result"], mine
    assert any(e["name"] in ("unlink", "unlinkat") and e["result"] == 0 for e in mine), calls
    ex = [e for e in mine if e["name"] == "exit_group"]
    assert len(ex) == 1 and ex[0]["result"] is None and ex[0]["args"][0] == 0, ex
    assert all(e["tid"] == pid for e in mine), mine
    # after its execve the process is vms-fileops (before it, the shell's child)
    assert all(e["comm"] == "vms-fileops" for e in opens + writes + ex), mine
    # each call's result came with its own entry: a write of 4 bytes returned 4
    _after_detach(ctx, g, text)


def test_trace_pid_filter_and_calls(ctx):
    g = ctx.guest("small")
    tag = secrets.token_hex(3)
    text = _kernel_text(ctx, g)
    # a long-lived process to filter on, and another doing the same things
    out = _exec(g, f"(vms-fileops sleep 8000 mkdir /tmp/pf-{tag} rmdir /tmp/pf-{tag} >/tmp/pf-{tag}.pid &) ; "
                   f"sleep 0.5; cat /tmp/pf-{tag}.pid")
    pid = int(out.split()[1])
    t = Trace(ctx, g, "calls", "do_mkdirat", "do_rmdir", "--pid", pid)
    _exec(g, f"mkdir /tmp/other-{tag} && rmdir /tmp/other-{tag}")
    t.wait_for(lambda e: e["function"] == "do_rmdir", timeout=120)
    t.stop(signal.SIGTERM)
    assert [e["function"] for e in t.events] == ["do_mkdirat", "do_rmdir"], t.events
    for e in t.events:
        assert e["pid"] == pid and e["tid"] == pid and e["comm"] == "vms-fileops" and e["result"] == 0, e
        assert e["args"][0] == (1 << 32) - 100, e   # AT_FDCWD as the register holds it
    _after_detach(ctx, g, text)


def test_trace_bad_input(ctx):
    g = ctx.guest("small")
    text = _kernel_text(ctx, g)
    rc, _, err = ctx.vmsight("-t", g.target, "trace", "calls", "no_such_function_xyz", check=False)
    assert rc == 1 and "no symbol 'no_such_function_xyz'" in err, err
    assert _running(ctx, g)
    # nothing listening
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, _, err = ctx.vmsight("-t", g.target, "trace", "files", "--gdb", f"127.0.0.1:{port}", check=False)
    assert rc == 1 and "refused" in err.lower(), err
    rc, _, err = ctx.vmsight("-t", g.target, "trace", "files", "--gdb", "nonsense", check=False)
    assert rc in (1, 2) and "HOST:PORT" in err, err
    # the stub busy with another debugger: hold it with a plain client
    busy = socket.create_connection(("127.0.0.1", g.gdb_port))
    try:
        busy.sendall(b"$?#3f")
        busy.settimeout(10)
        assert b"T" in busy.recv(100)
        rc, _, err = ctx.vmsight("-t", g.target, "--timeout", "3000", "trace", "files", check=False)
        assert rc == 1 and "busy" in err, err
    finally:
        busy.sendall(b"+$D#44")
        busy.recv(100)
        busy.close()
    time.sleep(0.5)
    # no stub at all: QEMU's monitor turns it off, and on again after
    with ctx.qmp(g) as q:
        q.hmp("gdbserver none")
    try:
        rc, _, err = ctx.vmsight("-t", g.target, "trace", "files", check=False)
        assert rc == 1 and "no GDB stub" in err, err
    finally:
        with ctx.qmp(g) as q:
            q.hmp(f"gdbserver tcp:127.0.0.1:{g.gdb_port}")
    _after_detach(ctx, g, text)


def test_trace_killed_tracer_detaches(ctx):
    """A tracer killed outright (SIGKILL) cannot remove its breakpoints; its
    guardian detaches for it, so the guest runs on instead of stopping at
    the next hit, and the stub is free for the next tracer."""
    g = ctx.guest("small")
    text = _kernel_text(ctx, g)
    t = Trace(ctx, g, "files")
    _exec(g, "ls /data >/dev/null")
    t.wait_for(lambda e: True)
    t.p.kill()
    t.p.wait(30)
    for _ in range(3):                      # each would hit a planted breakpoint
        _exec(g, "cat /proc/version >/dev/null", timeout=30)
    _after_detach(ctx, g, text)
    t2 = Trace(ctx, g, "calls", "do_unlinkat")
    _exec(g, "touch /tmp/k && rm /tmp/k")
    t2.wait_for(lambda e: e["function"] == "do_unlinkat")
    t2.stop()
    _after_detach(ctx, g, text)


def _stub_request(g, payload):
    """One request to QEMU's GDB stub as a plain debugger makes it (the
    guest stops while we are attached; `D` resumes it): the reply's payload.
    The stop reply QEMU sends unasked on attaching to a running guest is
    skipped."""
    def reply(s, buf):
        while True:
            m = re.search(rb"\$([^#$]*)#..", buf)
            if not m:
                chunk = s.recv(4096)
                assert chunk, "the stub closed the connection"
                buf += chunk
                continue
            buf = buf[m.end():]
            s.sendall(b"+")
            body = m.group(1).decode()
            if not re.match(r"[TS][0-9a-f]{2}", body):
                return body

    frame = f"${payload}#{sum(payload.encode()) % 256:02x}".encode()
    with socket.create_connection(("127.0.0.1", g.gdb_port), timeout=10) as s:
        s.sendall(frame)
        answer = reply(s, b"")
        s.sendall(b"$D#44")
        assert reply(s, b"") == "OK"
    return answer


def test_gdb_source_killed_leaves_guest_running(ctx):
    """The GDB memory source stops the guest while attached; killed outright
    mid-dump, its guardian detaches, and the guest runs on."""
    g = ctx.guest("small")
    out = os.path.join(ctx.tmp, "gdb-dump.raw")
    p = subprocess.Popen([ctx.vmsight_bin, "-t", f"gdb:127.0.0.1:{g.gdb_port}", "dump", "--format", "raw",
                          "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # The dump is written under a temporary name beside the path until it is complete.
        def written():
            return sum(os.path.getsize(f) for f in output_files(out))
        deadline = time.monotonic() + 60
        while written() == 0 and time.monotonic() < deadline:
            assert p.poll() is None, p.stderr.read().decode(errors="replace")
            time.sleep(0.1)
        assert p.poll() is None, "the dump ended before it could be killed"
        assert not _running(ctx, g)         # attached: QEMU stopped the guest
    finally:
        p.kill()
        p.wait(30)
    deadline = time.monotonic() + 10        # the output file's guardian removes the partial file
    while output_files(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not output_files(out), output_files(out)
    # QEMU's memory mode (global to its stub) is as it was: virtual.
    assert _stub_request(g, "qqemu.PhyMemMode") == "0"


def test_gdb_memory_mode_left_as_found(ctx):
    """QEMU's qemu.PhyMemMode belongs to the stub, not to a connection: the
    GDB source (physical reads) puts it back as it found it, and a tracer
    (which writes the guest's stack in virtual mode) never trusts what an
    earlier debugger left."""
    g = ctx.guest("small")
    text = _kernel_text(ctx, g)
    ctx.vmsight("-t", f"gdb:127.0.0.1:{g.gdb_port}", "info")
    assert _stub_request(g, "qqemu.PhyMemMode") == "0"
    # A debugger before us left it physical.
    assert _stub_request(g, "Qqemu.PhyMemMode:1") == "OK"
    try:
        ctx.vmsight("-t", f"gdb:127.0.0.1:{g.gdb_port}", "info")
        assert _stub_request(g, "qqemu.PhyMemMode") == "1"
        t = Trace(ctx, g, "calls", "do_mkdirat")
        tag = secrets.token_hex(3)
        _exec(g, f"mkdir /tmp/pm-{tag} && rmdir /tmp/pm-{tag}")
        t.wait_for(lambda e: e["function"] == "do_mkdirat")
        t.stop()
        assert _stub_request(g, "qqemu.PhyMemMode") == "1"
    finally:
        _stub_request(g, "Qqemu.PhyMemMode:0")
    assert "alive" in _exec(g, "echo alive", timeout=30)
    _after_detach(ctx, g, text)
    deadline = time.monotonic() + 10
    while not _running(ctx, g) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(ctx, g)
    assert "alive" in _exec(g, "echo alive", timeout=30)


def test_trace_cr3_filter(ctx):
    """--cr3 keeps the calls made in one address space: a process's CR3,
    learnt from an unfiltered trace of its first call, selects its later
    calls and not another process's."""
    g = ctx.guest("small")
    tag = secrets.token_hex(3)
    a, b = f"/tmp/cr3a-{tag}", f"/tmp/cr3b-{tag}"
    out = _exec(g, f"(vms-fileops sleep 6000 mkdir {a} rmdir {a} sleep 6000 mkdir {b} rmdir {b} "
                   f">/tmp/cr3-{tag}.pid &) ; sleep 0.5; cat /tmp/cr3-{tag}.pid")
    pid = int(out.split()[1])
    t = Trace(ctx, g, "calls", "do_rmdir")
    first = t.wait_for(lambda e: e["pid"] == pid, timeout=60)
    t.stop()
    cr3 = first["cr3"]
    t = Trace(ctx, g, "calls", "do_rmdir", "do_mkdirat", "--cr3", cr3)
    _exec(g, f"mkdir /tmp/cr3c-{tag} && rmdir /tmp/cr3c-{tag}")
    t.wait_for(lambda e: e["function"] == "do_rmdir", timeout=60)
    t.stop()
    assert [e["function"] for e in t.events] == ["do_mkdirat", "do_rmdir"], t.events
    assert all(e["pid"] == pid and e["cr3"] == cr3 for e in t.events), t.events


TOTALS = re.compile(r"(\d+) stops, .*?(\d+) passed by emulation, (\d+) by a single step")


def _totals(err):
    m = TOTALS.search(err)
    assert m, err
    return {"stops": int(m.group(1)), "emulated": int(m.group(2)), "steps": int(m.group(3))}


def _tb_flushes(ctx, g):
    with ctx.qmp(g) as q:
        m = re.search(r"TB flush count\s+(\d+)", q.hmp("info jit"))
    assert m, "no TB flush count in `info jit`"
    return int(m.group(1))


def test_trace_no_single_step_no_flush_of_ours(ctx):
    """Breakpoints stay planted and are passed by emulation: no single step,
    no breakpoint planted or lifted per call. QEMU 7.2's gdbstub flushes the
    translation cache once at every breakpoint stop itself (tb_flush in
    gdb_vm_state_change); nothing of ours may add to that, so the count
    grows by exactly one per stop, and attaching and detaching add a
    constant."""
    g = ctx.guest("small")
    tag = secrets.token_hex(3)
    text = _kernel_text(ctx, g)
    n = 40
    f0 = _tb_flushes(ctx, g)
    t = Trace(ctx, g, "calls", "do_mkdirat")
    f1 = _tb_flushes(ctx, g)
    pid = int(_exec(g, f"echo $$; i=0; while [ $i -lt {n} ]; do mkdir /tmp/nf-{tag}-$i; i=$((i + 1)); done; "
                       f"rm -rf /tmp/nf-{tag}-*").split()[0])
    t.wait_for(lambda e: len([x for x in t.events if x["comm"] == "mkdir"]) >= n)
    f2 = _tb_flushes(ctx, g)
    err = t.stop()
    f3 = _tb_flushes(ctx, g)
    tot = _totals(err)
    mine = [e for e in t.events if e["comm"] == "mkdir"]
    assert len(mine) == n and all(e["result"] == 0 for e in mine), mine
    assert tot["steps"] == 0 and tot["emulated"] == tot["stops"], err
    assert f1 - f0 <= 2 and f3 - f2 <= 2, (f0, f1, f2, f3)          # setup, teardown: constant
    assert f2 - f1 <= tot["stops"], (f1, f2, err)                  # one per stop at most: QEMU's own
    assert pid > 0
    _after_detach(ctx, g, text)


def test_trace_recursion_and_fallback(ctx):
    """Entries matched to their returns where it is hard:
    - recursion: vsnprintf calls itself for %pV; ext4's remount message is
      printed that way, and the inner call (the message) returns first, the
      outer (prefix + message + newline) after it; lengths from the guest's
      own dmesg line;
    - a function whose first instruction is not emulated (__do_sys_clone
      begins with sub $0x90,%rsp): the fallback single step, counted; its
      result in the parent is the child's pid, which the shell prints."""
    g = ctx.guest("small")
    text = _kernel_text(ctx, g)
    t = Trace(ctx, g, "calls", "vsnprintf", "__do_sys_clone")
    out = _exec(g, "echo $$; mount -o remount,rw /data; "
                   "for i in 1 2 3; do sleep 0 & echo $!; wait; done; dmesg | grep 're-mounted' | tail -1")
    lines = out.split("\n")
    sh = int(lines[0])
    children = [int(x) for x in lines[1:] if x.strip().isdigit()]
    m = re.search(r"EXT4-fs \((\w+)\): (re-mounted\..*)$", out, re.M)
    assert len(children) == 3 and m, out
    inner = len(m.group(2))
    outer = len("\x016") + len(f"EXT4-fs ({m.group(1)}): ") + inner + 1
    t.wait_for(lambda e: e["function"] == "__do_sys_clone" and e["result"] == children[-1])
    err = t.stop()
    tot = _totals(err)
    mount = [e["result"] for e in t.events if e["comm"] == "mount" and e["function"] == "vsnprintf"]
    assert any(mount[i:i + 2] == [inner, outer] for i in range(len(mount))), (inner, outer, mount)
    clones = [e["result"] for e in t.events if e["function"] == "__do_sys_clone" and e["pid"] == sh]
    assert any(clones[i:i + 3] == children for i in range(len(clones))), (clones, children)
    assert tot["steps"] >= 4, err     # at least each clone's entry, stepped
    assert "0 foreign stops" in err, err
    _after_detach(ctx, g, text)
