"""Guest-supplied text never reaches the terminal raw.

A guest controls the bytes of its process names, command lines, file paths
and kernel log: a hostile one fills them with terminal escape sequences
(clear the screen, set the window title, fake a line), C1 controls and
bytes that are not UTF-8. Every place vmsight prints such a string must
defuse it, and say exactly what the guest had:

- text (default): printable ASCII as is; backslash as \\\\; \\n \\t \\r as
  \\n \\t \\r; other bytes below 0x20 and 0x7f as \\xNN (lowercase hex);
  valid UTF-8 as is, but C1 controls (U+0080..U+009F) as their bytes
  \\xc2\\xNN; bytes that are not valid UTF-8 as \\xNN. So the only control
  bytes in the output are vmsight's own newlines and tabs.
- --json: every line is valid JSON (valid UTF-8), and a guest string
  decoded by json.loads gives back the guest's bytes exactly with
  s.encode("utf-8", "surrogateescape"): a byte that is not part of valid
  UTF-8 is written \\udcNN (PEP 383).

Ground truth, never from vmsight: the bytes the test wrote, read back in
the guest (/proc/PID/comm, /proc/PID/cmdline, readlink of /proc/PID/fd/N
and /proc/PID/exe, busybox dmesg) as hex through `lab/vm exec`.

One guest: "agent" (vmsight-agent for `watch files`, QEMU's GDB stub for
`trace files`). The kernel log line the test writes stays in that guest's
ring buffer; the views tests, which compare the whole log with the guest's
own dmesg, use the other guests.

Each command's failures are gathered and reported together, so one run
says everything that is still raw or wrong.
"""

import json
import re
import secrets
import signal
import subprocess
import threading
import time

import labvm

GUEST = "agent"

# Each string holds what a hostile guest would put there. None ends in a
# newline (the kernel and the shell add and strip those) or holds a NUL.
# The process name: 15 bytes, the kernel's limit (TASK_COMM_LEN - 1).
COMM = b"\x1b[2J\x1b]0;\x07\n\\\t\xc2\x9b\xff"
# A file name (on /data, ext4): OSC title, clear screen, newline, bytes that
# are not UTF-8, tab, backslash, CR, a C1 CSI, valid UTF-8 (e acute, an
# emoji), DEL.
FILE_NAME = b"f-\x1b]0;PWNED\x07\x1b[2J\n\xff\xfe\t\\\r\xc2\x9b\xc3\xa9\xf0\x9f\x98\x80\x7f-end"
# The name of the program (a copy of busybox on /tmp, which runs as busybox
# when its name starts so): the exec path and the memory map show it.
EXE_NAME = b"busybox-\x1b[1m\n\xff\x01"
# A command line argument: an overlong '/' and a UTF-16 surrogate in UTF-8
# form (both invalid UTF-8), C1 NEL, a euro sign, SOH.
ARG = b"arg-\x1b[31m\x9b\n\t\\\xc0\xaf\xed\xa0\x80\xc2\x85\xe2\x82\xac\x7f\x01-end"


def oct_printf(data):
    """DATA as a busybox printf format (every byte \\NNN), for single quotes."""
    return "".join(f"\\{b:03o}" for b in data)


def text_escape(data, log=False):
    """The text form of guest bytes, as the output contract says. LOG: the
    kernel log's text, where tabs and backslashes stay as they are (as the
    guest's own dmesg prints them)."""
    simple = {0x5c: b"\\\\", 0x0a: b"\\n", 0x09: b"\\t", 0x0d: b"\\r"}
    if log:
        simple = {0x0a: b"\\n", 0x0d: b"\\r", 0x5c: b"\\", 0x09: b"\t"}
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c < 0x80:
            if c in simple:
                out += simple[c]
            elif c < 0x20 or c == 0x7f:
                out += b"\\x%02x" % c
            else:
                out.append(c)
            i += 1
            continue
        n = 2 if 0xc2 <= c <= 0xdf else 3 if 0xe0 <= c <= 0xef else 4 if 0xf0 <= c <= 0xf4 else 0
        seq = data[i:i + n]
        try:
            ch = seq.decode("utf-8") if n and len(seq) == n else None
        except UnicodeDecodeError:
            ch = None
        if ch is None:
            out += b"\\x%02x" % c
            i += 1
        else:
            out += b"".join(b"\\x%02x" % x for x in seq) if 0x80 <= ord(ch) <= 0x9f else seq
            i += n
    return bytes(out)


def guest_bytes(g, cmd):
    """The bytes CMD prints in the guest, carried as hex (od) so that nothing
    on the way can alter them."""
    rc, out = labvm.exec(g.dir, f"{cmd} | od -An -v -tx1")
    assert rc == 0, out
    return bytes.fromhex("".join(out.split()))


def _short(b, n=240):
    return repr(b[:n]) + ("..." if len(b) > n else "")


class Problems:
    """Failures gathered over every command, reported at the end."""

    def __init__(self):
        self.items = []
        self.fields = set()

    def add(self, what, msg):
        self.items.append(f"{what}: {msg}")

    def check(self, cond, what, msg):
        if not cond:
            self.add(what, msg)
        return cond

    def raise_if_any(self):
        assert not self.items, f"{len(self.items)} escaping problems:\n  " + "\n  ".join(self.items)


def check_text(p, what, out):
    """No raw control byte, C1 control or invalid UTF-8 anywhere in text OUT."""
    lines = out.split(b"\n")
    bad = next((l for l in lines if re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", l)), None)
    p.check(bad is None, what, f"raw control bytes in text output, e.g. line {_short(bad or b'')}")
    c1 = next((l for l in lines if re.search(rb"\xc2[\x80-\x9f]", l)), None)
    p.check(c1 is None, what, f"a raw C1 control (U+0080..U+009F) in text output, e.g. line {_short(c1 or b'')}")
    for l in lines:
        try:
            l.decode("utf-8")
        except UnicodeDecodeError as e:
            p.add(what, f"bytes that are not UTF-8 in text output ({e.reason} at {e.start}), line {_short(l)}")
            break
    return lines


def check_shown(p, what, lines, pick, *want):
    """Some line chosen by PICK holds every escaped form in WANT."""
    mine = [l for l in lines if pick(l)]
    if not p.check(mine, what, "no output line for the test's process"):
        return
    for w in want:
        p.check(any(w in l for l in mine), what, f"escaped form {_short(w)} not shown; lines: " +
                " | ".join(_short(l) for l in mine[:3]))


def parse_json(p, what, out):
    """Every line of OUT as JSON (each must be UTF-8 and parse); the rows that do."""
    rows, errors = [], 0
    for n, line in enumerate(out.split(b"\n")):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line.decode("utf-8")))
            continue
        except UnicodeDecodeError as e:
            why = f"not UTF-8 ({e.reason} at byte {e.start})"
        except ValueError as e:
            why = f"not JSON ({e})"
        errors += 1
        if errors <= 2:
            p.add(what, f"line {n} is {why}: {_short(line)}")
    if errors > 2:
        p.add(what, f"... {errors} lines in all are not valid JSON")
    return rows


def check_bytes(p, what, field, s, want):
    """A JSON string S decodes back to the guest's bytes WANT."""
    if (what, field) in p.fields:   # one report per field of a command is enough
        return
    if isinstance(s, str) and s.encode("utf-8", "surrogateescape") == want:
        return
    p.fields.add((what, field))
    if p.check(isinstance(s, str), what, f"{field} is {s!r}, not a string"):
        p.add(what, f"{field} {s!r} gives back {_short(s.encode('utf-8', 'surrogateescape'))}, "
              f"the guest has {_short(want)}")


def field_is(i, v):
    """PICK for lines whose I-th whitespace-separated field is V."""
    v = str(v).encode()
    return lambda l: len(l.split()) > i and l.split()[i] == v


# ---- the hostile process ----------------------------------------------------

SETUP = r"""
set -e
d={tmp}
dd={data}
mkdir -p "$d" "$dd"
exe="$d/$(printf '{exe}')"
f="$dd/$(printf '{name}')"
arg="$(printf '{arg}')"
cp /bin/busybox "$exe"
printf 'hello\n' > "$f"
cat > "$d/loop.sh" <<'EOF'
printf '{comm}' > /proc/$$/comm
f="{data}/$(printf '{name}')"
exec 3<"$f"
echo $$ > {tmp}/pid
while :; do
	read -r x < "$f" || true
	sleep 0.2
done
EOF
setsid "$exe" sh "$d/loop.sh" "$arg" </dev/null >/dev/null 2>&1 3>&- &
i=0
while [ ! -s "$d/pid" ]; do
	i=$((i + 1))
	[ $i -le 200 ] || exit 3
	usleep 50000
done
cat "$d/pid"
"""

STOP = r"""
p=$(cat {tmp}/pid 2>/dev/null)
if [ -n "$p" ]; then
	kill "$p" 2>/dev/null
	i=0
	while [ -d "/proc/$p" ] && [ $i -lt 100 ]; do usleep 50000; i=$((i + 1)); done
fi
rm -rf {tmp} {data}
"""


class Hostile:
    """The guest's hostile process and file, and their true bytes."""

    def __init__(self, ctx, g):
        self.tag = f"vms-esc-{secrets.token_hex(3)}"
        tmp, data = f"/tmp/{self.tag}", f"/data/{self.tag}"
        ctx.on_cleanup(lambda: labvm.exec(g.dir, STOP.format(tmp=tmp, data=data), timeout=60))
        rc, out = labvm.exec(g.dir, SETUP.format(tmp=tmp, data=data, exe=oct_printf(EXE_NAME),
                                                 name=oct_printf(FILE_NAME), arg=oct_printf(ARG),
                                                 comm=oct_printf(COMM)), timeout=60)
        assert rc == 0, out
        self.pid = int(out.split()[-1])
        self.path = data.encode() + b"/" + FILE_NAME
        self.exe = tmp.encode() + b"/" + EXE_NAME
        # What the guest itself says, against what the test wrote.
        self.comm = guest_bytes(g, f"cat /proc/{self.pid}/comm")[:-1]
        assert self.comm == COMM, (self.comm, COMM)
        assert guest_bytes(g, f"readlink /proc/{self.pid}/fd/3")[:-1] == self.path
        assert guest_bytes(g, f"readlink /proc/{self.pid}/exe")[:-1] == self.exe
        self.cmdline = guest_bytes(g, f"cat /proc/{self.pid}/cmdline")
        assert self.cmdline == b"\0".join([self.exe, b"sh", tmp.encode() + b"/loop.sh", ARG]) + b"\0", self.cmdline


def check_cmdline(p, what, s, h):
    """A JSON command line: the guest's, its NULs as spaces (as vmsight has
    always shown them) or kept, the last one dropped."""
    if not p.check(isinstance(s, str), what, f"cmdline is {s!r}"):
        return
    got = s.encode("utf-8", "surrogateescape")
    kept = h.cmdline[:-1]
    p.check(got in (kept.replace(b"\0", b" "), kept), what,
            f"cmdline {s!r} gives back {_short(got)}, the guest has {_short(kept)}")


# ---- the views ----------------------------------------------------------------

def views_text(ctx, g, h, p):
    pid = h.pid
    comm, arg, path, exe = (text_escape(x) for x in (h.comm, ARG, h.path, h.exe))
    runs = {
        "ps": (["ps"], field_is(0, pid), (comm, arg, exe)),
        "ps -T": (["ps", "-T"], lambda l: field_is(0, pid)(l) and field_is(1, pid)(l), (comm,)),
        "ps --tree": (["ps", "--tree"], field_is(0, pid), (comm, arg, exe)),
        "lsof": (["lsof"], field_is(0, pid), (comm, path)),
        f"lsof {pid}": (["lsof", pid], field_is(0, pid), (comm, path)),
        f"maps {pid}": (["maps", pid], lambda l: True, (exe,)),
        "lsmod": (["lsmod"], None, ()),
    }
    for what, (args, pick, want) in runs.items():
        _, out, _ = ctx.vmsight("-t", g.target, *args, raw=True)
        lines = check_text(p, what, out)
        if pick:
            check_shown(p, what, lines, pick, *want)


def views_json(ctx, g, h, p):
    pid = h.pid
    for what, args in (("ps --json", ["ps"]), ("ps -T --json", ["ps", "-T"]), ("ps --tree --json", ["ps", "--tree"])):
        _, out, _ = ctx.vmsight("--json", "-t", g.target, *args, raw=True)
        rows = [r for r in parse_json(p, what, out) if r.get("pid") == pid and r.get("tgid") == pid]
        if p.check(len(rows) == 1, what, f"{len(rows)} records for pid {pid}"):
            check_bytes(p, what, "comm", rows[0].get("comm"), h.comm)
            check_bytes(p, what, "name", rows[0].get("name"), h.comm)
            check_cmdline(p, what, rows[0].get("cmdline"), h)
    for what, args in (("lsof --json", ["lsof"]), (f"lsof {pid} --json", ["lsof", pid])):
        _, out, _ = ctx.vmsight("--json", "-t", g.target, *args, raw=True)
        rows = [r for r in parse_json(p, what, out) if r.get("pid") == pid and r.get("fd") == 3]
        if p.check(len(rows) == 1, what, f"{len(rows)} records for fd 3 of pid {pid}"):
            check_bytes(p, what, "comm", rows[0].get("comm"), h.comm)
            check_bytes(p, what, "path", rows[0].get("path"), h.path)
    what = f"maps {pid} --json"
    _, out, _ = ctx.vmsight("--json", "-t", g.target, "maps", pid, raw=True)
    rows = parse_json(p, what, out)
    exe = [r for r in rows if isinstance(r.get("path"), str) and h.tag in r["path"]]
    if p.check(exe, what, f"no area of the program's file ({len(rows)} areas)"):
        for r in exe:
            check_bytes(p, what, "path", r["path"], h.exe)
    what = "lsmod --json"
    _, out, _ = ctx.vmsight("--json", "-t", g.target, "lsmod", raw=True)
    p.check(parse_json(p, what, out), what, "no modules")


def test_escape_views(ctx):
    """ps (-T, --tree), lsof (all, PID), maps PID, lsmod and dmesg, text and
    JSON, with a process whose name, command line, program path and open
    file are hostile, and a hostile kernel log line."""
    g = ctx.guest(GUEST)
    h = Hostile(ctx, g)
    msg = f"{h.tag} ".encode() + b"\x1b[2J\x1b]0;KMSG\x07 \xff\xfe \xc2\x9b \x7f \t\\ \xc3\xa9 \x01\r end"
    # The newline ends the record: the kernel keeps one without it open for
    # a continuation, and no reader sees it until the next record.
    rc, out = labvm.exec(g.dir, f"printf '<5>{oct_printf(msg)}\\n' > /dev/kmsg")
    assert rc == 0, out
    rc, log = labvm.exec(g.dir, "dmesg", binary=True)
    assert rc == 0 and msg in log, "the guest's own log does not hold the line as written"
    p = Problems()
    with ctx.paused(g):
        views_text(ctx, g, h, p)
        views_json(ctx, g, h, p)
        _, out, _ = ctx.vmsight("-t", g.target, "dmesg", raw=True)
        lines = check_text(p, "dmesg", out)
        check_shown(p, "dmesg", lines, lambda l: h.tag.encode() in l, text_escape(msg, log=True))
        _, out, _ = ctx.vmsight("--json", "-t", g.target, "dmesg", raw=True)
        rows = [r for r in parse_json(p, "dmesg --json", out) if h.tag in str(r.get("text"))]
        if p.check(len(rows) == 1, "dmesg --json", f"{len(rows)} records with the test's line"):
            check_bytes(p, "dmesg --json", "text", rows[0]["text"], msg)
    p.raise_if_any()


# ---- streams: trace files, watch files ------------------------------------------

class Stream:
    """vmsight trace/watch running while the hostile process reads its file;
    stdout kept as raw bytes."""

    def __init__(self, ctx, g, args, ready):
        self.p = subprocess.Popen([ctx.vmsight_bin, "-t", g.target, "-v", *map(str, args)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ctx.on_cleanup(self.kill)
        self.out = bytearray()
        self.err = []
        self.ready = threading.Event()
        self.marker = ready
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()
        assert self.ready.wait(180), f"vmsight {args[0]} did not start: {''.join(self.err)}"
        assert self.p.poll() is None, f"vmsight {args[0]} exited: {''.join(self.err)}"

    def _read_out(self):
        for chunk in iter(lambda: self.p.stdout.read1(4096), b""):
            self.out += chunk

    def _read_err(self):
        for line in self.p.stderr:
            line = line.decode(errors="replace")
            self.err.append(line)
            if self.marker in line:
                self.ready.set()
        self.ready.set()

    def wait_for(self, needle, times, timeout=120):
        """Until NEEDLE (plain ASCII, shown as is either way) was printed TIMES times."""
        deadline = time.monotonic() + timeout
        while bytes(self.out).count(needle) < times:
            assert time.monotonic() < deadline, \
                f"timed out: {bytes(self.out).count(needle)} of {times} events seen\n{''.join(self.err)}"
            assert self.p.poll() is None, f"vmsight exited early: {''.join(self.err)}"
            time.sleep(0.2)

    def stop(self, sig):
        self.p.send_signal(sig)
        self.p.wait(timeout=60)
        self.t_out.join(10)
        self.t_err.join(10)
        err = "".join(self.err)
        assert self.p.returncode == 0, f"vmsight exited {self.p.returncode}: {err}"
        assert "AddressSanitizer" not in err and "runtime error" not in err, err
        return bytes(self.out)

    def kill(self):
        # SIGTERM first: a tracer killed outright can not remove its breakpoints
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def stream_events(ctx, g, h, args, ready, sig, json_mode):
    s = Stream(ctx, g, [*args, "--pid", h.pid] + (["--json"] if json_mode else []), ready)
    s.wait_for(h.tag.encode(), 6)
    return s.stop(sig)


def check_stream(p, name, h, text, js, pick, key_pid, key_kind, kinds):
    what = name
    lines = check_text(p, what, text)
    check_shown(p, what, [l for l in lines if h.tag.encode() in l], pick, text_escape(h.comm), text_escape(h.path))
    what = name + " --json"
    rows = [r for r in parse_json(p, what, js) if r.get(key_pid) == h.pid and h.tag in str(r.get("path"))]
    got = {r.get(key_kind) for r in rows}
    p.check(set(kinds) <= got, what, f"events on the file: {sorted(map(str, got))}, want {kinds}")
    for r in rows:
        check_bytes(p, what, "comm", r.get("comm"), h.comm)
        check_bytes(p, what, "path", r.get("path"), h.path)


def _running(ctx, g):
    with ctx.qmp(g) as q:
        return q.cmd("query-status")["status"] == "running"


def test_escape_trace_files(ctx):
    """Agentless `trace files` (GDB stub) of the hostile process reading its
    hostile file: text and JSON."""
    g = ctx.guest(GUEST)
    h = Hostile(ctx, g)
    args = ["trace", "files"]
    text = stream_events(ctx, g, h, args, "the guest runs", signal.SIGINT, False)
    js = stream_events(ctx, g, h, args, "the guest runs", signal.SIGINT, True)
    assert _running(ctx, g)
    p = Problems()
    check_stream(p, "trace files", h, text, js, field_is(2, h.pid), "pid", "event", ["open", "read"])
    p.raise_if_any()


def test_escape_watch_files(ctx):
    """`watch files` (vmsight-agent, fanotify) of the hostile process reading
    its hostile file: text and JSON."""
    g = ctx.guest(GUEST)
    h = Hostile(ctx, g)
    args = ["watch", "files"]
    text = stream_events(ctx, g, h, args, "watching channel", signal.SIGTERM, False)
    js = stream_events(ctx, g, h, args, "watching channel", signal.SIGTERM, True)
    p = Problems()
    pick = lambda l: re.search(rb"\bpid %d\b" % h.pid, l) is not None
    check_stream(p, "watch files", h, text, js, pick, "pid", "kind", ["open", "read"])
    p.raise_if_any()


def test_escape_error_messages(ctx):
    """Error messages go through the same escaping as guest text (a library
    error may quote a name or a banner read from guest memory): a hostile
    string in one reaches stderr escaped, and the exit status stays 1."""
    hostile = "/nonexistent/\x1b]0;PWNED\x07\x1b[2J\u202e"
    rc, _, err = ctx.vmsight("-t", "qmp:" + hostile, "info", check=False)
    assert rc == 1, (rc, err)
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err, repr(err)
    assert "\\x1b]0;PWNED\\x07\\x1b[2J\\u202e" in err, repr(err)
