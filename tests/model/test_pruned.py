# SPDX-License-Identifier: MIT
"""Pruned exports (tools/export_models.py --prune RATIO, torch-pruning): the side-car records
the pruning, the TorchScript file really has fewer parameters and fewer channels, the default
taps and block taps still resolve, and libfeat's taps of the pruned model equal PyTorch forward
hooks on an eager twin with the file's weights, on random input and on real photos through
`feat image`. The eager twin is torchvision's / the efficientnet-lite-pytorch package's
architecture with every convolution, batch norm and linear layer resized to the file's weight
shapes, so it does not depend on torch-pruning. Bad --prune requests are refused.

No bound against the float32 model's features is tested: pruning changes the features'
dimensions, and without recovery it does not keep the ImageNet classes (docs/performance.md,
"Pruning"); what recovers a task is `feat finetune`, measured by bench/prune_cost.py."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import reference
from conftest import ROOT, export_model
from test_taps import assert_close, run_image_taps

PHOTOS = [pathlib.Path("/usr/share/backgrounds/mate/nature") / n
          for n in ("LadyBird.jpg", "Dune.jpg", "YellowFlower.jpg")]
LITE_MEAN = (127 / 255,) * 3  # EfficientNet-Lite's normalisation, written out (test_efficientnet.py)
LITE_STD = (128 / 255,) * 3
RATIO = 0.3


@pytest.fixture(scope="module")
def eff_pruned():
    return export_model("efficientnet-lite0-prune0.3", "efficientnet_lite0", "--prune", str(RATIO))


@pytest.fixture(scope="module")
def r18_pruned():
    return export_model("resnet18-prune0.3", "resnet18", "--random-init", "--prune", str(RATIO))


def shrunk_twin(pt):
    """The eager architecture of the side-car's family with its layers resized to the shapes
    of the TorchScript file's weights, then loaded with them (reference._load_all checks that
    every tensor fits)."""
    side = reference.load_sidecar(pt)
    sd = torch.jit.load(str(pt), map_location="cpu").state_dict()
    if side["family"] == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name("efficientnet-lite0")
    else:
        import torchvision.models as tvm

        model = getattr(tvm, side["family"])(weights=None)
    for name, m in model.named_modules():
        p = name + "."
        if isinstance(m, torch.nn.Conv2d):
            out, per_group = sd[p + "weight"].shape[:2]
            depthwise = m.groups > 1 and m.groups == m.in_channels
            m.groups = out if depthwise else m.groups
            m.in_channels, m.out_channels = per_group * m.groups, out
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.num_features = sd[p + "weight"].shape[0]
        elif isinstance(m, torch.nn.Linear):
            m.out_features, m.in_features = sd[p + "weight"].shape
        else:
            continue
        for key, t in list(m.named_parameters(recurse=False)):
            setattr(m, key, torch.nn.Parameter(torch.empty_like(sd[p + key])))
        for key, t in list(m.named_buffers(recurse=False)):
            setattr(m, key, torch.empty_like(sd[p + key]))
    reference._load_all(model, sd)
    return model.eval()


def n_params(pt):
    return sum(t.numel() for t in torch.jit.load(str(pt), map_location="cpu").parameters())


def test_sidecar_and_file_are_pruned(models, eff_pruned, r18_pruned):
    import importlib.metadata

    for pt, fp32 in ((eff_pruned, models["efficientnet-lite0"]), (r18_pruned, models["resnet18-script"])):
        rec = reference.load_sidecar(pt)["pruning"]
        assert rec["ratio"] == RATIO and rec["importance"] == "magnitude-l1"
        assert rec["library"] == f"torch-pruning {importlib.metadata.version('torch-pruning')}"
        # the parameters counted in the files themselves
        assert rec["params_before"] == n_params(fp32)
        assert rec["params_after"] == n_params(pt)
        assert n_params(pt) < 0.75 * n_params(fp32)
        assert rec["macs_after"] < 0.75 * rec["macs_before"]
    # the classes stay, the channels of the default tap shrink (multiples of 8)
    twin = shrunk_twin(eff_pruned)
    assert twin._fc.out_features == 1000 and twin._fc.in_features < 1280
    assert twin._fc.in_features % 8 == 0
    r18 = shrunk_twin(r18_pruned)
    assert r18.fc.out_features == 1000 and r18.fc.in_features < 512


@pytest.mark.parametrize("which", ["efficientnet_lite0", "resnet18"])
def test_pruned_taps_match_hooks(which, eff_pruned, r18_pruned, tmp_path):
    pt = eff_pruned if which == "efficientnet_lite0" else r18_pruned
    # the default tap's module and a middle block (an EfficientNet block with a residual
    # addition, whose channels torch-pruning removes on both sides of the sum)
    taps = ["_avg_pooling", "_blocks.5", "_blocks.7"] if which == "efficientnet_lite0" else ["layer4", "layer2.1"]
    torch.manual_seed(3)
    x = torch.randn(2, 3, 224, 224)
    want = reference.hook_taps(shrunk_twin(pt), x, taps)
    names, got = run_image_taps(pt, ",".join(t + ":none" for t in taps), x.numpy(), tmp_path)
    assert names == [t + ":none" for t in taps]
    for t, g in zip(taps, got):
        assert_close(g, want[t], f"pruned {which} {t}")
    # and the default tap as the side-car names it
    default = reference.load_sidecar(pt)["default_taps"]
    names, got = run_image_taps(pt, default, x.numpy(), tmp_path)
    assert got[0].reshape(2, -1).shape == (2, want[taps[0]][0].size)


def test_pruned_features_of_real_photos(feat_cli, eff_pruned, tmp_path):
    """feat image with the default taps on photos = the eager twin on Pillow + torchvision's
    preprocessing."""
    out = tmp_path / "f.npy"
    r = subprocess.run([str(feat_cli), "image", "--model", str(eff_pruned), "-o", str(out), *map(str, PHOTOS)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    x = torch.from_numpy(np.stack([reference.preprocess_torchvision(p, mean=LITE_MEAN, std=LITE_STD)
                                   for p in PHOTOS]))
    want = reference.hook_taps(shrunk_twin(eff_pruned), x, ["_avg_pooling"])["_avg_pooling"]
    assert_close(got, want.reshape(len(PHOTOS), -1), "pruned efficientnet_lite0 on photos")


def export(tmp_path, *args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "export_models.py"), *args,
                           "-o", str(tmp_path / "m.pt")], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("args,words", [
    (("resnet18", "--random-init", "--prune", "0"), "0 < RATIO < 1"),
    (("resnet18", "--random-init", "--prune", "1"), "0 < RATIO < 1"),
    (("resnet18", "--random-init", "--prune", "-0.2"), "0 < RATIO < 1"),
    (("resnet18", "--random-init", "--prune", "nan"), "0 < RATIO < 1"),
    (("resnet18", "--random-init", "--prune", "half"), "invalid float value"),
    (("bert", "--bert-config", "small", "--random-init", "--prune", "0.3"), "CNN families"),
])
def test_refusals(tmp_path, args, words):
    r = export(tmp_path, *args)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr
    assert not (tmp_path / "m.pt").exists()
