/* SPDX-License-Identifier: MIT */
#include "extract/tapped.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

feat_status feat_tapped_load(feat_tapped *t, const char *model_path, const feat_model_options *opts, feat_error *err)
{
    memset(t, 0, sizeof *t);
    t->fusion = opts->fusion == FEAT_FUSION_DEFAULT ? FEAT_FUSION_CONCAT : opts->fusion;
    const char *spec = opts->taps;
    if (!model_path)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "model path is NULL");
    struct stat sb;
    if (stat(model_path, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return feat_error_set(err, FEAT_E_NOT_FOUND, "model file '%s' does not exist", model_path);
        return feat_error_set(err, FEAT_E_IO, "model file '%s' cannot be opened: %s", model_path, strerror(errno));
    }
    feat_status st = feat_model_info_read(model_path, &t->info, err);
    if (st != FEAT_OK)
        return st;
    if (!spec || !spec[0]) {
        spec = t->info.default_taps;
        if (!spec[0] && t->info.has_sidecar)
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "no taps given and %s names no default_taps; pass a tap spec such as "
                                  "'features.30:flatten' (see 'feat layers %s')",
                                  t->info.sidecar_path, model_path);
        if (!spec[0])
            return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                  "no taps given and %s has no side-car (its .json, docs/models.md) to name "
                                  "default ones; pass a tap spec such as 'features.30:flatten' (see 'feat layers %s')",
                                  model_path, model_path);
    }
    feat_tap_list parsed;
    if ((st = feat_taps_parse(spec, &parsed, err)) != FEAT_OK)
        return st;
    if ((st = feat_shim_load(model_path, opts->device, &t->model, err)) != FEAT_OK)
        return st;
    if ((st = feat_shim_set_precision(t->model, (int32_t)opts->precision, err)) != FEAT_OK)
        goto fail;
    const char *const *paths;
    size_t n_paths;
    feat_shim_modules(t->model, &paths, &n_paths);
    feat_module_list mods = {n_paths, paths};
    if ((st = feat_taps_resolve(&parsed, &mods, &t->taps, err)) != FEAT_OK)
        goto fail;
    for (size_t i = 0; i < t->taps.n; i++)
        t->tap_layout[i] = feat_model_info_layout(&t->info, t->taps.taps[i].path);
    const char *names[FEAT_TAP_MAX];
    char with_call[FEAT_TAP_MAX][FEAT_TAP_PATH_MAX + 16];
    for (size_t i = 0; i < t->taps.n; i++) {
        const feat_tap_spec *tap = &t->taps.taps[i];
        if (tap->call >= 0)
            snprintf(with_call[i], sizeof with_call[i], "%s@%d", tap->path, (int)tap->call);
        else
            snprintf(with_call[i], sizeof with_call[i], "%s", tap->path);
        names[i] = with_call[i];
    }
    if ((st = feat_shim_prepare(t->model, names, t->taps.n, 1, 0, NULL, err)) != FEAT_OK)
        goto fail;
    return FEAT_OK;
fail:
    feat_shim_unref(t->model);
    t->model = NULL;
    return st;
}

feat_status feat_tapped_probe(feat_tapped *t, const feat_shim_outputs *o, feat_error *err)
{
    if (feat_shim_outputs_n(o) != t->taps.n)
        return feat_error_set(err, FEAT_E_INTERNAL, "model returned %zu tap outputs, %zu expected",
                              feat_shim_outputs_n(o), t->taps.n);
    size_t dim = 0;
    for (size_t i = 0; i < t->taps.n; i++) {
        feat_tap_spec *tap = &t->taps.taps[i];
        feat_tensor_shape shape = {0};
        shape.ndim = feat_shim_outputs_shape(o, i, shape.dims);
        char label[FEAT_TAP_PATH_MAX + 16];
        if (tap->call >= 0)
            snprintf(label, sizeof label, "%s@%d", tap->path, (int)tap->call);
        else
            snprintf(label, sizeof label, "%s", tap->path);
        feat_status st = feat_pool_check(label, &tap->pool, t->tap_layout[i], &shape, &t->tap_dim[i], err);
        if (st != FEAT_OK)
            return st;
        snprintf(t->tap_names[i], sizeof t->tap_names[i], "%s:%s", label, feat_pool_name(tap->pool));
        if (t->fusion == FEAT_FUSION_MEAN) {
            if (i && t->tap_dim[i] != t->tap_dim[0])
                return feat_error_set(err, FEAT_E_INVALID_ARGUMENT,
                                      "mean fusion needs taps of equal size, but '%s' gives %zu values and '%s' %zu",
                                      t->tap_names[0], t->tap_dim[0], t->tap_names[i], t->tap_dim[i]);
            dim = t->tap_dim[0];
        } else {
            dim += t->tap_dim[i];
        }
    }
    t->dim = dim;
    return FEAT_OK;
}

void feat_tapped_pool_item(const feat_tapped *t, const feat_shim_outputs *o, int64_t b, const int64_t *mask, float *row,
                           float *scratch)
{
    size_t off = 0;
    for (size_t i = 0; i < t->taps.n; i++) {
        feat_tensor_shape shape = {0};
        shape.ndim = feat_shim_outputs_shape(o, i, shape.dims);
        const float *data = feat_shim_outputs_data(o, i);
        if (t->fusion == FEAT_FUSION_MEAN) {
            feat_pool_apply(t->taps.taps[i].pool, t->tap_layout[i], data, &shape, b, mask, i ? scratch : row);
            if (i)
                for (size_t k = 0; k < t->dim; k++)
                    row[k] += scratch[k];
        } else {
            feat_pool_apply(t->taps.taps[i].pool, t->tap_layout[i], data, &shape, b, mask, row + off);
            off += t->tap_dim[i];
        }
    }
    if (t->fusion == FEAT_FUSION_MEAN && t->taps.n > 1)
        for (size_t k = 0; k < t->dim; k++)
            row[k] /= (float)t->taps.n;
}

void feat_tapped_share(const feat_tapped *t, feat_tapped *out)
{
    memcpy(out, t, sizeof *out);
    out->model = feat_shim_ref(t->model);
}

void feat_tapped_release(feat_tapped *t)
{
    feat_shim_unref(t->model);
    t->model = NULL;
}
