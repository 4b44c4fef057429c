# SPDX-License-Identifier: MIT
"""Loading libfeat.so and declaring its C functions (ctypes).

Search order: the FEAT_LIBRARY environment variable (a file path; an explicit choice, never
second-guessed), a copy shipped inside this package (libfeat/_lib/libfeat.so*, what a platform
wheel bundles), the dynamic loader's own search (LD_LIBRARY_PATH, the ld.so cache after
`ldconfig`, the default directories; then ctypes.util.find_library), and last the directory
`pkg-config libfeat` names (PKG_CONFIG_PATH), which is where `meson install` into a non-system
prefix put it. The loaded library must report the ABI this module was written for, else
importing libfeat raises ImportError.
"""
import ctypes
import ctypes.util
import glob
import os
import subprocess

#: The ABI generation these bindings were written against (FEAT_ABI_VERSION in feat/common.h).
ABI_VERSION = 1

c_status = ctypes.c_int32
c_size = ctypes.c_size_t
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_float_p = ctypes.POINTER(ctypes.c_float)
c_size_p = ctypes.POINTER(ctypes.c_size_t)
c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_uint32_p = ctypes.POINTER(ctypes.c_uint32)
c_handle_p = ctypes.POINTER(ctypes.c_void_p)
c_u8_p = ctypes.POINTER(ctypes.c_uint8)
c_char_pp = ctypes.POINTER(ctypes.c_char_p)
c_void_pp = ctypes.POINTER(ctypes.c_void_p)
c_u8_pp = ctypes.POINTER(c_u8_p)

# name: (restype, argtypes). Handles are plain void pointers on the Python side.
_SIGNATURES = {
    # common.h
    "feat_status_name": (c_char_p, [c_status]),
    "feat_last_error": (c_char_p, []),
    "feat_version_string": (c_char_p, []),
    "feat_version_number": (ctypes.c_int32, []),
    "feat_abi_version": (ctypes.c_int32, []),
    "feat_global_set_threads": (c_status, [ctypes.c_int32]),
    "feat_global_threads": (ctypes.c_int32, []),
    # result.h
    "feat_result_free": (None, [c_void_p]),
    "feat_result_n_items": (c_size, [c_void_p]),
    "feat_result_dim": (c_size, [c_void_p]),
    "feat_result_n_failed": (c_size, [c_void_p]),
    "feat_result_item_status": (c_status, [c_void_p, c_size]),
    "feat_result_item_error": (c_char_p, [c_void_p, c_size]),
    "feat_result_data": (c_float_p, [c_void_p]),
    "feat_result_copy_to": (c_status, [c_void_p, c_float_p, c_size, c_size_p]),
    # image.h: options
    "feat_image_options_new": (c_status, [c_handle_p]),
    "feat_image_options_free": (None, [c_void_p]),
    "feat_image_options_set_taps": (c_status, [c_void_p, c_char_p]),
    "feat_image_options_set_fusion": (c_status, [c_void_p, ctypes.c_int]),
    "feat_image_options_set_preset": (c_status, [c_void_p, ctypes.c_int]),
    "feat_image_options_set_resize": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_image_options_set_crop": (c_status, [c_void_p, ctypes.c_uint32, ctypes.c_uint32]),
    "feat_image_options_set_interpolation": (c_status, [c_void_p, ctypes.c_int]),
    "feat_image_options_set_mean_std": (c_status, [c_void_p, c_float_p, c_float_p]),
    "feat_image_options_set_exif_orientation": (c_status, [c_void_p, ctypes.c_int32]),
    "feat_image_options_set_max_pixels": (c_status, [c_void_p, ctypes.c_uint64]),
    "feat_image_options_set_decode_mode": (c_status, [c_void_p, ctypes.c_int]),
    "feat_image_options_set_batch_size": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_image_options_set_decode_threads": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_image_options_set_device": (c_status, [c_void_p, c_char_p]),
    "feat_image_options_set_precision": (c_status, [c_void_p, ctypes.c_int]),
    "feat_image_preprocess_file": (c_status, [c_void_p, c_char_p, c_float_p, c_size, c_size_p]),
    "feat_image_preprocess_encoded": (c_status, [c_void_p, c_void_p, c_size, c_float_p, c_size, c_size_p]),
    # image.h: extractor
    "feat_image_extractor_new": (c_status, [c_handle_p]),
    "feat_image_extractor_free": (None, [c_void_p]),
    "feat_image_extractor_last_error": (c_char_p, [c_void_p]),
    "feat_image_extractor_load": (c_status, [c_void_p, c_char_p, c_void_p]),
    "feat_image_extractor_clone": (c_status, [c_void_p, c_handle_p]),
    "feat_image_extractor_dim": (c_size, [c_void_p]),
    "feat_image_extractor_n_taps": (c_size, [c_void_p]),
    "feat_image_extractor_tap": (c_char_p, [c_void_p, c_size]),
    "feat_image_extractor_tap_dim": (c_size, [c_void_p, c_size]),
    "feat_image_extractor_extract_files": (c_status, [c_void_p, c_char_pp, c_size, c_handle_p]),
    "feat_image_extractor_extract_encoded": (c_status, [c_void_p, c_void_pp, c_size_p, c_size, c_handle_p]),
    "feat_image_extractor_extract_rgb8": (
        c_status, [c_void_p, c_u8_pp, c_uint32_p, c_uint32_p, c_size_p, c_size, c_handle_p]),
    "feat_image_extractor_cancel": (None, [c_void_p]),
    # image.h: ensemble
    "feat_image_ensemble_new": (c_status, [c_handle_p]),
    "feat_image_ensemble_free": (None, [c_void_p]),
    "feat_image_ensemble_last_error": (c_char_p, [c_void_p]),
    "feat_image_ensemble_add": (c_status, [c_void_p, c_void_p, c_char_p]),
    "feat_image_ensemble_n_members": (c_size, [c_void_p]),
    "feat_image_ensemble_dim": (c_size, [c_void_p]),
    "feat_image_ensemble_extract_files": (c_status, [c_void_p, c_char_pp, c_size, c_handle_p]),
    "feat_image_ensemble_extract_encoded": (c_status, [c_void_p, c_void_pp, c_size_p, c_size, c_handle_p]),
    "feat_image_ensemble_extract_rgb8": (
        c_status, [c_void_p, c_u8_pp, c_uint32_p, c_uint32_p, c_size_p, c_size, c_handle_p]),
    # text.h: options
    "feat_text_options_new": (c_status, [c_handle_p]),
    "feat_text_options_free": (None, [c_void_p]),
    "feat_text_options_set_lowercase": (c_status, [c_void_p, ctypes.c_int]),
    "feat_text_options_set_strip_accents": (c_status, [c_void_p, ctypes.c_int]),
    "feat_text_options_set_max_length": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_text_options_set_truncation": (c_status, [c_void_p, ctypes.c_int]),
    "feat_text_options_set_window_stride": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_text_options_set_window_pooling": (c_status, [c_void_p, ctypes.c_int]),
    "feat_text_options_set_utf8_policy": (c_status, [c_void_p, ctypes.c_int]),
    "feat_text_options_set_taps": (c_status, [c_void_p, c_char_p]),
    "feat_text_options_set_fusion": (c_status, [c_void_p, ctypes.c_int]),
    "feat_text_options_set_batch_size": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_text_options_set_device": (c_status, [c_void_p, c_char_p]),
    "feat_text_options_set_precision": (c_status, [c_void_p, ctypes.c_int]),
    # text.h: tokenizer
    "feat_tokenizer_new": (c_status, [c_handle_p]),
    "feat_tokenizer_free": (None, [c_void_p]),
    "feat_tokenizer_last_error": (c_char_p, [c_void_p]),
    "feat_tokenizer_load": (c_status, [c_void_p, c_char_p, c_void_p]),
    "feat_tokenizer_vocab_size": (c_size, [c_void_p]),
    "feat_tokenizer_token_to_id": (ctypes.c_int32, [c_void_p, c_char_p]),
    "feat_tokenizer_id_to_token": (c_char_p, [c_void_p, ctypes.c_int32]),
    "feat_tokenizer_encode": (c_status, [c_void_p, c_char_p, c_size, c_char_p, c_size, c_handle_p]),
    "feat_encoding_free": (None, [c_void_p]),
    "feat_encoding_len": (c_size, [c_void_p]),
    "feat_encoding_ids": (c_int32_p, [c_void_p]),
    "feat_encoding_type_ids": (c_int32_p, [c_void_p]),
    "feat_encoding_attention_mask": (c_int32_p, [c_void_p]),
    "feat_encoding_sequence_ids": (c_int32_p, [c_void_p]),
    "feat_encoding_offsets_bytes": (c_int64_p, [c_void_p]),
    "feat_encoding_offsets_chars": (c_int64_p, [c_void_p]),
    "feat_encoding_n_truncated": (c_size, [c_void_p]),
    # text.h: extractor
    "feat_text_extractor_new": (c_status, [c_handle_p]),
    "feat_text_extractor_free": (None, [c_void_p]),
    "feat_text_extractor_last_error": (c_char_p, [c_void_p]),
    "feat_text_extractor_load": (c_status, [c_void_p, c_char_p, c_char_p, c_void_p]),
    "feat_text_extractor_clone": (c_status, [c_void_p, c_handle_p]),
    "feat_text_extractor_dim": (c_size, [c_void_p]),
    "feat_text_extractor_n_taps": (c_size, [c_void_p]),
    "feat_text_extractor_tap": (c_char_p, [c_void_p, c_size]),
    "feat_text_extractor_tap_dim": (c_size, [c_void_p, c_size]),
    "feat_text_extractor_tokenizer": (c_void_p, [c_void_p]),
    "feat_text_extractor_extract": (c_status, [c_void_p, c_char_pp, c_size_p, c_size, c_handle_p]),
    "feat_text_extractor_extract_pairs": (
        c_status, [c_void_p, c_char_pp, c_size_p, c_char_pp, c_size_p, c_size, c_handle_p]),
    "feat_text_extractor_cancel": (None, [c_void_p]),
    # text.h: ensemble
    "feat_text_ensemble_new": (c_status, [c_handle_p]),
    "feat_text_ensemble_free": (None, [c_void_p]),
    "feat_text_ensemble_last_error": (c_char_p, [c_void_p]),
    "feat_text_ensemble_add": (c_status, [c_void_p, c_void_p, c_char_p]),
    "feat_text_ensemble_n_members": (c_size, [c_void_p]),
    "feat_text_ensemble_dim": (c_size, [c_void_p]),
    "feat_text_ensemble_extract": (c_status, [c_void_p, c_char_pp, c_size_p, c_size, c_handle_p]),
    "feat_text_ensemble_extract_pairs": (
        c_status, [c_void_p, c_char_pp, c_size_p, c_char_pp, c_size_p, c_size, c_handle_p]),
    # model.h
    "feat_layers_list": (c_status, [c_char_p, ctypes.c_uint32, c_handle_p]),
    "feat_layer_list_free": (None, [c_void_p]),
    "feat_layer_list_len": (c_size, [c_void_p]),
    "feat_layer_list_path": (c_char_p, [c_void_p, c_size]),
    "feat_layer_list_shape": (c_size, [c_void_p, c_size, c_int64_p, c_size]),
    "feat_layer_list_note": (c_char_p, [c_void_p, c_size]),
    # finetune.h
    "feat_finetune_options_new": (c_status, [c_handle_p]),
    "feat_finetune_options_free": (None, [c_void_p]),
    "feat_finetune_options_set_train": (c_status, [c_void_p, c_char_p]),
    "feat_finetune_options_set_head_tap": (c_status, [c_void_p, c_char_p]),
    "feat_finetune_options_set_epochs": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_finetune_options_set_batch_size": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_finetune_options_set_learning_rate": (c_status, [c_void_p, ctypes.c_double]),
    "feat_finetune_options_set_schedule": (c_status, [c_void_p, ctypes.c_int]),
    "feat_finetune_options_set_weight_decay": (c_status, [c_void_p, ctypes.c_double]),
    "feat_finetune_options_set_seed": (c_status, [c_void_p, ctypes.c_uint64]),
    "feat_finetune_options_set_validation_fraction": (c_status, [c_void_p, ctypes.c_double]),
    "feat_finetune_options_set_patience": (c_status, [c_void_p, ctypes.c_uint32]),
    "feat_finetune_options_set_dropout": (c_status, [c_void_p, ctypes.c_double]),
    "feat_finetune_options_set_class_weights": (c_status, [c_void_p, c_float_p, c_size]),
    "feat_finetune_options_set_cache": (c_status, [c_void_p, ctypes.c_int]),
    "feat_finetune_options_set_cache_limit": (c_status, [c_void_p, ctypes.c_uint64]),
    "feat_finetune_options_set_progress": (c_status, [c_void_p, c_void_p, c_void_p]),
    "feat_finetune_options_set_checkpoint": (c_status, [c_void_p, c_char_p, ctypes.c_int]),
    "feat_finetune_images": (c_status, [c_char_p, c_char_pp, c_int32_p, c_size, c_void_p, c_char_p, c_handle_p]),
    "feat_finetune_texts": (c_status, [c_char_p, c_char_pp, c_int32_p, c_size, c_void_p, c_char_p, c_handle_p]),
    "feat_finetune_report_free": (None, [c_void_p]),
    "feat_finetune_report_n_epochs": (ctypes.c_uint32, [c_void_p]),
    "feat_finetune_report_train_loss": (ctypes.c_double, [c_void_p, ctypes.c_uint32]),
    "feat_finetune_report_val_accuracy": (ctypes.c_double, [c_void_p, ctypes.c_uint32]),
    "feat_finetune_report_chosen_epoch": (ctypes.c_uint32, [c_void_p]),
    "feat_finetune_report_n_steps": (ctypes.c_uint64, [c_void_p]),
    "feat_finetune_report_step_loss": (ctypes.c_float, [c_void_p, ctypes.c_uint64]),
    "feat_finetune_report_cached": (ctypes.c_int, [c_void_p]),
    "feat_finetune_report_n_items": (c_size, [c_void_p]),
    "feat_finetune_report_item_status": (c_status, [c_void_p, c_size]),
    "feat_finetune_report_item_error": (c_char_p, [c_void_p, c_size]),
}


def _candidates():
    env = os.environ.get("FEAT_LIBRARY")
    if env:
        yield env
        return  # an explicit choice is never second-guessed
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib")
    for pattern in ("libfeat.so.%d" % ABI_VERSION, "libfeat.so", "libfeat.so.*", "libfeat*.dylib", "feat*.dll"):
        for p in sorted(glob.glob(os.path.join(here, pattern))):
            yield p
    # The loader by soname first: it reads LD_LIBRARY_PATH, which find_library ignores on
    # some systems.
    yield "libfeat.so.%d" % ABI_VERSION
    found = ctypes.util.find_library("feat")
    if found:
        yield found
    yield "libfeat.so"
    for d in _pkg_config_dirs():
        for name in ("libfeat.so.%d" % ABI_VERSION, "libfeat.so"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                yield p


def _pkg_config_dirs():
    """The library directories of `pkg-config libfeat`: -L of its Libs (an installed prefix, or a
    meson build tree through meson-uninstalled/libfeat-uninstalled.pc), then its libdir."""
    dirs = []
    for args in (["--libs-only-L"], ["--variable=libdir"]):
        try:
            out = subprocess.run(["pkg-config"] + args + ["libfeat"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=30, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return dirs  # no pkg-config, or no libfeat.pc on its path
        for tok in out.decode("utf-8", "replace").split():
            d = tok[2:] if tok.startswith("-L") else tok
            if d and d not in dirs:
                dirs.append(d)
    return dirs


class _Missing:
    """Stands in for a symbol the loaded library lacks; fails when called, not at import."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        from ._errors import Unsupported, FeatError  # noqa: F401

        raise Unsupported(-4, "the loaded libfeat has no symbol %s" % self.name)


class _Lib:
    pass


def _load():
    errors = []
    dll = None
    path = None
    for cand in _candidates():
        try:
            # RTLD_LOCAL (ctypes' default): libfeat's private dependencies stay private.
            dll = ctypes.CDLL(cand)
            path = cand
            break
        except OSError as e:
            errors.append("%s: %s" % (cand, e))
    if dll is None:
        raise ImportError("libfeat: cannot load libfeat.so (tried the package's _lib/, the dynamic loader "
                          "and pkg-config libfeat; install it there, add its prefix's pkgconfig "
                          "directory to PKG_CONFIG_PATH, or set FEAT_LIBRARY to its path):\n  "
                          + "\n  ".join(errors))
    try:
        abi = dll.feat_abi_version
    except AttributeError:
        raise ImportError("libfeat: %s is not libfeat (no feat_abi_version symbol)" % path) from None
    abi.restype = ctypes.c_int32
    abi.argtypes = []
    got = abi()
    if got != ABI_VERSION:
        raise ImportError("libfeat: %s has ABI version %d, these bindings need ABI %d; install matching "
                          "versions or point FEAT_LIBRARY at the right libfeat.so" % (path, got, ABI_VERSION))
    lib = _Lib()
    lib._dll = dll
    lib.path = path
    for name, (res, args) in _SIGNATURES.items():
        try:
            f = getattr(dll, name)
        except AttributeError:
            setattr(lib, name, _Missing(name))
            continue
        f.restype = res
        f.argtypes = args
        setattr(lib, name, f)
    return lib


lib = _load()
