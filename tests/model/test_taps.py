# SPDX-License-Identifier: MIT
"""Tap parity: the taps libfeat adds by graph surgery (then freezes and optimizes) return the
same values as PyTorch forward hooks that clone the module output, on scripted and traced
exports; and bad tap requests fail with a clear status and message."""
import json
import os
import re
import subprocess

import numpy as np
import pytest
import torch
import torchvision

import reference
from conftest import build_path

TOL = 1e-4  # max abs difference relative to the activation scale


def probe(model, spec, outdir, kind, *args):
    exe = build_path("tests", "model", "tap_probe")
    r = subprocess.run([str(exe), str(model), spec, str(outdir), kind, *map(str, args)], capture_output=True,
                       text=True)
    return r


def run_image_taps(model, spec, x, tmp_path):
    x = np.ascontiguousarray(x, dtype=np.float32)
    (tmp_path / "x.f32").write_bytes(x.tobytes())
    r = probe(model, spec, tmp_path, "image", tmp_path / "x.f32", *x.shape)
    assert r.returncode == 0, r.stdout + r.stderr
    names = r.stdout.split()
    return names, [np.load(tmp_path / f"tap{i}.npy") for i in range(len(names))]


def assert_close(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(float(np.abs(want).max()), 1e-12)
    err = float(np.abs(got - want).max()) / scale
    assert err <= TOL, f"{what}: max abs diff {err:.3g} of the activation scale (tolerance {TOL})"


@pytest.mark.parametrize("export", ["script", "trace"])
def test_vgg16_taps_match_hooks(models, export, tmp_path):
    model = models[f"vgg16-{export}"]
    taps = ["features.28", "features.29", "features.30"]
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    want = reference.hook_taps(reference.load_eager(model), x, taps)
    names, got = run_image_taps(model, ",".join(t + ":none" for t in taps), x.numpy(), tmp_path)
    assert names == [t + ":none" for t in taps]
    for t, g in zip(taps, got):
        assert_close(g, want[t], f"vgg16 {export} {t}")
    # The in-place trap: features.28 (conv) is overwritten by ReLU(inplace=True) unless cloned.
    assert (want["features.28"] < 0).any()
    assert (got[0] < 0).any(), "features.28 came back ReLU'd: the in-place trap was not handled"


@pytest.mark.parametrize("export", ["script", "trace"])
def test_resnet50_taps_match_hooks(models, export, tmp_path):
    model = models[f"resnet50-{export}"]
    taps = ["layer3", "layer4.2.bn3", "avgpool", "layer4.2.relu@2"]
    torch.manual_seed(2)
    x = torch.randn(2, 3, 64, 64)
    want = reference.hook_taps(reference.load_eager(model), x, taps)
    names, got = run_image_taps(model, ",".join(t + ":none" for t in taps), x.numpy(), tmp_path)
    for t, g in zip(taps, got):
        assert_close(g, want[t], f"resnet50 {export} {t}")
    # bn3 is mutated by `out += identity` (aten::add_) later in the block.
    assert not np.allclose(want["layer4.2.bn3"], want["layer4.2.relu@2"])


def tapped_graph(model, spec, x, tmp_path):
    """The taps' values and the frozen graph the runs execute (FEAT_DEBUG_GRAPH)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    (tmp_path / "x.f32").write_bytes(x.tobytes())
    exe = build_path("tests", "model", "tap_probe")
    r = subprocess.run([str(exe), str(model), spec, str(tmp_path), "image", str(tmp_path / "x.f32"),
                        *map(str, x.shape)],
                       capture_output=True, text=True, env=dict(os.environ, FEAT_DEBUG_GRAPH="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FEAT_DEBUG_GRAPH" in r.stderr, r.stderr[-2000:]
    n = len(r.stdout.split())
    return [np.load(tmp_path / f"tap{i}.npy") for i in range(n)], r.stderr


def count_ops(graph, *names):
    return sum(len(re.findall(rf"= {re.escape(k)}\(", graph)) for k in names)


CONVS = ("prim::mkldnn_convolution", "aten::conv2d", "aten::_convolution")


@pytest.mark.parametrize("export", ["script", "trace"])
def test_graph_ends_at_the_deepest_tap(models, export, tmp_path):
    # torchvision's adaptive_avg_pool2d asserts its input's rank; that assertion kept layer3 and
    # layer4 alive behind a layer2 tap. The graph holds exactly the convolutions up to layer2.
    model = models[f"resnet50-{export}"]
    eager = reference.load_eager(model)
    want_convs = sum(isinstance(m, torch.nn.Conv2d) for name, m in eager.named_modules()
                     if name.split(".")[0] in ("conv1", "layer1", "layer2"))
    torch.manual_seed(3)
    x = torch.randn(1, 3, 64, 64)
    want = reference.hook_taps(eager, x, ["layer2"])
    (got,), graph = tapped_graph(model, "layer2:none", x.numpy(), tmp_path)
    assert_close(got, want["layer2"], f"resnet50 {export} layer2")
    assert count_ops(graph, *CONVS) == want_convs == 24


def test_clone_only_where_a_later_tap_needs_the_overwritten_value(models, tmp_path):
    # features.28 (conv) is overwritten by ReLU(inplace=True) at features.29. Alone it is the
    # deepest tap: the ReLU is dead code, so no clone and no ReLU after it.
    model = models["vgg16-script"]
    eager = reference.load_eager(model)
    relus_before = sum(isinstance(m, torch.nn.ReLU) for m in eager.features[:28])
    torch.manual_seed(4)
    x = torch.randn(1, 3, 64, 64)
    want = reference.hook_taps(eager, x, ["features.28", "features.29"])
    (got,), graph = tapped_graph(model, "features.28:none", x.numpy(), tmp_path)
    assert_close(got, want["features.28"], "vgg16 features.28 alone")
    assert (got < 0).any()
    assert count_ops(graph, "aten::clone") == 0
    assert count_ops(graph, "aten::relu_", "aten::relu") == relus_before
    # With features.29 tapped too, the clone is needed and kept.
    (g28, g29), graph = tapped_graph(model, "features.28:none,features.29:none", x.numpy(), tmp_path)
    assert_close(g28, want["features.28"], "vgg16 features.28 with .29")
    assert_close(g29, want["features.29"], "vgg16 features.29 with .28")
    assert count_ops(graph, "aten::clone") == 1


@pytest.mark.parametrize("name", ["minilm", "bert-tiny"])
def test_bert_taps_match_hooks(models, name, tmp_path):
    model = models[name]
    sentences = ["A man is eating food.", "Features from the middle of the network, please!",
                 "short"]
    ids, mask, types = reference.bert_inputs(model, sentences)
    eager = reference.load_eager(model)
    want = reference.hook_taps(eager, (ids, mask, types), ["encoder.layer.0", "encoder.layer.-1"])
    for arr, f in ((ids, "ids"), (mask, "mask"), (types, "types")):
        (tmp_path / f"{f}.i64").write_bytes(np.ascontiguousarray(arr.numpy(), dtype=np.int64).tobytes())
    b, s = ids.shape
    r = probe(model, "encoder.layer.0:none,encoder.layer.-1:none", tmp_path, "text", tmp_path / "ids.i64",
              tmp_path / "mask.i64", tmp_path / "types.i64", b, s)
    # Token sequences cannot be flattened into fixed rows: the probe refuses :none with a clear message,
    # so compare through cls/mean/max pooling, which covers every token that the mask keeps.
    assert r.returncode == 3 and "varies with the input" in r.stdout
    for pool in ("cls", "mean", "max"):
        r = probe(model, f"encoder.layer.0:{pool},encoder.layer.-1:{pool}", tmp_path, "text", tmp_path / "ids.i64",
                  tmp_path / "mask.i64", tmp_path / "types.i64", b, s)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.split() == [f"encoder.layer.0:{pool}", f"encoder.layer.{len(eager.encoder.layer) - 1}:{pool}"]
        for i, t in enumerate(["encoder.layer.0", "encoder.layer.-1"]):
            got = np.load(tmp_path / f"tap{i}.npy")
            # The probe writes raw tap tensors; pool both sides the same way, mask-aware.
            from_hook = reference.pool(want[t], pool, mask.numpy())
            from_tap = reference.pool(got, pool, mask.numpy())
            assert_close(got, want[t], f"{name} {t} raw")
            assert_close(from_tap, from_hook, f"{name} {t}:{pool}")


def test_unknown_path_names_close_matches(models, tmp_path):
    r = run_error(models["resnet18-script"], "layer4.1.bn9", tmp_path)
    assert "FEAT_E_NOT_FOUND" in r.stdout and "'layer4.1.bn1'" in r.stdout


def run_error(model, spec, tmp_path, size=32):
    x = np.zeros((1, 3, size, size), np.float32)
    (tmp_path / "x.f32").write_bytes(x.tobytes())
    r = probe(model, spec, tmp_path, "image", tmp_path / "x.f32", *x.shape)
    assert r.returncode == 3, r.stdout + r.stderr
    assert r.stdout.startswith("error: FEAT_E_"), r.stdout
    return r


@pytest.mark.parametrize("spec,status,words", [
    ("", "FEAT_E_INVALID_ARGUMENT", "has no side-car (its .json"),  # no spec and... see below
    ("layer4:cls", "FEAT_E_INVALID_ARGUMENT", "token sequence"),
    ("avgpool:gap,fc:gmp", "FEAT_E_INVALID_ARGUMENT", "feature map"),
    ("layer1.0.relu", "FEAT_E_INVALID_ARGUMENT", "called 2 times"),
    ("layer1.0.relu@5", "FEAT_E_NOT_FOUND", "called 2 time"),
    ("layer9", "FEAT_E_NOT_FOUND", "closest"),
    ("layer4..", "FEAT_E_INVALID_ARGUMENT", "bad layer path"),
    ("layer4:avg", "FEAT_E_INVALID_ARGUMENT", "unknown pooling"),
    (" , ", "FEAT_E_INVALID_ARGUMENT", "empty tap"),
])
def test_bad_tap_requests(models, spec, status, words, tmp_path):
    model = models["resnet18-script"]
    if spec == "":
        # An empty spec falls back to the side-car's default taps; without a side-car it is an error.
        bare = tmp_path / "bare.pt"
        bare.write_bytes(model.read_bytes())
        model = bare
    r = run_error(model, spec, tmp_path)
    assert status in r.stdout and words in r.stdout, r.stdout


class Branchy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 4, 1)
        self.b = torch.nn.Conv2d(3, 4, 1)
        self.c = torch.nn.Conv2d(4, 4, 1)

    def forward(self, x):
        if bool(x.sum() > 0):
            y = self.a(x)
        else:
            y = self.b(x)
        return self.c(y)


def test_tap_inside_control_flow_is_refused(tmp_path):
    path = tmp_path / "branchy.pt"
    torch.jit.script(Branchy().eval()).save(str(path))
    r = run_error(path, "a:none", tmp_path, size=8)
    assert "FEAT_E_UNSUPPORTED" in r.stdout and "control flow" in r.stdout
    # A tap outside the branch still works on the same model.
    x = np.ones((1, 3, 8, 8), np.float32)
    names, got = run_image_taps(path, "c:none", x, tmp_path)
    m = torch.jit.load(str(path))
    assert_close(got[0], m(torch.from_numpy(x)).detach().numpy(), "branchy c")


@pytest.mark.parametrize("content,words", [
    (b"", "not a loadable TorchScript model"),
    (b"definitely not a zip archive", "not a loadable TorchScript model"),
])
def test_bad_model_files(tmp_path, content, words):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    r = run_error(bad, "x", tmp_path)
    assert "FEAT_E_MODEL" in r.stdout and words in r.stdout


def test_truncated_and_missing_model(models, tmp_path):
    data = models["resnet18-script"].read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    r = run_error(cut, "layer4", tmp_path)
    assert "FEAT_E_MODEL" in r.stdout
    r = run_error(tmp_path / "missing.pt", "layer4", tmp_path)
    assert "FEAT_E_NOT_FOUND" in r.stdout and "does not exist" in r.stdout


class _NineDims(torch.nn.Module):
    def forward(self, x):
        return x.reshape(1, 1, 1, 1, 1, 1, x.shape[0], 3, -1)


class _DeepOutput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.deep = _NineDims()

    def forward(self, x):
        return self.deep(x).sum()


def test_tap_with_more_than_eight_dims_is_refused(tmp_path):
    """Shapes cross the shim with at most 8 dimensions; a larger tap output is refused by name
    instead of being pooled with a cut-off shape."""
    model = tmp_path / "nine.pt"
    torch.jit.script(_DeepOutput()).save(str(model))
    r = run_error(model, "deep:flatten", tmp_path)
    assert r.stdout.startswith("error: FEAT_E_UNSUPPORTED"), r.stdout
    assert "9 dimensions; at most 8" in r.stdout, r.stdout


def small_densenet():
    torch.manual_seed(3)
    return torchvision.models.DenseNet(growth_rate=8, block_config=(2, 3), num_init_features=16, num_classes=10).eval()


def small_vit():
    torch.manual_seed(4)
    return torchvision.models.vision_transformer.VisionTransformer(
        image_size=32, patch_size=8, num_layers=3, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10).eval()


@pytest.mark.parametrize("export", ["script", "trace"])
@pytest.mark.parametrize("family,spec,want_paths", [
    # DenseNet numbers its layers denselayer1..N; the scripted export calls them through the
    # overloads forward__0 (which once read as "forward never calls it").
    ("densenet", "features.denseblock1.-1:gap,features.denseblock2.1:gap",
     ["features.denseblock1.denselayer2", "features.denseblock2.denselayer1"]),
    # ViT's blocks are encoder_layer_0..: an index is the number in the name.
    ("vit", "encoder.layers.-1:cls,encoder.layers.1:cls",
     ["encoder.layers.encoder_layer_2", "encoder.layers.encoder_layer_1"]),
])
def test_numbered_children_named_by_index(export, family, spec, want_paths, tmp_path):
    eager = small_densenet() if family == "densenet" else small_vit()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        exported = torch.jit.script(eager) if export == "script" else torch.jit.trace(eager, x)
    path = tmp_path / f"{family}-{export}.pt"
    exported.save(str(path))
    # gap and cls need the layout of the tapped output (docs/taps.md, "Layouts")
    layouts = {"": "nchw"} if family == "densenet" else {"": "cls-tokens", "conv_proj": "nchw"}
    path.with_suffix(".json").write_text(json.dumps({"format": "libfeat-model", "layouts": layouts}))
    want = reference.hook_taps(eager, x, want_paths)
    names, got = run_image_taps(path, spec, x.numpy(), tmp_path)
    pool = spec.split(",")[0].split(":")[1]
    assert names == [f"{p}:{pool}" for p in want_paths]
    for p, g in zip(want_paths, got):  # the tapped tensors, before pooling
        assert_close(g, want[p], f"{family} {export} {p}")
