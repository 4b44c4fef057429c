/* SPDX-License-Identifier: MIT */
/* feat_image_options: the public setters, on the shared option checks of core/model_options.h
 * (errors go to the thread slot because an options object has no error slot of its own), and
 * the model-less preprocessing entry points feat_image_preprocess_file / _encoded. */
#include "core/model_options.h"
#include "image/image_internal.h"
#include "taps/taps.h"

#include <math.h>
#include <stddef.h>

/* The setters, one row each (core/model_options.h defines them). */
FEAT_OPTIONS_DEFINE_COMMON(image)
FEAT_OPTIONS_DEFINE_ENUM(image, preset, feat_image_preset, FEAT_PRESET_KERAS_VGG16, "preset")
FEAT_OPTIONS_DEFINE_RANGE(image, resize, uint32_t, 1, FEAT_IMAGE_MAX_TARGET, "resize")
FEAT_OPTIONS_DEFINE_ENUM(image, interpolation, feat_interpolation, FEAT_INTERP_LANCZOS, "interpolation")
FEAT_OPTIONS_DEFINE_ENUM(image, decode_mode, feat_decode_mode, FEAT_DECODE_FAST, "decode mode")
FEAT_OPTIONS_DEFINE_RANGE(image, decode_threads, uint32_t, 1, 1024, "decode_threads")
FEAT_OPTIONS_DEFINE_RANGE(image, max_pixels, uint64_t, 1, UINT64_MAX, "max_pixels") /* any value; 0 = default */

/* The setters whose checks have no common shape. */

feat_status feat_image_options_set_crop(feat_image_options *opts, uint32_t width, uint32_t height)
{
    feat_status st = feat_option_check_object(opts, __func__);
    if (st != FEAT_OK)
        return st;
    if ((width == 0) != (height == 0))
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "crop %ux%u: give both sides, or 0x0 for the default", width,
                                  height);
    if (width > FEAT_IMAGE_MAX_TARGET || height > FEAT_IMAGE_MAX_TARGET)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "crop %ux%u out of range: sides 1..%u", width, height,
                                  FEAT_IMAGE_MAX_TARGET);
    opts->crop_w = width;
    opts->crop_h = height;
    return feat_option_ok();
}

feat_status feat_image_options_set_mean_std(feat_image_options *opts, const float *mean3, const float *std3)
{
    feat_status st = feat_option_check_object(opts, __func__);
    if (st != FEAT_OK)
        return st;
    for (int c = 0; c < 3; c++) {
        if (mean3 && !isfinite(mean3[c]))
            return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "mean[%d] = %g is not a finite number", c,
                                      (double)mean3[c]);
        if (std3 && (!isfinite(std3[c]) || !(std3[c] > 0.0f)))
            return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "std[%d] = %g: need a finite number above 0", c,
                                      (double)std3[c]);
    }
    opts->mean_set = mean3 != NULL;
    opts->std_set = std3 != NULL;
    for (int c = 0; c < 3; c++) {
        opts->mean[c] = mean3 ? mean3[c] : 0.0f;
        opts->std[c] = std3 ? std3[c] : 0.0f;
    }
    return feat_option_ok();
}

feat_status feat_image_options_set_exif_orientation(feat_image_options *opts, int32_t enable)
{
    feat_status st = feat_option_check_object(opts, __func__);
    if (st == FEAT_OK && enable != 0 && enable != 1)
        st = feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "exif_orientation: %d is not 0 or 1", (int)enable);
    if (st == FEAT_OK)
        opts->exif_orientation = enable;
    return st;
}

/* ---- model-less preprocessing ----------------------------------------------------------- */

/* Resolves the options (no model: the built-in defaults) and checks the caller's buffer. */
static feat_status prepare(const feat_image_options *opts, float *dst, size_t dst_count, size_t *needed_out,
                           feat_preprocess *pp, feat_error *err)
{
    feat_status st = feat_preprocess_resolve(opts, FEAT_PRESET_DEFAULT, 0, pp, err);
    if (st)
        return st;
    size_t need = feat_preprocess_tensor_count(pp);
    if (needed_out)
        *needed_out = need;
    if (dst_count < need)
        return feat_error_set(err, FEAT_E_BUFFER_TOO_SMALL, "output buffer holds %zu floats, %zu needed (3x%ux%u)",
                              dst_count, need, pp->crop_h, pp->crop_w);
    if (!dst)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "dst is NULL with dst_count %zu", dst_count);
    return FEAT_OK;
}

/* One model-less preprocessing call; missing: the message for a missing input, or NULL. The
 * buffer is checked first so that a size query (dst NULL, dst_count 0) always answers. */
static feat_status preprocess_one(const feat_image_options *opts, const char *path, const void *data, size_t size,
                                  float *dst, size_t dst_count, size_t *needed_out, const char *missing)
{
    feat_error *err = feat_error_tls();
    feat_preprocess pp;
    feat_status st = prepare(opts, dst, dst_count, needed_out, &pp, err);
    if (st == FEAT_OK && missing)
        st = feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "%s", missing);
    if (st == FEAT_OK)
        st = path ? feat_image_preprocess_path(&pp, NULL, path, dst, err)
                  : feat_image_preprocess_bytes(&pp, data, size, dst, err);
    if (st == FEAT_OK)
        feat_error_clear(err);
    return st;
}

feat_status feat_image_preprocess_file(const feat_image_options *opts, const char *path, float *dst, size_t dst_count,
                                       size_t *needed_out)
{
    return preprocess_one(opts, path, NULL, 0, dst, dst_count, needed_out,
                          path ? NULL : "feat_image_preprocess_file: path is NULL");
}

feat_status feat_image_preprocess_encoded(const feat_image_options *opts, const void *data, size_t size, float *dst,
                                          size_t dst_count, size_t *needed_out)
{
    return preprocess_one(opts, NULL, data, size, dst, dst_count, needed_out,
                          !data && size ? "feat_image_preprocess_encoded: data is NULL" : NULL);
}
