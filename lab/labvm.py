"""labvm - build and run the vmsight lab guest (a real Linux VM under QEMU).

vmsight's tests, demo and benchmarks need a live guest whose memory can be
read from the host and whose true state is known. This module builds one
from Debian packages only (a stock kernel package, busybox-static and a
small C workload compiled here), boots it under QEMU with guest RAM in a
shared /dev/shm file, and collects the guest's own account of its state
("ground truth") from the serial console into DIR/truth/.

Everything that is slow to build (kernel extraction, workload binary,
initramfs) is cached under lab/cache/, keyed on its inputs, so a second
start only pays for booting. Python stdlib only; `lab/vm` is a thin CLI.

Public API:
    start(dir, mem="512M", smp=1, paging=5, kernel=DEFAULT_KERNEL,
          accel="tcg", timeout=300) -> Guest
    stop(dir)
    exec(dir, cmd, timeout=60) -> (rc, output)
    QMP(path)  - minimal QMP client (cmd, execute, hmp)
    info(dir) -> dict  (the DIR/guest.json written by start)
"""

import base64
import fcntl
import gzip
import hashlib
import json
import lzma
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

LAB = os.path.dirname(os.path.abspath(__file__))
GUEST_SRC = os.path.join(LAB, "guest")
CACHE = os.environ.get("VMSIGHT_LAB_CACHE", os.path.join(LAB, "cache"))

DEFAULT_KERNEL = "linux-image-cloud-amd64"
BUSYBOX = "/bin/busybox"
QEMU = "qemu-system-x86_64"
SHM_PREFIX = "/dev/shm/vmsight-lab-"
DATA_DISK_MIB = 64

# Modules the guest loads with insmod. The virtio chain and ext4 are needed
# for the data disk (each is skipped when the kernel has it built in, as the
# cloud flavour does for ext4); the extras are harmless and make sure several
# modules from the package are loaded even if a kernel builds virtio in.
REQUIRED_MODULES = ["virtio_pci", "virtio_blk", "ext4"]
EXTRA_MODULES = ["dummy", "loop"]
FALLBACK_MODULES = ["tun", "veth", "nlmon", "crc_itu_t"]
MIN_MODULES = 3

MARK_BEGIN = b"===VMS-TRUTH-BEGIN "
MARK_END = b"===VMS-TRUTH-END "
MARK_DONE = b"===VMS-TRUTH-DONE==="
MARK_FAIL_RE = re.compile(rb"===VMS-TRUTH-FAIL (.*?)===")

# Bump when the layout of cached artefacts changes.
CACHE_FORMAT = "1"


class LabError(Exception):
    """Any failure of the lab; the message is meant for humans."""


class QMPError(LabError):
    """QEMU answered a QMP command with an error."""

    def __init__(self, command, cls, desc):
        super().__init__(f"QMP {command}: {cls}: {desc}")
        self.command = command
        self.cls = cls
        self.desc = desc


def _log(msg):
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def _run(cmd, what, **kw):
    """Run a helper tool; on failure raise with its output so the reason is visible."""
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, **kw)
    except FileNotFoundError:
        raise LabError(f"{what}: {cmd[0]} not found (run scripts/deps)") from None
    if r.returncode != 0:
        out = (r.stderr or b"").decode(errors="replace").strip() or \
              (r.stdout or b"").decode(errors="replace").strip()
        raise LabError(f"{what} failed (exit {r.returncode}): {' '.join(cmd)}\n{out}")
    return r.stdout.decode(errors="replace")


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _CacheLock:
    """Serialises cache builds between concurrent lab processes."""

    def __enter__(self):
        os.makedirs(CACHE, exist_ok=True)
        self.f = open(os.path.join(CACHE, ".lock"), "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.f.close()


# --------------------------------------------------------------------------
# Kernel: resolve the Debian package, download and unpack it once.
# --------------------------------------------------------------------------

_apt_updated = False


def _apt_cache(args):
    """apt-cache ARGS; refreshes empty apt lists once (fresh containers have none)."""
    global _apt_updated
    while True:
        r = subprocess.run(["apt-cache"] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout
        if _apt_updated:
            raise LabError(f"apt-cache {' '.join(args)} failed:\n{r.stderr.strip()}")
        _log("apt lists look empty; running apt-get update -qq")
        _run(["apt-get", "update", "-qq"], "apt-get update")
        _apt_updated = True


APT_LISTS = "/var/lib/apt/lists"


def resolve_kernel(package):
    """Follow metapackages (linux-image-cloud-amd64 -> linux-image-6.1.0-NN-cloud-amd64).

    Returns (real package name, candidate version). apt-cache takes about a
    second here, so answers are remembered until the apt lists change."""
    try:
        lists = os.stat(APT_LISTS).st_mtime_ns
    except OSError:
        lists = 0
    memo_path = os.path.join(CACHE, "resolved.json")
    try:
        with open(memo_path) as f:
            memo = json.load(f)
    except (OSError, ValueError):
        memo = {}
    hit = memo.get(package)
    if hit and hit.get("lists") == lists and lists:
        return hit["package"], hit["version"]
    real, version = _resolve_kernel_apt(package)
    memo[package] = {"package": real, "version": version, "lists": lists}
    _mkdir(CACHE)
    tmp = f"{memo_path}.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(memo, f, indent=1)
    os.replace(tmp, memo_path)
    return real, version


def _resolve_kernel_apt(package):
    pkg = package
    for _ in range(5):
        out = _apt_cache(["depends", "--no-recommends", "--no-suggests",
                          "--no-conflicts", "--no-breaks", "--no-replaces",
                          "--no-enhances", pkg])
        nxt = None
        for line in out.splitlines():
            m = re.match(r"\s*\|?Depends:\s*(linux-image-\S+)", line)
            if m and m.group(1) != pkg and not m.group(1).startswith("<"):
                nxt = m.group(1)
                break
        if nxt is None:
            break
        pkg = nxt
    else:
        raise LabError(f"cannot resolve kernel package {package}: dependency loop")
    show = _apt_cache(["show", "--no-all-versions", pkg])
    m = re.search(r"^Version:\s*(\S+)", show, re.M)
    if not m:
        raise LabError(f"apt-cache show {pkg}: no Version field")
    return pkg, m.group(1)


class Kernel:
    """An unpacked kernel package: vmlinuz, System.map, config and modules."""

    def __init__(self, root, package, version):
        self.root = root
        self.package = package
        self.version = version
        mods = None
        for base in ("lib/modules", "usr/lib/modules"):
            d = os.path.join(root, base)
            if os.path.isdir(d):
                rel = sorted(os.listdir(d))
                if rel:
                    mods, self.release = d, rel[0]
                    break
        if mods is None:
            raise LabError(f"{package}: no lib/modules in the package")
        self.moddir = os.path.join(mods, self.release)
        self.vmlinuz = os.path.join(root, "boot", f"vmlinuz-{self.release}")
        self.system_map = os.path.join(root, "boot", f"System.map-{self.release}")
        self.config = os.path.join(root, "boot", f"config-{self.release}")
        if not os.path.isfile(self.vmlinuz):
            raise LabError(f"{package}: no boot/vmlinuz-{self.release} in the package")


def fetch_kernel(package=DEFAULT_KERNEL):
    real, version = resolve_kernel(package)
    safe_ver = re.sub(r"[^A-Za-z0-9.+~-]", "_", version)
    root = os.path.join(CACHE, "kernel", f"{real}_{safe_ver}")
    if os.path.exists(os.path.join(root, ".complete")):
        return Kernel(root, real, version)
    with _CacheLock():
        if os.path.exists(os.path.join(root, ".complete")):
            return Kernel(root, real, version)
        debs = _mkdir(os.path.join(CACHE, "debs"))
        # apt-get download names files PKG_VERSION_ARCH.deb, epoch colon as %3a.
        prefix = f"{real}_{version.replace(':', '%3a')}_"
        deb = [f for f in os.listdir(debs) if f.startswith(prefix) and f.endswith(".deb")]
        if not deb:
            _log(f"downloading {real} {version}")
            _run(["apt-get", "download", f"{real}={version}"], "apt-get download", cwd=debs)
            deb = [f for f in os.listdir(debs) if f.startswith(prefix) and f.endswith(".deb")]
            if not deb:
                raise LabError(f"apt-get download {real}={version}: no {prefix}*.deb in {debs}")
        _log(f"unpacking {deb[0]}")
        tmp = tempfile.mkdtemp(prefix=".unpack-", dir=_mkdir(os.path.dirname(root)))
        try:
            _run(["dpkg-deb", "-x", os.path.join(debs, deb[0]), tmp], "dpkg-deb -x")
            k = Kernel(tmp, real, version)
            # Debian generates modules.dep at install time (depmod in postinst),
            # so an unpacked package usually has none: generate it here.
            if not os.path.exists(os.path.join(k.moddir, "modules.dep")):
                base = os.path.dirname(os.path.dirname(os.path.dirname(k.moddir)))
                _run(["depmod", "-b", base, k.release], "depmod")
            open(os.path.join(tmp, ".complete"), "w").close()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if os.path.exists(root):
            shutil.rmtree(root)
        os.rename(tmp, root)
    return Kernel(root, real, version)


def _mkdir(path):
    os.makedirs(path, exist_ok=True)
    return path


def _modname(path):
    base = os.path.basename(path)
    base = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", base)
    return base.replace("-", "_")


def _read_kv_lines(path):
    try:
        with open(path) as f:
            return [l.split() for l in f if l.strip() and not l.startswith("#")]
    except FileNotFoundError:
        return []


def resolve_modules(kernel):
    """Pick the modules to insmod, dependencies first.

    Hard dependencies come from modules.dep; "pre:" soft dependencies from
    modules.softdep (generic ext4 needs crc32c that way), resolved through
    modules.alias. Busybox insmod knows neither, so the host orders them.
    Returns a list of paths relative to the kernel's module directory."""
    deps = {}
    byname = {}
    with open(os.path.join(kernel.moddir, "modules.dep")) as f:
        for line in f:
            if ":" not in line:
                continue
            mod, rest = line.split(":", 1)
            deps[mod] = rest.split()
            byname[_modname(mod)] = mod
    builtin = {_modname(w[0]) for w in _read_kv_lines(os.path.join(kernel.moddir, "modules.builtin"))}
    aliases = {}
    for w in _read_kv_lines(os.path.join(kernel.moddir, "modules.alias")):
        if len(w) == 3 and w[0] == "alias":
            aliases.setdefault(w[1], []).append(_modname(w[2]))
    softpre = {}
    for w in _read_kv_lines(os.path.join(kernel.moddir, "modules.softdep")):
        if len(w) >= 3 and w[0] == "softdep":
            pre, mode = [], None
            for tok in w[2:]:
                if tok in ("pre:", "post:"):
                    mode = tok
                elif mode == "pre:":
                    pre.append(tok)
            softpre[_modname(w[1])] = pre

    def lookup(name):
        """Module path for a name or alias; None if built in or unknown."""
        name = name.replace("-", "_")
        if name in builtin:
            return None
        if name in byname:
            return byname[name]
        # Prefer a generic implementation: it works on any (emulated) CPU.
        cands = sorted(aliases.get(name, []) + aliases.get(name.replace("_", "-"), []),
                       key=lambda n: (not n.endswith("_generic"), n))
        if any(c in builtin for c in cands):
            return None
        return next((byname[c] for c in cands if c in byname), None)

    order = []

    def visit(mod, stack=()):
        if mod in order:
            return
        if mod in stack:
            raise LabError(f"module dependency loop at {mod}")
        for soft in softpre.get(_modname(mod), []):
            dep = lookup(soft)
            if dep:
                visit(dep, stack + (mod,))
        for d in deps.get(mod, []):
            visit(d, stack + (mod,))
        order.append(mod)

    for name in REQUIRED_MODULES:
        if name in byname:
            visit(byname[name])
        elif name not in builtin:
            raise LabError(f"{kernel.package}: module {name} is neither in modules.dep nor built in")
    for name in EXTRA_MODULES:
        if name in byname:
            visit(byname[name])
    for name in FALLBACK_MODULES:
        if len(order) >= MIN_MODULES:
            break
        if name in byname:
            visit(byname[name])
    if len(order) < MIN_MODULES:
        raise LabError(f"{kernel.package}: found only {len(order)} loadable modules of "
                       f"{REQUIRED_MODULES + EXTRA_MODULES + FALLBACK_MODULES}")
    return order


def _module_bytes(kernel, rel):
    """A module's contents, decompressed: busybox insmod wants a plain ELF."""
    path = os.path.join(kernel.moddir, rel)
    if rel.endswith(".xz"):
        with lzma.open(path) as f:
            return f.read()
    if rel.endswith(".gz"):
        with gzip.open(path) as f:
            return f.read()
    if rel.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# Userland: workload binary and initramfs.
# --------------------------------------------------------------------------

WORKLOAD_NAMES = ["vms-sleeper", "vms-threads", "vms-files", "vms-pagegen"]
CFLAGS = ["-static", "-O2", "-pthread", "-Wall", "-Wextra"]


def build_workload():
    src = os.path.join(GUEST_SRC, "workload.c")
    gcc = _run(["gcc", "--version"], "gcc --version").splitlines()[0]
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, _sha256_file(src), gcc, CFLAGS]).encode()).hexdigest()[:16]
    out = os.path.join(CACHE, "workload", f"workload-{key}")
    if os.path.exists(out):
        return out
    with _CacheLock():
        if os.path.exists(out):
            return out
        _mkdir(os.path.dirname(out))
        tmp = out + ".tmp"
        _log("compiling guest/workload.c")
        _run(["gcc"] + CFLAGS + ["-o", tmp, src], "gcc workload.c")
        os.rename(tmp, out)
    return out


# vmsight-agent (agent/, docs/watch.md): compiled here like the workload, so
# the lab does not depend on which build directory was used.
AGENT_SOURCES = ["agent/main.c", "agent/ring.c", "agent/fanotify.c", "agent/vcpu.c"]
AGENT_HEADERS = ["agent/agent.h", "agent/ring.h", "include/vmsight/agent_wire.h"]
AGENT_CFLAGS = ["-static", "-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra"]
AGENT_SHM_MIB = 16          # the ivshmem region (ring header + slots)
AGENT_PORT = 0x560          # isa-debugcon iobase of the vcpu channel
AGENT_CHANNELS = ("shm", "vcpu")


def _build_tool(name, sources, headers, cflags):
    """Compile a static guest program from the repository into the cache."""
    root = os.path.dirname(LAB)
    gcc = _run(["gcc", "--version"], "gcc --version").splitlines()[0]
    sums = [_sha256_file(os.path.join(root, f)) for f in sources + headers]
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, sums, gcc, cflags]).encode()).hexdigest()[:16]
    out = os.path.join(CACHE, "tools", f"{name}-{key}")
    if os.path.exists(out):
        return out
    with _CacheLock():
        if os.path.exists(out):
            return out
        _mkdir(os.path.dirname(out))
        tmp = out + ".tmp"
        _log(f"compiling {name}")
        _run(["gcc"] + cflags + ["-I", os.path.join(root, "include"), "-o", tmp] +
             [os.path.join(root, f) for f in sources], f"gcc {name}")
        os.rename(tmp, out)
    return out


def build_guest_tools():
    """The agent and the file-monitoring test workload: {initramfs path: binary}."""
    return {
        "bin/vmsight-agent": _build_tool("vmsight-agent", AGENT_SOURCES, AGENT_HEADERS, AGENT_CFLAGS),
        "bin/vms-fileops": _build_tool("vms-fileops", ["lab/guest/fileops.c"], [], CFLAGS),
    }


class _Cpio:
    """Writer for the "newc" cpio format the kernel unpacks as initramfs.

    Written by hand so the archive needs no staging tree, no root-owned
    device nodes on the host, and is byte-for-byte reproducible (mtime 0)."""

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


def build_initramfs(kernel, modules, workload, tools=None):
    inputs = {
        "format": CACHE_FORMAT,
        "init": _sha256_file(os.path.join(GUEST_SRC, "init")),
        "execd": _sha256_file(os.path.join(GUEST_SRC, "execd")),
        "busybox": _sha256_file(BUSYBOX),
        "workload": _sha256_file(workload),
        "tools": {k: _sha256_file(v) for k, v in sorted((tools or {}).items())},
        "workload_names": WORKLOAD_NAMES,
        "kernel": [kernel.package, kernel.version, kernel.release],
        "modules": modules,
    }
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    out = os.path.join(CACHE, "initramfs", f"initramfs-{key}.cpio.gz")
    if os.path.exists(out):
        return out
    with _CacheLock():
        if os.path.exists(out):
            return out
        _mkdir(os.path.dirname(out))
        _log("building initramfs")
        c = _Cpio()
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp",
                  "run", "data", "root", "etc/vms"):
            c.dir(d)
        c.chardev("dev/console", 5, 1)
        c.chardev("dev/null", 1, 3, 0o666)
        with open(BUSYBOX, "rb") as f:
            c.file("bin/busybox", f.read(), 0o755)
        applets = _run([BUSYBOX, "--list-full"], "busybox --list-full").split()
        for a in applets:
            if a != "bin/busybox":
                c.symlink(a, "/bin/busybox")
        if "bin/sh" not in applets:
            c.symlink("bin/sh", "/bin/busybox")
        c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        c.file("etc/group", b"root:x:0:\n")
        with open(os.path.join(GUEST_SRC, "init"), "rb") as f:
            c.file("init", f.read(), 0o755)
        with open(os.path.join(GUEST_SRC, "execd"), "rb") as f:
            c.file("bin/vms-execd", f.read(), 0o755)
        for name, path in sorted((tools or {}).items()):
            with open(path, "rb") as f:
                c.file(name, f.read(), 0o755)
        with open(workload, "rb") as f:
            c.hardlinks([f"bin/{n}" for n in WORKLOAD_NAMES], f.read())
        listing = []
        for rel in modules:
            plain = re.sub(r"\.(xz|gz|zst)$", "", rel)
            c.file(f"lib/modules/{kernel.release}/{plain}", _module_bytes(kernel, rel))
            listing.append(f"{kernel.release}/{plain}\n")
        c.file("etc/vms/modules", "".join(listing).encode())
        tmp = out + ".tmp"
        with open(tmp, "wb") as f:
            # mtime=0 keeps the archive reproducible.
            with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6, mtime=0) as z:
                z.write(c.finish())
        os.rename(tmp, out)
    return out


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
        _run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "vmsdata", "-E", "root_owner=0:0",
              "-d", src, path], "mke2fs")


# --------------------------------------------------------------------------
# QMP client
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# VM lifecycle
# --------------------------------------------------------------------------

class Guest:
    """What start() returns: paths and facts about a running lab guest."""

    def __init__(self, d):
        self.__dict__.update(d)

    def __repr__(self):
        return f"Guest({self.__dict__!r})"


def _paths(dir):
    dir = os.path.abspath(dir)
    j = lambda n: os.path.join(dir, n)
    return {
        "dir": dir, "qmp": j("qmp.sock"), "labqmp": j("lab-qmp.sock"), "exec": j("exec.sock"),
        "pid": j("qemu.pid"), "serial": j("serial.log"), "truth": j("truth"),
        "ram": j("ram.path"), "target": j("target"), "gdb": j("gdb.port"),
        "stderr": j("qemu.stderr"), "data": j("data.img"), "info": j("guest.json"),
        "lock": j("exec.lock"),
        "agent_shm": j("agent-shm.path"), "agent_sock": j("agent-vcpu.sock"),
    }


def parse_size_mib(size):
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", str(size), re.I)
    if not m:
        raise LabError(f"bad memory size {size!r} (use e.g. 512M or 5G)")
    n, unit = int(m.group(1)), m.group(2).upper()
    mib = {"K": n / 1024, "": n, "M": n, "G": n * 1024, "T": n * 1024 * 1024}[unit]
    if mib != int(mib) or mib < 128:
        raise LabError(f"memory size {size!r}: need a whole number of MiB, at least 128M")
    return int(mib)


def _qemu_pid(p):
    """PID of the QEMU of this DIR if it is alive, else None.

    Checks the process's command line names this DIR so a recycled PID of
    an unrelated process is never signalled."""
    try:
        with open(p["pid"]) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, ValueError):
        return None
    if p["qmp"].encode() not in cmdline:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
    except OSError:
        return None
    return pid


def _wait_exit(pid, timeout):
    """Wait (bounded) for a non-child process to exit; True if it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (OSError, AttributeError):
        fd = None
    try:
        if fd is not None:
            return bool(select.select([fd], [], [], timeout)[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not os.path.exists(f"/proc/{pid}"):
                return True
            time.sleep(0.05)
        return not os.path.exists(f"/proc/{pid}")
    finally:
        if fd is not None:
            os.close(fd)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _host_has_la57():
    with open("/proc/cpuinfo") as f:
        return bool(re.search(r"^flags\s*:.*\bla57\b", f.read(), re.M))


def qemu_command(p, kernel, initrd, mem_mib, smp, paging, accel, ram_path, gdb_port, agent=None,
                 agent_shm=None):
    """The QEMU command line; see lab/README.md for what each part is for."""
    la57 = "" if paging == 5 else ",la57=off"
    if accel == "kvm":
        cpu = ["-accel", "kvm", "-cpu", "host" + la57]
    else:
        cpu = ["-accel", "tcg", "-cpu", "max" + la57]
    append = "console=ttyS0,115200 panic=-1 oops=panic"
    agent_args = []
    if agent:
        # Both channels are wired; vms.agent= tells /init which one the
        # agent starts on. ivshmem master=on keeps the VM migratable (and
        # background snapshots working): QEMU migrates the region's content.
        append += f" vms.agent={agent}"
        agent_args = [
            "-object", f"memory-backend-file,id=vmsight-agent-mem,size={AGENT_SHM_MIB}M,"
                       f"mem-path={agent_shm},share=on",
            "-device", "ivshmem-plain,id=vmsight-agent,memdev=vmsight-agent-mem,master=on",
            "-chardev", f"socket,id=vmsight-agentcon,path={p['agent_sock']},server=on,wait=off",
            "-device", f"isa-debugcon,id=vmsight-agentcon,iobase={AGENT_PORT:#x},chardev=vmsight-agentcon",
        ]
    return [
        QEMU, "-nodefaults", "-no-user-config",
        "-name", "vmsight-lab,debug-threads=on",
        "-machine", "q35,memory-backend=ram",
        "-object", f"memory-backend-file,id=ram,size={mem_mib}M,mem-path={ram_path},share=on",
        "-m", f"{mem_mib}M", "-smp", str(smp),
        *cpu,
        "-kernel", kernel.vmlinuz, "-initrd", initrd, "-append", append,
        "-drive", f"file={p['data']},if=none,id=data,format=raw",
        "-device", "virtio-blk-pci,drive=data",
        "-nic", "none",
        "-qmp", f"unix:{p['qmp']},server=on,wait=off",
        "-qmp", f"unix:{p['labqmp']},server=on,wait=off",
        "-gdb", f"tcp:127.0.0.1:{gdb_port}",
        "-serial", f"file:{p['serial']}",
        "-chardev", f"socket,id=exec,path={p['exec']},server=on,wait=off",
        "-serial", "chardev:exec",
        *agent_args,
        "-display", "none", "-no-reboot",
        "-daemonize", "-pidfile", p["pid"],
    ]


def _tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            data = f.read().replace(b"\r", b"")
    except OSError:
        return "(no serial log)"
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def start(dir, mem="512M", smp=1, paging=5, kernel=DEFAULT_KERNEL, accel="tcg", timeout=300.0, agent=None):
    """Build (cached) and boot the lab guest in DIR; return once ground truth is complete.

    agent="shm" or "vcpu" adds the vmsight-agent devices (an ivshmem region
    and an isa-debugcon port) and starts the agent on that channel."""
    t0 = time.monotonic()
    p = _paths(dir)
    mem_mib = parse_size_mib(mem)
    smp = int(smp)
    paging = int(paging)
    if smp < 1:
        raise LabError("--smp must be at least 1")
    if paging not in (4, 5):
        raise LabError("--paging must be 4 or 5")
    if accel not in ("tcg", "kvm"):
        raise LabError("--accel must be tcg or kvm")
    if agent not in (None,) + AGENT_CHANNELS:
        raise LabError(f"--channel must be one of {', '.join(AGENT_CHANNELS)}")
    if "," in p["dir"]:
        raise LabError(f"{p['dir']}: QEMU options can not take a path with a comma")
    if len(p["labqmp"].encode()) >= 108:
        raise LabError(f"{p['dir']}: path too long for unix sockets (108 bytes max)")
    if accel == "kvm":
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            raise LabError("--accel kvm: /dev/kvm is not accessible")
        if paging == 5 and not _host_has_la57():
            raise LabError("--accel kvm --paging 5: host CPU has no la57; use --paging 4")
    if shutil.which(QEMU) is None:
        raise LabError(f"{QEMU} not found (run scripts/deps)")

    os.makedirs(p["dir"], exist_ok=True)
    pid = _qemu_pid(p)
    if pid:
        raise LabError(f"a lab guest is already running in {p['dir']} (pid {pid}); "
                       f"run: lab/vm stop --dir {p['dir']}")
    stop(p["dir"])  # clear leftovers of a guest that died on its own
    for n in ("serial", "stderr", "target", "gdb", "info"):
        if os.path.exists(p[n]):
            os.unlink(p[n])
    shutil.rmtree(p["truth"], ignore_errors=True)

    k = fetch_kernel(kernel)
    modules = resolve_modules(k)
    initrd = build_initramfs(k, modules, build_workload(), build_guest_tools())
    build_data_disk(p["data"])
    t_built = time.monotonic()

    ram_path = f"{SHM_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    agent_shm = f"{SHM_PREFIX}agent-{os.getpid()}-{secrets.token_hex(4)}" if agent else None
    if agent_shm:
        with open(p["agent_shm"], "w") as f:
            f.write(agent_shm + "\n")
    open(p["serial"], "wb").close()
    for attempt in range(3):
        with open(p["ram"], "w") as f:
            f.write(ram_path + "\n")
        port = _free_port()
        cmd = qemu_command(p, k, initrd, mem_mib, smp, paging, accel, ram_path, port, agent, agent_shm)
        with open(p["stderr"], "wb") as err:
            # stderr goes to a file, not a pipe: the daemonized QEMU would
            # otherwise hold the pipe open and we could not tell when the
            # launcher process is done.
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        with open(p["stderr"], "rb") as f:
            errtext = f.read().decode(errors="replace").strip()
        if r.returncode == 0:
            break
        stop(p["dir"])  # QEMU may have created the RAM file and sockets already
        # Another process may grab the free port between our probe and QEMU's bind.
        if "gdb" in errtext.lower() and attempt < 2:
            continue
        raise LabError(f"QEMU failed to start (exit {r.returncode}):\n{errtext}\n"
                       f"command: {shlex.join(cmd)}")
    with open(p["gdb"], "w") as f:
        f.write(f"{port}\n")
    with open(p["target"], "w") as f:
        f.write(f"qmp:{p['qmp']}\n")
    pid = _qemu_pid(p)
    if pid is None:
        stop(p["dir"])
        raise LabError(f"QEMU exited right after starting:\n{errtext}\n{_tail(p['serial'])}")
    t_launched = time.monotonic()

    try:
        _wait_truth(p, pid, t0 + timeout, timeout)
        t_ready = time.monotonic()
        sections = save_truth(p)
    except BaseException:
        stop(p["dir"])
        raise

    info = {
        "dir": p["dir"], "target": f"qmp:{p['qmp']}", "qmp": p["qmp"], "lab_qmp": p["labqmp"],
        "exec_socket": p["exec"], "serial_log": p["serial"], "truth_dir": p["truth"],
        "ram_path": ram_path, "gdb_port": port, "pid": pid,
        "mem_mib": mem_mib, "smp": smp, "paging": paging, "accel": accel,
        "kernel_package": k.package, "kernel_version": k.version, "kernel_release": k.release,
        "vmlinuz": k.vmlinuz, "system_map": k.system_map, "kernel_config": k.config,
        "modules": modules, "initramfs": initrd, "data_disk": p["data"],
        "agent": agent, "agent_shm": agent_shm, "agent_socket": p["agent_sock"] if agent else None,
        "agent_port": AGENT_PORT if agent else None,
        "truth_sections": sections, "qemu_command": cmd,
        "seconds_build": round(t_built - t0, 2),
        "seconds_boot": round(t_ready - t_launched, 2),
        "seconds_total": round(time.monotonic() - t0, 2),
    }
    with open(p["info"], "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return Guest(info)


def _wait_truth(p, pid, deadline, timeout):
    """Follow the serial log until the guest prints DONE (or FAIL, or QEMU dies)."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = None
    pos = 0
    tail = b""
    try:
        with open(p["serial"], "rb") as f:
            while True:
                f.seek(pos)
                data = f.read()
                pos += len(data)
                # Keep enough of the previous read that a marker split
                # across two reads is still found.
                window = tail + data
                if MARK_DONE in window:
                    return
                m = MARK_FAIL_RE.search(window)
                if m:
                    raise LabError(f"guest setup failed: {m.group(1).decode(errors='replace')}\n"
                                   f"--- serial log tail ---\n{_tail(p['serial'])}")
                tail = window[-256:]
                if _qemu_pid(p) is None:
                    raise LabError(f"QEMU exited before the guest was ready "
                                   f"(guest panic or crash?)\n--- serial log tail ---\n"
                                   f"{_tail(p['serial'])}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(f"timed out after {timeout:.0f}s waiting for the guest's "
                                   f"ground truth\n--- serial log tail ---\n{_tail(p['serial'])}")
                # Poll the log a few times a second; the pidfd wakes us early if QEMU dies.
                if pidfd is not None:
                    select.select([pidfd], [], [], min(0.2, left))
                else:
                    time.sleep(min(0.2, left))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def save_truth(p):
    """Split the serial log's truth sections into DIR/truth/NAME.txt (CRs removed)."""
    with open(p["serial"], "rb") as f:
        log = f.read().replace(b"\r", b"")
    tmp = p["truth"] + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    names = []
    pos = 0
    while True:
        b = log.find(MARK_BEGIN, pos)
        if b < 0:
            break
        eol = log.find(b"===\n", b)
        if eol < 0:
            raise LabError("serial log: truncated truth section header")
        header = log[b + len(MARK_BEGIN):eol].decode(errors="replace").split()
        name, encoding = (header + [None])[:2] if header else ("", None)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or len(header) > 2:
            raise LabError(f"serial log: bad truth section header {header!r}")
        start = eol + 4
        endmark = MARK_END + name.encode() + b"==="
        e = log.find(endmark, start)
        if e < 0:
            raise LabError(f"serial log: truth section {name} has no end marker")
        body = log[start:e]
        if encoding == "gzip+base64":
            try:
                body = gzip.decompress(base64.b64decode(b"".join(body.split()), validate=True))
            except (ValueError, OSError, EOFError) as err:
                raise LabError(f"serial log: truth section {name}: bad gzip+base64: {err}") from None
        elif encoding is not None:
            raise LabError(f"serial log: truth section {name}: unknown encoding {encoding}")
        if body and not body.endswith(b"\n"):
            body += b"\n"
        with open(os.path.join(tmp, f"{name}.txt"), "wb") as out:
            out.write(body)
        names.append(name)
        pos = e + len(endmark)
    need = ["workload", "ps", "threads", "modules", "kallsyms", "dmesg", "iomem", "uname"]
    if "workload" in names:
        with open(os.path.join(tmp, "workload.txt")) as f:
            for line in f:
                if line.strip():
                    pid = line.split()[0]
                    need += [f"maps-{pid}", f"fd-{pid}", f"fdinfo-{pid}"]
    for n in need:
        if n not in names:
            raise LabError(f"serial log: truth section {n} missing")
    with open(os.path.join(tmp, "threads.json"), "w") as f:
        json.dump(parse_threads(os.path.join(tmp, "threads.txt")), f, indent=1)
        f.write("\n")
    shutil.rmtree(p["truth"], ignore_errors=True)
    os.rename(tmp, p["truth"])
    return names


def parse_threads(path):
    """Parse truth/threads.txt into a list of process dicts (see README)."""
    procs = []
    cur = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("process "):
                cur = {"pid": int(line.split()[1]), "threads": []}
            elif cur is None:
                continue
            elif line == "end":
                procs.append(cur)
                cur = None
            elif line.startswith("cmdline"):
                cur["cmdline"] = line[8:]
            elif line.startswith("thread "):
                _, tid, comm = (line.split(" ", 2) + [""])[:3]
                cur["threads"].append({"tid": int(tid), "comm": comm})
            elif ":" in line:
                key, val = line.split(":", 1)
                val = val.strip()
                if key == "Name":
                    cur["name"] = val
                elif key in ("Pid", "PPid", "Tgid"):
                    cur[key.lower()] = int(val)
                elif key in ("Uid", "Gid"):
                    cur[key.lower()] = [int(x) for x in val.split()]
    return procs


def _remove_shm(record):
    """Remove the /dev/shm file named in RECORD (the guest RAM, the agent's
    region), then RECORD itself."""
    try:
        with open(record) as f:
            shm = f.read().strip()
        # Only ever delete files that look like ours.
        if shm.startswith(SHM_PREFIX) and "/" not in shm[len("/dev/shm/"):]:
            try:
                os.unlink(shm)
            except FileNotFoundError:
                pass
        os.unlink(record)
    except FileNotFoundError:
        pass


def stop(dir):
    """Stop the guest of DIR (if any) and remove its shared files. Idempotent."""
    p = _paths(dir)
    pid = _qemu_pid(p)
    if pid:
        for sock in (p["labqmp"], p["qmp"]):
            try:
                with QMP(sock, timeout=5, connect_timeout=2) as q:
                    q.execute("quit")
                break
            except LabError:
                continue  # QEMU may close the socket before answering; exit is what counts
        if not _wait_exit(pid, 10):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if _qemu_pid(p) != pid:
                    break
                os.kill(pid, sig)
                if _wait_exit(pid, 5):
                    break
            else:
                raise LabError(f"QEMU pid {pid} did not exit after SIGKILL")
    _remove_shm(p["ram"])
    _remove_shm(p["agent_shm"])
    for n in ("qmp", "labqmp", "exec", "pid", "lock", "gdb", "target", "agent_sock"):
        try:
            os.unlink(p[n])
        except FileNotFoundError:
            pass


def info(dir):
    """The guest.json that start() wrote for DIR."""
    with open(_paths(dir)["info"]) as f:
        return json.load(f)


# --------------------------------------------------------------------------
# exec over the second serial port (protocol: see guest/execd)
# --------------------------------------------------------------------------

def exec(dir, cmd, timeout=60.0, binary=False):
    """Run CMD (a shell string, or an argv list) in the guest as root.

    Returns (exit status, stdout+stderr) - str, or bytes if binary=True.
    The guest kills the command after `timeout` seconds (status 137)."""
    p = _paths(dir)
    if isinstance(cmd, (list, tuple)):
        cmd = shlex.join(cmd)
    if _qemu_pid(p) is None or not os.path.exists(p["exec"]):
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
