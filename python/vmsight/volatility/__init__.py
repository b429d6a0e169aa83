"""Volatility 3 on live virtual machines, through vmsight.

``python3 -m vmsight.volatility -t TARGET [Volatility options] PLUGIN ...``
runs the Volatility 3 found on the Python path with vmsight as its memory:
guest-physical memory read through libvmsight (any target: a live QEMU, a
GDB stub, a dump), the kernel's virtual address spaces translated by
vmsight (so 5-level guests work), and the symbols and types of vmsight's
own ISF, written from the guest's kallsyms and BTF on first use and cached.
The layers are in ``vmsight.volatility.layer`` (importing it needs
Volatility 3); this package itself imports nothing of Volatility.
"""
