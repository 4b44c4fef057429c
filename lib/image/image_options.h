/* SPDX-License-Identifier: MIT */
/* Definition of the opaque feat_image_options (shared by the preprocessing code and the image
 * extractor).
 *
 * Every field holds exactly what the caller set; 0 / FEAT_*_DEFAULT / NULL mean "default" and
 * are resolved later by feat_preprocess_resolve() (image_internal.h) or by the extractor, so a
 * copy made before the model is known still means "the model's default". */
#ifndef FEAT_IMAGE_OPTIONS_H
#define FEAT_IMAGE_OPTIONS_H

#include "core/model_options.h"
#include "feat/image.h"

/* Pillow's Image.MAX_IMAGE_PIXELS * 2: above this Pillow raises DecompressionBombError. */
#define FEAT_IMAGE_DEFAULT_MAX_PIXELS 178956970ull
/* Largest accepted width or height of a decoded image. JPEG cannot exceed 65535; PNG can, and
 * libpng's own default user limit is 1,000,000, which we keep. */
#define FEAT_IMAGE_MAX_SIDE 1000000u
/* Largest resize target and crop side a setter accepts. */
#define FEAT_IMAGE_MAX_TARGET 65535u
#define FEAT_IMAGE_DEFAULT_RESIZE 256u
#define FEAT_IMAGE_DEFAULT_CROP 224u
#define FEAT_IMAGE_DEFAULT_BATCH_SIZE 1u
#define FEAT_IMAGE_DEFAULT_DECODE_THREADS 1u

struct feat_image_options {
    feat_model_options model;         /* taps, fusion, batch size (0: 1), device, precision */
    feat_image_preset preset;         /* DEFAULT: the model's, else TORCHVISION */
    uint32_t resize;                  /* 0: the model's, else 256 (TORCHVISION only) */
    uint32_t crop_w, crop_h;          /* 0: 224x224 (both 0 or both set) */
    feat_interpolation interpolation; /* DEFAULT: the preset's (bilinear / nearest) */
    int mean_set, std_set;            /* whether mean[] / std[] were given */
    float mean[3], std[3];            /* model channel order; valid when *_set */
    int exif_orientation;             /* 0 or 1 */
    uint64_t max_pixels;              /* 0: FEAT_IMAGE_DEFAULT_MAX_PIXELS */
    feat_decode_mode decode_mode;     /* DEFAULT: EXACT */
    uint32_t decode_threads;          /* 0: FEAT_IMAGE_DEFAULT_DECODE_THREADS */
};

/* Deep copy of @p src (NULL: a default-initialised object) into a new object in *out.
 * Returns FEAT_OK or FEAT_E_NOMEM / FEAT_E_INVALID_ARGUMENT (message in the thread slot);
 * *out is NULL on failure. */
feat_status feat_image_options_copy(const feat_image_options *src, feat_image_options **out);

#endif
