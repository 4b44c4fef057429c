# SPDX-License-Identifier: MIT
"""The CLI under valgrind memcheck on a small batch (good, corrupt and unsupported files):
zero errors, zero definitely lost bytes. Third-party reports that are not libfeat's are
suppressed in tests/valgrind/third_party.supp, each with its reason."""
import json
import pathlib
import re
import shutil
import subprocess

import pytest
import torch
from PIL import Image

from conftest import build_path

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
    # gap/gmp need the layout of what they pool (docs/taps.md): a feature map, N x C x H x W
    path.with_suffix(".json").write_text(json.dumps({"format": "libfeat-model", "layouts": {"": "nchw"}}))
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


def test_failed_loads_then_a_good_one_leak_nothing(tmp_path):
    """Each failed load (no file, not a model, the wrong input kind, a warm-up that fails) is
    retried on the same image and text extractors; then a good model loads and runs."""
    good = tiny_cnn(tmp_path / "tiny.pt")
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not a TorchScript archive")
    wrong_kind = tiny_cnn(tmp_path / "wrong_kind.pt")
    wrong_kind.with_suffix(".json").write_text('{"format": "libfeat-model", "format_version": 1, "input": "text"}')
    one_channel = tmp_path / "one_channel.pt"  # its warm-up forward on 3 channels fails
    torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3)).eval()).save(str(one_channel))
    img = tmp_path / "a.jpg"
    Image.open("/usr/share/backgrounds/mate/nature/Dune.jpg").resize((80, 60)).save(img)
    r = memcheck([build_path("tests", "model", "reload_probe"), good, img, tmp_path / "missing.pt",
                  tmp_path / "junk.pt", wrong_kind, one_channel, tmp_path / "missing.pt"])
    assert r.returncode == 0 and "ok: 10 failed loads, dim 8" in r.stdout, r.stdout + r.stderr[-3000:]
    image = [line for line in r.stdout.splitlines() if line.startswith("image: ")]
    text = [line for line in r.stdout.splitlines() if line.startswith("text: ")]
    for line, why in zip(image, ("does not exist", "not a loadable TorchScript model", "is a text model, not an image",
                                 "running the model", "does not exist")):
        assert why in line, (why, line)
    # Text loads after the model is in: the tap exists, the vocabulary is missing.
    assert all("no vocabulary given" in line for line in text[2:4]), text


def test_feat_tokenize_under_memcheck(feat_cli, minilm_dir):
    text = open("/usr/share/games/fortunes/de/computer", encoding="utf-8").read()[:4000] + "\nbad \xff\n"
    memcheck([feat_cli, "tokenize", "--vocab", minilm_dir / "vocab.txt", "--pair", "--offsets", "--max-length", "32"],
             input=text.replace("\n\n", "\t"))
