"""The CLI under valgrind memcheck on a small batch (good, corrupt and unsupported files):
zero errors, zero definitely lost bytes. Third-party reports that are not libfeat's are
suppressed in tests/valgrind/third_party.supp, each with its reason."""
import pathlib
import re
import shutil
import subprocess

import pytest
import torch
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
SUPP = ROOT / "tests" / "valgrind" / "third_party.supp"


def memcheck(cmd, **kw):
    if not shutil.which("valgrind"):
        pytest.fail("valgrind is missing: run tools/setup.sh")
    r = subprocess.run(["valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
                        "--show-leak-kinds=definite", f"--suppressions={SUPP}", *map(str, cmd)], capture_output=True,
                       text=True, timeout=1200, **kw)
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", r.stderr)
    lost = re.search(r"definitely lost: ([\d,]+) bytes", r.stderr)
    assert summary and summary.group(1) == "0", r.stderr[-6000:]
    assert lost is None or lost.group(1) == "0", r.stderr[-6000:]
    assert r.returncode != 99
    return r


def tiny_cnn(path):
    """A small scripted CNN: libfeat's own code paths (decode, preprocess, graph surgery, taps,
    pooling, output) are what is checked; a big model would only make libtorch slower."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(inplace=True), torch.nn.Conv2d(8, 8, 3))
    torch.jit.script(m.eval()).save(str(path))
    return path


def test_feat_image_under_memcheck(feat_cli, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    src = Image.open("/usr/share/backgrounds/mate/nature/Dune.jpg")
    src.resize((120, 80)).save(d / "a.jpg")
    src.resize((90, 70)).convert("P").save(d / "b.png")
    (d / "c.jpg").write_bytes((d / "a.jpg").read_bytes()[:500])
    (d / "d.gif").write_bytes(b"GIF89a" + bytes(40))
    model = tiny_cnn(tmp_path / "tiny.pt")
    r = memcheck([feat_cli, "image", "--model", model, "--taps", "2:gap,0:gmp", "--resize", "72", "--crop", "64",
                  "--batch-size", "2", "-o", tmp_path / "out.npy", d])
    assert r.returncode == 0 and "2 of 4 images done" in r.stderr


def test_feat_tokenize_under_memcheck(feat_cli, minilm_dir):
    text = open("/usr/share/games/fortunes/de/computer", encoding="utf-8").read()[:4000] + "\nbad \xff\n"
    memcheck([feat_cli, "tokenize", "--vocab", minilm_dir / "vocab.txt", "--pair", "--offsets", "--max-length", "32"],
             input=text.replace("\n\n", "\t"))
