"""Volatility 3 memory layers over a vmsight target, and the automagic that
puts them under a plugin's kernel requirement.

- ``VmsightPhysicalLayer``: guest-physical memory (reads through
  libvmsight; addresses outside guest RAM are invalid).
- ``VmsightIntel32e`` / ``VmsightIntel5Level``: a virtual address space (a
  page-table root, as Volatility's Intel layers take it) translated by
  vmsight. Volatility makes process layers by copying the kernel layer's
  configuration with another page-table root, so they are vmsight's too.
- ``VmsightKernel``: an automagic run before Volatility's own; it fills a
  plugin's unsatisfied kernel module requirement with these layers, the
  KASLR offset vmsight found and vmsight's ISF, so Volatility's stacker and
  symbol finder have nothing left to do.
"""

import errno
import hashlib
import logging
import os
import re
from typing import Dict, List, Optional, Tuple

from volatility3.framework import constants, exceptions, interfaces
from volatility3.framework.configuration import requirements
from volatility3.framework.layers import intel

import vmsight
from vmsight.volatility.memory import Fault, Memory

log = logging.getLogger(__name__)

# The one target of this process (layers are made by Volatility from their
# configuration, which holds plain values only): opened by attach().
_state: Dict[str, object] = {}


def attach(target: str, cache_dir: Optional[str] = None, no_cache: bool = False) -> None:
    """Open TARGET and find its kernel, for the layers and the automagic."""
    t = vmsight.open(target)
    k = t.kernel(cache_dir=cache_dir, no_cache=no_cache)
    _state.update(target=t, kernel=k, info=k.info(), cache_dir=cache_dir, no_cache=no_cache,
                  memory=Memory(t))


def detach() -> None:
    k, t = _state.pop("kernel", None), _state.pop("target", None)
    if k:
        k.close()
    if t:
        t.close()
    _state.clear()


def _target() -> "vmsight.Target":
    if "target" not in _state:
        raise exceptions.LayerException("vmsight", "no vmsight target: call vmsight.volatility.layer.attach()")
    return _state["target"]


def _memory() -> Memory:
    _target()
    return _state["memory"]


def isf_path() -> str:
    """vmsight's ISF of the attached kernel: cached under the vmsight cache
    directory by release and build id, written on first use."""
    info = _state["info"]
    base = _state.get("cache_dir") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "vmsight")
    d = os.path.join(base, "isf")
    os.makedirs(d, mode=0o700, exist_ok=True)
    # The name is made of safe characters only: the release is the guest's.
    key = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{info['release']}-{info['build_id'] or 'nobuildid'}")
    key = key.lstrip(".")[:150] + "-" + hashlib.sha256(info["banner"].encode("utf-8", "surrogateescape")).hexdigest()[:12]
    path = os.path.join(d, key + ".json")
    if _state.get("no_cache") or not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            _state["kernel"].write_isf(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


class VmsightPhysicalLayer(interfaces.layers.DataLayerInterface):
    """Guest-physical memory of the vmsight target."""

    _direct_metadata = {"mapped": False, "architecture": "Intel64", "os": "Linux"}

    def __init__(self, context, config_path: str, name: str, metadata=None):
        super().__init__(context=context, config_path=config_path, name=name, metadata=metadata)
        self._m: Memory = _memory()

    @property
    def maximum_address(self) -> int:
        return self._m.maximum_address

    @property
    def minimum_address(self) -> int:
        return 0

    def is_valid(self, offset: int, length: int = 1) -> bool:
        return self._m.is_valid(offset, length)

    def read(self, offset: int, length: int, pad: bool = False) -> bytes:
        try:
            return self._m.read(offset, length, pad)
        except (ValueError, vmsight.VmsightError) as e:
            raise exceptions.InvalidAddressException(self.name, offset, str(e))

    def write(self, offset: int, data: bytes) -> None:
        raise exceptions.LayerException(self.name, "vmsight layers are read-only")

    @property
    def dependencies(self) -> List[str]:
        return []

    @classmethod
    def get_requirements(cls):
        return []


class _VmsightTranslation:
    """Translation by vmsight instead of Volatility's own page walk."""

    def _translate(self, offset: int) -> Tuple[int, int, str]:
        va = self.canonicalize(offset)  # Volatility masks addresses to the layer's width
        try:
            pa, size = _memory().translate(self._page_map_offset, va)
        except Fault as f:
            if f.invalid:
                raise exceptions.InvalidAddressException(self.name, offset, str(f))
            raise exceptions.PagedInvalidAddressException(self.name, offset, f.bits, 0, str(f))
        return pa, size, self._base_layer

    def _translate_entry(self, offset: int) -> Tuple[int, int]:
        pa, size, _ = self._translate(offset)
        return pa | 1, size.bit_length() - 2


class VmsightIntel32e(_VmsightTranslation, intel.Intel32e):
    """A 4-level virtual address space, translated by vmsight."""


class VmsightIntel5Level(_VmsightTranslation, intel.Intel32e):
    """A 5-level (LA57) virtual address space, translated by vmsight."""
    _maxvirtaddr = 57
    _structure = [("page map layer 5", 9, False)] + intel.Intel32e._structure


_KERNEL_SYMBOLS = "volatility3.framework.symbols.linux.LinuxKernelIntermedSymbols"


class VmsightKernel(interfaces.automagic.AutomagicInterface):
    """Fills a plugin's kernel requirement (layer, symbols, offset) from vmsight."""

    priority = -100

    def __call__(self, context, config_path, requirement, progress_callback=None):
        if "target" not in _state:
            return None
        path = interfaces.configuration.path_join
        new_path = path(config_path, requirement.name)
        if not isinstance(requirement, requirements.ModuleRequirement):
            for sub in requirement.requirements.values():
                self(context, new_path, sub, progress_callback)
            return None
        if not requirement.unsatisfied(context, config_path):
            return None
        subs = requirement.requirements
        layer_req = next((r for r in subs.values() if isinstance(r, requirements.TranslationLayerRequirement)), None)
        table_req = next((r for r in subs.values() if isinstance(r, requirements.SymbolTableRequirement)), None)
        if layer_req is None or table_req is None:
            return None
        info = _state["info"]
        phys = _state.get("phys_layer")
        if phys is None or phys not in context.layers:
            phys = context.layers.free_layer_name("vmsight_physical")
            context.layers.add_layer(VmsightPhysicalLayer(context, path("vmsight", phys), phys))
            _state["phys_layer"] = phys
        cls = VmsightIntel5Level if info["paging"] == "5-level" else VmsightIntel32e
        lpath = path(new_path, layer_req.name)
        name = context.layers.free_layer_name("vmsight_kernel")
        context.config[path(lpath, "memory_layer")] = phys
        context.config[path(lpath, "page_map_offset")] = info["cr3"]
        context.config[path(lpath, "kernel_virtual_offset")] = info["kaslr_virt"]
        context.config[path(lpath, "kernel_banner")] = info["banner"]
        layer = cls(context, lpath, name)
        context.layers.add_layer(layer)
        context.config[lpath] = name
        tpath = path(new_path, table_req.name)
        context.config[path(tpath, "class")] = _KERNEL_SYMBOLS
        context.config[path(tpath, "isf_url")] = "file://" + isf_path()
        context.config[path(tpath, "symbol_mask")] = layer.address_mask
        table_req.construct(context, new_path)
        context.config[path(new_path, "class")] = "volatility3.framework.contexts.Module"
        context.config[path(new_path, "offset")] = info["kaslr_virt"]
        requirement.construct(context, config_path)
        log.info("vmsight: %s, %s paging, KASLR %#x", _target().target, info["paging"], info["kaslr_virt"])
        return None
