# SPDX-License-Identifier: MIT
"""`feat image` against the Python pipeline it replaces (Pillow + torchvision transforms, or
the Keras-style load_img + caffe preprocessing, the same weights, the same pooling), and its
handling of bad inputs: each bad file gets its own error row, the others are still written."""
import csv
import os
import pathlib
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest
import torch

import reference

PHOTOS = sorted(pathlib.Path("/usr/share/backgrounds/mate").rglob("*"))
# A few real photos of different kinds, small enough to keep the suite fast.
SAMPLE = [p for p in PHOTOS if p.name in {"Dune.jpg", "LadyBird.jpg", "Aqua.jpg", "Flow.png", "Stripes.png",
                                           "GreenTraditional.jpg"}]
TOL = 1e-4


def run_feat(feat_cli, *args):
    r = subprocess.run([str(feat_cli), *map(str, args)], capture_output=True, text=True, timeout=900)
    return r


def read_rows(npy):
    stem = str(npy)[:-4]
    with open(stem + ".rows.tsv", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def python_pipeline(model, paths, spec, preset="torchvision"):
    eager = reference.load_eager(model)
    rows = []
    for p in paths:
        if preset == "torchvision":
            x = reference.preprocess_torchvision(p)
        else:
            x = reference.preprocess_keras_vgg16(p)
        rows.append(reference.taps_reference(eager, torch.from_numpy(np.asarray(x))[None], spec)[0])
    return np.stack(rows)


def assert_rows_close(got, want, what):
    assert got.shape == want.shape, f"{what}: {got.shape} vs {want.shape}"
    for i in range(len(want)):
        scale = max(float(np.abs(want[i]).max()), 1e-12)
        err = float(np.abs(got[i] - want[i]).max()) / scale
        assert err <= TOL, f"{what}: row {i} differs by {err:.3g} of its scale"


@pytest.mark.parametrize("spec", ["features.30:flatten", "features.29:gap,features.22:gmp,features.15:gap"])
def test_vgg16_features_match_python_pipeline(feat_cli, models, tmp_path, spec):
    assert len(SAMPLE) >= 5, "mate-backgrounds photos are missing"
    model = models["vgg16-script"]
    out = tmp_path / "f.npy"
    r = run_feat(feat_cli, "image", "--model", model, "--taps", spec, "-o", out, *SAMPLE)
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    assert [row["status"] for row in read_rows(out)] == ["ok"] * len(SAMPLE)
    assert_rows_close(got, python_pipeline(model, SAMPLE, spec), spec)


def test_keras_preset_and_batching(feat_cli, models, tmp_path):
    model = models["resnet50-script"]
    spec = "layer4:gap,layer2.3:gmp"
    out1, out4 = tmp_path / "b1.npy", tmp_path / "b4.npy"
    r = run_feat(feat_cli, "image", "--model", model, "--taps", spec, "--preset", "keras-vgg16", "-o", out1, *SAMPLE)
    assert r.returncode == 0, r.stderr
    r = run_feat(feat_cli, "image", "--model", model, "--taps", spec, "--preset", "keras-vgg16", "--batch-size", "4",
                 "-o", out4, *SAMPLE)
    assert r.returncode == 0, r.stderr
    a, b = np.load(out1), np.load(out4)
    assert_rows_close(a, python_pipeline(model, SAMPLE, spec, preset="keras-vgg16"), "keras preset")
    assert_rows_close(b, a, "batch size 4 vs 1")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_bad_inputs(d):
    jpg = next(p for p in SAMPLE if p.suffix == ".jpg")
    png = next(p for p in SAMPLE if p.suffix == ".png")
    data = jpg.read_bytes()
    (d / "a_good.jpg").write_bytes(data)
    (d / "b_empty.jpg").write_bytes(b"")
    (d / "c_truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "d_random.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 50000, dtype=np.uint8).tobytes())
    p = bytearray(png.read_bytes())
    idat = p.find(b"IDAT")
    length = struct.unpack(">I", p[idat - 4:idat])[0]
    p[idat + 4 + length] ^= 0xFF  # first byte of the IDAT chunk's CRC
    (d / "e_badcrc.png").write_bytes(bytes(p))
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    (d / "f_huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
                                   png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b""))
    (d / "g_dir.jpg").mkdir()
    os.symlink(d / "nowhere.jpg", d / "h_dangling.jpg")
    os.mkfifo(d / "i_fifo.jpg")
    (d / "j_good.png").write_bytes(png.read_bytes())
    (d / "sub").mkdir()
    os.symlink(d, d / "sub" / "loop")  # a symlink loop in the walk
    (d / "sub" / "k_good.jpg").write_bytes(data)


def test_bad_inputs_fail_alone(feat_cli, models, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    make_bad_inputs(d)
    out = tmp_path / "f.npy"
    r = run_feat(feat_cli, "image", "--model", models["resnet18-script"], "--taps", "layer4:gap", "-o", out, d)
    assert r.returncode == 0, r.stderr  # some inputs worked
    rows = read_rows(out)
    by_name = {pathlib.Path(row["input"]).name: row for row in rows}
    x = np.load(out)
    assert len(x) == len(rows)
    expect = {
        "a_good.jpg": "ok", "j_good.png": "ok", "k_good.jpg": "ok",
        "b_empty.jpg": "FEAT_E_DECODE", "c_truncated.jpg": "FEAT_E_DECODE", "d_random.jpg": "FEAT_E_DECODE",
        "e_badcrc.png": "FEAT_E_DECODE", "f_huge.png": "FEAT_E_LIMIT", "h_dangling.jpg": "FEAT_E_NOT_FOUND",
        "i_fifo.jpg": "FEAT_E_IO",
    }
    for name, status in expect.items():
        assert name in by_name, f"{name} missing from the rows: {sorted(by_name)}"
        row = by_name[name]
        assert row["status"] == status, f"{name}: {row['status']} ({row['message']}), expected {status}"
        i = int(row["row"])
        if status == "ok":
            assert not np.isnan(x[i]).any()
        else:
            assert np.isnan(x[i]).all() and row["message"], f"{name}: failed rows are NaN with a message"
    # The good rows equal a run over the good files alone.
    good = [by_name[n]["input"] for n in ("a_good.jpg", "j_good.png")]
    out2 = tmp_path / "g.npy"
    assert run_feat(feat_cli, "image", "--model", models["resnet18-script"], "--taps", "layer4:gap", "-o", out2,
                    *good).returncode == 0
    np.testing.assert_array_equal(np.load(out2), x[[int(by_name[n]["row"]) for n in ("a_good.jpg", "j_good.png")]])
    assert "symlink loop" in r.stderr or "already visited" in r.stderr


def test_nothing_processed_is_an_error(feat_cli, models, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff")
    r = run_feat(feat_cli, "image", "--model", models["resnet18-script"], "-o", tmp_path / "f.npy", bad)
    assert r.returncode == 1 and "0 of 1 images done" in r.stderr


def test_layers_command(feat_cli, models):
    r = run_feat(feat_cli, "layers", models["resnet18-script"], "--size", "64")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split("\t", 1) for line in r.stdout.splitlines())
    assert lines["layer4"] == "1x512x2x2"
    assert lines["avgpool"] == "1x512x1x1"
    assert lines["layer1.0.relu"].startswith("-\t") and "@0" in lines["layer1.0.relu"]
