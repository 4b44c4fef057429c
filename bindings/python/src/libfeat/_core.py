# SPDX-License-Identifier: MIT
"""Objects over the C handles: results, extractors, the tokenizer, layer listing."""
import ctypes
import os
import threading
from collections import namedtuple

import numpy as np

from . import _blas
from . import _errors as E
from ._errors import check
from ._ffi import lib

__all__ = ["Result", "ImageExtractor", "TextExtractor", "Tokenizer", "Encoding", "Layer", "layers",
           "set_threads", "threads", "version", "version_number", "abi_version", "library_path"]


def version():
    """Version of the loaded library, "MAJOR.MINOR.PATCH"."""
    return lib.feat_version_string().decode()


def version_number():
    return int(lib.feat_version_number())


def abi_version():
    return int(lib.feat_abi_version())


def library_path():
    """Path (or loader name) of the libfeat.so these bindings loaded."""
    return lib.path


def set_threads(n):
    """Process-wide number of cores inference may use (0 = default). Call it before extracting."""
    check(lib.feat_global_set_threads(int(n)), lib.feat_last_error)


def threads():
    return int(lib.feat_global_threads())


def _path(p):
    return os.fsencode(p) if p is not None else None


def _enum(value, table, what):
    if value is None:
        return 0
    if isinstance(value, str):
        key = value.lower().replace("_", "-")
        if key not in table:
            raise E.InvalidArgument(E.E_INVALID_ARGUMENT, "unknown %s %r (one of %s)" % (what, value, ", ".join(table)))
        return table[key]
    return int(value)


_PRESETS = {"default": 0, "torchvision": 1, "keras-vgg16": 2}
_FUSIONS = {"default": 0, "concat": 1, "mean": 2}
_PRECISIONS = {"default": 0, "fp32": 1, "bf16": 2}
_INTERPS = {"default": 0, "nearest": 1, "bilinear": 2, "bicubic": 3, "lanczos": 4}
_DECODE = {"default": 0, "exact": 1, "fast": 2}
_TRUNC = {"default": 0, "longest-first": 1, "only-first": 2, "only-second": 3, "none": 4}
_WINDOW = {"default": 0, "mean": 1, "max": 2, "first": 3}
_UTF8 = {"default": 0, "error": 1, "replace": 2}


def _tristate(v):
    return 0 if v is None else (1 if v else 2)


# ---- results ---------------------------------------------------------------------------------

class _ResultMemory:
    """Owns one feat_result*; numpy arrays made from it keep it alive through their base."""

    __slots__ = ("_h", "__array_interface__", "__weakref__")

    def __init__(self, handle, n, dim):
        self._h = handle
        ptr = ctypes.cast(lib.feat_result_data(handle), ctypes.c_void_p).value or 0
        self.__array_interface__ = {"shape": (n, dim), "typestr": "<f4", "data": (ptr, True), "version": 3}

    def __del__(self, _free=lib.feat_result_free):
        h, self._h = self._h, None
        if h:
            _free(h)


class Result:
    """Features of one extract call: one row per input, in order.

    ``features`` is an (n, dim) float32 array viewing the library's memory (no copy; read-only;
    it keeps the underlying result alive). Rows of failed items are NaN; ``statuses`` (int32
    per item, 0 = ok), ``errors`` (message or None per item), ``ok`` (bool mask) tell which.
    """

    def __init__(self, handle):
        try:
            n = int(lib.feat_result_n_items(handle))
            dim = int(lib.feat_result_dim(handle))
            self.statuses = np.array([lib.feat_result_item_status(handle, i) for i in range(n)], dtype=np.int32)
            self.errors = [None if s == E.OK else E._msg(lib.feat_result_item_error(handle, i))
                           for i, s in enumerate(self.statuses)]
        except BaseException:
            lib.feat_result_free(handle)
            raise
        self._mem = _ResultMemory(handle, n, dim)
        if n * dim == 0:
            self.features = np.zeros((n, dim), dtype=np.float32)
        else:
            self.features = np.asarray(self._mem)
        self.features.flags.writeable = False

    @property
    def ok(self):
        return self.statuses == E.OK

    @property
    def n_failed(self):
        return int(np.count_nonzero(self.statuses))

    @property
    def dim(self):
        return self.features.shape[1]

    @property
    def shape(self):
        return self.features.shape

    def __len__(self):
        return self.features.shape[0]

    def __array__(self, dtype=None, copy=None):
        return self.features if dtype is None else self.features.astype(dtype)

    def copy(self):
        """A writable numpy-owned copy of the features (one copy, by feat_result_copy_to)."""
        n, dim = self.features.shape
        out = np.empty((n, dim), dtype=np.float32)
        if n * dim:
            h = self._mem._h
            check(lib.feat_result_copy_to(h, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.size, None),
                  lib.feat_last_error)
        return out

    def item_error(self, i):
        """The exception for failed item ``i`` (None when it succeeded)."""
        s = int(self.statuses[i])
        return None if s == E.OK else E.error_for(s, self.errors[i])

    def raise_for_errors(self):
        """Raises the first failed item's exception (its message names the item index)."""
        for i, s in enumerate(self.statuses):
            if s != E.OK:
                raise E.error_for(int(s), "item %d: %s" % (i, self.errors[i]))
        return self

    def __repr__(self):
        return "<libfeat.Result %d x %d, %d failed>" % (self.features.shape + (self.n_failed,))


# ---- handles ---------------------------------------------------------------------------------

class _Handle:
    """A C handle freed exactly once (close(), the context manager, or the finalizer)."""

    _free = None  # set per subclass (staticmethod-like: a ctypes function)
    _h = None

    def __init__(self):
        self._h = None
        self._lock = threading.Lock()

    def _take(self):
        """Marks the handle in use by this thread; an extractor is one thread at a time."""
        if not self._lock.acquire(blocking=False):
            raise E.StateError(E.E_STATE, "%s is in use by another thread; give each thread its own clone()"
                               % type(self).__name__)
        if self._h is None:
            self._lock.release()
            raise E.StateError(E.E_STATE, "%s is closed" % type(self).__name__)
        return self._h

    def close(self):
        """Frees the C object. Safe to call more than once; waits for a call in progress."""
        lock = getattr(self, "_lock", None)
        if lock is not None:
            with lock:
                h, self._h = self._h, None
        else:
            h, self._h = self._h, None
        if h:
            type(self)._free(h)

    def __del__(self):
        h, self._h = self._h, None
        if h:
            type(self)._free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def closed(self):
        return self._h is None


class _Options:
    """Builds an options object, applies setters, frees it (options are copied at load)."""

    def __init__(self, new, free):
        h = ctypes.c_void_p()
        check(new(ctypes.byref(h)), lib.feat_last_error)
        self.h, self.free = h.value, free

    def set(self, fn, *args):
        check(fn(self.h, *args), lib.feat_last_error)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free(self.h)


def _carray(ctype, values):
    return (ctype * len(values))(*values)


class _Extractor(_Handle):
    _prefix = None
    _object = "extractor"  # or "ensemble": the C object whose functions _fn names

    def _fn(self, name):
        return getattr(lib, "feat_%s_%s_%s" % (self._prefix, self._object, name))

    def _err(self, h):
        return lambda: self._fn("last_error")(h)

    @classmethod
    def _wrap(cls, handle):
        obj = cls.__new__(cls)
        _Handle.__init__(obj)
        obj._h = handle
        return obj

    def clone(self):
        """A new extractor sharing this one's weights, for another thread."""
        h = self._take()
        try:
            out = ctypes.c_void_p()
            check(self._fn("clone")(h, ctypes.byref(out)), self._err(h))
        finally:
            self._lock.release()
        return type(self)._wrap(out.value)

    @property
    def dim(self):
        """Length of one fused feature row."""
        return int(self._fn("dim")(self._h)) if self._h else 0

    @property
    def taps(self):
        """Resolved taps, as "path:pool" strings."""
        if not self._h:
            return []
        n = int(self._fn("n_taps")(self._h))
        return [self._fn("tap")(self._h, i).decode() for i in range(n)]

    @property
    def tap_dims(self):
        """Pooled length of each tap, in tap order (concat fusion: the row's column blocks)."""
        if not self._h:
            return []
        n = int(self._fn("n_taps")(self._h))
        return [int(self._fn("tap_dim")(self._h, i)) for i in range(n)]

    def cancel(self):
        """Asks a call in progress (on another thread) to stop with Cancelled. Any thread."""
        h = self._h
        if h:
            self._fn("cancel")(h)

    def _run(self, call):
        h = self._take()
        try:
            out = ctypes.c_void_p()
            check(call(h, ctypes.byref(out)), self._err(h))
        finally:
            self._lock.release()
        return Result(out.value)


class ImageExtractor(_Extractor):
    """Image features from a TorchScript model.

    One thread at a time per extractor (ctypes releases the GIL during extraction, so threads
    really run in parallel): give each thread its own ``clone()``, which shares the weights.
    """

    _prefix = "image"
    _free = lib.feat_image_extractor_free

    def __init__(self, model, taps=None, preset=None, fusion=None, resize=None, crop=None, interpolation=None,
                 mean=None, std=None, exif_orientation=None, max_pixels=None, decode_mode=None, batch_size=None,
                 decode_threads=None, device=None, precision=None):
        super().__init__()
        with _Options(lib.feat_image_options_new, lib.feat_image_options_free) as o:
            if taps is not None:
                o.set(lib.feat_image_options_set_taps, taps.encode())
            if fusion is not None:
                o.set(lib.feat_image_options_set_fusion, _enum(fusion, _FUSIONS, "fusion"))
            if preset is not None:
                o.set(lib.feat_image_options_set_preset, _enum(preset, _PRESETS, "preset"))
            if resize is not None:
                o.set(lib.feat_image_options_set_resize, int(resize))
            if crop is not None:
                w, h = (crop, crop) if isinstance(crop, int) else crop
                o.set(lib.feat_image_options_set_crop, int(w), int(h))
            if interpolation is not None:
                o.set(lib.feat_image_options_set_interpolation, _enum(interpolation, _INTERPS, "interpolation"))
            if mean is not None or std is not None:
                m = _carray(ctypes.c_float, [float(x) for x in mean]) if mean is not None else None
                s = _carray(ctypes.c_float, [float(x) for x in std]) if std is not None else None
                o.set(lib.feat_image_options_set_mean_std, m, s)
            if exif_orientation is not None:
                o.set(lib.feat_image_options_set_exif_orientation, 1 if exif_orientation else 0)
            if max_pixels is not None:
                o.set(lib.feat_image_options_set_max_pixels, int(max_pixels))
            if decode_mode is not None:
                o.set(lib.feat_image_options_set_decode_mode, _enum(decode_mode, _DECODE, "decode mode"))
            if batch_size is not None:
                o.set(lib.feat_image_options_set_batch_size, int(batch_size))
            if decode_threads is not None:
                o.set(lib.feat_image_options_set_decode_threads, int(decode_threads))
            if device is not None:
                o.set(lib.feat_image_options_set_device, device.encode())
            if precision is not None:
                o.set(lib.feat_image_options_set_precision, _enum(precision, _PRECISIONS, "precision"))
            h = ctypes.c_void_p()
            check(lib.feat_image_extractor_new(ctypes.byref(h)), lib.feat_last_error)
            self._h = h.value
            check(lib.feat_image_extractor_load(self._h, _path(model), o.h), self._err(self._h))

    def extract_files(self, paths):
        """One row per image file. A file that cannot be read or decoded fails alone."""
        raw = [_path(p) for p in paths]
        arr = _carray(ctypes.c_char_p, raw)
        return self._run(lambda h, out: self._fn("extract_files")(h, arr, len(raw), out))

    def extract_bytes(self, blobs):
        """One row per encoded image (JPEG/PNG bytes) in memory."""
        keep = [b if isinstance(b, bytes) else bytes(memoryview(b)) for b in blobs]
        ptrs = _carray(ctypes.c_void_p, [ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p).value for b in keep])
        sizes = _carray(ctypes.c_size_t, [len(b) for b in keep])
        return self._run(lambda h, out: self._fn("extract_encoded")(h, ptrs, sizes, len(keep), out))

    def extract_pixels(self, images):
        """One row per RGB image: HxWx3 uint8 arrays (a list, or one NxHxWx3 array)."""
        keep = []
        for im in images:
            a = np.asarray(im)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
                raise E.InvalidArgument(E.E_INVALID_ARGUMENT,
                                        "extract_pixels wants HxWx3 uint8 arrays, got %s %s" % (a.dtype, a.shape))
            if a.strides[2] != 1 or a.strides[1] != 3 or a.strides[0] < 3 * a.shape[1]:
                a = np.ascontiguousarray(a)
            keep.append(a)
        n = len(keep)
        px = (ctypes.POINTER(ctypes.c_uint8) * n)(*[a.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)) for a in keep])
        ws = _carray(ctypes.c_uint32, [a.shape[1] for a in keep])
        hs = _carray(ctypes.c_uint32, [a.shape[0] for a in keep])
        st = _carray(ctypes.c_size_t, [a.strides[0] for a in keep])
        return self._run(lambda h, out: self._fn("extract_rgb8")(h, px, ws, hs, st, n, out))


def _utf8(texts):
    return [t if isinstance(t, bytes) else str(t).encode("utf-8", "surrogatepass") for t in texts]


class TextExtractor(_Extractor):
    """Text features (embeddings) from a TorchScript BERT-family model.

    Same thread rule as ImageExtractor: one thread at a time, ``clone()`` per thread.
    """

    _prefix = "text"
    _free = lib.feat_text_extractor_free

    def __init__(self, model, vocab=None, taps=None, max_length=None, lowercase=None, strip_accents=None,
                 truncation=None, window_stride=None, window_pooling=None, utf8=None, fusion=None,
                 batch_size=None, device=None, precision=None):
        super().__init__()
        with _Options(lib.feat_text_options_new, lib.feat_text_options_free) as o:
            _text_options(o, lowercase, strip_accents, max_length, truncation, utf8)
            if taps is not None:
                o.set(lib.feat_text_options_set_taps, taps.encode())
            if window_stride is not None:
                o.set(lib.feat_text_options_set_window_stride, int(window_stride))
            if window_pooling is not None:
                o.set(lib.feat_text_options_set_window_pooling, _enum(window_pooling, _WINDOW, "window pooling"))
            if fusion is not None:
                o.set(lib.feat_text_options_set_fusion, _enum(fusion, _FUSIONS, "fusion"))
            if batch_size is not None:
                o.set(lib.feat_text_options_set_batch_size, int(batch_size))
            if device is not None:
                o.set(lib.feat_text_options_set_device, device.encode())
            if precision is not None:
                o.set(lib.feat_text_options_set_precision, _enum(precision, _PRECISIONS, "precision"))
            h = ctypes.c_void_p()
            check(lib.feat_text_extractor_new(ctypes.byref(h)), lib.feat_last_error)
            self._h = h.value
            check(lib.feat_text_extractor_load(self._h, _path(model), _path(vocab), o.h), self._err(self._h))
        _blas.warn_once()

    def extract(self, texts):
        """One row per text (str, or UTF-8 bytes). Invalid UTF-8 fails only its own item."""
        raw = _utf8(texts)
        arr = _carray(ctypes.c_char_p, raw)
        lens = _carray(ctypes.c_size_t, [len(b) for b in raw])
        return self._run(lambda h, out: self._fn("extract")(h, arr, lens, len(raw), out))

    def extract_pairs(self, texts_a, texts_b):
        """One row per sentence pair (token type ids 0 and 1)."""
        a, b = _utf8(texts_a), _utf8(texts_b)
        if len(a) != len(b):
            raise E.InvalidArgument(E.E_INVALID_ARGUMENT, "extract_pairs: %d texts_a but %d texts_b" % (len(a), len(b)))
        aa, ab = _carray(ctypes.c_char_p, a), _carray(ctypes.c_char_p, b)
        la, lb = _carray(ctypes.c_size_t, [len(x) for x in a]), _carray(ctypes.c_size_t, [len(x) for x in b])
        return self._run(lambda h, out: self._fn("extract_pairs")(h, aa, la, ab, lb, len(a), out))

    @property
    def tokenizer(self):
        """The extractor's tokenizer (borrowed: it keeps this extractor alive, never frees)."""
        if not self._h:
            raise E.StateError(E.E_STATE, "TextExtractor is closed")
        return Tokenizer._borrowed(lib.feat_text_extractor_tokenizer(self._h), self)


class _Ensemble:
    """Several loaded extractors on the same inputs: one row per input, the members' rows side
    by side in the order given (feat_image_ensemble / feat_text_ensemble). The ensemble borrows
    the extractors; it keeps them alive, and they must not be used elsewhere during its calls.
    An input that fails for any member is a failed row, its message naming that member."""

    _object = "ensemble"

    def __init__(self, extractors, names=None):
        _Handle.__init__(self)
        self.members = list(extractors)
        names = list(names) if names is not None else [None] * len(self.members)
        if len(names) != len(self.members):
            raise E.InvalidArgument(E.E_INVALID_ARGUMENT, "%d names for %d extractors" % (len(names), len(self.members)))
        h = ctypes.c_void_p()
        check(self._fn("new")(ctypes.byref(h)), lib.feat_last_error)
        self._h = h.value
        for ex, name in zip(self.members, names):
            if not isinstance(ex, self._member_type) or ex.closed:
                raise E.InvalidArgument(E.E_INVALID_ARGUMENT, "members must be open %s objects" %
                                        self._member_type.__name__)
            check(self._fn("add")(self._h, ex._h, None if name is None else str(name).encode()), self._err(self._h))

    @property
    def dim(self):
        """Length of one row: the sum of the members' dims."""
        return int(self._fn("dim")(self._h)) if self._h else 0

    def __len__(self):
        return int(self._fn("n_members")(self._h)) if self._h else 0

    def clone(self):
        raise E.Unsupported(E.E_UNSUPPORTED, "an ensemble is not cloned: make one per thread over cloned members")

    def cancel(self):
        raise E.Unsupported(E.E_UNSUPPORTED, "cancel the members (their cancel() stops the ensemble's call)")

    @property
    def taps(self):
        """Every member's resolved taps, in column order."""
        return [t for m in self.members for t in m.taps]

    @property
    def tap_dims(self):
        """Every member's tap sizes, in column order."""
        return [d for m in self.members for d in m.tap_dims]


class ImageEnsemble(_Ensemble, ImageExtractor):
    """ImageEnsemble([ex_a, ex_b], names=None): each image is decoded once (per decode setting)
    and preprocessed once per group of members with the same preprocessing."""

    _free = lib.feat_image_ensemble_free
    _member_type = ImageExtractor


class TextEnsemble(_Ensemble, TextExtractor):
    """TextEnsemble([ex_a, ex_b], names=None): each member tokenizes with its own vocabulary."""

    _free = lib.feat_text_ensemble_free
    _member_type = TextExtractor

    @property
    def tokenizer(self):
        raise E.Unsupported(E.E_UNSUPPORTED, "each member has its own tokenizer: use members[i].tokenizer")


def _text_options(o, lowercase, strip_accents, max_length, truncation, utf8):
    if lowercase is not None:
        o.set(lib.feat_text_options_set_lowercase, _tristate(lowercase))
    if strip_accents is not None:
        o.set(lib.feat_text_options_set_strip_accents, _tristate(strip_accents))
    if max_length is not None:
        o.set(lib.feat_text_options_set_max_length, int(max_length))
    if truncation is not None:
        o.set(lib.feat_text_options_set_truncation, _enum(truncation, _TRUNC, "truncation"))
    if utf8 is not None:
        o.set(lib.feat_text_options_set_utf8_policy, _enum(utf8, _UTF8, "utf8 policy"))


Encoding = namedtuple("Encoding", "ids type_ids attention_mask sequence_ids offsets byte_offsets tokens n_truncated")
Encoding.__doc__ = """One encoded text: int32 arrays ids/type_ids/attention_mask/sequence_ids, (n, 2) int64
offsets (code points, i.e. Python str indices) and byte_offsets (UTF-8), token strings, and
the number of tokens truncation removed."""


class Tokenizer(_Handle):
    """BERT WordPiece tokenizer. A loaded tokenizer is read-only: any number of threads may
    call encode() at once."""

    _free = lib.feat_tokenizer_free

    def __init__(self, vocab, lowercase=None, strip_accents=None, max_length=None, truncation=None, utf8=None):
        super().__init__()
        self._parent = None
        with _Options(lib.feat_text_options_new, lib.feat_text_options_free) as o:
            _text_options(o, lowercase, strip_accents, max_length, truncation, utf8)
            h = ctypes.c_void_p()
            check(lib.feat_tokenizer_new(ctypes.byref(h)), lib.feat_last_error)
            self._h = h.value
            check(lib.feat_tokenizer_load(self._h, _path(vocab), o.h), lambda: lib.feat_tokenizer_last_error(self._h))

    @classmethod
    def _borrowed(cls, handle, parent):
        obj = cls.__new__(cls)
        obj._lock = threading.Lock()
        obj._h = None
        obj._view = handle  # never freed here: it belongs to the parent extractor
        obj._parent = parent
        return obj

    @property
    def _handle(self):
        h = self._h or getattr(self, "_view", None)
        if not h or (self._parent is not None and self._parent.closed):
            raise E.StateError(E.E_STATE, "Tokenizer is closed")
        return h

    @property
    def vocab_size(self):
        return int(lib.feat_tokenizer_vocab_size(self._handle))

    def __len__(self):
        return self.vocab_size

    def token_to_id(self, token):
        """Id of a token, None when the vocabulary lacks it."""
        i = lib.feat_tokenizer_token_to_id(self._handle, token.encode())
        return None if i < 0 else int(i)

    def id_to_token(self, i):
        s = lib.feat_tokenizer_id_to_token(self._handle, int(i))
        return None if s is None else s.decode("utf-8", "replace")

    def encode(self, text, pair=None):
        """Encodes one text, or a pair, as [CLS] A [SEP] (B [SEP])."""
        h = self._handle
        a = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        b = None if pair is None else (pair if isinstance(pair, bytes) else pair.encode("utf-8", "surrogatepass"))
        out = ctypes.c_void_p()
        # Encoding may run on several threads at once, so its errors live in the calling
        # thread's slot (feat_last_error), read right away on this same thread.
        check(lib.feat_tokenizer_encode(h, a, len(a), b, len(b) if b is not None else 0, ctypes.byref(out)),
              lib.feat_last_error)
        enc = out.value
        try:
            n = int(lib.feat_encoding_len(enc))

            def i32(fn):
                return np.ctypeslib.as_array(fn(enc), (n,)).copy() if n else np.zeros(0, np.int32)

            def off(fn):
                return np.ctypeslib.as_array(fn(enc), (n, 2)).copy() if n else np.zeros((0, 2), np.int64)

            ids = i32(lib.feat_encoding_ids)
            e = Encoding(ids, i32(lib.feat_encoding_type_ids), i32(lib.feat_encoding_attention_mask),
                         i32(lib.feat_encoding_sequence_ids), off(lib.feat_encoding_offsets_chars),
                         off(lib.feat_encoding_offsets_bytes), [self.id_to_token(i) for i in ids],
                         int(lib.feat_encoding_n_truncated(enc)))
        finally:
            lib.feat_encoding_free(enc)
        return e

    def close(self):
        if getattr(self, "_view", None):
            self._view, self._parent = None, None
            return
        super().close()


Layer = namedtuple("Layer", "path shape note")
Layer.__doc__ = "A submodule: dotted path, output shape (batch first; None when not tappable), note."


def layers(model, size=None):
    """Every submodule of a model with its output shape for one example input of
    ``size`` (image side, or tokens; None = 224 / 16)."""
    out = ctypes.c_void_p()
    check(lib.feat_layers_list(_path(model), int(size or 0), ctypes.byref(out)), lib.feat_last_error)
    h = out.value
    try:
        res = []
        dims = (ctypes.c_int64 * 16)()
        for i in range(int(lib.feat_layer_list_len(h))):
            rank = int(lib.feat_layer_list_shape(h, i, dims, 16))
            if rank > 16:
                big = (ctypes.c_int64 * rank)()
                lib.feat_layer_list_shape(h, i, big, rank)
                shape = tuple(big)
            else:
                shape = tuple(dims[:rank]) if rank else None
            res.append(Layer(lib.feat_layer_list_path(h, i).decode(), shape,
                             E._msg(lib.feat_layer_list_note(h, i))))
    finally:
        lib.feat_layer_list_free(h)
    return res
