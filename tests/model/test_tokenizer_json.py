# SPDX-License-Identifier: MIT
"""tokenizer.json loading against Hugging Face `tokenizers` loading the same file
(`Tokenizer.from_file`, what BertTokenizerFast runs): ids, type ids, attention masks, code-point
and byte offsets of every item, on the corpora of tests/unit/text/test_tokenizer_parity.py
(fortunes en + de, the edge cases, seeded random Unicode, pairs). Configurations: MiniLM's
tokenizer.json as shipped (uncased, its truncation at 128), and variants written here by
editing it (no truncation, cased, handle_chinese_chars off, another continuing-subword prefix,
unk token and word length) or saved by a cased BertWordPieceTokenizer trained here
(BertProcessing). Then MiniLM from its tokenizer.json alone through the CLI: `feat tokenize`
ids and `feat text` embeddings equal to vocab.txt's, and an export from a folder without
vocab.txt.

Set FEAT_BUILD_DIR to the meson build directory (default: <repo>/build).
"""
import copy
import importlib.util
import json
import pathlib
import random
import shutil
import subprocess
import sys

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import BertWordPieceTokenizer, Tokenizer, processors  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("tokenizer_parity", ROOT / "tests/unit/text/test_tokenizer_parity.py")
P = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(P)

BIG = 1 << 24  # a truncation max_length that cuts nothing


def no_truncation(j):
    j["truncation"] = {"direction": "Right", "max_length": BIG, "strategy": "LongestFirst", "stride": 0}
    j["padding"] = None
    return j


def variant_prefix_unk(j):
    """"##" -> "@@", "[UNK]" -> "<unk>" everywhere, words over 20 characters -> unk."""
    m = j["model"]
    m["vocab"] = {("@@" + k[2:] if k.startswith("##") else "<unk>" if k == "[UNK]" else k): v
                  for k, v in m["vocab"].items()}
    m["continuing_subword_prefix"] = "@@"
    m["unk_token"] = "<unk>"
    m["max_input_chars_per_word"] = 20
    for t in j["added_tokens"]:
        if t["content"] == "[UNK]":
            t["content"] = "<unk>"
    j["decoder"]["prefix"] = "@@"
    return no_truncation(j)


def edit(**normalizer):
    def f(j):
        j["normalizer"].update(normalizer)
        return no_truncation(j)
    return f


VARIANTS = {
    "minilm": lambda j: j,  # as shipped: uncased, truncation max_length 128 LongestFirst
    "uncased": no_truncation,
    "cased": edit(lowercase=False),
    "no-chinese-chars": edit(handle_chinese_chars=False),
    "cased-no-chinese-chars": edit(lowercase=False, handle_chinese_chars=False),
    "lower-nostrip": edit(strip_accents=False),
    "prefix-unk-maxchars": variant_prefix_unk,
}


@pytest.fixture(scope="module")
def minilm_json():
    return pathlib.Path(P.minilm_vocab()).with_name("tokenizer.json")


@pytest.fixture(scope="module")
def variant_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tokjson")


def write_variant(minilm_json, directory, name):
    j = VARIANTS[name](copy.deepcopy(json.loads(minilm_json.read_text(encoding="utf-8"))))
    path = directory / f"{name}.json"
    path.write_text(json.dumps(j, ensure_ascii=False), encoding="utf-8")
    return str(path)


def hf_from_file(path):
    tok = Tokenizer.from_file(path)
    tok.no_padding()  # libfeat's encodings are unpadded (the extractor pads batches itself)
    return tok


def corpus():
    en, de = P.fortunes()
    items = en + de + [line for rec in (en + de)[:3000] for line in rec.split("\n")]
    items += P.EDGE_CASES + [a + " " + b for a in P.EDGE_CASES[:40] for b in P.EDGE_CASES[40:80]]
    items += P.random_strings(5000, seed=4321)
    return items


def pairs():
    en, de = P.fortunes()
    rng = random.Random(11)
    base = en[:1500] + de[:500]
    out = [(rng.choice(base), rng.choice(base)) for _ in range(600)]
    return out + [(P.EDGE_CASES[i], P.EDGE_CASES[-i - 1]) for i in range(len(P.EDGE_CASES))]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_parity(minilm_json, variant_dir, name):
    path = write_variant(minilm_json, variant_dir, name)
    items = corpus()
    tok = hf_from_file(path)
    n = P.compare(f"tokenizer.json {name}: texts", P.hf_expected(tok, items), P.run_tool(path, items), items)
    if name in ("minilm", "cased", "no-chinese-chars"):
        ps = pairs()
        n += P.compare(f"tokenizer.json {name}: pairs", P.hf_expected(tok, ps), P.run_tool(path, ps), ps)
    print(f"tokenizer.json {name}: {n} items identical")


def test_parity_trained_cased(tmp_path):
    """A cased WordPiece tokenizer trained here and saved by `tokenizers` itself
    (BertProcessing post-processor, its own vocabulary). A file without a post-processor
    (what training alone saves) is refused, since HF would then add no [CLS]/[SEP]."""
    en, de = P.fortunes()
    bt = BertWordPieceTokenizer(lowercase=False, strip_accents=False, clean_text=True, handle_chinese_chars=True)
    bt.train_from_iterator(en + de, vocab_size=12000, min_frequency=2, show_progress=False)
    # As BertWordPieceTokenizer(vocab) sets it (training alone leaves no post-processor).
    bt.post_processor = processors.BertProcessing(("[SEP]", bt.token_to_id("[SEP]")),
                                                  ("[CLS]", bt.token_to_id("[CLS]")))
    bt.enable_truncation(BIG)
    bare = copy.deepcopy(json.loads(bt.to_str()))
    bare["post_processor"] = None
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    assert "it has no post_processor" in tool_error(tmp_path / "bare.json")
    path = str(tmp_path / "trained.json")
    bt.save(path)
    assert json.loads(pathlib.Path(path).read_text())["post_processor"]["type"] == "BertProcessing"
    items = en + de + P.random_strings(10000, seed=99)
    tok = hf_from_file(path)
    n = P.compare("tokenizer.json trained cased", P.hf_expected(tok, items), P.run_tool(path, items), items)
    print(f"tokenizer.json trained cased: {n} items identical")


def tool_error(path, *args):
    r = subprocess.run([str(P.TOOL), "--vocab", str(path), *args], input=b"", capture_output=True)
    assert r.returncode != 0
    return r.stderr.decode()


@pytest.mark.parametrize("kind", ["BPE", "Unigram", "WordLevel"])
def test_other_models_refused(tmp_path, kind):
    """Files that `tokenizers` writes for other models are refused naming the model type."""
    from tokenizers import models, pre_tokenizers, trainers
    en, _ = P.fortunes()
    model = {"BPE": models.BPE(unk_token="[UNK]"), "Unigram": models.Unigram(),
             "WordLevel": models.WordLevel(unk_token="[UNK]")}[kind]
    trainer = {"BPE": trainers.BpeTrainer, "Unigram": trainers.UnigramTrainer,
               "WordLevel": trainers.WordLevelTrainer}[kind](special_tokens=["[UNK]"], show_progress=False)
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(en[:2000], trainer=trainer)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    msg = tool_error(path)
    assert f"model type '{kind}' is not supported (libfeat reproduces WordPiece (BERT) tokenizers only)" in msg, msg


def test_conflicting_option_refused(minilm_json):
    msg = tool_error(minilm_json, "--lowercase", "off")
    assert "lowercase is set off, but tokenizer.json" in msg and "has normalizer lowercase true" in msg, msg


# ---------------------------------------------------------------------------------------------
# MiniLM from its tokenizer.json alone, through the CLI and the export tool

def run_ok(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def test_cli_tokenize_same_ids(feat_cli, minilm_json):
    en, de = P.fortunes()
    lines = [ln for rec in (en + de)[:2000] for ln in rec.split("\n")] + \
        [e for e in P.EDGE_CASES if "\n" not in e and "\r" not in e and "\0" not in e]
    data = "\n".join(lines) + "\n"
    vocab = minilm_json.with_name("vocab.txt")
    from_json = run_ok([feat_cli, "tokenize", "--vocab", minilm_json], input=data).split("\n")
    # the file's truncation (128) is tokenizer.json's default; vocab.txt is given it explicitly
    from_txt = run_ok([feat_cli, "tokenize", "--vocab", vocab, "--max-length", "128"], input=data).split("\n")
    assert len(from_json) == len(lines) + 1
    same = sum(a == b for a, b in zip(from_json, from_txt))
    print(f"feat tokenize, MiniLM tokenizer.json vs vocab.txt: {same}/{len(from_json)} lines identical")
    assert from_json == from_txt
    hf = hf_from_file(str(minilm_json))
    want = [" ".join(map(str, e.ids)) for e in hf.encode_batch(lines)]
    assert from_json[:-1] == want


def test_cli_text_same_embeddings(feat_cli, models, minilm_json, tmp_path):
    model = models["minilm"]
    side = json.loads(model.with_suffix(".json").read_text())
    assert side["text"]["vocab"].endswith(".vocab.txt")
    en, _ = P.fortunes()
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(r.replace("\n", " ") for r in en[:200]) + "\n", encoding="utf-8")
    taps = "encoder.layer.-1:mean,encoder.layer.2:cls"
    a, b = tmp_path / "txt.npy", tmp_path / "json.npy"
    run_ok([feat_cli, "text", "--model", model, "--taps", taps, "--input", lines, "-o", a])
    run_ok([feat_cli, "text", "--model", model, "--vocab", minilm_json, "--taps", taps, "--input", lines, "-o", b])
    x, y = np.load(a), np.load(b)
    assert x.shape == (200, 2 * 384) and np.isfinite(x).all()
    assert np.array_equal(x, y)


def test_export_without_vocab_txt(feat_cli, models, minilm_dir, tmp_path):
    """A Hugging Face folder with tokenizer.json but no vocab.txt exports; the side-car names
    the copied tokenizer.json and the features equal the vocab.txt export's."""
    d = tmp_path / "minilm-fast"
    d.mkdir()
    for p in pathlib.Path(minilm_dir).iterdir():
        if p.name != "vocab.txt":
            (d / p.name).symlink_to(p)
    out = tmp_path / "out" / "minilm-tj.pt"
    out.parent.mkdir()
    run_ok([sys.executable, ROOT / "tools" / "export_models.py", "bert", "--hf", d, "-o", out])
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["text"]["vocab"] == "minilm-tj.tokenizer.json"
    assert (out.parent / "minilm-tj.tokenizer.json").read_bytes() == (d / "tokenizer.json").read_bytes()
    ref = json.loads(models["minilm"].with_suffix(".json").read_text())
    for k in ("lowercase", "strip_accents", "handle_chinese_chars", "max_length"):
        assert side["text"][k] == ref["text"][k], k
    lines = tmp_path / "lines.txt"
    lines.write_text("A man is eating food.\nÜnïcödé café – naïve façade!\n" + "long text " * 200 + "\n",
                     encoding="utf-8")
    a, b = tmp_path / "ref.npy", tmp_path / "tj.npy"
    run_ok([feat_cli, "text", "--model", models["minilm"], "--input", lines, "-o", a])
    run_ok([feat_cli, "text", "--model", out, "--input", lines, "-o", b])
    assert np.array_equal(np.load(a), np.load(b))
    shutil.rmtree(out.parent)
