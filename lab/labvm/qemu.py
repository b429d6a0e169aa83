"""QEMU: the command line of a lab guest, and finding and waiting for its process.

QEMU daemonizes and writes DIR/qemu.pid. Before the lab signals or waits
for that pid it checks the process's command line names DIR's QMP socket,
so a recycled pid of an unrelated process is never touched. The command
line is explained part by part in lab/README.md.
"""

import os
import re
import select
import socket
import time

QEMU = "qemu-system-x86_64"

# vmsight-agent's two channels (docs/watch.md).
AGENT_SHM_MIB = 16          # the ivshmem region (ring header + slots)
AGENT_PORT = 0x560          # isa-debugcon iobase of the vcpu channel
AGENT_CHANNELS = ("shm", "vcpu")


def qemu_pid(p):
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


def wait_exit(pid, timeout):
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


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_has_la57():
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
        # for debugging a guest, e.g. "-d cpu_reset,guest_errors -D /tmp/q.log"
        *os.environ.get("VMSIGHT_LAB_QEMU_ARGS", "").split(),
    ]
