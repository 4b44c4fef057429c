#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make clean` removes every build folder that the Makefile and the scripts it runs create
(build, and each build-NAME named in the Makefile or tools/*.sh), and no virtual environment.

usage: check_make_clean.py SOURCE_ROOT
"""
import glob
import os
import re
import shlex
import subprocess
import sys

root = sys.argv[1]
texts = [open(os.path.join(root, "Makefile"), encoding="utf-8").read()]
for sh in sorted(glob.glob(os.path.join(root, "tools", "*.sh"))):
    texts.append(open(sh, encoding="utf-8").read())
wanted = {"build"} | {m for t in texts for m in re.findall(r"(?<![\w-])build-[a-z0-9][a-z0-9-]*\b", t)}
wanted.discard("build-essential")  # a Debian package, not a folder

out = subprocess.run(["make", "-s", "-n", "-C", root, "clean"], capture_output=True, text=True, check=True).stdout
removed = set()
for line in out.splitlines():
    words = shlex.split(line)
    if words[:2] == ["rm", "-rf"]:
        removed.update(w.rstrip("/") for w in words[2:])
missing = sorted(wanted - removed)
venvs = sorted(w for w in removed if w.startswith(".venv"))
if missing or venvs:
    print("make clean: does not remove %s; removes venvs %s (commands: %r)" % (missing, venvs, out))
    sys.exit(1)
print("make clean removes %s" % ", ".join(sorted(removed)))
