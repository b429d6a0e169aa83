"""What a hostile guest or another local user can make root's vmsight do
with the profile cache (docs/kernel.md, "The profile cache and whom it
trusts").

- A guest chooses its own banner, so the release string vmsight names cache
  files with is the guest's to choose: a guest-memory dump whose
  linux_banner says `Linux version ../../../../<dir>/pwn/evil` must not make
  vmsight write outside its cache directory. The banner's physical address
  comes from the guest's own /proc/kallsyms and QEMU's gva2gpa, the dump is
  QEMU's own dump-guest-memory, and the patched bytes are read back with
  QEMU's pmemsave beforehand to be sure they are the banner's.
- Another user (`nobody`, through util-linux setpriv) who can write the
  cache directory plants symlinks where the temporary files went, and a
  forged profile and layout (.views) file with a valid checksum: root's
  vmsight refuses the directory (and says so), leaves the symlinks' target
  alone, and shows the guest's true process names (the guest's boot-time
  /proc listing). A control run shows that the forged layout, put there by
  root itself, is accepted - a checksum is no authentication, so only the
  directory's and files' ownership keeps it out.
"""

import json
import os
import re
import shutil
import stat
import struct
import subprocess
import tempfile

NOBODY = 65534


def _truth_symbol(g, name):
    with open(os.path.join(g.truth_dir, "kallsyms.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == name and "[" not in line:
                return int(parts[0], 16)
    raise AssertionError(f"{name} not in the guest's kallsyms")


def _workload_names(g):
    """pid -> name of the lab workload's processes, from the guest's boot-time /proc."""
    truth = {p["pid"]: p for p in json.load(open(os.path.join(g.truth_dir, "threads.json")))}
    with open(os.path.join(g.truth_dir, "workload.txt")) as f:
        pids = [int(l.split()[0]) for l in f if l.strip()]
    assert pids, "no workload in the guest's truth"
    return {pid: truth[pid]["name"] for pid in pids}


def _ps_names(ctx, target, *extra):
    rows = ctx.vmsight_json("-t", target, "ps", *extra)
    return {r["pid"]: r["comm"] for r in rows}


def _tree(root):
    """Every path under ROOT (relative), directories included."""
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


class _Env:
    """os.environ with some variables set, for the vmsight runs inside."""

    def __init__(self, **kw):
        self.kw, self.old = kw, {}

    def __enter__(self):
        for k, v in self.kw.items():
            self.old[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_hostile_banner_stays_in_the_cache(ctx):
    """A dump whose banner names `../../../../<dir>/pwn/evil` as its release:
    `vmsight ps` caches under an escaped name in $XDG_CACHE_HOME/vmsight and
    creates nothing anywhere else."""
    g = ctx.guest("small")
    banner_va = _truth_symbol(g, "linux_banner")
    dump = os.path.join(ctx.tmp, "guest.elf")
    with ctx.paused(g):
        with ctx.qmp(g) as q:
            m = re.search(r"gpa: (0x[0-9a-f]+)", q.hmp(f"gva2gpa {banner_va:#x}"))
            assert m, "QEMU could not translate linux_banner's address"
            banner_pa = int(m.group(1), 16)
            q.execute("dump-guest-memory", {"paging": False, "protocol": "file:" + dump}, timeout=600)
    original = ctx.pmemsave(g, banner_pa, 512).split(b"\0")[0]
    with open(os.path.join(g.truth_dir, "uname.txt")) as f:
        release = f.read().split()[2]
    assert original.startswith(b"Linux version " + release.encode() + b" "), original

    # Where the old code would have written: a directory that exists, reached
    # from the cache directory by enough '..' to climb to /.
    pwn_base = tempfile.mkdtemp(prefix="vp", dir="/tmp")
    ctx.on_cleanup(lambda: shutil.rmtree(pwn_base, ignore_errors=True))
    os.mkdir(os.path.join(pwn_base, "pwn"))
    xdg = os.path.join(ctx.tmp, "xdg")
    cache = os.path.join(xdg, "vmsight")
    depth = len(os.path.abspath(cache).strip("/").split("/"))
    hostile = "../" * depth + pwn_base.lstrip("/") + "/pwn/evil"
    patched = b"Linux version " + hostile.encode() + b" (a hostile guest)\n\0"
    assert len(patched) <= len(original) + 1, "the hostile banner does not fit in the guest's"
    with open(dump, "r+b") as f:
        data = f.read(64)
        phoff, = struct.unpack_from("<Q", data, 32)
        phnum, = struct.unpack_from("<H", data, 56)
        f.seek(phoff)
        ph = f.read(56 * phnum)
        offs = [off + banner_pa - paddr
                for typ, _, off, _, paddr, filesz in (struct.unpack_from("<IIQQQQ", ph, 56 * i) for i in range(phnum))
                if typ == 1 and paddr <= banner_pa < paddr + filesz]
        assert len(offs) == 1, offs
        f.seek(offs[0])
        assert f.read(len(original)) == original
        f.seek(offs[0])
        f.write(patched)

    before = _tree(ctx.tmp)
    want = _workload_names(g)
    with _Env(XDG_CACHE_HOME=xdg):
        cold = _ps_names(ctx, "dump:" + dump)
        warm = _ps_names(ctx, "dump:" + dump)
        k = ctx.vmsight_json("-t", "dump:" + dump, "kernel")[0]
    # Nothing where the release pointed, nothing new outside the cache.
    assert os.listdir(os.path.join(pwn_base, "pwn")) == [], os.listdir(os.path.join(pwn_base, "pwn"))
    assert os.listdir(pwn_base) == ["pwn"], os.listdir(pwn_base)
    new = _tree(ctx.tmp) - before
    outside = [p for p in new if not (p == "xdg" or p.startswith("xdg" + os.sep))]
    assert not outside, outside
    # vmsight did read the guest's hostile release, and still works.
    assert k["release"] == hostile, k["release"]
    assert k["symbols_from"] == "cache", k
    for pid, name in want.items():
        assert cold.get(pid) == name and warm.get(pid) == name, (pid, name, cold.get(pid), warm.get(pid))
    st = os.stat(cache)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(), oct(st.st_mode)
    files = sorted(os.listdir(cache))
    profiles = [n for n in files if n.endswith(".vmsprof")]
    # the profile, its layout (.views), its checked-identity note (.checked)
    # and what an attach remembers of the guest or dump (memo-*.vmsmemo)
    assert len(profiles) == 1 and {profiles[0], profiles[0] + ".views"} <= set(files), files
    assert all(n in (profiles[0], profiles[0] + ".views", profiles[0] + ".checked") or
               (n.startswith("memo-") and n.endswith(".vmsmemo")) for n in files), files
    assert k["cache_file"] == os.path.join(cache, profiles[0]), (k["cache_file"], profiles)
    name = profiles[0]
    assert not name.startswith(".") and re.fullmatch(r"[A-Za-z0-9._+%-]+", name), name
    assert name.startswith("%2e.%2f..%2f") and "%2fpwn%2fevil-" in name, name
    for n in files:
        s = os.lstat(os.path.join(cache, n))
        assert stat.S_ISREG(s.st_mode) and stat.S_IMODE(s.st_mode) == 0o600 and s.st_uid == os.geteuid(), (n, s)


def _as_nobody(script, *args):
    """Run a Python SCRIPT as uid/gid nobody (no supplementary groups)."""
    r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "python3", "-c",
                        script, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


PLANT = r"""
import os, shutil, sys
cache, victim, name, src, last = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
# Where the old code put its temporary files: NAME.<pid>.tmp, for the next pids.
for pid in range(last + 1, last + 2000):
    for base in (name, name + ".views"):
        os.symlink(victim, os.path.join(cache, f"{base}.{pid}.tmp"))
# A profile and a forged layout, checksums valid.
for suffix in ("", ".views"):
    shutil.copyfile(os.path.join(src, name + suffix), os.path.join(cache, name + suffix))
    os.chmod(os.path.join(cache, name + suffix), 0o644)
"""


def _fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def _forge_views(views, comm_off, shift):
    """The layout file (struct layout_file: magic, version, size, btf_size,
    checksum, then struct lx_layout) with task_struct.comm moved SHIFT bytes
    and the checksum made again."""
    assert views[:8] == b"VMSVIEWS", views[:8]
    lay = bytearray(views[32:])
    needle = struct.pack("<II", comm_off, 16) + b"\0\0"
    hits = [m.start() for m in re.finditer(re.escape(needle), bytes(lay))]
    assert len(hits) == 1, (hits, comm_off)
    struct.pack_into("<I", lay, hits[0], comm_off + shift)
    return views[:24] + struct.pack("<Q", _fnv1a(lay)) + bytes(lay)


def test_cache_dir_writable_by_another_user(ctx):
    """Another user who can write the cache directory: symlinks planted
    where temporary files go, a forged profile and layout. Root's vmsight
    refuses the directory, says so, writes nothing through the links and
    shows true names; once the directory is root's alone, the other user's
    files in it are ignored and replaced."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        raise AssertionError("needs root and util-linux setpriv (Debian 12 base has both)")
    g = ctx.guest("small")
    want = _workload_names(g)

    # A good cache (root's, 0700): the profile and its layout, for tasks.
    good = os.path.join(ctx.tmp, "good")
    names = _ps_names(ctx, g.target, "--cache-dir", good)
    assert all(names.get(pid) == n for pid, n in want.items()), (names, want)
    k = ctx.vmsight_json("-t", g.target, "kernel", "--cache-dir", good)[0]
    assert k["symbols_from"] == "cache", k
    name = os.path.basename(k["cache_file"])
    assert os.path.exists(os.path.join(good, name + ".views")), os.listdir(good)
    comm = ctx.vmsight_json("-t", g.target, "btf", "task_struct", "comm", "--cache-dir", good)[1]
    assert comm["size"] == 16, comm

    # Control: the forged layout, put there by root, is accepted: only
    # ownership tells it from a real one.
    views_path = os.path.join(good, name + ".views")
    real = open(views_path, "rb").read()
    forged = _forge_views(real, comm["offset"], 2)
    with open(views_path, "wb") as f:
        f.write(forged)
    shifted = _ps_names(ctx, g.target, "--cache-dir", good)
    assert all(shifted.get(pid, "").startswith(n[2:]) and shifted[pid] != n for pid, n in want.items()), \
        (shifted, want)
    with open(views_path, "wb") as f:
        f.write(real)

    # The other user's world: a world-writable cache dir, a victim file.
    base = tempfile.mkdtemp(prefix="vms-sec-", dir="/tmp")
    ctx.on_cleanup(lambda: shutil.rmtree(base, ignore_errors=True))
    os.chmod(base, 0o755)
    src, shared, victim = (os.path.join(base, n) for n in ("src", "cache", "victim"))
    os.mkdir(src)
    os.chmod(src, 0o755)
    for suffix, data in (("", open(os.path.join(good, name), "rb").read()), (".views", forged)):
        with open(os.path.join(src, name + suffix), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(src, name + suffix), 0o644)
    os.mkdir(shared)
    os.chmod(shared, 0o777)
    with open(victim, "w") as f:
        f.write("precious\n")
    last = int(open("/proc/sys/kernel/ns_last_pid").read())
    _as_nobody(PLANT, shared, victim, name, src, str(last))
    planted = {n: os.lstat(os.path.join(shared, n)) for n in os.listdir(shared)}
    assert all(s.st_uid == NOBODY for s in planted.values()) and len(planted) > 1000, len(planted)

    # Root's vmsight: the directory is refused, said once, the tool works.
    rc, out, err = ctx.vmsight("--json", "-t", g.target, "ps", "--cache-dir", shared)
    names = {r["pid"]: r["comm"] for r in map(json.loads, out.splitlines())}
    assert all(names.get(pid) == n for pid, n in want.items()), (names, want)
    assert "not using the cache directory" in err and "others may write" in err and err.count("warning") == 1, err
    k2 = ctx.vmsight_json("-t", g.target, "kernel", "--cache-dir", shared)[0]
    assert k2["cache_file"] == "" and k2["symbols_from"] == "kallsyms", k2
    assert open(victim).read() == "precious\n"
    now = {n: os.lstat(os.path.join(shared, n)) for n in os.listdir(shared)}
    assert now.keys() == planted.keys() and all(s.st_uid == NOBODY for s in now.values())
    assert all(stat.S_ISLNK(s.st_mode) for n, s in now.items() if n.endswith(".tmp"))

    # Someone else's directory, even 0700: refused too.
    theirs = os.path.join(base, "theirs")
    os.mkdir(theirs, 0o700)
    os.chown(theirs, NOBODY, NOBODY)
    rc, _, err = ctx.vmsight("-t", g.target, "kernel", "--cache-dir", theirs)
    assert f"belongs to uid {NOBODY}" in err, err

    # The directory made root's alone; the planted files still in it, owned
    # by nobody: ignored (the profile made again, the layout too), names true.
    os.chmod(shared, 0o700)
    k3 = ctx.vmsight_json("-t", g.target, "kernel", "--cache-dir", shared)[0]
    assert k3["symbols_from"] == "kallsyms" and k3["cache_file"] == os.path.join(shared, name), k3
    rc, out, err = ctx.vmsight("--json", "-t", g.target, "ps", "--cache-dir", shared)
    names = {r["pid"]: r["comm"] for r in map(json.loads, out.splitlines())}
    assert all(names.get(pid) == n for pid, n in want.items()), (names, want)
    assert "warning" not in err, err
    for n in (name, name + ".views"):
        s = os.lstat(os.path.join(shared, n))
        assert stat.S_ISREG(s.st_mode) and s.st_uid == 0 and stat.S_IMODE(s.st_mode) == 0o600, (n, s)
    assert open(os.path.join(shared, name + ".views"), "rb").read() != forged
    assert open(victim).read() == "precious\n"
    assert all(stat.S_ISLNK(os.lstat(os.path.join(shared, n)).st_mode) for n in now if n.endswith(".tmp"))
    k4 = ctx.vmsight_json("-t", g.target, "kernel", "--cache-dir", shared)[0]
    assert k4["symbols_from"] == "cache", k4


def test_btf_paths_refused_clearly(ctx):
    """`vmsight btf` with paths that make no sense: an empty type name, a
    member after a pointer, a negative or out-of-range index - an error that
    says why (exit 1), never a made-up answer. task_struct.pid_links has
    PIDTYPE_MAX = 4 elements in every kernel since 4.19 (the lab's is 6.1)."""
    g = ctx.guest("small")
    cache = os.path.join(ctx.tmp, "cache")

    def btf(*args):
        return ctx.vmsight("-t", g.target, "btf", *args, "--cache-dir", cache, check=False)

    rc, out, err = btf("")
    assert rc == 1 and "empty type name" in err and "bytes" not in out, (rc, out, err)
    rc, out, err = btf("list_head", "next.next")
    assert rc == 1 and "'next' is a pointer" in err and "'.next' cannot follow" in err, err
    rc, out, err = btf("task_struct", "pid_links[-1]")
    assert rc == 1 and "negative" in err and "18446744073709551615" not in out + err, (out, err)
    rc, out, err = btf("task_struct", "pid_links[4]")
    assert rc == 1 and "index 4 is out of range" in err and "4 elements" in err, err
    rc, out, err = btf("task_struct", "pid_links[3]", "pid_links[0].next")
    assert rc == 0 and "pid_links[3]" in out and "pid_links[0].next" in out, (out, err)
