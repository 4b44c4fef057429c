# SPDX-License-Identifier: MIT
"""libfeat: deep-learning features from images and text (Python bindings over libfeat.so).

    import libfeat
    with libfeat.ImageExtractor("vgg16.pt", taps="features.29:gap") as ex:
        r = ex.extract_files(["a.jpg", "b.png"])
        r.features      # (2, dim) float32, NaN rows for failed items
        r.statuses, r.errors

Threads: an extractor is used by one thread at a time (the GIL is released during extraction,
so threads do run in parallel); give each thread ``ex.clone()``, which shares the weights.
A loaded Tokenizer may be shared by any number of threads.
"""
from ._ffi import ABI_VERSION
from ._errors import (FeatError, InvalidArgument, OutOfMemory, NotFound, Unsupported, BufferTooSmall,
                      DecodeError, DeviceError, Cancelled, StateError, BackendError, InternalError, IOFailure,
                      LimitExceeded, ModelError, error_for)
from ._core import (Result, ImageExtractor, TextExtractor, ImageEnsemble, TextEnsemble, Tokenizer, Encoding, Layer, layers, set_threads,
                    threads, version, version_number, abi_version, library_path)
from ._finetune import finetune_images, finetune_texts, FinetuneReport

__version__ = "0.1.0"

__all__ = ["finetune_images", "finetune_texts", "FinetuneReport", "ImageEnsemble", "TextEnsemble", "ABI_VERSION", "FeatError", "InvalidArgument", "OutOfMemory", "NotFound", "Unsupported",
           "BufferTooSmall", "DecodeError", "DeviceError", "Cancelled", "StateError", "BackendError",
           "InternalError", "IOFailure", "LimitExceeded", "ModelError", "error_for", "Result", "ImageExtractor",
           "TextExtractor", "Tokenizer", "Encoding", "Layer", "layers", "set_threads", "threads", "version",
           "version_number", "abi_version", "library_path"]
