#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/spdx.py on a small made-up tree: which files it covers, where the line goes
(after a shebang and a Python coding line), that --add is idempotent and --check fails
exactly while a covered file lacks the line."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPDX = os.path.join(ROOT, "tools", "spdx.py")
TAG = "SPDX-License-Identifier: MIT"

FILES = {
    "lib/a.c": "/* A comment. */\nint a;\n",
    "lib/a.h": "#ifndef A_H\n#define A_H\n#endif\n",
    "include/v.h.in": "#define V \"@VERSION@\"\n",
    "shim/s.cpp": "// C++\nint s;\n",
    "tools/t.py": "#!/usr/bin/env python3\n\"\"\"Doc.\"\"\"\n",
    "tools/c.py": "# -*- coding: utf-8 -*-\nx = 1\n",
    "tools/u.sh": "#!/bin/sh\necho hi",
    ".ci/run": "#!/usr/bin/env bash\nmake test\n",
    "meson.build": "project('x', 'c')\n",
    "meson_options.txt": "option('a', type: 'boolean', value: true)\n",
    "lib/done.c": "/* %s */\nint d;\n" % TAG,
    "docs/readme.md": "# not source\n",
    "tests/fuzz/corpus/json/seed.py": "not source\n",
    "data.txt": "plain\n",
}
EXPECT = {
    "lib/a.c": "/* %s */\n/* A comment. */\nint a;\n" % TAG,
    "lib/a.h": "/* %s */\n#ifndef A_H\n#define A_H\n#endif\n" % TAG,
    "include/v.h.in": "/* %s */\n#define V \"@VERSION@\"\n" % TAG,
    "shim/s.cpp": "/* %s */\n// C++\nint s;\n" % TAG,
    "tools/t.py": "#!/usr/bin/env python3\n# %s\n\"\"\"Doc.\"\"\"\n" % TAG,
    "tools/c.py": "# -*- coding: utf-8 -*-\n# %s\nx = 1\n" % TAG,
    "tools/u.sh": "#!/bin/sh\n# %s\necho hi" % TAG,
    ".ci/run": "#!/usr/bin/env bash\n# %s\nmake test\n" % TAG,
    "meson.build": "# %s\nproject('x', 'c')\n" % TAG,
    "meson_options.txt": "# %s\noption('a', type: 'boolean', value: true)\n" % TAG,
}


def spdx(root, *args):
    return subprocess.run([sys.executable, SPDX, *args, "--root", root], capture_output=True, text=True)


class Spdx(unittest.TestCase):
    def test_add_and_check(self):
        with tempfile.TemporaryDirectory() as d:
            for rel, body in FILES.items():
                os.makedirs(os.path.dirname(os.path.join(d, rel)) or d, exist_ok=True)
                with open(os.path.join(d, rel), "w", encoding="utf-8", newline="") as f:
                    f.write(body)
            subprocess.run(["git", "init", "-q", d], check=True)
            r = spdx(d, "--check")
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertEqual(sorted(r.stdout.splitlines()[:-1]), sorted(EXPECT))
            self.assertEqual(spdx(d, "--add").returncode, 0)
            for rel, body in FILES.items():
                with open(os.path.join(d, rel), encoding="utf-8", newline="") as f:
                    self.assertEqual(f.read(), EXPECT.get(rel, body), rel)
            r = spdx(d, "--check")
            self.assertEqual(r.returncode, 0, r.stdout)
            r = spdx(d, "--add")
            self.assertIn("added the line to 0 file(s)", r.stdout)
            with open(os.path.join(d, "lib/new.c"), "w") as f:
                f.write("int n;\n")
            r = spdx(d, "--check")
            self.assertEqual((r.returncode, r.stdout.splitlines()[0]), (1, "lib/new.c"))


if __name__ == "__main__":
    unittest.main()
