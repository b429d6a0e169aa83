"""Which kernel modules the guest loads, in which order, and their bytes.

The guest's busybox insmod knows neither dependencies nor compression, so
the host decides: hard dependencies come from modules.dep, "pre:" soft
dependencies from modules.softdep (the generic kernel's ext4 needs crc32c
that way), resolved through modules.alias; compressed modules are
decompressed here. The list goes into the initramfs as /etc/vms/modules.
"""

import gzip
import lzma
import os
import re
import subprocess

from .errors import LabError

# Modules the guest loads with insmod. The virtio chain and ext4 are needed
# for the data disk (each is skipped when the kernel has it built in, as the
# cloud flavour does for ext4); the extras are harmless and make sure several
# modules from the package are loaded even if a kernel builds virtio in.
REQUIRED_MODULES = ["virtio_pci", "virtio_blk", "ext4"]
EXTRA_MODULES = ["dummy", "loop"]
FALLBACK_MODULES = ["tun", "veth", "nlmon", "crc_itu_t"]
MIN_MODULES = 3

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


def module_bytes(kernel, rel):
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
