#!/bin/bash
# SPDX-License-Identifier: MIT
# Makes a venv holding a pip libtorch 2.x for `meson setup -Dtorch_dir=...` (docs/backends.md)
# and prints the torch_dir to use. Usage: tools/torch2_venv.sh [VERSION] [VENV]
#
# The PyPI Linux wheels are CUDA builds. Only `torch` itself is installed (--no-deps), plus
# the two CUDA runtime libraries that libtorch_cpu.so names as NEEDED (libcudart, libcupti:
# the profiler links them; they load without a GPU or driver). libfeat links libtorch_cpu
# and libc10 only, so cuDNN, cuBLAS, NCCL ... are not needed.
set -euo pipefail
ver=${1:-2.15.0}
venv=${2:-.venv-torch2}
[ -x "$venv/bin/pip" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install -q --no-deps "torch==$ver" >&2
tdir=$(cd "$(ls -d "$venv"/lib/python3*/site-packages/torch)" && pwd)
cu=$(readelf -d "$tdir/lib/libtorch_cpu.so" | sed -n 's/.*\[libcudart\.so\.\([0-9]*\)\].*/\1/p')
if [ -n "$cu" ]; then
  if [ "$cu" -ge 13 ]; then
    pkgs=("nvidia-cuda-runtime==$cu.*" "nvidia-cuda-cupti==$cu.*")
  else
    pkgs=("nvidia-cuda-runtime-cu$cu" "nvidia-cuda-cupti-cu$cu")
  fi
  "$venv/bin/pip" install -q --no-deps "${pkgs[@]}" >&2
fi
if ldd "$tdir/lib/libtorch_cpu.so" | grep 'not found' >&2; then
  echo "torch2_venv.sh: libtorch_cpu.so still misses libraries (above)" >&2
  exit 1
fi
echo "$tdir"
