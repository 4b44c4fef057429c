# SPDX-License-Identifier: MIT
"""The wheel's tag and its external requirements (the rest of the metadata is pyproject.toml).

Without a bundled library the package is pure Python (py3-none-any) and finds libfeat.so at
import (libfeat/_ffi.py). With a libfeat.so* in src/libfeat/_lib/ (tools/python_wheel.sh puts
it there) the wheel carries native code for one platform, so it is tagged py3-none-<platform>
(ctypes only: any CPython 3 of that platform, no Python ABI), and its METADATA names the
libtorch libraries the bundled copy NEEDs as Requires-External lines (core metadata 1.2):
they are not bundled and have to come from the system (Debian's libtorch1.13, or the
libtorch the library was built against, docs/backends.md).
"""
import glob
import os
import re
import subprocess

from setuptools import setup
from setuptools.dist import Distribution

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1: the wheel package's command
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))


def bundled():
    return sorted(p for p in glob.glob(os.path.join(HERE, "src", "libfeat", "_lib", "libfeat.so*"))
                  if not os.path.islink(p))


def torch_needs(path):
    """The libtorch / c10 sonames in the DT_NEEDED entries of a shared library."""
    try:
        out = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("setup.py: cannot read the dynamic section of %s with readelf: %s" % (path, e))
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    return [n for n in needed if re.match(r"lib(torch|c10)", n)]


def requires_external(libs):
    """Requires-External values: each soname, and libtorch with the version the sonames carry
    (Debian's are libtorch_cpu.so.1.13; pip's libtorch has unversioned sonames)."""
    reqs = []
    versions = {m.group(1) for n in libs for m in [re.search(r"\.so\.(\d+\.\d+)", n)] if m}
    if len(versions) == 1:
        reqs.append("libtorch (==%s.*)" % versions.pop())
    return reqs + libs


class BinaryDistribution(Distribution):
    """A bundled library makes the package native: installed to platlib, the wheel not pure."""

    def has_ext_modules(self):
        return bool(bundled())


class platform_wheel(bdist_wheel):
    def get_tag(self):
        python, abi, plat = super().get_tag()
        return ("py3", "none", plat) if bundled() else (python, abi, plat)

    def egg2dist(self, egginfo_path, distinfo_path):
        super().egg2dist(egginfo_path, distinfo_path)
        libs = sorted({n for p in bundled() for n in torch_needs(p)})
        if not libs:
            return
        meta = os.path.join(distinfo_path, "METADATA")
        with open(meta, encoding="utf-8") as f:
            text = f.read()
        head, sep, body = text.partition("\n\n")  # headers, then the long description
        head = head.rstrip("\n") + "".join("\nRequires-External: %s" % r for r in requires_external(libs))
        with open(meta, "w", encoding="utf-8") as f:
            f.write(head + ("\n\n" + body if sep else "\n"))


setup(distclass=BinaryDistribution, cmdclass={"bdist_wheel": platform_wheel})
