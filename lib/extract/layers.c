/* SPDX-License-Identifier: MIT */
/* feat_layers_list: every submodule with its output shape for one example input. */
#include "core/error.h"
#include "extract/model_info.h"
#include "feat/model.h"
#include "shim/shim.h"

#include <stdlib.h>
#include <string.h>

typedef struct layer_entry {
    char *path;
    size_t ndim;
    int64_t dims[FEAT_SHIM_MAX_DIMS];
    char *note;
} layer_entry;

struct feat_layer_list {
    size_t n;
    layer_entry *items;
};

void feat_layer_list_free(feat_layer_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].path);
        free(l->items[i].note);
    }
    free(l->items);
    free(l);
}

size_t feat_layer_list_len(const feat_layer_list *l) { return l ? l->n : 0; }

const char *feat_layer_list_path(const feat_layer_list *l, size_t i) { return l && i < l->n ? l->items[i].path : ""; }

const char *feat_layer_list_note(const feat_layer_list *l, size_t i)
{
    return l && i < l->n && l->items[i].note ? l->items[i].note : "";
}

size_t feat_layer_list_shape(const feat_layer_list *l, size_t i, int64_t *dims, size_t cap)
{
    if (!l || i >= l->n)
        return 0;
    const layer_entry *e = &l->items[i];
    for (size_t k = 0; k < e->ndim && k < cap && dims; k++)
        dims[k] = e->dims[k];
    return e->ndim;
}

/* Runs one example input through a model with every module tapped. */
static feat_status probe(feat_shim_model *m, int is_text, uint32_t size, feat_shim_outputs **out, feat_error *err)
{
    if (is_text) {
        int64_t s = size ? size : 16;
        int64_t *buf = calloc((size_t)s * 3, sizeof *buf);
        if (!buf)
            return feat_error_set(err, FEAT_E_NOMEM, "out of memory");
        for (int64_t k = 0; k < s; k++)
            buf[s + k] = 1; /* attention mask; ids and type ids stay 0 */
        feat_status st = feat_shim_run_text(m, buf, buf + s, buf + 2 * s, 1, s, out, err);
        free(buf);
        return st;
    }
    int64_t s = size ? size : 224;
    float *x = calloc((size_t)(3 * s * s), sizeof *x);
    if (!x)
        return feat_error_set(err, FEAT_E_NOMEM, "out of memory");
    feat_status st = feat_shim_run_image(m, x, 1, 3, s, s, out, err);
    free(x);
    return st;
}

feat_status feat_layers_list(const char *model_path, uint32_t input_size, feat_layer_list **out)
{
    feat_error *err = feat_error_tls();
    feat_error_clear(err);
    if (!out)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "feat_layers_list: out is NULL");
    *out = NULL;
    if (!model_path)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "feat_layers_list: model_path is NULL");
    if (input_size > 4096)
        return feat_error_set(err, FEAT_E_INVALID_ARGUMENT, "input size %u is larger than 4096", input_size);
    feat_model_info info;
    feat_status st = feat_model_info_read(model_path, &info, err);
    if (st != FEAT_OK)
        return st;
    feat_shim_model *m;
    if ((st = feat_shim_load(model_path, "cpu", &m, err)) != FEAT_OK)
        return st;
    const char *const *paths;
    size_t n;
    feat_shim_modules(m, &paths, &n);
    feat_layer_list *l = calloc(1, sizeof *l);
    feat_error *tap_err = calloc(n ? n : 1, sizeof *tap_err);
    if (l)
        l->items = calloc(n ? n : 1, sizeof *l->items);
    if (!l || !tap_err || !l->items) {
        st = feat_error_set(err, FEAT_E_NOMEM, "out of memory listing layers");
        goto done;
    }
    l->n = n;
    for (size_t i = 0; i < n; i++)
        if (!(l->items[i].path = strdup(paths[i]))) {
            st = feat_error_set(err, FEAT_E_NOMEM, "out of memory listing layers");
            goto done;
        }
    if (n == 0)
        goto done;
    /* Unfrozen: freezing folds batch norms into convolutions, whose outputs would vanish. */
    if ((st = feat_shim_prepare(m, paths, n, 0, 1, tap_err, err)) != FEAT_OK)
        goto done;
    int is_text = strcmp(info.input, "text") == 0 || (!info.input[0] && feat_shim_n_inputs(m) >= 2);
    feat_shim_outputs *o = NULL;
    size_t n_ok = 0;
    for (size_t i = 0; i < n; i++)
        n_ok += tap_err[i].code == FEAT_OK;
    if (n_ok && (st = probe(m, is_text, input_size, &o, err)) != FEAT_OK)
        goto done;
    for (size_t i = 0, slot = 0; i < n; i++) {
        layer_entry *e = &l->items[i];
        if (tap_err[i].code != FEAT_OK) {
            /* Keep only the reason: the message repeats "tap 'path': ". */
            const char *msg = strstr(tap_err[i].msg, "': ");
            e->note = strdup(msg ? msg + 3 : tap_err[i].msg);
            continue;
        }
        e->ndim = feat_shim_outputs_shape(o, slot++, e->dims);
    }
    feat_shim_outputs_free(o);
done:
    free(tap_err);
    feat_shim_unref(m);
    if (st != FEAT_OK) {
        feat_layer_list_free(l);
        return st;
    }
    feat_error_clear(err);
    *out = l;
    return FEAT_OK;
}
