#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when the repository's docs, headers, sources or tools mention a file path that does
not exist in the repository.

A comment that sends the reader to a file nobody can open is worse than no comment, and a
design note kept outside the tree (a `specs` folder) cannot be read by anyone who only has
the repository. So every mention must resolve inside it.

What counts as a mention (a token of path characters, after trimming punctuation and a
`:line` or `::test` suffix):
  * a token with a '/' whose first component (after a leading ./) is a top-level entry of
    the repository, or `specs` (design notes that are not part of the tree): it must name
    an existing file or folder, relative to the root or to the mentioning file's folder;
    `*` globs must match; an upper-case component such as NAME is a placeholder, and the
    path up to it must exist;
  * a bare name ending in .md, .c, .h, .cpp, .py or .sh: some file in the repository must
    have that name;
  * a design note cited without a path: the word spec, specs or spec's followed by a
    section sign and a number, or by a colon and a .md name.
Not mentions: URLs, absolute paths (/usr/...), include paths such as `feat/feat.h` (the
compiler checks those), headers the code includes as <name.h> (system headers), another
project's files written with its name (Pillow's Resample.c, libtorch's lib/), Python
modules, and placeholders such as `OUT.npy`, `cmd_NAME.c` or `cmd_<name>.c` (no checked
suffix, an upper-case part in a lower-case name, or characters that a path token cannot hold).

usage: check_references.py [--root DIR] [--list] [PATH...]
  PATH: files or folders to scan (default: README.md docs include lib shim tools).
  --list: print every mention found and whether it resolves (for reviewing the rule).
Exit status 1 when a mention does not resolve; each is printed as FILE:LINE: PATH.
"""
import argparse
import fnmatch
import os
import re
import subprocess
import sys

DEFAULT_SCOPE = ["README.md", "docs", "include", "lib", "shim", "tools"]
BARE_SUFFIXES = (".md", ".c", ".h", ".cpp", ".py", ".sh")
# Top-level names that are always checked, present or not.
EXTRA_TOPLEVEL = {"specs"}
SKIP_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy", ".pt", ".gz", ".zip", ".so")

# spec / specs / spec's, then a section sign and a number or a colon and a .md name: a design
# note cited without a path.
SPEC_SECTION = re.compile(r"\bspec(?:s|'s|\u2019s)?(?:\s*\(?§\s*[0-9.]*[0-9]|:\s*[\w./-]+\.md)")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]+$")
PLACEHOLDER_PART = re.compile(r"^[A-Z][A-Z0-9]*$")
INCLUDE_SYS = re.compile(r"^\s*#\s*include\s*<([^>]+)>", re.M)
TOKEN = re.compile(r"[A-Za-z0-9_.*/+-]+")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+|www\.\S+")
# "Pillow's `Resample.c`", "libpng's png.h": a file of another project.
FOREIGN_OWNER = re.compile(r"[A-Za-z0-9_-]+['\u2019]s\s+`?$")


def repo_files(root):
    """Tracked files plus untracked ones git does not ignore; a plain walk outside git."""
    try:
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True, capture_output=True).stdout
        files = {f for f in out.decode("utf-8", "replace").split("\0") if f}
        return {f for f in files if os.path.lexists(os.path.join(root, f))}
    except (OSError, subprocess.CalledProcessError):
        files = set()
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            dirnames[:] = [d for d in dirnames
                           if not (d.startswith(".git") or d.startswith(".venv") or d == "__pycache__"
                                   or (rel == "." and (d.startswith("build") or d == "models")))]
            for name in filenames:
                files.add(os.path.normpath(os.path.join(rel, name)))
        return files


class Tree:
    def __init__(self, root):
        self.root = root
        self.files = repo_files(root)
        self.dirs = set()
        for f in self.files:
            d = os.path.dirname(f)
            while d:
                self.dirs.add(d)
                d = os.path.dirname(d)
        self.basenames = {os.path.basename(f) for f in self.files}
        self.toplevel = {f.split("/", 1)[0] for f in self.files} | EXTRA_TOPLEVEL
        self.system_headers = set()
        for f in self.files:
            if f.endswith((".c", ".h", ".cpp")):
                try:
                    with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
                        self.system_headers.update(os.path.basename(h) for h in INCLUDE_SYS.findall(fh.read()))
                except OSError:
                    pass

    def exists(self, rel):
        rel = os.path.normpath(rel)
        if rel.startswith(".."):
            return False
        if any(c in rel for c in "*?["):
            return any(fnmatch.fnmatchcase(p, rel) for p in self.files | self.dirs)
        if rel in self.files or rel in self.dirs:
            return True
        parts = rel.split("/")
        for i, part in enumerate(parts):
            if PLACEHOLDER.match(part):
                return i > 0 and self.exists("/".join(parts[:i]))
        return False


def clean(token):
    token = re.sub(r"::.*$", "", token)          # a pytest node id: path::test_name
    token = token.rstrip(".,;:)]}'\"`")
    token = re.sub(r":\d+(-\d+)?$", "", token)  # a line number: path:123
    token = token.lstrip("(['\"`")
    return token


def mentions(line):
    """(column, token, preceding text) for each path-like token of a line, URLs removed."""
    line = URL.sub(lambda m: " " * len(m.group(0)), line)
    for m in TOKEN.finditer(line):
        start = m.start()
        # A token glued to a character that a path cannot hold (`<`, `>`) is a placeholder.
        if start > 0 and line[start - 1] in "<>$%{}\\@":
            continue
        end = m.end()
        if end < len(line) and line[end] in "<>{$":
            continue
        yield start, clean(m.group(0)), line[:start]


def check_token(tree, token, before, src_dir):
    """None when token is not a mention, else (token, resolves)."""
    if not token or token.startswith("/") or token.startswith("-"):
        return None
    if FOREIGN_OWNER.search(before):
        return None
    if "/" in token:
        path = token[2:] if token.startswith("./") else token
        first = path.split("/", 1)[0]
        if first == "..":
            return token, tree.exists(os.path.join(src_dir, path))
        if first not in tree.toplevel:
            return None
        return token, tree.exists(path) or tree.exists(os.path.join(src_dir, path))
    if not token.endswith(BARE_SUFFIXES) or token.startswith("."):
        return None
    stem = token.rsplit(".", 1)[0]
    if not re.search(r"[A-Za-z0-9]", stem) or "*" in token:
        return None
    if token in tree.system_headers:
        return None
    parts = re.split(r"[_.-]", stem)
    if not stem.isupper() and any(PLACEHOLDER_PART.match(x) for x in parts):
        return None  # cmd_NAME.c: a lower-case name with an upper-case placeholder part
    return token, token in tree.basenames


def scan_file(tree, root, rel, report):
    path = os.path.join(root, rel)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return
    if b"\0" in data[:4096]:
        return
    text = data.decode("utf-8", "replace")
    src_dir = os.path.dirname(rel)
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in SPEC_SECTION.finditer(line):
            report(rel, lineno, m.group(0), False)
        for _, token, before in mentions(line):
            found = check_token(tree, token, before, src_dir)
            if found:
                report(rel, lineno, found[0], found[1])


def scope_files(tree, root, paths):
    out = []
    for p in paths:
        p = os.path.normpath(p)
        if os.path.isfile(os.path.join(root, p)):
            out.append(p)
            continue
        prefix = p + "/"
        out.extend(sorted(f for f in tree.files if f.startswith(prefix)))
    return [f for f in out if not f.lower().endswith(SKIP_SUFFIXES)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    tree = Tree(root)
    missing = []

    def report(rel, lineno, token, ok):
        if args.list:
            print("%s:%d: %s %s" % (rel, lineno, "ok" if ok else "MISSING", token))
        if not ok:
            missing.append((rel, lineno, token))

    files = scope_files(tree, root, args.paths or DEFAULT_SCOPE)
    for rel in files:
        scan_file(tree, root, rel, report)
    if missing:
        print("check_references: %d mention(s) of files that are not in the repository:" % len(missing))
        for rel, lineno, token in missing:
            print("%s:%d: %s" % (rel, lineno, token))
        return 1
    print("check_references: %d files, every mentioned path exists" % len(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
