# SPDX-License-Identifier: MIT
"""Apache Spark: libfeat features as a DataFrame column (mapInPandas, one extractor per worker).

    from libfeat import spark as fs
    df = spark.read.format("binaryFile").load("/data/photos")          # or a column of paths
    out = fs.image_features(df, "resnet50.pt", input_col="content", taps="layer4:gap")
    lines = spark.read.text("/data/lines.txt")                           # column "value"
    emb = fs.text_features(lines, "minilm.pt", input_col="value", taps="encoder.layer.-1:mean")

The result has the input's columns plus three: ``features`` (array<float>; null when the row
failed), ``features_status`` (int: 0, else the libfeat status, e.g. -6 FEAT_E_DECODE) and
``features_error`` (string: the library's message; null when the row succeeded). A corrupt
image or a null input fails its own row, never the task.

Each Spark Python worker process keeps ONE extractor per (model, options) in a module-level
cache and reuses it for every batch and every later task it runs (Spark reuses Python
workers by default, ``spark.python.worker.reuse``), so a model is loaded once per worker,
not once per batch. The model files reach the executors either through
``SparkContext.addFile`` (``ship_model=True``, the default: the model, its side-car JSON and
its vocabulary are shipped and opened with ``SparkFiles.get``) or from a path that every
executor can read (``ship_model=False``: a shared file system, or a path baked into the
executors' image). ``threads`` is the inference thread budget of each task (default:
``spark.task.cpus``, i.e. TaskContext.cpus()). See docs/spark.md.
"""
import inspect
import os
import threading

import numpy as np

from . import _errors as E
from ._core import ImageExtractor, TextExtractor, set_threads, threads as _threads_in_force

__all__ = ["image_features", "text_features", "Featurizer", "clear_cache", "cached_extractors", "model_files"]

# ---- per-process extractor cache (lives in each executor's Python worker) ---------------------

_cache = {}
_loads = {}
_cache_lock = threading.Lock()


def _cached(key, make):
    with _cache_lock:
        ex = _cache.get(key)
        if ex is None or ex.closed:
            ex = _cache[key] = make()
            _loads[key] = _loads.get(key, 0) + 1
        return ex


def clear_cache():
    """Closes and forgets the extractors this process has cached."""
    with _cache_lock:
        items = list(_cache.values())
        _cache.clear()
    for ex in items:
        ex.close()


def cached_extractors():
    """{(kind, model path, vocab, options): times loaded} for the extractors this process
    has cached (diagnostics: with worker reuse each count stays 1)."""
    with _cache_lock:
        return {k: _loads.get(k, 0) for k in _cache}


# ---- model files -------------------------------------------------------------------------------

def model_files(model, vocab=None):
    """The local files a model needs on an executor: the .pt, its side-car (M.json or
    M.pt.json, as libfeat looks for it), the vocabulary the side-car names, and ``vocab``."""
    import json

    model = os.path.abspath(model)
    files = [model]
    sidecars = [model + ".json"]
    if model.endswith(".pt"):
        sidecars.insert(0, model[:-3] + ".json")
    for sc in sidecars:
        if os.path.isfile(sc):
            files.append(sc)
            try:
                with open(sc, encoding="utf-8") as f:
                    meta = json.load(f)
                v = (meta.get("text") or {}).get("vocab")
            except (OSError, ValueError, AttributeError):
                v = None
            if isinstance(v, str) and v:
                vp = v if os.path.isabs(v) else os.path.join(os.path.dirname(model), v)
                if os.path.isfile(vp):
                    if os.path.dirname(os.path.abspath(vp)) != os.path.dirname(model):
                        raise ValueError("%s names the vocabulary %s outside the model's folder; pass vocab= to "
                                         "ship it, or use ship_model=False" % (sc, v))
                    files.append(os.path.abspath(vp))
            break
    if vocab is not None:
        files.append(os.path.abspath(vocab))
    names = {}
    for f in files:
        other = names.setdefault(os.path.basename(f), f)
        if other != f:
            raise ValueError("two files to ship have the same name %s (%s, %s)" % (os.path.basename(f), other, f))
    return files


def _ship(spark, files):
    sc = spark.sparkContext
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError("libfeat.spark: %s does not exist on the driver (use ship_model=False for a path "
                                    "that only the executors can read)" % f)
        sc.addFile(f)  # adding the same path again is a no-op in Spark


def _local_path(p, shipped):
    if p is None or not shipped:
        return p
    from pyspark import SparkFiles

    return SparkFiles.get(os.path.basename(p))


def _task_cpus():
    try:
        from pyspark import TaskContext

        tc = TaskContext.get()
        return int(tc.cpus()) if tc is not None else 1
    except Exception:  # pragma: no cover - older Spark without TaskContext.cpus()
        return 1


def _file_path(v):
    """A local path from a path string or a file: URI (binaryFile's path column)."""
    if v.startswith("file://"):
        return v[7:] if v[7:8] == "/" else None  # file://host/... is not local
    if v.startswith("file:"):
        return v[5:]
    if "://" in v:
        return None
    return v


# ---- the job run by each worker ----------------------------------------------------------------

class _Job:
    """What mapInPandas runs on the executors (pickled by reference to this module)."""

    def __init__(self, kind, model, vocab, shipped, options, input_col, pair_col, mode, out_cols, threads,
                 rows_per_call, keep_input):
        self.kind, self.model, self.vocab, self.shipped = kind, model, vocab, shipped
        self.options = dict(options)
        self.input_col, self.pair_col, self.mode = input_col, pair_col, mode
        self.output_col, self.status_col, self.error_col = out_cols
        self.threads, self.rows_per_call, self.keep_input = threads, rows_per_call, keep_input

    def extractor(self):
        model = _local_path(self.model, self.shipped)
        vocab = _local_path(self.vocab, self.shipped)
        key = (self.kind, model, vocab, tuple(sorted((k, repr(v)) for k, v in self.options.items())))
        if self.kind == "image":
            return _cached(key, lambda: ImageExtractor(model, **self.options))
        return _cached(key, lambda: TextExtractor(model, vocab=vocab, **self.options))

    def __call__(self, batches):
        n_threads = self.threads or _task_cpus()
        # Process-wide, and a Python worker runs one task at a time: set it before any call.
        if _threads_in_force() != n_threads:
            set_threads(n_threads)
        ex = self.extractor()
        for pdf in batches:
            yield self.process(ex, pdf)

    def _inputs(self, values):
        if self.mode == "path":
            paths = [_file_path(v) for v in values]
            return paths, [i for i, p in enumerate(paths) if p is None]
        return values, []

    def _call(self, ex, values, pairs):
        if self.kind == "text":
            return ex.extract(values) if pairs is None else ex.extract_pairs(values, pairs)
        if self.mode == "path":
            return ex.extract_files(values)
        return ex.extract_bytes(values)

    def process(self, ex, pdf):
        import pandas as pd

        n = len(pdf)
        feats = [None] * n
        status = np.zeros(n, dtype=np.int32)
        errors = [None] * n
        col = pdf[self.input_col]
        null = col.isna().to_numpy()
        if self.pair_col is not None:
            pcol = pdf[self.pair_col]
            null |= pcol.isna().to_numpy()
        todo = []
        for i in range(n):
            if null[i]:
                status[i], errors[i] = E.E_INVALID_ARGUMENT, "null input"
            else:
                todo.append(i)
        step = max(1, int(self.rows_per_call))
        for start in range(0, len(todo), step):
            rows = todo[start:start + step]
            values = [col.iat[i] for i in rows]
            values, bad = self._inputs(values)
            for j in reversed(bad):
                i = rows.pop(j)
                values.pop(j)
                status[i] = E.E_INVALID_ARGUMENT
                errors[i] = "not a local path or file: URI (read remote files with binaryFile and pass the content)"
            if not rows:
                continue
            pairs = None if self.pair_col is None else [pcol.iat[i] for i in rows]
            try:
                r = self._call(ex, values, pairs)
            except E.FeatError as e:  # the whole call failed (e.g. out of memory): mark its rows
                for i in rows:
                    status[i], errors[i] = e.status, str(e)
                continue
            f = r.copy()
            for j, i in enumerate(rows):
                s = int(r.statuses[j])
                if s == E.OK:
                    feats[i] = f[j]
                else:
                    status[i], errors[i] = s, r.errors[j]
        out = pdf if self.keep_input else pdf.drop(columns=[self.input_col])
        out = out.copy(deep=False)
        out[self.output_col] = pd.Series(feats, index=pdf.index, dtype=object)
        out[self.status_col] = pd.Series(status, index=pdf.index)
        out[self.error_col] = pd.Series(errors, index=pdf.index, dtype=object)
        return out


# ---- public functions --------------------------------------------------------------------------

def _allowed(cls, options, reserved):
    params = set(inspect.signature(cls.__init__).parameters) - {"self", "model"} - set(reserved)
    unknown = sorted(set(options) - params)
    if unknown:
        raise TypeError("unknown %s option(s) %s (one of %s)" % (cls.__name__, ", ".join(unknown),
                                                                  ", ".join(sorted(params))))


def _run(kind, df, model, vocab, input_col, pair_col, output_col, status_col, error_col, threads, rows_per_call,
         ship_model, keep_input, options):
    from pyspark.sql import SparkSession
    from pyspark.sql.types import (ArrayType, BinaryType, FloatType, IntegerType, StringType, StructField,
                                   StructType)

    fields = {f.name: f for f in df.schema.fields}
    for c in [input_col] + ([pair_col] if pair_col else []):
        if c not in fields:
            raise ValueError("no column %r in the DataFrame (columns: %s)" % (c, ", ".join(fields)))
    dtype = fields[input_col].dataType
    if isinstance(dtype, BinaryType):
        mode = "bytes"
    elif isinstance(dtype, StringType):
        mode = "path" if kind == "image" else "text"
    else:
        raise ValueError("column %r is %s; want %s" % (input_col, dtype.simpleString(),
                                                       "string (paths) or binary (encoded images)" if kind == "image"
                                                       else "string or binary (UTF-8)"))
    status_col = status_col or output_col + "_status"
    error_col = error_col or output_col + "_error"
    for c in (output_col, status_col, error_col):
        if c in fields and not (c == input_col and not keep_input):
            raise ValueError("the DataFrame already has a column %r" % c)
    if threads is not None and int(threads) < 1:
        raise ValueError("threads must be >= 1 (or None for spark.task.cpus)")
    if int(rows_per_call) < 1:
        raise ValueError("rows_per_call must be >= 1")
    if ship_model:
        spark = SparkSession.getActiveSession() or df.sparkSession
        _ship(spark, model_files(model, vocab))
        model = os.path.abspath(model)
        vocab = os.path.abspath(vocab) if vocab is not None else None
    job = _Job(kind, model, vocab, bool(ship_model), options, input_col, pair_col, mode,
               (output_col, status_col, error_col), None if threads is None else int(threads), int(rows_per_call),
               keep_input)
    schema = StructType([f for f in df.schema.fields if keep_input or f.name != input_col] + [
        StructField(output_col, ArrayType(FloatType(), containsNull=False), True),
        StructField(status_col, IntegerType(), False),
        StructField(error_col, StringType(), True),
    ])
    return df.mapInPandas(job, schema)


def image_features(df, model, input_col="content", output_col="features", *, taps=None, batch_size=None,
                   threads=None, rows_per_call=64, ship_model=True, status_col=None, error_col=None,
                   keep_input=True, **options):
    """Adds image features to ``df``.

    ``input_col`` is a binary column of encoded JPEG/PNG bytes (``spark.read.format("binaryFile")``
    gives ``content``) or a string column of local paths / ``file:`` URIs readable on the
    executors. ``batch_size`` is images per forward pass; ``rows_per_call`` rows go to one
    extract call (the memory bound: rows_per_call x dim floats); ``threads`` is the inference
    threads of each task (default spark.task.cpus). Other keyword arguments are
    ImageExtractor's (preset, resize, crop, interpolation, exif_orientation, max_pixels,
    decode_mode, decode_threads, fusion, mean, std, device). ``keep_input=False`` drops
    ``input_col`` from the output (saves moving the image bytes back through Arrow).
    """
    _allowed(ImageExtractor, options, ["taps", "batch_size"])
    opts = dict(options, taps=taps, batch_size=batch_size)
    opts = {k: v for k, v in opts.items() if v is not None}
    return _run("image", df, model, None, input_col, None, output_col, status_col, error_col, threads, rows_per_call,
                ship_model, keep_input, opts)


def text_features(df, model, input_col="text", output_col="features", *, vocab=None, pair_col=None, taps=None,
                  max_length=None, batch_size=None, threads=None, rows_per_call=256, ship_model=True,
                  status_col=None, error_col=None, keep_input=True, **options):
    """Adds text embeddings to ``df``: one row per string (or UTF-8 binary) in ``input_col``;
    with ``pair_col``, one per sentence pair. ``vocab`` defaults to the model's side-car.
    Other keyword arguments are TextExtractor's (lowercase, strip_accents, truncation,
    window_stride, window_pooling, utf8, fusion, device). Same batching, threads and
    shipping parameters as image_features."""
    _allowed(TextExtractor, options, ["vocab", "taps", "max_length", "batch_size"])
    opts = dict(options, taps=taps, max_length=max_length, batch_size=batch_size)
    opts = {k: v for k, v in opts.items() if v is not None}
    return _run("text", df, model, vocab, input_col, pair_col, output_col, status_col, error_col, threads,
                rows_per_call, ship_model, keep_input, opts)


# ---- a PySpark ML Transformer ------------------------------------------------------------------

def _make_featurizer():
    from pyspark import keyword_only
    from pyspark.ml import Transformer
    from pyspark.ml.param import Param, Params, TypeConverters
    from pyspark.ml.param.shared import HasInputCol, HasOutputCol

    class Featurizer(Transformer, HasInputCol, HasOutputCol):
        """ML pipeline stage: ``Featurizer(kind="image", model="m.pt", inputCol="content",
        outputCol="features", taps="layer4:gap")``. Adds outputCol (array<float>) and
        outputCol_status / outputCol_error, like image_features / text_features."""

        kind = Param(Params._dummy(), "kind", "image or text", typeConverter=TypeConverters.toString)
        model = Param(Params._dummy(), "model", "TorchScript model file", typeConverter=TypeConverters.toString)
        vocab = Param(Params._dummy(), "vocab", "vocab.txt (text; default: the side-car's)",
                      typeConverter=TypeConverters.toString)
        taps = Param(Params._dummy(), "taps", "tap spec, e.g. layer4:gap", typeConverter=TypeConverters.toString)
        batchSize = Param(Params._dummy(), "batchSize", "inputs per forward pass", typeConverter=TypeConverters.toInt)
        threads = Param(Params._dummy(), "threads", "inference threads per task (default spark.task.cpus)",
                        typeConverter=TypeConverters.toInt)
        shipModel = Param(Params._dummy(), "shipModel", "ship the model with SparkContext.addFile",
                          typeConverter=TypeConverters.toBoolean)

        @keyword_only
        def __init__(self, *, kind="image", model=None, inputCol=None, outputCol="features", vocab=None, taps=None,
                     batchSize=None, threads=None, shipModel=True):
            super().__init__()
            self._setDefault(kind="image", outputCol="features", shipModel=True)
            self._set(**self._input_kwargs)

        def _opt(self, p):
            return self.getOrDefault(p) if self.isDefined(p) else None

        def _transform(self, dataset):
            kind, model = self.getOrDefault(self.kind), self._opt(self.model)
            if model is None:
                raise ValueError("Featurizer: set model")
            common = dict(input_col=self.getInputCol(), output_col=self.getOutputCol(), taps=self._opt(self.taps),
                          batch_size=self._opt(self.batchSize), threads=self._opt(self.threads),
                          ship_model=self.getOrDefault(self.shipModel))
            if kind == "image":
                return image_features(dataset, model, **common)
            if kind == "text":
                return text_features(dataset, model, vocab=self._opt(self.vocab), **common)
            raise ValueError("Featurizer: kind is %r; want image or text" % kind)

    Featurizer.__qualname__ = "Featurizer"
    Featurizer.__module__ = __name__
    return Featurizer


def __getattr__(name):  # Featurizer is built on first use, so importing this module needs no pyspark.ml
    if name == "Featurizer":
        cls = _make_featurizer()
        globals()["Featurizer"] = cls
        return cls
    raise AttributeError(name)
