# SPDX-License-Identifier: MIT
"""OpenBLAS's fallback on CPUs it does not know (libfeat's docs/performance.md, "This machine").

OpenBLAS chooses its kernels from the CPU model when it loads. Debian 12's 0.3.21 does not know
CPUs newer than it and falls back to its generic SSE3 kernels ("Prescott"): the float32 GEMMs
of text models run about 3x slower. Only OPENBLAS_CORETYPE, set before the process starts,
changes that, so the binding can only say so: once per process, as a RuntimeWarning, when a
text extractor is opened."""
import ctypes
import os
import warnings

_warned = False


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return set(f.read().split())
    except OSError:
        return set()


def suggested_coretype():
    """The OPENBLAS_CORETYPE that replaces the generic kernels this process's OpenBLAS fell back
    to, or None (not OpenBLAS, not loaded, not a fallback, or the user chose a core type)."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return None
    try:  # the BLAS libfeat's libtorch loaded; RTLD_NOLOAD: do not load one just to ask
        blas = ctypes.CDLL("libblas.so.3", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        corename = blas.openblas_get_corename
    except (OSError, AttributeError):
        return None
    corename.restype = ctypes.c_char_p
    if (corename() or b"").decode().lower() != "prescott":
        return None
    flags = _cpu_flags()
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def warn_once():
    global _warned
    if _warned:
        return
    _warned = True
    coretype = suggested_coretype()
    if coretype:
        warnings.warn(f"OpenBLAS does not recognise this CPU and uses its generic kernels; set "
                      f"OPENBLAS_CORETYPE={coretype} before the process starts for about 3x faster text "
                      f"models", RuntimeWarning, stacklevel=3)
