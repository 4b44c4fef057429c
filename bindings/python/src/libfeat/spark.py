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

from . import _blas
from . import _errors as E
from ._core import ImageExtractor, TextExtractor, set_threads, threads as _threads_in_force

__all__ = ["image_features", "text_features", "image_files", "list_files", "Featurizer", "clear_cache", "cached_extractors", "model_files"]

# ---- per-process extractor cache (lives in each executor's Python worker) ---------------------

_cache = {}
_loads = {}
_family = {}
_cache_lock = threading.Lock()


def _cached(key, make, family=None):
    """The extractor for ``key``, made once per process. A new key of the same ``family`` (the
    same model name and options with other content: a re-shipped or rewritten model) closes
    the older extractors of that family, so a long-lived worker does not keep every version."""
    stale = []
    with _cache_lock:
        ex = _cache.get(key)
        if ex is None or ex.closed:
            if family is not None:
                for k in [k for k, f in _family.items() if f == family and k != key]:
                    stale.append(_cache.pop(k, None))
                    _family.pop(k, None)
            ex = _cache[key] = make()
            _family[key] = family
            _loads[key] = _loads.get(key, 0) + 1
    for old in stale:
        if old is not None:
            old.close()
    return ex


def clear_cache():
    """Closes and forgets the extractors this process has cached."""
    with _cache_lock:
        items = list(_cache.values())
        _cache.clear()
        _family.clear()
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


# Shipping by content. SparkContext.addFile registers a file by its name for the life of the
# application: adding a changed model under the same path again is ignored ("path has been
# added already"), so executors would keep the old weights. The driver therefore ships a
# staged copy named by the SHA-256 of the model's file set: a changed model gets a new name and
# is shipped again, an unchanged one keeps its name and is fetched once per executor however
# many jobs use it. The copy is what is served, so a model rewritten in place while the
# application runs cannot change what the name stands for.

_digests = {}        # (path, size, mtime_ns, inode) -> sha256 of the content
_stage_dirs = {}     # pid -> staging folder of this driver process
_stage_lock = threading.Lock()


def _stat_key(path):
    st = os.stat(path)
    return (path, st.st_size, st.st_mtime_ns, st.st_ino)


def _copy_hashing(src, dst):
    import hashlib

    h = hashlib.sha256()
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        for chunk in iter(lambda: fi.read(1 << 20), b""):
            h.update(chunk)
            fo.write(chunk)
    return h.hexdigest()


def _stage_dir():
    import atexit
    import shutil
    import tempfile

    with _stage_lock:
        d = _stage_dirs.get(os.getpid())
        if d is None or not os.path.isdir(d):
            d = _stage_dirs[os.getpid()] = tempfile.mkdtemp(prefix="libfeat-ship-")
            atexit.register(shutil.rmtree, d, True)
        return d


def _ship(spark, files):
    """Stages ``files`` under ``<digest>-<name>`` and adds them to the SparkContext; returns
    the digest (16 hex digits of the SHA-256 over the names and contents of the set)."""
    import hashlib

    stage = _stage_dir()
    per_file = []
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError("libfeat.spark: %s does not exist on the driver (use ship_model=False for a path "
                                    "that only the executors can read)" % f)
        key = _stat_key(f)
        digest = _digests.get(key)
        tmp = None
        if digest is None:  # hash while copying, so the staged bytes are the hashed bytes
            tmp = os.path.join(stage, ".tmp-%d-%s" % (os.getpid(), os.path.basename(f)))
            digest = _digests[key] = _copy_hashing(f, tmp)
        per_file.append((f, digest, tmp))
    h = hashlib.sha256()
    for f, digest, _ in per_file:
        h.update(os.path.basename(f).encode() + b"\0" + digest.encode() + b"\0")
    set_digest = h.hexdigest()[:16]
    sc = spark.sparkContext
    for f, digest, tmp in per_file:
        dst = os.path.join(stage, "%s-%s" % (set_digest, os.path.basename(f)))
        if not os.path.exists(dst):
            if tmp is None:  # digest known from an earlier call, but not staged in this set yet
                tmp = os.path.join(stage, ".tmp-%d-%s" % (os.getpid(), os.path.basename(f)))
                if _copy_hashing(f, tmp) != digest:
                    os.unlink(tmp)
                    raise RuntimeError("libfeat.spark: %s changed while it was being shipped; try again" % f)
            os.replace(tmp, dst)
        elif tmp is not None:
            os.unlink(tmp)
        sc.addFile(dst)  # the same digest-named path again is a no-op in Spark
    return set_digest


def _shipped_folder(digest, names):
    """On an executor: a folder ``libfeat-<digest>`` in the SparkFiles root holding the shipped
    files under their original names (symbolic links), so that the side-car's relative
    vocabulary path resolves as it did on the driver."""
    import shutil
    import tempfile

    from pyspark import SparkFiles

    root = SparkFiles.getRootDirectory()
    folder = os.path.join(root, "libfeat-" + digest)
    if os.path.isdir(folder):
        return folder
    for n in names:
        if not os.path.isfile(os.path.join(root, "%s-%s" % (digest, n))):
            raise FileNotFoundError("libfeat.spark: the shipped file %s-%s is not in this executor's SparkFiles "
                                    "folder %s" % (digest, n, root))
    tmp = tempfile.mkdtemp(prefix=".libfeat-", dir=root)
    for n in names:
        os.symlink(os.path.join("..", "%s-%s" % (digest, n)), os.path.join(tmp, n))
    try:
        os.rename(tmp, folder)  # atomic: the Python workers of one executor may race here
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.isdir(folder):
            raise
    return folder


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

    def __init__(self, kind, model, vocab, digest, names, options, input_col, pair_col, mode, out_cols, key_col,
                 threads, rows_per_call, keep_input):
        self.kind, self.model, self.vocab, self.digest, self.names = kind, model, vocab, digest, names
        self.options = dict(options)
        self.input_col, self.pair_col, self.mode, self.key_col = input_col, pair_col, mode, key_col
        self.output_col, self.status_col, self.error_col, self.warning_col = out_cols
        self.threads, self.rows_per_call, self.keep_input = threads, rows_per_call, keep_input

    def extractor(self):
        opts = tuple(sorted((k, repr(v)) for k, v in self.options.items()))
        family = (self.kind, self.model, self.vocab, opts)
        if self.digest is not None:
            folder = _shipped_folder(self.digest, self.names)
            model = os.path.join(folder, os.path.basename(self.model))
            vocab = None if self.vocab is None else os.path.join(folder, os.path.basename(self.vocab))
            version = self.digest
        else:
            model, vocab = self.model, self.vocab
            try:  # a shared model rewritten at the same path is loaded again by a reused worker
                version = _stat_key(model)[1:3]
            except OSError:
                version = None  # let the load report the path
        key = (self.kind, model, vocab, opts, version)
        if self.kind == "image":
            return _cached(key, lambda: ImageExtractor(model, **self.options), family)
        return _cached(key, lambda: TextExtractor(model, vocab=vocab, **self.options), family)

    @staticmethod
    def warning_text(coretype):
        return ("OpenBLAS on this executor does not recognise the CPU and uses its generic kernels (about 3x slower "
                "for text models): set spark.executorEnv.OPENBLAS_CORETYPE=%s" % coretype)

    def warning(self):
        """The executor's performance warning for this job's rows, or None: today OpenBLAS's
        generic-kernel fallback, which costs text models about 3x and would otherwise only be
        a RuntimeWarning in the executor's log (libfeat._blas)."""
        if self.kind != "text":
            return None
        coretype = _blas.suggested_coretype()
        return self.warning_text(coretype) if coretype else None

    def __call__(self, batches):
        n_threads = self.threads or _task_cpus()
        # Process-wide, and a Python worker runs one task at a time: set it before any call.
        if _threads_in_force() != n_threads:
            set_threads(n_threads)
        ex = self.extractor()
        warning = self.warning()
        for pdf in batches:
            yield self.process(ex, pdf, warning)

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

    def _namer(self, pdf):
        """name(i, message): the message of row i, naming its input. From paths the library's
        message starts with the path already; from bytes or text it only knows the item's index
        inside one call ("item 3: ..."), which means nothing to the user, so that prefix is
        replaced by the row's key (key_col, e.g. binaryFile's path) or else the text's start."""
        keys = None if self.key_col is None else pdf[self.key_col]
        col = pdf[self.input_col]

        def name(i, j, message):
            if j is not None and message.startswith("item %d: " % j):
                message = message[len("item %d: " % j):]
            if keys is not None:
                return "%s: %s" % (keys.iat[i], message)
            if self.mode == "path":
                return message
            v = col.iat[i]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return message
            if self.kind == "text":
                return "%s: %s" % (repr(v[:40]) + ("..." if len(v) > 40 else ""), message)
            from pyspark import TaskContext

            tc = TaskContext.get()
            where = "partition %d, " % tc.partitionId() if tc is not None else ""
            return "row %s(%d bytes): %s" % (where, len(v), message)

        return name

    def process(self, ex, pdf, warning=None):
        import pandas as pd

        n = len(pdf)
        feats = [None] * n
        status = np.zeros(n, dtype=np.int32)
        errors = [None] * n
        name = self._namer(pdf)
        col = pdf[self.input_col]
        null = col.isna().to_numpy()
        if self.pair_col is not None:
            pcol = pdf[self.pair_col]
            null |= pcol.isna().to_numpy()
        todo = []
        for i in range(n):
            if null[i]:
                status[i], errors[i] = E.E_INVALID_ARGUMENT, name(i, None, "null input")
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
                errors[i] = "%s: not a local path or file: URI (read remote files with binaryFile and pass the " \
                            "content)" % col.iat[i]
            if not rows:
                continue
            pairs = None if self.pair_col is None else [pcol.iat[i] for i in rows]
            try:
                r = self._call(ex, values, pairs)
            except E.FeatError as e:  # the whole call failed (e.g. out of memory): mark its rows
                for i in rows:
                    status[i], errors[i] = e.status, name(i, None, str(e))
                continue
            f = r.copy()
            for j, i in enumerate(rows):
                s = int(r.statuses[j])
                if s == E.OK:
                    feats[i] = f[j]
                else:
                    status[i], errors[i] = s, name(i, j, r.errors[j])
        out = pdf if self.keep_input else pdf.drop(columns=[self.input_col])
        out = out.copy(deep=False)
        out[self.output_col] = pd.Series(feats, index=pdf.index, dtype=object)
        out[self.status_col] = pd.Series(status, index=pdf.index)
        out[self.error_col] = pd.Series(errors, index=pdf.index, dtype=object)
        if self.warning_col is not None:
            out[self.warning_col] = pd.Series([warning] * n, index=pdf.index, dtype=object)
        return out


# ---- public functions --------------------------------------------------------------------------

def _allowed(cls, options, reserved):
    params = set(inspect.signature(cls.__init__).parameters) - {"self", "model"} - set(reserved)
    unknown = sorted(set(options) - params)
    if unknown:
        raise TypeError("unknown %s option(s) %s (one of %s)" % (cls.__name__, ", ".join(unknown),
                                                                  ", ".join(sorted(params))))


def _run(kind, df, model, vocab, input_col, pair_col, output_col, status_col, error_col, threads, rows_per_call,
         ship_model, keep_input, options, key_col=None):
    from pyspark.sql import SparkSession
    from pyspark.sql.types import (ArrayType, BinaryType, FloatType, IntegerType, StringType, StructField,
                                   StructType)

    fields = {f.name: f for f in df.schema.fields}
    for c in [input_col] + ([pair_col] if pair_col else []) + ([key_col] if key_col else []):
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
    if key_col is None and mode == "bytes" and "path" in fields:
        key_col = "path"  # binaryFile's: name the file in the messages of its row
    status_col = status_col or output_col + "_status"
    error_col = error_col or output_col + "_error"
    warning_col = output_col + "_warning" if kind == "text" else None
    for c in (output_col, status_col, error_col, warning_col):
        if c is not None and c in fields and not (c == input_col and not keep_input):
            raise ValueError("the DataFrame already has a column %r" % c)
    if threads is not None and int(threads) < 1:
        raise ValueError("threads must be >= 1 (or None for spark.task.cpus)")
    if int(rows_per_call) < 1:
        raise ValueError("rows_per_call must be >= 1")
    digest, names = None, None
    if ship_model:
        spark = SparkSession.getActiveSession() or df.sparkSession
        files = model_files(model, vocab)
        digest = _ship(spark, files)
        names = [os.path.basename(f) for f in files]
        model = os.path.abspath(model)
        vocab = os.path.abspath(vocab) if vocab is not None else None
    job = _Job(kind, model, vocab, digest, names, options, input_col, pair_col, mode,
               (output_col, status_col, error_col, warning_col), key_col, None if threads is None else int(threads),
               int(rows_per_call), keep_input)
    schema = StructType([f for f in df.schema.fields if keep_input or f.name != input_col] + [
        StructField(output_col, ArrayType(FloatType(), containsNull=False), True),
        StructField(status_col, IntegerType(), False),
        StructField(error_col, StringType(), True),
    ] + ([StructField(warning_col, StringType(), True)] if warning_col else []))
    return df.mapInPandas(job, schema)


def image_features(df, model, input_col="content", output_col="features", *, taps=None, batch_size=None,
                   threads=None, rows_per_call=64, ship_model=True, status_col=None, error_col=None,
                   keep_input=True, key_col=None, **options):
    """Adds image features to ``df``.

    ``input_col`` is a binary column of encoded JPEG/PNG bytes (``spark.read.format("binaryFile")``
    gives ``content``) or a string column of local paths / ``file:`` URIs readable on the
    executors. ``batch_size`` is images per forward pass; ``rows_per_call`` rows go to one
    extract call (the memory bound: rows_per_call x dim floats); ``threads`` is the inference
    threads of each task (default spark.task.cpus). ``key_col`` names the row in error messages
    (default: ``path`` when the input is bytes and the DataFrame has one, as binaryFile's does).
    Other keyword arguments are ImageExtractor's (preset, resize, crop, interpolation,
    exif_orientation, max_pixels, decode_mode, decode_threads, fusion, mean, std, device).
    ``keep_input=False`` drops ``input_col`` from the output (saves moving the image bytes back
    through Arrow). Reading a folder, ``image_files`` also reports the files Spark's scan skips.
    """
    _allowed(ImageExtractor, options, ["taps", "batch_size"])
    opts = dict(options, taps=taps, batch_size=batch_size)
    opts = {k: v for k, v in opts.items() if v is not None}
    return _run("image", df, model, None, input_col, None, output_col, status_col, error_col, threads, rows_per_call,
                ship_model, keep_input, opts, key_col)


def text_features(df, model, input_col="text", output_col="features", *, vocab=None, pair_col=None, taps=None,
                  max_length=None, batch_size=None, threads=None, rows_per_call=256, ship_model=True,
                  status_col=None, error_col=None, keep_input=True, key_col=None, **options):
    """Adds text embeddings to ``df``: one row per string (or UTF-8 binary) in ``input_col``;
    with ``pair_col``, one per sentence pair. ``vocab`` defaults to the model's side-car.
    Besides ``features``/``_status``/``_error`` the result has ``<output_col>_warning``: null,
    or the executor's performance warning (OpenBLAS fell back to its generic kernels).
    Error messages start with ``key_col``'s value, else the text's first 40 characters.
    Other keyword arguments are TextExtractor's (lowercase, strip_accents, truncation,
    window_stride, window_pooling, utf8, fusion, device). Same batching, threads and
    shipping parameters as image_features."""
    _allowed(TextExtractor, options, ["vocab", "taps", "max_length", "batch_size"])
    opts = dict(options, taps=taps, max_length=max_length, batch_size=batch_size)
    opts = {k: v for k, v in opts.items() if v is not None}
    return _run("text", df, model, vocab, input_col, pair_col, output_col, status_col, error_col, threads,
                rows_per_call, ship_model, keep_input, opts, key_col)


# ---- reading a folder of images without losing files ------------------------------------------

NOT_READ = ("not read: Spark's binaryFile scan returned no content for this file (an empty file, or a read "
            "error that the executor's log names)")


def _hadoop_path(uri):
    """Hadoop's Path.toString() of a listed URI (DataFrame.inputFiles() gives URIs with %-escapes;
    binaryFile's path column is the decoded form)."""
    from urllib.parse import unquote, urlsplit

    u = urlsplit(uri)
    s = u.scheme + ":" if u.scheme else ""
    if u.netloc:
        s += "//" + unquote(u.netloc)
    s += unquote(u.path)
    if u.fragment:
        s += "#" + unquote(u.fragment)
    return s


def list_files(spark, path, glob=None, recursive=False):
    """The files Spark's binaryFile source lists under ``path`` (a path, a glob, or a list of
    them; ``glob`` is pathGlobFilter, ``recursive`` recursiveFileLookup): driver-side, no job,
    empty files included. Paths in the form of binaryFile's ``path`` column."""
    return [_hadoop_path(u) for u in _binary_reader(spark, glob, recursive).load(path).inputFiles()]


def _binary_reader(spark, glob, recursive):
    r = spark.read.format("binaryFile")
    if glob:
        r = r.option("pathGlobFilter", glob)
    if recursive:
        r = r.option("recursiveFileLookup", "true")
    return r


def image_files(spark, path, model, *, glob=None, recursive=False, read="auto", partitions=None,
                output_col="features", status_col=None, error_col=None, **kwargs):
    """Features of every file under ``path``: exactly one row per listed file, the ones that
    cannot be decoded or read included, as error rows that name the file.

    ``read="path"``: the listed paths are opened by the executors themselves (the files must
    be on a file system every executor mounts); a zero-byte, unreadable or vanished file gets
    the library's own status and message, as from the CLI. ``partitions`` (default
    4 x spark.default.parallelism, at most one per file) spreads the list over the tasks.

    ``read="content"``: Spark's binaryFile scan reads the bytes (any Hadoop file system: HDFS,
    S3, ...). That scan drops zero-byte files and, with ignoreCorruptFiles and ignoreMissingFiles
    (set here so that one unreadable or vanished file does not fail the job), those; the files
    it did not return
    are joined back from the listing as rows with status FEAT_E_IO and ``NOT_READ`` after the
    path. The join moves the feature rows (not the image bytes) through one shuffle.

    ``read="auto"`` (default): "path" when every listed file is a ``file:`` path, else
    "content". Other keyword arguments are image_features' (taps, batch_size, ship_model, ...).
    Result: ``path`` (binaryFile's form), [``modificationTime``, ``length`` from "content"],
    the features, status and error columns.
    """
    from pyspark.sql import functions as F

    if read not in ("auto", "path", "content"):
        raise ValueError("read is %r; want auto, path or content" % (read,))
    if "input_col" in kwargs or "keep_input" in kwargs:
        raise TypeError("image_files chooses input_col and keep_input itself")
    scan = _binary_reader(spark, glob, recursive).option("ignoreCorruptFiles", "true") \
        .option("ignoreMissingFiles", "true").load(path)
    listed = [_hadoop_path(u) for u in scan.inputFiles()]
    if read == "auto":
        read = "path" if all(p.startswith("file:") for p in listed) else "content"
    status_col = status_col or output_col + "_status"
    error_col = error_col or output_col + "_error"
    cols = dict(output_col=output_col, status_col=status_col, error_col=error_col)
    if read == "path":
        sc = spark.sparkContext
        n = partitions or 4 * sc.defaultParallelism
        n = max(1, min(int(n), len(listed)))
        df = spark.createDataFrame(sc.parallelize([(p,) for p in listed], n), "path string")
        return image_features(df, model, input_col="path", keep_input=True, **cols, **kwargs)
    feats = image_features(scan, model, input_col="content", keep_input=False, key_col="path", **cols, **kwargs)
    names = spark.createDataFrame([(p,) for p in listed], "path string")
    out = names.join(feats, on="path", how="left")
    missing = F.col(status_col).isNull()
    return out.select(
        "path", "modificationTime", "length", output_col,
        F.coalesce(F.col(status_col), F.lit(E.E_IO)).alias(status_col),
        F.when(missing, F.concat(F.col("path"), F.lit(": " + NOT_READ))).otherwise(F.col(error_col)).alias(error_col))


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
