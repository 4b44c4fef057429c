#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The rules of tools/check_references.py on a small made-up tree: what is a mention of a
repository path, what is not, and that missing ones are reported with file and line."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import check_references  # noqa: E402

FILES = {
    "README.md": "",
    "docs/api.md": "",
    "lib/image/decode.c": "",
    "lib/image/image_priv.h": "",
    "tests/fuzz/corpus/jpeg/a.jpg": "",
    "tools/setup.sh": "",
}


def run(text, name="docs/x.md"):
    """(exit status, printed lines) of the checker on a tree holding FILES and `name` = text."""
    with tempfile.TemporaryDirectory() as d:
        for rel, body in list(FILES.items()) + [(name, text)]:
            path = os.path.join(d, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(body)
        subprocess.run(["git", "init", "-q", d], check=True)
        out = []
        real_print = print
        check_references.print = lambda *a, **k: out.append(" ".join(str(x) for x in a))
        try:
            rc = check_references.main(["--root", d, name])
        finally:
            check_references.print = real_print
        return rc, out


class Rules(unittest.TestCase):
    def assert_ok(self, text, name="docs/x.md"):
        rc, out = run(text, name)
        self.assertEqual(rc, 0, out)

    def assert_missing(self, text, token, name="docs/x.md", line=1):
        rc, out = run(text, name)
        self.assertEqual(rc, 1, out)
        self.assertIn("%s:%d: %s" % (name, line, token), out)

    def test_existing_paths_pass(self):
        self.assert_ok("see `docs/api.md`, lib/image/decode.c:12 and (tools/setup.sh).\n")
        self.assert_ok("folders: lib/image/ and tests/fuzz/corpus; glob lib/image/*.c\n")
        self.assert_ok("relative to the file: ../lib/image/decode.c\n")

    def test_missing_paths_fail(self):
        self.assert_missing("x\nsee lib/image/resize.c\n", "lib/image/resize.c", line=2)
        self.assert_missing("the notes in `specs/imaging.md`\n", "specs/imaging.md")
        self.assert_missing("and specs/tokenizer.md\n", "specs/tokenizer.md")
        self.assert_missing("glob lib/text/*.c\n", "lib/text/*.c")

    def test_design_note_sections_fail(self):
        self.assert_missing("picks other pixels (specs §1.2)\n", "specs §1.2")
        self.assert_missing("where the spec's §5.3 says\n", "spec's §5.3")
        self.assert_missing("semantics (spec: tokenizer.md)\n", "spec: tokenizer.md")

    def test_bare_names(self):
        self.assert_ok("decode.c and image_priv.h\n", name="lib/image/x.c")
        self.assert_missing("see resize.c\n", "resize.c", name="lib/image/x.c")
        self.assert_ok("Pillow's Resample.c and libtorch's lib/*.so*\n")

    def test_not_paths(self):
        self.assert_ok("https://github.com/huggingface/tokenizers/blob/main/README.md\n")
        self.assert_ok("python -m libfeat.spark; torch.nn.functional; /usr/include/png.h\n")
        self.assert_ok("writes OUT.npy; feat/feat.h; cmd_NAME.c and cmd_<name>.c\n")
        self.assert_ok("corpus in tests/fuzz/corpus/NAME, build/tests/x\n")

    def test_system_headers(self):
        self.assert_ok("#include <zlib.h>\n/* zlib.h's inflate */ 'zlib.h'\n", name="lib/image/z.c")


if __name__ == "__main__":
    unittest.main()
