# SPDX-License-Identifier: MIT
"""--prune RATIO for the CNN families of tools/export_models.py: structured channel pruning
with torch-pruning (PyPI torch-pruning 1.3.7, the last release for torch < 2.0).

Whole output channels of convolutions (and of VGG's hidden Linear layers) are removed,
together with every tensor coupled to them: the next layer's input channels, batch norms,
EfficientNet's depthwise convolutions (a depthwise conv's channels are its input channels)
and the channels joined by a residual addition (all members of the sum lose the same
channels, so `x + block(x)` stays well formed). torch-pruning finds these groups from one
forward pass. The model really gets smaller: fewer MACs, fewer parameters, smaller dense
kernels (a mask would leave them the same size and the speed unchanged).

Module names do not change, so every tap still exists; channel counts do, so the default
taps' dimensions shrink (ResNet50 `layer4` at 0.3: 1424 of 2048 channels). The classifier's
output layer is left out of the pruning so the model keeps its classes. With --quantize
static-int8, export_models.py prunes first and then calibrates and quantizes the pruned
model. Pruning without recovery costs accuracy; `feat finetune` trains the last blocks on the
task's data (docs/adapting.md, "Pruned models", has what that recovers).
"""

from export_models import ExportError, log

PRUNE_FAMILIES = ("vgg16", "resnet50", "resnet18", "efficientnet_lite0")
LIBRARY = "torch-pruning"
# L1 norm of each channel's weights (group-wise: summed over the coupled layers). The
# magnitude criterion needs no data and no gradients; it is what torch-pruning's own
# ResNet benchmarks start from.
IMPORTANCE = "magnitude-l1"
# Channel counts rounded to multiples of 16, for correctness first: libtorch 1.13's
# optimize_for_inference (which libfeat applies after freezing) runs convolutions in oneDNN's
# blocked layout of 16 channels, and a depthwise convolution whose channel count is not a
# multiple of 16 then gives wrong values (EfficientNet-Lite0 pruned at 0.3 with multiples of 8:
# 168 channels in _blocks.4, the pooled features off by 0.2 of their scale against the same
# TorchScript module run without it; with multiples of 16, 1.5e-5). It also keeps the blocks
# full, so no kernel computes padding channels.
ROUND_TO = 16


def check_args(a):
    """The refusal for a bad --prune, or None."""
    if a.prune is None:
        return None
    if not 0.0 < a.prune < 1.0:
        return f"--prune {a.prune:g}: RATIO is the share of channels removed, 0 < RATIO < 1"
    if a.model not in PRUNE_FAMILIES:
        return (f"--prune is for the CNN families {', '.join(PRUNE_FAMILIES)}; "
                f"{a.model} is not one of them")
    return None


def output_layer(model, family):
    """The classifier's last layer (the class logits), kept whole."""
    if family in ("resnet18", "resnet50"):
        return model.fc
    if family == "vgg16":
        return model.classifier[-1]
    return model._fc  # efficientnet_lite0


def library_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(LIBRARY)
    except PackageNotFoundError:
        raise ExportError("--prune needs the Python package torch-pruning==1.3.7 "
                          "(tools/setup.sh installs it)") from None


def count_macs(model, example):
    """(multiply-accumulates of one forward pass, parameters). Counted with hooks on every
    Conv2d and Linear instance: torch-pruning's own counter goes by exact module type and
    skips EfficientNet-Lite's Conv2dStaticSamePadding (a Conv2d subclass), which would
    leave out almost all of that model's work."""
    import torch

    macs = [0]

    def hook(m, _inp, out):
        if isinstance(m, torch.nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            macs[0] += out[0].numel() * k
        else:
            macs[0] += out[0].numel() * m.in_features

    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for h in hooks:
            h.remove()
    return macs[0], sum(p.numel() for p in model.parameters())


def prune(model, family, image, ratio):
    """Prunes `model` (eager, eval mode) in place; returns (model, the side-car's record).
    MACs and parameters are counted at the side-car's crop size."""
    import torch

    library_version()
    import torch_pruning as tp

    crop = int(image["crop"])
    example = torch.randn(1, 3, crop, crop)
    keep = output_layer(model, family)
    # torch-pruning builds its dependency graph from the autograd graph of one forward
    # pass; export_models.py turns gradients off globally.
    macs0, params0 = count_macs(model, example)
    with torch.enable_grad():
        pruner = tp.pruner.MagnitudePruner(
            model, example, importance=tp.importance.MagnitudeImportance(p=1),
            pruning_ratio=ratio, ignored_layers=[keep], round_to=ROUND_TO)
        pruner.step()
    model.eval()
    macs1, params1 = count_macs(model, example)
    with torch.no_grad():
        out = model(example)
    if out.shape[-1] != keep.out_features:
        raise ExportError(f"pruning changed the number of classes to {out.shape[-1]}")
    record = {
        "ratio": ratio,
        "importance": IMPORTANCE,
        "method": "MagnitudePruner",
        "round_to": ROUND_TO,
        "library": f"{LIBRARY} {library_version()}",
        "macs_before": int(macs0),
        "macs_after": int(macs1),
        "params_before": int(params0),
        "params_after": int(params1),
        "at_size": crop,
    }
    log(f"pruned {family} at {ratio:g}: MACs {macs0 / 1e9:.2f} G -> {macs1 / 1e9:.2f} G, "
        f"parameters {params0 / 1e6:.2f} M -> {params1 / 1e6:.2f} M")
    return model, record
