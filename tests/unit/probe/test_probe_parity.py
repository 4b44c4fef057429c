# SPDX-License-Identifier: MIT
"""Accuracy parity of lib/probe with scikit-learn on the same folds (docs/adapting.md).

libfeat's side comes from tests/unit/probe/probe_dump (the static probe component, no
libtorch), found under $FEAT_BUILD_DIR. The reference is computed here: for every tap and
fused set of the report, and every fold the report assigned, StandardScaler fitted on the
training rows, then OneVsRestClassifier(LogisticRegression(solver="liblinear")) (C=1,
tol=1e-4, intercept_scaling=1: liblinear's L2R_LR one-vs-rest; scikit-learn >= 1.8 asks for
the explicit one-vs-rest wrapper for more than two classes).

The data is sklearn.datasets.load_digits (1797 real handwritten digits, 8x8 pixels) with the
pixel rows as column blocks, and a two-class task made from it.

Run: FEAT_BUILD_DIR=build-probe .venv/bin/python -m pytest tests/unit/probe/test_probe_parity.py
"""
import json
import os
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

BUILD = os.environ.get("FEAT_BUILD_DIR", "/work/main/build")
TOOL = os.path.join(BUILD, "tests", "unit", "probe", "probe_dump")
TOLERANCE = 0.005  # 0.5 percentage points of accuracy


def sklearn_fold_accuracy(x, y, fold, cols):
    """Per-fold accuracies of the reference pipeline on columns `cols`."""
    used = fold >= 0
    accs = []
    for f in range(fold.max() + 1):
        train, test = used & (fold != f), fold == f
        scaler = StandardScaler().fit(x[train][:, cols].astype(np.float64))
        clf = OneVsRestClassifier(LogisticRegression(solver="liblinear", C=1.0, tol=1e-4, intercept_scaling=1.0))
        clf.fit(scaler.transform(x[train][:, cols].astype(np.float64)), y[train])
        pred = clf.predict(scaler.transform(x[test][:, cols].astype(np.float64)))
        accs.append(float(np.mean(pred == y[test])))
    return np.array(accs)


def write_inputs(tmp_path, x, labels, blocks):
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    with open(tmp_path / "labels.tsv", "w") as f:
        f.write("row\tlabel\n")
        for i, lab in enumerate(labels):
            f.write(f"{i}\t{lab}\n")
    with open(tmp_path / "x.columns.tsv", "w") as f:
        f.write("tap\tfirst\tcount\n")
        for name, first, count in blocks:
            f.write(f"{name}\t{first}\t{count}\n")


def run_probe(tmp_path, folds, seed):
    if not os.path.exists(TOOL):
        pytest.fail(f"{TOOL} is missing: build the probe unit tests first")
    out = tmp_path / "report.json"
    r = subprocess.run([TOOL, str(tmp_path / "x.npy"), str(tmp_path / "labels.tsv"), str(tmp_path / "x.columns.tsv"),
                        str(out), str(folds), str(seed)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


def check_parity(report, x, y):
    """Every tap and fused set within TOLERANCE of scikit-learn; returns the largest gap."""
    fold = np.array(report["fold"])
    taps = report["taps"]
    worst = 0.0
    for ev in taps + report["fused"]:
        cols = np.concatenate([np.arange(taps[t]["first"], taps[t]["first"] + taps[t]["cols"]) for t in ev["taps"]])
        ref = sklearn_fold_accuracy(x, y, fold, cols)
        gap = abs(ref.mean() - ev["accuracy_mean"])
        worst = max(worst, gap)
        assert gap <= TOLERANCE, (ev["spec"], ref, ev["fold_accuracy"])
        assert np.max(np.abs(ref - np.array(ev["fold_accuracy"]))) <= 2 * TOLERANCE + 1e-12, ev["spec"]
    return worst


def test_digits_pixel_rows(tmp_path):
    d = load_digits()
    x, y = d.data, d.target
    # Four blocks of two pixel rows each, plus a nearly useless one (the outer columns).
    blocks = [(f"rows{2 * i}-{2 * i + 1}", 16 * i, 16) for i in range(4)]
    outer = np.concatenate([x[:, 0::8], x[:, 7::8]], axis=1)
    x = np.concatenate([x, outer], axis=1)
    blocks.append(("outer", 64, 16))
    labels = [f"digit{v}" for v in y]
    write_inputs(tmp_path, x, labels, blocks)
    report = run_probe(tmp_path, 5, 0)
    assert report["rows"] == 1797 and report["rows_excluded"] == 0
    assert report["classes"] == [f"digit{i}" for i in range(10)]
    yi = np.array([report["classes"].index(lab) for lab in labels])
    worst = check_parity(report, x, yi)
    print(f"digits pixel rows: largest gap to scikit-learn {100 * worst:.3f} points")
    # The fused winner is never worse than the best single tap.
    best = max(t["accuracy_mean"] for t in report["taps"])
    assert report["winner_accuracy_mean"] >= best
    assert len(report["fused"]) > 0


def test_binary_with_failed_rows(tmp_path):
    d = load_digits()
    keep = np.isin(d.target, [3, 8])
    x, y = d.data[keep].astype(np.float32), d.target[keep]
    x[[0, 17, 40]] = np.nan  # failed inputs: excluded, counted, never zero
    labels = ["three" if v == 3 else "eight" for v in y]
    write_inputs(tmp_path, x, labels, [("top", 0, 32), ("bottom", 32, 32)])
    report = run_probe(tmp_path, 3, 11)
    assert report["rows_excluded"] == 3 and report["excluded_rows"] == [0, 17, 40]
    fold = np.array(report["fold"])
    assert (fold[[0, 17, 40]] == -1).all() and (fold >= 0).sum() == len(y) - 3
    yi = np.array([report["classes"].index(lab) for lab in labels])
    check_parity(report, x, yi)


def wide_digits():
    """200 digits (20 per class) as three blocks: two of smooth random features wider than a
    training fold (160 rows), one narrow block of random projections of the pixels."""
    d = load_digits()
    keep = np.concatenate([np.flatnonzero(d.target == k)[:20] for k in range(10)])
    pixels, y = d.data[keep], d.target[keep]
    rng = np.random.default_rng(5)
    wide = np.tanh(pixels @ rng.normal(size=(64, 450)) / 40.0)
    narrow = pixels @ rng.normal(size=(64, 40))
    x = np.concatenate([wide, narrow], axis=1)
    blocks = [("wide0", 0, 200), ("wide1", 200, 250), ("narrow", 450, 40)]
    return x, y, blocks


def test_row_space_form(tmp_path):
    """Blocks wider than a training fold and a narrow one: every fold takes the row-space form
    (docs/adapting.md), and the accuracies are scikit-learn's primal fits on the columns."""
    x, y, blocks = wide_digits()
    labels = [f"d{v}" for v in y]
    write_inputs(tmp_path, x, labels, blocks)
    report = run_probe(tmp_path, 5, 2)
    sets = report["taps"] + report["fused"]
    assert len(report["fused"]) >= 2
    assert [ev["row_space_folds"] for ev in sets] == [5] * len(sets)
    yi = np.array([report["classes"].index(lab) for lab in labels])
    worst = check_parity(report, x, yi)
    print(f"row-space form: largest gap to scikit-learn {100 * worst:.3f} points")
    assert report["winner_accuracy_mean"] >= max(t["accuracy_mean"] for t in report["taps"])


def test_row_space_fallback(tmp_path):
    """Every row twice: the training rows' Gram matrix is singular, so every fold is fitted on
    its columns instead, to the same accuracies as scikit-learn."""
    x, y, blocks = wide_digits()
    x, y = np.repeat(x, 2, axis=0), np.repeat(y, 2)
    labels = [f"d{v}" for v in y]
    write_inputs(tmp_path, x, labels, blocks)
    report = run_probe(tmp_path, 5, 2)
    sets = report["taps"] + report["fused"]
    assert [ev["row_space_folds"] for ev in sets] == [0] * len(sets)
    yi = np.array([report["classes"].index(lab) for lab in labels])
    check_parity(report, x, yi)
