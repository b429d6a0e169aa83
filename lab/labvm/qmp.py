"""A small synchronous QMP client (QEMU's JSON monitor protocol).

The lab uses it to stop QEMU, and tests use it for ground truth that never
comes from vmsight (pmemsave, dump-guest-memory, HMP `info registers`).
QEMU serves one client per QMP socket, so every lab guest has two sockets:
qmp.sock for vmsight and lab-qmp.sock for this client.
"""

import json
import socket
import time

from .errors import LabError, QMPError


class QMP:
    """A small synchronous QMP client.

    QMP(path) connects to a QMP unix socket and negotiates capabilities.
    cmd(name, **kwargs) runs a command (underscores in keyword names become
    dashes, e.g. cpu_index= -> "cpu-index"); execute(name, arguments) passes
    arguments verbatim. Both return the "return" value, raise QMPError on an
    "error" reply and LabError on timeouts or a closed connection.
    Asynchronous events met while waiting are kept in self.events."""

    def __init__(self, path, timeout=30.0, connect_timeout=5.0):
        self.path = path
        self.timeout = timeout
        self.events = []
        self._buf = b""
        self._id = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(connect_timeout)
            self.sock.connect(path)
            try:
                greeting = self._read_msg(time.monotonic() + connect_timeout)
            except LabError:
                # QEMU serves one client per QMP socket; others wait unanswered.
                raise LabError(f"QMP {path}: no greeting within {connect_timeout}s "
                               f"(another client connected?)") from None
            if "QMP" not in greeting:
                raise LabError(f"{path}: not a QMP greeting: {greeting!r}")
            self.greeting = greeting
            self.execute("qmp_capabilities")
        except OSError as e:
            self.sock.close()
            raise LabError(f"QMP connect {path}: {e}") from None
        except BaseException:
            self.sock.close()
            raise

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read_msg(self, deadline):
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError(f"QMP {self.path}: timed out waiting for QEMU")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise LabError(f"QMP {self.path}: connection closed by QEMU")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise LabError(f"QMP {self.path}: bad JSON from QEMU: {line[:200]!r}") from None

    def execute(self, name, arguments=None, timeout=None):
        self._id += 1
        msg = {"execute": name, "id": self._id}
        if arguments:
            msg["arguments"] = arguments
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError as e:
            raise LabError(f"QMP {self.path}: send {name}: {e}") from None
        while True:
            reply = self._read_msg(deadline)
            if "event" in reply:
                self.events.append(reply)
                continue
            if reply.get("id") != self._id:
                continue  # a stale reply to an earlier, timed-out command
            if "error" in reply:
                err = reply["error"]
                raise QMPError(name, err.get("class", "?"), err.get("desc", "?"))
            return reply.get("return")

    def cmd(self, name, **kwargs):
        return self.execute(name, {k.replace("_", "-"): v for k, v in kwargs.items()})

    def hmp(self, text, timeout=None):
        """Run an HMP command; returns its text output with CRLF turned into LF."""
        out = self.execute("human-monitor-command", {"command-line": text}, timeout)
        return out.replace("\r\n", "\n")
