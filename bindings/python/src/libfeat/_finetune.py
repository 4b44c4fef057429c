# SPDX-License-Identifier: MIT
"""Fine-tuning (feat/finetune.h): ``finetune_images`` / ``finetune_texts`` and their report."""
import ctypes
import math
import os
from collections import namedtuple

from ._errors import check
from ._ffi import lib

__all__ = ["finetune_images", "finetune_texts", "FinetuneReport", "SCHEDULES", "CACHE"]

SCHEDULES = {None: 0, "constant": 1, "cosine": 2}
CACHE = {None: 0, "off": 1, "on": 2}

#: What a run reports: per-epoch training loss and validation accuracy (NaN without a
#: validation split), the chosen epoch, every step's loss, whether the cache was used, and
#: per input item (status, message), status 0 for the items that trained.
FinetuneReport = namedtuple("FinetuneReport", "train_loss val_accuracy chosen_epoch step_losses cached items")

_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_double,
                             ctypes.c_double)


def _report(h):
    r = h.value
    epochs = lib.feat_finetune_report_n_epochs(r)
    items = []
    for i in range(lib.feat_finetune_report_n_items(r)):
        items.append((lib.feat_finetune_report_item_status(r, i),
                      lib.feat_finetune_report_item_error(r, i).decode("utf-8", "replace")))
    return FinetuneReport(
        train_loss=[lib.feat_finetune_report_train_loss(r, e) for e in range(epochs)],
        val_accuracy=[lib.feat_finetune_report_val_accuracy(r, e) for e in range(epochs)],
        chosen_epoch=lib.feat_finetune_report_chosen_epoch(r),
        step_losses=[lib.feat_finetune_report_step_loss(r, s) for s in range(lib.feat_finetune_report_n_steps(r))],
        cached=bool(lib.feat_finetune_report_cached(r)), items=items)


def _options(o, train, head_tap, epochs, batch_size, lr, schedule, weight_decay, seed, validation_fraction,
             patience, dropout, class_weights, cache, cache_limit, progress, checkpoint, resume):
    def s(fn, *a):
        check(fn(o, *a), lib.feat_last_error)

    if schedule not in SCHEDULES or cache not in CACHE:
        raise ValueError("schedule must be one of %s and cache one of %s" % (list(SCHEDULES), list(CACHE)))
    s(lib.feat_finetune_options_set_train, train.encode() if train else None)
    s(lib.feat_finetune_options_set_head_tap, head_tap.encode() if head_tap else None)
    s(lib.feat_finetune_options_set_epochs, epochs or 0)
    s(lib.feat_finetune_options_set_batch_size, batch_size or 0)
    s(lib.feat_finetune_options_set_learning_rate, lr or 0.0)
    s(lib.feat_finetune_options_set_schedule, SCHEDULES[schedule])
    s(lib.feat_finetune_options_set_weight_decay,
      0.0 if weight_decay is None else (-1.0 if weight_decay == 0 else float(weight_decay)))
    s(lib.feat_finetune_options_set_seed, seed or 0)
    s(lib.feat_finetune_options_set_validation_fraction, validation_fraction or 0.0)
    s(lib.feat_finetune_options_set_patience, patience or 0)
    s(lib.feat_finetune_options_set_dropout, dropout or 0.0)
    if class_weights is not None:
        w = (ctypes.c_float * len(class_weights))(*class_weights)
        s(lib.feat_finetune_options_set_class_weights, w, len(class_weights))
    s(lib.feat_finetune_options_set_cache, CACHE[cache])
    s(lib.feat_finetune_options_set_cache_limit, cache_limit or 0)
    s(lib.feat_finetune_options_set_checkpoint, os.fsencode(checkpoint) if checkpoint else None, 1 if resume else 0)
    if progress is not None:
        cb = _PROGRESS(lambda _u, e, st, loss, acc: 1 if progress(e, st, loss, None if math.isnan(acc) else acc)
                       else 0)
        s(lib.feat_finetune_options_set_progress, ctypes.cast(cb, ctypes.c_void_p), None)
        return cb  # kept alive for the run
    return None


def _run(fn, model, inputs, labels, out, kw):
    if len(inputs) != len(labels):
        raise ValueError("%d inputs but %d labels" % (len(inputs), len(labels)))
    o = ctypes.c_void_p()
    check(lib.feat_finetune_options_new(ctypes.byref(o)), lib.feat_last_error)
    try:
        keep = _options(o.value, **kw)  # noqa: F841 (the callback must outlive the run)
        arr = (ctypes.c_char_p * len(inputs))(*inputs)
        lab = (ctypes.c_int32 * len(labels))(*[int(x) for x in labels])
        h = ctypes.c_void_p()
        st = fn(os.fsencode(model), arr, lab, len(inputs), o.value, os.fsencode(out), ctypes.byref(h))
        msg = lib.feat_last_error()
        try:
            report = _report(h) if h.value else None
        finally:
            lib.feat_finetune_report_free(h.value)
        check(st, lambda: msg)
        return report
    finally:
        lib.feat_finetune_options_free(o.value)


def _kw(train=None, head_tap=None, epochs=None, batch_size=None, lr=None, schedule=None, weight_decay=None,
        seed=None, validation_fraction=None, patience=None, dropout=None, class_weights=None, cache=None,
        cache_limit=None, progress=None, checkpoint=None, resume=False):
    return dict(locals())


def finetune_images(model, paths, labels, out, **options):
    """Fine-tunes an image model on image files with integer labels 0..K-1 and writes the
    tuned model to ``out`` (and its side-car). Options as in feat/finetune.h: train (tap-grammar
    paths), head_tap ("path:pool"), epochs, batch_size, lr, schedule ("constant", "cosine"),
    weight_decay (0 = none, None = the default 1e-2), seed, validation_fraction, patience,
    dropout, class_weights, cache (None, "off", "on"), cache_limit (bytes), checkpoint (a path
    written after every epoch) and resume (continue from it when it exists), progress
    (callable(epoch, step, loss, val_accuracy) returning True to cancel; val_accuracy is None
    after a step, and after an epoch its validation accuracy or -1 without validation).
    Returns a FinetuneReport."""
    return _run(lib.feat_finetune_images, model, [os.fsencode(p) for p in paths], labels, out, _kw(**options))


def finetune_texts(model, texts, labels, out, **options):
    """As finetune_images for a text model and a list of str."""
    return _run(lib.feat_finetune_texts, model, [t.encode("utf-8") for t in texts], labels, out, _kw(**options))
