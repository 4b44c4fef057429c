# SPDX-License-Identifier: MIT
"""The model zoo of tools/export_models.py: which torchvision classification models and
Hugging Face WordPiece encoders it exports, and the side-car fields each needs (input kind,
export mode, default taps, the layout of every tappable output). docs/models.md, "The model
zoo", describes the same registry for people; `export_models.py --list` prints it.

A name is exported only when a rule here covers it; everything else is refused by name with
the reason (ExportError), never built as something else."""

import re
import sys

NCHW = {"": "nchw"}


class ExportError(Exception):
    """Raised for a model the zoo refuses or cannot build (export_models.py prints it)."""


# --------------------------------------------------------------------------------------
# torchvision


class TvFamily:
    """One torchvision family: the names it covers (a regular expression over torchvision's
    builder names), the default export, the default taps and the layouts."""

    def __init__(self, family, pattern, default_taps, layouts=None, export="script", why="",
                 pretrained_attrs=None):
        self.family = family
        self.pattern = re.compile(pattern)
        self.default_taps = default_taps
        self.layouts = layouts or NCHW
        self.export = export
        self.why = why  # the reason for a non-default export
        # attributes torchvision's builder sets on the model when it loads weights
        self.pretrained_attrs = pretrained_attrs or {}


# ConvNeXt's CNBlock runs its depthwise convolution channels first, then Permute, LayerNorm,
# Linear, GELU, Linear on channels-last maps, and permutes back (torchvision's CNBlock).
CONVNEXT_LAYOUTS = dict(NCHW, **{f"features.*.*.block.{i}": "nhwc" for i in range(1, 6)})
# Swin works channels last from the patch embedding's Permute on; the embedding convolution,
# the final permute and the average pool are channels first (torchvision's SwinTransformer).
SWIN_LAYOUTS = {"": "nhwc", "features.0.0": "nchw", "permute": "nchw", "avgpool": "nchw"}
# ViT: the patch convolution is a map; everything after is [B, 1 + patches, hidden] with the
# class token first (torchvision's VisionTransformer, _process_input and forward).
VIT_LAYOUTS = {"": "cls-tokens", "conv_proj": "nchw"}

# Default taps: the input of the classifier (the pooled features), except for the three
# families of the first exporter, which keep the Keras include_top=False maps (DEFAULT_TAPS
# in export_models.py).
TV_FAMILIES = [
    TvFamily("resnet", r"^(resnet\d+|resnext\d+_\d+x\d+d|wide_resnet\d+_2)$", "avgpool:flatten"),
    TvFamily("vgg", r"^vgg\d+(_bn)?$", "features.-1:flatten"),
    TvFamily("densenet", r"^densenet\d+$", "features:gap", export="trace",
             why="scripted DenseNet calls its layers in a loop, which cannot be tapped"),
    TvFamily("efficientnet", r"^efficientnet_b\d$", "avgpool:flatten"),
    TvFamily("efficientnet_v2", r"^efficientnet_v2_[sml]$", "avgpool:flatten"),
    TvFamily("mobilenet_v2", r"^mobilenet_v2$", "features:gap"),
    TvFamily("mobilenet_v3", r"^mobilenet_v3_(small|large)$", "avgpool:flatten"),
    TvFamily("regnet", r"^regnet_[xy]_\w+$", "avgpool:flatten"),
    TvFamily("convnext", r"^convnext_(tiny|small|base|large)$", "avgpool:flatten", CONVNEXT_LAYOUTS),
    TvFamily("vit", r"^vit_[bhl]_\d+$", "encoder.ln:cls", VIT_LAYOUTS),
    TvFamily("swin", r"^swin_(v2_)?[tsb]$", "avgpool:flatten", SWIN_LAYOUTS),
    TvFamily("alexnet", r"^alexnet$", "avgpool:flatten"),
    TvFamily("squeezenet", r"^squeezenet1_[01]$", "features:gap"),
    TvFamily("shufflenet_v2", r"^shufflenet_v2_x\d_\d$", "conv5:gap"),
    TvFamily("mnasnet", r"^mnasnet\d_\d+$", "layers:gap"),
    TvFamily("googlenet", r"^googlenet$", "avgpool:flatten", export="trace",
             why="scripted, forward returns GoogLeNetOutputs with the auxiliary heads",
             pretrained_attrs={"transform_input": True}),
    TvFamily("inception_v3", r"^inception_v3$", "avgpool:flatten", export="trace",
             why="scripted, forward returns InceptionOutputs with the auxiliary head",
             pretrained_attrs={"transform_input": True}),
]

TV_REFUSED = {
    "maxvit_t": "its attention blocks partition the map into windows and grids, 4-D outputs "
                "[batch, windows, tokens, channels] that are neither a feature map nor a token "
                "sequence, so gap/gmp/cls/mean could not be given a layout",
}


def tv_classification_names():
    """torchvision's classification builders (not detection, segmentation, video, optical
    flow or quantized: their builders live in submodules of torchvision.models)."""
    import torchvision
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=torchvision.models))


def tv_other_reason(name):
    """Why a torchvision builder that is not a classification model is refused, or None."""
    import torchvision.models as tvm

    try:
        mod = tvm.get_model_builder(name).__module__
    except (ValueError, AttributeError):
        return None
    kind = mod.split(".")[2] if mod.count(".") >= 3 else ""
    what = {"detection": "a detection model (its forward returns lists of boxes)",
            "segmentation": "a segmentation model (its forward returns a dict of maps)",
            "video": "a video model (its input is [B, 3, T, H, W])",
            "optical_flow": "an optical flow model (its input is two images)",
            "quantization": "a quantized model (quantized kernels); export the float model "
                            "(or use --quantize static-int8 where export_models.py offers it)"}
    return what.get(kind)


def tv_family(name):
    for f in TV_FAMILIES:
        if f.pattern.match(name):
            return f
    return None


# --------------------------------------------------------------------------------------
# Hugging Face


class HfEncoder:
    """A Hugging Face model_type whose base model is a WordPiece encoder: the container of
    its layers (for taps like LAYERS.-1:cls) and a small configuration for random tests."""

    def __init__(self, model_type, layers, small):
        self.model_type = model_type
        self.layers = layers
        self.small = small


_BERTISH = {"hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
            "intermediate_size": 256, "max_position_embeddings": 128, "type_vocab_size": 2}
HF_ENCODERS = {e.model_type: e for e in [
    HfEncoder("bert", "encoder.layer", _BERTISH),
    HfEncoder("distilbert", "transformer.layer",
              {"dim": 64, "n_layers": 2, "n_heads": 2, "hidden_dim": 128,
               "max_position_embeddings": 128}),
    HfEncoder("electra", "encoder.layer",
              {"embedding_size": 32, "hidden_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2, "intermediate_size": 128,
               "max_position_embeddings": 128}),
    HfEncoder("mobilebert", "encoder.layer",
              {"hidden_size": 64, "embedding_size": 32, "true_hidden_size": 32,
               "intra_bottleneck_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2, "num_feedforward_networks": 2,
               "max_position_embeddings": 128}),
    HfEncoder("megatron-bert", "encoder.layer", dict(_BERTISH, num_hidden_layers=2)),
    HfEncoder("ernie", "encoder.layer", dict(_BERTISH, num_hidden_layers=2)),
]}

HF_REFUSED = {
    "convbert": "its span-based convolution mixes padding tokens into their neighbours, so a "
                "text's features would depend on how much its batch is padded",
    "squeezebert": "its encoder runs channels first ([batch, hidden, tokens] between its "
                   "layers), which no token layout describes",
    "nezha": "its relative position table is built from the sequence length in Python, so a "
             "trace fixes the length (torch.jit.trace's check fails)",
    "funnel": "its blocks pool the token sequence to half its length, so the attention mask "
              "no longer lines up with the tokens of the deeper layers",
    "mpnet": "its WordPiece vocabulary frames sequences with <s> ... </s>, which libfeat's "
             "tokenizer does not place",
    "layoutlm": "its forward takes token bounding boxes (bbox) after input_ids",
    "bros": "its forward takes token bounding boxes (bbox)",
    "roc_bert": "its forward takes glyph shape and pronunciation ids besides input_ids",
    "lxmert": "a vision-language model: its forward takes visual features and boxes",
    "visual_bert": "a vision-language model: its forward takes visual embeddings",
    "qdqbert": "it needs NVIDIA's pytorch-quantization package, which is not installed",
    "dpr": "DPR has no base model class, only question/context encoder heads around a BERT: "
           "export that BERT's folder as bert",
    "realm": "a retriever/reader system; its embedder projects [CLS] only",
    "retribert": "two encoders (query and document) in one model",
}
for _mt in ("align", "bark", "blip", "chinese_clip", "git", "grounding-dino", "tvp", "vilt"):
    HF_REFUSED[_mt] = "a multimodal model whose text tower is not a standalone base model"


def hf_tokenizer_names(model_type):
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

    return [n for n in TOKENIZER_MAPPING_NAMES.get(model_type) or () if n]


def hf_refusal(model_type):
    """Why a model_type is not exported (None when it is)."""
    from transformers import CONFIG_MAPPING

    if model_type in HF_ENCODERS:
        return None
    if model_type in HF_REFUSED:
        return HF_REFUSED[model_type]
    if model_type not in CONFIG_MAPPING:
        return "this transformers does not know the model_type"
    toks = hf_tokenizer_names(model_type)
    if not toks:
        return "it has no text tokenizer in this transformers"
    return f"its tokenizer ({toks[0]}) is not WordPiece (libfeat's tokenizer reads WordPiece only)"


def _attn_kwargs():
    import transformers
    from packaging.version import Version

    # attn_implementation exists since transformers 4.36; eager attention keeps the graph
    # free of aten::scaled_dot_product_attention, which libtorch 1.13 does not know.
    if Version(transformers.__version__.split("+")[0]) >= Version("4.36"):
        return {"attn_implementation": "eager"}
    return {}


def hf_config(model_type, fields):
    """The model_type's config from a dict of fields; a field the config class does not
    have is refused (Hugging Face would keep it as an unused attribute and build the
    default-sized model: a DistilBERT config read as BERT gave BERT-base)."""
    from transformers import CONFIG_MAPPING, PretrainedConfig

    cls = CONFIG_MAPPING[model_type]
    known = set(cls().to_dict()) | set(getattr(cls, "attribute_map", {}))
    known |= set(PretrainedConfig().to_dict()) | {"architectures", "_name_or_path",
                                                  "transformers_version", "model_type",
                                                  "gradient_checkpointing"}  # old configs
    unknown = sorted(k for k in fields if k not in known)
    if unknown:
        raise ExportError(f"{cls.__name__} has no field {', '.join(unknown)} (a config of "
                          f"another model_type? this one is built as '{model_type}')")
    fields = {k: v for k, v in fields.items() if k != "model_type"}
    fields["torchscript"] = True
    return cls(**fields, **_attn_kwargs())


def hf_build(model_type, config=None, folder=None, seed=0):
    """(eager base model in eval mode, config, "pretrained" | "random-init"). config: a
    config object (random init under torch.manual_seed(seed)); folder: a local folder with
    weights. Missing weights are an error (Hugging Face would leave them random)."""
    import torch
    from transformers import AutoModel

    if folder is not None:
        model, linfo = AutoModel.from_pretrained(folder, torchscript=True, output_loading_info=True,
                                                 **_attn_kwargs())
        missing = list(linfo.get("missing_keys", []))
        if missing:
            raise ExportError(f"{folder}: weights missing for {missing[:8]}"
                              f"{' ...' if len(missing) > 8 else ''} "
                              f"(they would be random); not exporting")
        unexpected = linfo.get("unexpected_keys", [])
        if unexpected:
            print(f"note: ignored {len(unexpected)} unexpected keys, e.g. {unexpected[:3]}",
                  file=sys.stderr)
        if model.config.model_type != model_type:
            raise ExportError(f"{folder}: built a {model.config.model_type}, not a {model_type}")
        return model.eval(), model.config, "pretrained"
    torch.manual_seed(seed)
    model = AutoModel.from_config(config)
    return model.eval(), config, "random-init"


def hf_inputs(model):
    """The names of forward's first positional inputs that libfeat passes."""
    import inspect

    names = list(inspect.signature(model.forward).parameters)
    want = ["input_ids", "attention_mask", "token_type_ids"]
    if names[:3] == want:
        return want
    if names[:2] == want[:2]:
        return want[:2]
    raise ExportError(f"{type(model).__name__}.forward takes ({', '.join(names[:3])}, ...); "
                      f"libfeat passes (input_ids, attention_mask[, token_type_ids])")


# --------------------------------------------------------------------------------------
# the registry as a whole


LITE_FAMILIES = ("efficientnet_lite0",)


def lookup(name):
    """('torchvision', TvFamily) | ('lite', None) | ('hf', HfEncoder); ExportError naming
    the reason for anything else."""
    if name in LITE_FAMILIES:
        return "lite", None
    if name in HF_ENCODERS:
        return "hf", HF_ENCODERS[name]
    if name in TV_REFUSED:
        raise ExportError(f"{name} is not exported: {TV_REFUSED[name]}")
    tv = tv_classification_names()
    if name in tv:
        fam = tv_family(name)
        if fam is None:
            raise ExportError(f"{name} is not exported: no zoo rule covers it yet (its "
                              f"layouts and default taps are not known)")
        return "torchvision", fam
    other = tv_other_reason(name)
    if other:
        raise ExportError(f"{name} is not exported: it is {other}")
    reason = hf_refusal(name)
    from transformers import CONFIG_MAPPING

    if name in CONFIG_MAPPING:
        raise ExportError(f"Hugging Face model_type {name} is not exported: {reason}")
    raise ExportError(f"unknown model '{name}' (not a torchvision classification model, "
                      f"efficientnet_lite0 or a Hugging Face model_type; see --list)")


def list_lines(overrides=None):
    """What --list prints: one line per exportable name (name, input, family, export,
    default taps; overrides: name -> default taps of the first exporter's families), then
    the refused ones."""
    overrides = overrides or {}
    out = ["# torchvision classification models (export_models.py NAME)"]
    for name in tv_classification_names():
        fam = tv_family(name)
        if fam:
            taps = overrides.get(name, fam.default_taps)
            out.append(f"{name:24s} image  {fam.family:16s} {fam.export:6s} {taps}")
    out.append(f"{'efficientnet_lite0':24s} image  {'efficientnet_lite':16s} {'trace':6s} "
               f"_avg_pooling:flatten")
    out.append("# Hugging Face encoders by config model_type (export_models.py TYPE --hf DIR, "
               "or --bert-config SPEC --vocab FILE --random-init)")
    for mt, e in HF_ENCODERS.items():
        out.append(f"{mt:24s} text   {mt:16s} {'trace':6s} {e.layers}.-1:cls")
    out.append("# refused")
    for name in tv_classification_names():
        if not tv_family(name):
            out.append(f"{name:24s} {TV_REFUSED.get(name, 'no zoo rule covers it yet')}")
    for mt in sorted(HF_REFUSED):
        out.append(f"{mt:24s} {HF_REFUSED[mt]}")
    out.append("(any other Hugging Face model_type: its tokenizer is not WordPiece)")
    return out


# --------------------------------------------------------------------------------------
# layouts


def _match(pattern, path):
    """Segments of pattern that match the start of path (-1: no match), and its '*' count:
    the rule of lib/extract/model_info.c (docs/taps.md, "Layouts")."""
    if pattern == "":
        return 0, 0
    k, p = pattern.split("."), path.split(".")
    if len(k) > len(p):
        return -1, 0
    stars = 0
    for a, b in zip(k, p):
        if a == "*":
            stars += 1
        elif a != b:
            return -1, 0
    return len(k), stars


def layout_of(layouts, path):
    best, best_stars, lay = -1, 0, None
    for pat, value in layouts.items():
        n, stars = _match(pat, path)
        if n > best or (n == best and n >= 0 and stars < best_stars):
            best, best_stars, lay = n, stars, value
    return lay


def check_layouts(model, inputs, layouts):
    """Runs the eager model once with a hook on every module and returns (modules seen,
    those whose output rank does not fit their layout: a 4-D output without a map layout,
    a 3-D one without a token layout). libfeat refuses gap/gmp/cls/mean/max on those at load
    (the attention probabilities [B, heads, S, S] of DistilBERT's attention dropout, say),
    so they are reported, not fatal."""
    import torch

    seen = {}

    def hook(name):
        def f(_m, _i, out):
            while isinstance(out, (tuple, list)) and out:
                out = out[0]
            if torch.is_tensor(out) and name not in seen:
                seen[name] = out.dim()
        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    misfits = []
    for name, rank in seen.items():
        lay = layout_of(layouts, name)
        if (rank == 4 and lay not in ("nchw", "nhwc")) or (rank == 3 and lay not in ("tokens", "cls-tokens")):
            misfits.append(f"{name} ({rank}-D)")
    return len(seen), misfits


def hf_model(model_type, folder=None, fields=None, random_init=False, seed=0):
    """(eager model, config, weights) of a zoo encoder from a local folder (its weights, or
    its config.json with random_init) or from config fields (random init). The folder's or
    the fields' model_type must be the one asked for."""
    import json
    import os

    from transformers import AutoConfig

    if model_type not in HF_ENCODERS:
        raise ExportError(f"Hugging Face model_type {model_type} is not exported: "
                          f"{hf_refusal(model_type)}")
    if folder is not None:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            found = json.load(f).get("model_type")
        where = f"{folder}/config.json"
    else:
        found = fields.get("model_type", model_type)
        where = "the config"
    if found != model_type:
        hint = (f"export it as {found}" if found in HF_ENCODERS else
                f"{found} is not exported: {hf_refusal(found)}")
        raise ExportError(f"{where} has model_type '{found}', not '{model_type}': {hint}")
    if folder is not None and not random_init:
        return hf_build(model_type, folder=folder)
    if folder is not None:
        config = AutoConfig.from_pretrained(folder, torchscript=True, **_attn_kwargs())
    else:
        config = hf_config(model_type, fields)
    return hf_build(model_type, config=config, seed=seed)


def default_taps(name, kind, entry):
    if kind == "hf":
        return f"{entry.layers}.-1:cls"
    if kind == "torchvision":
        return entry.default_taps
    return None


def layouts(kind, entry):
    """The side-car's "layouts" for a zoo model."""
    if kind == "hf":
        return {"": "tokens"}
    if kind == "torchvision":
        return dict(entry.layouts)
    return dict(NCHW)  # EfficientNet-Lite
