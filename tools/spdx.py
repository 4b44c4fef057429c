#!/usr/bin/env python3
"""Adds or checks the SPDX license line of the repository's source files.

Every C, C++, Python, shell and meson source file carries `SPDX-License-Identifier: MIT`
(the LICENSE file) in its first comment line, so a file copied out of the tree still says
under which terms it may be used.

usage: spdx.py --check [--root DIR] [FILE...]   list the files without the line; exit 1 if any
       spdx.py --add [--root DIR] [FILE...]     add the line where it is missing

Without FILE arguments: the tracked files, and new ones git does not ignore, that are
  C/C++ (.c .h .cpp .h.in), Python (.py), shell (.sh, or a sh/bash shebang) or meson
  (meson.build, meson_options.txt); the fuzz seed corpus is data, not source.
The line goes first, as `/* SPDX-License-Identifier: MIT */` in C and C++ and
`# SPDX-License-Identifier: MIT` elsewhere; after a shebang line, and after a Python coding
line, which must stay in the first two lines. A file that has the line anywhere in its first
five lines counts as carrying it.
"""
import argparse
import os
import re
import subprocess
import sys

TAG = "SPDX-License-Identifier: MIT"
C_SUFFIXES = (".c", ".h", ".cpp", ".h.in")
HASH_NAMES = ("meson.build", "meson_options.txt")
EXCLUDE_PREFIXES = ("tests/fuzz/corpus/",)
HEAD_LINES = 5
SHELL_SHEBANG = re.compile(r"^#!.*\b(ba|da|k|z)?sh\b")
PY_SHEBANG = re.compile(r"^#!.*\bpython[0-9.]*\b")
CODING = re.compile(r"^[ \t\f]*#.*?coding[:=]")


def comment_style(path, first_line):
    """'c', 'hash' or None (not a source file this tool covers)."""
    name = os.path.basename(path)
    if path.endswith(C_SUFFIXES):
        return "c"
    if name in HASH_NAMES or path.endswith((".py", ".sh")):
        return "hash"
    if first_line.startswith("#!") and (SHELL_SHEBANG.match(first_line) or PY_SHEBANG.match(first_line)):
        return "hash"
    return None


def repo_files(root):
    out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout
    return sorted(f for f in out.decode("utf-8", "replace").split("\0")
                  if f and not f.startswith(EXCLUDE_PREFIXES) and os.path.isfile(os.path.join(root, f)))


def read_text(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data[:4096]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def has_tag(text):
    return any(TAG in line for line in text.splitlines()[:HEAD_LINES])


def with_tag(text, style):
    """text with the SPDX line inserted where it belongs."""
    lines = text.splitlines(True)
    at = 0
    if lines and lines[0].startswith("#!"):
        at = 1
    if style == "hash" and len(lines) > at and CODING.match(lines[at]) and at < 2:
        at += 1
    if at and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    line = "/* %s */\n" % TAG if style == "c" else "# %s\n" % TAG
    return "".join(lines[:at] + [line] + lines[at:])


def covered(root, rel):
    """(style, text) for a file this tool covers, else None."""
    text = read_text(os.path.join(root, rel))
    if text is None:
        return None
    first = text.split("\n", 1)[0]
    style = comment_style(rel, first)
    return (style, text) if style else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--add", action="store_true")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    files = args.files or repo_files(root)
    lacking = []
    for rel in files:
        found = covered(root, rel)
        if found is None:
            continue
        style, text = found
        if has_tag(text):
            continue
        lacking.append(rel)
        if args.add:
            with open(os.path.join(root, rel), "w", encoding="utf-8", newline="") as f:
                f.write(with_tag(text, style))
    if args.add:
        print("spdx: added the line to %d file(s)" % len(lacking))
        return 0
    if lacking:
        for rel in lacking:
            print(rel)
        print("spdx: %d source file(s) without '%s' (tools/spdx.py --add)" % (len(lacking), TAG))
        return 1
    print("spdx: every source file carries '%s'" % TAG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
