# SPDX-License-Identifier: MIT
"""The C examples run and agree with the Python references."""
import re
import subprocess

import numpy as np

import reference
from conftest import build_path


def test_text_similarity_matches_sentence_transformers(models, minilm_dir):
    a, b = "A man is eating food.", "A man is eating a piece of bread."
    r = subprocess.run([str(build_path("examples", "text_similarity")), str(models["minilm"]),
                        "encoder.layer.-1:mean", a, b], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = float(re.search(r"= (-?[0-9.]+)", r.stdout).group(1))
    e = reference.sentence_transformers_embed(minilm_dir, [a, b])
    want = float(e[0] @ e[1] / np.linalg.norm(e[0]) / np.linalg.norm(e[1]))
    assert abs(got - want) < 1e-4, (got, want)


def test_image_features_example(models):
    photo = "/usr/share/backgrounds/mate/nature/Dune.jpg"
    r = subprocess.run([str(build_path("examples", "image_features")), str(models["resnet18-script"]), "layer4:gap",
                        photo, "/nonexistent.jpg"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("2 images, 512 features each")
    assert lines[1].startswith(photo + ": ") and "No such file" in lines[2]
