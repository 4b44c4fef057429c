# SPDX-License-Identifier: MIT
"""Extractors are used one thread at a time, and clones share the weights: several threads,
each with its own clone, must give exactly the serial results."""
import pathlib
import subprocess

from conftest import build_path

PHOTOS = sorted(pathlib.Path("/usr/share/backgrounds/mate/nature").glob("*.jpg"))[:4]


def run(*args):
    r = subprocess.run([str(build_path("tests", "model", "stress_threads")), *map(str, args)], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok:"), r.stdout


def test_image_clones_on_four_threads(models):
    run("image", models["resnet18-script"], "layer4:gap,layer3:gmp", 4, 2, *PHOTOS)


def test_text_clones_on_eight_threads(models, tmp_path):
    lines = tmp_path / "lines.txt"
    text = open("/usr/share/games/fortunes/computers", encoding="utf-8").read().split("\n%\n")[:40]
    lines.write_text("\n".join(" ".join(t.split()) for t in text) + "\n", encoding="utf-8")
    run("text", models["minilm"], "encoder.layer.-1:mean,encoder.layer.0:cls", 8, 3, lines)
