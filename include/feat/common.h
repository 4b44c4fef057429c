/* SPDX-License-Identifier: MIT */
/**
 * @file feat/common.h
 * @brief Status codes, error messages, versions and process-wide settings of libfeat.
 *
 * Conventions that hold for the whole API (docs/conventions.md has the reasoning):
 *  - Every fallible call returns a ::feat_status: 0 is success, failures are stable
 *    negative numbers that are never renumbered.
 *  - The message of the last failure is kept on the object the call used
 *    (e.g. feat_image_extractor_last_error()); calls without an object (constructors,
 *    free functions) also store it in a per-thread slot read by feat_last_error().
 *    Messages are never NULL and are cleared by the next successful call.
 *  - Objects are opaque. `_new` is paired with `_free`; `_free(NULL)` is a no-op.
 *  - Enumerations are append-only; the value 0 always means "default".
 *
 * Thread-safety: every function in this header may be called from any thread.
 */
#ifndef FEAT_COMMON_H
#define FEAT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && !defined(FEAT_STATIC)
#  if defined(FEAT_BUILDING)
#    define FEAT_API __declspec(dllexport)
#  else
#    define FEAT_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define FEAT_API __attribute__((visibility("default")))
#else
#  define FEAT_API
#endif

#ifdef __cplusplus
#  define FEAT_BEGIN_DECLS extern "C" {
#  define FEAT_END_DECLS }
#else
#  define FEAT_BEGIN_DECLS
#  define FEAT_END_DECLS
#endif

/* FEAT_VERSION_MAJOR, _MINOR, _PATCH: generated from meson.build's project version. */
#include "feat/version.h"
#define FEAT_VERSION_NUMBER (FEAT_VERSION_MAJOR * 10000 + FEAT_VERSION_MINOR * 100 + FEAT_VERSION_PATCH)
/** ABI generation; equals the SONAME major of libfeat.so. Bumped only on an ABI break. */
#define FEAT_ABI_VERSION 1

FEAT_BEGIN_DECLS

/** Result of every fallible call. 0 = success; negative values below are stable. */
typedef int32_t feat_status;

enum {
    FEAT_OK = 0,
    FEAT_E_INVALID_ARGUMENT = -1, /**< a NULL, out-of-range or malformed argument */
    FEAT_E_NOMEM = -2,            /**< an allocation failed */
    FEAT_E_NOT_FOUND = -3,        /**< file, layer path or vocabulary entry does not exist */
    FEAT_E_UNSUPPORTED = -4,      /**< format, option or device not supported by this build */
    FEAT_E_BUFFER_TOO_SMALL = -5, /**< caller buffer too small; the size needed is reported */
    FEAT_E_DECODE = -6,           /**< corrupt or truncated image, invalid UTF-8 text */
    FEAT_E_DEVICE = -7,           /**< device not available or out of device memory */
    FEAT_E_CANCELLED = -8,        /**< the call was cancelled */
    FEAT_E_STATE = -9,            /**< call made in the wrong order (e.g. extract before load) */
    FEAT_E_BACKEND = -10,         /**< the inference backend (libtorch) reported an error */
    FEAT_E_INTERNAL = -11,        /**< a bug in libfeat; please report it */
    FEAT_E_IO = -12,              /**< reading or writing a file failed (permissions, EOF...) */
    FEAT_E_LIMIT = -13,           /**< input exceeds a configured safety limit (pixels, bytes) */
    FEAT_E_MODEL = -14            /**< the model file is not a usable model (not TorchScript,
                                       unexpected inputs/outputs) */
    /* append only; values are never reused */
};

/** Symbolic name of a status, e.g. "FEAT_E_DECODE". Static storage, never NULL. */
FEAT_API const char *feat_status_name(feat_status status);

/**
 * Message of the last failed call made on this thread that had no object to keep it
 * (constructors, tokenizer-free helpers). "" when the last such call succeeded.
 * Valid until the next libfeat call on this thread. Never NULL.
 */
FEAT_API const char *feat_last_error(void);

/** Runtime version as "MAJOR.MINOR.PATCH". Static storage. */
FEAT_API const char *feat_version_string(void);
/** Runtime version as MAJOR*10000 + MINOR*100 + PATCH. */
FEAT_API int32_t feat_version_number(void);
/** ABI generation of the loaded library; bindings compare it with FEAT_ABI_VERSION. */
FEAT_API int32_t feat_abi_version(void);

/**
 * Sets the number of CPU cores inference may use, process-wide. An extract call with
 * several batches runs up to n of them side by side on workers, each with n / workers ATen
 * threads (sequence models: one); OpenBLAS always runs with one thread, since its pool is
 * process-wide and the workers already fill the cores (docs/performance.md, "Thread budget").
 *
 * @param n  cores; 0 restores the default (the number of online cores, at most 8).
 * @return FEAT_OK, FEAT_E_INVALID_ARGUMENT for n < 0 or n > 1024,
 *         FEAT_E_UNSUPPORTED when the library was built without an inference backend.
 * Thread-safety: process-wide; call it before extractors run, not while they run.
 */
FEAT_API feat_status feat_global_set_threads(int32_t n);
/** The number of inference threads now in force (after feat_global_set_threads or default). */
FEAT_API int32_t feat_global_threads(void);

/**
 * Numeric precision of inference (feat_image_options_set_precision,
 * feat_text_options_set_precision). BF16 runs the model under libtorch's CPU autocast
 * (matrix products and convolutions in bfloat16, results returned as float32): it is
 * opt-in, changes the features slightly (docs/performance.md, "Compressed modes") and is
 * only faster on CPUs with native bfloat16 instructions (AVX512_BF16, AMX); elsewhere it
 * is usually slower than fp32. Integer (int8) text models are chosen by exporting one
 * (tools/export_models.py --quantize dynamic-int8), not by this option.
 */
typedef enum feat_precision {
    FEAT_PRECISION_DEFAULT = 0, /**< float32 */
    FEAT_PRECISION_FP32 = 1,
    FEAT_PRECISION_BF16 = 2
    /* append only */
} feat_precision;

/** How the outputs of several taps become one vector per item (image and text extractors). */
typedef enum feat_fusion {
    FEAT_FUSION_DEFAULT = 0, /**< CONCAT */
    FEAT_FUSION_CONCAT = 1,  /**< concatenation in the order the taps were given */
    FEAT_FUSION_MEAN = 2     /**< element-wise mean; all pooled taps must have the same size */
    /* append only */
} feat_fusion;

FEAT_END_DECLS

#endif /* FEAT_COMMON_H */
