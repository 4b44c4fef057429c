/* feat_image_options: the public setters, on the shared option checks of core/model_options.h
 * (errors go to the thread slot because an options object has no error slot of its own), and
 * the model-less preprocessing entry points feat_image_preprocess_file / _encoded. */
#include "core/model_options.h"
#include "image/image_internal.h"
#include "taps/taps.h"

#include <math.h>
#include <stddef.h>

_Static_assert(offsetof(feat_image_options, model) == 0, "feat_options_dup needs the model options first");

feat_status feat_image_options_new(feat_image_options **out) { return feat_image_options_copy(NULL, out); }

void feat_image_options_free(feat_image_options *opts) { feat_options_free(opts); }

feat_status feat_image_options_copy(const feat_image_options *src, feat_image_options **out)
{
    return feat_options_dup(src, sizeof(feat_image_options), (void **)out, __func__);
}

/* ---- the options every extractor has ---------------------------------------------------- */

#define MODEL_OPTIONS(opts) ((opts) ? &(opts)->model : NULL)

feat_status feat_image_options_set_taps(feat_image_options *opts, const char *spec)
{
    return feat_taps_set_spec(opts ? &opts->model.taps : NULL, __func__, spec);
}

feat_status feat_image_options_set_fusion(feat_image_options *opts, feat_fusion fusion)
{
    return feat_model_options_set_fusion(MODEL_OPTIONS(opts), __func__, fusion);
}

feat_status feat_image_options_set_batch_size(feat_image_options *opts, uint32_t batch_size)
{
    return feat_model_options_set_batch_size(MODEL_OPTIONS(opts), __func__, batch_size);
}

feat_status feat_image_options_set_device(feat_image_options *opts, const char *device)
{
    return feat_model_options_set_device(MODEL_OPTIONS(opts), __func__, device);
}

feat_status feat_image_options_set_precision(feat_image_options *opts, feat_precision precision)
{
    return feat_model_options_set_precision(MODEL_OPTIONS(opts), __func__, precision);
}

/* ---- preprocessing and decoding ---------------------------------------------------------- */

feat_status feat_image_options_set_preset(feat_image_options *opts, feat_image_preset preset)
{
    feat_status st = feat_option_check_enum(opts, __func__, (int)preset, FEAT_PRESET_KERAS_VGG16, "preset");
    if (st == FEAT_OK)
        opts->preset = preset;
    return st;
}

feat_status feat_image_options_set_resize(feat_image_options *opts, uint32_t shorter_side)
{
    feat_status st = feat_option_check_range(opts, __func__, shorter_side, 1, FEAT_IMAGE_MAX_TARGET, "resize");
    if (st == FEAT_OK)
        opts->resize = shorter_side;
    return st;
}

feat_status feat_image_options_set_crop(feat_image_options *opts, uint32_t width, uint32_t height)
{
    feat_status st = feat_option_check_object(opts, __func__);
    if (st != FEAT_OK)
        return st;
    if ((width == 0) != (height == 0))
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "crop %ux%u: give both sides, or 0x0 for the default",
                                  width, height);
    if (width > FEAT_IMAGE_MAX_TARGET || height > FEAT_IMAGE_MAX_TARGET)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "crop %ux%u out of range: sides 1..%u", width, height,
                                  FEAT_IMAGE_MAX_TARGET);
    opts->crop_w = width;
    opts->crop_h = height;
    return feat_option_ok();
}

feat_status feat_image_options_set_interpolation(feat_image_options *opts, feat_interpolation interp)
{
    feat_status st = feat_option_check_enum(opts, __func__, (int)interp, FEAT_INTERP_LANCZOS, "interpolation");
    if (st == FEAT_OK)
        opts->interpolation = interp;
    return st;
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

feat_status feat_image_options_set_max_pixels(feat_image_options *opts, uint64_t max_pixels)
{
    feat_status st = feat_option_check_object(opts, __func__);
    if (st == FEAT_OK)
        opts->max_pixels = max_pixels; /* any value; 0 = default */
    return st;
}

feat_status feat_image_options_set_decode_mode(feat_image_options *opts, feat_decode_mode mode)
{
    feat_status st = feat_option_check_enum(opts, __func__, (int)mode, FEAT_DECODE_FAST, "decode mode");
    if (st == FEAT_OK)
        opts->decode_mode = mode;
    return st;
}

feat_status feat_image_options_set_decode_threads(feat_image_options *opts, uint32_t threads)
{
    feat_status st = feat_option_check_range(opts, __func__, threads, 1, 1024, "decode_threads");
    if (st == FEAT_OK)
        opts->decode_threads = threads;
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

feat_status feat_image_preprocess_file(const feat_image_options *opts, const char *path, float *dst,
                                       size_t dst_count, size_t *needed_out)
{
    feat_error *err = feat_error_tls();
    feat_preprocess pp;
    feat_status st = prepare(opts, dst, dst_count, needed_out, &pp, err);
    if (st)
        return st;
    if (!path)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "feat_image_preprocess_file: path is NULL");
    st = feat_image_preprocess_path(&pp, NULL, path, dst, err);
    if (st == FEAT_OK)
        feat_error_clear(err);
    return st;
}

feat_status feat_image_preprocess_encoded(const feat_image_options *opts, const void *data, size_t size, float *dst,
                                          size_t dst_count, size_t *needed_out)
{
    feat_error *err = feat_error_tls();
    feat_preprocess pp;
    feat_status st = prepare(opts, dst, dst_count, needed_out, &pp, err);
    if (st)
        return st;
    if (!data && size)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "feat_image_preprocess_encoded: data is NULL");
    st = feat_image_preprocess_bytes(&pp, data, size, dst, err);
    if (st == FEAT_OK)
        feat_error_clear(err);
    return st;
}
