# SPDX-License-Identifier: MIT
"""Independent PyTorch / Pillow / sentence-transformers references for libfeat's parity tests.

Nothing here uses libfeat. The models are the *eager* PyTorch modules rebuilt with the
exact weights of an exported TorchScript file (forward hooks cannot be registered on a
module loaded with torch.jit.load: "register_forward_hook is not supported on
ScriptModules" in torch 1.13).

    from reference import load_eager, hook_taps, pool, taps_reference
    m = load_eager("models/vgg16.pt")
    x = preprocess_torchvision("cat.jpg")[None]              # [1,3,224,224] float32
    out = hook_taps(m, x, ["features.28", "features.30"])    # {path: np.ndarray}
    v = pool(out["features.30"], "flatten")                  # [1, 25088]

Tap paths: dotted submodule paths as in named_modules(); an integer part may be negative
(resolved against the length of the ModuleList/Sequential: encoder.layer.-1); "path@k"
selects the k-th call (0-based) of a module that runs several times per forward (ResNet
Bottleneck.relu runs 3x); without @k such a module is an error (ambiguous), like in libfeat.
taps_reference() also accepts ranges "encoder.layer.-4..-1" (inclusive, expanded in order).
"""

import json
import os
import re
from typing import NamedTuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

__all__ = [
    "load_sidecar", "load_eager", "resolve_path", "expand_path", "hook_taps",
    "pool", "pool_flatten", "pool_gap", "pool_gmp", "pool_cls", "pool_mean", "pool_max",
    "parse_tap_spec", "taps_reference",
    "preprocess_torchvision", "preprocess_keras_vgg16",
    "bert_tokenizer", "BertInputs", "bert_inputs", "sentence_transformers_embed",
]


# ----------------------------------------------------------------------------- model files


def _sidecar_path(path):
    path = os.fspath(path)
    if path.endswith(".json"):
        return path
    return (path[:-3] if path.endswith(".pt") else path) + ".json"


def load_sidecar(path):
    """The side-car dict for OUT.pt (or OUT.json itself)."""
    with open(_sidecar_path(path), encoding="utf-8") as f:
        side = json.load(f)
    if side.get("format") != "libfeat-model":
        raise ValueError(f"{path}: not a libfeat-model side-car")
    return side


def _sidecar_file(path, name):
    return os.path.join(os.path.dirname(os.path.abspath(_sidecar_path(path))), name)


def load_eager(model_pt_path):
    """Eager (nn.Module, eval mode) twin of an exported TorchScript file, with identical
    weights and buffers taken from torch.jit.load(model_pt_path).state_dict()."""
    side = load_sidecar(model_pt_path)
    family = side["family"]
    jit_sd = torch.jit.load(os.fspath(model_pt_path), map_location="cpu").state_dict()
    if family in ("vgg16", "resnet50", "resnet18"):
        import torchvision.models as tvm

        model = getattr(tvm, family)(weights=None)
    elif family == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name("efficientnet-lite0")
    elif family == "bert":
        from transformers import BertConfig, BertModel

        config = BertConfig.from_json_file(_sidecar_file(model_pt_path, side["hf_config"]))
        config.torchscript = True
        if hasattr(config, "_attn_implementation"):
            config._attn_implementation = "eager"
        model = BertModel(config)
    elif side.get("zoo_family"):  # any torchvision model of the export tool's zoo
        import torchvision.models as tvm

        model = getattr(tvm, family)(weights=None)
    elif side.get("input") == "text" and side.get("hf_config"):  # a Hugging Face encoder
        from transformers import AutoConfig, AutoModel

        config = AutoConfig.from_pretrained(_sidecar_file(model_pt_path, side["hf_config"]))
        config.torchscript = True
        if hasattr(config, "_attn_implementation"):
            config._attn_implementation = "eager"
        model = AutoModel.from_config(config)
    else:
        raise ValueError(f"unknown family {family!r}")
    _load_all(model, jit_sd)
    return model.eval()


def _load_all(model, jit_sd):
    """Load parameters and *all* buffers (incl. non-persistent ones such as HF
    embeddings.position_ids, which a traced module still carries)."""
    own = dict(model.named_parameters())
    own.update(dict(model.named_buffers()))
    extra = sorted(set(jit_sd) - set(own))
    missing = sorted(set(own) - set(jit_sd))
    persistent = set(model.state_dict())
    if extra or (set(missing) & persistent):
        raise ValueError(f"state dict mismatch: unexpected {extra[:5]}, missing "
                         f"{sorted(set(missing) & persistent)[:5]}")
    with torch.no_grad():
        for k, v in jit_sd.items():
            t = own[k]
            if t.shape != v.shape:
                raise ValueError(f"{k}: shape {tuple(v.shape)} != {tuple(t.shape)}")
            t.copy_(v)


# ----------------------------------------------------------------------------- taps


_AT = re.compile(r"^(.*)@(\d+)$")
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")


def _split_at(path):
    m = _AT.match(path)
    return (m.group(1), int(m.group(2))) if m else (path, None)


def resolve_path(module, path):
    """'encoder.layer.-1' -> 'encoder.layer.5' (the @k suffix, if any, is kept)."""
    base, k = _split_at(path)
    cur, parts = module, []
    for part in [p for p in base.split(".") if p != ""]:
        children = cur._modules
        if part not in children and re.fullmatch(r"-?\d+", part):
            i = int(part)
            n = len(children)
            if i < 0:
                i += n
            if not 0 <= i < n or str(i) not in children:
                raise KeyError(f"{path}: index {part} out of range for {len(children)} "
                               f"children of '{'.'.join(parts)}'")
            part = str(i)
        if part not in children or children[part] is None:
            raise KeyError(f"{path}: no submodule '{part}' under '{'.'.join(parts)}'")
        cur = children[part]
        parts.append(part)
    out = ".".join(parts)
    return out if k is None else f"{out}@{k}"


def expand_path(module, path):
    """Expand one range part 'a.b.-4..-1' (inclusive) into concrete paths; a path
    without a range comes back as [resolve_path(path)]."""
    base, k = _split_at(path)
    parts = base.split(".")
    # a range "x..y" splits into two parts "x", "", "y" after split(".")
    for i in range(len(parts) - 2):
        if parts[i + 1] == "" and re.fullmatch(r"-?\d+", parts[i]) and \
                re.fullmatch(r"-?\d+", parts[i + 2]):
            parent = ".".join(parts[:i])
            pm = module.get_submodule(resolve_path(module, parent)) if parent else module
            n = len(pm._modules)
            lo, hi = int(parts[i]), int(parts[i + 2])
            lo, hi = (lo + n if lo < 0 else lo), (hi + n if hi < 0 else hi)
            if lo > hi:
                raise KeyError(f"{path}: empty range")
            rest = parts[i + 3:]
            out = []
            for j in range(lo, hi + 1):
                p = ".".join([*parts[:i], str(j), *rest])
                out.extend(expand_path(module, p if k is None else f"{p}@{k}"))
            return out
    return [resolve_path(module, path)]


def _first_tensor(x):
    while isinstance(x, (tuple, list)):
        x = x[0]
    return x


def _as_inputs(inputs):
    if isinstance(inputs, dict):
        inputs = tuple(inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids"))
    if not isinstance(inputs, (tuple, list)):
        inputs = (inputs,)
    out = []
    for x in inputs:
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
            if x.dtype in (torch.int32, torch.int16, torch.uint8, torch.int8):
                x = x.long()
        out.append(x)
    return tuple(out)


def hook_taps(module, inputs, paths):
    """Run `module(*inputs)` once with forward hooks on `paths`; returns
    {path: float32 np.ndarray} (keys exactly as given). Outputs are cloned inside the hook
    (so a later in-place op such as VGG's ReLU(inplace=True) cannot change them); a tuple
    output (HF BertLayer returns (h,)) gives its first element. `inputs`: a tensor / numpy
    array, a tuple of them (positional), or a dict with input_ids, attention_mask,
    token_type_ids."""
    if isinstance(module, torch.jit.ScriptModule):
        raise TypeError("forward hooks cannot be registered on a TorchScript module; "
                        "use load_eager(path) for the eager twin")
    if isinstance(paths, str):
        paths = [paths]
    paths = list(dict.fromkeys(paths))
    state = {}
    handles = []
    try:
        for path in paths:
            resolved = resolve_path(module, path)
            base, k = _split_at(resolved)
            sub = module.get_submodule(base) if base else module
            st = state.setdefault(path, {"calls": 0, "want": k, "out": None})

            def hook(_m, _inp, out, st=st):
                i = st["calls"]
                st["calls"] += 1
                if st["want"] is None and i == 0 or st["want"] == i:
                    st["out"] = _first_tensor(out).detach().clone()

            handles.append(sub.register_forward_hook(hook))
        with torch.no_grad():
            module(*_as_inputs(inputs))
    finally:
        for h in handles:
            h.remove()
    res = {}
    for path, st in state.items():
        if st["want"] is None and st["calls"] > 1:
            raise ValueError(f"{path}: module called {st['calls']} times in one forward "
                             f"(ambiguous); use {path}@k, k in 0..{st['calls'] - 1}")
        if st["out"] is None:
            raise ValueError(f"{path}: not reached (called {st['calls']} times)")
        res[path] = st["out"].float().numpy()
    return res


# ----------------------------------------------------------------------------- pooling


def _np(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def pool_flatten(x):
    """[B, ...] -> [B, prod(...)], C order of the NCHW (or [B,S,H]) layout."""
    x = _np(x)
    return np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32)


def pool_gap(x):
    """[B,C,H,W] -> [B,C], mean over H,W (accumulated in float64)."""
    x = _np(x)
    if x.ndim != 4:
        raise ValueError(f"gap needs [B,C,H,W], got {x.shape}")
    return x.astype(np.float64).mean(axis=(2, 3)).astype(np.float32)


def pool_gmp(x):
    """[B,C,H,W] -> [B,C], max over H,W."""
    x = _np(x)
    if x.ndim != 4:
        raise ValueError(f"gmp needs [B,C,H,W], got {x.shape}")
    return x.max(axis=(2, 3)).astype(np.float32)


def _seq_mask(x, mask):
    if x.ndim != 3:
        raise ValueError(f"sequence pooling needs [B,S,H], got {x.shape}")
    if mask is None:
        return np.ones(x.shape[:2], dtype=bool)
    m = _np(mask)
    if m.shape != x.shape[:2]:
        raise ValueError(f"mask {m.shape} does not match {x.shape[:2]}")
    return m != 0


def pool_cls(x, mask=None):
    """[B,S,H] -> [B,H], token 0."""
    x = _np(x)
    _seq_mask(x, None)
    return np.ascontiguousarray(x[:, 0, :], dtype=np.float32)


def pool_mean(x, mask=None):
    """[B,S,H] -> [B,H], sum(h*m)/sum(m) over positions with mask != 0 (float64
    accumulation; an all-zero mask row gives 0, like sentence-transformers' clamp)."""
    x = _np(x)
    m = _seq_mask(x, mask).astype(np.float64)[:, :, None]
    s = (x.astype(np.float64) * m).sum(axis=1)
    return (s / np.maximum(m.sum(axis=1), 1e-9)).astype(np.float32)


def pool_max(x, mask=None):
    """[B,S,H] -> [B,H], max over positions with mask != 0 (masked positions excluded;
    an all-zero mask row gives -inf)."""
    x = _np(x)
    m = _seq_mask(x, mask)[:, :, None]
    return np.where(m, x, -np.inf).max(axis=1).astype(np.float32)


_POOLS = {"flatten": pool_flatten, "gap": pool_gap, "gmp": pool_gmp,
          "cls": pool_cls, "mean": pool_mean, "max": pool_max}


def pool(x, kind, mask=None):
    """Pooling by name: flatten | gap | gmp (image maps) | cls | mean | max ([B,S,H];
    mean/max honour `mask` = attention mask [B,S])."""
    if kind not in _POOLS:
        raise ValueError(f"unknown pooling {kind!r}")
    f = _POOLS[kind]
    return f(x, mask) if kind in ("cls", "mean", "max") else f(x)


def parse_tap_spec(spec):
    """'features.29:gap,features.22:gmp' -> [('features.29','gap'), ('features.22','gmp')];
    a tap without ':pool' gets None."""
    out = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        path, _, p = item.rpartition(":") if ":" in item else (item, "", "")
        out.append((path, p or None))
    return out


def taps_reference(module, inputs, spec, attention_mask=None, default_pool="flatten"):
    """Reference for a whole tap spec: one forward, each tap pooled, concatenated in spec
    order (ranges expanded in order) -> float32 [B, D]. For text, attention_mask defaults
    to inputs' second element / 'attention_mask' entry."""
    if attention_mask is None:
        if isinstance(inputs, dict):
            attention_mask = inputs.get("attention_mask")
        elif isinstance(inputs, (tuple, list)) and len(inputs) >= 2:
            attention_mask = inputs[1]
    items = []
    for path, p in parse_tap_spec(spec):
        for concrete in expand_path(module, path):
            items.append((concrete, p or default_pool))
    paths = list(dict.fromkeys(c for c, _ in items))
    outs = hook_taps(module, inputs, paths)
    return np.concatenate([pool(outs[c], p, attention_mask) for c, p in items], axis=1)


# ----------------------------------------------------------------------------- images


def _open_rgb(path, exif_transpose=False):
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.load()
        if exif_transpose:
            im = ImageOps.exif_transpose(im)
        return im.convert("RGB")


def preprocess_torchvision(path, resize=256, crop=224, exif_transpose=False, mean=IMAGENET_MEAN,
                           std=IMAGENET_STD):
    """torchvision ImageNet eval preprocessing: Resize(resize) (shorter side, bilinear,
    PIL = antialiased), CenterCrop(crop), ToTensor(), Normalize(mean, std) (default ImageNet's;
    EfficientNet-Lite was trained with 127/255, 128/255). -> float32 [3, crop, crop]."""
    import torchvision.transforms as T

    tf = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(), T.Normalize(mean, std)])
    return tf(_open_rgb(path, exif_transpose)).numpy().astype(np.float32)


def preprocess_keras_vgg16(path, size=224, exif_transpose=False):
    """keras.utils.load_img(target_size=(224,224)) + img_to_array +
    vgg16.preprocess_input: convert RGB, resize((224,224), NEAREST), float32, RGB->BGR,
    subtract the caffe BGR mean, HWC->CHW. -> float32 [3, 224, 224]."""
    from PIL import Image

    nearest = getattr(Image, "Resampling", Image).NEAREST
    im = _open_rgb(path, exif_transpose)
    if im.size != (size, size):
        im = im.resize((size, size), nearest)
    x = np.asarray(im, dtype=np.float32)[..., ::-1]
    x = x - np.asarray(CAFFE_BGR_MEAN, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


# ----------------------------------------------------------------------------- text


def bert_tokenizer(model_pt_path):
    """Hugging Face fast BERT tokenizer configured from the side-car (vocab, lowercase,
    strip_accents, handle_chinese_chars)."""
    from transformers import BertTokenizerFast

    side = load_sidecar(model_pt_path)
    t = side["text"]
    return BertTokenizerFast(
        vocab_file=_sidecar_file(model_pt_path, t["vocab"]),
        do_lower_case=t["lowercase"], strip_accents=t["strip_accents"],
        tokenize_chinese_chars=t.get("handle_chinese_chars", True))


class BertInputs(NamedTuple):
    """Positional inputs of an exported BERT, int64 torch tensors [B,S]."""
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor


def bert_inputs(model_pt_path, sentences, max_length=None, pad_to=None):
    """Tokenize with the HF fast tokenizer configured from the side-car ->
    BertInputs(input_ids, attention_mask, token_type_ids), a named tuple of int64 torch
    tensors [B,S] (unpack it, or pass it straight to hook_taps / the model); padded to the
    longest sentence (or to `pad_to`), truncated to max_length (default: the side-car's
    text.max_length)."""
    side = load_sidecar(model_pt_path)
    tok = bert_tokenizer(model_pt_path)
    ml = max_length or side["text"]["max_length"]
    if pad_to:
        kw = {"padding": "max_length", "max_length": pad_to}
    else:
        kw = {"padding": True, "max_length": ml}
    enc = tok(list(sentences), truncation=True, return_tensors="np", **kw)
    return BertInputs(*(torch.from_numpy(enc[k].astype(np.int64))
                        for k in ("input_ids", "attention_mask", "token_type_ids")))


def sentence_transformers_embed(model_dir, sentences, output_value="sentence_embedding",
                                batch_size=32):
    """sentence-transformers' own embeddings for a local ST folder (all of its modules,
    e.g. mean pooling + L2 normalize for all-MiniLM-L6-v2): float32 [N, D].
    output_value="token_embeddings" gives a list of [len_i, H] arrays (no padding)."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(os.fspath(model_dir), device="cpu")
    out = st.encode(list(sentences), batch_size=batch_size, output_value=output_value,
                    convert_to_numpy=output_value == "sentence_embedding",
                    show_progress_bar=False)
    if output_value == "sentence_embedding":
        return np.asarray(out, dtype=np.float32)
    return [t.detach().cpu().float().numpy() for t in out]
