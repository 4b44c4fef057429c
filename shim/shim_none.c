/* SPDX-License-Identifier: MIT */
/* The backend of a build without libtorch: decoding, tokenizing and tap parsing still work,
 * every inference entry point reports FEAT_E_UNSUPPORTED. */
#include "shim/shim.h"

#include <stddef.h>

static feat_status no_backend(feat_error *err)
{
    return feat_error_set(err, FEAT_E_UNSUPPORTED, "libfeat was built without the libtorch backend (meson -Dtorch)");
}

int feat_shim_available(void) { return 0; }

feat_status feat_shim_load(const char *path, const char *device, feat_shim_model **out, feat_error *err)
{
    *out = NULL;
    return no_backend(err);
}

feat_shim_model *feat_shim_ref(feat_shim_model *m) { return m; }
void feat_shim_unref(feat_shim_model *m) {}

void feat_shim_modules(const feat_shim_model *m, const char *const **paths, size_t *n)
{
    *paths = NULL;
    *n = 0;
}

size_t feat_shim_n_inputs(const feat_shim_model *m) { return 0; }

feat_status feat_shim_prepare(feat_shim_model *m, const char *const *taps, size_t n, int freeze, int lenient,
                              feat_error *tap_err, feat_error *err)
{
    return no_backend(err);
}

feat_status feat_shim_set_precision(feat_shim_model *m, int32_t precision, feat_error *err) { return no_backend(err); }

feat_status feat_shim_run_image(feat_shim_model *m, const float *x, int64_t b, int64_t c, int64_t h, int64_t w,
                                feat_shim_outputs **out, feat_error *err)
{
    *out = NULL;
    return no_backend(err);
}

feat_status feat_shim_run_text(feat_shim_model *m, const int64_t *ids, const int64_t *mask, const int64_t *types,
                               int64_t b, int64_t s, feat_shim_outputs **out, feat_error *err)
{
    *out = NULL;
    return no_backend(err);
}

size_t feat_shim_outputs_n(const feat_shim_outputs *o) { return 0; }
size_t feat_shim_outputs_shape(const feat_shim_outputs *o, size_t i, int64_t dims[FEAT_SHIM_MAX_DIMS]) { return 0; }
const float *feat_shim_outputs_data(const feat_shim_outputs *o, size_t i) { return NULL; }
void feat_shim_outputs_free(feat_shim_outputs *o) {}

feat_status feat_shim_set_threads(int32_t n, feat_error *err) { return no_backend(err); }
int32_t feat_shim_threads(void) { return 0; }

void feat_shim_set_thread_share(int32_t n) { (void)n; }
