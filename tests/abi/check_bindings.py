#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every FEAT_API function of include/feat/*.h must be bound by the Python, Go and Rust
bindings, and every libfeat function a binding names must still be exported by libfeat.so.

What counts as bound:
  python  a key of _SIGNATURES in bindings/python/src/libfeat/_ffi.py
  go      a call C.feat_xxx(...) in bindings/go/*.go (tests excluded) or a feat_xxx(...) call
          in the cgo helpers (bindings/go/*.c, *.h)
  rust    a `pub fn feat_xxx` declaration in bindings/rust/libfeat-sys/src/lib.rs
A function may stay unbound only through NOT_BOUND below, with the reason; an entry that is
no longer needed (the function is bound, or gone from the headers) fails the test too, so the
list stays minimal.

usage: check_bindings.py LIBFEAT_SO SOURCE_ROOT
"""
import ast
import pathlib
import re
import sys

from check_exports import declared, exported

# binding -> {function: why it is deliberately not bound}. Keep it short: binding a new
# function is the rule, an entry here the exception.
NOT_BOUND = {
    "python": {},
    "go": {
        # Go copies every result into Go memory with feat_result_copy_to (one copy, then the
        # C result is freed); a pointer into C memory would outlive the result it belongs to.
        "feat_result_data": "Features are copied with feat_result_copy_to",
        # Features.NFailed counts the statuses already copied into Go.
        "feat_result_n_failed": "NFailed counts the copied statuses",
        # Inspection helpers (the input tensor an extractor would see) for parity checks: no
        # binding offers them in its safe API, and Go has no raw layer to declare them in.
        "feat_image_preprocess_file": "inspection helper, in no safe API",
        "feat_image_preprocess_encoded": "inspection helper, in no safe API",
    },
    "rust": {},
}


def strip_c_comments(text):
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


def header_types(include_dir):
    """feat_* names the headers define as types (so `C.feat_status(x)` is not a call)."""
    names = set()
    for h in sorted(pathlib.Path(include_dir).glob("feat/*.h")):
        text = strip_c_comments(h.read_text())
        names.update(re.findall(r"\btypedef\s+[^;{]*?\b(feat_\w+)\s*;", text))
        names.update(re.findall(r"\}\s*(feat_\w+)\s*;", text))
    return names


def python_bound(root):
    tree = ast.parse((root / "bindings/python/src/libfeat/_ffi.py").read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "_SIGNATURES" for t in node.targets)):
            return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    raise SystemExit("bindings/python/src/libfeat/_ffi.py: no _SIGNATURES table found")


def go_bound(root, types):
    go = root / "bindings/go"
    names = set()
    for f in sorted(go.glob("*.go")):
        if not f.name.endswith("_test.go"):
            names.update(re.findall(r"\bC\.(feat_\w+)\s*\(", strip_c_comments(f.read_text())))
    for f in sorted(list(go.glob("*.c")) + list(go.glob("*.h"))):
        text = strip_c_comments(f.read_text())
        calls = set(re.findall(r"\b(feat_\w+)\s*\(", text))
        # the helpers' own functions: a name after a return type at the start of a line
        local = set(re.findall(r"^[ \t]*(?!return\b)(?:\w+[ \t]+)*\w+[ \t*]+(feat_\w+)\s*\(", text, re.M))
        names.update(calls - local)
    return names - types


def rust_bound(root):
    text = strip_c_comments((root / "bindings/rust/libfeat-sys/src/lib.rs").read_text())
    return set(re.findall(r"\bpub\s+fn\s+(feat_\w+)\s*\(", text))


def check(want, have, bound, not_bound):
    """Problems of one binding, as lines of text."""
    problems = []
    missing = sorted(want - bound - set(not_bound))
    if missing:
        problems.append("declared with FEAT_API but not bound: " + " ".join(missing))
    stale = sorted(bound - have)
    if stale:
        problems.append("bound but not exported by libfeat.so: " + " ".join(stale))
    needless = sorted(n for n in not_bound if n in bound or n not in want)
    if needless:
        problems.append("in NOT_BOUND but bound or no longer declared (remove the entry): "
                        + " ".join(needless))
    return problems


def main():
    lib, root = sys.argv[1], pathlib.Path(sys.argv[2])
    want, have = declared(root / "include"), exported(lib)
    bound = {
        "python": python_bound(root),
        "go": go_bound(root, header_types(root / "include")),
        "rust": rust_bound(root),
    }
    failed = False
    for name, names in bound.items():
        problems = check(want, have, names, NOT_BOUND[name])
        for p in problems:
            print(f"{name}: {p}")
        failed |= bool(problems)
        print(f"{name}: {len(names & want)} of {len(want)} FEAT_API functions bound, "
              f"{len(NOT_BOUND[name])} deliberately not")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
