# SPDX-License-Identifier: MIT
"""The model zoo of tools/export_models.py end to end: layout-aware pooling on a channels-last
Swin map, class-token-aware pooling of a ViT, DistilBERT (two inputs) and ELECTRA
(embedding_size != hidden_size) from small configs, --list and refusals by name. Expected
values come from PyTorch forward hooks on the eager models (torchvision, transformers)."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import reference
from conftest import ROOT, export_model

TOL = 1e-4  # max abs difference relative to the activation scale
EXPORT = [sys.executable, str(ROOT / "tools" / "export_models.py")]
SENTENCES = ["A man is eating food.", "The quick brown fox jumps over the lazy dog.", "x",
             "Ünïcödé café – naïve façade!"]


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)


def close(got, want, what):
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(float(np.abs(want).max()), 1e-12)
    err = float(np.abs(got - want).max()) / scale
    assert err <= TOL, f"{what}: max abs diff {err:.3g} of the activation scale"


def images(tmp_path, n=2, size=(61, 47)):
    d = tmp_path / "img"
    d.mkdir()
    rng = np.random.default_rng(5)
    for i in range(n):
        px = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(px).save(d / f"im{i}.png")
    return d, sorted(d.iterdir())


def feat_image(feat_cli, model, taps, d, out):
    return run([feat_cli, "image", "--model", model, "--taps", taps, "-o", out, d])


def hooked(model, x, paths):
    return reference.hook_taps(model, torch.from_numpy(np.stack(x)), paths)


@pytest.fixture(scope="module")
def swin():
    return export_model("zoo-swin_t", "swin_t", "--random-init")


def test_swin_channels_last_gap(feat_cli, swin, tmp_path):
    """features.3 of swin_t is [B, 28, 28, 192]: gap / gmp must reduce H and W, giving 192
    values (averaging the wrong axes gave 28)."""
    side = reference.load_sidecar(swin)
    assert side["layouts"][""] == "nhwc" and side["zoo_family"] == "swin"
    d, files = images(tmp_path)
    taps = "features.3:gap,features.3:gmp,features.0.0:gap,avgpool:flatten"
    out = tmp_path / "f.npy"
    r = feat_image(feat_cli, swin, taps, d, out)
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    assert got.shape == (2, 192 + 192 + 96 + 768)
    x = [reference.preprocess_torchvision(f, side["image"]["resize"], side["image"]["crop"]) for f in files]
    h = hooked(reference.load_eager(swin), x, ["features.3", "features.0.0", "avgpool"])
    f3 = torch.from_numpy(h["features.3"])
    assert f3.shape == (2, 28, 28, 192)
    close(got[:, :192], f3.mean(dim=(1, 2)), "features.3:gap")
    close(got[:, 192:384], f3.amax(dim=(1, 2)), "features.3:gmp")
    close(got[:, 384:480], torch.from_numpy(h["features.0.0"]).mean(dim=(2, 3)), "features.0.0:gap (NCHW)")
    close(got[:, 480:], h["avgpool"].reshape(2, -1), "avgpool")
    # libfeat's gap of the last stage is torchvision's own average pool of the normed map
    r = feat_image(feat_cli, swin, "norm:gap", d, tmp_path / "n.npy")
    assert r.returncode == 0, r.stderr
    close(np.load(tmp_path / "n.npy"), h["avgpool"].reshape(2, -1), "norm:gap vs avgpool")


def test_swin_without_layouts_is_refused(feat_cli, swin, tmp_path):
    """A side-car that does not say the layout (a hand-written one, say): gap is refused with
    the fix in the message instead of guessing channels first; flatten still works."""
    m = tmp_path / "swin.pt"
    shutil.copyfile(swin, m)
    side = reference.load_sidecar(swin)
    del side["layouts"], side["zoo_family"]
    (tmp_path / "swin.json").write_text(json.dumps(side))
    d, _ = images(tmp_path)
    r = feat_image(feat_cli, m, "features.3:gap", d, tmp_path / "f.npy")
    assert r.returncode != 0
    assert "FEAT_E_MODEL" in r.stderr or "layout" in r.stderr
    assert "tap 'features.3:gap': the layout of its [1, 28, 28, 192] output is unknown" in r.stderr
    assert '"layouts" entry' in r.stderr
    r = feat_image(feat_cli, m, "features.3:flatten", d, tmp_path / "g.npy")
    assert r.returncode == 0, r.stderr


def tiny_vit(tmp_path, layouts):
    """torchvision's VisionTransformer at 32x32 (4x4 patches of 8 pixels, 2 layers), scripted
    by hand with a hand-written side-car (docs/models.md, "Side-car")."""
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(3)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                              mlp_dim=64).eval()
    with torch.no_grad():
        model.class_token.normal_()  # torchvision starts it at 0
    path = tmp_path / "vit.pt"
    torch.jit.script(model).save(str(path))
    side = {"format": "libfeat-model", "format_version": 1, "family": "vit-tiny", "input": "image",
            "default_taps": "encoder.ln:cls", "image": {"preset": "torchvision", "resize": 32, "crop": 32}}
    if layouts is not None:
        side["layouts"] = layouts
    (tmp_path / "vit.json").write_text(json.dumps(side))
    return model, path


def test_vit_cls_and_patch_mean(feat_cli, tmp_path):
    model, path = tiny_vit(tmp_path, {"": "cls-tokens", "conv_proj": "nchw"})
    d, files = images(tmp_path)
    L0, L1 = "encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"
    taps = f"{L0}:cls,{L0}:mean,{L1}:max,encoder.ln:mean,conv_proj:gap,encoder.ln:flatten"
    out = tmp_path / "f.npy"
    r = feat_image(feat_cli, path, taps, d, out)
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    assert got.shape == (2, 32 * 5 + 17 * 32)
    x = [reference.preprocess_torchvision(f, 32, 32) for f in files]
    h = {k: torch.from_numpy(v) for k, v in hooked(model, x, [L0, L1, "encoder.ln", "conv_proj"]).items()}
    assert h[L0].shape == (2, 17, 32)  # class token + 16 patches
    want = [h[L0][:, 0], h[L0][:, 1:].mean(1), h[L1][:, 1:].amax(1), h["encoder.ln"][:, 1:].mean(1),
            h["conv_proj"].mean(dim=(2, 3)), h["encoder.ln"].reshape(2, -1)]
    for i, (w, name) in enumerate(zip(want, taps.split(","))):
        close(got[:, 32 * i:32 * (i + 1)] if i < 5 else got[:, 160:], w, name)
    # the mean over all 17 tokens (class token included) is not what was asked for
    assert not np.allclose(got[:, 32:64], h[L0].mean(1).numpy(), atol=1e-3)


def test_vit_without_layouts_refuses_token_pooling(feat_cli, tmp_path):
    _, path = tiny_vit(tmp_path, None)
    d, _ = images(tmp_path)
    r = feat_image(feat_cli, path, "encoder.ln:mean", d, tmp_path / "f.npy")
    assert r.returncode != 0
    assert "is token 0 a class token?" in r.stderr


def text_features(feat_cli, model, taps, tmp_path):
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    out = tmp_path / "t.npy"
    r = run([feat_cli, "text", "--model", model, "--taps", taps, "-o", out, "--input", inp])
    assert r.returncode == 0, r.stderr
    return np.load(out)


def text_reference(model_pt, paths):
    side = reference.load_sidecar(model_pt)
    enc = reference.bert_inputs(model_pt, SENTENCES)
    inputs = tuple(enc[:len(side["inputs"])])
    eager = reference.load_eager(model_pt)
    h = {k: torch.from_numpy(v) for k, v in reference.hook_taps(eager, inputs, paths).items()}
    return h, enc.attention_mask.unsqueeze(-1).float(), eager


def masked_mean(x, m):
    return (x * m).sum(1) / m.sum(1)


def test_distilbert_two_inputs(feat_cli, minilm_dir, tmp_path):
    m = export_model("zoo-distilbert", "distilbert", "--bert-config", "small", "--vocab",
                     minilm_dir / "vocab.txt", "--random-init")
    side = reference.load_sidecar(m)
    assert side["family"] == "distilbert" and side["inputs"] == ["input_ids", "attention_mask"]
    assert side["hidden_size"] == 64 and side["num_layers"] == 2 and side["layouts"] == {"": "tokens"}
    assert m.stat().st_size < 20e6  # not a BERT-base (437 MB)
    got = text_features(feat_cli, m, "transformer.layer.0:mean,transformer.layer.-1:cls", tmp_path)
    h, mask, eager = text_reference(m, ["transformer.layer.0", "transformer.layer.1"])
    assert type(eager).__name__ == "DistilBertModel" and eager.config.dim == 64
    close(got[:, :64], masked_mean(h["transformer.layer.0"], mask), "distilbert layer 0 mean")
    close(got[:, 64:], h["transformer.layer.1"][:, 0], "distilbert last layer cls")


def test_electra_embedding_size(feat_cli, minilm_dir, tmp_path):
    m = export_model("zoo-electra", "electra", "--bert-config", "small", "--vocab", minilm_dir / "vocab.txt",
                     "--random-init")
    side = reference.load_sidecar(m)
    assert side["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    sd = torch.jit.load(str(m)).state_dict()
    assert sd["embeddings.word_embeddings.weight"].shape[1] == 32  # embedding_size, not hidden 64
    assert sd["embeddings_project.weight"].shape == (64, 32)
    got = text_features(feat_cli, m, "encoder.layer.0:max,encoder.layer.-1:mean", tmp_path)
    h, mask, _ = text_reference(m, ["encoder.layer.0", "encoder.layer.1"])
    x0 = h["encoder.layer.0"].masked_fill(mask == 0, -float("inf")).amax(1)
    close(got[:, :64], x0, "electra layer 0 max")
    close(got[:, 64:], masked_mean(h["encoder.layer.1"], mask), "electra last layer mean")


def test_text_config_mismatch_refused(minilm_dir, tmp_path):
    """A DistilBERT config.json given to bert is refused (it built BERT-base), and so is a
    field the model_type's config does not have (Hugging Face keeps it and ignores it)."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "distilbert", "dim": 64, "n_layers": 2, "n_heads": 2,
                               "hidden_dim": 128}))
    vocab = minilm_dir / "vocab.txt"
    r = run(EXPORT + ["bert", "--bert-config", cfg, "--vocab", vocab, "--random-init", "-o", tmp_path / "b.pt"])
    assert r.returncode == 2
    assert "has model_type 'distilbert', not 'bert': export it as distilbert" in r.stderr
    r = run(EXPORT + ["electra", "--bert-config", "small,dim=64", "--vocab", vocab, "--random-init",
                      "-o", tmp_path / "e.pt"])
    assert r.returncode == 2 and "ElectraConfig has no field dim" in r.stderr
    assert not (tmp_path / "b.pt").exists() and not (tmp_path / "e.pt").exists()


def test_list_and_refusals(tmp_path):
    r = run(EXPORT + ["--list"])
    assert r.returncode == 0, r.stderr
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")}
    for name in ("resnet18", "vgg11", "densenet121", "efficientnet_b0", "efficientnet_v2_s", "mobilenet_v2",
                 "mobilenet_v3_small", "regnet_y_400mf", "convnext_tiny", "vit_b_16", "swin_t",
                 "efficientnet_lite0", "bert", "distilbert", "electra"):
        assert name in lines, name
    assert "layer4:flatten" in lines["resnet50"]  # the first exporter's default stays
    assert "its attention blocks partition" in lines["maxvit_t"]
    cases = {"maxvit_t": "maxvit_t is not exported: its attention blocks partition",
             "fasterrcnn_resnet50_fpn": "it is a detection model",
             "roberta": "its tokenizer (RobertaTokenizer) is not WordPiece",
             "funnel": "pool the token sequence",
             "nonesuch": "unknown model 'nonesuch'"}
    for name, msg in cases.items():
        r = run(EXPORT + [name, "--random-init", "-o", tmp_path / f"{name}.pt"])
        assert r.returncode == 2 and msg in r.stderr, (name, r.stderr)
        assert not (tmp_path / f"{name}.pt").exists()


def test_finetune_head_follows_layouts(feat_cli, tmp_path):
    """feat finetune pools its head tap by the same layouts: the ViT's patch mean trains,
    and without layouts the head's pooling is refused before any step."""
    data = tmp_path / "data"
    rng = np.random.default_rng(9)
    for c in ("a", "b"):
        (data / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(data / c / f"{i}.png")
    args = ["--data", data, "--head-tap", "encoder.ln:mean", "--train", "encoder.layers.encoder_layer_1",
            "--epochs", "1", "--batch-size", "4"]
    with_layouts = tmp_path / "ok"
    with_layouts.mkdir()
    _, path = tiny_vit(with_layouts, {"": "cls-tokens", "conv_proj": "nchw"})
    r = run([feat_cli, "finetune", "--model", path, *args, "-o", tmp_path / "tuned.pt"])
    assert r.returncode == 0, r.stderr
    without = tmp_path / "none"
    without.mkdir()
    _, path = tiny_vit(without, None)
    r = run([feat_cli, "finetune", "--model", path, *args, "-o", tmp_path / "tuned2.pt"])
    assert r.returncode != 0
    assert "head tap 'encoder.ln:mean': the layout of its output is unknown" in r.stderr
