"""The host half of `lab/vm exec`: run a shell command in the guest as root.

The guest's vms-execd (lab/guest/execd) serves the second serial port,
which QEMU connects to DIR/exec.sock; a serial line needs no guest
networking. The protocol (REQ / BEGIN / END lines, everything base64) is
described in lab/README.md and in execd. Callers are serialised with
flock(DIR/exec.lock): the port carries one conversation at a time.

(The module is not called exec.py: `from .exec import exec` would leave
the package attribute `labvm.exec` depending on import order.)
"""

import base64
import os
import fcntl
import re
import secrets
import shlex
import socket
import time

from .errors import LabError
from .qemu import qemu_pid
from .rundir import paths


def exec(dir, cmd, timeout=60.0, binary=False):
    """Run CMD (a shell string, or an argv list) in the guest as root.

    Returns (exit status, stdout+stderr) - str, or bytes if binary=True.
    The guest kills the command after `timeout` seconds (status 137)."""
    p = paths(dir)
    if isinstance(cmd, (list, tuple)):
        cmd = shlex.join(cmd)
    if qemu_pid(p) is None or not os.path.exists(p["exec"]):
        raise LabError(f"no lab guest running in {p['dir']}")
    guest_timeout = max(1, int(timeout + 0.999))
    # The reply is base64 over a serial line; leave room for slow transfers.
    deadline = time.monotonic() + guest_timeout + 30
    req_id = secrets.token_hex(8)
    request = f"REQ {req_id} {guest_timeout} {base64.b64encode(cmd.encode()).decode()}\n"

    with open(p["lock"], "a") as lock:
        # Only one client may talk to the port at a time.
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"exec: timed out waiting for {p['lock']}") from None
                time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            s.connect(p["exec"])
            s.sendall(request.encode())
            out = _exec_reply(s, req_id, deadline)
        except OSError as e:
            raise LabError(f"exec: {p['exec']}: {e}") from None
        finally:
            s.close()
    rc, data = out
    return rc, (data if binary else data.decode(errors="replace"))


def _exec_reply(s, req_id, deadline):
    begin = f"BEGIN {req_id}".encode()
    end_re = re.compile(rb"END " + req_id.encode() + rb" (\d+)")
    buf = b""
    body = None
    while True:
        # Consume whole lines by offset: re-slicing the buffer per line would
        # make multi-megabyte replies quadratic.
        pos = 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            line = buf[pos:nl].strip(b"\r")
            pos = nl + 1
            if body is None:
                if line == begin:
                    body = []
                continue  # output of an earlier, abandoned request
            m = end_re.fullmatch(line)
            if m:
                try:
                    return int(m.group(1)), base64.b64decode(b"".join(body), validate=True)
                except ValueError as e:
                    raise LabError(f"exec: corrupt reply from guest: {e}") from None
            body.append(line)
        buf = buf[pos:]
        left = deadline - time.monotonic()
        if left <= 0:
            raise LabError("exec: timed out waiting for the guest's reply")
        s.settimeout(left)
        try:
            # QEMU forwards the UART a byte at a time and its unix socket
            # buffer fills after a few hundred one-byte writes, so read
            # eagerly: pausing to batch would throttle the guest instead.
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not chunk:
            raise LabError("exec: QEMU closed the exec socket (guest gone?)")
        buf += chunk
