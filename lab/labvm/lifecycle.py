"""Starting and stopping a lab guest.

start() builds what the guest needs (all cached), boots QEMU daemonized
with guest RAM in a /dev/shm file, and returns only once the guest has
printed its ground truth and the host has saved it in DIR/truth/, so a
caller can compare against it at once. Any failure on the way stops QEMU
again and raises LabError with the reason (QEMU's stderr or the tail of the
serial log). stop() is idempotent and removes what start() created outside
DIR (the RAM and agent files in /dev/shm) and the sockets.
"""

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import time

from .disk import build_data_disk
from .errors import LabError
from .initramfs import build_initramfs
from .kernel import DEFAULT_KERNEL, fetch_kernel
from .modules import resolve_modules
from .programs import build_guest_tools, build_workload
from .qemu import (AGENT_CHANNELS, AGENT_PORT, QEMU, free_port, host_has_la57, qemu_command, qemu_pid,
                   wait_exit)
from .qmp import QMP
from .rundir import SHM_PREFIX, Guest, paths, remove_shm, tail
from .truth import save_truth, wait_truth


def parse_size_mib(size):
    """A size like 512M, 5G or 1024 (MiB) -> MiB; at least 128 MiB, whole MiB only."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", str(size), re.I)
    if not m:
        raise LabError(f"bad memory size {size!r} (use e.g. 512M or 5G)")
    n, unit = int(m.group(1)), m.group(2).upper()
    mib = {"K": n / 1024, "": n, "M": n, "G": n * 1024, "T": n * 1024 * 1024}[unit]
    if mib != int(mib) or mib < 128:
        raise LabError(f"memory size {size!r}: need a whole number of MiB, at least 128M")
    return int(mib)


def _check_options(p, smp, paging, accel, agent):
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
        if paging == 5 and not host_has_la57():
            raise LabError("--accel kvm --paging 5: host CPU has no la57; use --paging 4")
    if shutil.which(QEMU) is None:
        raise LabError(f"{QEMU} not found (run scripts/deps)")


def _clear_dir(p):
    """Make DIR ready for a new guest; refuse if one is running there."""
    os.makedirs(p["dir"], exist_ok=True)
    pid = qemu_pid(p)
    if pid:
        raise LabError(f"a lab guest is already running in {p['dir']} (pid {pid}); "
                       f"run: lab/vm stop --dir {p['dir']}")
    stop(p["dir"])  # clear leftovers of a guest that died on its own
    for n in ("serial", "stderr", "target", "gdb", "info"):
        if os.path.exists(p[n]):
            os.unlink(p[n])
    shutil.rmtree(p["truth"], ignore_errors=True)


def _write_record(path, shm):
    if shm:
        with open(path, "w") as f:
            f.write(shm + "\n")


def _launch(p, ram_path, agent_shm, make_cmd):
    """Run QEMU (it daemonizes) with make_cmd(gdb_port); returns (cmd, gdb_port, its stderr)."""
    for attempt in range(3):
        # Written each attempt: stop() after a failed one removes them.
        _write_record(p["ram"], ram_path)
        _write_record(p["agent_shm"], agent_shm)
        port = free_port()
        cmd = make_cmd(port)
        with open(p["stderr"], "wb") as err:
            # stderr goes to a file, not a pipe: the daemonized QEMU would
            # otherwise hold the pipe open and we could not tell when the
            # launcher process is done.
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        with open(p["stderr"], "rb") as f:
            errtext = f.read().decode(errors="replace").strip()
        if r.returncode == 0:
            return cmd, port, errtext
        stop(p["dir"])  # QEMU may have created the RAM file and sockets already
        # Another process may grab the free port between our probe and QEMU's bind.
        if "gdb" in errtext.lower() and attempt < 2:
            continue
        raise LabError(f"QEMU failed to start (exit {r.returncode}):\n{errtext}\n"
                       f"command: {shlex.join(cmd)}")


def start(dir, mem="512M", smp=1, paging=5, kernel=DEFAULT_KERNEL, accel="tcg", timeout=300.0, agent=None):
    """Build (cached) and boot the lab guest in DIR; return once ground truth is complete.

    agent="shm" or "vcpu" adds the vmsight-agent devices (an ivshmem region
    and an isa-debugcon port) and starts the agent on that channel."""
    t0 = time.monotonic()
    p = paths(dir)
    mem_mib = parse_size_mib(mem)
    smp = int(smp)
    paging = int(paging)
    _check_options(p, smp, paging, accel, agent)
    _clear_dir(p)

    k = fetch_kernel(kernel)
    modules = resolve_modules(k)
    initrd = build_initramfs(k, modules, build_workload(), build_guest_tools())
    build_data_disk(p["data"])
    t_built = time.monotonic()

    ram_path = f"{SHM_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    agent_shm = f"{SHM_PREFIX}agent-{os.getpid()}-{secrets.token_hex(4)}" if agent else None
    open(p["serial"], "wb").close()

    def make_cmd(port):
        return qemu_command(p, k, initrd, mem_mib, smp, paging, accel, ram_path, port, agent, agent_shm)

    cmd, port, errtext = _launch(p, ram_path, agent_shm, make_cmd)
    with open(p["gdb"], "w") as f:
        f.write(f"{port}\n")
    with open(p["target"], "w") as f:
        f.write(f"qmp:{p['qmp']}\n")
    pid = qemu_pid(p)
    if pid is None:
        stop(p["dir"])
        raise LabError(f"QEMU exited right after starting:\n{errtext}\n{tail(p['serial'])}")
    t_launched = time.monotonic()

    try:
        wait_truth(p, pid, t0 + timeout, timeout)
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


def stop(dir):
    """Stop the guest of DIR (if any) and remove its shared files. Idempotent."""
    p = paths(dir)
    pid = qemu_pid(p)
    if pid:
        for sock in (p["labqmp"], p["qmp"]):
            try:
                with QMP(sock, timeout=5, connect_timeout=2) as q:
                    q.execute("quit")
                break
            except LabError:
                continue  # QEMU may close the socket before answering; exit is what counts
        if not wait_exit(pid, 10):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if qemu_pid(p) != pid:
                    break
                os.kill(pid, sig)
                if wait_exit(pid, 5):
                    break
            else:
                raise LabError(f"QEMU pid {pid} did not exit after SIGKILL")
    remove_shm(p["ram"])
    remove_shm(p["agent_shm"])
    for n in ("qmp", "labqmp", "exec", "pid", "lock", "gdb", "target", "agent_sock"):
        try:
            os.unlink(p[n])
        except FileNotFoundError:
            pass
