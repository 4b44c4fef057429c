/* feat_image_options: typed setters with range checks (errors go to the thread slot because an
 * options object has no error slot of its own), and the model-less preprocessing entry points
 * feat_image_preprocess_file / _encoded. */
#include "core/option_checks.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

feat_status feat_image_options_new(feat_image_options **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_image_options_new: out is NULL");
    return feat_image_options_copy(NULL, out);
}

void feat_image_options_free(feat_image_options *opts)
{
    if (!opts)
        return;
    free(opts->taps);
    free(opts->device);
    free(opts);
}

static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d)
        *failed = 1;
    else
        memcpy(d, s, n);
    return d;
}

feat_status feat_image_options_copy(const feat_image_options *src, feat_image_options **out)
{
    if (!out)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "feat_image_options_copy: out is NULL");
    *out = NULL;
    feat_image_options *o = calloc(1, sizeof *o);
    if (!o)
        return feat_error_set_tls(FEAT_E_NOMEM, "image options: out of memory");
    if (src) {
        int failed = 0;
        *o = *src;
        o->taps = dup_or_null(src->taps, &failed);
        o->device = dup_or_null(src->device, &failed);
        if (failed) {
            feat_image_options_free(o);
            return feat_error_set_tls(FEAT_E_NOMEM, "image options: out of memory copying strings");
        }
    }
    *out = o;
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

#define NEED_OPTS(fn)                                                                              \
    do {                                                                                           \
        if (!opts)                                                                                 \
            return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, fn ": opts is NULL");                \
    } while (0)

static feat_status ok(void)
{
    feat_error_clear(feat_error_tls());
    return FEAT_OK;
}

static feat_status set_string(char **slot, const char *value, const char *what)
{
    char *copy = NULL;
    if (value && *value) {
        size_t n = strlen(value) + 1;
        copy = malloc(n);
        if (!copy)
            return feat_error_set_tls(FEAT_E_NOMEM, "%s: out of memory", what);
        memcpy(copy, value, n);
    }
    free(*slot);
    *slot = copy;
    return ok();
}

feat_status feat_image_options_set_taps(feat_image_options *opts, const char *spec)
{
    NEED_OPTS("feat_image_options_set_taps");
    /* The grammar is checked by lib/taps when the model is loaded (lib/taps is built after
     * this component, so it cannot be called from here); reject only what no spec can hold. */
    if (spec) {
        for (const unsigned char *p = (const unsigned char *)spec; *p; p++)
            if (*p < 0x20 && *p != '\t' && *p != '\n')
                return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT,
                                          "taps: control character 0x%02x at offset %zu of the spec", *p,
                                          (size_t)(p - (const unsigned char *)spec));
    }
    return set_string(&opts->taps, spec, "taps");
}

feat_status feat_image_options_set_fusion(feat_image_options *opts, feat_fusion fusion)
{
    NEED_OPTS("feat_image_options_set_fusion");
    if ((int)fusion < FEAT_FUSION_DEFAULT || (int)fusion > FEAT_FUSION_MEAN)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "fusion: unknown value %d", (int)fusion);
    opts->fusion = fusion;
    return ok();
}

feat_status feat_image_options_set_preset(feat_image_options *opts, feat_image_preset preset)
{
    NEED_OPTS("feat_image_options_set_preset");
    if ((int)preset < FEAT_PRESET_DEFAULT || (int)preset > FEAT_PRESET_KERAS_VGG16)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "preset: unknown value %d", (int)preset);
    opts->preset = preset;
    return ok();
}

feat_status feat_image_options_set_resize(feat_image_options *opts, uint32_t shorter_side)
{
    NEED_OPTS("feat_image_options_set_resize");
    if (shorter_side > FEAT_IMAGE_MAX_TARGET)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "resize %u out of range: 1..%u, or 0 for the default",
                                  shorter_side, FEAT_IMAGE_MAX_TARGET);
    opts->resize = shorter_side;
    return ok();
}

feat_status feat_image_options_set_crop(feat_image_options *opts, uint32_t width, uint32_t height)
{
    NEED_OPTS("feat_image_options_set_crop");
    if ((width == 0) != (height == 0))
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "crop %ux%u: give both sides, or 0x0 for the default",
                                  width, height);
    if (width > FEAT_IMAGE_MAX_TARGET || height > FEAT_IMAGE_MAX_TARGET)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "crop %ux%u out of range: sides 1..%u", width, height,
                                  FEAT_IMAGE_MAX_TARGET);
    opts->crop_w = width;
    opts->crop_h = height;
    return ok();
}

feat_status feat_image_options_set_interpolation(feat_image_options *opts, feat_interpolation interp)
{
    NEED_OPTS("feat_image_options_set_interpolation");
    if ((int)interp < FEAT_INTERP_DEFAULT || (int)interp > FEAT_INTERP_LANCZOS)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "interpolation: unknown value %d", (int)interp);
    opts->interpolation = interp;
    return ok();
}

feat_status feat_image_options_set_mean_std(feat_image_options *opts, const float *mean3, const float *std3)
{
    NEED_OPTS("feat_image_options_set_mean_std");
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
    return ok();
}

feat_status feat_image_options_set_exif_orientation(feat_image_options *opts, int32_t enable)
{
    NEED_OPTS("feat_image_options_set_exif_orientation");
    if (enable != 0 && enable != 1)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "exif_orientation: %d is not 0 or 1", (int)enable);
    opts->exif_orientation = enable;
    return ok();
}

feat_status feat_image_options_set_max_pixels(feat_image_options *opts, uint64_t max_pixels)
{
    NEED_OPTS("feat_image_options_set_max_pixels");
    opts->max_pixels = max_pixels; /* any value; 0 = default */
    return ok();
}

feat_status feat_image_options_set_decode_mode(feat_image_options *opts, feat_decode_mode mode)
{
    NEED_OPTS("feat_image_options_set_decode_mode");
    if ((int)mode < FEAT_DECODE_DEFAULT || (int)mode > FEAT_DECODE_FAST)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "decode mode: unknown value %d", (int)mode);
    opts->decode_mode = mode;
    return ok();
}

feat_status feat_image_options_set_batch_size(feat_image_options *opts, uint32_t batch_size)
{
    NEED_OPTS("feat_image_options_set_batch_size");
    if (batch_size > 65536)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT, "batch_size %u out of range: 1..65536, or 0 for the default",
                                  batch_size);
    opts->batch_size = batch_size;
    return ok();
}

feat_status feat_image_options_set_decode_threads(feat_image_options *opts, uint32_t threads)
{
    NEED_OPTS("feat_image_options_set_decode_threads");
    if (threads > 1024)
        return feat_error_set_tls(FEAT_E_INVALID_ARGUMENT,
                                  "decode_threads %u out of range: 1..1024, or 0 for the default", threads);
    opts->decode_threads = threads;
    return ok();
}

feat_status feat_image_options_set_device(feat_image_options *opts, const char *device)
{
    NEED_OPTS("feat_image_options_set_device");
    feat_status st = feat_check_device(device);
    if (st != FEAT_OK)
        return st;
    return set_string(&opts->device, device, "device");
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

feat_status feat_image_options_set_precision(feat_image_options *opts, feat_precision precision)
{
    NEED_OPTS("feat_image_options_set_precision");
    feat_status st = feat_check_precision(precision);
    if (st != FEAT_OK)
        return st;
    opts->precision = precision;
    return ok();
}
