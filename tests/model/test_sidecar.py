# SPDX-License-Identifier: MIT
"""What libfeat reads from a model's side-car: format_version (an unknown one is refused) and
text.handle_chinese_chars (followed by the tokenizer, checked against Hugging Face's tokenizer
configured from the same side-car)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import reference
from conftest import ROOT, build_path

CJK_LINES = ["日本語のテキスト", "中文字符测试 mixed with English", "plain English only"]


def copy_model(src, dst_dir, name):
    """Copies an exported model with its side-car and the side files it names (same file
    names, so the side-car's references hold) into dst_dir/name/; returns the new .pt path."""
    dst = dst_dir / name
    dst.mkdir()
    for f in src.parent.glob(src.name[:-3] + ".*"):
        shutil.copy(f, dst / f.name)
    return dst / src.name


def edit_sidecar(pt, edit):
    path = pt.with_suffix(".json")
    side = json.loads(path.read_text())
    edit(side)
    path.write_text(json.dumps(side))


def run_text(feat_cli, model, lines, out):
    inp = out.with_suffix(".txt")
    inp.write_text("".join(l + "\n" for l in lines), encoding="utf-8")
    return subprocess.run([str(feat_cli), "text", "--model", str(model), "--taps", "encoder.layer.-1:mean",
                           "-o", str(out), "--input", str(inp)], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("chinese", [True, False])
def test_handle_chinese_chars_is_read_from_the_sidecar(feat_cli, models, tmp_path, chinese):
    pt = copy_model(models["bert-tiny"], tmp_path, "tiny")
    edit_sidecar(pt, lambda s: s["text"].__setitem__("handle_chinese_chars", chinese))
    out = tmp_path / "out.npy"
    r = run_text(feat_cli, pt, CJK_LINES, out)
    assert r.returncode == 0, r.stderr
    inputs = reference.bert_inputs(pt, CJK_LINES)  # HF tokenizer with tokenize_chinese_chars=chinese
    want = reference.taps_reference(reference.load_eager(pt), inputs, "encoder.layer.-1:mean")
    got = np.load(out)
    scale = np.abs(want).max(axis=1, keepdims=True)
    assert (np.abs(got - want) <= 1e-4 * scale).all(), np.abs(got - want).max()


def test_handle_chinese_chars_changes_only_cjk_rows(feat_cli, models, tmp_path):
    """Both settings really reach the tokenizer: the CJK rows differ, the English row does not."""
    got = {}
    for chinese in (True, False):
        pt = copy_model(models["bert-tiny"], tmp_path, f"tiny{int(chinese)}")
        edit_sidecar(pt, lambda s: s["text"].__setitem__("handle_chinese_chars", chinese))
        out = tmp_path / f"out{int(chinese)}.npy"
        r = run_text(feat_cli, pt, CJK_LINES, out)
        assert r.returncode == 0, r.stderr
        got[chinese] = np.load(out)
    assert not np.allclose(got[True][:2], got[False][:2])
    assert np.array_equal(got[True][2], got[False][2])


@pytest.mark.parametrize("version, message", [
    (2, "format_version 2 is not supported"),
    (0, "format_version 0 is not supported"),
    ("1", "field format_version must be an integer"),
])
def test_unknown_format_version_is_refused(feat_cli, models, tmp_path, version, message):
    for kind, src in (("image", models["resnet18-script"]), ("text", models["bert-tiny"])):
        pt = copy_model(src, tmp_path, f"m_{kind}")
        edit_sidecar(pt, lambda s: s.__setitem__("format_version", version))
        out = tmp_path / f"{kind}.npy"
        if kind == "image":
            cmd = [str(feat_cli), "image", "--model", str(pt), "-o", str(out), "/usr/share/backgrounds/mate/nature"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        else:
            r = run_text(feat_cli, pt, ["a line"], out)
        assert r.returncode != 0 and message in r.stderr, (kind, r.stderr)
        assert not out.exists()


def test_unknown_format_version_is_a_model_error(models, tmp_path):
    """The status is FEAT_E_MODEL (through the Python binding, which maps it to ModelError)."""
    pt = copy_model(models["resnet18-script"], tmp_path, "v9")
    edit_sidecar(pt, lambda s: s.__setitem__("format_version", 9))
    code = ("import libfeat, sys\n"
            "try:\n    libfeat.ImageExtractor(sys.argv[1])\n"
            "except libfeat.ModelError as e:\n    print('ModelError', e)\n")
    env = dict(os.environ, FEAT_LIBRARY=str(build_path("libfeat.so")),
               PYTHONPATH=str(ROOT / "bindings" / "python" / "src"))
    r = subprocess.run([sys.executable, "-c", code, str(pt)], capture_output=True, text=True, env=env, timeout=300)
    assert r.stdout.startswith("ModelError") and "format_version 9" in r.stdout, r.stdout + r.stderr


def test_sidecar_without_format_version_reads_as_version_1(feat_cli, models, tmp_path):
    pt = copy_model(models["bert-tiny"], tmp_path, "nov")
    edit_sidecar(pt, lambda s: s.pop("format_version"))
    r = run_text(feat_cli, pt, ["a line"], tmp_path / "nov.npy")
    assert r.returncode == 0, r.stderr
