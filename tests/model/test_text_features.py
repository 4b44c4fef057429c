# SPDX-License-Identifier: MIT
"""`feat text` against sentence-transformers / Hugging Face with the real all-MiniLM-L6-v2
weights, invariance to batch size and padding, long-text windows, and bad input."""
import csv
import subprocess

import numpy as np
import pytest
import torch

import reference

FORTUNES_EN = "/usr/share/games/fortunes/computers"
FORTUNES_DE = "/usr/share/games/fortunes/de/computer"


def fortunes(path, limit):
    text = open(path, encoding="utf-8", errors="replace").read()
    recs = [" ".join(r.split()) for r in text.split("\n%\n")]
    return [r for r in recs if r][:limit]


@pytest.fixture(scope="module")
def corpus():
    lines = fortunes(FORTUNES_EN, 120) + fortunes(FORTUNES_DE, 80)
    lines += ["", "a", "Ünïcödé façade — naïve café", "日本語のテキスト", "emoji 👩‍👩‍👧 family", "[CLS] inside [SEP] text"]
    return lines


def run_text(feat_cli, model, lines, tmp_path, *args, name="t"):
    inp = tmp_path / f"{name}.txt"
    inp.write_bytes(b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines))
    out = tmp_path / f"{name}.npy"
    r = subprocess.run([str(feat_cli), "text", "--model", str(model), "-o", str(out), "--input", str(inp), *args],
                       capture_output=True, text=True, timeout=900)
    return r, out


def rows(npy):
    with open(str(npy)[:-4] + ".rows.tsv", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def cosine(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_mean_pooling_equals_sentence_transformers(feat_cli, models, minilm_dir, corpus, tmp_path):
    r, out = run_text(feat_cli, models["minilm"], corpus, tmp_path, "--taps", "encoder.layer.-1:mean")
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    want = reference.sentence_transformers_embed(minilm_dir, corpus)
    cos = cosine(got, want)
    assert cos.min() >= 0.99999, f"worst cosine {cos.min():.7f} on {corpus[int(cos.argmin())]!r}"


def test_default_taps_are_last_layer_cls(feat_cli, models, corpus, tmp_path):
    model = models["minilm"]
    r, out = run_text(feat_cli, model, corpus[:40], tmp_path)
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    eager = reference.load_eager(model)
    inp = reference.bert_inputs(model, corpus[:40])
    with torch.no_grad():
        cls = eager(*inp)[0][:, 0].numpy()
    assert np.abs(got - cls).max() <= 1e-4 * np.abs(cls).max()


def test_batch_size_and_padding_do_not_change_results(feat_cli, models, corpus, tmp_path):
    model = models["minilm"]
    spec = "encoder.layer.-4..-1:cls,encoder.layer.-1:max"
    r1, o1 = run_text(feat_cli, model, corpus, tmp_path, "--taps", spec, "--batch-size", "1", name="b1")
    r2, o2 = run_text(feat_cli, model, corpus, tmp_path, "--taps", spec, "--batch-size", "64", name="b64")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    a, b = np.load(o1), np.load(o2)
    assert a.shape == (len(corpus), 4 * 384 + 384)
    assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()


def test_long_text_windows(feat_cli, models, minilm_dir, tmp_path):
    model = models["minilm"]
    long = " ".join(fortunes(FORTUNES_EN, 60))
    tok = reference.bert_tokenizer(model)
    n_tokens = len(tok(long)["input_ids"])
    assert n_tokens > 3 * 256
    r, out = run_text(feat_cli, model, [long], tmp_path, "--taps", "encoder.layer.-1:mean", "--stride", "32")
    assert r.returncode == 0, r.stderr
    got = np.load(out)[0]
    # Reference: HF windows (max_length 256, stride 32), each mean-pooled, then averaged.
    enc = tok(long, max_length=256, truncation=True, stride=32, return_overflowing_tokens=True,
              padding="longest", return_tensors="pt")
    eager = reference.load_eager(model)
    with torch.no_grad():
        h = eager(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])[0].numpy()
    per_window = reference.pool(h, "mean", enc["attention_mask"].numpy())
    want = per_window.mean(0)
    assert len(per_window) >= 4
    assert cosine(got[None], want[None])[0] >= 0.99999
    # Without --stride the text is truncated to max_length: the first window alone.
    r, out = run_text(feat_cli, model, [long], tmp_path, "--taps", "encoder.layer.-1:mean", name="trunc")
    assert cosine(np.load(out), per_window[:1])[0] >= 0.99999


def test_bad_input_fails_alone(feat_cli, models, tmp_path):
    lines = [b"good line", b"bad \xff\xfe utf-8", b"", b"x" * (10 * 1024 * 1024), b"another good line"]
    r, out = run_text(feat_cli, models["minilm"], lines, tmp_path, "--taps", "encoder.layer.-1:mean")
    assert r.returncode == 0, r.stderr
    table = rows(out)
    x = np.load(out)
    assert [row["status"] for row in table] == ["ok", "FEAT_E_DECODE", "ok", "ok", "ok"], table
    assert np.isnan(x[1]).all() and not np.isnan(x[[0, 2, 3, 4]]).any()
    assert "UTF-8" in table[1]["message"]
    assert [row["input"].split(" #")[0] for row in table] == [f"line {i}" for i in range(1, 6)]
    r, out = run_text(feat_cli, models["minilm"], lines[:2], tmp_path, "--replace-invalid", name="repl")
    assert r.returncode == 0 and not np.isnan(np.load(out)).any()


def test_tokenize_command_matches_hugging_face(feat_cli, models, corpus):
    model = models["minilm"]
    vocab = str(model)[:-3] + ".vocab.txt"
    r = subprocess.run([str(feat_cli), "tokenize", "--vocab", vocab], input="\n".join(corpus[:100]) + "\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tok = reference.bert_tokenizer(model)
    want = [" ".join(map(str, tok(line, truncation=False)["input_ids"])) for line in corpus[:100]]
    assert r.stdout.splitlines() == want
