# SPDX-License-Identifier: MIT
"""feat probe end to end (docs/adapting.md): on real handwritten digits (images, resnet18
random-init) and on fortune categories (text, MiniLM with its real weights), every tap's and
fused set's cross-validated accuracy equals scikit-learn's on the same standardised features and
the report's folds, within 0.5 percentage points. The reference runs here: StandardScaler fitted
on each training fold, then OneVsRestClassifier(LogisticRegression(solver="liblinear")) (C=1,
tol=1e-4, intercept_scaling=1). Also: the default candidate taps, --features mode on the saved
extraction, failed inputs excluded and counted, and bad input refused with a message."""
import json
import subprocess

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

TOLERANCE = 0.005  # 0.5 percentage points
FORTUNES = "/usr/share/games/fortunes"
CATEGORIES = ["computers", "science", "politics", "love", "food", "sports"]


def sklearn_accuracy(x, y, fold, cols):
    accs = []
    for f in range(fold.max() + 1):
        train, test = (fold >= 0) & (fold != f), fold == f
        xt = x[train][:, cols].astype(np.float64)
        scaler = StandardScaler().fit(xt)
        clf = OneVsRestClassifier(LogisticRegression(solver="liblinear", C=1.0, tol=1e-4, intercept_scaling=1.0))
        clf.fit(scaler.transform(xt), y[train])
        accs.append(float(np.mean(clf.predict(scaler.transform(x[test][:, cols].astype(np.float64))) == y[test])))
    return np.array(accs)


def check_parity(report, x, y):
    """Largest gap between libfeat and scikit-learn over every tap and fused set."""
    fold, taps, worst = np.array(report["fold"]), report["taps"], 0.0
    for ev in taps + report["fused"]:
        cols = np.concatenate([np.arange(taps[t]["first"], taps[t]["first"] + taps[t]["cols"]) for t in ev["taps"]])
        ref = sklearn_accuracy(x, y, fold, cols)
        gap = abs(ref.mean() - ev["accuracy_mean"])
        print(f"{ev['spec']}: libfeat {ev['accuracy_mean']:.4f} scikit-learn {ref.mean():.4f}")
        assert gap <= TOLERANCE, (ev["spec"], ev["fold_accuracy"], ref)
        worst = max(worst, gap)
    return worst


def probe(feat_cli, *args):
    r = subprocess.run([str(feat_cli), "probe", *map(str, args)], capture_output=True, text=True)
    return r


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    """50 digits per class as 32x32 grayscale PNGs in class folders, and one broken file."""
    d = tmp_path_factory.mktemp("digits")
    data = load_digits()
    for k in range(10):
        (d / f"digit{k}").mkdir()
        for i in np.flatnonzero(data.target == k)[:50]:
            img = Image.fromarray((data.images[i] * 255 / 16).astype(np.uint8), "L").resize((32, 32), Image.NEAREST)
            img.save(d / f"digit{k}" / f"{i:04d}.png")
    (d / "digit3" / "broken.png").write_bytes(b"not a png")
    return d


@pytest.fixture(scope="module")
def fortunes_tsv(tmp_path_factory):
    """60 one-line fortunes of each of six categories as label<TAB>text."""
    path = tmp_path_factory.mktemp("fortunes") / "fortunes.tsv"
    with open(path, "w", encoding="utf-8") as out:
        for cat in CATEGORIES:
            text = open(f"{FORTUNES}/{cat}", encoding="utf-8", errors="replace").read()
            records = [" ".join(r.split()) for r in text.split("\n%\n")]
            for r in [r for r in records if 20 <= len(r) <= 300][:60]:
                out.write(f"{cat}\t{r}\n")
    return path


def load_rows(report_path):
    stem = str(report_path)[:-5]
    return np.load(stem + ".npy"), stem


def test_digits_resnet18(feat_cli, models, digits_dir, tmp_path):
    out = tmp_path / "digits.json"
    r = probe(feat_cli, "--model", models["resnet18-script"], "--data", digits_dir, "--predictions", "-o", out)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    # Default candidates: every block of layer1..layer4, gap-pooled, in depth order.
    assert [t["spec"] for t in report["taps"]] == [f"layer{i}.{j}:gap" for i in range(1, 5) for j in range(2)]
    assert report["rows"] == 501 and report["rows_excluded"] == 1
    x, stem = load_rows(out)
    assert x.shape == (501, 64 + 64 + 128 + 128 + 256 + 256 + 512 + 512)
    labels = [line.split("\t")[1] for line in open(stem + ".labels.tsv").read().splitlines()[1:]]
    failed = report["excluded_rows"][0]
    assert np.isnan(x[failed]).all() and report["fold"][failed] == -1
    y = np.array([report["classes"].index(lab) for lab in labels])
    worst = check_parity(report, x, y)
    print(f"digits/resnet18: largest gap {100 * worst:.3f} points")
    assert report["winner_accuracy_mean"] >= max(t["accuracy_mean"] for t in report["taps"])
    assert f"--taps '{report['winner']}'" in r.stdout
    for tap in report["taps"]:
        assert tap["spec"] in r.stdout  # a row per tap in the table

    # The saved extraction probes again without the model, to the same numbers.
    again = tmp_path / "again.json"
    r = probe(feat_cli, "--features", stem + ".npy", "--labels", stem + ".labels.tsv", "--columns",
              stem + ".columns.tsv", "--taps", "layer4.1:gap,layer2.0:gap", "-o", again)
    assert r.returncode == 0, r.stderr
    rep2 = json.loads(again.read_text())
    assert [t["spec"] for t in rep2["taps"]] == ["layer4.1:gap", "layer2.0:gap"]
    by_spec = {t["spec"]: t for t in report["taps"]}
    for t in rep2["taps"]:
        assert t["fold_accuracy"] == by_spec[t["spec"]]["fold_accuracy"]


def test_fortunes_minilm(feat_cli, models, fortunes_tsv, tmp_path):
    out = tmp_path / "fortunes.json"
    r = probe(feat_cli, "--model", models["minilm"], "--data", fortunes_tsv, "--folds", "4", "--seed", "3",
              "--predictions", "-o", out)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert [t["spec"] for t in report["taps"]] == [f"encoder.layer.{i}:mean" for i in range(6)]
    assert report["method"]["folds"] == 4 and report["rows_excluded"] == 0
    x, stem = load_rows(out)
    labels = [line.split("\t")[0] for line in open(fortunes_tsv, encoding="utf-8").read().splitlines()]
    y = np.array([report["classes"].index(lab) for lab in labels])
    worst = check_parity(report, x, y)
    print(f"fortunes/minilm: largest gap {100 * worst:.3f} points")
    assert report["winner_accuracy_mean"] >= max(t["accuracy_mean"] for t in report["taps"])


def test_bad_input(feat_cli, models, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("food\tapples\nno tab here\n")
    r = probe(feat_cli, "--model", models["minilm"], "--data", bad, "-o", tmp_path / "r.json")
    assert r.returncode != 0 and "line 2: expected label<TAB>text" in r.stderr
    one = tmp_path / "one.tsv"
    one.write_text("".join(f"food\tfruit number {i}\n" for i in range(10)))
    r = probe(feat_cli, "--model", models["minilm"], "--data", one, "-o", tmp_path / "r.json")
    assert r.returncode == 1 and "needs at least two classes" in r.stderr
    few = tmp_path / "few.tsv"
    few.write_text("a\tx\nb\ty\na\tz\nb\tw\n")
    r = probe(feat_cli, "--model", models["minilm"], "--data", few, "-o", tmp_path / "r.json")
    assert r.returncode == 1 and "fewer than the 5 folds" in r.stderr
    r = probe(feat_cli, "--data", few, "-o", tmp_path / "r.json")
    assert r.returncode == 2 and "either --model M --data" in r.stderr
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    (tmp_path / "x.labels.tsv").write_text("row\tlabel\n0\ta\n2\tb\n")
    (tmp_path / "x.columns.tsv").write_text("tap\tfirst\tcount\nt\t0\t2\n")
    r = probe(feat_cli, "--features", tmp_path / "x.npy", "--labels", tmp_path / "x.labels.tsv", "-o",
              tmp_path / "r.json")
    assert r.returncode == 1 and "no label for row 1" in r.stderr
