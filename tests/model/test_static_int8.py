# SPDX-License-Identifier: MIT
"""Static int8 exports of CNNs (tools/export_models.py --quantize static-int8 --calibrate DIR):
they load, keep the default taps and the block taps, give float32 features within the bound
docs/performance.md states ("Static int8") of the float32 model's on real photos, run in
libfeat as PyTorch runs them, and still fail a bad file alone in a batch. Calibration uses
scikit-image's sample photos; the features are compared on the mate-backgrounds photos (a
different set)."""
import hashlib
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import reference
from conftest import MODEL_CACHE, ROOT, export_model

SKIMAGE = pathlib.Path("/usr/lib/python3/dist-packages/skimage/data")
CALIBRATION = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
               "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg"]
PHOTOS = sorted(pathlib.Path("/usr/share/backgrounds/mate/nature").glob("*.jpg"))
EFF_TAPS = "_avg_pooling:flatten,_blocks.7:gap"
RESNET_TAPS = "layer4:gap,layer3:gap,layer3.1:gap"
# The bounds measured on these photos (docs/performance.md, "Static int8"), with a margin.
EFF_COSINE = 0.99
RESNET_COSINE = 0.995
EFF_PRUNED_COSINE = 0.99  # pruned at 0.3, against the pruned float32 model: measured 0.998


def feat_rows(feat_cli, model, taps, out, inputs):
    r = subprocess.run([str(feat_cli), "image", "--model", str(model), "--taps", taps, "-o", str(out),
                        *map(str, inputs)], capture_output=True, text=True, timeout=900)
    return r


def row_cosines(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def calib_dir():
    d = MODEL_CACHE / "int8-calibration"
    d.mkdir(parents=True, exist_ok=True)
    for name in CALIBRATION:
        if not (d / name).exists():
            shutil.copyfile(SKIMAGE / name, d / name)
    (d / "README.txt").write_text("not an image: left out of the calibration set\n")
    return d


@pytest.fixture(scope="module")
def eff_int8(calib_dir):
    return export_model("efficientnet-lite0-int8", "efficientnet_lite0", "--quantize", "static-int8",
                        "--calibrate", str(calib_dir))


@pytest.fixture(scope="module")
def resnet_int8(calib_dir):
    return export_model("resnet18-int8", "resnet18", "--random-init", "--export", "trace", "--quantize",
                        "static-int8", "--calibrate", str(calib_dir), "--calibrate-count", "6")


@pytest.fixture(scope="module")
def engine(eff_int8):
    """PyTorch runs the int8 files on the engine they were made for; the previous one comes back."""
    was = torch.backends.quantized.engine
    torch.backends.quantized.engine = reference.load_sidecar(eff_int8)["quantization_detail"]["engine"]
    yield
    torch.backends.quantized.engine = was


def photo_batch(model_pt):
    im = reference.load_sidecar(model_pt)["image"]
    kw = {"mean": im["mean"], "std": im["std"]} if "mean" in im else {}
    return torch.stack([torch.from_numpy(reference.preprocess_torchvision(p, im["resize"], im["crop"], **kw))
                        for p in PHOTOS])


def test_sidecar_records_quantization_and_calibration_set(eff_int8, resnet_int8, calib_dir):
    for model, n in ((eff_int8, len(CALIBRATION)), (resnet_int8, 6)):
        side = reference.load_sidecar(model)
        assert side["quantization"] == "static-int8"
        q = side["quantization_detail"]
        assert q["engine"] in torch.backends.quantized.supported_engines
        assert q["per_channel"] is True
        assert q["calibration_images"] == n
        assert q["scheme"] == "static int8 per block (FX graph mode), int8 between blocks"
        assert q["bias_correction"] is True
        h = hashlib.sha256()
        for name in sorted(CALIBRATION)[:n]:
            h.update(f"{name}\0{hashlib.sha256((calib_dir / name).read_bytes()).hexdigest()}\n".encode())
        assert q["calibration_digest"] == "sha256:" + h.hexdigest()
    assert reference.load_sidecar(eff_int8)["quantization_detail"]["units"] == 16
    assert reference.load_sidecar(resnet_int8)["quantization_detail"]["units"] == 8


def eff_taps_pytorch(jm, x):
    """The int8 TorchScript's `_avg_pooling` and `_blocks.7` outputs, by calling its
    submodules in EfficientNet's order (a traced module takes no hooks), and its logits."""
    with torch.no_grad():
        h = jm._swish(jm._bn0(jm._conv_stem(x)))
        for i in range(16):
            h = getattr(jm._blocks, str(i))(h)
            if i == 7:
                b7 = h.dequantize() if h.is_quantized else h
        h = jm._swish(jm._bn1(jm._conv_head(h)))
        pooled = jm._avg_pooling(h).flatten(1)
        logits = jm(x)
    return pooled.numpy(), b7.mean((2, 3)).numpy(), logits


def test_efficientnet_int8_taps_near_float32_and_top1(feat_cli, models, eff_int8, engine, tmp_path):
    assert len(PHOTOS) >= 10, "mate-backgrounds photos are missing"
    fp32 = models["efficientnet-lite0"]
    r = feat_rows(feat_cli, eff_int8, EFF_TAPS, tmp_path / "q.npy", PHOTOS)
    assert r.returncode == 0, r.stderr
    r = feat_rows(feat_cli, fp32, EFF_TAPS, tmp_path / "f.npy", PHOTOS)
    assert r.returncode == 0, r.stderr
    q, f = np.load(tmp_path / "q.npy"), np.load(tmp_path / "f.npy")
    assert q.dtype == np.float32 and q.shape == f.shape == (len(PHOTOS), 1280 + 80)
    # libfeat runs the int8 model as PyTorch runs it (the same int8 kernels; freezing
    # reorders float sums in the float32 stem and head, which can move a value across an
    # int8 rounding step)
    x = photo_batch(eff_int8)
    jm = torch.jit.load(str(eff_int8), map_location="cpu").eval()
    pooled, b7, logits = eff_taps_pytorch(jm, x)
    assert row_cosines(q[:, :1280], pooled).min() > 0.998
    assert row_cosines(q[:, 1280:], b7).min() > 0.9999
    # and within the documented bound of float32, default tap and mid block alike
    assert row_cosines(q[:, :1280], f[:, :1280]).min() >= EFF_COSINE
    assert row_cosines(q[:, 1280:], f[:, 1280:]).min() >= EFF_COSINE
    # top-1 of the int8 logits against float32's (PyTorch on both files)
    with torch.no_grad():
        ref = torch.jit.load(str(fp32), map_location="cpu").eval()(x)
    p = ref.softmax(1)
    agree = (logits.argmax(1) == ref.argmax(1)).numpy()
    confident = (p.max(1).values >= 0.3).numpy()
    # every photo float32 is confident about keeps its class; of the rest (wallpapers whose
    # best class has p < 0.3) most do (measured 10 of 12 overall)
    assert agree[confident].all() and confident.sum() >= 4
    assert agree.sum() >= len(PHOTOS) - 3


def test_resnet18_int8_block_taps_near_float32(feat_cli, resnet_int8, tmp_path):
    fp32 = export_model("resnet18-trace", "resnet18", "--random-init", "--export", "trace")
    r = feat_rows(feat_cli, resnet_int8, RESNET_TAPS, tmp_path / "q.npy", PHOTOS)
    assert r.returncode == 0, r.stderr
    r = feat_rows(feat_cli, fp32, RESNET_TAPS, tmp_path / "f.npy", PHOTOS)
    assert r.returncode == 0, r.stderr
    q, f = np.load(tmp_path / "q.npy"), np.load(tmp_path / "f.npy")
    assert q.shape == f.shape == (len(PHOTOS), 512 + 256 + 256)
    for name, cols in (("layer4", slice(0, 512)), ("layer3", slice(512, 768)), ("layer3.1", slice(768, 1024))):
        c = row_cosines(q[:, cols], f[:, cols]).min()
        assert c >= RESNET_COSINE, f"{name}: cosine {c:.4f}"
    # the default tap (layer4:flatten) is there too
    r = subprocess.run([str(feat_cli), "image", "--model", str(resnet_int8), "-o", str(tmp_path / "d.npy"),
                        str(PHOTOS[0])], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "d.npy").shape == (1, 512 * 7 * 7)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("zero_point", [0, 37])
def test_int8_zero_pad_equals_zeropad2d(channels_last, zero_point):
    """The exporter's padding of int8 tensors (export_quantize.int8_zero_pad_class) gives the
    bits of nn.ZeroPad2d run on the quantized tensor, for TensorFlow's asymmetric 'same'
    padding and a symmetric one."""
    sys.path.insert(0, str(ROOT / "tools"))
    import export_quantize

    pad_class = export_quantize.int8_zero_pad_class()
    x = torch.quantize_per_tensor(torch.randn(2, 5, 9, 7) * 3, 0.05, zero_point, torch.quint8)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    for padding in ((0, 1, 0, 1), (2, 2, 1, 1)):
        want = torch.nn.ZeroPad2d(padding)(x)
        got = pad_class(padding, 0.05, zero_point)(x)
        assert got.is_quantized and got.q_scale() == want.q_scale() and got.q_zero_point() == zero_point
        assert torch.equal(got.int_repr(), want.int_repr()), padding
        d = got.dequantize()  # the border (both paddings reach the last row and column) is 0.0
        assert (d[:, :, -1] == 0).all() and (d[:, :, :, -1] == 0).all()


def test_int8_quantize_equals_quantize_per_tensor():
    """The exporter's quantization of a block's float32 input (int8_quantize_class) gives the
    bits of torch.quantize_per_tensor: random values, values on the rounding halves, values
    outside the int8 range, a channels-last input."""
    sys.path.insert(0, str(ROOT / "tools"))
    import export_quantize

    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 8, 30, 30, generator=g) * 4
    halves = (torch.arange(-300, 300, dtype=torch.float32) + 0.5) * 0.125  # exact in float32
    for scale, zero_point in ((6 / 255, 0), (0.125, 37), (0.0313, 128), (0.5, 255)):
        for v in (x, x.contiguous(memory_format=torch.channels_last), halves):
            want = torch.quantize_per_tensor(v, scale, zero_point, torch.quint8)
            got = export_quantize.int8_quantize_class()(scale, zero_point)(v)
            assert got.q_scale() == want.q_scale() and got.q_zero_point() == want.q_zero_point()
            assert torch.equal(got.int_repr(), want.int_repr()), (scale, zero_point)


@pytest.mark.parametrize("zero_point", [0, 37])
@pytest.mark.parametrize("kernel,padding", [(3, (0, 1, 0, 1)), (5, (1, 2, 1, 2))])
def test_widened_conv_equals_padding_then_conv(kernel, padding, zero_point):
    """widen_padded_convs: TensorFlow's asymmetric padding then a stride-2 int8 depthwise
    convolution, against the convolution one wider with a symmetric padding: the same bits as
    PyTorch's ZeroPad2d + quantized Conv2d, at an even and an odd input size, with the input's
    zero point 0 (a ReLU6 output) and another."""
    sys.path.insert(0, str(ROOT / "tools"))
    import export_quantize
    from torch.ao.nn.quantized import Conv2d as QConv2d

    g = torch.Generator().manual_seed(kernel)
    c = 16
    conv = QConv2d(c, c, kernel, stride=2, groups=c)
    w = torch.randn(c, 1, kernel, kernel, generator=g)
    scales = w.abs().amax((1, 2, 3)) / 127
    conv.set_weight_bias(torch.quantize_per_channel(w, scales.double(), torch.zeros(c, dtype=torch.long), 0,
                                                    torch.qint8), torch.randn(c, generator=g))
    conv.scale, conv.zero_point = 0.07, 60

    class Unit(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pad = export_quantize.int8_zero_pad_class()(padding, 6 / 255, zero_point)
            self.conv = conv

        def forward(self, x):
            return self.conv(self.pad(x))

    class Tracer(torch.fx.Tracer):  # the padding stays one call, as in the exporter's FX graphs
        def is_leaf_module(self, m, name):
            return isinstance(m, export_quantize.int8_zero_pad_class()) or super().is_leaf_module(m, name)

    def trace(m):
        return torch.fx.GraphModule(m, Tracer().trace(m))

    unit = trace(Unit())
    assert "pad" in {n.target for n in unit.graph.nodes if n.op == "call_module"}
    wide = export_quantize.widen_padded_convs(trace(Unit()))
    assert "pad" not in {n.target for n in wide.graph.nodes if n.op == "call_module"}
    assert wide.conv.kernel_size == (kernel + 1, kernel + 1)
    for size in (28, 27):
        x = torch.quantize_per_tensor(torch.rand(2, c, size, size, generator=g) * 6 - 1, 6 / 255, zero_point,
                                      torch.quint8)
        want = conv(torch.nn.ZeroPad2d(padding)(x))
        assert torch.equal(unit(x).int_repr(), want.int_repr())
        got = wide(x)
        assert got.shape == want.shape and got.q_scale() == want.q_scale()
        assert torch.equal(got.int_repr(), want.int_repr()), size


@pytest.mark.parametrize("groups", [1, 6])
def test_bias_correction_takes_out_the_mean_shift(groups):
    """correct_biases: an int8 convolution's output mean per channel moves by (W_int8 - W) E[x];
    after the correction the quantized convolution's channel means match the float32
    convolution's (PyTorch's own, on the same inputs) far closer than before."""
    sys.path.insert(0, str(ROOT / "tools"))
    import export_quantize
    from torch.ao.nn.quantized import Conv2d as QConv2d

    g = torch.Generator().manual_seed(groups)
    c_in, c_out = 6, 6 if groups > 1 else 8
    float_conv = torch.nn.Conv2d(c_in, c_out, 3, padding=1, groups=groups)
    with torch.no_grad():
        float_conv.weight.copy_(torch.randn(float_conv.weight.shape, generator=g))
    x = torch.rand(4, c_in, 20, 20, generator=g) * 4 + torch.arange(c_in).view(1, -1, 1, 1)  # means 2 .. 7
    w = float_conv.weight.detach()
    scales = (w.abs().amax((1, 2, 3)) / 7).double()  # coarse: a few levels, a visible shift
    q = QConv2d(c_in, c_out, 3, padding=1, groups=groups)
    q.set_weight_bias(torch.quantize_per_channel(w, scales, torch.zeros(c_out, dtype=torch.long), 0, torch.qint8),
                      float_conv.bias.detach())
    xq = torch.quantize_per_tensor(x, 0.05, 0, torch.quint8)
    out = float_conv(xq.dequantize()).detach()
    lo, hi = float(out.min()) * 1.5, float(out.max()) * 1.5  # room for the shifted outputs
    q.scale, q.zero_point = (hi - lo) / 255, int(round(-lo / ((hi - lo) / 255)))
    want = out.mean((0, 2, 3))
    before = (q(xq).dequantize().mean((0, 2, 3)) - want).abs()

    class Unit(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = q

    unit = Unit()
    export_quantize.correct_biases(unit, {"conv": (w, groups)}, {"conv": xq.dequantize().double().mean((0, 2, 3))})
    after = (unit.conv(xq).dequantize().mean((0, 2, 3)) - want).abs()
    assert before.max() > 0.2  # the rounding did shift the means
    assert after.max() < 0.25 * before.max(), (before, after)


def tap_columns(npy):
    """{tap: its columns} from the column map next to a feat output."""
    lines = open(str(npy)[:-4] + ".columns.tsv", encoding="utf-8").read().splitlines()[1:]
    return {f[0]: slice(int(f[1]), int(f[1]) + int(f[2])) for f in (line.split("\t") for line in lines)}


@pytest.mark.parametrize("family,args,taps", [
    ("efficientnet-lite0", ("efficientnet_lite0",), EFF_TAPS),
    ("resnet18", ("resnet18", "--random-init"), RESNET_TAPS),
])
def test_pruned_then_quantized(feat_cli, calib_dir, tmp_path, family, args, taps):
    """--prune with --quantize: the pruned model is calibrated and quantized; its features are
    within the int8 bound of the pruned float32 model's (docs/models.md, "Pruning")."""
    pruned = export_model(f"{family}-prune0.3", *args, "--prune", "0.3")
    int8 = export_model(f"{family}-prune0.3-int8", *args, "--prune", "0.3", "--quantize", "static-int8",
                        "--calibrate", str(calib_dir), "--calibrate-count", "6")
    side = reference.load_sidecar(int8)
    assert side["pruning"] == reference.load_sidecar(pruned)["pruning"]
    assert side["quantization"] == "static-int8" and side["quantization_detail"]["calibration_images"] == 6
    r = feat_rows(feat_cli, int8, taps, tmp_path / "q.npy", PHOTOS)
    assert r.returncode == 0, r.stderr
    r = feat_rows(feat_cli, pruned, taps, tmp_path / "f.npy", PHOTOS)
    assert r.returncode == 0, r.stderr
    q, f = np.load(tmp_path / "q.npy"), np.load(tmp_path / "f.npy")
    cols = tap_columns(tmp_path / "q.npy")
    assert cols == tap_columns(tmp_path / "f.npy") and q.shape == f.shape
    bound = EFF_PRUNED_COSINE if family == "efficientnet-lite0" else RESNET_COSINE
    for tap, c in cols.items():
        assert c.stop - c.start < {"_avg_pooling:flatten": 1280, "_blocks.7:gap": 80, "layer4:gap": 512,
                                   "layer3:gap": 256, "layer3.1:gap": 256}[tap], f"{tap} was not pruned"
        cos = row_cosines(q[:, c], f[:, c]).min()
        assert cos >= bound, f"{family} {tap}: cosine {cos:.4f}"


def test_corrupt_file_fails_alone(feat_cli, eff_int8, tmp_path):
    bad = tmp_path / "b_corrupt.jpg"
    bad.write_bytes(PHOTOS[0].read_bytes()[:2000])
    inputs = [PHOTOS[1], bad, PHOTOS[2]]
    r = feat_rows(feat_cli, eff_int8, EFF_TAPS, tmp_path / "m.npy", inputs)
    assert r.returncode == 0, r.stderr
    x = np.load(tmp_path / "m.npy")
    rows = open(tmp_path / "m.rows.tsv", encoding="utf-8").read().splitlines()[1:]
    status = [line.split("\t") for line in rows]
    assert [s for s in status if "b_corrupt.jpg" in "\t".join(s) and "FEAT_E_DECODE" in s], status
    assert np.isnan(x[1]).all() and not np.isnan(x[[0, 2]]).any()
    r = feat_rows(feat_cli, eff_int8, EFF_TAPS, tmp_path / "g.npy", [PHOTOS[1], PHOTOS[2]])
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), x[[0, 2]])


def test_finetune_trains_the_float32_head_of_an_int8_model(feat_cli, eff_int8, tmp_path):
    """An int8 block holds no trainable parameters: training one is refused with a message that
    names it; the float32 head of the same model trains."""
    from cli_outputs import random_pngs

    data = tmp_path / "data"
    for k, c in enumerate(("a", "b")):
        (data / c).mkdir(parents=True)
        random_pngs(data / c, 3, 10 * k, lambda i: (40, 40), name="{}.png")

    def finetune(*extra):
        return subprocess.run([str(feat_cli), "finetune", "--model", str(eff_int8), "--data", str(data), "--epochs",
                               "1", *extra, "-o", str(tmp_path / "t.pt")], capture_output=True, text=True,
                              timeout=600)

    r = finetune()  # the default: the last block, _blocks.15, which is int8
    assert r.returncode == 1, r.stderr
    assert "'_blocks.15._expand_conv' is an int8 layer" in r.stderr and "cannot be trained" in r.stderr, r.stderr
    assert not (tmp_path / "t.pt").exists()
    r = finetune("--train", "_conv_head,_bn1")
    assert r.returncode == 0, r.stderr
    side = reference.load_sidecar(tmp_path / "t.pt")
    assert side["finetune"]["train"] == ["_conv_head", "_bn1"] and side["quantization"] == "static-int8"


def export(tmp_path, *args):
    cmd = [sys.executable, str(ROOT / "tools" / "export_models.py"), *map(str, args), "-o", str(tmp_path / "m.pt")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", ["no-calibrate", "empty", "unreadable", "bert", "dynamic-cnn", "calibrate-alone"])
def test_refusals(tmp_path, case):
    d = tmp_path / "photos"
    d.mkdir()
    if case == "unreadable":
        shutil.copyfile(SKIMAGE / "astronaut.png", d / "a.png")
        (d / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    args, want = {
        "no-calibrate": (["resnet18", "--random-init", "--quantize", "static-int8"], "needs --calibrate DIR"),
        "empty": (["resnet18", "--random-init", "--quantize", "static-int8", "--calibrate", d],
                  "no JPEG or PNG images"),
        "unreadable": (["resnet18", "--random-init", "--quantize", "static-int8", "--calibrate", d],
                       "b.jpg: cannot be read"),
        "bert": (["bert", "--bert-config", "small", "--random-init", "--quantize", "static-int8"],
                 "use --quantize dynamic-int8"),
        "dynamic-cnn": (["resnet18", "--random-init", "--quantize", "dynamic-int8"], "takes --quantize static-int8"),
        "calibrate-alone": (["resnet18", "--random-init", "--calibrate", d], "go with --quantize static-int8"),
    }[case]
    r = export(tmp_path, *args)
    assert r.returncode == 2 and want in r.stderr, r.stderr
    assert not (tmp_path / "m.pt").exists()
