#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The version is written once, in meson.build's project(version: ...). This checks that the
library built from it reports it (feat/version.h is generated from it) and that every binding
package that carries a version carries the same one:

  python  bindings/python/pyproject.toml [project] version, libfeat.__version__
  go      any "...Version" string constant of bindings/go (the module itself has none: Go
          module versions are git tags)
  rust    bindings/rust/Cargo.toml [workspace.package] version, each member crate's version
          (inherited or equal), the libfeat-sys requirement of libfeat, and Cargo.lock

usage: check_versions.py VERSION LIBFEAT_SO SOURCE_ROOT
"""
import ast
import ctypes
import pathlib
import re
import sys
import tomllib


def library(lib):
    dll = ctypes.CDLL(lib)
    dll.feat_version_string.restype = ctypes.c_char_p
    dll.feat_version_number.restype = ctypes.c_int32
    return {"feat_version_string()": dll.feat_version_string().decode(),
            "feat_version_number()": dll.feat_version_number()}


def python(root):
    py = root / "bindings/python"
    found = {"pyproject.toml [project] version":
             tomllib.loads((py / "pyproject.toml").read_text())["project"]["version"]}
    tree = ast.parse((py / "src/libfeat/__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            found["libfeat.__version__"] = ast.literal_eval(node.value)
    return found


def go(root):
    found = {}
    for f in sorted((root / "bindings/go").glob("*.go")):
        if not f.name.endswith("_test.go"):
            for name, value in re.findall(r'\b(\w*Version)\s*(?:string\s*)?=\s*"([^"]*)"', f.read_text()):
                found[f"{f.name} {name}"] = value
    return found


def rust(root):
    rs = root / "bindings/rust"
    workspace = tomllib.loads((rs / "Cargo.toml").read_text())
    found = {"Cargo.toml [workspace.package] version": workspace["workspace"]["package"]["version"]}
    for member in workspace["workspace"]["members"]:
        package = tomllib.loads((rs / member / "Cargo.toml").read_text())["package"]
        if package["version"] != {"workspace": True}:
            found[f"{member}/Cargo.toml version"] = package["version"]
    dep = tomllib.loads((rs / "libfeat/Cargo.toml").read_text())["dependencies"]["libfeat-sys"]
    # the requirement must name this version exactly (a bare "X.Y.Z" or "=X.Y.Z")
    found["libfeat/Cargo.toml libfeat-sys requirement"] = dep["version"].lstrip("=")
    for package in tomllib.loads((rs / "Cargo.lock").read_text())["package"]:
        if package["name"] in workspace["workspace"]["members"]:
            found[f"Cargo.lock {package['name']}"] = package["version"]
    return found


def main():
    version, lib, root = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    major, minor, patch = (int(x) for x in version.split("."))
    want = {"feat_version_number()": major * 10000 + minor * 100 + patch}
    failed = False
    for part, found in [("libfeat.so", library(lib)), ("python", python(root)),
                        ("go", go(root)), ("rust", rust(root))]:
        for where, value in found.items():
            ok = value == want.get(where, version)
            failed |= not ok
            print(f"{part}: {where} = {value}" + ("" if ok else f"  MISMATCH: meson.build has {version}"))
        if not found:
            print(f"{part}: no version to check")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
