"""labvm - build and run the vmsight lab guest (a real Linux VM under QEMU).

vmsight's tests, demo and benchmarks need a live guest whose memory can be
read from the host and whose true state is known. This package builds one
from Debian packages only (a stock kernel package, busybox-static and a
small C workload compiled here), boots it under QEMU with guest RAM in a
shared /dev/shm file, and collects the guest's own account of its state
("ground truth") from the serial console into DIR/truth/.

Python stdlib only; `lab/vm` is a thin CLI. One module per concept, in the
order data flows:

    errors      LabError, QMPError
    host        running host tools, progress messages
    cache       the build cache and its lock
    apt         resolving and downloading Debian packages
    kernel      an unpacked kernel package
    modules     which modules to insmod, in which order
    programs    the static guest programs compiled on the host
    cpio        the newc archive writer
    initramfs   the guest's initramfs
    disk        the ext4 data disk
    rundir      the run directory DIR and guest.json
    qemu        QEMU's command line and process
    qmp         the QMP client
    exec_client running commands in the guest (lab/vm exec)
    listing     the guest's process listing: parsing it, taking a fresh one
    truth       ground truth: the serial console dump into DIR/truth/
    lifecycle   start and stop

Public API (lab/README.md):
    start(dir, mem="512M", smp=1, paging=5, kernel=DEFAULT_KERNEL,
          accel="tcg", timeout=300, agent=None) -> Guest
    stop(dir)
    exec(dir, cmd, timeout=60, binary=False) -> (rc, output)
    QMP(path)  - minimal QMP client (cmd, execute, hmp)
    info(dir) -> dict  (the DIR/guest.json written by start)
    collect_threads(dir) -> [process dict]  (a fresh threads.json, taken now)
"""

# Every public name of the single-file labvm.py this package replaced stays here.
from .apt import APT_LISTS, resolve_kernel
from .cache import CACHE, CACHE_FORMAT, GUEST_SRC, LAB
from .cpio import Cpio
from .disk import DATA_DISK_MIB, build_data_disk
from .errors import LabError, QMPError
from .exec_client import exec
from .initramfs import BUSYBOX, GUEST_SCRIPTS, build_initramfs
from .kernel import DEFAULT_KERNEL, Kernel, fetch_kernel
from .lifecycle import parse_size_mib, start, stop
from .modules import EXTRA_MODULES, FALLBACK_MODULES, MIN_MODULES, REQUIRED_MODULES, resolve_modules
from .programs import (AGENT_CFLAGS, AGENT_HEADERS, AGENT_SOURCES, CFLAGS, WORKLOAD_NAMES, build_guest_tools,
                       build_workload)
from .qemu import AGENT_CHANNELS, AGENT_PORT, AGENT_SHM_MIB, QEMU, qemu_command
from .qmp import QMP
from .rundir import SHM_PREFIX, Guest, info
from .listing import THREADS_SCRIPT, collect_threads, parse_threads, parse_threads_text
from .truth import MARK_BEGIN, MARK_DONE, MARK_END, MARK_FAIL_RE, save_truth
