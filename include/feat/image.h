/* SPDX-License-Identifier: MIT */
/**
 * @file feat/image.h
 * @brief Image feature extraction: options, preprocessing and the image extractor.
 *
 * @code
 *   feat_image_options *o; feat_image_extractor *ex; feat_result *r;
 *   feat_image_options_new(&o);
 *   feat_image_options_set_taps(o, "features.29:gap,features.22:gmp");
 *   feat_image_extractor_new(&ex);
 *   if (feat_image_extractor_load(ex, "vgg16.pt", o) != FEAT_OK)
 *       fprintf(stderr, "%s\n", feat_image_extractor_last_error(ex));
 *   feat_image_options_free(o);                    // options are copied at load
 *   const char *paths[] = {"a.jpg", "b.png"};
 *   feat_image_extractor_extract_files(ex, paths, 2, &r);
 *   // feat_result_data(r): 2 x feat_result_dim(r) floats; check feat_result_item_status()
 *   feat_result_free(r); feat_image_extractor_free(ex);
 * @endcode
 */
#ifndef FEAT_IMAGE_H
#define FEAT_IMAGE_H

#include "feat/common.h"
#include "feat/result.h"

FEAT_BEGIN_DECLS

/** Preprocessing presets. Exact with the Python pipelines they name (docs/imaging.md). */
typedef enum feat_image_preset {
    FEAT_PRESET_DEFAULT = 0,     /**< the model side-car's preset, else TORCHVISION */
    FEAT_PRESET_TORCHVISION = 1, /**< resize shorter side (256), bilinear antialiased, center crop 224,
                                      /255, ImageNet mean/std, RGB, CHW */
    FEAT_PRESET_KERAS_VGG16 = 2  /**< nearest resize to 224x224, RGB->BGR, caffe mean subtraction */
    /* append only */
} feat_image_preset;

typedef enum feat_interpolation {
    FEAT_INTERP_DEFAULT = 0, /**< the preset's */
    FEAT_INTERP_NEAREST = 1,
    FEAT_INTERP_BILINEAR = 2,
    FEAT_INTERP_BICUBIC = 3,
    FEAT_INTERP_LANCZOS = 4
    /* append only */
} feat_interpolation;

/** Decoder accuracy. EXACT matches Pillow bit for bit; FAST trades accuracy for speed
 *  (libjpeg-turbo fast IDCT and DCT-domain downscaling; deviation in docs/imaging.md). */
typedef enum feat_decode_mode {
    FEAT_DECODE_DEFAULT = 0, /**< EXACT */
    FEAT_DECODE_EXACT = 1,
    FEAT_DECODE_FAST = 2
} feat_decode_mode;

typedef struct feat_image_options feat_image_options;
typedef struct feat_image_extractor feat_image_extractor;

/* ---- options -----------------------------------------------------------------------------
 * Setters validate their argument and return FEAT_E_INVALID_ARGUMENT with a message in
 * feat_last_error() when it is out of range. 0 / NULL restores the default.
 * Thread-safety: an options object must not be used by two threads at once. */

FEAT_API feat_status feat_image_options_new(feat_image_options **out);
FEAT_API void feat_image_options_free(feat_image_options *opts);

/** Tap spec, e.g. "features.29:gap,features.22:gmp" (grammar in docs/taps.md).
 *  NULL or "" = the model's default taps. Validated for syntax here, against the model at load. */
FEAT_API feat_status feat_image_options_set_taps(feat_image_options *opts, const char *spec);
FEAT_API feat_status feat_image_options_set_fusion(feat_image_options *opts, feat_fusion fusion);
FEAT_API feat_status feat_image_options_set_preset(feat_image_options *opts, feat_image_preset preset);
/** Shorter side after resize (TORCHVISION preset). Default 256; ResNet50 V2 weights use 232. */
FEAT_API feat_status feat_image_options_set_resize(feat_image_options *opts, uint32_t shorter_side);
/** Output size of the center crop (or of the direct resize in KERAS_VGG16). Default 224x224. */
FEAT_API feat_status feat_image_options_set_crop(feat_image_options *opts, uint32_t width, uint32_t height);
FEAT_API feat_status feat_image_options_set_interpolation(feat_image_options *opts, feat_interpolation interp);
/** Per-channel mean and std in the model's channel order, on the 0..1 scale (TORCHVISION) or
 *  0..255 scale (KERAS_VGG16; std is then ignored). NULL = the preset's. */
FEAT_API feat_status feat_image_options_set_mean_std(feat_image_options *opts, const float *mean3, const float *std3);
/** Apply the EXIF orientation tag before preprocessing. Default off, as in Pillow. */
FEAT_API feat_status feat_image_options_set_exif_orientation(feat_image_options *opts, int32_t enable);
/** Decoded-pixel limit against decompression bombs. Default 178956970 (Pillow's). */
FEAT_API feat_status feat_image_options_set_max_pixels(feat_image_options *opts, uint64_t max_pixels);
FEAT_API feat_status feat_image_options_set_decode_mode(feat_image_options *opts, feat_decode_mode mode);
/** Images per forward pass. Default 1 (on small CPUs one image already fills every core). */
FEAT_API feat_status feat_image_options_set_batch_size(feat_image_options *opts, uint32_t batch_size);
/** Threads that decode and preprocess images ahead of inference (1..1024; 0 = the default, 1;
 *  at most one per batch of a call). With N > 1, or with a thread budget of 1
 *  (feat_global_set_threads), N threads fill a bounded queue of batches that the inference
 *  workers run; with 1 and a larger budget the inference workers decode their own batches.
 *  Rows are the same bits for every N. docs/performance.md says why the default is 1. */
FEAT_API feat_status feat_image_options_set_decode_threads(feat_image_options *opts, uint32_t threads);
/** "cpu" (default) or "cuda:N". NULL = "cpu". */
FEAT_API feat_status feat_image_options_set_device(feat_image_options *opts, const char *device);
/** Inference precision (::feat_precision); default float32. FEAT_E_INVALID_ARGUMENT for values
 *  outside the enumeration. BF16 is opt-in: see ::feat_precision for its cost. */
FEAT_API feat_status feat_image_options_set_precision(feat_image_options *opts, feat_precision precision);

/**
 * Decodes and preprocesses one image file exactly as an extractor with these options would,
 * writing the float32 input tensor (3 x crop_height x crop_width, channel-major) to @p dst.
 * For inspection and parity checks. Needs no model. Errors go to feat_last_error().
 *
 * @param opts       options, or NULL for the defaults
 * @param needed_out [out] optional; receives 3*crop_height*crop_width
 * @return FEAT_OK, FEAT_E_BUFFER_TOO_SMALL, or the decode error of the file.
 */
FEAT_API feat_status feat_image_preprocess_file(const feat_image_options *opts, const char *path, float *dst,
                                                size_t dst_count, size_t *needed_out);
/** Same as feat_image_preprocess_file() from encoded bytes in memory. */
FEAT_API feat_status feat_image_preprocess_encoded(const feat_image_options *opts, const void *data, size_t size,
                                                   float *dst, size_t dst_count, size_t *needed_out);

/* ---- extractor ---------------------------------------------------------------------------
 * Thread-safety: an extractor may be moved between threads but must not be used by two
 * threads at once; give each thread its own feat_image_extractor_clone(), which shares the
 * weights. feat_image_extractor_cancel() is the exception: it may be called from any thread. */

/** Allocates an empty extractor. Fails only with FEAT_E_NOMEM. */
FEAT_API feat_status feat_image_extractor_new(feat_image_extractor **out);
/** Frees an extractor. NULL is a no-op. Results it made stay valid. */
FEAT_API void feat_image_extractor_free(feat_image_extractor *ex);
/** Message of the last failed call on @p ex, "" after a success. Never NULL. */
FEAT_API const char *feat_image_extractor_last_error(const feat_image_extractor *ex);

/**
 * Loads a TorchScript model (and its JSON side-car MODEL.json when present), resolves the
 * taps, adds them to the graph, freezes and warms it up. @p opts is copied (NULL = defaults).
 * @return FEAT_OK, FEAT_E_NOT_FOUND (file or tap path), FEAT_E_MODEL, FEAT_E_INVALID_ARGUMENT
 *         (tap spec, pooling that does not fit), FEAT_E_DEVICE, FEAT_E_UNSUPPORTED, FEAT_E_STATE
 *         (already loaded).
 */
FEAT_API feat_status feat_image_extractor_load(feat_image_extractor *ex, const char *model_path,
                                               const feat_image_options *opts);

/** New extractor sharing @p ex's weights, for use on another thread. */
FEAT_API feat_status feat_image_extractor_clone(const feat_image_extractor *ex, feat_image_extractor **out);

/** Length of one fused feature row (known after load; 0 before). */
FEAT_API size_t feat_image_extractor_dim(const feat_image_extractor *ex);
/** Number of resolved taps (after ranges are expanded). */
FEAT_API size_t feat_image_extractor_n_taps(const feat_image_extractor *ex);
/** Resolved tap @p i as "path:pool" (borrowed, lives as long as @p ex), "" when out of range. */
FEAT_API const char *feat_image_extractor_tap(const feat_image_extractor *ex, size_t i);
/** Pooled length of tap @p i (known after load; 0 before or when out of range). With concat
 *  fusion tap i fills the columns after taps 0 .. i-1 of the row. */
FEAT_API size_t feat_image_extractor_tap_dim(const feat_image_extractor *ex, size_t i);

/**
 * Extracts features from image files. One row per path, in order. A file that cannot be read
 * or decoded gets its own status and message in the result; the other rows are unaffected.
 * @return FEAT_OK when a result was produced (check per-item statuses), else the failure
 *         of the whole call (FEAT_E_STATE before load, FEAT_E_CANCELLED, FEAT_E_BACKEND...).
 */
FEAT_API feat_status feat_image_extractor_extract_files(feat_image_extractor *ex, const char *const *paths, size_t n,
                                                        feat_result **out);
/** As _extract_files, from encoded images (JPEG, PNG) in memory; the bytes are only read
 *  during the call. */
FEAT_API feat_status feat_image_extractor_extract_encoded(feat_image_extractor *ex, const void *const *data,
                                                          const size_t *sizes, size_t n, feat_result **out);
/** As _extract_files, from packed RGB8 pixels (row stride in bytes, 0 = 3*width). */
FEAT_API feat_status feat_image_extractor_extract_rgb8(feat_image_extractor *ex, const uint8_t *const *pixels,
                                                       const uint32_t *widths, const uint32_t *heights,
                                                       const size_t *strides, size_t n, feat_result **out);

/** Asks a call in progress on @p ex to stop; it returns FEAT_E_CANCELLED. Any thread. */
FEAT_API void feat_image_extractor_cancel(feat_image_extractor *ex);

/* ---- ensemble ----------------------------------------------------------------------------
 * Several loaded extractors on the same inputs: one row per input, the members' rows side by
 * side in the order they were added (member k's columns start after the dims of members
 * 0 .. k-1). Each input is read once and decoded once for all members that decode alike (the
 * same EXIF setting, pixel limits and decode mode: always, unless those options differ), and
 * preprocessed once for all members whose resolved preprocessing is the same (preset, resize,
 * crop, interpolation, mean/std); every member then runs its own batches. A row equals the
 * concatenation of the members' own rows for the same call, bit for bit. An input that fails
 * for any member is a failed row: all NaN, with the status and message of the first member
 * (in order) that failed it, the message prefixed with that member's name.
 * Thread-safety: as an extractor; while a call runs, its members must not be used elsewhere.
 * A member can be cancelled (feat_image_extractor_cancel), which fails the ensemble's call. */

typedef struct feat_image_ensemble feat_image_ensemble;

/** Allocates an empty ensemble. Fails only with FEAT_E_NOMEM. */
FEAT_API feat_status feat_image_ensemble_new(feat_image_ensemble **out);
/** Frees an ensemble (not its members). NULL is a no-op. */
FEAT_API void feat_image_ensemble_free(feat_image_ensemble *ens);
/** Message of the last failed call on @p ens, "" after a success. Never NULL. */
FEAT_API const char *feat_image_ensemble_last_error(const feat_image_ensemble *ens);
/**
 * Adds a loaded extractor as the next member. The ensemble borrows @p ex: it must stay alive
 * (and loaded) as long as the ensemble is used. @p name (copied; NULL or "" = "member K",
 * K counting from 0) names the member in the messages of items that fail for it.
 * @return FEAT_OK, FEAT_E_STATE (@p ex has no model), FEAT_E_LIMIT (more than 64 members).
 */
FEAT_API feat_status feat_image_ensemble_add(feat_image_ensemble *ens, feat_image_extractor *ex, const char *name);
/** Number of members. */
FEAT_API size_t feat_image_ensemble_n_members(const feat_image_ensemble *ens);
/** Length of one row: the sum of the members' dims (0 without members). */
FEAT_API size_t feat_image_ensemble_dim(const feat_image_ensemble *ens);
/** As feat_image_extractor_extract_files, with every member (FEAT_E_STATE without members). */
FEAT_API feat_status feat_image_ensemble_extract_files(feat_image_ensemble *ens, const char *const *paths, size_t n,
                                                       feat_result **out);
/** As feat_image_extractor_extract_encoded, with every member. */
FEAT_API feat_status feat_image_ensemble_extract_encoded(feat_image_ensemble *ens, const void *const *data,
                                                         const size_t *sizes, size_t n, feat_result **out);
/** As feat_image_extractor_extract_rgb8, with every member (nothing to decode: preprocessed
 *  once per group of alike members). */
FEAT_API feat_status feat_image_ensemble_extract_rgb8(feat_image_ensemble *ens, const uint8_t *const *pixels,
                                                      const uint32_t *widths, const uint32_t *heights,
                                                      const size_t *strides, size_t n, feat_result **out);

FEAT_END_DECLS

#endif /* FEAT_IMAGE_H */
