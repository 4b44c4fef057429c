# SPDX-License-Identifier: MIT
"""Fixtures of the Python binding tests. The library under test is $FEAT_BUILD_DIR/libfeat.so
(default: the repository's build/) unless FEAT_LIBRARY names another; models, inputs and the
CLI's reference outputs come from bindings/testdata/prepare.py (cached in the build dir)."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = pathlib.Path(os.environ.get("FEAT_BUILD_DIR", ROOT / "build")).resolve()
if "FEAT_LIBRARY" not in os.environ and (BUILD / "libfeat.so").exists():
    os.environ["FEAT_LIBRARY"] = str(BUILD / "libfeat.so")
try:  # an installed package (pip install bindings/python) wins; else the checkout's sources
    import libfeat  # noqa: F401
except ModuleNotFoundError:
    sys.path.insert(0, str(ROOT / "bindings" / "python" / "src"))


def _env():
    data = os.environ.get("FEAT_TEST_DATA")
    if not data:
        r = subprocess.run([sys.executable, str(ROOT / "bindings" / "testdata" / "prepare.py")],
                           capture_output=True, text=True, env={**os.environ, "FEAT_BUILD_DIR": str(BUILD)})
        if r.returncode != 0:
            pytest.fail("bindings/testdata/prepare.py failed:\n" + r.stdout + r.stderr)
        data = r.stdout.strip().splitlines()[-1]
    env = {}
    for line in pathlib.Path(data, "env.txt").read_text().splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    return env


@pytest.fixture(scope="session")
def env():
    return _env()


@pytest.fixture(scope="session")
def data(env):
    return pathlib.Path(env["FEAT_TEST_DATA"])


def read_rows(npy_path):
    """(features, [(status, input, message)]) of a CLI output."""
    feats = np.load(npy_path)
    rows = []
    tsv = pathlib.Path(str(npy_path)[:-4] + ".rows.tsv")
    for line in tsv.read_text(errors="replace").splitlines()[1:]:
        parts = line.split("\t")
        rows.append((parts[1], parts[2] if len(parts) > 2 else "", parts[3] if len(parts) > 3 else ""))
    return feats, rows


def assert_same(got, want):
    """Max abs difference 0, NaN rows in the same places."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    diff = float(np.max(np.abs(got[ok] - want[ok]))) if ok.any() else 0.0
    assert diff == 0.0, f"max abs difference {diff}"
