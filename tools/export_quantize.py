# SPDX-License-Identifier: MIT
"""--quantize static-int8 for the CNN families of tools/export_models.py: post-training
static quantization (FX graph mode) with activation ranges calibrated on the user's images.

Taps name the float model's submodules (`layer3`, `_blocks.7`, `features.28`), and libfeat
taps TorchScript submodule calls (docs/taps.md). One FX graph for the whole model would
flatten the hierarchy and make the blocks untappable, so every tappable block ("unit":
a ResNet BasicBlock/Bottleneck, an EfficientNet MBConv block, a VGG convolution) is
quantized as its own FX graph: it takes and returns float32, its convolutions, batch norms,
activations and residual add run in int8 inside. The model around the units (ResNet's stem
and classifier, EfficientNet's stem and head, VGG's ReLUs, pools and classifier) stays
float32 and keeps its module names, so every default tap and every block tap still exists.
Measured speed of this choice against one whole-model graph: docs/performance.md,
"Static int8".
"""

import hashlib
import os

from export_models import ExportError, log, quantized_engine

# Calibration images used when --calibrate-count is not given: the activation ranges
# (histogram observers) settle within a few dozen photos; more costs export time only.
DEFAULT_CALIBRATION_COUNT = 64
CALIBRATION_BATCH = 8
# libfeat decodes JPEG and PNG (docs/imaging.md); other files in the folder are not images
# for it, so they are not calibration images either.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CAFFE_BGR_MEAN = [103.939, 116.779, 123.68]
# ReLU6's output range is [0, 6]: its int8 scale is fixed to it (6/255, zero point 0), as
# TensorFlow Lite does for the Lite models. With a calibrated scale the convolution before
# it would be quantized over its whole pre-activation range (about +-50 in
# EfficientNet-Lite0's blocks), leaving some 20 of the 256 levels to the 0..6 that remain.
RELU6_SCALE = 6.0 / 255.0

STATIC_FAMILIES = ("vgg16", "resnet50", "resnet18", "efficientnet_lite0")


# --------------------------------------------------------------------------------------
# calibration images


def calibration_files(folder, count):
    """(the first `count` image files of `folder` in name order, their digest)."""
    if not folder:
        raise ExportError("--quantize static-int8 needs --calibrate DIR (a folder of JPEG/PNG "
                          "images like those the model will see)")
    if not os.path.isdir(folder):
        raise ExportError(f"--calibrate {folder}: not a folder")
    if count < 1:
        raise ExportError(f"--calibrate-count {count}: must be at least 1")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."):
                found.append(os.path.join(root, f))
    if not found:
        raise ExportError(f"--calibrate {folder}: no JPEG or PNG images in the folder")
    files = found[:count]
    h = hashlib.sha256()
    for p in files:
        with open(p, "rb") as f:
            content = hashlib.sha256(f.read()).hexdigest()
        h.update(f"{os.path.relpath(p, folder)}\0{content}\n".encode())
    return files, "sha256:" + h.hexdigest()


def preprocess(path, image):
    """One calibration image as the side-car's preset makes it (docs/imaging.md), as
    float32 [3, H, W]."""
    import numpy as np
    import torch
    import torchvision.transforms as T
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
    except Exception as e:  # Pillow raises many kinds for a bad file
        raise ExportError(f"calibration image {path}: cannot be read ({e})") from None
    if image["preset"] == "keras-vgg16":
        nearest = getattr(Image, "Resampling", Image).NEAREST
        size = image["crop"]
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), nearest)
        x = np.asarray(rgb, dtype=np.float32)[..., ::-1] - np.asarray(CAFFE_BGR_MEAN, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
    tf = T.Compose([T.Resize(image["resize"]), T.CenterCrop(image["crop"]), T.ToTensor(),
                    T.Normalize(image.get("mean", IMAGENET_MEAN), image.get("std", IMAGENET_STD))])
    return tf(rgb)


# --------------------------------------------------------------------------------------
# units


def unit_names(model, family):
    """Dotted names of the modules quantized as one FX graph each (see the module doc)."""
    import torch

    if family in ("resnet18", "resnet50"):
        return [f"layer{i}.{j}" for i in range(1, 5) for j in range(len(getattr(model, f"layer{i}")))]
    if family == "vgg16":
        return [f"features.{i}" for i, m in enumerate(model.features) if isinstance(m, torch.nn.Conv2d)]
    if family == "efficientnet_lite0":
        return [f"_blocks.{i}" for i in range(len(model._blocks))]
    raise ExportError(f"{family} cannot be statically quantized; text models take "
                      f"--quantize dynamic-int8")


def plain_conv(conv):
    """EfficientNet's Conv2dStaticSamePadding as modules FX knows: an nn.Conv2d (symmetric
    padding folded in), after an nn.ZeroPad2d when TensorFlow's "same" padding is
    asymmetric (the stride-2 convolutions). FX fuses only a plain Conv2d with its BatchNorm."""
    import torch.nn as nn

    c = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                  conv.dilation, conv.groups, conv.bias is not None)
    c.weight = conv.weight
    c.bias = conv.bias
    pad = conv.static_padding
    if not isinstance(pad, nn.ZeroPad2d):
        return c
    left, right, top, bottom = pad.padding
    if left == right == top == bottom:
        c.padding = (left, left)
        return c
    return nn.Sequential(nn.ZeroPad2d(pad.padding), c)


def prepare_unit(unit, family):
    """The unit in a form FX can trace and fuse (same float results)."""
    if family != "efficientnet_lite0":
        return unit
    from efficientnet_lite_pytorch.model import MBConvBlock
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding

    for name, sub in list(unit.named_children()):
        if isinstance(sub, Conv2dStaticSamePadding):
            setattr(unit, name, plain_conv(sub))
    # The block's forward branches on drop_connect_rate, which FX cannot trace; in eval
    # mode drop-connect returns its input whatever the rate.
    unit.__class__ = eval_block_class(MBConvBlock)
    return unit


_EVAL_BLOCK = {}


def eval_block_class(base):
    """A subclass of the block class whose forward ignores drop_connect_rate."""
    if base not in _EVAL_BLOCK:
        def forward(self, inputs, drop_connect_rate=None):
            return base.forward(self, inputs)

        _EVAL_BLOCK[base] = type("EvalMBConvBlock", (base,), {"forward": forward})
    return _EVAL_BLOCK[base]


def fix_relu6_observers(prepared):
    """Gives the observers around each ReLU6 (its input, its output, and the output of a
    zero padding that follows it) the fixed range [0, 6] (RELU6_SCALE)."""
    import torch
    from torch.ao.quantization.observer import FixedQParamsObserver

    mods = dict(prepared.named_modules())

    def is_mod(node, cls):
        return node.op == "call_module" and isinstance(mods.get(node.target), cls)

    def fix(node):
        if node.op == "call_module" and "activation_post_process" in node.target:
            setattr(prepared, node.target, FixedQParamsObserver(RELU6_SCALE, 0, torch.quint8))

    for node in prepared.graph.nodes:
        if not is_mod(node, torch.nn.ReLU6):
            continue
        fix(node.args[0])
        for out in node.users:
            fix(out)
            for pad in out.users:
                if is_mod(pad, torch.nn.ZeroPad2d):
                    for obs in pad.users:
                        fix(obs)
    prepared.recompile()


_INT8_MODULES = {}


def int8_zero_pad_class():
    """nn.ZeroPad2d for an int8 tensor of a known scale and zero point, padding its integer
    values with the zero point (the value 0.0). The same bits as ZeroPad2d on the quantized
    tensor, whose padding takes a slow element-wise path in PyTorch 1.13: measured on 2 cores,
    8 x 96 x 112 x 112 (EfficientNet-Lite0's first stride-2 block), 48 ms against 3.7 ms.
    Defined once (torch is imported lazily), so that isinstance finds its modules."""
    if "pad" in _INT8_MODULES:
        return _INT8_MODULES["pad"]
    import torch
    import torch.nn.functional as F

    class Int8ZeroPad2d(torch.nn.Module):
        def __init__(self, padding, scale, zero_point):
            super().__init__()
            self.padding = tuple(padding)
            self.scale = float(scale)
            self.zero_point = int(zero_point)

        def forward(self, x):
            padded = F.pad(x.int_repr(), self.padding, value=float(self.zero_point))
            return torch._make_per_tensor_quantized_tensor(padded, self.scale, self.zero_point)

    _INT8_MODULES["pad"] = Int8ZeroPad2d
    return Int8ZeroPad2d


def int8_quantize_class():
    """torch.quantize_per_tensor to quint8 of a known scale and zero point, written as float32
    tensor ops: round(x * (1 / scale)) + zero point, clamped to 0..255, which is how PyTorch
    computes each value (round half to even, the reciprocal in float32), and so the same bits
    (tests/model/test_static_int8.py). PyTorch 1.13 without fbgemm quantizes one value at a
    time: 6.7 ms against 2.7 ms for EfficientNet-Lite0's first block input at batch 8."""
    if "quantize" in _INT8_MODULES:
        return _INT8_MODULES["quantize"]
    import numpy as np
    import torch

    class Int8Quantize(torch.nn.Module):
        def __init__(self, scale, zero_point):
            super().__init__()
            self.scale = float(scale)
            self.zero_point = int(zero_point)
            self.inv_scale = float(np.float32(1.0) / np.float32(scale))

        def forward(self, x):
            q = torch.clamp(torch.round(x * self.inv_scale) + self.zero_point, 0, 255).to(torch.uint8)
            return torch._make_per_tensor_quantized_tensor(q, self.scale, self.zero_point)

    _INT8_MODULES["quantize"] = Int8Quantize
    return Int8Quantize


def fast_quantize_inputs(converted):
    """Replaces each quantize_per_tensor to quint8 of a float32 value by Int8Quantize (the
    same bits, int8_quantize_class)."""
    import torch

    int8_quantize = int8_quantize_class()
    changed = False
    for i, node in enumerate(list(converted.graph.nodes)):
        if not (node.op == "call_function" and node.target == torch.quantize_per_tensor and
                len(node.args) == 4 and node.args[3] == torch.quint8):
            continue
        name = f"_feat_quantize_{i}"
        converted.add_submodule(name, int8_quantize(attr_value(converted, node.args[1]),
                                                    attr_value(converted, node.args[2])))
        with converted.graph.inserting_before(node):
            q = converted.graph.call_module(name, (node.args[0],))
        node.replace_all_uses_with(q)
        converted.graph.erase_node(node)
        changed = True
    if changed:
        converted.graph.eliminate_dead_code()
        converted.recompile()
    return converted


def requantize_pads(converted):
    """convert_fx runs a zero padding in float (dequantize, pad, quantize: FX does not know
    ZeroPad2d as a quantized op). When the input and output scales are the same (a padded
    ReLU6 output: fix_relu6_observers) the padding runs on the int8 tensor instead
    (int8_zero_pad_class), which pads with the zero point, i.e. with 0.0: the same numbers
    without the round trip."""
    import torch

    int8_pad = int8_zero_pad_class()
    mods = dict(converted.named_modules())
    g = converted.graph
    changed = False
    for pad in list(g.nodes):
        if not (pad.op == "call_module" and isinstance(mods.get(pad.target), torch.nn.ZeroPad2d)):
            continue
        deq = pad.args[0]
        users = list(pad.users)
        if not (deq.op == "call_method" and deq.target == "dequantize" and len(users) == 1):
            continue
        q = users[0]
        if not (q.op == "call_function" and q.target == torch.quantize_per_tensor):
            continue
        src = deq.args[0]
        in_scale = scale_of(converted, src, mods)
        out_scale = (attr_value(converted, q.args[1]), attr_value(converted, q.args[2]))
        if in_scale is None or in_scale != out_scale:
            continue
        pad.replace_input_with(deq, src)
        q.replace_all_uses_with(pad)
        parent, _, leaf = pad.target.rpartition(".")
        setattr(converted.get_submodule(parent), leaf, int8_pad(mods[pad.target].padding, *in_scale))
        changed = True
    if changed:
        g.eliminate_dead_code()
        converted.recompile()
    return converted


def widen_padded_convs(converted):
    """An int8 zero padding of TensorFlow's asymmetric kind (one row and column more at the
    bottom and right: EfficientNet-Lite's stride-2 convolutions) before a convolution without
    padding is the same as that convolution with one more row and column of zero weights at
    the top and left and a symmetric padding of one more than the top's: every output sums
    the same int8 products (the added ones are 0 x 0 or 0 x a value) into the same int32, so
    the output is the same bits, and the padded copy of the input is not made. Measured:
    docs/performance.md, "Static int8"."""
    import torch
    from torch.ao.nn.quantized import Conv2d as QConv2d

    int8_pad = int8_zero_pad_class()
    mods = dict(converted.named_modules())
    changed = False
    for pad in list(converted.graph.nodes):
        m = mods.get(pad.target) if pad.op == "call_module" else None
        if not (isinstance(m, int8_pad) and len(pad.users) == 1):
            continue
        conv = next(iter(pad.users))
        c = mods.get(conv.target) if conv.op == "call_module" else None
        left, right, top, bottom = m.padding
        if not (isinstance(c, QConv2d) and right == left + 1 and bottom == top + 1 and
                tuple(c.padding) == (0, 0) and c.padding_mode == "zeros" and tuple(c.dilation) == (1, 1)):
            continue
        w, bias = c.weight(), c.bias()
        if w.qscheme() != torch.per_channel_affine or bool((w.q_per_channel_zero_points() != 0).any()):
            continue
        ints = torch.nn.functional.pad(w.int_repr(), (1, 0, 1, 0))  # a zero row on top, a column on the left
        wide_w = torch._make_per_channel_quantized_tensor(ints, w.q_per_channel_scales(),
                                                          w.q_per_channel_zero_points(), w.q_per_channel_axis())
        kh, kw = c.kernel_size
        wide = QConv2d(c.in_channels, c.out_channels, (kh + 1, kw + 1), c.stride, (top + 1, left + 1),
                       groups=c.groups, bias=bias is not None)
        wide.set_weight_bias(wide_w, bias)
        wide.scale, wide.zero_point = c.scale, c.zero_point
        parent, _, leaf = conv.target.rpartition(".")
        setattr(converted.get_submodule(parent), leaf, wide)
        conv.replace_input_with(pad, pad.args[0])
        converted.graph.erase_node(pad)
        changed = True
    if changed:
        converted.recompile()
    return converted


def drop_saturated_relu6(converted):
    """A ReLU6 whose int8 input has the range [0, 6] (fix_relu6_observers) is the identity
    on it: the int8 values 0..255 stand for 0..6 already. Measured on EfficientNet-Lite0
    (2 cores, batch 8): its 31 calls took a fifth of the int8 forward."""
    import torch

    mods = dict(converted.named_modules())
    changed = False
    for node in list(converted.graph.nodes):
        if not (node.op == "call_module" and isinstance(mods.get(node.target), torch.nn.ReLU6)):
            continue
        src = node.args[0]
        qp = scale_of(converted, src, mods)
        if qp is None or qp[1] != 0 or abs(qp[0] - RELU6_SCALE) > 1e-6:
            continue
        node.replace_all_uses_with(src)
        converted.graph.erase_node(node)
        changed = True
    if changed:
        converted.recompile()
    return converted


def attr_value(gm, node):
    """A quantize node's scale or zero point (a get_attr of a one-element tensor, or a
    constant) as a Python number."""
    v = getattr(gm, node.target) if getattr(node, "op", None) == "get_attr" else node
    if hasattr(v, "item"):
        v = v.item()
    return float(v) if isinstance(v, float) else int(v)


def scale_of(gm, node, mods):
    """(scale, zero point) of the quantized tensor a node gives, where it is known: the
    output of a quantized module, passed through ReLU6 (which keeps its input's)."""
    import torch

    while node.op == "call_module" and isinstance(mods.get(node.target), torch.nn.ReLU6):
        node = node.args[0]
    if node.op != "call_module":
        return None
    m = mods.get(node.target)
    if not hasattr(m, "scale") or not hasattr(m, "zero_point"):
        return None
    return (float(m.scale), int(m.zero_point))


def quantize_units(model, family, qconfig_mapping, calibrate, int8_between=True):
    """Replaces each unit by its prepared FX graph, runs calibrate(model), converts.
    int8_between: a unit hands its int8 output to the next unit as it is (the first unit
    takes float32, the last returns float32); otherwise every unit takes and returns
    float32. (prepare_fx traces symbolically: its example input is not run.)"""
    import torch
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    names = unit_names(model, family)
    for i, name in enumerate(names):
        parent, leaf = split_name(model, name)
        unit = prepare_unit(getattr(parent, leaf), family).eval()
        custom = PrepareCustomConfig()
        if int8_between and i > 0:
            custom.set_input_quantized_indexes([0])
        if int8_between and i < len(names) - 1:
            custom.set_output_quantized_indexes([0])
        prepared = prepare_fx(unit, qconfig_mapping, example_inputs=(torch.zeros(1, 3, 8, 8),),
                              prepare_custom_config=custom)
        fix_relu6_observers(prepared)
        set_child(parent, leaf, prepared)
    means = InputMeans(model, names)
    calibrate(model)
    means.stop()
    for name in names:
        parent, leaf = split_name(model, name)
        weights = means.float_weights(name)
        converted = requantize_pads(convert_fx(getattr(parent, leaf)))
        correct_biases(converted, weights, means.of(name))
        set_child(parent, leaf, fast_quantize_inputs(drop_saturated_relu6(widen_padded_convs(converted))))
    return names


class InputMeans:
    """The mean of each input channel of every convolution in the prepared units, over the
    calibration images (forward pre-hooks while they run), for correct_biases."""

    def __init__(self, model, names):
        self.sums, self.hooks, self.convs = {}, [], {}
        for name in names:
            parent, leaf = split_name(model, name)
            self.convs[name] = dict(float_convs(getattr(parent, leaf)))
            for target, mod in self.convs[name].items():
                self.hooks.append(mod.register_forward_pre_hook(self._hook((name, target))))

    def _hook(self, key):
        def hook(mod, inputs):
            x = inputs[0].detach()
            total, n = self.sums.get(key, (0.0, 0))
            self.sums[key] = (total + x.double().sum((0, 2, 3)), n + x.shape[0] * x.shape[2] * x.shape[3])
        return hook

    def stop(self):
        for h in self.hooks:
            h.remove()

    def float_weights(self, name):
        """{target: (float32 weight as prepared: batch norm folded, groups)} of unit name."""
        return {t: (conv_of(m).weight.detach().clone(), conv_of(m).groups) for t, m in self.convs[name].items()}

    def of(self, name):
        return {t: total / n for (u, t), (total, n) in self.sums.items() if u == name}


def float_convs(prepared):
    """(target, module) of the convolutions of a prepared unit: plain ones and the fused
    convolution + ReLU (whose first child is the convolution); their names are the quantized
    modules' after convert_fx."""
    import torch
    from torch.ao.nn.intrinsic import ConvReLU2d

    fused = [t for t, m in prepared.named_modules() if isinstance(m, ConvReLU2d)]
    for target, mod in prepared.named_modules():
        inside_fused = any(target.startswith(f + ".") for f in fused)
        if isinstance(mod, ConvReLU2d) or (isinstance(mod, torch.nn.Conv2d) and not inside_fused):
            yield target, mod


def conv_of(mod):
    from torch.ao.nn.intrinsic import ConvReLU2d

    return mod[0] if isinstance(mod, ConvReLU2d) else mod


def correct_biases(converted, float_weights, input_means):
    """Bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and
    Bias Correction", 2019): rounding the weights to int8 shifts each output channel's mean by
    (W_int8 - W) E[x]; subtracting that from the bias, with E[x] the float32 input's channel
    means over the calibration images, takes the shift out. Measured on EfficientNet-Lite0
    (docs/performance.md, "Static int8"): the pooled features' cosine to float32 from 0.982 to
    0.991 at the worst photo."""
    mods = dict(converted.named_modules())
    for target, (w, groups) in float_weights.items():
        q = mods.get(target)
        if q is None or not hasattr(q, "set_weight_bias") or target not in input_means:
            continue
        err = (q.weight().dequantize() - w).double()  # [out, in / groups, kh, kw]
        mu = input_means[target]  # [in]
        if groups == 1:
            shift = err.sum((2, 3)) @ mu
        elif groups == err.shape[0] and err.shape[1] == 1:  # depthwise: output o reads channel o
            shift = err.sum((1, 2, 3)) * mu
        else:
            continue
        bias = q.bias()
        base = bias.double() if bias is not None else shift.new_zeros(shift.shape)
        q.set_weight_bias(q.weight(), (base - shift).float())


def split_name(model, name):
    parts = name.split(".")
    parent = model
    for p in parts[:-1]:
        parent = getattr(parent, p) if not p.isdigit() else parent[int(p)]
    return parent, parts[-1]


def set_child(parent, leaf, module):
    if leaf.isdigit():
        parent[int(leaf)] = module
    else:
        setattr(parent, leaf, module)


# --------------------------------------------------------------------------------------


def quantize_static_int8(model, family, image, folder, count, int8_between=True):
    """(a copy of the model with its units in int8, the side-car's quantization_detail).
    count None: DEFAULT_CALIBRATION_COUNT."""
    import copy

    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.observer import PerChannelMinMaxObserver

    if family not in STATIC_FAMILIES:
        raise ExportError(f"{family} cannot be statically quantized; use --quantize dynamic-int8")
    files, digest = calibration_files(folder, DEFAULT_CALIBRATION_COUNT if count is None else count)
    batches = [torch.stack([preprocess(p, image) for p in files[i:i + CALIBRATION_BATCH]])
               for i in range(0, len(files), CALIBRATION_BATCH)]
    engine = quantized_engine()
    torch.backends.quantized.engine = engine
    qmap = get_default_qconfig_mapping(engine)
    weight_obs = qmap.global_qconfig.weight()
    per_channel = isinstance(weight_obs, PerChannelMinMaxObserver)

    def calibrate(m):
        with torch.no_grad():
            for b in batches:
                m(b)

    model = copy.deepcopy(model)
    units = quantize_units(model, family, qmap, calibrate, int8_between)
    model.eval()
    log(f"quantized {len(units)} blocks of {family} to static int8 (engine {engine}, "
        f"{'per-channel' if per_channel else 'per-tensor'} weights), calibrated on "
        f"{len(files)} images of {folder}")
    return model, {
        "engine": engine,
        "per_channel": per_channel,
        "scheme": "static int8 per block (FX graph mode), "
                  + ("int8 between blocks" if int8_between else "float32 between blocks"),
        "units": len(units),
        "bias_correction": True,
        "calibration_images": len(files),
        "calibration_digest": digest,
    }
