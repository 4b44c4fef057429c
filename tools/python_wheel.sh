#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Python binding as a platform wheel with libfeat.so inside:
#   tools/python_wheel.sh BUILD_DIR OUT_DIR
# Copies bindings/python to a temporary folder with BUILD_DIR's libfeat.so.1 in
# src/libfeat/_lib/ and runs `pip wheel` on it offline (no build isolation: the setuptools and
# wheel of $PYTHON, default .venv/bin/python). bindings/python/setup.py tags the wheel
# py3-none-<platform> and lists the libtorch the bundled library NEEDs as Requires-External
# in its METADATA (README.md, "Install"). Prints the wheel's path.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 2 ] || { echo "usage: tools/python_wheel.sh BUILD_DIR OUT_DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -e "$BUILD/libfeat.so.1" ] || { echo "python_wheel.sh: no libfeat.so.1 in $BUILD: build first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/pkg/src"
cp "$ROOT/bindings/python/pyproject.toml" "$ROOT/bindings/python/setup.py" \
    "$ROOT/bindings/python/README.md" "$tmp/pkg/"
cp -r "$ROOT/bindings/python/src/libfeat" "$tmp/pkg/src/"
rm -rf "$tmp/pkg/src/libfeat/_lib" "$tmp/pkg/src/libfeat/__pycache__"
mkdir "$tmp/pkg/src/libfeat/_lib"
cp -L "$BUILD/libfeat.so.1" "$tmp/pkg/src/libfeat/_lib/libfeat.so.1"
"$PY" -m pip wheel -q --no-deps --no-build-isolation --no-index -w "$tmp/dist" "$tmp/pkg" >&2
whl=$(ls "$tmp/dist"/*.whl)
cp "$whl" "$OUT/"
echo "$OUT/$(basename "$whl")"
