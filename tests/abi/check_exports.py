#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libfeat.so must export exactly the functions its public headers declare with FEAT_API:
no libtorch, libjpeg or internal symbol leaks out, and no declared function is missing."""
import pathlib
import re
import subprocess
import sys


def declared(include_dir):
    names = set()
    for h in sorted(pathlib.Path(include_dir).glob("feat/*.h")):
        text = h.read_text()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        for m in re.finditer(r"FEAT_API\s+[^;(]*?\b(feat_\w+)\s*\(", text):
            names.add(m.group(1))
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TtWwDdBbRrVvi":
            names.add(parts[2].split("@")[0])
    return names - {"LIBFEAT_1.0"}


def main():
    lib, include_dir = sys.argv[1], sys.argv[2]
    want, have = declared(include_dir), exported(lib)
    leaked = sorted(have - want)
    missing = sorted(want - have)
    if leaked:
        print("exported but not declared with FEAT_API:", " ".join(leaked[:50]))
    if missing:
        print("declared with FEAT_API but not exported:", " ".join(missing))
    print(f"{len(have)} exported symbols, {len(want)} declared")
    return 1 if leaked or missing else 0


if __name__ == "__main__":
    sys.exit(main())
