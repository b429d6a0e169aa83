"""libvirt for the lab tests: a libvirtd to talk to, and lab guests as
libvirt domains.

Daemons(): uses the libvirtd already running, or starts libvirtd and
virtlogd directly (`-d`: containers have no systemd) and stops, at
close(), only the ones it started — by their own pid files.

Domain: a TCG guest (<domain type='qemu'>) booted from the lab's kernel and
initramfs (lab/labvm, from its cache) with the lab's data disk, defined
transient (virsh create: gone when destroyed) and run by libvirt as it
runs any domain — QEMU as libvirt's user, through libvirt's one monitor.
The kernel gets no_timer_check: TCG on a loaded host may starve
the early IO-APIC timer check into a panic. Its serial console goes to a file; the lab initramfs prints its ground
truth there, saved into DIR/truth/ as lab guests' is (labvm.truth).

Every file a domain needs is copied into its own directory under
/var/lib/libvirt/vmsight-tests/, so libvirt's DAC relabelling never
touches the shared lab cache.
"""

import os
import shutil
import subprocess
import tempfile
import time

import labvm
from labvm.disk import build_data_disk
from labvm.initramfs import build_initramfs
from labvm.kernel import DEFAULT_KERNEL, fetch_kernel
from labvm.modules import resolve_modules
from labvm.programs import build_guest_tools, build_workload
from labvm.truth import MARK_DONE, MARK_FAIL_RE, save_truth

URI = "qemu:///system"
BASE = "/var/lib/libvirt/vmsight-tests"


def virsh(*args, check=True, timeout=120):
    """Run virsh on URI; returns (rc, stdout, stderr)."""
    r = subprocess.run(["virsh", "-c", URI, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.returncode, r.stdout, r.stderr


def hmp(name, cmd):
    """HMP through libvirt, as an operator would (the ground truth path)."""
    return virsh("qemu-monitor-command", "--hmp", name, cmd)[1]


def qmp(name, cmd_json):
    return virsh("qemu-monitor-command", name, cmd_json)[1]


def _pidfile(path):
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


class Daemons:
    """libvirtd and virtlogd for the run; stops only what it started."""

    DAEMONS = [("virtlogd", "/run/virtlogd.pid"), ("libvirtd", "/run/libvirtd.pid")]

    def __init__(self):
        self.started = []
        for name, pidfile in self.DAEMONS:
            if _pidfile(pidfile):
                continue
            subprocess.run([name, "-d"], check=True)
            for _ in range(100):
                if _pidfile(pidfile) and (name != "libvirtd" or os.path.exists("/run/libvirt/libvirt-sock")):
                    break
                time.sleep(0.1)
            pid = _pidfile(pidfile)
            if not pid:
                raise RuntimeError(f"{name} -d did not start")
            self.started.append((name, pid))
        for _ in range(100):
            if virsh("version", check=False)[0] == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("libvirtd does not answer (virsh version)")

    def libvirtd_pid(self):
        return _pidfile("/run/libvirtd.pid")

    def stop_libvirtd(self):
        """Stop libvirtd for a moment (domains keep running); returns a
        restart function."""
        pid = self.libvirtd_pid()
        os.kill(pid, 15)
        for _ in range(100):
            if not _pidfile("/run/libvirtd.pid") and not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)

        def restart():
            subprocess.run(["libvirtd", "-d"], check=True)
            for _ in range(100):
                if virsh("version", check=False)[0] == 0:
                    break
                time.sleep(0.1)
            new = self.libvirtd_pid()
            self.started = [(n, new if n == "libvirtd" else p) for n, p in self.started]
        return restart

    def close(self):
        for name, pid in reversed(self.started):
            try:
                os.kill(pid, 15)
            except OSError:
                pass
        self.started = []


class Domain:
    """A lab guest run by libvirt; see the module's doc."""

    def __init__(self, name, mem_mib=256, shared=False, kernel=DEFAULT_KERNEL, wait=True, timeout=600):
        self.name = name
        os.makedirs(BASE, mode=0o755, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=BASE)
        os.chmod(self.dir, 0o755)
        k = fetch_kernel(kernel)
        initrd = build_initramfs(k, resolve_modules(k), build_workload(), build_guest_tools())
        self.vmlinuz = os.path.join(self.dir, "vmlinuz")
        self.initrd = os.path.join(self.dir, "initrd")
        self.system_map = k.system_map
        shutil.copyfile(k.vmlinuz, self.vmlinuz)
        shutil.copyfile(initrd, self.initrd)
        self.data = os.path.join(self.dir, "data.img")
        build_data_disk(self.data)
        self.serial = os.path.join(self.dir, "serial.log")
        self.truth = os.path.join(self.dir, "truth")
        self.shared = shared
        self.mem_mib = mem_mib
        xml = os.path.join(self.dir, "domain.xml")
        with open(xml, "w") as f:
            f.write(self.xml())
        virsh("create", xml)
        self.defined = True
        if wait:
            self.wait_truth(timeout)

    def xml(self):
        backing = ("<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
                   if self.shared else "")
        return f"""<domain type='qemu'>
  <name>{self.name}</name>
  <memory unit='MiB'>{self.mem_mib}</memory>
  {backing}
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{self.vmlinuz}</kernel>
    <initrd>{self.initrd}</initrd>
    <cmdline>console=ttyS0,115200 panic=-1 oops=panic no_timer_check</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{self.data}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='{self.serial}'/>
      <target port='0'/>
    </serial>
    <serial type='null'>
      <target port='1'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""

    def wait_truth(self, timeout=600):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.serial, "rb") as f:
                    log = f.read()
            except OSError:
                log = b""
            if MARK_DONE in log:
                break
            m = MARK_FAIL_RE.search(log)
            if m:
                raise RuntimeError(f"{self.name}: guest setup failed: {m.group(1)!r}")
            if self.state() not in ("running", "paused"):
                raise RuntimeError(f"{self.name}: domain is {self.state()}: {log[-2000:]!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no ground truth after {timeout}s: {log[-2000:]!r}")
            time.sleep(0.5)
        save_truth({"serial": self.serial, "truth": self.truth})

    def state(self):
        rc, out, _ = virsh("domstate", self.name, check=False)
        return out.strip() if rc == 0 else "gone"

    def pid(self):
        return _pidfile(f"/run/libvirt/qemu/{self.name}.pid")

    def target(self):
        return f"libvirt:{self.name}"

    def destroy(self):
        if self.defined:
            virsh("destroy", self.name, check=False)
            self.defined = False

    def close(self):
        self.destroy()
        shutil.rmtree(self.dir, ignore_errors=True)
