# SPDX-License-Identifier: MIT
"""Ensembles, --append and the column map (docs/adapting.md). References are independent
runs: every ensemble row is compared with the single-model runs of the same inputs, bit for
bit; appended values with numpy's float32 of the decimals written; the column map with the
taps' sizes the single runs report."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, build_path

PHOTOS = sorted(pathlib.Path("/usr/share/backgrounds/mate").rglob("*.jpg"), key=lambda p: p.stat().st_size)[:4]
TEXTS = [b"a small dog", "Une phrase en français".encode(), b"", b"the quick brown fox jumps over the lazy dog " * 3,
         b"invalid \xff UTF-8", b"numbers 1 2 3"]


def feat(cli, *args, stdin=None):
    return subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, input=stdin)


def run_ok(cli, *args, stdin=None):
    r = feat(cli, *args, stdin=stdin)
    assert r.returncode == 0, r.stderr
    return r


def rows(out):
    lines = out.with_suffix(".rows.tsv").read_text().splitlines()[1:]
    return [line.split("\t") for line in lines]


def columns(out):
    lines = pathlib.Path(str(out)[:-4] + ".columns.tsv").read_text().splitlines()
    assert lines[0] == "tap\tfirst\tcount\tkind\tmodel\tpooling\tfusion\tcolumns"
    return [tuple(line.split("\t")) for line in lines[1:]]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    assert len(PHOTOS) == 4, "mate-backgrounds photos are missing"
    d = tmp_path_factory.mktemp("img")
    bad = d / "corrupt.jpg"
    bad.write_bytes(PHOTOS[0].read_bytes()[:2000])
    return [PHOTOS[0], PHOTOS[1], bad, PHOTOS[2], PHOTOS[3]]


R18 = ("--taps", "layer3:gap,layer4:gap")
VGG = ("--taps", "features.29:gap")


def single(feat_cli, tmp_path, name, model, args, inputs):
    out = tmp_path / f"{name}.npy"
    r = feat(feat_cli, "image", "--model", model, *args, "-o", out, *inputs)
    assert r.returncode == 0, r.stderr
    return np.load(out), rows(out)


@pytest.mark.parametrize("vgg_preset", [(), ("--preset", "keras-vgg16")], ids=["same-preset", "two-presets"])
def test_image_ensemble_equals_single_runs(feat_cli, models, tmp_path, images, vgg_preset):
    a, b = models["resnet18-script"], models["vgg16-script"]
    ra, ta = single(feat_cli, tmp_path, "a", a, R18, images)
    rb, tb = single(feat_cli, tmp_path, "b", b, VGG + vgg_preset, images)
    out = tmp_path / "e.npy"
    run_ok(feat_cli, "image", "--model", a, *R18, "--model", b, *VGG, *vgg_preset, "-o", out, *images)
    e = np.load(out)
    assert e.shape == (5, 256 + 512 + 512)
    assert np.array_equal(e, np.concatenate([ra, rb], axis=1), equal_nan=True)
    # the corrupt image is a NaN row at its own index, its message naming the first model
    assert np.isnan(e[2]).all() and not np.isnan(np.delete(e, 2, axis=0)).any()
    t = rows(out)
    assert [x[1] for x in t] == ["ok", "ok", "FEAT_E_DECODE", "ok", "ok"]
    assert t[2][3].startswith(f"{a}: {images[2]}: ") and t[2][3][len(f"{a}: "):] == ta[2][3]
    assert columns(out) == [("layer3:gap", "0", "256", "model", str(a), "gap", "concat", "-"),
                            ("layer4:gap", "256", "512", "model", str(a), "gap", "concat", "-"),
                            ("features.29:gap", "768", "512", "model", str(b), "gap", "concat", "-")]


def test_unreadable_input_stays_aligned(feat_cli, models, tmp_path, images):
    a, b = models["resnet18-script"], models["vgg16-script"]
    out = tmp_path / "e.npy"
    run_ok(feat_cli, "image", "--model", a, *R18, "--model", b, *VGG, "-o", out, images[0], tmp_path / "missing.jpg",
           images[1])
    t = rows(out)
    assert [x[1] for x in t] == ["ok", "FEAT_E_NOT_FOUND", "ok"]
    assert t[1][3].startswith(f"{a}: ")
    e = np.load(out)
    assert np.isnan(e[1]).all() and not np.isnan(e[[0, 2]]).any()


def test_fused_and_single_column_maps(feat_cli, models, tmp_path, images):
    a = models["resnet18-script"]
    out = tmp_path / "m.npy"
    run_ok(feat_cli, "image", "--model", a, "--taps", "layer4.0:gap,layer4.1:gap", "--fusion", "mean", "-o", out,
           images[0])
    assert columns(out) == [("layer4.0:gap,layer4.1:gap", "0", "512", "model", str(a), "gap,gap", "mean", "-")]
    out = tmp_path / "d.npy"
    run_ok(feat_cli, "image", "--model", a, "-o", out, images[0])
    (c,) = columns(out)
    assert c[1:5] == ("0", str(np.load(out).shape[1]), "model", str(a)) and c[6] == "concat"


def write(path, text):
    path.write_text(text)
    return path


def test_append_joins_exact_values_by_path(feat_cli, models, tmp_path, images):
    a = models["resnet18-script"]
    ra, _ = single(feat_cli, tmp_path, "a", a, R18, images)
    vals = {str(p): (f"{0.1 * (i + 1):.7g}", f"-{i}e-3") for i, p in enumerate(images)}
    table = "path\tsize\tscore\n" + "".join(f"{p}\t{v[0]}\t{v[1]}\n" for p, v in reversed(vals.items()))
    table += "/not/an/input.jpg\t1\t2\n"  # rows of other inputs (other shards) are ignored
    tsv = write(tmp_path / "domain.tsv", table)
    out = tmp_path / "j.npy"
    run_ok(feat_cli, "image", "--model", a, *R18, "--append", tsv, "-o", out, *images)
    e = np.load(out)
    assert e.shape == (5, 768 + 2)
    want = np.array([[float(x) for x in vals[str(p)]] for p in images], dtype=np.float64).astype(np.float32)
    ok = [0, 1, 3, 4]
    assert np.array_equal(e[ok, :768], ra[ok]) and np.array_equal(e[ok, 768:], want[ok])
    assert np.isnan(e[2]).all()  # a failed row stays all NaN, appended columns too
    assert columns(out)[-1] == (str(tsv), "768", "2", "append", "-", "-", "-", "size,score")


BAD_TABLES = [
    ("path\tv\n{p0}\t1\n{p0}\t2\n", "the key '{p0}' is on lines 2 and 3"),
    ("path\tv\n{p0}\tabc\n", "line 2, column 'v': 'abc' is not a finite decimal number"),
    ("path\tv\n{p0}\tinf\n", "'inf' is not a finite decimal number"),
    ("path\tv\n{p0}\tnan\n", "'nan' is not a finite decimal number"),
    ("path\tv\n{p0}\t1e39\n", "'1e39' is not a finite decimal number"),
    ("path\tv\tw\n{p0}\t1\n", "line 2: 2 fields, the header has 3 (a ragged row)"),
    ("file\tv\n{p0}\t1\n", "the header must be 'path' then the value columns' names"),
    ("path\n{p0}\n", "the header must be 'path' then the value columns' names"),
    ("path\tv\tv\n{p0}\t1\t2\n", "value column 2 of the header is named twice"),
    ("", "is empty: it needs a header line"),
    ("path\tv\n{p0}\t1\n", "has no row for '{p1}' (1 inputs without one)"),
]


@pytest.mark.parametrize("table,message", BAD_TABLES, ids=[m.split(":")[0][:30] for _, m in BAD_TABLES])
def test_bad_append_tables_fail_before_any_model_work(feat_cli, tmp_path, table, message):
    p0, p1 = PHOTOS[0], PHOTOS[1]
    tsv = write(tmp_path / "t.tsv", table.format(p0=p0, p1=p1))
    out = tmp_path / "o.npy"
    # the model does not exist: a table error must come first
    r = feat(feat_cli, "image", "--model", tmp_path / "no-model.pt", "--append", tsv, "-o", out, p0, p1)
    assert r.returncode == 1 and message.format(p0=p0, p1=p1) in r.stderr, r.stderr
    assert "no-model" not in r.stderr and not out.exists()


def test_text_ensemble_and_append_by_line(feat_cli, models, tmp_path):
    a, b = models["bert-tiny"], models["minilm"]
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"\n".join(TEXTS) + b"\n")
    stdin = None
    outs = []
    for name, m, taps in (("a", a, "encoder.layer.-1:mean"), ("b", b, "encoder.layer.-1:cls")):
        out = tmp_path / f"{name}.npy"
        run_ok(feat_cli, "text", "--model", m, "--taps", taps, "--input", lines, "-o", out)
        outs.append(np.load(out))
    tsv = write(tmp_path / "lines.tsv", "line\tlen\n" + "".join(f"{i + 1}\t{len(t)}.5\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "e.npy"
    run_ok(feat_cli, "text", "--model", a, "--taps", "encoder.layer.-1:mean", "--model", b, "--taps",
           "encoder.layer.-1:cls", "--append", tsv, "--input", lines, "-o", out)
    e = np.load(out)
    d = outs[0].shape[1] + outs[1].shape[1]
    assert np.array_equal(e[:, :d], np.concatenate(outs, axis=1), equal_nan=True)
    bad = [i for i, t in enumerate(TEXTS) if b"\xff" in t]
    good = [i for i in range(len(TEXTS)) if i not in bad]
    assert np.array_equal(e[good, d], np.float32([len(TEXTS[i]) + 0.5 for i in good]))
    assert all(np.isnan(e[i]).all() for i in bad)
    t = rows(out)
    assert all(t[i][3].startswith(f"{a}: ") for i in bad)
    c = columns(out)
    assert [x[3:5] for x in c] == [("model", str(a)), ("model", str(b)), ("append", "-")]
    assert c[0][1:3] == ("0", str(outs[0].shape[1])) and c[0][0].endswith(":mean") and c[0][5] == "mean"
    assert c[1][1:3] == (str(outs[0].shape[1]), str(outs[1].shape[1])) and c[1][0].endswith(":cls")
    assert c[2] == (str(tsv), str(d), "1", "append", "-", "-", "-", "len")
    # a line without a row in the table fails the run before the models load
    short = write(tmp_path / "short.tsv", "line\tlen\n1\t2\n")
    r = feat(feat_cli, "text", "--model", tmp_path / "none.pt", "--append", short, "--input", lines, "-o",
             tmp_path / "x.npy")
    assert r.returncode == 1 and "has no row for '2' (a line number)" in r.stderr, r.stderr


def test_options_bind_to_their_model(feat_cli, models, tmp_path, images):
    """--taps before the first --model is the first model's (as before ensembles); a second
    --model is refused where the subcommand takes one model."""
    a = models["resnet18-script"]
    out = tmp_path / "o.npy"
    run_ok(feat_cli, "image", *R18, "--model", a, "-o", out, images[0])
    assert [c[0] for c in columns(out)] == ["layer3:gap", "layer4:gap"]
    r = feat(feat_cli, "layers", "--model", a, "--model", a, a)
    assert r.returncode == 2


def test_merge_keeps_the_column_map(feat_cli, models, tmp_path, images):
    a, b = models["resnet18-script"], models["vgg16-script"]
    shards = []
    for i in range(2):
        out = tmp_path / f"s{i}.npy"
        run_ok(feat_cli, "image", "--model", a, *R18, "--model", b, *VGG, "--shard", f"{i}/2", "-o", out, *images)
        shards.append(out)
    whole = tmp_path / "whole.npy"
    run_ok(feat_cli, "image", "--model", a, *R18, "--model", b, *VGG, "-o", whole, *images)
    merged = tmp_path / "m.npy"
    run_ok(feat_cli, "merge", "-o", merged, *shards)
    assert np.array_equal(np.load(merged), np.load(whole), equal_nan=True)
    assert columns(merged) == columns(whole)
    # shards of different runs do not merge, even of the same width (the members swapped)
    other = tmp_path / "o1.npy"
    run_ok(feat_cli, "image", "--model", b, *VGG, "--model", a, *R18, "--shard", "1/2", "-o", other, *images)
    r = feat(feat_cli, "merge", "-o", tmp_path / "bad.npy", shards[0], other)
    assert r.returncode == 1 and "differs from the first shard's column map" in r.stderr


CHILD = r"""
import json, sys
import numpy as np
import libfeat
job = json.loads(sys.argv[1])
a = libfeat.ImageExtractor(job["a"], taps="layer3:gap,layer4:gap")
b = libfeat.ImageExtractor(job["b"], taps="features.29:gap", preset="keras-vgg16")
with libfeat.ImageEnsemble([a, b], names=["A", "B"]) as ens:
    assert ens.dim == a.dim + b.dim == 1280 and len(ens) == 2
    assert ens.tap_dims == [256, 512, 512]
    files = job["files"]
    r = ens.extract_files(files)
    np.save(job["dir"] + "/files.npy", r.features)
    blobs = [open(f, "rb").read() for f in files]
    np.save(job["dir"] + "/bytes.npy", ens.extract_bytes(blobs).features)
    want = np.concatenate([a.extract_files(files).features, b.extract_files(files).features], axis=1)
    np.save(job["dir"] + "/want.npy", want)
    errors = [r.errors[i] for i in range(len(files))]
ta = libfeat.TextExtractor(job["ta"])
tb = libfeat.TextExtractor(job["tb"], taps="encoder.layer.-1:mean")
with libfeat.TextEnsemble([ta, tb]) as te:
    texts = ["a dog", b"bad \xff utf8", "two words"]
    rt = te.extract(texts)
    wt = np.concatenate([ta.extract(texts).features, tb.extract(texts).features], axis=1)
    assert np.array_equal(rt.features, wt, equal_nan=True)
    assert rt.errors[1].startswith("member 0: ")
try:
    libfeat.ImageEnsemble([]).extract_files(files)
except libfeat.StateError as e:
    errors.append(str(e))
print(json.dumps(errors))
"""


def test_python_binding_ensemble(models, tmp_path, images):
    job = {"a": str(models["resnet18-script"]), "b": str(models["vgg16-script"]), "ta": str(models["bert-tiny"]),
           "tb": str(models["minilm"]), "files": [str(p) for p in images], "dir": str(tmp_path)}
    env = dict(os.environ, FEAT_LIBRARY=str(build_path("libfeat.so")),
               PYTHONPATH=str(ROOT / "bindings" / "python" / "src"))
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    errors = json.loads(r.stdout.strip().splitlines()[-1])
    want = np.load(tmp_path / "want.npy")
    assert np.array_equal(np.load(tmp_path / "files.npy"), want, equal_nan=True)
    assert np.array_equal(np.load(tmp_path / "bytes.npy")[[0, 1, 3, 4]], want[[0, 1, 3, 4]])
    assert errors[2].startswith(f"A: {images[2]}: ") and all(errors[i] is None for i in (0, 1, 3, 4))
    assert "no members" in errors[-1]
